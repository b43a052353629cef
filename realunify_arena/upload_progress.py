"""Gradio's upload-progress tracker kept bounded: ``UploadProgressGuard`` checks each request's ``upload_id`` and
forgets its tracker entries once that request is over.

Gradio 6.31 keeps one process-wide ``gradio.routes.file_upload_statuses`` (a ``route_utils.FileUploadProgress``):
``POST /gradio_api/upload?upload_id=ID`` adds an entry to its ``_statuses`` and an ``asyncio.Event`` to its
``_signals``; only ``GET /gradio_api/upload_progress?upload_id=ID``, streamed to the end, removes the entry, and
nothing ever removes the event; a GET for an id no upload has (it waits 3 s, then 404) adds an event too. No
Gradio setting changes this. Measured before this guard, against the launched app: ~1.9 KB kept for every
upload with a new id and nobody watching its progress, ~0.9 KB for every GET of an unknown id, and an id as long
as uvicorn's header limit (~16 KB) accepted, kept in both maps.

What Gradio's own page sends (its upload control, ``templates/frontend/assets``): ``upload_id`` is
``Math.random().toString(36).substring(2, 15)``, 1 to 13 characters of ``[0-9a-z]``; the page opens the
progress stream as it starts the POST. ``gradio_client`` sends no ``upload_id``. So the guard:

- refuses, with a 400 and a plain message, an ``upload_id`` that is not 1 to ``MAX_ID_CHARS`` letters, digits,
  ``-`` or ``_`` (room for a UUID should a later page switch to one);
- after an upload request ends, forgets its entry ``GRACE_S`` later (the page's progress stream, if it comes,
  has long since read it), and after a progress GET ends, forgets what that GET alone created (an event no
  upload set);
- never lets the tracker hold more than ``MAX_TRACKED`` finished entries or left-over events: the oldest go first;
- marks an upload's entry done when its request is over (``mark_over``): Gradio does only when the body parsed,
  so an upload refused part-way (``body_limit``) or left by its client kept an entry never done, never pruned
  (316 of 316 such uploads kept, measured), and a page watching it got heartbeats, never "done".

Forgetting reaches into ``FileUploadProgress``'s private ``_statuses`` and ``_signals``: ``tracker_maps``
checks they are still what 6.31 has and else does nothing (the guard still refuses bad ids), and
``tests/api/test_upload_progress.py`` pins the behaviour against the installed Gradio.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import MutableMapping
from urllib.parse import parse_qs

from gradio.route_utils import API_PREFIX

from realunify_arena.asgi import route_path, send_plain
from realunify_arena.upload_parts import UPLOAD_ROUTE

MAX_ID_CHARS = 64
UPLOAD_ID = re.compile(rf"[0-9A-Za-z_-]{{1,{MAX_ID_CHARS}}}")
GRACE_S = 30.0  # an upload's progress entry is kept this long after its request ends
MAX_TRACKED = 256  # finished entries / left-over events kept at most, whatever the request rate
PROGRESS_ROUTE = f"{API_PREFIX}/upload_progress"


def bad_upload_id(upload_id: str) -> str | None:
    """Why ``upload_id`` is refused (a sentence for a 400 naming its length or its first character not allowed),
    or None when it has Gradio's page's form."""
    if UPLOAD_ID.fullmatch(upload_id):
        return None
    bad = next((c for c in upload_id if not UPLOAD_ID.fullmatch(c)), None)
    found = (f"it has {len(upload_id)} characters" if bad is None
             else f"it holds {bad!r} (character {upload_id.index(bad) + 1})")
    return (f"upload_id refused: {found}; it must be 1 to {MAX_ID_CHARS} letters, digits, '-' or '_' (Gradio's"
            f" page sends 13 lowercase letters and digits)")


def tracker_maps(tracker=None) -> tuple[MutableMapping, MutableMapping] | None:
    """``(statuses, signals)`` of Gradio's upload-progress tracker (default ``gradio.routes.file_upload_statuses``)
    when they are still the dicts Gradio 6.31 has, else None (then nothing is pruned)."""
    if tracker is None:
        from gradio import routes
        tracker = getattr(routes, "file_upload_statuses", None)
    statuses, signals = getattr(tracker, "_statuses", None), getattr(tracker, "_signals", None)
    if isinstance(statuses, dict) and isinstance(signals, dict):
        return statuses, signals
    return None


def forget(upload_id: str, tracker=None) -> None:
    """Drops ``upload_id``'s finished entry and its event from the tracker (an upload still running keeps
    both; an event some progress GET still waits on, no upload having set it, is kept)."""
    maps = tracker_maps(tracker)
    if maps is None:
        return
    statuses, signals = maps
    status = statuses.get(upload_id)
    if status is not None and getattr(status, "is_done", False) is True:
        statuses.pop(upload_id, None)
        status = None
    event = signals.get(upload_id)
    if status is None and isinstance(event, asyncio.Event) and not _awaited(event):
        signals.pop(upload_id, None)
    _trim(statuses, signals)


def mark_over(upload_id: str, tracker=None) -> None:
    """Marks ``upload_id``'s entry done once its upload request is over. Gradio marks it only when the body
    parsed (or a file passed ``max_file_size``); an upload refused part-way or left by its client kept an
    entry never done, so never forgotten, and a page watching its progress got heartbeats instead of "done"."""
    maps = tracker_maps(tracker)
    status = maps[0].get(upload_id) if maps is not None else None
    if status is not None and getattr(status, "is_done", None) is False:
        status.is_done = True


def trim(tracker=None) -> None:
    """Forgets the oldest finished entries and left-over events beyond ``MAX_TRACKED`` of each."""
    maps = tracker_maps(tracker)
    if maps is not None:
        _trim(*maps)


def _awaited(event: asyncio.Event) -> bool:
    """Whether a progress GET still waits on ``event`` (``asyncio.Event._waiters``; unknown means yes)."""
    waiters = getattr(event, "_waiters", None)
    return waiters is None or len(waiters) > 0


def _trim(statuses: MutableMapping, signals: MutableMapping) -> None:
    done = [key for key, status in statuses.items() if getattr(status, "is_done", False) is True]
    for key in done[:max(0, len(done) - MAX_TRACKED)]:
        statuses.pop(key, None)
        event = signals.get(key)
        if isinstance(event, asyncio.Event) and not _awaited(event):
            signals.pop(key, None)
    spare = [key for key, event in signals.items()
             if key not in statuses and isinstance(event, asyncio.Event) and not _awaited(event)]
    for key in spare[:max(0, len(spare) - MAX_TRACKED)]:
        signals.pop(key, None)


class UploadProgressGuard:
    """ASGI middleware for Gradio's ``UPLOAD_ROUTE`` and ``PROGRESS_ROUTE``: a request whose ``upload_id`` is
    refused by ``bad_upload_id`` gets a 400 ``text/plain`` answer saying why, before Gradio sees it; otherwise
    the request goes on, and when it is over its id is forgotten (``forget``), ``grace_s`` seconds later for an
    upload (whose entry is marked done first, ``mark_over``, unless another upload under the id still runs),
    at once for a progress GET. Other requests and scopes pass unchanged.

    Raises:
        ValueError: ``grace_s`` is negative.
    """

    def __init__(self, app, grace_s: float = GRACE_S) -> None:
        if grace_s < 0:
            raise ValueError(f"grace_s must be 0 or more, not {grace_s}")
        self.app, self.grace_s = app, grace_s
        self._uploading: dict[str, int] = {}  # upload requests still running, by upload_id

    async def __call__(self, scope, receive, send) -> None:
        path = route_path(scope) if scope["type"] == "http" else ""
        route = path.rstrip("/") if path.rstrip("/") in (UPLOAD_ROUTE, PROGRESS_ROUTE) else None
        ids = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True).get(
            "upload_id", []) if route else []
        if not ids:
            await self.app(scope, receive, send)
            return
        problem = next((why for why in map(bad_upload_id, ids) if why), None)
        if problem:
            await send_plain(send, 400, problem, close=True)  # before its body is read
            return
        upload_id = ids[-1]  # the one FastAPI reads
        done = False
        if route == UPLOAD_ROUTE:
            self._uploading[upload_id] = self._uploading.get(upload_id, 0) + 1

        def over() -> None:
            nonlocal done
            if done:
                return
            done = True
            if route == UPLOAD_ROUTE:
                self._uploading[upload_id] -= 1
                if not self._uploading[upload_id]:  # no other upload under this id still runs
                    del self._uploading[upload_id]
                    mark_over(upload_id)
            if route == UPLOAD_ROUTE and self.grace_s:
                asyncio.get_running_loop().call_later(self.grace_s, forget, upload_id)
                trim()
            else:
                forget(upload_id)

        async def sending(message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                over()  # before the answer's end reaches the visitor
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            over()
