"""The battle flow (``realunify_arena.battles``) on a real SQLite store with tiny real models: a battle lives
in the store and reloads by id, the pre-vote view names no system, and the UI and ``/vote`` share
``vote_and_reveal``."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
import base64
import hashlib
import io
import json
import random
import threading
import time

import pytest
from PIL import Image, PngImagePlugin

from realunify_arena import battles, ratings
from realunify_arena.arena import Arena, BattleError, VoteRefused
from realunify_arena.adapters import build_adapter
from realunify_arena.adapters.base import Capability
from realunify_arena.battles import (
    Battle, anonymise, anonymous_side, judge_battle, judging_needs_device, load_battle, play, play_needs_device,
    play_to_end, reveal, start_battle, vote_and_reveal,
)
from realunify_arena.benchmark import load
from realunify_arena.cards import ModelCard, load_cards
from realunify_arena.context import AppContext, QueueFull
from realunify_arena.identity import REDACTED
from realunify_arena.judge import ANSWER_PARSER
from realunify_arena.runs import JUDGING, RunUpdate, run_to_end
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
    assert sorted(side["text"] for side in view["sides"].values()) == \
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


def test_a_live_side_runs_with_a_fresh_seed_and_is_offered_elsewhere_only_after_the_vote(store, pool, monkeypatch):
    """Each live side draws its own seed (skipping one whose run is already stored, e.g. by Explore), runs
    now, and is not handed out by the store's run reuse until the battle has its vote; a pinned run always is."""
    ctx = _context(store, pool)
    battle = start_battle(ctx, "bundled", "UEG", "direct_vs_stepwise", SESSION, "hf:eve")
    model, dataset = battle.systems["A"].model, load("bundled")
    taken = {mode: run_to_end(store, pool, dataset.name, battle.instance, model, mode,
                              ctx.options(model, seed=4242)).run_id for mode in ("direct", "stepwise")}
    draws = iter([4242, 77, 4242, 88])  # A: a seed Explore holds, then its own; B the same
    monkeypatch.setattr(battles.secrets, "randbelow", lambda n: next(draws))
    list(play(ctx, battle, SESSION))
    monkeypatch.undo()
    seeds = {side: store.load_trace(battle.runs[side]).settings["seed"] for side in "AB"}
    assert seeds == {"A": 77, "B": 88} and not set(battle.runs.values()) & set(taken.values())
    assert store.awaits_vote(battle.runs["A"]) and store.awaits_vote(battle.runs["B"])

    system = battle.systems["A"]
    asked = ctx.options(model, seed=77)
    before = run_to_end(store, pool, dataset.name, battle.instance, model, system.mode, asked)
    assert before.run_id is None and not before.reused and before.trace.final.image_sha  # run again, not stored
    assert before.trace.final.image_sha == store.load_trace(battle.runs["A"]).final.image_sha  # same seed, same image
    vote_and_reveal(ctx, battle.battle_id, SESSION, "hf:eve", "A")
    after = run_to_end(store, pool, dataset.name, battle.instance, model, system.mode, asked)
    assert after.reused and after.run_id == battle.runs["A"] and not store.awaits_vote(battle.runs["A"])

    pinned_battle = start_battle(ctx, "bundled", "UEG", "direct_vs_stepwise", SESSION, "hf:eve")
    list(play(ctx, pinned_battle, SESSION))
    store.pin([pinned_battle.runs["B"]])  # pinned (published by eval): never held back
    assert not store.awaits_vote(pinned_battle.runs["B"]) and store.awaits_vote(pinned_battle.runs["A"])


def test_a_failed_side_is_anonymised_and_the_battle_takes_no_vote(store, pool):
    ctx = _context(store, pool, arena_mode="stored")
    inst = next(i for i in load("bundled").instances if i.track == "GEU")
    _store_answers(store, inst, {"tiny-pair": "A", "tiny-janus": "B"})
    battle = start_battle(ctx, "bundled", "GEU", "model_vs_model", SESSION, "hf:dan")
    failed = Trace(inst.uid, "tiny-janus", "direct", {}, status=Status.ERROR,
                   error="tiny-janus ran out of memory; tiny-pair is fine")
    view = anonymous_side(ctx, RunUpdate(failed, done=True))
    assert view["error"] == f"{REDACTED} ran out of memory; {REDACTED} is fine"
    assert view["text"] is None and view["image"] is None
    assert anonymise("tiny-pair and tiny-janus", ctx.names) == f"{REDACTED} and {REDACTED}"
    assert not load_battle(ctx, battle.battle_id, SESSION).ready


