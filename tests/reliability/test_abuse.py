"""Abuse through the launched app's public API: forged, replayed and cross-session votes, votes before the
outputs were shown, flooding past the rate limit, and names or ids injected into every parameter.

The app is the real ``build_demo`` (stored arena mode, so battles need no model) over a real SQLite
store. Every refusal must come back as an error naming the reason, and must write nothing: the row
counts of every table stay the same and no injected text reaches the database.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
import shutil
import threading

import pytest
from gradio_client import Client
from gradio_sessions import sessions
from queue_calls import column_indices, queue_call
from queue_calls import fn_index as fn_index_of

from realunify_arena.arena import KINDS, Arena
from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.ui import build_demo, launch_options

pytestmark = pytest.mark.slow

TABLES = ("runs", "judgments", "battles", "votes", "meta")
MARKER = "INJECTED-7f3a"  # text every injection carries, so the database can be searched for it
RATE_LIMIT = 30  # Arena's default number of votes per window
# every limit's window here is an hour, not the default minute: the flood of votes and the scripts casting one
# vote per session must land within one window, or the oldest accepted vote leaves it and one more is
# accepted (how long they take is the machine's, minutes at worst on a loaded 2-core box; the count is not)
VOTE_WINDOW_S = 3600
_addresses = (f"198.18.{a}.{b}" for a, b in itertools.product(range(256), range(1, 255)))


@pytest.fixture(scope="module")
def app(seeded_template, tmp_path_factory):
    folder = tmp_path_factory.mktemp("abuse") / "data"
    shutil.copytree(seeded_template, folder)
    settings = Settings(data=("bundled",), models=("tiny-pair", "tiny-janus"), db=folder / "arena.db",
                        arena_mode="stored", trusted_proxies=1,  # clients: visitors behind one proxy
                        vote_limit=RATE_LIMIT, vote_window=VOTE_WINDOW_S)
    store = Store.open(settings.db)
    demo = build_demo(settings, store, ModelPool(load_cards()))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    yield url, store
    demo.close()
    store.close()


@pytest.fixture(scope="module")
def stranger(app) -> Client:
    """One session for the requests that must all be refused (a refusal costs no rate-limit budget)."""
    c = client(app[0])
    yield c
    c.close()


def client(url: str, ip: str | None = None) -> Client:
    """One browser session from one address (each test its own, so rate limits stay apart)."""
    return Client(url, verbose=False, headers={"x-forwarded-for": ip or next(_addresses)}, download_files=False)


def counts(store: Store) -> dict[str, int]:
    return {t: store.query(f"select count(*) as n from {t}")[0]["n"] for t in TABLES}


def refusal(c: Client, *args, api_name: str) -> str:
    with pytest.raises(Exception) as info:
        c.predict(*args, api_name=api_name)
    return str(info.value)


def battle(c: Client, track: str = "any") -> str:
    started = c.predict("bundled", track, "any", api_name="/new_battle")
    assert started["ready"], started
    return started["battle_id"]


@pytest.mark.parametrize("forged, message", [
    (secrets.token_urlsafe(24), "unknown battle id"),
    ("' OR 1=1 --" + MARKER, "malformed battle id"),
    ("../../etc/passwd", "malformed battle id"),
    ("\u0000" * 32, "malformed battle id"),
    ("x" * 1_000_000, "malformed battle id"),
    (12345, "malformed battle id"),
    (None, "malformed battle id"),
    ([MARKER], "malformed battle id"),
    ({"id": MARKER}, "malformed battle id"),
])
def test_forged_battle_ids_are_refused_and_write_nothing(app, stranger, forged, message):
    before = counts(app[1])
    assert message in refusal(stranger, forged, "A", api_name="/vote")
    assert counts(app[1]) == before


def test_replayed_votes_are_refused_from_the_same_and_other_sessions(app):
    url, store = app
    owner, other = client(url), client(url)
    battle_id = battle(owner)
    owner.predict(battle_id, "B", api_name="/vote")
    before = counts(store)
    assert "already has a vote" in refusal(owner, battle_id, "A", api_name="/vote")
    assert "issued to another session" in refusal(other, battle_id, "A", api_name="/vote")
    assert counts(store) == before
    assert [v["choice"] for v in store.votes() if v["battle_id"] == battle_id] == ["B"]


def test_concurrent_replays_record_exactly_one_vote(app):
    url, store = app
    c = client(url)
    battle_id = battle(c)
    results: list[dict | str] = []

    def cast(choice: str) -> None:
        try:
            results.append(c.predict(battle_id, choice, api_name="/vote"))
        except Exception as e:  # noqa: BLE001 - the refusals are what is counted
            results.append(str(e))

    threads = [threading.Thread(target=cast, args=(choice,)) for choice in ("A", "B", "tie", "both_bad") * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    accepted = [r for r in results if isinstance(r, dict)]
    stored = [(v["vote_id"], v["choice"]) for v in store.votes() if v["battle_id"] == battle_id]
    assert len(results) == 12 and len(stored) == 1
    # the stored vote and its replays (a retry of the same vote is that vote); every other choice is refused
    assert {(r["vote_id"], r["choice"]) for r in accepted} == set(stored) and len(accepted) == 3
    assert all("already has a vote" in r for r in results if isinstance(r, str))


def test_a_session_cannot_vote_on_another_sessions_battle(app):
    url, store = app
    owner, intruder = client(url), client(url)
    battle_id = battle(owner)
    before = counts(store)
    assert "issued to another session" in refusal(intruder, battle_id, "A", api_name="/vote")
    assert counts(store) == before
    assert owner.predict(battle_id, "A", api_name="/vote")["choice"] == "A"  # still the owner's to cast


def test_votes_before_both_outputs_were_shown_are_refused(app):
    """A battle whose outputs are still being produced: issued to this session, delivered side by side."""
    url, store = app
    c = client(url)
    c.predict("bundled", "UEG", "all", api_name="/instances")  # the session exists on the server now
    arena = Arena(store)
    run = store.runs(dataset="bundled", track="UEG", model="tiny-pair")[0]
    battle_id = arena.new_battle(c.session_hash, "hf:someone", run["instance_uid"], "bundled", "tiny-pair:direct",
                                 "tiny-pair:stepwise", "direct_vs_stepwise")
    before = counts(store)
    assert "sides A and B have not been shown:" in refusal(c, battle_id, "A", api_name="/vote")
    runs = {r["mode"]: r["id"] for r in store.runs(dataset="bundled", model="tiny-pair")
            if r["instance_uid"] == run["instance_uid"]}
    arena.deliver(battle_id, c.session_hash, "A", runs["direct"])
    assert "side B has not been shown:" in refusal(c, battle_id, "A", api_name="/vote")
    assert {t: n for t, n in counts(store).items() if t != "battles"} == \
        {t: n for t, n in before.items() if t != "battles"}
    arena.deliver(battle_id, c.session_hash, "B", runs["stepwise"])
    assert c.predict(battle_id, "tie", api_name="/vote")["choice"] == "tie"


def test_a_flood_from_one_address_stops_at_the_rate_limit(app):
    """More votes than the limit, fired at once from several sessions of one address: exactly the limit lands."""
    url, store = app
    ip = next(_addresses)
    sessions = [client(url, ip) for _ in range(4)]  # reloading the page does not reset the limit
    battles = [(c, delivered_battle(store, c)) for c in sessions for _ in range(10)]
    results: list[dict | str] = []

    def cast(c: Client, battle_id: str) -> None:
        try:
            results.append(c.predict(battle_id, "A", api_name="/vote"))
        except Exception as e:  # noqa: BLE001 - the refusals are what is counted
            results.append(str(e))

    before = counts(store)
    threads = [threading.Thread(target=cast, args=pair) for pair in battles]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    accepted = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, str)]
    assert len(accepted) == RATE_LIMIT and len(refused) == len(battles) - RATE_LIMIT, [r for r in refused if "rate limit" not in r][:3]
    assert all(f"rate limit: at most {RATE_LIMIT} votes" in r for r in refused), [r for r in refused if "rate limit" not in r][:3]
    assert counts(store)["votes"] == before["votes"] + RATE_LIMIT
    other = client(url)  # another address is unaffected
    assert other.predict(battle(other), "B", api_name="/vote")["choice"] == "B"


def delivered_battle(store: Store, c: Client) -> str:
    """A battle issued to this client's session with both outputs shown, as ``/new_battle`` leaves it
    (made directly, so the flood is not paced by the serialised battle endpoint)."""
    arena = Arena(store)
    first = store.runs(dataset="bundled", model="tiny-pair")[0]
    run_a, run_b = [r for r in store.runs(dataset="bundled", model="tiny-pair")
                    if r["instance_uid"] == first["instance_uid"]]
    battle_id = arena.new_battle(c.session_hash, "hf:flood", run_a["instance_uid"], "bundled",
                                 f"tiny-pair:{run_a['mode']}", f"tiny-pair:{run_b['mode']}", "direct_vs_stepwise")
    arena.deliver(battle_id, c.session_hash, "A", run_a["id"])
    arena.deliver(battle_id, c.session_hash, "B", run_b["id"])
    return battle_id


@pytest.mark.parametrize("args, api_name, message", [
    (("/etc", "UEG_1_world_knowledge", "tiny-pair", "direct", 0, ""), "/run_instance", "is not configured"),
    (("bundled", "UEG_1_world_knowledge", "../../models/gpt-4.1", "direct", 0, ""), "/run_instance",
     "model '../../models/gpt-4.1'"),
    (("bundled", "UEG_1_world_knowledge", f"tiny-pair'; DROP TABLE runs; -- {MARKER}", "direct", 0, ""),
     "/run_instance", "expected one of"),
    (("bundled", "UEG_1_world_knowledge", "tiny-pair", f"direct' OR '1'='1 {MARKER}", 0, ""), "/run_instance",
     "expected one of direct, stepwise"),
    (("bundled", f"UEG_1_world_knowledge' OR '1'='1 {MARKER}", "tiny-pair", "direct", 0, ""), "/run_instance",
     "no instance"),
    ((f"../../{MARKER}", "all", "all"), "/instances", "is not configured"),
    ((f"/tmp/{MARKER}", "any", "any"), "/new_battle", "is not configured"),
    (("bundled", f"UEG' OR 1=1 -- {MARKER}", "any"), "/new_battle", "expected one of any, UEG, GEU"),
    ((f"UEG; DROP TABLE votes; {MARKER}", "model_vs_model"), "/leaderboard", "expected track UEG or GEU"),
    (("UEG", f"model_vs_model{MARKER}"), "/leaderboard", "expected track UEG or GEU"),
])
def test_injected_names_and_ids_are_refused_and_write_nothing(app, stranger, args, api_name, message):
    store = app[1]
    before = counts(store)
    assert message in refusal(stranger, *args, api_name=api_name)
    assert counts(store) == before
    assert_marker_absent(store)


@pytest.mark.parametrize("args, api_name, message", [
    (("bundled", {"uid": MARKER}, "tiny-pair", "direct", 0, ""), "/run_instance", "no instance {'uid'"),
    (("bundled", [MARKER], "tiny-pair", "direct", 0, ""), "/run_instance", "no instance ["),
    (("bundled", "UEG_1_world_knowledge", "tiny-pair", "direct", 0, {"card": MARKER}), "/run_instance",
     ": expected human or one of"),
    (("bundled", "UEG_1_world_knowledge", "tiny-pair", "direct", 0, [MARKER]), "/run_instance",
     ": expected human or one of"),
    (("bundled", {"track": MARKER}, "any"), "/new_battle", "expected one of any, UEG, GEU"),
    (("bundled", ["UEG"], "any"), "/new_battle", "expected one of any, UEG, GEU"),
])
def test_a_list_or_object_where_a_name_goes_is_refused_with_a_message(app, stranger, args, api_name, message):
    """A script sends JSON, so any parameter may arrive as a list or an object. Before: an unhashable uid or
    judge (``TypeError``) and a track bound as an SQLite parameter (``ProgrammingError``) ended in Gradio's
    bare "Error" with no reason."""
    store = app[1]
    before = counts(store)
    text = refusal(stranger, *args, api_name=api_name)
    assert message in text and "show_error" not in text, text
    assert counts(store) == before
    assert_marker_absent(store)


def test_an_injected_choice_or_battle_kind_never_reaches_the_database(app):
    url, store = app
    c = client(url)
    before = counts(store)
    assert "expected one of any, model_vs_model, direct_vs_stepwise" in refusal(  # refused, not played as "any"
        c, "bundled", "any", f"model_vs_model' OR 1=1 {MARKER}", api_name="/new_battle")
    assert counts(store) == before
    started = c.predict("bundled", "any", "any", api_name="/new_battle")
    kind = store.query("select kind from battles where id = ?", (started["battle_id"],))[0]["kind"]
    assert kind in KINDS
    before = counts(store)
    assert "expected one of A, B, tie, both_bad" in refusal(c, started["battle_id"], f"A'); DROP TABLE votes; {MARKER}",
                                                            api_name="/vote")
    assert counts(store) == before
    assert_marker_absent(store)


def assert_marker_absent(store: Store) -> None:
    for table in TABLES:
        for row in store.query(f"select * from {table}"):
            assert MARKER not in repr(row), (table, row)


# -- one machine posing as many voters ------------------------------------------------------------------


def xff_votes(url: str, forwarded: list[str], header: str = "X-Forwarded-For",
              also: dict[str, str] | None = None) -> list[str]:
    """The case vote-xff-ratelimit: one machine, a session per ``header`` value (and the headers ``also``),
    one vote each."""
    outcomes = []
    with sessions() as opened:  # each stays open until the end (closed together: a close costs a second)
        for value in forwarded:
            c = Client(url, verbose=False, headers={header: value, **(also or {})}, download_files=False)
            opened.append(c)
            try:
                b = c.predict(source="bundled", track="any", kind="any", api_name="/new_battle")
                c.predict(battle_id=b["battle_id"], choice="A", api_name="/vote")
                outcomes.append("accepted")
            except Exception as e:  # noqa: BLE001 - the refusals are what is counted
                outcomes.append(f"refused ({str(e)[:60]})")
    return outcomes


@pytest.mark.parametrize("proxies, forwarded", [
    # reached directly: whatever the client writes, it is one socket peer
    (0, ["203.0.113.7"] * 5 + [f"198.51.100.{i}" for i in range(1, 9)]),
    # behind one proxy, which appends the address it saw: the client's own entries are ignored
    (1, [f"198.51.100.{i}, 203.0.113.7" for i in range(1, 14)]),
])
def test_a_client_rotating_x_forwarded_for_cannot_exceed_the_vote_limit(seeded_db, start_app, proxies, forwarded):
    app = start_app(seeded_db, "--vote-limit", "3", "--vote-window", str(VOTE_WINDOW_S), trusted_proxies=proxies)
    outcomes = xff_votes(app.url, forwarded)
    assert outcomes.count("accepted") == 3, outcomes
    assert all(f"rate limit: at most 3 votes per {VOTE_WINDOW_S} s" in o for o in outcomes if o != "accepted")
    store = Store.open(seeded_db)
    try:
        voters = {v["voter"].split(":")[1] for v in store.votes()}
        address = "127.0.0.1" if proxies == 0 else "203.0.113.7"
        expected = Arena(store, trusted_proxies=proxies).voter_id(None, "s", {}, peer=address).split(":")[1]
        assert voters == {expected}  # keyed on the socket peer (or the proxy's entry), not a shared "unknown"
        assert expected != Arena(store).voter_id(None, "s", {}).split(":")[1]
    finally:
        store.close()


def test_behind_an_rfc_7239_proxy_the_forwarded_header_tells_visitors_apart(seeded_db, start_app):
    """A proxy that appends only RFC 7239's ``Forwarded: for=...`` (``--proxy-header forwarded``): one machine
    rotating what it writes itself (the left elements, and an ``X-Forwarded-For`` the proxy never writes) stays
    one voter at the limit, while visitors the proxy saw at different addresses are told apart (before, every
    such visitor was the proxy's own address: one voter and one vote limit for the whole audience)."""
    app = start_app(seeded_db, "--vote-limit", "3", "--vote-window", str(VOTE_WINDOW_S), "--proxy-header",
                    "forwarded", trusted_proxies=1)
    machine = xff_votes(app.url, [f'for="198.51.100.{i}";proto=https, for=203.0.113.7' for i in range(1, 7)],
                        header="Forwarded", also={"X-Forwarded-For": "192.0.2.99"})
    assert machine.count("accepted") == 3, machine
    others = xff_votes(app.url, [f"for=203.0.113.{i}" for i in (20, 21, 22)], header="Forwarded")
    assert others == ["accepted"] * 3, others
    store = Store.open(seeded_db)
    try:
        voters = {v["voter"].split(":")[1] for v in store.votes()}
        arena = Arena(store, trusted_proxies=1)  # each address as the socket peer: no header parsed
        expected = {arena.voter_id(None, "s", {}, peer=f"203.0.113.{i}").split(":")[1] for i in (7, 20, 21, 22)}
        assert voters == expected
    finally:
        store.close()


def test_the_directed_vote_script_fails_at_every_step(tmp_path):
    """The issue's script cast 795 directed votes in 45 s: it told the sides apart (step count, timings,
    image hashes also returned by ``/run_instance``, names in answers) and invented an ``X-Forwarded-For``
    per session to pass the rate limit. Here every one of those steps finds nothing, and one machine's
    votes stop at the limit."""
    from arena_fixtures import TIMING_KEYS, keys, lookup_ids, seed_arena_runs, strings

    from realunify_arena.benchmark import load

    settings = Settings(data=("bundled",), models=("tiny-pair", "tiny-janus"), db=tmp_path / "arena.db",
                        arena_mode="stored", vote_limit=3, vote_window=VOTE_WINDOW_S)
    store = Store.open(settings.db)
    pool = ModelPool(load_cards())
    runs = seed_arena_runs(store, load("bundled"), pool.cards, settings.models, per_track=4, naming=("tiny-janus",))
    demo = build_demo(settings, store, pool)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    target = "tiny-janus"
    found = {"step count": 0, "timings": 0, "shared ids": 0, "names": 0}
    accepted = 0
    try:
        with sessions() as opened:
            for n in range(16):
                c = client(url, ip=f"198.51.100.{n + 1}")  # a new invented address per session
                opened.append(c)  # closed together at the end (a close costs a second)
                battle = c.predict("bundled", "any", "any", api_name="/new_battle")
                sides = battle["sides"]
                found["step count"] += len({len(side.get("steps", [])) for side in sides.values()}) > 1
                found["timings"] += any(t in k.lower() for k in keys(sides) for t in TIMING_KEYS)
                targets = [s for s in runs[battle["instance_uid"]] if s.startswith(f"{target}:")]
                ids = lookup_ids(c, "bundled", battle["instance_uid"], targets)
                pngs = {hashlib.sha256(base64.b64decode(side["image"]["png_base64"])).hexdigest()
                        for side in sides.values() if side["image"]}
                found["shared ids"] += bool(ids & pngs) or any(i in s for s in strings(sides) for i in ids if len(i) > 4)
                found["names"] += target in json.dumps(sides)
                try:
                    c.predict(battle["battle_id"], "A", api_name="/vote")
                    accepted += 1
                except Exception as e:  # noqa: BLE001 - the refusals are what is counted
                    assert "rate limit" in str(e)
    finally:
        demo.close()
        store.close()
    assert found == {"step count": 0, "timings": 0, "shared ids": 0, "names": 0}
    assert accepted == 3


def _queue_call(url: str, fn_index: int, data: list, session: str | None = None, ip: str | None = None) -> dict:
    """``queue_call`` from a new address unless ``ip`` is given (so rate limits stay apart)."""
    return queue_call(url, fn_index, data, session, ip or next(_addresses))


@pytest.mark.parametrize("started", [5, ["bundled", "UEG_1_world_knowledge", "a-request-never-started"],
                                     ["bundled", "UEG_1_world_knowledge"], {"0": "bundled"}])
def test_an_explore_column_called_directly_with_a_made_up_start_is_refused_and_runs_nothing(app, started):
    """Explore's run columns take ``started`` (dataset, uid, request id) back from the browser. Called
    directly: a number raised a TypeError (Gradio's bare "Error", a traceback in the log); a request id this
    session never started ran the model, a run its Stop and its "already running" check knew nothing about."""
    url, store = app
    columns = column_indices(url)
    before = counts(store)
    for fn_index in columns:
        done = _queue_call(url, fn_index, [started, "tiny-pair", "human", 0, 0, 0, 0, []])
        assert done.get("success") is False, done
        assert "not started by Run" in json.dumps(done.get("output")), done
    assert counts(store) == before


def test_an_explore_column_runs_only_what_run_checked_and_counted(app):
    """Explore's Run (``resolve``) checks the form and counts the new runs against the run limit; each column's
    event then took the instance, model and settings from the browser again. Called directly with Run's
    ``started`` but another seed (after a Run whose runs were stored, so it counted none), a column ran a new
    run that no check or limit saw (a visitor limited to 2 runs an hour stored 8 so). Now a column refuses
    what Run did not admit, and an honest Run still runs."""
    url, store = app
    resolve, columns = fn_index_of(url, "resolve"), column_indices(url)
    session, ip = secrets.token_hex(6), next(_addresses)
    instance = "UEG_3_world_knowledge"

    def run_click(seed: int) -> list:
        done = _queue_call(url, resolve, ["bundled", "UEG", "all", instance, None, None, None, None, None,
                                          "tiny-pair", seed, 0, "", 0], session, ip)
        assert done.get("success") is True, done
        return done["output"]["data"][1]  # ``started``: (dataset, uid, request id)

    def runs() -> int:
        return store.query("select count(*) as n from runs where model = 'tiny-pair' and instance_uid = ?",
                           (instance,))[0]["n"]

    seed = 900_001  # a seed no stored run has: Run counts both columns, and they run
    before = runs()
    started = run_click(seed)
    for fn_index in columns:
        assert _queue_call(url, fn_index, [started, "tiny-pair", "human", seed, 0, "", 0, []], session, ip
                           ).get("success") is True
    assert runs() == before + 2
    tampered = {"another seed": lambda st: [st, "tiny-pair", "human", seed + 1, 0, "", 0, []],
                "another instance": lambda st: [[st[0], "UEG_4_world_knowledge", st[2]], "tiny-pair", "human",
                                                seed, 0, "", 0, []],
                "other steps": lambda st: [st, "tiny-pair", "human", seed, 7, "", 0, []]}
    for what, call in tampered.items():
        started = run_click(seed)  # its runs are stored now: this Run counts none
        for fn_index in columns:
            done = _queue_call(url, fn_index, call(started), session, ip)
            assert done.get("success") is False and "not the ones Run started" in json.dumps(done["output"]), what
    assert runs() == before + 2
    assert store.query("select count(*) as n from runs where instance_uid = 'UEG_4_world_knowledge' and"
                       " model = 'tiny-pair' and seed = ?", (seed,))[0]["n"] == 0


@pytest.mark.parametrize("source", [None, 5, ["bundled"], f"../../{MARKER}"])
def test_explore_s_source_event_called_with_a_made_up_source_says_why(app, source):
    """Explore's data-source menu event, called directly with a source the menu does not offer: before, a
    None (or a list) reached the dataset look-up, a KeyError: the page's bare "Error" and a traceback."""
    import httpx

    url, store = app
    fn_index = fn_index_of(url, "change_menus")
    before = counts(store)
    with httpx.Client(base_url=url, timeout=60) as http:
        reply = http.post("/gradio_api/run/predict", json={"data": [source, "UEG", "all"], "fn_index": fn_index,
                                                           "session_hash": "s-source", "event_data": None})
    body = reply.json()
    if reply.status_code == 200:  # our handler ran: it says the source is not configured
        import html
        assert "is not configured; choose one of: bundled" in html.unescape(body["data"][2]), body  # the notice
    else:  # Gradio's own check of the menu's choices refused it, by name
        assert "is not in the list of choices" in str(body.get("error")), body
    assert counts(store) == before
