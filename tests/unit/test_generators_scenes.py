"""What the drawn GEU images show, checked pixel by pixel over many seeds: in a mental-reconstruction scene no
shape covers part of another (a hidden corner or a merged pair makes a count or a direction a matter of
luck), and every shape lies wholly on the canvas; in an attentional-focusing canvas the asked box holds what
the answer says."""

from __future__ import annotations

import random
import re
from collections import Counter

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from realunify_arena.benchmark.generators import generate_set, mental_reconstruction
from realunify_arena.benchmark.generators.drawing import COLOURS
from realunify_arena.benchmark.schema import LETTERS


def _footprint(obj: dict, canvas: tuple[int, int]) -> np.ndarray:
    """The pixels one shape covers, drawn alone (outline included) with our own outline geometry."""
    mask = Image.new("1", canvas, 0)
    draw = ImageDraw.Draw(mask)
    x, y, r = obj["x"], obj["y"], obj["size"] / 2
    if obj["shape"] == "circle":
        draw.ellipse((x - r, y - r, x + r, y + r), fill=1, outline=1)
        return np.array(mask)
    if obj["shape"] == "square":
        points = [(x - r, y - r), (x + r, y - r), (x + r, y + r), (x - r, y + r)]
    elif obj["shape"] == "triangle":  # apex up, base corners at 0.8 r below the centre
        points = [(x, y - r), (x + r, y + 0.8 * r), (x - r, y + 0.8 * r)]
    else:  # five-pointed star, inner radius 0.45 r, first point straight up
        points = [(x + (r if k % 2 == 0 else 0.45 * r) * np.cos(-np.pi / 2 + k * np.pi / 5),
                   y + (r if k % 2 == 0 else 0.45 * r) * np.sin(-np.pi / 2 + k * np.pi / 5)) for k in range(10)]
    draw.polygon(points, fill=1, outline=1)
    return np.array(mask)


def test_mental_reconstruction_shapes_never_touch_and_stay_on_the_canvas():
    touching = []
    for seed in range(200):
        params = mental_reconstruction.make(random.Random(seed)).params
        canvas = tuple(params["canvas"])
        masks = [_footprint(o, canvas) for o in params["objects"]]
        for m in masks:
            assert not (m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any()), f"seed {seed}: off canvas"
        for i in range(len(masks)):
            for j in range(i + 1, len(masks)):
                if (masks[i] & masks[j]).any():
                    touching.append((seed, params["objects"][i]["shape"], params["objects"][j]["shape"]))
    assert not touching, f"{len(touching)} touching pairs, e.g. {touching[:3]}"


# -- attentional focusing: counts and star colours read from the pixels inside the asked box ------------------

def _shapes_in(pixels: np.ndarray, colour: str) -> list[str]:
    """Each blob of one fill colour, named by how much of its bounding box it fills (square ~1, circle ~0.8)
    or, for the rest, by its bottom row (a triangle's base spans it, a star ends in two tips); specks under 6
    pixels (star tips cut off by the outline) are skipped."""
    labels, count = ndimage.label((pixels == np.array(COLOURS[colour])).all(axis=2))
    names = []
    for i in range(1, count + 1):
        ys, xs = np.nonzero(labels == i)
        if len(ys) < 6:
            continue
        fill = len(ys) / ((np.ptp(ys) + 1) * (np.ptp(xs) + 1))
        base = np.count_nonzero(ys == ys.max()) / (np.ptp(xs) + 1)  # a triangle stands on a full-width row
        names.append("square" if fill > 0.9 else "circle" if fill > 0.66 else "triangle" if base > 0.6 else "star")
    return names


def test_attentional_focusing_answers_read_from_the_pixels_of_the_box():
    generated = generate_set(200, 31, ["attentional_focusing"])
    checked = Counter()
    for inst in generated.instances:
        x0, y0, x1, y1 = inst.extra["generator"]["params"]["boxes"][re.search(r"box labelled (\d)", inst.question)[1]]
        pixels = np.array(generated.images[inst.input_image])[y0:y1 + 1, x0:x1 + 1]
        answer = inst.option[LETTERS.index(inst.answer)]
        if m := re.fullmatch(r"How many (\w+) (\w+?)s are inside the box labelled \d\?", inst.question):
            assert str(_shapes_in(pixels, m[1]).count(m[2])) == answer, inst.uid
            checked["count"] += 1
        elif inst.question.startswith("What colour is the star"):
            stars = [c for c in COLOURS for name in _shapes_in(pixels, c) if name == "star"]
            assert stars == [answer], (inst.uid, stars)
            checked["attribute"] += 1
    assert min(checked.values()) >= 40, checked
