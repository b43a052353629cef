"""The paired analysis and judge agreement measured against references this project did not write.

- McNemar's exact test: ``scipy.stats.binomtest`` (two-sided, p = 1/2) on the discordant pairs, and
  ``statsmodels.stats.contingency_tables.mcnemar(exact=True)``; printed as a paper prints p (three decimals,
  halves up as the project prints every figure, "<0.001" below).
- The overall row: RealUnify's Total is the mean of all ten categories (= 0.6·UEG + 0.4·GEU, not the mean
  of the two track scores); the expected Δ is worked by hand from the 2x2 counts below.
- Cohen's κ = (p_o − p_e) / (1 − p_e) (Cohen 1960), worked by hand here (scikit-learn is not installed);
  undefined where p_e = 1.
"""

from __future__ import annotations

import csv
import json
from fractions import Fraction

import pytest
from PIL import Image
from scipy.stats import binomtest
from statsmodels.stats.contingency_tables import mcnemar

from realunify_arena import agreement, paired
from realunify_arena.benchmark.schema import CATEGORIES, GEU_TASKS, UEG_TASKS, PollingQuestion
from realunify_arena.judge import polling_judgment
from realunify_arena.store import Store
from realunify_arena.trace import Step, StepRole, Trace


def make_pairs(task: str, both: int, hurt: int, helped: int, neither: int, start: int = 0) -> list[paired.Pair]:
    kinds = [(1, 1)] * both + [(1, 0)] * hurt + [(0, 1)] * helped + [(0, 0)] * neither
    return [paired.Pair(f"{task}-{start + i}", task, d, s, 2 * (start + i), 2 * (start + i) + 1, "m", 0)
            for i, (d, s) in enumerate(kinds)]


def cell(row: paired.Row, column: str) -> str:
    return paired.row_cells(row)[paired.HEADER.index(column)]


# -- McNemar p against scipy / statsmodels, printed as a paper prints it --------------------------------


@pytest.mark.parametrize(("hurt", "helped", "printed"), [
    (0, 0, "1.000"),  # no discordant pair: no evidence
    (0, 1, "1.000"),  # n = 1
    (0, 4, "0.125"),  # 2 / 16
    (0, 5, "0.063"),  # 2 / 32 = 0.0625: half up (Python's "%.3f" gives 0.062)
    (0, 6, "0.031"),  # 2 / 64 = 0.03125
    (1, 9, "0.021"),  # 22 / 1024 = 0.021484375
    (3, 9, "0.146"),
    (0, 20, "<0.001"),  # all discordant one way
    (30, 2, "<0.001"),
    (7, 7, "1.000"),
])
def test_mcnemar_p_matches_scipy_and_prints_with_three_decimals(hurt, helped, printed):
    """Before: p printed with ``%.3g`` ("1", "0.0625", "0.125", "1.9e-06"): the decimals changed row to row,
    and 0.0625 kept four."""
    reference = binomtest(helped, hurt + helped, 0.5).pvalue if hurt + helped else 1.0
    assert paired.mcnemar_exact(hurt, helped) == pytest.approx(reference, rel=1e-12)
    assert mcnemar([[0, hurt], [helped, 0]], exact=True).pvalue == pytest.approx(reference, rel=1e-12)
    ps = paired.PairedSet("set", "judge", "m")
    ps.pairs = make_pairs("world_knowledge", 2, hurt, helped, 1)
    (row, _track) = paired.analyse(ps, rounds=50).rows
    assert cell(row, "p") == printed
    assert cell(row, "Holm p").removesuffix(" *") == printed  # a family of one category: Holm p = p
    assert row.p == pytest.approx(reference, rel=1e-12)  # the exports keep the exact value


# -- the overall row: the paper's Total -----------------------------------------------------------------

# category -> (both right, hurt, helped, both wrong); unequal sizes so that the three readings differ
PLAN = {
    "world_knowledge": (3, 1, 6, 2), "commonsense_reasoning": (5, 0, 1, 4), "mathematical_reasoning": (2, 2, 2, 2),
    "logical_reasoning": (1, 0, 3, 6), "scientific_reasoning": (4, 3, 0, 1), "code_to_image": (0, 1, 5, 2),
    "mental_reconstruction": (2, 0, 2, 2), "mental_tracking": (3, 4, 1, 2), "attentional_focusing": (6, 0, 0, 2),
    "cognitive_navigation": (1, 1, 3, 5),
}


