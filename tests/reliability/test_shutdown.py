"""Ctrl-C while a model runs shuts the app down cleanly.

Before, the run's thread was still inside torch when the interpreter exited, and the process aborted:
"terminate called without an active exception", exit status 134 (SIGABRT). Now ``app.py`` stops the runs
still going and waits for their threads to leave the model before it returns.

A real ``app.py`` process, a real run over the API of a tiny card that would denoise for a million steps, a
real SIGINT once its model is loaded and denoising.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from app import SHUTDOWN_WAIT_S
from gradio_client import Client

ROOT = Path(__file__).resolve().parents[2]
SLOW_CARD = """family: tiny
description: Tiny random-weight pair that denoises for a million steps; only Stop or a shutdown ends it.
capabilities: [understand, generate, edit]
dtype: float32
defaults: {width: 32, height: 32, steps: 1000000, guidance: 3.0, max_new_tokens: 8}
params: {base: pair, seed: 0, limits: {steps: 1000000}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def app_denoising(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, list[str], threading.Event]]:
    """A real ``app.py`` process running the never-ending tiny card over the API, once its model is loaded
    and denoising (inside torch); yields the process, its output lines so far (standard output and error) and
    an event set once Gradio says it is closing its server (it caught a Ctrl-C). Killed at the end if alive."""
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "tiny-slow.yaml").write_text(SLOW_CARD)
    port = free_port()
    app = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--models-dir", str(cards), "--models", "tiny-slow",
                            "--judge", "human", "--db", str(tmp_path / "arena.db"), "--port", str(port)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    lines: list[str] = []
    loaded, closing = threading.Event(), threading.Event()

    def read(stream) -> None:  # the pipeline's load bar on standard error says the model is in memory
        for line in stream:
            lines.append(line)
            if "Loading pipeline components" in line and "100%" in line:
                loaded.set()
            if "closing server" in line:  # gradio caught the first Ctrl-C and is closing its server
                closing.set()

    readers = [threading.Thread(target=read, args=(s,), daemon=True) for s in (app.stdout, app.stderr)]
    for reader in readers:
        reader.start()
    try:
        client = None
        for _ in range(240):
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:  # noqa: BLE001 - not listening yet
                if app.poll() is not None:
                    break
                time.sleep(0.5)
        assert client is not None, "".join(lines)
        client.submit("bundled", "UEG_1_world_knowledge", "tiny-slow", "direct", 0, "", api_name="/run_instance")
        assert loaded.wait(120), "the model never loaded:\n" + "".join(lines)
        time.sleep(2)  # denoising: inside torch
        assert app.poll() is None
        yield app, lines, closing
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
        for reader in readers:
            reader.join(10)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_ctrl_c_during_a_model_run_exits_cleanly(tmp_path):
    with app_denoising(tmp_path) as (app, lines, _):
        app.send_signal(signal.SIGINT)
        returncode = app.wait(120)
    stderr = "".join(lines)
    assert "terminate called" not in stderr, stderr
    assert returncode == 0, f"exit status {returncode}:\n{stderr}"
    assert "stopping 1 model run(s) before exiting" in stderr, stderr


# how long the stubborn run's shutdown waits, and the slow start-up's import lasts: a process that ignored the
# Ctrl-C would take this long at least, one that answers it takes a fraction (HOLD_S / 2 tells them apart even
# on a loaded machine)
HOLD_S = 120

STUBBORN_RUN = """
import sys, threading, time
sys.path.insert(0, sys.argv[1])
import app
from realunify_arena import stopping

inside = threading.Event()

def model_still_loading():  # inside a run, but never reaching a step that checks for a stop
    with stopping.active(stopping.RunControl()):
        inside.set()
        time.sleep(%(hold)d * 3)

threading.Thread(target=model_still_loading).start()  # not a daemon: a normal exit would wait for it
inside.wait()
import atexit
atexit.register(lambda: print("final push", file=sys.stderr, flush=True))  # as the Space's snapshot push is
app.stop_runs_at_exit(wait_s=%(hold)d)
print("returned", file=sys.stderr, flush=True)
""" % {"hold": HOLD_S}


