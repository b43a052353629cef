"""What the drawn GEU images show, checked pixel by pixel over many seeds: in a mental-reconstruction scene no
shape covers part of another (a hidden corner or a merged pair makes a count or a direction a matter of
luck), and every shape lies wholly on the canvas."""

from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageDraw

from realunify_arena.benchmark.generators import mental_reconstruction


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
