"""``walsync``: in WAL mode a write is acknowledged only after a sync of the WAL that began after its
COMMIT, and one sync serves the commits of every thread and process written before it began.

The syncs are real (``fdatasync`` of the WAL); a spy around them counts them or holds one back.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from realunify_arena import walsync
from realunify_arena.store import Store, StoreError, _open_lock_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def syncs(monkeypatch):
    """Every WAL sync of this process, in order; set ``hold`` to make the next syncs wait for it."""
    real = walsync._sync_file
    record = {"count": 0, "hold": None}

    def spy(fd):
        if record["hold"] is not None:
            record["hold"].wait(30)
        real(fd)
        record["count"] += 1

    monkeypatch.setattr(walsync, "_sync_file", spy)
    return record


def test_a_write_is_committed_before_the_sync_and_acknowledged_only_after_it(tmp_path, syncs):
    store = Store.open(tmp_path / "arena.db")
    other = Store.open(tmp_path / "arena.db")
    try:
        assert store.db.execute("pragma synchronous").fetchone()[0] == 1  # NORMAL: COMMIT leaves the sync to us
        syncs["hold"], syncs["count"] = threading.Event(), 0
        done = threading.Event()
        writer = threading.Thread(target=lambda: (store.remember_dataset_source("d", "held"), done.set()))
        writer.start()
        for _ in range(100):  # a fresh connection sees the commit while its sync is held...
            if other.dataset_source("d") == "held":
                break
            done.wait(0.05)
        assert other.dataset_source("d") == "held"
        assert not done.wait(0.3)  # ...but the writer has not been told
        syncs["hold"].set()
        writer.join(10)
        assert done.is_set() and syncs["count"] == 1
    finally:
        syncs["hold"].set()
        other.close()
        store.close()


def test_journal_mode_delete_leaves_the_sync_to_sqlite(tmp_path, syncs):
    store = Store.open(tmp_path / "arena.db", journal_mode="delete")
    try:
        assert store.db.execute("pragma synchronous").fetchone()[0] == 2  # FULL: COMMIT syncs
        store.remember_dataset_source("d", "x")
        assert syncs["count"] == 0
    finally:
        store.close()


OTHER_PROCESS = r'''
import sys
from realunify_arena.store import _open_lock_file
from realunify_arena.walsync import WalSync
from pathlib import Path
path = Path(sys.argv[1])
sync = WalSync(path, _open_lock_file(path))
print(sync.committed())
'''


def test_one_sync_covers_the_commits_another_process_counted_before_it(tmp_path, syncs):
    path = tmp_path / "arena.db"
    Store.open(path).close()
    (tmp_path / "arena.db-wal").write_bytes(b"")  # a WAL to sync
    here = walsync.WalSync(path, _open_lock_file(path))
    syncs["count"] = 0
    mine = here.committed()
    theirs = int(subprocess.run([sys.executable, "-c", OTHER_PROCESS, str(path)], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout)
    assert theirs == mine + 1  # one counter for every process on the file
    here.make_durable(theirs)
    assert syncs["count"] == 1
    here.make_durable(mine)  # covered by that sync: none of its own
    assert syncs["count"] == 1
    mine = here.committed()  # counted after the sync began: needs another
    here.make_durable(mine)
    assert syncs["count"] == 2
    here.close()


def test_counters_that_claim_more_synced_than_made_are_repaired_at_open(tmp_path, syncs):
    path = tmp_path / "arena.db"
    Store.open(path).close()
    lock = Path(f"{path}.lock")
    lock.write_bytes(struct.pack("QQ", 5, 1000))  # made 5, synced 1000: a torn page
    store = Store.open(path)
    try:
        before = syncs["count"]
        store.remember_dataset_source("d", "x")
        assert syncs["count"] == before + 1  # the new commit is numbered past 1000, so it is synced
        made, synced = struct.unpack("QQ", lock.read_bytes()[:16])
        assert made > 1000 and synced == made
    finally:
        store.close()


def _fail_next_sync(monkeypatch, failing: list[bool]) -> list[bool]:
    """Around the real sync: while ``failing[0]`` is True the next sync fails with EIO (and clears it)."""
    real = walsync._sync_file

    def sync(fd):
        if failing[0]:
            failing[0] = False
            raise OSError(5, "Input/output error")
        real(fd)

    monkeypatch.setattr(walsync, "_sync_file", sync)
    return failing


def test_commits_a_failed_sync_may_have_lost_are_never_acknowledged_even_after_a_later_sync(tmp_path, monkeypatch):
    """Linux reports a write-back error once: a later sync on a fresh descriptor succeeds although the pages of
    the commits the failed sync covered were dropped. Those commits must fail, whoever asks and when."""
    path = tmp_path / "arena.db"
    Store.open(path).close()
    (tmp_path / "arena.db-wal").write_bytes(b"")
    _fail_next_sync(monkeypatch, [True])
    leader = walsync.WalSync(path, _open_lock_file(path))
    follower = walsync.WalSync(path, _open_lock_file(path))  # another store (or process) on the file
    first, second = leader.committed(), follower.committed()
    with pytest.raises(OSError):
        leader.make_durable(first)  # the sync that covered both failed
    with pytest.raises(OSError, match="may not be on disk"):
        follower.make_durable(second)  # used to sync again on a fresh descriptor, succeed and acknowledge
    later = follower.committed()
    with pytest.raises(OSError, match="may not be on disk"):
        follower.make_durable(later)  # behind the lost frames (chained checksums): refused until healed
    with pytest.raises(OSError, match="may not be on disk"):
        leader.make_durable(second)
    follower.healed()  # what Store does after a checkpoint has copied the WAL into the synced database file
    after = follower.committed()
    follower.make_durable(after)
    leader.close()
    follower.close()


def test_a_commit_written_while_a_sync_fails_is_never_acknowledged(tmp_path, monkeypatch):
    """``fdatasync`` writes back every dirty page of the WAL, also those of commits written while it runs
    (the write lock is free during a sync); if it fails, their pages may be dropped too, and a later sync on
    a fresh descriptor succeeds. Such a commit was numbered past the failed sync's range and acknowledged."""
    path = tmp_path / "arena.db"
    Store.open(path).close()
    (tmp_path / "arena.db-wal").write_bytes(b"")
    real = walsync._sync_file
    leader = walsync.WalSync(path, _open_lock_file(path))
    follower = walsync.WalSync(path, _open_lock_file(path))
    during = []

    def failing_once(fd):
        if not during:
            during.append(follower.committed())  # another writer commits while this sync runs...
            raise OSError(5, "Input/output error")  # ...and the write-back fails
        real(fd)

    monkeypatch.setattr(walsync, "_sync_file", failing_once)
    first = leader.committed()
    with pytest.raises(OSError):
        leader.make_durable(first)
    with pytest.raises(OSError, match="may not be on disk"):
        follower.make_durable(during[0])
    with pytest.raises(OSError, match="may not be on disk"):
        follower.make_durable(follower.committed())  # even one counted after the failed sync returned
    leader.healed()  # a checkpoint copied the WAL into the synced database file
    follower.make_durable(follower.committed())
    leader.close()
    follower.close()


