"""A live battle's sides are new model runs: ``Arena.new_battle(new_runs=...)`` counts them against the run limit
with the battle (one operation), and a withdrawn battle (it never ran) gives them back. Real SQLite store;
counts worked by hand from the limits."""

from __future__ import annotations

import pytest

from realunify_arena.arena import Arena, RunRefused

UID = "UEG_3_world_knowledge"


def _start(arena: Arena, session: str = "s1", voter: str = "hf:alice", new_runs: int = 2) -> str:
    return arena.new_battle(session, voter, UID, "bundled", "m1:direct", "m2:direct", "model_vs_model",
                            new_runs=new_runs)


def _rows(store, table: str) -> int:
    return store.query(f"select count(*) as n from {table}")[0]["n"]


def test_live_sides_share_the_run_limit_with_explore_and_a_withdrawn_battle_gives_them_back(store):
    arena = Arena(store, max_runs=5, run_window_seconds=60, max_battles=60)
    first = _start(arena)  # 2 runs
    _start(arena, session="s2")  # 4: another session of the same visitor counts the same
    with pytest.raises(RunRefused, match="at most 5 new runs per 60 s"):
        _start(arena)  # 6 > 5
    assert (_rows(store, "battles"), _rows(store, "run_starts")) == (2, 4)  # the refused start wrote nothing
    arena.admit_runs("hf:alice")  # Explore's run: 5
    with pytest.raises(RunRefused):
        arena.admit_runs("hf:alice")
    assert arena.withdraw_battle(first, "s1") is True  # never ran: its 2 runs are given back (3)
    assert _rows(store, "run_starts") == 3
    _start(arena)  # 5 again
    _start(arena, voter="hf:bob")  # another visitor has a limit of its own
    stored = _start(arena, new_runs=0)  # a battle of stored runs runs nothing
    assert arena.withdraw_battle(stored, "s1") is True and _rows(store, "run_starts") == 7


def test_a_battle_running_more_models_than_the_whole_limit_is_not_told_to_wait(store):
    arena = Arena(store, max_runs=1, run_window_seconds=60)
    with pytest.raises(RunRefused) as refused:
        _start(arena)
    assert "runs 2 models, more than the 1 new runs" in str(refused.value)
    assert "wait" not in str(refused.value)
    assert _rows(store, "battles") == 0


def test_a_battle_withdrawn_after_its_run_window_takes_back_no_other_visitors_count(store):
    """A battle stopped while it waited for the accelerator longer than the run window: its counts expired, a
    later start deleted them, and SQLite gave their row ids to another visitor's new counts (rowids of
    deleted largest rows are reused); withdrawing the battle must leave that visitor's counts alone."""
    arena = Arena(store, max_runs=5, run_window_seconds=60, max_battles=60)
    first = _start(arena)
    # the window passes: the rows are backdated as the clock would have aged them, and the arena's record too
    store.apply(lambda _db: store._execute("update run_starts set created_at = ?", ("2000-01-01T00:00:00+00:00",)))
    at, counts = arena._battle_runs[first]
    arena._battle_runs[first] = (at - 61, counts)
    bob = arena.admit_runs("hf:bob", 2)  # deletes the expired rows first, then counts bob's two runs
    assert not set(bob) & set(counts)  # ids are never reused (m010); the window check stands besides
    assert arena.withdraw_battle(first, "s1") is True
    assert _rows(store, "run_starts") == 2  # bob's two runs still count


def test_a_count_given_back_late_never_takes_a_count_made_since(store):
    """Explore's path (``admit_runs`` / ``release_runs``): a run stopped after waiting past the run window gives
    back its count by id; the expired row was deleted meanwhile by a later start. SQLite reuses a plain integer
    primary key's freed largest ids, so that id could be another visitor's new count; the store's ids are never
    reused (AUTOINCREMENT, https://www.sqlite.org/autoinc.html)."""
    arena = Arena(store, max_runs=5, run_window_seconds=60)
    alice = arena.admit_runs("hf:alice", 2)
    store.apply(lambda _db: store._execute("update run_starts set created_at = ?", ("2000-01-01T00:00:00+00:00",)))
    bob = arena.admit_runs("hf:bob", 2)  # deletes alice's expired rows, then counts bob's
    assert not set(alice) & set(bob)
    arena.release_runs(alice)  # alice's run never started: its (long expired) counts are given back
    assert store.count_run_starts_since("hf:bob", "") == 2