def test_a_failed_side_names_no_endpoint_host_before_the_vote(store, pool):
    """A side's error quoting its card's endpoint showed "<url>" for the URL but the host again where the
    message names it bare (an upstream's "10.9.8.6:8000 refused"): the address can identify the provider."""
    ModelCard(name="tiny-janus", family="openai", description="x", capabilities=frozenset({Capability.UNDERSTAND}),
              endpoint="http://10.9.8.6:8000/v1")  # registers the address (a card of another app): hidden from now on
    ctx = _context(store, pool, arena_mode="stored")
    inst = next(i for i in load("bundled").instances if i.track == "GEU")
    failed = Trace(inst.uid, "tiny-janus", "direct", {}, status=Status.ERROR,
                   error="RuntimeError: tiny-janus at http://10.9.8.6:8000/v1: HTTP 400: upstream 10.9.8.6:8000 refused")
    view = anonymous_side(ctx, RunUpdate(failed, done=True))
    assert "10.9.8.6" not in view["error"] and "tiny-janus" not in view["error"], view
    assert view["error"] == f"RuntimeError: {REDACTED} at its endpoint: HTTP 400: upstream [endpoint] refused"


def test_a_battle_needs_two_systems(store, pool):
    ctx = _context(store, pool, arena_mode="stored")
    inst = next(i for i in load("bundled").instances if i.track == "GEU")
    _store_answers(store, inst, {"tiny-pair": "A"})
    with pytest.raises(BattleError, match="has two models' stored runs in one mode for a model_vs_model battle"):
        start_battle(ctx, "bundled", "GEU", "model_vs_model", SESSION, "hf:erin")
    with pytest.raises(KeyError, match="not configured"):
        start_battle(ctx, "elsewhere", "GEU", "model_vs_model", SESSION, "hf:erin")


def test_a_battle_of_one_model_s_two_modes_refused_speaks_of_modes_not_models(store, pool):
    """verify27e: with only a one-mode GEU card (tiny-janus: direct only), a direct_vs_stepwise battle was refused
    with "no GEU instance ... has two available models for a direct_vs_stepwise battle"; that kind pairs one model's
    two modes (``arena.KIND_LABELS``), and two models would not make one. The stored arena said "two stored runs"
    likewise. Each now names what the kind needs; a refusal of any kind names both needs."""
    live = AppContext(Settings(data=("bundled",), models=("tiny-janus",), db=store.path), store, pool, Arena(store),
                      rng=random.Random(7))
    with pytest.raises(BattleError) as refused:
        start_battle(live, "bundled", "GEU", "direct_vs_stepwise", SESSION, "hf:erin")
    assert "has one available model in both modes (direct and stepwise) for a direct_vs_stepwise battle" in str(
        refused.value) and "two available models" not in str(refused.value)
    with pytest.raises(BattleError) as refused:
        start_battle(live, "bundled", "GEU", "any", SESSION, "hf:erin")
    assert {"one available model in both modes (direct and stepwise)", "two available models in one mode"} == set(
        str(refused.value).split(" has ")[1].split(" for a ")[0].split(" or "))
    ctx = _context(store, pool, arena_mode="stored")
    inst = next(i for i in load("bundled").instances if i.track == "GEU")
    _store_answers(store, inst, {"tiny-pair": "A"})
    with pytest.raises(BattleError) as refused:
        start_battle(ctx, "bundled", "GEU", "direct_vs_stepwise", SESSION, "hf:erin")
    assert "has one model's stored runs in both modes (direct and stepwise) for a direct_vs_stepwise battle" in str(
        refused.value)


