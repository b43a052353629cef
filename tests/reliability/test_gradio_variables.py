"""Gradio's own variables with a value Gradio cannot read stop ``app.py`` with one line naming the variable.

A Space's operator sets ``GRADIO_*`` variables in its settings as well as ``REALUNIFY_*`` ones. Gradio 6 reads
eight of them with ``int()`` (three at ``import gradio``, the others while building the page or at launch, the node port with SSR on) and
makes ``$GRADIO_TEMP_DIR`` while building the page: a value such as ``GRADIO_DEBUG=yes`` or a temp folder that
cannot be made ended every start in Gradio's ``ValueError`` / ``FileNotFoundError`` traceback, which names no
variable (before this check 8 of these 9 cases printed a traceback; ``GRADIO_ANALYTICS_*`` printed
``app.py: invalid literal for int() with base 10: 'abc'``). Each case is the real process: exit status 2, one
stderr line naming the variable and its value, no traceback, no database made.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# the variables Gradio 6 converts with int(): gradio/http_server.py, node_server.py, queueing.py, blocks.py
INTEGER_VARIABLES = ("GRADIO_SERVER_PORT", "GRADIO_NUM_PORTS", "GRADIO_NODE_NUM_PORTS", "GRADIO_NODE_SERVER_PORT",
                     "GRADIO_NUM_WORKERS", "GRADIO_DEBUG", "GRADIO_ANALYTICS_MAX_EVENTS",
                     "GRADIO_ANALYTICS_CACHE_FREQUENCY")


def _start(tmp_path: Path, **variables: str) -> tuple[subprocess.CompletedProcess, Path]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    for name in (*INTEGER_VARIABLES, "GRADIO_TEMP_DIR", "GRADIO_SERVER_NAME"):
        env.pop(name, None)
    env.update(variables)
    db = tmp_path / "data" / "arena.db"
    with socket.socket() as probe:  # a free port: the start is refused for the variable, not for the port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # --port given: the flag wins over $GRADIO_SERVER_PORT for the app, but Gradio still reads the variable
    done = subprocess.run([sys.executable, str(ROOT / "app.py"), "--models", "tiny-pair", "--judge", "human",
                           "--db", str(db), "--port", str(port)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    return done, db


def _refused(done: subprocess.CompletedProcess, db: Path) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert done.returncode == 2, done.stderr
    assert not db.exists()
    return lines[0]


@pytest.mark.parametrize("name", INTEGER_VARIABLES)
def test_a_gradio_integer_variable_that_is_no_integer_is_named(tmp_path, name):
    line = _refused(*_start(tmp_path, **{name: "yes please"}))
    assert line.startswith(f"app.py: {name}: ") and "'yes please'" in line and "integer" in line


def test_a_gradio_temp_folder_that_cannot_be_made_is_named(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    line = _refused(*_start(tmp_path, GRADIO_TEMP_DIR=str(blocker / "uploads")))
    assert line.startswith("app.py: GRADIO_TEMP_DIR ") and "uploads" in line


def test_a_gradio_variable_with_a_secret_pasted_in_is_not_echoed(tmp_path):
    key = "Zq8Lw3PnXv5TrKb2Hy7Md"  # pasted into the wrong variable; the app's redaction knows it by its name
    line = _refused(*_start(tmp_path, GRADIO_DEBUG=key, STANDIN_API_KEY=key))
    assert key not in line and line.startswith("app.py: GRADIO_DEBUG: ")
