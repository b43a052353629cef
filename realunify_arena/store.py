"""Everything the project produces, in one SQLite file plus a folder of content-addressed images.

Runs (traces), judgments, battles and votes share one database so a vote can point at the runs it
compared. The schema is built by sqlite-utils migrations, so an old database is upgraded in place; a
database written by a newer version (a migration this code does not know) is refused.

Writes (``Store.apply``) are group-committed: each operation is queued; one thread at a time, the
committer, drains the queue into one transaction, runs each operation in a savepoint of its own, released
once it has run (so one refused operation does not undo the others), commits once and only then
acknowledges every operation in it. With ``synchronous="full"`` (the default) that COMMIT is synced to
disk before anyone is told, so whatever a caller acknowledges survives a crash or power cut; in WAL mode
the sync happens after the write lock is let go and one sync serves every commit written before it, of
any thread or process (``walsync``). ``Store.write`` is the exclusive form for code that needs a block of
its own. Several processes on one database take turns through an OS lock file beside it (``<db>.lock``,
which also holds the commit counters; ``<db>.sync`` makes syncs take turns) and retry a busy SQLite with a
short backoff, never through SQLite's sleeping busy handler. Reads use a second connection and do not
wait for a commit in WAL mode. Checkpoints of the WAL are the store's own (SQLite's automatic one would sync
the WAL behind ``walsync`` and ignore a failure): after an acknowledged write once the WAL holds
``CHECKPOINT_BYTES``, after a failed sync, and at ``close``; each one's failure is handled as a failed sync.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import logging
import os
import random
import re
import sqlite3
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, TypeVar

from PIL import Image
from sqlite_utils import Database, Migrations

from realunify_arena import durable
from realunify_arena.benchmark.images import png_bytes
from realunify_arena.benchmark.schema import TRACKS
from realunify_arena.redaction import redact, secret_values
from realunify_arena.scoring import instance_score
from realunify_arena.shown import brief
from realunify_arena.systems import MODES
from realunify_arena.trace import Status, Trace
from realunify_arena.walsync import WalSync

try:  # POSIX only; elsewhere processes fall back to the busy retry alone
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

T = TypeVar("T")
log = logging.getLogger(__name__)

migrations = Migrations("realunify_arena")

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
JOURNAL_MODES = ("wal", "delete")
SYNCHRONOUS = ("full", "normal")


BUSY_SECONDS = 30.0  # how long a writer retries a database another process holds before giving up
# WAL sizes (bytes) for the checkpoints an acknowledged write runs (``Store._tidy_wal``; SQLite's automatic one,
# at 1000 pages, ~4 MB, is off): from the first it tries once, readers permitting, a RESTART (the next writer
# reuses the file from its start: overwriting is cheaper than growing a file); a file twice that size is
# TRUNCATEd; from the second size it waits for readers, up to BUSY_SECONDS, so the WAL stops growing there
CHECKPOINT_BYTES = 4 * 2**20
CHECKPOINT_WAIT_BYTES = 64 * 2**20
_BACKOFF = (0.0002, 0.005)  # first and longest pause between retries, seconds (jittered)
# The database files (device, inode) an open store of this process holds, with how many stores hold each. Such
# a file is never opened by path here to read its header (``_check_file``, ``_is_sqlite``): POSIX drops every lock
# a process holds on a file when it closes any descriptor of it, SQLite's shared lock included, and another
# process's last connection, closing, would then delete the WAL under this one (https://www.sqlite.org/
# howtocorrupt.html, 2.2). SQLite's own connections share their descriptors and never do that.
_OPEN_HERE: Counter = Counter()
_OPEN_HERE_LOCK = threading.Lock()


class NotFound(LookupError):
    """A run, image or battle that the store does not hold."""


class StoreError(ValueError):
    """A database file the store cannot use, or a write it could not complete or confirm on disk (a refused
    COMMIT, a failed sync); the message is one line: what, which file, what to do."""


class RateLimited(ValueError):
    """A write refused because its author reached a rate limit; nothing was written."""


def rate_limit_message(limit: int, what: str, window_seconds: float) -> str:
    """Every rate limit's refusal, e.g. ``"rate limit: at most 30 votes per 60 s; please wait a little"``
    (``what``: the rows counted, plural; ``window_seconds`` in %g)."""
    return f"rate limit: at most {limit} {what} per {window_seconds:g} s; please wait a little"


def window_start(window_seconds: float) -> str:
    """The start of a rate limit's window ending now: ``now()`` less ``window_seconds``, an ISO timestamp."""
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=window_seconds)).isoformat(
        timespec="microseconds")


@migrations()
def m001_initial(db: Database) -> None:
    db.table("runs").create(
        {
            "id": int, "dataset": str, "instance_uid": str, "track": str, "task_type": str,
            "model": str, "mode": str, "seed": int, "settings_key": str, "status": str,
            "seconds": float, "created_at": str, "trace": str,
        },
        pk="id",
        not_null={"dataset", "instance_uid", "track", "task_type", "model", "mode", "settings_key",
                  "status", "created_at", "trace"},
    )
    db.table("runs").create_index(["dataset", "instance_uid", "model", "mode", "settings_key"],
                                  unique=True)
    db.table("runs").create_index(["model", "mode"])

    db.table("judgments").create(
        {"id": int, "run_id": int, "judge": str, "kind": str, "score": int, "details": str,
         "errors": int, "created_at": str},
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
        not_null={"run_id", "judge", "kind", "details", "errors", "created_at"},
    )
    db.table("judgments").create_index(["run_id", "judge"], unique=True)

    db.table("battles").create(
        {
            "id": str, "session_key": str, "voter": str, "dataset": str, "instance_uid": str,
            "track": str, "kind": str, "system_a": str, "system_b": str, "run_a": int, "run_b": int,
            "delivered_a_at": str, "delivered_b_at": str, "created_at": str,
        },
        pk="id",
        foreign_keys=[("run_a", "runs", "id"), ("run_b", "runs", "id")],
        not_null={"session_key", "voter", "dataset", "instance_uid", "track", "kind", "system_a",
                  "system_b", "created_at"},
    )
    db.table("votes").create(
        {"id": int, "battle_id": str, "voter": str, "choice": str, "created_at": str},
        pk="id",
        foreign_keys=[("battle_id", "battles", "id")],
        not_null={"battle_id", "voter", "choice", "created_at"},
    )
    db.table("votes").create_index(["battle_id"], unique=True)  # one vote per battle, enforced by SQLite
    db.table("votes").create_index(["voter", "created_at"])  # the rate limit's look-up

    db.table("meta").create({"key": str, "value": str}, pk="key", not_null={"value"})


HUMAN_JUDGE = "human"  # judge.HUMAN: the judge name single human judgments were stored under before m002
# How several people's judgments of one run make its one human verdict (``Store.human_verdicts``).
HUMAN_RULE = ("per polling question the voters' majority (a tie leaves the question undecided), then the paper's "
              "all-or-nothing rule: any wrong question scores 0, else any undecided one leaves the run undecided")
# ... where some voter's judgment has no per-question answers (an old store's ``legacy`` voter)
SCORES_RULE = "majority of the voters' scores (not every voter answered per question); a tie is undecided"


@migrations()
def m002_arena_pins_and_human_judgments(db: Database) -> None:
    """Runs the arena may show are pinned (``pinned_at``); human judgments are kept per voter.

    Existing runs stay unpinned (re-running ``eval`` pins its stored runs without running them again);
    existing single human judgments are kept as the judgment of voter ``legacy``."""
    db.execute("alter table runs add column pinned_at text")  # null: not offered to arena battles
    db.execute("create index runs_pinned on runs (dataset, instance_uid) where pinned_at is not null")
    db.table("human_judgments").create(
        {"id": int, "run_id": int, "voter": str, "kind": str, "score": int, "details": str,
         "created_at": str},
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
        not_null={"run_id", "voter", "kind", "details", "created_at"},
    )
    db.table("human_judgments").create_index(["run_id", "voter"], unique=True)  # one per voter and run
    db.table("human_judgments").create_index(["voter", "created_at"])  # the rate limit's look-up
    db.execute("insert into human_judgments (run_id, voter, kind, score, details, created_at)"
               " select run_id, 'legacy', kind, score, details, created_at from judgments where judge = ?",
               (HUMAN_JUDGE,))


@migrations()
def m003_run_origins(db: Database) -> None:
    """Where an imported run came from (``run_origins``, one row per imported run), and the runs an
    import replaced (``replaced_runs``: the old trace and judgments, kept because votes may name the run)."""
    db.table("run_origins").create(
        {"run_id": int, "folder": str, "file": str, "entry": str, "model": str, "imported_at": str,
         "digest": str},
        pk="run_id",
        foreign_keys=[("run_id", "runs", "id")],
        not_null={"folder", "file", "entry", "model", "imported_at", "digest"},
    )
    db.table("replaced_runs").create(
        {"id": int, "run_id": int, "replaced_at": str, "status": str, "trace": str, "origin": str,
         "judgments": str, "human_judgments": str},
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
        not_null={"run_id", "replaced_at", "status", "trace", "judgments", "human_judgments"},
    )


@migrations()
def m004_flagged_battles(db: Database) -> None:
    """A battle whose shown output named its system (``flagged``: why, e.g. the names found; null when
    not flagged). Its vote is kept but left out of the ratings."""
    db.execute("alter table battles add column flagged text")


# The rated votes counted per (track, kind, system_a, system_b, choice), kept by triggers in the transaction
# that changes a vote or its battle, whichever connection writes it: the cold leaderboard reads this small
# table instead of joining every vote to its battle (2+ s at 1M votes). Flagged battles' votes are left out.
_TALLY_ADD = ("insert into vote_tally (track, kind, system_a, system_b, choice, n)"
              " select {b}.track, {b}.kind, {b}.system_a, {b}.system_b, {v}.choice, 1 from {source}"
              " where {where} on conflict do update set n = n + 1")
_TALLY_REMOVE = ("update vote_tally set n = n - 1 where (track, kind, system_a, system_b, choice) in"
                 " (select {b}.track, {b}.kind, {b}.system_a, {b}.system_b, {v}.choice from {source}"
                 " where {where})")
_TALLY_TRIGGERS = {
    "vote_tally_insert": ("after insert on votes", [
        _TALLY_ADD.format(b="b", v="new", source="battles b", where="b.id = new.battle_id and b.flagged is null")]),
    "vote_tally_delete": ("after delete on votes", [
        _TALLY_REMOVE.format(b="b", v="old", source="battles b", where="b.id = old.battle_id and b.flagged is null")]),
    "vote_tally_update": ("after update of battle_id, choice on votes", [
        _TALLY_REMOVE.format(b="b", v="old", source="battles b", where="b.id = old.battle_id and b.flagged is null"),
        _TALLY_ADD.format(b="b", v="new", source="battles b", where="b.id = new.battle_id and b.flagged is null")]),
    "vote_tally_battle": ("after update of id, track, kind, system_a, system_b, flagged on battles", [
        _TALLY_REMOVE.format(b="old", v="v", source="votes v", where="v.battle_id = old.id and old.flagged is null"),
        _TALLY_ADD.format(b="new", v="v", source="votes v", where="v.battle_id = new.id and new.flagged is null")]),
}


@migrations()
def m005_vote_tally(db: Database) -> None:
    """``vote_tally``: rated votes counted per board, system pair and choice, kept by triggers (filled here
    from the votes already stored)."""
    db.execute("create table vote_tally (track text not null, kind text not null, system_a text not null,"
               " system_b text not null, choice text not null, n integer not null,"
               " primary key (track, kind, system_a, system_b, choice)) without rowid")
    db.execute("insert into vote_tally (track, kind, system_a, system_b, choice, n)"
               " select b.track, b.kind, b.system_a, b.system_b, v.choice, count(*)"
               " from votes v join battles b on b.id = v.battle_id where b.flagged is null"
               " group by b.track, b.kind, b.system_a, b.system_b, v.choice")
    for name, (event, statements) in _TALLY_TRIGGERS.items():
        db.execute(f"create trigger {name} {event} begin {'; '.join(statements)}; end")


class ImportConflict(ValueError):
    """An imported run that differs from the one stored under the same key, with no leave to replace it."""


@migrations()
def m006_battle_run_indexes(db: Database) -> None:
    """Look-ups of the battles that showed a run (``Store.awaits_vote``, asked whenever Explore would reuse
    a stored run) by index instead of a scan of every battle."""
    db.execute("create index if not exists battles_run_a on battles (run_a) where run_a is not null")
    db.execute("create index if not exists battles_run_b on battles (run_b) where run_b is not null")


@migrations()
def m007_battle_rate_index(db: Database) -> None:
    """The battle-start rate limit's look-up (``Store.count_battles_since``: a voter's battles since a time)
    by index instead of a scan of every battle."""
    db.execute("create index if not exists battles_voter_created on battles (voter, created_at)")


@migrations()
def m008_run_starts(db: Database) -> None:
    """``run_starts``: who started a new model run from the app (Explore's Run or ``/run_instance``) and when,
    one row per run started (a stored run served again is not one): the per-visitor run limit's count
    (``Store.count_run_starts_since``), kept in the store so every app process counts the same starts."""
    db.execute("create table run_starts (id integer primary key, voter text not null, created_at text not null)")
    db.execute("create index run_starts_voter_created on run_starts (voter, created_at)")


@migrations()
def m009_run_starts_created_index(db: Database) -> None:
    """``run_starts`` by time alone, so a start's deletion of every expired row, whoever wrote it
    (``Store.insert_run_starts``), reads only those rows instead of scanning the table."""
    db.execute("create index if not exists run_starts_created on run_starts (created_at)")


@migrations()
def m010_run_starts_ids_never_reused(db: Database) -> None:
    """``run_starts`` ids are never reused (AUTOINCREMENT). A count is given back by its id
    (``delete_run_starts``) when its run never started, possibly after waiting longer than the run window;
    meanwhile any start deletes expired rows, and SQLite gave a plain ``integer primary key``'s freed largest
    ids to the next inserts, so giving back one visitor's old count deleted another visitor's new one
    (https://www.sqlite.org/autoinc.html). The table holds one window's rows at most: copied as it is."""
    db.execute("create table run_starts_new (id integer primary key autoincrement, voter text not null,"
               " created_at text not null)")
    db.execute("insert into run_starts_new (id, voter, created_at) select id, voter, created_at from run_starts")
    db.execute("drop table run_starts")  # its indexes go with it
    db.execute("alter table run_starts_new rename to run_starts")
    db.execute("create index run_starts_voter_created on run_starts (voter, created_at)")
    db.execute("create index run_starts_created on run_starts (created_at)")


@migrations()
def m011_run_origins_outputs_digest(db: Database) -> None:
    """``run_origins.outputs_digest``: the digest of an imported entry without its judges' replies and the judge
    name (``importing._digest`` without a judge name), so a second judge's replies on the same published runs
    are added to them rather than taken for changed runs. Null for runs imported before it (they keep the rule
    of their full digest)."""
    db.execute("alter table run_origins add column outputs_digest text")