def interrupt_once_ready(script: str, args: list[str], cwd: Path, ready) -> tuple[str, int, float, str]:
    """Run ``python -c script *args``; once ``ready(first line of standard error, process)`` returns, send SIGINT.
    Returns (that first line, the exit status, seconds from the signal to the exit, the rest of standard error).
    The exit is waited for HOLD_S / 2 at most (``subprocess.TimeoutExpired`` past it): the scripts hold for
    HOLD_S unless the signal ends them."""
    child = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, cwd=cwd)
    try:
        first = child.stderr.readline()
        ready(first, child)
        started = time.monotonic()
        child.send_signal(signal.SIGINT)
        returncode = child.wait(HOLD_S / 2)
        waited = time.monotonic() - started
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return first, returncode, waited, child.stderr.read()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_a_second_ctrl_c_during_the_shutdown_wait_exits_at_once_without_a_traceback(tmp_path):
    """The first Ctrl-C waits for the runs to stop; a run that does not (its model still loading) held the app
    for the whole wait, and a second Ctrl-C then printed a KeyboardInterrupt traceback."""
    def ready(first: str, child: subprocess.Popen) -> None:
        assert "stopping 1 model run(s) before exiting" in first and "Ctrl-C again" in first, first
        time.sleep(0.5)
        assert child.poll() is None, "it did not wait for the run"

    first, returncode, waited, rest = interrupt_once_ready(STUBBORN_RUN, [str(ROOT)], tmp_path, ready)
    assert returncode == 130, f"exit status {returncode}:\n{first}{rest}"
    # the run's wait (HOLD_S) was not waited out (child.wait gives up at HOLD_S / 2): a bound, not a timing check
    assert waited < HOLD_S / 2, f"took {waited:.1f} s after the second Ctrl-C"
    assert "Traceback" not in rest and "KeyboardInterrupt" not in rest, rest
    assert "exiting without waiting" in rest and "final push" in rest and "returned" not in rest, rest


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_a_quick_second_ctrl_c_while_the_server_closes_exits_at_once_without_a_traceback(tmp_path):
    """Ctrl-C twice in a row, during a run. Gradio's ``launch`` catches the first and closes its server, which
    waits up to 5 s for the run's open stream; the second arrived there, so it left ``launch`` as a
    KeyboardInterrupt: a traceback, and the runs never stopped before the interpreter exited."""
    with app_denoising(tmp_path) as (app, lines, closing):
        app.send_signal(signal.SIGINT)
        assert closing.wait(30), "".join(lines)
        time.sleep(0.5)
        started = time.monotonic()
        app.send_signal(signal.SIGINT)
        returncode = app.wait(2 * SHUTDOWN_WAIT_S)
        waited = time.monotonic() - started
    output = "".join(lines)
    assert "terminate called" not in output and "Traceback" not in output, output
    assert returncode == 130, f"exit status {returncode}:\n{output}"
    # not after the shutdown's wait for the runs (SHUTDOWN_WAIT_S): a bound, not a timing check
    assert waited < SHUTDOWN_WAIT_S, f"took {waited:.1f} s after the second Ctrl-C"
    assert "exiting without waiting" in output, output


TORCH_AT_EXIT = """
import sys, threading, time
sys.path.insert(0, sys.argv[1])
import torch
import app

a = torch.randn(1200, 1200)
started = threading.Event()

def busy():  # a daemon thread inside torch when the process exits: a model still loading, say
    started.set()
    while True:
        torch.mm(a, a)

threading.Thread(target=busy, daemon=True).start()
started.wait()
time.sleep(0.3)
import atexit
atexit.register(lambda: print("atexit ran", file=sys.stderr, flush=True))
app.exit_process(int(sys.argv[2]))
"""


