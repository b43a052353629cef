"""Every vote refusal, through a launched Gradio app and gradio_client, against a real SQLite store.

The app here is the arena glue only (``new_battle`` and ``vote`` endpoints named as in the real app,
calling ``Arena`` the same way); it stands in until the full app can be launched in this tier.
"""

from __future__ import annotations

import random
import socket

import gradio as gr
import httpx
import pytest
from gradio_client import Client
from PIL import Image

from realunify_arena.arena import SALT_ENV, Arena, VoteRefused, draw_pair, split_system
from realunify_arena.store import Store
from realunify_arena.trace import Step, StepRole, Trace

pytestmark = pytest.mark.slow

UID = "UEG_5_commonsense_reasoning"
SYSTEMS = ["secret-model-alpha:direct", "secret-model-beta:stepwise"]
MAX_VOTES = 3


def build_vote_app(store: Store, arena: Arena) -> gr.Blocks:
    rng = random.Random(0)

    def stored_run(system: str) -> int:
        model, mode = split_system(system)
        trace = Trace(UID, model, mode, {"seed": 0},
                      steps=[Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("RGB", (4, 4)))])
        return store.save_trace(trace, "bundled")

    def new_battle(deliver: bool = True, request: gr.Request = None) -> dict:
        """Start a battle; with ``deliver`` both outputs are shown at once."""
        voter = arena.voter_id(None, request.session_hash, request.headers)
        a, b = draw_pair(SYSTEMS, "model_vs_model", rng)
        battle_id = arena.new_battle(request.session_hash, voter, UID, "bundled", a, b, "model_vs_model")
        if deliver:
            arena.deliver(battle_id, request.session_hash, "A", stored_run(a))
            arena.deliver(battle_id, request.session_hash, "B", stored_run(b))
        return {"battle_id": battle_id, "ready": deliver}

    def vote(battle_id: str, choice: str, request: gr.Request = None) -> dict:
        """Vote on a battle this session received; returns the revealed systems."""
        who = arena.voter_id(None, request.session_hash, request.headers)
        try:
            return arena.vote(battle_id, request.session_hash, who, choice)
        except VoteRefused as e:
            raise gr.Error(e.message) from None

    with gr.Blocks() as demo:
        gr.api(new_battle, api_name="new_battle", concurrency_limit=None)
        gr.api(vote, api_name="vote", concurrency_limit=None)
    return demo


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.delenv(SALT_ENV, raising=False)
    store = Store.open(tmp_path_factory.mktemp("api") / "arena.db")
    demo = build_vote_app(store, Arena(store, max_votes=MAX_VOTES, window_seconds=600))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/", store
    demo.close()
    store.close()
    mp.undo()


_ips = iter(f"198.51.100.{n}" for n in range(1, 255))


def client(url: str, ip: str | None = None) -> Client:
    """A browser session; each test votes from its own address so rate limits do not interfere."""
    return Client(url, headers={"x-forwarded-for": ip or next(_ips)}, verbose=False)


def vote_count(store: Store) -> int:
    return store.query("select count(*) as n from votes")[0]["n"]


def refused(c: Client, battle_id, choice: str = "A") -> str:
    with pytest.raises(Exception) as info:
        c.predict(battle_id, choice, api_name="/vote")
    return str(info.value)


def test_accepted_vote_reveals_systems_only_afterwards(app):
    url, store = app
    c = client(url)
    battle = c.predict(api_name="/new_battle")
    config = httpx.get(url + "config").text
    for system in SYSTEMS:  # identities are not in anything the browser received
        assert split_system(system)[0] not in str(battle) and split_system(system)[0] not in config
    before = vote_count(store)
    result = c.predict(battle["battle_id"], "B", api_name="/vote")
    assert {result["system_a"], result["system_b"]} == set(SYSTEMS) and result["choice"] == "B"
    assert vote_count(store) == before + 1
    assert [v["choice"] for v in store.votes() if v["battle_id"] == battle["battle_id"]] == ["B"]


@pytest.mark.parametrize("bad_id, message", [
    ("not a battle", "malformed battle id"),
    ("", "malformed battle id"),
    ("A" * 32, "unknown battle id"),
])
def test_malformed_and_unknown_ids_are_refused(app, bad_id, message):
    url, store = app
    before = vote_count(store)
    assert message in refused(client(url), bad_id)
    assert vote_count(store) == before


def test_vote_from_another_session_is_refused(app):
    url, store = app
    owner, intruder = client(url), client(url)
    battle = owner.predict(api_name="/new_battle")["battle_id"]
    before = vote_count(store)
    assert "issued to another session" in refused(intruder, battle)
    assert vote_count(store) == before
    owner.predict(battle, "A", api_name="/vote")  # still the owner's to cast


def test_second_vote_on_a_battle_is_refused(app):
    url, store = app
    c = client(url)
    battle = c.predict(api_name="/new_battle")["battle_id"]
    c.predict(battle, "tie", api_name="/vote")
    assert "already has a vote" in refused(c, battle, "A")
    assert [v["choice"] for v in store.votes() if v["battle_id"] == battle] == ["tie"]


def test_vote_before_both_outputs_were_shown_is_refused(app):
    url, store = app
    c = client(url)
    battle = c.predict(False, api_name="/new_battle")["battle_id"]
    before = vote_count(store)
    assert "has not been shown yet" in refused(c, battle)
    assert vote_count(store) == before


def test_unknown_choice_is_refused(app):
    url, store = app
    c = client(url)
    battle = c.predict(api_name="/new_battle")["battle_id"]
    before = vote_count(store)
    assert "expected one of A, B, tie, both_bad" in refused(c, battle, "left")
    assert vote_count(store) == before


def test_rate_limit_per_voter_across_sessions(app):
    url, store = app
    ip = "203.0.113.99"
    for _ in range(MAX_VOTES):
        c = client(url, ip)  # a new session each time: reloading the page does not reset the limit
        c.predict(c.predict(api_name="/new_battle")["battle_id"], "A", api_name="/vote")
    c = client(url, ip)
    battle = c.predict(api_name="/new_battle")["battle_id"]
    before = vote_count(store)
    assert f"rate limit: at most {MAX_VOTES} votes" in refused(c, battle)
    assert vote_count(store) == before
    other = client(url)  # another address is unaffected
    other.predict(other.predict(api_name="/new_battle")["battle_id"], "A", api_name="/vote")
    assert not any("203.0.113.99" in v["voter"] for v in store.votes())  # no raw IP stored
