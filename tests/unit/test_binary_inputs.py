"""A file of another kind given where JSON, JSON Lines or CSV is read (hunt28b): the Chatbot Arena battles published
on the Hugging Face Hub are Parquet, a battle file is often kept gzip-compressed, a results folder zipped, and the
store itself (``arena.db``) is one argument away from ``--votes``. Each was refused as "not UTF-8 text (invalid
start byte at byte 444)", which names none of them; the refusal now says what the file is (by its first bytes, the
format's own signature) and what to do, in the votes reader and the result-file reader alike."""

from __future__ import annotations

import gzip
import json
import sqlite3
import zipfile

import pytest

from realunify_arena.cli import main

BATTLES = [{"model_a": "a", "model_b": "b", "winner": "model_a", "anony": True}] * 3


def _parquet(path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(BATTLES), path)


def _gzip(path):
    path.write_bytes(gzip.compress(json.dumps(BATTLES).encode()))


def _zip(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("battles.json", json.dumps(BATTLES))


def _sqlite(path):
    with sqlite3.connect(path) as db:
        db.execute("create table t (x)")
    db.close()


KINDS = {  # how the file is made, what it is said to be
    "parquet": (_parquet, "a Parquet file, not text"),
    "gzip": (_gzip, "a gzip-compressed file, not text"),
    "zip": (_zip, "a ZIP archive (an .xlsx workbook is one too), not text"),
    "sqlite": (_sqlite, "a SQLite database, not text"),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_votes_file_of_another_format_is_named_by_its_format(tmp_path, capsys, kind):
    make, said = KINDS[kind]
    path = tmp_path / "battles.json"
    make(path)
    assert main(["leaderboard", "--votes", str(path), "--track", "UEG", "--kind", "model_vs_model"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: {said}" in err and "invalid start byte" not in err and "Traceback" not in err, err


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("name", ["GEU_direct.json", "GEU_direct.jsonl"])
def test_a_result_file_of_another_format_is_named_by_its_format(tmp_path, capsys, kind, name):
    make, said = KINDS[kind]
    make(tmp_path / name)
    assert main(["score-official", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{name}: {said}" in err and "invalid start byte" not in err and "Traceback" not in err, err
