"""An OpenAI-compatible HTTP server over any model card, on loopback only.

Lets one process per GPU or per library stack serve a model that the app then reaches through the
``openai`` family: chat completions with image input (understand), image generations (generate) and
image edits (edit). Besides the OpenAI fields it reads ``seed``, ``guidance_scale`` and
``num_inference_steps``, so recorded generation options mean the same thing remotely. Every setting is
held to the card's limits as in the app (``limits.check_options``): one past them is refused with a 400; so is a
prompt over ``serving_fields.MAX_PROMPT_CHARS`` and a field this server cannot honour
(``serving_fields.UNSUPPORTED``), before the model runs. A run stops (``stopping.RunControl``) when its client
disconnects or at the time limit (``create_app``'s ``time_limit_s``, as the app's ``--run-time-limit``).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
import uuid
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError,
                      field_validator)

from starlette.exceptions import HTTPException as StarletteHTTPException

from realunify_arena.adapters.base import Capability, CutReply, GenerationOptions, NotSupported
from realunify_arena.adapters.wire import image_from_base64
from realunify_arena.asgi import send_plain
from realunify_arena.benchmark.images import MAX_UPLOAD_BYTES, ImageError, open_checked
from realunify_arena.body_limit import BODY_IDLE_S, BodyLimit
from realunify_arena.cards import ModelCard
from realunify_arena.limits import OptionError, check_options, edit_size_used
from realunify_arena.redaction import error_text, install_log_redaction, redact, shortened
from realunify_arena.runtime import ModelPool
from realunify_arena.serving_fields import (IMAGE_QUALITIES, MAX_METADATA_KEY, MAX_METADATA_PAIRS,
                                            MAX_METADATA_VALUE, MAX_PARTIAL_IMAGES, MAX_PROMPT_CHARS,
                                            MAX_STOP_SEQUENCES, MODERATIONS, SAMPLING_ONLY, SERVICE_TIERS,
                                            cut_at_stop, encoded_image, mistyped_field,
                                            unsupported_field)
from realunify_arena.settings import LOCAL_RUN_TIME_LIMIT_S
from realunify_arena.stopping import RunControl, RunStopped

LOOPBACK = "127.0.0.1"
# The largest request body read: the largest image the app takes (``MAX_UPLOAD_BYTES``, 64 MiB) as base64 in a
# chat message (4/3 of it) with room for the text. OpenAI documents 50 MB per request for image inputs and answers
# a larger body with HTTP 413; a body past this one is refused with 413 before it is read whole.
MAX_REQUEST_BYTES = MAX_UPLOAD_BYTES * 4 // 3 + 2**20


CLIENT_GONE = "stopped: the client disconnected"
DISCONNECT_POLL_S = 0.5  # how often a running request looks whether its client is still there
# the openai client retries a 5xx (twice by default) unless told not to: a run stopped at its time limit would
# only run as long again
NO_RETRY = {"x-should-retry": "false"}
# what a machine out of memory says: Python's MemoryError, torch's OutOfMemoryError, its CPU allocator
# ("DefaultCPUAllocator: not enough memory: you tried to allocate 40017601936 bytes")
_OUT_OF_MEMORY = re.compile(r"out of memory|not enough memory|tried to allocate|OutOfMemory|MemoryError", re.I)


class RequestError(Exception):
    """A request the server refuses or could not answer: HTTP ``status`` and the OpenAI error shape (``headers``
    added to the answer)."""

    def __init__(self, status: int, message: str, code: str = "invalid_request", param: str | None = None,
                 headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.headers = status, message, code, param, headers


def _error_body(message: str, code: str, param: str | None = None, status: int = 400) -> dict:
    """The OpenAI error shape (``{"error": {"message", "type", "param", "code"}}``): type ``server_error`` for a
    5xx status (the server failed), else ``invalid_request_error`` (the request was refused)."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _error(status: int, message: str, code: str, param: str | None = None, headers: dict | None = None
           ) -> JSONResponse:
    """The OpenAI error shape, which the openai client turns into its typed exceptions."""
    return JSONResponse(_error_body(message, code, param, status), status, headers=headers)


