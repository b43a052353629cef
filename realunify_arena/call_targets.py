"""Gradio's call routes asked for an event, endpoint or component that does not exist, answered with a 4xx.

Gradio 6.31 looks a request's target up without checking it is there (``route_utils.get_fn``:
``fns[body.fn_index]``, or ``FnIndexInferError`` for an unknown ``api_name``; ``/call/v2``:
``named_endpoints["/" + api_name]`` and ``client_utils.construct_args``; ``/component_server``:
``blocks[component_id]``), so the ``KeyError``, ``FnIndexInferError`` or ``TypeError`` reached the server:
the visitor got a bare 500 "Internal Server Error" and uvicorn logged "Exception in ASGI application" at ERROR
with a traceback, once per request. Measured against the launched app (``launch_options()``) for:

- ``POST /gradio_api/queue/join`` with a ``fn_index`` no event has (99999, -1, 10**22, or "99999", which
  Gradio's lax model reads as a number);
- ``POST /gradio_api/run/<name>`` and ``/gradio_api/api/<name>`` with an unknown name, or with a body
  ``fn_index`` no event has (it wins over the name);
- ``POST /gradio_api/call/<name>`` with an unknown name, or a private event's (``open_from_url``, ``release``:
  answered 200 and run, though Gradio documents private events as not callable by name);
  ``POST /gradio_api/call/v2/<name>`` with a name that
  is no public endpoint, a keyword the endpoint does not take, or a required one missing;
- ``POST /gradio_api/component_server`` (JSON) with a ``component_id`` no component has; multipart, also
  with a ``component_id`` that is no integer or a form field missing (``form_problem``).

No Gradio setting checks these. ``CallTargets`` (ASGI middleware, innermost of ``ui.launch_options``' so
``body_limit.BodyLimit`` has capped the body it reads) reads such a request's JSON body, checks the target
the way Gradio will look it up, and answers a missing one itself, as Gradio answers its own refusals:
``{"detail": message}``, 404 for a name in the path, 422 for a value in the body. A body Gradio's own model
refuses (a ``fn_index`` that is no integer, ``data`` that is no list) goes on to Gradio, which answers 422.
"""

from __future__ import annotations

import json

from gradio.data_classes import ComponentServerJSONBody, PredictBody, SimplePredictBody
from gradio.route_utils import API_PREFIX
from gradio_client.utils import construct_args
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from realunify_arena.asgi import media_type, route_path, send_detail

API_DOCS = f"{API_PREFIX}/info"  # the app's public endpoints and their parameters, as JSON


def _fns(blocks, session_hash: str | None) -> dict:
    """The events Gradio looks ``fn_index`` up in: the session's own (``gr.render`` may add some) when the
    session exists, else the app's (a new session starts as a copy of them). Reads, never creates, a session."""
    holder = getattr(blocks, "state_holder", None)
    if session_hash and holder is not None and session_hash in holder:
        return holder.session_data[session_hash].blocks_config.fns
    return blocks.fns


def unknown_fn_index(blocks, body: PredictBody) -> str | None:
    """Why ``body.fn_index`` names no event (a sentence), or None when it does or is not given."""
    if body.fn_index is None or body.fn_index in _fns(blocks, body.session_hash):
        return None
    shown = str(body.fn_index) if len(str(body.fn_index)) <= 20 else f"{str(body.fn_index)[:20]}..."
    return (f"fn_index {shown} names no event of this app: it takes one of its {len(blocks.fns)} event"
            f" indices (the page's config lists them), or call a named endpoint (see {API_DOCS})")


def public_endpoints(blocks) -> list[str]:
    """``["/instances", ...]``: the endpoints ``gradio_client`` and ``/call/v2`` can name (Gradio's API info)."""
    return sorted(blocks.get_api_info()["named_endpoints"])


def unknown_api_name(blocks, api_name: str, body: PredictBody | SimplePredictBody, *, public: bool,
                     private: bool = True) -> str | None:
    """Why ``api_name`` names no endpoint (a sentence), or None when Gradio finds it: any event's
    ``api_name`` on ``/run`` and ``/api``, any but a private event's on ``/call`` (``private=False``: Gradio
    documents ``api_visibility="private"`` events as not callable by name), a public endpoint only on
    ``/call/v2`` (``public``)."""
    if public:
        known = "/" + api_name in public_endpoints(blocks)
    else:
        known = any(fn.api_name == api_name and (private or getattr(fn, "api_visibility", "public") != "private")
                    for fn in _fns(blocks, body.session_hash).values())
    if known:
        return None
    shown = api_name if len(api_name) <= 60 else f"{api_name[:60]}..."
    return f"no endpoint /{shown} in this app: it has {', '.join(public_endpoints(blocks))} (see {API_DOCS})"


def bad_keywords(blocks, api_name: str, body: dict) -> str | None:
    """Why ``/call/v2/<api_name>``'s keyword body does not fit the endpoint's parameters (Gradio's own words
    from ``construct_args``: an unknown keyword, a required one missing), or None when it fits."""
    endpoint = blocks.get_api_info()["named_endpoints"]["/" + api_name]
    keywords = {key: value for key, value in body.items() if key != "oauth_token"}
    try:
        construct_args(endpoint["parameters"], (), keywords)
    except (TypeError, ValueError) as error:
        return f"/{api_name}: {str(error).split('. Please click')[0]} (its parameters are listed at {API_DOCS})"
    return None


