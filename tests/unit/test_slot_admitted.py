"""A run takes what it reads from a bounded store when the accelerator's queue lets it in, not after its wait.

fix28b: Explore's columns read your own instance from ``AppContext``'s held set only once they had the
accelerator, so a Run waiting behind others failed "no longer held on the server" once the visitor's newer own
instances pushed its instance out. ``device_slot``'s ``admitted`` is called when the run gets its place (before
it waits), and never for a run the full queue refuses, so a refused run reads (and pins) nothing. Here the real
``AppContext`` with one slot and one place to wait, and own GEU instances with real (noise) images.
"""

from __future__ import annotations

import asyncio

import pytest
from PIL import Image

from realunify_arena import context
from realunify_arena.arena import Arena
from realunify_arena.benchmark.custom import CUSTOM_DATASET, custom_instance
from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store


@pytest.fixture
def ctx(tmp_path):
    store = Store.open(tmp_path / "arena.db")
    yield context.AppContext(Settings(data=("bundled",), db=tmp_path / "arena.db", gpu_concurrency=1, queue_size=1),
                             store, ModelPool(load_cards()), Arena(store))
    store.close()


def own(seed: int):
    image = Image.effect_noise((128, 128), 64 + seed).convert("RGB")
    return custom_instance("GEU", "all", "", image, f"question {seed}?", "a\nb\nc\nd", "")


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def test_a_waiting_run_keeps_the_own_instance_it_took_when_let_into_the_queue(ctx):
    first = own(0)
    reference = ctx.hold(CUSTOM_DATASET, first, "anon:one")
    calls: list[str] = []

    async def run(ref, who):
        taken = []
        async with ctx.device_slot(True, who=who, admitted=lambda: taken.append(ctx.instance(ref))):
            calls.append(who)
            return taken[0]

    async def scenario():
        async with ctx.device_slot(True):  # holds the one slot
            waiting = asyncio.create_task(run(reference, "anon:one"))
            await _until(lambda: ctx.waiting_runs == 1 or waiting.done())
            assert not waiting.done(), waiting.exception()  # it waits for the slot
            refused = []
            with pytest.raises(context.QueueFull, match="1 model runs are already waiting"):
                async with ctx.device_slot(True, who="anon:other", admitted=lambda: refused.append(1)):
                    pass
            assert refused == []  # refused: it read nothing
            for seed in range(1, 1 + context.OWN_HELD // context.OWN_SHARES):  # the same visitor's newer 8
                ctx.hold(CUSTOM_DATASET, own(seed), "anon:one")
            with pytest.raises(KeyError, match="no longer held"):
                ctx.instance(reference)
            assert calls == []  # still waiting
        return await waiting

    assert asyncio.run(scenario()) is first
    assert calls == ["anon:one"] and ctx.waiting_runs == 0


def test_a_run_that_needs_no_slot_is_admitted_at_once_and_an_abandoned_one_not_at_all(ctx):
    admitted = []

    async def scenario():
        async with ctx.device_slot(False, admitted=lambda: admitted.append("remote")) as held:
            assert held is True
        async with ctx.device_slot(True, abandon=lambda: True, admitted=lambda: admitted.append("abandoned")) as held:
            assert held is False

    asyncio.run(scenario())
    assert admitted == ["remote"]
