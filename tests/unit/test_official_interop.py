"""Files the official scorers accept, read and written as they read them (FrankYang-17/RealUnify
``eval/eval_understanding.py`` and ``eval/eval_generation.py``):

- neither scorer reads ``index`` (each counts an entry by its ``task_type``), so ``score-official`` scores an
  entry without one; ``import-results``, which matches entries to instances by (task_type, index), refuses it
  by name and position;
- an exported GEU run imported from a per-item score (no reply kept) carries a ``response`` string, since
  ``eval_understanding.py`` calls ``.strip()`` on it, that scores as the stored score;
- an exported UEG run judged on an image not kept carries ``generated_image`` (``eval_generation.py`` reads
  ``item["generated_image"]`` first) and its ``score``, which the official summary counts.

Expected counts come from the entries written here, counted by hand, and from ``official_*`` below: a
reimplementation, in this test, of the official scripts' counting (not the project's code).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from realunify_arena.cli import main
from realunify_arena.store import Store
from realunify_arena.trace import StepRole
from tests.unit.test_official_files import table_row
from tests.unit.test_result_files_shared import write

# eval_understanding.py's extract_characters_regex, its prefix list in its order
PREFIXES = ["The best answer is", "The correct answer is", "The answer is", "The answer", "The best option is",
            "The correct option is", "Best answer:", "Best option:", "Answer", "Answer is"]


def official_letter(response) -> str:
    response = response.strip()  # AttributeError on null, as officially (the whole file then fails)
    for prefix in PREFIXES:
        response = response.replace(prefix, "")
    if len(response.split()) > 10 and not re.search("[ABCD]", response):
        return ""
    match = re.search(r"[ABCD]", response)
    return match[0] if match else ""


def official_geu_correct(entries: list[dict]) -> dict[str, int]:
    """cal_multiple_choice_acc's task_correct_num: per task_type, the entries whose letter is the answer."""
    correct: dict[str, int] = {}
    for item in entries:
        response = item["response"]
        if isinstance(response, list):
            response = response[0]
        if official_letter(response) == item["answer"]:
            correct[item["task_type"]] = correct.get(item["task_type"], 0) + 1
    return correct


def official_ueg_correct(entries: list[dict]) -> dict[str, int]:
    """evaluate_accuracy's count (score == 1 per task_type), on entries process_one can read: it takes
    ``item["generated_image"]`` first, and a KeyError there makes the entry None and the summary crash."""
    correct: dict[str, int] = {}
    for item in entries:
        item["generated_image"]  # noqa: B018 - the official process_one's first read
        if item.get("score") == 1:
            correct[item["task_type"]] = correct.get(item["task_type"], 0) + 1
    return correct


def scored_row(folder: Path, capsys) -> dict:
    capsys.readouterr()
    assert main(["score-official", str(folder), "--model", "m"]) == 0, capsys.readouterr().err
    return table_row(capsys.readouterr().out, "m")


def exported(tmp_path: Path, db: Path, name: str, capsys, *judge: str) -> Path:
    out = tmp_path / "exported"
    assert main(["export", "--format", "official", "--out", str(out), "--db", str(db), *judge]) == 0, \
        capsys.readouterr().err
    return next(out.rglob(name))


# --- 1. an entry without index ---------------------------------------------------------------------------

NO_INDEX_GEU = [{"task_type": "mental_tracking", "answer": "B", "response": "B"},         # right
                {"task_type": "mental_tracking", "answer": "C", "response": "A"},         # wrong
                {"task_type": "mental_tracking", "answer": "C", "response": "The answer is C"},  # right
                {"index": 3, "task_type": "mental_tracking", "answer": "D", "response": "D"}]   # right
NO_INDEX_UEG = [{"task_type": "world_knowledge", "score": 1},
                {"task_type": "world_knowledge", "index": None, "score": 0},
                {"task_type": "commonsense_reasoning", "generated_image": "",
                 "question_list": [{"question": "Is there a cup?", "answer": "yes"}]}]  # no image: 0


