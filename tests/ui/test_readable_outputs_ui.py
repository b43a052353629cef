"""What a first-time visitor reads in the outputs: an empty answer says so before the vote as it does after it,
and the judge's table breaks its headers and marks between words, never inside one.

Its own app in stored mode over one generated GEU and one UEG instance: battles show runs stored here, so a
side's answer is exactly the text the test stored.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import MODELS
from playwright.sync_api import expect

from realunify_arena.benchmark import load
from realunify_arena.benchmark.generators import generate_set, write_set
from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.trace import Step, StepRole, Trace
from realunify_arena.ui import build_demo, launch_options

SHOWN_EMPTY = "(empty output)"  # what Explore's answer box already showed for an empty answer


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("readable-outputs")
    write_set(generate_set(1, seed=5, task_types=["mental_tracking", "world_knowledge"]), root / "data")
    data = load(root / "data")
    geu = next(i for i in data.instances if i.track == "GEU")
    store = Store.open(root / "arena.db")
    for model, answer in zip(MODELS, ("", " \n ")):  # nothing, and only white space: both look blank
        trace = Trace(geu.uid, model, "direct", {"seed": 0}, steps=[Step(StepRole.ANSWER, geu.mcq_text, text=answer)])
        store.save_trace(trace, data.name, pin=True)
    settings = Settings(data=(str(root / "data"),), models=MODELS, judge="tiny-pair", db=root / "arena.db",
                        arena_mode="stored", min_votes=1)
    demo = build_demo(settings, store, ModelPool(load_cards()))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    yield {"url": url, "data": data}
    demo.close()
    store.close()


@pytest.fixture
def page(browser, stored):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def test_an_empty_answer_says_so_before_the_vote(page, stored):
    """Before: a battle side whose answer was empty (or white space) showed a blank box, as a side still
    waiting does, while Explore and the reveal showed "(empty output)" for the same run."""
    page.goto(stored["url"] + "?tab=arena")
    page.locator("#ar-track").get_by_label("GEU", exact=True).check()
    page.locator("#ar-kind").get_by_label("two models, same mode", exact=True).check()
    page.locator("#ar-new").click()
    expect(page.locator("#ar-vote-A")).to_be_enabled()
    for side in ("a", "b"):
        expect(page.locator(f"#ar-{side}-answer textarea")).to_have_value(SHOWN_EMPTY)
