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

import re
from pathlib import Path

from realunify_arena.cli import main
from realunify_arena.store import Store
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
