"""What every command shares: one ``--db`` and one ``--models-dir`` option, their openers, errors, exit codes.

A command adds a shared option with ``add_db(parser)`` / ``add_models_dir(parser)`` and opens what it
names with ``store_at(args.db)`` / ``model_cards(args.models_dir)``. It reports a failure by raising
``CommandError(message, code)``: ``cli.main`` prints ``"<command>: error: <message>"`` on standard error
and exits with ``code``. Exit codes (the same for every command):

- ``0`` (``OK``): done.
- ``1`` (``PROBLEMS``): the command ran and found problems, or refused (bad data, a broken card, a
  conflict in the store, a model that cannot run here).
- ``2`` (``USAGE``): the command line is wrong (an unknown option, a bad value, an option that names
  nothing: no such card, no database at ``--db``). argparse's own errors use it too.
- ``130`` (``INTERRUPTED``): stopped by Ctrl-C; what was finished is kept.

This module is not a command (its name starts with ``_``, so ``cli`` does not register it).
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from realunify_arena.cards import CardError, ModelCard
    from realunify_arena.store import Store

OK, PROBLEMS, USAGE, INTERRUPTED = 0, 1, 2, 130
DB_ENV = "REALUNIFY_DB"


class CommandError(Exception):
    """A command cannot go on; ``cli.main`` prints ``"<command>: error: <message>"`` and exits with ``code``."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


def problems_written(problems) -> str:
    """A refusal that wrote nothing, one problem (``benchmark.validation.Problem``: file, entry, field,
    message) a line, as ``import-results`` and ``eval`` print it."""
    shown = "".join(f"\n  {p}" for p in problems)
    return f"{len(problems)} problem(s); nothing was written:{shown}"


def default_db() -> Path:
    """``$REALUNIFY_DB``, else the app's default store (``Settings.db``, ``data/arena.db``)."""
    from realunify_arena.settings import Settings

    return Path(os.environ.get(DB_ENV) or Settings.db).expanduser()


def db_source(path: Path | str) -> str | None:
    """Where a command's ``--db`` value came from: ``REALUNIFY_DB`` when that variable is set and ``path`` is
    its value (``add_db``'s default), None when ``path`` is the app's default store and the variable is unset,
    else ``--db``. (A ``--db`` that repeats the variable's value is named as the variable: the same file.)"""
    from realunify_arena.settings import Settings

    path = Path(path).expanduser()
    if os.environ.get(DB_ENV):
        return DB_ENV if path == Path(os.environ[DB_ENV]).expanduser() else "--db"
    return None if path == Path(Settings.db) else "--db"


def no_database(path: Path | str, alternative: str = "") -> str:
    """The message for a store file that is not there, naming where ``path`` came from (``db_source``);
    ``alternative`` (e.g. ``", or rate a file with --votes"``) ends it."""
    source = db_source(path)
    if source is None:
        return f"no database at {path}; pass --db or set {DB_ENV}{alternative}"
    return f"no database at {path} (from {source}); point {source} at the store{alternative}"


def add_db(parser: argparse.ArgumentParser, help: str = "the store") -> None:
    """Add ``--db PATH`` (a ``Path``; default ``default_db()``, read when the parser is built)."""
    parser.add_argument("--db", type=Path, default=default_db(), metavar="PATH",
                        help=f"{help} (default ${DB_ENV} or data/arena.db)")


