"""Result folders as other runners and tools write them, scored by ``score-official`` and by
``import-results`` + ``report``, against the official rule worked out by hand for each.

The official rule (FrankYang-17/RealUnify ``eval/eval_generation.py``): an item whose ``generated_image`` is
empty, null or names no file (``os.path.exists``) scores 0, in its category's denominator; the summary
counts an item right when ``score == 1``. Entries that carry the judge's replies (``judge_answer``) are
scored from them, as the project's own exports write them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from realunify_arena.cli import main
from tests.unit.test_score_official import table_row as row

QUESTIONS = [{"question": "Is it red?", "answer": "yes"}, {"question": "Is it blue?", "answer": "no"}]
JUDGED = [{**q, "judge_answer": a} for q, a in zip(QUESTIONS, ["Yes", "No"])]  # both verdicts right


def ueg(index: int, **fields) -> dict:
    return {"index": index, "task_type": "world_knowledge", "prompt": f"prompt {index}",
            "question_list": QUESTIONS, **fields}


def write(folder: Path, name: str, entries: list[dict], *, bom: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes((b"\xef\xbb\xbf" if bom else b"") + json.dumps(entries, indent=2).encode("utf-8"))
    return folder


def image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 30, 30)).save(path)


def scored(folder: Path, capsys) -> dict[str, str]:
    assert main(["score-official", str(folder), "--model", "m"]) == 0, capsys.readouterr().err
    return row(capsys.readouterr().out, "m")


def imported(folder: Path, db: Path, capsys) -> dict[str, str]:
    assert main(["import-results", str(folder), "--model", "m", "--db", str(db)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["report", "--db", str(db)]) == 0
    return row(capsys.readouterr().out, "m")


def test_an_image_the_official_scorer_cannot_find_scores_0_and_stays_in_the_denominator(tmp_path, monkeypatch,
                                                                                        capsys):
    """By hand: index 1 has its image and both verdicts right (1); index 2's image is not there and nothing
    judged it, index 3's path is too long to name any file here: the official scorer scores both 0. Index 4's
    image is there but not judged yet: left out, as score-official cannot judge it. WK = 1/3. Before, 2 and
    3 were left out too and WK printed 100.0."""
    folder = tmp_path / "results"
    image(folder / "images" / "1.png")
    image(folder / "images" / "4.png")
    write(folder, "UEG_direct.json", [ueg(1, generated_image="./images/1.png", question_list=JUDGED),
                                      ueg(2, generated_image="./images/2.png"),
                                      ueg(3, generated_image="x" * 5000 + ".png"),
                                      ueg(4, generated_image="./images/4.png")])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the paths are relative to the file, not to where the command runs
    assert main(["score-official", str(folder), "--model", "m"]) == 0
    out, err = capsys.readouterr()
    got = row(out, "m")
    assert (got["WK"], got["run err"]) == ("33.3/-", "2/-")
    # the table is over the judged entries only, and says so (before: nothing said index 4 was left out); the
    # two entries scored 0 are named with why (official_results.failure_notes)
    assert err.count("\n") == 2 and "m:direct: 1 entry with an image but no `judge_answer`" in err, err
    assert "UEG_direct.json: 2 of 4 entries count as failed runs" in err and "index 2 (world_knowledge)" in err


def test_windows_separators_name_the_same_image(tmp_path, capsys):
    """A runner on Windows writes ``.\\images\\1.png``; import-results refused it as "image file not found"."""
    folder = tmp_path / "results"
    image(folder / "images" / "1.png")
    image(folder / "images" / "2.png")
    write(folder, "UEG_direct.json", [ueg(1, generated_image=".\\images\\1.png", question_list=JUDGED),
                                      ueg(2, generated_image="images\\2.png", question_list=[
                                          {**QUESTIONS[0], "judge_answer": "No"}, JUDGED[1]])])
    assert (scored(folder, capsys)["WK"]) == "50.0/-"
    got = imported(folder, tmp_path / "arena.db", capsys)
    assert (got["WK"], got["run err"]) == ("50.0/-", "0/-")


@pytest.mark.parametrize("path, said", [("~no-such-user-xyz/images/1.png", "not found"),
                                        ("y" * 5000 + ".png", "a name too long for the file system"),  # ENAMETOOLONG
                                        ("images/\x00.png", "a name holding a NUL byte")],
                         ids=["unknown-user-home", "name-too-long", "nul-byte"])
def test_an_image_path_that_cannot_name_a_file_is_a_named_problem(path, said, tmp_path, capsys):
    """Before: "~user" of an unknown user was a RuntimeError traceback, a 5000-character name an OSError
    whose message was the whole path, not naming the entry or the field. The entry is judged, so it is
    imported by its judge replies (as score-official scores it), with a short note naming entry and field."""
    folder = write(tmp_path / "results", "UEG_direct.json", [ueg(4, generated_image=path, question_list=JUDGED)])
    db = tmp_path / "arena.db"
    assert main(["import-results", str(folder), "--model", "m", "--db", str(db)]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err + out
    note = next(line for line in out.splitlines() if line.startswith("note: UEG_direct.json"))
    # what the path is, not "not found" for a name no file can have (paths25)
    assert "index 4 (world_knowledge): generated_image " in note and said in note, note
    assert len(note) < 400, note


def test_the_official_per_item_score_true_counts_as_1_everywhere(tmp_path, capsys):
    """The official summary counts ``score == 1``, so ``true`` is right and ``false`` wrong: WK = 1/2.
    score-official read it so; import-results refused ``true`` ("expected 0 or 1")."""
    folder = tmp_path / "results"
    image(folder / "images" / "1.png")
    write(folder, "UEG_direct.json", [ueg(1, generated_image="./images/1.png", score=True),
                                      ueg(2, generated_image="./images/1.png", score=False)])
    assert scored(folder, capsys)["WK"] == "50.0/-"
    assert imported(folder, tmp_path / "arena.db", capsys)["WK"] == "50.0/-"


def test_a_file_with_a_byte_order_mark_is_read(tmp_path, capsys):
    """Windows tools write UTF-8 with a BOM; it was "invalid JSON at line 1, column 1". MT: B right, C wrong."""
    options = ["one", "two", "three", "four"]
    entries = [{"index": i, "task_type": "mental_tracking", "input_image": "./image/x.png", "question": "q?",
                "option": options, "answer": "B", "response": reply} for i, reply in enumerate(["B", "C"])]
    folder = write(tmp_path / "results", "GEU_direct.json", entries, bom=True)
    assert scored(folder, capsys)["MT"] == "50.0/-"
    assert imported(folder, tmp_path / "arena.db", capsys)["MT"] == "50.0/-"


def test_official_per_item_scores_survive_import_export_and_score_official(tmp_path, capsys):
    """The official scorer's output (``score`` per item, no judge replies) imported, exported with --judge and
    scored again: WK = 1/2 each time. Before, export wrote ``"question_list": []`` (the instance's polling
    questions lost) and score-official refused the file ("question_list: is empty")."""
    folder = tmp_path / "results"
    image(folder / "images" / "1.png")
    write(folder, "UEG_direct.json", [ueg(1, generated_image="./images/1.png", score=1),
                                      ueg(2, generated_image="./images/1.png", score=0)])
    db = tmp_path / "arena.db"
    assert imported(folder, db, capsys)["WK"] == "50.0/-"
    out = tmp_path / "out"
    assert main(["export", "runs", "--format", "official", "--out", str(out), "--judge", "judge_answer",
                 "--db", str(db)]) == 0
    (file,) = out.rglob("UEG_direct.json")
    entries = json.loads(file.read_text(encoding="utf-8"))
    assert [(e["index"], e["question_list"], e["score"]) for e in entries] == [(1, QUESTIONS, 1), (2, QUESTIONS, 0)]
    capsys.readouterr()
    assert scored(file.parent, capsys)["WK"] == "50.0/-"
