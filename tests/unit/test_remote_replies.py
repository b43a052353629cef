"""What real servers (and the proxies in front of them) answer when things go wrong, against the real
``openai`` and ``gemini`` adapters: a loopback stand-in speaks HTTP, nothing in the adapters is replaced.

Every failure must become one clear line naming the card (never a parser's bare exception, never an empty
answer scored as the model's), stay within the card's deadline and a bounded amount of memory, and never
carry the key. The expected shapes come from the HTTP and API rules, not from the adapters: RFC 9110
section 10.2.3 (``Retry-After``: seconds or an HTTP date), OpenAI's chat completion (``choices[].message.
content``), Gemini's ``generateContent`` (``candidates``, ``promptFeedback.blockReason``).
"""

from __future__ import annotations

import base64
import gzip
import json
import socket
import time
from pathlib import Path

import pytest
from PIL import Image

from realunify_arena.adapters import ModelUnavailable, NotSupported, build_adapter
from realunify_arena.adapters.base import CutReply
from realunify_arena.benchmark.images import ImageError
from realunify_arena.cards import load_card
from realunify_arena.cli import main
from realunify_arena.http_deadline import MAX_REPLY_BYTES
from realunify_arena.store import Store
from tests.stand_in import JSONHandler, png_b64, serving

KEY = "sk-remote13-0123456789abcdefXYZ"
KEY_ENV = "REMOTE13_TEST_KEY"


def _chat(content) -> dict:
    return {"id": "c", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}]}


def _png_b64(width: int = 8, height: int = 8) -> str:
    return png_b64(Image.new("RGB", (width, height), (9, 99, 199)))


class Misbehaving(JSONHandler):
    """Answers every request as ``server.answer(handler)`` says; ``server.times`` records when each came."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.times.append(time.monotonic())
        self.server.answer(self)

    def send(self, status: int, body: bytes | str, content_type: str = "application/json", headers=()) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def server(monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    with serving(Misbehaving, times=[], answer=lambda h: h.reply(200, _chat("fine"))) as running:
        yield running


def _card(tmp_path: Path, server, *, family: str = "openai", capabilities=("understand", "generate", "edit"),
          **params):
    path = tmp_path / f"{family}-stand-in.yaml"
    card = {"family": family, "description": "misbehaving stand-in (test only)", "capabilities": list(capabilities),
            "endpoint": f"{server.url}/v1" if family == "openai" else server.url, "api_key_env": KEY_ENV,
            "checkpoint": "m", "params": {"timeout_s": 5, **params}}
    path.write_text(json.dumps(card))
    return load_card(path)


def _adapter(tmp_path, server, **kwargs):
    return build_adapter(_card(tmp_path, server, **kwargs))


def _one_line_without_key(error: BaseException, *names: str) -> str:
    text = str(error)
    assert "\n" not in text and KEY not in text and len(text) < 600, text
    for name in names:
        assert name in text, text
    return text


# --- HTTP 200 that is not an answer ------------------------------------------------------------------


@pytest.mark.parametrize("capability, dialect, body, expected", [
    # OpenAI's chat completion: ``choices`` is a list of choice objects; the images API: ``data`` a list of
    # image objects whose ``b64_json`` is a base64 string. Before: KeyError: 0, "'str' object has no attribute
    # 'message'", "'str' object has no attribute 'b64_json'", "'int' object has no attribute 'startswith'"
    ("understand", "chat", {"choices": {"0": {"message": {"content": "yes"}}}}, "'choices' is not a list of objects"),
    ("understand", "chat", {"choices": ["yes"]}, "'choices' is not a list of objects"),
    ("generate", "chat", {"choices": [None]}, "'choices' is not a list of objects"),
    ("generate", "images", {"created": 0, "data": {"b64_json": "AAAA"}}, "'data' is not a list of objects"),
    ("generate", "images", {"created": 0, "data": ["AAAA"]}, "'data' is not a list of objects"),
    ("edit", "images", {"created": 0, "data": [{"b64_json": 123}]}, "'b64_json' is not a base64 string: 123"),
])
def test_an_openai_200_of_another_shape_is_one_line_naming_the_field(tmp_path, server, capability, dialect, body,
                                                                     expected):
    server.answer = lambda h: h.reply(200, body)
    adapter = _adapter(tmp_path, server, dialect=dialect, modalities=True)
    with pytest.raises(RuntimeError) as failed:
        if capability == "understand":
            adapter.understand([], "What is shown?", adapter.card.defaults)
        elif capability == "generate":
            adapter.generate("a red cube", adapter.card.defaults)
        else:
            adapter.edit(Image.new("RGB", (16, 16)), "make it blue", adapter.card.defaults)
    _one_line_without_key(failed.value, "openai-stand-in", expected)


@pytest.mark.parametrize("body, expected", [
    (_chat(None), "no text"),                                                        # content null
    ({"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": []}, "no choices"),
    ({"error": {"message": "The model is overloaded", "type": "server_error"}}, "The model is overloaded"),
])
def test_an_openai_200_without_an_answer_is_an_error_not_an_empty_answer(tmp_path, server, body, expected):
    """Before: each returned "" as the model's answer (scored as a wrong answer, not a failed run)."""
    server.answer = lambda h: h.reply(200, body)
    adapter = _adapter(tmp_path, server)
    with pytest.raises(RuntimeError) as failed:
        adapter.understand([], "What is shown?", adapter.card.defaults)
    _one_line_without_key(failed.value, "openai-stand-in", expected)


