"""The first five minutes in a real browser: the default Run on a machine whose hub does not answer, Stop
ending a long run so the next session's run starts, and a capped setting refused with a message."""

from __future__ import annotations

import re
import socket
import time
from contextlib import contextmanager

import pytest
from conftest import JOIN, count_calls, explain_timeouts, fn_indices, hold_events, release, settle, wait_held
from huggingface_hub import constants
from playwright.sync_api import expect
from queue_calls import SLOW_CARD

from realunify_arena import availability
from realunify_arena.benchmark import load
from realunify_arena.benchmark.generators import generate_set, write_set
from realunify_arena.cards import load_card, load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.ui import build_demo, launch_options


@pytest.fixture(scope="module")
def offline_app(tmp_path_factory):
    """Every shipped card offered, no API keys, nothing cached, and a hub that accepts connections but
    never answers: what a fresh machine behind a firewall sees."""
    root = tmp_path_factory.mktemp("first-run")
    patch = pytest.MonkeyPatch()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    patch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
    patch.setattr(constants, "HF_HUB_CACHE", str(root / "hub"))
    patch.setattr(constants, "HF_HUB_OFFLINE", False)
    for name in ("HF_HUB_OFFLINE", "GEMINI_API_KEY", "OPENAI_API_KEY"):
        patch.delenv(name, raising=False)
    availability.forget_probes()
    write_set(generate_set(1, seed=6, task_types=["mathematical_reasoning"]), root / "data")
    settings = Settings(data=(str(root / "data"),), db=root / "arena.db")  # the defaults: every card, judge auto
    store = Store.open(settings.db)
    started = time.monotonic()
    demo = build_demo(settings, store, ModelPool(load_cards(), device="cpu"))
    built_s = time.monotonic() - started
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    yield {"url": url, "store": store, "built_s": built_s}
    demo.close()
    store.close()
    silent.close()
    patch.undo()
    availability.forget_probes()


@contextmanager
def _slow_app(root, **settings):
    """One accelerator slot shared by every session, and a card whose run never ends by itself."""
    (root / "cards").mkdir()
    (root / "cards" / "tiny-slow.yaml").write_text(SLOW_CARD)
    write_set(generate_set(1, seed=7, task_types=["mathematical_reasoning"]), root / "data")
    cards = {**load_cards(), "tiny-slow": load_card(root / "cards" / "tiny-slow.yaml")}
    settings = Settings(models=("tiny-janus", "tiny-slow"), judge="human", db=root / "arena.db",
                        **{"data": (str(root / "data"),), "gpu_concurrency": 1, "run_time_limit": 0, **settings})
    store = Store.open(settings.db)
    demo = build_demo(settings, store, ModelPool(cards, device="cpu"))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    try:
        yield {"url": url, "store": store}
    finally:
        demo.close()
        store.close()


@pytest.fixture(scope="module")
def slow_app(tmp_path_factory):
    with _slow_app(tmp_path_factory.mktemp("stop")) as app:
        yield app


@pytest.fixture(scope="module")
def full_app(tmp_path_factory):
    """No room to wait for the one slot: a local run that would wait is refused at once."""
    with _slow_app(tmp_path_factory.mktemp("full"), queue_size=0) as app:
        yield app


def _page(browser, url: str, *, calls: str | None = None):
    """A fresh page at ``url``; with ``calls``, its fetches whose URL has it are counted (``settle``)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    if calls:
        count_calls(page, calls)
    page.goto(url)
    expect(page.locator("#tab-explore")).to_be_visible()
    return context, page


def _press(page, selector: str) -> None:
    """Click ``selector`` on ``page`` of a test that drives two pages. The page is brought to the front
    first and the click is dispatched as a DOM event: a mouse click sent to the page that was not the last
    one used waited for a frame that a loaded CI machine did not render within 60 s."""
    page.bring_to_front()
    expect(page.locator(selector)).to_be_enabled()  # a dispatched click on a disabled button does nothing: Run
    page.locator(selector).dispatch_event("click")  # is disabled until the page's load event filled in the link


def _stop_left_running(page, selector: str, statuses) -> None:
    """A test's cleanup on the shared ``slow_app``: press Stop (``selector``) and wait until no column of
    ``statuses`` runs. tiny-slow never ends by itself and goes on when its page closes, so a test that failed
    part-way kept the app's one accelerator slot, and every later test of the module waited 120 s for a run
    that could not start (all four failed together in CI). A failure here never hides the test's own."""
    try:
        page.locator(selector).dispatch_event("click", timeout=10_000)
        expect(statuses.filter(has_text=re.compile("running|working|loading"))).to_have_count(0, timeout=30_000)
    except Exception:  # noqa: BLE001 - cleanup; the test's own failure (if any) is the one to report
        pass