def judged_otherwise_message(judge: str) -> str:
    """Why an import's judgment of a stored run by ``judge`` is refused: that judge already judged the run
    otherwise (``Store.judged_otherwise``), and what to do in each of the two cases that cause it."""
    return (f"judge {judge!r} already judged this run otherwise; if these are another judge's replies, import them "
            "under a --judge-name of their own; if this judge's replies changed, pass --replace to re-import them")


def _same_judgment(row: tuple, judgment: dict) -> bool:
    """Whether a stored judgments row (kind, score, details as stored JSON, errors) is ``judgment``
    (``Judgment.to_dict``)."""
    kind, score, details, errors = row
    return (kind, score, json.loads(details), errors) == (judgment["kind"], judgment["score"], judgment["details"],
                                                          int(judgment["errors"]))


def rate_key(voter: str) -> str:
    """The person behind a voter id (``arena.voter_id``), which the rate limit counts and a human verdict counts
    once: the username (``hf:<name>``), or an anonymous visitor's address hash across sessions
    (``anon:<address>`` of ``anon:<address>:<session>``); another id as it is."""
    return ":".join(voter.split(":")[:2])


# the rows of a rate-limit key (``rate_key``): the voter id itself or any id extending it as "key:..."
# (ids between "key:" and "key;" sort there, so an index on voter serves it); its arguments: _voter_key_args
_OF_VOTER_KEY = "(voter = ? or (voter > ? and voter < ?))"


def _voter_key_args(key: str) -> tuple[str, str, str]:
    return key, key + ":", key + ";"


_CHECKED_DELIVERY = {  # Store.deliver_battle_side_checked's statement per side, built once
    side: f"update battles set run_{c} = ?1, delivered_{c}_at = ?2"
          f" where id = ?3 and session_key = ?4 and (run_{c} is null or run_{c} = ?1)"
          f" and not exists (select 1 from votes where battle_id = ?3)"
          f" and exists (select 1 from runs r where r.id = ?1 and r.instance_uid = battles.instance_uid"
          f" and r.model <> '' and r.mode in ({', '.join(repr(m) for m in MODES)})"
          f" and r.model || ':' || r.mode = battles.system_{c})"
    for side, c in (("A", "a"), ("B", "b"))}


def now() -> str:
    """UTC timestamp with microseconds; sorts as text."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


# How far a time copied from another store (``evaluation.merge``) may be ahead of this machine's clock: two
# replicas' clocks differ by seconds; a time further ahead would stay the latest, or inside every rate-limit
# window, for good (times compare as text).
MAX_CLOCK_AHEAD = dt.timedelta(days=1)


def timestamp_problem(value: object, field: str) -> str | None:
    """Why ``value`` (a stored time, named ``field`` in the message) is no time in ``now()``'s form at most
    ``MAX_CLOCK_AHEAD`` ahead of now, or None. Another form (``Z``, no microseconds, another offset) would sort
    out of place among the stored times, which the rate limits and a person's latest judgment compare as text."""
    try:
        when = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None or when.utcoffset() != dt.timedelta(0) or when.isoformat(timespec="microseconds") != value:
        return f"{field} {brief(value)}: expected a UTC time as the arena writes it, e.g. {now()}"
    if when - dt.datetime.now(dt.timezone.utc) > MAX_CLOCK_AHEAD:
        return f"{field} {value}: more than {MAX_CLOCK_AHEAD.days} day ahead of this machine's clock"
    return None


def settings_key(settings: dict) -> str:
    """The stable text form of a settings dict, so equal settings find the same run."""
    return json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)


def split_uid(instance_uid: str) -> tuple[str, str]:
    """``UEG_12_world_knowledge`` -> ("UEG", "world_knowledge")."""
    parts = instance_uid.split("_", 2)
    if len(parts) != 3 or parts[0] not in TRACKS or not parts[1].lstrip("-").isdigit():
        raise ValueError(f"instance_uid {instance_uid!r}: expected '<UEG|GEU>_<index>_<task_type>'")
    return parts[0], parts[2]