@contextmanager
def store_at(path: Path | str, *, create: bool = False, for_reading: bool = False,
             named_by: str | None = None) -> Iterator[Store]:
    """The store at ``path``, closed when the block ends.

    Args:
        path: the SQLite file (``args.db``).
        create: make a new, empty store when there is none (``eval``, ``merge``); otherwise a missing
            file is an error, never a silently created empty database.
        for_reading: the command only reads (``Store.open``'s ``for_reading``): opening writes nothing when
            the schema is current, and the checkpoint at close, where the disk refuses it, only warns; so it
            works on a full disk or after a failed sync.
        named_by: the argument that names another store only read from (``merge``'s ``"SOURCE"``): the
            refusals then tell the user to point it at the right file, not ``--db``; None: ``path`` is the
            command's store, named by ``--db`` or ``REALUNIFY_DB`` (``db_source``).

    Raises:
        CommandError: no file at ``path`` (exit 2), or it is not a store this version can open (exit 1), or
            a write in the block was refused (a full disk) or could not be confirmed on disk (``StoreError``,
            exit 1: running the command again is safe, a write found already stored is made durable and kept
            once).
    """
    from realunify_arena.store import Store, StoreError

    path = Path(path)
    if not create and not path.is_file():
        raise CommandError(no_database(path), USAGE)
    try:
        store = Store.open(path, for_reading=for_reading, named_by=named_by or db_source(path) or "--db",
                           source=named_by is not None)
    except (sqlite3.DatabaseError, OSError, ValueError) as exc:
        raise CommandError(f"{path}: cannot open the store: {exc}", PROBLEMS) from exc
    try:
        yield store
    except StoreError as exc:  # one line: which file, that nothing was acknowledged, try again
        raise CommandError(str(exc), PROBLEMS) from None
    finally:
        store.close()


def add_allow_large(parser: argparse.ArgumentParser, what: str = "count cards too large for this machine as "
                                                                   "runnable") -> None:
    """``--allow-large-models [yes|no]``, read as ``app.py`` reads it (a bare flag means yes); see
    ``allow_large_of``."""
    parser.add_argument("--allow-large-models", nargs="?", const="yes", default=None, metavar="yes|no",
                        type=_yes_no, help=f"{what}; a bare flag means yes, as in app.py (default: env "
                                           "REALUNIFY_ALLOW_LARGE_MODELS, else no)")


def _yes_no(raw: str) -> bool:
    """An argparse ``type`` reading yes/no the way the app's settings do; a bad value is a usage error."""
    import argparse

    from realunify_arena.settings import SettingsError, parse_bool

    try:
        return parse_bool(raw, "value")
    except SettingsError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def allow_large_of(args: argparse.Namespace) -> dict:
    """``availability``'s keyword arguments from ``--allow-large-models``, else ``$REALUNIFY_ALLOW_LARGE_MODELS``:
    ``{"allow_large": bool, "allowed_by": the flag or variable}``. Raises ``CommandError`` (exit 2) for a
    variable that is not yes/no."""
    from realunify_arena.availability import ALLOW_LARGE_ENV, allow_large_default
    from realunify_arena.settings import SettingsError

    if args.allow_large_models is not None:
        return {"allow_large": args.allow_large_models, "allowed_by": "--allow-large-models"}
    try:
        return {"allow_large": allow_large_default(), "allowed_by": ALLOW_LARGE_ENV}
    except SettingsError as e:
        raise CommandError(str(e)) from None


def add_models_dir(parser: argparse.ArgumentParser) -> None:
    """Add ``--models-dir DIR`` (default: the project's ``models/``)."""
    parser.add_argument("--models-dir", type=Path, default=None, metavar="DIR",
                        help="folder of model cards (default: the project's models/)")


def model_cards(models_dir: Path | str | None, problems: list[CardError] | None = None) -> dict[str, ModelCard]:
    """The cards in ``models_dir`` (None: the project's ``models/``), as ``cards.load_cards`` reads them.

    With ``problems`` given, broken cards are recorded there and left out; without it the first one raises.
    The commands that read cards may reach a card's HTTPS endpoint or the hub, so a CA variable naming no CA
    file (``tls.tls_context``) and a base URL variable with a password (``url_credentials.check_url_variables``)
    are refused here, once, as ``app.py`` refuses them at start-up.

    Raises:
        CommandError: a broken card (exit 1) when ``problems`` is None, no such folder, a bad CA variable
            or a base URL variable with user information (exit 2).
    """
    from realunify_arena.cards import MODELS_DIR, CardError, load_cards
    from realunify_arena.settings import SettingsError
    from realunify_arena.tls import tls_context
    from realunify_arena.url_credentials import check_url_variables

    folder = Path(models_dir) if models_dir is not None else MODELS_DIR
    if not folder.is_dir():
        raise CommandError(f"--models-dir {folder}: no such folder", USAGE)
    try:
        tls_context()
        check_url_variables()  # $HF_ENDPOINT or $GOOGLE_GEMINI_BASE_URL with a password (the hub, Gemini)
    except SettingsError as exc:
        raise CommandError(str(exc), USAGE) from None
    try:
        return load_cards(folder, problems=problems)
    except CardError as exc:
        raise CommandError(str(exc), PROBLEMS) from exc


