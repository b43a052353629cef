"""The cards that call OpenAI's own API (gpt-4.1, gpt-image-1 and the oracle pair's generate/edit half)
against a loopback stand-in that accepts exactly OpenAI's documented request shapes and answers its
documented reply and error shapes (platform.openai.com/docs/api-reference: chat/create, images/create,
images/createEdit):

- ``POST /v1/chat/completions``: JSON; ``max_completion_tokens`` (``max_tokens`` is deprecated), ``temperature``,
  ``seed``; images as ``image_url`` parts (a data URL or an https URL).
- ``POST /v1/images/generations``: JSON; GPT-Image-1 takes ``size`` 1024x1024, 1536x1024, 1024x1536 or ``auto``
  (the default) and always answers ``data[0].b64_json`` (``response_format`` is refused for it).
- ``POST /v1/images/edits``: multipart form with the ``image`` file part; the same ``size`` values, ``auto``
  by default, which picks the size whose aspect is nearest the input's.
- Errors: ``{"error": {"message", "type": "invalid_request_error", "param", "code"}}`` with HTTP 400.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import time

import pytest
import yaml
from PIL import Image

from realunify_arena.adapters import build_adapter
from realunify_arena.adapters.wire import png_base64
from realunify_arena.cards import MODELS_DIR, load_card, load_cards
from tests.stand_in import JSONHandler, serving

GPT_IMAGE_SIZES = {"1024x1024": (1024, 1024), "1536x1024": (1536, 1024), "1024x1536": (1024, 1536)}
CHAT_FIELDS = {"model", "messages", "max_completion_tokens", "max_tokens", "temperature", "seed", "n", "stream",
               "top_p", "user", "modalities"}
IMAGE_FIELDS = {"model", "prompt", "n", "size", "quality", "background", "output_format", "output_compression",
                "moderation", "user"}
LANDSCAPE = Image.new("RGB", (48, 32), (30, 120, 200))


def _auto(width: int, height: int) -> tuple[int, int]:
    """What ``size: auto`` makes for an input of ``width`` x ``height``: the aspect nearest the input's."""
    return min(GPT_IMAGE_SIZES.values(), key=lambda wh: abs(wh[0] / wh[1] - width / height))


class OpenAIStandIn(JSONHandler):
    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/v1/images/edits":
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + raw)
            fields = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
            body = {k: v.get_content() for k, v in fields.items() if k != "image"}
            body["image"] = fields["image"].get_content() if "image" in fields else None
        else:
            body = json.loads(raw)
        self.server.requests.append((self.path, body))
        if self.path == "/v1/chat/completions":
            return self._chat(body)
        if self.path in ("/v1/images/generations", "/v1/images/edits"):
            return self._image(body)
        self._error(404, f"Invalid URL (POST {self.path})")

    def _error(self, status: int, message: str, param: str | None = None) -> None:
        self.reply(status, {"error": {"message": message, "type": "invalid_request_error", "param": param,
                                      "code": None}})

    def _chat(self, body: dict) -> None:
        unknown = set(body) - CHAT_FIELDS
        if unknown:
            return self._error(400, f"Unrecognized request argument supplied: {sorted(unknown)[0]}")
        parts = body["messages"][0]["content"]
        images = [p for p in parts if p["type"] == "image_url"]
        if any(not p["image_url"]["url"].startswith(("data:image/", "https://")) for p in images):
            return self._error(400, "Invalid image URL", "messages")
        self.reply(200, {"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
                         "model": body["model"], "choices": [{"index": 0, "finish_reason": "stop", "message": {
                             "role": "assistant", "content": f"B ({len(images)} image(s))", "refusal": None}}],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    def _image(self, body: dict) -> None:
        unknown = set(body) - IMAGE_FIELDS - {"image"}
        if unknown:
            return self._error(400, f"Unknown parameter: '{sorted(unknown)[0]}'.", sorted(unknown)[0])
        size = body.get("size", "auto")
        if size != "auto" and size not in GPT_IMAGE_SIZES:
            return self._error(400, f"Invalid value: '{size}'. Supported values are: '1024x1024', '1024x1536', "
                                    "'1536x1024', and 'auto'.", "size")
        if body.get("image") is not None:
            source = Image.open(io.BytesIO(body["image"]))
            width, height = GPT_IMAGE_SIZES[size] if size != "auto" else _auto(*source.size)
        else:
            width, height = GPT_IMAGE_SIZES[size] if size != "auto" else (1024, 1024)
        self.reply(200, {"created": int(time.time()), "data": [
            {"b64_json": png_base64(Image.new("RGB", (width, height), (9, 9, 9)))}],
            "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}})


@pytest.fixture()
def openai_api(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-standin")
    with serving(OpenAIStandIn, requests=[]) as server:
        for name in ("gpt-4.1", "gpt-image-1", "gemini-2.5-pro", "oracle-und-gen"):
            raw = yaml.safe_load((MODELS_DIR / f"{name}.yaml").read_text())
            if raw.get("family") == "openai":
                raw["endpoint"] = f"{server.url}/v1"
            (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(raw))
        yield server, tmp_path


def test_gpt_4_1_answers_through_chat_with_openais_field_names(openai_api):
    server, folder = openai_api
    card = load_card(folder / "gpt-4.1.yaml")
    answer = build_adapter(card).understand([LANDSCAPE], "Which option?", card.defaults)
    assert answer == "B (1 image(s))"
    [(_, body)] = server.requests
    assert body["model"] == "gpt-4.1" and body["max_completion_tokens"] == card.defaults.max_new_tokens
    assert "max_tokens" not in body and body["temperature"] == 0.0 and body["seed"] == 0


def test_gpt_image_1_generates_at_the_cards_size_and_edits_keep_the_inputs_aspect(openai_api):
    server, folder = openai_api
    card = load_card(folder / "gpt-image-1.yaml")
    adapter = build_adapter(card)
    assert adapter.generate("a tiger", card.defaults).size == (1024, 1024)
    edited = adapter.edit(LANDSCAPE, "mark the path", card.defaults)
    assert edited.size == _auto(*LANDSCAPE.size) == (1536, 1024)  # not squashed into the card's 1024x1024
    (_, generation), (_, edit) = server.requests
    assert generation == {"model": "gpt-image-1", "prompt": "a tiger", "n": 1, "size": "1024x1024"}
    assert "size" not in edit and edit["model"] == "gpt-image-1" and edit["prompt"] == "mark the path"
    assert Image.open(io.BytesIO(edit["image"])).tobytes() == LANDSCAPE.tobytes()


def test_a_size_gpt_image_1_does_not_make_is_refused_with_openais_message(openai_api):
    server, folder = openai_api
    card = load_card(folder / "gpt-image-1.yaml")
    options = card.options(width=512, height=512)
    with pytest.raises(RuntimeError, match=r"gpt-image-1 at .*: HTTP 400: Invalid value: '512x512'. Supported values"):
        build_adapter(card).generate("a tiger", options)


def test_the_oracle_pair_edits_through_gpt_image_1_keeping_the_inputs_aspect(openai_api, monkeypatch):
    server, folder = openai_api
    monkeypatch.setenv("GEMINI_API_KEY", "unused-here")
    oracle = build_adapter(load_cards(folder)["oracle-und-gen"])
    edited = oracle.edit(LANDSCAPE, "mark the path", load_card(folder / "gpt-image-1.yaml").defaults)
    assert edited.size == (1536, 1024)
    [(path, body)] = server.requests
    assert path == "/v1/images/edits" and "size" not in body
