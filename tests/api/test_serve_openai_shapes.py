"""``serve-openai``'s app on a real loopback port (uvicorn), asked what OpenAI's API reference covers beyond a plain
request: an unknown URL or method, no body, a body too large, and ``stream: true``.

Expected shapes come from OpenAI's API reference and the openai client that reads them: every error is JSON
``{"error": {"message", "type", "param", "code"}}`` (OpenAI answers an unknown path ``Invalid URL (POST /v1/x)``,
a body too large with HTTP 413); a chat completion asked with ``stream: true`` is server-sent events of
``chat.completion.chunk`` objects (``choices[].delta``, a last ``finish_reason``, with ``stream_options.
include_usage`` a chunk with no choices and the usage) ending ``data: [DONE]``; the client's ``Stream`` reads them.
"""

from __future__ import annotations

import json
import socket

import httpx
import openai
import pytest

from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.serving import MAX_REQUEST_BYTES, BackgroundServer, create_app

pytestmark = pytest.mark.slow
QUESTION = [{"role": "user", "content": "What colour is the sky?"}]
# a reply may wait for the model to load or run on a loaded 2-core machine: httpx's default of 5 s is a race
REPLY_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def served():
    """(the server's base URL, its pool): a test holds the pool's device lock to show a refusal comes first."""
    pool = ModelPool(load_cards(), device="cpu")
    with BackgroundServer(create_app(pool, "tiny-pair")) as server:
        yield server.url, pool


@pytest.fixture(scope="module")
def url(served):
    return served[0]


def _openai_error(reply: httpx.Response, status: int) -> dict:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/json"), reply.headers
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"], error
    return error


def test_an_unknown_url_or_method_gets_the_openai_error_shape(url):
    """Before: FastAPI's ``{"detail": "Not Found"}``, which the openai client shows as a bare status."""
    error = _openai_error(httpx.post(f"{url}/nothing", json={}, timeout=REPLY_TIMEOUT_S), 404)
    assert error["message"] == "Invalid URL (POST /v1/nothing)"
    assert "GET" in _openai_error(httpx.get(f"{url}/chat/completions"), 405)["message"]
    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
    with pytest.raises(openai.NotFoundError, match=r"Invalid URL \(POST /v1/nothing\)"):
        client.post("/nothing", body={}, cast_to=object)


def test_a_request_without_a_body_says_so(url):
    """Before: "'' is required", naming no field."""
    error = _openai_error(httpx.post(f"{url}/chat/completions", timeout=REPLY_TIMEOUT_S), 400)
    assert "no body" in error["message"] and "JSON object" in error["message"], error


