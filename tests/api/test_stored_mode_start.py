"""A stored-mode app started on a store the Arena cannot battle from says so in its log at start.

The README's CPU Space uploads ``data/`` with the app, but ``data/`` is git-ignored here, so a ``git push`` of
the checkout to the Space leaves it out: the Space then started an Arena that offered no battle, and its log
said nothing (a visitor learnt it first). The launched app (real ``python app.py``, real SQLite file) is
started as the Space runtime starts it: settings from variables only, a read-only HOME. (``SPACE_ID`` is left
unset: with it, Gradio's login needs ``authlib``, which the Space's build installs with ``gradio[oauth]`` and this
test environment need not have.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from realunify_arena.store import Store
from realunify_arena.trace import Step, StepRole, Trace

ROOT = Path(__file__).resolve().parents[2]
WARNING = "app.py: warning: REALUNIFY_ARENA_MODE is stored, but the database"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_log(tmp_path: Path, db: Path) -> str:
    """Start ``app.py`` as a Space does (variables only), wait until it serves, stop it; its output."""
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o555)
    port = _free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
           "HF_HUB_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_SERVER_PORT": str(port),
           "REALUNIFY_ARENA_MODE": "stored", "REALUNIFY_DATA": "bundled", "REALUNIFY_DB": str(db),
           "REALUNIFY_MODELS": "tiny-pair", "REALUNIFY_HOST": "127.0.0.1"}
    log = tmp_path / "app.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(600):
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/gradio_api/info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail(f"app.py did not serve: {log.read_text()}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=30)
    return log.read_text()


def _pinned_run(store: Store, model: str, uid: str) -> None:
    trace = Trace(uid, model, "direct", {"seed": 0},
                  steps=[Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("RGB", (16, 16), len(model)))])
    store.save_trace(trace, "bundled", pin=True)


@pytest.mark.slow
def test_a_stored_arena_with_no_battle_to_offer_is_named_in_the_log_at_start(tmp_path):
    empty = tmp_path / "empty" / "arena.db"
    Store.open(empty).close()
    (tmp_path / "a").mkdir()
    log = _start_log(tmp_path / "a", empty)
    warnings = [line for line in log.splitlines() if line.startswith(WARNING)]
    assert len(warnings) == 1, log
    assert str(empty) in warnings[0] and "data/ is git-ignored" in warnings[0] and "--repo-type space" in warnings[0]


@pytest.mark.slow
def test_a_stored_arena_with_two_systems_on_one_instance_starts_without_the_warning(tmp_path):
    db = tmp_path / "ready" / "arena.db"
    store = Store.open(db)
    _pinned_run(store, "alpha", "UEG_0_world_knowledge")
    _pinned_run(store, "beta", "UEG_0_world_knowledge")
    store.close()
    (tmp_path / "b").mkdir()
    log = _start_log(tmp_path / "b", db)
    assert WARNING not in log, log
