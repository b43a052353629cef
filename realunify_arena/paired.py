"""Does stepwise help, with confidence? The paired per-instance comparison of one model's two modes.

The paper answers with Δ = stepwise − direct per category. Each instance is run in both modes by the same
model, so the two scores are *paired*, and the evidence is in the instances that moved:

- the 2x2 table per category: direct right/wrong × stepwise right/wrong (``both``, ``hurt`` = direct
  only, ``helped`` = stepwise only, ``neither``);
- Δ in percentage points with a paired bootstrap 95% interval (instances resampled with their pair of
  scores; percentile interval, ``scipy.stats.bootstrap``), or none ("-") where resampling cannot measure
  the uncertainty: a category with a single pair, or pairs that all moved alike (all concordant, or all
  helped): resampling them gives the same Δ every time, and a zero-width "interval" would claim certainty;
- per category, the exact McNemar test (a two-sided binomial test on the discordant pairs, ``statsmodels``),
  with Holm's step-down correction across the categories of one model (and, apart, across its two tracks)
  reported beside the raw p-values.

A track row (UEG, GEU, named "UEG (category mean)") follows the paper's track score, the mean of its
categories: its %, Δ, interval and test all describe that mean. Δ is the mean of the category Δs, the
bootstrap resamples within each category (stratified), and the test is the stratified sign-flip test of
that same mean (``stratified_sign_flip``: each discordant pair helped or hurt with probability 1/2 within
its category), which is McNemar's on the pooled pairs where every category has the same number of pairs
(the full benchmark, 100 each). Its 2x2 counts are the sums of its categories'. (A McNemar test on the
pooled pairs beside the mean of category Δs tested another comparison: a small category all helped and a
large one partly hurt gave a positive Δ and a p-value for "stepwise hurts".) The ``Total`` row is the
paper's Total (RealUnify: the mean of all ten categories, = 0.6·UEG + 0.4·GEU, not the mean of the two
track scores), read the same way (stratified over the ten categories), shown only where both track rows
have a score, as the table's Total; it is one test, its own Holm family. As in the table, a track with a category the dataset holds but this model has no pair in (every
instance left out) has no score: its row keeps the counts but shows no percentages, Δ, interval or test
("-"), where a mean of the other categories would pass for the track's.

Left out, and counted: an instance stored in one mode only (or whose other mode the model cannot run,
"not supported"), and an instance the judge left undecided in either mode (unparseable replies, or not
judged yet). A run on which the model itself failed scores 0, as in the table (``scoring.Outcome``).
"""

from __future__ import annotations

import csv
import json
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

from realunify_arena import durable
from realunify_arena.benchmark.schema import CATEGORIES, GEU_TASKS, UEG_TASKS
from realunify_arena.reporting import judged_runs
from realunify_arena.scoring import round_half_up
from realunify_arena.shown import markdown_text
from realunify_arena.spreadsheet import safe_row
from realunify_arena.trace import Status

ALPHA = 0.05  # family-wise error rate of Holm's correction, and 1 - the interval's confidence
ROUNDS = 2000  # bootstrap resamples
TRACKS = {"UEG": UEG_TASKS, "GEU": GEU_TASKS}
TOTAL = "Total"  # the row over all ten categories (the paper's Total column)
SCOPES = {**TRACKS, TOTAL: tuple(CATEGORIES)}  # a row's scope that is not one category -> its categories
HELPED, HURT = "helped", "hurt"  # stepwise right where direct was wrong / the reverse
CATEGORY_MEAN = "(category mean)"  # after a track's or Total's name: its Δ and test are over category means


@dataclass(frozen=True)
class Pair:
    """One instance scored in both modes (1 right, 0 wrong) with the runs behind the scores."""

    instance_uid: str
    task_type: str
    direct: int
    stepwise: int
    run_direct: int
    run_stepwise: int
    model: str  # the model card name (the label may add settings)
    seed: int | None

    @property
    def moved(self) -> str | None:
        """``"helped"``, ``"hurt"`` or None (concordant)."""
        return None if self.direct == self.stepwise else HELPED if self.stepwise else HURT