def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read(url):
    """Before: any size was read whole and parsed (a 100 MB chat body was answered 200)."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:  # announces the size, sends 2 bytes
        sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {MAX_REQUEST_BYTES + 1}\r\n\r\n{{}}".encode())
        received = b""
        while piece := sock.recv(65536):  # the answer says "connection: close": read until the server closes
            received += piece
        head = received.decode()
    assert head.startswith("HTTP/1.1 413"), head[:200]
    assert "request_too_large" in head and f"the limit is {MAX_REQUEST_BYTES} bytes" in head, head
    # 64 MiB * 4 // 3 + 1 MiB = 90527061 bytes = 86.333... MiB, said to one decimal (before: "86.3333 MiB")
    assert MAX_REQUEST_BYTES == 90527061 and "(about 86.3 MiB)" in head and "86.33" not in head, head
    assert "gradio" not in head, head  # this server has no Gradio upload route to send files to

    def chunks():  # no Content-Length: counted as it arrives
        piece = b'{"messages": [{"role": "user", "content": "' + b"a" * (2**20 - 45)
        yield piece
        for _ in range(MAX_REQUEST_BYTES // 2**20 + 2):
            yield b"a" * 2**20
        yield b'"}]}'

    reply = httpx.post(f"{url}/chat/completions", content=chunks(), headers={"content-type": "application/json"},
                       timeout=60)
    assert _openai_error(reply, 413)["code"] == "request_too_large"


def _answer_to_a_stalled_body(server_url: str, sent: bytes) -> tuple[str, dict]:
    """What the server at ``server_url`` answers a chat request announcing 100 bytes and sending ``sent``."""
    host, port = server_url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n" + sent)
        received = b""
        while piece := sock.recv(65536):  # the refusal closes the connection
            received += piece
    head, _, body = received.decode().partition("\r\n\r\n")
    return head, json.loads(body)


def test_a_body_that_stalls_is_refused_with_408_in_the_openai_shape():
    """Before: a body that stopped after its first byte held the connection and its handler for good (no
    answer after 45 s; uvicorn has no body timeout). As the app (``body_limit.BodyLimit``), the server waits
    ``body_idle_s`` for each next piece of a body, then answers 408 and closes the connection."""
    pool = ModelPool(load_cards(), device="cpu")
    with BackgroundServer(create_app(pool, "tiny-pair", body_idle_s=0.5)) as server:
        for sent in (b"", b"{"):  # nothing of the body, or its first byte only
            head, body = _answer_to_a_stalled_body(server.url, sent)
            assert head.startswith("HTTP/1.1 408"), head
            assert "connection: close" in head.lower(), head
            error = body["error"]
            assert set(error) == {"message", "type", "param", "code"}, error
            # "stalled" (no byte for body_idle_s), or "too slow" when this machine paused between the first byte's
            # read and the next wait (the rate rule's deadline then comes first): both the 408 of a stopped body
            assert error["code"] == "request_timeout", error
            assert "request body stalled" in error["message"] or "request body too slow" in error["message"], error
            assert "0.5 s" in error["message"], error


def test_stream_true_answers_as_server_sent_chunks_the_openai_client_reads(url):
    """Before: ``stream: true`` was answered with one JSON completion, which a streaming client cannot read
    (the openai client's Stream yields nothing from it)."""
    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
    whole = client.chat.completions.create(model="tiny-pair", messages=QUESTION, max_tokens=8, seed=3)
    chunks = list(client.chat.completions.create(model="tiny-pair", messages=QUESTION, max_tokens=8, seed=3,
                                                 stream=True, stream_options={"include_usage": True}))
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content and text
    finished = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finished == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None  # include_usage: the last chunk
    raw = httpx.post(f"{url}/chat/completions", json={"messages": QUESTION, "max_tokens": 8, "stream": True}, timeout=REPLY_TIMEOUT_S)
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.text.rstrip().endswith("data: [DONE]")


def test_stream_on_the_images_endpoints_is_refused_by_name(url):
    """Before: ignored, and the whole image answered as JSON to a client waiting for image events."""
    error = _openai_error(httpx.post(f"{url}/images/generations", json={"prompt": "a red square", "stream": True}, timeout=REPLY_TIMEOUT_S),
                          400)
    assert error["param"] == "stream", error
    reply = httpx.post(f"{url}/images/edits", data={"prompt": "make it blue", "stream": "true"},
                       files={"image": ("a.png", json.dumps({}).encode(), "image/png")}, timeout=REPLY_TIMEOUT_S)
    assert _openai_error(reply, 400)["param"] == "stream"


# OpenAI's API reference types each field; its server refuses a value of another JSON type with HTTP 400,
# ``"Invalid type for 'stream': expected a boolean, but got a string instead."``, param the field, code
# ``invalid_type`` (a string is not a boolean or a number, 1 is not a boolean, 5.0 is not an integer).
WRONG_TYPES = [
    ("chat/completions", "stream", "yes"), ("chat/completions", "stream", "true"), ("chat/completions", "stream", 1),
    ("chat/completions", "n", "1"), ("chat/completions", "n", 1.0), ("chat/completions", "max_tokens", "8"),
    ("chat/completions", "max_completion_tokens", 8.0), ("chat/completions", "seed", "3"),
    ("chat/completions", "seed", True), ("chat/completions", "temperature", "0.5"),
    ("chat/completions", "temperature", True), ("chat/completions", "model", 5),
    ("chat/completions", "stream_options", "yes"), ("chat/completions", "stream_options.include_usage", "no"),
    ("chat/completions", "messages[0].content[0].text", 5),
    ("images/generations", "n", "1"), ("images/generations", "seed", "3"), ("images/generations", "seed", 3.0),
    ("images/generations", "num_inference_steps", 2.0), ("images/generations", "guidance_scale", "2"),
    ("images/generations", "stream", 0), ("images/generations", "size", 512), ("images/generations", "prompt", 5),
    ("images/generations", "response_format", 1),
]


def _with(body: dict, field: str, value) -> dict:
    if field == "stream_options.include_usage":
        return body | {"stream": True, "stream_options": {"include_usage": value}}
    if field.startswith("messages"):
        return body | {"messages": [{"role": "user", "content": [{"type": "text", "text": value}]}]}
    return body | {field: value}


@pytest.mark.parametrize("route,field,value", WRONG_TYPES)
def test_a_field_of_the_wrong_json_type_is_refused_naming_it(url, route, field, value):
    """Before: pydantic's lax mode took "yes", "true" and 1 as true, "8" and 8.0 as 8, "0.5" as 0.5 (and the
    stream options' "no" as a wish for usage), so a runner's typo was answered as if meant."""
    body = {"messages": QUESTION, "max_tokens": 8} if route.startswith("chat") else {"prompt": "a red square"}
    error = _openai_error(httpx.post(f"{url}/{route}", json=_with(body, field, value), timeout=REPLY_TIMEOUT_S), 400)
    assert error["param"] == field and error["code"] == "invalid_type", error
    assert error["message"].startswith(f"Invalid type for '{field}': expected "), error


def test_values_of_the_right_json_type_are_taken(url):
    """The control: an integer where OpenAI wants a number (temperature 1), JSON booleans and null, the chat's
    response_format as the object OpenAI defines, and the edit form's text fields (multipart carries text only)."""
    chat = httpx.post(f"{url}/chat/completions", json={"messages": QUESTION, "max_tokens": 8, "temperature": 1,
                                                       "seed": 3, "n": 1, "stream": False, "stream_options": None,
                                                       "response_format": {"type": "text"}}, timeout=REPLY_TIMEOUT_S)
    assert chat.status_code == 200 and chat.json()["choices"][0]["message"]["content"], chat.text
    json_mode = httpx.post(f"{url}/chat/completions", json={"messages": QUESTION, "response_format": {
        "type": "json_object"}}, timeout=REPLY_TIMEOUT_S)
    assert _openai_error(json_mode, 400)["param"] == "response_format.type"
    from PIL import Image

    from realunify_arena.adapters.wire import png_bytes
    edit = httpx.post(f"{url}/images/edits", data={"prompt": "blue", "n": "1", "seed": "3", "stream": "false",
                                                   "size": "32x32"},
                      files={"image": ("x.png", png_bytes(Image.new("RGB", (40, 30), (200, 30, 30))), "image/png")}, timeout=REPLY_TIMEOUT_S)
    assert edit.status_code == 200 and edit.json()["data"][0]["b64_json"], edit.text
    assert _openai_error(httpx.post(f"{url}/images/edits", data={"prompt": "blue", "seed": "three"},
                                    files={"image": ("x.png", b"x", "image/png")}, timeout=REPLY_TIMEOUT_S), 400)["param"] == "seed"


@pytest.mark.parametrize("route", ["chat/completions", "images/generations"])
@pytest.mark.parametrize("n", [0, -1, 2])
def test_n_other_than_one_is_refused_naming_n(url, route, n):
    """This server answers one choice (one image) per request; OpenAI's reference gives ``n`` a minimum of 1 and
    vLLM refuses a value it cannot serve with a 400, so any n but 1 is refused, never answered with one choice.
    Before: ``n: 0`` passed (read as "not given") and got one choice."""
    body = {"messages": QUESTION, "max_tokens": 8} if route.startswith("chat") else {"prompt": "a red square"}
    error = _openai_error(httpx.post(f"{url}/{route}", json=body | {"n": n}, timeout=REPLY_TIMEOUT_S), 400)
    assert error["param"] == "n" and f"got {n}" in error["message"], error


def test_finish_reason_says_length_for_a_reply_cut_at_max_tokens_and_stop_for_one_the_model_ended(url):
    """OpenAI's reference: ``finish_reason`` is ``stop`` when the model reached a natural stop point, ``length``
    when the maximum number of tokens given in the request was reached. Whether a reply was cut is found without
    the server's word: the same seed with a higher limit samples the same first tokens, so a reply that then
    goes on was cut, and one that stays the same had ended. Before: always ``stop``."""
    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
    seen = set()
    for seed in range(24):  # tiny-pair's random weights end some sampled replies early, and run others on
        ask = {"model": "tiny-pair", "messages": QUESTION, "temperature": 1.5, "seed": seed}
        short = client.chat.completions.create(max_tokens=16, **ask).choices[0]
        longer = client.chat.completions.create(max_tokens=32, **ask).choices[0].message.content
        assert longer.startswith(short.message.content), (short, longer)
        expected = "length" if longer != short.message.content else "stop"
        assert short.finish_reason == expected, (seed, short, longer)
        seen.add(expected)
        if seen == {"length", "stop"}:
            break
    assert seen == {"length", "stop"}, seen  # both kinds were asked about


def test_usage_counts_the_served_model_s_own_tokens(url):
    """OpenAI's reference: ``usage`` gives ``prompt_tokens``, ``completion_tokens`` and their sum ``total_tokens``.
    Checked without the server's word: a reply cut at ``max_tokens`` (``finish_reason`` ``length``) generated
    exactly that many tokens; tiny-pair's tokenizer is word-level (whitespace, then punctuation), so three more
    words in the question are three more prompt tokens; the stream's usage chunk says the same as the whole
    reply. Before: every count 0."""
    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
    ask = {"model": "tiny-pair", "temperature": 1.5}
    cut = None
    for seed in range(24):  # tiny-pair's random weights run some sampled replies on to the limit
        reply = client.chat.completions.create(messages=QUESTION, max_tokens=4, seed=seed, **ask)
        if reply.choices[0].finish_reason == "length":
            cut = reply
            break
    assert cut is not None and cut.usage is not None, cut
    assert cut.usage.completion_tokens == 4, cut.usage
    assert cut.usage.total_tokens == cut.usage.prompt_tokens + 4 and cut.usage.prompt_tokens > 6, cut.usage
    longer = [{"role": "user", "content": QUESTION[0]["content"] + " red green blue"}]
    more = client.chat.completions.create(messages=longer, max_tokens=4, seed=seed, **ask).usage
    assert more.prompt_tokens == cut.usage.prompt_tokens + 3, (more, cut.usage)
    chunks = list(client.chat.completions.create(messages=QUESTION, max_tokens=4, seed=seed, stream=True,
                                                 stream_options={"include_usage": True}, **ask))
    assert chunks[-1].usage == cut.usage, (chunks[-1].usage, cut.usage)


# -- what the served model cannot take or do: refused by name before it runs (OpenAI's API reference) --------------
# OpenAI's image prompt limit (gpt-image-1: 32,000 characters), which this server holds every text input to.
OPENAI_PROMPT_LIMIT = 32000
RED = None  # a 40x30 PNG, made once


def _png() -> bytes:
    global RED
    if RED is None:
        from PIL import Image

        from realunify_arena.adapters.wire import png_bytes
        RED = png_bytes(Image.new("RGB", (40, 30), (200, 30, 30)))
    return RED


def _post(url: str, route: str, fields: dict, files: dict | None = None, timeout: float = 60) -> httpx.Response:
    """``fields`` as JSON, or for ``images/edits`` as the multipart form with an image (and ``files``)."""
    if route == "images/edits":
        form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
        return httpx.post(f"{url}/{route}", data=form, files={"image": ("x.png", _png(), "image/png")} | (files or {}),
                          timeout=timeout)
    return httpx.post(f"{url}/{route}", json=fields, timeout=timeout)


LONG = [  # (route, body, param, code): one character past OpenAI's limit, in each place a text input goes
    ("chat/completions", {"messages": [{"role": "user", "content": "a" * (OPENAI_PROMPT_LIMIT + 1)}]}, "messages",
     "context_length_exceeded"),
    ("chat/completions", {"messages": [{"role": "system", "content": "b" * 20000},  # together over the limit
                                       {"role": "user", "content": [{"type": "text", "text": "c" * 20000}]}]},
     "messages", "context_length_exceeded"),
    ("images/generations", {"prompt": "hi " * 100000}, "prompt", "string_above_max_length"),
    ("images/edits", {"prompt": "d" * (OPENAI_PROMPT_LIMIT + 1)}, "prompt", "string_above_max_length"),
]


@pytest.mark.parametrize("route,body,param,code", LONG)
def test_a_text_input_past_the_limit_is_refused_before_the_model_runs(served, route, body, param, code):
    """Before: no bound. A 100,000-word chat prompt held tiny-pair for ~35 s after its client gave up, and a
    100,000-word image prompt was answered 500 with the allocator's "you tried to allocate 40017601936 bytes".
    OpenAI answers 400: ``context_length_exceeded`` (param ``messages``) for a chat, and for an image prompt
    ``string_above_max_length`` (param ``prompt``). The device lock is held meanwhile: a refusal that waited
    for the model would not come."""
    url, pool = served
    with pool.lock_for("tiny-pair"):
        error = _openai_error(_post(url, route, body, timeout=120), 400)
    assert error["param"] == param and error["code"] == code, error
    assert error["type"] == "invalid_request_error" and f"{OPENAI_PROMPT_LIMIT:,}".replace(",", "") in \
        error["message"].replace(",", ""), error


def test_a_prompt_at_the_limit_is_taken(url):
    """The control: exactly OpenAI's 32,000 characters (one word, so the tiny model reads one token)."""
    reply = httpx.post(f"{url}/images/generations", json={"prompt": "a" * OPENAI_PROMPT_LIMIT, "size": "32x32"},
                       timeout=120)
    assert reply.status_code == 200 and reply.json()["data"][0]["b64_json"], reply.text[:300]


UNSUPPORTED = [  # (route, field, value): each changes what OpenAI answers; this server cannot do it
    ("chat/completions", "logprobs", True), ("chat/completions", "top_logprobs", 3),
    ("chat/completions", "tools", [{"type": "function", "function": {"name": "f", "parameters": {}}}]),
    ("chat/completions", "tool_choice", "required"), ("chat/completions", "functions", [{"name": "f"}]),
    ("chat/completions", "function_call", {"name": "f"}), ("chat/completions", "logit_bias", {"7": 100}),
    ("chat/completions", "frequency_penalty", 0.5), ("chat/completions", "presence_penalty", -1),
    ("chat/completions", "modalities", ["text", "audio"]),
    ("chat/completions", "audio", {"voice": "alloy", "format": "wav"}),
    ("chat/completions", "reasoning_effort", "high"),
    ("images/generations", "background", "transparent"), ("images/generations", "style", "vivid"),
    ("images/edits", "background", "transparent"), ("images/edits", "input_fidelity", "high"),
]


@pytest.mark.parametrize("route,field,value", UNSUPPORTED)
def test_a_field_that_would_change_the_answer_is_refused_naming_it(url, route, field, value):
    """Before: ignored, and a plain answer returned 200 (no tool call, no logprobs, an opaque PNG), which a client
    reads as what it asked for. OpenAI's reference defines each; this server refuses it with a 400 naming it."""
    body = {"messages": QUESTION, "max_tokens": 4} if route.startswith("chat") else {"prompt": "a red square"}
    error = _openai_error(_post(url, route, body | {field: value}), 400)
    assert error["param"] == field and "not supported by this server" in error["message"], error


# A field this server refuses (UNSUPPORTED above), sent with a JSON type OpenAI's API reference does not give it:
# (route, field, value, the type the reference gives it). logprobs a boolean; top_logprobs an integer; tools,
# functions and modalities arrays; tool_choice and function_call a string or an object; logit_bias, audio and
# web_search_options objects; the penalties numbers; reasoning_effort, verbosity, background, style and
# input_fidelity strings.
REFUSED_WRONG_TYPES = [
    ("chat/completions", "logprobs", "yes", "a boolean"), ("chat/completions", "logprobs", 1, "a boolean"),
    ("chat/completions", "top_logprobs", "2", "an integer"), ("chat/completions", "top_logprobs", 2.5, "an integer"),
    ("chat/completions", "tools", "f", "an array"), ("chat/completions", "functions", {"name": "f"}, "an array"),
    ("chat/completions", "tool_choice", 5, "a string or an object"),
    ("chat/completions", "function_call", ["f"], "a string or an object"),
    ("chat/completions", "logit_bias", [1], "an object"), ("chat/completions", "frequency_penalty", "0", "a number"),
    ("chat/completions", "presence_penalty", False, "a number"), ("chat/completions", "modalities", "text", "an array"),
    ("chat/completions", "audio", "alloy", "an object"), ("chat/completions", "reasoning_effort", 1, "a string"),
    ("chat/completions", "verbosity", ["low"], "a string"),
    ("chat/completions", "web_search_options", True, "an object"),
    ("images/generations", "background", 5, "a string"), ("images/generations", "style", ["vivid"], "a string"),
]


@pytest.mark.parametrize("route,field,value,expected", REFUSED_WRONG_TYPES,
                         ids=[f"{r.split('/')[-1]}-{f}-{v!r}"[:60] for r, f, v, _ in REFUSED_WRONG_TYPES])
def test_a_refused_field_of_the_wrong_json_type_is_refused_as_the_wrong_type(url, route, field, value, expected):
    """Before: "'logprobs' is not supported by this server (got 'yes')", code unsupported_parameter, where OpenAI
    answers a value of the wrong type as the wrong type ("Invalid type for 'logprobs': expected a boolean, but got
    a string instead", code invalid_type), as this server answers every field it declares."""
    body = {"messages": QUESTION, "max_tokens": 4} if route.startswith("chat") else {"prompt": "a red square"}
    error = _openai_error(_post(url, route, body | {field: value}), 400)
    assert error["param"] == field and error["code"] == "invalid_type", error
    assert error["message"].startswith(f"Invalid type for '{field}': expected {expected}, but got "), error


def test_top_p_is_refused_only_where_it_would_change_a_sampled_answer(url):
    """Nucleus sampling cuts the distribution a sampled token is drawn from; a greedy answer (temperature 0, the
    cards' default) takes the most likely token whatever top_p says. Benchmark runners send top_p with
    temperature 0: taken. With sampling it would change OpenAI's answer and is refused, naming it."""
    body = {"messages": QUESTION, "max_tokens": 4, "top_p": 0.1}
    error = _openai_error(_post(url, "chat/completions", body | {"temperature": 0.7}), 400)
    assert error["param"] == "top_p" and "not supported by this server when sampling" in error["message"], error
    for greedy in ({}, {"temperature": 0}):
        reply = _post(url, "chat/completions", body | greedy)
        assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"], reply.text[:300]


def test_an_image_s_quality_is_a_hint_and_is_taken(url):
    """``quality`` asks for more or less effort (gpt-image-1 low/medium/high, dall-e-3 hd): a hint these models
    have one answer to, as dall-e-2 has only ``standard``. A runner sending quality "high" gets its image."""
    for quality in ("high", "hd", "low"):
        reply = _post(url, "images/generations", {"prompt": "a red square", "size": "32x32", "quality": quality})
        assert reply.status_code == 200 and reply.json()["data"][0]["b64_json"], reply.text[:300]


# A field the server takes but never reads, sent with a type or value outside OpenAI's API reference: (route, the
# field, the value, the param named, OpenAI's error code for it). The reference: top_p a number 0..1; user,
# safety_identifier, prompt_cache_key, a message's name strings; store, parallel_tool_calls booleans; metadata at
# most 16 string pairs; service_tier auto/default/flex/scale/priority; prediction an object; images' quality
# auto/low/medium/high (GPT image models), standard/hd (dall-e-3); moderation auto/low; partial_images 0..3.
WRONG = [
    ("chat/completions", "top_p", "x", "top_p", "invalid_type"),
    ("chat/completions", "top_p", True, "top_p", "invalid_type"),
    ("chat/completions", "top_p", 5, "top_p", "invalid_request"),
    ("chat/completions", "top_p", -0.5, "top_p", "invalid_request"),
    ("chat/completions", "user", 5, "user", "invalid_type"),
    ("chat/completions", "safety_identifier", ["a"], "safety_identifier", "invalid_type"),
    ("chat/completions", "prompt_cache_key", 7, "prompt_cache_key", "invalid_type"),
    ("chat/completions", "store", "yes", "store", "invalid_type"),
    ("chat/completions", "parallel_tool_calls", 1, "parallel_tool_calls", "invalid_type"),
    ("chat/completions", "service_tier", "fastest", "service_tier", "invalid_request"),
    ("chat/completions", "service_tier", 1, "service_tier", "invalid_type"),
    ("chat/completions", "metadata", ["k", "v"], "metadata", "invalid_type"),
    ("chat/completions", "metadata", {"k": 1}, "metadata.k", "invalid_type"),
    ("chat/completions", "metadata", {f"k{i}": "v" for i in range(17)}, "metadata", "invalid_request"),
    ("chat/completions", "prediction", "the answer", "prediction", "invalid_type"),
    ("images/generations", "quality", 5, "quality", "invalid_type"),
    ("images/generations", "quality", "ultra", "quality", "invalid_request"),
    ("images/generations", "moderation", "high", "moderation", "invalid_request"),
    ("images/generations", "partial_images", 4, "partial_images", "invalid_request"),
    ("images/generations", "user", 5, "user", "invalid_type"),
    ("images/edits", "quality", "ultra", "quality", "invalid_request"),
    ("images/edits", "partial_images", "9", "partial_images", "invalid_request"),
]


@pytest.mark.parametrize("route,field,value,param,code", WRONG,
                         ids=[f"{r.split('/')[-1]}-{f}-{v!r}"[:60] for r, f, v, _, _ in WRONG])
def test_a_taken_field_of_the_wrong_type_or_range_is_refused_naming_it(url, route, field, value, param, code):
    """Before: each was answered 200 unread (``quality: 5``, ``top_p: "x"`` with temperature 0), or top_p "x" with
    sampling was refused as "not supported when sampling", not as the wrong type it is. OpenAI answers each with
    a 400 invalid_request_error naming the param."""
    body = {"messages": QUESTION, "max_tokens": 4} if route.startswith("chat") else {"prompt": "a red square",
                                                                                     "size": "32x32"}
    for temperature in ((0, 0.7) if route.startswith("chat") else (None,)):
        sent = body | {field: value} | ({} if temperature is None else {"temperature": temperature})
        error = _openai_error(_post(url, route, sent), 400)
        assert error["type"] == "invalid_request_error" and error["param"] == param, error
        assert error["code"] == code and "not supported" not in error["message"], error


def test_a_message_name_of_the_wrong_type_is_refused_naming_it(url):
    reply = httpx.post(f"{url}/chat/completions", json={"messages": [{"role": "user", "name": 5, "content": "hi"}]}, timeout=REPLY_TIMEOUT_S)
    error = _openai_error(reply, 400)
    assert error["param"] == "messages[0].name" and error["code"] == "invalid_type", error


def test_taken_fields_at_the_edges_of_their_range_are_taken(url):
    """The control: top_p 0 and 1 (greedy), 16 metadata pairs of 64- and 512-character strings, every quality."""
    metadata = {f"{i:02d}".ljust(64, "k"): "v" * 512 for i in range(16)}
    for top_p in (0, 1):
        chat = _post(url, "chat/completions", {"messages": [{"role": "user", "name": "ann", "content": "Hi?"}],
                                               "max_tokens": 2, "temperature": 0, "top_p": top_p,
                                               "metadata": metadata, "service_tier": "flex", "store": True,
                                               "safety_identifier": "s", "prompt_cache_key": "p",
                                               "prediction": {"type": "content", "content": "x"}})
        assert chat.status_code == 200, chat.text[:300]
    for quality in ("auto", "low", "medium", "high", "standard", "hd"):
        image = _post(url, "images/generations", {"prompt": "a red square", "size": "32x32", "quality": quality,
                                                  "moderation": "auto", "partial_images": 3})
        assert image.status_code == 200, image.text[:300]
    edit = _post(url, "images/edits", {"prompt": "a red square", "quality": "medium", "partial_images": "0"})
    assert edit.status_code == 200, edit.text[:300]


def test_a_mask_on_an_edit_is_refused_naming_it(url):
    """Before: the mask was dropped and the whole image edited, answered 200. OpenAI's mask asks for inpainting:
    only its transparent area may change."""
    reply = _post(url, "images/edits", {"prompt": "a blue sky"}, files={"mask": ("m.png", _png(), "image/png")})
    error = _openai_error(reply, 400)
    assert error["param"] == "mask" and "not supported by this server" in error["message"], error


@pytest.mark.parametrize("role", ["wizard", "tool", "function", "User"])
def test_an_unknown_or_tool_role_is_refused_naming_it(url, role):
    """Before: any role was taken. OpenAI's roles are system, developer, user, assistant, tool and function (the
    last two carry tool results, and this server makes no tool calls); others get a 400 naming the field."""
    reply = httpx.post(f"{url}/chat/completions", json={"messages": [{"role": role, "content": "hi"}]}, timeout=REPLY_TIMEOUT_S)
    assert _openai_error(reply, 400)["param"] == "messages[0].role"


def test_values_that_ask_for_nothing_more_are_taken(url):
    """The control: the defaults of the refused fields, and fields that change nothing a client sees."""
    chat = httpx.post(f"{url}/chat/completions", json={
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "developer", "content": "Be kind."}]
        + QUESTION, "max_tokens": 4, "logprobs": False, "tools": [], "tool_choice": "none", "top_p": 1,
        "frequency_penalty": 0, "presence_penalty": 0.0, "modalities": ["text"], "user": "u1",
        "metadata": {"k": "v"}, "store": False, "parallel_tool_calls": True}, timeout=REPLY_TIMEOUT_S)
    assert chat.status_code == 200 and chat.json()["choices"][0]["message"]["content"], chat.text
    image = httpx.post(f"{url}/images/generations", json={"prompt": "a red square", "size": "32x32", "user": "u1",
                                                          "background": "opaque", "quality": "auto",
                                                          "moderation": "low"}, timeout=60)
    assert image.status_code == 200, image.text[:300]


