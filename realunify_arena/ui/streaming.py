"""Streaming a generator handler to the browser: on one thread of its own, bursts of frames merged; and
model handlers that wait for the accelerator only when their card runs locally (``on_model_slot``, or
``on_device_slot`` / ``in_device_slot`` when the handler's own data says so, as for an arena battle).

Gradio glue only; what is streamed (runs, battles) comes from ``realunify_arena.runs`` and ``battles``.
"""

from __future__ import annotations

import functools
import inspect
import queue
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

import anyio.to_thread
import gradio as gr

from realunify_arena.context import AppContext, QueueFull
from realunify_arena.pump import FINISHED, Pump
from realunify_arena.stopping import RunControl
from realunify_arena.store import rate_key
from realunify_arena.ui.calls import Refusal
from realunify_arena.ui.visitor import visitor

STOP_POLL_S = 0.1  # how often a relayed run's control is looked at while no item arrives
STOP_GRACE_S = 1.0  # how long a stopped run may take to end before its handler says "stopped" itself

T = TypeVar("T")


def relay(items: Iterator[T], control: RunControl | None = None, grace_s: float = STOP_GRACE_S) -> Iterator[T]:
    """``items``, consumed to the end on one thread of its own.

    Gradio advances a sync generator handler on whichever worker thread is free, but a run holds the
    pool's device lock while suspended, and only the thread that took a lock may release it. The run
    also finishes (and is stored) if the browser goes away mid-way. The thread runs in a copy of the
    caller's context, so Gradio's progress tracker (``gr.Progress``) reaches the page from it.

    With ``control``: once it is stopped, ``items`` has ``grace_s`` seconds to end (a run stops at its
    next step and yields its stopped trace); if it has not, relaying ends there and the thread is left to
    end by itself (a model still loading), so the handler can say "stopped" at once on its own stream.
    """
    pump = Pump([items])
    give_up = None  # when relaying ends if the stopped items have not
    while True:
        if control is None:
            item = pump.get()
        else:
            try:
                item = pump.get(STOP_POLL_S if give_up is None else max(0.0, give_up - time.monotonic()))
            except queue.Empty:
                if give_up is None and control.stopped:
                    give_up = time.monotonic() + grace_s
                elif give_up is not None and time.monotonic() >= give_up:
                    pump.close()
                    return
                continue
        if item is FINISHED:
            return
        yield item


def paced(frames: Iterator[T], gap_s: float = 0.3) -> Iterator[T]:
    """``frames`` (each a list of output values, as a Gradio handler yields), produced on a thread of their
    own and sent at most one per ``gap_s``: frames that arrive closer together are merged into the newest
    (a ``gr.skip()`` keeps the earlier value, an update's properties add to the earlier ones), so nothing
    any frame changed is lost. Nothing ever waits: a frame is sent as soon as it arrives unless one was
    sent within ``gap_s``, and the last frame is sent the moment it exists.

    Why: Gradio sends each yield as a diff against the previous one, and a browser that receives several
    in a burst may render only the last, losing what the skipped ones changed (seen as an image that never
    appears). Merging here means a burst never reaches the browser, without holding any frame back for a
    fixed time (which made a run look slower than it was).

    Each frame is sent as a copy (``_sent``): Gradio takes an update's ``value`` out of the very dict it is
    given (``blocks.postprocess_update_dict`` pops it), so a handler that yields the same update again (a
    column it did not change) sent it without its value, and Gradio's diff said "delete value" for that
    column alone: before a battle's vote, which side had just progressed (arena27).
    """
    pump = Pump([frames])
    pending: T | None = None
    last = float("-inf")
    while True:
        wait = None if pending is None else max(0.0, last + gap_s - time.monotonic())
        try:
            item = pump.get(wait)
        except queue.Empty:  # the gap is over: show the newest state
            yield _sent(pending)
            pending, last = None, time.monotonic()
            continue
        if item is FINISHED:
            if pending is not None:
                yield _sent(pending)
            return
        pending = item if pending is None else merge_frames(pending, item)
        if time.monotonic() >= last + gap_s:
            yield _sent(pending)
            pending, last = None, time.monotonic()


def _sent(frame: T) -> T:
    """``frame`` with each update dict copied (one level: Gradio pops only an update's top-level ``value``)."""
    if isinstance(frame, list | tuple):
        return [dict(value) if isinstance(value, dict) else value for value in frame]
    return dict(frame) if isinstance(frame, dict) else frame


def merge_frames(earlier: T, later: T) -> T:
    """One frame with the effect of showing ``earlier`` then ``later``, output by output: a skip (an update
    without properties) keeps the earlier output; an update's properties override the earlier ones. A frame
    that is not a list (one output, or a whole state) replaces the earlier one."""
    if not isinstance(earlier, list | tuple) or not isinstance(later, list | tuple) or len(earlier) != len(later):
        return later
    return [_merge_output(a, b) for a, b in zip(earlier, later)]


def _merge_output(earlier, later):
    if not _is_update(later):  # a plain value: the new value, with any other properties set earlier
        return {**earlier, "value": later} if _is_update(earlier) and set(earlier) - {"__type__", "value"} else later
    if set(later) == {"__type__"}:  # a skip
        return earlier
    if not _is_update(earlier):
        return later if "value" in later else {**later, "value": earlier}
    return {**earlier, **later}


def _is_update(value) -> bool:
    return isinstance(value, dict) and value.get("__type__") == "update"


