"""A card or data file that is no regular file is a problem line, never a start that eats memory or hangs.

A pull request can add a link (git stores links) such as ``models/evil.yaml -> /dev/zero``; an operator can
leave a named pipe or a folder where a file was expected. The card loader read the whole file before its
size check: a link to ``/dev/zero`` or ``/dev/urandom`` was read until memory ran out (``MemoryError``
traceback under a 4 GiB address-space limit; without one the machine's memory), and a named pipe blocked
``models`` and the app's start for good. The same for an official data folder's JSON files (``validate``,
the app's data sources, ``import-results``, ``import-votes``). Each case is the real command as a process
under a 4 GiB address-space limit and a time limit: exit status, one problem line per special file naming
what it is, the good card still listed, no traceback.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/dev/zero").exists() or not hasattr(os, "mkfifo"),
                                reason="needs /dev/zero, /dev/urandom and named pipes")
ROOT = Path(__file__).resolve().parents[2]
MEMORY_LIMIT = 4 << 30  # bytes of address space: the command needs well under this (torch's import included)


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "realunify_arena", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, preexec_fn=_limited)


def _specials(folder: Path, names: dict[str, str]) -> None:
    """``names``: file name -> kind ("zero", "random", "pipe", "folder")."""
    for name, kind in names.items():
        path = folder / name
        if kind == "pipe":
            os.mkfifo(path)
        elif kind == "folder":
            path.mkdir()
        else:
            path.symlink_to(f"/dev/{'zero' if kind == 'zero' else 'urandom'}")


def test_models_lists_a_link_to_a_device_or_a_pipe_as_a_broken_card(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(ROOT / "models" / "tiny-pair.yaml", folder)
    _specials(folder, {"zero.yaml": "zero", "random.yaml": "random", "pipe.yaml": "pipe", "folder.yaml": "folder"})
    done = _run("models", "--models-dir", str(folder))
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 1  # problems found, the listing completed
    assert [line.split()[0] for line in done.stdout.splitlines()] == ["tiny-pair"]
    problems = sorted(line for line in done.stderr.splitlines() if line.startswith("broken card left out: "))
    assert len(problems) == 4, done.stderr
    for name, what in (("zero", "a character device"), ("random", "a character device"), ("pipe", "a named pipe")):
        assert any(f"{name}.yaml: cannot be read: not a regular file but {what}" in p for p in problems), problems
    assert any("folder.yaml: cannot be read: " in p for p in problems), problems


def test_validate_names_official_json_files_that_are_devices_or_pipes(tmp_path):
    folder = tmp_path / "official"
    folder.mkdir()
    _specials(folder, {"UEG_direct.json": "zero", "UEG_step.json": "random", "GEU_direct.json": "pipe"})
    done = _run("validate", str(folder))
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 1
    text = done.stdout + done.stderr
    assert "UEG_direct.json: cannot be read: not a regular file but a character device" in text
    assert "UEG_step.json: cannot be read: not a regular file but a character device" in text
    assert "GEU_direct.json: cannot be read: not a regular file but a named pipe" in text
