"""Ratings: agreement with choix on the same data, recovery of known strengths, filters, judge agreement."""

from __future__ import annotations

import choix
import numpy as np
import pytest
from PIL import Image
from dataclasses import astuple

from realunify_arena.arena import Arena
from realunify_arena.ratings import SCALE, leaderboard, rate, judge_agreement
from realunify_arena.store import Store
from realunify_arena.systems import System
from realunify_arena.trace import Step, StepRole, Trace

TRUE_THETA = {"s0:direct": -1.0, "s1:direct": -0.5, "s2:direct": 0.0, "s3:direct": 0.5, "s4:direct": 1.0}


def simulate(n_votes: int, seed: int, tie_rate: float = 0.0) -> list[dict]:
    """Votes from a BT model with TRUE_THETA; a share of uninformative ties if asked."""
    rng = np.random.default_rng(seed)
    systems = list(TRUE_THETA)
    votes = []
    for _ in range(n_votes):
        i, j = rng.choice(len(systems), size=2, replace=False)
        a, b = systems[i], systems[j]
        if rng.random() < tie_rate:
            choice = "tie" if rng.random() < 0.5 else "both_bad"
        else:
            p_a = 1 / (1 + np.exp(TRUE_THETA[b] - TRUE_THETA[a]))
            choice = "A" if rng.random() < p_a else "B"
        votes.append({"system_a": a, "system_b": b, "choice": choice})
    return votes


def test_point_estimates_match_choix_on_the_same_data():
    votes = simulate(600, seed=1, tie_rate=0.2)
    board = {r["system"]: r["rating"] for r in rate(votes, rounds=0)}
    systems = sorted(board)
    index = {s: i for i, s in enumerate(systems)}
    # choix takes (winner, loser) pairs only: a decisive vote is two identical pairs and a tie or
    # both-bad one pair each way, i.e. half a win each way at twice the weight.
    data = []
    for v in votes:
        a, b = index[v["system_a"]], index[v["system_b"]]
        if v["choice"] == "A":
            data += [(a, b), (a, b)]
        elif v["choice"] == "B":
            data += [(b, a), (b, a)]
        else:
            data += [(a, b), (b, a)]
    theirs = choix.opt_pairwise(len(systems), data, alpha=2e-4)  # twice our ridge, like the likelihood
    theirs = theirs - theirs.mean()
    ours = np.array([(board[s] - 1000.0) / SCALE for s in systems])
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_known_strengths_are_recovered_with_honest_intervals():
    board = rate(simulate(4000, seed=2), min_votes=100)
    assert [r["system"] for r in board] == sorted(TRUE_THETA, key=TRUE_THETA.get, reverse=True)
    assert [r["rank_ub"] for r in board] == [1, 2, 3, 4, 5]  # 87 points apart: all separated
    for r in board:
        truth = 1000.0 + SCALE * TRUE_THETA[r["system"]]
        half_width = (r["upper"] - r["lower"]) / 2
        assert r["lower"] < r["rating"] < r["upper"]
        assert 5 < half_width < 40
        assert abs(r["rating"] - truth) < 2 * half_width
        assert r["votes"] > 1000 and not r["preliminary"]


def test_intervals_narrow_with_more_votes_and_are_reproducible():
    def mean_width(board):
        return np.mean([r["upper"] - r["lower"] for r in board])

    few, many = rate(simulate(400, seed=3)), rate(simulate(3600, seed=3))
    assert mean_width(many) < 0.5 * mean_width(few)  # ~1/sqrt(votes): a third in theory
    assert rate(simulate(400, seed=3)) == few  # fixed bootstrap seed: the board does not jitter


def test_overlapping_intervals_share_a_rank_and_few_votes_are_preliminary():
    votes = [{"system_a": "x:direct", "system_b": "y:direct", "choice": c} for c in "AB" * 10]
    votes += [{"system_a": "x:direct", "system_b": "z:direct", "choice": "A"}] * 3
    board = rate(votes, min_votes=15)
    by_system = {r["system"]: r for r in board}
    assert by_system["z:direct"]["preliminary"] and not by_system["x:direct"]["preliminary"]
    assert by_system["x:direct"]["rank_ub"] == by_system["y:direct"]["rank_ub"] == 1
    assert board[-1]["system"] == "z:direct"  # preliminary rows come last


def test_both_bad_counts_half_each_way_and_is_reported_on_its_own():
    votes = ([{"system_a": "p:direct", "system_b": "q:direct", "choice": "both_bad"}] * 4
             + [{"system_a": "p:direct", "system_b": "q:direct", "choice": "tie"}] * 4)
    board = {r["system"]: r for r in rate(votes, rounds=10)}
    assert board["p:direct"]["rating"] == pytest.approx(board["q:direct"]["rating"], abs=1e-6)
    assert board["p:direct"]["both_bad_rate"] == 0.5


