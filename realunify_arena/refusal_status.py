"""A refused direct call (``POST /gradio_api/run/<name>``, ``/api/<name>``) answered with the refusal's status.

Gradio 6.31's direct-call route answers every error its event raised with HTTP 500 (``routes.predict``:
``JSONResponse(content=error_payload(error), status_code=500)``; ``gr.Error`` carries no status, and an
``HTTPException`` raised by the event is caught the same way), so the app's own refusals (bad input, a run
already in progress) read as a server fault to a script or a monitor. The queue's routes report an event's
error inside the event stream, whose status (200) is sent before the event runs; they need nothing.

``note_status`` is called where the refusal leaves the event (``ui.calls``): it writes the refusal's status
into the request's ASGI scope (``scope["state"]``, which the request's handler and this middleware share).
``RefusalStatus`` (ASGI middleware) then changes only the status line of that request's 500 answer; the body, with Gradio's ``{"error": message, ...}``, goes as
Gradio wrote it. A 500 with no noted refusal (a real fault) stays 500.
"""

from __future__ import annotations

from gradio.route_utils import API_PREFIX

from realunify_arena.asgi import route_path

STATE_KEY = "realunify_refusal"  # scope["state"][STATE_KEY] = the refusal's status
ROUTES = (f"{API_PREFIX}/run/", f"{API_PREFIX}/api/")
REFUSAL_STATUSES = range(400, 600)  # RFC 9110 section 15: 4xx the client's fault, 5xx the server's


def refusal_status(status: int) -> int:
    """``status`` when it is an HTTP status a refusal may have (an ``int`` in 400-599).

    Raises:
        ValueError: any other value (a 2xx would turn a refused call's 500 into a success), naming it.
    """
    if isinstance(status, bool) or not isinstance(status, int) or status not in REFUSAL_STATUSES:
        raise ValueError(f"a refusal's HTTP status must be an integer from 400 to 599, not {status!r}")
    return status


def note_status(request, status: int) -> None:
    """Record ``status`` (400-599) for the answer to ``request`` (a ``gr.Request``, a Starlette request, a list
    of them: a batched call's, each recorded; or None: then nothing is recorded).

    Raises:
        ValueError: ``status`` is not 400-599 (``refusal_status``).
    """
    refusal_status(status)
    for one in request if isinstance(request, (list, tuple)) else [request]:
        scope = getattr(getattr(one, "request", one), "scope", None)
        if isinstance(scope, dict):
            scope.setdefault("state", {})[STATE_KEY] = status


class RefusalStatus:
    """ASGI middleware: a ``POST`` to ``ROUTES`` answered 500 after ``note_status`` gets the noted status
    instead; every other answer and request passes unchanged."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or not route_path(scope).startswith(ROUTES):
            await self.app(scope, receive, send)
            return

        async def send_status(message) -> None:
            noted = scope.get("state", {}).get(STATE_KEY)
            if message["type"] == "http.response.start" and message["status"] == 500 and noted:
                message = {**message, "status": noted}
            await send(message)

        await self.app(scope, receive, send_status)
