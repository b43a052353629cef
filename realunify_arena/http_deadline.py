"""A true total deadline for HTTP requests to remote models, which httpx does not have: its read timeout
restarts with every byte, so an endpoint that drips a byte now and then never times out.

A remote client (``httpx.Client``, ``openai.DefaultHttpxClient``, google-genai's ``client_args``) is built
with ``deadline_client_args``: its requests report every socket they open (httpcore's ``trace`` request
extension) to the enclosing ``total_deadline``, which shuts those sockets down when the deadline passes, so
a blocked read or write ends at once whatever the endpoint sends (status line, headers, body, TLS
handshake). Connections are not kept alive, so every request opens its own socket and none escapes its
deadline. ``adapters.wire.within_deadline`` holds one around each remote request, retries included.

The same clients also bound the memory a reply can take: at most ``MAX_REPLY_BYTES`` of body are read
(an endpoint that streams without end, or answers a huge body, fails with ``ReplyTooLarge`` at that size,
before anything parses it), and replies are asked for uncompressed (``Accept-Encoding: identity``), so the
bytes counted are the bytes kept; an answer compressed anyway is refused (a small compressed body can
expand without bound). An error reply (any status from 300 up: a 503 from a proxy, a 429) is never refused
for its body, so its status is retried or reported as it would be uncompressed: at most
``MAX_ERROR_BODY_BYTES`` of it are kept, expanded (gzip or deflate) only up to that size, and a body in
another encoding is dropped (the status alone is reported).
"""

from __future__ import annotations

import socket
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpx

from realunify_arena.tls import tls_context

MAX_REPLY_BYTES = 128 * 2**20  # 128 MiB: a 4096x4096 PNG in base64 is well under it
MAX_ERROR_BODY_BYTES = 64 * 2**10  # an error reply's body kept: its message is shown cut to 300 characters
_ERROR_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": 32 + zlib.MAX_WBITS}
_OPENED = (".connect_tcp.complete", ".connect_unix_socket.complete", ".start_tls.complete")  # httpcore trace events


class Deadline:
    """The sockets opened by requests under one ``total_deadline``; ``expired`` once it passed and they
    were shut down (a request that was reading then fails, whatever error its client makes of it)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(seconds, 0.0), self.expire)
        self._timer.daemon = True

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's ``trace`` request extension: note each socket a request opens (TCP, then TLS)."""
        if not event.endswith(_OPENED) or info.get("return_value") is None:
            return
        sock = info["return_value"].get_extra_info("socket")
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    """Shut ``sock`` down both ways: a recv or send blocked on it in another thread returns at once (a
    close would not wake it). The plain socket method, also for a TLS socket, whose own ``shutdown``
    would pull its TLS state from under the reading thread. A socket already closed is left alone."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


_CURRENT: ContextVar[Deadline | None] = ContextVar("realunify_deadline", default=None)


@contextmanager
def total_deadline(seconds: float) -> Iterator[Deadline]:
    """Every request made in this block by a client built with ``deadline_client_args`` (in this thread)
    ends at most ``seconds`` after the block starts: its sockets are shut down then, and the request fails
    with its client's connection or read error (check ``Deadline.expired`` to tell it from another)."""
    deadline = Deadline(seconds)
    token = _CURRENT.set(deadline)
    deadline._timer.start()
    try:
        yield deadline
    finally:
        deadline._timer.cancel()
        _CURRENT.reset(token)


def _traced(request: httpx.Request) -> None:
    """httpx request hook: a request made under a ``total_deadline`` reports its sockets to it."""
    deadline = _CURRENT.get()
    if deadline is None:
        return
    earlier = request.extensions.get("trace")
    if earlier is None:
        request.extensions["trace"] = deadline.trace
    else:
        def both(event: str, info: dict[str, Any]) -> None:
            earlier(event, info)
            deadline.trace(event, info)
        request.extensions["trace"] = both


class ReplyTooLarge(RuntimeError):
    """A reply's body is over ``MAX_REPLY_BYTES``, or compressed although the request asked for it plain."""


