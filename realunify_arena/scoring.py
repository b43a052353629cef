"""The paper's aggregation, from per-instance outcomes to the numbers of its Table 2.

A category score is the % of its scored instances that are correct; the UEG and GEU averages are the
means of their categories, and Total is the mean of all ten categories, which on the full benchmark
(100 instances per category) is 0.6·UEG + 0.4·GEU, not the mean of the two averages. Percentages are
kept as exact fractions and rounded once, half up, as the paper prints them (39.25 -> 39.3), which
Python's ``round`` (half to even on binary floats) does not reproduce.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

from realunify_arena.benchmark.schema import CATEGORIES, GEU_TASKS, UEG_TASKS
from realunify_arena.systems import MODES, System
from realunify_arena.trace import Status


@dataclass(frozen=True)
class Outcome:
    """One instance's result for one system, as one judge saw it.

    ``score`` is None when the instance could not be scored (a judge error, or not judged yet); such
    instances are left out of the percentages and counted instead. A model that failed on the instance
    (``Status.ERROR``) scores 0: the system produced nothing correct, and leaving it out would reward crashes.
    """

    model: str
    mode: str
    task_type: str
    status: Status
    score: int | None = None
    strict: int | None = None  # GEU only: the strict answer parse
    questions_right: int = 0  # UEG only: polling questions whose verdict matched the expected answer
    questions_total: int = 0  # UEG only: polling questions with a verdict
    judge_errors: int = 0  # polling questions the judge never answered yes or no
    cut_answer: bool = False  # GEU only: the reply ends inside the model's reasoning (reasoning.cut_while_reasoning)

    @property
    def track(self) -> str:
        return CATEGORIES[self.task_type].track


@dataclass(frozen=True)
class Tally:
    correct: int = 0
    scored: int = 0

    def add(self, correct: int) -> Tally:
        return Tally(self.correct + correct, self.scored + 1)

    @property
    def percent(self) -> Fraction | None:
        return Fraction(100 * self.correct, self.scored) if self.scored else None


@dataclass
class SystemScore:
    """One row of the table: one model in one mode."""

    model: str
    mode: str
    categories: dict[str, Tally] = field(default_factory=dict)  # task_type -> tally (paper's rule)
    strict: dict[str, Tally] = field(default_factory=dict)  # GEU task_type -> tally (strict parse)
    expected: tuple[str, ...] = ()  # the task types the evaluated data holds
    questions_right: int = 0
    questions_total: int = 0
    judge_errors: int = 0  # instances with a polling question the judge gave no usable answer to (unscored,
    # unless another question already fails the instance: then it scores 0 and is counted here too)
    unscored: int = 0  # instances run but not judged yet
    run_errors: int = 0  # instances on which the model itself failed (scored 0)
    not_supported: int = 0

    @property
    def system(self) -> str:
        return str(System(self.model, self.mode))

    def category(self, task_type: str) -> Fraction | None:
        tally = self.categories.get(task_type)
        return tally.percent if tally else None

    def _mean(self, task_types: Iterable[str], tallies: dict[str, Tally]) -> Fraction | None:
        """Mean over the expected categories among ``task_types``; None if one of them has no score."""
        wanted = [t for t in task_types if t in self.expected]
        values = [tallies[t].percent if t in tallies else None for t in wanted]
        if not values or any(v is None for v in values):
            return None
        return sum(values, Fraction(0)) / len(values)

    @property
    def ueg(self) -> Fraction | None:
        return self._mean(UEG_TASKS, self.categories)

    @property
    def geu(self) -> Fraction | None:
        return self._mean(GEU_TASKS, self.categories)

    @property
    def geu_strict(self) -> Fraction | None:
        return self._mean(GEU_TASKS, self.strict)

    @property
    def total(self) -> Fraction | None:
        """Mean of all ten categories; only defined when both tracks were evaluated and scored."""
        if self.ueg is None or self.geu is None:
            return None
        return self._mean(CATEGORIES, self.categories)

    @property
    def question_accuracy(self) -> Fraction | None:
        return Fraction(100 * self.questions_right, self.questions_total) if self.questions_total else None


def instance_score(correct: Iterable[bool | None]) -> int | None:
    """The paper's all-or-nothing UEG instance rule over its polling questions' verdicts.

    ``correct``: per polling question True (the verdict matched the expected answer), False (it did not)
    or None (no verdict: a judge error, or human voters tied). Returns 0 when any question is False (the
    instance fails whatever the undecided ones say), else None when any is None, else 1.

    Raises:
        ValueError: no questions (an empty poll is not a pass).
    """
    correct = list(correct)
    if not correct:
        raise ValueError("no polling questions to score (an empty poll is not a pass)")
    if any(c is False for c in correct):
        return 0
    return None if any(c is None for c in correct) else 1


def score_systems(outcomes: Iterable[Outcome]) -> list[SystemScore]:
    """One SystemScore per (model, mode) seen, models in first-seen order, direct before stepwise."""
    outcomes = list(outcomes)
    expected = tuple(t for t in CATEGORIES if any(o.task_type == t for o in outcomes))
    rows: dict[tuple[str, str], SystemScore] = {}
    for o in outcomes:
        row = rows.setdefault((o.model, o.mode), SystemScore(o.model, o.mode, expected=expected))
        if o.status is Status.NOT_SUPPORTED:
            row.not_supported += 1
            continue
        if o.status is Status.ERROR:  # the official scripts score a failed run 0, in both GEU columns
            row.run_errors += 1
            row.categories[o.task_type] = row.categories.get(o.task_type, Tally()).add(0)
            if o.track == "GEU":
                row.strict[o.task_type] = row.strict.get(o.task_type, Tally()).add(0)
            continue
        row.questions_right += o.questions_right
        row.questions_total += o.questions_total
        if o.judge_errors:
            row.judge_errors += 1
        if o.score is None:
            if not o.judge_errors:
                row.unscored += 1
            continue
        row.categories[o.task_type] = row.categories.get(o.task_type, Tally()).add(o.score)
        if o.strict is not None:
            row.strict[o.task_type] = row.strict.get(o.task_type, Tally()).add(o.strict)
    models = list(dict.fromkeys(model for model, _ in rows))
    return [rows[(m, mode)] for m in models for mode in MODES if (m, mode) in rows] + [
        row for (m, mode), row in rows.items() if mode not in MODES]


def round_half_up(value: Fraction | Decimal | int, places: int = 1) -> Decimal:
    """Exact decimal rounding with halves away from zero (39.25 -> 39.3, -0.25 -> -0.3)."""
    with localcontext() as ctx:
        ctx.prec = 50
        if isinstance(value, Fraction):
            value = Decimal(value.numerator) / Decimal(value.denominator)
        return Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def percent(value: Fraction | None) -> str:
    """A percentage as the paper prints it, or "-" where there is no score."""
    return "-" if value is None else str(round_half_up(value))


def difference(direct: Fraction | None, stepwise: Fraction | None) -> str:
    """Stepwise minus direct, signed, from the exact values (rounded once)."""
    if direct is None or stepwise is None:
        return "-"
    delta = round_half_up(stepwise - direct)
    if delta == 0:
        return "0.0"
    return f"+{delta}" if delta > 0 else str(delta)
