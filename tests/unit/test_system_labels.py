"""A system's name on the table, in the paired analysis and on exported folders: one name per system.

A system is a model with one settings dict as the store keys it (the ``settings_key`` column, the text that
``find_run`` matches a run by): ``{"seed": 1}`` and ``{"seed": "1"}`` are two keys, so two systems whose runs
the store keeps apart. The expected partition of the runs is read from that column of a real SQLite store,
never from the labelling code; the expected label texts are written out by hand.
"""

from __future__ import annotations

import itertools

from PIL import Image

from realunify_arena import paired
from realunify_arena.judge import polling_judgment
from realunify_arena.benchmark.schema import PollingQuestion
from realunify_arena.reporting import system_labels
from realunify_arena.trace import Step, StepRole, Trace

UID = "UEG_1_world_knowledge"
QUESTIONS = [PollingQuestion("Is there a cat?", "yes"), PollingQuestion("Is it red?", "no")]

# settings that Python's str() prints alike, or that differ only in an absent vs a null setting, or in a
# string that looks like another setting written out
SETTINGS = [
    {"seed": 1}, {"seed": "1"}, {"seed": 1.0}, {"seed": True}, {"seed": "True"},
    {"seed": 1, "cfg": None}, {"seed": 1, "cfg": "null"}, {"seed": "1, cfg=None"},
    {"seed": 1, "cfg": "unset"}, {"seed": 1, "note": [1, 2]}, {"seed": 1, "note": "[1, 2]"},
]


def _save(store, model: str, mode: str, settings: dict, uid: str = UID) -> int:
    image = Image.new("RGB", (4, 4), "red")
    return store.save_trace(Trace(uid, model, mode, settings, [Step(StepRole.GENERATED_IMAGE, "p", image=image)]),
                            "set")


def test_labels_are_equal_exactly_when_the_store_keys_the_runs_as_one_system(store):
    """Before: ``seed=1`` for 1, "1" and 1.0's neighbour, ``seed=True`` for True and "True", and ``m ()`` for
    both an absent and a null ``cfg``: different systems, one name."""
    for settings in SETTINGS:
        _save(store, "m", "direct", settings)
        _save(store, "m", "direct", dict(settings), uid="UEG_2_world_knowledge")  # the same system again
    _save(store, "other", "direct", {"seed": 1})
    runs = store.runs()
    labels = system_labels(runs)
    assert len({(r["model"], r["settings_key"]) for r in runs}) == len(SETTINGS) + 1
    for a, b in itertools.combinations(runs, 2):
        same_system = (a["model"], a["settings_key"]) == (b["model"], b["settings_key"])
        assert (labels[a["id"]] == labels[b["id"]]) == same_system, (a["settings_key"], b["settings_key"],
                                                                      labels[a["id"]])


def test_labels_write_each_differing_value_as_the_store_tells_it_apart(store):
    ids = {name: _save(store, "m", "direct", settings) for name, settings in (
        ("int", {"seed": 1}), ("str", {"seed": "1"}), ("float", {"seed": 1.0}), ("bool", {"seed": True}),
        ("size", {"seed": 1, "size": "512x512"}))}
    labels = system_labels(store.runs())
    assert labels[ids["int"]] == "m (seed=1, size=unset)"
    assert labels[ids["str"]] == 'm (seed="1", size=unset)'
    assert labels[ids["float"]] == "m (seed=1.0, size=unset)"
    assert labels[ids["bool"]] == "m (seed=true, size=unset)"
    assert labels[ids["size"]] == "m (seed=1, size=512x512)"


def test_one_settings_per_model_keeps_the_bare_model_name(store):
    _save(store, "m", "direct", {"seed": 1})
    _save(store, "m", "stepwise", {"seed": 1})
    assert set(system_labels(store.runs()).values()) == {"m"}


def test_paired_analysis_keeps_two_systems_that_print_alike_apart(store):
    """Seed 1 helped (direct wrong, stepwise right), seed "1" hurt (the reverse), on the same instance. Before:
    both were labelled 'm (seed=1)', so the paired analysis saw one system and kept one of the two pairs."""
    for seed, replies in ((1, {"direct": ["no", "no"], "stepwise": ["yes", "no"]}),
                          ("1", {"direct": ["yes", "no"], "stepwise": ["no", "no"]})):
        for mode in ("direct", "stepwise"):
            run = _save(store, "m", mode, {"seed": seed})
            store.save_judgment(run, "judge-x", polling_judgment(QUESTIONS, [[r] for r in replies[mode]],
                                                                 "judge-x").to_dict())
    sets = {ps.label: ps for ps in paired.paired_sets(store)}
    assert set(sets) == {"m (seed=1)", 'm (seed="1")'}
    assert [p.moved for p in sets["m (seed=1)"].pairs] == [paired.HELPED]
    assert [p.moved for p in sets['m (seed="1")'].pairs] == [paired.HURT]