def unknown_component(blocks, body: ComponentServerJSONBody) -> str | None:
    """Why ``body.component_id`` names no component (a sentence), or None when Gradio finds it."""
    holder = getattr(blocks, "state_holder", None)
    if body.component_id in blocks.blocks:
        return None
    if holder is not None and body.session_hash in holder \
            and body.component_id in holder.session_data[body.session_hash].blocks_config.blocks:
        return None
    return f"component_id {body.component_id} names no component of this app (the page's config lists them)"


def problem(blocks, path: str, payload) -> tuple[int, str] | None:
    """``(status, message)`` for a request to ``path`` (after ``API_PREFIX``) whose JSON ``payload`` names
    a target Gradio would not find, or None: the request goes on to Gradio (so does any payload Gradio's own
    body model refuses; Gradio answers that 422 itself)."""
    route, _, name = path.partition("/")
    name = name.rstrip("/")
    try:
        if route == "queue" and name == "join":
            body = PredictBody.model_validate(payload)  # without a session_hash Gradio's own 400 says so
            return _at(422, unknown_fn_index(blocks, body)) if body.session_hash is not None else None
        if route in ("run", "api") and name and "/" not in name:
            body = PredictBody.model_validate(payload)
            if body.fn_index is not None:
                return _at(422, unknown_fn_index(blocks, body))
            return _at(404, unknown_api_name(blocks, name, body, public=False))
        if route == "call" and name.startswith("v2/") and "/" not in name[3:] and isinstance(payload, dict):
            name = name[3:]
            missing = unknown_api_name(blocks, name, SimplePredictBody(data=[]), public=True)
            return _at(404, missing) or _at(422, bad_keywords(blocks, name, payload))
        if route == "call" and name and "/" not in name:
            return _at(404, unknown_api_name(blocks, name, SimplePredictBody.model_validate(payload), public=False,
                                             private=False))
        if route == "component_server" and not name:
            return _at(422, unknown_component(blocks, ComponentServerJSONBody.model_validate(payload)))
    except ValidationError:
        return None
    return None


FORM_FIELDS = ("component_id", "session_hash", "fn_name")  # what Gradio reads from a multipart component call


def form_problem(blocks, fields: dict[str, str]) -> tuple[int, str] | None:
    """``(422, message)`` for a multipart ``/component_server`` call whose form ``fields`` (the text parts)
    lack one of ``FORM_FIELDS``, give a ``component_id`` that is no integer, or name no component (Gradio
    reads them as ``data["component_id"]`` and ``blocks[component_id]``: a ``KeyError``, a 500), else None."""
    missing = [name for name in FORM_FIELDS if name not in fields]
    if missing:
        return 422, f"component_server: the form has no {', '.join(missing)} (it takes {', '.join(FORM_FIELDS)})"
    try:
        body = ComponentServerJSONBody.model_validate({**fields, "data": None})
    except ValidationError:
        shown = fields["component_id"][:20]
        return 422, f"component_server: component_id {shown!r} is no integer (the page's config lists them)"
    return _at(422, unknown_component(blocks, body))


def _at(status: int, message: str | None) -> tuple[int, str] | None:
    return None if message is None else (status, message)


ROUTES = ("queue/join", "run/", "api/", "call/", "component_server")


class CallTargets:
    """ASGI middleware: a ``POST`` with a JSON body to one of Gradio's call routes (``ROUTES``) whose event,
    endpoint or component does not exist (``problem``) gets ``{"detail": message}`` with 404 or 422 before
    Gradio sees it (a multipart ``component_server`` call: ``form_problem``); otherwise the body read is
    passed on to Gradio unchanged. Other requests, other bodies that are not JSON, and apps without Gradio's
    ``get_blocks`` pass unchanged."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        path = route_path(scope) if scope["type"] == "http" and scope.get("method") == "POST" else ""
        route = path[len(API_PREFIX) + 1:] if path.startswith(API_PREFIX + "/") else ""
        app = scope.get("app")
        form = route.rstrip("/") == "component_server" and media_type(scope) == "multipart/form-data"
        if not route.startswith(ROUTES) or not hasattr(app, "get_blocks") or not (form or _is_json(scope)):
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()  # body_limit.BodyLimit, outside, stops a body over its cap
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if form:
            fields = await _form_fields(scope, body)
            found = form_problem(app.get_blocks(), fields) if fields is not None else None
        else:
            try:
                payload = json.loads(body)
            except (ValueError, RecursionError):  # not JSON, or nested deeper than the interpreter's
                payload = None  # recursion limit (~1000 levels): Gradio's FastAPI answers 400 for both
            found = problem(app.get_blocks(), route, payload) if payload is not None else None
        if found:
            await send_detail(send, *found, close=False)  # its body was read whole
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _is_json(scope) -> bool:
    """Whether the request says its body is JSON (or says nothing: FastAPI then reads it as JSON too)."""
    kind = media_type(scope)
    return kind is None or kind == "application/json" or kind.endswith("+json")


async def _form_fields(scope, body: bytes) -> dict[str, str] | None:
    """The text parts of the multipart ``body`` (Starlette's parser, as Gradio's; file parts left out), or
    None when it does not parse (Gradio then answers its own 400)."""

    async def whole():
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(dict(scope), whole).form(max_files=1000, max_fields=1000)
    except (HTTPException, MultiPartException, ValueError):
        return None
    try:
        return {key: value for key, value in form.multi_items() if isinstance(value, str)}
    finally:
        await form.close()
