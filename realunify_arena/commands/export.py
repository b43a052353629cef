"""``export votes|runs``: votes as JSON Lines, CSV (one line per vote) or a JSON array, runs as official result files.

Each exported vote also carries the fields FastChat's rating reads from a battle (``elo_analysis.py``, run with
``--clean-battle-file``: ``pd.read_json`` of a JSON array, sorted by ``tstamp``, filtered by ``anony``, rated on
``model_a``, ``model_b`` and ``winner``): ``model_a``/``model_b`` the two systems, ``tstamp`` the vote's time in
seconds since the epoch, ``anony`` false exactly for a flagged battle (its output named a system before the vote,
so, as FastChat leaves non-anonymous battles out, its rating leaves it out as ours does), and ``judge`` the voter:
``elo_analysis.py`` groups battles by it (``limit_user_votes``, for ``--daily-vote-per-user``; ``outlier_detect``
counts and drops a voter's battles by it), and FastChat's ``clean_battle_data.py`` writes it as
``arena_user_<id>``, an id per IP that is never the IP; here ``arena_user_<voter_hash>``, the keyed hash of the
person (``Arena.voter_hash``: the account, or the address across sessions), never a username, an IP or a session. ``--format json`` writes the JSON array that ``--clean-battle-file`` takes; FastChat rates one such file as one
board (it has no track or kind), so an array holding several boards' votes gets a note on stderr.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import sqlite3
import sys
from collections import Counter
from pathlib import Path

from realunify_arena import durable
from realunify_arena.arena import KINDS, WINNER
from realunify_arena.benchmark.schema import TRACKS
from realunify_arena.shown import canonical, counted
from realunify_arena.spreadsheet import safe_row
from realunify_arena.commands._options import (PROBLEMS, USAGE, CommandError, add_db, check_judge_judged, out_file,
                                               out_folder, store_at, stored_dataset)

FASTCHAT_FIELDS = ("model_a", "model_b", "tstamp", "anony", "judge")
FASTCHAT_VOTER = "arena_user_"  # FastChat's ``judge`` is this and a voter id (its clean_battle_data.py)
VOTE_FIELDS = ("vote_id", "created_at", "battle_id", "kind", "track", "dataset", "instance_uid",
               "system_a", "system_b", "choice", "winner", "voter_hash", "flagged",
               *FASTCHAT_FIELDS)
# ``flagged``: why the battle gave a system away before the vote (null when not): kept, but not rated.
# ``winner`` and FASTCHAT_FIELDS: FastChat's battle fields (the module docstring), so its rating reads the export.
# The CSV's fields that carry names or text from outside (a dataset is named after the folder its results came from):
# one starting like a spreadsheet formula, or read as a value (a voter_hash of hex digits all decimal, or "12e45..."
# as 1.2E+49), is written as text (``spreadsheet.safe_row``); JSON keeps them exactly.
CSV_TEXT_FIELDS = ("dataset", "instance_uid", "system_a", "system_b", "flagged", "model_a", "model_b", "voter_hash")


EXAMPLE = "python -m realunify_arena export votes --format csv --out votes.csv"


def register(sub) -> None:
    p = sub.add_parser("export", help="write votes (jsonl, csv or json) or runs (official result files)",
                       description="export votes --format jsonl|csv|json [--out FILE]; "
                                   "export [runs] --format official --out DIR")
    p.add_argument("what", nargs="?", choices=("votes", "runs"),
                   help="votes or runs (default: runs for --format official, votes otherwise)")
    p.add_argument("--format", choices=("jsonl", "csv", "json", "official"),
                   help="votes: jsonl (default), csv, or json (one array: FastChat's --clean-battle-file); "
                        "runs: official (default)")
    p.add_argument("--out", type=Path, help="votes: file to write (default: standard output); runs: folder")
    p.add_argument("--track", choices=TRACKS, help="votes: only this track")
    p.add_argument("--kind", choices=KINDS, help="votes: only this kind")
    p.add_argument("--dataset", type=canonical, help="runs: only runs of this dataset")
    p.add_argument("--model", help="runs: only runs of this model card")
    p.add_argument("--judge", type=canonical, help="runs: also record this judge's replies to the polling questions")
    p.add_argument("--relative-paths", action="store_true",
                   help="runs: write image paths as ./images/<file> (the folder can be moved, but the official "
                        "scorer must run from inside it); default: absolute paths, found from any directory")
    add_db(p)
    p.set_defaults(func=run)


def run(args) -> int:
    if args.what is None and args.format is None:
        raise CommandError("say what to export: 'export votes' or 'export --format official --out DIR'", USAGE)
    what = args.what or ("runs" if args.format == "official" else "votes")
    args.format = args.format or ("official" if what == "runs" else "jsonl")
    if (what == "runs") != (args.format == "official"):
        raise CommandError(f"{what} export as --format {args.format}: votes take jsonl, csv or json, runs take "
                           "official", USAGE)
    if what == "runs" and args.out is None:
        raise CommandError("--out DIR is required for the official result files", USAGE)
    if what == "runs":
        out_folder(args.out)
    elif args.out is not None:
        out_file(args.out)
    return run_runs(args) if what == "runs" else run_votes(args)


def vote_lines(store, track: str | None = None, kind: str | None = None) -> list[dict]:
    """One dict per vote; ``voter_hash`` keyed with the arena's voter salt.

    Raises:
        CommandError: no salt is set or stored and storing a new one failed (a full disk; exit 1). With no
            votes none is made: an export that only reads writes nothing.
        arena.SaltError: ``$REALUNIFY_VOTER_SALT`` is set but too short (``run_votes`` refuses it first).
    """
    votes = store.votes(track=track, kind=kind)
    if not votes:
        return []
    arena = _arena(store)
    lines = []
    for v in votes:
        hashed = arena.voter_hash(v["voter"])
        lines.append({**{k: v[k] for k in VOTE_FIELDS if k in v}, "winner": WINNER[v["choice"]],
                      "voter_hash": hashed, **fastchat_fields(v, hashed)})
    return lines


def fastchat_fields(vote: dict, voter_hash: str) -> dict:
    """FastChat's battle fields of one ``Store.votes`` row (the module docstring): model_a, model_b, tstamp
    (float seconds since the epoch, from ``created_at``, an ISO 8601 time with its UTC offset), anony (false
    for a flagged battle) and judge (``FASTCHAT_VOTER`` and the vote's ``voter_hash``: one per person,
    ``Arena.voter_hash``, never the voter's name, IP or session)."""
    return {"model_a": vote["system_a"], "model_b": vote["system_b"],
            "tstamp": dt.datetime.fromisoformat(vote["created_at"]).timestamp(), "anony": not vote["flagged"],
            "judge": FASTCHAT_VOTER + voter_hash}


def _arena(store):
    """``Arena(store)``, which stores a new voter salt when neither ``$REALUNIFY_VOTER_SALT`` nor the store has one."""
    from realunify_arena.arena import SALT_ENV, Arena
    from realunify_arena.store import StoreError

    try:
        return Arena(store)  # a short salt was refused before (run_votes)
    except (sqlite3.Error, StoreError) as e:
        reason = str(e).split("; ")[0].removeprefix(f"{store.path}: ")
        raise CommandError(f"{store.path}: no voter salt is stored in it, and storing a new one failed ({reason});"
                           f" set {SALT_ENV} to the app's salt, or free disk space and try again",
                           PROBLEMS) from None


def run_votes(args) -> int:
    from realunify_arena.arena import SaltError, env_salt

    try:  # refused even with no votes to hash, as the app refuses to start with it
        env_salt()
    except SaltError as e:  # its hashes could be traced back to addresses (arena.MIN_SALT_CHARS)
        raise CommandError(f"{e}; nothing was exported", USAGE) from None
    with store_at(args.db, for_reading=True) as store:
        lines = vote_lines(store, track=args.track, kind=args.kind)
        where = store.path
    # a file replaces the previous export only once written whole
    with durable.open_text(args.out) if args.out else contextlib.nullcontext(sys.stdout) as out:
        if args.format == "csv":
            writer = csv.DictWriter(out, fieldnames=VOTE_FIELDS)
            writer.writeheader()
            writer.writerows(safe_row(line, CSV_TEXT_FIELDS) for line in lines)
        elif args.format == "json":  # an array, as FastChat's clean_battle file: pd.read_json reads it
            out.write("[\n" + ",\n".join(json.dumps(line) for line in lines) + ("\n]\n" if lines else "]\n"))
        else:
            for line in lines:
                out.write(json.dumps(line) + "\n")
    boards = Counter((line["track"], line["kind"]) for line in lines)
    if args.format == "json" and len(boards) > 1:  # FastChat has no boards: one battle file is rated as one
        held = ", ".join(f"{t} {k} {boards[t, k]}" for t in TRACKS for k in KINDS if boards[t, k])
        print(f"export: note: the array holds the votes of {len(boards)} boards ({held}); FastChat's "
              "elo_analysis.py rates one battle file as one board, pooling them: pass --track and --kind to write "
              "one board's battles", file=sys.stderr)
    if not lines:  # said on standard error (once written), so an empty export is never mistaken for a failed one
        only = " ".join(f"{name} {value}" for name, value in (("track", args.track), ("kind", args.kind)) if value)
        print(f"export: no votes{f' of {only}' if only else ''} in {where}: nothing to export (votes come from "
              "Arena battles)", file=sys.stderr)
    if args.out:
        print(f"wrote {counted(len(lines), 'vote')} to {args.out}", file=sys.stderr)
    return 0


def run_runs(args) -> int:
    from realunify_arena.reporting import export_official

    with store_at(args.db, for_reading=True) as store:
        args.dataset = stored_dataset(store, args.dataset)
        args.judge = check_judge_judged(store, args.judge, args.dataset, args.db)
        try:
            paths = export_official(store, args.out, dataset=args.dataset, model=args.model,
                                    judge=args.judge, relative_paths=args.relative_paths)
        except (LookupError, ValueError) as e:
            raise CommandError(str(e), PROBLEMS) from e
    for path in paths:
        print(path)
    return 0