def test_a_store_commit_is_counted_only_once_its_commit_has_written_the_wal(tmp_path):
    """A sync reads the count of commits made, then syncs: everything counted by then must already be in the
    WAL. A commit numbered before its COMMIT wrote its frames could be counted by a sync that starts meanwhile
    (in another thread or process), be marked synced, and be acknowledged later without any sync."""
    path = tmp_path / "arena.db"
    store = Store.open(path)
    lock = Path(f"{path}.lock")
    made_at_commit = []
    try:
        before = struct.unpack_from("Q", lock.read_bytes())[0]
        # SQLite's trace callback runs as each statement starts: what the counter says as COMMIT begins
        store._conn.set_trace_callback(lambda sql: made_at_commit.append(
            struct.unpack_from("Q", lock.read_bytes())[0]) if sql == "COMMIT" else None)
        store.remember_dataset_source("d", "x")
        assert made_at_commit == [before], (before, made_at_commit)
        assert struct.unpack_from("Q", lock.read_bytes())[0] == before + 1
    finally:
        store._conn.set_trace_callback(None)
        store.close()


def test_a_garbage_lost_range_only_costs_a_checkpoint(tmp_path):
    """A ``<db>.lock`` whose lost range is garbage (edited, or a torn page) must neither let an unsynced
    commit through nor stop the store for good: the store heals it with a checkpoint on its next write."""
    path = tmp_path / "arena.db"
    Store.open(path).close()
    Path(f"{path}.lock").write_bytes(struct.pack("QQQQ", 5, 5, 6, 2**62))
    store = Store.open(path)
    try:
        store.remember_dataset_source("d", "x")  # acknowledged after the healing checkpoint
        assert struct.unpack("QQQQ", Path(f"{path}.lock").read_bytes()[:32])[2:] == (0, 0)
    finally:
        store.close()
    assert Store.open(path).dataset_source("d") == "x"