def test_content_as_a_list_of_text_parts_is_read(tmp_path, server):
    server.answer = lambda h: h.reply(200, _chat([{"type": "text", "text": "B"}, {"type": "text", "text": "!"}]))
    adapter = _adapter(tmp_path, server)
    assert adapter.understand([], "Which?", adapter.card.defaults) == "B\n!"


def _finished(*choices: tuple[str | None, str | None]) -> dict:
    """A chat completion of ``choices``: (finish_reason, content) each, indexed as vLLM-Omni's stages are."""
    return {"id": "c", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": reason, "message": {"role": "assistant", "content": content}}
                        for reason, content in choices]}


@pytest.mark.parametrize("choices, cut", [
    ([("length", "The sky is")], True),
    ([("stop", "The sky is blue.")], False),
    ([("tool_calls", "The sky is blue.")], False),  # never asked for: the text is still the answer
    ([("eos_token", "The sky is blue.")], False),  # TGI's name for a natural stop
    ([("stop_sequence", "The sky is blue.")], False),  # TGI's and Anthropic's: a stop sequence matched
    ([("eos", "The sky is blue.")], False),  # Together AI's
    ([("end_turn", "The sky is blue.")], False),  # Anthropic's stop_reason, passed on by a proxy
    ([("STOP", "The sky is blue.")], False),  # Gemini's name, passed on by a proxy
    ([("model_length", "The sky is")], True),  # Mistral's: the model's context length reached
    ([("max_tokens", "The sky is")], True),  # Anthropic's stop_reason for OpenAI's length
    ([("MAX_TOKENS", "The sky is")], True),  # Gemini's
    ([("model_context_window_exceeded", "The sky is")], True),  # Anthropic's: the context window is full
    ([(None, "The sky is blue.")], False),
    ([("stop", None), ("length", "The sky is")], True),  # the text's own choice tells (an image stage's first)
    ([("length", None), ("stop", "The sky is blue.")], False),
])
def test_the_remote_s_finish_reason_length_makes_a_cut_reply(tmp_path, server, choices, cut):
    """OpenAI's chat completion: ``finish_reason`` ``length`` when the maximum number of tokens given in the
    request was reached, ``stop`` at a natural stop point, ``tool_calls`` when the model called a tool. A cut
    remote reply must say so as a local one does (``CutReply``). Before: every reply a plain ``str``."""
    server.answer = lambda h: h.reply(200, _finished(*choices))
    adapter = _adapter(tmp_path, server)
    answer = adapter.understand([], "What colour is the sky?", adapter.card.defaults)
    assert answer == next(text for _, text in choices if text)
    assert isinstance(answer, CutReply) is cut


@pytest.mark.parametrize("reason", [
    "content_filter", "abort", "error", "insufficient_system_resource",
    "repetition",  # vLLM: the engine stopped a repetitive token pattern
    "refusal", "pause_turn",  # Anthropic's stop_reason: the model declined; the turn paused, to be continued
    "SAFETY", "RECITATION",  # Gemini's, passed on by a proxy
    # names no list holds: TGIS's ``TIME_LIMIT``/``CANCELLED``, a made-up server's ``truncated``, an empty name
    "TIME_LIMIT", "cancelled", "truncated", "",
])
def test_a_remote_reply_cut_short_by_a_filter_or_an_abort_is_an_error_not_an_answer(tmp_path, server, reason):
    """OpenAI's chat completion: ``content_filter`` when content was omitted by its content filters; vLLM's
    ``abort`` (the request aborted) and ``error`` (the engine failed mid-answer): what is left is not the
    model's whole answer, so it is not scored as one. Any name not known to mean a finished (or a cut) answer is
    one too: a server's own name for a truncation must not be scored as a whole answer. Before: every name but the
    first four scored as the model's whole answer."""
    server.answer = lambda h: h.reply(200, _finished((reason, "The answer is")))
    adapter = _adapter(tmp_path, server)
    with pytest.raises(RuntimeError) as failed:
        adapter.understand([], "What colour is the sky?", adapter.card.defaults)
    _one_line_without_key(failed.value, f"openai-stand-in at {server.url}/v1", f"finish reason: {reason})",
                          "The answer is")


@pytest.mark.parametrize("reason", [42, {"type": "length"}, ["stop"],
                                    pytest.param("stop\n" + KEY + "x" * 500, id="long")])
def test_a_finish_reason_of_another_shape_is_one_line_error(tmp_path, server, reason):
    """A reason that is no known name (a number, SGLang's internal ``{"type": ...}`` object, a list, a long
    line carrying the key) is an error of one short line without the key, never a traceback or an answer."""
    server.answer = lambda h: h.reply(200, _finished((reason, "The answer is")))
    adapter = _adapter(tmp_path, server)
    with pytest.raises(RuntimeError) as failed:
        adapter.understand([], "What colour is the sky?", adapter.card.defaults)
    _one_line_without_key(failed.value, "openai-stand-in", "finish reason: ", "The answer is")


