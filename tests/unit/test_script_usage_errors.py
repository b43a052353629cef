"""The benches and scripts the README documents (``python bench/votes.py`` ...) report a usage error as the
commands do: one ``NAME: error: ...`` line naming ``--help``, exit status 2, a key typed into the wrong place
masked; ``--help`` still prints the whole help with exit 0. Each is run as a user runs it, from another
folder, in a fresh interpreter.

Both answer at once: neither imports a heavy library (``-X importtime`` lists every module the run imported).
Before, ``bench/votes.py``, ``bench/leaderboard.py`` and ``bench/load.py`` imported numpy, PIL, httpx and the
store (sqlite_utils brings pandas) at the top: 1-2 s before a usage line; ``bench/startup.py`` imported httpx."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(str(p.relative_to(ROOT)) for p in [*ROOT.glob("bench/*.py"), ROOT / "scripts" / "screenshots.py"])
KEY = "sk-usage16" + "0123456789abcdefghij"
# libraries that take a noticeable part of a second or more to import; none is needed to parse arguments
HEAVY = {"numpy", "scipy", "pandas", "torch", "transformers", "diffusers", "gradio", "gradio_client", "PIL", "httpx",
         "sqlite_utils"}


def _run_both(script: str, *argvs: tuple[str, ...]) -> list[subprocess.CompletedProcess]:
    """``script`` run once per argument list, the runs side by side (each its own fresh interpreter: the
    second core works instead of idling while a bench imports torch)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the checkout's package, as a user's run
    started = [subprocess.Popen([sys.executable, "-X", "importtime", str(ROOT / script), *args], stdout=subprocess.PIPE,
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


def _split_imports(stderr: str) -> tuple[list[str], set[str]]:
    """(the stderr lines that are not ``-X importtime``'s, the top-level packages its lines name)."""
    lines = stderr.splitlines()
    imported = {line.rsplit("|", 1)[1].strip().split(".")[0] for line in lines if line.startswith("import time:")}
    return [line for line in lines if not line.startswith("import time:")], imported - {"module"}


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_usage_error_is_one_line_and_exit_2_and_help_still_works(script):
    name = Path(script).name
    wrong, shown = _run_both(script, (f"--no-such-option={KEY}",), ("--help",))
    (wrong_err, wrong_imports), (shown_err, shown_imports) = _split_imports(wrong.stderr), _split_imports(shown.stderr)
    assert wrong.returncode == 2, wrong_err
    assert wrong_err == [f"{name}: error: unrecognized arguments: --no-such-option=***; see '{name} --help'"], wrong_err
    assert shown.returncode == 0, shown_err
    assert shown.stdout.startswith(f"usage: {name} ") and "options:" in shown.stdout, shown.stdout
    assert "argparse" in shown_imports  # the import listing is read
    assert sorted(wrong_imports & HEAVY) == [] and sorted(shown_imports & HEAVY) == []
