"""A live battle's pixels match nothing another endpoint returns before the vote: each side runs now with
a fresh random seed of its own, never a stored run, and ``/run_instance`` (Explore's API) does not hand out a
battle's run before its vote. After the vote the reveal's seed reproduces the battle's image through
``/run_instance``: the seed is the only difference, and the reveal is honest.

Through the launched app (``/new_battle``, ``/run_instance``, ``/vote`` over HTTP with gradio_client) in live
mode with tiny real models. The test reads each side's system and seed from the store before the vote, as an
oracle a visitor does not have, to prove that even a right guess of the seed gets no stored run.
"""

from __future__ import annotations

import base64
import io
from collections import Counter

import numpy as np
import pytest
from gradio_client import Client
from PIL import Image

from realunify_arena.arena import KINDS
from realunify_arena.battles import BATTLE_SEEDS
from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.ui import build_demo, launch_options

pytestmark = pytest.mark.slow
MODELS = ("tiny-pair", "tiny-janus")
BATTLES_PER_KIND = 3  # UEG battles (the final output is an image) of each kind: 6 battles, 12 sides


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("live-seeds")
    settings = Settings(data=("bundled",), models=MODELS, db=root / "arena.db", arena_mode="live",
                        vote_limit=1000, run_limit=1000)  # 6 battles (12 runs) and Explore runs: no limit tested here
    store = Store.open(settings.db)
    demo = build_demo(settings, store, ModelPool(load_cards()))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    client = Client(url, verbose=False, download_files=False)
    yield {"client": client, "store": store}
    demo.close()  # the server first: the client's close then need not wait out its heartbeat read (1 s)
    client.close()
    store.close()


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _run_pixels(store, out: dict) -> np.ndarray:
    """The final image of a ``/run_instance`` result (its content hash names the stored image)."""
    assert out["status"] == "ok", out["error"]
    return np.asarray(store.get_image(out["trace"]["steps"][-1]["image_sha"]).convert("RGB"))


def test_live_battle_pixels_match_no_explore_run_before_the_vote_and_the_revealed_seed_after(app):
    client, store = app["client"], app["store"]
    explore_runs: dict[tuple, dict] = {}  # (uid, model, mode) -> /run_instance at seed 0 (Explore's default)

    def explore(uid, model, mode, seed):
        return client.predict("bundled", uid, model, mode, seed, "", api_name="/run_instance")

    tally = Counter()
    for kind in KINDS:
        for _ in range(BATTLES_PER_KIND):
            battle = client.predict("bundled", "UEG", kind, api_name="/new_battle")
            assert battle["ready"], battle
            uid, row = battle["instance_uid"], store.battle(battle["battle_id"])
            shown, seeds = {}, {}
            for side in "AB":
                tally["sides"] += 1
                shown[side] = _pixels(base64.b64decode(battle["sides"][side]["image"]["png_base64"]))
                model, mode = row[f"system_{side.lower()}"].split(":")
                run_id = row[f"run_{side.lower()}"]
                seeds[side] = store.load_trace(run_id).settings["seed"]  # the oracle: unknown to a visitor
                assert 0 <= seeds[side] < BATTLE_SEEDS
                # what a visitor can ask for: Explore's default seed 0 (also run before the battle, for
                # later battles on this instance: a stored Explore run is never what a battle shows)
                if (uid, model, mode) not in explore_runs:
                    explore_runs[uid, model, mode] = explore(uid, model, mode, 0)
                at_zero = explore_runs[uid, model, mode]
                assert at_zero["run_id"] != run_id
                matched = np.array_equal(_run_pixels(store, at_zero), shown[side])
                tally["pre-vote matches at seed 0"] += matched
                assert not matched, (kind, side, seeds[side])
                # even the right seed gets no stored run before the vote: the model runs again (same
                # pixels: the seed is the only difference) and nothing is stored or reused
                guessed = explore(uid, model, mode, seeds[side])
                assert guessed["run_id"] is None and not guessed["reused"], guessed
                assert np.array_equal(_run_pixels(store, guessed), shown[side])
                tally["pre-vote matches at the battle's own seed (not stored)"] += 1
            assert seeds["A"] != seeds["B"]  # a seed per side, even for one model's two modes

            revealed = client.predict(battle["battle_id"], "A", api_name="/vote")
            for side in "AB":
                info = revealed["sides"][side]
                model, mode = info["system"].split(":")
                assert info["settings"]["seed"] == seeds[side]  # the seed comes with the reveal
                again = explore(uid, model, mode, info["settings"]["seed"])
                assert again["reused"] and again["run_id"] == info["run_id"], again  # offered after the vote
                matched = np.array_equal(_run_pixels(store, again), shown[side])
                tally["post-vote matches at the revealed seed"] += matched
                assert matched, (kind, side)
    assert tally["sides"] == 2 * len(KINDS) * BATTLES_PER_KIND
    assert tally["pre-vote matches at seed 0"] == 0
    assert tally["post-vote matches at the revealed seed"] == tally["sides"]
    print(dict(tally))


def test_the_live_arena_tab_makes_no_stored_mode_caveat(app):
    shown = [str(c.get("props", {}).get("value")) for c in app["client"].config["components"]]
    assert not [v for v in shown if "can be matched to their model" in v]
