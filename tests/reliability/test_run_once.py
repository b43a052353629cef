"""Each counted run runs once, and a run that never started does not count: through the launched app's queue.

The run limit (``Arena.admit_runs``, table ``run_starts``) counts Explore's Run and ``/run_instance`` before
the run waits for the accelerator. Before: the same column event (or the Arena's battle event) called again
ran the model again for one counted start, and a run refused by a full queue, or stopped while it waited,
still counted, so a visitor retrying on a busy server used up the limit on runs that never ran.
"""

from __future__ import annotations

import json
import secrets
import time

import pytest
from gradio_client import Client
from gradio_sessions import close_all, page_config
from queue_calls import SLOW_CARD, Page, column_indices, drawn_index, fn_index, predict_call, queue_call

from realunify_arena.arena import Arena
from realunify_arena.benchmark.generators import generate_set, write_set
from realunify_arena.cards import load_card, load_cards
from realunify_arena.context import AppContext
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.ui import demo_for, launch_options

pytestmark = pytest.mark.slow

QUEUE_FULL = "already waiting for the accelerator"


def _launch(root, models: tuple[str, ...], **settings):
    (root / "cards").mkdir()
    (root / "cards" / "tiny-slow.yaml").write_text(SLOW_CARD)
    write_set(generate_set(1, seed=7, task_types=["mathematical_reasoning"]), root / "data")
    cards = {**load_cards(), "tiny-slow": load_card(root / "cards" / "tiny-slow.yaml")}
    settings = Settings(data=(str(root / "data"),), models=models, judge="human", db=root / "arena.db",
                        trusted_proxies=1, run_time_limit=60, **settings)
    store = Store.open(settings.db)
    ctx = AppContext(settings, store, ModelPool(cards, device="cpu"), Arena.from_settings(store, settings))
    demo = demo_for(ctx)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    # "source": as configured (what an API script passes); "menu_source": the page menus' public name for it
    # "clients": the gradio_client sessions opened on it (``_client``), closed after the app
    # "ctx": the app's AppContext (``waiting_runs``)
    return demo, {"url": url, "store": store, "source": str(root / "data"), "menu_source": "data", "clients": [],
                  "ctx": ctx}


def _close(demo, app: dict) -> None:
    demo.close()  # the server first: a client's close then need not wait out its heartbeat read (1 s each)
    close_all(app["clients"])
    app["store"].close()


def _client(app: dict, **kwargs) -> Client:
    """A gradio_client session on ``app``, left open until the app closes (``_close``)."""
    client = Client(app["url"], verbose=False, **kwargs)
    app["clients"].append(client)
    return client


@pytest.fixture(scope="module")
def busy_app(tmp_path_factory):
    """One accelerator slot and room for one run to wait: a tiny-slow run holds the slot until Stop."""
    demo, app = _launch(tmp_path_factory.mktemp("busy"), ("tiny-janus", "tiny-slow"), gpu_concurrency=1,
                        queue_size=1)
    yield app
    _close(demo, app)


@pytest.fixture(scope="module")
def janus_app(tmp_path_factory):
    """Two slots, so two calls of one event run side by side."""
    demo, app = _launch(tmp_path_factory.mktemp("janus"), ("tiny-janus",), gpu_concurrency=2, queue_size=4)
    yield app
    _close(demo, app)


def _ip() -> str:
    return f"198.19.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


def _run_click(app: dict, model: str, seed: int, session: str, ip: str) -> list:
    """Explore's Run (``resolve``) of a random UEG instance; returns its ``started`` value."""
    done = queue_call(app["url"], fn_index(app["url"], "resolve"),
                      [app["menu_source"], "UEG", "all", "random", None, None, None, None, None, model, seed, 0, "", 0],
                      session, ip)
    assert done.get("success") is True, done
    started = done["output"]["data"][1]
    assert started, done["output"]["data"][8]  # None: Run refused, its reason in the instance's place
    return started


def _column(model: str, seed: int, started) -> list:
    return [started, model, "human", seed, 0, "", 0, []]


def _run_starts(store: Store) -> int:
    return store.query("select count(*) as n from run_starts")[0]["n"]


