"""Paired direct-vs-stepwise statistics and judge agreement, checked against hand-computed values.

Expected p-values, intervals' targets and κ come from the definitions worked by hand here (McNemar's exact
test is a two-sided sign test on the discordant pairs; κ = (p_o − p_e) / (1 − p_e)), never from the code
under test. The store-backed tests use a real SQLite file.
"""

from __future__ import annotations

import json
from fractions import Fraction
from math import comb
from urllib.parse import parse_qs

import numpy as np
import pytest

from realunify_arena import agreement, paired
from realunify_arena.benchmark.schema import PollingQuestion
from realunify_arena.judge import polling_judgment
from realunify_arena.store import Store
from realunify_arena.trace import Status, Step, StepRole, Trace


def sign_test(hurt: int, helped: int) -> float:
    """Reference: two-sided exact binomial test of the discordant counts against 1/2, by hand."""
    n, k = hurt + helped, min(hurt, helped)
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2 ** n)


# -- McNemar ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("hurt", "helped", "expected"), [
    (0, 0, Fraction(1)),  # all concordant: no evidence either way
    (0, 5, Fraction(2, 32)),  # one-sided: 2 * (1/2)^5
    (10, 0, Fraction(2, 1024)),  # one-sided the other way
    (1, 9, Fraction(2 * (1 + 10), 1024)),
    (3, 9, Fraction(2 * (1 + 12 + 66 + 220), 4096)),
    (5, 5, Fraction(1)),  # balanced: capped at 1
    (4, 5, Fraction(1)),
])
def test_exact_mcnemar_matches_hand_computed_p_values(hurt, helped, expected):
    assert paired.mcnemar_exact(hurt, helped) == pytest.approx(float(expected), rel=1e-12)
    assert paired.mcnemar_exact(helped, hurt) == pytest.approx(float(expected), rel=1e-12)  # symmetric
    assert sign_test(hurt, helped) == pytest.approx(float(expected), rel=1e-12)


def test_holm_adjusts_step_down_and_keeps_untested_rows_out_of_the_family():
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, max(2*0.03, .) , max(1*0.04, previous) = 0.03, 0.06, 0.06
    assert paired.holm([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.06, None, 0.06])
    assert paired.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert paired.holm([None]) == [None]


def test_holm_equals_statsmodels_multipletests():
    """statsmodels' ``multipletests(method="holm")`` as the reference (paired.holm is Holm's rule in numpy:
    statsmodels' runs a full garbage collection per call, so a few families only), with ties, zeros, ones,
    unsorted input and gaps."""
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(5)
    families = [[0.04], [0.0, 0.0, 1.0], [0.2, 0.01, 0.01, None, 0.04, 0.5, 1.0, None],
                [0.03, 0.02, 0.011, 0.012, 0.049], rng.uniform(0, 0.3, size=13).tolist()]
    for pvalues in families:
        tested = [p for p in pvalues if p is not None]
        reference = iter(multipletests(tested, method="holm")[1].tolist())
        expected = [None if p is None else next(reference) for p in pvalues]
        assert paired.holm(pvalues) == pytest.approx(expected, rel=1e-12, abs=0), pvalues


# -- the bootstrap interval -------------------------------------------------------------------------


def test_paired_bootstrap_interval_covers_the_true_delta_at_about_the_nominal_rate():
    """Synthetic paired sets with P(helped) = 0.25, P(hurt) = 0.10: the true Δ is 0.15. A 95% interval
    should contain it in about 95% of sets (a percentile interval runs slightly under at this size)."""
    rng = np.random.default_rng(2024)
    trials, n, true_delta = 300, 120, 0.25 - 0.10
    covered = 0
    for trial in range(trials):
        diffs = rng.choice([1, -1, 0], size=n, p=[0.25, 0.10, 0.65])
        low, high = paired.paired_interval([diffs], rounds=1000, seed=trial)
        covered += low <= true_delta <= high
    assert 0.90 <= covered / trials <= 0.99, covered / trials


def test_stratified_interval_covers_the_mean_of_the_category_deltas():
    rng = np.random.default_rng(7)
    trials, covered = 200, 0
    true_delta = (0.30 - 0.05 + 0.05 - 0.15) / 2  # two categories: +0.25 and -0.10
    for trial in range(trials):
        a = rng.choice([1, -1, 0], size=80, p=[0.30, 0.05, 0.65])
        b = rng.choice([1, -1, 0], size=40, p=[0.05, 0.15, 0.80])
        low, high = paired.paired_interval([a, b], rounds=1000, seed=trial)
        covered += low <= true_delta <= high
    assert 0.90 <= covered / trials <= 0.99, covered / trials


