"""Gradio's file route guarded: a URL is refused (the server fetches nothing for a visitor), a ``Range`` is read by
Starlette, and a file a sweep would remove is kept while it is sent.

Gradio 6.31 serves ``GET``/``HEAD /gradio_api/file=<path or URL>`` (and ``GET /gradio_api/file/<path or URL>``, its
older spelling, by the same handler); given an http(s) URL
(``gradio_client.utils.is_http_url_like``: it starts with ``http://`` or ``https://``) it fetches the URL itself
and streams the answer back (``route_utils.secure_url_stream_response``, which refuses only private hosts), so
any visitor could make the server download any public URL. The page never asks for one: a file the app shows is
served from its own cache, by path. ``FileRoute`` (ASGI middleware, ``ui.launch_options``) answers such a
request itself with a 403 ``{"detail": ...}``, as Gradio answers its own refusals there, the URL not echoed.

Gradio's own answer to a ``Range: bytes=<first>-<last>`` header (``route_utils.file_fetch``'s ``RangedFileResponse``)
copied every header of the request into the answer (``Authorization``, ``Cookie``: readable by the page's scripts,
storable by a cache), answered ``bytes=10-5`` (invalid, RFC 9110 section 14.1.1) with byte 5, and ``bytes=0-1,3-4``
or ``bytes=1-2-3`` with a 500 and a logged traceback (it splits the value at ``-`` into two). Any other ``Range`` it
leaves to Starlette's ``FileResponse``, which reads ranges as RFC 9110 section 14 asks (several ranges as a
``multipart/byteranges`` answer; an invalid one a 400 or 416 saying why), comparing the unit ignoring case as the
RFC asks (section 14.1). So ``FileRoute`` writes a ``Range``'s unit ``Bytes``: the same request, which Gradio
passes on (it looks for ``bytes=``) and Starlette reads.

A file the route sends is in use (``served_files.serving``) from before Gradio checks that it exists until it is
open and its first bytes go out (a slow reader holds nothing in use: the open file stays readable if removed), so
no sweep removes it in between (before, a sweep there made the request a 500 logging the
server's path). One removed all the same (past the bound on files in use, or by a person), or before the request
(a page's picture swept while the page stayed open, which Gradio answered 403 "File not allowed"), gets a 404
saying the file is no longer kept (``FILE_GONE``); a path outside Gradio's folder keeps Gradio's 403.
"""

from __future__ import annotations

import os

from gradio.route_utils import API_PREFIX
from gradio_client.utils import is_http_url_like

from realunify_arena import served_files
from realunify_arena.asgi import route_path, send_detail

# the route's two spellings: ``file=<path>``, and Gradio's older ``file/<path>`` (``routes.file_deprecated``, which
# calls the same handler, so it fetched a URL too)
_FILE_ROUTES = (f"{API_PREFIX}/file=", f"{API_PREFIX}/file/")
URL_ROUTE_REFUSED = ("a URL is not fetched here: /gradio_api/file= serves only this app's own files, by path; open the "
                     "URL yourself")
RANGE_UNSATISFIABLE = ("Range: no range asked for starts within the file, which holds {size} bytes (the first is "
                       "byte 0)")
FILE_GONE = ("this file is no longer kept: the app removes its oldest files to make room for new ones; run again, "
             "or reload the page, to get it")


def asked_file(path: str) -> str | None:
    """What a request to ``path`` (the app's route path, ``asgi.route_path``) asks Gradio's file route for (a
    path or a URL, as Gradio's route reads it), or None when ``path`` is not that route."""
    for route in _FILE_ROUTES:
        if path.startswith(route):
            return path[len(route):]
    return None


def ranges_for_starlette(headers) -> list:
    """``headers`` (an ASGI scope's, ``(name, value)`` byte pairs) with each ``Range`` whose unit is ``bytes``
    written ``Bytes`` (the same request, RFC 9110 section 14.1), so Gradio's file route leaves it to Starlette's
    ``FileResponse`` (see the module's docstring); the other headers as they are."""
    out = []
    for name, value in headers:
        if name.lower() == b"range":
            unit, equals, rest = value.lstrip(b" \t").partition(b"=")
            if equals and unit.strip().lower() == b"bytes":
                value = b"Bytes=" + rest
        out.append((name, value))
    return out


def _gone_from(path: str, scope) -> bool:
    """Whether ``path`` (absolute) names nothing now inside the folder where Gradio keeps uploads and its copies
    of the files the app shows (``uploaded_file_dir`` of the scope's app, ``GRADIO_TEMP_DIR``): a file the sweep
    removed, there as Gradio would have served it. Gradio answers 403 "File not allowed" for it, as for any path
    that is not there; a path elsewhere is left to that answer (no word on the server's other files)."""
    folder = getattr(scope.get("app"), "uploaded_file_dir", None)
    if not folder or os.path.lexists(path):
        return False
    folder = os.path.abspath(folder)
    try:
        return os.path.commonpath([folder, path]) == folder and path != folder
    except ValueError:  # another drive, on Windows
        return False


class FileRoute:
    """ASGI middleware of Gradio's file route (see the module's docstring): a request naming an http(s) URL is
    answered 403 (``URL_ROUTE_REFUSED``); one naming a path goes on with its ``Range`` for Starlette
    (``ranges_for_starlette``), its file in use until it is open, and a 404 (``FILE_GONE``) when the file went
    before the answer began (a file of Gradio's folder not there, which Gradio answers 403); every other request
    goes on unchanged."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        asked = asked_file(route_path(scope)) if scope["type"] == "http" else None
        if asked is None:
            await self.app(scope, receive, send)
            return
        if is_http_url_like(asked):
            await send_detail(send, 403, URL_ROUTE_REFUSED, close=False)  # GET and HEAD carry no body to drain
            return
        scope = {**scope, "headers": ranges_for_starlette(scope.get("headers", ()))}
        started = replaced = False
        path = os.path.abspath(asked)  # as Gradio's utils.abspath makes it
        release = served_files.serving(path)

        async def sending(message) -> None:
            nonlocal started, replaced
            if message["type"] == "http.response.body":
                release()  # the file is open (its bytes are read from it): a sweep may remove it now
                if replaced:
                    return  # the answer that replaced this one is sent whole
            if message["type"] == "http.response.start":
                started = True
                if message["status"] == 416:  # Starlette's 416 has no body: one that says why, its Content-Range kept
                    replaced = True
                    size = dict(message.get("headers", ())).get(b"content-range", b"").rpartition(b"/")[2]
                    text = RANGE_UNSATISFIABLE.format(size=size.decode("latin-1") or "?")
                    await send_detail(send, 416, text, close=False, extra=[(b"content-range", b"bytes */" + size)])
                    return
                if message["status"] == 403 and _gone_from(path, scope):
                    replaced = True
                    await send_detail(send, 404, FILE_GONE, close=False)
                    return
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except (RuntimeError, OSError):  # Starlette's FileResponse: "File at path ... does not exist."
            if started or os.path.lexists(path):
                raise
            await send_detail(send, 404, FILE_GONE, close=False)
        finally:
            release()