RUN_BOUND_MS = 300_000  # how long a tiny model's first run (its load included) may take on a loaded machine


def test_the_default_run_finishes_with_a_runnable_model_when_the_hub_does_not_answer(browser, offline_app):
    assert offline_app["built_s"] < 60  # every card checked once, each hub probe bounded by its timeout
    context, page = _page(browser, offline_app["url"])
    try:
        model = page.locator("#ex-model input")
        expect(model).to_have_value("tiny-emu3")  # the first runnable card
        expect(page.locator("#ex-model-note")).to_contain_text("random weights: its images and answers are noise")
        expect(page.locator("#ex-judge input")).to_have_value("human")  # no key, no cached VLM judge
        page.locator("#ex-model input").click()
        expect(page.locator("li").filter(has_text=re.compile(
            r"janus-pro-7b \(unavailable: weights deepseek-community/Janus-Pro-7B are not in the local cache "
            r"and the hub .* did not answer"))).to_have_count(1)
        page.keyboard.press("Escape")
        page.locator("#ex-run").click()
        # was: 141 s of "waiting for the model…" (the default card's weights asked of the silent hub), then a
        # connection error. The run's end is waited for (a bound, not a timing check), then what ran is checked:
        # the first runnable card, each column done, no error
        for mode in ("direct", "stepwise"):
            status = page.locator(f"#ex-{mode}-status")
            expect(status).to_contain_text(re.compile("done in|error", re.IGNORECASE), timeout=RUN_BOUND_MS)
            assert "done in" in status.inner_text(), status.inner_text()
        runs = offline_app["store"].runs()
        assert {r["model"] for r in runs} == {"tiny-emu3"} and all(r["status"] == "ok" for r in runs)
    finally:
        context.close()


def test_stop_ends_a_long_run_and_the_next_sessions_run_starts(browser, slow_app):
    first_context, first = _page(browser, slow_app["url"] + "?model=tiny-slow")
    second_context, second = _page(browser, slow_app["url"] + "?model=tiny-janus")
    statuses = first.locator("#ex-direct-status, #ex-stepwise-status")  # either column may get the slot first
    try:
        with explain_timeouts(first, second):  # a wait that runs out says what the pages show
            expect(first.locator("#ex-model input")).to_have_value("tiny-slow")
            first.locator("#ex-run").click()
            # started: loading, or its first step running. Not the loading text alone: a warm load of tiny-slow
            # shows it for under 0.1 s, and Playwright's expect, polling every second, missed it 3 times in 6
            expect(statuses.filter(has_text=re.compile("loading it onto cpu|step 1 of"))).to_have_count(
                1, timeout=120_000)
            first.locator("#ex-run").click()  # a second Run while the first is in flight: refused, not dropped
            expect(first.get_by_text("A run is already in progress on this page")).to_be_visible()

            _press(second, "#ex-run")  # another visitor: waits for the one accelerator slot
            time.sleep(3)
            expect(second.locator("#ex-direct-status")).not_to_contain_text("done in")
            _press(first, "#ex-stop")
            for mode in ("direct", "stepwise"):  # the running column and the one still queued
                expect(first.locator(f"#ex-{mode}-status")).to_contain_text("you pressed Stop")
            for mode in ("direct", "stepwise"):
                expect(second.locator(f"#ex-{mode}-status")).to_contain_text("done in", timeout=120_000)
            assert {r["model"] for r in slow_app["store"].runs()} == {"tiny-janus"}  # the stopped run is not stored
            time.sleep(1)  # no late frame of a stopped column brings "running…" back
            expect(statuses.filter(has_text="running")).to_have_count(0)

            _press(first, "#ex-run")  # after Stop the page runs again
            expect(statuses.filter(has_text="running")).to_have_count(1, timeout=120_000)
            _press(first, "#ex-stop")
            expect(statuses.filter(has_text="you pressed Stop")).to_have_count(2)
            time.sleep(1)
            expect(statuses.filter(has_text="running")).to_have_count(0)
    finally:
        _stop_left_running(first, "#ex-stop", statuses)
        first_context.close()
        second_context.close()


