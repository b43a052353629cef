"""A stored-mode app started on a store the Arena cannot battle from says so in its log at start.

The README's CPU Space uploads ``data/`` with the app, but ``data/`` is git-ignored here, so a ``git push`` of
the checkout to the Space leaves it out: the Space then started an Arena that offered no battle, and its log
said nothing (a visitor learnt it first). The launched app (real ``python app.py``, real SQLite file) is
started as the Space runtime starts it: settings from variables only, a read-only HOME. (``SPACE_ID`` is left
unset: with it, Gradio's login needs ``authlib``, which the Space's build installs with ``gradio[oauth]`` and this
test environment need not have.)"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from app_start import ROOT, free_port, served_output
from PIL import Image

from realunify_arena.store import Store
from realunify_arena.trace import Step, StepRole, Trace

WARNING = "app.py: warning: REALUNIFY_ARENA_MODE is stored, but the database"


def _start_log(tmp_path: Path, db: Path) -> str:
    """Start ``app.py`` as a Space does (variables only, a read-only HOME), wait until it serves, stop it; its
    output."""
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o555)
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
           "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_SERVER_PORT": str(free_port()),
           "REALUNIFY_ARENA_MODE": "stored", "REALUNIFY_DATA": "bundled", "REALUNIFY_DB": str(db),
           "REALUNIFY_MODELS": "tiny-pair", "REALUNIFY_HOST": "127.0.0.1"}
    return served_output(env, ROOT, tmp_path / "app.log")


def _pinned_run(store: Store, model: str, uid: str) -> None:
    trace = Trace(uid, model, "direct", {"seed": 0},
                  steps=[Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("RGB", (16, 16), len(model)))])
    store.save_trace(trace, "bundled", pin=True)


@pytest.fixture(scope="module")
def start_logs(tmp_path_factory):
    """Each test's ``app.py`` start (its own folder and database), both started at once in threads: each is
    mostly its start (importing Gradio and the app), which need not take turns; a test reads its own
    (``.result()``, which raises what its start raised)."""
    root = tmp_path_factory.mktemp("stored-start")
    empty = root / "empty" / "arena.db"
    Store.open(empty).close()
    ready = root / "ready" / "arena.db"
    store = Store.open(ready)
    _pinned_run(store, "alpha", "UEG_0_world_knowledge")
    _pinned_run(store, "beta", "UEG_0_world_knowledge")
    store.close()
    for name in ("a", "b"):
        (root / name).mkdir()
    with ThreadPoolExecutor(2) as starts:
        yield {"empty": (empty, starts.submit(_start_log, root / "a", empty)),
               "ready": (ready, starts.submit(_start_log, root / "b", ready))}


@pytest.mark.slow
def test_a_stored_arena_with_no_battle_to_offer_is_named_in_the_log_at_start(start_logs):
    empty, started = start_logs["empty"]
    log = started.result()
    warnings = [line for line in log.splitlines() if line.startswith(WARNING)]
    assert len(warnings) == 1, log
    assert str(empty) in warnings[0] and "data/ is git-ignored" in warnings[0] and "--repo-type space" in warnings[0]


@pytest.mark.slow
def test_a_stored_arena_with_two_systems_on_one_instance_starts_without_the_warning(start_logs):
    _, started = start_logs["ready"]
    log = started.result()
    assert WARNING not in log, log