def test_decisive_only_undoes_the_compression_of_uninformative_ties():
    votes = simulate(3000, seed=4, tie_rate=0.3)

    def spread(board):
        ratings = [r["rating"] for r in board]
        return max(ratings) - min(ratings)

    with_ties, decisive = rate(votes, rounds=0), rate(votes, rounds=0, decisive_only=True)
    true_spread = SCALE * 2.0
    assert spread(with_ties) < 0.85 * true_spread
    assert abs(spread(decisive) - true_spread) < 0.1 * true_spread


# -- through the store ----------------------------------------------------------------------------

def run(store: Store, system: str, uid: str, colour: int = 0) -> int:
    model, mode = astuple(System.parse(system))
    trace = Trace(uid, model, mode, {"seed": colour},
                  steps=[Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("L", (2, 2), colour))])
    return store.save_trace(trace, "bundled")


def battle(arena: Arena, uid: str, a: str, b: str, kind: str, choice: str) -> tuple[int, int]:
    session = f"session-{len(arena.store.votes())}"
    battle_id = arena.new_battle(session, "hf:rater", uid, "bundled", a, b, kind)
    run_a, run_b = run(arena.store, a, uid), run(arena.store, b, uid)
    arena.deliver(battle_id, session, "A", run_a)
    arena.deliver(battle_id, session, "B", run_b)
    arena.vote(battle_id, session, "hf:rater", choice)
    return run_a, run_b


def test_leaderboard_filters_by_track_and_kind(store):
    arena = Arena(store, max_votes=1000)
    for _ in range(3):
        battle(arena, "UEG_1_world_knowledge", "m1:direct", "m2:direct", "model_vs_model", "A")
        battle(arena, "GEU_1_mental_tracking", "m3:direct", "m4:direct", "model_vs_model", "B")
        battle(arena, "UEG_1_world_knowledge", "m1:direct", "m1:stepwise", "direct_vs_stepwise", "B")
    assert {r["system"] for r in leaderboard(store, track="GEU", rounds=5)} == {"m3:direct", "m4:direct"}
    ueg_mvm = leaderboard(store, track="UEG", kind="model_vs_model", rounds=5)
    assert [r["system"] for r in ueg_mvm] == ["m1:direct", "m2:direct"]
    assert ueg_mvm[0]["votes"] == 3
    ds = leaderboard(store, kind="direct_vs_stepwise", rounds=5)
    assert [r["system"] for r in ds] == ["m1:stepwise", "m1:direct"]
    assert len(leaderboard(store, rounds=5)) == 5
    assert leaderboard(store, track="GEU", kind="direct_vs_stepwise") == []


def test_judge_agreement_with_and_without_ties(store):
    arena = Arena(store, max_votes=1000)
    uid = "UEG_{}_world_knowledge"
    # (human choice, judge score A, judge score B) per battle, each on its own instance
    cases = [("A", 1, 0), ("B", 1, 0), ("B", 0, 1), ("tie", 0, 0), ("both_bad", 1, 0), ("A", 1, 1)]
    for n, (choice, score_a, score_b) in enumerate(cases):
        run_a, run_b = battle(arena, uid.format(n), "m1:direct", "m2:direct", "model_vs_model", choice)
        for run_id, score in ((run_a, score_a), (run_b, score_b)):
            store.save_judgment(run_id, "qwen", {"kind": "polling", "score": score, "details": {},
                                                 "errors": 0})
        if n == 0:  # a second judge that scored only one battle
            store.save_judgment(run_a, "gemini", {"kind": "polling", "score": 0, "details": {},
                                                  "errors": 0})
            store.save_judgment(run_b, "gemini", {"kind": "polling", "score": 1, "details": {},
                                                  "errors": 0})
    rows = {r["judge"]: r for r in judge_agreement(store)}
    # qwen agrees on battles 0, 2 and 3 (tie = tie); disagrees on 1, 4 (judge A, human tie), 5
    assert rows["qwen"]["battles"] == 6
    assert rows["qwen"]["agreement"] == pytest.approx(3 / 6)
    # decisive on both sides: battles 0, 1, 2 -> two agree
    assert rows["qwen"]["decisive_battles"] == 3
    assert rows["qwen"]["agreement_decisive"] == pytest.approx(2 / 3)
    assert (rows["gemini"]["battles"], rows["gemini"]["agreement"]) == (1, 0.0)
