"""Every vote refusal (and, beside them, a run whose save the disk did not confirm), through the launched app
(``build_demo``) and gradio_client, on a real SQLite store.

The arena runs in ``stored`` mode over runs saved here, so no model is loaded. Two situations the public
API cannot produce on demand are set up on the server side, as the app itself would leave them: a battle
issued to the client's session whose outputs are not delivered yet (the UI's state between "new battle"
and "both outputs shown"), and a voter who has already used the rate limit.
"""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
from failing_sync import FailingSync
from gradio_sessions import close_soon
from gradio_client import Client
from PIL import Image
from queue_calls import fn_index, predict_call, queue_call

from realunify_arena import walsync
from realunify_arena.arena import SALT_ENV, Arena
from realunify_arena.benchmark import load
from realunify_arena.benchmark.generators import generate_set, write_set
from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.trace import Step, StepRole, Trace
from realunify_arena.ui import build_demo, launch_options

pytestmark = pytest.mark.slow
SYSTEMS = ("tiny-pair:direct", "tiny-janus:direct")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.delenv(SALT_ENV, raising=False)  # the salt is generated and kept in the database
    root = tmp_path_factory.mktemp("votes")
    write_set(generate_set(1, seed=5, task_types=["commonsense_reasoning"]), root / "data")
    settings = Settings(data=(str(root / "data"),), models=("tiny-pair", "tiny-janus"), judge="human",
                        db=root / "arena.db", arena_mode="stored", vote_limit=5, vote_window=3600,
                        battle_limit=8, battle_window=3600,
                        trusted_proxies=1)  # clients: visitors behind one proxy, told apart by X-Forwarded-For
    dataset = load(settings.data[0])
    uid = dataset.instances[0].uid
    store = Store.open(settings.db)
    for system in SYSTEMS:
        model, mode = system.split(":")
        store.save_trace(Trace(uid, model, mode, {"seed": 0}, steps=[
            Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("RGB", (4, 4), len(model)))]), dataset.name,
            pin=True)  # as `eval` stores them: stored battles draw only pinned runs
    demo = build_demo(settings, store, ModelPool(load_cards()))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    yield {"url": url, "store": store, "source": settings.data[0], "dataset": dataset.name, "uid": uid,
           "settings": settings}
    demo.close()
    store.close()
    mp.undo()


_addresses = iter(f"198.51.100.{n}" for n in range(1, 255))


@pytest.fixture
def connect(app):
    """Open browser sessions; each test votes from its own address so rate limits do not interfere."""
    clients: list[Client] = []

    def open_session(ip: str | None = None) -> Client:
        clients.append(Client(app["url"], headers={"x-forwarded-for": ip or next(_addresses)}, verbose=False))
        return clients[-1]

    yield open_session
    for c in clients:  # each close told at once; none waited for (its heartbeat thread's join waits 1 s)
        close_soon(c)


def new_battle(app, c: Client) -> str:
    battle = c.predict(app["source"], "UEG", "model_vs_model", api_name="/new_battle")
    assert battle["ready"], battle
    return battle["battle_id"]


def vote_count(app) -> int:
    return app["store"].query("select count(*) as n from votes")[0]["n"]


def refusal(c: Client, battle_id, choice: str = "A") -> str:
    with pytest.raises(Exception) as info:
        c.predict(battle_id, choice, api_name="/vote")
    return str(info.value)


def test_identities_reach_the_browser_only_with_the_accepted_vote(app, connect):
    c = connect()
    battle = c.predict(app["source"], "UEG", "model_vs_model", api_name="/new_battle")
    assert battle["ready"] and not any(s.split(":")[0] in json.dumps(battle) for s in SYSTEMS)
    before = vote_count(app)
    revealed = c.predict(battle["battle_id"], "B", api_name="/vote")
    assert {revealed["system_a"], revealed["system_b"]} == set(SYSTEMS)
    assert vote_count(app) == before + 1
    assert [v["choice"] for v in app["store"].votes() if v["battle_id"] == battle["battle_id"]] == ["B"]


@pytest.mark.parametrize("bad_id, message", [
    ("not a battle", "malformed battle id"),
    ("", "malformed battle id"),
    ("A" * 32, "unknown battle id"),
])
def test_malformed_and_unknown_ids_are_refused(app, connect, bad_id, message):
    before = vote_count(app)
    assert message in refusal(connect(), bad_id)
    assert vote_count(app) == before


