"""The gemini adapter (real google-genai client) against a local stand-in that speaks the Gemini REST shapes.

``GeminiStandIn`` is not Gemini: it answers ``POST /v1beta/models/{model}:generateContent`` the way the
public API does (camelCase JSON, inline base64 images, the ``{"error": {...}}`` shape), records each
request for the assertions, and can be told to fail or to stall.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
from pathlib import Path

import pytest
from PIL import Image
from stand_in import JSONHandler, private_ca, serving

from realunify_arena.adapters import ModelUnavailable, build_adapter
from realunify_arena.adapters.wire import png_base64
from realunify_arena.cards import load_card

KEY = "stand-in-key-0123456789"
# a stalled stand-in answers after STALL_S; the card's 1 s timeout ends the request well within TIMED_OUT_S even on
# a loaded 2-core machine, and a client without it waits out the whole stall
STALL_S = 30
TIMED_OUT_S = 10


class GeminiStandIn(JSONHandler):
    """Its server's ``requests`` records each request; its ``mode`` is ok | error | quote_key | stall | no_image."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"path": self.path, "key": self.headers.get("x-goog-api-key"), "body": body})
        mode = self.server.mode
        if mode == "stall":
            time.sleep(STALL_S)
            return
        if mode == "error":
            return self.reply(400, {"error": {"code": 400, "message": "Request contains an invalid argument.",
                                               "status": "INVALID_ARGUMENT"}})
        if mode == "quote_key":  # a proxy that echoes the request's key in its error
            return self.reply(403, {"error": {"code": 403, "status": "PERMISSION_DENIED",
                                               "message": f"key {self.headers.get('x-goog-api-key')} is not allowed"}})
        modalities = body.get("generationConfig", {}).get("responseModalities", [])
        if "IMAGE" in modalities and mode != "no_image":
            picture = Image.new("RGB", (24, 16), (10, 200, 30))
            parts = [{"text": "Here it is."}, {"inlineData": {"mimeType": "image/png", "data": png_base64(picture)}}]
        else:
            images = sum("inlineData" in p for c in body["contents"] for p in c["parts"])
            parts = [{"text": f"B (saw {images} image)"}]
        self.reply(200, {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
                          "modelVersion": self.path.split("/")[-1].split(":")[0]})


@pytest.fixture()
def stand_in():
    with serving(GeminiStandIn, requests=[], mode="ok") as server:
        yield server


def _card(tmp_path: Path, stand_in, **params):
    path = tmp_path / "stand-in-gemini.yaml"
    path.write_text(json.dumps({
        "family": "gemini", "description": "Gemini REST stand-in (test only)", "endpoint": stand_in.url,
        "api_key_env": "STAND_IN_GEMINI_KEY", "capabilities": ["understand", "generate", "edit"],
        "checkpoints": {"understand": "gemini-2.5-pro", "generate": "gemini-2.5-flash-image",
                        "edit": "gemini-2.5-flash-image"},
        "params": {"attempts": 1, **params}}))
    return load_card(path)


@pytest.fixture()
def adapter(tmp_path, stand_in, monkeypatch):
    monkeypatch.setenv("STAND_IN_GEMINI_KEY", KEY)
    return build_adapter(_card(tmp_path, stand_in, timeout_s=1))


def _inline_images(request: dict) -> list[Image.Image]:
    # the client sends url-safe base64; urlsafe_b64decode reads both alphabets, as the real API does
    return [Image.open(io.BytesIO(base64.urlsafe_b64decode(p["inlineData"]["data"])))
            for c in request["body"]["contents"] for p in c["parts"] if "inlineData" in p]


def test_understand_sends_the_image_inline_and_the_key_in_a_header(adapter, stand_in):
    source = Image.new("RGB", (30, 20), (255, 0, 0))
    answer = adapter.understand([source], "Which option?", adapter.card.defaults)
    assert answer == "B (saw 1 image)"
    request = stand_in.requests[-1]
    assert request["path"].endswith("/models/gemini-2.5-pro:generateContent")
    assert request["key"] == KEY
    assert KEY not in json.dumps(request["body"])
    texts = [p["text"] for c in request["body"]["contents"] for p in c["parts"] if "text" in p]
    assert texts == ["Which option?"]
    [sent] = _inline_images(request)
    assert sent.size == (30, 20) and sent.getpixel((0, 0)) == (255, 0, 0)
    assert "maxOutputTokens" not in request["body"].get("generationConfig", {})