def _plain(request) -> None:
    """httpx request hook: ask for the reply uncompressed, so ``_capped`` counts the bytes kept."""
    request.headers["Accept-Encoding"] = "identity"


def _capped(response) -> None:
    """httpx response hook (before the body is read): refuse an answer's body announced over
    ``MAX_REPLY_BYTES`` or compressed, and stop reading one that grows past it; keep an error reply's body
    (status 300 and up) to ``MAX_ERROR_BODY_BYTES`` (``_error_body``), never refused, so the client sees
    its status and retries or reports it.

    Raises:
        ReplyTooLarge: the message gives the limit in MiB and what the endpoint sent.
    """
    limit = MAX_REPLY_BYTES
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if response.status_code >= 300:  # not the answer: its status is what counts, whatever its body
        _error_body(response, encoding)
        return
    if encoding not in ("", "identity"):
        raise ReplyTooLarge(f"the reply is compressed (Content-Encoding: {encoding[:40]}) although it was asked "
                            f"for uncompressed; refused, since its size cannot be bounded before it is expanded")
    announced = response.headers.get("Content-Length", "")
    if announced.isdigit() and int(announced) > limit:
        raise ReplyTooLarge(f"the reply is {int(announced) / 2**20:.0f} MiB (Content-Length), over the "
                            f"{limit // 2**20} MiB limit; not read")

    def counted(stream):
        read = 0
        for chunk in stream:
            read += len(chunk)
            if read > limit:
                raise ReplyTooLarge(f"the reply grew past the {limit // 2**20} MiB limit; stopped reading it")
            yield chunk

    _restream(response, counted)


def _restream(response, body) -> None:
    """Read ``response``'s body as ``body(stream)`` yields it (a generator over the original byte stream). The
    new stream stays an instance of its own library's ``SyncByteStream`` (httpx, or openai's copy of it); a
    stream of another kind (an async one) is left alone."""
    stream = response.stream
    base = next((c for c in type(stream).__mro__ if c.__name__ == "SyncByteStream"), None)
    if base is not None:
        response.stream = type("BoundedStream", (base,), {"__iter__": lambda _self: body(stream),
                                                          "close": lambda _self: stream.close()})()


def _error_body(response, encoding: str) -> None:
    """Make an error reply's body at most ``MAX_ERROR_BODY_BYTES`` of plain bytes, read lazily: expanded here
    when gzip or deflate (never past that size, so a compressed bomb stays small), dropped when in another
    encoding; the reply then says it is uncompressed, so the client does not expand it again."""
    wbits = _ERROR_WBITS.get(encoding)
    plain = encoding in ("", "identity")
    for name in ("Content-Encoding", "Content-Length"):
        response.headers.pop(name, None)

    def kept(stream):
        room, expand = MAX_ERROR_BODY_BYTES, zlib.decompressobj(wbits) if wbits else None
        if not plain and expand is None:
            return
        try:
            for chunk in stream:
                piece = chunk[:room] if expand is None else expand.decompress(chunk, room)
                room -= len(piece)
                yield piece
                if room <= 0:
                    return
        except zlib.error:  # a damaged compressed body: what was expanded is kept
            return

    _restream(response, kept)


def deadline_client_args() -> dict[str, Any]:
    """Keyword arguments for an ``httpx.Client`` (or a subclass, e.g. ``openai.DefaultHttpxClient``) whose
    requests end at the enclosing ``total_deadline``: the request hook, and no kept-alive connections; whose
    replies are read only up to ``MAX_REPLY_BYTES`` (``ReplyTooLarge`` past it, see the module); and
    the package's TLS trust (``tls.tls_context``: the CAs ``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE`` or
    ``CURL_CA_BUNDLE`` name).

    Raises:
        SettingsError: one of those variables names no readable CA file or folder (the message names it).
    """
    return {"event_hooks": {"request": [_traced, _plain], "response": [_capped]}, "verify": tls_context(),
            "limits": httpx.Limits(max_connections=100, max_keepalive_connections=0)}