def test_vote_from_another_session_is_refused(app, connect):
    owner, intruder = connect(), connect()
    battle = new_battle(app, owner)
    before = vote_count(app)
    assert "issued to another session" in refusal(intruder, battle)
    assert vote_count(app) == before
    owner.predict(battle, "A", api_name="/vote")  # still the owner's to cast


def test_second_vote_on_a_battle_is_refused(app, connect):
    c = connect()
    battle = new_battle(app, c)
    c.predict(battle, "tie", api_name="/vote")
    assert "already has a vote" in refusal(c, battle, "A")
    assert [v["choice"] for v in app["store"].votes() if v["battle_id"] == battle] == ["tie"]


def test_unknown_choice_is_refused(app, connect):
    c = connect()
    battle = new_battle(app, c)
    before = vote_count(app)
    assert "expected one of A, B, tie, both_bad" in refusal(c, battle, "left")
    assert vote_count(app) == before


def test_vote_before_both_outputs_were_shown_is_refused(app, connect):
    c = connect()
    arena = Arena(app["store"])  # the server issues the battle to this session; nothing is delivered
    voter = arena.voter_id(None, c.session_hash, {})
    battle = arena.new_battle(c.session_hash, voter, app["uid"], app["dataset"], *SYSTEMS, "model_vs_model")
    before = vote_count(app)
    assert "sides A and B have not been shown:" in refusal(c, battle)
    assert vote_count(app) == before


def test_rate_limit_follows_the_address_across_sessions_at_the_configured_limit(app, connect):
    ip = "203.0.113.99"
    store, server = app["store"], Arena(app["store"], trusted_proxies=1)
    limit = app["settings"].vote_limit  # 5 per hour here, not the arena's default of 30 per minute
    # Earlier sessions from the same address used up the limit (votes the app itself recorded).
    for n in range(limit):
        session = f"earlier-{n}"
        voter = server.voter_id(None, session, {"x-forwarded-for": ip}, peer="127.0.0.1")
        battle = server.new_battle(session, voter, app["uid"], app["dataset"], *SYSTEMS, "model_vs_model")
        for side, system in zip("AB", SYSTEMS):
            model, mode = system.split(":")
            run_id = store.find_run(app["dataset"], app["uid"], model, mode, {"seed": 0})
            server.deliver(battle, session, side, run_id)
        server.vote(battle, session, voter, "A")
    c = connect(ip)  # a fresh page load does not reset the limit
    battle = new_battle(app, c)
    before = vote_count(app)
    assert f"rate limit: at most {limit} votes per 3600 s" in refusal(c, battle)
    assert vote_count(app) == before
    other = connect()  # another address is unaffected
    other.predict(new_battle(app, other), "A", api_name="/vote")
    assert vote_count(app) == before + 1
    assert not any(ip in v["voter"] for v in store.votes())  # no raw address is stored


def test_rate_limit_holds_for_one_ipv4_host_rotating_its_6to4_networks(app, connect):
    """A 6to4 host owns all of 2002:V4ADDR::/48 (RFC 3056), 65,536 /64 networks: behind the one trusted proxy
    (the right-most X-Forwarded-For entry, which the test writes as that proxy would), one IPv4 host using a new
    /64 and a new session per vote was a new voter each time. 2002:c000:024d::/48 is 192.0.2.77's (hand-
    worked: c0.00.02.4d; an address no other test here votes from); its votes count against that address."""
    limit = app["settings"].vote_limit
    outcomes = []
    for n in range(limit + 2):
        c = connect(f"198.51.100.{n + 1}, 2002:c000:24d:{n + 1:x}::{n + 1:x}")  # a made-up entry, the proxy's
        battle = new_battle(app, c)
        try:
            c.predict(battle, "A", api_name="/vote")
            outcomes.append("accepted")
        except Exception as e:  # noqa: BLE001 - gradio_client raises its own AppError
            outcomes.append(str(e))
    assert outcomes[:limit] == ["accepted"] * limit
    assert outcomes[limit:] == [f"rate limit: at most {limit} votes per 3600 s; please wait a little"] * 2


def battle_count(app) -> int:
    return app["store"].query("select count(*) as n from battles")[0]["n"]


