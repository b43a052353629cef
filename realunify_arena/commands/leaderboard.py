"""``leaderboard``: the Leaderboard tab's boards as Markdown, CSV or JSON, from the store or an exported votes file.

The same function fits the tab's boards and these (``ratings.board_from_counts``, the same bootstrap seed
and rounds), so a script gets exactly the numbers the page shows; ``--votes FILE`` reads a file written by
``export votes`` (JSON Lines or CSV), e.g. to rate votes gathered elsewhere.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

from realunify_arena import durable
from realunify_arena.arena import KINDS
from realunify_arena.benchmark.schema import TRACKS
from realunify_arena.commands._options import USAGE, CommandError, add_db, existing_file, no_database, store_at
from realunify_arena.shown import brief

FORMATS = ("markdown", "csv", "json")
MIN_VOTES_ENV = "REALUNIFY_MIN_VOTES"  # Settings' variable for min_votes, as app.py reads it


class VotesFileError(ValueError):
    """A votes file that cannot be read; the message names the file, the line and the field."""


def register(sub) -> None:
    p = sub.add_parser("leaderboard", help="print the Leaderboard tab's boards (Markdown, CSV or JSON) from the "
                                           "store or from a file written by `export votes`")
    add_db(p, help="the store whose votes are rated (unless --votes)")
    p.add_argument("--votes", type=Path, metavar="FILE",
                   help="rate the votes in FILE (written by `export votes`, JSON Lines or CSV) instead of the store")
    p.add_argument("--track", choices=TRACKS, help="only this track (default: both)")
    p.add_argument("--kind", choices=KINDS, help="only this kind of battle (default: both)")
    p.add_argument("--format", choices=FORMATS, default="markdown", help="output format (default: markdown)")
    p.add_argument("--min-votes", default=None, metavar="N",
                   help=f"votes below which a system is preliminary (default: ${MIN_VOTES_ENV} or 20, as the app)")
    p.add_argument("--rounds", type=int, default=200, help="bootstrap rounds for the 95%% intervals (default 200; "
                                                           "0: no intervals)")
    p.add_argument("--decisive-only", action="store_true", help="fit on A/B votes only (ties and both-bad out)")
    p.add_argument("--out", type=Path, help="write to FILE (default: standard output)")
    p.set_defaults(func=run)


def run(args) -> int:
    from realunify_arena import ratings

    try:
        min_votes = _min_votes(args.min_votes)
    except ValueError as e:
        raise CommandError(str(e), USAGE) from None
    if args.rounds < 0:
        raise CommandError(f"--rounds {args.rounds}: expected 0 or more", USAGE)
    try:
        tables = _tables_from_file(args.votes) if args.votes else _tables_from_store(args.db)
    except (OSError, VotesFileError) as e:
        raise CommandError(str(e), USAGE) from None
    boards = [ratings.board_from_counts(tables(track, kind), track, kind, min_votes, rounds=args.rounds,
                                        decisive_only=args.decisive_only)
              for track in ([args.track] if args.track else TRACKS)
              for kind in ([args.kind] if args.kind else KINDS)]
    if args.format == "markdown":
        text = "\n\n".join(ratings.board_markdown(b) for b in boards) + "\n"
    elif args.format == "csv":
        text = ratings.boards_csv(boards)
    else:
        text = ratings.boards_json(boards) + "\n"
    if args.out:
        durable.write_text(args.out, text)  # replaces the previous board only once written whole
        print(f"wrote {len(boards)} board{'s' if len(boards) != 1 else ''} to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _min_votes(flag: str | None) -> int:
    """``--min-votes``, else ``$REALUNIFY_MIN_VOTES``, else the app's default, read by the app's own rule
    (``Settings``: an integer from 0 to 10**6; the error names the flag or the variable the value came from).

    Raises:
        SettingsError: not an integer in that range.
    """
    from realunify_arena.settings import Settings, spec

    setting = spec("min_votes")
    if flag is not None:
        return setting.convert(flag, f"--{setting.flag}")
    if setting.env in os.environ:
        return setting.convert(os.environ[setting.env], setting.env)
    return Settings.min_votes


def _tables_from_store(db: Path):
    from realunify_arena.ratings import VoteCounts

    if not db.is_file():
        raise OSError(no_database(db, ", or rate a file with --votes"))
    with store_at(db, for_reading=True) as store:
        counts = VoteCounts()
        counts.update(store)
    return counts.table


def _tables_from_file(path: Path):
    from realunify_arena.ratings import CountTable

    votes = read_votes(existing_file(path, "--votes"))
    return lambda track, kind: CountTable.from_votes(v for v in votes if v["track"] == track and v["kind"] == kind)


def read_votes(path: Path) -> list[dict]:
    """Votes from a file written by ``export votes``: JSON Lines or CSV (told apart by the first character).

    Each vote needs track, kind, system_a, system_b and choice (or FastChat's ``winner``, which the export
    writes beside it; where both are given they must agree). A vote whose ``flagged`` field is set (its battle
    named a system before the vote) is left out, as the tab leaves it out of the ratings. Raises
    ``VotesFileError`` naming the line and field of the first bad vote.
    """
    from realunify_arena.arena import WINNER
    from realunify_arena.systems import system_problem

    if not path.is_file():
        raise VotesFileError(f"no votes file at {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's or editor's byte order mark is no data
    except UnicodeDecodeError as e:
        raise VotesFileError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); expected the JSON Lines "
                             "or CSV that `export votes` writes") from None
    if text.lstrip().startswith("{"):
        records = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise VotesFileError(f"{path} line {number}: not JSON ({e.msg}); expected one vote object per "
                                     "line") from None
            if not isinstance(record, dict):
                raise VotesFileError(f"{path} line {number}: expected a JSON object, got {type(record).__name__}")
            records.append((number, record))
    else:
        reader = csv.DictReader(text.splitlines())
        try:
            missing = [name for name in ("track", "kind", "system_a", "system_b")
                       if reader.fieldnames is not None and name not in reader.fieldnames]
            if missing:  # a file that is neither JSON Lines nor the export's CSV is not "no votes"
                raise VotesFileError(f"{path} line 1: no column {missing[0]!r}; expected JSON Lines or the CSV "
                                     "that `export votes` writes (track, kind, system_a, system_b, choice)")
            records = [(reader.line_num, row) for row in reader]
        except csv.Error as e:  # a field over the csv module's size limit, ...
            raise VotesFileError(f"{path} line {reader.line_num + 1}: not CSV ({e}); expected the CSV that "
                                 "`export votes` writes") from None
    from_winner = {name: choice for choice, name in WINNER.items()}
    votes = []
    for number, record in records:
        if record.get("flagged"):
            continue
        where = f"{path} line {number}"
        vote = {}
        for name, allowed in (("track", TRACKS), ("kind", KINDS), ("system_a", None), ("system_b", None)):
            value = record.get(name)
            if not isinstance(value, str) or not value:
                raise VotesFileError(f"{where}: field {name!r} is missing or empty; a file written by "
                                     "`export votes` has track, kind, system_a, system_b and choice")
            if allowed and value not in allowed:
                raise VotesFileError(f"{where}: {name} {value!r} is not one of {', '.join(allowed)}")
            problem = None if allowed else system_problem(value)  # a newline or ':' in a name breaks the tables
            if problem:
                raise VotesFileError(f"{where}: {name} {problem}")
            vote[name] = value
        choice, winner = record.get("choice"), record.get("winner")
        if not choice and isinstance(winner, str):
            choice = from_winner.get(winner)
        if not isinstance(choice, str) or choice not in WINNER:  # a list or object is no choice either
            raise VotesFileError(f"{where}: choice {record.get('choice', record.get('winner'))!r} is not one of "
                                 f"{', '.join(WINNER)} (or a FastChat winner: {', '.join(WINNER.values())})")
        if winner not in (None, "") and winner != WINNER[choice]:  # which of the two would be rated?
            raise VotesFileError(f"{where}: choice {choice!r} and winner {brief(winner)} disagree; expected winner "
                                 f"{WINNER[choice]!r} beside choice {choice!r}, as `export votes` writes them")
        vote["choice"] = choice
        try:
            vote["vote_id"] = int(record.get("vote_id") or 0)
        except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's Infinity
            raise VotesFileError(f"{where}: vote_id {record.get('vote_id')!r} is not a whole number") from None
        votes.append(vote)
    return votes
