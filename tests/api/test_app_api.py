"""The app launched in-process with tiny models and a temp DB, driven through its named API endpoints."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from contextlib import closing

import pytest
from gradio_client import Client
from gradio_client.utils import Status
from gradio_sessions import close_soon
from unlimited import NOT_LIMITED

from realunify_arena import ratings
from realunify_arena.adapters.tiny import resolve
from realunify_arena.benchmark import load
from realunify_arena.benchmark.generators import generate_set, write_set
from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.runs import run_to_end
from realunify_arena.store import Store
from realunify_arena.ui import build_demo, launch_options

pytestmark = pytest.mark.slow
MODELS = ("tiny-pair", "tiny-janus")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("app")
    write_set(generate_set(1, seed=3, task_types=["mathematical_reasoning", "mental_tracking"]), root / "data")
    settings = Settings(data=(str(root / "data"),), models=MODELS, judge="tiny-pair", db=root / "arena.db",
                        gpu_concurrency=2, min_votes=1, **NOT_LIMITED)  # the module's tests share it
    store = Store.open(settings.db)
    pool = ModelPool(load_cards())
    demo = build_demo(settings, store, pool)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    client = Client(url, verbose=False)
    yield {"client": client, "url": url, "store": store, "source": settings.data[0],
           "dataset": load(settings.data[0]), "loaded_at_start": pool.resident()}
    demo.close()  # the server first: the client's close then need not wait out its heartbeat read (1 s)
    client.close()
    store.close()


def _uid(app, track: str) -> str:
    return next(i.uid for i in app["dataset"].instances if i.track == track)


def test_start_up_loads_no_model(app):
    assert app["loaded_at_start"] == []


def test_named_endpoints_are_public_and_glue_is_not(app):
    named = set(app["client"].view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/instances", "/run_instance", "/new_battle", "/vote", "/leaderboard"} <= named
    assert not any("lambda" in name or name.startswith("/_") for name in named), named


def test_instances_lists_the_source(app):
    rows = app["client"].predict(app["source"], "all", "all", api_name="/instances")
    assert {r["uid"] for r in rows} == {i.uid for i in app["dataset"].instances}
    geu = app["client"].predict(app["source"], "GEU", "all", api_name="/instances")
    assert geu and all(r["track"] == "GEU" for r in geu)


@pytest.mark.parametrize("track, task_type, message", [
    ("ueg", "all", "track 'ueg': expected one of all, UEG, GEU"),
    ("UEG", "bogus", "task type 'bogus': expected all or one of"),
    (["UEG"], "all", "track ['UEG']: expected one of all, UEG, GEU"),
])
def test_instances_refuses_an_unknown_track_or_task_type(app, track, task_type, message):
    """A misspelt filter is refused with what was expected, not answered with an empty list that reads
    as 'this source has no such instances'."""
    with pytest.raises(Exception, match=re.escape(message)):
        app["client"].predict(app["source"], track, task_type, api_name="/instances")


def test_an_unknown_instance_or_source_is_refused_with_its_message_whole(app):
    """A refusal that ends in a quoted name keeps its closing quote (the quotes of the KeyError's repr were
    stripped, and the message's own last quote with them: "no instance 'nope' in dataset 'x")."""
    name = app["dataset"].name
    with pytest.raises(Exception) as refused:
        app["client"].predict(app["source"], "nope", "tiny-pair", "direct", 0, "", api_name="/run_instance")
    assert str(refused.value).endswith(f"no instance 'nope' in dataset '{name}'"), str(refused.value)
    with pytest.raises(Exception) as refused:
        app["client"].predict("'elsewhere'", "all", "all", api_name="/instances")
    assert "data source \"'elsewhere'\" is not configured" in str(refused.value), str(refused.value)


@pytest.mark.parametrize("mode, roles", [("direct", ["generated_image"]),
                                         ("stepwise", ["refined_prompt", "generated_image"])])
def test_ueg_run_is_stored_with_its_images_and_judged(app, mode, roles):
    uid = _uid(app, "UEG")
    out = app["client"].predict(app["source"], uid, "tiny-pair", mode, 5, "tiny-pair", api_name="/run_instance")
    assert out["status"] == "ok", out["error"]
    store = app["store"]
    trace = store.load_trace(out["run_id"])
    assert (trace.instance_uid, trace.model, trace.mode, trace.settings["seed"]) == (uid, "tiny-pair", mode, 5)
    assert [s.role.value for s in trace.steps] == roles
    assert store.image_path(trace.steps[-1].image_sha).is_file()
    if mode == "stepwise":  # the image was generated from the refined text, and that is recorded
        assert trace.steps[1].prompt == trace.steps[0].text
    judgment = store.find_judgment(out["run_id"], "tiny-pair")
    expected = app["dataset"].get(uid).question_list
    assert [q["question"] for q in judgment["details"]["questions"]] == [q.question for q in expected]
    assert [q["expected"] for q in judgment["details"]["questions"]] == [q.answer for q in expected]
    assert out["judgment"] == judgment


@pytest.mark.parametrize("mode, roles", [("direct", ["answer"]), ("stepwise", ["edited_image", "answer"])])
def test_geu_run_is_stored_and_scored_by_its_letter(app, mode, roles):
    uid = _uid(app, "GEU")
    out = app["client"].predict(app["source"], uid, "tiny-pair", mode, 0, "", api_name="/run_instance")
    assert out["status"] == "ok", out["error"]
    trace = app["store"].load_trace(out["run_id"])
    assert [s.role.value for s in trace.steps] == roles
    assert trace.steps[-1].prompt == app["dataset"].get(uid).mcq_text
    details = out["judgment"]["details"]
    assert details["reply"] == trace.steps[-1].text
    assert details["answer"] == app["dataset"].get(uid).answer
    assert out["judgment"]["score"] == int(details["letter"] == details["answer"])


def test_asking_again_reuses_the_stored_run(app):
    uid = _uid(app, "UEG")
    first = app["client"].predict(app["source"], uid, "tiny-janus", "direct", 9, "", api_name="/run_instance")
    again = app["client"].predict(app["source"], uid, "tiny-janus", "direct", 9, "", api_name="/run_instance")
    assert again["run_id"] == first["run_id"] and again["reused"] and not first["reused"]
    other_seed = app["client"].predict(app["source"], uid, "tiny-janus", "direct", 10, "", api_name="/run_instance")
    assert other_seed["run_id"] != first["run_id"]


def test_bad_requests_get_specific_errors(app):
    with pytest.raises(Exception, match="model 'nope'"):
        app["client"].predict(app["source"], _uid(app, "UEG"), "nope", "direct", 0, "", api_name="/run_instance")
    with pytest.raises(Exception, match="mode 'sideways'"):
        app["client"].predict(app["source"], _uid(app, "UEG"), "tiny-pair", "sideways", 0, "",
                              api_name="/run_instance")
    with pytest.raises(Exception, match="no instance 'UEG_99_world_knowledge'"):
        app["client"].predict(app["source"], "UEG_99_world_knowledge", "tiny-pair", "direct", 0, "",
                              api_name="/run_instance")
    runs_before = len(app["store"].runs())
    for seed, message in ((1.5, "seed = 1.5 is not allowed for tiny-pair: it must be a whole number"),
                          ("abc", "seed = 'abc' is not allowed for tiny-pair: it must be a number"),
                          (-3, "seed = -3 is outside the allowed range"),
                          (10**400, "seed = 1000000000000000000000000000000000000... is outside the allowed range")):
        with pytest.raises(Exception, match=re.escape(message)):  # was: 1.5 ran as seed 1; "abc" named no field
            app["client"].predict(app["source"], _uid(app, "UEG"), "tiny-pair", "direct", seed, "",
                                  api_name="/run_instance")
    assert len(app["store"].runs()) == runs_before


def test_a_request_with_several_bad_parts_names_each_in_one_refusal(app, monkeypatch):
    """Two bad parts of one /run_instance request are both named, not one per try (as check_options names
    every bad setting), and a secret pasted as one of them stays masked in that line."""
    secret = "Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz2Xc4Vb6Nm8P"  # 40 characters, as a service token
    monkeypatch.setenv("MY_SERVICE_TOKEN", secret)
    uid = _uid(app, "UEG")
    runs_before = len(app["store"].runs())
    cases = [(("tiny-janus", "sideways", -5, ""), ["mode 'sideways'", "seed = -5 is outside the allowed range"]),
             (("tiny-janus", "direct", -5, "nope"), ["judge 'nope'", "seed = -5 is outside the allowed range"]),
             (("nope-model", "direct", 0, "nope"), ["judge 'nope'", "model 'nope-model'"]),
             (("tiny-janus", "sideways", 0, secret), ["mode 'sideways'", "judge '***'"])]
    for (model, mode, seed, judge), named in cases:
        with pytest.raises(Exception) as info:
            app["client"].predict(app["source"], uid, model, mode, seed, judge, api_name="/run_instance")
        message = str(info.value)
        assert all(part in message for part in named) and "\n" not in message, (named, message)
        assert secret[:8] not in message
    assert len(app["store"].runs()) == runs_before


@pytest.mark.parametrize("args, endpoint, named", [
    (("bundled-nope", "XX", "yy"), "/instances", ["data source 'bundled-nope'", "track 'XX'", "task type 'yy'"]),
    ((None, "XX", "yy"), "/instances", ["track 'XX'", "task type 'yy'"]),
    (("bundled-nope", "XX", "yy"), "/new_battle", ["data source 'bundled-nope'", "track 'XX'", "battle kind 'yy'"]),
    ((None, "XX", "yy"), "/new_battle", ["track 'XX'", "battle kind 'yy'"])])
def test_instances_and_new_battle_name_each_bad_filter_in_one_refusal(app, args, endpoint, named):
    """An unknown source, track and task type (or battle kind) are all named at once, not one per try."""
    args = (app["source"] if args[0] is None else args[0], *args[1:])
    before = app["store"].query("select count(*) as n from battles")[0]["n"]
    with pytest.raises(Exception) as info:
        app["client"].predict(*args, api_name=endpoint)
    message = str(info.value)
    assert all(part in message for part in named) and "\n" not in message, (named, message)
    assert app["store"].query("select count(*) as n from battles")[0]["n"] == before


def test_a_huge_argument_is_refused_without_being_echoed_back_whole(app):
    """A refusal names the bad value briefly and says what was expected: a caller's 100,000-character
    argument must not come back as a 100,000-character error (nor fill a page's toast)."""
    huge = "x" * 100_000
    uid = _uid(app, "UEG")
    calls = {
        "data source": ((huge, "all", "all"), "/instances"),
        "model": ((app["source"], uid, huge, "direct", 0, ""), "/run_instance"),
        "mode": ((app["source"], uid, "tiny-pair", huge, 0, ""), "/run_instance"),
        "no instance": ((app["source"], huge, "tiny-pair", "direct", 0, ""), "/run_instance"),
        "source": ((huge, uid, "tiny-pair", "direct", 0, ""), "/run_instance"),
        "track": ((app["source"], huge, "any"), "/new_battle"),
        "choice": (("a" * 32, huge), "/vote"),
        "expected track": ((huge, huge), "/leaderboard"),
    }
    for what, (args, endpoint) in calls.items():
        with pytest.raises(Exception) as info:
            app["client"].predict(*args, api_name=endpoint)
        message = str(info.value)
        assert what in message and len(message) < 1_000, (endpoint, what, message[:200], len(message))


@pytest.mark.parametrize("kind", ["model-vs-model", "bogus", ["model_vs_model"]])
def test_an_unknown_battle_kind_is_refused_and_starts_no_battle(app, kind):
    """A misspelt kind is refused like a misspelt track, not silently played as a battle of any kind
    (the caller would vote on a kind of battle it did not ask for)."""
    before = app["store"].query("select count(*) as n from battles")[0]["n"]
    with pytest.raises(Exception, match=r"kind .*expected one of any, model_vs_model, direct_vs_stepwise"):
        app["client"].predict(app["source"], "UEG", kind, api_name="/new_battle")
    assert app["store"].query("select count(*) as n from battles")[0]["n"] == before


@pytest.mark.parametrize("judge, shown", [("nope", "'nope'"), ("gpt-image-1", "'gpt-image-1'"),
                                          (["tiny-pair"], "['tiny-pair']")])
def test_a_judge_that_is_not_offered_is_refused_before_anything_runs(app, judge, shown):
    """An unknown judge (or a card that cannot read images) is refused up front, like an unknown model:
    not a model run stored first and then an internal 'ModelUnavailable' failure in judge_problem."""
    uid = next(i.uid for i in app["dataset"].instances if i.track == "UEG")
    runs_before = len(app["store"].runs())
    with pytest.raises(Exception, match=re.escape(f"judge {shown}: expected human or one of")):
        app["client"].predict(app["source"], uid, "tiny-janus", "stepwise", 7, judge, api_name="/run_instance")
    assert len(app["store"].runs()) == runs_before


def test_battle_hides_identities_until_the_vote_and_the_vote_is_stored(app):
    client, store = app["client"], app["store"]
    battle = client.predict(app["source"], "UEG", "model_vs_model", api_name="/new_battle")
    assert battle["ready"], battle
    assert all(side["image"] for side in battle["sides"].values())  # the final output only, before the vote
    assert not any(name in json.dumps(battle) for name in MODELS), "a system name reached the client"

    revealed = client.predict(battle["battle_id"], "A", api_name="/vote")
    assert {revealed["system_a"], revealed["system_b"]} <= {f"{m}:{mode}" for m in MODELS
                                                              for mode in ("direct", "stepwise")}
    rows = [v for v in store.votes() if v["battle_id"] == battle["battle_id"]]
    assert len(rows) == 1 and rows[0]["choice"] == "A" and rows[0]["kind"] == "model_vs_model"
    assert (rows[0]["system_a"], rows[0]["system_b"]) == (revealed["system_a"], revealed["system_b"])
    assert rows[0]["run_a"] is not None and rows[0]["run_b"] is not None

    with pytest.raises(Exception, match="already has a vote"):
        client.predict(battle["battle_id"], "B", api_name="/vote")
    assert len([v for v in store.votes() if v["battle_id"] == battle["battle_id"]]) == 1

    board = client.predict("UEG", "model_vs_model", api_name="/leaderboard")
    assert {r["system"] for r in board} >= {revealed["system_a"], revealed["system_b"]}
    assert sum(r["votes"] for r in board) == 2 * len(store.votes(track="UEG", kind="model_vs_model"))


def test_the_leaderboard_is_fitted_once_per_new_vote(app, monkeypatch):
    fits = []

    def counted(*args, **kwargs):  # the real fit, counted
        fits.append(kwargs)
        return real_leaderboard(*args, **kwargs)

    real_leaderboard = ratings.rate_counts  # what the app's background refit runs, once per board and new vote
    monkeypatch.setattr(ratings, "rate_counts", counted)
    client, store = app["client"], app["store"]
    first = client.predict("GEU", "model_vs_model", api_name="/leaderboard")
    fitted = len(fits)
    assert client.predict("GEU", "model_vs_model", api_name="/leaderboard") == first
    assert len(fits) == fitted  # no new vote: the stored board is served

    battle = client.predict(app["source"], "GEU", "model_vs_model", api_name="/new_battle")
    client.predict(battle["battle_id"], "B", api_name="/vote")
    board = client.predict("GEU", "model_vs_model", api_name="/leaderboard")
    assert len(fits) == fitted + 1
    assert sum(r["votes"] for r in board) == sum(r["votes"] for r in first) + 2
    assert sum(r["votes"] for r in board) == 2 * len(store.votes(track="GEU", kind="model_vs_model"))


def test_a_vote_from_another_session_or_with_a_bad_choice_is_refused(app):
    battle = app["client"].predict(app["source"], "GEU", "direct_vs_stepwise", api_name="/new_battle")
    assert battle["ready"], battle
    stranger = Client(app["url"], verbose=False)
    try:
        with pytest.raises(Exception, match="another session"):
            stranger.predict(battle["battle_id"], "A", api_name="/vote")
    finally:
        close_soon(stranger)
    with pytest.raises(Exception, match="choice 'C'"):
        app["client"].predict(battle["battle_id"], "C", api_name="/vote")
    assert not [v for v in app["store"].votes() if v["battle_id"] == battle["battle_id"]]
    revealed = app["client"].predict(battle["battle_id"], "both_bad", api_name="/vote")
    model_a, mode_a = revealed["system_a"].split(":")
    model_b, mode_b = revealed["system_b"].split(":")
    assert model_a == model_b and {mode_a, mode_b} == {"direct", "stepwise"}


BLOCKED_S = 120  # how long a stored battle may take while a model event waits for the device lock


def test_stored_arena_mode_serves_battles_without_running_a_model(tmp_path):
    write_set(generate_set(1, seed=4, task_types=["mental_tracking"]), tmp_path / "data")
    source = str(tmp_path / "data")
    store = Store.open(tmp_path / "arena.db")
    dataset = load(source)
    inst = dataset.instances[0]
    with closing(ModelPool(load_cards())) as batch_pool:
        for model in MODELS:  # what a batch evaluation would have stored
            run_to_end(store, batch_pool, dataset.name, inst, model, "direct", batch_pool.cards[model].options())
    store.pin(r["id"] for r in store.runs())  # as `eval` pins its runs: stored battles draw only pinned runs
    runs_before = len(store.runs())

    pool = ModelPool(load_cards())
    settings = Settings(data=(source,), models=MODELS, db=tmp_path / "arena.db", arena_mode="stored")
    demo = build_demo(settings, store, pool)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    client = Client(url, verbose=False)
    try:
        battle = client.predict(source, "any", "any", api_name="/new_battle")
        assert battle["ready"] and battle["instance_uid"] == inst.uid
        revealed = client.predict(battle["battle_id"], "tie", api_name="/vote")
        assert {revealed["system_a"], revealed["system_b"]} == {f"{m}:direct" for m in MODELS}
        assert pool.resident() == [] and len(store.runs()) == runs_before
        with pytest.raises(Exception, match="stored runs"):  # GEU direct-vs-stepwise: nothing stored to draw
            client.predict(source, "GEU", "direct_vs_stepwise", api_name="/new_battle")

        # A model event holds the one-at-a-time gpu group (its model waits for the device lock held here);
        # stored battles and votes go on meanwhile.
        with pool.lock_for("tiny-pair"):
            busy = client.submit(source, inst.uid, "tiny-pair", "direct", 99, api_name="/run_instance")
            while busy.status().code != Status.PROCESSING:
                time.sleep(0.05)
            during = Client(url, verbose=False)
            # a bound on the wait, not a timing check: a stored battle queued behind the model event would
            # wait for the lock held here, that is for ever
            battle = during.submit(source, "any", "any", api_name="/new_battle").result(timeout=BLOCKED_S)
            during.predict(battle["battle_id"], "A", api_name="/vote")
            close_soon(during)
            assert not busy.done()
        assert busy.result(timeout=120)["status"] == "ok"
    finally:
        demo.close()  # the server first: the client's close then need not wait out its heartbeat read (1 s)
        client.close()
        store.close()


def test_a_card_that_cannot_run_here_is_refused_unless_its_run_is_stored(tmp_path):
    """A Janus card whose weights are on disk but say 999 GB (too large for this CPU host): /run_instance
    refuses a new run of it, and a judgment by it, with the reason and without loading anything; a stored
    run of it is still served (a CPU Space shows stored runs of models it cannot hold)."""
    write_set(generate_set(1, seed=5, task_types=["mathematical_reasoning"]), tmp_path / "data")
    source = str(tmp_path / "data")
    dataset = load(source)
    inst = next(i for i in dataset.instances if i.track == "UEG" and i.question_list)
    tiny = resolve(load_cards()["tiny-janus"])  # the built tiny Janus folder, as a real Janus card
    huge = dataclasses.replace(tiny, name="huge-janus", params={**tiny.params, "memory_gb": 999})
    cards = {**load_cards(), "huge-janus": huge}
    store = Store.open(tmp_path / "arena.db")
    with closing(ModelPool(cards)) as batch_pool:  # what a machine that can hold it stored
        stored = run_to_end(store, batch_pool, dataset.name, inst, "huge-janus", "direct",
                            huge.options(seed=1))
    assert stored.run_id is not None

    pool = ModelPool(cards)
    settings = Settings(data=(source,), models=("tiny-pair", "huge-janus"), judge="tiny-pair",
                        db=tmp_path / "arena.db")
    demo = build_demo(settings, store, pool)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    client = Client(url, verbose=False)
    try:
        runs_before = len(store.runs())
        fresh = client.predict(source, inst.uid, "huge-janus", "direct", 2, "", api_name="/run_instance")
        assert fresh["status"] == "error" and fresh["run_id"] is None
        assert "huge-janus cannot run here: too large for this machine" in fresh["error"]
        assert pool.resident() == [] and len(store.runs()) == runs_before  # nothing loaded, nothing stored

        served = client.predict(source, inst.uid, "huge-janus", "direct", 1, "", api_name="/run_instance")
        assert served["status"] == "ok" and served["reused"] and served["run_id"] == stored.run_id

        judged = client.predict(source, inst.uid, "tiny-pair", "direct", 3, "huge-janus", api_name="/run_instance")
        assert judged["status"] == "ok" and judged["judgment"] is None
        assert "judge huge-janus not run: huge-janus cannot run here: too large" in judged["judge_problem"]
        assert pool.resident() == ["tiny-pair"]  # the model ran; the judge never loaded
    finally:
        demo.close()  # the server first: the client's close then need not wait out its heartbeat read (1 s)
        client.close()
        store.close()
