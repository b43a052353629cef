"""Entries whose per-item ``score`` and what the official scripts score otherwise disagree are refused by name.

- ``"response_from_score": true`` (what ``export`` writes for a GEU run whose reply is not kept) beside a real reply:
  the official ``eval_understanding.py`` scores the ``response`` and ignores that mark, so reading the ``score``
  instead counted "A" right for answer B. The mark holds only where the response is what that score is written
  as (the answer's letter for 1, "" for 0).
- ``"generated_image": ""`` with ``judge_answer`` replies and a ``score`` they contradict: the official
  ``process_one`` scores an empty image 0 and ``evaluate_accuracy`` counts the ``score``; the replies alone decided.

Expected outcomes are the official scripts' (described above, read from FrankYang-17/RealUnify eval/), by hand.
"""

from __future__ import annotations

import json

from realunify_arena.cli import main


def _score(tmp_path, stem: str, entries: list[dict], capsys) -> tuple[int, str]:
    folder = tmp_path / "res"
    folder.mkdir(exist_ok=True)
    (folder / f"{stem}.json").write_text(json.dumps(entries), encoding="utf-8")
    code = main(["score-official", str(folder), "--model", "m", "--json", str(tmp_path / "t.json")])
    return code, capsys.readouterr().err


def _geu(index: int, response: str, score: int) -> dict:
    return {"index": index, "task_type": "mental_tracking", "question": "Which?", "answer": "B",
            "response": response, "score": score, "response_from_score": True}


def test_a_real_reply_marked_as_written_from_the_score_is_refused(tmp_path, capsys):
    code, err = _score(tmp_path, "GEU_direct", [_geu(1, "B", 0), _geu(2, "A", 1)], capsys)
    assert code != 0
    assert "GEU_direct.json, index 1" in err and "GEU_direct.json, index 2" in err and "response_from_score" in err


def test_a_response_written_from_its_score_still_counts_by_the_score(tmp_path, capsys):
    code, _ = _score(tmp_path, "GEU_direct", [_geu(1, "B", 1), _geu(2, "", 0)], capsys)
    assert code == 0
    assert json.loads((tmp_path / "t.json").read_text())[0]["systems"][0]["n MT"] == "1/2"


def _ueg(index: int, said: str, score) -> dict:
    return {"index": index, "task_type": "logical_reasoning", "generated_image": "", "score": score,
            "question_list": [{"question": "Is it there?", "answer": "yes", "judge_answer": said}]}


def test_an_empty_image_whose_score_contradicts_its_replies_is_refused(tmp_path, capsys):
    code, err = _score(tmp_path, "UEG_direct", [_ueg(1, "Yes", 0), _ueg(2, "No", 1)], capsys)
    assert code != 0
    assert "UEG_direct.json, index 1" in err and "UEG_direct.json, index 2" in err and "'score'" in err


def test_an_empty_image_whose_score_its_replies_give_is_judged_by_them(tmp_path, capsys):
    code, _ = _score(tmp_path, "UEG_direct", [_ueg(1, "Yes", 1), _ueg(2, "No", 0), _ueg(3, "Maybe", None)], capsys)
    assert code == 0
    system = json.loads((tmp_path / "t.json").read_text())[0]["systems"][0]
    assert system["n LR"] == "1/2" and system["judge_errors"] == 1  # the undecided entry is left unscored


def test_a_response_marked_as_written_from_a_score_the_entry_lacks_is_refused(tmp_path, capsys):
    # "response_from_score": true says the response is the score written as a letter (``reply_from_score``), not
    # the model's reply; without the score, reading "B" as the model's answer counted a reply nobody gave (the
    # strict column read 100.0 for a model whose reply was never kept).
    entry = _geu(1, "B", 1)
    del entry["score"]
    code, err = _score(tmp_path, "GEU_direct", [entry], capsys)
    assert code != 0
    assert "GEU_direct.json, index 1" in err and "response_from_score" in err and "no score" in err