def test_serve_openai_in_front_of_a_remote_card_passes_its_length_on(tmp_path, server):
    """``serve-openai`` serving an ``openai`` card answers the remote's ``finish_reason`` ``length`` with
    ``length`` (and ``stop`` with ``stop``). Before: ``stop`` for both."""
    import openai

    from realunify_arena.runtime import ModelPool
    from realunify_arena.serving import BackgroundServer, create_app

    card = _card(tmp_path, server, capabilities=("understand",))
    with BackgroundServer(create_app(ModelPool({card.name: card}), card.name)) as front:
        client = openai.OpenAI(base_url=front.url, api_key="unused", max_retries=0)
        for reason, text in (("length", "The sky is"), ("stop", "The sky is blue.")):
            server.answer = lambda h, reply=_finished((reason, text)): h.reply(200, reply)
            answered = client.chat.completions.create(model=card.name, max_tokens=3, messages=[
                {"role": "user", "content": "What colour is the sky?"}])
            choice = answered.choices[0]
            assert (choice.finish_reason, choice.message.content) == (reason, text)
            # the remote card counts no tokens: no usage (optional in OpenAI's reference), never a false 0
            assert answered.usage is None, answered.usage


@pytest.mark.parametrize("body, content_type, expected", [
    (b'{"choices": [', "application/json", "is not valid JSON"),
    (b'{"choices": [{"message": {"content": "caf\xe9"}}]}', "application/json", "is not valid JSON"),  # Latin-1
    (b"<html><body>Service maintenance</body></html>", "text/html", "is not JSON: Service maintenance"),
])
def test_an_openai_200_that_is_not_json_names_the_card(tmp_path, server, body, content_type, expected):
    """Before: a bare JSONDecodeError / UnicodeDecodeError / "AttributeError: 'str' object has no attribute
    'choices'", naming neither the card nor the endpoint."""
    server.answer = lambda h: h.send(200, body, content_type)
    adapter = _adapter(tmp_path, server)
    with pytest.raises(RuntimeError) as failed:
        adapter.understand([], "q", adapter.card.defaults)
    _one_line_without_key(failed.value, f"openai-stand-in at {server.url}/v1", expected)


def test_a_200_error_object_fails_the_image_dialects_too(tmp_path, server):
    server.answer = lambda h: h.reply(200, {"error": {"message": "CUDA out of memory"}})
    for dialect in ("images", "chat"):
        adapter = _adapter(tmp_path, server, dialect=dialect)
        with pytest.raises(RuntimeError, match="answered HTTP 200 with an error: CUDA out of memory"):
            adapter.generate("a cat", adapter.card.defaults)


def test_a_200_error_object_wrapped_in_a_list_is_that_error(tmp_path, server):
    """Gemini's OpenAI-compatible endpoint wraps its error object in a one-element list (``[{"error": {...}}]``,
    n4ze3m/page-assist issue #406); on a 4xx it is read (``_message``), but a 200 of that shape was refused as
    "not a JSON object", its message cut to 100 characters (verify26b). It is the endpoint's error, whole, the key
    taken out."""
    message = f"Resource has been exhausted (e.g. check quota). {'x' * 120} key {KEY} end"
    server.answer = lambda h: h.reply(200, [{"error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED"}}])
    adapter = _adapter(tmp_path, server)
    with pytest.raises(RuntimeError) as failed:
        adapter.understand([], "q", adapter.card.defaults)
    said = str(failed.value)
    assert "answered HTTP 200 with an error: Resource has been exhausted" in said and said.endswith("key *** end")
    assert KEY not in said


def test_a_gemini_200_error_object_without_a_message_never_shows_part_of_a_key(tmp_path, server, monkeypatch):
    """A 200 whose error object has no ``status`` or ``message`` is quoted as its JSON, which was cut at 200
    characters before the redaction: a key across the cut no longer matched and its first 25 characters were
    shown (a key of no shape the redaction knows by itself, as a self-chosen proxy key is)."""
    key = "Zq8Lw3PnXv5TrKb2Hy7Md4GcQ1"
    monkeypatch.setenv(KEY_ENV, key)
    error = {"code": 403, "details": "x" * 149 + key}  # '{"code": 403, "details": "' is 26 characters
    assert json.dumps(error).index(key) == 175  # 25 of its characters before the cut
    server.answer = lambda h: h.reply(200, {"error": error})
    adapter = _adapter(tmp_path, server, family="gemini", attempts=1)
    with pytest.raises(RuntimeError) as failed:
        adapter.understand([], "q", adapter.card.defaults)
    said = str(failed.value)
    assert "answered HTTP 200 with an error" in said and "***" in said, said
    assert not any(key[i:i + 12] in said for i in range(len(key) - 11)), said


# --- error pages ----------------------------------------------------------------------------------------


def test_a_proxy_html_error_page_is_shown_as_its_text_and_a_quoted_key_never_in_part(tmp_path, server):
    """Before: "HTTP 502: Error code: 502" (the page dropped). The key sits where a 300-character cut would
    split it: it is masked before any cut, so not even its start is shown."""
    page = ("<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>"
            + "<p>upstream failed</p>" * 13 + f"<p>request key={KEY}</p></body></html>")
    server.answer = lambda h: h.send(502, page, "text/html")
    adapter = _adapter(tmp_path, server, max_retries=0)
    with pytest.raises(RuntimeError) as failed:
        adapter.understand([], "q", adapter.card.defaults)
    text = _one_line_without_key(failed.value, "HTTP 502: 502 Bad Gateway 502 Bad Gateway upstream failed")
    assert "<" not in text and KEY[:12] not in text


# --- images that are not images ---------------------------------------------------------------------------


