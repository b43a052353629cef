"""The paper's aggregation: exact half-up rounding, category/track/Total rules, what is excluded and counted."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realunify_arena.benchmark.schema import CATEGORIES, GEU_TASKS, UEG_TASKS
from realunify_arena.scoring import Outcome, difference, percent, round_half_up, score_systems
from realunify_arena.trace import Status
from tests.unit.paper_table import PAPER_ROWS

TASKS = list(CATEGORIES)


def outcomes_for(model: str, mode: str, correct_per_category: list[int | None], n: int = 100) -> list[Outcome]:
    """n instances per category, the first ``correct`` of them right; None: the mode is not supported."""
    out = []
    for task, correct in zip(TASKS, correct_per_category):
        for i in range(n):
            if correct is None:
                out.append(Outcome(model, mode, task, Status.NOT_SUPPORTED))
            else:
                out.append(Outcome(model, mode, task, Status.OK, score=int(i < correct)))
    return out


@pytest.mark.parametrize(("value", "expected"), [
    (Fraction(3925, 100), "39.3"),  # Python's round(39.25, 1) gives 39.2
    (Fraction(157, 4), "39.3"),
    (Fraction(101, 4), "25.3"),
    (Fraction(123, 4), "30.8"),
    (Fraction(196, 6), "32.7"),
    (Fraction(3924999, 100000), "39.2"),
    (Fraction(0), "0.0"),
    (Fraction(100), "100.0"),
])
def test_percent_rounds_halves_up_exactly(value, expected):
    assert percent(value) == expected


def test_round_half_up_on_negative_halves_and_other_places():
    assert round_half_up(Fraction(-1, 4)) == Decimal("-0.3")
    assert round_half_up(Fraction(1, 8), places=2) == Decimal("0.13")
    assert percent(None) == "-"


@pytest.mark.parametrize(("direct", "stepwise", "expected"), [
    (Fraction(46), Fraction(74), "+28.0"),
    (Fraction(51), Fraction(38), "-13.0"),
    (Fraction(157, 4), Fraction(143, 4), "-3.5"),
    (Fraction(10), Fraction(10), "0.0"),
    (Fraction(10), Fraction(1001, 100), "0.0"),  # not "-0.0" / "+0.0"
    (Fraction(10), None, "-"),
])
def test_difference_is_signed_and_rounded_once(direct, stepwise, expected):
    assert difference(direct, stepwise) == expected


@pytest.mark.parametrize(("model", "mode"), [(m, mode) for m, modes in PAPER_ROWS.items() for mode in modes])
def test_every_paper_row_is_reproduced_from_its_category_counts(model, mode):
    categories, ueg, geu, total = PAPER_ROWS[model][mode]
    (row,) = score_systems(outcomes_for(model, mode, categories))
    assert [percent(row.category(t)) for t in TASKS] == ["-" if c is None else f"{c}.0" for c in categories]
    assert (percent(row.ueg), percent(row.geu), percent(row.total)) == (ueg, geu, total)


@settings(deadline=None)  # up to 1000 outcomes per example: on a loaded CI machine one can take over 200 ms
@given(st.lists(st.integers(0, 100), min_size=10, max_size=10))
def test_total_is_the_weighted_mean_of_tracks_on_the_full_benchmark(counts):
    (row,) = score_systems(outcomes_for("m", "direct", counts))
    assert row.total == (6 * row.ueg + 4 * row.geu) / 10  # exact fractions
    assert row.total == Fraction(sum(counts), 10)  # = % of all 1,000 instances correct
    assert row.total != (row.ueg + row.geu) / 2 or row.ueg == row.geu


def test_not_supported_instances_give_dashes_not_zeros():
    rows = score_systems(outcomes_for("m", "direct", [50] * 10) + outcomes_for("m", "stepwise", [50] * 6 + [None] * 4))
    direct, stepwise = rows
    assert (direct.mode, stepwise.mode) == ("direct", "stepwise")
    assert stepwise.geu is None and stepwise.total is None and stepwise.ueg == 50
    assert stepwise.not_supported == 400
    assert direct.total == 50


def test_judge_errors_are_excluded_and_counted_and_model_errors_score_zero():
    wk = "world_knowledge"
    outcomes = [
        Outcome("m", "direct", wk, Status.OK, score=1, questions_right=2, questions_total=2),
        Outcome("m", "direct", wk, Status.OK, score=None, questions_right=1, questions_total=1, judge_errors=1),
        Outcome("m", "direct", wk, Status.OK, score=0, questions_right=0, questions_total=1, judge_errors=1),
        Outcome("m", "direct", wk, Status.OK, score=None),  # run, not judged yet
        Outcome("m", "direct", wk, Status.ERROR),
    ]
    (row,) = score_systems(outcomes)
    assert (row.categories[wk].correct, row.categories[wk].scored) == (1, 3)  # 1, 0 (mismatch), 0 (error)
    assert row.judge_errors == 2
    assert row.unscored == 1
    assert row.run_errors == 1
    assert row.question_accuracy == Fraction(300, 4)


def test_strict_geu_scores_sit_beside_the_paper_rule():
    outcomes = [Outcome("m", "direct", t, Status.OK, score=1, strict=int(i == 0))
                for t in GEU_TASKS for i in range(4)]
    (row,) = score_systems(outcomes)
    assert row.geu == 100 and row.geu_strict == 25
    assert row.ueg is None and row.total is None  # only GEU was evaluated: no Total


def test_averages_need_every_evaluated_category():
    # UEG evaluated on two categories only: the average is over those two.
    outcomes = outcomes_for("m", "direct", [2, 6, None, None, None, None, None, None, None, None], n=10)
    outcomes = [o for o in outcomes if o.status is Status.OK]
    (row,) = score_systems(outcomes)
    assert row.ueg == 40 and row.expected == (UEG_TASKS[0], UEG_TASKS[1])
    # A second model that skipped one of them has no average.
    partial = [o for o in outcomes if o.task_type == UEG_TASKS[0]]
    rows = score_systems(outcomes + [Outcome("x", o.mode, o.task_type, o.status, o.score) for o in partial])
    assert rows[1].model == "x" and rows[1].ueg is None and rows[1].category(UEG_TASKS[0]) == 20
