"""``python -m realunify_arena COMMAND``: one entry point for every command-line tool.

Each command lives in its own module under ``realunify_arena/commands/`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (returning the exit code), and ``EXAMPLE``,
one command line that ``COMMAND --help`` shows under what the command does (its ``help`` summary).
Commands import their heavy dependencies inside ``func`` so ``--help`` stays instant. Options several
commands share (``--db``, ``--models-dir``), the error type and the exit codes live in
``realunify_arena/commands/_options.py``; commands never import each other.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import textwrap

from realunify_arena import commands
from realunify_arena.commands._options import INTERRUPTED, PROBLEMS, CommandError
from realunify_arena.redaction import SECRETS_FROM_ENV, RedactingParser, install_log_redaction, redact


def command_modules() -> list[str]:
    """The module names under ``realunify_arena/commands/`` that are commands (not ``_private`` helpers)."""
    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    parser = RedactingParser(prog="python -m realunify_arena",
                                     description="RealUnify demo, arena and batch evaluator.",
                                     epilog="exit codes: 0 done; 1 problems found or refused; 2 usage error; "
                                            f"130 interrupted. {SECRETS_FROM_ENV}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    examples = {}
    for name in command_modules():
        module = importlib.import_module(f"{commands.__name__}.{name}")
        module.register(sub)
        examples[name.replace("_", "-")] = module.EXAMPLE
    summaries = {action.dest: action.help for action in sub._choices_actions}  # noqa: SLF001 - no public way
    for name, command in sub.choices.items():
        command.command = name  # what its usage errors start with (``RedactingParser.error``)
        describe(command, summaries[name], examples[name])
    return parser


def describe(command: argparse.ArgumentParser, summary: str, example: str) -> None:
    """``command --help`` says what it does (``summary``, the line the command list shows, then the command's
    own description) and ends with ``example``; before, a command's help was its options alone."""
    text = summary[0].upper() + summary[1:] + "." + (f" {command.description}" if command.description else "")
    command.description = textwrap.fill(text, 79)  # the raw formatter below keeps the example's line as it is
    command.epilog = f"example:\n  {example}"
    command.formatter_class = argparse.RawDescriptionHelpFormatter


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (see ``commands/_options.py``)."""
    install_log_redaction()
    try:
        args = build_parser().parse_args(argv)  # imports every command module: a Ctrl-C may land here
    except KeyboardInterrupt:
        words = sys.argv[1:2] if argv is None else argv[:1]
        print(f"{next((w for w in words if not w.startswith('-')), 'python -m realunify_arena')}: interrupted",
              file=sys.stderr)
        return INTERRUPTED
    return run_command(args)


def run_command(args: argparse.Namespace) -> int:
    """``args.func(args)`` as an exit code: a ``CommandError`` becomes ``"<command>: error: ..."`` and its code."""
    try:
        return int(args.func(args) or 0)
    except CommandError as e:
        print(f"{args.command}: error: {redact(str(e))}", file=sys.stderr)
        return e.code
    except BrokenPipeError:
        if _stdout_closed():  # its reader stopped early (`| head`): exit quietly, as Python's docs advise
            return PROBLEMS
        raise  # another pipe's (never expected here): the OSError line below would not say which
    except OSError as e:  # a path the command cannot read or write (a folder where a file goes, ...)
        path = e.filename2 or e.filename  # a rename's target is the path the user named
        where = f"{path}: " if path else ""
        print(f"{args.command}: error: {redact(where + str(e.strerror or e))}", file=sys.stderr)
        return PROBLEMS
    except KeyboardInterrupt:
        print(f"{args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED


def _stdout_closed() -> bool:
    """Whether standard output's reader has gone (a pipe whose reader closed it, as ``head`` does once it has its
    lines: poll(2) reports POLLERR on such a pipe's write end); then standard output is pointed at the null device,
    so the interpreter's flush at exit raises no second BrokenPipeError (Python's docs, "Note on SIGPIPE" in the
    ``signal`` module). False where standard output is no file descriptor or cannot be polled."""
    import select

    try:
        fd = sys.stdout.fileno()
        poll = select.poll()
        poll.register(fd, select.POLLOUT)
        gone = any(events & select.POLLERR for _, events in poll.poll(0))  # a pipe without reader: POLLERR
    except (AttributeError, OSError, ValueError):  # no real file (a test's capture), or no poll on this system
        return False
    if gone:
        os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
    return gone