class Store:
    """One database file and the ``images/`` folder beside it. Safe to share between threads."""

    def __init__(self, db: Database, path: Path, reader: sqlite3.Connection | None = None,
                 lock_file: int | None = None):
        self.db = db  # the write connection (tests and migrations); other code goes through the methods
        self.path = path
        self.images_dir = path.parent / "images"
        self._conn = db.conn
        self._reader = reader or db.conn
        self._reader_db = Database(self._reader) if reader is not None else db
        self._read_lock = threading.RLock()
        self._conn_lock = threading.RLock()  # held by the committer of a batch or by a ``write`` block
        self._sources_with_runs: dict[str, str] = {}  # ``note_source_with_runs``: dataset -> place, not yet noted
        self._sources_noted: set[str] = set()  # datasets whose place a run's transaction has noted
        self._owner: int | None = None  # the thread that holds _conn_lock inside a transaction
        self._lock_file = lock_file  # fd of <db>.lock: one writing process at a time
        self._mutex = threading.Lock()  # guards _queue and _leading
        self._queue: list[_Op] = []
        self._leading = False
        self._depth = 0  # savepoint names of nested writes
        self._wal_sync: WalSync | None = None  # set by ``open`` where COMMIT leaves the sync to it; None once closed
        self._wal_synced = False  # whether ``open`` set it: a write after ``close`` is refused, never acknowledged
        self._checkpoint_at = CHECKPOINT_BYTES  # the WAL file size from which ``_tidy_wal`` checkpoints
        self._for_reading = False  # opened for a caller that only reads (``open``): a found row is not waited on
        self._file_id: tuple[int, int] | None = None  # the database file's key in ``_OPEN_HERE`` while open

    @classmethod
    def open(cls, db_path: str | Path, *, journal_mode: str = "wal", synchronous: str = "full",
             for_reading: bool = False, named_by: str = "--db", source: bool = False) -> Store:
        """Create or upgrade the database.

        ``synchronous="full"`` syncs every commit to disk, so an acknowledged vote survives a power cut,
        not only a crash of the app; "normal" is several times faster and may lose the last commits on
        power loss. Use ``journal_mode="delete"`` on network (NFS, SMB) or FUSE mounts, where WAL's shared
        memory does not work; WAL is faster and lets reads run during a commit.

        Args:
            db_path: the SQLite file; it and its folder are created if missing. Images go to ``images/``
                beside it.
            journal_mode: one of ``JOURNAL_MODES``.
            synchronous: one of ``SYNCHRONOUS``.
            for_reading: the caller only reads (``export``, ``report``, ``backup``, ``leaderboard``, a
                ``merge`` source). When the schema is current, the open then writes nothing: no schema
                transaction, and no healing checkpoint after another process's failed sync (``_heal``), so
                such a command still works on a full disk, which is when a backup is wanted most. What it
                reads may include commits whose sync failed (they are in the file, perhaps not on disk).
                A write through the store is still allowed, and heals first as every write does. An old
                schema is upgraded as usual (a write).
            named_by: what named ``db_path``, for the refusals' advice ("point --db at the right file"): a
                flag (``--db``), a variable (``REALUNIFY_DB``) or an argument (``"merge's SOURCE"``).
            source: the file is another store only read from (a ``merge`` source): the refusals then never
                advise moving it away to start an empty database, which would not help.

        Raises:
            ValueError: an unknown ``journal_mode`` or ``synchronous``.
            StoreError: one line (what, which file, what to do) for a file that is not an SQLite database,
                is truncated or fails its integrity check, is another program's database (tables but none of
                this schema), is read-only, has other names (hard links), or was written by a newer version
                of this code.
        """
        if journal_mode not in JOURNAL_MODES or synchronous not in SYNCHRONOUS:
            raise ValueError(f"journal_mode {journal_mode!r} / synchronous {synchronous!r}: expected one"
                             f" of {JOURNAL_MODES} / {SYNCHRONOUS}")
        path = Path(db_path)
        pointer = _Pointer(named_by, source)
        _check_file(path, pointer)
        conn = reader = store = None
        lock_file = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # SQLite follows a symbolic link and keeps its WAL beside the file it names: so do ours, else the
            # WAL synced is missing (no sync at all) and a process naming the file itself has other counters
            beside = Path(os.path.realpath(path))
            lock_file = _open_lock_file(beside, pointer)  # first: it also finds a read-only folder
            conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=0)
            db = Database(conn)
            conn.execute("PRAGMA foreign_keys=ON")
            _refuse_foreign(conn, path, pointer)  # before the journal switch: another program's file is left as it was
            switch_failed = False
            try:
                _retry_busy(lambda: conn.execute(f"PRAGMA journal_mode={journal_mode}"))
            except sqlite3.OperationalError as e:  # another process may hold it: kept as is
                switch_failed = not _is_busy(e)  # leaving WAL checkpoints, and may have hidden a failed sync
            # FULL in WAL mode: COMMIT only writes the WAL (NORMAL) and WalSync syncs it outside the write
            # lock before anything is acknowledged; the same guarantee, one sync shared by many commits.
            wal = _retry_busy(lambda: conn.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
            wal_sync = wal and synchronous == "full"
            conn.execute(f"PRAGMA synchronous={'normal' if wal_sync else synchronous}")
            reader = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                                     timeout=BUSY_SECONDS)
            reader.execute("PRAGMA foreign_keys=ON")
            for c in (conn, reader) if wal_sync else ():  # no checkpoint behind WalSync's back: SQLite's
                c.execute("PRAGMA wal_autocheckpoint=0")  # ignores a failed sync (without WalSync it is the only one)
            store = cls(db, path, reader, lock_file)
            store._held_here()
            if wal_sync:
                store._wal_sync, store._wal_synced = WalSync(beside, lock_file), True
                if switch_failed:  # still WAL: nothing more acknowledged until a checkpoint has worked
                    store._wal_sync.mark_lost()
            store._check_integrity()
            store._check_schema_version(pointer)
            store._for_reading = for_reading
            if not for_reading or migrations.pending(db):
                with store.write():  # also proves the file writable, and heals a failed sync first
                    migrations.apply(db)
        except BaseException as e:  # Ctrl-C too: nothing made here stays open or counted in ``_OPEN_HERE``
            if store is not None and store._wal_sync is not None:
                store._wal_sync.close()
            for c in (conn, reader):
                if c is not None:
                    c.close()
            if lock_file is not None:
                os.close(lock_file)
            if store is not None:
                store._let_go_here()
            if not isinstance(e, (sqlite3.Error, StoreError, OSError)):
                raise
            raise StoreError(_explain(path, e, pointer)) from None
        return store

    def _held_here(self) -> None:
        """Count the database file in ``_OPEN_HERE`` (by its device and inode, whatever path names it)."""
        found = os.stat(self.path)
        self._file_id = (found.st_dev, found.st_ino)
        with _OPEN_HERE_LOCK:
            _OPEN_HERE[self._file_id] += 1

    def _let_go_here(self) -> None:
        """Undo ``_held_here`` (once), after the connections are closed."""
        file_id, self._file_id = self._file_id, None
        if file_id is not None:
            with _OPEN_HERE_LOCK:
                _OPEN_HERE[file_id] -= 1
                if _OPEN_HERE[file_id] <= 0:
                    del _OPEN_HERE[file_id]

    def close(self) -> None:
        """Close both connections and the lock files. In WAL mode the WAL is checkpointed first, through
        ``_checkpoint_wal``: SQLite's own checkpoint when the last connection closes ignores a failed sync, so
        a failure here is recorded in ``<db>.lock`` (the next store on the file heals before acknowledging).
        What was acknowledged was synced before, and stays in the WAL if a checkpoint fails."""
        with self._read_lock, self._conn_lock:  # the order of a write inside a read block (no deadlock)
            if self._wal_sync is not None:
                try:
                    self._checkpoint_wal("TRUNCATE", wait=False)
                except OSError as e:
                    log.warning("%s: %s at close; the next store on it checkpoints first", self.path, e.strerror)
            self.db.close()
            if self._reader is not self._conn:
                self._reader.close()
            if self._wal_sync is not None:
                self._wal_sync.close()
                self._wal_sync = None
            if self._lock_file is not None:
                os.close(self._lock_file)
                self._lock_file = None
            self._let_go_here()

    def _check_integrity(self) -> None:
        problems = [row[0] for row in self._reader.execute("PRAGMA quick_check(3)")]
        if problems != ["ok"]:
            raise sqlite3.DatabaseError("integrity check failed: " + "; ".join(" ".join(p.split()) for p in problems))

    def _check_schema_version(self, pointer: _Pointer) -> None:
        known = {m.name for m in migrations._migrations}
        if not self.db.table(migrations.migrations_table).exists():
            return
        newer = sorted(name for (name,) in self._reader.execute(
            f"select name from {migrations.migrations_table} where migration_set = ?", (migrations.name,))
            if name not in known)
        if newer:
            raise StoreError(f"{self.path}: written by a newer version of realunify-arena (schema migrations"
                             f" {', '.join(newer)} are unknown here); upgrade realunify-arena, or"
                             f" {pointer.point('another file')}")

    # -- transactions -------------------------------------------------------------------------

    def apply(self, operation: Callable[[Database], T]) -> T:
        """Run ``operation(db)`` inside the next group commit; return its result once that commit is durable.

        ``operation`` gets the write connection (``db.execute``) inside a transaction and must only read
        and write through it. It must finish each statement it runs before it returns (fetch a ``RETURNING``
        or query cursor it keeps; a cursor returned unfinished keeps COMMIT from running, so its batch is
        refused, as is every later write while the cursor lives), and must not go on writing after catching
        an ``sqlite3`` error that ended the transaction (a full disk, an I/O error, a trigger's
        ``RAISE(ROLLBACK)``): the operation is then refused, but a statement run after that error commits on
        its own, outside any batch. No operation of this project does either. If it raises, its own statements
        are undone (a savepoint), nothing of it is written and the exception is raised here; the other operations
        of the batch are unaffected.
        Its result is returned only after the COMMIT that contains it returned (synced to disk with
        ``synchronous="full"``); if that COMMIT fails, the error is raised (``StoreError`` for a full disk or an
        I/O error) and nothing was written. In WAL mode a failed sync after the COMMIT raises too
        (``StoreError``): the rows are in the file, but may not be on disk, and are never acknowledged
        (``walsync``).
        Called inside another ``write``/``apply`` of the same thread, it joins that transaction.
        """
        if self._owner == threading.get_ident():
            return self._nested(operation)
        op = _Op(operation)
        with self._mutex:
            self._queue.append(op)
            lead = not self._leading
            self._leading = True
        if not lead:
            op.wait()  # woken when committed or refused, or when this thread is handed the lead
            if op.done:
                return op.result()
        self._lead()
        return op.result()

    def _lead(self) -> None:
        """Commit everything queued as one batch and wait for its sync (the writers queued meanwhile gather into
        the next batch, which one sync then covers), hand the lead to the next waiting writer, then acknowledge
        the batch. Handing the lead on before the sync made the next batch commit alone and sync again: more
        syncs and fewer battles/s (bench/votes.py, issue 18)."""
        outcomes: list[tuple[_Op, BaseException | None]] = []
        commit = 0
        try:
            commit = self._run_batch(outcomes)
            if commit:  # the sync runs without the locks: other processes write meanwhile
                try:
                    self._make_durable(commit)
                except BaseException as e:  # the commit is in the file but not confirmed on disk: nothing
                    # acknowledged, also when Ctrl-C or SystemExit ended the wait (raised on in this thread)
                    outcomes = [(op, error or StoreError(self._sync_failed(e))) for op, error in outcomes]
                    if not isinstance(e, OSError):
                        raise
        finally:
            self._hand_lead()
            for op, error in outcomes:
                op.finish(error)
        if commit:
            self._tidy_wal()  # after the acknowledgements: none of them waits for a checkpoint

    def _hand_lead(self) -> None:
        """Wake the first queued writer to lead the next batch, or mark that nobody leads."""
        with self._mutex:
            following = self._queue[0] if self._queue else None
            self._leading = following is not None
        if following is not None:
            following.wake()  # not done: it leads the next batch

    def _drain(self) -> list[_Op]:
        with self._mutex:
            batch, self._queue = self._queue, []
        return batch

    def _run_batch(self, outcomes: list[tuple[_Op, BaseException | None]]) -> int:
        """Take the write locks, then drain the queue (what arrived while another process held the database
        joins this batch), run each operation and commit once. Each operation's outcome goes to
        ``outcomes``, for the caller to hand out once the locks are released and the commit is durable.
        Returns the commit's number for ``_make_durable`` (0: nothing committed)."""
        with self._conn_lock:
            self._owner = threading.get_ident()
            batch: list[_Op] = []
            try:
                self._begin()
                batch = self._drain()
                kept: list[_Op] = []
                savepoints = len(batch) > 1  # a batch of one rolls back the transaction instead
                for op in batch:
                    try:
                        if savepoints:
                            self._conn.execute("SAVEPOINT op")
                        op.value = op.operation(self.db)
                        if not self._conn.in_transaction:  # an error it caught ended the transaction: nothing kept
                            raise sqlite3.OperationalError("the transaction was rolled back by an error the"
                                                           " operation caught")
                        if savepoints:  # released at once: see _release_savepoint
                            self._release_savepoint()
                        kept.append(op)
                    except BaseException as e:  # noqa: BLE001 - handed to the operation's caller
                        if not self._conn.in_transaction:  # SQLite dropped the transaction (I/O error, disk full)
                            e = self._refused(e)
                            outcomes += [(k, e) for k in kept]
                            kept = []
                            self._begin(lock=False)
                        elif savepoints:
                            self._conn.execute("ROLLBACK TO op")  # undoes it, and leaves the savepoint open
                            self._release_savepoint()
                        else:
                            self._conn.execute("ROLLBACK")
                        outcomes.append((op, e))
                commit = 0
                if self._conn.in_transaction:
                    try:
                        commit = self._commit()
                    except BaseException as e:  # noqa: BLE001 - nothing of the batch was written
                        self._rollback()
                        outcomes += [(k, e) for k in kept]
                        kept = []
                outcomes += [(k, None) for k in kept]
                return commit
            except BaseException as e:  # noqa: BLE001 - BEGIN failed (busy past BUSY_SECONDS, I/O)
                given = {id(op) for op, _ in outcomes}  # every op gets an outcome before anything else can fail
                outcomes += [(op, e) for op in batch + self._drain() if id(op) not in given]
                with contextlib.suppress(sqlite3.Error):  # e.g. a closed store: e is the error to report
                    self._rollback()
                raise
            finally:
                self._owner = None
                self._unlock_file()

    def _release_savepoint(self) -> None:
        """End the batch's savepoint of the operation just run (its statements stay in the transaction).

        Released after each operation, never left open for COMMIT to release: while a savepoint is open, SQLite
        copies each page a statement changes for the first time since that savepoint into the statement journal,
        so that ROLLBACK TO can restore it; with every savepoint of a batch open, that journal grows with the
        batch (each operation's pages again, as changed by the ones before) and spills past 64 KiB into a
        temporary file, written page by page ("Statement Journal Files", https://www.sqlite.org/tempfiles.html;
        ``SQLITE_CONFIG_STMTJRNL_SPILL``). Once the last savepoint is released the journal is emptied, so it
        holds one operation's pages and stays in memory. At 32 writer threads those writes had cost about 80 us
        of system time per battle (of about 450 us of CPU), and battles/s rose by a third once they stopped
        (bench/votes.py, issue 18)."""
        self._conn.execute("RELEASE op")

    def _nested(self, operation: Callable[[Database], T]) -> T:
        with self._savepoint():
            return operation(self.db)

    @contextlib.contextmanager
    def _savepoint(self) -> Iterator[None]:
        self._depth += 1
        name = f"nested_{self._depth}"
        self._conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute(f"ROLLBACK TO {name}")
                self._conn.execute(f"RELEASE {name}")
            raise
        finally:
            self._depth -= 1
        self._conn.execute(f"RELEASE {name}")

    @contextlib.contextmanager
    def write(self) -> Iterator[Database]:
        """One exclusive write transaction, committed (and synced) when the block ends and rolled back
        if it raises. Inside another ``write``/``apply`` of the same thread it becomes a savepoint of
        that transaction. Prefer ``apply`` for short operations: it shares commits with other writers."""
        if self._owner == threading.get_ident():
            with self._savepoint():
                yield self.db
            return
        with self._conn_lock:
            self._owner = threading.get_ident()
            try:
                self._begin()
                try:
                    yield self.db
                    commit = self._commit()
                except sqlite3.OperationalError as e:
                    dropped = not self._conn.in_transaction  # SQLite dropped it (I/O error, disk full)
                    self._rollback()
                    if dropped:
                        raise self._refused(e) from e
                    raise
                except BaseException:
                    self._rollback()
                    raise
            finally:
                self._owner = None
                self._unlock_file()
        try:
            self._make_durable(commit)
        except OSError as e:
            raise StoreError(self._sync_failed(e)) from None
        self._tidy_wal()

    def _begin(self, lock: bool = True) -> None:
        """BEGIN IMMEDIATE: take the write lock now, retrying briefly while another process holds it."""
        if lock and self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)  # woken at once when the other process is done
        _retry_busy(lambda: self._conn.execute("BEGIN IMMEDIATE"))

    def _commit(self) -> int:
        """COMMIT (retried while busy: a busy COMMIT leaves the transaction open); returns its number for
        ``_make_durable`` (0 where SQLite synced it itself).

        Raises:
            StoreError: SQLite refused the COMMIT (a full disk, an I/O error, busy past ``BUSY_SECONDS``);
                nothing of the transaction is written once the caller rolls it back.
            sqlite3.IntegrityError: a deferred constraint failed at COMMIT.
        """
        try:
            _retry_busy(lambda: self._conn.execute("COMMIT"))
        except sqlite3.OperationalError as e:
            raise self._refused(e) from e
        return self._wal_sync.committed() if self._wal_sync is not None else 0  # counted once it is written

    def _make_durable(self, commit: int) -> None:
        """Return once commit number ``commit`` is on disk (see ``walsync``). Call without the write locks.
        After a failed sync the WAL is first emptied into the database file (``_heal``).

        Raises:
            OSError: the sync or that checkpoint failed (the commit must not be acknowledged).
        """
        if commit:
            wal_sync = self._wal_sync
            if wal_sync is None:  # ``close`` ran since the COMMIT: no sync of this store's covers it any more
                raise OSError(errno.EIO, "the store was closed before this commit was synced")
            self._heal()
            wal_sync.make_durable(commit)  # raises if ``close`` has closed it meanwhile

    def _heal(self) -> None:
        """After a failed WAL sync, copy the WAL into the database file, sync that and empty the WAL
        (``PRAGMA wal_checkpoint(TRUNCATE)``; in NORMAL mode SQLite syncs the database file after a checkpoint,
        https://www.sqlite.org/pragma.html#pragma_synchronous), so the commits that sync may have lost, and
        every later one, are on disk and the next commit starts a fresh WAL. Without it nothing written after
        the failure is safe: recovery drops every WAL frame after the first one missing from the disk, since
        their checksums are chained (https://www.sqlite.org/fileformat2.html#walformat). At once if no sync
        failed. The lost frames are copied from the OS page cache, which keeps a page whose write-back failed
        unless memory pressure evicts it. Call without the write locks.

        Raises:
            OSError: the checkpoint failed, or readers kept it from emptying the WAL for ``BUSY_SECONDS``.
        """
        wal_sync = self._wal_sync
        if wal_sync is None or not wal_sync.lost():
            return
        if not self._checkpoint_wal("TRUNCATE", wait=True, only_if_lost=True):
            raise OSError(errno.EIO, "the checkpoint after a failed sync could not empty the write-ahead log:"
                                     f" readers kept it busy for {BUSY_SECONDS:.0f} s")

    def _tidy_wal(self) -> None:
        """Checkpoint the WAL once it holds ``CHECKPOINT_BYTES`` (SQLite's automatic checkpoint is off: it
        would sync the WAL behind WalSync's back and ignore a failure). Call after acknowledging, without the
        write locks; a failure is not raised (what was acknowledged is synced already) but leaves the lost
        range marked, so the next write heals first."""
        wal_sync = self._wal_sync
        if wal_sync is None:  # closed
            return
        size = wal_sync.wal_size()
        if size is None or size < self._checkpoint_at:
            return
        wait = size >= CHECKPOINT_WAIT_BYTES
        mode = "TRUNCATE" if wait or size >= 2 * CHECKPOINT_BYTES else "RESTART"
        try:
            emptied = self._checkpoint_wal(mode, wait)
        except OSError as e:
            log.warning("%s: %s; the next write checkpoints before anything more is acknowledged",
                        self.path, e.strerror)
            emptied = False
        if not emptied:  # readers kept it busy (or it failed): again once another CHECKPOINT_BYTES are written
            self._checkpoint_at = size + CHECKPOINT_BYTES
        else:  # a restarted WAL only grows past its size again after that many bytes of new frames
            self._checkpoint_at = size + 1 if mode == "RESTART" else CHECKPOINT_BYTES

    def _checkpoint_wal(self, mode: str, wait: bool, only_if_lost: bool = False) -> bool:
        """One checkpoint (``mode``: RESTART or TRUNCATE) under the write locks, through ``WalSync.checkpoint``
        (an I/O error marks the lost range; one that finished heals it). ``wait``: retry while readers (or
        another process's checkpoint) keep it busy, up to ``BUSY_SECONDS``; else one try. ``only_if_lost``:
        skip it (True) if another writer healed meanwhile. Returns whether every frame was copied into the
        synced database file and the WAL emptied (TRUNCATE) or left for the next writer to restart (RESTART).

        Raises:
            OSError: the checkpoint failed (I/O error, or any SQLite error other than busy).
        """
        with self._conn_lock:
            if self._wal_sync is None:  # closed since the caller looked
                return False
            if self._lock_file is not None:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX)  # no commit is counted during the checkpoint
            try:
                if only_if_lost and not self._wal_sync.lost():
                    return True
                return self._wal_sync.checkpoint(lambda: self._run_checkpoint(mode, wait))
            finally:
                self._unlock_file()

    def _run_checkpoint(self, mode: str, wait: bool) -> bool:
        """``PRAGMA wal_checkpoint(mode)``: True if it finished, False if readers kept it busy."""
        def once() -> bool:
            busy, _, _ = self._conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            if busy and wait:
                raise sqlite3.OperationalError("database is locked: a reader still uses the write-ahead log")
            return not busy
        try:
            return _retry_busy(once) if wait else once()
        except sqlite3.Error as e:
            if _is_busy(e):
                return False
            raise OSError(errno.EIO, f"the checkpoint of the write-ahead log failed ({e})") from None

    def durable_found(self) -> None:
        """Before answering a write with a row found already stored (a retry finding its earlier, failed
        write, or another session's write of the same key whose sync may still be running), or refusing one
        because of it ("already has a vote"): heal a failed
        sync (``_heal``), then wait for a sync that covers every commit counted so far, the found row's
        included. Inside this thread's own transaction its commit does that. Raises ``StoreError`` if the
        row's sync failed or fails."""
        if not self._wal_synced or self._owner == threading.get_ident():
            return
        try:
            wal_sync = self._wal_sync
            if wal_sync is None:  # closed meanwhile: the row's sync may never run
                raise OSError(errno.EIO, "the store was closed before the row found was known synced")
            self._heal()
            with self._conn_lock:  # the row's COMMIT is counted under these locks once it has returned
                if self._lock_file is not None:
                    fcntl.flock(self._lock_file, fcntl.LOCK_EX)
                try:
                    made = wal_sync.made()
                finally:
                    self._unlock_file()
            wal_sync.make_durable(made, force=True)  # the row may be a dead process's commit, never counted
        except OSError as e:
            raise StoreError(self._sync_failed(e)) from None

    def _refused(self, error: BaseException) -> BaseException:
        """A ``StoreError`` (one line naming the file) for an operational SQLite error that refused a write (a
        full disk, an I/O error, locked past ``BUSY_SECONDS``); other errors (a constraint, a bug) as they are."""
        if not isinstance(error, sqlite3.OperationalError):
            return error
        return StoreError(f"{self.path}: the database refused the write ({error}); nothing of it was stored:"
                          " try again (on a full disk, once space is freed)")

    def _sync_failed(self, error: BaseException) -> str:
        what = error if isinstance(error, OSError) else f"interrupted by {type(error).__name__}"
        return f"{self.path}: could not sync the write-ahead log to disk ({what}); nothing was acknowledged, try again"

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def _unlock_file(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def read(self) -> Iterator[Database]:
        """A consistent snapshot for a set of reads (one read transaction). Inside a ``write``/``apply``
        of the same thread it is that transaction, so it sees its uncommitted rows."""
        if self._owner == threading.get_ident():
            yield self.db
            return
        with self._read_lock:
            self._reader.execute("BEGIN")
            try:
                yield self._reader_db
            finally:
                self._reader.execute("COMMIT")

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict]:
        """Rows as dicts, from committed data (or, inside a write of this thread, from its transaction)."""
        if self._owner == threading.get_ident():
            cursor = self._conn.execute(sql, params)
        else:
            with self._read_lock:
                cursor = self._reader.execute(sql, params)
                return _dicts(cursor)
        return _dicts(cursor)

    def backup(self, out_path: str | Path) -> Path:
        """A consistent copy of the database (taken while others may be writing); images not included.

        Written beside ``out_path`` under a name of its own (backups to one path at once do not collide), then
        put in place durably (``durable.replace``); returns ``out_path`` as a ``Path``. The copy has the database
        file's permissions (plus read and write for its owner): no more readable than the votes it copies, and
        no less. An ``out_path`` that is a symbolic link stays one: the file it names is replaced.

        Raises:
            OSError, sqlite3.Error: the copy could not be written (a full disk) or put in place; no partial file is
                left and ``out_path`` is as it was.
        """
        out = Path(out_path)
        if out.is_symlink():  # replace the file the link names, as every other output does; keep the link
            out = Path(os.path.realpath(out))
        durable.make_folders(out.parent)
        # a name of its own per backup; as readable as the database itself (votes name their voters), and
        # always readable and writable by its owner (SQLite writes it), with no setuid, setgid or sticky bit
        mode = stat.S_IMODE(os.stat(self.path).st_mode) & 0o777 | 0o600
        fd, name = durable.new_partial(out, mode)
        os.close(fd)
        tmp = Path(name)
        try:
            target = sqlite3.connect(str(tmp))  # an empty file is an empty database
            try:
                with self._read_lock:
                    self._reader.backup(target)
                target.execute("PRAGMA journal_mode=DELETE")
            finally:
                target.close()
            durable.replace(tmp, out)  # a backup reported written survives a power cut
        except BaseException:
            tmp.unlink(missing_ok=True)  # no half-made copy left: cut short by a full disk, or not put in place
            raise
        return Path(out_path)

    # -- meta ---------------------------------------------------------------------------------

    def meta(self, key: str, default_factory: Callable[[], str] | None = None) -> str | None:
        """Read a setting kept in the database; if absent and a factory is given, store its value. A value
        found is returned once it is known synced (``durable_found``), except on a store opened
        ``for_reading``, which acknowledges no write and so returns it as read."""
        rows = self.query("select value from meta where key = ?", (key,))
        if rows and default_factory is not None and not self._for_reading:
            self.durable_found()
        if rows or default_factory is None:
            return rows[0]["value"] if rows else None
        with self.write() as db:
            db.execute("insert or ignore into meta (key, value) values (?, ?)", (key, default_factory()))
            return db.execute("select value from meta where key = ?", (key,)).fetchone()[0]

    # -- images -------------------------------------------------------------------------------

    def image_path(self, sha: str) -> Path:
        """Where the image ``sha`` (64 lowercase hex characters, the sha256 of its PNG bytes) is kept.

        Raises:
            ValueError: ``sha`` is not such a string (so no id can name a path outside ``images/``).
        """
        if not isinstance(sha, str) or not _SHA256.match(sha):
            raise ValueError(f"image id {sha!r}: expected 64 lowercase hex characters (a sha256)")
        return self.images_dir / sha[:2] / f"{sha}.png"

    def open_image(self, sha: str) -> BinaryIO:
        """Stored image ``sha``'s file, opened to read its bytes (a copy of it: ``evaluation.merge``, an export).

        Raises:
            ValueError: ``sha`` is no image id (``image_path``).
            FileNotFoundError: it is not in ``images_dir``; the message names this store's database, the image
                and the folder (a store copied without the ``images`` folder beside it).
            OSError: it cannot be read.
        """
        path = self.image_path(sha)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, f"{self.path}: image {sha}, which its runs show, is not in"
                                    f" {self.images_dir} (a store keeps its images as files in the"
                                    f" {self.images_dir.name}/ folder beside its database: copy that folder with"
                                    " it)") from None

    def put_image(self, img: Image.Image) -> str:
        """Store the image as PNG named by the sha256 of its bytes; storing it again is a no-op.

        Returns:
            The image id: the sha256 of the PNG bytes, 64 lowercase hex characters.

        Raises:
            StoreError: the file could not be written (a full disk, an I/O error): one line naming it; no
                partial file is left, and storing it again (the run saved again) writes it.
        """
        data = png_bytes(img)
        sha = hashlib.sha256(data).hexdigest()
        path = self.image_path(sha)
        try:
            if not durable.exists(path):  # one found there is synced into its folder: it may be just renamed
                durable.write_file(path, lambda f: f.write(data))  # its name is on disk before the run's row
        except OSError as e:  # the image is written before its run's row: nothing of the run is stored
            raise StoreError(f"{path}: the image could not be written ({e.strerror or e}); nothing of the"
                             " run was stored: try again (on a full disk, once space is freed)") from None
        return sha

    def get_image(self, sha: str) -> Image.Image:
        """The stored image ``sha`` (as ``put_image`` returned it), fully loaded, in the mode it was stored in.

        Raises:
            ValueError: ``sha`` is not 64 lowercase hex characters.
            NotFound: no such image in ``images_dir``.
        """
        path = self.image_path(sha)
        if not path.exists():
            raise NotFound(f"image {sha} is not in {self.images_dir}")
        with Image.open(path) as img:
            img.load()
            return img

    # -- runs ---------------------------------------------------------------------------------

    def save_trace(self, trace: Trace, dataset: str, *, pin: bool = False) -> int:
        """Store the trace and its images; a run with the same key already stored is kept as is.

        The key is (dataset, instance uid, model, mode, settings); ``trace.steps[i].image_sha`` is set for
        every image step. ``pin=True`` also pins the run (new or existing) for arena battles (see ``pin``).

        Returns:
            The run id (a positive integer): the new run's, or the stored one's with the same key.

        Raises:
            ValueError: ``trace.instance_uid`` is not ``"<UEG|GEU>_<index>_<task_type>"``.
        """
        existing = self.find_run(dataset, trace.instance_uid, trace.model, trace.mode, trace.settings)
        if existing is not None:
            if pin:
                self.pin([existing])
            self.durable_found()
            return existing
        track, task_type = split_uid(trace.instance_uid)
        for step in trace.steps:
            if step.image is not None:
                step.image_sha = self.put_image(step.image)
        row = {
            "dataset": dataset, "instance_uid": trace.instance_uid, "track": track,
            "task_type": task_type, "model": trace.model, "mode": trace.mode,
            "seed": trace.settings.get("seed"), "settings_key": settings_key(trace.settings),
            "status": trace.status.value, "seconds": round(trace.seconds, 4), "created_at": now(),
            "trace": json.dumps(trace.to_dict()), "pinned_at": now() if pin else None,
        }
        columns = ", ".join(row)

        def insert(db: Database) -> int:
            db.execute(f"insert or ignore into runs ({columns}) values ({', '.join('?' * len(row))})",
                       tuple(row.values()))  # a concurrent save of the same key wins
            run_id = db.execute(
                "select id from runs where dataset = ? and instance_uid = ? and model = ? and mode = ?"
                " and settings_key = ?",
                (dataset, trace.instance_uid, trace.model, trace.mode, row["settings_key"]),
            ).fetchone()[0]
            if pin:
                db.execute("update runs set pinned_at = ? where id = ? and pinned_at is null", (now(), run_id))
            if location is not None:
                db.execute("insert or ignore into meta (key, value) values (?, ?)",
                           (_SOURCE_KEY.format(dataset), location))
            return run_id

        location = self._sources_with_runs.get(dataset)
        run_id = self.apply(insert)
        if location is not None:  # committed and synced with the run: not noted again by this store
            self._sources_noted.add(dataset)
            self._sources_with_runs.pop(dataset, None)
        return run_id

    def find_run(self, dataset: str, instance_uid: str, model: str, mode: str,
                 settings: dict) -> int | None:
        """The id of the run stored under this key (``settings``: ``GenerationOptions.to_dict()``), or None."""
        rows = self.query(
            "select id from runs where dataset = ? and instance_uid = ? and model = ? and mode = ?"
            " and settings_key = ?",
            (dataset, instance_uid, model, mode, settings_key(settings)),
        )
        return rows[0]["id"] if rows else None

    def load_trace(self, run_id: int) -> Trace:
        """The stored trace of run ``run_id``; its image steps carry ``image_sha`` (read with ``get_image``).
        Its texts (each step's prompt and reply, the error, the notes) come with secrets masked (``redaction.redact``):
        a run stored before replies were redacted (an endpoint that echoed its key) is shown, reused, merged
        and exported as a new one would have been stored.

        Raises:
            NotFound: no run ``run_id`` in this store.
        """
        rows = self.query("select trace from runs where id = ?", (run_id,))
        if not rows:
            raise NotFound(f"run {run_id} is not in {self.path}")
        return _loaded_trace(rows[0]["trace"])

    def run(self, run_id: int) -> dict:
        """One run's indexed columns (id, dataset, instance_uid, track, task_type, model, mode, status ...).

        Raises:
            NotFound: no run ``run_id`` in this store.
        """
        rows = self.query(f"select {_RUN_COLUMNS} from runs where id = ?", (run_id,))
        if not rows:
            raise NotFound(f"run {run_id} is not in {self.path}")
        return rows[0]

    def runs(self, dataset: str | None = None, model: str | None = None, mode: str | None = None,
             track: str | None = None, status: str | None = None, *, pinned: bool | None = None) -> list[dict]:
        """Indexed columns of matching runs (the trace itself via ``load_trace``), oldest first.
        ``pinned=True``: only runs pinned for the arena (what stored battles may show); False: only others."""
        where, params = _where(dataset=dataset, model=model, mode=mode, track=track, status=status)
        if pinned is not None:
            where += (" and " if where else "where ") + f"pinned_at is {'not ' if pinned else ''}null"
        return self.query(f"select {_RUN_COLUMNS} from runs {where} order by id", params)

    def pinned_instances(self) -> dict[str, set[str]]:
        """Dataset name -> the uids of its instances that have a finished (ok) run pinned for the arena: what
        stored-mode battles draw from, which pair only runs stored under one dataset."""
        found: dict[str, set[str]] = {}
        for row in self.query("select distinct dataset, instance_uid from runs where pinned_at is not null"
                              " and status = ?", (Status.OK.value,)):
            found.setdefault(row["dataset"], set()).add(row["instance_uid"])
        return found

    def pinned_models(self) -> set[str]:
        """Names of the models with a finished (ok) run pinned for the arena: the models stored-mode battles
        can show."""
        return {row["model"] for row in self.query(
            "select distinct model from runs where pinned_at is not null and status = ?", (Status.OK.value,))}

    def battle_ready_datasets(self) -> set[str]:
        """Names of the datasets where some instance has finished (ok) pinned runs of two systems (model and mode):
        where a stored-mode battle can be drawn, were the app to serve that dataset."""
        return {row["dataset"] for row in self.query(
            "select dataset from runs where pinned_at is not null and status = ? group by dataset, instance_uid"
            " having count(distinct model || char(0) || mode) >= 2", (Status.OK.value,))}

    # -- arena pins ---------------------------------------------------------------------------

    def pin(self, run_ids: Iterable[int], pinned: bool = True) -> int:
        """Offer these runs to arena battles (``pinned=False``: withdraw them); return how many changed.

        Stored-mode battles draw only from pinned runs, so an ad-hoc Explore run (any seed, any
        settings) never becomes what voters see. ``eval`` pins the runs it makes or finds. Raises
        ``NotFound`` naming the missing ids, and then changes nothing."""
        ids = sorted({int(i) for i in run_ids})

        def mark(db: Database) -> int:
            marks = ",".join("?" * len(ids))
            found = {r[0] for r in db.execute(f"select id from runs where id in ({marks})", ids)}
            if len(found) != len(ids):
                raise NotFound(f"runs {sorted(set(ids) - found)} are not in {self.path}")
            if pinned:
                cursor = db.execute(f"update runs set pinned_at = ? where id in ({marks}) and pinned_at is null",
                                    (now(), *ids))
            else:
                cursor = db.execute(f"update runs set pinned_at = null where id in ({marks})"
                                    " and pinned_at is not null", ids)
            return cursor.rowcount

        return self.apply(mark) if ids else 0

    # -- imported runs ------------------------------------------------------------------------

    def imported_runs(self, dataset: str, model: str, settings: dict) -> dict[tuple[str, str], dict]:
        """(instance_uid, mode) -> the stored run of ``model`` with these settings and its origin
        (``run_id``, ``folder``, ``file``, ``entry``, ``imported_at``, ``digest``, ``outputs_digest``; origin
        fields None for a run that was not imported, ``outputs_digest`` None for one imported before it was kept)."""
        rows = self.query(
            "select r.id as run_id, r.instance_uid, r.mode, o.folder, o.file, o.entry, o.imported_at, o.digest,"
            " o.outputs_digest from runs r left join run_origins o on o.run_id = r.id"
            " where r.dataset = ? and r.model = ? and r.settings_key = ?",
            (dataset, model, settings_key(settings)))
        return {(row["instance_uid"], row["mode"]): row for row in rows}

    def imported_models(self, dataset: str | None = None) -> set[str]:
        """Names of the models with runs imported from published result files (``import-results``), in
        ``dataset`` or any."""
        where, params = _where(**{"r.dataset": dataset})
        return {row["model"] for row in self.query(
            f"select distinct r.model from runs r join run_origins o on o.run_id = r.id {where}", params)}

    def run_origin(self, run_id: int) -> dict | None:
        """Where an imported run came from: folder, file, entry, model, imported_at, digest, outputs_digest (None
        for a run imported before it was kept); None otherwise."""
        rows = self.query("select folder, file, entry, model, imported_at, digest, outputs_digest from run_origins"
                          " where run_id = ?", (run_id,))
        return rows[0] if rows else None

    def keep_origin(self, run_id: int, origin: dict) -> None:
        """Record where run ``run_id`` was imported from (``run_origin``'s fields), unless it has a record:
        how ``merge`` carries an imported run's origin into another store."""
        def write(db: Database) -> None:
            db.execute("insert or ignore into run_origins (run_id, folder, file, entry, model, imported_at, digest,"
                       " outputs_digest) values (?, ?, ?, ?, ?, ?, ?, ?)",
                       (run_id, *(origin[k] for k in ("folder", "file", "entry", "model", "imported_at", "digest")),
                        origin.get("outputs_digest")))

        self.apply(write)

    def save_imported(self, dataset: str, items: list[dict], *, replace: bool = False) -> dict[str, int]:
        """Store imported runs in one transaction, each pinned for the arena, with its origin and judgments.

        ``items``: ``{"trace": Trace (images already stored, ``image_sha`` set), "origin": {"folder",
        "file", "entry", "model", "imported_at", "digest"}, "judgments": {judge name: Judgment.to_dict()}}``.
        A run stored under the same key with the same ``digest`` is left as it is; one with another digest
        raises ``ImportConflict`` (and nothing is written) unless ``replace``: then the run keeps its id
        (battles and votes name it), its old trace, origin and judgments are kept in ``replaced_runs``, and
        the new ones take their place. An item ``{"judged_run": run id, "judgments": ...}`` adds judgments
        to a stored run whose outputs are unchanged (another judge's replies on the same published run): a
        judge that already judged it the same way is left as it is, one that judged it otherwise raises
        ``ImportConflict`` unless ``replace`` (then its judgment is replaced, the old one kept in
        ``replaced_runs`` with the run's trace and origin). An item ``{"outputs_digest_of": run id,
        "outputs_digest": ...}`` records the outputs digest of a run imported before m011 kept one (its file
        imported again unchanged), where it is still null. Any error writes nothing. Returns counts: new,
        unchanged, replaced, judged (runs given another judge's judgments), rejudged (runs whose judgment by a
        judge that judged them before was replaced).
        """
        def write(db: Database) -> dict[str, int]:
            counts = {"new": 0, "unchanged": 0, "replaced": 0, "judged": 0, "rejudged": 0}
            for item in items:
                if "outputs_digest_of" in item:  # a run imported before m011, imported again unchanged
                    db.execute("update run_origins set outputs_digest = ? where run_id = ? and outputs_digest is null",
                               (item["outputs_digest"], item["outputs_digest_of"]))
                    counts["unchanged"] += 1
                    continue
                if "judged_run" in item:
                    counts[self._add_judgments(db, item["judged_run"], item["judgments"], item["label"],
                                               replace)] += 1
                    continue
                trace, origin = item["trace"], item["origin"]
                key = settings_key(trace.settings)
                found = db.execute(
                    "select r.id, o.digest from runs r left join run_origins o on o.run_id = r.id"
                    " where r.dataset = ? and r.instance_uid = ? and r.model = ? and r.mode = ?"
                    " and r.settings_key = ?",
                    (dataset, trace.instance_uid, trace.model, trace.mode, key)).fetchone()
                stamp = now()
                track, task_type = split_uid(trace.instance_uid)
                columns = {"status": trace.status.value, "seconds": round(trace.seconds, 4),
                           "created_at": stamp, "trace": json.dumps(trace.to_dict()), "pinned_at": stamp}
                if found is not None and found[1] == origin["digest"]:
                    counts["unchanged"] += 1
                    continue
                if found is not None:
                    if not replace:
                        raise ImportConflict(f"{origin['file']}, {origin['entry']}: differs from the run"
                                             f" imported before ({trace.system} on {trace.instance_uid});"
                                             " pass --replace to re-import it")
                    run_id = found[0]
                    self._archive_run(db, run_id, stamp)
                    db.execute(f"update runs set {', '.join(f'{c} = ?' for c in columns)} where id = ?",
                               (*columns.values(), run_id))
                    counts["replaced"] += 1
                else:
                    row = {"dataset": dataset, "instance_uid": trace.instance_uid, "track": track,
                           "task_type": task_type, "model": trace.model, "mode": trace.mode,
                           "seed": trace.settings.get("seed"), "settings_key": key, **columns}
                    run_id = db.execute(f"insert into runs ({', '.join(row)}) values ({', '.join('?' * len(row))})"
                                        " returning id", tuple(row.values())).fetchone()[0]
                    counts["new"] += 1
                db.execute("insert or replace into run_origins (run_id, folder, file, entry, model, imported_at,"
                           " digest, outputs_digest) values (?, ?, ?, ?, ?, ?, ?, ?)",
                           (run_id, origin["folder"], origin["file"], origin["entry"], origin["model"],
                            origin["imported_at"], origin["digest"], origin.get("outputs_digest")))
                for judge, judgment in item.get("judgments", {}).items():
                    db.execute("insert into judgments (run_id, judge, kind, score, details, errors, created_at)"
                               " values (?, ?, ?, ?, ?, ?, ?)",
                               (run_id, judge, judgment["kind"], judgment["score"], json.dumps(judgment["details"]),
                                int(judgment["errors"]), stamp))
            return counts

        return self.apply(write)

    @staticmethod
    def _add_judgments(db: Database, run_id: int, judgments: dict[str, dict], label: str, replace: bool) -> str:
        """``save_imported``'s judgments-only item: each judge's judgment on run ``run_id``, unless that judge
        already judged it the same way (kind, score, details, errors); a judge's judgment that differs
        (``replace`` only) is kept in ``replaced_runs`` (``_archive_run``) before the new one takes its place.
        Returns ``save_imported``'s count it adds to: "unchanged" (nothing written), "judged" (a judge's
        first judgment of the run written) or "rejudged" (a judge's judgment replaced).

        Raises:
            ImportConflict: a judge already judged the run otherwise, and not ``replace``.
        """
        written = "unchanged"
        for judge, judgment in judgments.items():
            rows = db.execute("select kind, score, details, errors from judgments where run_id = ? and judge = ?",
                              (run_id, judge)).fetchall()
            if any(_same_judgment(row, judgment) for row in rows):
                continue
            if rows and not replace:
                raise ImportConflict(f"{label}: {judged_otherwise_message(judge)}")
            if rows:
                Store._archive_run(db, run_id, now(), judge=judge)
                written = "rejudged"
            elif written == "unchanged":
                written = "judged"
            db.execute("insert into judgments (run_id, judge, kind, score, details, errors, created_at)"
                       " values (?, ?, ?, ?, ?, ?, ?)",
                       (run_id, judge, judgment["kind"], judgment["score"], json.dumps(judgment["details"]),
                        int(judgment["errors"]), now()))
        return written

    def judged_otherwise(self, run_id: int, judge: str, judgment: dict) -> bool:
        """Whether ``judge`` holds a judgment of run ``run_id`` and none is ``judgment`` (``Judgment.to_dict``:
        kind, score, details, errors): what ``save_imported`` refuses to replace without ``replace``."""
        rows = self.query("select kind, score, details, errors from judgments where run_id = ? and judge = ?",
                          (run_id, judge))
        return bool(rows) and not any(_same_judgment(tuple(row.values()), judgment) for row in rows)

    def replace_failed_run(self, run_id: int, trace: Trace, *, pin: bool = False) -> bool:
        """Put ``trace``, a successful run of the same key whose images are already stored (``image_sha``
        set), in place of stored run ``run_id`` when that run failed (status ``error``): the run keeps its id
        (battles name it); its failed trace, origin and judgments go to ``replaced_runs`` (as an import with
        ``replace`` keeps them) and its origin is dropped. ``pin`` pins it. Returns False, writing nothing,
        when the stored run did not fail.

        Raises:
            NotFound: no run ``run_id`` in this store.
        """
        def write(db: Database) -> bool:
            row = db.execute("select status from runs where id = ?", (run_id,)).fetchone()
            if row is None:
                raise NotFound(f"run {run_id} is not in {self.path}")
            if row[0] != Status.ERROR.value:
                return False
            stamp = now()
            self._archive_run(db, run_id, stamp)
            db.execute("delete from run_origins where run_id = ?", (run_id,))
            db.execute("update runs set status = ?, seconds = ?, created_at = ?, trace = ?,"
                       " pinned_at = case when ? then coalesce(pinned_at, ?) else pinned_at end where id = ?",
                       (trace.status.value, round(trace.seconds, 4), stamp, json.dumps(trace.to_dict()), pin, stamp,
                        run_id))
            return True

        return self.apply(write)

    @staticmethod
    def _archive_run(db: Database, run_id: int, stamp: str, *, judge: str | None = None) -> None:
        """Copy a run's trace, origin and (human) judgments into ``replaced_runs``, then drop the judgments,
        which judged the old output. With ``judge``, only that judge's judgments (its replies replaced on an
        output that stays): the human judgments stay, and none are copied."""
        only = "" if judge is None else " and judge = ?"
        which = (run_id,) if judge is None else (run_id, judge)
        status, trace = db.execute("select status, trace from runs where id = ?", (run_id,)).fetchone()
        origin = db.execute("select folder, file, entry, model, imported_at, digest, outputs_digest from run_origins"
                            " where run_id = ?", (run_id,)).fetchone()
        judgments = _dicts(db.execute("select judge, kind, score, details, errors, created_at from judgments"
                                      f" where run_id = ?{only}", which))
        humans = [] if judge is not None else _dicts(db.execute(
            "select voter, kind, score, details, created_at from human_judgments where run_id = ?", (run_id,)))
        origin_fields = ("folder", "file", "entry", "model", "imported_at", "digest", "outputs_digest")
        db.execute("insert into replaced_runs (run_id, replaced_at, status, trace, origin, judgments,"
                   " human_judgments) values (?, ?, ?, ?, ?, ?, ?)",
                   (run_id, stamp, status, trace, json.dumps(dict(zip(origin_fields, origin))) if origin else None,
                    json.dumps(judgments), json.dumps(humans)))
        db.execute(f"delete from judgments where run_id = ?{only}", which)
        if judge is None:
            db.execute("delete from human_judgments where run_id = ?", (run_id,))

    def replaced_runs(self, run_id: int) -> list[dict]:
        """What an import replaced in this run, oldest first: replaced_at, status, trace, origin,
        judgments, human_judgments (decoded)."""
        rows = self.query("select replaced_at, status, trace, origin, judgments, human_judgments from replaced_runs"
                          " where run_id = ? order by id", (run_id,))
        return [{**row, **{k: json.loads(row[k]) if row[k] is not None else None
                           for k in ("trace", "origin", "judgments", "human_judgments")}} for row in rows]

    def replaced_rows(self) -> list[dict]:
        """Every ``replaced_runs`` row as stored (run_id and ``_ARCHIVED``'s columns, JSON undecoded), oldest first:
        what ``merge_replaced`` takes."""
        return self.query(f"select run_id, {', '.join(_ARCHIVED)} from replaced_runs order by id")

    def merge_replaced(self, run_id: int, rows: list[dict]) -> int:
        """Add another store's ``replaced_runs`` rows of one run (``replaced_rows``; ``evaluation.merge``) to run
        ``run_id`` here, so that this run holds each archived content (status, trace, origin, judgments, human
        judgments; not the time, which each store stamps itself when a merge replaces the same failed run in
        both) as many times as the most either store holds it. Merging again adds nothing. Returns how many rows
        were added."""
        content = _ARCHIVED[1:]  # all but replaced_at
        wanted = Counter(tuple(row[c] for c in content) for row in rows)

        def write(db: Database) -> int:
            held = Counter(db.execute(f"select {', '.join(content)} from replaced_runs where run_id = ?", (run_id,)))
            added = 0
            for row in rows:
                key = tuple(row[c] for c in content)
                if held[key] < wanted[key]:
                    held[key] += 1
                    added += 1
                    db.execute(f"insert into replaced_runs (run_id, {', '.join(_ARCHIVED)}) values"
                               f" (?, {', '.join('?' * len(_ARCHIVED))})", (run_id, *(row[c] for c in _ARCHIVED)))
            return added

        return self.apply(write) if rows else 0

    # -- judgments ----------------------------------------------------------------------------

    def save_judgment(self, run_id: int, judge: str, judgment: dict) -> int:
        """Store ``Judgment.to_dict()``; a later judgment by the same judge replaces the earlier one.

        Human judgments are kept per person (``save_human_judgment``): a ``"human"`` judgment given here, with
        no person named, is stored as the judgment of voter ``legacy`` (as the upgrade stores older ones), so
        it counts in the voters' majority instead of vanishing from every view.

        Returns:
            The judgment's id.

        Raises:
            ValueError: ``judgment`` lacks one of ``kind``, ``score``, ``details``, ``errors``.
            NotFound: no run ``run_id`` in this store.
        """
        missing = {"kind", "score", "details", "errors"} - judgment.keys()
        if missing:
            raise ValueError(f"judgment for run {run_id} by {judge!r}: missing {sorted(missing)}")
        if judge == HUMAN_JUDGE:
            return self.save_human_judgment(run_id, "legacy", judgment)

        def upsert(db: Database) -> int:
            if db.execute("select 1 from runs where id = ?", (run_id,)).fetchone() is None:
                raise NotFound(f"run {run_id} is not in {self.path}")
            db.execute(
                "insert into judgments (run_id, judge, kind, score, details, errors, created_at)"
                " values (?, ?, ?, ?, ?, ?, ?)"
                " on conflict (run_id, judge) do update set kind = excluded.kind,"
                " score = excluded.score, details = excluded.details, errors = excluded.errors,"
                " created_at = excluded.created_at",
                (run_id, judge, judgment["kind"], judgment["score"], json.dumps(judgment["details"]),
                 int(judgment["errors"]), now()),
            )
            return db.execute("select id from judgments where run_id = ? and judge = ?",
                              (run_id, judge)).fetchone()[0]

        return self.apply(upsert)

    def find_judgment(self, run_id: int, judge: str) -> dict | None:
        """``judge``'s judgment of run ``run_id`` (kind, score 1, 0 or None if undecided, details, errors), or None.
        For ``"human"`` the voters' majority verdict (``human_verdict``), the one verdict a reveal, the
        benchmark table and judge-human agreement use."""
        if judge == HUMAN_JUDGE:
            return self.human_verdict(run_id)
        rows = self.query("select kind, score, details, errors from judgments"
                          " where run_id = ? and judge = ?", (run_id, judge))
        if not rows:
            return None
        return {**rows[0], "details": json.loads(rows[0]["details"])}

    def judgments(self, judge: str | None = None) -> list[dict]:
        """Judgments with their run's dataset, instance, model, mode, track and task type. The ``"human"``
        ones are the voters' majority verdicts (``human_verdicts``; ``id`` None), after the others."""
        where, params = _where(**{"j.judge": judge})
        where = f"{where} and j.judge != ?" if where else "where j.judge != ?"
        rows = self.query(
            "select j.id, j.run_id, j.judge, j.kind, j.score, j.details, j.errors, j.created_at,"
            " r.dataset, r.instance_uid, r.model, r.mode, r.track, r.task_type"
            f" from judgments j join runs r on r.id = j.run_id {where} order by j.id",
            (*params, HUMAN_JUDGE),
        )
        rows = [{**row, "details": json.loads(row["details"])} for row in rows]
        if judge in (None, HUMAN_JUDGE):
            verdicts = self.human_verdicts()
            for run in self.query(
                    "select r.id as run_id, max(h.created_at) as created_at, r.dataset, r.instance_uid, r.model,"
                    " r.mode, r.track, r.task_type from human_judgments h join runs r on r.id = h.run_id"
                    " group by r.id order by r.id"):
                rows.append({"id": None, "judge": HUMAN_JUDGE, **verdicts[run["run_id"]], **run})
        return rows

    # -- human judgments, one per voter -------------------------------------------------------

    def save_human_judgment(self, run_id: int, voter: str, judgment: dict, *, rate_key: str | None = None,
                            max_per_window: int | None = None, window_seconds: float = 60.0,
                            created_at: str | None = None) -> int:
        """Store one voter's ``Judgment.to_dict()`` of a run; the same voter judging again replaces only
        their own. ``voter`` follows the vote identity rules (``arena.voter_id``). Another voter id of the same
        person (``rate_key``: the username, or the address across sessions; an earlier page load, or another
        student behind a classroom's one address) keeps its row, and ``human_verdicts`` counts the person's
        latest judgment once, so a visitor cannot outvote others by reloading the page and nothing is deleted. With
        ``max_per_window``, at most that many judgments per ``window_seconds`` from voters whose id is
        ``rate_key`` or starts with ``rate_key + ":"`` (``arena.rate_key(voter)``; default ``voter``). The
        same judgment saved again (same voter, run and content: a retry after a ``StoreError``) is not counted.
        ``created_at`` (``now()``'s format): when the judgment was made, where not now (``merge`` copying a
        node's judgment keeps its time, which decides a person's latest).

        Raises ``ValueError`` (missing fields, no voter), ``NotFound`` (no such run), ``RateLimited``;
        each writes nothing. Returns the row id."""
        missing = {"kind", "score", "details"} - judgment.keys()
        if missing:
            raise ValueError(f"human judgment of run {run_id}: missing {sorted(missing)}")
        if not isinstance(voter, str) or not voter:
            raise ValueError(f"human judgment of run {run_id}: no voter identity")
        key = rate_key or voter
        details = json.dumps(judgment["details"])

        def upsert(db: Database) -> int:
            if db.execute("select 1 from runs where id = ?", (run_id,)).fetchone() is None:
                raise NotFound(f"run {run_id} is not in {self.path}")
            if max_per_window is not None:
                (recent,) = db.execute(
                    f"select count(*) from human_judgments where {_OF_VOTER_KEY}"
                    " and created_at > ? and not (run_id = ? and voter = ? and kind = ? and score is ?"
                    " and details = ?)",
                    (*_voter_key_args(key), window_start(window_seconds),
                     run_id, voter, judgment["kind"], judgment["score"], details)).fetchone()
                if recent >= max_per_window:
                    raise RateLimited(rate_limit_message(max_per_window, "judgments", window_seconds))
            return db.execute(
                "insert into human_judgments (run_id, voter, kind, score, details, created_at)"
                " values (?, ?, ?, ?, ?, ?) on conflict (run_id, voter) do update set kind = excluded.kind,"
                " score = excluded.score, details = excluded.details, created_at = excluded.created_at"
                " returning id",
                (run_id, voter, judgment["kind"], judgment["score"], details, created_at or now()),
            ).fetchone()[0]

        return self.apply(upsert)

    def human_judgments(self, run_id: int) -> list[dict]:
        """Every voter's judgment of a run, oldest first: voter, kind, score, details, created_at."""
        rows = self.query("select voter, kind, score, details, created_at from human_judgments"
                          " where run_id = ? order by id", (run_id,))
        return [{**row, "details": json.loads(row["details"])} for row in rows]

    def human_verdicts(self, run_ids: Iterable[int] | None = None) -> dict[int, dict]:
        """The single human verdict per run (all judged runs, or these): the one verdict the reveal, ``report
        --judge human``, ``export --judge human``, the paired analysis and judge agreement all read.

        A voter is a person (``rate_key``: the account, or an anonymous visitor's address across sessions), whose
        latest judgment of the run (``created_at``) counts: each session's is stored (``save_human_judgment``),
        as are a store's from before this rule and a merged store's from two nodes.

        The rule (``HUMAN_RULE``), the official scoring applied to the voters: per polling question the
        majority of the voters who answered it yes or no; a tie between them (or no answer) leaves that
        question undecided, like a judge error (no tie-break: no voter outranks another). Then the paper's
        all-or-nothing instance rule (``scoring.instance_score``): 0 if any question's majority is wrong, else
        None (undecided) if any is tied, else 1. So ``score-official`` on the ``export --judge human`` files,
        which carry each question's majority as its ``judge_answer``, reprints ``report --judge human``.
        Where any voter's judgment carries no per-question answers (an old store's ``legacy`` voter, an
        imported per-item ``score``), the per-question rule would leave that voter out, so the majority of
        all the voters' scores decides, a tie undecided, and ``questions`` is empty (``export`` then writes
        the per-item ``score``).

        Returns run id -> ``Judgment.to_dict()``: ``errors`` = undecided questions; ``details``: ``questions``
        (each question's majority item), ``voters``, ``yes``/``no``/``undecided`` (voters whose own
        judgment scored the run 1 / 0 / neither), ``rule``, ``judge``."""
        where, params = "", ()
        if run_ids is not None:
            ids = sorted({int(i) for i in run_ids})
            if not ids:
                return {}
            where, params = f"where run_id in ({','.join('?' * len(ids))})", tuple(ids)
        # one judgment per person and run, the latest: a store written before save_human_judgment kept one per
        # person, or merged from nodes where one person judged in two sessions, holds several
        latest: dict[tuple[int, str], dict] = {}
        for row in self.query(f"select run_id, voter, kind, score, details from human_judgments {where}"
                              " order by created_at, id", params):  # a row judged again is updated in place
            latest.pop((row["run_id"], rate_key(row["voter"])), None)
            latest[(row["run_id"], rate_key(row["voter"]))] = row
        rows: dict[int, dict] = {}  # run -> kind, voters, yes, no
        for row in latest.values():
            counts = rows.setdefault(row["run_id"], {"run_id": row["run_id"], "kind": row["kind"], "voters": 0,
                                                     "yes": 0, "no": 0})
            counts["kind"] = min(counts["kind"], row["kind"])
            counts["voters"] += 1
            counts["yes"] += row["score"] == 1
            counts["no"] += row["score"] == 0
        # run -> (question, its n-th time in the list) -> each voter's item for it: two polling questions worded
        # alike are two questions (each with its own expected answer), never one majority of both
        answers: dict[int, dict[tuple[str, int], list[dict]]] = {}
        answering: Counter[int] = Counter()  # run -> voters whose judgment carries per-question answers
        for row in latest.values():
            items = json.loads(row["details"]).get("questions") or []
            answering[row["run_id"]] += bool(items)
            asked: Counter[str] = Counter()
            for item in items:
                key = (item["question"], asked[item["question"]])
                asked[item["question"]] += 1
                answers.setdefault(row["run_id"], {}).setdefault(key, []).append(item)
        verdicts = {}
        for row in sorted(rows.values(), key=lambda counts: counts["run_id"]):
            yes, no = row["yes"], row["no"]
            questions = [_majority_item(items) for items in answers.get(row["run_id"], {}).values()]
            if questions and answering[row["run_id"]] == row["voters"]:
                score, rule = instance_score(q["correct"] for q in questions), HUMAN_RULE
            else:  # no per-question majority stands for the verdict (export would write it as the answers)
                score, rule, questions = 1 if yes > no else 0 if no > yes else None, SCORES_RULE, []
            verdicts[row["run_id"]] = {
                "kind": row["kind"], "score": score, "errors": sum(q["verdict"] is None for q in questions),
                "details": {"voters": row["voters"], "yes": yes, "no": no, "undecided": row["voters"] - yes - no,
                            "rule": rule, "judge": HUMAN_JUDGE, "questions": questions},
            }
        return verdicts

    def human_verdict(self, run_id: int) -> dict | None:
        """``human_verdicts([run_id])`` for one run; None when nobody judged it."""
        return self.human_verdicts([run_id]).get(run_id)

    # -- votes --------------------------------------------------------------------------------

    def votes(self, track: str | None = None, kind: str | None = None) -> list[dict]:
        """Every vote with its battle (systems, instance, kind), oldest first."""
        where, params = _where(**{"b.track": track, "b.kind": kind})
        return self.query(
            "select v.id as vote_id, v.battle_id, v.created_at, v.voter, v.choice, b.kind, b.track,"
            " b.dataset, b.instance_uid, b.system_a, b.system_b, b.run_a, b.run_b, b.flagged"
            f" from votes v join battles b on b.id = v.battle_id {where} order by v.id",
            params,
        )

    def vote_counts(self, after_id: int = 0) -> list[dict]:
        """Votes with ``id > after_id`` counted per (track, kind, system_a, system_b, choice), leaving out the
        votes of flagged battles (a side's output named its model; see ``flag_battle``).

        Each row: those five, ``n`` (votes) and ``last_id``: the newest vote id this call counted up to
        (the same in every row). Vote ids only grow with commits (one writer at a time), so a caller keeps
        counts current by adding what this returns and asking next for ``after_id=last_id``: one index
        range, not a scan of every vote. Every vote (``after_id=0``) is read from ``vote_tally``, the counts
        the triggers keep (a few rows per system pair, however many votes); newer votes are counted from
        the votes themselves, grouped by the systems first (a cheaper sort than track and kind first).
        """
        with self.read() as db:  # one snapshot: the count and the rows agree
            (last,) = db.execute("select coalesce(max(id), 0) from votes").fetchone()
            if last <= after_id:
                return []
            if after_id <= 0:
                return list(db.query(
                    "select track, kind, system_a, system_b, choice, n, :last as last_id from vote_tally"
                    " where n > 0", {"last": last}))
            return list(db.query(
                "select b.track, b.kind, b.system_a, b.system_b, v.choice, count(*) as n, :last as last_id"
                " from votes v join battles b on b.id = v.battle_id where v.id > :after and v.id <= :last"
                " and b.flagged is null"  # a side named its model before the vote: kept, not rated
                " group by b.system_a, b.system_b, v.choice, b.track, b.kind",
                {"after": after_id, "last": last},
            ))
    # =========================================================================================
    # The statements other modules need, kept here so every SQL statement lives in this file.
    # Each joins the caller's ``write()`` transaction when called inside one (writes nest as savepoints,
    # reads take the same re-entrant lock), so a check and the write it guards stay one transaction.
    # =========================================================================================

    # -- dataset sources ----------------------------------------------------------------------

    def dataset_source(self, dataset: str) -> str | None:
        """Where the instances of ``dataset`` were loaded from (a folder, file or ``bundled``), if noted."""
        return self.meta(_SOURCE_KEY.format(dataset))

    def remember_dataset_source(self, dataset: str, location: str) -> str:
        """Note where ``dataset`` was loaded from, so an export can reload the instances its runs answered.
        The first location noted is kept; returns the one kept."""
        return self.meta(_SOURCE_KEY.format(dataset), lambda: location)

    def note_source_with_runs(self, dataset: str, location: str) -> None:
        """Note where ``dataset`` was loaded from in the transaction of its next new run (``save_trace``),
        not in a write of its own: a request that stores a run commits (and syncs) once, so a failed sync
        fails that run, and nothing is written for a dataset no run is stored under. The first location
        noted is kept, as ``remember_dataset_source`` keeps it."""
        if dataset not in self._sources_noted:
            self._sources_with_runs.setdefault(dataset, location)

    # -- runs: maintenance --------------------------------------------------------------------

    def forget_failed_run(self, run_id: int, failed_status: str = "error") -> bool:
        """Delete the run if its status is ``failed_status`` and nothing refers to it (a judgment, a battle);
        True if it was deleted."""
        with self.write() as db:
            deleted = db.execute(
                "delete from runs where id = ? and status = ?"
                " and not exists (select 1 from judgments where run_id = runs.id)"
                " and not exists (select 1 from battles where run_a = runs.id or run_b = runs.id)",
                (run_id, failed_status))
            return deleted.rowcount == 1

    # -- battles and votes (the arena's rows) -------------------------------------------------

    def insert_battle(self, row: dict) -> None:
        """A new ``battles`` row (``row`` maps column names to values; the delivered runs may be left out).
        A row with this ``id`` already stored (written by a start that raised ``StoreError``) is kept as is."""
        columns = list(row)
        sql = (f"insert into battles ({', '.join(columns)}) values ({', '.join('?' * len(columns))})"
               " on conflict (id) do nothing")
        self._execute(sql, tuple(row[c] for c in columns))

    def delete_unplayed_battle(self, battle_id: str, session_key: str) -> bool:
        """Delete the ``battles`` row ``battle_id`` of ``session_key`` if neither side was delivered and it has no vote (a battle
        that never produced an output); returns whether a row was deleted. Its start then no longer counts
        against its voter's battle limit (``count_battles_since``), and a vote on it finds no battle."""
        cursor = self._execute("delete from battles where id = ?1 and session_key = ?2 and delivered_a_at is null"
                               " and delivered_b_at is null and not exists (select 1 from votes where battle_id = ?1)",
                               (battle_id, session_key))
        return cursor.rowcount == 1

    def battle(self, battle_id: str) -> dict | None:
        """The ``battles`` row with ``voted`` (1 once it has a vote, else 0), or None."""
        rows = self.query("select *, exists (select 1 from votes where battle_id = battles.id) as voted"
                          " from battles where id = ?", (battle_id,))
        return rows[0] if rows else None

    def battle_vote(self, battle_id: str) -> dict | None:
        """The vote cast on a battle (id, voter, choice, created_at), or None."""
        rows = self.query("select id, voter, choice, created_at from votes where battle_id = ?", (battle_id,))
        return rows[0] if rows else None

    def awaits_vote(self, run_id: int) -> bool:
        """Whether run ``run_id`` is what a live battle showed that has no vote yet: an unpinned run on a
        side of an unvoted battle. Explore does not offer such a run from the store (its seed would name
        the side); a pinned run (``eval``'s or imported, published by nature) is never held back."""
        rows = self.query(
            "select 1 from runs r where r.id = ? and r.pinned_at is null and exists ("
            " select 1 from battles b where b.run_a = r.id and not exists (select 1 from votes v where v.battle_id = b.id)"
            " union all"
            " select 1 from battles b where b.run_b = r.id and not exists (select 1 from votes v where v.battle_id = b.id))",
            (run_id,))
        return bool(rows)

    def deliver_battle_side(self, battle_id: str, side: str, run_id: int) -> None:
        """Record that side ``"A"`` or ``"B"`` of the battle was shown as run ``run_id``, now."""
        column = {"A": "a", "B": "b"}[side]
        self._execute(f"update battles set run_{column} = ?, delivered_{column}_at = ? where id = ?",
                      (run_id, now(), battle_id))

    def deliver_battle_side_checked(self, battle_id: str, session_key: str, side: str, run_id: int) -> bool:
        """``deliver_battle_side`` in one statement, only where every check of ``Arena.deliver`` holds: the
        battle is ``session_key``'s, has no vote, this side is unset or already ``run_id``, and run ``run_id``
        is this side's system (``model:mode``, as ``System.__str__`` writes it) on the battle's instance.
        Returns whether the row was written; False writes nothing, and the caller finds out which check
        failed (three statements instead of one, only on that path). The run's model must be non-empty and
        its mode one of ``MODES``, as ``System`` requires: ``model || ':' || mode`` alone would let model
        ``m1`` in mode ``x:direct`` pass for system ``m1:x:direct`` (model ``m1:x``)."""
        cursor = self._execute(_CHECKED_DELIVERY[side], (run_id, now(), battle_id, session_key))
        return cursor.rowcount == 1

    def flag_battle(self, battle_id: str, reason: str) -> None:
        """Mark the battle as identity-revealing (``reason``: what gave it away); the first reason stays."""
        self._execute("update battles set flagged = coalesce(flagged, ?) where id = ?", (reason, battle_id))

    def flagged_votes(self, track: str | None = None, kind: str | None = None) -> int:
        """How many votes were cast on flagged battles (left out of the ratings)."""
        where, params = _where(**{"b.track": track, "b.kind": kind})
        where = f"{where} and b.flagged is not null" if where else "where b.flagged is not null"
        return self.query(f"select count(*) as n from votes v join battles b on b.id = v.battle_id {where}",
                          params)[0]["n"]

    def insert_vote(self, battle_id: str, voter: str, choice: str, *, created_at: str | None = None
                    ) -> tuple[int, str]:
        """Store a vote; returns (vote id, created_at). ``choice``: one of ``arena.CHOICES`` (the caller checks it);
        ``created_at`` (an ISO timestamp, ``now()``'s form): when it was cast, for a vote copied from another
        store (``merge_battle``); now when None.

        Raises:
            sqlite3.IntegrityError: no battle ``battle_id`` is stored, or it already holds a vote (the unique
                index: one vote per battle).
        """
        created_at = created_at or now()
        cursor = self._execute("insert into votes (battle_id, voter, choice, created_at) values (?, ?, ?, ?)",
                               (battle_id, voter, choice, created_at))
        return cursor.lastrowid, created_at

    def battles_with_votes(self, page: int = 1000) -> Iterator[dict]:
        """Every ``battles`` row with its vote as ``vote_voter``, ``vote_choice`` and ``vote_created_at`` (all None
        for a battle without one), in id order (the time it started), read ``page`` rows at a time so a store
        of a million battles is never held whole."""
        after = ""
        while True:
            rows = self.query("select b.*, v.voter as vote_voter, v.choice as vote_choice,"
                              " v.created_at as vote_created_at from battles b left join votes v on v.battle_id = b.id"
                              " where b.id > ? order by b.id limit ?", (after, page))
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1]["id"]

    def merge_battle(self, row: dict, vote: dict | None) -> str:
        """Add another store's battle and vote (``evaluation.merge``; a replica's snapshot before a push) to this
        store, keeping whatever this store holds of it. ``row``: a ``battles`` row whose ``run_a``/``run_b`` are
        already this store's run ids (None: not shown, or its run not held here as shown); ``vote``: its
        ``voter``, ``choice`` and ``created_at`` (kept as cast), or None.

        Returns what was done: ``"new"`` (the battle and its vote were added), ``"vote"`` (a battle held here
        without a vote got this one), ``"same"`` (nothing new, or only a side's delivery or the flag, which this
        store lacked, filled in), ``"unplayed"`` (a battle never shown and never voted: not copied, it holds
        nothing acknowledged and may have been deleted here as unplayed), ``"vote_differs"`` (this store holds
        another vote, voter or choice, on the battle: its own is kept; the one-vote-per-battle rule) or
        ``"battle_differs"`` (this store holds another battle under the id: nothing written).
        """
        held = self.battle(row["id"])
        if held is None and vote is None and row["delivered_a_at"] is None and row["delivered_b_at"] is None:
            return "unplayed"
        if held is not None and any(held[c] != row[c] for c in _BATTLE_IDENTITY):
            return "battle_differs"
        if held is not None:  # most battles of a replica's snapshot are held here already: no write for them
            stored_vote = self.battle_vote(row["id"]) if held["voted"] else None
            unfilled = any(held[f"delivered_{c}_at"] is None and row[f"delivered_{c}_at"] is not None for c in "ab")
            if not unfilled and (held["flagged"] is not None or row["flagged"] is None) and (
                    vote is None or stored_vote is not None):
                if vote is None or (stored_vote["voter"], stored_vote["choice"]) == (vote["voter"], vote["choice"]):
                    return "same"
                return "vote_differs"
        with self.write() as db:
            columns = [c for c in row if c != "voted"]
            db.execute(f"insert into battles ({', '.join(columns)}) values ({', '.join('?' * len(columns))})"
                       " on conflict (id) do nothing", tuple(row[c] for c in columns))
            for c in "ab":  # a side shown after this store's copy was taken; its run is the one shown there,
                # also where a stored battle named its run before showing it (``Arena.new_battle``'s ``runs``)
                db.execute(f"update battles set run_{c} = ?, delivered_{c}_at = ? where id = ?"
                           f" and delivered_{c}_at is null and (run_{c} is null or ? is not null)",
                           (row[f"run_{c}"], row[f"delivered_{c}_at"], row["id"], row[f"delivered_{c}_at"]))
            db.execute("update battles set flagged = coalesce(flagged, ?) where id = ?", (row["flagged"], row["id"]))
            stored = _dicts(db.execute("select voter, choice from votes where battle_id = ?", (row["id"],)))
            if vote is None:
                return "new" if held is None else "same"
            if stored:
                same = (stored[0]["voter"], stored[0]["choice"]) == (vote["voter"], vote["choice"])
                return "same" if same else "vote_differs"
            self.insert_vote(row["id"], vote["voter"], vote["choice"], created_at=vote["created_at"])
            return "new" if held is None else "vote"

    def _execute(self, sql: str, params: tuple) -> sqlite3.Cursor:
        """One statement: directly inside this thread's ``apply``/``write`` (no savepoint of its own), else as
        its own group-committed operation."""
        if self._owner == threading.get_ident():
            return self._conn.execute(sql, params)
        return self.apply(lambda db: db.execute(sql, params))

    def count_votes_since(self, voter_key: str, since: str) -> int:
        """Votes after ``since`` (an ISO timestamp) by ``voter_key`` or any voter id extending it as
        ``voter_key:...`` (ids between ``"key:"`` and ``"key;"`` sort there, so the index serves it)."""
        return self._count_since("votes", voter_key, since)

    def count_battles_since(self, voter_key: str, since: str) -> int:
        """Battles started after ``since`` (an ISO timestamp) by ``voter_key`` or any voter id extending it,
        as ``count_votes_since`` counts votes (the index ``battles_voter_created`` serves it)."""
        return self._count_since("battles", voter_key, since)

    def count_run_starts_since(self, voter_key: str, since: str) -> int:
        """New model runs started after ``since`` (an ISO timestamp) by ``voter_key`` or any voter id extending
        it, as ``count_votes_since`` counts votes (the index ``run_starts_voter_created`` serves it)."""
        return self._count_since("run_starts", voter_key, since)

    def insert_run_starts(self, voter: str, count: int, *, expired_before: str | None = None) -> list[int]:
        """Record ``count`` new model runs started now by ``voter``; returns their row ids (``delete_run_starts``
        takes them). With ``expired_before`` (an ISO timestamp: the start of the run limit's window) every start
        before it is deleted first, by any voter: no limit window counts it any more, so the table holds at
        most the rows of one window, however many addresses came once and never returned (the index
        ``run_starts_created`` finds them)."""
        if expired_before is not None:
            self._execute("delete from run_starts where created_at <= ?", (expired_before,))
        created_at = now()
        return [self._execute("insert into run_starts (voter, created_at) values (?, ?)", (voter, created_at)
                              ).lastrowid for _ in range(count)]

    def run_start_rows(self) -> list[tuple[str, str]]:
        """Every run start held, as (voter, created_at), one per row (one request's starts share a time)."""
        return [(row["voter"], row["created_at"]) for row in self.query("select voter, created_at from run_starts")]

    def merge_run_starts(self, starts: Iterable[tuple[str, str]]) -> int:
        """Add another store's run starts (``run_start_rows``; ``evaluation.merge``) so that this store holds each
        (voter, created_at) as many times as the most either store holds it: a start held in both (a replica
        restored from the other's snapshot) counts once, and merging again adds nothing. A start given back in one
        store (``delete_run_starts``) and not in the other counts: the rate limit errs toward counting. Returns how
        many rows were added. Expired starts come in too; the next start deletes them (``insert_run_starts``)."""
        wanted = Counter(starts)

        def write(db: Database) -> int:
            added = 0
            for (voter, created_at), n in wanted.items():
                (held,), = db.execute("select count(*) from run_starts where voter = ? and created_at = ?",
                                      (voter, created_at))
                for _ in range(n - held):
                    db.execute("insert into run_starts (voter, created_at) values (?, ?)", (voter, created_at))
                added += max(0, n - held)
            return added

        return self.apply(write) if wanted else 0

    def delete_run_starts(self, ids: Iterable[int]) -> None:
        """Delete the run_starts rows ``ids`` (``insert_run_starts``' ids): runs counted that never started."""
        for row_id in ids:
            self._execute("delete from run_starts where id = ?", (row_id,))

    def _count_since(self, table: str, voter_key: str, since: str) -> int:
        rows = self.query(f"select count(*) as n from {table} where {_OF_VOTER_KEY} and created_at > ?",
                          (*_voter_key_args(voter_key), since))
        return rows[0]["n"]

    def votes_version(self) -> tuple[int, int | None]:
        """(number of votes, last vote id): changes whenever a vote is added, so caches can key on it."""
        row = self.query("select count(*) as n, max(id) as last from votes")[0]
        return row["n"], row["last"]

    # -- whole database -----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Rows per table: runs, judgments, battles, votes."""
        return {t: self.query(f"select count(*) as n from {t}")[0]["n"] for t in _COUNTED}

    @staticmethod
    def scrub_meta(db_path: str | Path, keys: tuple[str, ...]) -> None:
        """Remove ``keys`` from the ``meta`` table of a database file that is not open as a store (a
        backup about to leave the machine)."""
        conn = sqlite3.connect(str(db_path))
        try:
            conn.executemany("delete from meta where key = ?", [(k,) for k in keys])
            conn.commit()
        finally:
            conn.close()

    @staticmethod
    def file_counts(db_path: str | Path) -> dict[str, int]:
        """``counts()`` of a database file without opening (and so migrating) it as a store."""
        conn = sqlite3.connect(str(db_path))
        try:
            return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in _COUNTED}
        finally:
            conn.close()