def test_a_stored_arena_says_where_the_pinned_runs_are_when_none_is_under_its_dataset(store, pool):
    """Two models' result folders imported without --data are stored under datasets named after each folder
    ('ma', 'mb'), so the app serving 'bundled' can draw no battle. Before, the refusal did not say where the
    runs were (hunt25): it must name each dataset holding pinned runs and how many instances they answer."""
    ctx = _context(store, pool, arena_mode="stored")
    geu = [i for i in load("bundled").instances if i.track == "GEU"][:3]
    for dataset, model, n in (("ma", "model-a", 3), ("mb", "model-b", 2)):
        for inst in geu[:n]:
            store.save_trace(Trace(inst.uid, model, "direct", {"seed": 0},
                                   steps=[Step(StepRole.ANSWER, inst.mcq_text, text="A")]), dataset, pin=True)
    with pytest.raises(BattleError) as refused:
        start_battle(ctx, "bundled", "GEU", "model_vs_model", SESSION, "hf:erin")
    said = str(refused.value)
    assert "two models' stored runs in one mode" in said and "'ma' (3 instances), 'mb' (2 instances)" in said, said
    assert "import-results --data" in said and "serve '" not in said, said  # neither has two systems' runs
    inst = geu[0]  # 'mb' gets a second system (model-b stepwise) on one instance: serving it would draw a battle
    store.save_trace(Trace(inst.uid, "model-b", "stepwise", {"seed": 0},
                           steps=[Step(StepRole.ANSWER, inst.mcq_text, text="B")]), "mb", pin=True)
    with pytest.raises(BattleError) as refused:
        start_battle(ctx, "bundled", "GEU", "model_vs_model", SESSION, "hf:erin")
    said = str(refused.value)
    assert "serve 'mb' (--data" in said and "'ma' (--data" not in said and "import-results --data" in said, said


def test_a_pinned_run_must_be_its_sides_system(store, pool):
    inst = next(i for i in load("bundled").instances if i.track == "GEU")
    runs = _store_answers(store, inst, {"tiny-pair": "A", "tiny-janus": "B"})
    arena = Arena(store)
    with pytest.raises(BattleError, match="but side A of this battle is tiny-pair:direct"):
        arena.new_battle(SESSION, "hf:f", inst.uid, "bundled", "tiny-pair:direct", "tiny-janus:direct",
                         "model_vs_model", runs={"A": runs["tiny-janus:direct"]})
    assert store.counts()["battles"] == 0


def test_the_pre_vote_view_carries_its_own_image_not_a_store_hash_or_path(store, pool):
    """The pre-vote image is the stored pixels under a name and bytes of its own: no content hash the
    store (and so ``/run_instance``) knows, no path, no metadata."""
    ctx = _context(store, pool, arena_mode="stored")
    inst = next(i for i in load("bundled").instances if i.track == "UEG")
    for model in MODELS:
        trace = Trace(inst.uid, model, "direct", {"seed": 0},
                      steps=[Step(StepRole.GENERATED_IMAGE, inst.prompt, image=Image.new("L", (4, 4), len(model)))])
        sha = store.load_trace(store.save_trace(trace, "bundled", pin=True)).final.image_sha
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", f"model: {model}")  # metadata an imported image file may carry
        store.get_image(sha).save(store.image_path(sha), format="PNG", pnginfo=info)
    battle = start_battle(ctx, "bundled", "UEG", "model_vs_model", SESSION, "hf:gus")
    view = play_to_end(ctx, battle, SESSION)
    text = json.dumps(view)
    assert str(store.path.parent) not in text
    for side in "AB":
        image = view["sides"][side]["image"]
        png = base64.b64decode(image["png_base64"])
        sha = store.load_trace(battle.runs[side]).final.image_sha
        assert sha not in text and hashlib.sha256(png).hexdigest() != sha
        decoded = Image.open(io.BytesIO(png))
        assert decoded.info == {} and b"tiny" not in png
        expected = store.get_image(sha)
        assert decoded.tobytes() == expected.convert(decoded.mode).tobytes()
    again = play_to_end(ctx, load_battle(ctx, battle.battle_id, SESSION), SESSION)
    assert {again["sides"][s]["image"]["png_base64"] for s in "AB"}.isdisjoint(
        {view["sides"][s]["image"]["png_base64"] for s in "AB"})  # every showing is its own bytes


