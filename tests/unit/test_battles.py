"""The battle flow (``realunify_arena.battles``) on a real SQLite store with tiny real models: a battle lives
in the store and reloads by id, the pre-vote view names no system, and the UI and ``/vote`` share
``vote_and_reveal``."""

from __future__ import annotations

import json
import random

import pytest
from PIL import Image

from realunify_arena.arena import Arena, BattleError, VoteRefused
from realunify_arena.battles import (
    anonymise, anonymous_side, judge_battle, load_battle, play, play_to_end, reveal, start_battle, vote_and_reveal,
)
from realunify_arena.benchmark import load
from realunify_arena.cards import load_cards
from realunify_arena.context import AppContext
from realunify_arena.judge import ANSWER_PARSER
from realunify_arena.runs import JUDGING, RunUpdate
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.systems import System
from realunify_arena.trace import Status, Step, StepRole, Trace

MODELS = ("tiny-pair", "tiny-janus")
SESSION = "session-1"


@pytest.fixture(scope="module")
def pool():
    return ModelPool(load_cards())


def _context(store, pool, **settings) -> AppContext:
    return AppContext(Settings(data=("bundled",), models=MODELS, db=store.path, **settings), store, pool,
                      Arena(store), rng=random.Random(7))


def _store_answers(store, inst, replies: dict[str, str]) -> dict[str, int]:
    """Stored GEU direct runs whose answer is ``replies[model]``; returns {system: run id}."""
    ids = {}
    for model, reply in replies.items():
        trace = Trace(inst.uid, model, "direct", {"seed": 0}, steps=[Step(StepRole.ANSWER, inst.mcq_text, text=reply)])
        ids[f"{model}:direct"] = store.save_trace(trace, "bundled", pin=True)  # as eval stores them
    return ids


def test_a_stored_battle_lives_in_the_store_and_the_vote_reveals_and_judges_it(store, pool):
    ctx = _context(store, pool, arena_mode="stored", judge="tiny-pair")
    inst = next(i for i in load("bundled").instances if i.track == "GEU")
    wrong = next(letter for letter in "ABCD" if letter != inst.answer)
    runs = _store_answers(store, inst, {"tiny-pair": f"The answer is {inst.answer}.", "tiny-janus": wrong})

    battle = start_battle(ctx, "bundled", "GEU", "model_vs_model", SESSION, "hf:alice")
    row = store.battle(battle.battle_id)
    assert {row["run_a"], row["run_b"]} == set(runs.values())  # the drawn runs are pinned in the row
    assert (row["delivered_a_at"], row["delivered_b_at"]) == (None, None) and not battle.ready
    assert load_battle(ctx, battle.battle_id, SESSION) == battle  # the browser's id is all it takes
    with pytest.raises(BattleError, match="another session"):
        load_battle(ctx, battle.battle_id, "session-2")

    view = play_to_end(ctx, battle, SESSION)
    assert view["ready"] and load_battle(ctx, battle.battle_id, SESSION).ready
    assert not any(model in json.dumps(view) for model in MODELS), "a system name reached the pre-vote view"
    assert sorted(side["steps"][0]["text"] for side in view["sides"].values()) == \
        sorted([f"The answer is {inst.answer}.", wrong])

    revealed = vote_and_reveal(ctx, battle.battle_id, SESSION, "hf:alice", "A")
    systems = {side: str(battle.systems[side]) for side in "AB"}
    assert (revealed["system_a"], revealed["system_b"]) == (systems["A"], systems["B"])
    for side in "AB":
        info = revealed["sides"][side]
        expected = 1 if info["system"] == "tiny-pair:direct" else 0  # the right letter, or the wrong one
        assert (info["system"], info["run_id"], info["judge"]) == (systems[side], runs[systems[side]], ANSWER_PARSER)
        assert info["judgment"]["score"] == expected and info["judge_problem"] is None
    assert reveal(ctx, battle.battle_id, SESSION) == revealed
    with pytest.raises(VoteRefused, match="already has a vote"):
        vote_and_reveal(ctx, battle.battle_id, SESSION, "hf:alice", "B")
    assert [v["choice"] for v in store.votes()] == ["A"]


def test_no_reveal_before_the_vote(store, pool):
    ctx = _context(store, pool, arena_mode="stored")
    inst = next(i for i in load("bundled").instances if i.track == "GEU")
    _store_answers(store, inst, {"tiny-pair": "A", "tiny-janus": "B"})
    battle = start_battle(ctx, "bundled", "GEU", "model_vs_model", SESSION, "hf:bob")
    with pytest.raises(VoteRefused, match="not been shown"):
        vote_and_reveal(ctx, battle.battle_id, SESSION, "hf:bob", "A")
    with pytest.raises(BattleError, match="only after the vote"):
        reveal(ctx, battle.battle_id, SESSION)
    assert store.votes() == []


