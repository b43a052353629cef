"""The Arena's reveal links each side to Explore with its run's model and seed (``arena_tab.side_links``), and now
its generation settings: before, a stored side made with 5 diffusion steps (tiny-pair's default is 2) linked to
Explore on the default 2, so the link's Run made another image than the one voted on.

Expected, written out from tiny-pair's card (``models/``: 2 steps, guidance 3, 8 new tokens) and the link grammar
(``page_links``): the settings that differ from the card's defaults, none where the run used the defaults."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from PIL import Image

from realunify_arena.arena import Arena
from realunify_arena.benchmark.generators import generate_set, write_set
from realunify_arena.cards import load_cards
from realunify_arena.context import AppContext
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.trace import Step, StepRole, Trace
from realunify_arena.ui.arena_tab import side_links


def _arena(tmp_path):
    """A context over one generated UEG instance and tiny-pair, its store, the data set, the instance, the card."""
    write_set(generate_set(1, seed=5, task_types=["world_knowledge"]), tmp_path / "data")
    settings = Settings(data=(str(tmp_path / "data"),), models=("tiny-pair",), judge="human", db=tmp_path / "a.db")
    store = Store.open(settings.db)
    ctx = AppContext(settings, store, ModelPool(load_cards()), Arena(store))
    dataset = ctx.dataset(ctx.source_names()[0])
    return ctx, store, dataset, next(i for i in dataset.instances if i.track == "UEG"), ctx.cards["tiny-pair"]


def test_a_revealed_side_links_to_explore_with_its_run_s_settings(tmp_path):
    ctx, store, dataset, inst, card = _arena(tmp_path)

    def stored(**options) -> int:
        step = Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("RGB", (16, 16), (options.get("steps", 2), 0, 0)),
                    seconds=1.0)
        return store.save_trace(Trace(inst.uid, "tiny-pair", "direct", card.options(seed=4, **options).to_dict(),
                                      steps=[step]), dataset.name, pin=True)

    links = side_links(ctx, {"sides": {"A": {"run_id": stored(steps=5, guidance=2.5)},
                                       "B": {"run_id": stored()}}})
    try:
        assert parse_qs(links["A"].lstrip("?")) == {"tab": ["explore"], "instance": [inst.uid],
                                                    "model": ["tiny-pair"], "seed": ["4"], "steps": ["5"],
                                                    "guidance": ["2.5"]}
        assert parse_qs(links["B"].lstrip("?")) == {"tab": ["explore"], "instance": [inst.uid],
                                                    "model": ["tiny-pair"], "seed": ["4"]}
    finally:
        store.close()


@pytest.mark.parametrize("odd, key", [({"steps": float("inf")}, None), ({"guidance": float("nan")}, None),
                                      ({"steps": 10**400}, None), ({}, '{"steps": 5, "guidance":'), ({}, "null"),
                                      ({"steps": True}, None)])  # JSON's true is no number: was linked as steps=1
def test_a_revealed_side_whose_stored_settings_are_odd_still_links_and_never_raises(tmp_path, odd, key):
    """A run's settings come back from the store as stored: a merged store's run (``evaluation.merge``) keeps the
    other store's JSON, where ``json`` reads ``Infinity`` and ``1e999`` as float infinity, ``NaN`` as NaN and an
    integer of any length as it is; a store edited by hand may hold no JSON at all. Before, ``int(inf)`` and the
    float of a 400-digit integer raised OverflowError, and unreadable JSON a JSONDecodeError, out of
    ``side_links``: the vote was counted and its reveal ended in an error instead of who was who; a NaN guidance
    was linked as ``guidance=nan``, which Explore refuses. Expected: the side's link without settings (none a
    link can carry), its instance, model and seed as stored."""
    ctx, store, dataset, inst, card = _arena(tmp_path)
    step = Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("RGB", (16, 16), (4, 0, 0)), seconds=1.0)
    run_id = store.save_trace(Trace(inst.uid, "tiny-pair", "direct", {**card.options(seed=4).to_dict(), **odd},
                                    steps=[step]), dataset.name, pin=True)
    try:
        if key is not None:  # written by another program: the column's text as it is
            store.db.execute("update runs set settings_key = ? where id = ?", (key, run_id))
            store.db.conn.commit()
        links = side_links(ctx, {"sides": {"A": {"run_id": run_id}, "B": {"run_id": None}}})
        assert parse_qs(links["A"].lstrip("?")) == {"tab": ["explore"], "instance": [inst.uid],
                                                    "model": ["tiny-pair"], "seed": ["4"]}
    finally:
        store.close()
