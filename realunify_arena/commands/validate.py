"""``validate PATH``: check a RealUnify source and print counts per track and category."""

from __future__ import annotations

import sys

from realunify_arena.benchmark.schema import TRACKS
from realunify_arena.commands._options import PROBLEMS, CommandError, existing_path


EXAMPLE = "python -m realunify_arena validate /path/to/RealUnify"


def register(sub) -> None:
    p = sub.add_parser("validate", help="check instance files; print counts, or every problem found")
    p.add_argument("path", metavar="PATH", help='"bundled", a folder in the official layout, or parquet file(s)')
    p.set_defaults(func=run)


def run(args) -> int:
    from realunify_arena.benchmark import load

    dataset = load(existing_path(args.path, "PATH", keyword="bundled"))
    counts = dataset.counts()
    for track in TRACKS:
        per_category = ", ".join(f"{abbr} {n}" for abbr, n in counts[track].items()) or "none"
        print(f"{track}: {sum(counts[track].values())} instances ({per_category})")
    print(f"total: {len(dataset)} instances")
    if dataset.problems:
        for problem in dataset.problems:
            print(f"  {problem}", file=sys.stderr)
        raise CommandError(f"{args.path}: {len(dataset.problems)} problem(s) above", PROBLEMS)
    return 0
