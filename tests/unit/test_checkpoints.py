"""Checkpoints of the WAL run only where ``Store`` runs them: after an acknowledged sync, under WalSync's sync lock,
their result checked. SQLite's automatic checkpoint (at COMMIT, past 1000 pages) syncs the WAL on SQLite's own
descriptor and ignores a failure, which Linux then reports to no later descriptor: WalSync's next sync
succeeded, and writes whose WAL frames never reached the disk were acknowledged.

Real SQLite files throughout. A checkpoint's I/O error is a real one: SQLite's write into the database file
fails because the process may not grow a file past ``RLIMIT_FSIZE`` (EFBIG, reported as SQLITE_IOERR_WRITE).
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from failing_sync import files_may_not_grow_past, lost_range

from realunify_arena import store as store_module
from realunify_arena import walsync
from realunify_arena.commands._options import store_at
from realunify_arena.store import CHECKPOINT_BYTES, Store, StoreError

BIG = CHECKPOINT_BYTES + 2**20  # one value that takes the WAL past the checkpoint size (the reviewer's 5 MB)


@pytest.fixture(params=["Store.open", "the CLI's store_at"])
def opened(request, tmp_path):
    """A store as the app opens it, and as every CLI command (import, merge, eval, ...) opens it."""
    path = tmp_path / "arena.db"
    if request.param == "Store.open":
        s = Store.open(path)
        yield s
        s.close()
    else:
        with store_at(path, create=True) as s:
            yield s


def wal(store: Store) -> Path:
    return Path(f"{store.path}-wal")


def test_a_big_commit_is_checkpointed_by_the_store_after_its_sync_never_by_sqlite_at_commit(opened, monkeypatch):
    events = []
    real_sync, real_committed = walsync._sync_file, walsync.WalSync.committed
    real_checkpoint = walsync.WalSync.checkpoint

    def sync(fd):
        real_sync(fd)
        events.append("sync")

    def committed(self):  # right after COMMIT returned, under the write lock
        events.append(("commit", opened.path.stat().st_size))
        return real_committed(self)

    def checkpoint(self, run):
        events.append("checkpoint")
        return real_checkpoint(self, run)

    monkeypatch.setattr(walsync, "_sync_file", sync)
    monkeypatch.setattr(walsync.WalSync, "committed", committed)
    monkeypatch.setattr(walsync.WalSync, "checkpoint", checkpoint)
    before = opened.path.stat().st_size
    opened.meta("big", lambda: "x" * BIG)
    assert events[0] == ("commit", before), f"SQLite copied the WAL into the database file inside COMMIT: {events}"
    assert events[1:] == ["sync", "checkpoint"], events
    assert opened.path.stat().st_size > BIG  # copied into the database file
    for conn in (opened.db.conn, opened._reader):
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0


@pytest.fixture
def no_room_for_the_checkpoint(monkeypatch):
    """The store's next checkpoint runs while no file may grow past 1 MB: SQLite's write into the database file
    fails. Files are free again as soon as it returns."""
    real = walsync.WalSync.checkpoint
    calls = []

    def checkpoint(self, run):
        calls.append(run)
        if len(calls) > 1:
            return real(self, run)
        with files_may_not_grow_past(2**20):
            return real(self, run)

    monkeypatch.setattr(walsync.WalSync, "checkpoint", checkpoint)
    return calls


def only_the_database_file(path: Path, out: Path) -> sqlite3.Connection:
    """The database file without its WAL, opened by SQLite: what a checkpoint has put there."""
    out.write_bytes(path.read_bytes())
    return sqlite3.connect(out)


def test_a_checkpoint_that_fails_refuses_what_it_may_have_lost_until_the_next_write_heals(
        store, no_room_for_the_checkpoint, caplog, tmp_path):
    store.remember_dataset_source("a", "before")
    with caplog.at_level(logging.WARNING, logger=store_module.__name__):
        assert store.meta("big", lambda: "x" * BIG) == "x" * BIG  # synced, then acknowledged: safe
    assert len(no_room_for_the_checkpoint) == 1, "the store did not checkpoint the big WAL"
    assert "the checkpoint of the write-ahead log failed" in caplog.text
    assert store._wal_sync.lost(), "a failed checkpoint left no lost range: a later sync would acknowledge"
    store.remember_dataset_source("b", "after")  # healed first: a checkpoint that worked, then acknowledged
    assert len(no_room_for_the_checkpoint) == 2 and not store._wal_sync.lost()
    db = only_the_database_file(store.path, tmp_path / "alone.db")  # the healing checkpoint put it all there
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert db.execute("select length(value) from meta where key = 'big'").fetchone()[0] == BIG
    assert db.execute("select value from meta where key = 'dataset_source:a'").fetchone()[0] == "before"
    db.close()


def test_the_wal_stops_growing_where_the_store_waits_for_readers(store, monkeypatch):
    """A reader holding an old snapshot keeps any checkpoint from emptying the WAL. Below
    ``CHECKPOINT_WAIT_BYTES`` the store tries once and lets writes go on; past it, the write that crossed it
    waits for the readers (up to ``BUSY_SECONDS``) and empties the WAL."""
    monkeypatch.setattr(store_module, "CHECKPOINT_WAIT_BYTES", 3 * BIG)
    holding, let_go = threading.Event(), threading.Event()

    def read_on():  # another process's reader: its snapshot predates every write below
        reader = sqlite3.connect(store.path, isolation_level=None)
        reader.execute("begin")
        reader.execute("select count(*) from meta").fetchone()
        holding.set()
        let_go.wait(30)
        reader.execute("commit")
        reader.close()

    thread = threading.Thread(target=read_on)
    thread.start()
    try:
        assert holding.wait(10)
        store.meta("one", lambda: "1" * BIG)
        store.meta("two", lambda: "2" * BIG)
        assert wal(store).stat().st_size > 2 * BIG, "the WAL was emptied although a reader held a snapshot"
        threading.Timer(0.5, let_go.set).start()  # the reader finishes while the next write waits for it
        store.meta("three", lambda: "3" * BIG)
        assert wal(store).stat().st_size == 0, f"the WAL kept growing past {3 * BIG} bytes"
    finally:
        let_go.set()
        thread.join(30)


def test_a_checkpoint_at_close_that_fails_is_recorded_and_healed_by_the_next_store(tmp_path):
    """SQLite checkpoints when the last connection closes and ignores a failure there."""
    path = tmp_path / "arena.db"
    store = Store.open(path)
    store.meta("mid", lambda: "m" * 2**20)  # acknowledged; the WAL stays below the checkpoint size
    with files_may_not_grow_past(path.stat().st_size):  # the checkpoint must grow the database file
        store.close()
    assert lost_range(path) != (0, 0), "a checkpoint at close failed and nothing recorded it"
    store = Store.open(path)  # its first write (the schema's) heals before it is acknowledged
    store.close()
    assert lost_range(path) == (0, 0)
    db = only_the_database_file(path, tmp_path / "alone.db")
    assert db.execute("select length(value) from meta where key = 'mid'").fetchone()[0] == 2**20
    db.close()


def test_a_store_that_could_not_leave_wal_mode_acknowledges_nothing_until_a_checkpoint_works(tmp_path):
    """``journal_mode="delete"`` on a database left in WAL mode (a crash) checkpoints while switching; if that
    fails, SQLite stays in WAL mode and the store carries on with WalSync, after a failure it did not see."""
    path, crashed = tmp_path / "arena.db", tmp_path / "crashed" / "arena.db"
    Store.open(path).close()  # the schema in the database file
    store = Store.open(path)
    store.meta("mid", lambda: "m" * 2**20)
    crashed.parent.mkdir()
    for suffix in ("", "-wal"):  # the files as a crash leaves them: the WAL not checkpointed
        shutil.copy(f"{path}{suffix}", f"{crashed}{suffix}")
    store.close()
    refused = pytest.raises(StoreError, match="checkpoint of the write-ahead log failed")
    with files_may_not_grow_past(crashed.stat().st_size), refused:
        Store.open(crashed, journal_mode="delete")  # its first write is refused: the healing checkpoint fails
    store = Store.open(crashed, journal_mode="delete")
    try:
        assert store.db.execute("pragma journal_mode").fetchone()[0] == "delete"
        assert store.meta("mid") == "m" * 2**20
    finally:
        store.close()


@pytest.mark.parametrize("writers", [1, 2], ids=["a new row", "and a write finding it stored"])
def test_a_write_whose_sync_has_not_run_when_the_store_closes_is_not_acknowledged(store, monkeypatch, writers):
    """``close`` while a write has committed (its row in the WAL) but not yet waited for its sync (the app
    shutting down with requests in flight); with ``writers=2`` a second write of the same key has found that
    row stored and waits for its sync too. Another process's reader holds a snapshot, so the checkpoint at close
    cannot copy the WAL into the database file: only a sync of the WAL makes the row durable. Each write must be
    answered "not saved, try again", never acknowledged unsynced; and ``close`` must not wait for them."""
    reader = sqlite3.connect(store.path, isolation_level=None)  # another process's long read
    reader.execute("begin")
    reader.execute("select count(*) from meta").fetchone()
    real_sync, real_make_durable, real_durable_found = walsync._sync_file, Store._make_durable, Store.durable_found
    syncs, arrived, go = [], threading.Semaphore(0), threading.Event()

    def gated(real):
        def before_the_sync(self, *args):  # the write locks are let go; the sync has not started
            arrived.release()
            go.wait(30)
            return real(self, *args)
        return before_the_sync

    monkeypatch.setattr(Store, "_make_durable", gated(real_make_durable))
    monkeypatch.setattr(Store, "durable_found", gated(real_durable_found))
    monkeypatch.setattr(walsync, "_sync_file", lambda fd: (syncs.append(fd), real_sync(fd)))
    outcomes = []

    def write_it(value):
        try:
            outcomes.append(store.meta("key", lambda: value))
        except StoreError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=write_it, args=(f"value {i}",)) for i in range(writers)]
    try:
        for thread in threads:
            thread.start()
            assert arrived.acquire(timeout=10)
        closing = threading.Thread(target=store.close)
        closing.start()
        closing.join(10)
        assert not closing.is_alive(), "close() deadlocked with writes waiting for their sync"
    finally:
        go.set()
        for thread in threads:
            thread.join(10)
        reader.close()
    assert len(outcomes) == writers
    acknowledged = [o for o in outcomes if not isinstance(o, StoreError)]
    assert not acknowledged or syncs, f"acknowledged {acknowledged} with no sync of the WAL after the commit"
    for outcome in outcomes:
        assert "nothing was acknowledged, try again" in str(outcome), outcome


def test_a_store_synchronous_normal_still_checkpoints_its_wal(tmp_path):
    """``synchronous="normal"`` leaves syncs and checkpoints to SQLite (no WalSync): its automatic checkpoint
    must stay on there, or nothing ever copies the WAL back and it grows with every write."""
    store = Store.open(tmp_path / "arena.db", synchronous="normal")
    try:
        for key in "abc":
            store.meta(key, lambda: key * BIG)
        size = Path(f"{store.path}-wal").stat().st_size
        assert size < 2 * BIG, f"the WAL holds {size} bytes after 3 writes of {BIG}: never checkpointed"
        assert store.path.stat().st_size > 3 * BIG
    finally:
        store.close()


def test_close_waits_for_a_read_block_that_writes_instead_of_deadlocking(tmp_path):
    """A thread inside ``read()`` (holding the read lock) that then writes needs the write lock; ``close`` took
    the write lock first and then waited for the read lock: each waited for the other for ever."""
    store = Store.open(tmp_path / "arena.db")  # not the fixture: its closing would wait on a deadlock too
    inside, started, results = threading.Event(), threading.Event(), {}

    def read_then_write():
        with store.read() as db:
            inside.set()
            started.wait(10)
            closing.join(0.5)  # close() has started and waits for this block
            results["read"] = db.execute("select count(*) from meta").fetchone()[0]
            results["written"] = store.meta("written inside", lambda: "yes")

    closing = threading.Thread(target=lambda: (started.set(), store.close()), daemon=True)  # daemons: a deadlock
    thread = threading.Thread(target=read_then_write, daemon=True)  # fails the test instead of hanging pytest
    thread.start()
    assert inside.wait(10)
    closing.start()
    closing.join(10)
    thread.join(10)
    assert not closing.is_alive() and not thread.is_alive(), "close() and a read block that writes deadlocked"
    assert results["written"] == "yes"
    reopened = Store.open(store.path)
    try:
        assert reopened.meta("written inside") == "yes"
    finally:
        reopened.close()