@dataclass
class PairedSet:
    """One model's paired instances on one dataset, UEG as one judge scored it."""

    dataset: str
    judge: str | None
    label: str  # the model as the table names it
    pairs: list[Pair] = field(default_factory=list)
    unpaired: Counter = field(default_factory=Counter)  # task_type -> instances stored in one mode only
    undecided: Counter = field(default_factory=Counter)  # task_type -> instances the judge left undecided
    # mode -> undecided UEG instances whose run in that mode this table's judge never judged (another judge may have)
    unjudged: Counter = field(default_factory=Counter)
    source: str | None = None  # where the dataset was loaded from, if the store knows
    expected: frozenset[str] = frozenset()  # task types the dataset's table holds (any model, any mode)

    def holds(self, task_type: str) -> bool:
        """The dataset holds ``task_type``: the table expects it, or this model ran it in some mode."""
        return (task_type in self.expected or any(p.task_type == task_type for p in self.pairs)
                or bool(self.unpaired[task_type] or self.undecided[task_type]))


@dataclass(frozen=True)
class Row:
    """One line of the analysis: a category (``scope`` = its task_type) or a track (``scope`` = UEG/GEU).

    Percentages are in percentage points (0-100); ``low``/``high`` bound Δ's 95% interval (None where
    ``paired_interval`` has none: a category with one pair, or every category's pairs alike); ``p`` tests
    that row's Δ (``test`` names how): a category's is the exact McNemar p-value, a track's or Total's, whose
    Δ is the mean of its categories' Δs, the stratified sign-flip test of that mean
    (``stratified_sign_flip``; both 1.0 without discordant pairs); ``p_holm`` is the Holm-adjusted one. The
    counts of a track or Total sum its categories'. A track row with a held category that has no pair has
    counts only (percentages, Δ, interval, p and test None).
    """

    scope: str
    name: str
    n: int
    both: int
    hurt: int
    helped: int
    neither: int
    direct: float | None
    stepwise: float | None
    delta: float | None
    low: float | None
    high: float | None
    p: float | None
    p_holm: float | None
    unpaired: int
    undecided: int
    test: str | None = None  # what ``p`` is: ``MCNEMAR`` for a category, ``STRATIFIED``/``SAMPLED`` else

    @property
    def significant(self) -> bool:
        """Survives Holm's correction at ``ALPHA``."""
        return self.p_holm is not None and self.p_holm < ALPHA


@dataclass
class Analysis:
    paired: PairedSet
    rows: list[Row]
    rounds: int = ROUNDS  # bootstrap resamples behind each row's interval

    @property
    def title(self) -> str:
        judge = f", UEG judged by {self.paired.judge}" if self.paired.judge else ""
        return f"{self.paired.label} on {self.paired.dataset}{judge}"


# -- statistics ----------------------------------------------------------------------------------


def mcnemar_exact(hurt: int, helped: int) -> float:
    """Exact (binomial) McNemar p-value, two-sided, from the two discordant counts; 1.0 when there are none.

    Source: McNemar (1947), exact form as in ``statsmodels.stats.contingency_tables.mcnemar(exact=True)``,
    which computes it: min(1, 2 · P[Binomial(hurt + helped, 1/2) <= min(hurt, helped)]).
    """
    from statsmodels.stats.contingency_tables import mcnemar

    if hurt < 0 or helped < 0:
        raise ValueError(f"discordant counts must be >= 0, got hurt={hurt}, helped={helped}")
    return float(mcnemar([[0, hurt], [helped, 0]], exact=True).pvalue)


EXACT_STATES = 200_000  # the most sums the exact stratified test enumerates before it samples instead
FLIPS = 100_000  # random sign flips behind a sampled stratified p-value
MCNEMAR = "exact McNemar"  # a category row's test (``Row.test``)
STRATIFIED = "exact stratified sign-flip"  # a track's or Total's test, enumerated
SAMPLED = f"stratified sign-flip, {FLIPS} random flips"  # ... sampled where enumerating would take too long


