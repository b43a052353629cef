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


@pytest.fixture(scope="module")
def url():
    pool = ModelPool(load_cards(), device="cpu")
    with BackgroundServer(create_app(pool, "tiny-pair")) as server:
        yield server.url


def _openai_error(reply: httpx.Response, status: int) -> dict:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/json"), reply.headers
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"], error
    return error


def test_an_unknown_url_or_method_gets_the_openai_error_shape(url):
    """Before: FastAPI's ``{"detail": "Not Found"}``, which the openai client shows as a bare status."""
    error = _openai_error(httpx.post(f"{url}/nothing", json={}), 404)
    assert error["message"] == "Invalid URL (POST /v1/nothing)"
    assert "GET" in _openai_error(httpx.get(f"{url}/chat/completions"), 405)["message"]
    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
    with pytest.raises(openai.NotFoundError, match=r"Invalid URL \(POST /v1/nothing\)"):
        client.post("/nothing", body={}, cast_to=object)


def test_a_request_without_a_body_says_so(url):
    """Before: "'' is required", naming no field."""
    error = _openai_error(httpx.post(f"{url}/chat/completions"), 400)
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
    raw = httpx.post(f"{url}/chat/completions", json={"messages": QUESTION, "max_tokens": 8, "stream": True})
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.text.rstrip().endswith("data: [DONE]")


def test_stream_on_the_images_endpoints_is_refused_by_name(url):
    """Before: ignored, and the whole image answered as JSON to a client waiting for image events."""
    error = _openai_error(httpx.post(f"{url}/images/generations", json={"prompt": "a red square", "stream": True}),
                          400)
    assert error["param"] == "stream", error
    reply = httpx.post(f"{url}/images/edits", data={"prompt": "make it blue", "stream": "true"},
                       files={"image": ("a.png", json.dumps({}).encode(), "image/png")})
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
    error = _openai_error(httpx.post(f"{url}/{route}", json=_with(body, field, value)), 400)
    assert error["param"] == field and error["code"] == "invalid_type", error
    assert error["message"].startswith(f"Invalid type for '{field}': expected "), error


def test_values_of_the_right_json_type_are_taken(url):
    """The control: an integer where OpenAI wants a number (temperature 1), JSON booleans and null, the chat's
    response_format as the object OpenAI defines, and the edit form's text fields (multipart carries text only)."""
    chat = httpx.post(f"{url}/chat/completions", json={"messages": QUESTION, "max_tokens": 8, "temperature": 1,
                                                       "seed": 3, "n": 1, "stream": False, "stream_options": None,
                                                       "response_format": {"type": "text"}})
    assert chat.status_code == 200 and chat.json()["choices"][0]["message"]["content"], chat.text
    json_mode = httpx.post(f"{url}/chat/completions", json={"messages": QUESTION, "response_format": {
        "type": "json_object"}})
    assert _openai_error(json_mode, 400)["param"] == "response_format.type"
    from PIL import Image

    from realunify_arena.adapters.wire import png_bytes
    edit = httpx.post(f"{url}/images/edits", data={"prompt": "blue", "n": "1", "seed": "3", "stream": "false",
                                                   "size": "32x32"},
                      files={"image": ("x.png", png_bytes(Image.new("RGB", (40, 30), (200, 30, 30))), "image/png")})
    assert edit.status_code == 200 and edit.json()["data"][0]["b64_json"], edit.text
    assert _openai_error(httpx.post(f"{url}/images/edits", data={"prompt": "blue", "seed": "three"},
                                    files={"image": ("x.png", b"x", "image/png")}), 400)["param"] == "seed"


@pytest.mark.parametrize("route", ["chat/completions", "images/generations"])
@pytest.mark.parametrize("n", [0, -1, 2])
def test_n_other_than_one_is_refused_naming_n(url, route, n):
    """This server answers one choice (one image) per request; OpenAI's reference gives ``n`` a minimum of 1 and
    vLLM refuses a value it cannot serve with a 400, so any n but 1 is refused, never answered with one choice.
    Before: ``n: 0`` passed (read as "not given") and got one choice."""
    body = {"messages": QUESTION, "max_tokens": 8} if route.startswith("chat") else {"prompt": "a red square"}
    error = _openai_error(httpx.post(f"{url}/{route}", json=body | {"n": n}), 400)
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