def test_no_interval_where_resampling_cannot_vary():
    """A percentile bootstrap over pairs that all moved alike, or over a category of one pair, gives the
    same Δ in every resample: before, a zero-width "95% interval" ([+100.0, +100.0] from one instance, or
    from 5 that all helped) claimed certainty, and a track with a one-pair category counted that
    category's Δ as known exactly. By hand: 5 of 5 helped is compatible with a true P(helped) as low as
    1 - 0.025 ** (1/5) ≈ 0.52 (Clopper-Pearson), so no honest 95% interval is a point."""
    assert paired.paired_interval([np.zeros(30)]) is None  # 30 concordant pairs
    assert paired.paired_interval([np.ones(5)]) is None  # all helped: Δ = 100 pp, no spread to resample
    assert paired.paired_interval([np.ones(1)]) is None  # one instance
    assert paired.paired_interval([np.ones(1), np.array([0, 0, 0, -1] * 5)]) is None  # a one-pair category
    low, high = paired.paired_interval([np.ones(3), np.array([0, 0, 0, -1] * 5)])  # a constant category of 3
    assert low <= (1 - 0.25) / 2 <= high and high <= 0.5  # it still counts, the other varies
    with pytest.raises(ValueError, match="non-empty"):
        paired.paired_interval([np.array([])])

    ps = paired.PairedSet("set", "judge", "m")
    ps.pairs = _pairs("world_knowledge", 0, 0, 1, 0) + _pairs("commonsense_reasoning", 0, 0, 5, 0, start=10)
    analysis = paired.analyse(ps, rounds=200)
    rows = {r.scope: r for r in analysis.rows}
    for scope in ("world_knowledge", "commonsense_reasoning", "UEG"):
        assert (rows[scope].low, rows[scope].high) == (None, None), scope
        assert paired.row_cells(rows[scope])[paired.HEADER.index("95% interval")] == "-"
    assert rows["UEG"].delta == 100.0 and rows["commonsense_reasoning"].p == pytest.approx(2 / 32)
    assert "one pair" in paired.markdown(analysis)  # the footer says what "-" means
    paired.forest_plot([analysis])  # the dot alone, no error


# -- the analysis of one model ------------------------------------------------------------------------


def _pairs(task: str, both: int, hurt: int, helped: int, neither: int, start: int = 0) -> list[paired.Pair]:
    kinds = [(1, 1)] * both + [(1, 0)] * hurt + [(0, 1)] * helped + [(0, 0)] * neither
    return [paired.Pair(f"UEG_{start + i}_{task}", task, d, s, 2 * (start + i), 2 * (start + i) + 1, "m", 0)
            for i, (d, s) in enumerate(kinds)]


def test_analyse_gives_the_table_delta_p_values_and_counts_per_category_and_track():
    ps = paired.PairedSet("set", "judge", "m")
    ps.pairs = _pairs("world_knowledge", 3, 1, 6, 2) + _pairs("commonsense_reasoning", 2, 0, 0, 2, start=100)
    ps.unpaired["world_knowledge"] = 2
    ps.undecided["commonsense_reasoning"] = 1
    ps.undecided["logical_reasoning"] = 4  # a category with nothing paired still shows what was left out
    rows = {r.scope: r for r in paired.analyse(ps, rounds=500).rows}
    assert list(rows) == ["world_knowledge", "commonsense_reasoning", "logical_reasoning", "UEG"]

    wk = rows["world_knowledge"]
    assert (wk.n, wk.both, wk.hurt, wk.helped, wk.neither) == (12, 3, 1, 6, 2)
    assert wk.direct == pytest.approx(100 * 4 / 12) and wk.stepwise == pytest.approx(100 * 9 / 12)
    assert wk.delta == pytest.approx(100 * 5 / 12)
    assert wk.p == pytest.approx(2 * (1 + 7) / 2 ** 7)  # sign test, 1 of 7 discordant
    assert wk.low < wk.delta < wk.high
    assert (wk.unpaired, wk.undecided) == (2, 0)

    cr = rows["commonsense_reasoning"]
    assert (cr.delta, cr.p, cr.low, cr.high, cr.undecided) == (0.0, 1.0, None, None, 1)  # all concordant
    lr = rows["logical_reasoning"]
    assert (lr.n, lr.delta, lr.p, lr.p_holm, lr.undecided) == (0, None, None, None, 4)
    # Holm over the two tested categories: 2 * 0.125, then max(1 * 1.0, 0.25)
    assert (wk.p_holm, cr.p_holm) == (pytest.approx(0.25), pytest.approx(1.0))
    assert not wk.significant

    ueg = rows["UEG"]  # LR is held but has no pair: no track score (the paper's mean needs every category)
    assert (ueg.n, ueg.hurt, ueg.helped) == (16, 1, 6)
    assert (ueg.direct, ueg.stepwise, ueg.delta, ueg.low, ueg.p, ueg.p_holm) == (None,) * 6
    assert (ueg.unpaired, ueg.undecided) == (2, 5)

    del ps.undecided["logical_reasoning"]  # now WK and CR are all the track holds
    ueg = {r.scope: r for r in paired.analyse(ps, rounds=500).rows}["UEG"]
    assert ueg.delta == pytest.approx((100 * 5 / 12 + 0) / 2)  # the paper's track score: mean of categories
    assert ueg.p == pytest.approx(sign_test(1, 6))


