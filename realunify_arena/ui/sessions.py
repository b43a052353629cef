"""Per-session server memory: released when a visit ends, and after a long idle.

Gradio keeps one ``SessionState`` per session (a page visit, or an API client): the ``gr.State`` values
and a per-session copy of every component's config, about 250-470 KB for this app. It drops that entry
only when more than ``state_session_capacity`` (10 000) sessions exist; a ``gr.State``'s
``time_to_live`` or the hour after a tab closes only clears the values, not the entry. So every visit
stayed in memory (300 visits measured: about 474 KB each, still there after 90 s idle).

``release_sessions`` drops a session's whole entry (running each ``gr.State``'s ``delete_callback``
first) when its tab or client goes away: Gradio's heartbeat notices within ``GRADIO_HEARTBEAT_INTERVAL``
(15 s by default) and fires ``demo.unload``. Each release also drops sessions unused for ``IDLE_S``,
such as those of raw HTTP calls, which hold no heartbeat and so never unload.
"""

from __future__ import annotations

import datetime

import gradio as gr

IDLE_S = 3600.0  # a session unused this long is dropped (an open tab keeps its state this long unused)


def release_sessions(demo: gr.Blocks) -> None:
    """Drop each session's server state when it ends (call inside ``with demo:``)."""

    async def release(request: gr.Request):
        # async: runs on the event loop, as Gradio's own expiry loop does, so the two never interleave
        holder = getattr(demo, "state_holder", None)
        if holder is None or request is None:
            return
        drop(holder, request.session_hash)
        sweep(holder, IDLE_S)

    demo.unload(release)


def drop(holder, session_hash: str) -> None:
    """Remove one session from Gradio's ``StateHolder``, after its ``gr.State`` delete callbacks."""
    holder.delete_state(session_hash)
    with holder.lock:
        holder.session_data.pop(session_hash, None)
        holder.time_last_used.pop(session_hash, None)


def sweep(holder, idle_s: float) -> int:
    """Drop every session unused for more than ``idle_s`` seconds; returns how many."""
    cutoff = datetime.datetime.now() - datetime.timedelta(seconds=idle_s)
    idle = [session for session, last in list(holder.time_last_used.items()) if last < cutoff]
    for session in idle:
        drop(holder, session)
    return len(idle)