@pytest.mark.parametrize("status", [0, 2])
def test_the_app_exits_with_its_status_while_a_daemon_thread_is_inside_torch(tmp_path, status):
    """``sys.exit`` with a daemon thread inside a torch call aborts: "terminate called without an active
    exception", exit status 134 (it failed ``test_ctrl_c_during_a_model_run_exits_cleanly`` once in CI, a thread
    still in torch after its run's last step). ``app.exit_process`` runs the ``atexit`` callbacks and exits
    without the interpreter's shutdown."""
    done = subprocess.run([sys.executable, "-c", TORCH_AT_EXIT, str(ROOT), str(status)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert "terminate called" not in done.stderr, done.stderr
    assert done.returncode == status, done.stderr
    assert "atexit ran" in done.stderr, done.stderr


SLOW_GRADIO_IMPORT = """
import importlib.abc, runpy, sys, time
sys.path.insert(0, sys.argv[1])

class SlowGradio(importlib.abc.MetaPathFinder):  # the app's first heavy import, made to last
    def find_spec(self, name, path=None, target=None):
        if name == "gradio":
            print("importing gradio", file=sys.stderr, flush=True)
            time.sleep(%(hold)d)
        return None

sys.meta_path.insert(0, SlowGradio())
sys.argv = [sys.argv[1] + "/app.py", "--db", sys.argv[2]]
runpy.run_path(sys.argv[0], run_name="__main__")
""" % {"hold": HOLD_S}


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_ctrl_c_while_the_app_starts_exits_without_a_traceback(tmp_path):
    """Ctrl-C during start-up (gradio's import alone takes seconds) printed a KeyboardInterrupt traceback."""
    def ready(first: str, child: subprocess.Popen) -> None:
        assert "importing gradio" in first, first + child.stderr.read()

    first, returncode, _, rest = interrupt_once_ready(SLOW_GRADIO_IMPORT, [str(ROOT), str(tmp_path / "arena.db")],
                                                      tmp_path, ready)
    assert returncode == 130, f"exit status {returncode}:\n{first}{rest}"
    assert "Traceback" not in rest and "KeyboardInterrupt" not in rest, rest
    assert "interrupted" in rest, rest


SLOW_FINAL_PUSH = """
import atexit, runpy, sys, time
sys.path.insert(0, sys.argv[1])

def final_push():  # as the Space's CommitScheduler pushes its last snapshot at exit: a few seconds of upload
    print("final push started", file=sys.stderr, flush=True)
    time.sleep(4)
    print("final push done", file=sys.stderr, flush=True)

atexit.register(final_push)
sys.argv = [sys.argv[1] + "/app.py", "--db", sys.argv[2], "--models", "tiny-pair", "--judge", "human",
            "--port", sys.argv[3]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_more_ctrl_c_during_the_final_push_let_it_finish_and_say_so_in_one_line(tmp_path):
    """Ctrl-C stops the app, whose ``atexit`` callbacks then push the last snapshot; each further Ctrl-C there
    (a third one after ``exit_at_once``, or a second after a clean stop) raised ``KeyboardInterrupt`` inside the
    push: "Exception ignored in atexit callback" and a traceback, and the push, with the votes since the
    last one, was cut short."""
    port = free_port()
    app = subprocess.Popen([sys.executable, "-c", SLOW_FINAL_PUSH, str(ROOT), str(tmp_path / "arena.db"), str(port)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    lines: list[str] = []
    listening, pushing = threading.Event(), threading.Event()

    def read() -> None:
        for line in app.stdout:
            lines.append(line)
            if f":{port}" in line:
                listening.set()
            if "final push started" in line:
                pushing.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert listening.wait(120), "".join(lines)
        app.send_signal(signal.SIGINT)
        assert pushing.wait(60), "".join(lines)
        for _ in range(3):  # impatient presses while the push runs
            time.sleep(0.3)
            app.send_signal(signal.SIGINT)
        returncode = app.wait(60)
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    time.sleep(0.2)  # the reader's last lines
    output = "".join(lines)
    assert "Traceback" not in output and "Exception ignored" not in output, output
    assert "KeyboardInterrupt" not in output, output
    assert "final push done" in output, output  # the push was not cut short
    assert output.count("finishing the final save before exiting") == 1, output
    assert returncode in (0, 130), f"exit status {returncode}:\n{output}"  # a clean stop, or exit_at_once
