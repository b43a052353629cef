"""space.yaml is the Space's source of truth; README.md's front-matter must say the same."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

import pytest
import yaml

from realunify_arena.commands.space_card import FrontMatterError, front_matter, run, split, with_front_matter

ROOT = Path(__file__).resolve().parents[2]


def test_readme_front_matter_matches_space_yaml():
    wanted = yaml.safe_load((ROOT / "space.yaml").read_text(encoding="utf-8"))
    current = front_matter((ROOT / "README.md").read_text(encoding="utf-8"))
    assert current == wanted, "README.md front-matter is stale: run `python -m realunify_arena space-card`"


def test_space_yaml_names_a_runnable_gradio_space():
    space = yaml.safe_load((ROOT / "space.yaml").read_text(encoding="utf-8"))
    import gradio

    assert space["sdk"] == "gradio" and space["sdk_version"] == gradio.__version__
    assert (ROOT / space["app_file"]).is_file()
    assert isinstance(space["python_version"], str), "unquoted 3.10 would be read as the float 3.1"
    assert len(space["short_description"]) <= 60  # the Hub rejects longer ones


def test_writing_replaces_only_the_front_matter(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("---\ntitle: old\nsdk: docker\n---\n\n# Body\n\ntext with --- inside\n", encoding="utf-8")
    space = tmp_path / "space.yaml"
    space.write_text("title: New\nsdk: gradio\npython_version: '3.10'\nmodels:\n  - a/b\n", encoding="utf-8")

    assert run(Namespace(space=space, readme=readme, check=True)) == 1
    assert run(Namespace(space=space, readme=readme, check=False)) == 0
    text = readme.read_text(encoding="utf-8")
    assert front_matter(text) == {"title": "New", "sdk": "gradio", "python_version": "3.10", "models": ["a/b"]}
    assert split(text)[1] == "\n# Body\n\ntext with --- inside\n"
    assert run(Namespace(space=space, readme=readme, check=True)) == 0


def test_a_readme_without_front_matter_gains_one():
    text = with_front_matter("# Title\n", {"sdk": "gradio"})
    assert text.startswith("---\nsdk: gradio\n---\n")
    assert split(text)[1].strip() == "# Title"


def test_an_unclosed_front_matter_is_named():
    with pytest.raises(FrontMatterError, match="never closed"):
        split("---\ntitle: x\n# no closing fence\n")


def test_the_space_lists_only_checkpoints_its_model_cards_use():
    from realunify_arena.cards import load_cards

    space = yaml.safe_load((ROOT / "space.yaml").read_text(encoding="utf-8"))
    checkpoints = {c for card in load_cards().values() for c in card.checkpoints.values()}
    assert set(space["models"]) <= checkpoints


@pytest.mark.parametrize("readme, space, culprit", [
    (b"\xff\xfe not utf-8\n", b"sdk: gradio\n", "README.md: not UTF-8 text"),
    (b"# title\n", b"\xff: [\n", "space.yaml: not UTF-8 text"),
    (b"---\n- a list\n---\nbody\n", b"sdk: gradio\n", "README.md: front-matter is not a YAML mapping"),
])
@pytest.mark.parametrize("check", [True, False])
def test_a_readme_or_space_file_that_cannot_be_read_is_one_error_line(tmp_path, capsys, readme, space, culprit,
                                                                       check):
    """Before: invalid UTF-8 in either file, or a front-matter block that is a list, was a Python traceback."""
    from realunify_arena.cli import main

    (tmp_path / "README.md").write_bytes(readme)
    (tmp_path / "space.yaml").write_bytes(space)
    argv = ["space-card", "--readme", str(tmp_path / "README.md"), "--space", str(tmp_path / "space.yaml")]
    assert main(argv + (["--check"] if check else [])) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"space-card: error: {tmp_path / culprit}") and len(err.strip().splitlines()) == 1, err
    assert (tmp_path / "README.md").read_bytes() == readme
