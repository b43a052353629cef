"""Runs and judgments as the app needs them: streamed, stored, reused, never raising.

A run already stored with the same settings is shown from the store instead of being run again (which
is also what lets a CPU-only Space serve stored runs). Only finished runs (``ok`` or ``not_supported``)
are stored: an error is usually transient (out of memory, an endpoint down), and a stored one would
shadow the retry, since the store keeps the first run saved under a key.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

import spaces

from realunify_arena import judge as judging
from realunify_arena import protocols
from realunify_arena.adapters.base import GenerationOptions
from realunify_arena.benchmark.schema import AnyInstance, GEUInstance, UEGInstance
from realunify_arena.store import Store
from realunify_arena.trace import Mode, Status, Trace

T = TypeVar("T")
GEU_JUDGE = "answer-parser"  # GEU is scored by parsing the answer letter; no judge model takes part
JUDGING = "judging…"  # a judgment left for the judge model's turn on the device


@dataclass
class RunUpdate:
    trace: Trace
    run_id: int | None = None  # set on the last update once the run is stored
    reused: bool = False  # shown from the store, not run now
    done: bool = False


def stream_run(store: Store, pool, dataset: str, instance: AnyInstance, model: str, mode: Mode,
               options: GenerationOptions) -> Iterator[RunUpdate]:
    """The growing trace after each step, then the finished one with its run id (None if not stored)."""
    existing = store.find_run(dataset, instance.uid, model, mode, options.to_dict())
    if existing is not None:
        yield RunUpdate(store.load_trace(existing), existing, reused=True, done=True)
        return
    trace = Trace(instance.uid, model, mode, options.to_dict())
    try:
        for trace in _live(pool, instance, model, mode, options):
            yield RunUpdate(trace)
    except Exception as e:  # noqa: BLE001 - loading failed (unavailable, out of memory): shown in place
        trace.status, trace.error = Status.ERROR, f"{type(e).__name__}: {e}"
    run_id = store.save_trace(trace, dataset) if trace.status is not Status.ERROR else None
    yield RunUpdate(trace, run_id, done=True)


@spaces.GPU(duration=120)  # a no-op off ZeroGPU; there, the GPU is attached only while this runs
def _live(pool, instance: AnyInstance, model: str, mode: Mode, options: GenerationOptions) -> Iterator[Trace]:
    with pool.use(model) as adapter:
        yield from protocols.run_stream(instance, adapter, mode, options)


def run_to_end(store: Store, pool, dataset: str, instance: AnyInstance, model: str, mode: Mode,
               options: GenerationOptions) -> RunUpdate:
    update = None
    for update in stream_run(store, pool, dataset, instance, model, mode, options):
        pass
    return update


def interleave(streams: dict[str, Iterator[RunUpdate]]) -> Iterator[tuple[str, RunUpdate]]:
    """(key, update) taking one step from each run in turn, so both sides of a battle progress together.

    One thread on purpose: each run holds its device lock while suspended, and the pool's lock is
    re-entrant, so two runs on one accelerator alternate instead of one waiting for the other to end.
    """
    active = dict(streams)
    while active:
        for key in list(active):
            try:
                yield key, next(active[key])
            except StopIteration:
                del active[key]


def relay(items: Iterator[T]) -> Iterator[T]:
    """``items``, consumed to the end on one thread of its own.

    Gradio advances a sync generator handler on whichever worker thread is free, but a run holds the
    pool's device lock while suspended, and only the thread that took a lock may release it. The run
    also finishes (and is stored) if the browser goes away mid-way.
    """
    handoff: queue.Queue = queue.Queue()
    finished = object()

    def pump() -> None:
        try:
            for item in items:
                handoff.put(item)
        except BaseException as e:  # noqa: BLE001 - re-raised on the consuming side
            handoff.put(_Failure(e))
        finally:
            handoff.put(finished)

    threading.Thread(target=pump, daemon=True, name="realunify-run").start()
    while (item := handoff.get()) is not finished:
        if isinstance(item, _Failure):
            raise item.error
        yield item


def paced(frames: Iterator[T], gap_s: float = 0.3) -> Iterator[T]:
    """``frames`` at least ``gap_s`` apart. Gradio sends each yield as a diff against the previous one,
    and a browser that receives several in a burst may render only the last, losing what the skipped
    ones changed (seen as an image that never appears); spacing them out keeps every one."""
    last = float("-inf")
    for frame in frames:
        wait = last + gap_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        yield frame
        last = time.monotonic()


@dataclass
class _Failure:
    error: BaseException


def judge_run(store: Store, pool, run_id: int, trace: Trace, instance: AnyInstance,
              judge_name: str, *, ask_model: bool = True) -> tuple[dict | None, str | None]:
    """(judgment, problem): the stored judgment or a new one; a human judge is never asked here.

    With ``ask_model`` False a judgment that needs the judge model is left for a later call, in the
    ``gpu`` group, and the problem says so (GEU answers are parsed, never sent to a model).
    """
    name = GEU_JUDGE if isinstance(instance, GEUInstance) else judge_name
    stored = store.find_judgment(run_id, name)
    if stored is not None or trace.final is None:
        return stored, None
    if name == judging.HUMAN or (isinstance(instance, UEGInstance) and not instance.question_list):
        return None, None  # nobody to ask, or nothing to ask (your own prompt): an empty poll is not a pass
    if not ask_model and isinstance(instance, UEGInstance):
        return None, JUDGING
    try:
        judge = judging.build_judge(name, pool)
        judgment = judging.judge_trace(trace, instance, judge, judging.stored_images(store))
    except Exception as e:  # noqa: BLE001 - a judge failure is shown beside the output, never fatal
        return None, f"judge {name} failed: {type(e).__name__}: {e}"
    store.save_judgment(run_id, name, judgment.to_dict())
    return judgment.to_dict(), None


def judge_by_hand(store: Store, run_id: int, instance: AnyInstance, yes_questions: list[str]) -> dict:
    """Store a person's answers to the polling questions (ticked = yes) as the run's human judgment."""
    answers = {q.question: "yes" if q.question in yes_questions else "no" for q in instance.question_list}
    trace = store.load_trace(run_id)
    judgment = judging.judge_trace(trace, instance, judging.build_judge(judging.HUMAN, answers=answers),
                                   judging.stored_images(store))
    store.save_judgment(run_id, judging.HUMAN, judgment.to_dict())
    return judgment.to_dict()
