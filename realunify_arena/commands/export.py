"""``export votes|runs``: votes as JSON Lines or CSV (one line per vote), runs as official result files."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

DEFAULT_DB = "data/arena.db"
VOTE_FIELDS = ("vote_id", "created_at", "battle_id", "kind", "track", "dataset", "instance_uid",
               "system_a", "system_b", "choice", "winner", "voter_hash")
# FastChat's battle vocabulary, so its tooling and arena-rank read the export as is.
WINNER = {"A": "model_a", "B": "model_b", "tie": "tie", "both_bad": "tie (bothbad)"}


def register(sub) -> None:
    p = sub.add_parser("export", help="write votes (jsonl/csv) or runs (official result files)")
    what = p.add_subparsers(dest="what", metavar="WHAT", required=True)

    votes = what.add_parser("votes", help="one line per vote: systems, instance, choice, time, voter hash")
    votes.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    votes.add_argument("--out", type=Path, help="file to write (default: standard output)")
    votes.add_argument("--track", choices=("UEG", "GEU"))
    votes.add_argument("--kind", choices=("model_vs_model", "direct_vs_stepwise"))
    _db_argument(votes)
    votes.set_defaults(func=run_votes)

    runs = what.add_parser("runs", help="stored runs in the official result layout")
    runs.add_argument("--format", choices=("official",), default="official")
    runs.add_argument("--out", type=Path, required=True, help="folder to write into")
    runs.add_argument("--dataset", help="only runs of this dataset")
    runs.add_argument("--model", help="only runs of this model card")
    runs.add_argument("--judge", help="also record this judge's replies to the polling questions")
    _db_argument(runs)
    runs.set_defaults(func=run_runs)


def _db_argument(parser) -> None:
    parser.add_argument("--db", type=Path, default=Path(os.environ.get("REALUNIFY_DB", DEFAULT_DB)),
                        help=f"the store (default $REALUNIFY_DB or {DEFAULT_DB})")


def open_existing(db: Path):
    """The store at ``db``; a missing file is an error here, not a new empty database."""
    from realunify_arena.store import Store

    if not db.is_file():
        raise SystemExit(f"error: no database at {db} (pass --db or set REALUNIFY_DB)")
    return Store.open(db)


def vote_lines(store, track: str | None = None, kind: str | None = None) -> list[dict]:
    from realunify_arena.arena import Arena

    arena = Arena(store)
    return [
        {**{k: v[k] for k in VOTE_FIELDS if k in v}, "winner": WINNER[v["choice"]],
         "voter_hash": arena.voter_hash(v["voter"])}
        for v in store.votes(track=track, kind=kind)
    ]


def run_votes(args) -> int:
    store = open_existing(args.db)
    lines = vote_lines(store, track=args.track, kind=args.kind)
    store.close()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
    out = args.out.open("w", encoding="utf-8", newline="") if args.out else sys.stdout
    try:
        if args.format == "csv":
            writer = csv.DictWriter(out, fieldnames=VOTE_FIELDS)
            writer.writeheader()
            writer.writerows(lines)
        else:
            for line in lines:
                out.write(json.dumps(line) + "\n")
    finally:
        if args.out:
            out.close()
    if args.out:
        print(f"wrote {len(lines)} votes to {args.out}", file=sys.stderr)
    return 0


def run_runs(args) -> int:
    from realunify_arena.reporting import export_official

    store = open_existing(args.db)
    try:
        paths = export_official(store, args.out, dataset=args.dataset, model=args.model,
                                judge=args.judge)
    except (LookupError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        store.close()
    for path in paths:
        print(path)
    return 0