@pytest.mark.parametrize("data_url, expected", [
    ("data:image/png;base64," + _png_b64()[:30], "not valid base64"),    # cut inside a 4-character group
    ("data:image/png;base64," + base64.b64encode(b"hello, not a picture").decode(), "not an image"),
])
def test_a_broken_image_in_a_chat_reply_names_the_card(tmp_path, server, data_url, expected):
    """Before: the truncated one raised a bare ``binascii.Error: Incorrect padding``."""
    server.answer = lambda h: h.reply(200, _chat([{"type": "image_url", "image_url": {"url": data_url}}]))
    adapter = _adapter(tmp_path, server, dialect="chat")
    with pytest.raises(ImageError) as failed:
        adapter.generate("a cat", adapter.card.defaults)
    _one_line_without_key(failed.value, "openai-stand-in", expected)


def test_images_as_b64_json_and_as_data_url_parts_are_read(tmp_path, server):
    server.answer = lambda h: h.reply(200, {"created": 0, "data": [{"b64_json": _png_b64(20, 16)}]})
    adapter = _adapter(tmp_path, server)
    assert adapter.generate("x", adapter.card.defaults).size == (20, 16)
    server.answer = lambda h: h.reply(200, _chat("data:image/png;base64," + _png_b64(16, 24)))
    adapter = _adapter(tmp_path, server, dialect="chat")
    assert adapter.edit(Image.new("RGB", (16, 24)), "x", adapter.card.defaults).size == (16, 24)


# --- Retry-After ---------------------------------------------------------------------------------------------


def test_retry_after_is_waited_for_within_the_deadline(tmp_path, server):
    """Before: the retry came after the fixed 0.5 s back-off, ignoring the server's 2 s."""
    def busy_once(h):
        if len(h.server.times) == 1:
            return h.send(429, json.dumps({"error": {"message": "Rate limit"}}), headers=[("Retry-After", "2")])
        h.reply(200, _chat("fine"))

    server.answer = busy_once
    adapter = _adapter(tmp_path, server, max_retries=1)
    assert adapter.understand([], "q", adapter.card.defaults) == "fine"
    assert len(server.times) == 2 and server.times[1] - server.times[0] >= 2.0


# "at once": in half the card's deadline. A client that waits out the Retry-After (or sleeps until the deadline)
# takes the whole DEADLINE_S at least; one that fails at once takes one local request, which a loaded 2-core
# machine may stretch to seconds (the bound was 4 s of a 5 s deadline: 1 s of margin).
DEADLINE_S = 60
FAIL_AT_ONCE_S = DEADLINE_S / 2


def test_a_retry_after_past_the_deadline_fails_at_once(tmp_path, server):
    """Before: a second request 0.5 s later, which the server had asked not to get for an hour."""
    server.answer = lambda h: h.send(503, json.dumps({"error": {"message": "Busy"}}),
                                     headers=[("Retry-After", str(DEADLINE_S * 60))])
    adapter = _adapter(tmp_path, server, max_retries=2, timeout_s=DEADLINE_S)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="HTTP 503: Busy"):
        adapter.understand([], "q", adapter.card.defaults)
    assert len(server.times) == 1 and time.monotonic() - start < FAIL_AT_ONCE_S


# --- bounded memory ---------------------------------------------------------------------------------------------


