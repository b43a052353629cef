"""A start or command refused for its arguments, cards or judge creates nothing on disk: no empty SQLite store
(nor its -wal/-shm/.lock/.sync files, nor its folder), no empty or partial output; the refusal is one line.
Run through the real entry points (``app.py`` and ``python -m realunify_arena``) as subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALUNIFY_")}
    env["PYTHONPATH"] = str(ROOT)
    # a start that is not refused serves until killed: the timeout fails the test rather than hang it
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def refusal(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if "warning: broken card left out" not in line]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


@pytest.fixture
def broken_cards(card_folder):
    return card_folder("broken", "family: tiny\ndtype: [\n")  # not YAML


@pytest.mark.parametrize(("argv", "said"), [
    (["--models", "no-such-card"], "app.py: --models names unknown card(s) ['no-such-card']"),
    (["--judge", "no-such-card"], "app.py: --judge 'no-such-card': no such model card"),
    (["--judge", "qwen-image"], "app.py: --judge 'qwen-image'"),  # a card that cannot understand images
    (["--models", "broken", "--models-dir", "{cards}"], "app.py: --models names only broken card(s) ['broken']"),
    (["--port", "no-port"], "app.py: --port: expected an integer"),
])
def test_a_refused_app_start_creates_no_database(tmp_path, broken_cards, argv, said):
    db = tmp_path / "new" / "arena.db"
    result = run("app.py", *[a.format(cards=broken_cards) for a in argv], "--db", str(db))
    assert result.returncode == 2
    assert refusal(result.stderr).startswith(said)
    assert not db.parent.exists(), sorted(p.name for p in db.parent.iterdir())


def test_a_refused_start_next_to_an_existing_database_leaves_the_folder_as_it_was(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "notes.txt").write_text("kept", encoding="utf-8")
    result = run("app.py", "--models", "no-such-card", "--db", str(folder / "arena.db"))
    assert result.returncode == 2
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("argv", [
    ["eval", "--model", "no-such-card", "--db", "{out}/a.db"],
    ["eval", "--model", "tiny-pair", "--judge", "no-such-card", "--db", "{out}/a.db"],
    ["eval", "--model", "tiny-pair", "--limit", "0", "--db", "{out}/a.db"],
    ["import-results", "{missing}", "--model", "m", "--db", "{out}/a.db"],
    ["merge", "{missing}", "--db", "{out}/a.db"],
    ["export", "votes", "--format", "jsonl", "--db", "{missing}", "--out", "{out}/v.jsonl"],
    ["export", "runs", "--format", "official", "--db", "{missing}", "--out", "{out}/official"],
    ["leaderboard", "--rounds", "-1", "--out", "{out}/board.md"],
    ["generate-instances", "--per-category", "0", "--out", "{out}/set"],
    ["generate-instances", "--categories", "no_such_task", "--out", "{out}/set"],
    ["space-card", "--space", "{missing}", "--readme", "{out}/README.md"],
])
def test_a_refused_command_leaves_no_output_behind(tmp_path, argv):
    out, missing = tmp_path / "out", tmp_path / "missing"
    result = run("-m", "realunify_arena", *[a.format(out=out, missing=missing) for a in argv])
    assert result.returncode == 2
    assert refusal(result.stderr).startswith(f"{argv[0]}: error: ")
    assert not out.exists()
