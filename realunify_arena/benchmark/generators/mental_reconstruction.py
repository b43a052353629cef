"""Mental reconstruction: a scene of countable, positioned shapes, cut into a k x k grid and shuffled.

Scenes are landscape, portrait or square (as the official set's photos are), so an edit that squashes
its input to a square shows.

Shapes are large next to the patches, so most are cut apart: counting them or telling where one lies
relative to another needs the scene put back together. The unshuffled scene is kept as the reference for
judging a restoration.
"""

from __future__ import annotations

import math
import random
from collections import Counter

from PIL import Image, ImageDraw

from realunify_arena.benchmark.generators.base import GEUDraft, count_window
from realunify_arena.benchmark.generators.drawing import COLOURS, SHAPES, draw_shape, shape_radius
from realunify_arena.shown import plural

NAME = "shuffled_scene"
CANVASES = ((480, 360), (360, 480), (384, 384))  # (width, height), each side divisible by 2, 3 and 4
BACKGROUND = (236, 240, 228)
DIRECTIONS = ("above it", "below it", "to its left", "to its right")


def make(rng: random.Random) -> GEUDraft:
    canvas = rng.choice(CANVASES)
    k = rng.randint(2, 4)
    # A count question's answer is planted: the first repeated kind appears ``start + rank`` times and the
    # options are the run of four from ``start`` (count_window); both uniform, so the options do not tell it.
    rank = rng.randrange(4)
    planted = 2 + rng.randrange(4) + rank
    objects = _place_objects(rng, canvas, planted)
    permutation = _derangement(rng, k * k)
    kind = rng.choice(("count", "position"))
    built = _position_question(rng, objects) if kind == "position" else None
    if built is None:  # also when no two one-of-a-kind shapes lie in a clear direction
        kind, built = "count", _count_question(objects, rank)
    question, answer, distractors, asked = built
    reference = draw_scene(objects, canvas)
    params = {"canvas": list(canvas), "grid": k, "permutation": permutation, "objects": objects,
              "question_kind": kind, "asked": asked}
    return GEUDraft(subtask=f"scene_{kind}", question=question, answer=answer, distractors=distractors,
                    image=shuffle_patches(reference, k, permutation), params=params, reference=reference)


def draw_scene(objects: list[dict], canvas: tuple[int, int]) -> Image.Image:
    image = Image.new("RGB", canvas, BACKGROUND)
    draw = ImageDraw.Draw(image)
    for o in objects:
        draw_shape(draw, o["shape"], o["x"], o["y"], o["size"], o["colour"])
    return image


def shuffle_patches(image: Image.Image, k: int, permutation: list[int]) -> Image.Image:
    """Patch ``permutation[j]`` of the scene (row-major) goes to slot ``j`` of the shuffled image."""
    step_x, step_y = image.width // k, image.height // k
    out = Image.new("RGB", image.size)
    for slot, source in enumerate(permutation):
        sx, sy = (source % k) * step_x, (source // k) * step_y
        out.paste(image.crop((sx, sy, sx + step_x, sy + step_y)), ((slot % k) * step_x, (slot // k) * step_y))
    return out


def _place_objects(rng: random.Random, canvas: tuple[int, int], planted: int) -> list[dict]:
    """Three kinds that repeat (for counting; the first exactly ``planted`` times, 2-8) and three
    one-of-a-kind shapes (for positions); at most 14 objects, as many as a portrait canvas takes."""
    colours = rng.sample(sorted(COLOURS), 6)
    repeated = [(rng.choice(SHAPES), c) for c in colours[:3]]
    others = rng.randint(max(2, 7 - planted), max(3, 11 - planted))
    kinds = ([(rng.choice(SHAPES), c) for c in colours[3:]] + [repeated[0]] * planted
             + [rng.choice(repeated[1:]) for _ in range(others)])
    objects: list[dict] = []
    for shape, colour in kinds:
        while True:
            size = rng.randint(40, 60)
            x, y = rng.randint(34, canvas[0] - 34), rng.randint(34, canvas[1] - 34)
            reach = shape_radius(shape, size) + 6  # corners included: no shape hides part of another
            if all(math.hypot(x - o["x"], y - o["y"]) > reach + shape_radius(o["shape"], o["size"]) for o in objects):
                objects.append({"shape": shape, "colour": colour, "x": x, "y": y, "size": size})
                break
    return objects


def _derangement(rng: random.Random, n: int) -> list[int]:
    while True:
        order = list(range(n))
        rng.shuffle(order)
        if all(i != j for i, j in enumerate(order)):
            return order


def _count_question(objects, rank):
    """About the planted kind: the first object after the three one-of-a-kind shapes."""
    shape, colour = objects[3]["shape"], objects[3]["colour"]
    count = sum((o["shape"], o["colour"]) == (shape, colour) for o in objects)
    distractors = count_window(count, rank)
    question = (f"The image is a picture cut into a grid of equal patches that were shuffled. "
                f"How many {colour} {plural(shape, 2)} are in the whole original picture?")
    return question, str(count), distractors, {"shape": shape, "colour": colour}


def _position_question(rng, objects):
    kinds = Counter((o["shape"], o["colour"]) for o in objects)
    unique = [o for o in objects if kinds[o["shape"], o["colour"]] == 1]
    pairs = [(a, b) for a in unique for b in unique if a is not b and _direction(a, b)]
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    answer = _direction(a, b)
    question = (f"The image is a picture cut into a grid of equal patches that were shuffled. In the original picture, "
                f"where is the {a['colour']} {a['shape']} relative to the {b['colour']} {b['shape']}?")
    return (question, answer, [d for d in DIRECTIONS if d != answer],
            {"subject": [a["shape"], a["colour"]], "reference": [b["shape"], b["colour"]]})


def _direction(a: dict, b: dict) -> str | None:
    """A direction only when one axis clearly dominates, so the answer is not a matter of taste."""
    dx, dy = a["x"] - b["x"], a["y"] - b["y"]
    if abs(dx) >= 2 * abs(dy) and abs(dx) >= 60:
        return "to its right" if dx > 0 else "to its left"
    if abs(dy) >= 2 * abs(dx) and abs(dy) >= 60:
        return "below it" if dy > 0 else "above it"
    return None
