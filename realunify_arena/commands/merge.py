"""``merge SOURCE.db ...``: fold other stores' runs, images and judgments into this one (multi-node evals)."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("merge", help="copy runs, images and judgments from other stores into --db (multi-node eval)")
    p.add_argument("sources", nargs="+", type=Path, help="stores written by other nodes")
    p.add_argument("--db", default=None, help="the store to merge into (default: $REALUNIFY_DB or data/arena.db)")
    p.set_defaults(func=run)


def run(args) -> int:
    from realunify_arena.commands.eval import default_db
    from realunify_arena.evaluation import merge
    from realunify_arena.store import Store

    target_path = Path(args.db or default_db())
    for source_path in args.sources:
        if not source_path.is_file():
            print(f"merge: no database at {source_path}", file=sys.stderr)
            return 2
        if source_path.resolve() == target_path.resolve():
            print(f"merge: {source_path} is the target store itself", file=sys.stderr)
            return 2
    target = Store.open(target_path)
    try:
        for source_path in args.sources:
            source = Store.open(source_path)
            try:
                runs, judgments = merge(source, target)
            finally:
                source.close()
            print(f"{source_path}: {runs} new runs, {judgments} new judgments")
    finally:
        target.close()
    return 0
