"""An OpenAI-compatible endpoint that answers HTTP 200 with JSON that is not an object (``[1, 2]``, ``null``,
``42``, ``true``) fails that run, or that judge's ask, with a message saying so; the app stays up and nothing is
stored as a run.

Measured before: the openai client hands such a body back as the plain Python value, and the run's error shown in
Explore and returned by ``/run_instance`` was Python's own "AttributeError: 'list' object has no attribute 'data'"
(``'NoneType' object has no attribute 'choices'`` for ``null``), naming neither the card nor the endpoint; a judge
asked through such an endpoint stored the same text as its replies. The OpenAI API answers every request with a
JSON object (https://platform.openai.com/docs/api-reference: a chat completion, an images response).

The app is the real ``build_demo`` over a real store and ``ModelPool`` with the real ``openai`` family adapter
talking to a loopback stand-in (``tests/stand_in.py``).
"""

from __future__ import annotations

import pytest
from gradio_client import Client
from PIL import Image
from gradio_sessions import launched_client
from stand_in import JSONHandler, png_b64, serving

from realunify_arena.adapters.base import Capability
from realunify_arena.cards import ModelCard
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings

pytestmark = pytest.mark.slow

UEG_UID = "UEG_1_world_knowledge"
GEU_UID = "GEU_1_mental_reconstruction"
# JSON that parses but is no object: what a misconfigured proxy or a toy server may answer with status 200
BODIES = {"list": b"[1, 2]", "null": b"null", "number": b"42", "bool": b"true"}
IMAGE = png_b64(Image.new("RGB", (32, 32), "red"))


class Replies(JSONHandler):
    """``/ok/v1/...``: a good image (images API) or "yes" (chat); ``/<name>/v1/...``: ``BODIES[name]`` with 200."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        name = self.path.split("/")[1]
        if name == "ok":
            if "/images/" in self.path:
                return self.reply(200, {"created": 0, "data": [{"b64_json": IMAGE}]})
            return self.reply(200, {"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "yes"}}]})
        body = BODIES[name]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def card(name: str, url: str, capabilities: frozenset[Capability]) -> ModelCard:
    return ModelCard(name=name, family="openai", description="non-object replies (reliability test)",
                     capabilities=capabilities, checkpoints={c.value: "m" for c in capabilities},
                     endpoint=f"{url}/{name.split('-', 1)[1]}/v1", params={"timeout_s": 10, "max_retries": 0})


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with serving(Replies) as server:
        cards = {f"model-{n}": card(f"model-{n}", server.url, frozenset(Capability)) for n in (*BODIES, "ok")}
        cards.update({f"judge-{n}": card(f"judge-{n}", server.url, frozenset({Capability.UNDERSTAND}))
                      for n in BODIES})
        settings = Settings(data=("bundled",), models=tuple(cards), judge="human",
                            db=tmp_path_factory.mktemp("non-object") / "arena.db", arena_mode="live", run_limit=100)
        with launched_client(settings, ModelPool(cards, device="cpu")) as app:
            yield app


def run(client: Client, model: str, uid: str, mode: str, judge: str = "human") -> dict:
    return client.predict("bundled", uid, model, mode, 0, judge, api_name="/run_instance")


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("uid", [UEG_UID, GEU_UID])  # UEG direct: the images API; GEU direct: chat
def test_a_model_reply_that_is_no_json_object_is_that_run_s_error(app, body, uid):
    client, store = app
    reply = run(client, f"model-{body}", uid, "direct")
    assert reply["status"] == "error", reply
    assert "not a JSON object" in reply["error"] and f"model-{body}" in reply["error"], reply["error"]
    assert "AttributeError" not in reply["error"], reply["error"]
    assert store.runs(model=f"model-{body}") == []  # a failed run is not stored


@pytest.mark.parametrize("body", BODIES)
def test_a_judge_reply_that_is_no_json_object_is_a_judge_error(app, body):
    client, _ = app
    reply = run(client, "model-ok", UEG_UID, "direct", judge=f"judge-{body}")
    assert reply["status"] == "ok", reply
    judgment = reply["judgment"]
    questions = judgment["details"]["questions"]
    # every polling question unanswered: the instance undecided and each question a judge error, never a 0
    assert judgment["score"] is None and judgment["errors"] == len(questions) > 0, judgment
    for item in questions:
        assert item["verdict"] is None and item["replies"], item
        assert all("not a JSON object" in r and "AttributeError" not in r for r in item["replies"]), item["replies"]