def _endless(h) -> None:
    """A 200 whose chunked body never ends, sent as fast as the client reads."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    chunk = b"%x\r\n%s\r\n" % (1 << 20, b" " * (1 << 20))
    try:
        while True:
            h.wfile.write(chunk)
    except OSError:
        pass


def test_an_endless_reply_is_cut_at_the_size_limit_long_before_the_deadline(tmp_path, server):
    """Before: read until the deadline (memory growing by hundreds of MB a second), then a timeout."""
    server.answer = _endless
    adapter = _adapter(tmp_path, server, timeout_s=60, max_retries=0)
    start = time.monotonic()
    with pytest.raises(RuntimeError) as failed:
        adapter.understand([], "q", adapter.card.defaults)
    _one_line_without_key(failed.value, "openai-stand-in", f"past the {MAX_REPLY_BYTES // 2**20} MiB limit")
    assert time.monotonic() - start < 30


# the stand-in holds the announced body back this long, and a client that read it would wait that long (or its
# card's 20 s deadline); one that checks the headers answers well within ANSWERED_FROM_HEADERS_S even when a loaded
# 2-core machine adds seconds
BODY_HELD_BACK_S = 30
ANSWERED_FROM_HEADERS_S = 10


def test_a_reply_announced_over_the_limit_or_compressed_is_not_read(tmp_path, server):
    """Before: a body announced at 1 GiB was read (and a gzip bomb expanded) before anything was checked."""
    def huge(h):
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(2**30))
        h.end_headers()
        h.wfile.write(b'{"id": "')
        h.wfile.flush()
        time.sleep(BODY_HELD_BACK_S)  # never sends the rest: the client must not wait for it

    server.answer = huge
    adapter = _adapter(tmp_path, server, timeout_s=20, max_retries=0)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"the reply is 1024 MiB \(Content-Length\), over the 128 MiB limit"):
        adapter.understand([], "q", adapter.card.defaults)
    assert time.monotonic() - start < ANSWERED_FROM_HEADERS_S

    bomb = gzip.compress(b'{"id": "' + b"0" * (64 << 20) + b'"}')  # 64 MiB of JSON in about 64 kB
    server.answer = lambda h: h.send(200, bomb, headers=[("Content-Encoding", "gzip")])
    with pytest.raises(RuntimeError, match=r"compressed \(Content-Encoding: gzip\)"):
        adapter.understand([], "q", adapter.card.defaults)


# --- connections ----------------------------------------------------------------------------------------------


def _hang_up(h) -> None:
    h.connection.shutdown(socket.SHUT_RDWR)


def _redirect_to_itself(h) -> None:
    h.send(307, b"", headers=[("Location", h.path)])


@pytest.mark.parametrize("answer, expected", [(_hang_up, "RemoteProtocolError"),
                                              (_redirect_to_itself, "TooManyRedirects")])
def test_a_dropped_connection_or_a_redirect_loop_names_the_card_and_what_happened(tmp_path, server, answer,
                                                                                   expected):
    """Before: openai said only "Connection error."; gemini raised the bare httpx exception."""
    server.answer = answer
    for family in ("openai", "gemini"):
        adapter = _adapter(tmp_path, server, family=family, max_retries=0) if family == "openai" else \
            _adapter(tmp_path, server, family=family, attempts=1)
        with pytest.raises(ModelUnavailable) as failed:
            adapter.understand([], "q", adapter.card.defaults)
        _one_line_without_key(failed.value, f"{family}-stand-in", expected)


# --- Gemini ----------------------------------------------------------------------------------------------------


def test_a_gemini_reply_without_text_is_an_error_that_says_why(tmp_path, server):
    """Before: "" (a blocked prompt or a cut-off answer scored as the model's answer)."""
    server.answer = lambda h: h.reply(200, {"candidates": [], "promptFeedback": {"blockReason": "SAFETY"}})
    adapter = _adapter(tmp_path, server, family="gemini")
    with pytest.raises(RuntimeError) as failed:
        adapter.understand([], "q", adapter.card.defaults)
    _one_line_without_key(failed.value, "gemini-stand-in", "no text", "SAFETY")
    server.answer = lambda h: h.reply(200, {"candidates": [{"content": {"role": "model", "parts": []},
                                                            "finishReason": "MAX_TOKENS"}]})
    with pytest.raises(RuntimeError, match="no text.*MAX_TOKENS"):
        adapter.understand([], "q", adapter.card.defaults)


def _gemini_answer(text: str, reason: str | None) -> dict:
    """A generateContent reply of one candidate holding ``text``, with ``finishReason`` ``reason`` (None: none)."""
    candidate = {"content": {"role": "model", "parts": [{"text": text}]}}
    return {"candidates": [candidate | ({"finishReason": reason} if reason else {})]}


@pytest.mark.parametrize("reason, cut", [("MAX_TOKENS", True), ("STOP", False), (None, False)])
def test_a_gemini_answer_cut_at_its_token_cap_is_a_cut_reply(tmp_path, server, reason, cut):
    """The Gemini API's ``FinishReason``: ``MAX_TOKENS``, "the maximum number of tokens as specified in the request
    was reached"; ``STOP``, a natural stop point. A cut answer says so as the other families' do (``CutReply``:
    ``serve-openai`` answers ``length``). Before: every answer a plain ``str``."""
    server.answer = lambda h: h.reply(200, _gemini_answer("The sky is", reason))
    adapter = _adapter(tmp_path, server, family="gemini")
    answer = adapter.understand([], "q", adapter.card.defaults)
    assert answer == "The sky is" and isinstance(answer, CutReply) is cut


@pytest.mark.parametrize("reason", ["SAFETY", "RECITATION", "PROHIBITED_CONTENT", "OTHER"])
def test_a_gemini_answer_stopped_by_a_filter_is_an_error_not_an_answer(tmp_path, server, reason):
    """``SAFETY``, ``RECITATION``, ``PROHIBITED_CONTENT`` ... stop the answer before the model finished: what came
    is not its whole answer. Before: the partial text was scored as the answer."""
    server.answer = lambda h: h.reply(200, _gemini_answer("The answer is", reason))
    adapter = _adapter(tmp_path, server, family="gemini")
    with pytest.raises(RuntimeError) as failed:
        adapter.understand([], "q", adapter.card.defaults)
    _one_line_without_key(failed.value, "gemini-stand-in", f"finish reason: {reason}", "The answer is")


def test_a_gemini_200_that_is_not_json_names_the_card(tmp_path, server):
    server.answer = lambda h: h.send(200, b"<html>maintenance</html>", "text/html")
    adapter = _adapter(tmp_path, server, family="gemini")
    with pytest.raises(RuntimeError) as failed:
        adapter.understand([], "q", adapter.card.defaults)
    _one_line_without_key(failed.value, "gemini-stand-in", "is not valid JSON")


def test_gemini_waits_for_retry_after_too(tmp_path, server):
    def busy_once(h):
        if len(h.server.times) == 1:
            return h.send(429, json.dumps({"error": {"code": 429, "message": "slow", "status": "RESOURCE_EXHAUSTED"}}),
                          headers=[("Retry-After", "2")])
        h.reply(200, {"candidates": [{"content": {"role": "model", "parts": [{"text": "A"}]}}]})

    server.answer = busy_once
    adapter = _adapter(tmp_path, server, family="gemini", attempts=2)
    assert adapter.understand([], "q", adapter.card.defaults) == "A"
    assert server.times[1] - server.times[0] >= 2.0


def _quota_exceeded(delay: str) -> str:
    """The Gemini API's 429 as it answers it: no ``Retry-After`` header, the wait as a ``google.rpc.RetryInfo``
    detail whose ``retryDelay`` is a protobuf Duration in JSON (seconds with an ``s``: ``"37s"``, ``"1.5s"``)."""
    return json.dumps({"error": {"code": 429, "message": "You exceeded your current quota.",
                                 "status": "RESOURCE_EXHAUSTED",
                                 "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                                             {"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                              "retryDelay": delay}]}})


