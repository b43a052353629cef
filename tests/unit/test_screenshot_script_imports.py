"""``python scripts/screenshots.py`` (the README's screenshots) finds the UI tests' setup it launches, as a user runs
it: from another folder, in a fresh interpreter, no PYTHONPATH.

Failing case (hunt28c): since the UI tests' ``conftest`` imports ``tests/unlimited.py`` (the shared apps' raised
limits), the script stopped with ``ModuleNotFoundError: No module named 'unlimited'`` after starting, before any
screenshot: it put ``tests/ui`` on ``sys.path`` but not ``tests``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_screenshot_script_imports_the_ui_tests_setup():
    # the script's own module code (its sys.path) without main(), then the import main() makes first
    code = (f"import runpy; runpy.run_path({str(ROOT / 'scripts' / 'screenshots.py')!r}, run_name='screenshots'); "
            "from conftest import chromium, launch_app")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT.parent, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