def test_score_official_scores_entries_without_index_as_the_official_scorers_do(tmp_path, capsys):
    folder = tmp_path / "res"
    write(folder / "GEU_direct.json", NO_INDEX_GEU)
    write(folder / "UEG_step.jsonl", NO_INDEX_UEG)
    row = scored_row(folder, capsys)
    assert official_geu_correct(NO_INDEX_GEU) == {"mental_tracking": 3}  # the reference agrees with the hand
    # by hand: MT 3 of 4 = 75.0; stepwise WK 1 of 2 = 50.0, CR 0 of 1 = 0.0 (two index-less WK entries are
    # two runs, never one instance twice)
    assert (row["MT"], row["WK"], row["CR"]) == ("75.0/-", "-/50.0", "-/0.0")


def test_import_results_refuses_an_entry_without_index_by_file_and_position(tmp_path, capsys):
    folder = tmp_path / "res"
    write(folder / "GEU_direct.json", NO_INDEX_GEU[:1] + [{**NO_INDEX_GEU[1], "index": 1}])
    write(folder / "UEG_direct.jsonl", [{"index": 1, "task_type": "world_knowledge", "score": 1},
                                        {"task_type": "world_knowledge", "score": 1}])
    db = tmp_path / "arena.db"
    expected = {"--data": "expected the integer index of the {} instance of dataset 'bundled' this entry answers "
                          "(entries are matched by (task_type, index), never guessed)",
                "": "expected an integer"}  # without --data the entries' own fields are the instances
    for extra in (["--data", "bundled"], []):
        capsys.readouterr()
        assert main(["import-results", str(folder), "--model", "m", "--db", str(db), *extra]) == 1
        err = capsys.readouterr().err
        what = expected["".join(extra[:1])]
        assert f"GEU_direct.json, position 0, field 'index': missing; {what.format('mental_tracking')}" in err, err
        assert f"UEG_direct.jsonl, line 2, field 'index': missing; {what.format('world_knowledge')}" in err, err
        assert "Traceback" not in err
    if db.exists():
        store = Store.open(db)
        try:
            assert store.runs() == []
        finally:
            store.close()


# --- 2. GEU runs imported from a per-item score -------------------------------------------------------------

def _geu(index: int, answer: str, **result) -> dict:
    return {"index": index, "task_type": "attentional_focusing", "input_image": f"./image/af/s/images/{index}.png",
            "question": f"question {index}?", "option": ["one", "two", "three", "four"], "answer": answer,
            **result}


SCORED_GEU = [_geu(1, "B", response=None, score=1),   # right by its score
              _geu(2, "C", score=0),                  # wrong by its score (no response at all)
              _geu(3, "A", response=None, score=True),  # right (the official summary's score == 1)
              _geu(4, "D", response="D")]             # right by its letter


def test_geu_runs_scored_without_a_reply_export_as_replies_the_official_scorer_scores_the_same(tmp_path, capsys):
    folder = tmp_path / "res"
    write(folder / "GEU_direct.json", SCORED_GEU)
    write(folder / "GEU_step.json", [_geu(1, "B", response=None, score=1), _geu(2, "C", response=None, score=0)])
    assert scored_row(folder, capsys)["AF"] == "75.0/50.0"  # by hand: 3 of 4; stepwise 1 of 2
    db = tmp_path / "arena.db"
    assert main(["import-results", str(folder), "--model", "m", "--db", str(db)]) == 0, capsys.readouterr().err
    direct = exported(tmp_path, db, "GEU_direct.json", capsys)
    for path, right in ((direct, 3), (direct.parent / "GEU_step.json", 1)):
        entries = json.loads(path.read_text(encoding="utf-8"))
        assert all(isinstance(e["response"], str) for e in entries), entries
        assert official_geu_correct(entries) == {"attentional_focusing": right}
        from_score = {e["index"]: (e["response"], e["score"]) for e in entries if e.get("response_from_score")}
        assert from_score == ({1: ("B", 1), 2: ("", 0), 3: ("A", 1)} if path == direct else
                              {1: ("B", 1), 2: ("", 0)})
    assert scored_row(direct.parent, capsys)["AF"] == "75.0/50.0"
    # imported again, the letter written for the score is not taken for the model's reply
    again = tmp_path / "again.db"
    assert main(["import-results", str(direct.parent), "--model", "m", "--db", str(again)]) == 0, \
        capsys.readouterr().err
    store = Store.open(again)
    try:
        answers = {r["instance_uid"]: [s.text for s in store.load_trace(r["id"]).steps if s.role is StepRole.ANSWER]
                   for r in store.runs(mode="direct")}
        scores = {j["instance_uid"]: j["score"] for j in store.judgments() if j["instance_uid"].startswith("GEU")}
    finally:
        store.close()
    assert answers["GEU_1_attentional_focusing"] == [] and answers["GEU_4_attentional_focusing"] == ["D"]
    assert sorted(set(scores.values())) == [0, 1]
    assert exported(tmp_path / "x", again, "GEU_direct.json", capsys).read_text() == direct.read_text()


