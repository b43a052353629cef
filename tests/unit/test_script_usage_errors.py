"""The benches and scripts the README documents (``python bench/votes.py`` ...) report a usage error as the
commands do: one ``NAME: error: ...`` line naming ``--help``, exit status 2, a key typed into the wrong place
masked; ``--help`` still prints the whole help with exit 0. Each is run as a user runs it, from another
folder, in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(str(p.relative_to(ROOT)) for p in [*ROOT.glob("bench/*.py"), ROOT / "scripts" / "screenshots.py"])
KEY = "sk-usage16" + "0123456789abcdefghij"


def _run_both(script: str, *argvs: tuple[str, ...]) -> list[subprocess.CompletedProcess]:
    """``script`` run once per argument list, the runs side by side (each its own fresh interpreter: the
    second core works instead of idling while a bench imports torch)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the checkout's package, as a user's run
    started = [subprocess.Popen([sys.executable, str(ROOT / script), *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=ROOT.parent, env=env) for args in argvs]
    done = []
    for process in started:
        try:
            out, err = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            for other in started:
                other.kill()
                other.communicate()
            raise
        done.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return done


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_usage_error_is_one_line_and_exit_2_and_help_still_works(script):
    name = Path(script).name
    wrong, shown = _run_both(script, (f"--no-such-option={KEY}",), ("--help",))
    assert wrong.returncode == 2, wrong.stderr
    assert wrong.stderr.splitlines() == [f"{name}: error: unrecognized arguments: --no-such-option=***; "
                                         f"see '{name} --help'"], wrong.stderr
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"usage: {name} ") and "options:" in shown.stdout, shown.stdout
