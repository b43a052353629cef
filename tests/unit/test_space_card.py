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


GOOD_SPACE = {"title": "T", "emoji": "🧩", "colorFrom": "indigo", "colorTo": "pink", "sdk": "gradio",
              "sdk_version": "6.31.0", "python_version": "3.11", "app_file": "app.py", "suggested_hardware": "cpu-basic",
              "short_description": "x" * 60, "startup_duration_timeout": "1h", "hf_oauth": True,
              "hf_oauth_expiration_minutes": 43200, "models": ["owner/name"], "tags": ["arena"],
              "preload_from_hub": ["owner/name", "owner/name a.json,b/c.safetensors",
                                   "owner/name config.json " + "0123456789abcdef" * 2 + "01234567"]}


def space_folder(tmp_path, **changes) -> Path:
    """A Space's files in ``tmp_path``: app.py, requirements.txt pinning gradio 6.31.0, a pyproject.toml
    requiring Python 3.11 or later, a README and a
    space.yaml that is ``GOOD_SPACE`` with ``changes`` (None removes a key)."""
    (tmp_path / "app.py").write_text("print('hi')\n", encoding="utf-8")
    (tmp_path / "requirements.txt").write_text("torch==2.14.1\ngradio[oauth] == 6.31.0  # the SDK\n",
                                               encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nrequires-python = ">=3.11"\n', encoding="utf-8")
    (tmp_path / "README.md").write_text("# body\n", encoding="utf-8")
    space = {k: v for k, v in {**GOOD_SPACE, **changes}.items() if v is not None}
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(space, allow_unicode=True, sort_keys=False),
                                         encoding="utf-8")
    return tmp_path


def test_a_space_yaml_the_hub_accepts_is_written(tmp_path, capsys):
    from realunify_arena.cli import main

    folder = space_folder(tmp_path)
    assert main(["space-card", "--readme", str(folder / "README.md"), "--space", str(folder / "space.yaml")]) == 0
    assert front_matter((folder / "README.md").read_text(encoding="utf-8")) == GOOD_SPACE


# Each value is outside what https://huggingface.co/docs/hub/spaces-config-reference accepts (or, for
# short_description, over the Hub's 60-character limit); before, space-card wrote every one of them.
@pytest.mark.parametrize("changes, says", [
    ({"short_description": "y" * 61}, "short_description: expected at most 60 characters"),
    ({"sdk": "streamlit"}, "sdk: expected one of gradio, docker, static, got 'streamlit'"),
    ({"colorFrom": "orange"}, "colorFrom: expected one of red, yellow, green, blue, indigo, purple, pink, gray"),
    ({"python_version": 3.1}, "python_version: expected a quoted Python version '3.x' or '3.x.x'"),
    ({"python_version": "python3.11"}, "python_version: expected a quoted Python version"),
    # pyproject.toml says requires-python >= 3.11: on 3.10 the app cannot run (hunt28e: space-card wrote it)
    ({"python_version": "3.10"}, "python_version: expected a version " ),
    ({"python_version": "3.9.18"}, "requires-python allows (>=3.11; the Space runs the app on python_version),"
                                   " got '3.9.18'"),
    ({"sdk_version": "6.30.0"}, "sdk_version: expected '6.31.0', the gradio version"),
    ({"app_file": "main.py"}, "app_file: expected a file in"),
    ({"suggested_hardware": "zero-gpu"}, "suggested_hardware: expected a hardware flavour of the Hub"),
    ({"suggested_hardware": "cpu"}, "suggested_hardware: expected a hardware flavour of the Hub"),
    ({"suggested_storage": "small"}, "suggested_storage: the Hub no longer offers persistent storage"),
    ({"app_port": 7860}, "app_port: expected a port 1 to 65535, and only with sdk: docker"),
    ({"pinned": "yes"}, "pinned: expected true or false, got 'yes'"),
    ({"hf_oauth_expiration_minutes": 43201}, "hf_oauth_expiration_minutes: expected whole minutes 1 to 43200"),
    ({"startup_duration_timeout": 3600}, "startup_duration_timeout: expected a duration such as '30m' or '1h'"),
    ({"startup_duration_timeout": "1 hour"}, "startup_duration_timeout: expected a duration"),
    ({"models": "owner/name"}, "models: expected a list of texts"),
    ({"models": ["not a repo"]}, "models: expected Hub repo ids like owner/name, got 'not a repo'"),
    ({"datasets": ["a/b/c"]}, "datasets: expected Hub repo ids like owner/name, got 'a/b/c'"),
    ({"tags": "arena"}, "tags: expected a list of texts"),
    ({"preload_from_hub": "owner/name"}, "preload_from_hub: expected a list of"),
    ({"preload_from_hub": ["owner/name a.json main"]}, "preload_from_hub: expected 'owner/name'"),
    ({"preload_from_hub": ["owner/name a.json abc 1"]}, "preload_from_hub: expected 'owner/name'"),
    ({"short_descripton": "typo"}, "short_descripton: not a field of the Spaces configuration reference"),
])
@pytest.mark.parametrize("check", [True, False])
def test_a_field_the_hub_refuses_or_ignores_is_named_and_nothing_is_written(tmp_path, capsys, changes, says, check):
    from realunify_arena.cli import main

    folder = space_folder(tmp_path, **changes)
    before = (folder / "README.md").read_bytes()
    argv = ["space-card", "--readme", str(folder / "README.md"), "--space", str(folder / "space.yaml")]
    assert main(argv + (["--check"] if check else [])) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"space-card: error: {folder / 'space.yaml'}: ") and says in err, err
    assert len(err.strip().splitlines()) == 1 and "spaces-config-reference" in err
    assert (folder / "README.md").read_bytes() == before


