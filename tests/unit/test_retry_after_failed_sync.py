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
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from failing_sync import FailingSync

from realunify_arena import walsync
from realunify_arena.arena import Arena, VoteRefused
from realunify_arena.store import RateLimited, Store, StoreError
from realunify_arena.trace import Trace

ROOT = Path(__file__).resolve().parents[2]
UID = "UEG_3_world_knowledge"
SYSTEMS = ("m1:direct", "m2:direct")


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


@pytest.fixture
def arena(store):
    return Arena(store, max_votes=100)


def runs(store: Store) -> dict[str, int]:
    return {s: store.save_trace(Trace(UID, s.split(":")[0], "direct", {"seed": 0}), "bundled") for s in SYSTEMS}


def shown_battle(arena: Arena, session: str = "s1") -> str:
    ids = runs(arena.store)
    battle = arena.new_battle(session, "hf:alice", UID, "bundled", *SYSTEMS, "model_vs_model")
    for side, system in zip("AB", SYSTEMS):
        arena.deliver(battle, session, side, ids[system])
    return battle


def failed_vote(arena: Arena, sync, choice: str) -> str:
    """A shown battle whose vote (hf:alice, ``choice``) was answered ``StoreError``: its WAL sync failed."""
    battle = shown_battle(arena)
    sync.fail_next()
    with pytest.raises(StoreError):
        arena.vote(battle, "s1", "hf:alice", choice)
    return battle


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


def test_a_vote_whose_sync_failed_is_stored_once_by_its_retry_and_then_on_disk(arena, store, sync, tmp_path):
    battle = failed_vote(arena, sync, "B")
    revealed = arena.vote(battle, "s1", "hf:alice", "B")  # used to be refused: "already has a vote"
    assert revealed["choice"] == "B" and (revealed["system_a"], revealed["system_b"]) == SYSTEMS
    assert [(v["vote_id"], v["choice"]) for v in store.votes()] == [(revealed["vote_id"], "B")]
    db = after_power_cut(store.path, sync, tmp_path / "cut")
    assert db.execute("select id, battle_id, voter, choice from votes").fetchall() == [
        (revealed["vote_id"], battle, "hf:alice", "B")]
    again = arena.vote(battle, "s1", "hf:alice", "B")  # a repeat after the acknowledgement: the same vote
    assert again["vote_id"] == revealed["vote_id"] and len(store.votes()) == 1


def test_another_vote_after_a_failed_one_is_still_refused(arena, store, sync):
    battle = failed_vote(arena, sync, "A")
    with pytest.raises(VoteRefused, match="already has a vote"):
        arena.vote(battle, "s1", "hf:alice", "B")
    with pytest.raises(VoteRefused, match="already has a vote"):
        arena.vote(battle, "s1", "hf:mallory", "A")
    assert [v["choice"] for v in store.votes()] == ["A"]


def test_a_battle_start_whose_sync_failed_is_retried_as_the_same_battle(arena, store, sync, tmp_path):
    ids = runs(store)
    sync.fail_next()
    with pytest.raises(StoreError):
        arena.new_battle("s1", "hf:alice", UID, "bundled", *SYSTEMS, "model_vs_model", runs={"A": ids[SYSTEMS[0]]})
    battle = arena.new_battle("s1", "hf:alice", UID, "bundled", *reversed(SYSTEMS), "model_vs_model")
    assert store.counts()["battles"] == 1  # used to be 2
    row = store.battle(battle)
    assert (row["system_a"], row["system_b"], row["run_a"]) == (*SYSTEMS, ids[SYSTEMS[0]])  # the first start's
    db = after_power_cut(store.path, sync, tmp_path / "cut")
    assert db.execute("select id from battles").fetchall() == [(battle,)]
    other = arena.new_battle("s1", "hf:alice", UID, "bundled", *SYSTEMS, "model_vs_model")
    assert other != battle and store.counts()["battles"] == 2  # a start after the retry is a new battle


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


def test_retried_deliveries_and_judgments_are_stored_once_and_on_disk(arena, store, sync, tmp_path):
    """A delivery of the same run again, a judgment replaced: each retry is answered once its row is on disk."""
    ids = runs(store)
    run_id = ids[SYSTEMS[1]]
    battle = arena.new_battle("s1", "hf:alice", UID, "bundled", *SYSTEMS, "model_vs_model")
    sync.fail_next()
    with pytest.raises(StoreError):
        arena.deliver(battle, "s1", "A", ids[SYSTEMS[0]])
    arena.deliver(battle, "s1", "A", ids[SYSTEMS[0]])
    judgment = {"kind": "ueg", "score": 1, "details": {"why": "x"}, "errors": 0}
    sync.fail_next()
    with pytest.raises(StoreError):
        store.save_judgment(run_id, "judge-1", judgment)
    store.save_judgment(run_id, "judge-1", judgment)
    db = after_power_cut(store.path, sync, tmp_path / "cut")
    assert db.execute("select run_a from battles where id = ? and delivered_a_at is not null",
                      (battle,)).fetchall() == [(ids[SYSTEMS[0]],)]
    assert db.execute("select run_id, judge, score from judgments").fetchall() == [(run_id, "judge-1", 1)]


