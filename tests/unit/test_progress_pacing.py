"""Progress bars reach the page at most every ``PROGRESS_INTERVAL_S``: Gradio's 10 ms made a tiny card's
denoising loop send 100 messages a second per column, and a loaded browser stopped answering clicks."""

from __future__ import annotations

import inspect

from gradio import queueing

from realunify_arena.benchmark.generators import generate_set, write_set
from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.ui import build_demo
from realunify_arena.ui.app import PROGRESS_INTERVAL_S


def test_gradio_paces_progress_by_the_interval_the_app_sets():
    # the attribute the app sets is the one Gradio's progress loop sleeps on (read from Gradio's own code,
    # so an upgrade that renames it fails here instead of silently leaving the page unpaced)
    loop = inspect.getsource(queueing.Queue.start_progress_updates)
    assert "await asyncio.sleep(self.progress_update_sleep_when_free)" in loop
    assert "progress_update_sleep_when_free" in inspect.getsource(queueing.Queue.__init__)


def test_the_app_sends_progress_at_most_four_times_a_second(tmp_path):
    write_set(generate_set(1, seed=5, task_types=["mathematical_reasoning"]), tmp_path / "data")
    settings = Settings(data=(str(tmp_path / "data"),), models=("tiny-janus",), judge="human",
                        db=tmp_path / "arena.db")
    store = Store.open(settings.db)
    try:
        demo = build_demo(settings, store, ModelPool(load_cards(), device="cpu"))
        assert demo._queue.progress_update_sleep_when_free == PROGRESS_INTERVAL_S >= 0.25
    finally:
        store.close()
