"""The README is the newcomer's manual: every command and every app flag is in it (as sqlite-utils checks its
own docs). Commands are discovered from ``realunify_arena/commands/`` through the real parser, flags from
the app's settings, so a new one fails here until the README says what it does."""

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


def test_every_command_module_is_a_command():
    assert len(_commands()) == len(cli.command_modules()) >= 10


@pytest.mark.parametrize("command", _commands())
def test_readme_shows_every_command(command):
    assert re.search(rf"python -m realunify_arena {re.escape(command)}\b", README), (
        f"README.md never shows `python -m realunify_arena {command}`")


@pytest.mark.parametrize("flag", _app_flags())
def test_readme_names_every_app_flag(flag):
    assert re.search(rf"`{re.escape(flag)}[` =]", README), f"README.md never names the app flag `{flag}`"


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