def failure_message(name: str, error: BaseException) -> str:
    """What a 500 says of ``error``, raised while card ``name`` ran: one short line naming the kind of failure
    (``"tiny-pair ran out of memory on this request (RuntimeError)"``), never an allocator's or a library's
    internals; any other error is ``redaction.error_text``, cut to 300 characters."""
    text = error_text(error)
    if isinstance(error, MemoryError) or _OUT_OF_MEMORY.search(text):
        return (f"{name} ran out of memory on this request ({type(error).__name__}); a shorter prompt or a "
                "smaller size may fit")
    return shortened(f"{name} failed: {text}", 300)


# The code of each refusal ``BodyLimit`` answers before the body is read whole: 413 OpenAI's own
# (``request_too_large``), 408 named the same way.
_BODY_REFUSAL_CODES = {413: "request_too_large", 408: "request_timeout"}


async def _refuse_body(send, status: int, message: str, *, close: bool) -> None:
    """``body_limit.BodyLimit``'s refusal (a body too large, stalled or too slow) in the OpenAI error shape."""
    body = _error_body(message, _BODY_REFUSAL_CODES.get(status, "invalid_request"), status=status)
    await send_plain(send, status, json.dumps(body), close=close, content_type="application/json")


# -- request bodies: pydantic checks them; what a bad field gets is said in the OpenAI error's message --------
# JSON bodies are checked strictly, as OpenAI checks them ("Invalid type for 'stream': expected a boolean, but got
# a string instead", param "stream"): no "yes" or 1 for a boolean, no "5" or 5.0 for an integer, no "0.5" for a
# number (an integer is a number), no 5 for a string. vLLM's pydantic models are lax and would take "yes" as true
# and "5" as 5; a runner relying on that gets a 400 here rather than a silent guess. The multipart edit form, whose
# fields are all text on the wire, is read laxly (``STRICT_JSON`` off for it).
STRICT_JSON = ConfigDict(extra="allow", strict=True)


def _invalid_value(value: object, supported: tuple[str, ...]) -> str:
    """OpenAI's words for a value outside a field's documented ones."""
    return (f"Invalid value: {value!r}. Supported values are: {', '.join(map(repr, supported[:-1]))} and "
            f"{supported[-1]!r}")


def _one_of(supported: tuple[str, ...]) -> Any:
    """A string field holding one of ``supported`` (an enum of OpenAI's reference): another string is an invalid
    value, another JSON type a wrong type (``"Invalid type for 'quality': expected a string ..."``)."""
    def check(value: str) -> str:
        if value not in supported:
            raise ValueError(_invalid_value(value, supported))
        return value

    return Annotated[str, AfterValidator(check)]


class _StreamOptions(BaseModel):
    model_config = STRICT_JSON

    include_usage: bool | None = None


