"""Masking secrets in model replies (``protocols._timed``, ``AdapterJudge.ask``, export) must leave ordinary
words alone: a refined prompt such as "a torch bearer running ..." is sent on to generation as the model wrote
it, while a real credential after ``Bearer`` or an ``Authorization:`` field is still masked. A real ``openai``
adapter against a loopback stand-in that records the generation request; nothing replaced. (The word rules
themselves are tested in ``test_redaction.py``.)"""

from __future__ import annotations

import json

from PIL import Image

from realunify_arena.adapters.base import GenerationOptions
from realunify_arena.benchmark import load
from realunify_arena.cards import load_card
from realunify_arena.protocols import run
from realunify_arena.runtime import ModelPool
from realunify_arena.trace import StepRole
from tests.stand_in import JSONHandler, png_b64, serving

# what a model may well answer to the refine step: words after "bearer" and "Authorization:" that are no key
REFINED = ("A torch bearer running through a stadium at dusk, a ring bearer carrying a pillow; "
           "sign on the door: 'Authorization: required for entry'")


class Refining(JSONHandler):
    """Chat completions answer ``REFINED``; image generations record their prompt and answer a PNG."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if "/images/" in self.path:
            self.server.prompts.append(body["prompt"])
            return self.reply(200, {"created": 0, "data": [{"b64_json": png_b64(Image.new("RGB", (16, 16), (0, 90, 200)))}]})
        self.reply(200, {"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": REFINED}}]})


def test_a_refined_prompt_reaches_generation_and_the_trace_word_for_word(tmp_path, monkeypatch):
    monkeypatch.setenv("WORDS16_KEY", "words16-Key-0123456789")
    with serving(Refining, prompts=[]) as server:
        path = tmp_path / "refiner.yaml"
        path.write_text(json.dumps({
            "family": "openai", "description": "refining stand-in (test only)",
            "capabilities": ["understand", "generate"], "endpoint": f"{server.url}/v1", "api_key_env": "WORDS16_KEY",
            "checkpoint": "m", "params": {"timeout_s": 5}}))
        instance = next(i for i in load("bundled").instances if i.track == "UEG")
        with ModelPool({"refiner": load_card(path)}).use("refiner") as adapter:
            trace = run(instance, adapter, "stepwise", GenerationOptions(max_new_tokens=32))
        assert trace.status.value == "ok", trace.error
        refined = next(s for s in trace.steps if s.role is StepRole.REFINED_PROMPT)
        assert refined.text == REFINED
        assert server.prompts == [REFINED]