def test_runs_refused_by_a_full_queue_or_stopped_while_waiting_do_not_count(busy_app):
    """Hand-counted: a Run of tiny-slow counts 2 (both columns new); its direct column takes the one slot, its
    stepwise column waits (the one place to wait). Then the queue is full: another visitor's ``/run_instance``
    (counted 1) and another session's Run (counted 2) are refused, and their 3 counts are given back. Stop ends
    the waiting stepwise column before it ran: its count is given back too. Left: the 1 run that ran."""
    url, store = busy_app["url"], busy_app["store"]
    direct, stepwise = column_indices(url)
    session, ip, seed = secrets.token_hex(6), _ip(), 4242
    assert _run_starts(store) == 0
    started = _run_click(busy_app, "tiny-slow", seed, session, ip)
    assert _run_starts(store) == 2
    page = Page(url, session, ip)
    holder = page.join(direct, _column("tiny-slow", seed, started))
    assert page.generating[holder].wait(120), "the direct column never started"
    _wait_for_a_step()  # its model loaded and generating: its count stays, whatever happens next
    waiter = page.join(stepwise, _column("tiny-slow", seed, started))
    _wait_until_queued(busy_app)  # the stepwise column is waiting for the slot now
    try:
        other = _client(busy_app, headers={"x-forwarded-for": _ip()}, download_files=False)
        with pytest.raises(Exception, match=QUEUE_FULL):
            other.predict(busy_app["source"], _any_uid(busy_app), "tiny-slow", "direct", 7, "",
                          api_name="/run_instance")
        assert _run_starts(store) == 2
        second, second_ip = secrets.token_hex(6), _ip()
        other_started = _run_click(busy_app, "tiny-slow", seed + 1, second, second_ip)
        assert _run_starts(store) == 4
        for fn in (direct, stepwise):
            done = queue_call(url, fn, _column("tiny-slow", seed + 1, other_started), second, second_ip)
            assert done.get("success") is False and QUEUE_FULL in json.dumps(done.get("output")), done
        assert _run_starts(store) == 2
        for fn in (direct, stepwise):  # a refused Run's columns (``started`` None) run no model: no queue refuses them
            done = queue_call(url, fn, _column("tiny-slow", seed + 2, None), second, second_ip)
            assert done.get("success") is True and QUEUE_FULL not in json.dumps(done.get("output")), done
    finally:
        assert predict_call(url, fn_index(url, "stop_runs"), [], session).status_code == 200
        held, waited = page.wait(holder, 120), page.wait(waiter, 120)
        page.__exit__()
    assert held.get("success") is True, held
    assert waited.get("success") is True and "you pressed Stop" in json.dumps(waited), waited
    assert _run_starts(store) == 1  # the direct run, which ran until Stop


# a bound on the wait for a joined column to take the accelerator queue's waiting place, not a timing check: it
# was a fixed 2 s sleep, and a column still on its way there (a loaded 2-core machine, tiny-slow running in this
# process) left the place to the next visitor's run, which then waited behind the held slot instead of being refused
QUEUED_S = 60


def _wait_until_queued(app: dict, runs: int = 1) -> None:
    """Wait until ``runs`` model runs wait for the accelerator in ``app`` (its ``AppContext.waiting_runs``)."""
    deadline = time.monotonic() + QUEUED_S
    while app["ctx"].waiting_runs < runs:
        assert time.monotonic() < deadline, f"no {runs} run(s) waiting for the accelerator after {QUEUED_S} s"
        time.sleep(0.05)


def _wait_for_a_step(timeout_s: float = 120) -> None:
    """Wait until some run of this process (the app runs in it) is inside a model step (``stopping.active``)."""
    from realunify_arena import stopping
    deadline = time.monotonic() + timeout_s
    while not stopping._running:
        assert time.monotonic() < deadline, "no run reached a step"
        time.sleep(0.05)


def _any_uid(app: dict) -> str:
    return _client(app).predict(app["source"], "UEG", "all", api_name="/instances")[0]["uid"]


def test_an_explore_column_called_twice_for_one_run_runs_once(janus_app):
    """The direct column's event of one Run called twice at once, then once more: one call runs, the others
    are refused with a one-line message; one run is stored and the run limit counted the Run's 2 only."""
    url, store = janus_app["url"], janus_app["store"]
    direct, _ = column_indices(url)
    session, ip, seed = secrets.token_hex(6), _ip(), 777
    before = _run_starts(store)
    started = _run_click(janus_app, "tiny-janus", seed, session, ip)
    with Page(url, session, ip) as page:
        results = [page.wait(event) for event in [page.join(direct, _column("tiny-janus", seed, started))
                                                  for _ in range(2)]]
    again = queue_call(url, direct, _column("tiny-janus", seed, started), session, ip)
    assert sorted(r.get("success") for r in results) == [False, True], results
    for refused in [r for r in results if not r.get("success")] + [again]:
        assert refused.get("success") is False and "already started" in json.dumps(refused.get("output")), refused
    assert store.query("select count(*) as n from runs where model = 'tiny-janus' and mode = 'direct' and seed = ?",
                       (seed,))[0]["n"] == 1
    assert _run_starts(store) == before + 2


