"""Mental tracking: digits drawn as coloured seven-segment strokes, then a chain of recolourings.

The question names the chain and a colour; the answer is what the segments of that colour spell after the
chain is applied. Sequential chains are applied step by step (a segment can change twice); simultaneous ones
all at once (each segment changes at most once), so reading one as the other gives a wrong answer that we
offer as a distractor where it fits the options' 2 x 2 grid (``_distractors``), as is the image read without
any change.
"""

from __future__ import annotations

import random

from PIL import Image, ImageDraw

from realunify_arena.benchmark.generators.base import GEUDraft
from realunify_arena.benchmark.generators.drawing import COLOURS, INK

NAME = "seven_segment_recolouring"
SEGMENTS = "abcdefg"  # top, top-right, bottom-right, bottom, bottom-left, top-left, middle
DIGIT_SEGMENTS = {
    "0": "abcdef", "1": "bc", "2": "abdeg", "3": "abcdg", "4": "bcfg",
    "5": "acdfg", "6": "acdefg", "7": "abc", "8": "abcdefg", "9": "abcdfg",
}
SEGMENT_DIGIT = {frozenset(s): d for d, s in DIGIT_SEGMENTS.items()}
MODES = ("sequential", "simultaneous")

WIDTH, HEIGHT, THICK, GAP, SPACING, MARGIN = 64, 120, 12, 3, 44, 28


def recolour(colour: str, steps: list[list[str]], mode: str) -> str:
    if mode == "sequential":
        for src, dst in steps:
            if colour == src:
                colour = dst
        return colour
    return dict(steps).get(colour, colour)


def read_digits(colouring: list[list[str]], colour: str) -> str | None:
    """The digits that the segments of ``colour`` form, or None if some position is not a digit."""
    out = []
    for segments in colouring:
        lit = frozenset(s for s, c in zip(SEGMENTS, segments) if c == colour)
        if lit not in SEGMENT_DIGIT:
            return None
        out.append(SEGMENT_DIGIT[lit])
    return "".join(out)


def make(rng: random.Random) -> GEUDraft:
    mode = rng.choice(MODES)
    palette = rng.sample(sorted(COLOURS), rng.randint(4, 5))
    while True:
        steps = _steps(rng, palette, mode)
        final = {c: recolour(c, steps, mode) for c in palette}
        target = rng.choice(sorted(set(final.values())))
        becomes_target = [c for c in palette if final[c] == target]
        stays_other = [c for c in palette if final[c] != target]
        if not stays_other or becomes_target == [target]:
            continue  # the chain must matter for the asked colour, and the rest must be some other colour
        digits = [rng.choice(sorted(DIGIT_SEGMENTS)) for _ in range(rng.randint(2, 3))]
        colouring = [[rng.choice(becomes_target) if s in DIGIT_SEGMENTS[d] else rng.choice(stays_other)
                      for s in SEGMENTS] for d in digits]
        answer = "".join(digits)
        if read_digits(colouring, target) == answer:
            continue  # readable without applying the chain
        distractors = _distractors(rng, colouring, steps, mode, target, answer)
        params = {"mode": mode, "palette": palette, "segment_colours": colouring, "steps": steps, "target": target}
        return GEUDraft(subtask=mode, question=_question(steps, mode, target), answer=answer,
                        distractors=distractors, image=_draw(colouring), params=params)


def _steps(rng: random.Random, palette: list[str], mode: str) -> list[list[str]]:
    steps: list[list[str]] = []
    for _ in range(rng.randint(2, 3)):
        used_sources = {s for s, _ in steps}
        # Often start where the previous step ended, so that order (or simultaneity) changes the outcome.
        if steps and rng.random() < 0.6 and steps[-1][1] not in used_sources:
            src = steps[-1][1]
        else:
            choices = [c for c in palette if c not in used_sources]
            src = rng.choice(choices)
        dst = rng.choice([c for c in palette if c != src])
        steps.append([src, dst])
    return steps