def test_track_percentages_round_halves_up_like_the_table():
    """BAGEL's GEU direct row in the paper: MR-II 37, MT 31, AF 50, CN 39 of 100 -> mean 39.25, printed 39.3
    (half up, as ``report`` prints it); stepwise all wrong, so Δ = -39.25 -> -39.3."""
    ps = paired.PairedSet("set", "judge", "m")
    for k, (task, right) in enumerate((("mental_reconstruction", 37), ("mental_tracking", 31),
                                       ("attentional_focusing", 50), ("cognitive_navigation", 39))):
        ps.pairs += _pairs(task, 0, right, 0, 100 - right, start=100 * k)
    rows = {r.scope: r for r in paired.analyse(ps, rounds=50).rows}
    cells = paired.row_cells(rows["GEU"])
    assert cells[paired.HEADER.index("direct %")] == "39.3"
    assert cells[paired.HEADER.index("stepwise %")] == "0.0"
    assert cells[paired.HEADER.index("Δ pp")] == "-39.3"
    assert rows["GEU"].direct == 39.25


def test_a_clear_gain_survives_holm_and_is_marked():
    ps = paired.PairedSet("set", "judge", "m")
    ps.pairs = _pairs("world_knowledge", 10, 0, 12, 10) + _pairs("code_to_image", 5, 2, 3, 5, start=100)
    rows = {r.scope: r for r in paired.analyse(ps, rounds=500).rows}
    assert rows["world_knowledge"].p_holm == pytest.approx(2 * sign_test(0, 12))
    assert rows["world_knowledge"].significant and not rows["code_to_image"].significant
    cells = paired.row_cells(rows["world_knowledge"])
    assert cells[paired.HEADER.index("Holm p")].endswith("*")
    assert cells[paired.HEADER.index("Δ pp")] == "+37.5"  # 12 of 32
    assert "(500 resamples)" in paired.markdown(paired.analyse(ps, rounds=500))  # the footer names what ran


def test_discordant_instances_and_their_explore_links():
    ps = paired.PairedSet("bundled", "judge", "m")
    ps.pairs = _pairs("world_knowledge", 1, 1, 2, 1)
    helped = paired.discordant(ps, "world_knowledge", paired.HELPED)
    assert [p.instance_uid for p in helped] == ["UEG_2_world_knowledge", "UEG_3_world_knowledge"]
    assert [p.instance_uid for p in paired.discordant(ps, "UEG", paired.HURT)] == ["UEG_1_world_knowledge"]
    link = paired.explore_link(helped[0], "bundled")
    assert link.startswith("?")
    assert parse_qs(link[1:]) == {"tab": ["explore"], "data": ["bundled"], "instance": ["UEG_2_world_knowledge"],
                                  "model": ["m"], "seed": ["0"]}
    assert paired.app_source(["/x/other", "/data/myset"], "myset") == "/data/myset"
    assert paired.app_source(["bundled"], "elsewhere") is None


# -- from a real store ------------------------------------------------------------------------------

QUESTIONS = [PollingQuestion("Is there a cat?", "yes"), PollingQuestion("Is it red?", "no")]


def _run(store: Store, uid: str, model: str, mode: str, status: Status = Status.OK) -> int:
    steps = [Step(StepRole.ANSWER if uid.startswith("GEU") else StepRole.GENERATED_IMAGE, "p", text="A")]
    if uid.startswith("UEG"):
        from PIL import Image

        steps = [Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("RGB", (4, 4), "red"))]
    trace = Trace(uid, model, mode, {"seed": 3}, steps if status is Status.OK else [], status)
    return store.save_trace(trace, "set")


def _poll(store: Store, run_id: int, judge: str, replies: list[str]) -> None:
    judgment = polling_judgment(QUESTIONS, [[r] for r in replies], judge)
    store.save_judgment(run_id, judge, judgment.to_dict())


def _mcq(store: Store, run_id: int, score: int) -> None:
    store.save_judgment(run_id, "answer-parser", {"kind": "mcq", "score": score,
                                                  "details": {"strict_score": score}, "errors": 0})


RIGHT, WRONG, UNSURE = ["yes", "no"], ["no", "no"], ["maybe", "no"]


def test_pairs_from_a_store_leave_out_and_count_unpaired_and_undecided(tmp_path):
    store = Store.open(tmp_path / "arena.db")
    wk = "world_knowledge"
    plan = {  # instance -> (direct replies, stepwise replies); None = no run in that mode
        f"UEG_1_{wk}": (WRONG, RIGHT), f"UEG_2_{wk}": (WRONG, RIGHT), f"UEG_3_{wk}": (RIGHT, RIGHT),
        f"UEG_4_{wk}": (RIGHT, WRONG), f"UEG_5_{wk}": (WRONG, None), f"UEG_6_{wk}": (UNSURE, RIGHT),
    }
    for uid, replies in plan.items():
        for mode, r in zip(("direct", "stepwise"), replies):
            if r is not None:
                _poll(store, _run(store, uid, "m", mode), "judge-x", r)
    mt = "mental_tracking"
    _mcq(store, _run(store, f"GEU_1_{mt}", "m", "direct"), 1)
    _run(store, f"GEU_1_{mt}", "m", "stepwise", Status.ERROR)  # the model failed: scores 0, as in the table
    _mcq(store, _run(store, f"GEU_2_{mt}", "m", "direct"), 0)
    _run(store, f"GEU_2_{mt}", "m", "stepwise", Status.NOT_SUPPORTED)
    _mcq(store, _run(store, f"GEU_1_{mt}", "only-direct", "direct"), 1)  # one mode only: no analysis

    (ps,) = paired.paired_sets(store)
    assert (ps.dataset, ps.judge, ps.label) == ("set", "judge-x", "m")
    by_uid = {p.instance_uid: (p.direct, p.stepwise) for p in ps.pairs}
    assert by_uid == {f"UEG_1_{wk}": (0, 1), f"UEG_2_{wk}": (0, 1), f"UEG_3_{wk}": (1, 1), f"UEG_4_{wk}": (1, 0),
                      f"GEU_1_{mt}": (1, 0)}
    assert dict(ps.unpaired) == {wk: 1, mt: 1} and dict(ps.undecided) == {wk: 1}
    assert all(p.seed == 3 and p.model == "m" for p in ps.pairs)

    rows = {r.scope: r for r in paired.analyse(ps, rounds=200).rows}
    assert (rows[wk].n, rows[wk].helped, rows[wk].hurt, rows[wk].delta) == (4, 2, 1, pytest.approx(25.0))
    assert rows[wk].p == pytest.approx(1.0)  # 1 vs 2: far from evidence
    assert (rows[mt].n, rows[mt].hurt, rows[mt].unpaired) == (1, 1, 1)
    text = paired.discordant_markdown(store, paired.category_key(ps, wk), paired.HELPED, ["set"])
    assert text.count("?tab=explore&data=set&instance=UEG_") == 2 and f"UEG_4_{wk}" not in text
    store.close()


