"""Runs really stop: inside a transformers generate loop and a diffusers denoising loop, on Stop or at the
time limit, leaving nothing stored and the device free for the next run."""

from __future__ import annotations

import threading
import time

import pytest

from realunify_arena.adapters.base import GenerationOptions
from realunify_arena.benchmark import load
from realunify_arena.cards import load_cards
from realunify_arena.runs import run_to_end
from realunify_arena.runtime import ModelPool
from realunify_arena.stopping import STOPPED_BY_USER, RunControl, RunRegistry
from realunify_arena.trace import Status

BUNDLED = load("bundled")
UEG = next(i for i in BUNDLED.instances if i.track == "UEG")


@pytest.fixture(scope="module")
def pool():
    pool = ModelPool(load_cards(), device="cpu")
    yield pool
    pool.close()


def _lock_is_free(pool, name) -> bool:
    """Whether another thread (the next user's run) can take the device lock now."""
    got = []

    def take():
        lock = pool.lock_for(name)
        got.append(lock.acquire(timeout=5))
        if got[-1]:
            lock.release()

    worker = threading.Thread(target=take)
    worker.start()
    worker.join()
    return got == [True]


def test_the_time_limit_ends_a_denoising_loop_that_would_run_for_hours(store, pool):
    stages = []
    control = RunControl(time_limit_s=1.0)
    update = run_to_end(store, pool, BUNDLED.name, UEG, "tiny-pair", "direct",
                        GenerationOptions(steps=10**6), control=control, report=stages.append)
    assert update.trace.status is Status.ERROR
    assert "1 s time limit" in update.trace.error and "REALUNIFY_RUN_TIME_LIMIT" in update.trace.error
    assert update.run_id is None and not store.runs()  # a stopped run is not stored
    assert stages and "tiny-pair" in stages[0] and "onto cpu" in stages[0]
    assert _lock_is_free(pool, "tiny-pair")


def test_stop_ends_a_text_generate_loop_from_another_thread(store, pool):
    with pool.use("tiny-janus") as adapter:
        pass  # loaded beforehand, so the stop lands inside generation
    control = RunControl()
    finished = []
    steps, generating = [], threading.Event()

    def step(*_):  # each forward pass of the model: one token of the reply
        steps.append(None)
        if len(steps) >= 20:
            generating.set()

    def run():
        finished.append(run_to_end(store, pool, BUNDLED.name, UEG, "tiny-janus", "stepwise",
                                   GenerationOptions(max_new_tokens=10**6), control=control))

    hook = adapter.model.register_forward_hook(step)
    try:
        worker = threading.Thread(target=run)
        worker.start()
        # 20 tokens into the reply, not a fixed 3 s: the stop lands inside generation however loaded the machine
        assert generating.wait(60), "the run never reached its 20th token"
    finally:
        hook.remove()
    assert worker.is_alive()  # a million tokens: still generating
    stopped_at = time.monotonic()
    control.stop()
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert time.monotonic() - stopped_at < 30
    trace = finished[0].trace
    assert trace.status is Status.ERROR and trace.error == STOPPED_BY_USER and not trace.steps
    assert _lock_is_free(pool, "tiny-janus")


def test_the_registry_stops_a_sessions_runs_and_only_that_sessions():
    runs = RunRegistry()
    mine, other = runs.begin("me", columns=2, keys=("direct", "stepwise")), runs.begin("you", columns=1)
    assert runs.busy("me") and runs.busy("you")
    first = runs.open("me", mine, time_limit_s=None, key="direct")
    theirs = runs.open("you", other, time_limit_s=None)
    assert runs.stop("me") == {"direct", "stepwise"}  # one running, one still queued
    assert first.stopped and not theirs.stopped and not runs.busy("me")
    queued = runs.open("me", mine, time_limit_s=None, key="stepwise")  # the column that was still waiting in the queue
    assert queued.stopped
    runs.close("me", mine, first, "direct")
    runs.close("me", mine, queued, "stepwise")
    assert not runs.busy("me") and runs.busy("you")
    runs.close("you", other, theirs)
    assert not runs.busy("you")
    assert RunRegistry(max_age_s=0).begin("me", 1) and not RunRegistry(max_age_s=0).busy("me")


def test_a_tabs_stop_stops_only_the_runs_it_names():
    runs = RunRegistry()
    explore = runs.begin("me", columns=2, keys=("direct", "stepwise"))
    battle = runs.begin("me", columns=1, keys=("battle",))
    columns, side = runs.open("me", explore, None, "direct"), runs.open("me", battle, None, "battle")
    assert runs.stop("me", keys=("battle",)) == {"battle"}
    assert side.stopped and not columns.stopped  # the Arena's Stop left the Explore run alone
    assert runs.stop("me", keys=("battle",)) == set()  # already stopped: nothing pending
    assert runs.stop("me", keys=("direct", "stepwise")) == {"direct", "stepwise"} and columns.stopped


def test_a_run_opened_after_a_stop_says_why_the_request_was_stopped():
    runs = RunRegistry()
    request = runs.begin("s", 1, keys=("battle",))
    runs.stop("s", "stopped: a new battle was started on this page", keys=("battle",))
    control = runs.open("s", request, None, "battle")
    assert control.stopped and control.reason == "stopped: a new battle was started on this page"


