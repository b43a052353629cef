"""Everything the project produces, in one SQLite file plus a folder of content-addressed images.

Runs (traces), judgments, battles and votes share one database so a vote can point at the runs it
compared. The schema is built by sqlite-utils migrations, so an old database is upgraded in place.

Concurrency: Gradio handlers run on worker threads and the vote bench runs several processes, so every
write takes SQLite's write lock up front (``BEGIN IMMEDIATE``, which lets the busy timeout apply instead
of failing on a stale WAL snapshot) while holding a per-store lock that serialises this process's threads
on the one shared connection. A write returns only after its COMMIT has been synced to disk (by
default), so what a caller acknowledges is kept.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from PIL import Image
from sqlite_utils import Database, Migrations

from realunify_arena.benchmark.images import png_bytes
from realunify_arena.trace import Trace

migrations = Migrations("realunify_arena")

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
JOURNAL_MODES = ("wal", "delete")
SYNCHRONOUS = ("full", "normal")


class NotFound(LookupError):
    """A run, image or battle that the store does not hold."""


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


def now() -> str:
    """UTC timestamp with microseconds; sorts as text."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def settings_key(settings: dict) -> str:
    """The stable text form of a settings dict, so equal settings find the same run."""
    return json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)


def split_uid(instance_uid: str) -> tuple[str, str]:
    """``UEG_12_world_knowledge`` -> ("UEG", "world_knowledge")."""
    parts = instance_uid.split("_", 2)
    if len(parts) != 3 or parts[0] not in ("UEG", "GEU") or not parts[1].lstrip("-").isdigit():
        raise ValueError(f"instance_uid {instance_uid!r}: expected '<UEG|GEU>_<index>_<task_type>'")
    return parts[0], parts[2]


