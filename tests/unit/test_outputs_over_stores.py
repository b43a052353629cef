"""A command's output file never replaces a store or one of SQLite's files beside it.

Before: ``export votes --db data/arena.db --out data/arena.db`` (a slip of the flag) wrote the JSON Lines export
over the database, said "wrote 428 votes to data/arena.db" and exited 0: every run, battle and judgment was gone,
and the next start refused the file as "not an SQLite database". ``leaderboard --out`` did the same, and ``backup``
took the live database's empty write-ahead log (right after a checkpoint) or its ``.sync`` file as an empty file it
may replace. Real store, real CLI; the expected state is the store's own counts before the command.
"""

from __future__ import annotations

import hashlib

import pytest

from realunify_arena.cli import main
from realunify_arena.store import Store
from test_persistence import cast_vote


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "data" / "arena.db"
    store = Store.open(path)
    for n in range(1, 4):
        cast_vote(store, n)
    store.close()
    return path


@pytest.mark.parametrize("command", [
    ["export", "votes", "--format", "jsonl", "--out", "{out}"],
    ["export", "votes", "--format", "csv", "--out", "{out}"],
    ["leaderboard", "--format", "json", "--out", "{out}"],
    ["score-official", "{db_dir}", "--csv", "{out}"],
])
@pytest.mark.parametrize("target", ["arena.db", "arena.db.sync", "arena.db.lock"])
def test_an_output_naming_the_store_or_its_files_is_refused_and_the_store_is_kept(db, capsys, command, target):
    out = db.parent / target
    before = {p.name: _digest(p) for p in db.parent.iterdir() if p.is_file()}
    args = [a.format(out=out, db_dir=db.parent) for a in command] + ["--db", str(db)] * (command[0] != "score-official")
    assert main(args) == 2
    message = capsys.readouterr().err
    assert str(out) in message and "arena.db" in message and "Traceback" not in message
    assert {p.name: _digest(p) for p in db.parent.iterdir() if p.is_file()} == before
    store = Store.open(db)
    assert len(store.votes()) == 3
    store.close()


@pytest.mark.parametrize("target", ["arena.db-wal", "arena.db-shm", "arena.db.sync", "arena.db.lock"])
def test_a_backup_over_the_live_databases_own_files_is_refused(db, capsys, target):
    store = Store.open(db)  # the app runs: its write-ahead log is there (empty right after a checkpoint)
    store._checkpoint_wal("TRUNCATE", wait=True)
    out = db.parent / target
    assert out.exists()
    before = _digest(out)
    assert main(["backup", str(out), "--db", str(db)]) == 2
    message = capsys.readouterr().err
    assert str(out) in message and "Traceback" not in message
    assert _digest(out) == before
    cast_vote(store, 9)
    store.close()
    reopened = Store.open(db)
    assert len(reopened.votes()) == 4
    reopened.close()


def test_an_earlier_backup_is_still_replaced(db, capsys, tmp_path):
    out = tmp_path / "backups" / "arena.db"
    assert main(["backup", str(out), "--db", str(db)]) == 0
    assert main(["backup", str(out), "--db", str(db)]) == 0
    assert "3 votes" in capsys.readouterr().out


def _orphan_log(folder, suffix):
    """A write-ahead log (``-wal``) holding a commit, or a hot rollback journal (``-journal``, a transaction under
    way), left in ``folder`` without its database (moved away), as a crash and a careless move leave one: made by
    SQLite itself."""
    import shutil
    import sqlite3

    source = folder.parent / "elsewhere" / "arena.db"
    source.parent.mkdir()
    conn = sqlite3.connect(source, isolation_level=None)
    if suffix == "-wal":
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("CREATE TABLE vote (n)")
        conn.execute("INSERT INTO vote VALUES (1)")
    else:  # a hot journal: a transaction under way whose changed pages spilled to the file (a crash keeps it)
        conn.execute("CREATE TABLE vote (n)")
        conn.execute("PRAGMA cache_size=1")
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO vote VALUES (?)", [(b"x" * 1000,)] * 200)
    folder.mkdir(parents=True, exist_ok=True)
    left = folder / f"arena.db{suffix}"
    shutil.copyfile(f"{source}{suffix}", left)
    conn.close()
    return left


@pytest.mark.parametrize("suffix", ["-wal", "-journal"])
def test_an_output_over_a_log_left_without_its_database_is_refused(db, capsys, tmp_path, suffix):
    """A log whose database was moved may hold that database's last commits (``store.left_behind`` refuses to start
    beside one for that reason); an output named like it replaced it, as no database was beside it to own it
    (verify26c). SQLite's files are known by their own headers too (sqlite.org/fileformat2.html: a WAL starts with
    0x377f0682 or 0x377f0683, a rollback journal with d9 d5 05 f9 20 a1 63 d7)."""
    left = _orphan_log(tmp_path / "moved", suffix)
    assert left.stat().st_size > 0
    before = _digest(left)
    assert main(["export", "votes", "--format", "csv", "--out", str(left), "--db", str(db)]) == 2
    message = capsys.readouterr().err
    assert str(left) in message and "Traceback" not in message
    assert _digest(left) == before
