"""Attentional focusing: a large canvas crowded with small shapes and short words, and four small framed
boxes. Each question is about one box only (a count, the word written in it, or the colour of its star);
the same kinds of things sit in the other boxes and all around, and they supply the word and colour
distractors; a count's options are a run of four numbers in which the planted answer's place is random.
"""

from __future__ import annotations

import random

from PIL import Image, ImageDraw

from realunify_arena.benchmark.generators.base import GEUDraft, count_window
from realunify_arena.benchmark.generators.drawing import COLOURS, INK, draw_shape, font
from realunify_arena.shown import plural

NAME = "framed_regions"
WIDTH, HEIGHT = 1280, 960
BOX_W, BOX_H = 150, 110
COUNTED = ("circle", "square", "triangle")  # every box also holds exactly one star, for the colour question
SHAPE_CHOICES = (*COUNTED, "star")
CONSONANTS, VOWELS = "BDFGKLMNPRSTVZ", "AEIU"
WORD_SIZE, LABEL_SIZE = 13, 14
LABELS = ("1", "2", "3", "4")

Rect = tuple[float, float, float, float]


def make(rng: random.Random) -> GEUDraft:
    kind, box = rng.choice(sorted(QUESTIONS)), rng.choice(LABELS)
    # A count question plants its answer: the kind asked about goes into the box ``start + rank`` times, the
    # options are the run of four from ``start`` (count_window), and ``start`` and ``rank`` are both uniform
    # over 0-3, so neither the answer's place among the sorted options nor the values shown tell it.
    plant = None
    if kind == "count":
        rank = rng.randrange(4)
        plant = {"shape": rng.choice(COUNTED), "colour": rng.choice(sorted(COLOURS)),
                 "count": rng.randrange(4) + rank, "rank": rank}
    occupied: list[Rect] = []
    boxes = _boxes(rng, occupied)
    words = _words(rng, 4 + 20)
    shapes: list[dict] = []
    placed_words: list[dict] = []
    for label, (x0, y0, x1, y1) in boxes.items():
        inside = (x0 + 6, y0 + 6, x1 - 6, y1 - 6)
        placed_words.append(_place_word(rng, words.pop(0), inside, occupied))
        shapes.append(_place_shape(rng, "star", rng.choice(sorted(COLOURS)), inside, occupied))
        planted = plant["count"] if plant and label == box else 0
        for _ in range(planted):
            shapes.append(_place_shape(rng, plant["shape"], plant["colour"], inside, occupied))
        for _ in range(max(0, rng.randint(4, 7) - planted)):
            while True:
                shape, colour = rng.choice(COUNTED), rng.choice(sorted(COLOURS))
                if not planted or (shape, colour) != (plant["shape"], plant["colour"]):
                    break
            shapes.append(_place_shape(rng, shape, colour, inside, occupied))
    everywhere = (8, 8, WIDTH - 8, HEIGHT - 8)
    for word in words:
        placed_words.append(_place_word(rng, word, everywhere, occupied))
    for _ in range(140):
        shapes.append(_place_shape(rng, rng.choice(SHAPE_CHOICES), rng.choice(sorted(COLOURS)), everywhere, occupied))

    inside_of = {label: [s for s in shapes if _contains(rect, s["x"], s["y"])] for label, rect in boxes.items()}
    words_in = {label: [w["text"] for w in placed_words if _contains(rect, w["x"], w["y"])]
                for label, rect in boxes.items()}
    question, answer, pool, asked = QUESTIONS[kind](rng, box, inside_of, words_in, plant)
    params = {"canvas": [WIDTH, HEIGHT], "boxes": {k: list(v) for k, v in boxes.items()}, "shapes": shapes,
              "words": placed_words, "question_kind": kind, "box": box, "asked": asked}
    return GEUDraft(subtask=f"region_{kind}", question=question, answer=answer,
                    distractors=_three_others(pool, answer), image=_draw(boxes, shapes, placed_words), params=params)


# Each question builder returns (question, answer, candidate wrong options, what was asked about); the OCR and
# colour candidates start with the other boxes' values, the traps for a model that looks at the wrong region.
# ``plant`` (count questions only) is what ``make`` put into the box: shape, colour, count and its rank.

def _count_question(rng, box, inside_of, words_in, plant):
    shape, colour = plant["shape"], plant["colour"]
    count = sum((s["shape"], s["colour"]) == (shape, colour) for s in inside_of[box])
    question = f"How many {colour} {plural(shape, 2)} are inside the box labelled {box}?"
    return question, str(count), count_window(count, plant["rank"]), {"shape": shape, "colour": colour}