def _majority_item(items: list[dict]) -> dict:
    """One polling question's verdict across voters, shaped like a judge's item: the majority answer
    ("yes"/"no", None on a tie) and whether it matches the expected answer (None when undecided)."""
    said = [i.get("verdict") for i in items if i.get("verdict") in ("yes", "no")]
    verdict = max(("yes", "no"), key=said.count) if said and said.count("yes") != said.count("no") else None
    expected = items[0].get("expected")
    return {"question": items[0]["question"], "expected": expected, "verdict": verdict,
            "correct": None if verdict is None else verdict == expected, "replies": [], "voters": len(items)}


_SOURCE_KEY = "dataset_source:{}"  # meta key: dataset name -> where its instances were loaded from
_COUNTED = ("runs", "judgments", "battles", "votes")
# what makes a battle the one it is (``merge_battle``): another battle under its id differs in one of them
_ARCHIVED = ("replaced_at", "status", "trace", "origin", "judgments", "human_judgments")  # a replaced_runs row


_BATTLE_IDENTITY = ("session_key", "voter", "dataset", "instance_uid", "track", "kind", "system_a", "system_b",
                    "created_at")


_RUN_COLUMNS = ("id, dataset, instance_uid, track, task_type, model, mode, seed, settings_key, status,"
                " seconds, created_at, pinned_at")


