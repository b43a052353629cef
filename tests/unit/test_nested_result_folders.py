"""A folder that holds result files itself is scored as one model; result folders nested under it are not
read, and that must be said, not dropped silently (a tester pointing ``score-official`` at a parent folder
would otherwise take one model's table for the whole tree)."""

from __future__ import annotations

import json

from realunify_arena.cli import main
from tests.unit.test_score_official import table_row

BASE = {"question": "Which?", "option": ["a", "b", "c", "d"], "input_image": "./image/x.png"}


def test_result_folders_under_a_scored_folder_are_named_as_not_read(tmp_path, capsys):
    top = tmp_path / "top"
    (top / "runs" / "other").mkdir(parents=True)
    (top / "GEU_direct.json").write_text(json.dumps(
        [{**BASE, "index": 1, "task_type": "mental_tracking", "answer": "B", "response": "B"}]), encoding="utf-8")
    (top / "runs" / "other" / "GEU_direct.json").write_text(json.dumps(
        [{**BASE, "index": 1, "task_type": "mental_tracking", "answer": "B", "response": "C"}]), encoding="utf-8")
    assert main(["score-official", str(top)]) == 0
    captured = capsys.readouterr()
    assert table_row(captured.out, "top")["MT"] == "100.0/-"  # the folder's own file: 1 of 1 right
    assert "other" not in captured.out  # the nested folder is not a row of this table
    assert "not read" in captured.err and "runs/other" in captured.err


def test_a_parent_of_model_folders_alone_gets_no_such_note(tmp_path, capsys):
    for model, reply in (("m1", "B"), ("m2", "C")):
        (tmp_path / "data" / model).mkdir(parents=True)
        (tmp_path / "data" / model / "GEU_direct.json").write_text(json.dumps(
            [{**BASE, "index": 1, "task_type": "mental_tracking", "answer": "B", "response": reply}]),
            encoding="utf-8")
    assert main(["score-official", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert table_row(captured.out, "m1")["MT"] == "100.0/-" and table_row(captured.out, "m2")["MT"] == "0.0/-"
    assert "not read" not in captured.err
