"""Streaming a generator handler to the browser: on one thread of its own, frames spaced apart; and model
handlers that wait for the accelerator only when their card runs locally (``on_model_slot``).

Gradio glue only; what is streamed (runs, battles) comes from ``realunify_arena.runs`` and ``battles``.
"""

from __future__ import annotations

import functools
import inspect
import contextvars
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import anyio.to_thread
import gradio as gr

from realunify_arena.context import AppContext, QueueFull

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


def on_model_slot(ctx: AppContext, handler: Callable, model_arg: int) -> Callable:
    """``handler`` (a function or a generator function) as an async Gradio handler that runs inside
    ``ctx.model_slot(<its positional argument model_arg>)``: register it with ``concurrency_limit=None``.

    A local card's run waits for the accelerator without holding a thread; a remote card's run starts at
    once, so a hung endpoint (bounded by its card's ``timeout_s``) never holds another user's local run.
    The handler itself still runs on worker threads. A full queue is refused with a ``gr.Error``.
    """
    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        async def stream(*args) -> AsyncIterator:
            async with _slot(ctx, args[model_arg]):
                items = handler(*args)
                while (item := await anyio.to_thread.run_sync(next, items, _DONE)) is not _DONE:
                    yield item
        return stream

    @functools.wraps(handler)
    async def call(*args):
        async with _slot(ctx, args[model_arg]):
            return await anyio.to_thread.run_sync(functools.partial(handler, *args))
    return call


_DONE = object()


def _slot(ctx: AppContext, model):
    return _Refusing(ctx.model_slot(model if isinstance(model, str) else ""))


class _Refusing:
    """``ctx.model_slot`` with ``QueueFull`` shown on the page as a ``gr.Error``."""

    def __init__(self, slot) -> None:
        self.slot = slot

    async def __aenter__(self) -> None:
        try:
            await self.slot.__aenter__()
        except QueueFull as e:
            raise gr.Error(str(e)) from None

    async def __aexit__(self, *exc) -> bool | None:
        return await self.slot.__aexit__(*exc)


@dataclass
class _Failure:
    error: BaseException