def test_a_battle_s_outputs_are_produced_once(janus_app):
    """The Arena's battle event (``generate``) called twice at once for one live battle ran both sides twice
    (4 runs stored, two per side, for one counted battle start); once more after it ended, it ran any side
    not delivered. Now one call produces the battle and the others are refused with a one-line message."""
    url, store = janus_app["url"], janus_app["store"]
    session, ip = secrets.token_hex(6), _ip()
    done = queue_call(url, fn_index(url, "start"), [janus_app["menu_source"], "any", "direct_vs_stepwise"], session, ip)
    assert done.get("success") is True, done
    battle_id = done["output"]["data"][1]  # the page's hidden started_id (a gr.State is not sent)
    assert battle_id, done
    runs_before = store.query("select count(*) as n from runs")[0]["n"]
    generate = fn_index(url, "generate")
    with Page(url, session, ip) as page:
        results = [page.wait(event) for event in [page.join(generate, [battle_id]) for _ in range(2)]]
    again = queue_call(url, generate, [battle_id], session, ip)
    assert sorted(r.get("success") for r in results) == [False, True], results
    for refused in [r for r in results if not r.get("success")] + [again]:
        assert "already asked for" in json.dumps(refused.get("output")), refused
    assert store.query("select count(*) as n from runs")[0]["n"] == runs_before + 2  # one run per side


def _battles(store: Store) -> int:
    return store.query("select count(*) as n from battles")[0]["n"]


def test_battles_refused_by_a_full_queue_do_not_count_and_take_no_vote(busy_app):
    """Before: a live battle refused by a full queue kept its ``battles`` row, which counted against its
    visitor's battle limit (``--battle-limit``) though it never ran. Now it is taken back: through
    ``/new_battle`` and through the page's New battle + its outputs' event, the battles table ends where it
    began, and a vote on the page's battle id is refused as an unknown battle."""
    url, store = busy_app["url"], busy_app["store"]
    direct, stepwise = column_indices(url)
    session, ip, seed = secrets.token_hex(6), _ip(), 5151
    started = _run_click(busy_app, "tiny-slow", seed, session, ip)
    page = Page(url, session, ip)
    holder = page.join(direct, _column("tiny-slow", seed, started))
    assert page.generating[holder].wait(120), "the direct column never started"
    waiter = page.join(stepwise, _column("tiny-slow", seed, started))
    _wait_until_queued(busy_app)  # the stepwise column is waiting for the slot now: the queue is full
    try:
        before = _battles(store)
        other = _client(busy_app, headers={"x-forwarded-for": _ip()}, download_files=False)
        with pytest.raises(Exception, match=QUEUE_FULL):
            other.predict(busy_app["source"], "any", "direct_vs_stepwise", api_name="/new_battle")
        assert _battles(store) == before
        second, second_ip = secrets.token_hex(6), _ip()
        done = queue_call(url, fn_index(url, "start"), [busy_app["menu_source"], "any", "direct_vs_stepwise"],
                          second, second_ip)
        assert done.get("success") is True, done
        battle_id = done["output"]["data"][1]
        assert _battles(store) == before + 1
        refused = queue_call(url, fn_index(url, "generate"), [battle_id], second, second_ip)
        assert refused.get("success") is False and QUEUE_FULL in json.dumps(refused.get("output")), refused
        assert _battles(store) == before
        votes = [i for i, d in enumerate(page_config(url)["dependencies"])
                 if str(d.get("api_name")).startswith("cast")]
        vote = queue_call(url, votes[0], [battle_id], second, second_ip)
        assert vote.get("success") is False and "unknown battle id" in json.dumps(vote.get("output")), vote
    finally:
        assert predict_call(url, fn_index(url, "stop_runs"), [], session).status_code == 200
        page.wait(holder, 120), page.wait(waiter, 120)
        page.__exit__()


