"""A dataset's name is one line of text. ``import-results`` without ``--data`` and ``eval --data FOLDER`` name the
dataset after the folder they read, whose name whoever published it chose; a folder named with a right-to-left
override (U+202E), a line break or white space around it was stored as the dataset's name
unchecked (the closing note of session 30 listed it), and every table, page and export showed it (U+202E reorders
the text after it). ``merge`` copied such a name from a store an older version wrote.

Expected: refused naming the character by its Unicode code point (``unicodedata``, independent of the project's
wording), nothing stored; an ordinary name with spaces and punctuation is stored as written.
"""

from __future__ import annotations

import json
import sqlite3
import unicodedata

import pytest
from PIL import Image

from realunify_arena.cli import main

GOOD = "Published results (v2, 2025-10) — BAGEL"  # spaces, punctuation, a dash: an ordinary folder name
BAD = {
    "right-to-left override": "results \u202egpj.exe",
    "line break": "results\nsecond line",
    "zero-width space": "res\u200bults",
    "trailing space": "results ",
}


def published(root, name):
    """A GEU result folder named ``name``: four entries with their instance fields and a reply."""
    folder = root / name
    (folder / "image").mkdir(parents=True)
    Image.new("RGB", (16, 16), "white").save(folder / "image" / "x.png")
    entries = [{"index": i, "task_type": "mental_tracking", "input_image": "./image/x.png", "question": f"Which {i}?",
                "option": ["1", "2", "3", "4"], "answer": "B", "response": "B"} for i in range(4)]
    (folder / "GEU_direct.json").write_text(json.dumps(entries), encoding="utf-8")
    return folder


def said(name: str) -> str:
    """How the refusal names what is wrong, from the name itself."""
    if name != name.strip():
        return "white space around it"
    char = next(c for c in name if unicodedata.category(c) in ("Cc", "Cf"))
    return f"(U+{ord(char):04X})"


def stored_datasets(db) -> list[str]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as connection:
        return [row[0] for row in connection.execute("SELECT DISTINCT dataset FROM runs")]


@pytest.mark.parametrize("name", BAD.values(), ids=BAD.keys())
def test_import_results_refuses_a_folder_whose_name_is_no_line_of_text(tmp_path, capsys, name):
    db = tmp_path / "arena.db"
    code = main(["import-results", str(published(tmp_path, name)), "--model", "m", "--db", str(db)])
    err = capsys.readouterr().err
    assert code == 1
    assert "dataset name" in err and said(name) in err and "rename the folder" in err, err
    assert stored_datasets(db) == []


def test_import_results_stores_an_ordinary_folder_name_as_written(tmp_path, capsys):
    db = tmp_path / "arena.db"
    assert main(["import-results", str(published(tmp_path, GOOD)), "--model", "m", "--db", str(db)]) == 0
    assert stored_datasets(db) == [GOOD]


def test_eval_refuses_data_from_a_folder_whose_name_is_no_line_of_text(tmp_path, capsys):
    name = BAD["right-to-left override"]
    db = tmp_path / "arena.db"
    code = main(["eval", "--model", "tiny-janus", "--data", str(published(tmp_path, name)), "--track", "GEU",
                 "--mode", "direct", "--limit", "1", "--judge", "tiny-janus", "--db", str(db), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and said(name) in err and "rename it" in err, err  # a usage error: --data names it
    assert not db.exists() or stored_datasets(db) == []


def test_merge_refuses_a_store_holding_such_a_name(tmp_path, capsys):
    older = tmp_path / "older.db"
    assert main(["import-results", str(published(tmp_path, GOOD)), "--model", "m", "--db", str(older)]) == 0
    name = BAD["line break"]
    with sqlite3.connect(older) as connection:  # as a version before the check stored it
        connection.execute("UPDATE runs SET dataset = ?", (name,))
    capsys.readouterr()
    target = tmp_path / "target.db"
    assert main(["merge", "--db", str(target), str(older)]) == 1
    err = capsys.readouterr().err
    assert said(name) in err and "older.db" in err, err
    assert stored_datasets(target) == []


def test_the_app_serves_no_instance_of_a_source_so_named_and_says_why(tmp_path):
    import random

    from realunify_arena.arena import Arena
    from realunify_arena.cards import load_cards
    from realunify_arena.context import AppContext
    from realunify_arena.runtime import ModelPool
    from realunify_arena.settings import Settings
    from realunify_arena.store import Store

    name = BAD["right-to-left override"]
    source = str(published(tmp_path, name))
    store = Store.open(tmp_path / "arena.db")
    try:
        ctx = AppContext(Settings(data=(source,), models=("tiny-pair",), db=store.path), store,
                         ModelPool(load_cards()), Arena(store), rng=random.Random(7))
        served = ctx.dataset(source)
        assert served.instances == []  # nothing runs, so nothing is stored under the name
        assert any(said(name) in str(p) for p in served.problems), served.problems
    finally:
        store.close()