class _Body(BaseModel):
    """Fields every endpoint reads. Of the other fields OpenAI's API reference defines, those that change the answer
    are done (chat ``stop``; images ``output_format``, ``output_compression``) or refused with a 400 naming them
    unless their value asks for nothing (``serving_fields.UNSUPPORTED``: ``tools``, ``logprobs``, ``top_p`` when
    sampling (``SAMPLING_ONLY``),
    ``background: "transparent"``, an edit's ``mask`` ...). Taken and ignored, since they change nothing a client
    sees in the answer: ``user``, ``safety_identifier``, ``metadata``, ``store``, ``service_tier``,
    ``prompt_cache_key``, ``parallel_tool_calls`` (no tools here), ``prediction`` (OpenAI's Predicted Outputs only
    make an answer faster), ``moderation`` (nothing is moderated here, at any level), ``partial_images`` (no
    streaming of images), a message's ``name``, an image's ``quality`` (a hint: these models have one quality,
    as dall-e-2's ``standard``). Each is declared with the type and range OpenAI's reference gives it
    (``serving_fields``' documented values), so a wrong one is refused with a 400 naming it, as OpenAI refuses it,
    though its value is never read. Fields OpenAI does not define (vLLM's ``top_k`` ...) are ignored."""

    model_config = STRICT_JSON

    model: str | None = None
    n: int | None = None
    response_format: str | None = None
    size: str | None = None  # "WIDTHxHEIGHT" or "auto"
    seed: int | None = None
    guidance_scale: float | None = None  # classifier-free guidance, as diffusers names it
    num_inference_steps: int | None = None
    temperature: float | None = None
    max_completion_tokens: int | None = None
    max_tokens: int | None = None  # the older name of max_completion_tokens
    stream: bool | None = None  # chat: answer as server-sent events (``_events``); images: refused
    stream_options: _StreamOptions | None = None  # chat, with stream: ``include_usage`` adds OpenAI's usage chunk
    user: str | None = None  # taken and ignored (an end-user id), as the fields below

    @field_validator("size")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        width, _, height = (value or "auto").partition("x")
        if value not in (None, "auto") and not (width.isdigit() and height.isdigit()):
            raise ValueError(f"must look like 512x512, got {value!r}")
        return value

    def options(self, card: ModelCard, *, edit: bool = False) -> GenerationOptions:
        """The card's defaults with the request's generation fields laid over them, checked against the card's
        limits as the app checks them (``limits.check_options``). For an ``edit`` whose output keeps the input
        image's size (``limits.edit_size_used`` False) a ``size`` is not used, so it is neither checked nor
        passed on.

        Raises:
            RequestError: 400 naming the request's field, the setting and its limit (``param``: the field).
        """
        size = {} if self.size in (None, "auto") or (edit and not edit_size_used(card)) else \
            dict(zip(("width", "height"), map(int, self.size.split("x"))))
        tokens = "max_completion_tokens" if self.max_completion_tokens is not None else "max_tokens"
        fields = {"seed": self.seed, "guidance": self.guidance_scale, "steps": self.num_inference_steps,
                  "temperature": self.temperature, "max_new_tokens": getattr(self, tokens)}
        try:
            return check_options(card, card.options(**{k: v for k, v in fields.items() if v is not None}, **size))
        except OptionError as exc:
            param = {"guidance": "guidance_scale", "steps": "num_inference_steps", "max_new_tokens": tokens,
                     "width": "size", "height": "size"}.get(exc.setting, exc.setting)
            raise RequestError(400, f"'{param}': {exc}", param=param) from None


class _ImageURL(BaseModel):
    model_config = ConfigDict(strict=True)

    url: str

    @field_validator("url")
    @classmethod
    def _data_only(cls, value: str) -> str:
        if not value.startswith("data:image/"):
            raise ValueError("only data:image/... URLs are accepted (nothing is fetched)")
        return value


class _TextPart(BaseModel):
    model_config = ConfigDict(strict=True)

    type: Literal["text"]
    text: str = ""


class _ImagePart(BaseModel):
    model_config = ConfigDict(strict=True)

    type: Literal["image_url"]
    image_url: _ImageURL


_Part = Annotated[_TextPart | _ImagePart, Field(discriminator="type")]


def _parts(content: Any) -> Any:
    if isinstance(content, str):  # the short form: one text part
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise ValueError("must be a string or a list of parts")
    return content


ROLES = ("system", "developer", "user", "assistant")  # what a conversation here may hold: all read as one turn


