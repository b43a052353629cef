"""Run, store, judge: the one path from an instance to a stored, judged run, for the app, its API and ``eval``.

A run already stored under the same key (dataset, instance, model, mode, settings) is taken from the store
instead of being run again, which is also what lets a CPU-only Space serve stored runs (except a live
battle's run before its vote, and never for a live battle's own sides: see ``stream_run``). The app stores only
finished runs (``ok`` or ``not_supported``): an error is usually transient (out of memory, an endpoint
down) and a stored one would shadow the retry, since the store keeps the first run saved under a key.
``eval`` keeps errors (``keep_errors``): in a benchmark table a crash counts as a wrong answer.

Judgments are stored under ``judge.judge_name(instance, judge)``: GEU by the answer parser, UEG by the
judge asked for.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from realunify_arena import judge as judging
from realunify_arena import protocols
from realunify_arena.adapters.base import Adapter, GenerationOptions, ModelSource
from realunify_arena.benchmark.schema import AnyInstance, UEGInstance
from realunify_arena.pump import FINISHED, Pump
from realunify_arena.redaction import each_string, error_text, secret_values, visitor_text
from realunify_arena.stopping import RunControl, RunStopped
from realunify_arena.runtime import WAITING_FOR_DEVICE, zero_gpu
from realunify_arena.store import Store
from realunify_arena.systems import Mode
from realunify_arena.trace import Status, Trace

T = TypeVar("T")
JUDGING = "judging…"  # the problem shown for a judgment left for the judge model's turn on the device


@dataclass
class RunUpdate:
    """One step of a run as it streams: the trace so far; the last update has ``done`` and the run id."""

    trace: Trace
    run_id: int | None = None  # set on the last update once the run is stored
    reused: bool = False  # shown from the store, not run now
    done: bool = False


def stream_run(store: Store, pool, dataset: str, instance: AnyInstance, model: str, mode: Mode,
               options: GenerationOptions, *, adapter: Adapter | None = None,
               keep_errors: bool = False, reuse: bool = True, control: RunControl | None = None,
               report: Callable[[str], None] | None = None,
               why_not: Callable[[str], str | None] | None = None) -> Iterator[RunUpdate]:
    """The growing trace after each step, then the finished one with its run id (None if not stored).

    Args:
        dataset: the name runs are stored under (``Dataset.name``, or ``benchmark.custom.CUSTOM_DATASET``).
        adapter: an adapter already lent by ``pool`` (a batch holds one for many runs); by default the
            pool lends ``model`` for this run only, on the device where ZeroGPU attaches one.
        keep_errors: store a run whose model failed too (``eval``); the app leaves it unstored.
        control: stops the run (Stop, or its time limit, counted once the model is loaded); a stopped run
            is an ``error`` trace saying why, never stored by the app.
        report: called with each loading stage ("downloading …", "loading … onto cuda") as it begins.
        reuse: take a run stored under the same key instead of running (the default). A live battle
            passes False (with a fresh seed of its own): its sides are never a stored run.
        why_not: says why a card cannot run here (``AppContext.why_not``; None: it can). A run of such a
            card that is not in the store is refused with that reason (an ``error`` trace, not stored)
            before anything loads; a stored run of it is still served (a CPU Space shows stored runs of
            models it cannot hold).

    A stored run that a live battle showed and that awaits the battle's vote (``Store.awaits_vote``) is
    not reused: the model runs again and the run is not stored (its key is the battle's), so no other
    request can fetch a battle's run before the vote.

    Never raises for a model failure: a load or run failure is a trace with status ``error``.
    """
    existing, held = _stored(store, dataset, instance, model, mode, options) if reuse else (None, False)
    if existing is not None and not held:
        yield RunUpdate(store.load_trace(existing), existing, reused=True, done=True)
        return
    trace = Trace(instance.uid, model, mode, options.to_dict())
    refused = why_not(model) if why_not is not None and adapter is None else None
    if refused is not None:
        trace.status, trace.error = Status.ERROR, f"Not run: {refused}"
        yield RunUpdate(trace, done=True)
        return
    if adapter is not None:
        if control is not None:
            control.start_clock()
        steps = _protocol(instance, adapter, mode, options, control)
    elif needs_device(pool, model):
        steps = _live(pool, instance, model, mode, options, control, report)
    else:  # a remote card: no GPU to attach on ZeroGPU, no device lock
        steps = _remote(pool, instance, model, mode, options, control, report)
    try:
        for trace in steps:
            yield RunUpdate(trace)
    except RunStopped as e:  # stopped while waiting for the device or loading
        trace.status, trace.error = Status.ERROR, str(e)
    except Exception as e:  # noqa: BLE001 - loading failed (unavailable, out of memory): shown in place
        trace.status, trace.error = Status.ERROR, error_text(e)
    stored = not held and (keep_errors or trace.status is not Status.ERROR)
    if held:  # the run is not stored, its images are (content-addressed), so the trace shows them
        for step in trace.steps:
            if step.image is not None:
                step.image_sha = store.put_image(step.image)
    yield RunUpdate(trace, store.save_trace(trace, dataset) if stored else None, done=True)


def new_runs(store: Store, dataset: str, instance: AnyInstance, model: str, modes: Iterable[Mode],
             options: GenerationOptions, why_not: Callable[[str], str | None] | None = None) -> list[Mode]:
    """Those of ``modes`` (in their order) ``stream_run`` (reusing stored runs, as the app does) would run
    ``model`` in now: not a mode it serves a stored run of (one no battle holds for its vote), nor one of a
    card that cannot run here (``why_not``, which refuses it). Their number is what a visitor's run limit
    counts (``Arena.admit_runs``)."""
    if why_not is not None and why_not(model) is not None:
        return []
    return [mode for mode in modes
            if (stored := _stored(store, dataset, instance, model, mode, options))[0] is None or stored[1]]


def _stored(store: Store, dataset: str, instance: AnyInstance, model: str, mode: Mode,
            options: GenerationOptions) -> tuple[int | None, bool]:
    """(run id, held): the stored run under this key (None: none), and whether a live battle holds it for
    its vote (``Store.awaits_vote``), so that it is not served: the one rule of ``stream_run``'s reuse."""
    existing = store.find_run(dataset, instance.uid, model, mode, options.to_dict())
    return existing, existing is not None and store.awaits_vote(existing)


def for_visitors(result: dict) -> dict:
    """``run_and_judge``'s (or Explore's, or a revealed arena side's) result as a visitor may see it: its
    ``error``, ``judge_problem``, the trace's ``error`` and ``notes`` and every text of its ``judgment`` (a judge
    reply may be ``"<judge call failed: ...>"``, quoting the judge's endpoint) without secrets, the server's
    folders or endpoint addresses (``redaction.visitor_text``). Other keys are kept as they are."""
    shown, secrets = dict(result), secret_values()  # read once: a judgment holds dozens of texts
    for key in ("error", "judge_problem"):
        if shown.get(key):
            shown[key] = visitor_text(shown[key], secrets)
    if isinstance(shown.get("trace"), dict):
        trace = shown["trace"] = dict(shown["trace"])
        if trace.get("error"):
            trace["error"] = visitor_text(trace["error"], secrets)
        if trace.get("notes"):
            trace["notes"] = [visitor_text(note, secrets) for note in trace["notes"]]
    if shown.get("judgment"):
        shown["judgment"] = _visible(shown["judgment"], secrets)
    return shown


def _visible(value, secrets: list[str]):
    """``value`` (JSON-like) with ``visitor_text`` applied to every string in it."""
    return each_string(value, lambda text: visitor_text(text, secrets))


def needs_device(pool: ModelSource, model: str) -> bool:
    """Whether a run of card ``model`` takes this machine's accelerator: False for a remote card (an
    endpoint does its own scheduling, so its runs wait for no local run and no local run waits for them).
    An unknown name counts as local, the safe side: its run fails with ``ModelUnavailable`` when it starts."""
    card = pool.cards.get(model)
    return card is None or not card.remote


def _remote(pool, instance: AnyInstance, model: str, mode: Mode, options: GenerationOptions,
            control: RunControl | None = None, report: Callable[[str], None] | None = None) -> Iterator[Trace]:
    if control is not None:
        control.check()
        report = _noting_loads(control, report)
    with pool.use(model, report=report) if report is not None else pool.use(model) as adapter:
        if control is not None:
            control.check()  # stopped while waiting for the device or loading
            control.start_clock()
        # the model is ready: a trace without steps, so a page that said "loading" says step 1 is running
        # (the protocol reports each step only once it has finished)
        yield Trace(instance.uid, model, mode, options.to_dict())
        yield from _protocol(instance, adapter, mode, options, control)


def _noting_loads(control: RunControl, report: Callable[[str], None] | None) -> Callable[[str], None]:
    """``report``, also telling ``control`` when the model begins loading (every stage ``ModelPool.use`` reports
    but ``WAITING_FOR_DEVICE``): from then on a Stop leaves the run counted (``RunControl.spent``)."""
    def noted(stage: str) -> None:
        if stage != WAITING_FOR_DEVICE:
            control.loading_began()
        if report is not None:
            report(stage)
    return noted


def _protocol(instance: AnyInstance, adapter: Adapter, mode: Mode, options: GenerationOptions,
              control: RunControl | None) -> Iterator[Trace]:
    """``protocols.run_stream``, given the control only when there is one."""
    if control is None:
        return protocols.run_stream(instance, adapter, mode, options)
    return protocols.run_stream(instance, adapter, mode, options, control=control)


_live = zero_gpu(duration=120)(_remote)  # off ZeroGPU the function as is; there, the GPU is attached only while it runs


def run_to_end(store: Store, pool, dataset: str, instance: AnyInstance, model: str, mode: Mode,
               options: GenerationOptions, **kwargs) -> RunUpdate:
    """``stream_run``'s last update: the finished (or reused) run."""
    update = None
    for update in stream_run(store, pool, dataset, instance, model, mode, options, **kwargs):
        pass
    return update


def interleave(streams: dict[str, Iterator[RunUpdate]]) -> Iterator[tuple[str, RunUpdate]]:
    """(key, update) taking one step from each run in turn, so runs on one thread progress together.

    One thread on purpose: each run holds its device lock while suspended, and the pool's lock is
    re-entrant, so two local runs on one accelerator alternate instead of one waiting for the other to end.
    Never put a remote run here beside a local one: while the remote one waits for its endpoint, the local
    one's suspended generator holds the device lock (``battles.play`` gives each remote side a thread of its
    own through ``concurrently``). A run left unfinished is closed when this is, so its lock is released.
    """
    active = dict(streams)
    try:
        while active:
            for key in list(active):
                try:
                    yield key, next(active[key])
                except StopIteration:
                    del active[key]
    finally:
        for stream in active.values():
            close = getattr(stream, "close", None)
            if close is not None:
                close()


def concurrently(streams: list[Iterator[T]]) -> Iterator[T]:
    """The items of ``streams`` as they arrive, each stream produced on a daemon thread of its own (in a
    copy of the caller's context), so a local run ends, and releases its device lock, while a remote one
    still waits for its endpoint. An exception in a stream is raised again here once its earlier items are
    out. Closing this (or abandoning it) makes each producer close its stream after its next item, as a
    generator dropped on one thread would be; a stream blocked in a call ends when that call does (a
    remote request at its card's deadline, a run when its ``RunControl`` stops it). A single stream is
    simply iterated here, on the caller's thread."""
    if len(streams) == 1:
        yield from streams[0]
        return
    pump = Pump(streams, name="realunify-side")
    try:
        while (item := pump.get()) is not FINISHED:
            yield item
    finally:
        pump.close()


# -- judging ----------------------------------------------------------------------------------------


def judge_stored_run(store: Store, run_id: int, instance: AnyInstance, judge: judging.Judge, *,
                     trace: Trace | None = None, attempts: int = judging.ATTEMPTS) -> dict:
    """Judge a stored finished run with ``judge`` and store the judgment under
    ``judge_name(instance, judge.name)``; returns ``Judgment.to_dict()``.

    Raises what ``judge.judge_trace`` raises: ``ValueError`` for an unfinished run or a UEG instance
    without polling questions, ``ModelUnavailable`` for a judge that cannot run, ``MissingAnswer``.
    """
    trace = trace if trace is not None else store.load_trace(run_id)
    judgment = judging.judge_trace(trace, instance, judge, judging.stored_images(store), attempts=attempts)
    store.save_judgment(run_id, judging.judge_name(instance, judge.name), judgment.to_dict())
    return judgment.to_dict()


def judge_run(store: Store, pool, run_id: int, trace: Trace, instance: AnyInstance,
              judge_name: str, *, ask_model: bool = True,
              why_not: Callable[[str], str | None] | None = None) -> tuple[dict | None, str | None]:
    """(judgment, problem): the stored judgment or a new one; never raises, a human is never asked here.

    ``problem`` says why there is no judgment when something went wrong. With ``ask_model`` False a
    judgment that needs the judge model is left for a later call and the problem is ``JUDGING`` (GEU
    answers are parsed, never sent to a model, so they are judged at once). A judge card that cannot run
    here (``why_not``, as ``stream_run``) is not loaded: the problem says why (a stored judgment by it is
    still returned). The judge model runs at most once per run and judge in this process: a failed
    judging's problem is remembered and returned again, without running the judge, and a second call made while
    the first runs waits for its outcome (``_Judgings``).
    """
    name = judging.judge_name(instance, judge_name)
    stored = store.find_judgment(run_id, name)
    if stored is not None or trace.final is None:
        return stored, None
    if name == judging.HUMAN or (isinstance(instance, UEGInstance) and not instance.question_list):
        return None, None  # nobody to ask, or nothing to ask (your own prompt): an empty poll is not a pass
    if not ask_model and isinstance(instance, UEGInstance):
        return None, JUDGING
    refused = why_not(name) if why_not is not None else None
    if refused is not None:
        return None, f"judge {name} not run: {refused}"
    key = (str(store.path), run_id, name)
    with _JUDGINGS.one_at_a_time(key):  # a second caller waits for the first's outcome instead of judging too
        failed = _JUDGINGS.problem(key)
        if failed is not None:  # tried once already in this process: said again, not run again
            return None, failed
        stored = store.find_judgment(run_id, name)  # judged by the caller this one waited for
        if stored is not None:
            return stored, None
        try:
            return judge_stored_run(store, run_id, instance, judging.build_judge(name, pool), trace=trace), None
        except Exception as e:  # noqa: BLE001 - a judge failure is shown beside the output, never fatal
            problem = f"judge {name} failed: {error_text(e)}"
            _JUDGINGS.failed(key, problem)
            return None, problem


class _Judgings:
    """Per (store path, run id, judge), safe across threads: at most one judging runs at a time, and the
    problem of a failed one, the newest ``MAX_KEPT`` kept.

    A failed judgment is not stored (it is no verdict), so without the problems each reveal of a voted
    battle (the page's judging event, which a visitor can send again and again) or each Explore Run serving
    the stored run again ran the judge model anew, counted against no run limit (arena27); without the
    one-at-a-time rule, two such events sent at once both ran it. Kept in memory only: a restarted app tries
    once more (a judge that was out of memory may fit now)."""

    MAX_KEPT = 10_000

    def __init__(self) -> None:
        self._problems: OrderedDict[tuple[str, int, str], str] = OrderedDict()
        self._running: dict[tuple[str, int, str], list] = {}  # key -> [its lock, callers holding or waiting]
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def one_at_a_time(self, key: tuple[str, int, str]) -> Iterator[None]:
        """Hold ``key``'s lock for the block; a key's lock is dropped once nobody holds or waits for it."""
        with self._lock:
            entry = self._running.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._lock:
                entry[1] -= 1
                if not entry[1]:
                    del self._running[key]

    def problem(self, key: tuple[str, int, str]) -> str | None:
        with self._lock:
            return self._problems.get(key)

    def failed(self, key: tuple[str, int, str], problem: str) -> None:
        with self._lock:
            self._problems[key] = problem
            self._problems.move_to_end(key)
            while len(self._problems) > self.MAX_KEPT:
                self._problems.popitem(last=False)


_JUDGINGS = _Judgings()


def prefetch_judge(pool, instance: AnyInstance, model: str, judge_name: str,
                   why_not: Callable[[str], str | None] | None = None) -> None:
    """Start loading the judge model in the background when judging this run will need it (a UEG instance
    with polling questions, a judge card that can run here: ``why_not``), after ``model``'s own load: see
    ``ModelPool.prefetch``."""
    name = judging.judge_name(instance, judge_name)
    if name != judging.HUMAN and isinstance(instance, UEGInstance) and instance.question_list \
            and hasattr(pool, "prefetch") and (why_not is None or why_not(name) is None):
        pool.prefetch(name, after=model)


def judge_by_hand(store: Store, run_id: int, instance: AnyInstance, yes_questions: list[str], voter: str, *,
                  rate_key: str | None = None, max_per_window: int | None = None,
                  window_seconds: float = 60.0) -> dict:
    """Store one person's answers to the polling questions (ticked = yes) as their own human judgment of
    the run; judging again replaces only theirs. ``voter`` follows the vote identity rules
    (``Arena.voter_id``); with ``max_per_window``, at most that many judgments per ``window_seconds``
    per ``rate_key`` (``arena.rate_key(voter)``). The run's single human verdict, where one is needed, is
    made per polling question by the voters' majority, then the paper's instance rule
    (``Store.human_verdict``). Returns this person's ``Judgment.to_dict()``.

    Raises ``ValueError`` for an instance without polling questions (nothing to judge), ``RateLimited``
    over the limit (nothing written)."""
    answers = {q.question: "yes" if q.question in yes_questions else "no" for q in instance.question_list}
    judgment = judging.judge_trace(store.load_trace(run_id), instance,
                                   judging.build_judge(judging.HUMAN, answers=answers),
                                   judging.stored_images(store)).to_dict()
    store.save_human_judgment(run_id, voter, judgment, rate_key=rate_key, max_per_window=max_per_window,
                              window_seconds=window_seconds)
    return judgment


def run_and_judge(store: Store, pool, dataset: str, instance: AnyInstance, model: str, mode: Mode,
                  options: GenerationOptions, judge_name: str, control: RunControl | None = None,
                  why_not: Callable[[str], str | None] | None = None) -> dict:
    """Run (or reuse) one instance in one mode, store it, judge it; ``control`` (``stream_run``) bounds the
    run, e.g. by the app's per-run time limit; ``why_not`` (``stream_run``, ``judge_run``) refuses a model or
    judge that cannot run here, unless the run or judgment is stored.

    Returns ``{"run_id", "reused", "status", "error", "trace", "judgment", "judge_problem"}``: the run id
    (None when the run failed and was not stored), the trace as ``Trace.to_dict()``, the judgment as
    ``Judgment.to_dict()`` (None when not judged) and why it was not, if something went wrong.
    """
    prefetch_judge(pool, instance, model, judge_name, why_not)
    update = run_to_end(store, pool, dataset, instance, model, mode, options, control=control, why_not=why_not)
    judgment, problem = (judge_run(store, pool, update.run_id, update.trace, instance, judge_name,
                                   why_not=why_not)
                         if update.run_id is not None else (None, None))
    return {"run_id": update.run_id, "reused": update.reused, "status": update.trace.status.value,
            "error": update.trace.error, "trace": update.trace.to_dict(thoughts=False), "judgment": judgment,
            "judge_problem": problem}