def sign_flip_reference(plan) -> float:
    """The stratified sign-flip p by its definition, over every combination of helped counts: category k's
    helped count h is Binomial(discordant_k, 1/2) when stepwise and direct are exchangeable, the statistic is
    the mean over categories of (helped - hurt) / n, and p is the chance of one at least as far from 0."""
    import math

    import numpy as np

    cats = [(hurt + helped, helped - hurt, both + hurt + helped + neither) for both, hurt, helped, neither in plan]
    grids = np.meshgrid(*[np.arange(d + 1) for d, _, _ in cats], indexing="ij")
    stat = sum((2 * h - d) / n for h, (d, _, n) in zip(grids, cats))
    weight = np.prod([np.array([math.comb(d, i) for i in range(d + 1)], dtype=float)[h] / 2 ** d
                      for h, (d, _, _) in zip(grids, cats)], axis=0)
    observed = abs(sum(diff / n for _, diff, n in cats))
    return float(weight[np.abs(stat) >= observed - 1e-9].sum())


def planned_set() -> paired.PairedSet:
    ps = paired.PairedSet("set", "judge", "m")
    for k, (task, counts) in enumerate(PLAN.items()):
        ps.pairs += make_pairs(task, *counts, start=100 * k)
    return ps


def test_total_row_is_the_mean_of_all_ten_categories_as_the_papers_total():
    """Before: the paired analysis had category and track rows but no overall one, so the headline
    Δ (the table's Total) had no interval or test. RealUnify's Total = mean of all ten categories =
    0.6·UEG + 0.4·GEU; here that differs from both the pooled Δ and the mean of the two tracks."""
    assert set(PLAN) == set(CATEGORIES)
    deltas = {t: Fraction(helped - hurt, sum(c)) for t, c in PLAN.items() for (_, hurt, helped, _) in [c]}
    ueg = sum(deltas[t] for t in UEG_TASKS) / 6
    geu = sum(deltas[t] for t in GEU_TASKS) / 4
    total = sum(deltas.values()) / 10
    assert total == Fraction(6, 10) * ueg + Fraction(4, 10) * geu
    pooled = Fraction(sum(c[2] - c[1] for c in PLAN.values()), sum(sum(c) for c in PLAN.values()))
    assert total != pooled and total != (ueg + geu) / 2  # the plan tells the readings apart

    analysis = paired.analyse(planned_set(), rounds=300)
    rows = {r.scope: r for r in analysis.rows}
    assert list(rows)[-3:] == ["UEG", "GEU", paired.TOTAL]
    row = rows[paired.TOTAL]
    assert row.delta == pytest.approx(float(100 * total), abs=1e-9)
    assert row.direct == pytest.approx(float(100 * sum(Fraction(c[0] + c[1], sum(c)) for c in PLAN.values()) / 10))
    hurt, helped = sum(c[1] for c in PLAN.values()), sum(c[2] for c in PLAN.values())
    assert (row.n, row.hurt, row.helped) == (sum(sum(c) for c in PLAN.values()), hurt, helped)
    assert row.p == pytest.approx(float(sign_flip_reference(PLAN.values())), rel=1e-12)  # the Δ's own test
    assert row.test == paired.STRATIFIED
    assert row.p_holm == row.p  # one test, its own family: the tracks' Holm p are as before
    assert rows["UEG"].p_holm == pytest.approx(min(1, 2 * min(rows["UEG"].p, rows["GEU"].p)))
    assert row.low is not None and row.low < row.delta < row.high
    assert cell(row, "Scope") == "Total (category mean)"
    text = paired.markdown(analysis)
    assert "| Total (category mean) |" in text and "0.6·UEG + 0.4·GEU" in text
    assert "mean over its categories" in text and "stratified sign-flip" in text  # the footnote says what a track is


