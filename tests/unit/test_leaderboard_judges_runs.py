"""The Leaderboard's paired and judge sections read the runs its benchmark table reads, and follow every change.

Expected values are counted by hand from the store each test builds (real SQLite file), never from the code
under test: the benchmark table (``reporting.reports_from_store(pinned=True)``) names a model once per
settings of its batch runs; a one-off Explore run (not pinned) is no part of it.
"""

from __future__ import annotations

from types import SimpleNamespace

from PIL import Image

from realunify_arena import agreement
from realunify_arena.benchmark.schema import PollingQuestion
from realunify_arena.judge import polling_judgment
from realunify_arena.store import Store
from realunify_arena.trace import Status, Step, StepRole, Trace
from realunify_arena.ui.leaderboard_tab import PairedCache, benchmark_markdown, judges_markdown

QUESTIONS = [PollingQuestion("Is there a cat?", "yes"), PollingQuestion("Is it red?", "no")]
RIGHT, WRONG = [["yes"], ["no"]], [["no"], ["no"]]
WK = "world_knowledge"


def image_steps() -> list[Step]:
    return [Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("RGB", (4, 4), "red"))]


def judge(store: Store, run_id: int, name: str, replies: list[list[str]]) -> None:
    store.save_judgment(run_id, name, polling_judgment(QUESTIONS, replies, name).to_dict())


def rows_of(markdown: str, first_cell: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in markdown.splitlines()
            if line.startswith(f"| {first_cell} |")]


def test_judge_section_reads_the_batch_runs_the_table_reads(tmp_path):
    """Two batch (pinned) runs judged alike by ja and jb, and a one-off Explore pair of the same model at
    another seed (not pinned) on which the judges disagree on both questions. By hand, over the batch runs:
    4 questions, all agree (κ 1); 2 instances, both agree (both 1: κ undefined); each judge scores m 100/100 on WK, n = 2. Before: the
    section read every run, so it split m into 'm (seed=3)' and 'm (seed=7)', names the table above never
    shows, and its agreement counted 8 questions (4 of them disagreeing) from the Explore pair."""
    store = Store.open(tmp_path / "arena.db")
    for mode in ("direct", "stepwise"):
        run_id = store.save_trace(Trace(f"UEG_1_{WK}", "m", mode, {"seed": 3}, image_steps()), "set", pin=True)
        judge(store, run_id, "ja", RIGHT)
        judge(store, run_id, "jb", RIGHT)
        one_off = store.save_trace(Trace(f"UEG_1_{WK}", "m", mode, {"seed": 7}, image_steps()), "set")
        judge(store, one_off, "ja", RIGHT)
        judge(store, one_off, "jb", [["no"], ["yes"]])
    ctx = SimpleNamespace(store=store)
    assert rows_of(benchmark_markdown(ctx), "m")  # the table names the model 'm'
    text = judges_markdown(ctx)
    assert "seed=" not in text, text
    assert "**m**" in text
    (overall,) = rows_of(text, "ja | jb | all UEG")
    # questions: (yes, yes) twice and (no, no) twice: p_o = 1, p_e = 1/2, κ = 1; instances: both 1 twice,
    # p_e = 1, κ undefined
    assert overall[3:9] == ["4", "100.0%", "1.00", "2", "100.0%", "undefined"]
    (scores,) = [r for r in rows_of(text, "ja") if r[1] != "jb"]  # the score row, not the agreement rows
    assert scores[1:] == ["2", "100.0/100.0", "100.0/100.0"]
    assert text == PairedCache(ctx).contents().judges  # the section shows this text

    # report --judges reads every run, as report does: both pairs, each under its settings
    (every,) = agreement.compare_judges(store, ["ja", "jb"])
    assert (every.agreement[0].questions, every.agreement[0].instances) == (8, 4)
    assert set(every.scores) == {"m (seed=3)", "m (seed=7)"}
    store.close()


def test_paired_section_follows_a_failed_run_replaced_in_place(tmp_path):
    """``merge`` puts a successful run in place of a failed one (``Store.replace_failed_run``): same id, same
    pin, judgments unchanged until a judge sees it. By hand: before, instance 1 is right direct and failed
    stepwise (scored 0: 1 hurt), instance 2 right in both; after, instance 1's stepwise run is a success
    not judged yet: undecided, left out and counted, so WK has n = 1 pair, 0 hurt, 1 undecided. Before the
    fix the section kept showing the failed run's 'hurt' until some other change reached the store."""
    store = Store.open(tmp_path / "arena.db")
    failed = None
    for i in (1, 2):
        for mode in ("direct", "stepwise"):
            fails = i == 1 and mode == "stepwise"
            run_id = store.save_trace(Trace(f"UEG_{i}_{WK}", "m", mode, {"seed": 3}, [] if fails else image_steps(),
                                            Status.ERROR if fails else Status.OK), "set", pin=True)
            if fails:
                failed = run_id
            else:
                judge(store, run_id, "ja", RIGHT)
    cache = PairedCache(SimpleNamespace(store=store))
    (row,) = rows_of(cache.contents().tables, "WK")
    assert (row[1], row[3], row[12]) == ("2", "1", "0 / 0")
    assert store.replace_failed_run(failed, Trace(f"UEG_1_{WK}", "m", "stepwise", {"seed": 3}, image_steps()),
                                    pin=True)
    (row,) = rows_of(cache.contents().tables, "WK")
    assert (row[1], row[3], row[12]) == ("1", "0", "0 / 1")
    store.close()