def _distractors(rng: random.Random, colouring: list[list[str]], steps: list[list[str]], mode: str, target: str,
                 answer: str) -> list[str]:
    """Three wrong readings that, with the answer, form a 2 x 2 grid: two digit positions each take one of two
    digits, so every option differs from the others in one, one and two positions and none is the "centre"
    that an option-only guess could pick (one-digit variants of the answer alone gave it away). Where a
    mistaken reading (no change applied, the other mode, the last step forgotten) differs from the answer in
    at most two positions, the grid is built on it, so that mistake is one of the options."""
    other_mode = MODES[1 - MODES.index(mode)]
    mistakes = [
        colouring,  # no change applied
        [[recolour(c, steps, other_mode) for c in pos] for pos in colouring],
        [[recolour(c, steps[:-1], mode) for c in pos] for pos in colouring],  # last step forgotten
    ]
    decoy = None
    for wrong in mistakes:
        read = read_digits(wrong, target)
        if read and read != answer and sum(a != b for a, b in zip(read, answer)) <= 2:
            decoy = read
            break
    if decoy is None:
        decoy = answer
    differ = [i for i in range(len(answer)) if decoy[i] != answer[i]]
    others = [i for i in range(len(answer)) if i not in differ]
    positions = sorted(differ + rng.sample(others, 2 - len(differ)))
    alternative = {}
    for pos in positions:
        if decoy[pos] != answer[pos]:
            alternative[pos] = decoy[pos]
        else:  # a similar-looking digit: fewest segments changed
            near = sorted((d for d in DIGIT_SEGMENTS if d != answer[pos]),
                          key=lambda d: (len(set(DIGIT_SEGMENTS[d]) ^ set(DIGIT_SEGMENTS[answer[pos]])), d))[:3]
            alternative[pos] = rng.choice(near)
    out = []
    for swap in ((positions[0],), (positions[1],), tuple(positions)):
        digits = list(answer)
        for pos in swap:
            digits[pos] = alternative[pos]
        out.append("".join(digits))
    rng.shuffle(out)
    return out


def _question(steps: list[list[str]], mode: str, target: str) -> str:
    changes = [f"every {src} segment turns {dst}" for src, dst in steps]
    if mode == "sequential":
        ordinals = ["first", "then", "finally"] if len(steps) == 3 else ["first", "then"]
        chain = "; ".join(f"{o}, {c}" for o, c in zip(ordinals, changes))
        how = f"Apply these recolourings one after another, in this order: {chain}."
    else:
        chain = ", ".join(changes[:-1]) + f" and {changes[-1]}"
        how = f"Apply these recolourings all at the same time, so each segment changes at most once: {chain}."
    return (f"The digits in the image are drawn with coloured segments. {how} "
            f"Afterwards, which digits do the {target} segments form, read from left to right?")


def _segment_polygon(segment: str, ox: float, oy: float) -> list[tuple[float, float]]:
    h = THICK / 2
    if segment in "agd":
        y = oy + {"a": 0, "g": HEIGHT / 2, "d": HEIGHT}[segment]
        x0, x1 = ox + GAP, ox + WIDTH - GAP
        return [(x0, y), (x0 + h, y - h), (x1 - h, y - h), (x1, y), (x1 - h, y + h), (x0 + h, y + h)]
    x = ox + (WIDTH if segment in "bc" else 0)
    top = segment in "bf"
    y0 = oy + (GAP if top else HEIGHT / 2 + GAP)
    y1 = oy + (HEIGHT / 2 - GAP if top else HEIGHT - GAP)
    return [(x, y0), (x + h, y0 + h), (x + h, y1 - h), (x, y1), (x - h, y1 - h), (x - h, y0 + h)]


def _draw(colouring: list[list[str]]) -> Image.Image:
    n = len(colouring)
    size = (2 * MARGIN + n * WIDTH + (n - 1) * SPACING, 2 * MARGIN + HEIGHT)
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for p, segments in enumerate(colouring):
        ox = MARGIN + p * (WIDTH + SPACING)
        for segment, colour in zip(SEGMENTS, segments):
            draw.polygon(_segment_polygon(segment, ox, MARGIN), fill=COLOURS[colour], outline=INK, width=1)
    return image