def test_stop_in_the_arena_marks_the_unfinished_sides_stopped(browser, slow_app):
    """tiny-janus against tiny-slow (whose run never ends; the two local sides share the accelerator, so
    neither finishes): after Stop no side says "working…" any more and the battle takes no vote."""
    context, page = _page(browser, slow_app["url"])
    statuses = page.locator("#ar-a-status, #ar-b-status")
    try:
        with explain_timeouts(page):  # a wait that runs out says what the pages show
            page.get_by_role("tab", name="Arena").click()
            page.locator("#ar-kind").get_by_label("two models, same mode", exact=True).check()
            page.locator("#ar-new").click()
            expect(statuses.filter(has_text="working")).to_have_count(2, timeout=120_000)
            page.locator("#ar-stop").click()
            expect(page.locator("#ar-reveal")).to_contain_text("Stopped: this battle cannot be voted on")
            expect(statuses.filter(has_text="stopped (you pressed Stop)")).to_have_count(2)
            time.sleep(1)  # no late frame of the cancelled battle brings "working…" back
            expect(statuses.filter(has_text="working")).to_have_count(0)
            expect(page.locator("#ar-vote-A")).to_be_disabled()
    finally:
        _stop_left_running(page, "#ar-stop", statuses)
        context.close()


def test_stop_in_the_arena_ends_a_battle_still_waiting_for_the_accelerator_at_once(browser, slow_app):
    """An Explore run of tiny-slow holds the one accelerator slot; a battle of another visitor waits for it.
    Its Stop ends the wait at once, in that battle's columns, while the Explore run goes on."""
    explore_context, explore = _page(browser, slow_app["url"] + "?model=tiny-slow")
    arena_context, arena = _page(browser, slow_app["url"])
    statuses = explore.locator("#ex-direct-status, #ex-stepwise-status")  # before try: the cleanup uses it
    try:
        with explain_timeouts(explore, arena):  # a wait that runs out says what the pages show
            expect(explore.locator("#ex-model input")).to_have_value("tiny-slow")
            _press(explore, "#ex-run")
            expect(statuses.filter(has_text="running")).to_have_count(1, timeout=120_000)

            arena.bring_to_front()
            arena.get_by_role("tab", name="Arena").click()
            arena.locator("#ar-kind").get_by_label("two models, same mode", exact=True).check()
            _press(arena, "#ar-new")
            sides = arena.locator("#ar-a-status, #ar-b-status")
            expect(sides.filter(has_text="waiting")).to_have_count(2)
            time.sleep(1)
            _press(arena, "#ar-stop")
            # "at once": before the Explore run gives the slot back, which it never does by itself (tiny-slow,
            # no time limit); so the page's own 60 s, not a tight 10 s a loaded machine's browser can overrun
            expect(sides.filter(has_text="stopped (you pressed Stop)")).to_have_count(2)
            expect(arena.locator("#ar-reveal")).to_contain_text("Stopped: this battle cannot be voted on")
            expect(arena.locator("#ar-vote-A")).to_be_disabled()
            expect(statuses.filter(has_text="running")).to_have_count(1)  # the other visitor's run goes on
    finally:
        _press(explore, "#ex-stop")
        expect(statuses.filter(has_text="you pressed Stop")).to_have_count(2)
        explore_context.close()
        arena_context.close()


