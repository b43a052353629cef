"""The runs service (``realunify_arena.runs``) and your own instances (``benchmark.custom``), on a real SQLite
store with tiny real models: the one path from an instance to a stored, judged run that Explore, the API
and ``eval`` share, and where one-off instances' runs live."""

from __future__ import annotations

import re
import threading

import pytest
from PIL import Image

from realunify_arena.benchmark import load
from realunify_arena.benchmark.custom import CUSTOM_DATASET, custom_instance
from realunify_arena.cards import load_cards
from realunify_arena.cli import main
from realunify_arena.judge import ANSWER_PARSER, HUMAN
from realunify_arena.reporting import reports_from_store
from realunify_arena.runs import (
    JUDGING,
    concurrently,
    judge_by_hand,
    judge_run,
    new_runs,
    run_and_judge,
    run_to_end,
    stream_run,
)
from realunify_arena.runtime import ModelPool
from realunify_arena.store import RateLimited
from realunify_arena.trace import Status

JUDGE = "tiny-pair"


@pytest.fixture(scope="module")
def pool():
    return ModelPool(load_cards())


@pytest.fixture(scope="module")
def bundled():
    return load("bundled")


def _first(dataset, track):
    return next(i for i in dataset.instances if i.track == track)


def _letter(reply: str | None) -> str | None:
    """The paper's reading, written here independently: the answer phrases go, then the first capital A-D."""
    text = re.sub(r"The (best |correct )?(answer|option)( is)?|(Best )?(answer|option):|Answer:|Option:", "",
                  reply or "")
    found = re.search("[ABCD]", text)
    return found.group(0) if found else None


def test_a_run_streams_its_steps_is_stored_and_is_then_reused(store, pool, bundled):
    inst = _first(bundled, "UEG")
    options = pool.cards["tiny-pair"].options(seed=4)
    updates = list(stream_run(store, pool, bundled.name, inst, "tiny-pair", "stepwise", options))
    # the model ready (no step yet: the page stops saying "loading"), refined prompt, image, the stored run
    assert [len(u.trace.steps) for u in updates] == [0, 1, 2, 2]
    assert [u.done for u in updates] == [False, False, False, True]
    last = updates[-1]
    assert last.run_id is not None and not last.reused
    assert store.load_trace(last.run_id).to_dict() == last.trace.to_dict()

    again = list(stream_run(store, pool, bundled.name, inst, "tiny-pair", "stepwise", options))
    assert len(again) == 1 and again[0].reused and again[0].run_id == last.run_id
    assert len(store.runs()) == 1


def test_new_runs_names_the_modes_stream_run_would_run_the_model_in(store, bundled):
    """Hand-counted against a real store: a stored direct run is served again (not new), the stepwise mode
    has none (new); a card that cannot run here runs nothing; once a live battle shows the direct run and
    awaits its vote, the direct mode is run again (new)."""
    from realunify_arena.arena import Arena
    from realunify_arena.trace import Trace
    inst = _first(bundled, "UEG")
    options = load_cards()["tiny-pair"].options(seed=4)
    direct = store.save_trace(Trace(inst.uid, "tiny-pair", "direct", options.to_dict()), bundled.name)
    modes = ("direct", "stepwise")
    assert new_runs(store, bundled.name, inst, "tiny-pair", modes, options) == ["stepwise"]
    assert new_runs(store, bundled.name, inst, "tiny-pair", modes, options, lambda model: "too large") == []
    assert new_runs(store, bundled.name, inst, "tiny-pair", modes, options, lambda model: None) == ["stepwise"]
    arena = Arena(store)
    battle = arena.new_battle("s1", "hf:alice", inst.uid, bundled.name, "tiny-pair:direct", "tiny-pair:stepwise",
                              "direct_vs_stepwise")
    arena.deliver(battle, "s1", "A", direct)
    assert new_runs(store, bundled.name, inst, "tiny-pair", modes, options) == ["direct", "stepwise"]


