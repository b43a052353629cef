"""A cap on the bytes one HTTP request body may take, for every route of the app but Gradio's upload route.

Gradio's routes read a request's whole body before looking at it (FastAPI's ``await request.json()`` for
``/gradio_api/queue/join``, ``/call/...``, ``/run/...``, ``/api/...``, ``/component_server``, ...), and Gradio
has no setting for its size: a 150 MB JSON body POSTed to ``/gradio_api/call/vote`` was read and parsed whole
before the vote's own refusal, and the server's peak memory grew by ~560 MB. ``BodyLimit``, an ASGI
middleware (``ui.launch_options`` installs it through ``launch(app_kwargs=...)``, FastAPI's ``middleware``),
answers a body over ``MAX_BODY_BYTES`` with HTTP 413 and a message naming the limit: at once when its
``Content-Length`` says so, else as soon as the bytes read grow past it (a chunked body has no
``Content-Length``), so at most about ``MAX_BODY_BYTES`` of it is ever held.

Files do not travel in these bodies: the page and ``gradio_client`` upload them to ``/gradio_api/upload``
first and send their path (Gradio takes no inline base64 image as an input), and that route streams each file
to disk under its own cap, Gradio's ``max_file_size`` (``benchmark.images.MAX_UPLOAD_BYTES``); its files are
left to that cap here. Its other multipart parts (form fields without a ``filename``) are not: Gradio's
parser keeps each one whole in memory with no cap (``GradioMultiPartParser.on_part_data``; a 200 MiB field
grew the server's peak memory by 600 MB), so on that route ``BodyLimit`` reads the parts' headers as the body
streams by (``python_multipart``, the parser Gradio uses) and refuses once the field bytes pass the limit.

FastAPI 0.165 has a ``max_body_size`` of its own, but its refusal says only "Content Too Large", and sparing
Gradio's upload route from it would mean reaching into Gradio's route table.
"""

from __future__ import annotations

import json

from gradio.route_utils import API_PREFIX
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

# 1 MiB. The largest body the app's own routes need is far smaller: the page's Explore Run with its own
# instance, every text field at its 4,000-character limit (``benchmark.custom.MAX_TEXT_CHARS``), sent 24 KB
# (measured in Chromium); even with every character escaped as JSON ``\uXXXX`` pairs that is under 100 KB.
# The API routes (``/run_instance``, ``/new_battle``, ``/vote``, ``/instances``, ``/leaderboard``) take a few
# short strings and numbers. Django's default for the same cap (``DATA_UPLOAD_MAX_MEMORY_SIZE``) is 2.5 MB.
MAX_BODY_BYTES = 2**20
UPLOAD_ROUTE = f"{API_PREFIX}/upload"  # Gradio's file upload: capped per file by ``max_file_size`` instead


def too_large_message(limit: int = MAX_BODY_BYTES) -> str:
    """The 413 answer's ``detail``: the limit in bytes and MiB, and where files go instead."""
    return (f"request body too large: the limit is {limit} bytes ({limit / 2**20:g} MiB); files go to "
            f"{UPLOAD_ROUTE} first")


class _TooLarge(Exception):
    """Raised into the app from ``receive`` once the bytes read pass the limit."""


class BodyLimit:
    """ASGI middleware: an HTTP request whose body is over ``max_body_bytes`` gets a 413 JSON answer,
    ``{"detail": too_large_message(max_body_bytes)}``, before more than that is read; the app's own answer to
    the interrupted read (a 400, a 500) is dropped. On ``UPLOAD_ROUTE`` only the multipart parts that are not
    files count (its files have Gradio's own cap); non-HTTP scopes pass unchanged.

    Raises:
        ValueError: ``max_body_bytes`` is negative.
    """

    def __init__(self, app, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        if max_body_bytes < 0:
            raise ValueError(f"max_body_bytes must be 0 or more, not {max_body_bytes}")
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fields = _FieldBytes.of(scope) if _route_path(scope) in (UPLOAD_ROUTE, UPLOAD_ROUTE + "/") else None
        announced = _content_length(scope)
        if fields is None and announced is not None and announced > self.limit:
            await self._refuse(send)  # before the app runs: nothing of the body is read
            return
        read = 0
        refused = started = False

        async def counted():
            nonlocal read, refused
            if refused:
                raise _TooLarge
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                read += len(body) if fields is None else fields.count(body)
                if read > self.limit:
                    refused = True
                    raise _TooLarge
            return message

        async def guarded(message) -> None:
            nonlocal started
            if refused:  # whatever the app makes of the interrupted read; the 413 goes instead
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:  # _TooLarge itself, or what the app made of it (an ExceptionGroup, an HTTPException)
            if not refused:
                raise
        if refused and not started:
            await self._refuse(send)

    async def _refuse(self, send) -> None:
        body = json.dumps({"detail": too_large_message(self.limit)}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class _FieldBytes:
    """Counts the bytes of the multipart parts that are not files (no ``filename`` in their
    ``Content-Disposition``, as Gradio's parser tells them apart) in a body read piece by piece."""

    def __init__(self, boundary: bytes) -> None:
        self.total = 0
        self._header = self._name = b""
        self._field = False
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._begin, "on_header_field": self._header_name, "on_header_value": self._value,
            "on_header_end": self._header_end, "on_part_data": self._data})

    @classmethod
    def of(cls, scope) -> "_FieldBytes | None":
        """A counter for this request's multipart body, or None when it is not multipart with a boundary
        (Gradio's upload route refuses such a request before reading its body)."""
        kind = next((value for name, value in scope.get("headers", ()) if name.lower() == b"content-type"), b"")
        main, options = parse_options_header(kind)
        boundary = options.get(b"boundary")
        return cls(boundary) if main == b"multipart/form-data" and boundary else None

    def count(self, piece: bytes) -> int:
        """Feeds ``piece`` to the parser; returns the field bytes so far. A body the parser refuses stops the
        count where it is (Gradio's parser, the same one, refuses it too)."""
        if self._parser is not None:
            try:
                self._parser.write(piece)
            except MultipartParseError:
                self._parser = None
        return self.total

    def _begin(self) -> None:
        self._field, self._header = True, b""

    def _header_name(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _value(self, data: bytes, start: int, end: int) -> None:
        self._header += data[start:end]

    def _header_end(self) -> None:
        if self._name.lower() == b"content-disposition":
            self._field = b"filename" not in parse_options_header(self._header)[1]
        self._name = self._header = b""

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._field:
            self.total += end - start


def _content_length(scope) -> int | None:
    """The request's ``Content-Length`` as a number, or None when absent or not a number."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            return int(value) if value.strip().isdigit() else None
    return None


def _route_path(scope) -> str:
    """The path the app routes on: ``scope["path"]`` without the ``root_path`` a proxy mounts it under."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path