def stratified_sign_flip(strata: list[tuple[int, int, int]], *, seed: int = 0) -> tuple[float, str]:
    """Two-sided p-value of the mean over categories of each category's Δ, and the test's name.

    ``strata``: one ``(hurt, helped, n)`` per category (its discordant counts and its pairs, n >= 1). The
    statistic is the paper's track (or Total) Δ, the mean over categories of (helped − hurt) / n (RealUnify:
    a track's score is the mean of its categories' accuracies). Under "stepwise and direct are exchangeable"
    each discordant pair is helped or hurt with probability 1/2, independently; p is the probability of a
    statistic at least as far from 0 as the one observed (a randomisation test, Fisher 1935). With one
    category, or categories of equal n, it is the exact McNemar p on the pooled pairs
    (``mcnemar_exact``). Enumerated exactly (``STRATIFIED``) where at most ``EXACT_STATES`` sums are
    possible, else estimated from ``FLIPS`` random sign flips with a fixed ``seed`` (``SAMPLED``;
    (1 + hits) / (1 + FLIPS)). 1.0 without discordant pairs. Raises ValueError for a negative count or
    n < hurt + helped.
    """
    import math

    grouped: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # equal n weighs alike: one binomial
    for hurt, helped, n in strata:
        if min(hurt, helped) < 0 or n < max(1, hurt + helped):
            raise ValueError(f"stratum (hurt={hurt}, helped={helped}, n={n}): expected counts >= 0 and "
                             "n >= max(1, hurt + helped)")
        grouped[n][0] += hurt
        grouped[n][1] += helped
    groups = [(n, hurt, helped) for n, (hurt, helped) in grouped.items() if hurt + helped]
    if not groups:
        return 1.0, STRATIFIED
    if math.prod(hurt + helped + 1 for _, hurt, helped in groups) > EXACT_STATES:
        rng = np.random.default_rng(seed)
        flips = sum((2 * rng.binomial(hurt + helped, 0.5, FLIPS) - (hurt + helped)) / n for n, hurt, helped in groups)
        observed = abs(sum(Fraction(helped - hurt, n) for n, hurt, helped in groups))
        hits = int(np.count_nonzero(np.abs(flips) >= float(observed) - 1e-12))
        return (1 + hits) / (1 + FLIPS), SAMPLED
    scale = math.lcm(*(n for n, _, _ in groups))  # integer sums: ties with the observed one are exact
    ways = {0: 1}  # sum -> number of sign assignments giving it
    for n, hurt, helped in groups:
        d, w = hurt + helped, scale // n
        moves = [(w * (2 * h - d), math.comb(d, h)) for h in range(d + 1)]
        following: dict[int, int] = defaultdict(int)
        for total, count in ways.items():
            for move, many in moves:
                following[total + move] += count * many
        ways = following
    observed = abs(sum(scale // n * (helped - hurt) for n, hurt, helped in groups))
    return float(Fraction(sum(c for t, c in ways.items() if abs(t) >= observed), sum(ways.values()))), STRATIFIED


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values, each in [0, 1]; None stays None and is not counted in the family.

    Source: Holm (1979); the i-th smallest of m p-values becomes min(1, max over j <= i of (m - j + 1) p_(j)),
    as ``statsmodels.stats.multitest.multipletests(method="holm")`` computes it (the tests compare the two).
    Not that function itself: it runs a full ``gc.collect()`` on every call, which took seconds per Leaderboard
    refit in a process holding models (12 calls: 7 s on 2 shared cores)."""
    tested = np.array([p for p in pvalues if p is not None], dtype=float)
    if not tested.size:
        return list(pvalues)
    order = np.argsort(tested, kind="stable")
    steps = np.maximum.accumulate(tested[order] * np.arange(tested.size, 0, -1))
    adjusted_sorted = np.minimum(steps, 1.0)
    adjusted = np.empty_like(adjusted_sorted)
    adjusted[order] = adjusted_sorted
    values = iter(adjusted.tolist())
    return [None if p is None else next(values) for p in pvalues]


def paired_interval(strata: list[np.ndarray], *, rounds: int = ROUNDS, seed: int = 0,
                    confidence: float = 1 - ALPHA) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean over strata of each stratum's mean difference.

    ``strata``: one array per category of per-instance differences stepwise − direct (-1, 0 or 1), each
    pair resampled as one unit within its stratum (``scipy.stats.bootstrap``, independent resampling of
    each sample). Returned in the input's units (fractions; multiply by 100 for percentage points).

    None (no interval) where resampling cannot measure the uncertainty: a stratum of one pair (it resamples
    to itself, so its category's Δ would count as known exactly), or no stratum with differing pairs (every
    resample gives the point estimate: a zero-width interval from, say, 5 pairs that all helped). Raises
    ValueError for no strata or an empty one.
    """
    from scipy.stats import bootstrap

    if not strata or any(len(s) == 0 for s in strata):
        raise ValueError("paired_interval: expected one or more non-empty strata of differences")
    samples = [np.asarray(s, dtype=float) for s in strata]
    if any(len(s) < 2 for s in samples) or all(np.all(s == s[0]) for s in samples):
        return None
    k = len(samples)

    def statistic(*resampled, axis=-1):
        return sum(np.mean(s, axis=axis) for s in resampled) / k

    with warnings.catch_warnings():  # a stratum whose pairs all agree resamples to its own mean
        warnings.simplefilter("ignore")
        result = bootstrap(samples, statistic, n_resamples=rounds, confidence_level=confidence,
                           method="percentile", vectorized=True, random_state=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return float(low), float(high)


# -- collecting pairs from the store --------------------------------------------------------------


def paired_sets(store, *, dataset: str | None = None, judge: str | None = None,
                pinned: bool | None = None) -> list[PairedSet]:
    """Every model stored in both modes, per (dataset, UEG judge) as ``report`` groups its tables.

    A model with runs in one mode only has nothing to pair and is not listed. ``pinned=True``: only the runs
    of batch evaluations (``eval``, ``import-results``), as the Leaderboard's table reads them; a one-off
    Explore run (another seed) would otherwise add a system and rename the model by its settings.
    """
    out = []
    for name, judge_name, expected, label, instances in _by_system(store, dataset, judge, pinned):
        if not {"direct", "stepwise"} <= {m for per in instances.values() for m in per}:
            continue
        paired = PairedSet(name, judge_name, label, source=store.dataset_source(name), expected=expected)
        for uid, per in instances.items():
            _add(paired, uid, per)
        out.append(paired)
    return out


def one_mode_systems(store, *, dataset: str | None = None, judge: str | None = None,
                     pinned: bool | None = None) -> list[tuple[str, str, str]]:
    """(dataset, model label, its one mode) for every model ``paired_sets`` leaves out because it is stored in
    one mode only, so a report can say where it went."""
    out = []
    for name, _, _, label, instances in _by_system(store, dataset, judge, pinned):
        modes = {m for per in instances.values() for m in per}
        if len(modes) == 1 and (name, label, *modes) not in out:
            out.append((name, label, *modes))
    return out


def one_mode_list(systems: Iterable[tuple[str, str, str]], name: Callable[[str], str] = str) -> str:
    """``one_mode_systems``' entries as one phrase, ``"solo on set (direct only); ..."``; "" for none. ``name``
    writes each model label and dataset name (``shown.markdown_text`` in Markdown)."""
    return "; ".join(f"{name(label)} on {name(dataset)} ({mode} only)" for dataset, label, mode in systems)


def one_mode_note(systems: Iterable[tuple[str, str, str]]) -> str:
    """The note under the paired tables (``report --paired``, the Leaderboard), Markdown: ``"Not paired, stored
    in one mode only: solo on set (direct only)"``, each name as text (an imported dataset is named after its
    folder, which its publisher named); "" when every model is paired."""
    listed = one_mode_list(systems, markdown_text)
    return f"Not paired, stored in one mode only: {listed}" if listed else ""


def _by_system(store, dataset, judge, pinned):
    """(dataset, UEG judge, task types the table holds, model label, instance uid -> mode -> (run, Outcome))."""
    for name, judge_name, scored in judged_runs(store, dataset=dataset, judge=judge, pinned=pinned):
        by_label: dict[str, dict[str, dict[str, tuple[dict, object]]]] = defaultdict(lambda: defaultdict(dict))
        for run, outcome in scored:
            by_label[outcome.model][run["instance_uid"]][outcome.mode] = (run, outcome)
        expected = frozenset(outcome.task_type for _, outcome in scored)
        for label, instances in by_label.items():
            yield name, judge_name, expected, label, instances


def _add(paired: PairedSet, uid: str, per: dict[str, tuple[dict, object]]) -> None:
    task_type = next(iter(per.values()))[0]["task_type"]
    usable = {m: v for m, v in per.items() if v[1].status is not Status.NOT_SUPPORTED}
    if set(usable) != {"direct", "stepwise"}:
        paired.unpaired[task_type] += 1
        return
    scores = {m: 0 if o.status is Status.ERROR else o.score for m, (_, o) in usable.items()}
    if any(s is None for s in scores.values()):
        paired.undecided[task_type] += 1
        for mode, (run, outcome) in usable.items():
            if run["track"] == "UEG" and scores[mode] is None and not outcome.judge_errors \
                    and not outcome.questions_total:
                paired.unjudged[mode] += 1
        return
    run_d, run_s = usable["direct"][0], usable["stepwise"][0]
    paired.pairs.append(Pair(uid, task_type, int(scores["direct"]), int(scores["stepwise"]), run_d["id"],
                             run_s["id"], run_d["model"], run_d["seed"]))


# -- the analysis ---------------------------------------------------------------------------------


def analyse(paired: PairedSet, *, rounds: int = ROUNDS, seed: int = 0) -> Analysis:
    """Rows for every category with pairs or left-out instances (paper order), then each track that has
    pairs, then ``Total`` where both tracks have a score. The bootstrap seed is fixed, so the same store
    gives the same intervals."""
    by_task: dict[str, list[Pair]] = defaultdict(list)
    for p in paired.pairs:
        by_task[p.task_type].append(p)
    categories = [t for t in CATEGORIES if by_task[t] or paired.unpaired[t] or paired.undecided[t]]
    rows = [_row(t, CATEGORIES[t].abbreviation, {t: by_task[t]}, paired, rounds, seed) for t in categories]
    tracks = [_row(track, f"{track} {CATEGORY_MEAN}", {t: by_task[t] for t in tasks if by_task[t]}, paired, rounds, seed,
                   left_out_of=tasks, scored=all(by_task[t] for t in tasks if paired.holds(t)))
              for track, tasks in TRACKS.items() if any(by_task[t] for t in tasks)]
    total = []
    if len(tracks) == len(TRACKS) and all(r.delta is not None for r in tracks):
        total = [_row(TOTAL, f"{TOTAL} {CATEGORY_MEAN}", {t: by_task[t] for t in CATEGORIES if by_task[t]}, paired, rounds, seed,
                      left_out_of=CATEGORIES)]
    return Analysis(paired, _with_holm(rows) + _with_holm(tracks) + _with_holm(total), rounds)


def analyses_from_store(store, *, dataset: str | None = None, judge: str | None = None,
                        rounds: int = ROUNDS, seed: int = 0, pinned: bool | None = None) -> list[Analysis]:
    """``analyse`` of every ``paired_sets`` entry (``pinned`` as there)."""
    return [analyse(p, rounds=rounds, seed=seed)
            for p in paired_sets(store, dataset=dataset, judge=judge, pinned=pinned)]


def _row(scope: str, name: str, strata: dict[str, list[Pair]], paired: PairedSet, rounds: int, seed: int,
         left_out_of: Iterable[str] | None = None, scored: bool = True) -> Row:
    pairs = [p for ps in strata.values() for p in ps]
    tally = Counter((p.direct, p.stepwise) for p in pairs)
    both, hurt, helped, neither = tally[(1, 1)], tally[(1, 0)], tally[(0, 1)], tally[(0, 0)]
    covered = list(left_out_of or strata)
    left = {"unpaired": sum(paired.unpaired[t] for t in covered),
            "undecided": sum(paired.undecided[t] for t in covered)}
    if not pairs or not scored:  # nothing paired, or a track missing a category: counts only
        return Row(scope, name, len(pairs), both, hurt, helped, neither, None, None, None, None, None, None, None,
                   **left)
    live = [ps for ps in strata.values() if ps]
    # Exact fractions, as the table keeps them: a float mean can land just under a half (39.25 as
    # 39.24999...) and print rounded down where the table rounds it up.
    direct = 100 * sum((Fraction(sum(p.direct for p in ps), len(ps)) for ps in live), Fraction(0)) / len(live)
    stepwise = 100 * sum((Fraction(sum(p.stepwise for p in ps), len(ps)) for ps in live), Fraction(0)) / len(live)
    interval = paired_interval([np.array([p.stepwise - p.direct for p in ps]) for ps in live],
                               rounds=rounds, seed=seed)
    low, high = (None, None) if interval is None else (100 * interval[0], 100 * interval[1])
    if scope in CATEGORIES:
        p, test = mcnemar_exact(hurt, helped), MCNEMAR
    else:  # the test of the Δ shown: the mean of the category Δs, not the pooled pairs' difference
        p, test = stratified_sign_flip([(sum(x.moved == HURT for x in ps), sum(x.moved == HELPED for x in ps),
                                         len(ps)) for ps in live], seed=seed)
    return Row(scope, name, len(pairs), both, hurt, helped, neither, float(direct), float(stepwise),
               float(stepwise - direct), low, high, p, None, **left, test=test)


def _with_holm(rows: list[Row]) -> list[Row]:
    adjusted = holm([r.p for r in rows])
    return [Row(**{**asdict(r), "p_holm": a}) for r, a in zip(rows, adjusted)]


# -- discordant instances and links ---------------------------------------------------------------


def discordant(paired: PairedSet, task_type: str, which: str) -> list[Pair]:
    """The instances of one category (or track, "UEG"/"GEU", or "Total") where stepwise ``"helped"`` or
    ``"hurt"``."""
    if which not in (HELPED, HURT):
        raise ValueError(f"which={which!r}: expected {HELPED!r} or {HURT!r}")
    tasks = SCOPES.get(task_type, (task_type,))
    return [p for p in paired.pairs if p.task_type in tasks and p.moved == which]


def explore_link(pair: Pair, source: str | None = None) -> str:
    """A relative app link that opens the instance in Explore with the model and seed of its runs:
    ``?tab=explore&data=<source>&instance=<uid>&model=<card>&seed=<seed>`` (data left out when unknown)."""
    params = {"tab": "explore", **({"data": source} if source else {}), "instance": pair.instance_uid,
              "model": pair.model, **({"seed": pair.seed} if pair.seed is not None else {})}
    return "?" + urlencode(params)


# -- rendering -----------------------------------------------------------------------------------

HEADER = ["Scope", "n", "both right", "direct only (hurt)", "stepwise only (helped)", "both wrong", "direct %",
          "stepwise %", "Δ pp", "95% interval", "p", "Holm p", "left out: unpaired / undecided"]


def _pp(x: float | None, signed: bool = False) -> str:
    """Percentage points to one decimal, halves up as the paper rounds; "+" on a positive difference."""
    if x is None:
        return "-"
    text = str(round_half_up(Decimal(repr(x))))
    if text == "-0.0":
        text = "0.0"
    return "+" + text if signed and not text.startswith("-") and text != "0.0" else text


def p_text(x: float | None) -> str:
    """A p-value as a paper prints it: three decimals, halves up as every other figure (0.0625 -> "0.063",
    1 -> "1.000"), "<0.001" below 0.001; "-" where there is no test. The exact value is in the CSV/JSON."""
    if x is None:
        return "-"
    if x < 0.001:
        return "<0.001"
    return str(round_half_up(Fraction(x), 3))


def row_cells(row: Row) -> list[str]:
    """The printed values of one row, in ``HEADER`` order (a significant Holm p is marked with *)."""
    interval = "-" if row.low is None else f"[{_pp(row.low, True)}, {_pp(row.high, True)}]"
    holm_p = p_text(row.p_holm) + (" *" if row.significant else "")
    return [row.name, str(row.n), str(row.both), str(row.hurt), str(row.helped), str(row.neither), _pp(row.direct),
            _pp(row.stepwise), _pp(row.delta, True), interval, p_text(row.p), holm_p,
            f"{row.unpaired} / {row.undecided}"]


def markdown(analysis: Analysis) -> str:
    sampled = (f", estimated from {FLIPS} random flips where enumerating every one would take too long"
               if any(r.test == SAMPLED for r in analysis.rows) else "")
    lines = [f"### Paired: {markdown_text(analysis.title)}", "",
             "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row_cells(r)) + " |" for r in analysis.rows]
    lines += ["", f"Δ = stepwise − direct over instances scored in both modes (n pairs); {interval_label(analysis.rounds)},"
                  f" \"-\" where resampling cannot vary (a category with one pair, or pairs that all moved alike); "
                  f"p: a category's is the exact McNemar test (two-sided binomial on the discordant pairs); Holm p "
                  f"adjusts across the categories (and, apart, the tracks; Total alone); * = below {ALPHA} after "
                  f"Holm. A track's (category mean) %, Δ, interval and p are all of the mean over its categories (the"
                  f" paper's track score), Total's of the mean over all ten (= 0.6·UEG + 0.4·GEU): p is the "
                  f"stratified sign-flip test of that mean (each discordant pair's sign flipped with probability ½ "
                  f"within its category; McNemar's on the pooled pairs when the categories are of equal size)"
                  f"{sampled}; its counts are the sums of its categories'. A track with a category left wholly out "
                  f"has no score (\"-\"), as in the table."]
    if analysis.paired.unjudged:
        lines += ["", unjudged_note(analysis.paired)]
    return "\n".join(lines) + "\n"


def unjudged_note(paired: PairedSet) -> str:
    """Why instances of ``paired`` were left out as undecided although a run may have verdicts: its run in one
    mode has none from this table's judge (only another judge's, or none yet), e.g. "3 instances have a stepwise
    run judge-A never judged"; a table pairs one judge's verdicts on both modes, never two judges'."""
    who = markdown_text(paired.judge) if paired.judge else "no judge"  # Markdown: a judge name as text
    counted = "; ".join(f"{n} instance{'s have' if n != 1 else ' has'} a {mode} run {who} never judged"
                        for mode, n in sorted(paired.unjudged.items()))
    return (f"Left out as undecided: {counted}. A table pairs one judge's verdicts on both modes (two judges' "
            f"would make Δ partly a difference between judges): judge those runs with {who} to pair them.")


def interval_label(rounds: int = ROUNDS) -> str:
    """What ``low``/``high`` are: level and method, as a table's footnote or an export names them."""
    return f"{1 - ALPHA:.0%} paired percentile bootstrap interval ({rounds} resamples)"


def records(analysis: Analysis) -> list[dict]:
    """Flat rows: ``asdict(Row)`` with the dataset, judge, model, ``significant`` and ``interval`` (the level
    and method of ``low``/``high``, ``interval_label``)."""
    p = analysis.paired
    return [{"dataset": p.dataset, "judge": p.judge, "model": p.label, **asdict(r),
             "significant": r.significant, "interval": interval_label(analysis.rounds)} for r in analysis.rows]


TEXT_FIELDS = ("dataset", "judge", "model")  # the names in a CSV row (``spreadsheet.safe_row``)


def write_csv(analyses: Iterable[Analysis], path: Path) -> Path:
    """``records`` of ``analyses`` as CSV at ``path``; a name that starts like a spreadsheet formula (or reads as
    a value, ``spreadsheet.spreadsheet_safe``) is written as text (``spreadsheet.safe_row``), as ``write_json``
    keeps it exactly."""
    rows = [r for a in analyses for r in records(a)]
    with durable.open_text(path) as f:  # replaces the previous file only once written whole
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)) or ["model"])
        writer.writeheader()
        writer.writerows(safe_row(r, TEXT_FIELDS) for r in rows)
    return path


def write_json(analyses: Iterable[Analysis], path: Path) -> Path:
    """Each analysis with its rows and, per category, the discordant instances with their runs and an Explore
    ``link`` (None where the store does not know where the dataset was loaded from: a link without its source
    opens another dataset's instance of the same uid)."""
    payload = []
    for a in analyses:
        p = a.paired
        source = "bundled" if p.dataset == "bundled" else p.source
        moved = {CATEGORIES[t].abbreviation: {which: [{"instance_uid": x.instance_uid, "run_direct": x.run_direct,
                                             "run_stepwise": x.run_stepwise,
                                             "link": explore_link(x, source) if source else None}
                                            for x in discordant(p, t, which)] for which in (HELPED, HURT)}
                 for t in CATEGORIES if any(x.task_type == t for x in p.pairs)}
        payload.append({"dataset": p.dataset, "judge": p.judge, "model": p.label, "source": p.source,
                        "interval": interval_label(a.rounds),
                        "rows": [{**asdict(r), "significant": r.significant} for r in a.rows],
                        "discordant": moved})
    durable.write_text(path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return path


def plotted(analyses: list[Analysis]) -> list[Analysis]:
    """The analyses ``forest_plot`` draws a panel for: those with a Δ in at least one row (a row without one has
    no dot); [] when there is nothing to plot."""
    return [a for a in analyses if any(r.delta is not None for r in a.rows)]


def forest_plot(analyses: list[Analysis], path: Path | None = None):
    """Δ (pp) with its 95% interval per category and track, one panel per model (and dataset/judge).

    Filled dots survive Holm's correction; hollow grey ones do not. Names are drawn as written (matplotlib's
    mathtext is off for them: a dataset folder named ``a$\\frac$b`` raised a parse error and ``a$x$b`` drew
    math). Returns the matplotlib figure, also saved to ``path`` (PNG, SVG, PDF) when given.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = plotted(analyses)
    heights = [max(sum(1 for r in a.rows if r.delta is not None), 1) for a in panels] or [1]
    fig, axes = plt.subplots(len(heights), 1, figsize=(8, 0.32 * sum(heights) + 1.3 * len(heights) + 0.4),
                             squeeze=False, gridspec_kw={"height_ratios": heights})
    if not panels:
        axes[0, 0].set_axis_off()
        axes[0, 0].set_title("No model stored in both modes yet")
    for ax, a in zip(axes[:, 0], panels):
        rows = [r for r in a.rows if r.delta is not None][::-1]  # a row with no Δ has no dot
        for y, r in enumerate(rows):
            colour = "#4f46e5" if r.significant else "#9ca3af"
            if r.low is not None:  # no interval: the dot alone
                ax.hlines(y, r.low, r.high, color=colour, linewidth=2)
            ax.plot(r.delta, y, "o", color=colour, markerfacecolor=colour if r.significant else "white")
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(rows)), [f"{r.name} (n={r.n})" for r in rows])
        ax.set_xlim(-100, 100)
        ax.set_title(a.title, fontsize="medium", parse_math=False)  # a "$" in a dataset's name is text
    axes[-1, 0].set_xlabel("Δ stepwise − direct (pp), 95% paired bootstrap interval; filled: significant after Holm")
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return fig


# -- choosing and listing discordant instances (the Leaderboard's section; also usable from code) ----------


def app_source(sources: Iterable[str], dataset: str, location: str | None = None) -> str | None:
    """The app's data source that holds ``dataset`` (by name, or by the folder ``eval`` loaded it from)."""
    for s in sources:
        if s == dataset or Path(s).name == dataset or Path(s).stem == dataset:
            return s
        if location and s != "bundled" and Path(s).resolve() == Path(location):
            return s
    return None


def category_key(paired: PairedSet, scope: str) -> str:
    """A text key naming one model's category (or track) in one table: what the UI's chooser returns."""
    return json.dumps([paired.dataset, paired.judge, paired.label, scope])


def discordant_choices(analyses: Iterable[Analysis]) -> list[tuple[str, str]]:
    """(label, key) for every category or track with discordant pairs, in table order."""
    analyses = list(analyses)
    several = len({(a.paired.dataset, a.paired.judge) for a in analyses}) > 1
    out = []
    for a in analyses:
        where = f" [{a.paired.dataset}, judge {a.paired.judge}]" if several else ""
        out += [(f"{a.paired.label} · {r.scope if r.scope in SCOPES else r.name}: {r.helped} helped, {r.hurt} hurt"
                 f"{where}",
                 category_key(a.paired, r.scope)) for r in a.rows if r.helped + r.hurt]
    return out


def discordant_markdown(store, key: str, which: str, sources: Iterable[str] = (), *,
                        pinned: bool | None = None, shown: Callable[[str], str] | None = None) -> str:
    """The instances of the category ``key`` names where stepwise ``which`` ("helped"/"hurt"), each with a
    link that opens it in Explore; a key that names nothing stored says so. ``pinned`` as the analyses that
    gave the key were made (``paired_sets``); ``shown`` turns the configured source a link names into what
    the link may say (the app: its public name, never the server's path). Where none of ``sources`` holds the
    dataset, the instances are listed without links and the text says why: instance uids repeat across
    datasets (``UEG_1_world_knowledge`` is in every set), so a link without its source opened the app's first
    source's instance of that uid, another prompt."""
    try:
        dataset, judge, label, scope = json.loads(key)
    except (TypeError, ValueError):
        return "*Choose a model and category with discordant instances.*"
    if scope not in SCOPES and scope not in CATEGORIES:
        return "*Choose a model and category with discordant instances.*"
    match = [p for p in paired_sets(store, dataset=dataset, judge=judge, pinned=pinned)
             if p.label == label and p.judge == judge]
    if not match:
        return f"*{markdown_text(label)} has no paired runs on {markdown_text(dataset)} any more.*"
    paired = match[0]
    pairs = discordant(paired, scope, which)
    name = scope if scope in SCOPES else CATEGORIES[scope].abbreviation
    verb = "right only stepwise" if which == HELPED else "right only direct"
    shown_label = markdown_text(label)  # a name from outside (an imported dataset's folder): text, never markup
    if not pairs:
        return f"*{shown_label}, {name}: no instance was {verb}.*"
    source = app_source(sources, paired.dataset, paired.source)
    if source is not None and shown is not None:
        source = shown(source)
    lines = [f"**{shown_label}, {name}: {len(pairs)} instance{'s' if len(pairs) != 1 else ''} {verb}** "
             f"(stepwise {which})", ""]
    if source is None:  # a link without its source opens the app's first source's instance of the same uid
        lines += [f"*This app does not serve dataset `{paired.dataset.replace('`', '')}`, so these instances have no "
                  "Explore link (the app's sources number their instances alike: a link would open another "
                  "dataset's instance); start the app with `--data` naming where it is.*", ""]
    lines += [f"- {f'[{p.instance_uid}]({explore_link(p, source)})' if source else f'`{p.instance_uid}`'} — direct "
              f"run #{p.run_direct} {'right' if p.direct else 'wrong'}, stepwise run #{p.run_stepwise} "
              f"{'right' if p.stepwise else 'wrong'}" for p in pairs]
    return "\n".join(lines)