def test_a_setting_over_the_cards_limit_is_refused_with_a_message(page, app):
    page.goto(app["url"] + "?model=tiny-janus")
    expect(page.locator("#ex-model input")).to_have_value("tiny-janus")
    runs_before = len(app["store"].runs())
    page.get_by_text("Generation settings (empty: the card's default)").click()
    page.locator("#ex-max-new-tokens input").fill("100000")
    page.locator("#ex-seed input").fill("-1")  # two bad settings: both are named at once (before: the seed only)
    page.locator("#ex-run").click()
    refusal = page.locator("#ex-instance-text")
    expect(refusal).to_contain_text("max_new_tokens = 100000 is outside the allowed range 1 to 256 for tiny-janus")
    expect(refusal).to_contain_text("seed = -1 is outside the allowed range 0 to 4294967295 for tiny-janus")
    time.sleep(2)
    assert len(app["store"].runs()) == runs_before  # nothing ran


def test_opened_settings_hold_the_cards_defaults_and_zero_keeps_them(page, app):
    """Opening the settings used to send its empty fields as 0 and refuse every Run; now they hold the
    chosen card's defaults (hidden where it takes none), 0 max new tokens is the default, and Janus runs
    with guidance 1 (guidance off)."""
    page.goto(app["url"] + "?model=tiny-janus")
    expect(page.locator("#ex-model input")).to_have_value("tiny-janus")
    page.get_by_text("Generation settings (empty: the card's default)").click()
    expect(page.locator("#ex-guidance input")).to_have_value("5")
    expect(page.locator("#ex-max-new-tokens input")).to_have_value("8")
    expect(page.locator("#ex-steps")).to_be_hidden()  # Janus has no diffusion steps
    page.locator("#ex-max-new-tokens input").fill("0")
    page.locator("#ex-guidance input").fill("1")
    runs_before = {r["id"] for r in app["store"].runs()}
    page.locator("#ex-run").click()
    for mode in ("direct", "stepwise"):
        expect(page.locator(f"#ex-{mode}-status")).to_contain_text("done in", timeout=120_000)
    new = [r for r in app["store"].runs() if r["id"] not in runs_before]
    assert len(new) == 2 and all(r["status"] == "ok" for r in new), new
    for run in new:
        settings = app["store"].load_trace(run["id"]).settings
        assert (settings["guidance"], settings["max_new_tokens"]) == (1.0, 8), settings


BUSY = "A run is already in progress on this page"
QUEUE_FULL = "already waiting for the accelerator"
RUN_AGAIN_TRIES = 12  # Runs of 10 s each: a stopped run's slot comes back well within two minutes on a loaded box


def test_a_column_refused_by_a_full_queue_does_not_leave_the_page_busy(browser, tmp_path):
    """The two columns of a Run share one slot and none may wait: one runs tiny-slow until the time limit
    stops it (saying so), the other is refused. The next Run starts: it was refused as "already in
    progress" for an hour, because the refused column never ended."""
    # the time limit holds the slot long enough for the other column to arrive on a loaded machine (at 4 s, and in
    # one CI run of 4,076 tests at 12 s, the stepwise column's event came after the direct column had been stopped,
    # and ran instead of being refused: the page then showed both columns stopped by the time limit)
    with _slow_app(tmp_path, queue_size=0, run_time_limit=30) as app:
        context, page = _page(browser, app["url"] + "?model=tiny-slow")
        statuses = page.locator("#ex-direct-status, #ex-stepwise-status")
        try:
          with explain_timeouts(page):
            expect(page.locator("#ex-model input")).to_have_value("tiny-slow")
            page.locator("#ex-run").click()
            expect(page.locator("[data-testid='toast-text']").filter(has_text=QUEUE_FULL)).not_to_have_count(0)
            expect(statuses.filter(has_text="the 30 s time limit")).to_have_count(1, timeout=120_000)
            page.locator("#ex-seed input").fill("3")
            page.locator("#ex-run").click()
            expect(statuses.filter(has_text="tiny-slow · seed 3")).to_have_count(1, timeout=120_000)
            expect(page.get_by_text(BUSY)).to_have_count(0)
            _press(page, "#ex-stop")  # a run left going when the test process exits aborts it (rc 134)
            expect(statuses.filter(has_text="you pressed Stop")).not_to_have_count(0, timeout=60_000)
        finally:
            context.close()


