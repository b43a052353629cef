"""The seeded driver and the generate-instances command: determinism, option quality, letter spread,
regeneration from the recorded seed, clear errors, the hand-written list, and the bundled set."""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from realunify_arena.benchmark import load
from realunify_arena.benchmark.generators import GENERATORS, PROCEDURAL, generate_set, handwritten
from realunify_arena.benchmark.loaders import BUNDLED_DIR
from realunify_arena.benchmark.schema import CATEGORIES, GEU_TASKS, LETTERS, UEG_TASKS, GEUInstance
from realunify_arena.benchmark.writer import write_official
from realunify_arena.cli import run_command
from realunify_arena.commands import generate_instances

# Regenerate with: python -m realunify_arena generate-instances --out assets/instances --per-category 12 --seed 0
#     --contact-sheet assets/contact_sheet.png --overwrite


def main(argv: list[str]) -> int:
    """The command exactly as the CLI runs it (its own parser), without importing every other command."""
    parser = argparse.ArgumentParser()
    generate_instances.register(parser.add_subparsers(dest="command", required=True))
    return run_command(parser.parse_args(argv))


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    a, b = tmp_path_factory.mktemp("run_a"), tmp_path_factory.mktemp("run_b")
    sheet = a.parent / "sheet_a.png"
    assert main(["generate-instances", "--out", str(a), "--per-category", "8", "--seed", "7",
                 "--contact-sheet", str(sheet)]) == 0
    assert main(["generate-instances", "--out", str(b), "--per-category", "8", "--seed", "7"]) == 0
    return a, b


def test_same_seed_gives_byte_identical_output(two_runs):
    a, b = two_runs
    fa, fb = files(a), files(b)
    assert fa.keys() == fb.keys()
    assert {"UEG_direct.json", "UEG_step.json", "GEU_direct.json", "GEU_step.json"} <= fa.keys()
    assert sum(name.endswith(".png") for name in fa) == 8 * len(GEU_TASKS) + 8  # + MR-II references
    assert [n for n in fa if fa[n] != fb[n]] == []


def test_another_seed_gives_other_instances():
    params = {seed: [i.extra["generator"]["params"] for i in generate_set(4, seed, list(PROCEDURAL)).instances]
              for seed in (7, 8)}
    assert all(a != b for a, b in zip(params[7], params[8]))


def test_every_instance_records_generator_seed_and_params(two_runs):
    dataset = load(two_runs[0])
    assert not dataset.problems
    assert dict(Counter(i.task_type for i in dataset.instances)) == {t: 8 for t in CATEGORIES}
    for inst in dataset.instances:
        record = inst.extra["generator"]
        assert set(record) == {"name", "seed", "params"} and record["params"], inst.uid
        if inst.task_type in PROCEDURAL:
            # The recorded seed alone rebuilds the instance.
            draft = GENERATORS[record["name"]].make(random.Random(record["seed"]))
            assert json.loads(json.dumps(draft.params)) == record["params"], inst.uid
        if isinstance(inst, GEUInstance) and inst.task_type == "mental_reconstruction":
            reference = two_runs[0] / inst.extra["reference_image"]
            assert Image.open(reference).size == inst.open_image().size


def test_options_are_four_distinct_and_letters_spread_evenly(two_runs):
    dataset = load(two_runs[0])
    for task in GEU_TASKS:
        group = dataset.select("GEU", task)
        letters = Counter(i.answer for i in group)
        assert set(letters) == set(LETTERS) and max(letters.values()) - min(letters.values()) <= 1, (task, letters)
        for inst in group:
            assert len(inst.option) == 4 and len(set(inst.option)) == 4, inst.uid
            assert all(o.strip() for o in inst.option)
            numeric = [o.isdigit() for o in inst.option]
            assert all(numeric) or not any(numeric), f"{inst.uid}: mixed kinds of option {inst.option}"


def test_ueg_instances_carry_yes_and_no_polling_questions(two_runs):
    dataset = load(two_runs[0])
    for task in UEG_TASKS:
        group = dataset.select("UEG", task)
        assert any(q.answer == "no" for i in group for q in i.question_list), task
        for inst in group:
            assert 1 <= len(inst.question_list) <= 4, inst.uid
            assert any(q.answer == "yes" for q in inst.question_list), inst.uid


