"""Every generated answer, re-derived from the recorded parameters by code that shares nothing with the
generator's own path: a different maze search (scipy's Dijkstra), our own seven-segment table and recolouring,
the C2I program re-run in a fresh interpreter, counts and directions recomputed from object coordinates, and
the pixels of the written images checked against the parameters they claim to show."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from realunify_arena.benchmark import load
from realunify_arena.benchmark.generators import PROCEDURAL, generate_set, write_set
from realunify_arena.benchmark.generators.drawing import COLOURS
from realunify_arena.benchmark.schema import LETTERS

PER_CATEGORY = 16


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("generated")
    write_set(generate_set(PER_CATEGORY, seed=2024, task_types=list(PROCEDURAL)), root)
    dataset = load(root)
    assert not dataset.problems, dataset.problems
    by_task: dict[str, list] = {}
    for inst in dataset.instances:
        by_task.setdefault(inst.task_type, []).append(inst)
    return root, by_task


def correct(inst) -> str:
    return inst.option[LETTERS.index(inst.answer)]


def pixel(image: Image.Image, x: float, y: float) -> tuple[int, int, int]:
    return image.getpixel((int(round(x)), int(round(y))))


# -- mental tracking ------------------------------------------------------------------------------------------

# Segment bits in the order top, top-right, bottom-right, bottom, bottom-left, top-left, middle.
SEVEN_SEGMENT_BITS = {0b1111110: "0", 0b0110000: "1", 0b1101101: "2", 0b1111001: "3", 0b0110011: "4",
                      0b1011011: "5", 0b1011111: "6", 0b1110000: "7", 0b1111111: "8", 0b1111011: "9"}


def apply_chain(colour: str, steps: list[list[str]], mode: str) -> str:
    if mode == "simultaneous":
        for src, dst in steps:
            if colour == src:
                return dst
        return colour
    for src, dst in steps:
        colour = dst if colour == src else colour
    return colour


def test_mental_tracking_answers_follow_from_reapplying_the_chain(generated):
    _, by_task = generated
    modes = Counter()
    for inst in by_task["mental_tracking"]:
        p = inst.extra["generator"]["params"]
        modes[p["mode"]] += 1
        digits = ""
        for segments in p["segment_colours"]:
            bits = 0
            for colour in segments:
                bits = (bits << 1) | (apply_chain(colour, p["steps"], p["mode"]) == p["target"])
            digits += SEVEN_SEGMENT_BITS[bits]
        assert correct(inst) == digits, inst.uid
        assert f"which digits do the {p['target']} segments form" in inst.question
        for src, dst in p["steps"]:
            assert f"every {src} segment turns {dst}" in inst.question
        # The chain matters: reading the image as drawn gives something else.
        unchanged = [frozenset(i for i, c in enumerate(seg) if c == p["target"]) for seg in p["segment_colours"]]
        as_drawn = [frozenset(i for i, c in enumerate(seg) if apply_chain(c, p["steps"], p["mode"]) == p["target"])
                    for seg in p["segment_colours"]]
        assert unchanged != as_drawn, inst.uid
    assert set(modes) == {"sequential", "simultaneous"}


def test_mental_tracking_image_shows_the_recorded_colours(generated):
    root, by_task = generated
    for inst in by_task["mental_tracking"][:4]:
        image = Image.open(root / inst.input_image).convert("RGB")
        colours = set(image.getdata())
        for segments in inst.extra["generator"]["params"]["segment_colours"]:
            for colour in segments:
                assert COLOURS[colour] in colours


# -- mental reconstruction ------------------------------------------------------------------------------------

def unshuffle(shuffled: Image.Image, k: int, permutation: list[int]) -> Image.Image:
    sx, sy = shuffled.width // k, shuffled.height // k  # k x k equal patches, square only on a square scene
    restored = Image.new("RGB", shuffled.size)
    for slot, source in enumerate(permutation):
        patch = shuffled.crop(((slot % k) * sx, (slot // k) * sy, (slot % k + 1) * sx, (slot // k + 1) * sy))
        restored.paste(patch, ((source % k) * sx, (source // k) * sy))
    return restored


def test_mental_reconstruction_restores_to_the_reference_and_answers_are_recounted(generated):
    root, by_task = generated
    kinds = Counter()
    for inst in by_task["mental_reconstruction"]:
        p = inst.extra["generator"]["params"]
        kinds[p["question_kind"]] += 1
        shuffled = Image.open(root / inst.input_image).convert("RGB")
        reference = Image.open(root / inst.extra["reference_image"]).convert("RGB")
        assert 2 <= p["grid"] <= 4
        assert list(shuffled.size) == p["canvas"] and all(side % p["grid"] == 0 for side in p["canvas"])
        assert np.array_equal(np.asarray(unshuffle(shuffled, p["grid"], p["permutation"])), np.asarray(reference))
        assert not np.array_equal(np.asarray(shuffled), np.asarray(reference))
        for o in p["objects"]:  # the reference shows every recorded object where the record says
            assert pixel(reference, o["x"], o["y"]) == COLOURS[o["colour"]], (inst.uid, o)
        if p["question_kind"] == "count":
            shape, colour = p["asked"]["shape"], p["asked"]["colour"]
            expected = sum(1 for o in p["objects"] if o["shape"] == shape and o["colour"] == colour)
            assert correct(inst) == str(expected)
            assert f"{colour} {shape}" in inst.question
        else:
            subject = next(o for o in p["objects"] if [o["shape"], o["colour"]] == p["asked"]["subject"])
            ref = next(o for o in p["objects"] if [o["shape"], o["colour"]] == p["asked"]["reference"])
            dx, dy = subject["x"] - ref["x"], subject["y"] - ref["y"]
            expected = ("to its right" if dx > 0 else "to its left") if abs(dx) > abs(dy) else (
                "below it" if dy > 0 else "above it")
            assert correct(inst) == expected
            assert max(abs(dx), abs(dy)) >= 2 * min(abs(dx), abs(dy))  # unambiguous
    assert set(kinds) == {"count", "position"}


# -- cognitive navigation -------------------------------------------------------------------------------------

def maze_distances(p: dict) -> np.ndarray:
    from scipy.sparse import lil_matrix
    from scipy.sparse.csgraph import shortest_path

    cols, rows = p["cols"], p["rows"]
    graph = lil_matrix((cols * rows, cols * rows))
    for (ax, ay), (bx, by) in p["passages"]:
        graph[ay * cols + ax, by * cols + bx] = 1
    return shortest_path(graph.tocsr(), method="D", directed=False)


def test_cognitive_navigation_answers_match_dijkstra(generated):
    _, by_task = generated
    kinds = Counter()
    for inst in by_task["cognitive_navigation"]:
        p = inst.extra["generator"]["params"]
        kinds[p["question_kind"]] += 1
        cols = p["cols"]
        dist = maze_distances(p)
        node = lambda cell: cell[1] * cols + cell[0]  # noqa: E731
        start, goal = node(p["start"]), node(p["goal"])
        assert np.isfinite(dist).all(), "every cell is reachable"
        label = correct(inst).removeprefix("Point ")
        points = {k: node(v) for k, v in p["points"].items()}
        assert sorted(inst.option) == [f"Point {k}" for k in sorted(points)]
        if p["question_kind"] == "on_path":
            total = dist[start, goal]
            on_route = [n for n in range(len(dist)) if dist[start, n] + dist[n, goal] == total]
            answer = points[label]
            assert answer in on_route
            same_level = [n for n in on_route if dist[start, n] == dist[start, answer]]
            assert same_level == [answer], "the answer lies on every shortest route"
            for other, n in points.items():
                if other != label:
                    assert dist[start, n] + dist[n, goal] > total, f"{inst.uid}: point {other} is on a route"
        else:
            walks = {k: dist[goal, n] for k, n in points.items()}
            assert min(walks, key=walks.get) == label
            assert sorted(walks.values())[1] > walks[label]


def test_cognitive_navigation_image_walls_match_the_passages(generated):
    root, by_task = generated
    for inst in by_task["cognitive_navigation"][:4]:
        p = inst.extra["generator"]["params"]
        image = Image.open(root / inst.input_image).convert("RGB")
        open_pairs = {tuple(map(tuple, pair)) for pair in p["passages"]}
        cell, margin = p["cell"], p["margin"]
        for x in range(p["cols"] - 1):
            for y in range(p["rows"]):
                wall_x, mid_y = margin + (x + 1) * cell, margin + (y + 0.5) * cell
                dark = sum(pixel(image, wall_x, mid_y)) < 200
                assert dark != (((x, y), (x + 1, y)) in open_pairs), (inst.uid, x, y)


# -- attentional focusing -------------------------------------------------------------------------------------

def inside(rect, x, y) -> bool:
    return rect[0] < x < rect[2] and rect[1] < y < rect[3]


def test_attentional_focusing_answers_recomputed_from_the_region(generated):
    root, by_task = generated
    kinds = Counter()
    for inst in by_task["attentional_focusing"]:
        p = inst.extra["generator"]["params"]
        kinds[p["question_kind"]] += 1
        box = p["boxes"][p["box"]]
        in_box = [s for s in p["shapes"] if inside(box, s["x"], s["y"])]
        assert f"box labelled {p['box']}" in inst.question
        if p["question_kind"] == "count":
            wanted = (p["asked"]["shape"], p["asked"]["colour"])
            assert correct(inst) == str(sum((s["shape"], s["colour"]) == wanted for s in in_box))
        elif p["question_kind"] == "ocr":
            [word] = [w["text"] for w in p["words"] if inside(box, w["x"], w["y"])]
            assert correct(inst) == word
        else:
            [star] = [s for s in in_box if s["shape"] == "star"]
            assert correct(inst) == star["colour"]
        width, height = p["canvas"]
        image = Image.open(root / inst.input_image).convert("RGB")
        assert image.size == (width, height) and width * height >= 1_000_000
        for s in p["shapes"]:
            assert pixel(image, s["x"], s["y"]) == COLOURS[s["colour"]], (inst.uid, s)
    assert set(kinds) == {"count", "ocr", "attribute"}


# -- mathematical reasoning -----------------------------------------------------------------------------------

def expected_counts(p: dict) -> dict[str, int]:
    t = p["template"]
    if t == "piles":
        return {p["noun"]: p["piles"] * p["per_pile"]}
    if t == "fruit_bowl":
        return {"apples": p["apples"], "pears": p["apples"] * p["times"] - p["eaten_pears"]}
    if t == "parking_lot":
        num, den = p["red_fraction"]
        return {"red cars": p["cars"] * num // den, "blue cars": p["cars"] - p["cars"] * num // den}
    if t == "heads_and_legs":
        [(chickens, cows)] = [(c, p["heads"] - c) for c in range(p["heads"] + 1)
                              if 2 * c + 4 * (p["heads"] - c) == p["legs"]]
        return {"chickens": chickens, "cows": cows}
    if t == "marble_jar":
        num, den = p["red_chance"]
        return {"red marbles": p["marbles"] * num // den, "green marbles": p["marbles"] * (den - num) // den}
    raise AssertionError(f"unknown template {t}")


def test_mathematical_reasoning_polling_answers_follow_from_the_numbers(generated):
    _, by_task = generated
    templates = Counter()
    for inst in by_task["mathematical_reasoning"]:
        p = inst.extra["generator"]["params"]
        templates[p["template"]] += 1
        counts = expected_counts(p)
        assert {q.answer for q in inst.question_list} == {"yes", "no"}
        for q in inst.question_list:
            exact = re.fullmatch(r"Are there exactly (\d+) (.+) in the image\?", q.question)
            more = re.fullmatch(r"Are there more (.+) than (.+) in the image\?", q.question)
            if exact:
                n, thing = int(exact[1]), exact[2]
                assert n >= 2
                assert q.answer == ("yes" if counts[thing] == n else "no"), (inst.uid, q)
            else:
                assert more, q.question
                assert q.answer == ("yes" if counts[more[1]] > counts[more[2]] else "no"), (inst.uid, q)
        for thing, n in counts.items():  # every computed count is asked for
            assert any(q.answer == "yes" and f"exactly {n} {thing}" in q.question for q in inst.question_list)
    assert len(templates) >= 4


# -- code to image --------------------------------------------------------------------------------------------

def test_code_to_image_programs_rerun_in_a_fresh_interpreter(generated):
    _, by_task = generated
    programs = [inst.extra["generator"]["params"]["code"] for inst in by_task["code_to_image"]]
    # One interpreter runs every program in its own namespace, printing a separator after each.
    runner = "import sys\nfor code in sys.argv[1:]:\n    exec(code, {})\n    print('\\x1e')\n"
    result = subprocess.run([sys.executable, "-c", runner, *programs], capture_output=True, text=True, timeout=60,
                            check=True)
    outputs = [chunk.strip("\n") for chunk in result.stdout.split("\x1e")[:-1]]
    assert len(outputs) == len(programs)
    for inst, printed in zip(by_task["code_to_image"], outputs):
        p = inst.extra["generator"]["params"]
        assert printed == p["printed"], inst.uid
        assert p["code"] in inst.prompt
        yes = [q.question for q in inst.question_list if q.answer == "yes"]
        no = [q.question for q in inst.question_list if q.answer == "no"]
        assert yes and no
        sign = re.fullmatch(r"a sign that says (\w+)", printed)
        if sign:
            assert yes == [f"Does the image show {printed}?"]
            for q in no:
                assert re.fullmatch(r"Does the image show a sign that says (\w+)\?", q)[1] != sign[1]
            continue
        count, colour, things = re.fullmatch(r"(\d+) (\w+) (\w+)", printed).groups()
        assert yes == [f"Does the image show exactly {count} {colour} {things}?"]
        for q in no:
            exact = re.fullmatch(r"Does the image show exactly (\d+) (\w+) (\w+)\?", q)
            any_ = re.fullmatch(r"Does the image show any (\w+) (\w+)\?", q)
            assert exact or any_, q
            if exact:
                assert exact.groups() != (count, colour, things)
            else:
                assert any_.groups() != (colour, things)