def test_a_failed_checkpoint_loses_every_commit_not_known_synced_until_one_heals(tmp_path):
    """A checkpoint syncs the WAL on SQLite's own descriptor: if that fails, Linux reports it there once and our
    next sync on a fresh descriptor succeeds. So a failed checkpoint must refuse what a failed sync refuses."""
    path = tmp_path / "arena.db"
    Store.open(path).close()
    (tmp_path / "arena.db-wal").write_bytes(b"")
    writer = walsync.WalSync(path, _open_lock_file(path))
    other = walsync.WalSync(path, _open_lock_file(path))  # another store (or process) on the file
    synced = writer.committed()
    writer.make_durable(synced)
    pending = other.committed()  # written, its sync still to come

    def failing_checkpoint():
        raise OSError(5, "Input/output error")

    with pytest.raises(OSError):
        writer.checkpoint(failing_checkpoint)
    other.make_durable(synced)  # synced before: still acknowledged
    with pytest.raises(OSError, match="may not be on disk"):
        other.make_durable(pending)  # used to sync on a fresh descriptor, succeed and acknowledge
    later = writer.committed()
    with pytest.raises(OSError, match="may not be on disk"):
        writer.make_durable(later)  # behind the frames the checkpoint's sync may have lost
    assert not writer.checkpoint(lambda: False)  # busy (readers): nothing healed
    assert writer.lost()
    assert writer.checkpoint(lambda: True)  # a TRUNCATE checkpoint that emptied the WAL: healed
    other.make_durable(pending)
    writer.make_durable(writer.committed())
    writer.close()
    other.close()


def test_a_closed_walsync_acknowledges_nothing_even_with_a_lost_range_it_no_longer_reads(tmp_path):
    """A store's write that committed just before ``close`` may reach ``make_durable`` after it: the shared
    counters (a lost range from the checkpoint that failed at close included) are no longer mapped, so a sync
    on a fresh descriptor would succeed and acknowledge what the failure may have lost."""
    path = tmp_path / "arena.db"
    Store.open(path).close()
    sync = walsync.WalSync(path, _open_lock_file(path))
    commit = sync.committed()
    sync.mark_lost()  # the checkpoint at close failed
    sync.close()
    with pytest.raises(OSError, match=f"closed before commit {commit} was synced"):
        sync.make_durable(commit)


def _other_sync_fd(path: Path) -> int:
    """``<db>.sync`` opened apart, as another process has it (flock locks belong to an open file)."""
    import os
    return os.open(f"{path}.sync", os.O_RDWR)


def test_a_commit_already_synced_is_acknowledged_while_another_process_syncs(tmp_path, syncs):
    """A commit that an earlier sync covered does not wait for the sync lock: another process's sync (of later
    commits) may take as long as the disk likes (issue 18: waiters queued behind syncs that were not theirs)."""
    import fcntl
    import os
    path = tmp_path / "arena.db"
    Store.open(path).close()
    (tmp_path / "arena.db-wal").write_bytes(b"")
    here = walsync.WalSync(path, _open_lock_file(path))
    commit = here.committed()
    here.make_durable(commit)
    other = _other_sync_fd(path)
    fcntl.flock(other, fcntl.LOCK_EX)  # another process's sync, running
    try:
        done = threading.Event()
        waiter = threading.Thread(target=lambda: (here.make_durable(commit), done.set()), daemon=True)
        waiter.start()
        assert done.wait(5), "an acknowledged-durable commit waited for another process's sync"
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
        here.close()


