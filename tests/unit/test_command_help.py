"""A newcomer's ``python -m realunify_arena COMMAND --help``: it says what the command does (the line the command
list gives it, then any detail) and ends with an example, a command line the parser accepts as that command.
Before, a command's help was its options alone (``backup --help``, ``validate --help``: no word of what they do)
and no command had an example."""

from __future__ import annotations

import argparse
import re
import shlex

import pytest

from realunify_arena import cli

PROG = "python -m realunify_arena"


def _help(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as done:
        cli.main([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def _commands() -> list[str]:
    [sub] = [a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(sub.choices)


@pytest.mark.parametrize("command", _commands())
def test_command_help_says_what_it_does_first(command, capsys):
    listing = " ".join(_help([], capsys).split())  # the top-level list: "COMMAND summary" per command
    text = _help([command], capsys)
    description = text.split("\n\n")[1]  # after the usage block
    assert not description.lstrip().startswith(("positional arguments:", "options:")), text
    first = " ".join(description.split()).split(". ")[0].rstrip(".")
    assert f" {command} {first[0].lower()}{first[1:]} " in f"{listing} ", (command, first)


@pytest.mark.parametrize("command", _commands())
def test_command_help_ends_with_an_example_the_parser_accepts(command, capsys):
    text = _help([command], capsys)
    found = re.search(r"\nexample:\n  (.+)\n$", text)
    assert found, f"`{command} --help` has no example:\n{text}"
    words = shlex.split(found.group(1))
    assert words[:4] == [*PROG.split(), command], found.group(1)
    args = cli.build_parser().parse_args(words[3:])  # a usage error would exit 2 here
    assert args.command == command
