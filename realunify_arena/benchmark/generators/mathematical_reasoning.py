"""Mathematical reasoning (UEG): scenes whose object counts follow from a small calculation.

The prompt states the numbers indirectly (piles, a multi-step story, a fraction, heads and legs, a
probability); the polling questions ask for the exact counts, with "no" questions for the numbers a model
gets by skipping a step (the number of piles, the pears before one was eaten, the colours swapped).
Every count is at least 2, so "exactly N <plural>" always reads correctly.
"""

from __future__ import annotations

import random

from realunify_arena.benchmark.generators.base import UEGDraft

NAME = "counting_scene"
FRACTIONS = {(1, 2): "half", (1, 3): "one third", (2, 3): "two thirds", (1, 4): "a quarter",
             (3, 4): "three quarters", (2, 5): "two fifths", (3, 5): "three fifths"}


def make(rng: random.Random) -> UEGDraft:
    template = rng.choice(sorted(TEMPLATES))
    prompt, questions, params = TEMPLATES[template](rng)
    return UEGDraft(prompt=prompt, questions=questions, params={"template": template, **params})


def _exactly(n: int, thing: str) -> str:
    return f"Are there exactly {n} {thing} in the image?"


def _piles(rng: random.Random):
    piles, per_pile = rng.randint(2, 4), rng.randint(2, 4)
    noun = rng.choice(["books", "plates", "wooden blocks", "coins"])
    total = piles * per_pile
    prompt = (f"A plain table holding some {noun}. The {noun} could be sorted into {piles} equal piles of "
              f"{per_pile} with none left over. Draw all of the {noun}, spread out side by side on the table.")
    questions = [(_exactly(total, noun), "yes"), (_exactly(total + rng.choice([1, 2]), noun), "no"),
                 (_exactly(piles, noun), "no")]
    return prompt, questions, {"noun": noun, "piles": piles, "per_pile": per_pile}


def _fruit_bowl(rng: random.Random):
    apples, times = rng.randint(2, 4), rng.randint(2, 3)
    prompt = (f"A glass bowl of fruit. It started with {apples} apples. Then someone added {times} times as many "
              f"pears as there were apples, and after that one pear was eaten. Draw the bowl with exactly the "
              f"fruit that is left.")
    pears = apples * times - 1
    questions = [(_exactly(apples, "apples"), "yes"), (_exactly(pears, "pears"), "yes"),
                 (_exactly(pears + 1, "pears"), "no")]
    return prompt, questions, {"apples": apples, "times": times, "eaten_pears": 1}


def _parking_lot(rng: random.Random):
    (num, den), words = rng.choice(sorted(FRACTIONS.items()))
    total = den * rng.randint(2, 3)
    while total * num // den < 2 or total - total * num // den < 2:
        total += den
    red = total * num // den
    prompt = (f"A small parking lot seen from above with {total} cars in it. {words.capitalize()} of the cars are "
              f"red and all the others are blue.")
    blue = total - red
    questions = [(_exactly(red, "red cars"), "yes"), (_exactly(blue, "blue cars"), "yes"),
                 ("Are there more red cars than blue cars in the image?", "yes" if red > blue else "no"),
                 (_exactly(total, "red cars"), "no")]
    return prompt, questions, {"cars": total, "red_fraction": [num, den]}


def _heads_and_legs(rng: random.Random):
    chickens, cows = rng.randint(2, 5), rng.randint(2, 4)
    heads, legs = chickens + cows, 2 * chickens + 4 * cows
    prompt = (f"A farmyard with only chickens and cows. Counting all the animals together there are {heads} heads "
              f"and {legs} legs. Draw every animal in the farmyard.")
    questions = [(_exactly(chickens, "chickens"), "yes"), (_exactly(cows, "cows"), "yes"),
                 (_exactly(cows + 1, "cows"), "no")]
    return prompt, questions, {"heads": heads, "legs": legs}


def _marble_jar(rng: random.Random):
    (num, den), words = rng.choice([(k, v) for k, v in sorted(FRACTIONS.items()) if k != (1, 2)])
    total = den * rng.randint(2, 3)
    red = total * num // den
    green = total - red
    prompt = (f"A clear glass jar holding {total} marbles, each either red or green. If you picked one marble at "
              f"random, the chance of it being red would be {words}. Draw the jar with all of its marbles visible.")
    questions = [(_exactly(red, "red marbles"), "yes"), (_exactly(green, "green marbles"), "yes"),
                 (_exactly(green, "red marbles"), "no")]
    return prompt, questions, {"marbles": total, "red_chance": [num, den]}


TEMPLATES = {"piles": _piles, "fruit_bowl": _fruit_bowl, "parking_lot": _parking_lot,
             "heads_and_legs": _heads_and_legs, "marble_jar": _marble_jar}
