"""A hostile visitor of the live Arena: each live battle runs two models now, so its sides count against the
same run limit as Explore's runs (``--run-limit`` per ``--run-window``). Before, only the battle limit (60 per
60 s) bounded them: one script ran 120 models a minute through ``/new_battle`` while ``/run_instance`` was held
to the run limit's 30, the accelerator's queue filled and a row was stored per side.

Through the launched app in live mode with tiny real models, driven by gradio_client; expected counts are
worked by hand from the limit (3 runs: one battle of two sides, then one Explore run)."""

from __future__ import annotations

import re
import sqlite3

import pytest
from gradio_client import Client
from gradio_sessions import close_all

from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.ui import build_demo, launch_options

pytestmark = pytest.mark.slow
LIMIT = 3
REFUSED = f"rate limit: at most {LIMIT} new runs per 3600 s"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("live-run-limit")
    settings = Settings(data=("bundled",), models=("tiny-pair", "tiny-janus"), judge="human", db=root / "arena.db",
                        arena_mode="live", run_limit=LIMIT, run_window=3600, battle_limit=60)
    store = Store.open(settings.db)
    demo = build_demo(settings, store, ModelPool(load_cards()))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    clients: list[Client] = []  # the tests' sessions, closed after the app
    yield {"url": url, "db": settings.db, "clients": clients}
    demo.close()  # the server first: a client's close then need not wait out its heartbeat read (1 s each)
    close_all(clients)
    store.close()


def _rows(db, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"select count(*) from {table}").fetchone()[0]


def test_a_live_battles_two_sides_count_against_the_run_limit(app):
    client = Client(app["url"], verbose=False, download_files=False)
    app["clients"].append(client)
    played = client.predict("bundled", "GEU", "model_vs_model", api_name="/new_battle")
    assert played["ready"], played
    assert _rows(app["db"], "runs") == 2  # the battle's two sides: 2 of the 3 runs
    battles, runs = _rows(app["db"], "battles"), _rows(app["db"], "runs")
    with pytest.raises(Exception, match=re.escape(REFUSED)):  # 2 + 2 > 3; before: a second battle ran
        client.predict("bundled", "GEU", "model_vs_model", api_name="/new_battle")
    assert (_rows(app["db"], "battles"), _rows(app["db"], "runs")) == (battles, runs)  # nothing written
    uid = played["instance_uid"]
    out = client.predict("bundled", uid, "tiny-pair", "direct", 7, "", api_name="/run_instance")
    assert out["reused"] is False  # 2 + 1 = 3: the last run the limit allows
    with pytest.raises(Exception, match=re.escape(REFUSED)):
        client.predict("bundled", uid, "tiny-pair", "direct", 8, "", api_name="/run_instance")
    assert _rows(app["db"], "runs") == 3
    client.predict(played["battle_id"], "A", api_name="/vote")  # the battle played still takes its vote