def test_a_commit_the_running_sync_covers_returns_when_that_sync_ends_without_a_sync_of_its_own(tmp_path, syncs):
    """While another process syncs, a commit counted before that sync began waits for it (a shared lock, which
    every such waiter gets together when it ends), then returns without a sync; one counted after it began
    syncs once more."""
    import fcntl
    import os
    path = tmp_path / "arena.db"
    Store.open(path).close()
    (tmp_path / "arena.db-wal").write_bytes(b"")
    here = walsync.WalSync(path, _open_lock_file(path))
    counters = walsync.WalSync(path, _open_lock_file(path))  # the other process's view of the shared counters
    covered = here.committed()
    other = _other_sync_fd(path)
    fcntl.flock(other, fcntl.LOCK_EX)  # the other process's sync starts: it covers every commit counted so far
    try:
        syncs["count"] = 0
        done = threading.Event()
        waiter = threading.Thread(target=lambda: (here.make_durable(covered), done.set()), daemon=True)
        waiter.start()
        assert not done.wait(0.3)  # not before that sync ends
        walsync._WORD.pack_into(counters._counters, walsync._SYNCED, counters.made())  # it ends, and says so
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
    assert done.wait(5) and syncs["count"] == 0
    later = here.committed()
    here.make_durable(later)
    assert syncs["count"] == 1
    counters.close()
    here.close()


def test_a_forced_sync_after_a_failed_one_refuses_and_never_counts_lost_commits_as_synced(tmp_path, monkeypatch):
    """``force`` syncs for commits never counted (written by a process killed before ``committed``): they come
    after every counted commit, so after a failed sync they are in the lost range too, and the forced sync is
    refused like any lost commit. The old code synced on a fresh descriptor (which succeeds: the write-back error
    was reported once) and stored ``_SYNCED`` past the first lost commit, which a lock-free reader that had read
    no lost range just before the failure then took as synced."""
    path = tmp_path / "arena.db"
    Store.open(path).close()
    (tmp_path / "arena.db-wal").write_bytes(b"")
    failing = _fail_next_sync(monkeypatch, [False])
    lock_fd = _open_lock_file(path)
    here = walsync.WalSync(path, lock_fd)
    other = walsync.WalSync(path, _open_lock_file(path))  # another store (or process) on the file
    synced = here.committed()
    here.make_durable(synced)
    failing[0] = True
    with pytest.raises(OSError, match="Input/output"):
        here.make_durable(synced, force=True)  # a forced sync fails: everything after commit 1 may be lost
    lost = other.committed()  # written after the failure, behind the lost frames
    with pytest.raises(OSError, match="may not be on disk"):
        here.make_durable(synced, force=True)  # the old code synced again here, succeeded and returned
    import os
    raw = os.pread(lock_fd, 32, 0)  # the shared counters as another process reads them: made, synced, lost range
    _, synced_now, first, last = struct.unpack("4Q", raw)
    assert last != 0 and first <= lost
    assert synced_now < lost, "a lost commit is counted as synced: a lock-free read acknowledges it"
    with pytest.raises(OSError, match="may not be on disk"):
        other.make_durable(lost)
    here.close()
    other.close()