def existing_file(path: Path, flag: str) -> Path:
    """``path``, or a ``CommandError`` (exit 2) naming ``flag`` when it names no regular file this user can read,
    saying what it names instead (``text_files.path_fault``): nothing, a folder, a device or a named pipe
    (``/dev/null``: there, but never a data file; a pipe is never opened, so nothing blocks), a loop of symbolic
    links, a link to nothing, a file without read permission."""
    from realunify_arena.text_files import path_fault

    fault = path_fault(path)
    if fault is not None:
        raise CommandError(f"{flag} {path}: {fault}", USAGE)
    return path


def existing_path(path: str | Path, flag: str, *, keyword: str | None = None) -> str | Path:
    """``path`` as given, or a ``CommandError`` (exit 2) naming ``flag`` (an option, or a positional's name such
    as ``PATH``) when nothing is there (a file or a folder will do; ``~`` is expanded), saying what is there
    instead where something is (``text_files.path_fault``: a loop of symbolic links, a link to nothing).
    ``keyword``: a value that names no path and passes as it is (``"bundled"``)."""
    if keyword is not None and str(path) == keyword:
        return path
    if not Path(path).expanduser().exists():  # or a loop of links, a link to nothing, a name too long
        from realunify_arena.text_files import NO_SUCH_FILE, path_fault

        fault = path_fault(Path(path).expanduser())
        raise CommandError(f"{flag} {path}: {'no such file or folder' if fault in (None, NO_SUCH_FILE) else fault}",
                           USAGE)
    return path


def _nearest_existing(path: Path) -> Path | None:
    """``path`` or the nearest path above it that exists (a dangling link counts), or None."""
    return next((place for place in (path, *path.parents) if place.exists() or place.is_symlink()), None)


def out_folder(path: Path, flag: str = "--out") -> Path:
    """``path``, to be a folder the command writes into (made if missing), or a ``CommandError`` (exit 2),
    before any work, when it or the nearest existing folder above it is a file."""
    place = _nearest_existing(path)
    if place is not None and not place.is_dir():
        what = "names a file" if place == path else f"lies under {place}, a file"
        raise CommandError(f"{flag} {path}: {what}, not a folder", USAGE)
    return path


def out_file(path: Path | str, flag: str = "--out", replaces_databases: bool = False) -> Path:
    """``path``, to be a file the command writes (its missing folders made), or a ``CommandError`` (exit 2),
    before any work, when it names a folder or the nearest existing path above it is a file (before: the
    write's bare OS words after the work, "afile: File exists" or "out: Is a directory", naming no option), or
    when it is an SQLite database (a store: ``export --out data/arena.db`` replaced every run and battle with the
    export) or one of a database's side files (``store.store_file_of``: its write-ahead log, ``.lock``, ...), or an
    SQLite write-ahead log or rollback journal whose database is not beside it (``store.sqlite_log``).
    ``replaces_databases``: the output is itself a database that may replace an earlier one (``backup``); side
    files are refused all the same."""
    from realunify_arena.store import sqlite_log, store_file_of

    path = Path(path)
    if path.is_dir():
        raise CommandError(f"{flag} {path}: names a folder, not a file", USAGE)
    owner = store_file_of(path)
    log = sqlite_log(path) if owner is None else None
    if log is not None:
        owner, what = path, (f"is an SQLite {log} with no database beside it to own it (it may hold a moved "
                             "database's last commits)")
    elif owner is not None:
        what = "is an SQLite database" if owner == path else f"is a file SQLite or this app keeps beside {owner}"
    if owner is not None and not (owner == path and replaces_databases and log is None):
        raise CommandError(f"{flag} {path}: {what}; writing the output there would replace it; nothing was"
                           " written (choose another path)", USAGE)
    place = _nearest_existing(path.parent)
    if place is not None and not place.is_dir():
        raise CommandError(f"{flag} {path}: lies under {place}, a file, not a folder", USAGE)
    return path


