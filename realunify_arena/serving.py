"""An OpenAI-compatible HTTP server over any model card, on loopback only.

Lets one process per GPU or per library stack serve a model that the app then reaches through the
``openai`` family: chat completions with image input (understand), image generations (generate) and
image edits (edit). Besides the OpenAI fields it reads ``seed``, ``guidance_scale`` and
``num_inference_steps``, so recorded generation options mean the same thing remotely.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from realunify_arena.adapters.base import Capability, GenerationOptions, NotSupported
from realunify_arena.adapters.wire import image_from_base64, png_base64
from realunify_arena.benchmark.images import ImageError, open_checked
from realunify_arena.runtime import ModelPool

LOOPBACK = "127.0.0.1"


class RequestError(Exception):
    def __init__(self, status: int, message: str, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def _error(status: int, message: str, code: str) -> JSONResponse:
    """The OpenAI error shape, which the openai client turns into its typed exceptions."""
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error", "code": code}}, status)


def _number(body: dict, key: str, kind: type) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RequestError(400, f"'{key}' must be a number, got {value!r}")
    try:
        return kind(value)
    except ValueError:
        raise RequestError(400, f"'{key}' must be a number, got {value!r}") from None


def _size(body: dict) -> dict:
    size = body.get("size")
    if size in (None, "auto"):
        return {}
    width, _, height = str(size).partition("x")
    if not (width.isdigit() and height.isdigit()):
        raise RequestError(400, f"'size' must look like 512x512, got {size!r}")
    return {"width": int(width), "height": int(height)}


def create_app(pool: ModelPool, name: str) -> FastAPI:
    """Serve card ``name`` from ``pool`` under ``/v1``."""
    card = pool.cards[name]
    app = FastAPI(title=f"realunify-arena: {name}")

    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.code)

    @app.exception_handler(Exception)
    async def model_error(request: Request, exc: Exception) -> JSONResponse:
        return _error(500, f"{name} failed: {type(exc).__name__}: {exc}", "model_error")

    def options(body: dict) -> GenerationOptions:
        fields = {"seed": _number(body, "seed", int),
                  "guidance": _number(body, "guidance_scale", float),
                  "steps": _number(body, "num_inference_steps", int),
                  "temperature": _number(body, "temperature", float),
                  "max_new_tokens": _number(body, "max_completion_tokens", int) or _number(body, "max_tokens", int)}
        return card.options(**{k: v for k, v in fields.items() if v is not None}, **_size(body))

    def check(body: dict, capability: Capability) -> None:
        if body.get("model") not in (None, name):
            raise RequestError(404, f"model {body.get('model')!r} is not served here; this server serves {name!r}",
                               "model_not_found")
        if capability not in card.capabilities:
            raise RequestError(400, f"{name} cannot {capability.value} (not declared on its card)", "not_supported")
        if (_number(body, "n", int) or 1) != 1:
            raise RequestError(400, "only n=1 is supported")
        if body.get("response_format") not in (None, "b64_json"):
            raise RequestError(400, "only response_format=b64_json is supported; this server never hosts files")

    def run(method: str, *args: Any) -> Any:
        try:
            return pool.run(name, lambda adapter: getattr(adapter, method)(*args))
        except NotSupported as exc:
            raise RequestError(400, str(exc), "not_supported") from exc

    def image_reply(image) -> dict:
        return {"created": int(time.time()), "data": [{"b64_json": png_base64(image)}]}

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "realunify-arena",
                                            "capabilities": sorted(c.value for c in card.capabilities)}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict:
        body = await _json(request)
        check(body, Capability.UNDERSTAND)
        texts, images = _flatten(body.get("messages"))
        answer = await _in_thread(run, "understand", images, "\n".join(texts), options(body))
        return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                "model": name, "choices": [{"index": 0, "finish_reason": "stop",
                                            "message": {"role": "assistant", "content": answer}}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}

    @app.post("/v1/images/generations")
    async def generations(request: Request) -> dict:
        body = await _json(request)
        check(body, Capability.GENERATE)
        prompt = _prompt(body)
        return image_reply(await _in_thread(run, "generate", prompt, options(body)))

    @app.post("/v1/images/edits")
    async def edits(request: Request) -> dict:
        form = await request.form()
        body = {k: v for k, v in form.items() if isinstance(v, str)}
        check(body, Capability.EDIT)
        uploads = form.getlist("image") or form.getlist("image[]")
        if len(uploads) != 1 or isinstance(uploads[0], str):
            raise RequestError(400, f"expected exactly one 'image' file, got {len(uploads)}")
        try:
            image = open_checked(await uploads[0].read())
        except ImageError as exc:
            raise RequestError(400, f"'image': {exc}") from None
        return image_reply(await _in_thread(run, "edit", image, _prompt(body), options(body)))

    return app


async def _json(request: Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        raise RequestError(400, "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    return body


async def _in_thread(fn, *args):
    """Model work blocks: keep it off the event loop so other requests (and /v1/models) stay answered."""
    import anyio.to_thread

    return await anyio.to_thread.run_sync(fn, *args)


def _prompt(body: dict) -> str:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise RequestError(400, f"'prompt' must be a non-empty string, got {prompt!r}")
    return prompt


def _flatten(messages: Any) -> tuple[list[str], list]:
    """All text and images of the conversation, in order, as one turn (the protocols send one turn)."""
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "'messages' must be a non-empty list")
    texts, images = [], []
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(parts, list):
            raise RequestError(400, f"messages[{i}].content must be a string or a list of parts")
        for j, part in enumerate(parts):
            where = f"messages[{i}].content[{j}]"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                texts.append(str(part.get("text", "")))
            elif kind == "image_url":
                url = (part.get("image_url") or {}).get("url", "")
                if not url.startswith("data:image/"):
                    raise RequestError(400, f"{where}: only data:image/... URLs are accepted (nothing is fetched)")
                try:
                    images.append(image_from_base64(url))
                except (ImageError, ValueError) as exc:
                    raise RequestError(400, f"{where}: {exc}") from None
            else:
                raise RequestError(400, f"{where}: unsupported part type {kind!r}; expected text or image_url")
    return texts, images


class BackgroundServer:
    """The server on a loopback port in a daemon thread (``port=0`` picks a free one)."""

    def __init__(self, app: FastAPI, port: int = 0) -> None:
        import uvicorn

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((LOOPBACK, port))
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
