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

A session no page or client holds a heartbeat stream for (``HeartbeatWatch`` counts them) is a script's:
each ``/gradio_api/call/<name>`` call (the README's and ``/gradio_api/info``'s curl recipe) makes a new one,
and so does a ``/gradio_api/queue/join`` with a made-up ``session_hash``. Each held the same ~450 KB for
the idle hour, so any script filled the server's memory at its own pace (300 such calls measured: +99 to
+146 MB, none released; Gradio's own cap, 10 000 sessions, is ~4.5 GB). After every event
``release_unwatched`` keeps at most ``MAX_UNWATCHED`` of them, the most recently used, and none unused for
``UNWATCHED_IDLE_S``; one used in the last ``UNWATCHED_GRACE_S`` stays (a page's first event may come just
before its heartbeat does). Such a session needs nothing kept: the named API endpoints hold no
``gr.State``, and a battle is bound to its session in the store, not here.
"""

from __future__ import annotations

import datetime

import gradio as gr
from gradio.route_utils import API_PREFIX

from realunify_arena.asgi import route_path

IDLE_S = 3600.0  # a session unused this long is dropped (an open tab keeps its state this long unused)
# Sessions without a heartbeat: at most this many kept (64 x ~450 KB, about 30 MB), none unused this long,
# and none dropped within the grace after its last use.
MAX_UNWATCHED = 64
UNWATCHED_IDLE_S = 30.0
UNWATCHED_GRACE_S = 2.0
HEARTBEAT_ROUTE = f"{API_PREFIX}/heartbeat/"
_heartbeats: dict[str, int] = {}  # session -> heartbeat streams open now, in this process


class HeartbeatWatch:
    """ASGI middleware (``ui.launch_options``): counts each session's open heartbeat streams
    (``GET /gradio_api/heartbeat/<session>``, which a page and ``gradio_client`` hold open for a visit), so
    that ``release_unwatched`` can tell a visit's session from a script's. Only apps it guards are swept
    (``watched``)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        path = route_path(scope) if scope.get("type") == "http" else ""
        if not path.startswith(HEARTBEAT_ROUTE):
            return await self.app(scope, receive, send)
        session = path[len(HEARTBEAT_ROUTE):]
        _heartbeats[session] = _heartbeats.get(session, 0) + 1
        try:
            await self.app(scope, receive, send)
        finally:
            left = _heartbeats.pop(session, 1) - 1
            if left > 0:
                _heartbeats[session] = left


def watched(demo: gr.Blocks) -> bool:
    """Whether the app ``demo`` launched (``demo.server_app``) has ``HeartbeatWatch`` among its middleware, so
    its heartbeat streams are counted. An app launched without it (another app in the same process, a test's
    plain ``launch()``) sees every session as unwatched, a page's too: it is never swept by
    ``release_unwatched`` (before, one app's middleware, a class-wide flag, turned the sweep on for all)."""
    middleware = getattr(getattr(demo, "server_app", None), "user_middleware", ())
    return any(getattr(entry, "cls", None) is HeartbeatWatch for entry in middleware)


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
    gradio_process_api = demo.process_api

    async def process_api(*args, **kwargs):
        try:
            return await gradio_process_api(*args, **kwargs)
        finally:  # on the event loop, as ``release`` runs
            holder = getattr(demo, "state_holder", None)
            if holder is not None and watched(demo):
                release_unwatched(holder)

    demo.process_api = process_api


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


def release_unwatched(holder, *, keep: int | None = None, idle_s: float | None = None,
                      grace_s: float | None = None) -> int:
    """Drop the sessions no heartbeat stream is open for (``HeartbeatWatch``) that are unused for more than
    ``idle_s`` (``UNWATCHED_IDLE_S``), then the least recently used past the newest ``keep``
    (``MAX_UNWATCHED``), except those used within ``grace_s`` (``UNWATCHED_GRACE_S``); returns how many."""
    keep = MAX_UNWATCHED if keep is None else keep
    idle_s = UNWATCHED_IDLE_S if idle_s is None else idle_s
    grace_s = UNWATCHED_GRACE_S if grace_s is None else grace_s
    now = datetime.datetime.now()
    unwatched = sorted(((last, session) for session, last in list(holder.time_last_used.items())
                        if session not in _heartbeats), reverse=True)  # newest first
    gone = [session for rank, (last, session) in enumerate(unwatched)
            if (now - last).total_seconds() > idle_s
            or (rank >= keep and (now - last).total_seconds() > grace_s)]
    for session in gone:
        drop(holder, session)
    return len(gone)