def test_names_in_an_answer_are_redacted_before_the_vote_and_shown_after(store, pool):
    ctx = _context(store, pool, arena_mode="stored")
    inst = next(i for i in load("bundled").instances if i.track == "GEU")
    _store_answers(store, inst, {"tiny-pair": "As Qwen2.5-VL, I pick A.", "tiny-janus": "B, says tiny-janus"})
    battle = start_battle(ctx, "bundled", "GEU", "model_vs_model", SESSION, "hf:hal")
    view = play_to_end(ctx, battle, SESSION)
    texts = sorted(side["text"] for side in view["sides"].values())
    assert texts == sorted([f"As {REDACTED}-VL, I pick A.", f"B, says {REDACTED}"])
    revealed = vote_and_reveal(ctx, battle.battle_id, SESSION, "hf:hal", "A")
    shown = sorted(step["text"] for side in revealed["sides"].values() for step in side["steps"])
    assert shown == sorted(["As Qwen2.5-VL, I pick A.", "B, says tiny-janus"])  # the reveal shows it all
    # flagged, the vote kept, and left out of the ratings, which say how many were left out
    assert "Qwen2.5" in store.battle(battle.battle_id)["flagged"]
    assert [(v["choice"], bool(v["flagged"])) for v in store.votes()] == [("A", True)]
    assert ratings.leaderboard(store, "GEU", "model_vs_model", min_votes=0) == []
    assert store.flagged_votes("GEU", "model_vs_model") == 1 and store.flagged_votes("UEG") == 0


def test_an_alias_standing_as_a_word_flags_the_battle(store, pool):
    ctx = _context(store, pool, arena_mode="stored")
    inst = next(i for i in load("bundled").instances if i.track == "GEU")
    _store_answers(store, inst, {"tiny-pair": "The emu is on the left: A.", "tiny-janus": "B"})
    battle = start_battle(ctx, "bundled", "GEU", "model_vs_model", SESSION, "hf:joe")
    view = play_to_end(ctx, battle, SESSION)
    assert sorted(side["text"] for side in view["sides"].values())[1] == f"The {REDACTED} is on the left: A."
    vote_and_reveal(ctx, battle.battle_id, SESSION, "hf:joe", "A")
    # "emu" is an alias (Emu3): redacted, and the battle is flagged, as the rule says for any alias
    assert store.flagged_votes() == 1


def test_a_battle_whose_answers_name_nobody_is_rated(store, pool):
    ctx = _context(store, pool, arena_mode="stored")
    inst = next(i for i in load("bundled").instances if i.track == "GEU")
    _store_answers(store, inst, {"tiny-pair": "Clearly A.", "tiny-janus": "B, the emulated one"})
    battle = start_battle(ctx, "bundled", "GEU", "model_vs_model", SESSION, "hf:joe")
    play_to_end(ctx, battle, SESSION)
    vote_and_reveal(ctx, battle.battle_id, SESSION, "hf:joe", "B")
    assert store.battle(battle.battle_id)["flagged"] is None and store.flagged_votes() == 0
    assert {r["system"] for r in ratings.leaderboard(store, "GEU", "model_vs_model", min_votes=0)} == {
        "tiny-pair:direct", "tiny-janus:direct"}


def test_the_reveal_carries_what_the_pre_vote_view_held_back(store, pool):
    ctx = _context(store, pool, arena_mode="stored")
    inst = next(i for i in load("bundled").instances if i.track == "GEU")
    for model in MODELS:
        trace = Trace(inst.uid, model, "stepwise", {"seed": 3}, steps=[
            Step(StepRole.EDITED_IMAGE, "edit", image=Image.new("RGB", (4, 4), len(model)), seconds=1.5),
            Step(StepRole.ANSWER, inst.mcq_text, text="C", seconds=0.25)])
        store.save_trace(trace, "bundled", pin=True)
    battle = start_battle(ctx, "bundled", "GEU", "model_vs_model", SESSION, "hf:ivy")
    view = play_to_end(ctx, battle, SESSION)
    assert all(set(side) == {"text", "image", "error"} for side in view["sides"].values())
    assert "1.5" not in json.dumps(view) and "edited_image" not in json.dumps(view)
    revealed = vote_and_reveal(ctx, battle.battle_id, SESSION, "hf:ivy", "tie")
    for side in "AB":
        info = revealed["sides"][side]
        assert [s["role"] for s in info["steps"]] == ["edited_image", "answer"]
        assert [s["seconds"] for s in info["steps"]] == [1.5, 0.25] and info["seconds"] == 1.75
        assert info["status"] == "ok" and info["settings"] == {"seed": 3} and info["steps"][0]["image_sha"]


def test_an_empty_answer_has_the_same_pre_vote_shape_as_any_other(store, pool):
    """A model that answers with nothing still answered: its side's text is "" like the other side's
    string, not None (a different shape before the vote)."""
    ctx = _context(store, pool, arena_mode="stored")
    inst = next(i for i in load("bundled").instances if i.track == "GEU")
    _store_answers(store, inst, {"tiny-pair": "", "tiny-janus": "B"})
    battle = start_battle(ctx, "bundled", "GEU", "model_vs_model", SESSION, "hf:ivy")
    view = play_to_end(ctx, battle, SESSION)
    assert sorted(side["text"] for side in view["sides"].values()) == ["", "B"]
    assert all(side["image"] is None and side["error"] is None for side in view["sides"].values())