def test_gemini_waits_for_the_retry_delay_its_429_body_gives(tmp_path, server):
    """Before: the second try came 0.5 s after the first (the client's back-off), though the server had asked for
    2 s: on the real API each early try is refused again and the run failed after its three tries."""
    def busy_once(h):
        if len(h.server.times) == 1:
            return h.send(429, _quota_exceeded("2.5s"))
        h.reply(200, {"candidates": [{"content": {"role": "model", "parts": [{"text": "A"}]}}]})

    server.answer = busy_once
    adapter = _adapter(tmp_path, server, family="gemini", attempts=2, timeout_s=DEADLINE_S)
    assert adapter.understand([], "q", adapter.card.defaults) == "A"
    assert server.times[1] - server.times[0] >= 2.5


def test_a_gemini_retry_delay_past_the_deadline_fails_at_once(tmp_path, server):
    """Before: two more requests within 1.5 s, which the server had asked not to get for an hour."""
    server.answer = lambda h: h.send(429, _quota_exceeded(f"{DEADLINE_S * 60}s"))
    adapter = _adapter(tmp_path, server, family="gemini", attempts=3, timeout_s=DEADLINE_S)
    start = time.monotonic()
    with pytest.raises(RuntimeError) as failed:
        adapter.understand([], "q", adapter.card.defaults)
    _one_line_without_key(failed.value, "gemini-stand-in", "HTTP 429", "You exceeded your current quota")
    assert len(server.times) == 1 and time.monotonic() - start < FAIL_AT_ONCE_S


def _openai_answer(text: str) -> dict:
    return {"id": "c", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]}


