"""The HTTP and OpenAI-shape part shared by every model worker in this folder.

A worker runs inside one model's own environment and repository checkout (old Python, old torch, old
transformers), so this module uses the standard library only (``http.server``, ``json``, ``base64``,
``io``); PIL, which every model's own stack already has, is imported only where an image is decoded or
encoded. Nothing here imports ``realunify_arena``.

It serves the subset of the OpenAI API that realunify-arena's ``openai`` family speaks:

``GET /v1/models``
    the one served model, with its capabilities.
``POST /v1/chat/completions``
    understanding: the user message's ``text`` and ``image_url`` parts (``data:image/...;base64,`` URLs
    only: nothing is fetched) -> ``choices[0].message.content`` (a string). With ``modalities:
    ["image"]`` and one input image it is an edit (vLLM-Omni's chat dialect): the edited image comes back
    as ``message.content = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}]``.
``POST /v1/images/generations``
    generation: ``prompt`` (+ ``size``) -> ``{"created", "data": [{"b64_json"}]}``.

Settings: every capability has defaults (``Setting(value, source)``: the official value and where it
comes from). A request may override a default by its name (``seed``, ``guidance_scale``,
``num_inference_steps``, ``width``/``height`` or ``size``, ``max_new_tokens`` from ``max_completion_tokens``
or ``max_tokens``, ...); any other non-OpenAI field is refused with HTTP 400 naming the accepted ones, so a
misspelt option cannot pass silently. Errors use OpenAI's shape ``{"error": {"message", "type", "code"}}``.
Model calls are serialised (one GPU, one request at a time).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import math
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CAPABILITIES = ("understand", "generate", "edit")
# OpenAI fields that are understood without being settings (the client sends them)
_CHAT_FIELDS = {"model", "messages", "modalities", "n", "stream", "user"}
_IMAGE_FIELDS = {"model", "prompt", "n", "size", "response_format", "user"}
# OpenAI names that carry a setting under another name
_ALIASES = {"max_completion_tokens": "max_new_tokens", "max_tokens": "max_new_tokens"}
# Settings that count something (steps, tokens, beams, pixels): under 1 has no meaning (a diffusion loop of 0
# steps decodes its starting noise as the picture), so such a value is refused, never passed to the model
COUNTS = frozenset({"num_inference_steps", "max_new_tokens", "num_beams", "width", "height", "image_size",
                    "anchor_pixels"})
# A seed's range: numpy's ``np.random.seed`` (which several workers call beside ``torch.manual_seed``) takes 0 to
# 2**32 - 1 and raises for anything else, which reached the caller as a 500 "model failed"; the arena's own rule
# (``realunify_arena.limits.SEED_MAX``, not imported: a worker runs in the model's own environment)
SEED_MAX = 2**32 - 1
MAX_BODY_BYTES = 64 * 1024 * 1024
READ_TIMEOUT_S = 30.0  # a client that stops sending mid-request is dropped after this long (socket timeout)


class Setting:
    """An official default value and its source (repository@commit, file, argument or line)."""

    def __init__(self, value, source: str) -> None:
        self.value, self.source = value, source

    def __repr__(self) -> str:
        return f"Setting({self.value!r}, {self.source!r})"


class RequestError(Exception):
    def __init__(self, status: int, message: str, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def decode_image(data_url: str, where: str):
    """A ``data:image/...;base64,`` URL -> RGB PIL image; RequestError(400) naming ``where`` otherwise."""
    if not isinstance(data_url, str) or not data_url.startswith("data:image/") or "," not in data_url:
        raise RequestError(400, f"{where}: only data:image/...;base64 URLs are accepted (nothing is fetched)")
    try:
        raw = base64.b64decode(data_url.partition(",")[2], validate=True)
        from PIL import Image

        image = Image.open(io.BytesIO(raw))
        image.load()
        return image.convert("RGB")
    except Exception as exc:  # binascii.Error, PIL.UnidentifiedImageError, truncated data ...
        raise RequestError(400, f"{where}: not a readable image ({type(exc).__name__}: {exc})") from None


def encode_png(image) -> str:
    """A PIL image -> base64 PNG text."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class Worker:
    """One model behind the OpenAI subset above.

    ``backend`` has ``understand(images, question, **settings) -> str``, ``generate(prompt, **settings)
    -> PIL image`` and ``edit(image, instruction, **settings) -> PIL image`` for the capabilities in
    ``defaults`` (capability -> {setting name: Setting}); the settings it receives are exactly the
    capability's defaults with the request's overrides applied.
    """

    def __init__(self, name: str, backend, defaults: dict) -> None:
        unknown = set(defaults) - set(CAPABILITIES)
        if unknown:
            raise ValueError(f"unknown capabilities {sorted(unknown)}; expected some of {list(CAPABILITIES)}")
        self.name, self.backend, self.defaults = name, backend, defaults
        self.lock = threading.Lock()

    @property
    def capabilities(self) -> list[str]:
        return sorted(self.defaults)

    def settings(self, capability: str, body: dict, known: set) -> dict:
        """The capability's defaults with the request's values applied; unknown fields -> 400."""
        if capability not in self.defaults:
            raise RequestError(400, f"{self.name} cannot {capability} (the paper lists no such capability for it)",
                               "not_supported")
        defaults = self.defaults[capability]
        values = {name: setting.value for name, setting in defaults.items()}
        size = body.get("size")
        if size not in (None, "auto"):
            width, _, height = str(size).partition("x")
            if not (width.isdigit() and height.isdigit()):
                raise RequestError(400, f"'size' must look like 1024x1024, got {size!r}")
            body = {**body, "width": int(width), "height": int(height)}
        from_size = {"width", "height"} if size not in (None, "auto") else set()
        for key, value in body.items():
            if key in known or key == "size":
                continue
            sent = "size" if key in from_size else key  # a refusal names the field the request sent
            name = _ALIASES.get(key, key)
            if name not in defaults:
                if key in _ALIASES or key in ("temperature", "seed"):
                    continue  # an OpenAI field this model has no setting for: the official value stays
                accepted = sorted(set(defaults) | (set(_ALIASES) if "max_new_tokens" in defaults else set()))
                raise RequestError(400, f"'{sent}' is not a setting of {self.name} {capability}; accepted: {accepted}")
            values[name] = _typed(name, value, defaults[name].value, sent=sent)
        return values

    def call(self, method: str, *args, **settings):
        with self.lock:
            return getattr(self.backend, method)(*args, **settings)


