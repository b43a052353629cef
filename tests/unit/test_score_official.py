"""Reproduction check: official-format result files built to give each paper row's per-category counts,
in varied reply phrasings, are scored by ``score-official`` to exactly that row of Table 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from realunify_arena.benchmark.schema import CATEGORIES, LETTERS, GEUInstance, PollingQuestion, UEGInstance
from realunify_arena.benchmark.writer import write_official
from realunify_arena.cli import main
from tests.unit.paper_table import PAPER_ROWS

OPTIONS = ["a red circle", "a blue square", "a green triangle", "nothing"]
# Replies that the paper's rule reads as the given letter X (format with letter= and option=).
RIGHT = ["{letter}", "The best answer is {letter}", "Answer: {letter}", "({letter})", "{letter}. {option}",
         "The answer is {letter}.", "**{letter}**", "The correct answer is {letter}, because it matches."]
WRONG = ["{letter}", "Answer: {letter}", "I would pick {letter}.", "",
         "I am not sure what the picture shows here so I will not guess at all"]
YES = {"yes": ["Yes", "yes.", "YES, it is there", "**Yes**"], "no": ["No", "no.", "No, it is not.", "**No**"]}


def build_results(folder: Path, rows: dict[str, tuple[list[int | None], str, str, str]]) -> None:
    """100 instances per category; for each mode, the first ``count`` of each category answered right."""
    instances, fields = [], {}
    for c, task in enumerate(CATEGORIES):
        for i in range(100):
            if CATEGORIES[task].track == "UEG":
                questions = [PollingQuestion(f"Is object {k} there?", "yes" if (i + k) % 3 else "no")
                             for k in range(1 + i % 3)]
                inst = UEGInstance(index=i, task_type=task, prompt=f"prompt {i}", question_list=questions)
            else:
                answer = LETTERS[(i + c) % 4]
                inst = GEUInstance(index=i, task_type=task, question=f"question {i}?", option=OPTIONS,
                                   answer=answer, input_image=f"./image/{task}/sub/images/{i}.png")
            instances.append(inst)
            for mode, kind in (("direct", "direct"), ("stepwise", "step")):
                if mode not in rows:
                    continue
                count = rows[mode][0][c]
                if count is not None:
                    fields[(inst.uid, kind)] = result_fields(inst, right=i < count, variant=i)
    write_official(instances, folder, extra_fields=fields)


def result_fields(inst, *, right: bool, variant: int) -> dict:
    if isinstance(inst, GEUInstance):
        if right:
            letter, template = inst.answer, RIGHT[variant % len(RIGHT)]
        else:
            letter, template = LETTERS[(LETTERS.index(inst.answer) + 1) % 4], WRONG[variant % len(WRONG)]
        return {"response": template.format(letter=letter, option=OPTIONS[LETTERS.index(letter)])}
    items = []
    for k, q in enumerate(inst.question_list):
        said = q.answer if right or k else ("no" if q.answer == "yes" else "yes")  # wrong: the first one flips
        items.append({"question": q.question, "answer": q.answer,
                      "judge_answer": YES[said][(variant + k) % len(YES[said])]})
    return {"generated_image": f"./images/{inst.uid}.png", "question_list": items}


def table_row(output: str, model: str) -> dict[str, str]:
    lines = [line for line in output.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == model:
            return dict(zip(header, cells))
    raise AssertionError(f"no row for {model} in:\n{output}")


@pytest.mark.parametrize("model", list(PAPER_ROWS))
def test_score_official_reprints_the_paper_row(model, tmp_path, capsys):
    rows = PAPER_ROWS[model]
    name = model.replace(" ", "-")  # the folder names the model: a model name has no spaces
    build_results(tmp_path / name, rows)
    assert main(["score-official", str(tmp_path / name)]) == 0
    row = table_row(capsys.readouterr().out, name)

    def pair(column: int) -> str:
        return "/".join(rows[m][column] if m in rows else "-" for m in ("direct", "stepwise"))

    assert row["GEU"] == pair(2)
    assert row["UEG"] == pair(1)
    assert row["Total"] == pair(3)  # the totals rule: mean of the ten categories
    abbreviations = [c.abbreviation for c in CATEGORIES.values()]
    for c, abbr in enumerate(abbreviations):
        cells = ["-" if m not in rows or rows[m][0][c] is None else f"{rows[m][0][c]}.0" for m in ("direct", "stepwise")]
        assert row[abbr] == "/".join(cells), abbr
    assert row["judge err"] == "/".join("0" if m in rows else "-" for m in ("direct", "stepwise"))


def test_strict_column_is_lower_where_only_the_loose_rule_finds_a_letter(tmp_path, capsys):
    inst = [GEUInstance(index=i, task_type="mental_tracking", question="q", option=OPTIONS, answer="B",
                        input_image="./image/x.png") for i in range(4)]
    replies = ["B", "Because it is blue", "Because", "B. a blue square"]
    write_official(inst, tmp_path, extra_fields={(x.uid, "direct"): {"response": r} for x, r in zip(inst, replies)})
    assert main(["score-official", str(tmp_path / "GEU_direct.json"), "--model", "m"]) == 0
    row = table_row(capsys.readouterr().out, "m")
    assert (row["MT"], row["GEU"], row["GEU strict"]) == ("100.0/-", "100.0/-", "50.0/-")


def test_a_geu_only_table_names_no_ueg_judge(tmp_path, capsys):
    """Only GEU files: nothing was judged, so the title and the JSON name no UEG judge (they said
    "UEG judged by judge_answer"); a folder with a UEG file still names its judge_answer replies."""
    geu = [GEUInstance(index=0, task_type="mental_tracking", question="q", option=OPTIONS, answer="B",
                       input_image="./image/x.png")]
    write_official(geu, tmp_path / "geu", extra_fields={(geu[0].uid, "direct"): {"response": "B"}})
    assert main(["score-official", str(tmp_path / "geu"), "--model", "m", "--json", str(tmp_path / "g.json")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"### {tmp_path / 'geu'}" and "judged by" not in out
    assert json.loads((tmp_path / "g.json").read_text())[0]["judge"] is None
    q = [PollingQuestion("Is it red?", "yes")]
    ueg = [UEGInstance(index=0, task_type="world_knowledge", prompt="p", question_list=q)]
    write_official(ueg, tmp_path / "ueg", extra_fields={
        (ueg[0].uid, "direct"): {"question_list": [{"question": "Is it red?", "answer": "yes", "judge_answer": "Yes"}]}})
    assert main(["score-official", str(tmp_path / "ueg"), "--model", "m"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"### {tmp_path / 'ueg'}, UEG judged by judge_answer"


def test_unparseable_judge_answers_are_counted_not_scored(tmp_path, capsys):
    q = [PollingQuestion("Is it red?", "yes")]
    inst = [UEGInstance(index=i, task_type="world_knowledge", prompt="p", question_list=q) for i in range(3)]
    answers = ["Yes", "The image shows yes", "no"]
    write_official(inst, tmp_path, extra_fields={  # judged on images not copied here: the replies decide
        (x.uid, "direct"): {"generated_image": f"./images/{x.index}.png",
                            "question_list": [{"question": "Is it red?", "answer": "yes", "judge_answer": a}]}
        for x, a in zip(inst, answers)})
    assert main(["score-official", str(tmp_path), "--model", "m"]) == 0
    row = table_row(capsys.readouterr().out, "m")
    assert (row["WK"], row["judge err"], row["Q-acc"]) == ("50.0/-", "1/-", "50.0/-")


def test_bad_result_files_name_the_file_entry_and_field(tmp_path, capsys):
    inst = UEGInstance(index=7, task_type="world_knowledge", prompt="p", question_list=[PollingQuestion("q?", "yes")])
    write_official([inst], tmp_path, extra_fields={
        (inst.uid, "direct"): {"question_list": [{"question": "q?", "answer": "yes", "judge_answer": 1}]},
        (inst.uid, "step"): {"status": "done", "question_list": [{"question": "q?", "answer": "yes",
                                                                  "judge_answer": "yes"}]}})
    (tmp_path / "GEU_direct.json").write_text("[{", encoding="utf-8")
    assert main(["score-official", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "UEG_direct.json, index 7 (world_knowledge), field 'question_list[0].judge_answer': expected" in err
    assert "UEG_step.json, index 7 (world_knowledge), field 'status'" in err
    assert "GEU_direct.json: invalid JSON at line 1" in err


def test_an_entry_twice_in_a_file_is_refused_not_counted_twice(tmp_path, capsys):
    """An instance is one (task_type, index): a second copy would score it twice (1 right of 2 instances
    would print 66.7). It is a problem in the file, as import-results reports it, and nothing is printed."""
    inst = [GEUInstance(index=i, task_type="mental_tracking", question="q", option=OPTIONS, answer="B",
                        input_image="./image/x.png") for i in range(2)]
    write_official(inst, tmp_path, extra_fields={(inst[0].uid, "direct"): {"response": "B"},
                                                 (inst[1].uid, "direct"): {"response": "C"}})
    file = tmp_path / "GEU_direct.json"
    entries = json.loads(file.read_text(encoding="utf-8"))
    file.write_text(json.dumps(entries + [entries[0]]), encoding="utf-8")
    assert main(["score-official", str(tmp_path), "--model", "m"]) == 1
    out, err = capsys.readouterr()
    assert "| m |" not in out
    assert "GEU_direct.json, index 0 (mental_tracking), field 'index': duplicate entry" in err


def test_folder_without_result_files_is_refused(tmp_path, capsys):
    assert main(["score-official", str(tmp_path)]) == 1
    assert "no UEG_direct/UEG_step/GEU_direct/GEU_step" in capsys.readouterr().err
    inst = UEGInstance(index=1, task_type="world_knowledge", prompt="p", question_list=[PollingQuestion("q?", "no")])
    write_official([inst], tmp_path)  # instances only, no results
    assert main(["score-official", str(tmp_path)]) == 1
    assert "no entry carries results" in capsys.readouterr().err
    assert json.loads((tmp_path / "UEG_direct.json").read_text())[0]["index"] == 1


def test_a_folder_name_that_is_no_model_name_is_made_one_and_said(tmp_path, capsys):
    """Without --model the folder's name is the model's name, made a model name (``systems.MODEL_NAME_RULE``):
    each run of other characters becomes ``_`` and a note on stderr says so (a folder that an export wrote
    before the rule, ``m__seed=0``, still scores). Nothing left of the name, or two folders of one dataset
    made the same name, is a usage error naming them, one line."""
    inst = UEGInstance(index=1, task_type="world_knowledge", prompt="p", question_list=[PollingQuestion("q?", "no")])
    folder = tmp_path / "my results | v2"
    write_official([inst], folder, only_with_fields=True, extra_fields={(inst.uid, "direct"): {  # no step file:
        "generated_image": "./images/x.png",  # an instance file beside it is skipped with a note of its own
        "question_list": [{"question": "q?", "answer": "no", "judge_answer": "No"}]}})
    (folder / "images").mkdir()
    Image.new("RGB", (8, 8)).save(folder / "images" / "x.png")  # here: no note on an image not copied
    assert main(["score-official", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert table_row(out, "my_results_v2")["WK"] == "100.0/-"  # ' | ' is one run of other characters: one '_'
    assert err.count("\n") == 1 and "my results | v2" in err and "'my_results_v2'" in err, err
    assert main(["score-official", str(folder), "--model", "m"]) == 0
    out, err = capsys.readouterr()
    assert table_row(out, "m")["WK"] == "100.0/-" and err == ""
    # the layout export writes (<out>/<dataset>/<model>/): each model folder is named by its folder
    nested = tmp_path / "out"
    (nested / "bundled").mkdir(parents=True)
    folder.rename(nested / "bundled" / "m__seed=0")
    shutil.copytree(nested / "bundled" / "m__seed=0", nested / "bundled" / "good")
    assert main(["score-official", str(nested)]) == 0
    out, err = capsys.readouterr()
    assert table_row(out, "m__seed_0")["WK"] == table_row(out, "good")["WK"] == "100.0/-"
    shutil.copytree(nested / "bundled" / "good", nested / "bundled" / "m__seed_0")  # the same name twice
    assert main(["score-official", str(nested)]) == 2
    err = capsys.readouterr().err
    assert "'m__seed=0'" in err and "'m__seed_0'" in err and "rename them apart" in err and err.count("\n") == 1, err
    (nested / "bundled" / "m__seed_0").rename(nested / "bundled" / "+++")  # nothing left of the name
    assert main(["score-official", str(nested)]) == 2
    err = capsys.readouterr().err
    assert "+++" in err and "rename the folder" in err and err.count("\n") == 1, err


def test_an_empty_list_in_a_result_field_is_named_as_one_not_as_null(tmp_path, capsys):
    """A runner that keeps replies and images as lists (SenseNova-U1 writes ``generated_image`` as one) may leave one
    empty: ``"response": []``. No reply or image, so a failed run (0, in run err); the official
    eval_understanding.py takes ``response[0]`` and stops on the empty list. The note said "response is null"
    (hunt28b), sending the reader to look for a null the file does not hold; it names the empty list."""
    (tmp_path / "GEU_direct.json").write_text(json.dumps([
        {"index": 1, "task_type": "mental_tracking", "answer": "B", "response": "B"},
        {"index": 2, "task_type": "mental_tracking", "answer": "B", "response": []}]))
    (tmp_path / "UEG_direct.json").write_text(json.dumps([
        {"index": 1, "task_type": "world_knowledge", "generated_image": [],
         "question_list": [{"question": "Is there a cat?", "answer": "yes"}]}]))
    assert main(["score-official", str(tmp_path), "--json", str(tmp_path / "out.json")]) == 0
    err = capsys.readouterr().err
    assert "response is an empty list in GEU_direct.json" in err and "generated_image is an empty list in" in err
    assert "is null" not in err, err
    row = json.loads((tmp_path / "out.json").read_text())[0]["systems"][0]
    assert (row["MT"], row["WK"], row["run_errors"]) == ("50.0", "0.0", 2)  # 1 of 2 right; 0 of 1: both failed runs


def test_a_step_file_that_answers_another_question_than_the_direct_file_is_noted(tmp_path, capsys):
    """The direct and step files of one model hold the same instances, each (task_type, index) once per file. Where
    the step file's entry disagrees with the direct file's (another expected letter: a file of another release of
    the data), each file is still scored against its own answers, as the official eval_understanding.py scores
    each file alone, but the Δ then compares two different questions: import-results refuses such a folder, and
    score-official said nothing (hunt28b). It names the instance and the field on stderr."""
    base = {"task_type": "mental_tracking", "question": "Which digit?", "option": ["1", "2", "3", "4"]}
    (tmp_path / "GEU_direct.json").write_text(json.dumps([
        dict(base, index=1, answer="B", response="B"), dict(base, index=2, answer="B", response="A")]))
    (tmp_path / "GEU_step.json").write_text(json.dumps([
        dict(base, index=1, answer="C", response="C"), dict(base, index=2, answer="B", response="B")]))
    assert main(["score-official", str(tmp_path), "--model", "m"]) == 0
    captured = capsys.readouterr()
    assert table_row(captured.out, "m")["MT"] == "50.0/100.0"  # each file against its own answers: 1/2, 2/2
    assert ("GEU_step.json: 1 entry disagrees with GEU_direct.json on the instance of the same (task_type, index) "
            "(index 1 (mental_tracking): answer 'C' here, 'B' there)") in captured.err, captured.err
    said = next(line for line in captured.err.splitlines() if "disagree" in line)
    assert "index 2" not in said and "each file is scored against its own" in said