class _Message(BaseModel):
    model_config = STRICT_JSON

    role: str = "user"
    content: Annotated[list[_Part], BeforeValidator(_parts)]
    name: str | None = None  # a participant's name: taken and ignored

    @field_validator("role")
    @classmethod
    def _known(cls, value: str) -> str:
        """OpenAI's roles; ``tool`` and ``function`` (a tool's result) are refused with ``tools``."""
        if value in ("tool", "function"):
            raise ValueError(f"role {value!r} is not supported by this server (it makes no tool calls)")
        if value not in ROLES:
            raise ValueError(_invalid_value(value, ROLES))
        return value


class _ChatFormat(BaseModel):
    """A chat's ``response_format``: an object, ``{"type": "text" | "json_object" | "json_schema", ...}``."""

    model_config = STRICT_JSON

    type: str


class ChatRequest(_Body):
    """``POST /v1/chat/completions``: a conversation whose text and images are answered as one turn."""

    response_format: _ChatFormat | None = None  # an object here; a string on the images endpoints

    messages: list[_Message] = Field(min_length=1)
    stop: Any = None  # a string or up to 4: the answer is cut before the first (``stop_sequences``)
    top_p: float | None = Field(None, ge=0, le=1)  # taken where it changes nothing (``serving_fields.SAMPLING_ONLY``)
    # taken and ignored (``_Body``), each of the type and range OpenAI's reference gives it
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    metadata: dict[Annotated[str, Field(max_length=MAX_METADATA_KEY)],
                   Annotated[str, Field(max_length=MAX_METADATA_VALUE)]] | None = Field(None,
                                                                                       max_length=MAX_METADATA_PAIRS)
    store: bool | None = None
    service_tier: _one_of(SERVICE_TIERS) | None = None
    parallel_tool_calls: bool | None = None
    prediction: dict | None = None  # Predicted Outputs: {"type": "content", "content": ...}

    def stop_sequences(self) -> list[str]:
        """``stop`` as a list (none: empty).

        Raises:
            RequestError: 400 naming ``stop``: not a string or an array of strings, or more than 4 of them.
        """
        stops = [] if self.stop is None else [self.stop] if isinstance(self.stop, str) else self.stop
        if not (isinstance(stops, list) and all(isinstance(stop, str) for stop in stops)):
            raise invalid_type("stop", "a string or an array of strings", self.stop, shown=False)
        if len(stops) > MAX_STOP_SEQUENCES:
            raise RequestError(400, f"'stop': at most {MAX_STOP_SEQUENCES} sequences, got {len(stops)}",
                               param="stop")
        return stops


class ImageRequest(_Body):
    """``POST /v1/images/generations`` (JSON) and ``/v1/images/edits`` (form fields besides the image)."""

    prompt: str
    output_format: Literal["png", "jpeg", "webp"] | None = None  # how the image is encoded (default png)
    output_compression: int | None = Field(None, ge=0, le=100)  # jpeg or webp quality in percent (default 100)
    # taken and ignored (``_Body``), each of the type and range OpenAI's reference gives it
    quality: _one_of(IMAGE_QUALITIES) | None = None
    moderation: _one_of(MODERATIONS) | None = None
    partial_images: int | None = Field(None, ge=0, le=MAX_PARTIAL_IMAGES)

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("expected a non-empty string")
        return value


def _where(loc: tuple) -> str:
    """``('body', 'messages', 0, 'content')`` -> ``messages[0].content`` (the field as the request wrote it)."""
    path, previous = "", None
    for part in loc:
        # skip "body", pydantic's type labels, and a tagged union's tag (it repeats the field it selects)
        if part == "body" or (isinstance(part, str) and "[" in part) or part == previous:
            continue
        previous = part
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


# pydantic's type errors -> the JSON type the field expects, as OpenAI words it ("expected an integer")
_EXPECTED = {"bool_type": "a boolean", "int_type": "an integer", "float_type": "a number", "string_type": "a string",
             "dict_type": "an object", "model_type": "an object", "model_attributes_type": "an object",
             "list_type": "an array"}