def _typed(name: str, value, default, sent: str | None = None):
    """``value`` for setting ``name`` checked against the default's type (bool, int, float, str, list), a number
    finite (Python's JSON reader takes ``NaN`` and ``Infinity``, which JSON itself has not: RFC 8259 section 6)
    and a count (``COUNTS``) at least 1; RequestError(400) naming the field as the request sent it (``sent``,
    e.g. ``max_tokens`` for ``max_new_tokens``) otherwise."""
    said, kind = sent or name, type(default)
    if default is None or isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        checked = value
    elif kind is float and isinstance(value, int) and not isinstance(value, bool):
        checked = float(value)
    elif kind is int and isinstance(value, float) and value.is_integer():
        checked = int(value)
    else:
        raise RequestError(400, f"'{said}' must be {kind.__name__}, got {value!r}")
    if isinstance(checked, float) and not math.isfinite(checked):
        raise RequestError(400, f"'{said}' must be a finite number, got {value!r}")
    if name in COUNTS and isinstance(checked, int) and not isinstance(checked, bool) and checked < 1:
        raise RequestError(400, f"'{said}' must be at least 1, got {value!r}")
    if name == "seed" and isinstance(checked, int) and not 0 <= checked <= SEED_MAX:
        raise RequestError(400, f"'{said}' must be a whole number from 0 to {SEED_MAX}, got {value!r}")
    return checked


def _messages(messages) -> tuple[list[str], list]:
    """All text and images of the conversation, in order (the arena sends one user turn)."""
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
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "image_url" and isinstance(part.get("image_url"), dict):
                images.append(decode_image(part["image_url"].get("url"), where))
            else:
                raise RequestError(400, f"{where}: expected a text or image_url part, got {kind!r}")
    return texts, images


def handle(worker: Worker, method: str, path: str, body: dict | None) -> tuple[int, dict]:
    """One request -> (HTTP status, JSON body). Pure apart from the model call, so it is easy to test."""
    try:
        if method == "GET" and path == "/v1/models":
            return 200, {"object": "list", "data": [{"id": worker.name, "object": "model", "created": 0,
                                                     "owned_by": "worker", "capabilities": worker.capabilities}]}
        if method != "POST" or path not in ("/v1/chat/completions", "/v1/images/generations"):
            raise RequestError(404, f"no route {method} {path}; this worker serves GET /v1/models, "
                                    "POST /v1/chat/completions and POST /v1/images/generations", "not_found")
        if not isinstance(body, dict):
            raise RequestError(400, "the request body must be a JSON object")
        if body.get("model") not in (None, worker.name):
            raise RequestError(404, f"model {body.get('model')!r} is not served here; this worker serves "
                                    f"{worker.name!r}", "model_not_found")
        n = body.get("n")
        if n is not None and (type(n) is not int or n != 1):  # OpenAI refuses 0 and true; only one is served
            raise RequestError(400, f"'n': only n=1 is supported, got {n!r}")
        if body.get("stream") not in (None, False):
            raise RequestError(400, f"'stream': only stream=false is supported, got {body.get('stream')!r}")
        if path == "/v1/images/generations":
            return 200, _generation(worker, body)
        return 200, _chat(worker, body)
    except RequestError as exc:
        return exc.status, {"error": {"message": exc.message, "type": "invalid_request_error", "code": exc.code}}
    except Exception as exc:  # the model failed: say so, keep serving
        traceback.print_exc()
        return 500, {"error": {"message": f"{worker.name} failed: {type(exc).__name__}: {exc}",
                               "type": "server_error", "code": "model_error"}}


