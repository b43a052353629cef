"""Gradio's file route asked for a URL, refused: the server fetches nothing for a visitor.

Gradio 6.31 serves ``GET``/``HEAD /gradio_api/file=<path or URL>`` (and ``GET /gradio_api/file/<path or URL>``, its
older spelling, by the same handler); given an http(s) URL
(``gradio_client.utils.is_http_url_like``: it starts with ``http://`` or ``https://``) it fetches the URL itself
and streams the answer back (``route_utils.secure_url_stream_response``, which refuses only private hosts), so
any visitor could make the server download any public URL. The page never asks for one: a file the app shows is
served from its own cache, by path. ``NoUrlFiles`` (ASGI middleware, ``ui.launch_options``) answers such a
request itself with a 403 ``{"detail": ...}``, as Gradio answers its own refusals there, the URL not echoed.
"""

from __future__ import annotations

from gradio.route_utils import API_PREFIX
from gradio_client.utils import is_http_url_like

from realunify_arena.asgi import route_path, send_detail

# the route's two spellings: ``file=<path>``, and Gradio's older ``file/<path>`` (``routes.file_deprecated``, which
# calls the same handler, so it fetched a URL too)
_FILE_ROUTES = (f"{API_PREFIX}/file=", f"{API_PREFIX}/file/")
URL_ROUTE_REFUSED = ("a URL is not fetched here: /gradio_api/file= serves only this app's own files, by path; open the "
                     "URL yourself")


def fetches_url(path: str) -> bool:
    """Whether a request to ``path`` (the app's route path, ``asgi.route_path``) would make Gradio's file route
    fetch a URL: ``/gradio_api/file=<URL>`` or ``/gradio_api/file/<URL>``."""
    return any(path.startswith(route) and is_http_url_like(path[len(route):]) for route in _FILE_ROUTES)


class NoUrlFiles:
    """ASGI middleware: a request of Gradio's file route naming an http(s) URL is answered 403 (``URL_ROUTE_REFUSED``);
    every other request goes on unchanged."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and fetches_url(route_path(scope)):
            await send_detail(send, 403, URL_ROUTE_REFUSED, close=False)  # GET and HEAD carry no body to drain
            return
        await self.app(scope, receive, send)
