"""A cap on the bytes one HTTP request body may take, and on how long it may take to arrive, for every route
of an app; on Gradio's upload route, that route's own rules (``upload_parts.UploadRules``).

Gradio's routes read a request's whole body before looking at it (FastAPI's ``await request.json()`` for
``/gradio_api/queue/join``, ``/call/...``, ``/run/...``, ``/api/...``, ``/component_server``, ...), and Gradio
has no setting for its size: a 150 MB JSON body POSTed to ``/gradio_api/call/vote`` was read and parsed whole
before the vote's own refusal, and the server's peak memory grew by ~560 MB. ``BodyLimit``, an ASGI
middleware (``ui.launch_options`` installs it through ``launch(app_kwargs=...)``, FastAPI's ``middleware``),
answers a body over ``MAX_BODY_BYTES`` with HTTP 413 and a message naming the limit: at once when its
``Content-Length`` says so, else as soon as the bytes read grow past it (a chunked body has no
``Content-Length``), so at most about ``MAX_BODY_BYTES`` of it is ever held. ``serve-openai``
(``serving.create_app``) installs the same middleware with its own limit and the OpenAI error shape.

Files do not travel in the app's bodies: the page and ``gradio_client`` upload them to ``/gradio_api/upload``
first and send their path (Gradio takes no inline base64 image as an input). That route streams each file to
disk under Gradio's ``max_file_size`` (``benchmark.images.MAX_UPLOAD_BYTES``), but takes up to 1000 of them and
form fields kept whole in memory; on it ``BodyLimit`` (given ``uploads``) reads the parts as the body streams by
(``upload_parts.UploadParts``, with ``python_multipart``, the parser Gradio uses) and refuses a request at the
part or byte that breaks its rules (a few files, one file's bytes in all, files only), before Gradio sees it.
A refusal reaches Gradio's parser as starlette's ``MultiPartException``, which makes it delete the files it
had begun writing (any other exception left them in its upload folder). An upload Gradio answers (200, the JSON list
of the paths it wrote) is told to ``served_files.uploaded``, which holds each visitor's waiting uploads apart.

A body that stalls is cut too: uvicorn has no timeout on reading a request body (its ``timeout_keep_alive``
runs only between requests), so a client sending a byte now and then, or nothing after half its body, held
its connection and the request's handler for good (50 such connections stayed open as long as they liked;
``serve-openai`` answered nothing to a body that stopped after its first byte for as long as it was watched).
``BodyLimit`` waits at most ``BODY_IDLE_S`` for each next piece of a body and answers 408 when none comes.
A wait per piece alone still let a client hold its connection for good by sending a byte every 29 s (measured
on the launched app: a byte every 10 s to ``/gradio_api/queue/join`` kept the request open past 80 s, and
nothing bounded it), so the body as a whole must also keep a minimum rate, Apache's ``mod_reqtimeout`` rule
(its default ``body=20,MinRate=500``): from the app's first read, the body has ``BODY_IDLE_S`` plus one
second for every ``MIN_BODY_RATE`` bytes received; past that deadline it is a 408 too.

FastAPI 0.165 has a ``max_body_size`` of its own, but its refusal says only "Content Too Large", and sparing
Gradio's upload route from it would mean reaching into Gradio's route table.

This module imports no Gradio (``serve-openai`` starts without it); the upload rules come from the caller.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.formparsers import MultiPartException

from realunify_arena import served_files
from realunify_arena.asgi import content_length, header, send_detail
from realunify_arena.sizes import exact_size_text

if TYPE_CHECKING:
    from realunify_arena.upload_parts import UploadParts, UploadRules

# 1 MiB. The largest body the app's own routes need is far smaller: the page's Explore Run with its own
# instance, every text field at its 4,000-character limit (``benchmark.custom.MAX_TEXT_CHARS``), sent 24 KB
# (measured in Chromium); even with every character escaped as JSON ``\uXXXX`` pairs that is under 100 KB.
# The API routes (``/run_instance``, ``/new_battle``, ``/vote``, ``/instances``, ``/leaderboard``) take a few
# short strings and numbers. Django's default for the same cap (``DATA_UPLOAD_MAX_MEMORY_SIZE``) is 2.5 MB.
MAX_BODY_BYTES = 2**20
# 30 s without a byte of a body that has not ended: nginx's ``client_body_timeout`` default is 60 s, Apache's
# mod_reqtimeout ``body=20,MinRate=500``. A steady upload, even at dial-up speed, sends a piece well within it.
BODY_IDLE_S = 30.0
# 500 bytes a second on average after the first BODY_IDLE_S: Apache mod_reqtimeout's default MinRate for the
# body. The largest upload (64 MiB) may take 37 hours at that rate; a trickle of a byte now and then is cut.
MIN_BODY_RATE = 500

# How a refusal is sent: (send, status, message, close), as ``asgi.send_detail`` sends FastAPI's ``{"detail": ...}``
Refuse = Callable[..., Awaitable[None]]


def too_large_message(limit: int = MAX_BODY_BYTES, upload_route: str | None = None) -> str:
    """The 413 answer's message: the limit in bytes and MiB (``sizes.exact_size_text``), and where files go instead
    (``upload_route``)."""
    where = f"; files go to {upload_route} first" if upload_route else ""
    return f"request body too large: the limit is {exact_size_text(limit)}{where}"


def stalled_message(idle_s: float = BODY_IDLE_S) -> str:
    """The 408 answer's ``detail``: how long the body went without a byte."""
    return f"request body stalled: no part of it arrived for {idle_s:g} s; send the whole body without pausing"


