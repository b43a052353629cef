"""The README is the newcomer's manual: every command and every app flag is in it (as sqlite-utils checks its
own docs). Commands are discovered from ``realunify_arena/commands/`` through the real parser, flags from
the app's settings, so a new one fails here until the README says what it does. The other way round too: every
option the docs write (in code, ``--name``) is one that exists, and one written after a command is that
command's own, so a renamed or misspelled option fails here rather than in a newcomer's shell."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from realunify_arena import cli
from realunify_arena.settings import _parser as app_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands() -> list[str]:
    parser = cli.build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(sub.choices)


def _app_flags() -> list[str]:
    return sorted(o for a in app_parser()._actions for o in a.option_strings if o.startswith("--") and o != "--help")


def _options(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string of ``parser`` and of its subcommands (``export votes``)."""
    found = set()
    for action in parser._actions:
        found.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found |= _options(child)
    return found


def _command_options() -> dict[str, set[str]]:
    parser = cli.build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {name: _options(child) for name, child in sub.choices.items()}


# Options of other programs the README shows: pip's (PyTorch's CPU index), accelerate's, FastChat's
# elo_analysis.py, a vLLM ``serve`` line's key, and the secret a usage error masks.
OTHER_PROGRAMS = {"--index-url", "--multi_gpu", "--num_processes", "--clean-battle-file", "--daily-vote-per-user",
                  "--api-key", "--repo-type", "--include"}  # the last two: `hf upload`'s
# (test_the_readme_s_hf_commands_...)
_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9_-]*")


def _code(text: str) -> list[str]:
    """The README's code: each line of a fenced block (a ``\\`` continuation joined) and each inline code span."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    prose = re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S)
    return re.findall(r"`([^`]+)`", prose) + [line for b in blocks for line in b.replace("\\\n", " ").splitlines()]


def wrong_options(text: str) -> list[str]:
    """Options ``text`` (Markdown) shows that do not exist: after a command (``python -m realunify_arena CMD``, or
    a code span starting with ``CMD``), one CMD's parser lacks; anywhere, one no parser here has (the commands, the
    app's settings, ``bench/`` and ``workers/`` scripts) and no other program of ``OTHER_PROGRAMS``."""
    commands = _command_options()
    known = set(OTHER_PROGRAMS) | {o for a in app_parser()._actions for o in a.option_strings}
    known |= {o for options in commands.values() for o in options}
    for script in [*(ROOT / "bench").glob("*.py"), *(ROOT / "workers").glob("*.py")]:
        known |= set(re.findall(r"add_argument\(\s*['\"](--[a-z0-9_-]+)['\"]", script.read_text(encoding="utf-8")))
    names = "|".join(sorted(map(re.escape, commands), key=len, reverse=True))
    wrong = []
    for piece in _code(text):
        for m in re.finditer(rf"(?:python -m realunify_arena |^)({names})\b([^#`]*)", piece):
            wrong += [f"{m.group(1)} {o}" for o in _OPTION.findall(m.group(2)) if o not in commands[m.group(1)]]
        wrong += [o for o in _OPTION.findall(piece) if o not in known]
    return wrong


def test_every_command_module_is_a_command():
    assert len(_commands()) == len(cli.command_modules()) >= 10


@pytest.mark.parametrize("command", _commands())
def test_readme_shows_every_command(command):
    assert re.search(rf"python -m realunify_arena {re.escape(command)}\b", README), (
        f"README.md never shows `python -m realunify_arena {command}`")


@pytest.mark.parametrize("flag", _app_flags())
def test_readme_names_every_app_flag(flag):
    assert re.search(rf"`{re.escape(flag)}[` =]", README), f"README.md never names the app flag `{flag}`"


@pytest.mark.parametrize("doc", ["README.md", "tests/README.md", "RELIABILITY.md"])
def test_every_option_a_doc_shows_exists_where_it_is_shown(doc):
    wrong = wrong_options((ROOT / doc).read_text(encoding="utf-8"))
    assert not wrong, f"{doc} shows options that do not exist there: {sorted(set(wrong))}"


def test_the_option_check_sees_a_wrong_option():
    assert wrong_options("`python -m realunify_arena eval --model m --no-such-option`") == [
        "eval --no-such-option", "--no-such-option"]
    assert wrong_options("`report --judges a,b --retry-errors`") == ["report --retry-errors"]  # eval's, not report's
    assert wrong_options("```bash\npython -m realunify_arena leaderboard \\\n    --vote FILE\n```") == [
        "leaderboard --vote", "--vote"]
    assert wrong_options("`python app.py --queue-size 32`, `--allow-large-models`, `python bench/votes.py "
                         "--flush-latency-us 100`") == []


def test_the_checks_see_a_missing_entry():
    assert "--queue-size" in _app_flags() and "serve-openai" in _commands()  # discovery found real names
    assert not re.search(r"python -m realunify_arena no-such-command\b", README)


def test_the_readme_card_example_is_a_card(tmp_path):
    # the "write a card, no code" example is what a newcomer copies into models/; it must load as written
    from realunify_arena.cards import load_card

    [block] = [b for b in re.findall(r"```yaml\n(.*?)```", README, re.S) if b.startswith("family:")]
    (tmp_path / "qwen2.5-vl-3b.yaml").write_text(block, encoding="utf-8")
    card = load_card(tmp_path / "qwen2.5-vl-3b.yaml")
    assert card.family == "pair" and card.description.startswith("Qwen2.5-VL-3B (paper row: none;")


def test_the_blip3o_recipes_check_out_branch_main():
    """JiuhaiChen/BLIP3o's default branch is BLIP3o-NEXT (another model: its inference.py builds
    blip3oQwenForInferenceLM, no diffusion-decoder pipeline); BLIP3-o-8B's code, the one the worker follows,
    is on branch main. A plain clone would start the worker on the wrong code."""
    from realunify_arena.cards import MODELS_DIR

    readme_row = next(line for line in README.splitlines() if line.startswith("| BLIP3-o |"))
    card = (MODELS_DIR / "blip3o.yaml").read_text(encoding="utf-8")
    worker = (ROOT / "workers" / "blip3o.py").read_text(encoding="utf-8")
    for where, text in (("README.md", readme_row), ("models/blip3o.yaml", card), ("workers/blip3o.py", worker)):
        assert "clone -b main" in text, f"{where} does not say to clone BLIP3o's branch main"


def test_the_readme_s_hf_commands_are_ones_huggingface_hub_s_cli_takes():
    """Each `hf ...` line of the README (the Space's upload of data/) names a command and options that the
    installed huggingface_hub command line lists in its own help (the Hub's client is the authority)."""
    import shutil
    import subprocess
    import sys

    hf = shutil.which("hf", path=str(Path(sys.executable).parent)) or shutil.which("hf")
    lines = [line.split("#")[0].split() for line in _code(README) if line.strip().startswith("hf ")]
    assert lines, "the README shows no hf command (the Space's data/ upload)"
    for words in lines:
        sub = [w for w in words[1:] if not w.startswith("-")][:1]
        shown = subprocess.run([hf, *sub, "--help"], capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        for option in (w.split("=")[0] for w in words if w.startswith("--")):
            assert option in shown.stdout, f"`hf {sub[0]}` has no option {option}"