def check_seed(seed: int | None, flag: str = "--seed") -> int | None:
    """``seed`` (None: not given), or a ``CommandError`` (exit 2) when it is outside ``limits.SEED_MAX``'s range,
    the one seed range of every command and of a card's settings."""
    from realunify_arena.limits import SEED_MAX

    if seed is not None and not 0 <= seed <= SEED_MAX:
        raise CommandError(f"{flag} {seed}: outside the allowed range 0 to {SEED_MAX}", USAGE)
    return seed


def card_named(cards: dict[str, ModelCard], name: str, flag: str = "--model") -> ModelCard:
    """``cards[name]``, or a ``CommandError`` (exit 2) naming the flag and the known cards."""
    if name not in cards:
        raise CommandError(f"{flag} {name!r}: no such model card; known: {', '.join(sorted(cards))}", USAGE)
    return cards[name]


def check_model_name(name: str, flag: str = "--model") -> str:
    """``name``, or a ``CommandError`` (exit 2) when it cannot be a model name (``systems.MODEL_NAME_RULE``):
    the flag, the name given (shortened) and the rule."""
    from realunify_arena.systems import model_name_problem

    problem = model_name_problem(name)
    if problem:
        raise CommandError(f"{flag} {problem}", USAGE)
    return check_not_secret(name, flag)


def check_not_secret(name: str, flag: str) -> str:
    """``name``, or a ``CommandError`` (exit 2) when it holds the value of a secret in the environment
    in any form ``redaction.redact`` masks (``redaction.holds_secret``: another case, percent-encoded, ...): a name
    is stored and shown (the store, exports, the Leaderboard), so a key pasted as one would be published; the value
    is masked in the message."""
    from realunify_arena.redaction import holds_secret
    from realunify_arena.shown import brief

    if isinstance(name, str) and holds_secret(name):
        raise CommandError(f"{flag} {brief(name)}: holds the value of a secret (a key or token set in the "
                           "environment); expected a name, which is stored and shown", USAGE)
    return name


def warn(command: str, message: str) -> None:
    """``"<command>: warning: <message>"`` on standard error; the command goes on."""
    print(f"{command}: warning: {message}", file=sys.stderr)


def stored_dataset(store: Store, dataset: str | None) -> str | None:
    """The stored dataset ``--dataset`` names (None for None): the same text, else the one stored in another
    Unicode normalization form (``shown.as_stored``: a store written before names were put in NFC holds a folder's
    name as macOS wrote it, "Cafe" + U+0301), else ``dataset`` as given."""
    if dataset is None:
        return None
    from realunify_arena.shown import as_stored

    return as_stored(dataset, [row["dataset"] for row in store.query("select distinct dataset from runs")])


def check_judge_judged(store: Store, judge: str | None, dataset: str | None, db: Path) -> str | None:
    """The stored judge ``--judge`` names (None for None): the same text, else the one stored in another Unicode
    normalization form (``shown.as_stored``: a store written before names were put in NFC holds a name as it was
    typed, "Ge" + U+0301 + "mini"). Refuses a judge that judged no UEG run (of ``dataset``) in the store: a typo,
    which would otherwise give a table of blanks or result files with no ``judge_answer``. Raises
    ``CommandError`` (``USAGE``) listing the stored judges."""
    if judge is None:
        return None
    from realunify_arena.agreement import polling_judges
    from realunify_arena.shown import as_stored

    known = polling_judges(store, dataset)
    judge = as_stored(judge, known)
    if judge not in known:
        raise CommandError(f"--judge {judge}: judged no UEG runs{f' of dataset {dataset!r}' if dataset else ''} in"
                           f" {db}; stored judges: {', '.join(known) or 'none'}", USAGE)
    return judge