def too_slow_message(idle_s: float = BODY_IDLE_S, min_rate: float = MIN_BODY_RATE) -> str:
    """The 408 answer's ``detail`` for a body that kept coming, but too slowly: the rule it broke."""
    return (f"request body too slow: a body may take {idle_s:g} s plus 1 s for every {min_rate:g} bytes"
            f" received; send the whole body without pausing")


class _Refused(MultiPartException):
    """Raised into the app from ``receive`` once the body breaks a rule: a ``MultiPartException``, so Gradio's
    upload parser deletes the files it had begun writing before it re-raises."""

    def __init__(self) -> None:
        super().__init__("request refused")


class BodyLimit:
    """ASGI middleware: an HTTP request whose body is over ``max_body_bytes`` gets a 413 answer,
    ``too_large_message(max_body_bytes, uploads.route)``, before more than that is read; the app's own answer
    to the interrupted read (a 400, a 500) is dropped. With ``uploads`` (``upload_parts.UploadRules``), a
    multipart request to its route has the upload rules instead (``upload_parts.UploadParts``): the same kind
    of answer, ``"upload refused: ..."``, with its status (400 or 413), at the part or byte that breaks one or
    at the body's end when it ends without its closing boundary, at once when its ``Content-Length`` is over
    what the rules allow or its boundary is not one RFC 2046 allows; an upload whose client goes away before
    its body ends is refused too (no answer: nobody is there), so Gradio deletes its partial files. A body
    whose next piece takes over ``body_idle_s`` seconds to come, before the app has begun its answer, gets 408
    ``stalled_message(body_idle_s)`` the same way, and one still coming past ``body_idle_s`` + (bytes
    received) / ``min_body_rate`` seconds after the app's first read gets 408
    ``too_slow_message(body_idle_s, min_body_rate)`` (a request without a body, such as the GET of an event
    stream, is never timed) (Gradio deletes an upload's partial files) and its connection is closed.
    Each refusal is sent by ``refuse(send, status, message, close=True)``: by default FastAPI's
    ``{"detail": message}`` (``asgi.send_detail``); ``serve-openai`` sends OpenAI's error shape. Non-HTTP scopes
    pass unchanged.

    Raises:
        ValueError: ``max_body_bytes`` is negative, or ``body_idle_s`` or ``min_body_rate`` is not over 0.
    """

    def __init__(self, app, max_body_bytes: int = MAX_BODY_BYTES, body_idle_s: float = BODY_IDLE_S,
                 min_body_rate: float = MIN_BODY_RATE, uploads: UploadRules | None = None,
                 refuse: Refuse = send_detail) -> None:
        if max_body_bytes < 0:
            raise ValueError(f"max_body_bytes must be 0 or more, not {max_body_bytes}")
        if not body_idle_s > 0:
            raise ValueError(f"body_idle_s must be over 0 seconds, not {body_idle_s}")
        if not min_body_rate > 0:
            raise ValueError(f"min_body_rate must be over 0 bytes a second, not {min_body_rate}")
        self.app = app
        self.idle_s = body_idle_s
        self.min_rate = min_body_rate
        self.limit = max_body_bytes
        self.uploads = uploads
        self.refuse = refuse

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        parts = self.uploads.watch(scope) if self.uploads is not None else None
        if parts is not None and parts.problem:  # its Content-Type alone breaks a rule
            await self.refuse(send, *parts.problem, close=True)
            return
        if parts is not None:  # Gradio keeps the upload in its temp folder: room for it, within the served bound
            await asyncio.to_thread(served_files.make_room, self.uploads.max_bytes, self.uploads.max_files)
        announced = content_length(scope)
        # an upload's parts' headers and boundaries take a few hundred bytes each: MAX_BODY_BYTES is room enough
        most = self.limit if parts is None else self.uploads.max_bytes + self.limit
        if announced is not None and announced > most:
            await self.refuse(send, *self._too_large(parts), close=True)  # nothing of the body is read
            return
        read = 0
        problem: tuple[int, str] | None = None
        started = gone = ended = False
        first_read: float | None = None  # the loop's clock at the app's first read of the body
        # RFC 9112 section 6.3: a request with neither Content-Length nor Transfer-Encoding has no body. A GET
        # of an event stream (``queue/data``) waits on ``receive`` for the visitor to leave, and under load its
        # first wait outlasted the idle limit: the 408 then dropped every later event of the started stream
        bodiless = (scope.get("method") in ("GET", "HEAD", "OPTIONS") and announced in (None, 0)
                    and header(scope, "transfer-encoding") is None)

        async def counted():
            nonlocal read, problem, gone, ended, first_read
            if problem:
                raise _Refused
            if ended or started or bodiless:  # no body to wait for: a wait for http.disconnect may be long
                message = await receive()
            else:
                now = asyncio.get_running_loop().time()
                first_read = now if first_read is None else first_read
                # the whole body's time left (exactly idle_s at the first read: no rounding of the clock)
                left = self.idle_s + read / self.min_rate - (now - first_read)
                try:
                    if left <= 0:
                        raise asyncio.TimeoutError
                    message = await asyncio.wait_for(receive(), min(self.idle_s, left))
                except asyncio.TimeoutError:  # not a disconnect: the client is there
                    if started:  # the app began its answer meanwhile: nothing is refused once it has
                        message = await receive()
                    else:  # told why: a pause, or a trickle under the minimum rate
                        problem = (408, stalled_message(self.idle_s) if left >= self.idle_s
                                   else too_slow_message(self.idle_s, self.min_rate))
                        raise _Refused from None
            if message["type"] == "http.request":
                ended = not message.get("more_body", False)
                body = message.get("body", b"")
                read += len(body)
                problem = parts.feed(body) if parts is not None else None
                if problem is None and read > most:
                    problem = self._too_large(parts)
                if problem is None and parts is not None and not message.get("more_body", False):
                    problem = parts.finish()
                if problem:
                    raise _Refused
            elif message["type"] == "http.disconnect" and parts is not None and not started:
                # the visitor left mid-upload: Gradio's parser, told so as a refusal, deletes its files
                # (starlette's ClientDisconnect left them, and uvicorn logged it at ERROR)
                problem, gone = self.uploads.gone(), True
                raise _Refused
            return message

        answer: list[bytes] | None = None  # an upload's answer as sent (Gradio's JSON list of the paths it wrote)

        async def guarded(message) -> None:
            nonlocal started, answer
            if problem:  # whatever the app makes of the interrupted read; the refusal goes instead
                return
            started = started or message["type"] == "http.response.start"
            if parts is not None and message["type"] == "http.response.start":
                answer = [] if message["status"] == 200 else None
            elif answer is not None and message["type"] == "http.response.body":
                answer.append(message.get("body", b""))
                if sum(map(len, answer)) > self.limit:  # not Gradio's list of paths
                    answer = None
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:  # _Refused itself, or what the app made of it (an ExceptionGroup, an HTTPException)
            if not problem:
                raise
        if problem and not started and not gone:
            await self.refuse(send, *problem, close=True)  # the body was not read whole
        elif answer is not None and not problem:
            _note_uploaded(scope, b"".join(answer))

    def _too_large(self, parts: UploadParts | None) -> tuple[int, str]:
        """The refusal of a body over its byte limit: the upload rules' words on the upload route."""
        if parts is None or self.uploads is None:
            return 413, too_large_message(self.limit, self.uploads.route if self.uploads is not None else None)
        return self.uploads.too_large()


def _note_uploaded(scope, answer: bytes) -> None:
    """Tells ``served_files`` which files the upload request ``scope`` wrote: ``answer``, Gradio's 200 answer,
    a JSON list of their paths (anything else is passed over)."""
    try:
        paths = json.loads(answer)
    except ValueError:
        return
    if isinstance(paths, list):
        served_files.uploaded(scope, paths)
