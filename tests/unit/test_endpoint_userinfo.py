"""A card's ``endpoint`` with user information (``http://alice:PASSWORD@host/v1``) is refused, never sent.

Measured before (cred32), against the loopback server below: a card file ``family: openai`` with that endpoint
and ``api_key_env`` loaded, and its run sent ``Authorization: Basic base64(alice:PASSWORD)`` (RFC 7617) in
place of ``Bearer <key>``: the key never reached the endpoint and the password travelled in every request (the
HTTP client, httpx, turns a URL's user information into Basic auth). RFC 3986 section 3.2.1 deprecates
``user:password`` in a URL; the key belongs in the environment variable the card's ``api_key_env`` names.
The same held for the base URLs the clients read from the environment: ``$GOOGLE_GEMINI_BASE_URL`` (a gemini
card without ``endpoint``) and ``$HF_ENDPOINT`` (the hub probe and huggingface_hub, whose ``Bearer $HF_TOKEN``
the Basic credential replaced).

Expected values come from the server's side (what it received) and from RFC 7617's rule for the Basic
credential, computed here; the adapters, their SDK clients and the server are real.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from realunify_arena.adapters import ModelUnavailable, build_adapter
from realunify_arena.adapters.base import Capability, GenerationOptions
from realunify_arena.cards import CardError, ModelCard, load_card, load_cards
from tests.stand_in import JSONHandler, serving

PASSWORD = "pw-s3cret-77"
BASIC = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()  # RFC 7617 section 2: user-id ":" password
KEY = "sk-cred32-key-0123456789"
KEY_ENV = "CRED32_ENDPOINT_KEY"
FAMILIES = ["openai", "gemini"]
ROOT = Path(__file__).resolve().parents[2]


class Recorder(JSONHandler):
    """Answers an OpenAI chat completion or a Gemini generateContent with "ok"; ``server.seen`` records each
    request's path and credential headers."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.seen.append({"path": self.path, "authorization": self.headers.get("Authorization"),
                                 "goog": self.headers.get("x-goog-api-key")})
        if ":generateContent" in self.path:
            return self.reply(200, {"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]},
                                                    "finishReason": "STOP"}]})
        self.reply(200, {"id": "c", "object": "chat.completion", "created": 0, "model": "m",
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": "ok"}}]})


def _card_file(folder, family: str, endpoint: str):
    path = folder / f"remote-{family}.yaml"
    path.write_text(json.dumps({"family": family, "description": "loopback recorder (test only)",
                                "capabilities": ["understand"], "checkpoint": "m", "endpoint": endpoint,
                                "api_key_env": KEY_ENV, "params": {"timeout_s": 30}}))
    return path


def _ask(card: ModelCard) -> str:
    return build_adapter(card, "cpu").understand([Image.new("RGB", (16, 16))], "hi", GenerationOptions())


def _refusal(make_card) -> CardError | None:
    """The ``CardError`` that building the card raised, or None once it was built and asked."""
    try:
        _ask(make_card())
    except CardError as exc:
        return exc
    return None


def _unquoted(message: str) -> None:
    for secret in (PASSWORD, BASIC, "alice"):
        assert secret not in message, message


@pytest.mark.parametrize("family", FAMILIES)
def test_a_card_file_whose_endpoint_holds_a_password_is_refused_naming_file_field_and_the_fix(
        tmp_path, monkeypatch, family):
    monkeypatch.setenv(KEY_ENV, KEY)
    with serving(Recorder, seen=[]) as server:
        path = _card_file(tmp_path, family, server.url.replace("http://", f"http://alice:{PASSWORD}@") + "/v1")
        refused = _refusal(lambda: load_card(path))
        problems: list[CardError] = []
        loaded = load_cards(tmp_path, problems)
    # first what the endpoint received: before cred32, Authorization: Basic BASIC and no Bearer key
    assert server.seen == [], f"sent {server.seen}; Basic of alice:PASSWORD (RFC 7617) is {BASIC}"
    assert refused is not None and loaded == {}  # the folder's readers leave the card out, saying why
    message = str(refused)
    assert message.startswith(f"{path}: field 'endpoint': "), message
    assert "user information" in message and "RFC 3986 section 3.2.1" in message and "api_key_env" in message
    _unquoted(message)
    assert [str(p) for p in problems] == [message]
    assert server.seen == []  # nothing was sent: no Basic credential, no password on the wire


@pytest.mark.parametrize("endpoint", ["http://alice:{pw}@{host}/v1", "http://alice@{host}/v1"],
                         ids=["user-and-password", "user-alone"])
@pytest.mark.parametrize("family", FAMILIES)
def test_a_card_built_in_code_with_user_information_sends_nothing(monkeypatch, family, endpoint):
    """Every HTTP client of a card starts from a ``ModelCard``: one built in code (or by ``dataclasses.replace``)
    is held to the same rule; a user name alone would still replace the key with ``Basic base64(alice:)``."""
    monkeypatch.setenv(KEY_ENV, KEY)
    with serving(Recorder, seen=[]) as server:
        url = endpoint.format(pw=PASSWORD, host=server.url.removeprefix("http://"))
        refused = _refusal(lambda: ModelCard(
            name=f"coded-{family}", family=family, description="d", capabilities=frozenset({Capability.UNDERSTAND}),
            checkpoints={"understand": "m"}, endpoint=url, api_key_env=KEY_ENV, params={"timeout_s": 30}))
    assert server.seen == [], f"sent {server.seen}; Basic of alice:PASSWORD (RFC 7617) is {BASIC}"
    assert refused is not None
    message = str(refused)
    assert message.startswith(f"models/coded-{family}.yaml: field 'endpoint': "), message
    assert f"${KEY_ENV}" in message
    _unquoted(message)
    assert server.seen == []


@pytest.mark.parametrize("family", FAMILIES)
def test_the_fix_the_message_names_sends_the_key_and_no_basic_credential(tmp_path, monkeypatch, family):
    """The endpoint without user information and the secret in ``$api_key_env``: the endpoint gets the key
    (``Bearer`` for OpenAI, ``x-goog-api-key`` for Gemini) and no ``Basic`` credential."""
    monkeypatch.setenv(KEY_ENV, KEY)
    with serving(Recorder, seen=[]) as server:
        base = f"{server.url}/v1" if family == "openai" else server.url  # google-genai adds its API version
        assert _ask(load_card(_card_file(tmp_path, family, base))) == "ok"
    (seen,) = server.seen
    if family == "openai":
        assert seen["authorization"] == f"Bearer {KEY}"
    else:
        assert seen["goog"] == KEY and seen["authorization"] is None


def test_a_gemini_card_without_endpoint_refuses_a_password_in_its_base_url_variable(monkeypatch):
    """Without ``endpoint`` google-genai takes its base URL from ``$GOOGLE_GEMINI_BASE_URL``: the same Basic
    credential went out from there (measured before cred32: ``Basic BASIC`` beside the key)."""
    monkeypatch.setenv(KEY_ENV, KEY)
    with serving(Recorder, seen=[]) as server:
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", server.url.replace("http://", f"http://alice:{PASSWORD}@"))
        card = ModelCard(name="env-gemini", family="gemini", description="d", api_key_env=KEY_ENV,
                         capabilities=frozenset({Capability.UNDERSTAND}), checkpoints={"understand": "m"},
                         params={"timeout_s": 30, "attempts": 1})
        try:
            _ask(card)
            refused = None
        except ModelUnavailable as exc:
            refused = exc
    assert server.seen == [], f"sent {server.seen}; Basic of alice:PASSWORD (RFC 7617) is {BASIC}"
    assert refused is not None
    message = str(refused)
    assert message.startswith("env-gemini: $GOOGLE_GEMINI_BASE_URL: ") and "user information" in message, message
    _unquoted(message)


class HubRecorder(JSONHandler):
    """A hub that records each request's method, path and Authorization, and knows no model (404)."""

    def _record(self) -> None:
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization")))
        self.reply(404, {"error": "not found"})

    do_GET = do_HEAD = do_POST = _record


def test_the_models_command_refuses_hf_endpoint_with_a_password_before_asking_the_hub(tmp_path):
    """``$HF_ENDPOINT`` is read by huggingface_hub at import, so the command runs in its own process, as a user
    runs it. Before cred32 its hub probe sent ``Basic BASIC`` in place of ``Bearer $HF_TOKEN``."""
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "far-janus.yaml").write_text("family: janus\ndescription: d\ncapabilities: [understand]\n"
                                          "checkpoint: someone/not-cached-janus\n")
    with serving(HubRecorder, seen=[]) as server:
        env = {**os.environ, "HF_ENDPOINT": server.url.replace("http://", f"http://alice:{PASSWORD}@"),
               "HF_HUB_OFFLINE": "0", "HF_TOKEN": "hf_cred32token0123456789", "HF_HOME": str(tmp_path / "hf"),
               "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-m", "realunify_arena", "models", "--models-dir", str(cards)],
                              env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert server.seen == [], f"sent {server.seen}; Basic of alice:PASSWORD (RFC 7617) is {BASIC}"
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("models: error: $HF_ENDPOINT: ") and "HF_TOKEN" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    _unquoted(done.stdout + done.stderr)
