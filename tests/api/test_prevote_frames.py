"""What the Arena tab's event stream says before a battle's sides end tells no side from the other.

arena27: the page's generate event yielded a frame per step of either side, re-sending the side it did not
change as the same update dicts, from which Gradio had already taken each ``value`` (it pops it while
postprocessing): the stream's diff said "delete value" for that column alone. In a direct-vs-stepwise
battle the stepwise side makes more steps, so a visitor reading ``/gradio_api/queue/data`` learnt which side
was stepwise before voting. Now both sides say "working…" in one frame, and nothing more is sent until both
have ended (``battles.play`` holds each end until both have ended).

Through the launched app in live mode with a tiny real model that serves both modes (tiny-janus): the page's
own events (``start``, then ``generate`` with the battle id), joined over HTTP as the page joins them, and
every message read off the event stream (UEG: tiny-janus answers GEU directly only). The first battle loads
the model, so its first step comes well after the first frame.
"""

from __future__ import annotations

import json

import httpx
import pytest

from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.ui import build_demo, launch_options

pytestmark = pytest.mark.slow
BATTLES = 3
SIDE_OUTPUTS = 5  # a TraceView's outputs: status, refined prompt, edited image, generated image, answer


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("prevote-frames")
    settings = Settings(data=("bundled",), models=("tiny-janus",), db=root / "arena.db", arena_mode="live",
                        vote_limit=1000, run_limit=1000)
    store = Store.open(settings.db)
    demo = build_demo(settings, store, ModelPool(load_cards()))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    yield demo, url, store
    demo.close()
    store.close()


def _event(http: httpx.Client, fn_index: int, data: list, session: str) -> list[dict]:
    """Every message of one event, joined as the page joins it, up to its ``process_completed``."""
    joined = http.post("/gradio_api/queue/join", json={"data": data, "fn_index": fn_index, "session_hash": session})
    assert joined.status_code == 200, joined.text
    messages = []
    with http.stream("GET", f"/gradio_api/queue/data?session_hash={session}") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                messages.append(json.loads(line[len("data: "):]))
                if messages[-1].get("msg") == "process_completed":
                    break
    return messages


def _fn(demo, name: str) -> int:
    (index,) = [i for i, fn in demo.fns.items() if fn.name == name]
    return index


def _column(data: list, side: str) -> str:
    """One side's outputs as sent (a whole update or a diff), the side's letter made neutral."""
    start = 0 if side == "A" else SIDE_OUTPUTS
    return json.dumps(data[start:start + SIDE_OUTPUTS]).replace(f"**{side}**", "**?**")


def test_nothing_sent_before_the_ends_tells_one_side_from_the_other(app):
    demo, url, store = app
    start, generate = _fn(demo, "start"), _fn(demo, "generate")
    with httpx.Client(base_url=url, timeout=300) as http:
        for i in range(BATTLES):
            session = f"frames-{i}"
            started = _event(http, start, ["bundled", "UEG", "direct_vs_stepwise"], session)
            assert started[-1].get("success"), json.dumps(started[-1])[:800]
            battle_id = started[-1]["output"]["data"][1]
            row = store.battle(battle_id)
            systems = {row["system_a"], row["system_b"]}
            assert systems == {"tiny-janus:direct", "tiny-janus:stepwise"}, systems
            sent = [m["output"]["data"] for m in _event(http, generate, [battle_id], session)
                    if m.get("msg") in ("process_generating", "process_completed")]
            ended = next(k for k, data in enumerate(sent) if "done" in json.dumps(data) or "failed" in json.dumps(data))
            before = sent[:ended]
            # one frame, both sides "working…", before both ends (more frames would count one side's steps);
            # then one frame shows both ends
            assert len(before) == 1, (systems, before)
            for data in before:
                assert _column(data, "A") == _column(data, "B"), (row["system_a"], data)
            assert '"**A**: done"' in json.dumps(sent[ended]) and '"**B**: done"' in json.dumps(sent[ended]), sent
