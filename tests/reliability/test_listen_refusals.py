"""An address the server cannot listen on stops ``app.py`` and ``serve-openai`` with one line naming it.

A newcomer starts ``python app.py --port 7860`` a second time, or names a host that is not this machine's:
Gradio printed its traceback ("Cannot find empty port in range"), after the database had been created, and a
host that is not this machine's made it try 100 ports without ever exiting. ``serve-openai --port 99999``
was Python's ``OverflowError`` traceback. Each case runs the real process: exit status, one stderr line that
names the option and the address, no traceback, and no database file made by a refused app start.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NOT_OURS = "192.0.2.1"  # TEST-NET-1 (RFC 5737): a numeric address no machine here has; no DNS is asked


@pytest.fixture
def taken_port():
    """A port some other server listens on (127.0.0.1)."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def _run(args: list[str], tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    for name in ("GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "REALUNIFY_HOST", "REALUNIFY_PORT"):
        env.pop(name, None)
    env.update(variables)
    return subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


def _one_line(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_the_app_on_a_port_in_use_says_so_and_makes_no_database(tmp_path, taken_port):
    db = tmp_path / "data" / "arena.db"
    done = _run([str(ROOT / "app.py"), "--models", "tiny-pair", "--judge", "human", "--db", str(db),
                 "--port", str(taken_port)], tmp_path)
    line = _one_line(done)
    assert done.returncode == 2
    assert line.startswith("app.py: --port: ") and f"127.0.0.1:{taken_port} is already in use" in line
    assert not db.exists() and not db.parent.exists()


def test_the_app_on_a_host_that_is_not_this_machine_s_says_so_and_exits(tmp_path):
    db = tmp_path / "arena.db"
    done = _run([str(ROOT / "app.py"), "--models", "tiny-pair", "--judge", "human", "--db", str(db),
                 "--host", NOT_OURS], tmp_path)
    line = _one_line(done)
    assert done.returncode == 2
    assert line.startswith("app.py: --host: ") and f"'{NOT_OURS}': not an address of this machine" in line
    assert not db.exists()


@pytest.mark.parametrize("variable", ["GRADIO_SERVER_NAME", "REALUNIFY_HOST"])
def test_a_host_from_a_variable_is_refused_naming_that_variable(tmp_path, variable):
    """Before: ``GRADIO_SERVER_NAME=192.0.2.1 python app.py`` was refused as "--host (or REALUNIFY_HOST)": a
    Space owner would look for a flag nobody passed. Gradio reads that variable for the address itself
    (gradio/blocks.py ``launch``)."""
    db = tmp_path / "arena.db"
    done = _run([str(ROOT / "app.py"), "--models", "tiny-pair", "--judge", "human", "--db", str(db)], tmp_path,
                **{variable: NOT_OURS})
    line = _one_line(done)
    assert done.returncode == 2
    assert line.startswith(f"app.py: {variable}: host '{NOT_OURS}': not an address of this machine"), line
    assert f"set {variable} to 127.0.0.1" in line and not db.exists()


@pytest.mark.parametrize("variable", ["GRADIO_SERVER_PORT", "REALUNIFY_PORT"])
def test_a_port_from_a_variable_is_refused_naming_that_variable(tmp_path, taken_port, variable):
    """Before: ``GRADIO_SERVER_PORT=<a port in use>`` was not checked (Gradio moved on to the next port, away
    from the one a Space routes to), and ``GRADIO_SERVER_PORT=web`` was Gradio's ValueError traceback at
    import (gradio/http_server.py reads it with ``int()``)."""
    base = [str(ROOT / "app.py"), "--models", "tiny-pair", "--judge", "human", "--db", str(tmp_path / "a.db")]
    line = _one_line(done := _run(base, tmp_path, **{variable: str(taken_port)}))
    assert done.returncode == 2
    assert line.startswith(f"app.py: {variable}: 127.0.0.1:{taken_port} is already in use"), line
    assert f"set {variable} to N (or pass --port)" in line
    line = _one_line(done := _run(base, tmp_path, **{variable: "web"}))
    assert done.returncode == 2
    assert line == f"app.py: {variable}: expected an integer from 1 to 65535, got 'web'"


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_serve_openai_refuses_a_port_outside_tcp_s_range(tmp_path, port):
    done = _run(["-m", "realunify_arena", "serve-openai", "--model", "tiny-pair", "--port", port], tmp_path)
    line = _one_line(done)
    assert done.returncode == 2
    assert line == (f"serve-openai: error: --port: port {port}: expected a number from 0 to 65535; pass another"
                    " --port (0: any free port)")


def test_serve_openai_on_a_port_in_use_names_it(tmp_path, taken_port):
    done = _run(["-m", "realunify_arena", "serve-openai", "--model", "tiny-pair", "--port", str(taken_port)],
                tmp_path)
    line = _one_line(done)
    assert done.returncode == 1
    assert line.startswith(f"serve-openai: error: --port: 127.0.0.1:{taken_port} is already in use")


def test_the_app_whose_port_is_taken_while_it_starts_says_so_in_one_line(tmp_path):
    """The address is free at the check, and another program takes it before Gradio binds it (a second app
    started at the same moment; measured: three ``app.py --port P`` started together, two printed Gradio's
    "Cannot find empty port" traceback, exit 1). The database is made after the check, before the launch: the
    other program binds the port once it appears, and the app must stop with the one line of a port in use."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free now
    db = tmp_path / "arena.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    for name in ("GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "REALUNIFY_HOST", "REALUNIFY_PORT"):
        env.pop(name, None)
    app = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--models", "tiny-pair", "--judge", "human",
                            "--db", str(db), "--port", str(port)], cwd=tmp_path, env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240  # a bound on the wait for the store, not a timing check
        while not db.exists() and app.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert db.exists(), "the app never made its store"
        with socket.socket() as other:
            other.bind(("127.0.0.1", port))  # EADDRINUSE here: the app bound first; the test cannot tell
            other.listen()
            _, stderr = app.communicate(timeout=240)
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    done = subprocess.CompletedProcess(app.args, app.returncode, "", stderr)
    line = _one_line(done)
    assert done.returncode == 2
    assert line.startswith("app.py: --port: ") and f"127.0.0.1:{port} is already in use" in line