class Store:
    """One database file and the ``images/`` folder beside it."""

    def __init__(self, db: Database, path: Path):
        self.db = db
        self.path = path
        self.images_dir = path.parent / "images"
        self._lock = threading.RLock()

    @classmethod
    def open(cls, db_path: str | Path, *, journal_mode: str = "wal", synchronous: str = "full") -> Store:
        """Create or upgrade the database.

        ``synchronous="full"`` syncs every commit to disk, so an acknowledged vote survives a power cut,
        not only a crash of the app; "normal" is several times faster and may lose the last commits
        on power loss. Use ``journal_mode="delete"`` on network or FUSE mounts, where WAL's shared
        memory does not work.
        """
        if journal_mode not in JOURNAL_MODES or synchronous not in SYNCHRONOUS:
            raise ValueError(f"journal_mode {journal_mode!r} / synchronous {synchronous!r}: expected one"
                             f" of {JOURNAL_MODES} / {SYNCHRONOUS}")
        path = Path(db_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        db = Database(conn)
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=30000")
        with db.ensure_autocommit_on():
            db.execute(f"PRAGMA journal_mode={journal_mode}")
            db.execute(f"PRAGMA synchronous={synchronous}")
        store = cls(db, path)
        with store.write():
            migrations.apply(db)
        return store

    def close(self) -> None:
        with self._lock:
            self.db.close()

    # -- transactions -------------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[Database]:
        """One write transaction, committed when the block ends and rolled back if it raises.
        Inside another ``write`` of the same thread it becomes a savepoint of that transaction."""
        with self._lock:
            if self.db.conn.in_transaction:  # only this thread can have opened it: it holds the lock
                with self.db.atomic():
                    yield self.db
                return
            self.db.conn.execute("BEGIN IMMEDIATE")
            try:
                with self.db.atomic():  # nests as a savepoint; library calls inside join it
                    yield self.db
                self.db.conn.execute("COMMIT")
            except BaseException:
                self.db.rollback()
                raise

    @contextlib.contextmanager
    def read(self) -> Iterator[Database]:
        """Exclusive use of the shared connection for a consistent set of reads."""
        with self._lock:
            yield self.db

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict]:
        with self._lock:
            return list(self.db.query(sql, params))

    def backup(self, out_path: str | Path) -> Path:
        """A consistent copy of the database (taken while others may be writing); images not included."""
        out = Path(out_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".partial")
        tmp.unlink(missing_ok=True)
        target = sqlite3.connect(str(tmp))
        try:
            with self._lock:
                self.db.conn.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
        os.replace(tmp, out)
        return out

    # -- meta ---------------------------------------------------------------------------------

    def meta(self, key: str, default_factory: Callable[[], str] | None = None) -> str | None:
        """Read a setting kept in the database; if absent and a factory is given, store its value."""
        rows = self.query("select value from meta where key = ?", (key,))
        if rows or default_factory is None:
            return rows[0]["value"] if rows else None
        with self.write() as db:
            db.execute("insert or ignore into meta (key, value) values (?, ?)", (key, default_factory()))
            return db.execute("select value from meta where key = ?", (key,)).fetchone()[0]

    # -- images -------------------------------------------------------------------------------

    def image_path(self, sha: str) -> Path:
        if not isinstance(sha, str) or not _SHA256.match(sha):
            raise ValueError(f"image id {sha!r}: expected 64 lowercase hex characters (a sha256)")
        return self.images_dir / sha[:2] / f"{sha}.png"

    def put_image(self, img: Image.Image) -> str:
        """Store the image as PNG named by the sha256 of its bytes; storing it again is a no-op."""
        data = png_bytes(img)
        sha = hashlib.sha256(data).hexdigest()
        path = self.image_path(sha)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".partial")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)  # readers never see a half-written file
        return sha

    def get_image(self, sha: str) -> Image.Image:
        path = self.image_path(sha)
        if not path.exists():
            raise NotFound(f"image {sha} is not in {self.images_dir}")
        with Image.open(path) as img:
            img.load()
            return img

    # -- runs ---------------------------------------------------------------------------------

    def save_trace(self, trace: Trace, dataset: str) -> int:
        """Store the trace and its images; a run with the same key already stored is kept as is."""
        existing = self.find_run(dataset, trace.instance_uid, trace.model, trace.mode, trace.settings)
        if existing is not None:
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
            "trace": json.dumps(trace.to_dict()),
        }
        with self.write() as db:
            db.table("runs").insert(row, ignore=True)  # a concurrent save of the same key wins
            return db.execute(
                "select id from runs where dataset = ? and instance_uid = ? and model = ? and mode = ?"
                " and settings_key = ?",
                (dataset, trace.instance_uid, trace.model, trace.mode, row["settings_key"]),
            ).fetchone()[0]

    def find_run(self, dataset: str, instance_uid: str, model: str, mode: str,
                 settings: dict) -> int | None:
        rows = self.query(
            "select id from runs where dataset = ? and instance_uid = ? and model = ? and mode = ?"
            " and settings_key = ?",
            (dataset, instance_uid, model, mode, settings_key(settings)),
        )
        return rows[0]["id"] if rows else None

    def load_trace(self, run_id: int) -> Trace:
        rows = self.query("select trace from runs where id = ?", (run_id,))
        if not rows:
            raise NotFound(f"run {run_id} is not in {self.path}")
        return Trace.from_dict(json.loads(rows[0]["trace"]))

    def run(self, run_id: int) -> dict:
        """One run's indexed columns."""
        rows = self.query(f"select {_RUN_COLUMNS} from runs where id = ?", (run_id,))
        if not rows:
            raise NotFound(f"run {run_id} is not in {self.path}")
        return rows[0]

    def runs(self, dataset: str | None = None, model: str | None = None, mode: str | None = None,
             track: str | None = None, status: str | None = None) -> list[dict]:
        """Indexed columns of matching runs (the trace itself via ``load_trace``), oldest first."""
        where, params = _where(dataset=dataset, model=model, mode=mode, track=track, status=status)
        return self.query(f"select {_RUN_COLUMNS} from runs {where} order by id", params)

    # -- judgments ----------------------------------------------------------------------------

    def save_judgment(self, run_id: int, judge: str, judgment: dict) -> int:
        """Store ``Judgment.to_dict()``; a later judgment by the same judge replaces the earlier one."""
        missing = {"kind", "score", "details", "errors"} - judgment.keys()
        if missing:
            raise ValueError(f"judgment for run {run_id} by {judge!r}: missing {sorted(missing)}")
        with self.write() as db:
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

    def find_judgment(self, run_id: int, judge: str) -> dict | None:
        rows = self.query("select kind, score, details, errors from judgments"
                          " where run_id = ? and judge = ?", (run_id, judge))
        if not rows:
            return None
        return {**rows[0], "details": json.loads(rows[0]["details"])}

    def judgments(self, judge: str | None = None) -> list[dict]:
        """Judgments with their run's dataset, instance, model, mode, track and task type."""
        where, params = _where(**{"j.judge": judge})
        rows = self.query(
            "select j.id, j.run_id, j.judge, j.kind, j.score, j.details, j.errors, j.created_at,"
            " r.dataset, r.instance_uid, r.model, r.mode, r.track, r.task_type"
            f" from judgments j join runs r on r.id = j.run_id {where} order by j.id",
            params,
        )
        return [{**row, "details": json.loads(row["details"])} for row in rows]

    # -- votes --------------------------------------------------------------------------------

    def votes(self, track: str | None = None, kind: str | None = None) -> list[dict]:
        """Every vote with its battle (systems, instance, kind), oldest first."""
        where, params = _where(**{"b.track": track, "b.kind": kind})
        return self.query(
            "select v.id as vote_id, v.battle_id, v.created_at, v.voter, v.choice, b.kind, b.track,"
            " b.dataset, b.instance_uid, b.system_a, b.system_b, b.run_a, b.run_b"
            f" from votes v join battles b on b.id = v.battle_id {where} order by v.id",
            params,
        )

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
        """A new ``battles`` row (every column of the table but the delivered runs)."""
        with self.write() as db:
            db.table("battles").insert(row)

    def battle(self, battle_id: str) -> dict | None:
        """The ``battles`` row, or None."""
        rows = self.query("select * from battles where id = ?", (battle_id,))
        return rows[0] if rows else None

    def battle_vote(self, battle_id: str) -> dict | None:
        """The vote cast on a battle (id, choice, created_at), or None."""
        rows = self.query("select id, choice, created_at from votes where battle_id = ?", (battle_id,))
        return rows[0] if rows else None

    def deliver_battle_side(self, battle_id: str, side: str, run_id: int) -> None:
        """Record that side ``"A"`` or ``"B"`` of the battle was shown as run ``run_id``, now."""
        column = {"A": "a", "B": "b"}[side]
        with self.write() as db:
            db.execute(f"update battles set run_{column} = ?, delivered_{column}_at = ? where id = ?",
                       (run_id, now(), battle_id))

    def insert_vote(self, battle_id: str, voter: str, choice: str) -> tuple[int, str]:
        """Store a vote; returns (vote id, created_at). The unique index refuses a second vote on a battle."""
        created_at = now()
        with self.write() as db:
            cursor = db.execute("insert into votes (battle_id, voter, choice, created_at) values (?, ?, ?, ?)",
                                (battle_id, voter, choice, created_at))
            return cursor.lastrowid, created_at

    def count_votes_since(self, voter_key: str, since: str) -> int:
        """Votes after ``since`` (an ISO timestamp) by ``voter_key`` or any voter id extending it as
        ``voter_key:...`` (ids between ``"key:"`` and ``"key;"`` sort there, so the index serves it)."""
        rows = self.query("select count(*) as n from votes where (voter = ? or (voter > ? and voter < ?))"
                          " and created_at > ?", (voter_key, voter_key + ":", voter_key + ";", since))
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


_SOURCE_KEY = "dataset_source:{}"  # meta key: dataset name -> where its instances were loaded from
_COUNTED = ("runs", "judgments", "battles", "votes")


_RUN_COLUMNS = ("id, dataset, instance_uid, track, task_type, model, mode, seed, settings_key, status,"
                " seconds, created_at")


def _where(**filters: str | None) -> tuple[str, tuple]:
    """A ``where`` clause over the filters that are set (column names come from code, not input)."""
    used = {column: value for column, value in filters.items() if value is not None}
    if not used:
        return "", ()
    return "where " + " and ".join(f"{column} = ?" for column in used), tuple(used.values())
