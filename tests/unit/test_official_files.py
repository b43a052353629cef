"""Official RealUnify files as they are shaped in the wild, and result files scored as the official scripts score
them (FrankYang-17/RealUnify ``eval/eval_understanding.py`` and ``eval/eval_generation.py``). Every folder is
written by the test."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from realunify_arena.benchmark import load
from realunify_arena.benchmark.prompts import mcq_prompt, refine_prompt
from realunify_arena.cli import main

OPTIONS = ["red", "green", "blue", "yellow"]
IMAGE = "./image/mental_tracking/digits/images/img_001.jpg"
CODE_PROMPT = ("Draw what this program prints:\n\n```python\nfor i in range(3):\n    print('*' * i)\n\n"
               "print('done')\n```\n\nas black text on white.")


def ueg(index=1, task_type="world_knowledge", **over):
    entry = {"index": index, "task_type": task_type, "prompt": f"prompt {index}",
             "question_list": [{"question": "Is there a tiger?", "answer": "yes"}]}
    entry.update(over)
    return entry


def ueg_step(index=1, task_type="world_knowledge", prompt=None, **over):
    """A step entry as the real release most likely carries it: ``new_prompt`` and no ``prompt``."""
    entry = ueg(index, task_type, **over)
    entry["new_prompt"] = refine_prompt(prompt if prompt is not None else entry.pop("prompt"))
    entry.pop("prompt", None)
    return entry


def geu(index=1, task_type="mental_tracking", **over):
    entry = {"index": index, "task_type": task_type, "input_image": IMAGE, "question": "Which colour?",
             "option": list(OPTIONS), "answer": "B", "evaluation_prompt": mcq_prompt("Which colour?", OPTIONS)}
    entry.update(over)
    return entry


def write(root: Path, files: dict[str, object], image: bool = False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (root / name).write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    if image:
        (root / IMAGE).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (16, 16), "white").save(root / IMAGE)
    return root


def problems(dataset) -> list[str]:
    return [str(p) for p in dataset.problems]


# -- UEG step files without `prompt` ----------------------------------------------------------------


def test_a_step_only_folder_gives_back_a_multi_paragraph_prompt_exactly(tmp_path):
    root = write(tmp_path / "d", {"UEG_step.json": [ueg_step(1, "code_to_image", prompt=CODE_PROMPT),
                                                    ueg_step(2, "world_knowledge", prompt="A tiger\n\nat dusk")]})
    ds = load(root)
    assert problems(ds) == []
    assert [i.prompt for i in ds.instances] == ["A tiger\n\nat dusk", CODE_PROMPT]
    assert ds.instances[1].refine_text == refine_prompt(CODE_PROMPT)


def test_the_direct_prompt_wins_and_a_crlf_step_copy_is_no_disagreement(tmp_path):
    step = ueg_step(1, "code_to_image", prompt=CODE_PROMPT)
    step["new_prompt"] = step["new_prompt"].replace("\n", "\r\n") + "\n"
    root = write(tmp_path / "d", {"UEG_direct.json": [ueg(1, "code_to_image", prompt=CODE_PROMPT)],
                                  "UEG_step.json": [step]})
    ds = load(root)
    assert problems(ds) == [] and ds.instances[0].prompt == CODE_PROMPT


def test_the_refine_templates_line_breaks_may_differ_where_the_prompt_joins_it(tmp_path):
    """REALUNIFY.md gives the refine template's line breaks "as best reconstructed": a release (or a runner that
    re-fills it) may join the prompt with one line break, a space, or break the instruction's sentences onto
    two lines. The prompt is what stands between the template's words; before, anything but the exact
    "{prompt}\\n\\nPlease refine" joint dropped the instance ("new_prompt does not follow the template")."""
    instruction = ("Please refine it into a simple, direct, and unambiguous form to ensure the generated image "
                   "fully aligns with the given description and conditions. Respond only with the refined prompt, "
                   "without adding anything else.")
    shapes = {1: f"Here is the prompt for image generation: A red fox\n{instruction}",
              2: f"Here is the prompt for image generation:\nA red fox\n\n{instruction}",
              3: f"Here is the prompt for image generation: A red fox {instruction}",
              4: f"Here is the prompt for image generation: {CODE_PROMPT}\n"
                 + instruction.replace(". Respond", ".\nRespond")}
    entries = []
    for index, new_prompt in shapes.items():
        entry = ueg_step(index, "code_to_image" if index == 4 else "world_knowledge")
        entry["new_prompt"] = new_prompt
        entries.append(entry)
    ds = load(write(tmp_path / "d", {"UEG_step.json": entries}))
    assert problems(ds) == []
    assert {i.index: i.prompt for i in ds.instances} == {1: "A red fox", 2: "A red fox", 3: "A red fox",
                                                         4: CODE_PROMPT}
    assert ds.instances[0].refine_text == shapes[1]  # the file's own text is what a stepwise run is asked


def test_a_step_entry_whose_template_cannot_be_undone_is_named_and_hides_nothing(tmp_path):
    odd = ueg_step(2, prompt="x")
    odd["new_prompt"] = "Please draw: a tiger"
    root = write(tmp_path / "d", {"UEG_step.json": [ueg_step(1), odd]})
    ds = load(root)
    assert [i.index for i in ds.instances] == [1]
    (message,) = problems(ds)
    assert message.startswith("UEG_step.json, index 2 (world_knowledge), field 'prompt': missing, not in "
                              "UEG_direct.json, and new_prompt does not follow the paper's refine template")


def test_whitespace_only_differences_between_direct_and_step_copies_agree(tmp_path):
    step_geu = geu(evaluation_prompt=mcq_prompt("Which colour?", OPTIONS) + "\n", question="Which colour?  ",
                   edit_prompt="Here is the question: Which colour?\r\nPlease apply ...")
    step_ueg = ueg(question_list=[{"question": "Is there a tiger? \r\n", "answer": "yes"}], prompt="prompt 1\n")
    root = write(tmp_path / "d", {"UEG_direct.json": [ueg()], "UEG_step.json": [step_ueg],
                                  "GEU_direct.json": [geu()], "GEU_step.json": [step_geu]}, image=True)
    ds = load(root)
    assert problems(ds) == []
    assert [i.uid for i in ds.instances] == ["UEG_1_world_knowledge", "GEU_1_mental_tracking"]
    assert ds.instances[1].question == "Which colour?"  # the direct copy's text
    # A difference that is not whitespace still is one.
    root = write(tmp_path / "e", {"GEU_direct.json": [geu()], "GEU_step.json": [geu(question="Which shape?")]},
                 image=True)
    assert any("field 'question': disagrees with GEU_direct.json" in m for m in problems(load(root)))


def test_numeric_options_are_their_text_and_step_entries_borrow_question_and_option(tmp_path):
    step = geu(edit_prompt="Here is the question: How many?\nPlease apply ...")
    del step["question"], step["option"], step["evaluation_prompt"]
    root = write(tmp_path / "d", {"GEU_direct.json": [geu(option=[3, 1, 4, 2.5], question="How many?",
                                                          evaluation_prompt=None)],
                                  "GEU_step.json": [step]}, image=True)
    ds = load(root)
    assert problems(ds) == []
    (inst,) = ds.instances
    assert inst.option == ["3", "1", "4", "2.5"] and inst.question == "How many?"
    assert "A. 3\nB. 1\nC. 4\nD. 2.5\n" in inst.mcq_text
    assert inst.edit_text.startswith("Here is the question: How many?")
    # Alone, a step entry without them is a named problem.
    root = write(tmp_path / "e", {"GEU_step.json": [step]}, image=True)
    assert problems(load(root)) == [
        "GEU_step.json, index 1 (mental_tracking), field 'question': missing (and not in GEU_direct.json); "
        "expected a string",
        "GEU_step.json, index 1 (mental_tracking), field 'option': missing (and not in GEU_direct.json); "
        "expected a list of 4 option strings"]


def test_a_json_integer_over_4300_digits_is_a_problem_line_not_a_traceback(tmp_path, capsys):
    good = json.dumps(ueg(2))
    huge = "9" * 5000
    text = (f'[{{"index": {huge}, "task_type": "world_knowledge", "prompt": "p", '
            f'"question_list": [{{"question": "q?", "answer": "yes"}}]}}, {good}]')
    root = write(tmp_path / "d", {"UEG_direct.json": text})
    ds = load(root)
    assert [i.index for i in ds.instances] == [2]
    assert problems(ds) == ["UEG_direct.json, position 0, field 'index': expected an integer, got an integer "
                            "of 5000 digits (over the 4300-digit limit)"]
    assert main(["validate", str(root)]) == 1
    out = capsys.readouterr()
    assert "UEG: 1 instances (WK 1)" in out.out and "field 'index': expected an integer" in out.err
    # In a result file too: a problem naming the entry, not a crash.
    results = write(tmp_path / "r", {"GEU_direct.json": f'[{{"index": 1, "task_type": "mental_tracking", '
                                                          f'"input_image": "x", "question": "q", '
                                                          f'"option": [{huge}, 1, 2, 3], "answer": "A", '
                                                          f'"response": "A"}}]'})
    assert main(["score-official", str(results)]) == 1
    assert "GEU_direct.json, index 1 (mental_tracking), field 'option'" in capsys.readouterr().err


def test_parquet_with_a_category_column_and_no_index(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (12, 12), "red").save(buf, format="PNG")
    rows = [{"category": category, "question": f"q{i}?", "option": OPTIONS, "answer": "C",
             "image": {"bytes": buf.getvalue()}} for i, category in enumerate(["mental_tracking", "MT", "Mental Tracking"])]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "part-0.parquet")
    pq.write_table(pa.Table.from_pylist([{k: v for k, v in rows[0].items() if k != "category"}]),
                   tmp_path / "attentional_focusing.parquet")
    ds = load(tmp_path)
    assert problems(ds) == []
    assert [i.uid for i in ds.instances] == ["GEU_0_mental_tracking", "GEU_1_mental_tracking",
                                             "GEU_2_mental_tracking", "GEU_0_attentional_focusing"]
    assert [i.uid for i in load(tmp_path).instances] == [i.uid for i in ds.instances]  # stable
    pq.write_table(pa.Table.from_pylist([{**rows[0], "category": "cooking"}]), tmp_path / "part-1.parquet")
    assert any("field 'task_type': unknown task_type 'cooking'" in m for m in problems(load(tmp_path)))


# -- scoring result files like the official scripts ---------------------------------------------------


def table_row(output: str, model: str) -> dict[str, str]:
    lines = [line for line in output.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == model:
            return dict(zip(header, cells))
    raise AssertionError(f"no row for {model} in:\n{output}")


def score(path: Path, capsys, *extra: str) -> str:
    assert main(["score-official", str(path), *extra]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_answer_phrases_score_as_the_official_script_reads_them(tmp_path, capsys):
    """Case mcq-answer-prefix: the official scorer strips "Answer" and reads D, C, B, D: MT 4/4 = 100.0."""
    replies = [("D", "**Answer**: D"), ("C", "Answer is C"), ("B", "Answer B"), ("D", "Answer: **D**")]
    entries = [geu(i + 1, answer=answer, response=reply) for i, (answer, reply) in enumerate(replies)]
    out = score(write(tmp_path / "m", {"GEU_direct.json": entries}), capsys)
    assert (table_row(out, "m")["MT"], table_row(out, "m")["run err"]) == ("100.0/-", "0/-")


def test_a_run_without_a_generated_image_is_wrong_and_stays_in_the_denominator(tmp_path, capsys):
    """Case official-missing-image: eval_generation.py scores an empty generated_image 0: WK 1 of 2 = 50.0."""
    judged = ueg(1, generated_image="./images/1.png",
                 question_list=[{"question": "Red and white stripes?", "answer": "yes", "judge_answer": "Yes"},
                                {"question": "Stars?", "answer": "no", "judge_answer": "No"}])
    failed = ueg(2, generated_image="", question_list=[{"question": "A kangaroo?", "answer": "yes"}])
    missing = ueg(3, question_list=[{"question": "A kangaroo?", "answer": "yes"}])  # no generated_image at all
    row = table_row(score(write(tmp_path / "m", {"UEG_direct.json": [judged, failed]}), capsys), "m")
    assert (row["WK"], row["run err"], row["judge err"]) == ("50.0/-", "1/-", "0/-")
    row = table_row(score(write(tmp_path / "n", {"UEG_direct.json": [judged, failed, missing]}), capsys), "n")
    assert (row["WK"], row["run err"]) == ("33.3/-", "2/-")


def test_an_empty_generated_image_is_a_failed_run_even_with_judge_answers(tmp_path, capsys):
    """eval_generation.py scores an empty generated_image 0; judge replies beside it (a judge asked about
    no image) do not make it right: WK 1 of 2 = 50.0, one run err."""
    qs = [{"question": "Red and white stripes?", "answer": "yes", "judge_answer": "Yes"}]
    judged = ueg(1, generated_image="./images/1.png", question_list=qs)
    failed = ueg(2, generated_image="", question_list=qs)
    row = table_row(score(write(tmp_path / "m", {"UEG_direct.json": [judged, failed]}), capsys), "m")
    assert (row["WK"], row["run err"], row["judge err"]) == ("50.0/-", "1/-", "0/-")


def test_stored_judge_replies_with_think_blocks_are_read_after_the_block(tmp_path, capsys):
    """Case judge-think-tags: SR 100.0, judge err 0."""
    def qs(*pairs):
        return [{"question": q, "answer": a, "judge_answer": r} for q, a, r in pairs]

    entries = [ueg(1, "scientific_reasoning", generated_image="./1.png",
                   question_list=qs(("Frozen?", "yes", "<think>\n\n</think>\n\nYes"),
                                    ("On fire?", "no", "<think>\n\n</think>\n\nNo"))),
               ueg(2, "scientific_reasoning", generated_image="./2.png",
                   question_list=qs(("Steam?", "yes", "<think>\nThe pan is hot, the cube melted.\n</think>\nYes"),
                                    ("Intact?", "no", "<think>\n\n</think>\n\nNo.")))]
    row = table_row(score(write(tmp_path / "m", {"UEG_direct.json": entries}), capsys), "m")
    assert (row["SR"], row["judge err"], row["Q-acc"]) == ("100.0/-", "0/-", "100.0/-")


def test_failed_geu_runs_list_replies_and_the_runners_field_names(tmp_path, capsys):
    entries = [geu(1, response=["B", "A"]),  # a list: its first element, as eval_understanding.py reads it
               geu(2, response=None),  # the run failed: wrong, in run err
               geu(3, model_response="The answer is B"),  # SenseNova-U1's field name
               geu(4, response="A")]
    row = table_row(score(write(tmp_path / "m", {"GEU_direct.json": entries}), capsys), "m")
    assert (row["MT"], row["GEU strict"], row["run err"]) == ("50.0/-", "50.0/-", "1/-")


def test_files_already_scored_by_the_official_script_are_re_tabulated(tmp_path, capsys):
    """eval_generation.py writes a per-item ``score`` (1/0) and no judge replies."""
    entries = [ueg(i, generated_image=f"/abs/{i}.png", score=int(i < 3)) for i in range(1, 5)]
    entries.append(ueg(5, generated_image="", score=0))
    row = table_row(score(write(tmp_path / "m", {"UEG_direct.json": entries}), capsys), "m")
    assert (row["WK"], row["judge err"]) == ("40.0/-", "0/-")
    entries[0]["score"] = "yes"
    assert main(["score-official", str(write(tmp_path / "m", {"UEG_direct.json": entries}))]) == 1
    assert "UEG_direct.json, index 1 (world_knowledge), field 'score': expected 0 or 1" in capsys.readouterr().err


def test_an_export_root_scores_every_model_in_every_dataset(tmp_path, capsys):
    root = tmp_path / "out"
    write(root / "setA" / "model-1", {"GEU_direct.json": [geu(1, response="B")]})
    write(root / "setA" / "model-2", {"GEU_direct.json": [geu(1, response="C")]})
    write(root / "setB" / "model-1", {"UEG_direct.json": [ueg(1, generated_image="", question_list=[
        {"question": "q?", "answer": "yes"}])]})
    out = score(root, capsys)
    assert out.count("### ") == 2
    a, b = out.split("### ")[1:]
    assert table_row(a, "model-1")["MT"] == "100.0/-" and table_row(a, "model-2")["MT"] == "0.0/-"
    assert table_row(b, "model-1")["run err"] == "1/-"
    # A bad entry anywhere names its folder, file, entry and field.
    write(root / "setB" / "model-1", {"GEU_direct.json": [geu(1, response=7)]})
    assert main(["score-official", str(root)]) == 1
    assert "setB/model-1/GEU_direct.json, index 1 (mental_tracking), field 'response'" in capsys.readouterr().err


def test_geu_step_results_without_question_and_option_are_scored_from_the_answer(tmp_path, capsys):
    """eval_understanding.py reads only ``response``, ``task_type`` and ``answer``: a GEU_step.json entry
    without ``question``/``option`` (as the step file may leave them to the direct file) is scored, alone or
    beside its direct file. Hand count: step B, B right and A wrong of 3 = 66.7; direct 1 of 1 = 100.0."""
    def bare(index, reply, answer="B"):
        entry = geu(index, answer=answer, response=reply)
        del entry["question"], entry["option"], entry["evaluation_prompt"]
        return entry

    step = [bare(1, "The answer is B"), bare(2, "Answer: B"), bare(3, "A")]
    row = table_row(score(write(tmp_path / "m", {"GEU_step.json": step}), capsys), "m")
    assert (row["MT"], row["run err"]) == ("-/66.7", "-/0")
    both = {"GEU_direct.json": [geu(1, response="B")], "GEU_step.json": step}
    row = table_row(score(write(tmp_path / "n", both), capsys), "n")
    assert row["MT"] == "100.0/66.7"
    step[0].pop("answer")  # nothing to score against: named as the missing field
    assert main(["score-official", str(write(tmp_path / "o", {"GEU_step.json": step}))]) == 1
    assert "GEU_step.json, index 1 (mental_tracking), field 'answer': missing" in capsys.readouterr().err