def _json_type(value: Any) -> str:
    """The JSON type of a parsed value, for a type error ("got a string")."""
    kinds = ((bool, "a boolean"), (int, "an integer"), (float, "a decimal number"), (str, "a string"),
             (list, "an array"), (dict, "an object"), (type(None), "null"))
    return next((name for cls, name in kinds if isinstance(value, cls)), type(value).__name__)


def invalid_type(where: str, expected: str, got: Any, *, shown: bool = True) -> RequestError:
    """OpenAI's 400 for a value of the wrong JSON type: "Invalid type for '{where}': expected {expected}, but got
    {JSON type} instead", code ``invalid_type``, param ``where``; ``shown``: a scalar value is quoted after it."""
    value = "" if not shown or isinstance(got, dict | list) else shortened(f" ({got!r})", 80, "…)")
    return RequestError(400, f"Invalid type for '{where}': expected {expected}, but got {_json_type(got)} "
                             f"instead{value}", "invalid_type", where)


def _refusal(errors: list[dict]) -> RequestError:
    """The first validation error as a 400 in OpenAI's shape; ``param`` names the field."""
    error = errors[0]
    where = _where(tuple(error.get("loc", ())))
    kind = error.get("type")
    if kind == "json_invalid":
        return RequestError(400, "the request body is not valid JSON")
    if not where and kind == "missing":  # no body at all (FastAPI reports the body itself as missing)
        return RequestError(400, "the request has no body; expected a JSON object")
    if not where and kind in ("model_attributes_type", "dict_type", "model_type"):
        return RequestError(400, "the request body must be a JSON object")
    if kind == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag")
        return RequestError(400, f"{where}: unsupported part type {tag!r}; expected text or image_url", param=where)
    if kind == "missing":
        return RequestError(400, f"'{where}' is required", param=where)
    got = error.get("input")
    if kind in _EXPECTED:  # OpenAI's wording and code for a value of the wrong JSON type
        return invalid_type(where, _EXPECTED[kind], got)
    cause = error.get("ctx", {}).get("error")
    message = str(cause) if isinstance(cause, ValueError) else error.get("msg", "invalid")
    shown = "" if isinstance(cause, ValueError) or isinstance(got, dict | list) else shortened(f", got {got!r}", 120, "")
    return RequestError(400, f"'{where}': {message}{shown}", param=where)


