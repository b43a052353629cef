"""Streaming a generator handler to the browser: on one thread of its own, frames spaced apart; and model
handlers that wait for the accelerator only when their card runs locally (``on_model_slot``, or
``on_device_slot`` / ``in_device_slot`` when the handler's own data says so, as for an arena battle).

Gradio glue only; what is streamed (runs, battles) comes from ``realunify_arena.runs`` and ``battles``.
"""

from __future__ import annotations

import functools
import inspect
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


def on_model_slot(ctx: AppContext, handler: Callable, model_arg: int) -> Callable:
    """``handler`` (a function or a generator function) as an async Gradio handler that runs inside
    ``ctx.model_slot(<its positional argument model_arg>)``: register it with ``concurrency_limit=None``.

    A local card's run waits for the accelerator without holding a thread; a remote card's run starts at
    once, so a hung endpoint (bounded by its card's ``timeout_s``) never holds another user's local run.
    The handler itself still runs on worker threads. A full queue is refused with a ``gr.Error``.
    """
    async def slot(args: tuple):
        model = args[model_arg]
        return _Refusing(ctx.model_slot(model if isinstance(model, str) else ""))

    return _in_slot(handler, slot)


def on_device_slot(ctx: AppContext, handler: Callable, needs_device: Callable[..., bool]) -> Callable:
    """``handler`` as ``on_model_slot`` makes it, for a handler whose models only its inputs' data can tell
    (an arena battle, by its id): ``needs_device(*args)`` (on a worker thread: it may read the store) says
    whether this call holds ``ctx.device_slot``. Register it with ``concurrency_limit=None``."""
    async def slot(args: tuple):
        return _Refusing(ctx.device_slot(await anyio.to_thread.run_sync(functools.partial(needs_device, *args))))

    return _in_slot(handler, slot)


async def in_device_slot(ctx: AppContext, needed: bool, function: Callable[..., T], *args) -> T:
    """``function(*args)`` on a worker thread, inside ``ctx.device_slot(needed)``: for an async handler
    that learns what it runs part-way (``/new_battle`` draws its systems first)."""
    async with _Refusing(ctx.device_slot(needed)):
        return await anyio.to_thread.run_sync(functools.partial(function, *args))


def _in_slot(handler: Callable, slot: Callable) -> Callable:
    """``handler`` as an async handler that runs on worker threads inside ``await slot(args)``."""
    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        async def stream(*args) -> AsyncIterator:
            async with await slot(args):
                items = handler(*args)
                while (item := await anyio.to_thread.run_sync(next, items, _DONE)) is not _DONE:
                    yield item
        return stream

    @functools.wraps(handler)
    async def call(*args):
        async with await slot(args):
            return await anyio.to_thread.run_sync(functools.partial(handler, *args))
    return call


_DONE = object()


class _Refusing:
    """``ctx.model_slot`` or ``device_slot`` with ``QueueFull`` shown on the page as a ``gr.Error``."""

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