def test_an_imported_model_naming_itself_is_redacted_and_flagged(store, pool):
    """Stored battles also draw systems that are no card (runs stored by import-results under a name of
    the maintainer's choosing): an answer naming its own system gives it away just the same."""
    ctx = _context(store, pool, arena_mode="stored")
    inst = next(i for i in load("bundled").instances if i.track == "GEU")
    _store_answers(store, inst, {"SenseNova-U1": "SenseNova U1 picks A", "team-x": "B"})
    battle = start_battle(ctx, "bundled", "GEU", "model_vs_model", SESSION, "hf:jo")
    view = play_to_end(ctx, battle, SESSION)
    assert sorted(side["text"] for side in view["sides"].values()) == sorted([f"{REDACTED} picks A", "B"])
    assert "SenseNova U1" in store.battle(battle.battle_id)["flagged"]


# -- which battles wait for the accelerator -----------------------------------------------------------


def _far(name: str) -> ModelCard:
    return ModelCard(name=name, family="openai", description="an endpoint (test only)",
                     capabilities=frozenset(Capability), checkpoints={c.value: "m" for c in Capability},
                     endpoint="http://127.0.0.1:9/v1")


def test_a_battle_takes_the_device_slot_only_when_its_sides_to_run_are_all_local(store):
    pool = ModelPool({**load_cards(), "far-a": _far("far-a"), "far-b": _far("far-b")})
    ctx = _context(store, pool, judge="tiny-pair")
    ueg = next(i for i in load("bundled").instances if i.track == "UEG")
    geu = next(i for i in load("bundled").instances if i.track == "GEU")

    def battle(a: str, b: str, runs=None, inst=ueg) -> Battle:
        return Battle("b", "bundled", inst, "model_vs_model", {"A": System(a, "direct"), "B": System(b, "direct")},
                      runs or {"A": None, "B": None}, {"A": False, "B": False})

    assert not play_needs_device(ctx, battle("far-a", "far-b"))  # two endpoints: outside the model slot
    # a remote side still to run: outside the slot (its local side takes the device lock on a thread)
    assert not play_needs_device(ctx, battle("far-a", "tiny-pair"))
    assert not play_needs_device(ctx, battle("tiny-janus", "far-a"))
    assert play_needs_device(ctx, battle("tiny-janus", "tiny-pair"))
    assert not play_needs_device(ctx, battle("tiny-janus", "tiny-pair", {"A": 1, "B": 2}))  # pinned or delivered
    assert play_needs_device(ctx, battle("tiny-janus", "far-a", {"A": None, "B": 2}))  # the remote side is done
    assert not play_needs_device(ctx, battle("tiny-janus", "far-a", {"A": 1, "B": None}))  # the local side is done
    assert play_needs_device(ctx, battle("not-a-card", "tiny-pair"))  # unknown counts as local: the safe side
    assert play_needs_device(ctx, battle("not-a-card", "far-a", {"A": None, "B": 2}))
    assert not play_needs_device(ctx, battle("not-a-card", "far-a"))
    assert judging_needs_device(ctx, battle("far-a", "far-b"))  # a local judge model scores UEG images
    assert not judging_needs_device(ctx, battle("tiny-pair", "tiny-janus", inst=geu))  # GEU: parsed, no model
    assert not judging_needs_device(_context(store, pool, judge="far-a"), battle("tiny-pair", "tiny-janus"))
    assert not judging_needs_device(_context(store, pool, judge="human"), battle("tiny-pair", "tiny-janus"))


def test_the_device_slot_holds_local_work_and_lets_remote_work_pass(store, pool):
    ctx = _context(store, pool)  # gpu_concurrency 1

    async def scenario() -> list[str]:
        order = []
        async with ctx.device_slot(True):
            async with ctx.device_slot(False):  # remote work passes while the slot is held
                order.append("remote")
            waiting = asyncio.create_task(_enter(ctx, True, order))
            await asyncio.sleep(0.05)
            assert not waiting.done(), "a second local run entered a held slot"
            order.append("first local done")
        await asyncio.wait_for(waiting, 1)
        return order

    with ThreadPoolExecutor(1) as thread:  # a loop of its own, whatever an earlier test left on this thread
        assert thread.submit(asyncio.run, scenario()).result() == ["remote", "first local done", "second local"]


