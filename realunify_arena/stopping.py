"""Stopping a run: the user's Stop, or the per-run time limit, checked inside the model's own loop.

A ``RunControl`` travels with one run (``runs.stream_run`` -> ``protocols.run_stream``). While a step runs,
the control is the thread's *active* one, and ``check()`` (called before each step, by a forward pre-hook
on each loaded model's repeated blocks — one call per decoding or denoising step — and by hand-written
decoding loops) raises ``RunStopped`` once the control is stopped or past its deadline. The exception
unwinds through the model call, the protocol turns it into an error trace with the reason, and the
device lock is released by the ``with pool.use(...)`` block it leaves. ``RunRegistry`` finds the runs
of one browser session, so a Stop button can stop them.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

STOPPED_BY_USER = "stopped: you pressed Stop"
_local = threading.local()


class RunStopped(Exception):
    """A run was stopped before it finished; the message says why (shown as the run's error)."""


class _StopEvent(threading.Event):
    """A stop signal (shared by a control and its ``fork``s) that also calls back whoever waits on something
    ``check()`` cannot reach: a remote request blocked in a socket read (``RunControl.on_stop``)."""

    def __init__(self) -> None:
        super().__init__()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._keys = itertools.count()
        self._lock = threading.Lock()

    def set(self) -> None:
        super().set()
        with self._lock:
            callbacks = list(self._callbacks.values())
        for callback in callbacks:
            callback()

    def subscribe(self, callback: Callable[[], None]) -> int:
        with self._lock:
            key = next(self._keys)
            self._callbacks[key] = callback
        if self.is_set():
            callback()
        return key

    def unsubscribe(self, key: int) -> None:
        with self._lock:
            self._callbacks.pop(key, None)


class RunControl:
    """Stop signal and deadline of one run.

    Args:
        time_limit_s: seconds the run may generate once its model is loaded (``start_clock``); None: no limit.
        event: a stop signal shared with other controls (``fork``): stopping one stops all.
    """

    def __init__(self, time_limit_s: float | None = None, event: _StopEvent | None = None) -> None:
        self.time_limit_s = time_limit_s
        self._event = event or _StopEvent()
        self._deadline: float | None = None
        self._started = False
        self._loading = False
        self.reason = STOPPED_BY_USER
        _opened.add(self)  # for ``stop_all``: a run loading its model or between two steps is stopped too

    def fork(self) -> RunControl:
        """A control with its own clock that stops together with this one (the two sides of a battle)."""
        child = RunControl(self.time_limit_s, self._event)
        child.reason = self.reason
        return child

    def start_clock(self) -> None:
        """Start counting the time limit (after loading: a download is not generation); the run has started."""
        self._started = True
        if self.time_limit_s is not None:
            self._deadline = time.monotonic() + self.time_limit_s

    def loading_began(self) -> None:
        """The run's model began loading onto this machine for it (``ModelPool.use`` reported a loading stage):
        from now on, a Stop no longer makes the run count as never run (``spent``)."""
        self._loading = True

    def stop(self, reason: str = STOPPED_BY_USER) -> None:
        self.reason = reason
        self._event.set()

    @property
    def started(self) -> bool:
        """Whether the run got past loading its model (``start_clock`` was called): False for a run stopped
        while it waited for the device or loaded its model, or whose model failed to load."""
        return self._started

    @property
    def spent(self) -> bool:
        """Whether the run used this machine, so that it keeps its count against the visitor's run limit: it
        started (``started``), or it was stopped after its model began loading (``loading_began``; the load
        runs to its end all the same). False for a run stopped while it waited for the device, and for one
        whose model failed to load (no fault of the visitor's). Before, a Stop pressed while a model loaded
        gave the count back, so one visitor could make the machine load models (alternating two evicts each
        in turn) without limit."""
        return self._started or (self._loading and self.stopped)

    @property
    def stopped(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise ``RunStopped`` if the run was stopped (by Stop, or by ``stop_all`` at shutdown) or has used
        up its time limit."""
        if self._event.is_set():
            raise RunStopped(self.reason)
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise RunStopped(self.late_message())

    def late_message(self) -> str:
        """What a run stopped at its time limit says (``check``)."""
        return (f"stopped: the run took longer than the {self.time_limit_s:g} s time limit "
                "(--run-time-limit / REALUNIFY_RUN_TIME_LIMIT)")

    def seconds_left(self) -> float | None:
        """Seconds until the time limit stops the run (0 or less once past it); None before ``start_clock`` or
        without a limit."""
        return None if self._deadline is None else self._deadline - time.monotonic()

    @contextmanager
    def on_stop(self, callback: Callable[[], None]) -> Iterator[None]:
        """Call ``callback()`` (on the stopping thread, at once if stopped already) if this control, or one it
        shares its signal with (``fork``), is stopped while the block runs: for a wait ``check()`` cannot
        interrupt, such as a remote request blocked in a socket read (``adapters.wire.within_deadline`` shuts
        its sockets). The time limit calls nothing: ``seconds_left`` bounds such a wait instead."""
        key = self._event.subscribe(callback)
        try:
            yield
        finally:
            self._event.unsubscribe(key)

    @contextmanager
    def active(self) -> Iterator[RunControl]:
        """Make this the thread's active control for the block (what ``check()`` consults); while the block
        runs, ``stop_all`` stops it and ``wait_until_idle`` waits for it."""
        previous = getattr(_local, "control", None)
        _local.control = self
        with _running_changed:
            _running.append(self)
        try:
            yield self
        finally:
            _local.control = previous
            with _running_changed:
                _running.remove(self)
                _running_changed.notify_all()


_running: list[RunControl] = []  # the controls of every thread inside ``active()`` now
_running_changed = threading.Condition()
_opened: weakref.WeakSet[RunControl] = weakref.WeakSet()  # every control whose run may still go on
STOPPED_AT_SHUTDOWN = "stopped: the app was shut down during the run"


def stop_all(reason: str = STOPPED_AT_SHUTDOWN) -> int:
    """Stop every run going in this process, in any thread (the app shutting down).

    A model thread still inside torch when the interpreter exits aborts the process ("terminate called
    without an active exception", exit status 134): stop the runs, then ``wait_until_idle``. Every control
    opened so far is stopped: a run not inside a step now (loading its model, between two steps) stops at its
    next ``check()``. Returns the number inside a step, which ``wait_until_idle`` waits for."""
    with _running_changed:
        running = list(_running)
    for control in list(_opened):  # those inside a step, and those loading their model or between two steps
        control.stop(reason)
    return len(running)


def wait_until_idle(timeout_s: float) -> bool:
    """Wait until no thread is inside a run's ``active()`` block, at most ``timeout_s`` seconds; returns
    whether none is (a stopped run leaves at its model's next step)."""
    with _running_changed:
        return _running_changed.wait_for(lambda: not _running, timeout_s)


def current() -> RunControl | None:
    """The thread's active control (``RunControl.active``), or None when no run is active on this thread."""
    return getattr(_local, "control", None)


def check() -> None:
    """``check()`` the thread's active control; nothing when no run is active on this thread."""
    control = getattr(_local, "control", None)
    if control is not None:
        control.check()


@contextmanager
def active(control: RunControl | None) -> Iterator[None]:
    """``control.active()``, or nothing for None."""
    if control is None:
        yield
    else:
        with control.active():
            yield


@dataclass
class _Request:
    """One Run click of a session: its columns still to finish and their controls."""

    columns: int
    keys: tuple = ()  # what the runs are called (Explore: the modes), to say which were still pending
    finished: set = field(default_factory=set)
    started: float = field(default_factory=time.monotonic)
    stopped: bool = False
    reason: str = STOPPED_BY_USER  # why it was stopped: what a run opened after the stop says
    controls: set = field(default_factory=set)
    admitted: object = None  # what its runs were let do (Explore: instance, model, settings), as begin was told
    opened: set = field(default_factory=set)  # the keys whose run was opened: each key's run is opened once
    counted: dict = field(default_factory=dict)  # key -> what its run's count is (``release``d if it never starts)


class RunRegistry:
    """The runs in flight per browser session, so that session's Stop can stop them and a second Run
    while one is in flight can be refused. A request older than ``max_age_s`` no longer counts as busy
    (its events were dropped without ending); every ``begin`` forgets such requests of every session, so
    sessions that never return (a script calling Run alone, in a new session each time) leave nothing behind."""

    def __init__(self, max_age_s: float = 3600.0, release: Callable[[list], None] | None = None) -> None:
        self.max_age_s = max_age_s
        # called with the ``counted`` values of runs that ended without starting (``close`` with ``ran`` False):
        # the app gives back their count against the visitor's run limit (``Arena.release_runs``)
        self.release = release
        self._lock = threading.Lock()
        self._sessions: dict[str, dict[str, _Request]] = {}

    def begin(self, session: str, columns: int, keys: tuple = (), request_id: str | None = None, *,
              admitted: object = None, counted: Mapping | None = None) -> str:
        """Record a request of ``columns`` runs (named ``keys``); returns its id (what each run passes
        to ``open``): ``request_id`` when given (a random id the caller already has, such as a battle's),
        else a new one. ``admitted`` is what the runs were checked and counted for (``admitted`` returns it);
        ``counted`` maps a key to its run's count (a run_starts row id), given to ``release`` when that run
        ends without starting."""
        request_id = request_id or uuid.uuid4().hex
        now = time.monotonic()
        with self._lock:
            for name, requests in list(self._sessions.items()):  # every session's: most never come back
                for stale in [k for k, r in requests.items() if now - r.started >= self.max_age_s]:
                    del requests[stale]  # stopped while queued (its run never came), or dropped
                if not requests:
                    del self._sessions[name]
            requests = self._sessions.setdefault(session, {})
            requests[request_id] = _Request(columns, tuple(keys), admitted=admitted, counted=dict(counted or {}))
        return request_id

    def busy(self, session: str) -> bool:
        """Whether the session has a request with runs still to finish."""
        now = time.monotonic()
        with self._lock:
            return any(r.columns > 0 and not r.stopped and now - r.started < self.max_age_s
                       for r in self._sessions.get(session, {}).values())

    def known(self, session: str, request_id: str) -> bool:
        """Whether ``session`` started request ``request_id`` (``begin``) and it has runs still to end: what a
        run that comes with a request id from the browser must be part of."""
        with self._lock:
            request = self._sessions.get(session, {}).get(request_id)
            return request is not None and request.columns > 0

    def admitted(self, session: str, request_id: str) -> object:
        """What ``begin`` was told request ``request_id`` of ``session`` may run (None for an unknown request):
        a run that comes with settings from the browser must match it, or it would run what no check
        and no limit saw."""
        with self._lock:
            request = self._sessions.get(session, {}).get(request_id)
            return None if request is None else request.admitted

    def stopped(self, request_id: str | None) -> bool:
        """Whether the request ``request_id`` (of any session: the ids are random and never shown to
        another session) was stopped."""
        if not request_id:
            return False
        with self._lock:
            return any(request_id in requests and requests[request_id].stopped
                       for requests in self._sessions.values())

    def open(self, session: str, request_id: str | None, time_limit_s: float | None, key=None) -> RunControl | None:
        """A control for the run named ``key`` of the request (already stopped if the request was stopped), or
        None: ``session`` has no such request with runs still to end (never begun, or ended), or the run
        ``key`` was opened already (its event called twice, at once or again): each run is opened once."""
        control = RunControl(time_limit_s)
        with self._lock:
            request = self._sessions.get(session, {}).get(request_id) if request_id else None
            if request is None or request.columns <= 0 or key in request.opened | request.finished:
                return None
            request.opened.add(key)
            request.controls.add(control)
            if request.stopped:
                control.stop(request.reason)
        return control

    def close(self, session: str | None, request_id: str | None, control: RunControl | None, key=None, *,
              ran: bool | None = None) -> None:
        """The run (named ``key``) ended: finished, failed or stopped; or, with ``session`` and ``control``
        None, it was refused before it started (a full queue), so it never opened a control. ``ran`` (default:
        ``control.spent``) False, and always for a refused run: it ended without using the machine (stopped
        while it waited for the device, its model failed to load, or refused), so its
        count (``begin``'s ``counted``) goes to ``release``. Each key closes once: a second
        close, or a refusal of a key whose run was opened (the same event called twice), changes nothing."""
        with self._lock:
            if session is None:  # a run refused before it started: its request, whatever the session
                session = next((s for s, requests in self._sessions.items() if request_id in requests), None)
            requests = self._sessions.get(session, {})
            request = requests.get(request_id) if request_id else None
            if request is None or key in request.finished or (
                    control is None and key in request.opened) or (
                    control is not None and control not in request.controls):
                return
            request.controls.discard(control)
            request.finished.add(key)
            request.columns -= 1
            if ran is None:
                ran = control is not None and control.spent
            unrun = [request.counted.pop(key)] if key in request.counted and (control is None or not ran) else []
            if request.columns <= 0:
                del requests[request_id]
            if not requests:
                self._sessions.pop(session, None)
        if unrun and self.release is not None:
            self.release(unrun)

    def stop(self, session: str, reason: str = STOPPED_BY_USER, keys: Iterable | None = None) -> set:
        """Stop the session's runs, running or still queued: every request, or with ``keys`` only the
        requests that name one of them (a tab's Stop leaves the other tab's runs alone); returns the keys of
        the runs stopped that had not ended."""
        wanted = None if keys is None else set(keys)
        pending = set()
        with self._lock:
            for request in self._sessions.get(session, {}).values():
                if wanted is not None and not wanted & set(request.keys):
                    continue
                if not request.stopped:
                    pending |= set(request.keys) - request.finished
                request.stopped = True  # kept until its runs end: one still queued starts stopped
                request.reason = reason
                for control in request.controls:
                    control.stop(reason)
        return pending
