"""Iterators produced on threads of their own and consumed through one queue: the one home of this
mechanism, for a battle's sides at once (``runs.concurrently``) and a UI handler's frames
(``ui.streaming.relay`` / ``paced``). Nothing here imports Gradio or a model library."""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass

FINISHED = object()  # what ``Pump.get`` returns once every stream has ended
_ENDED = object()  # one producer is done


@dataclass
class _Raised:
    error: BaseException


class Pump:
    """The items of ``streams`` as they arrive, each stream produced on a daemon thread of its own.

    Each thread runs in a copy of the caller's context, so Gradio's per-event context (``gr.Progress``,
    ``gr.Warning``, the request) still applies there. An exception in a stream is raised again by ``get``
    once that stream's earlier items are out. Nothing stops a producer unless ``close`` is called: then each
    one closes its stream after its next item (as a generator dropped on one thread would be); a stream
    blocked in a call ends when that call does (a remote request at its card's deadline, a run when its
    ``RunControl`` stops it). Without ``close`` a run finishes, and is stored, even if nobody reads it.
    """

    def __init__(self, streams: list[Iterator], name: str = "realunify-run") -> None:
        self._handoff: queue.Queue = queue.Queue()
        self._closed = threading.Event()
        self._running = len(streams)
        for items in streams:
            threading.Thread(target=contextvars.copy_context().run, args=(self._produce, items), daemon=True,
                             name=name).start()

    def _produce(self, items: Iterator) -> None:
        try:
            for item in items:
                self._handoff.put(item)
                if self._closed.is_set():
                    break
        except BaseException as e:  # noqa: BLE001 - raised again on the consuming side
            self._handoff.put(_Raised(e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
            self._handoff.put(_ENDED)

    def get(self, timeout: float | None = None):
        """The next item, or ``FINISHED`` once every stream has ended; raises a stream's exception, or
        ``queue.Empty`` when nothing arrives within ``timeout`` seconds (None: wait)."""
        while self._running:
            item = self._handoff.get(timeout=timeout)
            if item is _ENDED:
                self._running -= 1
            elif isinstance(item, _Raised):
                raise item.error
            else:
                return item
        return FINISHED

    def close(self) -> None:
        """Ask every producer to stop after its next item and close its stream."""
        self._closed.set()