def _stop_and_end(url: str, pages: list[Page], events: list[tuple[Page, str]]) -> list[dict]:
    """Stop every page's runs (its Stop button), wait for the events (page, event id) to end, close the pages;
    returns the events' completed messages."""
    for page in pages:
        assert predict_call(url, fn_index(url, "stop_runs"), [], page.session).status_code == 200
    ended = [page.wait(event, 120) for page, event in events]
    for page in pages:
        page.__exit__()
    return ended


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory):
    """One accelerator slot and 5 places to wait, more than ``VISITOR_WAITING`` (4) and fewer than two visitors'."""
    demo, app = _launch(tmp_path_factory.mktemp("shared"), ("tiny-slow",), gpu_concurrency=1, queue_size=5)
    yield app
    _close(demo, app)


def test_one_visitor_cannot_take_every_place_in_the_accelerator_s_queue(shared_app):
    """hunt28a: the queue's places (``--queue-size``) were first come, first served, whoever asked, so one address
    with three Runs of tiny-slow (one column running, five waiting) filled all 5 and another visitor's Run was
    refused "5 model runs are already waiting"; a script's /run_instance calls (30 a minute under the run limit)
    kept it so. Hand-counted now: the first visitor's 1 running + 4 waiting, its fifth column refused by name; the
    other visitor's column then takes the fifth place and waits."""
    url, ctx = shared_app["url"], shared_app["ctx"]
    direct, stepwise = column_indices(url)
    one, other = _ip(), _ip()
    pages, events = [], []
    try:
        for n in range(3):  # the first visitor's three Runs, in three tabs
            page = Page(url, secrets.token_hex(6), one)
            pages.append(page)
            started = _run_click(shared_app, "tiny-slow", 100 + n, page.session, one)
            for fn in (direct, stepwise):
                events.append((page, page.join(fn, _column("tiny-slow", 100 + n, started))))
                if len(events) == 1:
                    assert page.generating[events[0][1]].wait(120), "the first column never started"
                    _wait_for_a_step()  # it holds the one slot: every column after it waits or is refused
                else:
                    _wait_until_queued(shared_app, min(len(events) - 1, 4))
        fifth = events[-1][0].wait(events[-1][1], 120)  # the sixth column: a fifth waiting one of one visitor
        assert fifth.get("success") is False, fifth
        assert "you already have 4 model runs waiting for the accelerator" in json.dumps(fifth["output"]), fifth
        assert ctx.waiting_runs == 4
        page = Page(url, secrets.token_hex(6), other)  # another visitor's Run: its column waits in the fifth place
        pages.append(page)
        started = _run_click(shared_app, "tiny-slow", 200, page.session, other)
        events.append((page, page.join(direct, _column("tiny-slow", 200, started))))
        _wait_until_queued(shared_app, 5)
    finally:
        ended = _stop_and_end(url, pages, events)
    assert all(done.get("msg") == "process_completed" for done in ended)
    assert ctx.waiting_runs == 0


def _own_run_click(app: dict, prompt: str, seed: int, session: str, ip: str) -> dict:
    """Explore's Run (``resolve``) of your own UEG prompt with tiny-slow; returns the completed message."""
    return queue_call(app["url"], fn_index(app["url"], "resolve"),
                      [app["menu_source"], "UEG", "all", "custom", prompt, None, None, None, None, "tiny-slow", seed, 0,
                       "", 0], session, ip)