def test_battle_starts_are_limited_per_address_across_sessions(app, connect):
    """A script starting battle after battle from one address (new sessions each time) gets the configured
    number, then a one-line refusal that writes nothing; another address still starts battles."""
    ip = "203.0.113.55"
    limit = app["settings"].battle_limit  # 8 per hour here, not the default of 60 per minute
    for _ in range(limit):
        new_battle(app, connect(ip))
    before = battle_count(app)
    with pytest.raises(Exception) as info:
        connect(ip).predict(app["source"], "UEG", "model_vs_model", api_name="/new_battle")
    assert str(info.value) == f"rate limit: at most {limit} new battles per 3600 s; please wait a little"
    assert battle_count(app) == before
    new_battle(app, connect())
    assert battle_count(app) == before + 1


@pytest.fixture
def second_worker(app):
    """A second app process's view: its own Store, Arena and server on the same database file, as another
    worker behind a load balancer has (nothing of the first one's memory)."""
    store = Store.open(app["settings"].db)
    demo = build_demo(app["settings"], store, ModelPool(load_cards()))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    yield url
    demo.close()
    store.close()


def test_a_vote_retried_on_another_worker_is_accepted_as_the_stored_vote(app, connect, second_worker):
    """The vote's answer was lost and the client sent it again (same battle, same session, same choice); the
    retry reached another worker. It is answered with the vote already stored; nothing new is written."""
    ip = next(_addresses)
    c = connect(ip)
    battle = new_battle(app, c)
    cast = c.predict(battle, "B", api_name="/vote")
    retry = Client(second_worker, headers={"x-forwarded-for": ip}, verbose=False)
    retry.session_hash = c.session_hash  # the same browser session, reaching the other worker
    try:
        again = retry.predict(battle, "B", api_name="/vote")
        assert (again["vote_id"], again["choice"], again["system_a"], again["system_b"]) == (
            cast["vote_id"], "B", cast["system_a"], cast["system_b"])
        assert "already has a vote" in refusal(retry, battle, "A")  # a different vote is still refused
    finally:
        retry.close()
    assert [(v["vote_id"], v["choice"]) for v in app["store"].votes() if v["battle_id"] == battle] == [
        (cast["vote_id"], "B")]


def raw_call(url: str, api: str, data) -> str:
    """A script's plain HTTP call of ``/api`` with ``data`` as the values; the server's event stream."""
    event = httpx.post(f"{url}gradio_api/call/{api}", json={"data": data}, timeout=30).json()["event_id"]
    return httpx.get(f"{url}gradio_api/call/{api}/{event}", timeout=30).text


@pytest.mark.parametrize("api, data, message", [
    ("vote", [], "/vote takes 2 values (battle_id, choice), got 0"),
    ("vote", ["A" * 32], "/vote takes 2 values (battle_id, choice), got 1"),
    ("vote", ["A" * 32, "A", "extra"], "/vote takes 2 values (battle_id, choice), got 3"),
    ("new_battle", [["bundled"]], "/new_battle takes 3 values (source, track, kind), got 1"),
])
def test_a_call_with_the_wrong_number_of_values_gets_a_one_line_answer(app, capfd, api, data, message):
    """Gradio's own count check answered such a call with ``{"error": null}`` (no message) and logged a
    traceback quoting the values; extra values were dropped silently."""
    before = (vote_count(app), battle_count(app))
    capfd.readouterr()
    stream = raw_call(app["url"], api, data)
    assert stream.splitlines()[:2] == ["event: error", "data: " + json.dumps(
        {"error": message, "duration": 10, "visible": True, "title": "Error"})], stream
    assert "Traceback" not in capfd.readouterr().err
    assert (vote_count(app), battle_count(app)) == before


def test_refused_calls_leave_no_traceback_in_the_server_log(app, connect, capfd):
    """Every refusal logged a Python traceback, so a script repeating a refused call (no database work at
    all for a malformed id) filled the server log; the caller's answer is unchanged."""
    c = connect()
    capfd.readouterr()
    for _ in range(3):
        assert "malformed battle id" in refusal(c, "not a battle")
    with pytest.raises(Exception, match="data source"):
        c.predict("no such source", "UEG", "model_vs_model", api_name="/new_battle")
    assert "Traceback" not in capfd.readouterr().err