def _where(**filters: str | None) -> tuple[str, tuple]:
    """A ``where`` clause over the filters that are set (column names come from code, not input)."""
    used = {column: value for column, value in filters.items() if value is not None}
    if not used:
        return "", ()
    return "where " + " and ".join(f"{column} = ?" for column in used), tuple(used.values())


class _Op:
    """One queued ``Store.apply`` call and, once its batch is done, its outcome."""

    __slots__ = ("operation", "_signal", "value", "error", "done")

    def __init__(self, operation: Callable[[Database], Any]):
        self.operation = operation
        # a lock born held, released to wake the caller: a C-level one-shot signal. threading.Event (a
        # Condition in Python) took about half of the interpreter's time at 32 writer threads.
        self._signal = threading.Lock()
        self._signal.acquire()
        self.value: Any = None
        self.error: BaseException | None = None
        self.done = False

    def wait(self) -> None:
        """Block until ``wake`` (or ``finish``) is called; at most once per wake."""
        self._signal.acquire()

    def wake(self) -> None:
        """Wake the caller waiting in ``wait``. Called at most once between two of its waits: the op is
        either finished, or handed the lead once (its own thread then runs the batch that finishes it)."""
        self._signal.release()

    def finish(self, error: BaseException | None = None) -> None:
        self.error, self.done = error, True
        self.wake()

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