def test_a_live_battle_runs_both_sides_and_the_judge_model_follows_the_vote(store, pool):
    ctx = _context(store, pool, judge="tiny-pair")
    battle = start_battle(ctx, "bundled", "UEG", "direct_vs_stepwise", SESSION, "hf:carol")
    assert battle.systems["A"].model == battle.systems["B"].model
    assert {battle.systems[s].mode for s in "AB"} == {"direct", "stepwise"} and battle.shown_mode == "direct"
    assert battle.runs == {"A": None, "B": None}

    sides = [side for side, _ in play(ctx, battle, SESSION)]
    assert sides[:2] == ["A", "B"]  # interleaved: both progress together
    stored = load_battle(ctx, battle.battle_id, SESSION)
    assert stored.ready and all(stored.runs[s] is not None for s in "AB")
    for side in "AB":
        trace = store.load_trace(stored.runs[side])
        assert System(trace.model, trace.mode) == battle.systems[side]

    at_vote = vote_and_reveal(ctx, battle.battle_id, SESSION, "hf:carol", "tie")
    assert all(at_vote["sides"][s]["judge_problem"] == JUDGING for s in "AB")
    judged = judge_battle(ctx, battle.battle_id, SESSION)
    for side in "AB":
        info = judged["sides"][side]
        assert info["judge"] == "tiny-pair" and info["judgment"] == store.find_judgment(info["run_id"], "tiny-pair")


def test_a_failed_side_is_anonymised_and_the_battle_takes_no_vote(store, pool):
    ctx = _context(store, pool, arena_mode="stored")
    inst = next(i for i in load("bundled").instances if i.track == "GEU")
    _store_answers(store, inst, {"tiny-pair": "A", "tiny-janus": "B"})
    battle = start_battle(ctx, "bundled", "GEU", "model_vs_model", SESSION, "hf:dan")
    failed = Trace(inst.uid, "tiny-janus", "direct", {}, status=Status.ERROR,
                   error="tiny-janus ran out of memory; tiny-pair is fine")
    view = anonymous_side(battle, RunUpdate(failed, done=True))
    assert view["error"] == "the model ran out of memory; the model is fine"
    assert anonymise("tiny-pair and tiny-janus", battle) == "the model and the model"
    assert not load_battle(ctx, battle.battle_id, SESSION).ready


def test_a_battle_needs_two_systems(store, pool):
    ctx = _context(store, pool, arena_mode="stored")
    inst = next(i for i in load("bundled").instances if i.track == "GEU")
    _store_answers(store, inst, {"tiny-pair": "A"})
    with pytest.raises(BattleError, match="two stored runs"):
        start_battle(ctx, "bundled", "GEU", "model_vs_model", SESSION, "hf:erin")
    with pytest.raises(KeyError, match="not configured"):
        start_battle(ctx, "elsewhere", "GEU", "model_vs_model", SESSION, "hf:erin")


def test_a_pinned_run_must_be_its_sides_system(store, pool):
    inst = next(i for i in load("bundled").instances if i.track == "GEU")
    runs = _store_answers(store, inst, {"tiny-pair": "A", "tiny-janus": "B"})
    arena = Arena(store)
    with pytest.raises(BattleError, match="but side A of this battle is tiny-pair:direct"):
        arena.new_battle(SESSION, "hf:f", inst.uid, "bundled", "tiny-pair:direct", "tiny-janus:direct",
                         "model_vs_model", runs={"A": runs["tiny-janus:direct"]})
    assert store.counts()["battles"] == 0


def test_the_pre_vote_view_carries_image_hashes_not_paths(store, pool):
    """The pre-vote view carries content hashes, not files or paths."""
    ctx = _context(store, pool, arena_mode="stored")
    inst = next(i for i in load("bundled").instances if i.track == "UEG")
    for model in MODELS:
        trace = Trace(inst.uid, model, "direct", {"seed": 0},
                      steps=[Step(StepRole.GENERATED_IMAGE, inst.prompt, image=Image.new("L", (4, 4), len(model)))])
        store.save_trace(trace, "bundled", pin=True)
    battle = start_battle(ctx, "bundled", "UEG", "model_vs_model", SESSION, "hf:gus")
    view = play_to_end(ctx, battle, SESSION)
    shas = [side["steps"][0]["image_sha"] for side in view["sides"].values()]
    assert all(store.image_path(sha).is_file() for sha in shas) and str(store.path.parent) not in json.dumps(view)