def test_your_own_run_still_waiting_runs_after_newer_uploads_push_its_instance_out(shared_app):
    """fix28b: a Run's column read its own instance from the held set (``ctx.instance``) only once it had the
    accelerator, so one visitor's Run of their own prompt, waiting behind another run, said "no longer held on the
    server; press Run again" once that visitor's newer own instances (8 = 64 / ``OWN_SHARES`` of them, in other
    tabs) pushed it out of the held set. Now the column takes its instance when it is let into the queue, and runs
    it. Hand-counted: Runs 2 (bundled, holding the slot) + 2 (own, its direct column waiting) + 8 x 2 (own, never
    run) = 20 counts, under the run limit's 30."""
    from realunify_arena.benchmark.custom import CUSTOM_DATASET
    url, ctx = shared_app["url"], shared_app["ctx"]
    direct, _ = column_indices(url)
    one = _ip()
    holder_page, own_page = Page(url, secrets.token_hex(6), one), Page(url, secrets.token_hex(6), one)
    events = []
    try:
        started = _run_click(shared_app, "tiny-slow", 300, holder_page.session, one)
        holder = holder_page.join(direct, _column("tiny-slow", 300, started))
        events.append((holder_page, holder))
        assert holder_page.generating[holder].wait(120), "the first column never started"
        _wait_for_a_step()  # it holds the one slot
        done = _own_run_click(shared_app, "a red cube on a blue cube", 301, own_page.session, one)
        assert done.get("success") is True, done
        own_started = done["output"]["data"][1]
        assert own_started and own_started[0] == CUSTOM_DATASET, done["output"]["data"][8]
        waiting = own_page.join(direct, _column("tiny-slow", 301, own_started))
        events.append((own_page, waiting))
        _wait_until_queued(shared_app, 1)
        for n in range(8):  # the same visitor's newer own prompts, in other tabs: the first one's goes
            newer = _own_run_click(shared_app, f"a green sphere number {n}", 400 + n, secrets.token_hex(6), one)
            assert newer.get("success") is True and newer["output"]["data"][1], newer
        with pytest.raises(KeyError, match="no longer held"):
            ctx.instance(tuple(own_started[:2]))
        assert predict_call(url, fn_index(url, "stop_runs"), [], holder_page.session).status_code == 200
        holder_page.wait(holder, 120)
        deadline = time.monotonic() + 120  # the waiting column now has the slot: it runs its model, or ends refused
        while not own_page.generating[waiting].is_set() and waiting not in own_page.completed:
            assert time.monotonic() < deadline, "the waiting column neither ran nor ended"
            time.sleep(0.05)
        assert waiting not in own_page.completed, json.dumps(own_page.completed.get(waiting, {}).get("output"))
        assert own_page.generating[waiting].is_set()
    finally:
        ended = _stop_and_end(url, [holder_page, own_page], events)
    assert all(done.get("msg") == "process_completed" and done.get("success") for done in ended), ended
    assert ctx.waiting_runs == 0


def test_a_run_of_your_own_instance_the_queue_refuses_pushes_nothing_out(shared_app):
    """fix28b: Run held your own instance (``ctx.hold``) before its columns asked the accelerator's queue for a
    place, so Runs the queue then refused ("you already have 4 model runs waiting") still pushed your older own
    instances out of the held set, another tab's Run among them. Now such a Run is refused in place and holds
    nothing. Hand-counted: another visitor's column holds the one slot; this visitor's own prompt is held, then
    its two bundled Runs' 4 columns wait (``VISITOR_WAITING``); 8 more Runs of its own prompts (64 /
    ``OWN_SHARES``: enough to push the first out) are each refused, and the first is still held."""
    from realunify_arena.benchmark.custom import CUSTOM_DATASET
    url, ctx = shared_app["url"], shared_app["ctx"]
    direct, stepwise = column_indices(url)
    one, other = _ip(), _ip()
    pages, events = [], []
    try:
        holder_page = Page(url, secrets.token_hex(6), other)
        pages.append(holder_page)
        started = _run_click(shared_app, "tiny-slow", 500, holder_page.session, other)
        events.append((holder_page, holder_page.join(direct, _column("tiny-slow", 500, started))))
        assert holder_page.generating[events[0][1]].wait(120), "the first column never started"
        _wait_for_a_step()  # it holds the one slot
        done = _own_run_click(shared_app, "a red cube on a blue cube", 501, secrets.token_hex(6), one)
        first = done["output"]["data"][1]
        assert done.get("success") is True and first and first[0] == CUSTOM_DATASET, done
        for n in range(2):  # this visitor's two bundled Runs, both columns waiting: 4, the most one may have
            page = Page(url, secrets.token_hex(6), one)
            pages.append(page)
            started = _run_click(shared_app, "tiny-slow", 510 + n, page.session, one)
            for fn in (direct, stepwise):
                events.append((page, page.join(fn, _column("tiny-slow", 510 + n, started))))
        _wait_until_queued(shared_app, 4)
        for n in range(8):
            session = secrets.token_hex(6)
            refused = _own_run_click(shared_app, f"a green sphere number {n}", 520 + n, session, one)
            assert refused.get("success") is True and refused["output"]["data"][1] is None, refused
            said = predict_call(url, drawn_index(url), [None], session).json()["data"][0]
            assert "you already have 4 model runs waiting" in said, said
        assert ctx.instance(tuple(first[:2])).prompt == "a red cube on a blue cube"
    finally:
        ended = _stop_and_end(url, pages, events)
    assert all(done.get("msg") == "process_completed" for done in ended)
    assert ctx.waiting_runs == 0
