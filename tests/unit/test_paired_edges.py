"""Edge cases a researcher hits with the paired analysis and the judge comparison, each checked against an
outside reference computed here (matplotlib's own text rules, Cohen's κ by its definition), never against
the code under test. Real SQLite stores.
"""

from __future__ import annotations

import pytest

from realunify_arena.cli import main
from realunify_arena.store import Store
from tests.unit.test_paired import RIGHT, WRONG, _poll

WK = "world_knowledge"


def _both_modes(store: Store, dataset: str) -> None:
    """Model m on three WK instances in both modes, judged by judge-x: 2 helped, 1 both right."""
    from PIL import Image

    from realunify_arena.trace import Step, StepRole, Trace

    for i, (direct, stepwise) in enumerate([(WRONG, RIGHT), (WRONG, RIGHT), (RIGHT, RIGHT)]):
        for mode, replies in (("direct", direct), ("stepwise", stepwise)):
            trace = Trace(f"UEG_{i}_{WK}", "m", mode, {"seed": 3},
                          [Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("RGB", (4, 4), "red"))])
            _poll(store, store.save_trace(trace, dataset), "judge-x", replies)


# A dataset is named after its folder or file, and a folder's name may hold "$": matplotlib reads the text
# between two "$" as mathtext, which either fails to parse (a broken TeX command) or draws math instead of
# the name. Both plots draw names as written (matplotlib's ``parse_math=False``).
@pytest.mark.parametrize("dataset", [r"pay $\frac$ now", r"results_$\sqrt$_v2"])
def test_plots_draw_a_dataset_named_with_dollar_signs(tmp_path, capsys, dataset):
    """Before: ``report --paired --plot`` and ``report --plot`` ended in matplotlib's ParseSyntaxException (a
    traceback, no file), and the Leaderboard's paired section, which draws the same forest plot, failed."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    store = Store.open(tmp_path / "arena.db")
    _both_modes(store, dataset)
    store.close()
    reference = plt.figure()
    reference.suptitle(dataset)  # the outside reference: matplotlib cannot draw this name as mathtext
    with pytest.raises(ValueError):
        reference.savefig(io.BytesIO(), format="png")
    plt.close(reference)
    db = str(tmp_path / "arena.db")
    assert main(["report", "--paired", "--db", db, "--out", str(tmp_path / "out"),
                 "--plot", str(tmp_path / "forest.png")]) == 0
    assert (tmp_path / "forest.png").stat().st_size > 0
    assert main(["report", "--db", db, "--out", str(tmp_path / "out"), "--plot", str(tmp_path / "bars.png")]) == 0
    assert (tmp_path / "bars.png").stat().st_size > 0
    from realunify_arena import paired

    store = Store.open(db)
    (analysis,) = paired.analyses_from_store(store, pinned=None, rounds=50)
    store.close()
    figure = paired.forest_plot([analysis])  # what the Leaderboard shows
    assert dataset in figure.axes[0].get_title()


def _kappa_by_hand(pairs: list[tuple[int, int]]) -> float:
    """Cohen (1960): κ = (p_o − p_e) / (1 − p_e) over the items both raters rated."""
    n = len(pairs)
    p_o = sum(a == b for a, b in pairs) / n
    p_e = sum((sum(a == v for a, _ in pairs) / n) * (sum(b == v for _, b in pairs) / n) for v in (0, 1))
    return (p_o - p_e) / (1 - p_e)


def _judged_over_other_questions(tmp_path) -> tuple[Store, list[int]]:
    """Four WK runs of m judged by A and C; on run 1 C was asked a third polling question A never saw, and
    scored 0 where A scored 1; on runs 2-4 (A, C) score (0, 0), (1, 1), (1, 0)."""
    from realunify_arena.benchmark.schema import PollingQuestion
    from realunify_arena.judge import polling_judgment
    from tests.unit.test_paired import QUESTIONS, _run

    store = Store.open(tmp_path / "arena.db")
    runs = [_run(store, f"UEG_{i}_{WK}", "m", "direct") for i in range(1, 5)]
    third = [*QUESTIONS, PollingQuestion("Is it big?", "yes")]
    store.save_judgment(runs[0], "C", polling_judgment(third, [["yes"], ["no"], ["no"]], "C").to_dict())
    _poll(store, runs[0], "A", RIGHT)
    for run, (a, c) in zip(runs[1:], [(WRONG, WRONG), (RIGHT, RIGHT), (RIGHT, WRONG)]):
        _poll(store, run, "A", a)
        _poll(store, run, "C", c)
    return store, runs


def test_runs_two_judges_scored_over_different_polling_questions_are_left_out_and_counted(tmp_path, capsys):
    """Judge C was asked a third polling question on run 1 that judge A never saw (another version of the
    instance's question list, say) and answered it wrong: C's instance score 0 answers another poll than A's
    1. Cohen's κ rates one item by both raters, so the instance comparison is over runs 2-4 only, where both
    judged the same two questions: (A, C) = (0, 0), (1, 1), (1, 0). Before, run 1 counted as a disagreement:
    4 instances, 50% agreement, κ 0.00 beside 100% agreement on every polling question both were asked. The
    two questions of run 1 both answered still count; the third is one judge's only. A judgment listing no
    questions (people's per-item scores) is compared as before (judge D)."""
    from realunify_arena import agreement

    store, runs = _judged_over_other_questions(tmp_path)
    store.save_judgment(runs[0], "D", {"kind": "polling", "score": 1, "errors": 0,
                                       "details": {"judge": "D", "questions": []}})

    (comparison,) = agreement.compare_judges(store, ["A", "C"])
    overall = next(r for r in comparison.agreement if r.scope == agreement.ALL)
    compared = [(0, 0), (1, 1), (1, 0)]
    assert overall.instances == 3 and overall.instance_agreement == pytest.approx(2 / 3)
    assert overall.instance_kappa == pytest.approx(_kappa_by_hand(compared))
    assert overall.instances_other_questions == 1
    assert (overall.questions, overall.questions_one_judge) == (8, 1)  # 2 per run both asked; Is it big? once
    text = agreement.markdown(comparison)
    assert "left out: other questions (instances) |" in text
    assert "| A | C | all UEG | 8 | " in text and text.count("| 1 / 0 | 1 |") == 2  # all UEG and WK rows

    (with_d,) = agreement.compare_judges(store, ["A", "D"])
    overall = next(r for r in with_d.agreement if r.scope == agreement.ALL)
    assert (overall.instances, overall.instance_agreement, overall.instances_other_questions) == (1, 1.0, 0)
    store.close()


def test_the_score_table_leaves_out_the_runs_the_agreement_rows_leave_out_for_their_questions(tmp_path):
    """The score table (Table 4's layout) and the agreement rows describe the same instances. Run 1: judge C
    was asked a third polling question A never saw, and scored it 0 over three questions where A scored 1 over
    two; the agreement rows leave it out (``instances_other_questions``). Before, the score table still counted
    it, each judge over its own questions: A 3 of 4 right (75.0), C 1 of 4 (25.0), n 4. Counted by hand over
    runs 2-4, whose polls A and C share: A scores (0, 1, 1) -> 2 of 3 = 66.7%, C (0, 1, 0) -> 1 of 3 = 33.3%,
    n 3, and one run left out, said in the table's line and in the JSON."""
    import json

    from realunify_arena import agreement

    store, _ = _judged_over_other_questions(tmp_path)
    (comparison,) = agreement.compare_judges(store, ["A", "C"])
    overall = next(r for r in comparison.agreement if r.scope == agreement.ALL)
    assert (overall.instances, overall.instances_other_questions) == (3, 1)
    ((model, rows),) = agreement.score_rows(comparison)
    assert model == "m" and rows == [["A", "3", "66.7/-", "66.7/-"], ["C", "3", "33.3/-", "33.3/-"]]
    assert (comparison.common_runs, comparison.runs_other_questions) == (3, 1)
    assert overall.instances == int(rows[0][1])  # both tables over the same instances
    text = agreement.markdown(comparison)
    assert "on the 3 runs every judge decided over the same polling questions; 1 run every judge decided left " \
           "out, the judges having polled different questions" in text
    agreement.write_json([comparison], tmp_path / "judges.json")
    saved = json.loads((tmp_path / "judges.json").read_text())[0]
    assert (saved["common_runs"], saved["runs_other_questions"]) == (3, 1)
    assert {(r["judge"], r["WK"], r["n"]) for r in saved["scores"]} == {("A", "66.7", 3), ("C", "33.3", 3)}
    store.close()


def test_discordant_instances_of_a_dataset_the_app_does_not_serve_get_no_link_to_another(tmp_path):
    """Instance uids repeat across datasets: the bundled set has its own ``UEG_1_world_knowledge``. Before, the
    Leaderboard listed the stepwise-helped instances of dataset "set" (evaluated elsewhere; this app serves
    only the bundled set) with links lacking ``data``, which Explore opens in the app's first source: the
    bundled instance of that uid, another prompt, shown as the one that moved. ``report --paired``'s JSON wrote
    the same link for a dataset whose source the store does not know."""
    import json

    from realunify_arena import paired
    from realunify_arena.benchmark import load

    store = Store.open(tmp_path / "arena.db")
    _both_modes(store, "set")
    (ps,) = paired.paired_sets(store)
    key = paired.category_key(ps, WK)
    uids = [f"UEG_{i}_{WK}" for i in (0, 1)]  # the two helped
    bundled = load("bundled")
    assert all(bundled.get(uid) for uid in uids)  # what a link without its source opened instead

    listing = paired.discordant_markdown(store, key, paired.HELPED, ["bundled"])
    assert "?tab=explore" not in listing and "](" not in listing
    assert all(f"`{uid}`" in listing for uid in uids) and "does not serve dataset `set`" in listing
    served = paired.discordant_markdown(store, key, paired.HELPED, ["bundled", "set"])
    assert all(f"[{uid}](?tab=explore&data=set&instance={uid}&" in served for uid in uids)

    (analysis,) = paired.analyses_from_store(store, rounds=50)
    store.close()
    path = paired.write_json([analysis], tmp_path / "paired.json")
    helped = json.loads(path.read_text())[0]["discordant"]["WK"][paired.HELPED]
    assert [(h["instance_uid"], h["link"]) for h in helped] == [(uid, None) for uid in uids]


def test_modes_judged_by_different_judges_say_why_nothing_is_paired(tmp_path, capsys):
    """Direct runs judged by judge-A only, stepwise runs by judge-B only: no judge saw both modes of any
    instance, so each judge's table pairs nothing (one judge's verdicts per table: mixing two judges' would
    make Δ partly a difference between judges). Before: two tables of blanks, every instance counted
    "undecided", with nothing saying that each judge judged one mode only and what to do."""
    from PIL import Image

    from realunify_arena.trace import Step, StepRole, Trace

    store = Store.open(tmp_path / "arena.db")
    for i in range(3):
        for mode, judge, replies in (("direct", "judge-A", WRONG), ("stepwise", "judge-B", RIGHT)):
            trace = Trace(f"UEG_{i}_{WK}", "m", mode, {"seed": 3},
                          [Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("RGB", (4, 4), "red"))])
            _poll(store, store.save_trace(trace, "set"), judge, replies)
    store.close()
    assert main(["report", "--paired", "--db", str(tmp_path / "arena.db"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "| WK | 0 |" in out and out.count("| 0 / 3 |") == 2  # counted as before
    assert "3 instances have a stepwise run judge-A never judged" in out
    assert "3 instances have a direct run judge-B never judged" in out