def test_every_hardware_flavour_the_hub_names_is_accepted(tmp_path):
    """Before: ``suggested_hardware: zero-a10g`` (ZeroGPU, which the README's GPU / ZeroGPU Space section
    describes) and the RTX Pro 6000 flavours were refused, so space-card would not write a ZeroGPU Space's
    README. The list is huggingface_hub's own (``SpaceHardware``, what the Hub's client can request)."""
    from huggingface_hub import SpaceHardware

    from realunify_arena.space_config import space_problems

    folder = space_folder(tmp_path)
    flavours = [flavour.value for flavour in SpaceHardware]
    assert "zero-a10g" in flavours
    for flavour in flavours:
        assert space_problems({**GOOD_SPACE, "suggested_hardware": flavour}, folder) == [], flavour


def _declared_closure(requirements: Path) -> set[str]:
    """The canonical names of every distribution ``requirements`` declares, with what each pulls in (its extras
    included), read from the installed packages' metadata; a package not installed here is named, not walked."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    todo = [Requirement(line.split("#")[0].strip()) for line in requirements.read_text(encoding="utf-8").splitlines()
            if line.split("#")[0].strip()]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            pulled = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in pulled:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in (*req.extras, "")):
                todo.append(sub)
    return {name for name, _ in seen}


def test_requirements_declare_what_gradios_login_needs_on_a_space():
    """On a Space (``SPACE_ID`` set) the app adds ``gr.LoginButton`` (ui/app.py), so Gradio attaches its OAuth
    routes at launch (gradio/oauth.py ``attach_oauth``): starlette's ``SessionMiddleware`` (which imports
    ``itsdangerous``) and, with ``SYSTEM=spaces``, ``authlib``; without them the launch raises ImportError. A
    gradio-SDK Space build installs ``gradio[oauth]`` itself, so only a Docker Space or a local ``SYSTEM=spaces``
    run failed: requirements.txt (and pyproject's dependencies, read from it) named neither. What the login needs
    is gradio's own ``oauth`` extra, read from its installed metadata."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    oauth = {canonicalize_name(Requirement(line).name) for line in metadata.requires("gradio") or []
             if Requirement(line).marker is not None and Requirement(line).marker.evaluate({"extra": "oauth"})
             and not Requirement(line).marker.evaluate({"extra": ""})}
    assert {"authlib", "itsdangerous"} <= oauth, f"gradio's oauth extra changed: {sorted(oauth)}"
    missing = oauth - _declared_closure(ROOT / "requirements.txt")
    assert not missing, f"requirements.txt does not declare {sorted(missing)}, which Gradio's login imports on a Space"
