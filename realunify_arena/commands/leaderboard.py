"""``leaderboard``: the Leaderboard tab's boards as Markdown, CSV or JSON, from the store or an exported votes file.

The same function fits the tab's boards and these (``ratings.board_from_counts``, the same bootstrap seed
and rounds), so a script gets exactly the numbers the page shows; ``--votes FILE`` reads a file written by
``export votes`` (JSON Lines, CSV or a JSON array) or FastChat's battles (its ``clean_battle_*.json`` array,
or JSON Lines), e.g. to rate votes gathered elsewhere; FastChat battles name no track or kind, so ``--track`` and
``--kind`` say which board they rate. A JSON array is streamed (``vote_files``, ``json_stream``): the data-file
size limit holds for each battle of it, not for the file.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

from realunify_arena import durable
from realunify_arena.arena import KINDS
from realunify_arena.benchmark.schema import TRACKS
from realunify_arena.commands._options import (USAGE, CommandError, add_db, existing_file, no_database, out_file,
                                               store_at)
from realunify_arena.text_files import MAX_DATA_FILE_ENV
from realunify_arena.shown import mixed_script
from realunify_arena.vote_files import VotesFileError, look_alikes, read_votes

FORMATS = ("markdown", "csv", "json")
MIN_VOTES_ENV = "REALUNIFY_MIN_VOTES"  # Settings' variable for min_votes, as app.py reads it
# bootstrap rounds --rounds may ask for: FastChat's elo_analysis.py uses 100 (--num-bootstrap); each round holds a
# weight per (system pair, result) and a systems-by-systems Hessian, so memory grows with the rounds
MAX_ROUNDS = 10_000


EXAMPLE = "python -m realunify_arena leaderboard --track UEG --kind model_vs_model"


def register(sub) -> None:
    p = sub.add_parser("leaderboard", help="print the Leaderboard tab's boards (Markdown, CSV or JSON) from the "
                                           "store or from a file written by `export votes`")
    add_db(p, help="the store whose votes are rated (unless --votes)")
    p.add_argument("--votes", type=Path, metavar="FILE",
                   help="rate the votes in FILE (written by `export votes`, JSON Lines, CSV or a JSON array; "
                        "or FastChat battles, a clean_battle JSON array or JSON Lines, rated on the board --track and "
                        "--kind name) "
                        "instead of the store; a JSON array is read one battle at a time, so the data-file size "
                        f"limit (${MAX_DATA_FILE_ENV}, default 256 MiB) holds per battle, not for the file")
    p.add_argument("--track", choices=TRACKS, help="only this track (default: both)")
    p.add_argument("--kind", choices=KINDS, help="only this kind of battle (default: both)")
    p.add_argument("--format", choices=FORMATS, default="markdown", help="output format (default: markdown)")
    p.add_argument("--min-votes", default=None, metavar="N",
                   help=f"votes below which a system is preliminary (default: ${MIN_VOTES_ENV} or 20, as the app)")
    p.add_argument("--rounds", type=int, default=200, help="bootstrap rounds for the 95%% intervals (default 200, "
                                                           f"at most {MAX_ROUNDS}; 0: no intervals)")
    p.add_argument("--decisive-only", action="store_true", help="fit on A/B votes only (ties and both-bad out)")
    p.add_argument("--out", type=Path, help="write to FILE (default: standard output)")
    p.set_defaults(func=run)


def run(args) -> int:
    from realunify_arena import ratings

    try:
        min_votes = _min_votes(args.min_votes)
    except ValueError as e:
        raise CommandError(str(e), USAGE) from None
    if not 0 <= args.rounds <= MAX_ROUNDS:  # a billion rounds was a numpy MemoryError traceback
        raise CommandError(f"--rounds {args.rounds}: expected 0 to {MAX_ROUNDS} (FastChat rates with 100)",
                           USAGE)
    if args.out:
        out_file(args.out)
    try:
        board = (args.track, args.kind) if args.track and args.kind else None  # where FastChat battles go
        tables, empty = _tables_from_file(args.votes, board) if args.votes else (_tables_from_store(args.db), None)
        flagged = {} if args.votes else _flagged_in_store(args.db)  # a file's left-out battles: said as read
    except (OSError, VotesFileError) as e:
        raise CommandError(str(e), USAGE) from None
    boards = [ratings.board_from_counts(tables(track, kind), track, kind, min_votes, rounds=args.rounds,
                                        decisive_only=args.decisive_only)
              for track in ([args.track] if args.track else TRACKS)
              for kind in ([args.kind] if args.kind else KINDS)]

    def elsewhere(b) -> dict[str, int] | None:  # a store's empty board names the boards holding its votes
        return None if args.votes else ratings.elsewhere_votes(lambda t, k: tables(t, k).total, b.track, b.kind)

    if args.format == "markdown":
        text = "\n\n".join(ratings.board_markdown(b, empty(b.track, b.kind) if empty else None, elsewhere(b),
                                                    flagged.get((b.track, b.kind), 0),
                                                    "rate them with --track and --kind")
                             for b in boards) + "\n"
    elif args.format == "csv":
        text = ratings.boards_csv(boards)
    else:
        text = ratings.boards_json(boards) + "\n"
    if args.format != "markdown":  # as the tab says it beside the board
        for b in boards:
            if flagged.get((b.track, b.kind)):
                print(f"note: {b.title}:{ratings.left_out_text(flagged[b.track, b.kind])}", file=sys.stderr)
    if empty and args.format != "markdown":  # a CSV header or empty rows alone would say nothing of why
        for b in boards:
            if b.votes == 0:
                print(f"note: {b.title}: {empty(b.track, b.kind)}", file=sys.stderr)
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


def _flagged_in_store(db: Path) -> dict[tuple[str, str], int]:
    """Votes on flagged battles per (track, kind) board (``Store.flagged_votes``): stored, left out of the
    ratings."""
    with store_at(db, for_reading=True) as store:
        return {(t, k): n for t in TRACKS for k in KINDS if (n := store.flagged_votes(track=t, kind=k))}


def _tables_from_file(path: Path, board: tuple[str, str] | None):
    """The votes of ``path`` as ``(track, kind) -> CountTable``, and ``(track, kind) -> str``: what an empty board
    says of the file: that it holds no battles, or none of that board's (how many it holds on the others), never
    the Arena tab's advice to play one (the file, not the store, is rated). Battles left out by FastChat's rules
    are counted in that text, each board counting those left out of it (and those naming no board, where no
    ``--track`` and ``--kind`` gave one), and, where some were rated, the file's in a note on stderr; so are
    names that differ only in white space, Unicode normalization or zero-width joiners (``vote_files.look_alikes``),
    each written as Python's ``ascii`` shows it."""
    from realunify_arena.ratings import CountTable

    left_out: Counter = Counter()  # (board, why) -> records
    votes = read_votes(existing_file(path, "--votes"), board, left_out)

    def said(on) -> str:  # "3 left out: 2 not anonymous (anony false), 1 ...", of the boards ``on`` accepts
        whys = Counter()
        for (where, why), n in left_out.items():
            if on(where):
                whys[why] += n
        return f"{sum(whys.values())} left out: {', '.join(f'{n} {why}' for why, n in whys.most_common())}"

    if left_out and votes:  # FastChat's rules leave these out: said, not silently missing; rated boards show no
        print(f"note: {path}: {said(lambda b: True)}", file=sys.stderr)  # empty text: a note, whatever the format

    def empty(track: str, kind: str) -> str:  # what an empty board says: what was left out of it, not the file's
        text = (f"{path} holds no battles to rate" if not votes else
                f"{path} holds none of this board's battles ({len(votes)} on other boards)")
        if any(b == (track, kind) for b, _ in left_out):
            text += f" ({said(lambda b: b == (track, kind))})"
        if any(b is None for b, _ in left_out):  # left out before their board was read: of no board
            text += f" ({said(lambda b: b is None)}, naming no track and kind)"
        return text
    for group in look_alikes({v[side] for v in votes for side in ("system_a", "system_b")}):
        print(f"note: {path}: {' and '.join(map(ascii, group))} differ only in white space or Unicode "
              "normalization, or in zero-width joiners: rated as different models, as FastChat rates names as "
              "written; make them one name in the file to rate them as one", file=sys.stderr)
    mixed = sorted(name for name in {v[side] for v in votes for side in ("system_a", "system_b")} if mixed_script(name))
    if mixed:  # "gpt-4" with a Cyrillic "р" is drawn as "gpt-4"
        print(f"note: {path}: {', '.join(map(ascii, mixed))} {'mixes' if len(mixed) == 1 else 'mix'} a Cyrillic or "
              "Greek letter with Latin ones (or scripts no language writes together: UTS #39), as a name passing "
              "for another does: rated as written, and shown in the Markdown table as Python writes it",
              file=sys.stderr)
    return (lambda track, kind: CountTable.from_votes(v for v in votes if v["track"] == track and v["kind"] == kind),
            empty)
