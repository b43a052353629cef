"""Answers that cannot be guessed without solving: the answer letter is not favoured across seeds, and an
option-only strategy (a rule applied to the four option texts, never to the image or question) does no
better than chance. Also an independent mental-tracking solver that reads only the question text and the
image pixels."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from realunify_arena.benchmark.generators import generate_set
from realunify_arena.benchmark.generators.base import count_window
from realunify_arena.benchmark.generators.drawing import COLOURS
from realunify_arena.benchmark.schema import LETTERS

N = 200
CHANCE_LIMIT = 0.40  # chance is 0.25; 200 draws at chance pass this with a wide margin


@pytest.mark.parametrize("per_category", [1, 2, 3])
def test_answer_letters_are_not_always_the_first_ones_across_seeds(per_category):
    seen = Counter()
    for seed in range(60):
        seen.update(i.answer for i in generate_set(per_category, seed, ["cognitive_navigation"]).instances)
    assert set(seen) == set(LETTERS), seen  # before: a set of one was always A, of three never D
    assert max(seen.values()) <= 0.45 * sum(seen.values()), seen


def test_letters_stay_evenly_spread_within_a_category():
    answers = Counter(i.answer for i in generate_set(10, 3, ["mental_tracking"]).instances)
    assert sorted(answers.values()) == [2, 2, 3, 3], answers


def _numbers(options):
    try:
        return [int(o) for o in options]
    except ValueError:
        return None


def _kth_smallest(k):
    def pick(options):
        values = _numbers(options)
        return None if values is None else sorted(range(4), key=lambda i: values[i])[k]
    return pick


def _centre(options):
    """The option with the fewest differing characters from the other three."""
    def distance(a, b):
        return sum(x != y for x, y in zip(a, b)) + abs(len(a) - len(b))
    return min(range(4), key=lambda i: sum(distance(options[i], options[j]) for j in range(4)))


@pytest.fixture(scope="module")
def geu_sets():
    return {t: generate_set(N, 11, [t]).instances
            for t in ("mental_reconstruction", "mental_tracking", "attentional_focusing", "cognitive_navigation")}


@pytest.mark.parametrize("strategy", ["smallest", "second", "third", "largest", "centre"])
def test_no_option_only_strategy_beats_chance(geu_sets, strategy):
    pick = {"smallest": _kth_smallest(0), "second": _kth_smallest(1), "third": _kth_smallest(2),
            "largest": _kth_smallest(3), "centre": _centre}[strategy]
    for task, instances in geu_sets.items():
        by_kind: dict[str, list[bool]] = {}
        for inst in instances:
            choice = pick(inst.option)
            if choice is not None:
                kind = inst.extra["generator"]["params"].get("question_kind", "all")
                by_kind.setdefault(kind, []).append(LETTERS[choice] == inst.answer)
        for kind, hits in by_kind.items():
            if len(hits) >= 40:
                rate = sum(hits) / len(hits)
                assert rate <= CHANCE_LIMIT, f"{task}/{kind}: '{strategy}' picks the answer {rate:.0%} of the time"


def test_count_window_hand_computed():
    assert count_window(5, 0) == ["6", "7", "8"]
    assert count_window(5, 2) == ["3", "4", "6"]
    assert count_window(1, 1) == ["0", "2", "3"]
    with pytest.raises(ValueError):
        count_window(1, 2)


# -- mental tracking solved from the question text and the image pixels alone ---------------------------------

SEVEN = {"abcdef": "0", "bc": "1", "abdeg": "2", "abcdg": "3", "bcfg": "4", "acdfg": "5", "acdefg": "6",
         "abc": "7", "abcdefg": "8", "abcdfg": "9"}
# Segment midpoints relative to a digit's top-left corner, for a 64 x 120 digit (the drawn layout).
MIDPOINTS = {"a": (32, 0), "b": (64, 30), "c": (64, 90), "d": (32, 120), "e": (0, 90), "f": (0, 30), "g": (32, 60)}


def _colour_at(image, x, y):
    rgb = image.getpixel((x, y))
    return min(COLOURS, key=lambda name: sum((a - b) ** 2 for a, b in zip(rgb, COLOURS[name])))


def _solve_tracking(question: str, image) -> str:
    changes = re.findall(r"every (\w+) segment turns (\w+)", question)
    target = re.search(r"which digits do the (\w+) segments form", question).group(1)
    at_once = "all at the same time" in question
    n = (image.width - 2 * 28 + 44) // (64 + 44)
    digits = ""
    for p in range(n):
        ox, oy = 28 + p * (64 + 44), 28
        lit = ""
        for segment, (dx, dy) in MIDPOINTS.items():
            colour = _colour_at(image, ox + dx, oy + dy)
            if at_once:
                colour = dict(changes).get(colour, colour)
            else:
                for src, dst in changes:
                    colour = dst if colour == src else colour
            lit += segment if colour == target else ""
        digits += SEVEN[lit]
    return digits


def test_mental_tracking_answer_read_from_question_and_pixels():
    generated = generate_set(N, 5, ["mental_tracking"])
    for inst in generated.instances:
        image = generated.images[inst.input_image]
        assert inst.option[LETTERS.index(inst.answer)] == _solve_tracking(inst.question, image), inst.uid
        assert len(set(inst.option)) == 4


def test_option_texts_alone_do_not_tell_the_count_answer():
    """A guesser that learns, from one seed's 400 instances, how often each option text is the answer when it
    is shown, and picks the likeliest option on another seed's instances, stays near chance."""
    for task in ("attentional_focusing", "mental_reconstruction"):
        def kind(inst):
            return inst.extra["generator"]["params"]["question_kind"]
        answered, shown = Counter(), Counter()
        for inst in generate_set(400, 1, [task]).instances:
            answered[kind(inst), inst.option[LETTERS.index(inst.answer)]] += 1
            shown.update((kind(inst), o) for o in inst.option)
        hits = Counter()
        tried = Counter()
        for inst in generate_set(400, 2, [task]).instances:
            k = kind(inst)
            guess = max(range(4), key=lambda j: (answered[k, inst.option[j]] + 0.5) / (shown[k, inst.option[j]] + 2))
            tried[k] += 1
            hits[k] += LETTERS[guess] == inst.answer
        for k in tried:
            assert hits[k] / tried[k] <= CHANCE_LIMIT, f"{task}/{k}: the option-text prior picks {hits[k] / tried[k]:.0%}"
