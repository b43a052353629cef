"""The Arena never draws a system that cannot run here: launched app, real API calls, a hub that never answers."""

from __future__ import annotations

import socket

import pytest
from gradio_client import Client
from huggingface_hub import constants
from unlimited import NOT_LIMITED

from realunify_arena import availability
from realunify_arena.benchmark.generators import generate_set, write_set
from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.systems import System
from realunify_arena.ui import build_demo, launch_options

pytestmark = pytest.mark.slow
RUNNABLE = {"tiny-pair", "tiny-janus"}
# not cached and the hub silent; no API key: before availability told the truth, both were "available"
UNAVAILABLE = {"janus-pro-7b", "gpt-4.1"}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("arena-availability")
    patch = pytest.MonkeyPatch()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts into the backlog, never answers
    patch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
    patch.setattr(constants, "HF_HUB_CACHE", str(root / "hub"))
    patch.setattr(constants, "HF_HUB_OFFLINE", False)
    patch.delenv("HF_HUB_OFFLINE", raising=False)
    patch.delenv("OPENAI_API_KEY", raising=False)
    availability.forget_probes()
    write_set(generate_set(1, seed=4, task_types=["mathematical_reasoning", "mental_tracking"]), root / "data")
    settings = Settings(data=(str(root / "data"),), models=(*sorted(RUNNABLE), *sorted(UNAVAILABLE)), judge="human",
                        db=root / "arena.db", gpu_concurrency=2, **NOT_LIMITED)  # the module's tests share it
    store = Store.open(settings.db)
    demo = build_demo(settings, store, ModelPool(load_cards(), device="cpu"))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    client = Client(url, verbose=False)
    yield {"client": client, "store": store, "source": settings.data[0]}
    demo.close()  # the server first: the client's close then need not wait out its heartbeat read (1 s)
    client.close()
    store.close()
    silent.close()
    patch.undo()
    availability.forget_probes()


@pytest.mark.parametrize("track", ["UEG", "GEU", "any"])
def test_new_battles_draw_only_runnable_systems(app, track):
    for _ in range(2):
        battle = app["client"].predict(app["source"], track, "any", api_name="/new_battle")
        row = app["store"].battle(battle["battle_id"])
        drawn = {System.parse(row["system_a"]).model, System.parse(row["system_b"]).model}
        assert drawn <= RUNNABLE, drawn
        assert battle["ready"], battle  # both sides delivered: nobody waited on a side that could not load