def test_a_run_refused_before_it_started_ends_its_request():
    """A column refused by a full queue never opens a control; closing it by the request id alone (the
    refusal does not know the session) leaves the session free once its other column ends."""
    runs = RunRegistry()
    request = runs.begin("s", 2, keys=("direct", "stepwise"))
    control = runs.open("s", request, None, "direct")
    runs.close(None, request, None, "stepwise")  # refused
    assert runs.busy("s")  # the direct column still runs
    runs.close("s", request, control, "direct")
    assert not runs.busy("s")
    runs.close(None, "unknown", None, "direct")  # nothing registered: nothing happens
    assert not runs.busy("s")


def test_each_run_of_a_request_is_opened_once():
    """A run's event called twice (at once, or again after it ended) got a second control and ran its model
    again for one counted start; a request never begun, or of another session, got one too."""
    runs = RunRegistry()
    request = runs.begin("s", 2, keys=("direct", "stepwise"))
    first = runs.open("s", request, None, "direct")
    assert first is not None and runs.open("s", request, None, "direct") is None  # the same run again
    assert runs.open("t", request, None, "stepwise") is None  # another session
    assert runs.open("s", "never-begun", None, "direct") is None
    runs.close(None, request, None, "direct")  # a refusal of the second call: the opened run goes on
    assert runs.busy("s")
    runs.close("s", request, first, "direct")
    runs.close("s", request, first, "direct")  # closed twice: counted once
    assert runs.busy("s") and runs.open("s", request, None, "direct") is None  # after it ended
    second = runs.open("s", request, None, "stepwise")
    runs.close("s", request, second, "stepwise")
    assert not runs.busy("s") and runs.open("s", request, None, "stepwise") is None


def test_a_run_that_never_started_gives_back_its_count():
    """A run refused by a full queue, or stopped while it waited, never ran its model: its run_starts row (what
    ``begin`` was told it counted) goes to ``release``; a run that started keeps its count, and so does a
    duplicate call's refusal."""
    released = []
    runs = RunRegistry(release=released.extend)
    request = runs.begin("s", 2, keys=("direct", "stepwise"), counted={"direct": 11, "stepwise": 12})
    ran = runs.open("s", request, None, "direct")
    runs.close(None, request, None, "direct")  # the same column's event called again, refused by the queue
    runs.close(None, request, None, "stepwise")  # refused by a full queue
    assert released == [12]
    ran.start_clock()  # its model loaded and it began generating (``runs.stream_run``)
    runs.close("s", request, ran, "direct")
    assert released == [12]
    stopped = runs.begin("s", 1, keys=("direct",), counted={"direct": 13})
    runs.stop("s")
    runs.close("s", stopped, runs.open("s", stopped, None, "direct"), "direct", ran=False)
    assert released == [12, 13]


def test_a_stop_after_the_model_began_loading_leaves_the_run_counted():
    """``RunControl.spent``, hand-listed: a run stopped while it waited for the device, or whose model failed to
    load, did not use the machine and gives its count back; one stopped after its model began loading did (the
    load ends all the same), and one that started generating did, stopped or not."""
    waited = RunControl()
    waited.stop()
    failed = RunControl()
    failed.loading_began()  # then the load raised: never started, never stopped
    stopped_loading = RunControl()
    stopped_loading.loading_began()
    stopped_loading.stop()
    generated = RunControl()
    generated.loading_began()
    generated.start_clock()
    generated.stop()
    assert [c.spent for c in (waited, failed, stopped_loading, generated)] == [False, False, True, True]
    released = []
    runs = RunRegistry(release=released.extend)
    request = runs.begin("s", 2, keys=("waited", "loading"), counted={"waited": 1, "loading": 2})
    first, second = runs.open("s", request, None, "waited"), runs.open("s", request, None, "loading")
    second.loading_began()
    runs.stop("s")
    runs.close("s", request, first, "waited")
    runs.close("s", request, second, "loading")
    assert released == [1]


def test_stop_all_also_stops_a_run_that_was_not_inside_a_step_when_it_was_called():
    """A run loading its model or between two steps at Ctrl-C was not among the controls ``stop_all``
    stopped: its next step began inside torch while the interpreter exited (``wait_until_idle`` had returned
    with no step running). Now the shutdown stops it at its next ``check()``."""
    import pytest

    from realunify_arena import stopping

    loading = stopping.RunControl()  # opened, its model still loading: not inside ``active()``
    assert stopping.stop_all() == 0
    assert stopping.wait_until_idle(0.1)
    with pytest.raises(stopping.RunStopped, match="shut down"):
        loading.check()  # what ``run_stream`` does before each step
    stopping.RunControl().check()  # one opened afterwards (no server takes runs by then; a later test here) runs


def test_requests_of_sessions_that_never_return_are_forgotten_by_the_next_begin():
    """Before: a request past ``max_age_s`` was dropped only by a later ``begin`` of its own session, so a script
    calling Run alone from a new session each time left one entry per session in memory forever. Now any
    ``begin`` forgets every session's stale requests; a fresh request of another session stays. The old
    requests are dated back past ``max_age_s`` rather than slept past a short one: with 0.2 s, a loaded machine
    could pause that long between the last two begins, and the fresh request had gone stale too."""
    runs = RunRegistry(max_age_s=60)
    old = {f"s{n}": runs.begin(f"s{n}", 2, keys=("direct", "stepwise")) for n in range(50)}
    for session, request in old.items():  # each began more than max_age_s ago
        runs._sessions[session][request].started -= 61
    fresh = runs.begin("t", 1, keys=("direct",))
    runs.begin("u", 1, keys=("direct",))
    assert not any(runs.known(session, request) for session, request in old.items())
    assert runs.known("t", fresh)
