"""Gradio's event streams asked for a session or event that does not exist, answered without an ERROR log.

Gradio 6.31's ``GET /gradio_api/queue/data?session_hash=ID`` (and ``GET /gradio_api/call/<api>/<event_id>``,
the same stream) for an ID with nothing pending starts a 200 event stream, sends one ``unexpected_error`` event
(``"message": "404: Not Found", "session_not_found": true``; on the call route ``event: error`` with
``data: "404: Not Found"``), then re-raises its ``HTTPException(404)`` inside the started stream: starlette
answers it with ``RuntimeError("Caught handled exception, but response already started.")`` and uvicorn logs
"Exception in ASGI application" at ERROR with a traceback, once per request (a stale tab, a script). Measured
against the launched app; on the call route the visitor also got a broken chunked answer.

``QuietStreams`` (ASGI middleware) keeps Gradio's answer for the page's client (200, the same event and
``session_not_found`` flag) but says what happened in ``NOT_FOUND``, and ends the stream cleanly instead of
letting the re-raised 404 reach the server's log.

A second case of the same kind: two streams open for one session (two tabs sharing a session hash, a
reconnect, a script) and both left while they wait. Each cancelled stream's clean-up runs ``del
pending_messages_per_session[session_hash]``; the first removes the session (and cleans its events), the
second raises ``KeyError(session_hash)`` and uvicorn logged it at ERROR with a ~100-line traceback, once per
extra stream, as often as a visitor liked. The visitor has gone and the session was cleaned once, so
``QuietStreams`` ends such a stream with one INFO line. Any other error passes unchanged.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from gradio.route_utils import API_PREFIX
from starlette.exceptions import HTTPException

from realunify_arena.asgi import route_path

NOT_FOUND = ("session not found: nothing is pending for this session_hash or event_id (it finished, was"
             f" cancelled, or never joined); join the queue first with POST {API_PREFIX}/queue/join")
_GRADIO_404 = "404: Not Found"
log = logging.getLogger(__name__)


def _streams(path: str) -> bool:
    return path == f"{API_PREFIX}/queue/data" or path.startswith(f"{API_PREFIX}/call/")


def _reworded(body: bytes) -> bytes:
    """``body`` with Gradio's bare "404: Not Found" event message replaced by ``NOT_FOUND``. Works on bytes, line
    by line: every other line is passed on byte for byte, so a UTF-8 character that a chunk boundary splits (the
    rest comes in the next chunk) reaches the visitor whole, as does anything that is not UTF-8."""
    if _GRADIO_404.encode() not in body:
        return body
    return b"\n".join(_reworded_line(line) for line in body.split(b"\n"))


def _reworded_line(line: bytes) -> bytes:
    """One event-stream line: a ``data: `` line holding Gradio's not-found message says ``NOT_FOUND``, with the
    line's ``\\r`` ending kept; any other line unchanged."""
    if not line.startswith(b"data: ") or _GRADIO_404.encode() not in line:
        return line
    try:
        data = json.loads(line[len(b"data: "):])
    except ValueError:  # not JSON (UnicodeDecodeError is one): not Gradio's event
        return line
    if isinstance(data, dict) and data.get("session_not_found") and data.get("message") == _GRADIO_404:
        data = {**data, "message": NOT_FOUND}
    elif data == _GRADIO_404:
        data = NOT_FOUND
    else:
        return line
    return b"data: " + json.dumps(data).encode() + (b"\r" if line.endswith(b"\r") else b"")


def _is_stream_404(error: BaseException) -> bool:
    """Gradio's 404 re-raised inside a started stream, bare or as starlette's RuntimeError over it."""
    cause = error.__cause__ if isinstance(error, RuntimeError) else error
    return isinstance(cause, HTTPException) and cause.status_code == 404


def _is_second_cleanup(error: BaseException) -> bool:
    """Gradio's clean-up of a left stream whose session another stream of it had already cleaned: a
    ``KeyError`` raised by the ``del`` in ``gradio/routes.py``'s ``sse_stream`` itself (its innermost frame)."""
    if not isinstance(error, KeyError) or error.__traceback__ is None:
        return False
    tb = error.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    return code.co_name == "sse_stream" and Path(code.co_filename).parts[-2:] == ("gradio", "routes.py")


class QuietStreams:
    """ASGI middleware: on Gradio's event-stream routes, the not-found event says ``NOT_FOUND`` and the 404
    Gradio re-raises after it ends the stream quietly, as does the clean-up of a second stream of one session
    that the visitor left (``_is_second_cleanup``); every other request and error passes unchanged."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET" or not _streams(route_path(scope).rstrip("/")):
            await self.app(scope, receive, send)
            return
        started = ended = left = False

        async def receiving():
            nonlocal left
            message = await receive()
            left = left or message["type"] == "http.disconnect"
            return message

        async def sending(message) -> None:
            nonlocal started, ended
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body":
                message = {**message, "body": _reworded(message.get("body", b""))}
                ended = not message.get("more_body", False)
            await send(message)

        try:
            await self.app(scope, receiving, sending)
        except Exception as error:
            if started and left and _is_second_cleanup(error):
                log.info("an event stream of a session another stream had already closed was left; nothing to "
                         "clean up")
                return  # the visitor has gone: nothing more can be sent
            if not (started and _is_stream_404(error)):
                raise
            if not ended:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
