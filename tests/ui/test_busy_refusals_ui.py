"""A click the app refuses leaves the page as it was: the reason in a message, no bare "Error" badge.

A newcomer presses Run again while a run is going, or starts one battle too many: the app refuses
(``Refusal``), Gradio shows the reason in a toast that fades after a while, and every visible output of the
refused event (the instance's text, the columns, the battle's sides) kept a red "Error" badge with no
reason, over the run that was still going or the battle still shown. The refusal's message must still
appear; no visible "Error" badge may stay.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from queue_calls import SLOW_CARD

from realunify_arena.benchmark.generators import generate_set, write_set
from realunify_arena.cards import load_card, load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.ui import build_demo, launch_options


@pytest.fixture(scope="module")
def busy_app(tmp_path_factory):
    """A card whose run never ends by itself, and a voter allowed one battle a minute."""
    root = tmp_path_factory.mktemp("busy")
    (root / "cards").mkdir()
    (root / "cards" / "tiny-slow.yaml").write_text(SLOW_CARD)
    write_set(generate_set(1, seed=8, task_types=["mathematical_reasoning"]), root / "data")
    cards = {**load_cards(), "tiny-slow": load_card(root / "cards" / "tiny-slow.yaml")}
    settings = Settings(data=(str(root / "data"),), models=("tiny-janus", "tiny-slow"), judge="human",
                        db=root / "arena.db", gpu_concurrency=1, run_time_limit=0, battle_limit=1,
                        battle_window=600)
    store = Store.open(settings.db)
    demo = build_demo(settings, store, ModelPool(cards, device="cpu"))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    yield url
    demo.close()
    store.close()


def _no_bare_error(area) -> None:
    assert area.locator(".error").count() == 0, "an Error badge is shown"
    assert not re.search(r"(^|\n)\s*Error\s*(\n|$)", area.inner_text()), "a bare Error badge is shown"


def test_run_pressed_again_while_a_run_goes_on_says_why_and_marks_nothing_error(page, busy_app):
    page.goto(busy_app + "?model=tiny-slow")
    expect(page.locator("#ex-model input")).to_have_value("tiny-slow")
    page.locator("#ex-run").click()
    statuses = page.locator("#ex-direct-status, #ex-stepwise-status")
    expect(statuses.filter(has_text="running")).to_have_count(1, timeout=120_000)
    page.locator("#ex-run").click()
    expect(page.get_by_text("A run is already in progress on this page")).to_be_visible()
    expect(page.locator("#ex-instance-text")).to_contain_text("mathematical_reasoning")  # the running run's instance stays
    _no_bare_error(page.locator("#tab-explore"))
    page.locator("#ex-stop").click()
    expect(statuses.filter(has_text="you pressed Stop")).to_have_count(2)
    _no_bare_error(page.locator("#tab-explore"))


def test_a_battle_over_the_limit_says_why_and_marks_nothing_error(page, busy_app):
    page.goto(busy_app + "?tab=arena")
    page.locator("#ar-new").click()
    expect(page.locator("#ar-instance")).to_contain_text("mathematical_reasoning")
    page.locator("#ar-new").click()  # the voter's second battle within the window: refused
    expect(page.get_by_text("at most 1 new battles per 600 s")).to_be_visible()
    expect(page.locator("#ar-instance")).to_contain_text("mathematical_reasoning")  # the battle shown stays
    _no_bare_error(page.locator("#tab-arena"))
    page.locator("#ar-stop").click()  # the battle drawn may hold tiny-slow, which never ends by itself


@pytest.fixture(scope="module")
def one_judgment_app(tmp_path_factory):
    """A UEG instance judged by hand, and a voter allowed one vote (a hand judgment counts as one) an hour."""
    root = tmp_path_factory.mktemp("judged")
    write_set(generate_set(1, seed=8, task_types=["world_knowledge"]), root / "data")
    settings = Settings(data=(str(root / "data"),), models=("tiny-janus",), judge="human", db=root / "arena.db",
                        gpu_concurrency=1, vote_limit=1, vote_window=3600)
    store = Store.open(settings.db)
    demo = build_demo(settings, store, ModelPool(load_cards(), device="cpu"))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    yield url
    demo.close()
    store.close()


def test_a_refused_judgment_says_why_and_marks_nothing_error(page, one_judgment_app):
    page.goto(one_judgment_app + "?model=tiny-janus&judge=human")
    expect(page.locator("#ex-judge input")).to_have_value("human")
    page.locator("#ex-run").click()
    verdict = page.locator("#ex-direct-verdict")
    expect(verdict).to_contain_text("Judge it yourself below.", timeout=120_000)
    page.get_by_role("button", name="Judge it yourself").first.click()
    page.locator("#ex-direct-judge-box input[type=checkbox]").first.check()
    page.locator("#ex-direct-judge-save").click()
    human = page.locator("#ex-direct-human-verdict")
    expect(human).to_contain_text("Saved as your judgment")
    page.locator("#ex-direct-judge-box input[type=checkbox]").first.uncheck()  # another judgment (the same
    page.locator("#ex-direct-judge-save").click()  # saved again is a retry): over the limit of one, refused
    expect(page.get_by_text("rate limit")).to_be_visible()
    expect(human).to_contain_text("Saved as your judgment")  # the judgment shown stays
    expect(verdict).to_contain_text("Instance score")
    _no_bare_error(page.locator("#tab-explore"))