def test_an_openai_compatible_google_endpoint_s_wrapped_error_and_its_retry_delay_are_read(tmp_path, server):
    """Gemini's OpenAI-compatible endpoint (``/v1beta/openai/chat/completions``) answers an error as Google's error
    object wrapped in a one-element list, ``[{"error": {...}}]``, a 429's wait in its ``RetryInfo`` (google-genai's
    own ``APIError`` unwraps such a list). Before: "HTTP 400: Error code: 400" with the message lost, and a 429
    retried after 0.5 s though the server asked for 2.5 s."""
    def wrapped(h, code, status, message, *details):
        h.send(code, json.dumps([{"error": {"code": code, "message": message, "status": status,
                                            "details": list(details)}}]))

    server.answer = lambda h: wrapped(h, 400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
    adapter = _adapter(tmp_path, server, max_retries=2, timeout_s=DEADLINE_S)
    with pytest.raises(RuntimeError) as failed:
        adapter.understand([], "q", adapter.card.defaults)
    _one_line_without_key(failed.value, "openai-stand-in", "HTTP 400: Invalid JSON payload received.")

    def busy_once(h):
        if len(h.server.times) == 1:
            return wrapped(h, 429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).",
                           {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"})
        h.reply(200, _openai_answer("A"))

    server.times.clear()
    server.answer = busy_once
    assert adapter.understand([], "q", adapter.card.defaults) == "A"
    assert server.times[1] - server.times[0] >= 2.5


@pytest.mark.parametrize("capability", ["understand", "generate"])
def test_a_gemini_200_with_an_error_body_is_that_error(tmp_path, server, capability):
    """A proxy in front of the Gemini API (or the API mid-failure) may answer HTTP 200 with the API's error object.
    Before: "the reply holds no text (no candidates)" / "no image (no candidates ...)": the server's own message,
    and the key it quoted, were dropped (the openai family already reports it: ``_checked``)."""
    server.answer = lambda h: h.reply(200, {"error": {"code": 500, "status": "INTERNAL",
                                                      "message": f"Internal error; key {KEY} was used"}})
    adapter = _adapter(tmp_path, server, family="gemini", attempts=1)
    with pytest.raises(RuntimeError) as failed:
        getattr(adapter, capability)(*([[]] if capability == "understand" else []), "q", adapter.card.defaults)
    _one_line_without_key(failed.value, "gemini-stand-in", "HTTP 200", "Internal error; key *** was used")


def test_a_gemini_thought_image_is_not_the_picture(tmp_path, server):
    """Gemini's image models that think (gemini-3-pro-image) send up to two interim images as parts marked
    ``"thought": true`` before the final one (Gemini API, "Nano Banana": thinking process); only a part without
    that mark is the answer. Before: the first interim image was taken and stored as the model's picture; a reply
    holding only thought images must be a failed run, not a picture."""
    thought, final = Image.new("RGB", (32, 32), (0, 0, 255)), Image.new("RGB", (40, 24), (200, 10, 10))

    def inline(image, **mark):
        return {"inlineData": {"mimeType": "image/png", "data": png_b64(image)}, **mark}

    server.answer = lambda h: h.reply(200, {"candidates": [{"content": {"role": "model", "parts": [
        {"text": "Composing the scene", "thought": True}, inline(thought, thought=True),
        {"text": "Here it is."}, inline(final)]}, "finishReason": "STOP"}]})
    adapter = _adapter(tmp_path, server, family="gemini", attempts=1)
    picture = adapter.generate("q", adapter.card.defaults)
    assert picture.size == (40, 24) and picture.convert("RGB").getpixel((0, 0)) == (200, 10, 10)
    server.answer = lambda h: h.reply(200, {"candidates": [{"content": {"role": "model", "parts": [
        inline(thought, thought=True)]}, "finishReason": "STOP"}]})
    with pytest.raises(RuntimeError) as failed:
        adapter.generate("q", adapter.card.defaults)
    _one_line_without_key(failed.value, "gemini-stand-in", "no image")


# --- capabilities ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["openai", "gemini"])
def test_a_capability_the_card_does_not_declare_is_refused_without_a_request(tmp_path, server, family):
    """Before: both raised a bare ``KeyError: 'generate'`` (the card has no checkpoint for it)."""
    adapter = _adapter(tmp_path, server, family=family, capabilities=("understand",))
    with pytest.raises(NotSupported, match=f"{family}-stand-in cannot generate images"):
        adapter.generate("a cat", adapter.card.defaults)
    with pytest.raises(NotSupported, match="cannot edit images"):
        adapter.edit(Image.new("RGB", (4, 4)), "x", adapter.card.defaults)
    assert server.times == []


# --- a batch eval ------------------------------------------------------------------------------------------------


def test_eval_records_each_failed_remote_run_with_its_message_and_goes_on(tmp_path, server, capsys):
    """Before: every run was stored as "ok" with an empty answer."""
    server.answer = lambda h: h.reply(200, {"error": {"message": f"overloaded (key {KEY})"}})
    models = tmp_path / "models"
    models.mkdir()
    _card(models, server, capabilities=("understand",), max_retries=0)
    db = tmp_path / "arena.db"
    assert main(["eval", "--model", "openai-stand-in", "--models-dir", str(models), "--track", "GEU", "--mode",
                 "direct", "--limit", "1", "--judge", "openai-stand-in", "--db", str(db), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "runs: 4 computed (4 error)" in out and KEY not in out
    store = Store.open(db)
    runs = store.runs(model="openai-stand-in")
    assert len(runs) == 4 and {r["status"] for r in runs} == {"error"}
    for run in runs:
        error = store.load_trace(run["id"]).error
        assert "answered HTTP 200 with an error: overloaded (key ***)" in error and KEY not in error
    assert KEY.encode() not in db.read_bytes()


# --- compressed error replies ---------------------------------------------------------------------------------


def _deflate(data: bytes) -> bytes:
    import zlib
    return zlib.compress(data)


@pytest.mark.parametrize("family", ["openai", "gemini"])
@pytest.mark.parametrize("encoding, pack", [("gzip", gzip.compress), ("deflate", _deflate)])
def test_a_compressed_error_reply_is_retried_and_reported_like_a_plain_one(tmp_path, server, family, encoding, pack):
    """Before: a 503 with ``Content-Encoding: gzip`` (a proxy compressing its error page although the request
    asked for ``identity``) was refused as a compressed reply: never retried, its status never reported."""
    error = {"error": {"code": 503, "message": "Busy right now", "status": "UNAVAILABLE"}}
    fine = _chat("fine") if family == "openai" else {"candidates": [{"content": {"role": "model",
                                                                                 "parts": [{"text": "fine"}]}}]}

    def busy_once(h):
        if len(h.server.times) == 1:
            return h.send(503, pack(json.dumps(error).encode()), headers=[("Content-Encoding", encoding)])
        h.reply(200, fine)

    server.answer = busy_once
    retries = {"max_retries": 1} if family == "openai" else {"attempts": 2}
    adapter = _adapter(tmp_path, server, family=family, **retries)
    assert adapter.understand([], "q", adapter.card.defaults) == "fine"
    assert len(server.times) == 2

    server.answer = lambda h: h.send(503, pack(json.dumps(error).encode()), headers=[("Content-Encoding", encoding)])
    with pytest.raises(RuntimeError) as failed:
        adapter.understand([], "q", adapter.card.defaults)
    _one_line_without_key(failed.value, f"{family}-stand-in", "HTTP 503", "Busy right now")


def test_a_compressed_error_bomb_or_an_unknown_encoding_still_reports_the_status(tmp_path, server):
    """An error body is expanded only to a bounded size; one in an encoding the stdlib cannot expand is dropped,
    and the status is reported all the same."""
    bomb = gzip.compress(b"x" * (256 << 20))  # 256 MiB of text in about 256 kB
    adapter = _adapter(tmp_path, server, max_retries=0)
    for body, encoding in ((bomb, "gzip"), (b"\x8b\x00\x80not really brotli", "br")):
        server.answer = lambda h: h.send(502, body, "text/plain", headers=[("Content-Encoding", encoding)])
        with pytest.raises(RuntimeError) as failed:
            adapter.understand([], "q", adapter.card.defaults)
        _one_line_without_key(failed.value, "openai-stand-in", "HTTP 502")


# --- degenerate generated images ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(1, 1), (15, 64), (64, 15)])
@pytest.mark.parametrize("family, dialect", [("openai", "images"), ("openai", "chat"), ("gemini", None)])
def test_a_degenerate_generated_image_is_a_failed_run_naming_the_card_and_size(tmp_path, server, family, dialect,
                                                                               size):
    """Before: a 1x1 (or 15 px wide) picture was returned as the model's generation and judged as one. The
    floor, 16 px a side, is the smallest output of an 8x-latent, 2x2-patch diffusion model."""
    data = _png_b64(*size)
    if family == "gemini":
        reply = {"candidates": [{"content": {"role": "model",
                                             "parts": [{"inlineData": {"mimeType": "image/png", "data": data}}]}}]}
    elif dialect == "chat":
        reply = _chat([{"type": "image_url", "image_url": {"url": "data:image/png;base64," + data}}])
    else:
        reply = {"created": 0, "data": [{"b64_json": data}]}
    server.answer = lambda h: h.reply(200, reply)
    adapter = _adapter(tmp_path, server, family=family, **({"dialect": dialect} if dialect else {}))
    for call in (lambda: adapter.generate("a cat", adapter.card.defaults),
                 lambda: adapter.edit(Image.new("RGB", (64, 64)), "make it red", adapter.card.defaults)):
        with pytest.raises(ImageError) as failed:
            call()
        _one_line_without_key(failed.value, f"{family}-stand-in", f"{size[0]}x{size[1]} pixels", "16 px")


@pytest.mark.parametrize("family, dialect", [("openai", "images"), ("openai", "chat"), ("gemini", None)])
def test_a_zero_byte_generated_image_is_a_failed_run(tmp_path, server, family, dialect):
    if family == "gemini":
        reply = {"candidates": [{"content": {"role": "model",
                                             "parts": [{"inlineData": {"mimeType": "image/png", "data": ""}}]}}]}
    elif dialect == "chat":
        reply = _chat([{"type": "image_url", "image_url": {"url": "data:image/png;base64,"}}])
    else:
        reply = {"created": 0, "data": [{"b64_json": ""}]}
    server.answer = lambda h: h.reply(200, reply)
    adapter = _adapter(tmp_path, server, family=family, **({"dialect": dialect} if dialect else {}))
    with pytest.raises((RuntimeError, ImageError)) as failed:
        adapter.generate("a cat", adapter.card.defaults)
    _one_line_without_key(failed.value, f"{family}-stand-in")


def test_an_image_at_the_floor_is_accepted(tmp_path, server):
    server.answer = lambda h: h.reply(200, {"created": 0, "data": [{"b64_json": _png_b64(16, 16)}]})
    adapter = _adapter(tmp_path, server)
    assert adapter.generate("a cat", adapter.card.defaults).size == (16, 16)


# --- nothing chained to an adapter's error holds the key -------------------------------------------------------


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo = [error]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__]
    return seen


def _quoting(kind: str, family: str):
    def answer(h):
        key = h.headers.get("x-goog-api-key") or h.headers.get("Authorization", "").removeprefix("Bearer ")
        if kind == "status":
            return h.send(401, json.dumps({"error": {"code": 401, "message": f"bad key {key}",
                                                     "status": "UNAUTHENTICATED"}}))
        if kind == "transport":  # an illegal header line: the HTTP parser's error quotes it
            h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Debug " + key.encode() + b"\r\n\r\n{}")
            h.close_connection = True
            return None
        if kind == "malformed":
            body = {"candidates": [{"content": {"role": "model", "parts": key}}]} if family == "gemini" else \
                {"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": key}
            return h.reply(200, body)
        time.sleep(3)  # "slow": past the card's deadline, so the client has hung up
        return None
    return answer


@pytest.mark.parametrize("family", ["openai", "gemini"])
@pytest.mark.parametrize("kind", ["status", "transport", "malformed", "slow"])
def test_no_exception_leaving_an_adapter_carries_the_key_in_its_chain(tmp_path, server, family, kind):
    """Before: the adapter's own message was clean, but ``raise ... from exc`` chained the client's exception,
    whose text quotes the reply's body (the key the server echoed) and whose request holds the key; a
    traceback print (``traceback.format_exception``, a log's ``exc_info``) showed it."""
    import traceback

    server.answer = _quoting(kind, family)
    retries = {"max_retries": 0} if family == "openai" else {"attempts": 1}
    adapter = _adapter(tmp_path, server, family=family, timeout_s=1, **retries)
    with pytest.raises(Exception) as failed:
        adapter.understand([], "q", adapter.card.defaults)
    error = failed.value
    assert _chain(error) == [error], [repr(e) for e in _chain(error)]
    shown = "".join(traceback.format_exception(error)) + repr(error.args) + repr(getattr(error, "__notes__", []))
    assert KEY not in shown, shown


def test_an_openai_compatible_endpoint_s_retry_delay_in_an_unwrapped_error_object_is_waited_for(tmp_path, server):
    """Google's error object as a plain object, ``{"error": {..., "details": [RetryInfo]}}`` (how Vertex AI's
    OpenAI-compatible endpoint and a proxy answer it, OpenAI's own error shape): the openai client hands on only
    the inner object as ``exc.body`` (``OpenAI._make_status_error``: ``body.get("error", body)``), so its
    ``details`` were never looked at (verify26b: retried after the 0.5 s back-off though the server asked for
    2.5 s; only the list-wrapped form was read)."""
    def busy_once(h):
        if len(h.server.times) == 1:
            return h.send(429, _quota_exceeded("2.5s"))
        h.reply(200, _openai_answer("A"))

    server.answer = busy_once
    adapter = _adapter(tmp_path, server, max_retries=2, timeout_s=DEADLINE_S)
    assert adapter.understand([], "q", adapter.card.defaults) == "A"
    assert server.times[1] - server.times[0] >= 2.5
