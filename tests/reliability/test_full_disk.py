"""On a full disk, after a sync failed, the commands that only read still work: ``export``, ``report``,
``leaderboard``, ``backup`` and a ``merge`` source. That is when an operator wants a copy most.

Before, every command opened the store with a write (the schema transaction), and a write first heals a
failed sync with a checkpoint into the database file, which a full disk refuses: the command said "cannot
open the store" and read nothing. Commands that write must still refuse until a checkpoint works.

Real files and real failures: the failed sync is a real failed checkpoint (``<db>.lock`` records the lost
range), and the full disk is ``RLIMIT_FSIZE`` set in the command's own process, so SQLite's write into the
database file fails with EFBIG (SQLITE_IOERR_WRITE). Each command runs as ``python -m realunify_arena``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from dataclasses import astuple
from pathlib import Path

import pytest
from failing_sync import files_may_not_grow_past, lost_range
from PIL import Image

from realunify_arena.arena import SALT_ENV, Arena
from realunify_arena.store import Store, StoreError
from realunify_arena.systems import System
from realunify_arena.trace import Step, StepRole, Trace

pytestmark = pytest.mark.slow

VOTES = 3
CHOICES = ("A", "B", "tie")


def cast_vote(arena: Arena, store: Store, n: int) -> None:
    uid = f"UEG_{n + 1}_world_knowledge"
    battle = arena.new_battle(f"s{n}", "hf:alice", uid, "bundled", "m1:direct", "m2:direct", "model_vs_model")
    for side, system in (("A", "m1:direct"), ("B", "m2:direct")):
        model, mode = astuple(System.parse(system))
        trace = Trace(uid, model, mode, {"seed": n},
                      steps=[Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("L", (3, 3), n))])
        arena.deliver(battle, f"s{n}", side, store.save_trace(trace, "bundled"))
    arena.vote(battle, f"s{n}", "hf:alice", CHOICES[n])


def a_failed_sync(db: Path, votes: int = VOTES) -> int:
    """Make ``db`` a store whose last checkpoint failed for want of room (its votes are in the WAL only, the
    lost range is recorded); returns the size no file may grow past: the database file's, so any checkpoint
    fails."""
    store = Store.open(db)
    store.meta("padding", lambda: "p" * 2**21)  # checkpointed at close: outputs below stay under the limit
    store.close()
    store = Store.open(db)
    arena = Arena(store, max_votes=100)
    for n in range(votes):
        cast_vote(arena, store, n)
    store.meta("later", lambda: "l" * 2**20)  # WAL pages past the end of the database file
    size = db.stat().st_size
    with files_may_not_grow_past(size):
        store.close()
    assert lost_range(db) != (0, 0), "the setup's checkpoint at close did not fail"
    return size


@pytest.fixture
def full_disk_after_a_failed_sync(tmp_path, monkeypatch) -> tuple[Path, int]:
    """A store after ``a_failed_sync`` (its voter salt stored in it), and the size no file may grow past."""
    monkeypatch.delenv(SALT_ENV, raising=False)
    db = tmp_path / "arena.db"
    return db, a_failed_sync(db)


def run_cli(args: list[str], limit: int, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m realunify_arena ARGS`` in a process that may not grow any file past ``limit`` bytes."""
    def full_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of the signal; kept across exec
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    return subprocess.run([sys.executable, "-m", "realunify_arena", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, preexec_fn=full_disk)


def stored(db: Path, sql: str) -> list[tuple]:
    """The rows of ``sql``, sorted, read with plain sqlite3 (WAL included). Read-only: SQLite's last read-write
    connection to close would checkpoint the WAL into the file itself, which the full disk forbids."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return sorted(conn.execute(sql))
    finally:
        conn.close()


def stored_votes(db: Path) -> list[tuple[str, str]]:
    """(battle id, choice) of every vote."""
    return stored(db, "select battle_id, choice from votes")


def test_reading_commands_work_on_a_full_disk_after_a_failed_sync(full_disk_after_a_failed_sync, tmp_path):
    db, limit = full_disk_after_a_failed_sync
    expected = stored_votes(db)
    assert len(expected) == VOTES
    before = db.read_bytes()

    out = tmp_path / "votes.csv"
    done = run_cli(["export", "votes", "--format", "csv", "--out", str(out), "--db", str(db)], limit, tmp_path)
    assert done.returncode == 0, done.stderr
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["battle_id"], r["choice"]) for r in rows) == expected
    assert "Traceback" not in done.stderr

    done = run_cli(["leaderboard", "--format", "json", "--rounds", "10", "--db", str(db)], limit, tmp_path)
    assert done.returncode == 0, done.stderr
    board = next(b for b in json.loads(done.stdout) if (b["track"], b["kind"]) == ("UEG", "model_vs_model"))
    assert board["votes"] == VOTES  # A, B, tie: one win each and a tie
    assert {r["system"]: r["votes"] for r in board["rows"]} == {"m1:direct": VOTES, "m2:direct": VOTES}

    done = run_cli(["report", "--out", str(tmp_path / "reports"), "--db", str(db)], limit, tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert report, "the report is empty"

    assert db.read_bytes() == before, "a command that only reads changed the database file"
    assert lost_range(db) != (0, 0), "a command that only reads claimed the failed sync healed"


def test_a_merge_reads_its_source_on_a_full_disk(full_disk_after_a_failed_sync, tmp_path):
    """``merge`` copies the source's runs (votes stay where they were cast). The target is on another disk with room; only the source's disk is full (the limit is the source's
    size, which the merged target stays under)."""
    db, limit = full_disk_after_a_failed_sync
    target = tmp_path / "other-disk" / "merged.db"
    done = run_cli(["merge", str(db), "--db", str(target)], limit, tmp_path)
    assert done.returncode == 0, done.stderr
    runs = "select instance_uid, model, mode, trace from runs"
    assert len(stored(db, runs)) == 2 * VOTES
    assert stored(target, runs) == stored(db, runs)


def test_the_backup_command_opens_without_writing_after_a_failed_sync(full_disk_after_a_failed_sync, tmp_path):
    """A backup holds the whole database, larger than the full disk allows any file here, so the disk is full
    while the command opens the store and free again for the copy (a copy to another disk)."""
    db, limit = full_disk_after_a_failed_sync
    with files_may_not_grow_past(limit):
        store = Store.open(db, for_reading=True)  # as ``backup`` opens it (``store_at(..., for_reading=True)``)
    try:
        store.backup(tmp_path / "copy.db")
    finally:
        store.close()
    assert stored_votes(tmp_path / "copy.db") == stored_votes(db)


def test_a_backup_the_full_disk_cuts_short_leaves_no_partial_file_and_the_old_backup_intact(tmp_path):
    """Before, the copy cut short stayed beside the target as ``<out>.partial`` (only a failed rename removed it)."""
    store = Store.open(tmp_path / "arena.db")
    store.save_trace(Trace("UEG_1_world_knowledge", "m1", "direct", {"seed": 0},
                           steps=[Step(StepRole.GENERATED_IMAGE, "p", image=Image.effect_noise((256, 256), 64))]),
                     "bundled")
    out = tmp_path / "copies" / "arena.db"
    store.backup(out)
    old = out.read_bytes()
    for n in range(1, 40):  # rows enough that the copy outgrows the limit
        store.save_trace(Trace("UEG_1_world_knowledge", "m1", "direct", {"seed": n}, steps=[]), "bundled")
    with pytest.raises((OSError, sqlite3.Error)), files_may_not_grow_past(len(old)):
        store.backup(out)
    assert out.read_bytes() == old
    assert not list(out.parent.glob("*.partial")), "a cut copy was left beside the backup"
    store.close()


def test_backups_to_one_path_at_once_each_finish_whole(tmp_path):
    """Two backups to one path shared the name ``<out>.partial``: one unlinked or overwrote the other's copy."""
    import threading
    store = Store.open(tmp_path / "arena.db")
    for n in range(200):
        store.save_trace(Trace("UEG_1_world_knowledge", "m1", "direct", {"seed": n}, steps=[]), "bundled")
    out, errors = tmp_path / "copy.db", []

    def backup() -> None:
        try:
            for _ in range(10):
                store.backup(out)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=backup) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    assert errors == []
    assert len(stored(out, "select id from runs")) == 200
    assert not list(tmp_path.glob("*.partial"))


