"""A write answered with ``StoreError`` because the WAL sync after its COMMIT failed can be retried: the retry
stores exactly one copy and is acknowledged only once that copy is on disk.

The sync failure is injected around the real ``fdatasync`` (``walsync._sync_file``). What a power cut would
leave is modelled from the files themselves: the database file, plus the WAL cut where the frames the failed
sync covered begin (their pages never reached the disk), unless the WAL was emptied and restarted since
(a new salt in its header). SQLite's own recovery then decides what survived.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from realunify_arena import walsync
from realunify_arena.store import Store, StoreError
from realunify_arena.trace import Trace

UID = "UEG_3_world_knowledge"
SYSTEMS = ("m1:direct", "m2:direct")


class FailingSync:
    """Wraps the real WAL sync: ``fail_next()`` makes the next one raise EIO and notes the WAL bytes it
    covered (from the end of the last good sync to the end of the file) and the WAL's salt then."""

    def __init__(self, real, synced_to: int):
        self.real, self.failing, self.synced_to, self.lost = real, False, synced_to, None

    def __call__(self, fd: int) -> None:
        size = os.fstat(fd).st_size
        if self.failing:
            self.failing = False
            self.lost = (self.synced_to, os.pread(fd, 8, 16))  # WAL header bytes 16-23: the salts
            raise OSError(5, "Input/output error")
        self.real(fd)
        self.synced_to = size

    def fail_next(self) -> None:
        self.failing = True


@pytest.fixture
def sync(store, monkeypatch):
    """The spy on ``store``'s WAL syncs; everything written so far was acknowledged, so synced."""
    wal = Path(f"{store.path}-wal")
    spy = FailingSync(walsync._sync_file, wal.stat().st_size if wal.exists() else 0)
    monkeypatch.setattr(walsync, "_sync_file", spy)
    return spy


def after_power_cut(path: Path, sync: FailingSync, out: Path) -> sqlite3.Connection:
    """A copy of the database as a power cut would leave it (module docstring), opened by SQLite."""
    out.mkdir()
    shutil.copy(path, out / path.name)
    wal = Path(f"{path}-wal")
    if wal.exists():
        data = wal.read_bytes()
        if sync.lost is not None and data[16:24] == sync.lost[1]:  # the same WAL: cut at the lost frames
            data = data[:sync.lost[0]]
        Path(f"{out / path.name}-wal").write_bytes(data)
    return sqlite3.connect(out / path.name)


def test_a_write_acknowledged_after_a_failed_sync_survives_the_loss_of_the_failed_frames(store, sync, tmp_path):
    """WAL frames carry chained checksums: recovery stops at the first missing one. A later commit, synced
    and acknowledged, used to sit behind the lost frames and vanish with them."""
    store.remember_dataset_source("a", "before")
    sync.fail_next()
    with pytest.raises(StoreError, match="could not sync the write-ahead log.*try again"):
        store.remember_dataset_source("b", "failed")
    store.remember_dataset_source("c", "after")  # acknowledged
    db = after_power_cut(store.path, sync, tmp_path / "cut")
    kept = dict(db.execute("select key, value from meta where key like 'dataset_source:%'"))
    assert kept.get("dataset_source:c") == "after", f"an acknowledged write was lost: {kept}"
    assert kept["dataset_source:a"] == "before"


def test_a_run_whose_sync_failed_is_found_by_its_retry_and_answered_once_on_disk(store, sync, tmp_path):
    """The retry finds the run and writes nothing: it used to return the id of a run that was not on disk."""
    trace = Trace(UID, "m1", "direct", {"seed": 7})
    sync.fail_next()
    with pytest.raises(StoreError):
        store.save_trace(trace, "bundled")
    run_id = store.save_trace(trace, "bundled")
    assert store.counts()["runs"] == 1
    db = after_power_cut(store.path, sync, tmp_path / "cut")
    assert db.execute("select id, model from runs").fetchall() == [(run_id, "m1")]