def test_contact_sheet_shows_a_tile_per_geu_category(two_runs):
    sheet = Image.open(two_runs[0].parent / "sheet_a.png").convert("RGB")
    assert sheet.width > 4 * 300 and sheet.height > 2 * 300
    # each category column has content (not a blank tile)
    for c in range(4):
        tile = sheet.crop((10 + c * 310, 10, 10 + c * 310 + 300, 310))
        assert len(set(tile.getdata())) > 3


def test_refuses_to_overwrite_an_existing_set_unless_asked(two_runs, tmp_path, capsys):
    before = files(two_runs[0])
    assert main(["generate-instances", "--out", str(two_runs[0]), "--per-category", "2", "--seed", "1"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert files(two_runs[0]) == before
    target = tmp_path / "set"
    assert main(["generate-instances", "--out", str(target), "--per-category", "2", "--categories",
                 "cognitive_navigation"]) == 0
    assert main(["generate-instances", "--out", str(target), "--per-category", "1", "--categories",
                 "mental_tracking", "--overwrite"]) == 0
    assert [i.task_type for i in load(target).instances] == ["mental_tracking"]
    assert not (target / "image" / "cognitive_navigation").exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["--categories", "mental_trakcing"], "unknown task_type 'mental_trakcing'"),
    (["--per-category", "0"], "at least 1"),
    (["--per-category", "40", "--categories", "world_knowledge"], "only 12 hand-written"),
])
def test_bad_requests_get_a_clear_error_and_write_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert main(["generate-instances", "--out", str(out), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_handwritten_list_is_complete_and_original():
    prompts = []
    for task in handwritten.TASK_TYPES:
        drafts = handwritten.entries(task)
        assert len(drafts) >= 10, task
        assert sum(a == "no" for d in drafts for _, a in d.questions) >= len(drafts) // 2, task
        for d in drafts:
            assert 1 <= len(d.questions) <= 4 and all(a in ("yes", "no") for _, a in d.questions), d.params
            prompts.append(d.prompt)
    ids = [d.params["id"] for t in handwritten.TASK_TYPES for d in handwritten.entries(t)]
    assert len(set(ids)) == len(ids) and len(set(prompts)) == len(prompts)
    # the paper's own examples must not reappear in our words
    assert not any("largest feline" in p.lower() for p in prompts)
    assert set(handwritten.TASK_TYPES) | set(PROCEDURAL) == set(CATEGORIES)


def test_bundled_set_validates_and_is_what_the_generator_writes(tmp_path):
    dataset = load("bundled")
    assert not dataset.problems, dataset.problems
    assert all(n >= 10 for track in dataset.counts().values() for n in track.values())
    assert len(dataset) >= 100 and len({i.task_type for i in dataset.instances}) == 10
    size = sum(p.stat().st_size for p in BUNDLED_DIR.rglob("*") if p.is_file())
    assert size < 4_000_000, f"bundled set is {size} bytes"
    # The JSON files are reproducible from the documented command. AF word placement uses the bundled font's
    # metrics, so a Pillow release that changes that font fails this: regenerate the set then.
    write_official(generate_set(12, seed=0).instances, tmp_path)
    for name in ("UEG_direct.json", "UEG_step.json", "GEU_direct.json", "GEU_step.json"):
        assert (tmp_path / name).read_bytes() == (BUNDLED_DIR / name).read_bytes(), f"assets/instances/{name} is stale"


def test_bundled_geu_images_include_non_square_ones_in_every_category():
    # real GEU inputs are mazes, photos and 1280x960 canvases: an edit that forces a square must show
    dataset = load("bundled")
    shapes: dict[str, set[bool]] = {}
    for inst in dataset.instances:
        if isinstance(inst, GEUInstance):
            width, height = inst.open_image().size
            shapes.setdefault(inst.task_type, set()).add(width == height)
    assert set(shapes) == set(GEU_TASKS)
    assert all(False in square for square in shapes.values()), shapes