def test_a_track_missing_a_category_has_no_score_as_in_the_table(tmp_path, capsys):
    """The paper's track score is the mean over *all* its categories (REALUNIFY.md: UEG avg = mean of 6;
    ``report`` prints "-" for a track with an unscored category). Before, the paired UEG row averaged only
    the categories with pairs: WK alone here, so a "UEG Δ +66.7" (with interval and p) was WK's Δ under
    the track's name, both for "m", whose LR instances are undecided or unpaired, and for "other", which
    never ran the LR the dataset holds. With every held category paired the track Δ is the mean of the
    category Δs (hand-computed in ``test_analyse_gives_the_table_delta...``)."""
    from realunify_arena.cli import main

    store = Store.open(tmp_path / "arena.db")
    wk, lr = "world_knowledge", "logical_reasoning"
    for i, (d, s) in enumerate([(WRONG, RIGHT), (WRONG, RIGHT), (RIGHT, RIGHT)]):  # WK: Δ = 2/3
        _poll(store, _run(store, f"UEG_{i}_{wk}", "m", "direct"), "judge-x", d)
        _poll(store, _run(store, f"UEG_{i}_{wk}", "m", "stepwise"), "judge-x", s)
        _poll(store, _run(store, f"UEG_{i}_{wk}", "other", "direct"), "judge-x", RIGHT)
        _poll(store, _run(store, f"UEG_{i}_{wk}", "other", "stepwise"), "judge-x", RIGHT)
    _poll(store, _run(store, f"UEG_1_{lr}", "m", "direct"), "judge-x", UNSURE)  # undecided
    _poll(store, _run(store, f"UEG_1_{lr}", "m", "stepwise"), "judge-x", RIGHT)
    _poll(store, _run(store, f"UEG_2_{lr}", "m", "direct"), "judge-x", RIGHT)  # stepwise never ran
    store.close()

    store = Store.open(tmp_path / "arena.db")
    by_model = {a.paired.label: {r.scope: r for r in a.rows} for a in paired.analyses_from_store(store, rounds=200)}
    store.close()
    for model in ("m", "other"):  # "other" never ran LR, which the dataset's table holds
        ueg = by_model[model]["UEG"]
        assert (ueg.direct, ueg.stepwise, ueg.delta, ueg.low, ueg.high, ueg.p) == (None,) * 6, model
        assert ueg.n == 3
    assert by_model["m"]["UEG"].undecided == 1 and by_model["m"]["UEG"].unpaired == 1
    assert by_model["m"][wk].delta == pytest.approx(100 * 2 / 3)  # the category itself still counts

    assert main(["report", "--paired", "--db", str(tmp_path / "arena.db"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    ueg_line = next(line for line in out.splitlines() if line.startswith("| UEG (category mean) | 3 |"))
    assert ueg_line.split(" | ")[6:12] == ["-"] * 6, ueg_line  # direct %, stepwise %, Δ, interval, p, Holm
    paired.forest_plot(paired.analyses_from_store(Store.open(tmp_path / "arena.db"), rounds=50))  # no dot, no error


def test_several_seeds_pair_each_instance_within_its_seed(tmp_path):
    """Two seeds of one model in both modes: each seed's direct run pairs with the same seed's stepwise run
    (never across seeds), one analysis per seed, named as the table names the systems. By hand: seed 3
    direct wrong / stepwise right (helped), seed 7 the reverse (hurt)."""
    from PIL import Image

    store = Store.open(tmp_path / "arena.db")
    uid = "UEG_1_world_knowledge"
    for seed, replies in ((3, {"direct": WRONG, "stepwise": RIGHT}), (7, {"direct": RIGHT, "stepwise": WRONG})):
        for mode in ("direct", "stepwise"):
            trace = Trace(uid, "m", mode, {"seed": seed},
                          [Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("RGB", (4, 4), "red"))])
            _poll(store, store.save_trace(trace, "set"), "judge-x", replies[mode])
    sets = {ps.label: ps for ps in paired.paired_sets(store)}
    store.close()
    assert set(sets) == {"m (seed=3)", "m (seed=7)"}
    for label, seed, moved in (("m (seed=3)", 3, paired.HELPED), ("m (seed=7)", 7, paired.HURT)):
        (pair,) = sets[label].pairs
        assert (pair.seed, pair.moved, pair.model) == (seed, moved, "m")
        assert pair.run_direct != pair.run_stepwise


def test_report_paired_refuses_a_judge_that_judged_nothing(tmp_path, capsys):
    """Before: ``report --paired --judge typo`` printed a table of blanks (every UEG instance "undecided"),
    wrote paired.csv/.json and exited 0, where ``report --judge typo`` refuses the same typo."""
    from realunify_arena.cli import main

    store = Store.open(tmp_path / "arena.db")
    for mode, replies in (("direct", WRONG), ("stepwise", RIGHT)):
        _poll(store, _run(store, "UEG_1_world_knowledge", "m", mode), "judge-x", replies)
    store.close()
    out = tmp_path / "out"
    assert main(["report", "--paired", "--judge", "judge-y", "--db", str(tmp_path / "arena.db"),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("report: error: --judge judge-y: judged no UEG runs") and "judge-x" in err
    assert len(err.strip().splitlines()) == 1 and not (out / "paired.csv").exists()
    assert main(["report", "--paired", "--judge", "judge-x", "--db", str(tmp_path / "arena.db"),
                 "--out", str(out)]) == 0
    assert (out / "paired.csv").exists()


# -- judge agreement -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("table", "expected"), [
    ([[10, 0], [0, 10]], 1.0),  # perfect
    ([[25, 25], [25, 25]], 0.0),  # what chance alone gives
    ([[0, 10], [10, 0]], -1.0),  # always opposite
    ([[20, 5], [10, 15]], 0.4),  # p_o = 35/50, p_e = (25*30 + 25*20)/2500 = 0.5 -> (0.7-0.5)/0.5
    ([[45, 15], [25, 15]], (0.6 - 0.54) / (1 - 0.54)),  # p_e = (60*70 + 40*30)/10000 = 0.54
])
def test_cohen_kappa_for_known_confusion_matrices(table, expected):
    assert agreement.cohen_kappa(table) == pytest.approx(expected, abs=1e-12)


def test_kappa_is_undefined_without_items_or_variation():
    assert agreement.cohen_kappa([[0, 0], [0, 0]]) is None
    assert agreement.cohen_kappa([[9, 0], [0, 0]]) is None  # both always "yes": p_e = 1


def test_two_judges_of_the_same_runs_agreement_kappa_and_scores(tmp_path):
    store = Store.open(tmp_path / "arena.db")
    wk = "world_knowledge"
    # Judge A vs judge B per run: four runs, two questions each.
    plan = [  # (uid, mode, A's replies, B's replies)
        (f"UEG_1_{wk}", "direct", ["yes", "no"], ["yes", "no"]),  # A right, B right
        (f"UEG_1_{wk}", "stepwise", ["yes", "no"], ["no", "no"]),  # A right, B wrong
        (f"UEG_2_{wk}", "direct", ["no", "yes"], ["no", "yes"]),  # both wrong
        (f"UEG_2_{wk}", "stepwise", ["yes", "no"], ["yes", "maybe"]),  # A right, B undecided
    ]
    for uid, mode, a, b in plan:
        run_id = _run(store, uid, "m", mode)
        _poll(store, run_id, "judge-a", a)
        _poll(store, run_id, "judge-b", b)
    _poll(store, _run(store, f"UEG_3_{wk}", "m", "direct"), "judge-a", ["yes", "no"])  # A only

    (c,) = agreement.compare_judges(store, ["judge-a", "judge-b"])
    overall = c.agreement[0]
    assert (overall.judge_a, overall.judge_b, overall.scope) == ("judge-a", "judge-b", agreement.ALL)
    # Questions both answered yes or no, (A, B): run 1 direct (yes,yes) (no,no); run 1 stepwise (yes,no)
    # (no,no); run 2 direct (no,no) (yes,yes); run 2 stepwise (yes,yes), B's "maybe" left out. So 7 items,
    # confusion [[3, 1], [0, 3]]: A says yes 4 times, B 3 times.
    table = [[3, 1], [0, 3]]
    p_o, p_e = 6 / 7, (4 * 3 + 3 * 4) / 49
    assert overall.questions == 7 and overall.question_agreement == pytest.approx(p_o)
    assert overall.question_kappa == pytest.approx((p_o - p_e) / (1 - p_e))
    assert agreement.cohen_kappa(table) == pytest.approx((p_o - p_e) / (1 - p_e))
    # Instances both decided: run1d (1,1), run1s (1,0), run2d (0,0) -> 2 of 3 agree
    assert overall.instances == 3 and overall.instance_agreement == pytest.approx(2 / 3)

    # Table 4: each judge's scores on the runs both decided (run1d, run1s, run2d)
    assert c.common_runs == 3
    a_direct, a_step = c.scores["m"]["judge-a"]["direct"], c.scores["m"]["judge-a"]["stepwise"]
    b_step = c.scores["m"]["judge-b"]["stepwise"]
    assert (a_direct.ueg, a_step.ueg, b_step.ueg) == (50, 100, 0)
    md = agreement.markdown(c)
    assert "| judge-a | 3 | 50.0/100.0 | 50.0/100.0 |" in md and "| judge-b | 3 | 50.0/0.0 | 50.0/0.0 |" in md

    with pytest.raises(agreement.JudgeSelectionError, match="two or more"):
        agreement.compare_judges(store, ["judge-a"])
    with pytest.raises(agreement.JudgeSelectionError, match=r"\['nobody'\] judged no UEG runs"):
        agreement.compare_judges(store, ["judge-a", "nobody"])
    store.close()


def test_judge_scores_count_failed_runs_as_report_does(tmp_path):
    """``report --judges``' score table left out runs whose model failed (no judge sees them), so a judge's
    figure there could exceed ``report``'s. Hand-computed: WK direct, one run both judges call right and one
    failed run -> 1 of 2 = 50.0 with one run error, in both tables and for both judges; the paired analysis
    (of the same store, one stepwise run right) pairs the failed direct run as 0."""
    from realunify_arena.reporting import reports_from_store

    store = Store.open(tmp_path / "arena.db")
    wk = "world_knowledge"
    right = _run(store, f"UEG_1_{wk}", "m", "direct")
    for judge in ("judge-a", "judge-b"):
        _poll(store, right, judge, RIGHT)
    _run(store, f"UEG_2_{wk}", "m", "direct", Status.ERROR)
    (c,) = agreement.compare_judges(store, ["judge-a", "judge-b"])
    for judge in ("judge-a", "judge-b"):
        scored = c.scores["m"][judge]["direct"]
        assert (scored.category(wk), scored.run_errors) == (50, 1)
        (report,) = reports_from_store(store, judge=judge)
        (row,) = report.scores
        assert (row.category(wk), row.run_errors) == (50, 1)
    stepwise = _run(store, f"UEG_2_{wk}", "m", "stepwise")
    _poll(store, stepwise, "judge-a", RIGHT)
    (analysis,) = paired.analyses_from_store(store, judge="judge-a", rounds=50)
    assert [(p.direct, p.stepwise) for p in analysis.paired.pairs] == [(0, 1)]
    store.close()


def test_merge_does_not_hang_a_judgment_on_another_output_stored_under_the_same_key(tmp_path, capsys):
    """Two nodes ran the same run key (instance, model, mode, settings) and got different images (an API
    model, another GPU). The merged store keeps the first image; the second node's judge judged the
    other image, so its verdict must not become a verdict on the kept one (judge agreement and the
    judge-y table would compare or score an image that judge never saw)."""
    from PIL import Image

    from realunify_arena.cli import main

    uid = "UEG_1_world_knowledge"
    nodes = []
    for name, colour, judge, replies in (("a", "red", "judge-x", RIGHT), ("b", "blue", "judge-y", WRONG)):
        store = Store.open(tmp_path / name / "arena.db")
        trace = Trace(uid, "m", "direct", {"seed": 3},
                      [Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("RGB", (4, 4), colour))])
        _poll(store, store.save_trace(trace, "set"), judge, replies)
        store.close()
        nodes.append(str(tmp_path / name / "arena.db"))
    target = tmp_path / "all" / "arena.db"
    assert main(["merge", *nodes, "--db", str(target)]) == 0
    out = capsys.readouterr().out
    assert f"{nodes[1]}: 0 new runs, 0 new judgments; 1 run(s) differ" in out
    store = Store.open(target)
    (run,) = store.runs()
    (step,) = store.load_trace(run["id"]).steps
    assert store.get_image(step.image_sha).getpixel((0, 0)) == (255, 0, 0)  # the first node's image is kept
    assert store.find_judgment(run["id"], "judge-x")["score"] == 1
    assert store.find_judgment(run["id"], "judge-y") is None  # it judged the blue image, not this one
    store.close()


def test_merge_keeps_each_voters_human_judgment_and_prefers_a_successful_run_to_a_failed_one(tmp_path, capsys):
    """Node a: UEG_1 judged by two people (right, right), UEG_2 failed. Node b: UEG_1 judged by a third
    person (wrong), UEG_2 succeeded and judge-x called it right. Merged (a then b): UEG_1 keeps three
    voters, each their own judgment (before: node a's majority was saved as one "legacy" voter); UEG_2 is
    b's successful run under the same id, judged by judge-x, with a's failed run archived (before: a's
    failure was kept and counted as "differing", b's run and judgment dropped)."""
    from realunify_arena.cli import main
    from realunify_arena.judge import HUMAN

    wk = "world_knowledge"
    right = polling_judgment(QUESTIONS, [[r] for r in RIGHT], HUMAN).to_dict()
    wrong = polling_judgment(QUESTIONS, [[r] for r in WRONG], HUMAN).to_dict()
    a = Store.open(tmp_path / "a.db")
    judged = _run(a, f"UEG_1_{wk}", "m", "direct")
    for voter in ("hf:ann", "hf:bo"):
        a.save_human_judgment(judged, voter, right)
    failed = _run(a, f"UEG_2_{wk}", "m", "direct", Status.ERROR)
    a.close()
    b = Store.open(tmp_path / "b.db")
    b.save_human_judgment(_run(b, f"UEG_1_{wk}", "m", "direct"), "hf:cy", wrong)
    _poll(b, _run(b, f"UEG_2_{wk}", "m", "direct"), "judge-x", RIGHT)
    b.close()
    target = tmp_path / "all.db"
    assert main(["merge", str(tmp_path / "a.db"), str(tmp_path / "b.db"), "--db", str(target)]) == 0
    out = capsys.readouterr().out
    assert "1 failed run(s) in --db replaced by this store's successful run" in out and "differ" not in out, out
    store = Store.open(target)
    ids = {r["instance_uid"]: r["id"] for r in store.runs()}
    assert sorted((h["voter"], h["score"]) for h in store.human_judgments(ids[f"UEG_1_{wk}"])) == [
        ("hf:ann", 1), ("hf:bo", 1), ("hf:cy", 0)]
    assert store.human_verdict(ids[f"UEG_1_{wk}"])["details"]["voters"] == 3
    assert ids[f"UEG_2_{wk}"] == failed  # the same run id, now the successful run
    assert store.run(failed)["status"] == "ok" and store.find_judgment(failed, "judge-x")["score"] == 1
    assert [r["status"] for r in store.replaced_runs(failed)] == ["error"]
    store.close()
    # merging again adds nothing, and a failed run never replaces a successful one
    c = Store.open(tmp_path / "c.db")
    _run(c, f"UEG_2_{wk}", "m", "direct", Status.ERROR)
    c.close()
    assert main(["merge", str(tmp_path / "b.db"), str(tmp_path / "c.db"), "--db", str(target)]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'b.db'}: 0 new runs, 0 new judgments\n" in out
    assert "1 failed run(s) not copied: --db holds a successful run" in out, out
    store = Store.open(target)
    assert store.run(failed)["status"] == "ok" and len(store.human_judgments(ids[f"UEG_1_{wk}"])) == 3
    store.close()


def test_merge_keeps_which_runs_are_pinned(tmp_path, capsys):
    """eval and import-results pin their runs (the Leaderboard tab's table and stored arena battles use only
    those); a node's pinned run stays pinned in the merged store, a one-off Explore run stays unpinned."""
    from realunify_arena.cli import main

    node = Store.open(tmp_path / "node" / "arena.db")
    mt = "mental_tracking"
    for uid, pin in ((f"GEU_1_{mt}", True), (f"GEU_2_{mt}", False)):
        trace = Trace(uid, "m", "direct", {"seed": 3}, [Step(StepRole.ANSWER, "p", text="A")])
        _mcq(node, node.save_trace(trace, "set", pin=pin), 1)
    node.close()
    target = tmp_path / "all" / "arena.db"
    assert main(["merge", str(tmp_path / "node" / "arena.db"), "--db", str(target)]) == 0
    store = Store.open(target)
    assert [r["instance_uid"] for r in store.runs(pinned=True)] == [f"GEU_1_{mt}"]
    assert [r["instance_uid"] for r in store.runs(pinned=False)] == [f"GEU_2_{mt}"]
    store.close()


def test_agreement_shares_round_halves_up_as_every_other_figure():
    """9 of 16 questions agree: 56.25% prints 56.3% (half up, as the table and the paper print), not
    Python's half-even 56.2%; 1 of 8 instances: 12.5%."""
    row = agreement.PairAgreement("a", "b", agreement.ALL, 16, 9 / 16, 0.0, 8, 1 / 8, 0.0)
    md = agreement.markdown(agreement.Comparison("set", ["a", "b"], [row]))
    assert "| a | b | all UEG | 16 | 56.3% | 0.00 | 8 | 12.5% | 0.00 |" in md


# -- the Leaderboard's paired section reads the runs its benchmark table reads ---------------------------


def test_leaderboard_paired_section_reads_pinned_runs_and_follows_pins_and_people(tmp_path):
    """The Leaderboard's Table 2 counts pinned runs only (batch evaluations, imports). Before, its paired
    section read every run: a one-off Explore run of the same model at another seed split the model into
    'm (seed=3)' (the batch runs) and 'm (seed=7)' (one Explore pair), names the table above never shows;
    and its cache ignored pins and people's judgments, so a pin or a voter's judgment left it stale."""
    from types import SimpleNamespace

    from realunify_arena.ui.leaderboard_tab import PairedCache, benchmark_markdown

    store = Store.open(tmp_path / "arena.db")
    wk = "world_knowledge"
    uids = [f"UEG_{i}_{wk}" for i in range(1, 5)]
    batch = {}
    for i, uid in enumerate(uids):  # the batch evaluation: helped on 1 and 2, both right on 3 and 4
        for mode in ("direct", "stepwise"):
            run_id = store.save_trace(Trace(uid, "m", mode, {"seed": 3}, [
                Step(StepRole.GENERATED_IMAGE, "p", image=_red())]), "set", pin=True)
            _poll(store, run_id, "judge-x", WRONG if mode == "direct" and i < 2 else RIGHT)
            batch[uid, mode] = run_id
    one_off = []
    for mode in ("direct", "stepwise"):  # an Explore run of the same model, another seed, not pinned
        run_id = store.save_trace(Trace(uids[0], "m", mode, {"seed": 7}, [
            Step(StepRole.GENERATED_IMAGE, "p", image=_red())]), "set")
        _poll(store, run_id, "judge-x", RIGHT if mode == "direct" else WRONG)
        one_off.append(run_id)
    ctx = SimpleNamespace(store=store)
    assert "| m |" in benchmark_markdown(ctx)  # the table names the model 'm'
    cache = PairedCache(ctx)
    _, _, text, choices, _ = cache.contents()
    assert "### Paired: m on set, UEG judged by judge-x" in text
    assert "seed=" not in text, text
    assert [label for label, _ in choices] == ["m · WK: 2 helped, 0 hurt", "m · UEG: 2 helped, 0 hurt"]
    key = choices[0][1]
    listing = paired.discordant_markdown(store, key, paired.HELPED, ["set"], pinned=True)
    assert f"[{uids[0]}]" in listing and f"[{uids[1]}]" in listing

    store.save_human_judgment(batch[uids[0], "direct"], "voter-1", polling_judgment(
        QUESTIONS, [[r] for r in RIGHT], "human").to_dict())
    store.save_human_judgment(batch[uids[0], "stepwise"], "voter-1", polling_judgment(
        QUESTIONS, [[r] for r in RIGHT], "human").to_dict())
    text = cache.contents().tables
    assert "UEG judged by human" in text  # a voter's judgments show without a restart
    store.pin(one_off)  # now part of the batch runs: the model has two settings, as in the table
    text = cache.contents().tables
    assert "m (seed=7)" in text and "| m (seed=7) |" in benchmark_markdown(ctx)
    store.close()


def _red():
    from PIL import Image

    return Image.new("RGB", (4, 4), "red")


def test_judge_agreement_counts_what_only_one_judge_answered(tmp_path, capsys):
    """Before: a question or run only one of the two judges answered was dropped without a count, so a table
    over 7 shared questions did not say that 3 more had been answered by one judge alone. By hand: run 2
    stepwise, B's "maybe" on the second question (A said "no"): 1 question, and A decided the run, B did not:
    1 instance; run 3 direct, judged by A only: 2 questions, 1 instance. So 3 questions / 2 instances."""
    from realunify_arena.cli import main

    store = Store.open(tmp_path / "arena.db")
    wk = "world_knowledge"
    for uid, mode, a, b in [(f"UEG_1_{wk}", "direct", ["yes", "no"], ["yes", "no"]),
                            (f"UEG_2_{wk}", "stepwise", ["yes", "no"], ["yes", "maybe"])]:
        run_id = _run(store, uid, "m", mode)
        _poll(store, run_id, "judge-a", a)
        _poll(store, run_id, "judge-b", b)
    _poll(store, _run(store, f"UEG_3_{wk}", "m", "direct"), "judge-a", ["yes", "no"])  # A only
    (c,) = agreement.compare_judges(store, ["judge-a", "judge-b"])
    store.close()
    overall, (world,) = c.agreement[0], c.agreement[1:]
    assert (overall.questions, overall.instances) == (3, 1)
    assert (overall.questions_one_judge, overall.instances_one_judge) == (3, 2)
    assert (world.scope, world.questions_one_judge, world.instances_one_judge) == (wk, 3, 2)
    assert main(["report", "--judges", "judge-a,judge-b", "--db", str(tmp_path / "arena.db"),
                 "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "left out: one judge only (questions / instances) |" in out
    (line,) = [x for x in out.splitlines() if x.startswith("| judge-a | judge-b | all UEG |")]
    assert line.rstrip().endswith("| 3 / 2 | 0 |"), line  # then: runs scored over other questions
    saved = json.loads((tmp_path / "out" / "judges.json").read_text())[0]["agreement"][0]
    assert (saved["questions_one_judge"], saved["instances_one_judge"]) == (3, 2)


def test_the_leaderboard_paired_section_names_the_models_stored_in_one_mode_only(tmp_path):
    """Before: ``report --paired`` said "Not paired, stored in one mode only: solo on set (direct only)"; the
    Leaderboard's paired section, over the same pinned runs, dropped 'solo' without a word."""
    from types import SimpleNamespace

    from realunify_arena.ui.leaderboard_tab import PairedCache

    store = Store.open(tmp_path / "arena.db")
    mt = "mental_tracking"
    run_id = store.save_trace(Trace(f"GEU_1_{mt}", "solo", "direct", {"seed": 1},
                                    [Step(StepRole.ANSWER, "p", text="A")]), "set", pin=True)
    _mcq(store, run_id, 1)
    view = PairedCache(SimpleNamespace(store=store)).contents()
    assert "Nothing to pair yet" in view.blurb and view.tables == ""  # said once, where it is seen
    assert "Not paired, stored in one mode only: solo on set (direct only)" in view.blurb
    for mode in ("direct", "stepwise"):  # a paired model beside it: the note stays under its table
        run_id = store.save_trace(Trace(f"GEU_1_{mt}", "m", mode, {"seed": 1},
                                        [Step(StepRole.ANSWER, "p", text="A")]), "set", pin=True)
        _mcq(store, run_id, int(mode == "stepwise"))
    text = PairedCache(SimpleNamespace(store=store)).contents().tables
    store.close()
    assert "### Paired: m on set" in text
    assert text.rstrip().endswith("Not paired, stored in one mode only: solo on set (direct only)")