def test_a_battle_refused_by_a_full_queue_does_not_leave_the_page_busy(browser, full_app):
    """An Explore run of tiny-slow holds the one slot; a New battle of the same page is refused (nothing may
    wait). Once the run is stopped, the page's next Run starts: the refused battle no longer counts as a
    run in progress (it did, for an hour, and Explore's Stop does not stop battles)."""
    context, page = _page(browser, full_app["url"] + "?model=tiny-slow")
    statuses = page.locator("#ex-direct-status, #ex-stepwise-status")
    try:
        with explain_timeouts(page):  # a wait that runs out says what the page shows
            expect(page.locator("#ex-model input")).to_have_value("tiny-slow")
            page.locator("#ex-run").click()
            expect(statuses.filter(has_text="tiny-slow · seed 0")).to_have_count(1, timeout=120_000)
            page.get_by_role("tab", name="Arena").click()
            page.locator("#ar-new").click()
            expect(page.locator("[data-testid='toast-text']").filter(has_text=QUEUE_FULL)).not_to_have_count(0)
            page.get_by_role("tab", name="Explore").click()
            page.locator("#ex-stop").click()
            expect(statuses.filter(has_text="you pressed Stop")).to_have_count(1)
            page.locator("#ex-seed input").fill("5")
            # The stopped run's thread gives the one slot back once its model step sees the Stop, which a loaded
            # machine can delay past the next click; on this app nothing may wait, so a Run meanwhile is refused
            # as "queue full" (CI: the direct column showed an Error, the test waited 120 s). Run again until
            # it starts; never refused as "already in progress", the fault this test is about.
            for _ in range(RUN_AGAIN_TRIES):
                page.locator("#ex-run").click()
                try:
                    expect(statuses.filter(has_text="tiny-slow · seed 5")).to_have_count(1, timeout=10_000)
                    break
                except AssertionError:
                    expect(page.get_by_text(BUSY)).to_have_count(0)
            expect(statuses.filter(has_text="tiny-slow · seed 5")).to_have_count(1)
            expect(page.get_by_text(BUSY)).to_have_count(0)
    finally:
        page.locator("#ex-stop").click()
        expect(statuses.filter(has_text="you pressed Stop")).to_have_count(1)
        context.close()


def test_a_new_battle_stops_the_pages_running_battle(browser, slow_app):
    """tiny-janus against tiny-slow never ends. New battle (one model, direct vs stepwise) until tiny-janus
    is drawn: the earlier battles stop and free the one accelerator slot, so that battle finishes and takes
    a vote. Before, the new battle's event was dropped while the first one's was pending (Gradio's
    trigger_mode "once"): it was never generated, the old battle went on unseen and the page stayed busy;
    and a running old battle held the accelerator, so the new one waited behind it."""
    store = slow_app["store"]
    context, page = _page(browser, slow_app["url"])
    try:
        with explain_timeouts(page):  # a wait that runs out says what the pages show
            page.get_by_role("tab", name="Arena").click()
            page.locator("#ar-kind").get_by_label("two models, same mode", exact=True).check()
            sides = page.locator("#ar-a-status, #ar-b-status")
            page.locator("#ar-new").click()
            expect(sides.filter(has_text="working")).to_have_count(2, timeout=120_000)
            page.locator("#ar-kind").get_by_label("one model: direct vs stepwise", exact=True).check()
            # the newest row, not a count: a battle that never ran (superseded, or refused while the accelerator's
            # queue is full) is withdrawn, its row deleted, sometimes before this looks; then New battle again
            newest = "select coalesce(max(rowid), 0) as n from battles"
            for _ in range(20):  # each draw is tiny-janus or tiny-slow
                battles = store.query(newest)[0]["n"]
                page.locator("#ar-new").click()
                deadline = time.monotonic() + 10
                while store.query(newest)[0]["n"] == battles and time.monotonic() < deadline:
                    time.sleep(0.1)
                if store.query("select system_a from battles order by rowid desc limit 1")[0]["system_a"].startswith(
                        "tiny-janus"):
                    break
            expect(sides.filter(has_text="done")).to_have_count(2, timeout=60_000)
            page.locator("#ar-vote-A").click()
            expect(page.locator("#ar-reveal")).to_contain_text("You voted")
    finally:
        page.locator("#ar-stop").click()
        context.close()