def _dicts(cursor: sqlite3.Cursor) -> list[dict]:
    columns = [c[0] for c in cursor.description or ()]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


def _is_busy(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(error) or "busy" in str(error)


def _retry_busy(statement: Callable[[], T]) -> T:
    """Run ``statement``, retrying with a short jittered backoff while the database is busy (held by
    another process), for up to ``BUSY_SECONDS``. SQLite's own busy handler would sleep instead, up to
    100 ms at a time, which is what made several writer processes collapse."""
    deadline = time.monotonic() + BUSY_SECONDS
    pause = _BACKOFF[0]
    while True:
        try:
            return statement()
        except sqlite3.OperationalError as e:
            if not _is_busy(e) or time.monotonic() > deadline:
                raise
        time.sleep(pause * random.uniform(0.5, 1.5))
        pause = min(pause * 2, _BACKOFF[1])


class _Pointer(NamedTuple):
    """What named a store file (``Store.open``'s ``named_by``, ``source``), for the advice its refusals give."""
    named_by: str
    source: bool

    def point(self, at: str) -> str:
        """``"point --db at <at>"``."""
        return f"point {self.named_by} at {at}"

    def start_empty(self, this: str = "this one") -> str:
        """``", or move this one away (with its -wal file) to start an empty database"``; nothing for a source
        (``merge``). The -wal file goes with it: left behind it holds that database's last commits."""
        return "" if self.source else f", or move {this} away (with its -wal file) to start an empty database"


_DB = _Pointer("--db", False)  # the default: the file --db names


def _open_lock_file(path: Path, pointer: _Pointer = _DB) -> int | None:
    """The fd of ``<db>.lock``, which writing processes ``flock`` in turn; None where locks do not work
    (the busy retry then does the job alone)."""
    if fcntl is None:
        return None
    try:
        fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:  # SQLite could not create its journal there either
        raise StoreError(f"{path}: its folder is read-only ({e.strerror}; SQLite keeps its journal beside the"
                         f" file); make the folder writable, or {pointer.point('a file in a writable folder')}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # probe: some network and FUSE mounts refuse flock
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        os.close(fd)
        return None
    return fd


SQLITE_HEADER = b"SQLite format 3\x00"


def _refuse_foreign(conn: sqlite3.Connection, path: Path, pointer: _Pointer = _DB) -> None:
    """Refuse an SQLite file holding tables but no schema of ours: another program's database, never written to."""
    tables = sorted(name for (name,) in _retry_busy(lambda: conn.execute(
        "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'").fetchall()))
    if tables and migrations.migrations_table not in tables:
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        fresh = "" if pointer.source else ", or at a new file to start an empty one"
        raise StoreError(f"{path}: not a realunify-arena store (it holds other tables: {shown});"
                         f" {pointer.point('the store')}{fresh}")


SIDE_FILES = ("-wal", "-shm", "-journal", ".lock", ".sync")  # SQLite's files beside a database, then ours


def store_file_of(path: Path) -> Path | None:
    """The database ``path`` belongs to: itself if it is an SQLite file, the database beside it if it is one of
    that database's side files (``SIDE_FILES``: ``arena.db-wal`` beside ``arena.db``), else None. Reads a
    header only; a file that cannot be read counts as no database."""
    path = Path(path)
    for suffix in SIDE_FILES:
        if path.name.endswith(suffix) and path.name != suffix and _is_sqlite(path.with_name(path.name[:-len(suffix)])):
            return path.with_name(path.name[:-len(suffix)])
    return path if _is_sqlite(path) else None


# The first bytes of SQLite's logs (sqlite.org/fileformat2.html, 4.1 and 4.3): a write-ahead log's magic number
# (0x377f0682 or 0x377f0683, big-endian) and a rollback journal's header string.
_LOG_HEADERS = ((b"\x37\x7f\x06\x82", "write-ahead log"), (b"\x37\x7f\x06\x83", "write-ahead log"),
                (b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7", "rollback journal"))


def sqlite_log(path: Path) -> str | None:
    """"write-ahead log" or "rollback journal" when ``path`` is a regular file starting with that SQLite log's
    header, whatever it is named and whether or not its database is beside it (one left behind may hold that
    database's last commits), else None; a pipe or device is never opened, an unreadable file counts as none."""
    try:
        if not Path(path).is_file():
            return None
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return None
    return next((kind for magic, kind in _LOG_HEADERS if head.startswith(magic)), None)


def _is_sqlite(path: Path) -> bool:
    """Whether ``path`` is a regular file starting with the SQLite header (a pipe or device is never opened: a
    named pipe would block the read until something writes to it)."""
    try:
        if not path.is_file():
            return False
        if _held_here(path):  # a database; opened and closed by path it would lose this process's locks
            return True
        with open(path, "rb") as f:
            return f.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def _held_here(path: Path) -> bool:
    """Whether an open store of this process holds the file at ``path`` (``_OPEN_HERE``).

    Raises:
        OSError: ``path`` cannot be looked up.
    """
    found = os.stat(path)
    with _OPEN_HERE_LOCK:
        return (found.st_dev, found.st_ino) in _OPEN_HERE


# What ``evaluation.merge`` would add to the attached database ``other`` from ``main``, counted per kind: a run by its
# key (not its id, which each store numbers itself), a battle by its id. A row ``other`` holds otherwise where the merge
# keeps ``other``'s (another vote on a battle, another output under a run key, a judge's or voter's other judgment of
# a run) is nothing new. ``linked``: main's runs the merge copies or finds alike (its ``target_ids``), with ``other``'s
# run of the key (oid; null when none) and whether the merge replaces that failed run by main's successful one.
_KEY_MATCH = " and ".join(f"o.{c} = r.{c}" for c in ("dataset", "instance_uid", "model", "mode", "settings_key"))
_LINKED = ("with linked as (select r.id as id, o.id as oid, coalesce(o.status = 'error' and r.status = 'ok', 0)"
           " as replaced from main.runs r left join other.runs o on " + _KEY_MATCH +
           " where o.id is null or (o.status = 'error' and r.status = 'ok') or o.trace = r.trace"
           " or run_output(o.trace) = run_output(r.trace)) ")
_TAKES_ALL = "(l.oid is null or l.replaced)"  # other holds no run of the key, or its judgments go with its failed run
_SAME_BATTLE = " and ".join(f"ob.{c} is b.{c}" for c in ("session_key", "voter", "dataset", "instance_uid", "track",
                                                          "kind", "system_a", "system_b", "created_at"))
_ARCHIVE_ROWS = ("select {run}, {a}.status, {a}.trace, {a}.origin, {a}.judgments, {a}.human_judgments, row_number()"
                 " over (partition by {a}.run_id, {a}.status, {a}.trace, {a}.origin, {a}.judgments,"
                 " {a}.human_judgments) from {source}")
_NEW_ROWS = {
    "schema": "select count(*) from (select * from (select type, name, sql from main.sqlite_master union all select"
              " migration_set, name, null from main._sqlite_migrations) except select * from (select type, name, sql"
              " from other.sqlite_master union all select migration_set, name, null from other._sqlite_migrations))",
    "runs": _LINKED + "select count(*) from linked l join main.runs r on r.id = l.id left join other.runs o on o.id"
                      " = l.oid where l.oid is null or l.replaced or (r.pinned_at is not null and o.pinned_at is null)",
    "judgments": _LINKED + "select count(*) from main.judgments j join linked l on l.id = j.run_id where j.judge !="
                           f" '{HUMAN_JUDGE}' and ({_TAKES_ALL} or not exists (select 1 from other.judgments oj"
                           " where oj.run_id = l.oid and oj.judge = j.judge))",
    "human judgments": _LINKED + "select count(*) from main.human_judgments h join linked l on l.id = h.run_id where"
                                 f" {_TAKES_ALL} or not exists (select 1 from other.human_judgments oh where"
                                 " oh.run_id = l.oid and oh.voter = h.voter)",
    "run origins": _LINKED + "select count(*) from main.run_origins ro join linked l on l.id = ro.run_id where"
                             f" {_TAKES_ALL} or not exists (select 1 from other.run_origins oo where oo.run_id = l.oid)",
    "replaced runs": _LINKED + "select count(*) from (" + _ARCHIVE_ROWS.format(
        run="l.oid", a="a", source="main.replaced_runs a join linked l on l.id = a.run_id") + " except " +
        _ARCHIVE_ROWS.format(run="a.run_id", a="a", source="other.replaced_runs a") + ")",
    # a battle never shown and never voted is not copied (``Store.merge_battle``: "unplayed"); one held under its id
    # as another battle is not either; one held alike is, where it fills a side shown or the flag
    "battles": "select count(*) from main.battles b where (b.delivered_a_at is not null or b.delivered_b_at is not"
               " null or b.id in (select battle_id from main.votes)) and (not exists (select 1 from other.battles ob"
               f" where ob.id = b.id) or exists (select 1 from other.battles ob where ob.id = b.id and {_SAME_BATTLE}"
               " and ((ob.delivered_a_at is null and b.delivered_a_at is not null) or (ob.delivered_b_at is null and"
               " b.delivered_b_at is not null) or (ob.flagged is null and b.flagged is not null))))",
    # one vote per battle: a battle other holds voted (alike or not), or holds as another battle, takes none
    "votes": "select count(*) from main.votes v join main.battles b on b.id = v.battle_id where not exists (select 1"
             " from other.votes ov where ov.battle_id = v.battle_id) and not exists (select 1 from other.battles ob"
             f" where ob.id = b.id and not ({_SAME_BATTLE}))",
    # the first source noted is kept; merge notes the sources of the datasets main holds runs of
    "dataset sources": "select count(*) from main.meta m where m.key like 'dataset_source:%' and not exists (select 1"
                       " from other.meta om where om.key = m.key) and exists (select 1 from main.runs r where"
                       " 'dataset_source:' || r.dataset = m.key)",
    "run starts": "select count(*) from (select voter, created_at, row_number() over (partition by voter, created_at)"
                  " from main.run_starts except select voter, created_at, row_number() over (partition by voter,"
                  " created_at) from other.run_starts)",  # as many as the most either holds
}


def _loaded_trace(stored: str, secrets: list[str] | None = None) -> Trace:
    """A ``runs.trace`` value (JSON) as ``Store.load_trace`` returns it: its texts with secrets masked (``secrets``:
    ``redaction.secret_values()`` when None)."""
    trace, secrets = Trace.from_dict(json.loads(stored)), secret_values() if secrets is None else secrets
    for step in trace.steps:
        step.prompt = redact(step.prompt, secrets)
        step.text = redact(step.text, secrets)  # None (an image step) stays None
        step.reasoning = redact(step.reasoning, secrets)
    trace.error = redact(trace.error, secrets)
    trace.notes = [redact(note, secrets) for note in trace.notes]
    return trace


def _run_output(trace: str, secrets: list[str]) -> str:
    """``Trace.output`` of a stored trace (JSON) as ``Store.load_trace`` returns it (secrets masked), as JSON: what
    ``evaluation.merge`` compares under one key."""
    return json.dumps(_loaded_trace(trace, secrets).output())


def rows_missing(path: Path, other: Path) -> dict[str, int]:
    """How many rows of each kind ``evaluation.merge`` would add to the database at ``other`` from the one at
    ``path``: runs by key (new, a successful one for a failed one, a pin), their judgments, human judgments,
    origins and archived replaced runs, battles shown or voted (or a side shown, a flag, filled in), votes, dataset
    sources, run starts, and ``schema`` (tables or migrations ``other`` lacks); only the kinds with some, so ``{}``
    when ``other`` holds all of ``path``'s. A row ``other`` holds otherwise, where the merge keeps ``other``'s (another
    vote on a battle, another output under a run key, a judge's other judgment of a run), is not counted: two
    replicas that each keep their own would otherwise each find the other's snapshot lacking it at every push.
    Both files are read as immutable (snapshots, not written while read).

    Raises:
        sqlite3.Error: a file is no database of this schema.
    """
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        secrets = secret_values()
        conn.create_function("run_output", 1, lambda trace: _run_output(trace, secrets), deterministic=True)
        conn.execute("attach database ? as other", (f"{other.resolve().as_uri()}?mode=ro&immutable=1",))
        missing = {}
        for kind, count in _NEW_ROWS.items():
            (n,), = conn.execute(count)
            if n:
                missing[kind] = n
        return missing
    finally:
        conn.close()


def left_behind(path: Path) -> str | None:
    """Where no database is at ``path``: what a write-ahead log or rollback journal beside it (``<path>-wal``,
    ``<path>-journal``, not empty) says, one line, else None. Such a file belongs to a database that was moved or
    deleted without it; SQLite would replay it into a new or restored file at ``path`` (mixing two databases)
    or discard it (losing that database's last commits, which may be acknowledged votes). A ``path`` that is a
    symbolic link is looked beside the file it names, where SQLite keeps its logs."""
    if path.exists():
        return None
    real = Path(os.path.realpath(path))
    for suffix in ("-wal", "-journal"):
        left = Path(f"{real}{suffix}")
        try:
            size = left.stat().st_size
        except OSError:
            continue
        if size:
            kind = "write-ahead log" if suffix == "-wal" else "rollback journal"
            return (f"{left}: a {kind} with no {real.name} beside it (that database was moved or deleted"
                    f" without it, and it may hold the database's last commits); move it beside that database,"
                    f" named as that file + {suffix}, or delete it; nothing was created")
    return None


def _check_file(path: Path, pointer: _Pointer = _DB) -> None:
    """Refuse, before SQLite sees it, a path that is a folder or a file that cannot be a database, or a missing
    file with a journal left beside it (``left_behind``)."""
    if not path.exists():
        problem = left_behind(path)
        if problem:
            raise StoreError(problem)
        return
    if not path.is_file():
        missing = "" if pointer.source else " (it is created if missing)"
        raise StoreError(f"{path}: not a file; {pointer.point('an SQLite file')}{missing}")
    try:
        found = path.stat()
    except OSError as e:
        raise StoreError(f"{path}: cannot be read ({e.strerror}); check its permissions") from None
    if found.st_nlink > 1:  # SQLite names its WAL, index and journal after the name used (howtocorrupt.html, 2.5)
        raise StoreError(f"{path}: the file has {found.st_nlink} names (hard links); SQLite keeps its write-ahead"
                         " log beside the name a database is opened by, so a store opened by another name would"
                         " miss this one's last commits and lose its own; remove the other names (find them with"
                         f" `find <its file system> -samefile {path}`) or {pointer.point('a copy')}")
    try:
        if _held_here(path):  # a store of this process uses it: read by path, it would lose that store's locks
            return
        size = found.st_size
        with open(path, "rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except OSError as e:
        raise StoreError(f"{path}: cannot be read ({e.strerror}); check its permissions") from None
    if size and header != SQLITE_HEADER:
        raise StoreError(f"{path}: not an SQLite database (its first bytes are not the SQLite header);"
                         f" {pointer.point('the right file')}{pointer.start_empty()}")
    if size and size < 512:
        raise StoreError(f"{path}: truncated ({size} bytes, shorter than one database page); restore it"
                         f" from a backup{pointer.start_empty('it')}")
    try:  # SQLite would silently fall back to read-only and fail at the first vote instead
        os.close(os.open(path, os.O_RDWR))
    except OSError as e:
        raise StoreError(f"{path}: read-only ({e.strerror}); make it writable, or"
                         f" {pointer.point('a writable copy')}") from None


def _wal_removed_under(path: Path) -> bool:
    """Whether SQLite's index beside the file ``path`` names (``<db>-shm``, https://www.sqlite.org/walformat.html)
    is there but its write-ahead log is missing or empty: the WAL was removed while a connection, which goes on
    writing to it under no name, had the database open (``walsync.WalSync._sync``)."""
    real = os.path.realpath(path)
    try:
        if not os.stat(f"{real}-shm").st_size:
            return False
    except OSError:
        return False
    try:
        return not os.stat(f"{real}-wal").st_size
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _explain(path: Path, error: Exception, pointer: _Pointer = _DB) -> str:
    """One line for a database SQLite could not use: what, which file, what to do."""
    if isinstance(error, StoreError):
        return str(error)
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:  # e.g. the counters in <db>.lock (``walsync``)
        return (f"{path}: its disk is full ({error.strerror}); free space on that disk and try again (the store"
                " needs room beside the file even to read it)")
    if isinstance(error, OSError):
        # mkdir's "File exists" / open's "Not a directory" when a folder on the way is a file
        blocker = next((p for p in reversed(path.parents) if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            return (f"{path}: cannot be created: {blocker} is a file, not a folder; "
                    f"{pointer.point('a path in a folder')}")
        return f"{path}: cannot be created or opened ({error.strerror or error}); check its folder and permissions"
    code = (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF
    text = str(error)
    if code == sqlite3.SQLITE_READONLY or "readonly" in text or "read-only" in text:
        return (f"{path}: read-only ({text}); make the file and its folder writable, or"
                f" {pointer.point('a writable copy')}")
    if code == sqlite3.SQLITE_CANTOPEN:
        return f"{path}: cannot be opened ({text}); check that its folder exists and is writable"
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or "malformed" in text \
            or "integrity check" in text or "not a database" in text:
        return (f"{path}: damaged or truncated ({text}); restore it from a backup (`backup`, or the"
                f" dataset repo's snapshot){pointer.start_empty('it')}")
    if getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_IOERR_SHORT_READ and _wal_removed_under(path):
        return (f"{path}: its write-ahead log was removed while another process had the database open (SQLite's"
                " index beside it names commits that no write-ahead log there holds); restart the app or command"
                " that has it open, whose next start copies those commits into the database, then try again;"
                " delete no file beside it")
    no_room_for_shm = getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_IOERR_SHMSIZE
    if code == sqlite3.SQLITE_FULL or no_room_for_shm:
        return (f"{path}: its disk is full ({text}); free space on that disk and try again (SQLite needs room"
                " beside the file even to read it: 32 KiB for its shared-memory file)")
    if _is_busy(error):
        return (f"{path}: locked by another process for over {BUSY_SECONDS:g} s ({text}); stop the other"
                " writer or try again")
    return (f"{path}: cannot be used ({type(error).__name__}: {text}); restore it from a backup or"
            f" {pointer.point('another file')}")
