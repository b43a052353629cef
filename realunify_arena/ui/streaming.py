"""Streaming a generator handler to the browser: on one thread of its own, frames spaced apart.

Gradio glue only; what is streamed (runs, battles) comes from ``realunify_arena.runs`` and ``battles``.
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


def relay(items: Iterator[T]) -> Iterator[T]:
    """``items``, consumed to the end on one thread of its own.

    Gradio advances a sync generator handler on whichever worker thread is free, but a run holds the
    pool's device lock while suspended, and only the thread that took a lock may release it. The run
    also finishes (and is stored) if the browser goes away mid-way. The thread runs in a copy of the
    caller's context, so Gradio's progress tracker (``gr.Progress``) reaches the page from it.
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

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(pump,), daemon=True, name="realunify-run").start()
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