def test_a_run_right_after_stop_runs_both_its_columns(browser, tmp_path):
    """Stop while tiny-slow still loads (its column ends STOP_GRACE_S later), then Run tiny-janus at once:
    both new columns run. One of them was dropped (its event was still pending from the stopped run), never
    ran, and left the page "already in progress"."""
    with _slow_app(tmp_path) as app:
        context, page = _page(browser, app["url"] + "?model=tiny-slow")
        statuses = page.locator("#ex-direct-status, #ex-stepwise-status")
        try:
            expect(page.locator("#ex-model input")).to_have_value("tiny-slow")
            page.locator("#ex-run").click()
            # started: loading, or (once loaded, which can be quick) its first step running
            expect(statuses.filter(has_text=re.compile("loading it onto cpu|step 1 of"))).to_have_count(
                1, timeout=120_000)
            page.locator("#ex-model input").fill("tiny-janus")
            page.keyboard.press("Enter")
            expect(page.locator("#ex-model input")).to_have_value("tiny-janus")
            expect(statuses.filter(has_text="you pressed Stop")).to_have_count(0)  # still loading
            page.locator("#ex-stop").dispatch_event("click")
            page.locator("#ex-run").dispatch_event("click")
            expect(statuses.filter(has_text=re.compile(r"tiny-janus · seed 0.*done in", re.DOTALL))).to_have_count(
                2, timeout=120_000)
            page.locator("#ex-run").click()  # the page is not busy
            expect(page.get_by_text(BUSY)).to_have_count(0)
        finally:
            page.locator("#ex-stop").click()
            context.close()


def test_two_close_new_battles_play_the_newer_battle_once(page, app):
    """Two New battle clicks close together: the first battle's generate event reaches the server only after
    the second battle started (held here until then, as a loaded machine or a slow network delays it). It
    used to read the page's battle from the session's state when it began, by then the newer battle, so
    both events played the newer battle at once (two runs per side, the second delivery refused) and the
    first battle was never stopped or closed. Now each event plays the battle its own click started: the
    first is stopped (superseded) and the newer one runs once. The first never ran: it is withdrawn (its row
    deleted), so only the newer battle counts against the battle limit."""
    store = app["store"]
    page.goto(app["url"])
    page.get_by_role("tab", name="Arena").click()
    runs_before = {r["id"] for r in store.runs()}
    battles_before = store.query("select count(*) as n from battles")[0]["n"]
    held = hold_events(page, fn_indices(app["demo"], "generate"))
    page.locator("#ar-new").click()
    deadline = time.monotonic() + 60
    wait_held(page, held, 1, deadline)  # the first battle started: its generate event is on its way
    page.locator("#ar-new").click()
    wait_held(page, held, 2, deadline)
    release(page, held)
    sides = page.locator("#ar-a-status, #ar-b-status")
    expect(sides.filter(has_text="done")).to_have_count(2, timeout=120_000)
    expect(page.locator("#ar-vote-A")).to_be_enabled()
    newer = store.query("select id, run_a, run_b from battles order by rowid desc limit 1")[0]
    time.sleep(2)  # a second play of the newer battle would store its runs by now
    new_runs = {r["id"] for r in store.runs()} - runs_before
    assert new_runs == {newer["run_a"], newer["run_b"]}, (new_runs, newer)  # each side ran once
    # the superseded battle never ran: withdrawn, it no longer counts against the battle limit
    assert store.query("select count(*) as n from battles")[0]["n"] == battles_before + 1
    expect(page.locator("[data-testid='toast-text']")).to_have_count(0)
    page.locator("#ar-vote-A").click()
    expect(page.locator("#ar-reveal")).to_contain_text("You voted")


