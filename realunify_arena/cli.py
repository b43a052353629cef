"""``python -m realunify_arena COMMAND``: one entry point for every command-line tool.

Each command lives in its own module under ``realunify_arena/commands/`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (returning the exit code).
Commands import their heavy dependencies inside ``func`` so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

from realunify_arena import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m realunify_arena",
                                     description="RealUnify demo, arena and batch evaluator.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{module.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