def test_every_sync_flushes_the_file_sqlite_writes_through_checkpoints_and_other_stores_closing(tmp_path, monkeypatch):
    """The WAL descriptor is kept from one sync to the next: each sync must still flush the file at the WAL's
    path, the one SQLite writes, after TRUNCATE and RESTART checkpoints and after another store on the file
    (another process's, here a second ``Store``) opens and closes. Its size (``wal_size``) is the path's."""
    real, seen = walsync._sync_file, []

    def spy(fd):
        here = os.stat(f"{tmp_path / 'arena.db'}-wal")
        kept = os.fstat(fd)
        seen.append(((kept.st_dev, kept.st_ino), (here.st_dev, here.st_ino), kept.st_nlink))
        real(fd)

    monkeypatch.setattr(walsync, "_sync_file", spy)
    store = Store.open(tmp_path / "arena.db")
    try:
        for step in range(6):
            store.remember_dataset_source(f"d{step}", "before")
            if step == 1:
                store._checkpoint_wal("TRUNCATE", wait=True)
            elif step == 2:
                store._checkpoint_wal("RESTART", wait=True)
            elif step == 3:
                other = Store.open(tmp_path / "arena.db")
                other.remember_dataset_source("other", "x")
                other.close()
            store.remember_dataset_source(f"d{step}", "after")
            assert store._wal_sync.wal_size() == os.stat(f"{tmp_path / 'arena.db'}-wal").st_size
    finally:
        store.close()
    assert len(seen) >= 12
    assert all(kept == here and links == 1 for kept, here, links in seen), seen


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_a_store_opened_through_a_link_syncs_the_wal_sqlite_writes_and_shares_its_counters(tmp_path, monkeypatch):
    """SQLite follows a database path that is a symbolic link and keeps its WAL beside the file it names
    (``PRAGMA database_list`` names that file). The WAL beside the link does not exist: each sync was skipped as
    if a checkpoint had removed the WAL, so every write was acknowledged unsynced; and ``<db>.lock`` beside the
    link gave a process opening the file by its own name other counters and another write lock."""
    real_db = tmp_path / "volume" / "arena.db"
    real_db.parent.mkdir()
    link = tmp_path / "app" / "arena.db"
    link.parent.mkdir()
    link.symlink_to(real_db)
    seen = []
    real_sync = walsync._sync_file

    def spy(fd):
        kept = os.fstat(fd)
        seen.append((kept.st_dev, kept.st_ino))
        real_sync(fd)

    monkeypatch.setattr(walsync, "_sync_file", spy)
    store = Store.open(link)
    try:
        (sqlite_file,), = store.db.execute("select file from pragma_database_list where name = 'main'")
        assert Path(sqlite_file) == real_db.resolve()  # where SQLite keeps its files: beside the linked file
        seen.clear()
        store.remember_dataset_source("d", "x")
        wal = os.stat(f"{real_db}-wal")
        assert seen == [(wal.st_dev, wal.st_ino)]  # one sync, of the WAL SQLite wrote
        made = store._wal_sync.made()
        theirs = int(subprocess.run([sys.executable, "-c", OTHER_PROCESS, str(real_db)], cwd=ROOT, check=True,
                                    capture_output=True, text=True).stdout)
        assert theirs == made + 1  # the same counters for a process that names the file itself
    finally:
        store.close()


@pytest.mark.parametrize("opened", ["written", "for reading"])
def test_a_write_to_a_wal_removed_from_its_folder_is_refused_not_acknowledged(tmp_path, opened):
    """The WAL descriptor is kept from one sync to the next, as SQLite keeps its own: once the WAL is removed
    from the folder while the store has it open (another program deletes it; another process, whose last
    connection closed, deleted it after this process lost its locks), SQLite goes on writing the file, which
    has no name any more. Syncing it made nothing durable: a crash drops it (the write was lost after a
    kill -9 of the process that acknowledged it). Such a write is refused.

    ``for reading``: a store opened for reading syncs nothing at open, so its first sync opens the WAL at its first
    write. While any store has the database open SQLite keeps its WAL (it deletes it only when the last connection
    closes): a WAL missing then was removed under the store. That sync was skipped as after a checkpoint that
    removed the WAL, and the write acknowledged."""
    path = tmp_path / "arena.db"
    if opened == "for reading":
        Store.open(path).close()
    store = Store.open(path, for_reading=opened == "for reading")
    try:
        if opened == "written":
            store.remember_dataset_source("before", "x")
        os.unlink(f"{path}-wal")
        with pytest.raises(StoreError, match="removed while the database was open"):
            store.remember_dataset_source("after", "x")
    finally:
        store.close()