def test_gradio_s_own_refusal_of_a_value_is_one_log_line_not_a_traceback(app, capfd, caplog):
    """A visitor's call of a page event with a menu value the menu does not offer (hunt25c: ``["bundled",
    "any"]`` sent to an event whose menu had other choices) got Gradio's clean refusal, but each call printed
    Gradio's ~30-line ``gradio.exceptions.Error`` traceback to the server log: a free flood. Queued events
    (the queue's route) and instant ones (``/run/predict``) alike: one warning line naming the event, and an
    instant call answered 422 (a value the event does not take), not 500. A value of another type than its field
    takes ("abc" for the seed, a number field) also got a traceback, and the caller an error with no message; it
    is now refused before Gradio's rounding, naming the field (verify28b), with the same one log line."""
    capfd.readouterr()
    caplog.clear()
    made_up = "no source like this\nERROR a forged line"  # a visitor's value: never a log line of its own
    run = queue_call(app["url"], fn_index(app["url"], "resolve"), [made_up] + [None] * 13)
    menus = predict_call(app["url"], fn_index(app["url"], "change_menus"), [made_up, "UEG", "all"], "s-menus")
    typed = queue_call(app["url"], fn_index(app["url"], "resolve"),
                       [None, "UEG", "all", "random", "", None, "", "", "", "tiny-pair", "abc", None, None, None])
    err = capfd.readouterr().err
    assert "Traceback" not in err and "gradio.exceptions.Error" not in err, err
    assert run["success"] is False and "is not in the list of choices" in run["output"]["error"], run
    assert menus.status_code == 422 and "is not in the list of choices" in menus.json()["error"], menus.text
    assert typed["success"] is False and "the field 'Seed' takes a number" in (typed["output"]["error"] or ""), typed
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused a call of")]
    assert len(lines) == 3 and all("\n" not in line for line in lines), lines
    assert "/resolve" in lines[0] and "/change_menus" in lines[1] and "the field 'Seed'" in lines[2], lines


@pytest.fixture
def fail_next_sync(monkeypatch):
    """Call it to make the server's next WAL sync fail, as fdatasync does on a write-back error."""
    spy = FailingSync(walsync._sync_file)
    monkeypatch.setattr(walsync, "_sync_file", spy)
    return spy.fail_next


def test_a_vote_whose_sync_failed_says_so_and_its_retry_is_recorded_once(app, connect, fail_next_sync):
    """The disk did not confirm the vote: the client is told it was not counted and to try again (no server
    path, no traceback), and trying again records it once."""
    c = connect()
    battle = new_battle(app, c)
    fail_next_sync()
    message = refusal(c, battle, "B")
    assert "not saved" in message and "try again" in message, message
    assert str(app["settings"].db) not in message and "Traceback" not in message
    revealed = c.predict(battle, "B", api_name="/vote")
    assert revealed["choice"] == "B"
    assert [(v["vote_id"], v["choice"]) for v in app["store"].votes() if v["battle_id"] == battle] == [
        (revealed["vote_id"], "B")]


def test_a_battle_start_whose_sync_failed_says_so_and_its_retry_leaves_one_battle(app, connect, fail_next_sync):
    c = connect()
    session_key = hashlib.sha256(c.session_hash.encode()).hexdigest()
    fail_next_sync()
    with pytest.raises(Exception) as info:
        c.predict(app["source"], "UEG", "model_vs_model", api_name="/new_battle")
    assert "not saved" in str(info.value) and "try again" in str(info.value), str(info.value)
    battle = new_battle(app, c)
    rows = app["store"].query("select id from battles where session_key = ?", (session_key,))
    assert [r["id"] for r in rows] == [battle]  # the retry is the failed start's battle, not a second one
    c.predict(battle, "A", api_name="/vote")


def test_a_run_whose_sync_failed_says_so_and_running_it_again_stores_it_once(app, connect, fail_next_sync):
    """``/run_instance`` (Explore's API) when the disk did not confirm the run's save: the client is told it
    was not saved and to run it again (no server path, no traceback); running it again stores it, once."""
    c = connect()
    fail_next_sync(1)  # the run limit's count is synced first (Arena.admit_runs), then the run's save fails
    with pytest.raises(Exception) as info:
        c.predict(app["source"], app["uid"], "tiny-pair", "stepwise", 41, api_name="/run_instance")
    assert "not saved" in str(info.value) and "run it again" in str(info.value), str(info.value)
    assert str(app["settings"].db) not in str(info.value) and "Traceback" not in str(info.value)
    result = c.predict(app["source"], app["uid"], "tiny-pair", "stepwise", 41, api_name="/run_instance")
    rows = app["store"].query("select id from runs where instance_uid = ? and model = 'tiny-pair' and mode ="
                              " 'stepwise' and json_extract(trace, '$.settings.seed') = 41", (app["uid"],))
    assert [r["id"] for r in rows] == [result["run_id"]]