def test_a_model_that_cannot_load_gives_an_error_trace_stored_only_for_eval(store, pool, bundled):
    inst = _first(bundled, "UEG")
    options = pool.cards["tiny-pair"].options()
    app = run_to_end(store, pool, bundled.name, inst, "no-such-card", "direct", options)
    assert app.trace.status is Status.ERROR and "no-such-card" in app.trace.error
    assert app.run_id is None and store.runs() == []  # a transient failure must not shadow the retry
    batch = run_to_end(store, pool, bundled.name, inst, "no-such-card", "direct", options, keep_errors=True)
    assert batch.run_id is not None and store.run(batch.run_id)["status"] == "error"


def test_geu_is_judged_by_the_answer_parser_at_once(store, pool, bundled):
    inst = _first(bundled, "GEU")
    out = run_and_judge(store, pool, bundled.name, inst, "tiny-pair", "direct",
                        pool.cards["tiny-pair"].options(), JUDGE)
    reply = store.load_trace(out["run_id"]).final.text
    assert out["judgment"]["details"]["reply"] == reply
    assert out["judgment"]["score"] == int(_letter(reply) == inst.answer)
    assert store.find_judgment(out["run_id"], ANSWER_PARSER) == out["judgment"]
    assert store.find_judgment(out["run_id"], JUDGE) is None  # no judge model took part


def test_ueg_judging_can_wait_for_the_judge_models_turn(store, pool, bundled):
    inst = _first(bundled, "UEG")
    update = run_to_end(store, pool, bundled.name, inst, "tiny-pair", "direct", pool.cards["tiny-pair"].options())
    assert judge_run(store, pool, update.run_id, update.trace, inst, JUDGE, ask_model=False) == (None, JUDGING)
    assert store.find_judgment(update.run_id, JUDGE) is None
    judgment, problem = judge_run(store, pool, update.run_id, update.trace, inst, JUDGE)
    assert problem is None
    assert [q["question"] for q in judgment["details"]["questions"]] == [q.question for q in inst.question_list]
    assert store.find_judgment(update.run_id, JUDGE) == judgment
    # a human judge is never asked here; a person's ticks are stored by judge_by_hand
    assert judge_run(store, pool, update.run_id, update.trace, inst, HUMAN) == (None, None)
    ticked = [inst.question_list[0].question]
    human = judge_by_hand(store, update.run_id, inst, ticked, "hf:alice")
    assert [q["verdict"] for q in human["details"]["questions"]] == \
        ["yes" if q.question in ticked else "no" for q in inst.question_list]
    assert [(j["voter"], j["details"]) for j in store.human_judgments(update.run_id)] == [("hf:alice", human["details"])]
    assert store.find_judgment(update.run_id, HUMAN)["score"] == human["score"]  # one voter: their verdict


def test_human_judgments_are_kept_per_voter_rate_limited_and_feed_one_verdict(store, pool, bundled):
    """Three sessions judging one shared run no longer overwrite each other (1 -> 0 -> 1): each is kept,
    the verdict the reveal, the benchmark table and judge-human agreement read is their majority."""
    inst = _first(bundled, "UEG")
    run_id = run_to_end(store, pool, bundled.name, inst, "tiny-pair", "direct",
                        pool.cards["tiny-pair"].options()).run_id
    everything = [q.question for q in inst.question_list]
    expected_all = all(q.answer == "yes" for q in inst.question_list)
    right, wrong = (everything, []) if expected_all else ([q.question for q in inst.question_list
                                                           if q.answer == "yes"], everything)
    scores = [judge_by_hand(store, run_id, inst, ticks, voter)["score"]
              for voter, ticks in (("anon:ip1:s1", right), ("anon:ip2:s2", wrong), ("anon:ip3:s3", right))]
    assert scores == [1, 0, 1]
    assert len(store.human_judgments(run_id)) == 3
    verdict = store.find_judgment(run_id, HUMAN)
    assert verdict["score"] == 1 and verdict["details"]["voters"] == 3
    assert judge_run(store, pool, run_id, store.load_trace(run_id), inst, HUMAN) == (verdict, None)  # the reveal's
    rows = [j for j in store.judgments() if j["judge"] == HUMAN]  # the benchmark table's and agreement's
    assert [(j["run_id"], j["score"]) for j in rows] == [(run_id, 1)]
    with pytest.raises(RateLimited, match="at most 1 judgments per 60 s"):
        judge_by_hand(store, run_id, inst, wrong, "anon:ip1:s9", rate_key="anon:ip1", max_per_window=1)
    assert len(store.human_judgments(run_id)) == 3