def test_waiting_runs_counts_the_local_runs_queued_for_a_held_slot_and_none_other(store, pool):
    """Hand-counted: with the one slot held, remote work passes uncounted, two local runs queue (2), and once
    the slot is given back each enters in turn (0 waiting after them). The count a full queue's refusal names is
    the same number."""
    ctx = _context(store, pool, queue_size=2)  # gpu_concurrency 1

    async def until(count: int) -> None:
        while ctx.waiting_runs != count:
            await asyncio.sleep(0.01)

    async def scenario() -> list[int]:
        seen, order = [ctx.waiting_runs], []
        async with ctx.device_slot(True):
            async with ctx.device_slot(False):
                seen.append(ctx.waiting_runs)
            queued = [asyncio.create_task(_enter(ctx, True, order)) for _ in range(2)]
            await asyncio.wait_for(until(2), 30)
            seen.append(ctx.waiting_runs)
            with pytest.raises(QueueFull, match="^2 model runs are already waiting"):
                async with ctx.device_slot(True):
                    pass
        await asyncio.wait_for(asyncio.gather(*queued), 30)
        seen.append(ctx.waiting_runs)
        return seen

    with ThreadPoolExecutor(1) as thread:
        assert thread.submit(asyncio.run, scenario()).result() == [0, 0, 2, 0]


async def _enter(ctx: AppContext, needed: bool, order: list[str]) -> None:
    async with ctx.device_slot(needed):
        order.append("second local")


def test_a_stopped_run_leaves_the_slot_queue_at_once_and_the_line_behind_it_keeps_its_order(store, pool):
    """A queued run whose Stop was pressed stops waiting (without taking a slot), while the runs queued
    after it still enter in arrival order and the slot count stays right."""
    ctx = _context(store, pool)  # gpu_concurrency 1
    stopped = threading.Event()

    async def scenario() -> tuple[list, list]:
        order, held = [], []

        async def queued(name: str, abandon=None):
            async with ctx.device_slot(True, abandon) as holds:
                held.append((name, holds))
                order.append(name)
                await asyncio.sleep(0.01)

        async with ctx.device_slot(True):
            abandoning = asyncio.create_task(queued("stopped", stopped.is_set))
            await asyncio.sleep(0.01)
            second = asyncio.create_task(queued("second", lambda: False))
            await asyncio.sleep(0.01)
            third = asyncio.create_task(queued("third"))
            await asyncio.sleep(0.05)
            stopped.set()
            await asyncio.wait_for(abandoning, 1)  # it left while the slot was still held
            assert not second.done() and not third.done()
            order.append("first done")
        await asyncio.wait_for(asyncio.gather(second, third), 2)
        async with ctx.device_slot(True) as holds:  # every slot came back: the next run enters at once
            held.append(("last", holds))
        return order, held

    with ThreadPoolExecutor(1) as thread:
        order, held = thread.submit(asyncio.run, scenario()).result()
    assert order == ["stopped", "first done", "second", "third"]
    assert held == [("stopped", False), ("second", True), ("third", True), ("last", True)]


@pytest.mark.parametrize("kind", ["direct_vs_stepwise", "model_vs_model"])
def test_no_side_is_seen_to_end_before_the_other(store, pool, kind):
    """hunt27g: a live direct-vs-stepwise battle showed the direct side's output (and recorded its delivery, which
    ``/vote``'s refusal names: "side B has not been shown") while the stepwise side still worked, so which side
    was direct was known before the vote. Now every end is held until both sides have ended: each side's
    finished output, and its delivery, come after the last step of every side, together."""
    ctx = _context(store, pool)
    battle = start_battle(ctx, "bundled", "UEG", kind, SESSION, "hf:gus")
    seen = []  # (side, done, sides the store calls delivered at that moment)
    for side, update in play(ctx, battle, SESSION):
        row = store.battle(battle.battle_id)
        seen.append((side, update.done, {s for s in "AB" if row[f"delivered_{s.lower()}_at"] is not None}))
    ended = [i for i, (_, done, _) in enumerate(seen) if done]
    assert sorted(seen[i][0] for i in ended) == ["A", "B"] and ended == [len(seen) - 2, len(seen) - 1], seen
    # when the first end is yielded both sides are already delivered: the other side is not still running
    assert [delivered for _, _, delivered in seen] == [set()] * ended[0] + [{"A", "B"}] * 2, seen
    assert load_battle(ctx, battle.battle_id, SESSION).ready



