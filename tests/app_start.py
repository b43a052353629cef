"""``python app.py`` started the way a Space starts it (settings from the environment only), served, stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def served_output(env: dict[str, str], cwd: Path, log: Path, timeout_s: float = 180.0) -> str:
    """Run ``app.py`` with exactly ``env`` (which sets ``GRADIO_SERVER_PORT``) in ``cwd``, wait until
    ``/gradio_api/info`` answers on that port, stop it (SIGTERM), and return its standard output and error
    (kept in ``log``). Fails the test when the app exits first or does not serve within ``timeout_s``."""
    port = env["GRADIO_SERVER_PORT"]
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/gradio_api/info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"app.py did not serve within {timeout_s:g} s: {log.read_text()}")
            time.sleep(0.3)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
    return log.read_text()