def test_eval_and_the_app_share_runs(store, pool, bundled):
    """A run ``eval`` stored is the run the app shows for the same settings, and the other way round."""
    inst = _first(bundled, "GEU")
    options = pool.cards["tiny-pair"].options()
    with pool.use("tiny-pair") as adapter:
        batch = run_to_end(store, pool, bundled.name, inst, "tiny-pair", "direct", options, adapter=adapter,
                           keep_errors=True)
    shown = run_to_end(store, pool, bundled.name, inst, "tiny-pair", "direct", options)
    assert shown.reused and shown.run_id == batch.run_id


def test_your_own_geu_question_without_an_answer_is_read_but_not_scored(store, pool):
    image = Image.new("RGB", (16, 16), "orange")
    asked = custom_instance("GEU", "all", None, image, "What colour?", "orange\nblue\ngreen\nred", "")
    out = run_and_judge(store, pool, CUSTOM_DATASET, asked, "tiny-pair", "direct",
                        pool.cards["tiny-pair"].options(), JUDGE)
    judgment = out["judgment"]
    assert judgment["score"] is None and judgment["details"]["strict_score"] is None
    assert judgment["details"]["letter"] == _letter(judgment["details"]["reply"])
    with_answer = custom_instance("GEU", "all", None, image, "What colour?", "orange\nblue\ngreen\nred", "A")
    scored = run_and_judge(store, pool, CUSTOM_DATASET, with_answer, "tiny-pair", "direct",
                           pool.cards["tiny-pair"].options(), JUDGE)["judgment"]
    assert scored["score"] == int(scored["details"]["letter"] == "A")


def test_your_own_instances_stay_out_of_the_table_and_the_official_export(tmp_path, capsys, pool, bundled):
    """Before: one Explore run of your own instance made ``export --format official`` fail for the whole
    store (``LookupError: runs of dataset 'custom': ...``)."""
    from realunify_arena.store import Store

    db = tmp_path / "arena.db"
    store = Store.open(db)
    options = pool.cards["tiny-pair"].options()
    own = custom_instance("UEG", "all", "Three green apples on a wooden table", None, None, None, None)
    assert run_to_end(store, pool, CUSTOM_DATASET, own, "tiny-pair", "direct", options).run_id is not None
    assert main(["export", "--format", "official", "--out", str(tmp_path / "only-own"), "--db", str(db)]) == 1
    assert "no stored runs" in capsys.readouterr().err

    inst = _first(bundled, "GEU")
    run_and_judge(store, pool, bundled.name, inst, "tiny-pair", "direct", options, JUDGE)
    run_and_judge(store, pool, CUSTOM_DATASET, custom_instance(
        "GEU", "all", None, Image.new("RGB", (8, 8)), "Which?", "a\nb\nc\nd", "B"), "tiny-pair", "direct", options,
        JUDGE)
    assert {r["dataset"] for r in store.runs()} == {CUSTOM_DATASET, bundled.name}
    assert [r.dataset for r in reports_from_store(store)] == [bundled.name]
    store.close()

    out = tmp_path / "export"
    assert main(["export", "--format", "official", "--out", str(out), "--db", str(db)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [bundled.name]
    capsys.readouterr()
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "reports")]) == 0
    table = capsys.readouterr().out
    assert f"### {bundled.name}" in table and CUSTOM_DATASET not in table
    assert main(["export", "--format", "official", "--dataset", CUSTOM_DATASET, "--out", str(out),
                 "--db", str(db)]) == 1
    assert "your own one-off instances" in capsys.readouterr().err