def create_app(pool: ModelPool, name: str, *, body_idle_s: float = BODY_IDLE_S,
               time_limit_s: float | None = LOCAL_RUN_TIME_LIMIT_S) -> FastAPI:
    """Serve card ``name`` from ``pool`` under ``/v1`` (``/v1/models``, ``/v1/chat/completions``,
    ``/v1/images/generations``, ``/v1/images/edits``). A request body over ``MAX_REQUEST_BYTES``, or one that
    stalls or trickles (``body_limit.BodyLimit``), is answered 413 or 408 in the OpenAI error shape.

    Args:
        pool: where the card's adapter comes from; model work runs through ``pool.run`` (ZeroGPU-aware).
        name: a key of ``pool.cards``.
        body_idle_s: seconds a request body may go without a byte (``BodyLimit``; tests pass a short one).
        time_limit_s: seconds one request's model work may take once its model is loaded (None: no limit); past
            it the run is stopped (``stopping.RunControl``) and answered 500 ``server_error``, code
            ``run_time_limit``, with ``x-should-retry: false``. A run whose client disconnected is stopped too.

    Raises:
        KeyError: ``name`` is not a card of ``pool``.
    """
    card = pool.cards[name]
    install_log_redaction()  # a model error logged by the server is cleaned like the one it answers with
    app = FastAPI(title=f"realunify-arena: {name}")
    app.add_middleware(BodyLimit, max_body_bytes=MAX_REQUEST_BYTES, body_idle_s=body_idle_s, refuse=_refuse_body)

    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError) -> JSONResponse:
        return _error(exc.status, redact(exc.message), exc.code, exc.param, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        refusal = _refusal(list(exc.errors()))
        return _error(refusal.status, refusal.message, refusal.code, refusal.param)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """An unknown path (404), method (405) or a body too large (413) in the OpenAI error shape, as OpenAI
        answers them (``Invalid URL (POST /v1/x)``), not FastAPI's ``{"detail": ...}``."""
        message = f"Invalid URL ({request.method} {request.url.path})" if exc.status_code == 404 else \
            f"method {request.method} is not allowed on {request.url.path}" if exc.status_code == 405 else \
            str(exc.detail)
        code = {404: "unknown_url", 405: "method_not_allowed", 413: "request_too_large"}.get(exc.status_code,
                                                                                           "invalid_request")
        return JSONResponse(_error_body(message, code, status=exc.status_code), exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def model_error(request: Request, exc: Exception) -> JSONResponse:
        return _error(500, failure_message(name, exc), "model_error")

    def check(body: _Body, capability: Capability, endpoint: str, fields: dict | None = None) -> None:
        """Refuse (``RequestError``) what the card or this server cannot answer, before any model work: ``fields``
        are the request's as sent (default: those ``body`` did not declare)."""
        if body.model not in (None, name):
            raise RequestError(404, f"model {body.model!r} is not served here; this server serves {name!r}",
                               "model_not_found", "model")
        if capability not in card.capabilities:
            raise RequestError(400, f"{name} cannot {capability.value} (not declared on its card)", "not_supported")
        if body.n is not None and body.n != 1:  # 0 or less is no choice at all, as OpenAI's minimum of 1 says
            raise RequestError(400, f"'n': only n=1 is supported (one choice per request), got {body.n}", param="n")
        if body.stream and capability is not Capability.UNDERSTAND:
            raise RequestError(400, "stream=true is not supported for images: this server answers with the whole "
                                    "image (omit stream or set it to false)", param="stream")
        if isinstance(body, ChatRequest):
            if body.response_format is not None and body.response_format.type != "text":
                raise RequestError(400, f"only response_format type 'text' is supported (no JSON mode), got "
                                        f"{body.response_format.type!r}", param="response_format.type")
        elif body.response_format not in (None, "b64_json"):
            raise RequestError(400, "only response_format=b64_json is supported; this server never hosts files",
                               param="response_format")
        sent = (body.model_extra or {}) if fields is None else fields
        mistyped = mistyped_field(sent, endpoint) if fields is None else None  # the edit form carries text only
        if mistyped is not None:
            raise invalid_type(mistyped[0], mistyped[1], sent[mistyped[0]])
        field = unsupported_field(sent, endpoint)
        if field is not None:
            raise RequestError(400, f"'{field}' is not supported by this server (got "
                                    f"{shortened(repr(sent[field]), 80)})", "unsupported_parameter", field)
        top_p = getattr(body, SAMPLING_ONLY, None)  # a number 0..1 (pydantic checked it)
        if isinstance(body, ChatRequest) and top_p is not None and top_p != 1:
            temperature = body.temperature if body.temperature is not None else card.defaults.temperature
            if temperature:
                raise RequestError(400, f"'top_p' is not supported by this server when sampling (temperature "
                                        f"{temperature:g}): its models sample from the whole distribution (top_p 1); "
                                        f"with temperature 0 (greedy decoding) any top_p is taken (got "
                                        f"{shortened(repr(top_p), 80)})", "unsupported_parameter", SAMPLING_ONLY)
        if isinstance(body, ChatRequest):
            body.stop_sequences()
            length = sum(len(part.text) for message in body.messages for part in message.content
                         if isinstance(part, _TextPart))
            if length > MAX_PROMPT_CHARS:  # OpenAI's words for a prompt past the model's context
                raise RequestError(400, f"This server's maximum prompt length is {MAX_PROMPT_CHARS:,} characters. "
                                        f"However, your messages resulted in {length:,} characters. Please reduce "
                                        "the length of the messages.", "context_length_exceeded", "messages")
        elif len(body.prompt) > MAX_PROMPT_CHARS:  # OpenAI's words for a string over a field's maximum length
            raise RequestError(400, f"Invalid 'prompt': string too long. Expected a string with maximum length "
                                    f"{MAX_PROMPT_CHARS}, but got a string with length {len(body.prompt)} instead.",
                               "string_above_max_length", "prompt")

    def run(control: RunControl, method: str, *args: Any) -> Any:
        def work(adapter):
            with control.active():  # the model's loop checks it at each step (``stopping``)
                control.check()  # stopped while it waited for the device: the model never runs
                control.start_clock()
                return getattr(adapter, method)(*args)

        try:
            return pool.run(name, work)
        except NotSupported as exc:
            raise RequestError(400, str(exc), "not_supported") from exc
        except RunStopped as exc:
            code = "client_disconnected" if control.reason == CLIENT_GONE and control.stopped else "run_time_limit"
            raise RequestError(500, f"{name} {exc}", code, headers=NO_RETRY) from None

    async def watched(request: Request, method: str, *args: Any) -> Any:
        """``run`` in a worker thread, stopped once the client of ``request`` disconnects."""
        control = RunControl(time_limit_s)
        work = asyncio.ensure_future(_in_thread(run, control, method, *args))
        while not (await asyncio.wait({work}, timeout=DISCONNECT_POLL_S))[0]:
            if not control.stopped and await request.is_disconnected():
                control.stop(CLIENT_GONE)
        return work.result()

    def image_reply(image, body: ImageRequest) -> dict:
        encoded = encoded_image(image, body.output_format or "png", body.output_compression)
        return {"created": int(time.time()), "data": [{"b64_json": encoded}]}

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "realunify-arena",
                                            "capabilities": sorted(c.value for c in card.capabilities)}]}

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest, request: Request) -> dict:
        check(body, Capability.UNDERSTAND, "chat")
        # decoding an image is CPU work and waits for a decode slot (``images.MAX_CONCURRENT_DECODES``): a thread,
        # so the server's event loop goes on answering other requests (and /v1/models) meanwhile
        texts, images = await _in_thread(_flatten, body.messages)
        answer = await watched(request, "understand", images, "\n".join(texts), body.options(card))
        finish = "length" if isinstance(answer, CutReply) else "stop"  # adapters that cannot tell give a str
        usage = token_usage(answer)
        answer = redact(answer) if isinstance(answer, str) else answer  # an upstream may echo this server's key
        cut = cut_at_stop(answer, body.stop_sequences()) if isinstance(answer, str) else None
        if cut is not None:  # the model generated past a stop sequence: the answer ends before it
            answer, finish = cut, "stop"
        reply = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                 "model": name, "choices": [{"index": 0, "finish_reason": finish,
                                             "message": {"role": "assistant", "content": answer}}]}
        if usage is not None:
            reply["usage"] = usage
        if body.stream:
            with_usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(iter(_events(reply, with_usage)), media_type="text/event-stream")
        return reply

    @app.post("/v1/images/generations")
    async def generations(body: ImageRequest, request: Request) -> dict:
        check(body, Capability.GENERATE, "generations")
        return image_reply(await watched(request, "generate", body.prompt, body.options(card)), body)

    @app.post("/v1/images/edits")
    async def edits(request: Request) -> dict:
        form = await request.form()
        try:
            body = ImageRequest.model_validate({k: v for k, v in form.items() if isinstance(v, str)}, strict=False)
        except ValidationError as exc:
            raise _refusal(exc.errors()) from None
        check(body, Capability.EDIT, "edits", {k: v for k, v in form.items() if isinstance(v, str)})
        if form.getlist("mask"):  # OpenAI's inpainting: only the mask's transparent area is changed
            raise RequestError(400, "'mask' is not supported by this server: it edits the whole image (send the "
                                    "edit without a mask)", "unsupported_parameter", "mask")
        uploads = form.getlist("image") or form.getlist("image[]")
        if len(uploads) != 1 or isinstance(uploads[0], str):
            raise RequestError(400, f"expected exactly one 'image' file, got {len(uploads)}", param="image")
        try:
            image = await _in_thread(open_checked, await uploads[0].read())  # off the event loop, as chat's
        except ImageError as exc:
            raise RequestError(400, f"'image': {exc}", param="image") from None
        return image_reply(await watched(request, "edit", image, body.prompt, body.options(card, edit=True)), body)

    return app