def test_a_tracks_p_tests_its_own_delta_the_mean_of_the_category_deltas():
    """Before: the track row's Δ was the mean of the category Δs but its p was McNemar's on the pooled pairs,
    another comparison. WK: 2 pairs, both helped (Δ +100); CR: 20 pairs, 5 hurt (Δ -25): the track's Δ is
    +37.5 while the pooled pairs are 2 helped, 5 hurt. The p must be that of Δ = +37.5: by its definition,
    every one of the 2^7 ways to flip the discordant pairs' signs, counted with exact fractions."""
    import itertools

    plan = {"world_knowledge": (0, 0, 2, 0), "commonsense_reasoning": (5, 5, 0, 10)}
    ps = paired.PairedSet("set", "judge", "m")
    for k, (task, counts) in enumerate(plan.items()):
        ps.pairs += make_pairs(task, *counts, start=100 * k)
    track = {r.scope: r for r in paired.analyse(ps, rounds=200).rows}["UEG"]
    moved = [(task, sum(c)) for task, c in plan.items() for _ in range(c[1] + c[2])]  # (category, n) per pair
    observed = Fraction(2, 2) / 2 + Fraction(-5, 20) / 2
    hits = sum(abs(sum(Fraction(sign, n) for sign, (_, n) in zip(signs, moved)) / 2) >= abs(observed)
               for signs in itertools.product((1, -1), repeat=len(moved)))
    assert track.delta == pytest.approx(float(100 * observed)) and track.delta > 0
    assert (track.hurt, track.helped) == (5, 2)
    assert track.p == pytest.approx(hits / 2 ** len(moved), rel=1e-12)
    assert track.p == pytest.approx(sign_flip_reference(plan.values()), rel=1e-12)
    assert track.p != pytest.approx(mcnemar([[0, 5], [2, 0]], exact=True).pvalue)  # the old, pooled test
    assert (track.test, track.name) == (paired.STRATIFIED, "UEG (category mean)")


def test_stratified_test_is_mcnemar_on_the_pooled_pairs_when_categories_are_of_equal_size():
    """Equal n: the mean of the category Δs is the pooled Δ, so its test is the pooled exact McNemar."""
    for strata in ([(1, 6, 12), (3, 0, 12)], [(0, 4, 10), (2, 2, 10), (0, 3, 10)], [(7, 7, 20), (0, 0, 20)]):
        hurt, helped = sum(s[0] for s in strata), sum(s[1] for s in strata)
        p, test = paired.stratified_sign_flip(strata)
        assert p == pytest.approx(mcnemar([[0, hurt], [helped, 0]], exact=True).pvalue, rel=1e-12), strata
        assert test == paired.STRATIFIED
    assert paired.stratified_sign_flip([(0, 0, 5), (0, 0, 3)]) == (1.0, paired.STRATIFIED)
    with pytest.raises(ValueError, match="n >= max"):
        paired.stratified_sign_flip([(3, 4, 5)])


def test_stratified_test_samples_where_enumerating_is_too_long_and_lands_near_the_exact_p():
    """61^3 > EXACT_STATES combinations of helped counts: sampled from 100000 random flips, whose standard
    error is below 0.0016; the exact p by definition is within 0.007 (over 4 standard errors)."""
    plan = [(10, 25, 35, 30), (12, 30, 30, 27), (20, 28, 32, 18)]  # n = 100, 99, 98
    strata = [(hurt, helped, sum(c)) for c in plan for (_, hurt, helped, _) in [c]]
    p, test = paired.stratified_sign_flip(strata)
    assert test == paired.SAMPLED and 0 < p <= 1
    assert p == pytest.approx(sign_flip_reference(plan), abs=0.007)


def test_no_total_where_a_track_has_no_score():
    ps = planned_set()  # every GEU instance of one category left undecided: GEU has no score, nor has Total
    ps.pairs = [p for p in ps.pairs if p.task_type != "mental_tracking"]
    ps.undecided["mental_tracking"] = 10
    scopes = [r.scope for r in paired.analyse(ps, rounds=50).rows]
    assert "GEU" in scopes and paired.TOTAL not in scopes
    ueg_only = paired.PairedSet("set", "judge", "m")  # a UEG-only set: no Total, as the table has none
    ueg_only.pairs = make_pairs("world_knowledge", 1, 1, 3, 1)
    assert paired.TOTAL not in [r.scope for r in paired.analyse(ueg_only, rounds=50).rows]


