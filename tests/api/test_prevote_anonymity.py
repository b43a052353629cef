"""Before the vote nothing tells the sides apart but their outputs: many battles of each kind through the
launched app (``/new_battle``, ``/run_instance``, ``/vote`` over HTTP with gradio_client), on stored runs shaped
like real ones (``tests/arena_fixtures.py``: stepwise sides have an intermediate step, timings differ by model
and mode, ``/run_instance`` returns the very runs a battle shows, some answers name their model).

For every battle: A's and B's pre-vote payloads have the same structure, no timing field, no string that
``/run_instance`` also returns (run ids, image hashes), no model, family or checkpoint name, images with no
metadata whose bytes hash to nothing the store knows; after the vote the reveal shows who was who, every
step, the timings, settings, status and the judge's verdict.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections import Counter

import pytest
from arena_fixtures import (
    ROLES,
    TIMING_KEYS,
    keys,
    lookup_ids,
    seed_arena_runs,
    shape,
    strings,
)
from gradio_client import Client
from PIL import Image

from realunify_arena.arena import KINDS
from realunify_arena.benchmark import load
from realunify_arena.cards import load_cards
from realunify_arena.identity import REDACTED, name_variants
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.ui import build_demo, launch_options

pytestmark = pytest.mark.slow
MODELS = ("tiny-pair", "tiny-janus")
BATTLES_PER_BOARD = 10  # per (track, kind): 40 battles


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("anonymity")
    settings = Settings(data=("bundled",), models=MODELS, db=root / "arena.db", arena_mode="stored",
                        vote_limit=1000)
    store = Store.open(settings.db)
    pool = ModelPool(load_cards())
    dataset = load("bundled")
    runs = seed_arena_runs(store, dataset, pool.cards, MODELS, naming=("tiny-janus",))
    demo = build_demo(settings, store, pool)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    client = Client(url, verbose=False, download_files=False)
    yield {"client": client, "store": store, "runs": runs, "dataset": dataset, "cards": pool.cards}
    demo.close()  # the server first: the client's close then need not wait out its heartbeat read (1 s)
    client.close()
    store.close()


def test_pre_vote_payloads_give_nothing_away_and_the_reveal_gives_everything(app):
    client, store, cards = app["client"], app["store"], app["cards"]
    names = [n.lower() for model in MODELS for n in name_variants(cards[model])]
    tally = Counter()
    # uid -> what /run_instance returns of the uid's stored runs: pinned runs at seed 0, reused and so the same ids at
    # every ask (nothing here stores a run); asked once per uid, not again for each of its battles
    shared_of: dict[str, set[str]] = {}
    for track in ("UEG", "GEU"):
        for kind in KINDS:
            for _ in range(BATTLES_PER_BOARD):
                battle = client.predict("bundled", track, kind, api_name="/new_battle")
                assert battle["ready"], battle
                sides = battle["sides"]
                tally["battles"] += 1
                # identical structure, no timing, only the final output
                assert shape(sides["A"]) == shape(sides["B"]), (track, kind, sides)
                assert set(sides["A"]) == {"text", "image", "error"}
                assert not [k for k in keys(sides) if any(t in k.lower() for t in TIMING_KEYS)]
                final = "image" if track == "UEG" else "text"
                assert all(side[final] is not None for side in sides.values())
                # no id another endpoint returns
                uid = battle["instance_uid"]
                if uid not in shared_of:
                    shared_of[uid] = lookup_ids(client, "bundled", uid, list(app["runs"][uid]))
                shared = shared_of[uid]
                found = [s for s in strings(sides) for i in shared if i in s and len(i) > 4]
                assert not found, found
                # no model, family or checkpoint name
                text = json.dumps(sides).lower()
                assert not [n for n in names if n in text], (names, text)
                for side in sides.values():
                    if side["image"] is not None:
                        png = base64.b64decode(side["image"]["png_base64"])
                        assert hashlib.sha256(png).hexdigest() not in shared
                        assert Image.open(io.BytesIO(png)).info == {}
                        assert side["image"]["name"].removesuffix(".png") not in shared
                tally["payload differences"] += shape(sides["A"]) != shape(sides["B"])
                # the reveal shows what was held back
                revealed = client.predict(battle["battle_id"], "A", api_name="/vote")
                for side in "AB":
                    info = revealed["sides"][side]
                    model, mode = info["system"].split(":")
                    trace = store.load_trace(info["run_id"])
                    assert (trace.model, trace.mode, trace.instance_uid) == (model, mode, uid)
                    assert [s["role"] for s in info["steps"]] == [r.value for r in ROLES[(track, mode)]]
                    assert [s["seconds"] for s in info["steps"]] == [round(s.seconds, 3) for s in trace.steps]
                    assert info["status"] == "ok" and info["settings"] == trace.settings
                    assert [s["text"] for s in info["steps"]] == [s.text for s in trace.steps]  # unredacted
                    if track == "GEU":
                        assert info["judgment"]["score"] in (0, 1)  # the answer parser's verdict
                tally["flagged"] += store.battle(battle["battle_id"])["flagged"] is not None
    assert tally["battles"] == 4 * BATTLES_PER_BOARD and tally["payload differences"] == 0
    assert tally["flagged"] > 0  # tiny-janus names itself in GEU answers: those battles are flagged
    print(dict(tally))


def test_a_named_answer_is_redacted_before_the_vote(app):
    """GEU model-vs-model battles pit tiny-pair against tiny-janus, whose answers say "As tiny-janus, I
    choose X.": the voter reads "As [model], I choose X."."""
    client = app["client"]
    for _ in range(6):
        battle = client.predict("bundled", "GEU", "model_vs_model", api_name="/new_battle")
        texts = sorted((side["text"] for side in battle["sides"].values()), key=len)
        assert len(texts[0]) == 1 and texts[1].startswith(f"As {REDACTED}, I choose "), texts
        client.predict(battle["battle_id"], "B", api_name="/vote")


def test_the_arena_tab_says_stored_outputs_can_be_matched(app):
    """Stored battles show published runs that Explore also serves: the tab says so and names the defences."""
    shown = [str(c.get("props", {}).get("value")) for c in app["client"].config["components"]]
    assert [v for v in shown if "can be matched to their model" in v and "rate limit" in v]