def test_a_run_stopped_before_its_columns_began_does_not_run_as_the_next_one(page, app):
    """Run, Stop and Run again before the first Run's column events reach the server (held here, as a loaded
    machine or a slow network delays them): those events used to read the page's run from the session's
    state when they began, by then the second Run's, so each ran the stopped Run's settings (seed 0) as the
    second run, unstopped, beside the second Run's own columns. Now each column runs the Run it was sent
    for: the stopped one says so, and only the second Run's runs are made."""
    store = app["store"]
    columns = fn_indices(app["demo"], "run_column")
    assert len(columns) == 2
    page.goto(app["url"] + "?model=tiny-janus&seed=11")
    expect(page.locator("#ex-model input")).to_have_value("tiny-janus")
    expect(page.locator("#ex-seed input")).to_have_value("11")
    runs_before = {r["id"] for r in store.runs()}
    held = hold_events(page, columns)
    page.locator("#ex-run").click()
    deadline = time.monotonic() + 60
    wait_held(page, held, 2, deadline)
    page.locator("#ex-stop").click()
    page.locator("#ex-seed input").fill("12")
    page.locator("#ex-run").click()
    wait_held(page, held, 4, deadline)
    release(page, held)
    for mode in ("direct", "stepwise"):
        expect(page.locator(f"#ex-{mode}-status")).to_contain_text("seed 12", timeout=120_000)
        expect(page.locator(f"#ex-{mode}-status")).to_contain_text("done in", timeout=120_000)
    time.sleep(2)  # a run of the stopped Run would be stored by now
    new = [store.load_trace(r["id"]).settings["seed"] for r in store.runs() if r["id"] not in runs_before]
    assert sorted(new) == [12, 12], new


def test_a_run_right_after_a_model_change_runs_the_settings_run_read(browser, tmp_path):
    """Choose another model and press Run before the menu's new defaults arrive (held here, as a slow network
    or a loaded Space delays them): Run read the old guidance (tiny-slow's 3); the defaults (tiny-janus's 5)
    landed before its column events were sent, and each column, reading the settings fields again, was
    refused as "not the ones Run started": both columns a bare "Error". Now the columns run what Run read."""
    with _slow_app(tmp_path) as app:
        context, page = _page(browser, app["url"] + "?model=tiny-slow")
        try:
            page.get_by_text("Generation settings").click()
            expect(page.locator("#ex-guidance input")).to_have_value("3")
            runs_before = {r["id"] for r in app["store"].runs()}
            defaults, run = [], []  # the model menu's change event (queue=False: a predict call); Run's event
            page.route("**/run/predict*", lambda route: defaults.append(route))
            page.locator("#ex-model input").fill("tiny-janus")
            page.keyboard.press("Enter")
            deadline = time.monotonic() + 60
            wait_held(page, defaults, 1, deadline)
            page.route(JOIN, lambda route: run.append(route))
            page.locator("#ex-run").click()
            wait_held(page, run, 1, deadline)  # Run read its settings: the old guidance
            page.unroute("**/run/predict*")
            for route in defaults:
                route.continue_()
            expect(page.locator("#ex-guidance input")).to_have_value("5")
            release(page, run)
            statuses = page.locator("#ex-direct-status, #ex-stepwise-status")
            expect(statuses.filter(has_text=re.compile(r"tiny-janus · seed 0.*done in", re.DOTALL))).to_have_count(
                2, timeout=120_000)
            expect(page.locator("[data-testid='toast-text']")).to_have_count(0)
            new = [app["store"].load_trace(r["id"]).settings for r in app["store"].runs()
                   if r["id"] not in runs_before]
            assert sorted(s["guidance"] for s in new) == [3.0, 3.0], new  # what the page showed at Run
        finally:
            context.close()