CLOSE_A_CONNECTION = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('select count(*) from meta')"
                      ".fetchall(); c.close()")


@pytest.mark.parametrize("look", ["a second store", "store_file_of"])
def test_opening_the_file_again_in_this_process_keeps_its_locks_and_the_wal_other_processes_see(tmp_path, look):
    """POSIX drops every lock a process holds on a file when the process closes any descriptor of it
    (https://www.sqlite.org/howtocorrupt.html, 2.2). ``Store.open``'s checks of the file (``_check_file``) and
    ``store_file_of`` read its header by path: in a process that held a store on it, SQLite's shared lock on the
    database was gone, so another process's last connection, closing, took the exclusive lock, checkpointed and
    deleted the WAL and its index under the open store (which then wrote to a file with no name)."""
    from realunify_arena.store import store_file_of

    path = tmp_path / "arena.db"
    store = Store.open(path)
    try:
        store.remember_dataset_source("before", "x")
        wal = os.stat(f"{path}-wal")
        if look == "a second store":
            Store.open(path).close()
        else:
            assert store_file_of(Path(f"{path}-wal")) == path
        subprocess.run([sys.executable, "-c", CLOSE_A_CONNECTION, str(path)], check=True)
        now = os.stat(f"{path}-wal")  # still there: this process's store holds it
        assert (now.st_dev, now.st_ino) == (wal.st_dev, wal.st_ino)
        store.remember_dataset_source("after", "x")
        seen = subprocess.run([sys.executable, "-c", "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("
                               "\"select value from meta where key = 'dataset_source:after'\").fetchone())", str(path)],
                              check=True, capture_output=True, text=True).stdout.strip()
        assert seen == "('x',)"  # acknowledged, and in the file every other process reads
    finally:
        store.close()


WRITE_BY_NAME = ("import sys; from realunify_arena.store import Store, StoreError\n"
                 "try:\n    s = Store.open(sys.argv[1])\nexcept StoreError as e:\n    print('refused:', e)\n"
                 "else:\n    s.remember_dataset_source('theirs', 'x'); print('acknowledged'); s.close()")


