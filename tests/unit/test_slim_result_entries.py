"""Slimmed result entries, as third-party runners write them: only what the official scorers read.

The official ``eval_understanding.py`` reads a GEU entry's ``response``, ``task_type`` and ``answer``;
``eval_generation.py`` a UEG entry's ``generated_image``, ``question_list`` and ``task_type``. Neither reads a
GEU ``input_image``, ``question`` or ``option``, nor a UEG ``prompt`` or ``new_prompt``, so ``score-official``
scores entries without them, and still refuses what no scorer can score. The expected figures are worked out
by hand below from the official rules (letter extraction; all polling questions right)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realunify_arena.benchmark import load
from realunify_arena.cli import main
from realunify_arena.importing import ImportFailed, read_results
from realunify_arena.reporting import OfficialFilesError, score_official
from tests.unit.test_score_official import table_row

BUNDLED = Path(__file__).resolve().parents[2] / "assets" / "instances"


def _write(folder: Path, name: str, entries: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(entries), encoding="utf-8")


def _geu(index: int, task_type: str, answer: str, response: str) -> dict:
    return {"index": index, "task_type": task_type, "answer": answer, "response": response}


def _ueg(index: int, verdicts: list[tuple[str, str]], image: str = "./images/x.png") -> dict:
    """A UEG entry without prompt or new_prompt: (expected answer, judge reply) per polling question."""
    return {"index": index, "task_type": "world_knowledge", "generated_image": image,
            "question_list": [{"question": f"Is thing {k} there?", "answer": a, "judge_answer": r}
                              for k, (a, r) in enumerate(verdicts)]}


def test_score_official_scores_entries_without_the_fields_no_scorer_reads(tmp_path, capsys):
    folder = tmp_path / "slim"
    _write(folder, "GEU_direct.json", [
        # mental_tracking: B=B right; "The answer is A" -> A, not C; "Answer: D" -> D right; "I think C" -> the
        # first capital A-D is C, right: 3 of 4 = 75.0
        _geu(1, "mental_tracking", "B", "B"),
        {**_geu(2, "mental_tracking", "C", "The answer is A"), "question": "Which digits?"},
        {**_geu(3, "mental_tracking", "D", "Answer: D"), "input_image": "./image/x.png"},
        {**_geu(4, "mental_tracking", "C", "I think C"), "option": ["1", "2", "3", "4"]},
        # attentional_focusing: A right, B against C wrong: 1 of 2 = 50.0
        _geu(1, "attentional_focusing", "A", "A"),
        _geu(2, "attentional_focusing", "C", "B"),
    ])
    _write(folder, "GEU_step.json", [_geu(1, "mental_tracking", "B", "B"), _geu(2, "mental_tracking", "C", "D")])
    _write(folder, "UEG_direct.json", [
        _ueg(1, [("yes", "Yes"), ("no", "No.")]),  # every question right: 1
        _ueg(2, [("yes", "Yes"), ("no", "yes")]),  # the second wrong: 0
        _ueg(3, [("yes", "Yes")], image=""),  # no generated image: a failed run, 0
    ])  # WK 1 of 3 = 33.3
    _write(folder, "UEG_step.json", [_ueg(1, [("yes", "yes")]), {**_ueg(2, [("no", "yes")]), "response": "a tiger"}])
    assert main(["score-official", str(folder)]) == 0
    row = table_row(capsys.readouterr().out, "slim")
    assert row["MT"] == "75.0/50.0"  # step: B right, D against C wrong
    assert row["AF"] == "50.0/-"
    assert row["GEU"] == "62.5/-"  # (75 + 50) / 2 over the categories present
    assert row["WK"] == "33.3/50.0"
    assert row["run err"] == "1/0"


def test_score_official_still_refuses_what_it_cannot_score(tmp_path):
    folder = tmp_path / "m"
    _write(folder, "GEU_direct.json", [
        {"index": 1, "task_type": "mental_tracking", "response": "B"},  # no answer
        _geu(2, "mental_tracking", "E", "B"),  # an answer no option has
        {**_geu(3, "mental_tracking", "A", "A"), "option": ["x", "y", "z"]},  # present but malformed
        {**_geu(4, "mental_tracking", "A", "A"), "input_image": 7},  # present but malformed
    ])
    _write(folder, "GEU_step.json", [{"index": 1, "task_type": "mental_tracking", "response": "B"}])
    _write(folder, "UEG_direct.json", [
        {"index": 1, "task_type": "world_knowledge", "generated_image": "./a.png"},  # no polling questions
        {**_ueg(2, [("yes", "yes")]), "prompt": 5},  # present but malformed
    ])
    with pytest.raises(OfficialFilesError) as caught:
        score_official(folder)
    found = {(p.file, p.entry, p.field): p.message for p in caught.value.problems}
    assert set(found) == {
        ("GEU_direct.json", "index 1 (mental_tracking)", "answer"),
        ("GEU_direct.json", "index 2 (mental_tracking)", "answer"),
        ("GEU_direct.json", "index 3 (mental_tracking)", "option"),
        ("GEU_direct.json", "index 4 (mental_tracking)", "input_image"),
        ("GEU_step.json", "index 1 (mental_tracking)", "answer"),
        ("UEG_direct.json", "index 1 (world_knowledge)", "question_list"),
        ("UEG_direct.json", "index 2 (world_knowledge)", "prompt"),
    }
    assert "A-D" in found[("GEU_direct.json", "index 1 (mental_tracking)", "answer")]
    assert "'E'" in found[("GEU_direct.json", "index 2 (mental_tracking)", "answer")]
    assert "{question, answer}" in found[("UEG_direct.json", "index 1 (world_knowledge)", "question_list")]


def test_import_results_with_a_dataset_takes_slimmed_entries_and_without_one_needs_the_instance(tmp_path):
    """With ``--data`` the stored instances are the dataset's; without it the entries' own fields are."""
    geu = json.loads((BUNDLED / "GEU_direct.json").read_text(encoding="utf-8"))[0]
    ueg = json.loads((BUNDLED / "UEG_step.json").read_text(encoding="utf-8"))[0]
    folder = tmp_path / "slim"
    _write(folder, "GEU_direct.json", [_geu(geu["index"], geu["task_type"], geu["answer"], geu["answer"])])
    _write(folder, "UEG_step.json", [{"index": ueg["index"], "task_type": ueg["task_type"], "generated_image": "",
                                      "question_list": ueg["question_list"]}])
    read = read_results(folder, "m", data=load("bundled"))
    by_file = {e.file: e for e in read.entries}
    assert by_file["GEU_direct.json"].judgments["answer-parser"]["score"] == 1  # its own answer letter
    assert by_file["UEG_step.json"].status.value == "error"  # generated_image "": a failed run
    with pytest.raises(ImportFailed) as caught:
        read_results(folder, "m")
    fields = {(p.file, p.field) for p in caught.value.problems}
    assert {("GEU_direct.json", "input_image"), ("GEU_direct.json", "question"), ("GEU_direct.json", "option"),
            ("UEG_step.json", "prompt")} <= fields