def test_a_command_that_writes_still_refuses_until_a_checkpoint_works(full_disk_after_a_failed_sync, tmp_path):
    db, limit = full_disk_after_a_failed_sync
    expected = stored_votes(db)
    other = tmp_path / "other.db"
    Store.open(other).close()
    done = run_cli(["merge", str(other), "--db", str(db)], limit, tmp_path)  # the target is written
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert str(db) in done.stderr
    assert lost_range(db) != (0, 0)
    done = run_cli(["merge", str(other), "--db", str(db)], 2**40, tmp_path)  # room again: healed, then written
    assert done.returncode == 0, done.stderr
    assert lost_range(db) == (0, 0)
    assert stored_votes(db) == expected


@pytest.mark.parametrize("votes", [VOTES, 0])
def test_export_votes_on_a_full_disk_with_no_voter_salt_stored(tmp_path, monkeypatch, votes):
    """The app voted with ``$REALUNIFY_VOTER_SALT`` (as the README advises for a Space), so the store holds no
    salt, and the operator exports without it. With no votes there is nothing to hash: the export writes
    nothing and works. With votes, a salt must be stored for the pseudonyms to stay stable, and the full disk
    (the write-ahead log may not grow either) refuses it: one line naming the file and what to do, no traceback."""
    monkeypatch.setenv(SALT_ENV, "the app's own long salt")  # 23 characters: the app takes 16 or more
    db = tmp_path / "arena.db"
    a_failed_sync(db, votes)
    monkeypatch.delenv(SALT_ENV)
    limit = min(db.stat().st_size, Path(f"{db}-wal").stat().st_size)
    before = db.read_bytes(), Path(f"{db}-wal").read_bytes()
    done = run_cli(["export", "votes", "--db", str(db)], limit, tmp_path)
    assert "Traceback" not in done.stderr
    if votes:
        assert done.returncode == 1, done.stderr
        error = [line for line in done.stderr.splitlines() if line.startswith("export: error: ")]
        assert len(error) == 1 and str(db) in error[0] and SALT_ENV in error[0], done.stderr
    else:
        assert done.returncode == 0, done.stderr
        assert done.stdout == "" and "no votes" in done.stderr
    assert (db.read_bytes(), Path(f"{db}-wal").read_bytes()) == before, "the failed export changed the store"
    assert stored(db, "select key from meta where key = 'voter_salt'") == []


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB filesystem of its own (tmpfs), mounted for the test; skipped where mounting is not allowed."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small filesystem here (mount -t tmpfs needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_a_store_closed_cleanly_on_a_really_full_disk_is_refused_with_what_to_do(small_disk, tmp_path):
    """A store closed cleanly has no ``-shm`` file, which SQLite must create (32 KiB) before any read: on a
    really full disk it cannot (SQLITE_IOERR_SHMSIZE), and the reading command is refused. The line must say
    the disk is full, not that the database is damaged and should be restored from a backup."""
    db = small_disk / "arena.db"
    Store.open(db).close()
    fd = os.open(small_disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"x" * 4096)
    finally:
        os.close(fd)
    before = db.read_bytes()
    done = run_cli(["leaderboard", "--db", str(db)], 2**40, tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert str(db) in done.stderr and "disk" in done.stderr and "free" in done.stderr, done.stderr
    assert "restore it from a backup" not in done.stderr, done.stderr
    assert db.read_bytes() == before


def test_a_command_that_writes_on_a_full_disk_says_so_in_one_line_and_can_be_run_again(tmp_path):
    """A COMMIT the full disk refuses (not a failed sync: nothing of it is written) is one line naming the
    file, and running the command again completes it. Before: SQLite's ``disk I/O error`` as a traceback."""
    source, target = tmp_path / "node.db", tmp_path / "arena.db"
    node = Store.open(source)
    for n in range(20):
        node.save_trace(Trace(f"UEG_{n + 1}_world_knowledge", "m1", "direct", {"seed": n},
                              steps=[Step(StepRole.GENERATED_IMAGE, "p" * 20_000, image=Image.new("L", (3, 3), n))]),
                        "bundled")
    node.close()
    Store.open(target).close()
    runs = "select instance_uid, model, mode, trace from runs"

    done = run_cli(["merge", str(source), "--db", str(target)], 64 * 1024, tmp_path)  # 400 KB of runs to write
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("merge: error: ")]
    assert len(error) == 1 and str(target) in error[0] and "try again" in error[0], done.stderr
    assert len(stored(target, runs)) < 20

    done = run_cli(["merge", str(source), "--db", str(target)], 2**40, tmp_path)
    assert done.returncode == 0, done.stderr
    assert stored(target, runs) == stored(source, runs)