def _generation(worker: Worker, body: dict) -> dict:
    if body.get("response_format") not in (None, "b64_json"):
        raise RequestError(400, "only response_format=b64_json is supported; this worker never hosts files")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise RequestError(400, f"'prompt' must be a non-empty string, got {prompt!r}")
    settings = worker.settings("generate", body, _IMAGE_FIELDS)
    image = worker.call("generate", prompt, **settings)
    return {"created": int(time.time()), "data": [{"b64_json": encode_png(image), "revised_prompt": None}]}


def _chat(worker: Worker, body: dict) -> dict:
    texts, images = _messages(body.get("messages"))
    modalities = body.get("modalities") or ["text"]
    if modalities == ["image"]:
        if len(images) != 1:
            raise RequestError(400, f"an edit needs exactly one input image, got {len(images)}")
        settings = worker.settings("edit", body, _CHAT_FIELDS)
        image = worker.call("edit", images[0], "\n".join(texts), **settings)
        content = [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{encode_png(image)}"}}]
    elif modalities == ["text"]:
        settings = worker.settings("understand", body, _CHAT_FIELDS)
        content = worker.call("understand", images, "\n".join(texts), **settings)
        if not isinstance(content, str):
            raise TypeError(f"understand returned {type(content).__name__}, expected str")
    else:
        raise RequestError(400, f"'modalities' must be [\"text\"] or [\"image\"], got {modalities!r}")
    # no ``usage``: the worker's model code counts no tokens, and the field is optional in OpenAI's reference
    # (a false 0 would read as a count)
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": worker.name, "choices": [{"index": 0, "finish_reason": "stop",
                                               "message": {"role": "assistant", "content": content}}]}


class _Handler(BaseHTTPRequestHandler):
    worker: Worker  # set on the subclass made by make_server
    # socketserver sets this on the connection: a body shorter than its Content-Length (or a client that
    # goes quiet) ends the request instead of holding a worker thread forever
    timeout = READ_TIMEOUT_S

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send(*handle(self.worker, "GET", self.path, None))

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:  # int() accepts "-1": rfile.read(-1) would wait for the client to close
            return self._send(400, {"error": {"message": "Content-Length must be a whole number of bytes",
                                              "type": "invalid_request_error", "code": "invalid_request"}})
        if length > MAX_BODY_BYTES:
            return self._send(413, {"error": {"message": f"body over {MAX_BODY_BYTES} bytes",
                                              "type": "invalid_request_error", "code": "too_large"}})
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deeply to read
            return self._send(400, {"error": {"message": "the request body is not valid JSON",
                                              "type": "invalid_request_error", "code": "invalid_json"}})
        self._send(*handle(self.worker, "POST", self.path, body))

    def log_message(self, fmt: str, *args) -> None:
        sys.stderr.write(f"[{self.worker.name}] {fmt % args}\n")


def make_server(worker: Worker, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A threaded HTTP server for ``worker`` (``port=0`` picks a free one: see ``server.server_address``)."""
    handler = type("WorkerHandler", (_Handler,), {"worker": worker})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def arguments(description: str, checkpoint, port: int) -> argparse.ArgumentParser:
    """The options every worker takes; a worker adds its own (extra weights, config files).
    ``checkpoint=None`` makes ``--checkpoint`` required."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--checkpoint", default=checkpoint, required=checkpoint is None,
                        help=f"weights: hub id or folder (default {checkpoint})")
    parser.add_argument("--repo", default=".", help="the model's repository checkout (default: the current folder)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    parser.add_argument("--port", type=int, default=port, help=f"port (default {port})")
    parser.add_argument("--device", default="cuda", help="torch device (default cuda)")
    return parser


def run(worker: Worker, host: str, port: int) -> None:
    """Serve until interrupted; prints the base URL the card's ``endpoint`` should hold."""
    server = make_server(worker, host, port)
    print(f"serving {worker.name} ({', '.join(worker.capabilities)}) at "
          f"http://{server.server_address[0]}:{server.server_address[1]}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def add_repo_to_path(repo: str) -> None:
    """Make the model's own packages importable (a worker is started by path, from anywhere)."""
    import os

    path = os.path.abspath(repo)
    if path not in sys.path:
        sys.path.insert(0, path)
