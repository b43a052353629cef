"""The load bench, short: a few users for a few seconds against the real app process (CI runs this;
``python bench/load.py`` runs the full 50 users for 60 s on demand)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_short_load_run_has_no_errors_and_loses_no_votes(tmp_path):
    figures_path = tmp_path / "load.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "load.py"), "--users", "5", "--seconds", "8",
                           "--think", "1", "--reference-seconds", "2", "--json", str(figures_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(figures_path.read_text())
    assert figures["errors"] == 0, figures["error_samples"]
    assert figures["votes_acknowledged"] > 0
    assert figures["votes_stored"] == figures["votes_acknowledged"] and figures["votes_missing"] == 0
    assert figures["integrity"] == "ok"
    assert all(row["requests"] > 0 for row in figures["endpoints"].values()), figures["endpoints"]
    assert "votes acknowledged" in done.stdout  # the printed table is the bench's report