def token_usage(answer) -> dict | None:
    """OpenAI's ``usage`` object for an ``understand`` answer: ``prompt_tokens`` (the ids the served model read:
    its chat template, the text and every image's tokens, as its own processor built them), ``completion_tokens``
    (the ids it generated, an end token included) and their sum ``total_tokens``, as the model counted them
    (``adapters.base.Reply``). None where it counted nothing (a remote card, an adapter answering a plain ``str``):
    the chat completion then has no ``usage`` (optional in OpenAI's reference, and None in the openai client's
    ``ChatCompletion``) rather than a false 0."""
    prompt, completion = getattr(answer, "prompt_tokens", None), getattr(answer, "completion_tokens", None)
    if not (isinstance(prompt, int) and isinstance(completion, int)):
        return None
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _events(reply: dict, usage: bool) -> list[str]:
    """A whole chat completion ``reply`` as OpenAI's stream of ``chat.completion.chunk`` events (server-sent
    events, ``data: {...}`` lines): the role and all the text in one delta, then an empty delta with the
    ``finish_reason``, then (``usage``: ``stream_options.include_usage``) a chunk with no choices and the usage
    (``null`` where the model counts none: the chunk's ``usage`` is nullable in OpenAI's reference), then
    ``data: [DONE]``. The model answers whole, so the text comes in one piece; a client reading the stream
    gets the same answer as without it."""
    head = {k: reply[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    choice = reply["choices"][0]
    chunks = [head | {"choices": [{"index": 0, "delta": choice["message"], "finish_reason": None}]},
              head | {"choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]}]
    if usage:
        chunks.append(head | {"choices": [], "usage": reply.get("usage")})
    return [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks] + ["data: [DONE]\n\n"]


async def _in_thread(fn, *args):
    """Model work blocks: keep it off the event loop so other requests (and /v1/models) stay answered."""
    import anyio.to_thread

    return await anyio.to_thread.run_sync(fn, *args)


def _flatten(messages: list[_Message]) -> tuple[list[str], list]:
    """All text and images of the conversation, in order, as one turn (the protocols send one turn)."""
    texts, images = [], []
    for i, message in enumerate(messages):
        for j, part in enumerate(message.content):
            if isinstance(part, _TextPart):
                texts.append(part.text)
                continue
            try:
                images.append(image_from_base64(part.image_url.url))
            except (ImageError, ValueError) as exc:
                where = f"messages[{i}].content[{j}].image_url.url"
                raise RequestError(400, f"{where}: {exc}", param=where) from None
    return texts, images


class BackgroundServer:
    """The server on a loopback port in a daemon thread (``port=0`` picks a free one)."""

    def __init__(self, app: FastAPI, port: int = 0) -> None:
        import uvicorn

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((LOOPBACK, port))
        self.socket.listen()  # the port is this server's from now on: a bound socket alone is not (SO_REUSEADDR);
        # a client that connects before ``__enter__`` waits in the backlog until the server starts
        self.port = self.socket.getsockname()[1]
        self.url = f"http://{LOOPBACK}:{self.port}/v1"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        while not self.server.started and self.thread.is_alive():
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()