def test_concurrent_streams_end_and_release_their_locks_while_another_still_waits():
    """``concurrently`` (a battle's sides): a stream holding a lock while suspended, as a local run holds its
    device lock, ends and releases it while another stream is still blocked (a remote side waiting for its
    endpoint); its items arrive meanwhile; an exception is raised on the consuming side; closing the
    consumer closes each stream after its next item."""
    device, answer = threading.RLock(), threading.Event()
    closed = []

    def local():
        with device:
            yield "local", 1
            yield "local", 2

    def remote():
        try:
            answer.wait(10)  # a hung request, until the test answers it
            yield "remote", 1
            yield "remote", 2
        finally:
            closed.append("remote")

    items = concurrently([local(), remote()])
    assert [next(items), next(items)] == [("local", 1), ("local", 2)]  # not held behind the remote one

    def take():
        if not device.acquire(timeout=5):
            return False
        device.release()
        return True
    taker = []
    t = threading.Thread(target=lambda: taker.append(take()))  # another run gets the device meanwhile
    t.start()
    t.join(10)
    assert taker == [True]
    answer.set()
    assert next(items) == ("remote", 1)
    items.close()  # abandoned: the remote stream is closed after its next item
    for _ in range(100):
        if closed:
            break
        threading.Event().wait(0.05)
    assert closed == ["remote"]

    def fails():
        yield "x"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        list(concurrently([fails(), iter(["y"])]))


def test_a_run_stopped_while_its_model_loads_keeps_its_run_limit_count(store, bundled):
    """A run stopped once its model began loading used the machine (the load runs to its end all the same):
    before, that Stop gave its run-limit count back, so one visitor could start runs, press Stop at the loading
    stage and make the machine load models (two alternating evict each other) without limit. Now
    ``RunControl.spent`` decides: on a real store and a fresh real pool, the run stopped at its loading stage
    keeps its run_starts row, a run that generated keeps its row, and a model that fails to load (no fault of
    the visitor's) gives it back. Hand-counted rows: 3 admitted, the first 2 left."""
    from realunify_arena.arena import Arena
    from realunify_arena.stopping import RunControl, RunRegistry

    arena = Arena(store, max_runs=10, run_window_seconds=60)
    runs = RunRegistry(release=arena.release_runs)
    fresh = ModelPool(load_cards())  # nothing loaded yet: the run reports its loading stage
    inst = _first(bundled, "UEG")
    options = fresh.cards["tiny-janus"].options(seed=1)
    counts = arena.admit_runs("hf:alice", 3)
    request = runs.begin("s", 3, keys=("stopped", "ran", "broken"), counted=dict(zip(("stopped", "ran", "broken"),
                                                                                    counts)))
    stopped = runs.open("s", request, None, "stopped")
    stages = []
    last = run_to_end(store, fresh, bundled.name, inst, "tiny-janus", "direct", options, control=stopped,
                      report=lambda stage: (stages.append(stage), stopped.stop()))
    assert stages and last.trace.status is Status.ERROR and "Stop" in last.trace.error
    runs.close("s", request, stopped, "stopped")
    ran = runs.open("s", request, None, "ran")
    assert run_to_end(store, fresh, bundled.name, inst, "tiny-janus", "direct", options,
                      control=ran).trace.status is Status.OK
    runs.close("s", request, ran, "ran")
    broken = runs.open("s", request, None, "broken")
    assert run_to_end(store, fresh, bundled.name, inst, "no-such-card", "direct", options,
                      control=broken).trace.status is Status.ERROR
    runs.close("s", request, broken, "broken")
    assert [row["id"] for row in store.query("select id from run_starts order by id")] == counts[:2]
    assert not RunControl().started and not RunControl().spent