# --- 3. UEG runs judged on an image not kept -----------------------------------------------------------------

QUESTIONS = [("Is there a red ball?", "yes"), ("Is there a cat?", "no")]


def _ueg(index: int, task_type: str, replies: list[str], image: str) -> dict:
    return {"index": index, "task_type": task_type, "prompt": f"prompt {index}", "generated_image": image,
            "question_list": [{"question": q, "answer": a, "judge_answer": r} for (q, a), r in zip(QUESTIONS, replies)]}


JUDGED_ELSEWHERE = [_ueg(1, "world_knowledge", ["Yes", "No"], "gone/1.png"),           # right: 1
                    _ueg(2, "world_knowledge", ["Yes", "Yes"], "gone/2.png"),          # wrong: 0
                    _ueg(3, "logical_reasoning", ["yes", "no"], "gone/3.png"),         # right: 1
                    {**_ueg(4, "logical_reasoning", ["Yes", "No"], ""),
                     "question_list": [{"question": q, "answer": a} for q, a in QUESTIONS]}]  # no image: 0


def test_ueg_runs_judged_without_their_image_export_with_the_image_key_and_their_score(tmp_path, capsys):
    folder = tmp_path / "res"
    write(folder / "UEG_direct.json", JUDGED_ELSEWHERE)
    row = scored_row(folder, capsys)
    assert (row["WK"], row["LR"], row["run err"]) == ("50.0/-", "50.0/-", "1/-")  # by hand
    db = tmp_path / "arena.db"
    assert main(["import-results", str(folder), "--model", "m", "--db", str(db)]) == 0, capsys.readouterr().err
    path = exported(tmp_path, db, "UEG_direct.json", capsys, "--judge", "judge_answer")
    entries = json.loads(path.read_text(encoding="utf-8"))
    # the official summary counts the stored scores: WK 1, LR 1 (the failed run has none: 0)
    assert official_ueg_correct(entries) == {"world_knowledge": 1, "logical_reasoning": 1}
    assert {e["index"]: (e["generated_image"], e.get("score")) for e in entries} == {
        1: ("", 1), 2: ("", 0), 3: ("", 1), 4: ("", None)}
    again = scored_row(path.parent, capsys)
    assert (again["WK"], again["LR"], again["run err"]) == ("50.0/-", "50.0/-", "1/-")


def test_an_empty_image_with_judge_replies_and_no_score_is_still_a_failed_run(tmp_path, capsys):
    """As in an official file a runner wrote: the official scorer scores an empty image 0 whatever a judge
    said, and without a stored score nothing says the replies judged an image."""
    folder = tmp_path / "res"
    write(folder / "UEG_direct.json", [_ueg(1, "world_knowledge", ["Yes", "No"], "gone/1.png"),  # right: 1
                                       _ueg(2, "world_knowledge", ["Yes", "No"], "")])           # failed: 0
    row = scored_row(folder, capsys)
    assert (row["WK"], row["run err"]) == ("50.0/-", "1/-")


def test_an_empty_image_beside_replies_with_a_score_that_is_no_score_is_named(tmp_path, capsys):
    folder = tmp_path / "res"
    write(folder / "UEG_direct.json", [{**_ueg(1, "world_knowledge", ["Yes", "No"], ""), "score": "yes"}])
    assert main(["score-official", str(folder), "--model", "m"]) == 1
    err = capsys.readouterr().err
    assert "UEG_direct.json, index 1 (world_knowledge), field 'score': expected 0, 1 or null" in err, err
