"""An endpoint that answers HTTP 200 with its caller's key in the reply text (a echoing proxy, a model told to
repeat its headers): the key reaches neither the stored run, its judgment, the SQLite file nor the result a
visitor gets. A real ``openai`` adapter against a loopback stand-in, a real store on disk; nothing replaced."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from realunify_arena.adapters.base import GenerationOptions
from realunify_arena.benchmark import load
from realunify_arena.benchmark.custom import CUSTOM_DATASET, custom_instance
from realunify_arena.cards import load_card
from realunify_arena.runs import run_and_judge
from realunify_arena.runtime import ModelPool
from realunify_arena.store import Store
from tests.stand_in import JSONHandler, png_b64, serving

KEY = "echo16-Key-0123456789abcdefghijKLMNOP"
KEY_ENV = "ECHO16_SERVICE_KEY"


class Echoing(JSONHandler):
    """Chat completions answer "yes A, your key is <the bearer token>"; image requests answer a small PNG."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if "/images/" in self.path:
            return self.reply(200, {"created": 0, "data": [{"b64_json": png_b64(Image.new("RGB", (32, 32), (200, 30, 30)))}]})
        token = self.headers.get("Authorization", "").split()[-1]
        self.reply(200, {"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": [
            {"index": 0, "finish_reason": "stop",
             "message": {"role": "assistant", "content": f"yes A, your key is {token}"}}]})


@pytest.fixture()
def echoing(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    with serving(Echoing) as server:
        path = tmp_path / "echo.yaml"
        path.write_text(json.dumps({
            "family": "openai", "description": "echoing stand-in (test only)",
            "capabilities": ["understand", "generate"], "endpoint": f"{server.url}/v1", "api_key_env": KEY_ENV,
            "checkpoint": "m", "params": {"timeout_s": 5}}))
        yield ModelPool({"echo": load_card(path)})


def _key_in(data: str | bytes) -> bool:
    """Whether any 12 characters in a row of the key are in ``data``."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    return any(KEY[i:i + 12] in text for i in range(len(KEY) - 11))


@pytest.mark.parametrize("track, mode", [("GEU", "direct"), ("UEG", "stepwise")])
def test_a_reply_that_echoes_the_key_is_stored_and_returned_without_it(echoing, tmp_path, track, mode):
    if track == "GEU":
        instance = custom_instance("GEU", "all", None, Image.new("RGB", (16, 16), "white"), "Which?",
                                   "a\nb\nc\nd", "A")
    else:  # a benchmark instance: its polling questions are put to the judge (the same echoing card)
        instance = next(i for i in load("bundled").instances if i.track == "UEG")
    db = tmp_path / "arena.db"
    store = Store.open(db)
    try:
        result = run_and_judge(store, echoing, CUSTOM_DATASET, instance, "echo", mode,
                               GenerationOptions(max_new_tokens=32), "echo")
        assert result["status"] == "ok", result["error"]
        assert result["judgment"] is not None, result["judge_problem"]
        texts = [s["text"] for s in result["trace"]["steps"] if s["text"]]
        if track == "UEG":  # the judge's replies to the polling questions
            texts += [r for q in result["judgment"]["details"]["questions"] for r in q["replies"]]
        assert texts and all("your key is ***" in t for t in texts), texts  # the reply is kept, the key masked
        assert not _key_in(json.dumps(result)), result
        stored = store.load_trace(result["run_id"])
        assert not _key_in(json.dumps(stored.to_dict()))
        assert not _key_in(json.dumps(store.find_judgment(result["run_id"], "echo")))
    finally:
        store.close()
    for part in db.parent.iterdir():  # the database, its WAL and any side file
        if part.is_file():
            assert not _key_in(part.read_bytes()), part.name


def test_serve_openai_answers_without_the_key_its_upstream_echoed(echoing):
    """``serve-openai`` in front of a remote card: its client gets the upstream's reply, not the server's key."""
    import httpx

    from realunify_arena.serving import BackgroundServer, create_app

    with BackgroundServer(create_app(echoing, "echo")) as server:
        reply = httpx.post(f"{server.url}/chat/completions", timeout=30, json={
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Which?"}]}]})
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] == "yes A, your key is ***"
    assert not _key_in(reply.text)
