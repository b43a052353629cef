"""``bench/votes.py --flush-latency-us``: the shim's build folder is never left behind in the temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(os.name != "posix", reason="LD_PRELOAD shim, POSIX only")
def test_a_shim_that_does_not_build_leaves_no_folder_and_no_traceback(tmp_path):
    """A C compiler that fails (a broken toolchain, missing headers) raised CalledProcessError with a traceback
    and left ``votes-bench-flush-*`` (its source file) in the temporary folder at each try."""
    bin_dir, temp = tmp_path / "bin", tmp_path / "tmp"
    bin_dir.mkdir()
    temp.mkdir()
    cc = bin_dir / "cc"
    cc.write_text("#!/bin/sh\necho 'cc: cannot build' >&2\nexit 1\n")
    cc.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", TMPDIR=str(temp))
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "votes.py"), "--seconds", "0.1", "--rounds", "1",
                           "--threads", "1", "--processes", "0", "--flush-latency-us", "200"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "could not build the LD_PRELOAD shim" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert list(temp.iterdir()) == []


def test_each_row_reports_the_writers_cpu_and_context_switches(tmp_path):
    """Every row, threads and processes, says what its writers spent (``getrusage`` in each writing process): CPU a
    battle above 0 (a battle runs Python and SQLite), the same CPU over the row's seconds, and context switches."""
    out = tmp_path / "votes.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "votes.py"), "--seconds", "0.4", "--rounds", "1",
                           "--threads", "2", "--processes", "2", "--process-threads", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())["rows"]
    assert {(r["label"], r["design"]) for r in rows} == {("threads 2", d) for d in ("project", "reference")} | {
        ("procs 2x1", d) for d in ("project", "reference")}
    for row in rows:
        assert row["battles"] > 0 and row["cpu_us_per_battle"] > 0 and row["switches_per_battle"] >= 0, row
        cpu = row["cpu_us_per_battle"] * row["battles"] / 1e6
        assert row["cores_busy"] * row["seconds"] == pytest.approx(cpu, rel=0.01), row  # one figure two ways
        assert row["cores_busy"] <= (os.cpu_count() or 1) + 0.5, row  # no more than the machine has
    assert "cpu us/b" in done.stdout and "cs/b" in done.stdout