@pytest.mark.skipif(os.name != "posix", reason="hard links")
def test_a_database_file_with_another_name_is_refused_rather_than_given_a_second_wal(tmp_path):
    """SQLite names its WAL, its index and its journal after the name a database is opened by, and cannot tell
    hard links apart (https://www.sqlite.org/howtocorrupt.html, 2.5): a process opening the file by another name
    read and wrote ``<other>-wal`` beside ``<db>-wal``, saw none of the store's last commits, and the write it
    acknowledged was gone once both had closed (the store's checkpoint wrote its own pages over it)."""
    path = tmp_path / "arena.db"
    Store.open(path).close()
    other = tmp_path / "copy.db"
    os.link(path, other)  # `cp -l`, or a backup tool's snapshot of the folder
    with pytest.raises(StoreError, match="2 names") as refused:
        Store.open(path)
    assert str(path) in str(refused.value) and "hard link" in str(refused.value)
    os.unlink(other)
    store = Store.open(path)
    try:
        store.remember_dataset_source("ours", "x")
        os.link(path, other)  # made while the store is open: the other process is refused all the same
        said = subprocess.run([sys.executable, "-c", WRITE_BY_NAME, str(other)], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
    finally:
        store.close()
    kept = [key for (key,) in sqlite3.connect(path).execute("select key from meta where key like 'dataset_source:%'")]
    assert "dataset_source:ours" in kept
    if "acknowledged" in said:  # every write acknowledged is in the file
        assert "dataset_source:theirs" in kept
    assert said.startswith("refused:") and "hard link" in said


OPEN_AND_READ = ("import sys; from realunify_arena.store import Store, StoreError\n"
                 "try:\n    s = Store.open(sys.argv[1], for_reading=True)\nexcept StoreError as e:\n"
                 "    print('refused:', e)\nelse:\n    print(sorted(r['key'] for r in s.query(\"select key from meta where"
                 " key like 'dataset_source:%'\"))); s.close()")


def test_another_process_told_the_wal_was_removed_under_an_open_store_and_the_next_start_heals(tmp_path):
    """While the store writes to a WAL removed from its folder (``test_a_write_to_a_wal_removed_...``), SQLite's
    index (``-shm``) names commits that no WAL at the path holds, and every other process's open failed with "disk
    I/O error; restore it from a backup": a backup would drop every vote since it, and the store's own next start
    copies those commits into the database. The message says what happened and what to do."""
    path = tmp_path / "arena.db"
    store = Store.open(path)
    try:
        store.remember_dataset_source("before", "x")
        os.unlink(f"{path}-wal")
        said = subprocess.run([sys.executable, "-c", OPEN_AND_READ, str(path)], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
        assert said.startswith(f"refused: {path}:") and "\n" not in said
        assert "removed" in said and "restart" in said and "backup" not in said
    finally:
        store.close()
    said = subprocess.run([sys.executable, "-c", OPEN_AND_READ, str(path)], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    assert said == "['dataset_source:before']"  # the store's next start: the acknowledged write is there


@pytest.mark.parametrize("cut", ["newer version", "ctrl-c"])
def test_an_open_refused_or_interrupted_leaves_no_descriptor_and_no_claim_on_the_file(tmp_path, monkeypatch, cut):
    """A refused open (a database from a newer version) left ``<db>.sync`` open and ``<db>.lock`` mapped (WalSync,
    made before the schema check, was never closed); Ctrl-C (or SystemExit) while ``Store.open`` checks the
    schema also left the lock file's descriptor open and ``_OPEN_HERE`` counting the file as held by a store of
    this process (its header then never read again by path): only ``sqlite3.Error``, ``StoreError`` and
    ``OSError`` closed what the open had made."""
    from realunify_arena import store as store_module

    path = tmp_path / "arena.db"
    Store.open(path).close()
    if cut == "newer version":  # as a newer version of this code leaves it (test_bad_database's newer_schema)
        conn = sqlite3.connect(path)
        conn.execute("insert into _sqlite_migrations (migration_set, name) values (?, ?)",
                     (store_module.migrations.name, "m999_from_the_future"))
        conn.commit()
        conn.close()
    before = sorted(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None

    def interrupted(db):
        raise KeyboardInterrupt

    if cut == "ctrl-c":
        monkeypatch.setattr(store_module.migrations, "pending", interrupted)
    with pytest.raises(KeyboardInterrupt if cut == "ctrl-c" else StoreError):
        Store.open(path, for_reading=True)
    assert not store_module._held_here(path)
    if before is not None:
        assert sorted(os.listdir("/proc/self/fd")) == before


def test_a_refusal_over_a_removed_wal_says_to_restart_and_a_restart_takes_every_write_again(tmp_path):
    """After the WAL was removed under the store, SQLite writes to a file with no name until its last connection
    closes, so a write is refused again and again (every other one: the next heals the last into the database
    file) while the message only said "try again". It names the way out: restarting the process."""
    path = tmp_path / "arena.db"
    store = Store.open(path)
    try:
        store.remember_dataset_source("before", "x")
        os.unlink(f"{path}-wal")
        refusals = []
        for n in range(4):
            try:
                store.remember_dataset_source(f"while{n}", "x")
            except StoreError as e:
                refusals.append(str(e))
        assert len(refusals) >= 2  # not once: again after a retry that worked
        assert all("restart" in said and "\n" not in said for said in refusals)
    finally:
        store.close()
    store = Store.open(path)  # the restart
    try:
        for n in range(4):
            store.remember_dataset_source(f"after{n}", "x")
        kept = {r["key"] for r in store.query("select key from meta where key like 'dataset_source:%'")}
        assert {"dataset_source:before"} | {f"dataset_source:after{n}" for n in range(4)} <= kept
    finally:
        store.close()