def _ocr_question(rng, box, inside_of, words_in, plant):
    return (f"Which word is written inside the box labelled {box}?", words_in[box][0],
            [words_in[label][0] for label in sorted(words_in)], {})


def _attribute_question(rng, box, inside_of, words_in, plant):
    star = {label: next(s["colour"] for s in items if s["shape"] == "star") for label, items in inside_of.items()}
    return (f"What colour is the star inside the box labelled {box}?", star[box],
            [star[label] for label in sorted(star)] + sorted(COLOURS), {"shape": "star"})


QUESTIONS = {"count": _count_question, "ocr": _ocr_question, "attribute": _attribute_question}


def _three_others(pool: list[str], answer: str) -> list[str]:
    """The first three distinct wrong options, in pool order."""
    out: list[str] = []
    for value in pool:
        if value != answer and value not in out:
            out.append(value)
    return out[:3]


def _boxes(rng: random.Random, occupied: list[Rect]) -> dict[str, Rect]:
    boxes: dict[str, Rect] = {}
    for label in LABELS:
        while True:
            x0, y0 = rng.randint(20, WIDTH - BOX_W - 20), rng.randint(40, HEIGHT - BOX_H - 20)
            rect = (x0, y0, x0 + BOX_W, y0 + BOX_H)
            # keep a moat around the box and its label free of clutter
            moat = (x0 - 14, y0 - 26, x0 + BOX_W + 14, y0 + BOX_H + 14)
            if not any(_overlap(moat, o) for o in occupied):
                occupied.append(moat)
                boxes[label] = rect
                break
    return boxes


def _words(rng: random.Random, n: int) -> list[str]:
    words: list[str] = []
    while len(words) < n:
        word = "".join(rng.choice(CONSONANTS if i % 2 == 0 else VOWELS) for i in range(4))
        if word not in words:
            words.append(word)
    return words


def _place_shape(rng, shape: str, colour: str, area: Rect, occupied: list[Rect]) -> dict:
    size = rng.randint(12, 16)
    x, y = _free_spot(rng, size, size, area, occupied)
    return {"shape": shape, "colour": colour, "x": x, "y": y, "size": size}


def _place_word(rng, text: str, area: Rect, occupied: list[Rect]) -> dict:
    left, top, right, bottom = font(WORD_SIZE).getbbox(text, anchor="mm")
    x, y = _free_spot(rng, right - left, bottom - top, area, occupied)
    return {"text": text, "x": x, "y": y}


def _free_spot(rng, w: float, h: float, area: Rect, occupied: list[Rect]) -> tuple[int, int]:
    x0, y0, x1, y1 = area
    while True:
        x = rng.randint(int(x0 + w / 2) + 1, int(x1 - w / 2) - 1)
        y = rng.randint(int(y0 + h / 2) + 1, int(y1 - h / 2) - 1)
        rect = left, top, right, bottom = (x - w / 2 - 3, y - h / 2 - 3, x + w / 2 + 3, y + h / 2 + 3)
        # _overlap(rect, o), written out (it runs ~10^4 times per image); a box's moat (which contains the
        # area) does not keep out the box's own contents
        for o in occupied:
            if left < o[2] and o[0] < right and top < o[3] and o[1] < bottom and not _inside(area, o):
                break
        else:
            occupied.append(rect)
            return x, y


def _overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _inside(inner: Rect, outer: Rect) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def _contains(rect, x: float, y: float) -> bool:
    return rect[0] <= x <= rect[2] and rect[1] <= y <= rect[3]


def _draw(boxes: dict[str, Rect], shapes: list[dict], words: list[dict]) -> Image.Image:
    image = Image.new("RGB", (WIDTH, HEIGHT), (250, 250, 246))
    draw = ImageDraw.Draw(image)
    for label, (x0, y0, x1, y1) in boxes.items():
        draw.rectangle((x0, y0, x1, y1), outline=(90, 90, 90), width=2)
        draw.text((x0, y0 - 4), label, fill=INK, font=font(LABEL_SIZE), anchor="ld")
    for s in shapes:
        draw_shape(draw, s["shape"], s["x"], s["y"], s["size"], s["colour"])
    for w in words:
        draw.text((w["x"], w["y"]), w["text"], fill=INK, font=font(WORD_SIZE), anchor="mm")
    return image
