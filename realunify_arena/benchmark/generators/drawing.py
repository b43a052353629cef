"""Pillow helpers shared by the image generators: named colours, filled shapes, the bundled font, PNG output.

Everything here is deterministic (no anti-aliasing tricks that depend on the platform, no PNG metadata), so
the same parameters always give the same bytes.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from realunify_arena import durable

# Well-separated colours whose names a model can be asked about.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (245, 140, 0),
    "yellow": (240, 210, 0),
    "green": (30, 160, 50),
    "blue": (30, 80, 220),
    "purple": (140, 50, 180),
    "pink": (250, 120, 190),
    "brown": (130, 80, 30),
}
SHAPES = ("circle", "square", "triangle", "star")
INK = (20, 20, 20)


@lru_cache(maxsize=None)
def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled font: nothing is downloaded and every machine renders the same glyphs."""
    return ImageFont.load_default(size=size)


def shape_points(shape: str, x: float, y: float, size: float) -> list[tuple[float, float]]:
    """Polygon outline of a shape of bounding size ``size`` centred on (x, y); the centre is always inside."""
    r = size / 2
    if shape == "square":
        return [(x - r, y - r), (x + r, y - r), (x + r, y + r), (x - r, y + r)]
    if shape == "triangle":
        return [(x, y - r), (x + r, y + r * 0.8), (x - r, y + r * 0.8)]
    if shape == "star":
        points = []
        for k in range(10):
            radius = r if k % 2 == 0 else r * 0.45
            angle = -math.pi / 2 + k * math.pi / 5
            points.append((x + radius * math.cos(angle), y + radius * math.sin(angle)))
        return points
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


@lru_cache(maxsize=4096)  # placement loops ask for the same few (shape, size) pairs ~10^5 times per set
def shape_radius(shape: str, size: float) -> float:
    """How far the shape reaches from its centre: ``size / 2`` for a circle or star, more for the corners of
    a square (x 1.41) or triangle (x 1.28). Two shapes whose centres are further apart than the sum never touch.
    Raises ValueError for an unknown shape."""
    if shape == "circle":
        return size / 2
    return max(math.hypot(px, py) for px, py in shape_points(shape, 0, 0, size))


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, x: float, y: float, size: float, colour: str) -> None:
    fill = COLOURS[colour]
    if shape == "circle":
        r = size / 2
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill, outline=INK, width=1)
    else:
        draw.polygon(shape_points(shape, x, y, size), fill=fill, outline=INK, width=1)




def save_png(image: Image.Image, path: Path) -> None:
    """Optimised PNG with no metadata: small files, byte-identical for identical pixels."""
    durable.write_file(path, lambda f: image.save(f, format="PNG", optimize=True))  # never a PNG cut short
