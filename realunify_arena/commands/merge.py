"""``merge SOURCE.db ...``: fold other stores' runs, images and judgments into this one (multi-node evals)."""

from __future__ import annotations

from pathlib import Path

from realunify_arena.commands._options import USAGE, CommandError, add_db, store_at


def register(sub) -> None:
    p = sub.add_parser("merge", help="copy runs, images and judgments from other stores into --db (multi-node eval)")
    p.add_argument("sources", nargs="+", type=Path, help="stores written by other nodes")
    add_db(p, "the store to merge into (created if missing)")
    p.set_defaults(func=run)


def run(args) -> int:
    from realunify_arena.evaluation import merge

    for source_path in args.sources:
        if not source_path.is_file():
            raise CommandError(f"no database at {source_path}", USAGE)
        if source_path.resolve() == args.db.resolve():
            raise CommandError(f"{source_path} is the target store itself", USAGE)
    with store_at(args.db, create=True) as target:
        for source_path in args.sources:
            with store_at(source_path, for_reading=True) as source:
                runs, judgments, differing = merge(source, target)
            print(f"{source_path}: {runs} new runs, {judgments} new judgments"
                  + (f"; {differing} run(s) differ from the one stored under the same key (instance, model, "
                     "mode, settings): the stored one is kept, and this store's judgments of them are not "
                     "copied" if differing else ""))
    return 0
