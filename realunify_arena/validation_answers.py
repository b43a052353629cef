"""A request FastAPI refuses (HTTP 422) is answered with its reasons even when it quoted a number JSON cannot hold.

FastAPI's own answer to a request body its model refuses (``fastapi.exception_handlers.
request_validation_exception_handler``) quotes each refused value back, and Starlette's ``JSONResponse`` writes
JSON strictly (``allow_nan=False``). Python's ``json`` reads ``NaN``, ``Infinity`` and a number past the float
range (``1e999``) as non-finite floats, so a call such as ``POST /gradio_api/queue/join`` with ``"fn_index":
NaN``, or ``/gradio_api/call/vote`` with ``{"battle_id": 1e999}``, was refused by the model and then failed
while its refusal was written: a bare 500 "Internal Server Error" and a logged traceback per request
(measured on the launched app for ``queue/join``, ``call/<name>``, ``run/<name>`` and ``api/<name>``).
``answer_refused_request`` writes the same 422 with each non-finite number quoted as text (``"nan"``,
``"inf"``, ``"-inf"``, as Python prints them); ``ui.launch_options`` installs it for
``RequestValidationError``.
"""

from __future__ import annotations

import math

from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse


def json_safe(value):
    """``value`` (what ``jsonable_encoder`` makes: dicts, lists, str, int, float, bool, None) with every
    non-finite float replaced by its text (``repr``: ``"nan"``, ``"inf"``, ``"-inf"``); the rest unchanged."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


async def answer_refused_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's answer to a refused request body, ``{"detail": [errors]}`` with 422, written as strict JSON."""
    return JSONResponse(status_code=422, content={"detail": json_safe(jsonable_encoder(exc.errors()))})