def test_a_source_chosen_while_a_tracks_menus_load_is_the_one_they_list(browser, tmp_path):
    """Choose GEU (its menus held here, as a slow network delays them), then another data source, whose menus
    arrive first: the Track's answer came last and listed the first source's GEU instances (none) under the
    second source's name, so its GEU instance could not be chosen. Now the menus follow the last choices."""
    write_set(generate_set(1, seed=9, task_types=["mental_tracking"]), tmp_path / "other")  # GEU only
    with _slow_app(tmp_path, data=(str(tmp_path / "data"), str(tmp_path / "other"))) as app:
        context, page = _page(browser, app["url"], calls="/run/predict")
        try:
            geu = next(i.uid for i in load(tmp_path / "other").instances)
            held = []
            page.route("**/run/predict*", lambda route: held.append(route) if not held else route.continue_())
            page.locator("#ex-track").get_by_label("GEU", exact=True).check()
            wait_held(page, held, 1, time.monotonic() + 60)
            page.locator("#ex-source input").click()
            page.get_by_role("option", name="other").click()
            expect(page.locator("#ex-source input")).to_have_value("other")
            settle(page, open_calls=1)  # the source's event, had it been sent, has been answered and shown
            for route in held:
                route.continue_()
            page.unroute("**/run/predict*")
            settle(page)  # the held answer, and any event it led to, answered and shown
            page.locator("#ex-instance input").click()
            expect(page.get_by_role("option", name=re.compile(f"^{geu}:"))).to_be_visible()
        finally:
            context.close()


def test_the_link_names_the_source_model_and_seed_run_read(browser, tmp_path):
    """Press Run, then change the seed and the data source before Run's event reaches the server (held here,
    as a slow network delays it): the columns run seed 12 of the first source, what Run read, and the link
    named seed 34 of the second source, a run never made."""
    write_set(generate_set(1, seed=8, task_types=["mathematical_reasoning"]), tmp_path / "other")
    with _slow_app(tmp_path, data=(str(tmp_path / "data"), str(tmp_path / "other"))) as app:
        context, page = _page(browser, app["url"] + "?model=tiny-janus&seed=12")
        try:
            expect(page.locator("#ex-seed input")).to_have_value("12")
            run = []
            page.route(JOIN, lambda route: run.append(route))
            page.locator("#ex-run").click()
            wait_held(page, run, 1, time.monotonic() + 60)  # Run read seed 12
            page.locator("#ex-seed input").fill("34")
            page.locator("#ex-seed input").blur()
            page.locator("#ex-source input").click()
            page.get_by_role("option", name="other").click()
            expect(page.locator("#ex-source input")).to_have_value("other")
            release(page, run)
            for mode in ("direct", "stepwise"):
                expect(page.locator(f"#ex-{mode}-status")).to_contain_text("done in", timeout=120_000)
                expect(page.locator(f"#ex-{mode}-status")).to_contain_text("seed 12")
            expect(page.locator("#ex-link textarea, #ex-link input").first).to_have_value(
                re.compile(r"\?tab=explore&instance=[^&]+&model=tiny-janus&seed=12&"))  # the first source: no data=
        finally:
            context.close()


def test_a_track_chosen_while_the_menus_load_is_the_one_they_list(browser, tmp_path):
    """Choose GEU, then UEG again before GEU's menus arrive (held here, as a slow network delays them): the
    menu event ran once at a time and dropped the second choice, so the Category and instance menus listed
    GEU's while the Track said UEG, and Run ran a GEU instance as asked for UEG. Same for Category and the
    data source menu. Now the menus follow the last choice."""
    root = tmp_path
    with _slow_app(root) as app:
        context, page = _page(browser, app["url"], calls="/run/predict")
        try:
            held = []
            page.route("**/run/predict*", lambda route: held.append(route) if not held else route.continue_())
            page.locator("#ex-track").get_by_label("GEU", exact=True).check()
            wait_held(page, held, 1, time.monotonic() + 60)
            page.locator("#ex-track").get_by_label("UEG", exact=True).check()
            settle(page, open_calls=1)  # the second choice's event, had it been sent, has been answered and shown
            for route in held:
                route.continue_()
            page.unroute("**/run/predict*")
            settle(page)  # the held answer, and any event it led to, answered and shown
            page.locator("#ex-category input").click()
            expect(page.get_by_role("option", name="World Knowledge (WK)")).to_be_visible()
            expect(page.get_by_role("option", name="Mental Tracking (MT)")).to_have_count(0)
        finally:
            context.close()
