"""``import-results --judge-name NAME``: the name every imported judgment is stored under (SQLite) and that
``report --judges`` shows in its Markdown and CSV tables. Before, any non-empty text was stored: a line break, a
bidi override (U+202E, which turns the rest of a table row around), 5,000 characters. Now such a name is refused
before anything is read or written, naming the flag's value and what is expected; names with spaces and
punctuation, as judges are called ("Gemini 2.5 Pro", "Qwen2.5-VL-72B (local)"), are stored as given."""

from __future__ import annotations

import sqlite3

import pytest

from realunify_arena.benchmark import load
from realunify_arena.cli import main
from tests.unit.test_import_second_judge import _folder


@pytest.fixture(scope="module")
def instances():
    return [i for i in load("bundled").instances if i.track == "UEG"][:2]


@pytest.mark.parametrize("name, said", [
    ("gem\nini", "holds a control character (U+000A)"),
    ("gem\u202eini", "holds an invisible format character (U+202E)"),
    ("gem\tini", "holds a control character (U+0009)"),
    ("g" * 101, "101 characters;"),
    (" gemini", "white space around it"),
    ("   ", "expected a name of 1 to 100 characters on one line"),
])
def test_a_judge_name_no_table_shows_on_one_line_is_refused_and_nothing_is_stored(tmp_path, capsys, instances,
                                                                                 name, said):
    folder = _folder(tmp_path / "gemini", instances, lambda k, j, q: q.answer)
    db = tmp_path / "s.db"
    code = main(["import-results", str(folder), "--model", "bagel-pub", "--data", "bundled", "--judge-name", name,
                 "--db", str(db)])
    err = capsys.readouterr().err
    assert code != 0
    assert f"{folder}: judge name " in err and said in err, err
    assert "expected a name of 1 to 100 characters on one line, other than 'human' and 'answer-parser'" in err
    assert not db.exists()  # refused before a store was made


@pytest.mark.parametrize("name", ["Gemini 2.5 Pro", "Qwen2.5-VL-72B (local)", "gpt-4o@2024-08-06", "评审-1",
                                  "g" * 100])
def test_judge_names_with_spaces_and_punctuation_are_stored_as_given(tmp_path, capsys, instances, name):
    folder = _folder(tmp_path / "gemini", instances, lambda k, j, q: q.answer)
    db = tmp_path / "s.db"
    assert main(["import-results", str(folder), "--model", "bagel-pub", "--data", "bundled", "--judge-name", name,
                 "--db", str(db)]) == 0, capsys.readouterr().err
    with sqlite3.connect(db) as conn:
        judges = {row[0] for row in conn.execute("select judge from judgments")}
    assert name in judges
