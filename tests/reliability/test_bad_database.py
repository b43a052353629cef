"""A database the app cannot use stops the start with one line of its own, and is left as it was.

Each case is a real file on disk: not an SQLite file, truncated (mid-file and inside the header), a page
overwritten so the integrity check fails, a read-only file (immutable, so even root cannot write it), a
folder, and a database written by a newer version (a schema migration this code does not know). Checked
through ``Store.open`` (the one door every command and the app use) and through ``app.py``: exit status 2,
a single stderr line naming the file, what is wrong and what to do, no traceback, the file's bytes unchanged.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from realunify_arena.store import Store, StoreError, migrations
from realunify_arena.trace import Trace

ROOT = Path(__file__).resolve().parents[2]
PAGE = 4096


@pytest.fixture(scope="module")
def good_db(tmp_path_factory) -> bytes:
    """The bytes of a healthy database holding 150 runs (about 90 pages)."""
    path = tmp_path_factory.mktemp("good") / "arena.db"
    store = Store.open(path)
    for seed in range(150):
        store.save_trace(Trace("UEG_1_world_knowledge", "m", "direct", {"seed": seed, "pad": "x" * 1500}), "b")
    store.close()
    return path.read_bytes()


def garbage(good: bytes) -> bytes:
    return bytes(range(256)) * 32


def text_file(good: bytes) -> bytes:
    return b'{"instances": []}\n' * 100


def truncated(good: bytes) -> bytes:
    return good[:len(good) // 2]


def header_only(good: bytes) -> bytes:
    return good[:100]


def page_overwritten(good: bytes) -> bytes:
    damaged = bytearray(good)
    damaged[PAGE * 5:PAGE * 5 + 200] = bytes(range(200))  # a b-tree page's header and cell pointers
    return bytes(damaged)


CASES = {  # name -> (bytes from the healthy file, words the message must contain)
    "garbage": (garbage, "not an SQLite database"),
    "text": (text_file, "not an SQLite database"),
    "truncated": (truncated, "damaged or truncated"),
    "header_only": (header_only, "truncated"),
    "integrity": (page_overwritten, "integrity check failed"),
}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_line(message: str, path: Path, *words: str) -> None:
    assert "\n" not in message and "Traceback" not in message
    assert str(path) in message
    for word in words:
        assert word in message
    assert any(hint in message for hint in ("restore", "point --db", "make", "upgrade")), message


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_damaged_file_is_refused_with_one_line_and_left_untouched(good_db, tmp_path, case):
    make, words = CASES[case]
    path = tmp_path / "arena.db"
    path.write_bytes(make(good_db))
    before = digest(path)
    with pytest.raises(StoreError) as refused:
        Store.open(path)
    one_line(str(refused.value), path, words)
    assert digest(path) == before


def newer_schema(path: Path, good: bytes) -> None:
    path.write_bytes(good)
    conn = sqlite3.connect(path)
    conn.execute("insert into _sqlite_migrations (migration_set, name, applied_at) values (?, ?, 't')",
                  (migrations.name, "m999_from_the_future"))
    conn.commit()
    conn.close()


def test_a_database_from_a_newer_version_is_refused(good_db, tmp_path):
    path = tmp_path / "arena.db"
    newer_schema(path, good_db)
    before = digest(path)
    with pytest.raises(StoreError) as refused:
        Store.open(path)
    one_line(str(refused.value), path, "newer version", "m999_from_the_future")
    assert digest(path) == before


@pytest.fixture
def immutable(tmp_path):
    """``immutable(path)``: make a file or folder unwritable even for root (``chattr +i``); undone after."""
    marked = []

    def mark(path: Path) -> None:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)],
                                                            capture_output=True).returncode != 0:
            pytest.skip("this filesystem cannot make a file immutable (chattr +i)")
        marked.append(path)

    yield mark
    for path in marked:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def test_a_read_only_database_is_refused_not_opened_read_only(good_db, tmp_path, immutable):
    path = tmp_path / "arena.db"
    path.write_bytes(good_db)
    before = digest(path)
    immutable(path)
    with pytest.raises(StoreError) as refused:
        Store.open(path)
    one_line(str(refused.value), path, "read-only")
    assert digest(path) == before


def test_a_database_in_a_read_only_folder_is_refused(good_db, tmp_path, immutable):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "arena.db"
    path.write_bytes(good_db)
    immutable(folder)
    with pytest.raises(StoreError) as refused:
        Store.open(path)
    one_line(str(refused.value), path, "read-only")


def test_a_folder_is_not_a_database(tmp_path):
    (tmp_path / "arena.db").mkdir()
    with pytest.raises(StoreError) as refused:
        Store.open(tmp_path / "arena.db")
    one_line(str(refused.value), tmp_path / "arena.db", "not a file")


@pytest.mark.parametrize("depth", [1, 2])
def test_a_database_under_a_file_names_the_file_that_is_in_the_way(tmp_path, depth):
    """``--db data/arena.db`` where ``data`` is a file: before, "cannot be created or opened (File exists)" (the
    error of the folder's mkdir), which names neither the file in the way nor what to do."""
    blocker = tmp_path / "data"
    blocker.write_text("a file, not a folder")
    path = blocker.joinpath(*["sub"] * (depth - 1), "arena.db")
    with pytest.raises(StoreError) as refused:
        Store.open(path)
    one_line(str(refused.value), path, f"{blocker} is a file, not a folder")
    assert blocker.read_text() == "a file, not a folder"


def load_app_py():
    spec = importlib.util.spec_from_file_location("app_entry", ROOT / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    return app


@pytest.mark.parametrize("case", ["garbage", "truncated", "integrity", "newer"])
def test_app_py_prints_the_stores_line_and_exits_2(good_db, tmp_path, capsys, monkeypatch, case):
    monkeypatch.delenv("REALUNIFY_DATASET_REPO", raising=False)
    path = tmp_path / "arena.db"
    if case == "newer":
        newer_schema(path, good_db)
    else:
        path.write_bytes(CASES[case][0](good_db))
    assert load_app_py().main(["--db", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"app.py: cannot open the database {path}")
    one_line(err, path)


def test_app_py_as_a_process_says_one_line_and_never_starts(good_db, tmp_path):
    path = tmp_path / "arena.db"
    path.write_bytes(truncated(good_db))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REALUNIFY_DATASET_REPO": ""}
    done = subprocess.run([sys.executable, str(ROOT / "app.py"), "--db", str(path), "--port", "7999"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "damaged or truncated" in lines[0] and "Traceback" not in done.stderr, done.stderr
    assert "Running on" not in done.stdout


@pytest.mark.parametrize("tables", [["foo"], ["votes", "runs"]])
def test_another_applications_database_is_refused_and_left_untouched(tmp_path, capsys, tables):
    """Before: a --db naming another program's SQLite file got this app's tables written into it (or, where a
    table name clashed, its journal switched to WAL and a 'table "runs" already exists' error)."""
    from realunify_arena.cli import main

    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    for table in tables:
        conn.execute(f"create table {table} (x)")
    conn.commit()
    conn.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(StoreError) as refused:
        Store.open(path)
    one_line(str(refused.value), path, "not a realunify-arena store")
    assert main(["export", "votes", "--db", str(path)]) == 1
    err = capsys.readouterr().err
    assert "not a realunify-arena store" in err and tables[0] in err and "Traceback" not in err
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
