"""A refusal about a file names the option or argument that gave that file, and never damages it.

Before: ``merge notes.txt --db arena.db`` said "point --db at the right file, or move this one away to start
an empty database" about the SOURCE (--db was fine, and moving a source away does not help); and
``backup OUT`` replaced whatever was at OUT (a text file, another program's database) with the backup.
Run through ``cli.main`` as a user runs it, on real files."""

from __future__ import annotations

import sqlite3

import pytest

from realunify_arena.cli import main
from realunify_arena.store import Store


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "arena.db"
    Store.open(path).close()
    return path


def _foreign(tmp_path, kind):
    """A file that is not a store: plain text, or another program's SQLite database."""
    path = tmp_path / ("notes.txt" if kind == "text" else "other.db")
    if kind == "text":
        path.write_text("not a database\n")
    else:
        conn = sqlite3.connect(path)
        conn.execute("create table contacts (name text)")
        conn.commit()
        conn.close()
    return path


@pytest.mark.parametrize("kind", ["text", "sqlite"])
def test_a_bad_merge_source_is_blamed_on_the_source_not_on_db(tmp_path, db, capsys, kind):
    source = _foreign(tmp_path, kind)
    assert main(["merge", str(source), "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"merge: error: {source}: ") and "SOURCE" in err, err
    assert "--db" not in err and "start an empty" not in err, err


@pytest.mark.parametrize("kind", ["text", "sqlite"])
def test_a_bad_db_is_still_blamed_on_db(tmp_path, db, capsys, kind):
    target = _foreign(tmp_path, kind)
    assert main(["merge", str(db), "--db", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"merge: error: {target}: ") and "point --db at" in err, err


@pytest.mark.parametrize("kind", ["text", "sqlite", "folder"])
def test_backup_refuses_an_out_that_is_not_a_store_and_leaves_it_as_it_was(tmp_path, db, capsys, kind):
    if kind == "folder":
        out = tmp_path / "a-folder"
        out.mkdir()
        before = None
    else:
        out = _foreign(tmp_path, kind)
        before = out.read_bytes()
    assert main(["backup", str(out), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"backup: error: backup OUT {out}: ") and "nothing was written" in err, err
    assert (out.is_dir() if before is None else out.read_bytes() == before)


def test_backup_replaces_an_earlier_backup_and_fills_an_empty_file(tmp_path, db):
    out = tmp_path / "copy.db"
    assert main(["backup", str(out), "--db", str(db)]) == 0
    assert main(["backup", str(out), "--db", str(db)]) == 0  # the earlier backup is replaced
    empty = tmp_path / "empty.db"
    empty.touch()
    assert main(["backup", str(empty), "--db", str(db)]) == 0
    assert Store.file_counts(empty) == Store.file_counts(db)