def test_a_human_judgment_retried_at_the_rate_limit_replaces_its_failed_attempt(store, sync, tmp_path):
    """The failed attempt's row is the one the retry replaces: it is not another judgment to count."""
    run_id = store.save_trace(Trace(UID, "m1", "direct", {"seed": 3}), "bundled")
    judgment = {"kind": "polling", "score": 1, "details": {}}
    limit = {"rate_key": "anon:ip1", "max_per_window": 1}
    sync.fail_next()
    with pytest.raises(StoreError):
        store.save_human_judgment(run_id, "anon:ip1:s1", judgment, **limit)
    store.save_human_judgment(run_id, "anon:ip1:s1", judgment, **limit)  # used to be refused: rate limit
    with pytest.raises(RateLimited):  # another verdict on the run is a new judgment to count
        store.save_human_judgment(run_id, "anon:ip1:s1", {**judgment, "score": 0}, **limit)
    with pytest.raises(RateLimited):  # another run is another judgment
        store.save_human_judgment(store.save_trace(Trace(UID, "m2", "direct", {"seed": 3}), "bundled"),
                                  "anon:ip1:s1", judgment, **limit)
    db = after_power_cut(store.path, sync, tmp_path / "cut")
    assert db.execute("select run_id, voter, score from human_judgments").fetchall() == [(run_id, "anon:ip1:s1", 1)]


@pytest.mark.parametrize("write", ["save_trace", "meta"])
def test_a_write_finding_a_row_whose_sync_is_still_running_waits_for_that_sync(store, monkeypatch, write):
    """Two sessions finishing the same run key (Explore seeds are deterministic), or a retry racing the first
    attempt: the second finds the row stored and must not answer before the row is on disk. Here the first
    write's sync is held, then fails: the second write must fail too, not return the row."""
    import errno
    import threading

    real, held, release = walsync._sync_file, threading.Event(), threading.Event()
    failing = [False]

    def sync(fd):
        if failing[0]:
            failing[0] = False
            held.set()
            release.wait(30)
            raise OSError(errno.EIO, "Input/output error")
        real(fd)

    monkeypatch.setattr(walsync, "_sync_file", sync)

    def call():
        if write == "save_trace":
            return store.save_trace(Trace(UID, "m1", "direct", {"seed": 0}), "bundled")
        return store.meta("salt", lambda: "first")

    failing[0] = True
    results = {}

    def first():
        try:
            results["first"] = call()
        except StoreError as error:
            results["first"] = error

    thread = threading.Thread(target=first)
    thread.start()
    assert held.wait(10)  # the first write committed; its sync is running
    second = {}
    waiter = threading.Thread(target=lambda: second.update(value=_outcome(call)))
    waiter.start()
    waiter.join(0.5)
    assert waiter.is_alive(), f"answered before the first write's sync ended: {second}"
    release.set()
    thread.join(10)
    waiter.join(10)
    assert isinstance(results["first"], StoreError)
    assert isinstance(second["value"], StoreError)  # not the row a failed sync may have lost
    assert call() is not None  # the retry after it heals and answers


def _outcome(call):
    try:
        return call()
    except StoreError as error:
        return error


KILLED_AFTER_COMMIT = r'''
import os, signal, sys
from realunify_arena import walsync
from realunify_arena.store import Store
store = Store.open(sys.argv[1])
walsync.WalSync.committed = lambda self: os.kill(os.getpid(), signal.SIGKILL)  # right after COMMIT returned
store.meta("salt", lambda: "the dead writer's")
'''


def test_a_row_whose_writer_died_before_counting_its_commit_is_synced_before_another_process_answers(
        store, monkeypatch):
    """A writer process killed between its COMMIT and counting it (``WalSync.committed``) leaves a row in the WAL
    that no sync was asked for and that the counters do not know. Another process finding it (its salt, a run of
    the same key) used to answer at once, with every counted commit already synced: nothing had synced the row."""
    died = subprocess.run([sys.executable, "-c", KILLED_AFTER_COMMIT, str(store.path)], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    assert died.returncode == -signal.SIGKILL, died.stderr
    syncs, real = [], walsync._sync_file
    monkeypatch.setattr(walsync, "_sync_file", lambda fd: (syncs.append(os.fstat(fd).st_size), real(fd)))
    wal_size = Path(f"{store.path}-wal").stat().st_size
    assert store.meta("salt", lambda: "mine") == "the dead writer's"
    assert syncs and syncs[-1] >= wal_size, "the dead writer's row was answered before any sync covered it"


def test_a_retry_reaching_another_process_gets_the_stored_vote_once_it_is_on_disk(arena, store, sync, tmp_path):
    """A retry reaching another process (here a second Arena on the same store, as after a restart) finds the
    failed attempt's vote in the store and is answered with it, not refused. The voter then stops retrying, so
    that vote must be on disk by the time the answer is given."""
    elsewhere = Arena(store, max_votes=100)  # made first: making one reads the stored salt, and that heals
    battle = failed_vote(arena, sync, "B")
    answered = elsewhere.vote(battle, "s1", "hf:alice", "B")
    assert answered["choice"] == "B" and len(store.votes()) == 1
    with pytest.raises(VoteRefused, match="already has a vote"):  # another choice is a second vote
        elsewhere.vote(battle, "s1", "hf:alice", "A")
    db = after_power_cut(store.path, sync, tmp_path / "cut")
    assert db.execute("select battle_id, voter, choice from votes").fetchall() == [(battle, "hf:alice", "B")]