def test_generate_and_edit_return_the_inline_image(adapter, stand_in):
    image = adapter.generate("a green square", adapter.card.defaults)
    assert image.size == (24, 16) and image.getpixel((1, 1)) == (10, 200, 30)
    assert stand_in.requests[-1]["path"].endswith("/models/gemini-2.5-flash-image:generateContent")
    assert _inline_images(stand_in.requests[-1]) == []
    edited = adapter.edit(Image.new("RGB", (8, 8)), "make it green", adapter.card.defaults)
    assert edited.size == (24, 16)
    assert [im.size for im in _inline_images(stand_in.requests[-1])] == [(8, 8)]


def test_http_error_names_the_card_and_status_but_never_the_key(adapter, stand_in):
    stand_in.mode = "error"
    with pytest.raises(RuntimeError, match="stand-in-gemini: HTTP 400 INVALID_ARGUMENT: Request contains") as info:
        adapter.understand([], "hello", adapter.card.defaults)
    assert KEY not in str(info.value)


def test_a_key_quoted_back_by_the_server_is_taken_out_of_the_error(adapter, stand_in):
    stand_in.mode = "quote_key"
    with pytest.raises(RuntimeError, match=r"HTTP 403 PERMISSION_DENIED: key \*\*\* is not allowed") as info:
        adapter.understand([], "hello", adapter.card.defaults)
    assert KEY not in str(info.value)


def test_a_stalled_endpoint_times_out_with_a_clear_error(adapter, stand_in):
    stand_in.mode = "stall"
    start = time.perf_counter()
    with pytest.raises(TimeoutError, match=r"stand-in-gemini: no answer after (\d+\.\d) s \(1 attempt; deadline 1 s\)") as late:
        adapter.generate("a green square", adapter.card.defaults)
    measured = time.perf_counter() - start
    assert 1.0 <= float(re.search(r"after (\d+\.\d) s", str(late.value)).group(1)) <= measured + 0.05
    assert measured < TIMED_OUT_S  # the 1 s timeout, one attempt, not the stand-in's stall


def test_a_reply_without_an_image_is_an_error_that_quotes_the_text(adapter, stand_in):
    stand_in.mode = "no_image"
    with pytest.raises(RuntimeError, match="no image.*STOP"):
        adapter.generate("a green square", adapter.card.defaults)


def test_missing_key_is_reported_as_unavailable(tmp_path, stand_in, monkeypatch):
    monkeypatch.delenv("STAND_IN_GEMINI_KEY", raising=False)
    with pytest.raises(ModelUnavailable, match="STAND_IN_GEMINI_KEY is unset"):
        build_adapter(_card(tmp_path, stand_in))


def test_unreachable_endpoint_is_reported_as_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("STAND_IN_GEMINI_KEY", KEY)
    with serving(GeminiStandIn) as closed:
        pass  # on leaving, the port is free again: nothing listens there
    adapter = build_adapter(_card(tmp_path, closed, timeout_s=1))
    with pytest.raises(ModelUnavailable, match="not answering"):
        adapter.understand([], "hello", adapter.card.defaults)


def test_an_https_endpoint_uses_the_ca_in_requests_ca_bundle_and_names_an_untrusted_certificate(tmp_path,
                                                                                                monkeypatch):
    """The stand-in behind HTTPS with a private CA's certificate: trusted through REQUESTS_CA_BUNDLE (before:
    ignored), and without it the error says the certificate could not be verified (before: "not answering")."""
    ca = private_ca(tmp_path)
    monkeypatch.setenv("STAND_IN_GEMINI_KEY", KEY)
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    with serving(GeminiStandIn, tls=ca, requests=[], mode="ok") as server:
        card = _card(tmp_path, server, timeout_s=10, attempts=3)
        with pytest.raises(ModelUnavailable) as refused:
            build_adapter(card).understand([], "hello", card.defaults)
        assert str(refused.value) == (
            f"stand-in-gemini: endpoint {server.url}: the TLS certificate could not be verified (unable to get local "
            "issuer certificate); to trust the CA that signed it, set SSL_CERT_FILE, REQUESTS_CA_BUNDLE or "
            "CURL_CA_BUNDLE to a CA file or folder")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.ca))
        assert build_adapter(card).understand([], "hello", card.defaults) == "B (saw 0 image)"
        assert len(server.requests) == 1