def _seeded_answer(client) -> tuple[dict, str]:
    """A request and its answer without ``stop`` (at least 4 characters; tiny-pair samples noise words)."""
    for seed in range(24):
        ask = {"model": "tiny-pair", "messages": QUESTION, "max_tokens": 16, "temperature": 1.5, "seed": seed}
        whole = client.chat.completions.create(**ask).choices[0].message.content
        if len(whole) >= 4:
            return ask, whole
    raise AssertionError("no answer of 4 characters in 24 seeds")


def test_stop_cuts_the_answer_before_the_first_stop_sequence(url):
    """OpenAI's reference: ``stop``, up to 4 sequences "where the API will stop generating further tokens. The
    returned text will not contain the stop sequence"; ``finish_reason`` is then ``stop``. The expected text is
    the answer without ``stop`` (same seed) cut before the earliest occurrence of either sequence. Before: the
    answer went on past it."""
    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
    ask, whole = _seeded_answer(client)
    stops = [whole[len(whole) // 2:len(whole) // 2 + 2], "never in the answer \u2603"]
    expected = whole[:whole.find(stops[0])]
    cut = client.chat.completions.create(**ask, stop=stops).choices[0]
    assert (cut.message.content, cut.finish_reason) == (expected, "stop"), (whole, stops, cut)
    chunks = list(client.chat.completions.create(**ask, stop=stops[0], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == expected
    assert client.chat.completions.create(**ask, stop=["\u2603"]).choices[0].message.content == whole  # none found
    error = _openai_error(httpx.post(f"{url}/chat/completions", json={"messages": QUESTION, "stop": list("abcde")}, timeout=REPLY_TIMEOUT_S),
                          400)
    assert error["param"] == "stop" and "4" in error["message"], error


@pytest.mark.parametrize("route", ["images/generations", "images/edits"])
@pytest.mark.parametrize("output_format,pillow_format", [("jpeg", "JPEG"), ("webp", "WEBP"), ("png", "PNG")])
def test_output_format_encodes_the_image_as_asked(url, route, output_format, pillow_format):
    """OpenAI's reference: ``output_format`` png (the default), jpeg or webp, ``output_compression`` 0-100 for the
    last two. Pillow reads the answer to tell its format. Before: always PNG."""
    import base64
    import io

    from PIL import Image

    body = {"prompt": "a red square", "size": "32x32", "output_format": output_format, "output_compression": 80}
    reply = _post(url, route, body)
    assert reply.status_code == 200, reply.text[:300]
    image = Image.open(io.BytesIO(base64.b64decode(reply.json()["data"][0]["b64_json"])))
    assert image.format == pillow_format, image.format
    for bad in ({"output_format": "gif"}, {"output_compression": 101}):
        assert _openai_error(_post(url, route, {"prompt": "x"} | bad), 400)["param"] == next(iter(bad))


def test_a_run_past_the_time_limit_is_a_server_error_not_retried(served):
    """As the app stops a run past ``--run-time-limit`` (``stopping.RunControl``), so does this server: a 500 of
    OpenAI's type ``server_error`` (never ``invalid_request_error``: the request was fine), with
    ``x-should-retry: false`` so that the openai client does not run it twice more. Before: no limit."""
    _, pool = served
    with BackgroundServer(create_app(pool, "tiny-pair", time_limit_s=1e-9)) as server:
        reply = httpx.post(f"{server.url}/chat/completions", json={"messages": QUESTION, "max_tokens": 4}, timeout=60)
    error = _openai_error(reply, 500)
    assert error["type"] == "server_error" and error["code"] == "run_time_limit", error
    assert "time limit" in error["message"] and reply.headers["x-should-retry"] == "false", (error, reply.headers)


def test_a_request_whose_client_disconnects_is_stopped_before_its_model_runs(served):
    """Before: a request ran to its end after its client had gone (a 100,000-word prompt held the model ~35 s
    more, and the next client waited behind it). The device lock is held while the client sends a request and
    closes its connection; the server sees the disconnect (``Request.is_disconnected``) and stops the run
    (``stopping.RunControl``), which then ends at its first check instead of generating."""
    import time

    from realunify_arena import stopping
    from realunify_arena.serving import CLIENT_GONE

    url, pool = served
    host, port = url.split("//")[1].split("/")[0].split(":")
    body = json.dumps({"messages": QUESTION, "max_tokens": 4}).encode()
    with pool.lock_for("tiny-pair"):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        gone = []
        for _ in range(600):  # up to a minute on a loaded machine; the server looks every 0.5 s
            gone = [c for c in list(stopping._opened) if c.stopped and c.reason == CLIENT_GONE]
            if gone:
                break
            time.sleep(0.1)
    assert gone, "the run of a disconnected client was not stopped"
    assert stopping.wait_until_idle(60)
    assert not gone[0].started  # it never got past its first check: the model did not run


@pytest.mark.parametrize("route", ["images/edits", "chat/completions"])
def test_an_image_waiting_to_be_decoded_does_not_stop_the_server_answering(url, route):
    """A request's image is decoded within the process-wide decode slots (``images.MAX_CONCURRENT_DECODES``), which
    other work may hold. It was decoded on the server's event loop, so while it waited for a slot nothing else
    was answered, not even ``/v1/models`` (verify26c). With every slot held here, ``/v1/models`` answers while the
    request waits; the request is answered once the slots are free."""
    import concurrent.futures

    from realunify_arena.benchmark import images

    data_url = "data:image/png;base64," + __import__("base64").b64encode(_png()).decode()
    fields = ({"prompt": "blue", "size": "32x32"} if route == "images/edits" else
              {"messages": [{"role": "user", "content": [{"type": "text", "text": "colour?"},
                                                         {"type": "image_url", "image_url": {"url": data_url}}]}],
               "max_tokens": 4})
    held = [images.decode_slot() for _ in range(images.MAX_CONCURRENT_DECODES)]
    for slot in held:
        slot.acquire()
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(_post, url, route, fields, None, REPLY_TIMEOUT_S)
            for _ in range(20):  # the request is in (it waits for a slot, not for its body) before asking
                if waiting.done():
                    break
                models = httpx.get(f"{url}/models", timeout=10)
                assert models.status_code == 200, models.text
            assert not waiting.done(), waiting.result().text  # it could not have decoded its image
            for slot in held:
                slot.release()
            held = []
            reply = waiting.result(timeout=REPLY_TIMEOUT_S)
        assert reply.status_code == 200, reply.text
    finally:
        for slot in held:
            slot.release()