QUESTIONS = [PollingQuestion("Is there a cat?", "yes"), PollingQuestion("Is it red?", "no")]


def store_run(store: Store, uid: str, mode: str) -> int:
    if uid.startswith("UEG"):
        steps = [Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("RGB", (4, 4), "blue"))]
    else:
        steps = [Step(StepRole.ANSWER, "p", text="A")]
    return store.save_trace(Trace(uid, "m", mode, {"seed": 1}, steps), "set")


def test_total_lists_its_discordant_instances_from_a_store(tmp_path):
    """One UEG and one GEU category, each with one instance stepwise helped: Total lists both."""
    store = Store.open(tmp_path / "arena.db")
    for uid, direct, stepwise in (("UEG_1_world_knowledge", 0, 1), ("UEG_2_world_knowledge", 1, 1),
                                  ("GEU_1_mental_tracking", 0, 1), ("GEU_2_mental_tracking", 0, 0)):
        for mode, score in (("direct", direct), ("stepwise", stepwise)):
            run_id = store_run(store, uid, mode)
            if uid.startswith("UEG"):
                replies = [["yes"], ["no"]] if score else [["no"], ["no"]]
                store.save_judgment(run_id, "judge-x", polling_judgment(QUESTIONS, replies, "judge-x").to_dict())
            else:
                store.save_judgment(run_id, "answer-parser", {"kind": "mcq", "score": score,
                                                              "details": {"strict_score": score}, "errors": 0})
    (analysis,) = paired.analyses_from_store(store, rounds=50)
    total = analysis.rows[-1]
    assert (total.scope, total.n, total.helped, total.hurt) == (paired.TOTAL, 4, 2, 0)
    assert total.delta == pytest.approx(100 * (Fraction(1, 2) + Fraction(1, 2)) / 2)
    key = paired.category_key(analysis.paired, paired.TOTAL)
    assert key in [k for _, k in paired.discordant_choices([analysis])]
    text = paired.discordant_markdown(store, key, paired.HELPED, ["set"])
    assert "UEG_1_world_knowledge" in text and "GEU_1_mental_tracking" in text and "2 instances" in text
    bogus = paired.category_key(analysis.paired, "no_such_scope")
    assert paired.discordant_markdown(store, bogus, paired.HELPED).startswith("*Choose")
    store.close()