def test_a_failed_judging_of_a_voted_battle_is_not_run_again(store, tmp_path):
    """arena27: a judging that fails (the judge model does not load: broken or missing weights, out of memory) is
    not stored (it is no verdict), so each judging event of a voted battle (the page sends it after the vote; a
    visitor can send it again and again) loaded the judge anew, counted against no run limit. Now a run's
    judging by a judge is tried once: later reveals say the same problem and nothing is loaded again."""
    ctx, battle, loads = _played_battle_with_a_broken_judge(store, tmp_path, hold_first_load=False)
    voted = vote_and_reveal(ctx, battle.battle_id, SESSION, "hf:erin", "tie")
    assert [voted["sides"][s]["judge_problem"] for s in "AB"] == [JUDGING, JUDGING]
    first = judge_battle(ctx, battle.battle_id, SESSION)
    problems = [first["sides"][s]["judge_problem"] for s in "AB"]
    assert all((p or "").startswith("judge broken-judge failed") for p in problems), problems
    assert loads == ["broken-judge"] * 2, loads  # once per side's run
    for _ in range(3):  # the page's judging event sent again
        again = judge_battle(ctx, battle.battle_id, SESSION)
        assert [again["sides"][s]["judge_problem"] for s in "AB"] == problems
    assert loads == ["broken-judge"] * 2, f"the judge was loaded {len(loads) - 2} more times"


def test_two_judgings_of_one_run_sent_at_once_run_the_judge_once(store, tmp_path):
    """note27's known fault: two judging events for one voted battle sent at the same moment (two tabs, a
    script), before either had failed, both loaded and ran the judge. Now the second waits for the first's
    outcome and says the same problem. The first load is held a moment so the second event surely arrives
    while it runs."""
    ctx, battle, loads = _played_battle_with_a_broken_judge(store, tmp_path, hold_first_load=True)
    vote_and_reveal(ctx, battle.battle_id, SESSION, "hf:erin", "tie")
    results = []
    threads = [threading.Thread(target=lambda: results.append(judge_battle(ctx, battle.battle_id, SESSION)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    for result in results:
        problems = [result["sides"][s]["judge_problem"] for s in "AB"]
        assert all((p or "").startswith("judge broken-judge failed") for p in problems), problems
    assert loads == ["broken-judge"] * 2, f"{len(loads)} loads for two runs: the judge ran twice for a run"


def _played_battle_with_a_broken_judge(store, tmp_path, *, hold_first_load: bool):
    """(ctx, a played UEG battle of stored runs, the judge loads so far): the judge is a local card whose
    checkpoint folder is empty, so the real loader (``build_adapter``) fails on it as on a broken download;
    the pool's loader is wrapped only to count the loads it is asked for (and, with ``hold_first_load``, to
    hold the first one half a second)."""
    (tmp_path / "weights").mkdir()
    judge = ModelCard(name="broken-judge", family="pair", description="judge with no weights (test only)",
                      capabilities=frozenset({Capability.UNDERSTAND}),
                      checkpoints={"understand": str(tmp_path / "weights")}, dtype="float32")
    loads = []

    def counting(card, device):
        loads.append(card.name)
        if hold_first_load and len(loads) == 1:
            time.sleep(0.5)
        return build_adapter(card, device)

    inst = next(i for i in load("bundled").instances if i.track == "UEG" and i.question_list)
    for model in MODELS:  # stored UEG runs, as eval stores them
        image = Image.new("RGB", (16, 16), (len(model) * 9, 40, 90))
        trace = Trace(inst.uid, model, "direct", {"seed": 0},
                      steps=[Step(StepRole.GENERATED_IMAGE, inst.prompt, image=image)])
        store.save_trace(trace, "bundled", pin=True)
    ctx = _context(store, ModelPool({**load_cards(), judge.name: judge}, device="cpu", loader=counting),
                   arena_mode="stored", judge=judge.name)
    battle = start_battle(ctx, "bundled", "UEG", "model_vs_model", SESSION, "hf:erin")
    play_to_end(ctx, battle, SESSION)
    return ctx, battle, loads
