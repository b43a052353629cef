"""What the app's ASGI middleware share: the path a request routes on, its headers read the way Starlette (and so
Gradio, the app they guard) reads them, and a short answer sent whole.

The middleware (``body_limit``, ``call_targets``, ``upload_progress``, ``refusal_status``, ``stream_errors``,
installed by ``ui.launch_options``) each had its own copy of these; this is their one home.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers

_SPACE = " \t\r\n\x0b\x0c"  # ASCII white space only: a latin-1 no-break space (0xA0) stays, as in the bytes


def route_path(scope) -> str:
    """The path the app routes on: ``scope["path"]`` without the ``root_path`` a proxy mounts it under, when the
    path is that root or continues it with ``/`` (``/app`` comes off ``/app/x``, not off ``/apps/x``); ``""`` for
    the root itself. The rule of Starlette's own router (``starlette._utils.get_route_path``, 0.35+)."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root):] if path[len(root)] == "/" else path


def header(scope, name: str) -> str | None:
    """The first value of the request's header ``name`` (any case; decoded as latin-1), or None when absent.
    Read by ``starlette.datastructures.Headers``, as Starlette and Gradio read it: ASGI servers give header
    names in lower case, and a name that is not is not seen here either, as it is not by the app."""
    return Headers(scope={"headers": scope.get("headers", ())}).get(name)


def content_length(scope) -> int | None:
    """The request's first ``Content-Length`` as a number of bytes, or None when it is absent or not ASCII
    digits (surrounding ASCII spaces allowed; RFC 9110 section 8.6: ``1*DIGIT``; ``"²"`` is no digit here)."""
    value = header(scope, "content-length")
    if value is None:
        return None
    value = value.strip(_SPACE)
    return int(value) if value.isascii() and value.isdigit() else None


def media_type(scope) -> str | None:
    """The request's ``Content-Type`` without its parameters, in lower case (``"application/json"``), or None
    when the request has none."""
    value = header(scope, "content-type")
    return None if value is None else value.split(";")[0].strip(_SPACE).lower()


async def send_plain(send, status: int, text: str, *, close: bool,
                     content_type: str = "text/plain; charset=utf-8", extra=()) -> None:
    """Answers with ``status`` and ``text`` (UTF-8) as the whole body, with its ``Content-Type`` and
    ``Content-Length`` and the headers ``extra`` (``(name, value)`` byte pairs); ``close``: adds
    ``Connection: close``, which an answer sent before the request's body
    was read whole must carry (else the unread rest of the body would be read as the connection's next
    request)."""
    body = text.encode()
    headers = [(b"content-type", content_type.encode("latin-1")), (b"content-length", str(len(body)).encode())]
    headers.extend(extra)
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_detail(send, status: int, message: str, *, close: bool, extra=()) -> None:
    """Answers ``{"detail": message}`` as JSON with ``status``, as FastAPI answers an ``HTTPException``
    (``send_plain``'s ``close`` and ``extra``)."""
    await send_plain(send, status, json.dumps({"detail": message}), close=close, content_type="application/json",
                     extra=extra)