def test_exports_name_the_intervals_level_and_method(tmp_path):
    """Before: paired.csv/json had ``low``/``high`` with nothing saying they bound a 95% percentile
    bootstrap interval, or of how many resamples."""
    analysis = paired.analyse(planned_set(), rounds=300)
    with paired.write_csv([analysis], tmp_path / "p.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["interval"] for r in rows} == {"95% paired percentile bootstrap interval (300 resamples)"}
    (payload,) = json.loads(paired.write_json([analysis], tmp_path / "p.json").read_text())
    assert payload["interval"] == "95% paired percentile bootstrap interval (300 resamples)"


# -- Cohen's κ by hand --------------------------------------------------------------------------------


def kappa_by_hand(pairs: list[tuple[str, str]]) -> Fraction | None:
    n = len(pairs)
    p_o = Fraction(sum(a == b for a, b in pairs), n)
    labels = {x for pair in pairs for x in pair}
    p_e = sum(Fraction(sum(a == v for a, _ in pairs), n) * Fraction(sum(b == v for _, b in pairs), n)
              for v in labels)
    return None if p_e == 1 else (p_o - p_e) / (1 - p_e)


def kappa_cell(pairs: list[tuple[str, str]]) -> str:
    row = agreement.PairAgreement("a", "b", agreement.ALL, *agreement.agreement_of(pairs, agreement.VERDICTS),
                                  0, None, None)
    md = agreement.markdown(agreement.Comparison("set", ["a", "b"], [row]))
    (line,) = [x for x in md.splitlines() if x.startswith("| a | b |")]
    return [c.strip() for c in line.strip("|").split("|")][5]


def test_kappa_prints_halves_up_like_every_other_figure():
    """[[13, 3], [3, 13]]: p_o = 26/32, p_e = 1/2, κ = 0.625 exactly -> "0.63" (before: "%.2f", 0.62)."""
    pairs = [("yes", "yes")] * 13 + [("yes", "no")] * 3 + [("no", "yes")] * 3 + [("no", "no")] * 13
    assert kappa_by_hand(pairs) == Fraction(5, 8)
    assert agreement.agreement_of(pairs, agreement.VERDICTS)[2] == pytest.approx(0.625)
    assert kappa_cell(pairs) == "0.63"
    negative = [("yes", "no")] * 3 + [("no", "yes")] * 3 + [("yes", "yes")] * 2 + [("no", "no")] * 2
    assert kappa_by_hand(negative) == Fraction(-1, 5) and kappa_cell(negative) == "-0.20"


def test_undefined_kappa_says_so_and_differs_from_no_items():
    """Both judges said "yes" to all 6 questions: p_e = 1, κ undefined (scikit-learn's cohen_kappa_score
    gives nan). Before: "-", the same as a row with no items, and nothing said why."""
    pairs = [("yes", "yes")] * 6
    assert kappa_by_hand(pairs) is None
    assert kappa_cell(pairs) == agreement.UNDEFINED == "undefined"
    row = agreement.PairAgreement("a", "b", agreement.ALL, 6, 1.0, None, 0, None, None)
    md = agreement.markdown(agreement.Comparison("set", ["a", "b"], [row]))
    assert "| a | b | all UEG | 6 | 100.0% | undefined | 0 | - | - |" in md
    assert "chance agreement p_e is 1" in md and "nan" not in md.lower()
    one_sided = [("yes", "yes")] * 4 + [("yes", "no")] * 2  # A always "yes", B not: κ = 0, defined
    assert kappa_by_hand(one_sided) == 0 and kappa_cell(one_sided) == "0.00"


def test_questions_are_matched_by_text_not_position(tmp_path):
    """Judge B's items of the same run stored in the other order (an import, or a human majority listing
    questions as voters first answered them). Before: matched by position, the two questions never lined
    up, 0 questions compared. By hand: A (yes, no), B (yes, yes) -> 2 questions, 1 agrees."""
    store = Store.open(tmp_path / "arena.db")
    run_id = store_run(store, "UEG_1_world_knowledge", "direct")
    store.save_judgment(run_id, "judge-a", polling_judgment(QUESTIONS, [["yes"], ["no"]], "judge-a").to_dict())
    b = polling_judgment(QUESTIONS, [["yes"], ["yes"]], "judge-b").to_dict()
    b["details"]["questions"].reverse()
    store.save_judgment(run_id, "judge-b", b)
    (c,) = agreement.compare_judges(store, ["judge-a", "judge-b"])
    store.close()
    overall = c.agreement[0]
    assert (overall.questions, overall.question_agreement) == (2, 0.5)
    assert overall.question_kappa == pytest.approx(float(kappa_by_hand([("yes", "yes"), ("no", "yes")])))
    assert (overall.instances, overall.instance_agreement) == (1, 0.0)  # A scores 1, B 0


def test_report_paired_names_models_stored_in_one_mode_only(tmp_path, capsys):
    """Before: a model with direct runs only (no stepwise to pair with, e.g. one that cannot refine) was
    dropped from ``report --paired`` without a word; with no other model the refusal said only "no model has
    runs in both modes"."""
    from realunify_arena.cli import main

    db = tmp_path / "arena.db"
    store = Store.open(db)
    trace = Trace("GEU_1_mental_tracking", "solo", "direct", {"seed": 1}, [Step(StepRole.ANSWER, "p", text="A")])
    store.save_judgment(store.save_trace(trace, "set"), "answer-parser",
                        {"kind": "mcq", "score": 1, "details": {"strict_score": 1}, "errors": 0})
    store.close()
    assert main(["report", "--paired", "--db", str(db), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "no model has runs in both modes" in err and "solo on set (direct only)" in err

    store = Store.open(db)
    for mode in ("direct", "stepwise"):
        run_id = store_run(store, "GEU_1_mental_tracking", mode)
        store.save_judgment(run_id, "answer-parser", {"kind": "mcq", "score": int(mode == "stepwise"),
                                                      "details": {"strict_score": 0}, "errors": 0})
    store.close()
    assert main(["report", "--paired", "--db", str(db), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "### Paired: m on set" in out
    assert "Not paired, stored in one mode only: solo on set (direct only)" in out