def on_model_slot(ctx: AppContext, handler: Callable, model_arg: int,
                  abandon: Callable[..., bool] | None = None, refused: Callable[..., None] | None = None,
                  admitted: Callable[..., object] | None = None) -> Callable:
    """``handler`` (a function or a generator function) as an async Gradio handler that runs inside
    ``ctx.model_slot(<its positional argument model_arg>)``: register it with ``concurrency_limit=None``.

    A local card's run waits for the accelerator without holding a thread; a remote card's run starts at
    once, so a hung endpoint (bounded by its card's ``timeout_s``) never holds another user's local run.
    The handler itself still runs on worker threads. A full queue is refused with a ``gr.Error``.
    ``abandon(*args)``, asked while the run waits, ends the wait once it says True (its Stop was pressed):
    the handler then runs at once without the accelerator, and must touch no model (it ends as stopped).
    ``refused(*args)`` is called when the handler will not run at all (the queue is full, or the event was
    cancelled while waiting): a run registered before it was queued is closed there.
    ``admitted(*args)`` is called once the run has its place in the queue, before it waits
    (``AppContext.model_slot``'s ``admitted``); what it returns reaches the handler as its keyword argument
    ``admitted`` (not passed for a run abandoned before it waits). An error it raises refuses the run
    (``refused`` is called) and reaches the page.
    """
    async def slot(args: tuple):
        model = args[model_arg]
        taken = _Taken(admitted, args)
        return _Refusing(ctx.model_slot(model if isinstance(model, str) else "", _bound(abandon, args),
                                        waiter(ctx, args), None if admitted is None else taken),
                         _bound(refused, args), taken)

    return _in_slot(handler, slot)


def on_device_slot(ctx: AppContext, handler: Callable, needs_device: Callable[..., bool],
                   abandon: Callable[..., bool] | None = None, refused: Callable[..., None] | None = None) -> Callable:
    """``handler`` as ``on_model_slot`` makes it, for a handler whose models only its inputs' data can tell
    (an arena battle, by its id): ``needs_device(*args)`` (on a worker thread: it may read the store) says
    whether this call holds ``ctx.device_slot``; ``abandon`` and ``refused`` as for ``on_model_slot``.
    Register it with ``concurrency_limit=None``."""
    async def slot(args: tuple):
        try:
            needed = await anyio.to_thread.run_sync(functools.partial(needs_device, *args))
        except BaseException:
            if refused is not None:
                refused(*args)
            raise
        return _Refusing(ctx.device_slot(needed, _bound(abandon, args), waiter(ctx, args)), _bound(refused, args))

    return _in_slot(handler, slot)


async def in_device_slot(ctx: AppContext, needed: bool, function: Callable[..., T], *args,
                         refused: Callable[[], None] | None = None, request: gr.Request | None = None) -> T:
    """``function(*args)`` on a worker thread, inside ``ctx.device_slot(needed)``: for an async handler
    that learns what it runs part-way (``/new_battle`` draws its systems first). ``refused()`` is called when
    ``function`` will not run (a full queue, or cancelled while waiting). ``request``: the caller's, whose
    visitor has at most ``context.VISITOR_WAITING`` runs waiting (``waiter``)."""
    async with _Refusing(ctx.device_slot(needed, who=waiter(ctx, (request,))), refused):
        return await anyio.to_thread.run_sync(functools.partial(function, *args))


def waiter(ctx: AppContext, args: tuple) -> str | None:
    """Who a handler's model run waits for: the ``store.rate_key`` of the voter id of the ``gr.Request`` among
    ``args`` (Gradio passes it positionally to a handler that asks for one), by address, as the run limit counts
    an anonymous visitor (a login is not asked for here, so one account's runs from two addresses are two
    visitors'); None when no request is there (the run is then counted in the queue only)."""
    request = next((arg for arg in args if isinstance(arg, gr.Request)), None)
    return None if request is None else rate_key(visitor(ctx, request, None))


def _in_slot(handler: Callable, slot: Callable) -> Callable:
    """``handler`` as an async handler that runs on worker threads inside ``await slot(args)``."""
    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        async def stream(*args) -> AsyncIterator:
            async with await slot(args) as keywords:
                items = handler(*args, **keywords)
                while (item := await anyio.to_thread.run_sync(next, items, _DONE)) is not _DONE:
                    yield item
        return stream

    @functools.wraps(handler)
    async def call(*args):
        async with await slot(args) as keywords:
            return await anyio.to_thread.run_sync(functools.partial(handler, *args, **keywords))
    return call


class _Taken:
    """``on_model_slot``'s ``admitted``, bound to the event's arguments: called (no arguments) where the run
    gets its place; ``keywords`` is then ``{"admitted": <its value>}`` for the handler, else empty."""

    def __init__(self, admitted: Callable[..., object] | None, args: tuple) -> None:
        self.admitted = admitted
        self.args = args
        self.keywords: dict = {}

    def __call__(self) -> None:
        self.keywords = {"admitted": self.admitted(*self.args)}


_DONE = object()


def _bound(function: Callable | None, args: tuple) -> Callable | None:
    return None if function is None else functools.partial(function, *args)


class _Refusing:
    """``ctx.model_slot`` or ``device_slot`` with ``QueueFull`` shown on the page as a ``gr.Error``, and
    ``refused()`` called when the slot is not entered (the handler will not run)."""

    def __init__(self, slot, refused: Callable[[], None] | None = None, taken: _Taken | None = None) -> None:
        self.slot = slot
        self.refused = refused
        self.taken = taken

    async def __aenter__(self) -> dict:
        """Enter the slot; returns the keyword arguments for the handler (``_Taken.keywords``, or none)."""
        try:
            await self.slot.__aenter__()
        except BaseException as e:  # a full queue, ``admitted`` refused it, or cancelled while waiting
            if self.refused is not None:
                self.refused()
            if isinstance(e, QueueFull):
                raise Refusal(str(e)) from None
            raise
        return {} if self.taken is None else self.taken.keywords

    async def __aexit__(self, *exc) -> bool | None:
        return await self.slot.__aexit__(*exc)