def test_export_runs_whose_image_copy_the_full_disk_cuts_short_exports_it_whole_when_run_again(tmp_path):
    """``export runs`` copies each run's image into the export folder, skipping one already there. Before, a copy
    the full disk cut short stayed under its final name, and every later export skipped it: the official
    scorers then read a cut PNG."""
    db, out = tmp_path / "arena.db", tmp_path / "export"
    store = Store.open(db)
    image = Image.frombytes("RGB", (300, 300), os.urandom(300 * 300 * 3))  # ~270 KB of PNG
    run_id = store.save_trace(Trace("UEG_1_world_knowledge", "runner-x", "direct", {"seed": 0},
                                    steps=[Step(StepRole.GENERATED_IMAGE, "p", image=image)]), "bundled")
    stored_image = store.image_path(store.load_trace(run_id).steps[0].image_sha)
    store.close()
    args = ["export", "runs", "--format", "official", "--out", str(out), "--db", str(db)]

    done = run_cli(args, 128 * 1024, tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert not [p for p in out.rglob("*.png") if p.read_bytes() != stored_image.read_bytes()], "a cut image was left"

    done = run_cli(args, 2**40, tmp_path)
    assert done.returncode == 0, done.stderr
    exported = list(out.rglob(stored_image.name))
    assert len(exported) == 1 and exported[0].read_bytes() == stored_image.read_bytes()
    assert not list(out.rglob("*.partial"))


def test_import_results_whose_image_the_full_disk_refuses_names_the_file_and_can_be_run_again(tmp_path):
    """The image file (written before the run's row) is what the full disk refuses: one line naming the file
    it could not write, no ``.partial`` left in ``images/``, and the import run again stores the run once.
    Before: ``import-results: error: File too large``, naming nothing, with the partial file left behind."""
    from realunify_arena.benchmark import load
    from realunify_arena.benchmark.writer import official_entry

    folder, db = tmp_path / "results", tmp_path / "arena.db"
    folder.mkdir()
    entry = official_entry(next(i for i in load("bundled").instances if i.track == "UEG"), "direct")
    Image.frombytes("RGB", (300, 300), os.urandom(300 * 300 * 3)).save(folder / "u0.png")  # ~270 KB of PNG
    (folder / "UEG_direct.json").write_text(json.dumps([{**entry, "generated_image": "u0.png"}]), encoding="utf-8")
    Store.open(db).close()
    args = ["import-results", str(folder), "--model", "runner-x", "--data", "bundled", "--db", str(db)]

    done = run_cli(args, 128 * 1024, tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("import-results: error: ")]
    assert len(error) == 1 and str(tmp_path / "images") in error[0] and "try again" in error[0], done.stderr
    assert stored(db, "select id from runs") == []
    assert not list((tmp_path / "images").rglob("*.partial")), "a partial image file was left behind"

    done = run_cli(args, 2**40, tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(stored(db, "select id from runs")) == 1
    assert len(list((tmp_path / "images").rglob("*.png"))) == 1


def test_merge_whose_image_copy_the_full_disk_refuses_leaves_no_partial_file_and_can_be_run_again(tmp_path):
    """``merge`` copies a run's image file before its row: refused by the full disk, it is one line naming the
    file with what to do, and no ``<sha>.<pid>.partial`` stays in ``images/`` (its pid-named file was never
    removed by any later merge). Running it again stores the run and its image once."""
    (tmp_path / "node").mkdir()
    source, target = tmp_path / "node" / "node.db", tmp_path / "arena.db"
    node = Store.open(source)
    image = Image.frombytes("RGB", (300, 300), os.urandom(300 * 300 * 3))  # ~270 KB of PNG
    node.save_trace(Trace("UEG_1_world_knowledge", "m1", "direct", {"seed": 1},
                          steps=[Step(StepRole.GENERATED_IMAGE, "p", image=image)]), "bundled")
    node.close()
    Store.open(target).close()

    done = run_cli(["merge", str(source), "--db", str(target)], 128 * 1024, tmp_path)
    assert done.returncode == 1, done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("merge: error: ")]
    assert len(error) == 1 and str(tmp_path / "images") in error[0] and "try again" in error[0], done.stderr
    assert stored(target, "select id from runs") == []
    assert not list((tmp_path / "images").rglob("*.partial")), "a partial image file was left behind"

    done = run_cli(["merge", str(source), "--db", str(target)], 2**40, tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(stored(target, "select id from runs")) == 1
    assert [p.suffix for p in (tmp_path / "images").rglob("*.*")] == [".png"]


def test_backup_whose_image_copy_the_full_disk_refuses_leaves_no_cut_image_and_can_be_run_again(tmp_path):
    """``backup`` copies the images the copy lacks beside it. Refused by the full disk mid-copy, it left a cut
    ``images/<ab>/<sha>.png`` there, which every later backup found and skipped: the backup's image stayed cut.
    Now no image (and no partial file) is left, and running it again copies the whole image."""
    db = tmp_path / "arena.db"
    store = Store.open(db)
    image = Image.frombytes("RGB", (300, 300), os.urandom(300 * 300 * 3))  # ~270 KB of PNG
    store.save_trace(Trace("UEG_1_world_knowledge", "m1", "direct", {"seed": 1},
                           steps=[Step(StepRole.GENERATED_IMAGE, "p", image=image)]), "bundled")
    original = next((tmp_path / "images").rglob("*.png"))
    store.close()
    out = tmp_path / "copies" / "nightly.db"

    done = run_cli(["backup", str(out), "--db", str(db)], 128 * 1024, tmp_path)
    assert done.returncode == 1, done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("backup: error: ")]
    assert len(error) == 1 and str(out.parent / "images") in error[0], done.stderr
    assert not [p for p in (out.parent / "images").rglob("*") if p.is_file()], "a cut image was left behind"

    done = run_cli(["backup", str(out), "--db", str(db)], 2**40, tmp_path)
    assert done.returncode == 0, done.stderr
    copy = out.parent / "images" / original.relative_to(tmp_path / "images")
    assert copy.read_bytes() == original.read_bytes()
    assert [p.suffix for p in (out.parent / "images").rglob("*.*")] == [".png"]


def test_a_write_block_whose_statement_the_full_disk_refuses_is_a_store_error(tmp_path):
    """A statement inside ``Store.write()`` that spills its pages to a full disk (SQLite drops the
    transaction) is the same one line naming the file as a refused COMMIT, and nothing of it is stored; the
    same write once there is room stores it. Before: a raw ``sqlite3.OperationalError: disk I/O error``."""
    db = tmp_path / "arena.db"
    store = Store.open(db)
    try:
        value = "x" * 20_000_000  # more than the page cache holds: written to the WAL before the COMMIT
        with files_may_not_grow_past(200_000), pytest.raises(StoreError, match="refused the write") as refused:
            store.meta("big", lambda: value)
        assert str(db) in str(refused.value) and "try again" in str(refused.value)
        assert store.meta("big") is None
        assert store.meta("big", lambda: value) == value
    finally:
        store.close()


def test_a_lock_file_without_counters_on_a_full_disk_is_refused_in_one_line_not_a_bus_error(small_disk, tmp_path):
    """``<db>.lock`` empty (an older version's, which kept no counters there) while another program holds the
    database (its shared memory exists): the counters were added by growing the file (``ftruncate``, a hole) and
    mapped, and the first touch of that page on the full disk ended ``backup`` with SIGBUS, no message. It is
    now written before it is mapped: a full disk refuses that write, and the command says so in one line."""
    db = small_disk / "arena.db"
    Store.open(db).close()
    Path(f"{db}.lock").write_bytes(b"")
    older = sqlite3.connect(db)  # another program's connection, kept open: the WAL and its index stay
    try:
        older.execute("insert into meta (key, value) values ('older', 'version')")
        older.commit()
        fd = os.open(small_disk / "filler", os.O_WRONLY | os.O_CREAT)
        with contextlib.suppress(OSError):  # ENOSPC: the disk is full
            while True:
                os.write(fd, bytes(4096))
        os.close(fd)
        # run from the checkout: it imports this package, not an installed copy's
        done = run_cli(["backup", "--db", str(db), str(tmp_path / "copy.db")], 2**40, Path(__file__).parents[2])
        assert done.returncode == 1, (done.returncode, done.stderr[-2000:])  # -7 was SIGBUS
        assert done.stderr.count("\n") == 1 and "disk is full" in done.stderr and "Traceback" not in done.stderr
    finally:
        older.close()
