"""Which failed remote requests are sent again, against the real ``openai`` and ``gemini`` adapters and a loopback
server that counts the requests it gets.

The rule comes from outside the project: RFC 9110 section 9.2.2 (a client SHOULD NOT automatically retry a
non-idempotent request, a POST, unless it knows the request was never applied); section 15 for what each status
means (408, 409, 429 and 503 refuse a request before doing it; a 500 is the server failing while doing it, which
vLLM-Omni answers for any exception of its pipeline; a 502/504 comes from a gateway whose upstream may still be
working on it); and the openai client's ``x-should-retry`` header (``_base_client._should_retry``), the server's
own word, obeyed either way. Gemini keeps its own client library's rule (google-genai retries 500/502/504 too:
a 500 there is the service's passing fault). Before: every 5xx and every dropped connection was sent twice more, so one BAGEL
generation that failed after its 50 steps ran three times (and a paid API billed three).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest

from realunify_arena.adapters import ModelUnavailable, build_adapter
from realunify_arena.adapters.wire import never_sent
from realunify_arena.cards import load_card
from tests.stand_in import JSONHandler, serving

KEY_ENV = "RETRY23_TEST_KEY"
ANSWERS = {"openai": {"id": "c", "object": "chat.completion", "created": 0, "model": "m",
                      "choices": [{"index": 0, "finish_reason": "stop",
                                   "message": {"role": "assistant", "content": "fine"}}]},
           "gemini": {"candidates": [{"content": {"role": "model", "parts": [{"text": "fine"}]}}]}}


class Counting(JSONHandler):
    """Answers the n-th request (from 0) with ``server.script[n]`` (the last entry for any later one):
    ``(status, headers)`` -> an error in the API's shape, ``"ok"`` -> the family's answer, ``"hang up"`` -> the
    connection shut after the request was read."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        step = self.server.script[min(self.server.count, len(self.server.script) - 1)]
        self.server.count += 1
        if step == "hang up":
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if step == "ok":
            return self.reply(200, ANSWERS[self.server.family])
        status, headers = step
        data = json.dumps({"error": {"code": status, "message": f"status {status}", "status": "X"}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _ask(tmp_path: Path, family: str, script: list) -> tuple[int, str | BaseException]:
    """Run one understand request through ``family``'s adapter (two retries allowed) against a server
    following ``script``: the number of requests the server got and the answer, or the error raised."""
    with serving(Counting, script=script, count=0, family=family) as server:
        card = {"family": family, "description": "counting stand-in (test only)", "capabilities": ["understand"],
                "endpoint": f"{server.url}/v1" if family == "openai" else server.url, "api_key_env": KEY_ENV,
                "checkpoint": "m", "params": {"timeout_s": 20, **({"max_retries": 2} if family == "openai"
                                                                     else {"attempts": 3})}}
        path = tmp_path / f"{family}.yaml"
        path.write_text(json.dumps(card))
        adapter = build_adapter(load_card(path))
        try:
            said = adapter.understand([], "q", adapter.card.defaults)
        except (RuntimeError, ModelUnavailable) as exc:
            said = exc
        return server.count, said


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-retry23-0123456789")


FAMILIES = pytest.mark.parametrize("family", ["openai", "gemini"])


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_failure_after_the_work_may_have_begun_is_reported_not_sent_again(tmp_path, status):
    """An OpenAI-compatible server is a self-hosted generator (vLLM-Omni, the workers): its 500 is the model's
    failure, which the same seed repeats."""
    count, said = _ask(tmp_path, "openai", [(status, [])])
    assert count == 1, f"HTTP {status} sent {count} times"
    assert isinstance(said, RuntimeError) and f"HTTP {status}" in str(said), said


def test_a_connection_dropped_after_the_request_went_out_is_not_sent_again(tmp_path):
    count, said = _ask(tmp_path, "openai", ["hang up"])
    assert count == 1 and isinstance(said, ModelUnavailable), (count, said)


@pytest.mark.parametrize("status", [500, 502, 504])
def test_gemini_is_retried_as_google_genai_itself_retries(tmp_path, status):
    """Gemini is Google's service, and its own client library is the reference for it: it retries these
    statuses (its ``_RETRY_HTTP_STATUS_CODES``, read here from the installed library) and dropped connections."""
    from google.genai import _api_client

    assert status in _api_client._RETRY_HTTP_STATUS_CODES
    assert _ask(tmp_path, "gemini", [(status, []), "ok"]) == (2, "fine")
    assert _ask(tmp_path, "gemini", ["hang up", "ok"]) == (2, "fine")


@FAMILIES
@pytest.mark.parametrize("status", [408, 429, 503])
def test_a_refusal_before_the_work_is_sent_again(tmp_path, family, status):
    count, said = _ask(tmp_path, family, [(status, []), "ok"])
    assert (count, said) == (2, "fine")


@FAMILIES
def test_the_servers_x_should_retry_header_is_obeyed_both_ways(tmp_path, family):
    count, said = _ask(tmp_path, family, [(503, [("x-should-retry", "false")])])
    assert count == 1 and "HTTP 503" in str(said), (count, said)
    count, said = _ask(tmp_path, family, [(500, [("x-should-retry", "true")]), "ok"])
    assert (count, said) == (2, "fine")


def test_only_a_connection_never_made_counts_as_never_sent():
    """The transport's real errors: a closed port refuses the connection (the request never left); a server that
    hangs up after reading the request may have acted on it."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(httpx.ConnectError) as refused:
        httpx.post(f"http://127.0.0.1:{port}/v1/x", json={})
    assert never_sent(refused.value)
    with serving(Counting, script=["hang up"], count=0, family="openai") as server:
        with pytest.raises(httpx.RemoteProtocolError) as dropped:
            httpx.post(f"{server.url}/v1/x", json={})
    assert not never_sent(dropped.value)
