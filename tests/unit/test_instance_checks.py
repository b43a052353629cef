"""Instance sets: `validate` refuses repeated options and polling questions, `generate-instances` bounds
--per-category and keeps no image in memory, and hand-written categories follow --seed."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from realunify_arena.benchmark import load
from realunify_arena.benchmark.custom import custom_instance
from realunify_arena.benchmark.generators import GeneratorError, generate_set
from realunify_arena.benchmark.images import png_bytes
from realunify_arena.cli import main

HANDWRITTEN = Path(__file__).resolve().parents[2] / "realunify_arena" / "benchmark" / "generators" / "handwritten.json"


def geu_entry(index: int, options: list[str]) -> dict:
    return {"index": index, "task_type": "mental_tracking", "input_image": f"./image/mental_tracking/s/images/{index}.png",
            "question": "Which digit?", "option": options, "answer": "A"}


def official_folder(root: Path, geu: list[dict], ueg: list[dict] = ()) -> Path:
    for entry in geu:
        path = root / entry["input_image"]
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4)).save(path)
    root.mkdir(parents=True, exist_ok=True)
    (root / "GEU_direct.json").write_text(json.dumps(geu), encoding="utf-8")
    if ueg:
        (root / "UEG_direct.json").write_text(json.dumps(list(ueg)), encoding="utf-8")
    return root


def test_validate_flags_options_that_repeat(tmp_path, capsys):
    folder = official_folder(tmp_path / "set", [geu_entry(0, ["red", "blue", "Red ", "green"]),
                                                geu_entry(1, ["one", "two", "two", "two"]),
                                                geu_entry(2, ["a cat", "a dog", "a  Dog", "a bird"]),
                                                geu_entry(3, ["1", "2", "3", "4"])])
    assert main(["validate", str(folder)]) == 1
    out, err = capsys.readouterr()
    assert "total: 1 instances" in out  # only index 3 has four different options
    assert "GEU_direct.json, index 0 (mental_tracking), field 'option': options A and C are the same text" in err
    assert "GEU_direct.json, index 1 (mental_tracking), field 'option': options B and C are the same text" in err
    assert "GEU_direct.json, index 2 (mental_tracking), field 'option': options B and C are the same text" in err


def test_validate_flags_repeated_options_in_parquet_too(tmp_path):
    row = {"index": 1, "task_type": "mental_tracking", "question": "q?", "option": ["x", "y", "x", "z"],
           "answer": "A", "image": {"bytes": png_bytes(Image.new("RGB", (4, 4)))}}
    pq.write_table(pa.Table.from_pylist([row]), tmp_path / "mt.parquet")
    dataset = load(tmp_path / "mt.parquet")
    assert not dataset.instances
    assert [str(p) for p in dataset.problems] == [
        "mt.parquet, index 1 (mental_tracking), field 'option': options A and C are the same text ('x'): the "
        "expected letter is ambiguous; expected 4 different options"]


def test_validate_flags_a_polling_question_asked_twice(tmp_path, capsys):
    def ueg(index, questions):
        return {"index": index, "task_type": "world_knowledge", "prompt": "a tiger",
                "question_list": [{"question": q, "answer": a} for q, a in questions]}

    folder = official_folder(tmp_path / "set", [geu_entry(0, ["1", "2", "3", "4"])], [
        ueg(0, [("Is there a tiger?", "yes"), ("Is there a lion?", "no"), ("is there a  tiger?", "no")]),
        ueg(1, [("Is there a tiger?", "yes"), ("Is there a tiger?", "yes")]),
        ueg(2, [("Is there a tiger?", "yes"), ("Is there a lion?", "no")])])
    assert main(["validate", str(folder)]) == 1
    out, err = capsys.readouterr()
    assert "UEG: 1 instances (WK 1)" in out
    assert ("UEG_direct.json, index 0 (world_knowledge), field 'question_list[2].question': repeats "
            "question_list[0]") in err and "opposite expected answers" in err
    assert "UEG_direct.json, index 1 (world_knowledge), field 'question_list[1].question': repeats" in err


def test_your_own_geu_question_with_repeated_options_is_refused():
    with pytest.raises(ValueError, match="options A and D are the same text"):
        custom_instance("GEU", "mental_tracking", None, Image.new("RGB", (4, 4)), "Which?", "red\nblue\ngreen\nRED",
                        "A")


def test_result_files_with_repeated_options_are_still_scored(tmp_path, capsys):
    """A published result is scored by its letter, as the official scorer scores it (B right, C wrong)."""
    entries = [{**geu_entry(i, ["x", "x", "y", "z"]), "answer": "B", "response": r} for i, r in enumerate("BC")]
    (tmp_path / "GEU_direct.json").write_text(json.dumps(entries), encoding="utf-8")
    assert main(["score-official", str(tmp_path / "GEU_direct.json"), "--model", "m", "--json",
                 str(tmp_path / "t.json")]) == 0
    assert json.loads((tmp_path / "t.json").read_text())[0]["systems"][0]["MT"] == "50.0"


@pytest.mark.parametrize("count", [1001, 10**12])  # the documented limit is 1000
def test_per_category_over_the_limit_is_refused_before_anything_runs(count, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["generate-instances", "--out", str(out), "--per-category", str(count),
                 "--categories", "attentional_focusing"]) == 2
    err = capsys.readouterr().err
    assert f"--per-category {count}: must be at least 1 and at most 1000" in err
    assert not out.exists()
    with pytest.raises(GeneratorError, match="at most 1000"):
        generate_set(count, 0, ["mental_tracking"])


def test_a_generated_set_keeps_no_image_in_memory():
    """Images are drawn when written (or looked up): 40 attentional-focusing images held at once were about
    150 MB, and memory grew without bound with --per-category."""
    gc.collect()
    before = sum(issubclass(type(o), Image.Image) for o in gc.get_objects())
    generated = generate_set(40, 3, ["attentional_focusing", "mental_reconstruction"])
    gc.collect()
    assert sum(issubclass(type(o), Image.Image) for o in gc.get_objects()) == before
    first = generated.instances[0]
    assert isinstance(generated.images[first.input_image], Image.Image)  # drawn on demand


def handwritten_prompts(task_type: str) -> list[str]:
    return [item["prompt"] for item in json.loads(HANDWRITTEN.read_text(encoding="utf-8"))[task_type]]


@pytest.mark.parametrize("task_type", ["world_knowledge", "commonsense_reasoning", "logical_reasoning",
                                       "scientific_reasoning"])
def test_hand_written_categories_follow_the_seed(task_type):
    pool = handwritten_prompts(task_type)

    def prompts(n, seed):
        return [i.prompt for i in generate_set(n, seed, [task_type]).instances]

    def questions(seed):
        return [[q.question for q in i.question_list] for i in generate_set(12, seed, [task_type]).instances]

    assert prompts(12, 0) == pool  # seed 0: the file's order, the bundled set
    for seed in (1, 2, 7):
        assert prompts(12, seed) == prompts(12, seed)  # the same seed, the same set
        assert sorted(prompts(12, seed)) == sorted(pool)  # at 12 a category: all of them
    orders = {tuple(prompts(12, seed)) for seed in range(6)}
    assert len(orders) == 6  # every seed its own order
    subsets = {frozenset(prompts(3, seed)) for seed in range(8)}
    assert len(subsets) > 1  # fewer than 12: the seed picks which
    assert len({json.dumps(questions(seed)) for seed in range(1, 6)}) > 1 or all(
        len(q) == 1 for q in questions(1))


def test_generate_instances_hand_written_files_differ_by_seed(tmp_path, capsys):
    def run(seed, name):
        out = tmp_path / name
        assert main(["generate-instances", "--out", str(out), "--seed", str(seed), "--per-category", "5",
                     "--categories", "logical_reasoning"]) == 0, capsys.readouterr().err
        return (out / "UEG_direct.json").read_bytes()

    def prompts(data: bytes) -> list[str]:
        return [e["prompt"] for e in json.loads(data)]

    assert run(3, "a") == run(3, "b")  # byte-identical
    assert prompts(run(3, "c")) != prompts(run(4, "d"))  # other instances, not just another seed recorded
