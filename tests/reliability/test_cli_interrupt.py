"""Ctrl-C at start-up: ``python -m realunify_arena`` as a process, SIGINT while it is still importing (before
the command runs) exits 130 with one ``interrupted`` line, as the CLI's contract says, never a
KeyboardInterrupt traceback or death by the signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _interpreter_up(proc: subprocess.Popen, marker: Path, within: float = 60) -> None:
    """Wait until ``proc``'s interpreter has run its ``site`` start-up (our ``sitecustomize`` wrote ``marker``)."""
    deadline = time.monotonic() + within
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the interpreter never started"
        time.sleep(0.005)


def test_ctrl_c_at_any_moment_of_start_up_is_exit_130_without_a_traceback(tmp_path):
    # The delays count from the end of Python's own start-up (its ``site`` import): a SIGINT before that is
    # CPython's ("Fatal Python error: init_import_site" and its traceback), before any code of ours can run,
    # and a loaded machine (CI) could still be there 0.05 s after the process started.
    marker = tmp_path / "site-done"
    (tmp_path / "sitecustomize.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    for delay in (0.05, 0.15, 0.3):
        marker.unlink(missing_ok=True)
        proc = subprocess.Popen([sys.executable, "-m", "realunify_arena", "leaderboard", "--db",
                                 str(tmp_path / "none.db")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env, cwd=ROOT,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        _interpreter_up(proc, marker)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, err
        # -SIGINT (a shell's 130): the signal landed during interpreter shutdown; 2: it finished first (no database)
        assert proc.returncode in (130, -signal.SIGINT, 2), (delay, proc.returncode, err)
        if proc.returncode == 130:
            assert err.strip().splitlines() == ["leaderboard: interrupted"], err
