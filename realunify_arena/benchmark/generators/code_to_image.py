"""Code-to-image (UEG): a short Python program with its input; the line it prints is what must be drawn.

The printed line is obtained by running the program while generating, never worked out separately. It is
either "<count> <colour> <things>" (count >= 2) or "a sign that says <WORD>". Polling questions check the
printed line ("yes") and what the other branches would have printed, an off-by-one count or the unreversed
word ("no").
"""

from __future__ import annotations

import contextlib
import io
import random

from realunify_arena.benchmark.generators.base import UEGDraft

NAME = "program_output"
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange")
THINGS = ("balloons", "stars", "apples", "umbrellas", "cups", "kites", "boats", "candles")
# Words whose reversal is also a word, so the wrong reading is as drawable as the right one.
REVERSIBLE = ("stop", "star", "live", "time", "draw", "parts", "spool", "keep", "stressed", "lived", "reward", "smart")
SIGN = "a sign that says "


def make(rng: random.Random) -> UEGDraft:
    template = rng.choice(sorted(TEMPLATES))
    code, value, other_lines = TEMPLATES[template](rng)
    printed = run_program(code)
    wrong = [line for line in other_lines if line != printed][:2]
    if printed.startswith(SIGN):
        questions = [(f"Does the image show {line}?", "yes" if line == printed else "no") for line in [printed, *wrong]]
    else:
        count, colour, things = printed.split(" ")
        questions = [(f"Does the image show exactly {count} {colour} {things}?", "yes")]
        questions += [(f"Does the image show any {c} {t}?", "no") for _, c, t in (line.split(" ") for line in wrong)]
        off_by_one = [n for n in (int(count) + 1, int(count) - 1) if n >= 2]
        questions += [(f"Does the image show exactly {n} {colour} {things}?", "no")
                      for n in off_by_one[:3 - len(wrong)]]
    prompt = ("The Python program below prints one line that describes a picture. Work out what it prints and "
              f"draw exactly that, and nothing else.\n\n{code}")
    return UEGDraft(prompt=prompt, questions=questions,
                    params={"template": template, "input": value, "code": code, "printed": printed})


def run_program(code: str) -> str:
    """The single line the program prints (our own generated code, so running it in-process is safe)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<code_to_image>", "exec"), {})  # noqa: S102 - generated here, not user input
    lines = out.getvalue().splitlines()
    if len(lines) != 1:
        raise AssertionError(f"a code_to_image program must print one line, printed {lines!r}")
    return lines[0]


# Each template returns (program, its input, lines that other branches of the program could print).

def _branches(rng: random.Random):
    value = rng.randint(1, 60)
    lines = [f"{rng.randint(2, 5)} {c} {t}" for c, t in zip(rng.sample(COLOURS, 4), rng.sample(THINGS, 4))]
    prints = [f'    print("{line}")' for line in lines]
    code = (f"n = {value}\nif n % 15 == 0:\n{prints[0]}\nelif n % 3 == 0:\n{prints[1]}\n"
            f"elif n % 5 == 0:\n{prints[2]}\nelse:\n{prints[3]}\n")
    return code, value, lines


def _threshold_count(rng: random.Random):
    threshold = rng.randint(20, 30)
    # the threshold itself is a reading (so ">" versus ">=" matters), and at least two readings exceed it
    readings = [threshold, rng.randint(threshold + 1, 40), rng.randint(threshold + 1, 40)]
    readings += [rng.randint(10, 40) for _ in range(6)]
    rng.shuffle(readings)
    colour, things = rng.choice(COLOURS), rng.choice(THINGS)
    code = (f"readings = {readings}\nthreshold = {threshold}\ncount = 0\nfor r in readings:\n"
            f"    if r > threshold:\n        count += 1\nprint(count, \"{colour}\", \"{things}\")\n")
    return code, readings, []


def _pick_from_list(rng: random.Random):
    colours = rng.sample(COLOURS, 4)
    day, step, count, things = rng.randint(1, 30), rng.randint(2, 5), rng.randint(2, 4), rng.choice(THINGS)
    code = (f"colours = {colours}\nday = {day}\npick = colours[(day * {step} + 1) % len(colours)]\n"
            f"print({count}, pick, \"{things}\")\n")
    return code, day, [f"{count} {c} {things}" for c in colours]


def _doubling(rng: random.Random):
    start, limit = rng.randint(1, 5), rng.randint(30, 200)
    colour, things = rng.choice(COLOURS), rng.choice(THINGS)
    code = (f"n = {start}\nsteps = 0\nwhile n < {limit}:\n    n = n * 2\n    steps += 1\n"
            f"print(steps, \"{colour}\", \"{things}\")\n")
    return code, start, []


def _reversed_word(rng: random.Random):
    word = rng.choice(REVERSIBLE)
    code = f"word = \"{word}\"\nprint(\"{SIGN.strip()}\", word[::-1].upper())\n"
    return code, word, [SIGN + word.upper()]


TEMPLATES = {"branches": _branches, "threshold_count": _threshold_count, "pick_from_list": _pick_from_list,
             "doubling": _doubling, "reversed_word": _reversed_word}
