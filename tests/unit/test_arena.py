"""Battle integrity on a real database: every refusal writes nothing, every acknowledged vote is stored."""

from __future__ import annotations

import random
import threading
from dataclasses import astuple

import pytest
from PIL import Image

from realunify_arena.arena import (
    SALT_ENV, Arena, BattleError, RunRefused, VoteRefused, client_address, draw_pair, rate_key, voter_id,
)
from realunify_arena.store import Store
from realunify_arena.systems import System
from realunify_arena.trace import Step, StepRole, Trace

UID = "UEG_3_world_knowledge"


@pytest.fixture
def arena(store):
    return Arena(store, max_votes=3, window_seconds=60)


def save_run(store: Store, system: str, uid: str = UID, seed: int = 0) -> int:
    model, mode = astuple(System.parse(system))
    trace = Trace(uid, model, mode, {"seed": seed},
                  steps=[Step(StepRole.GENERATED_IMAGE, prompt="p", image=Image.new("RGB", (4, 4)))])
    return store.save_trace(trace, "bundled")


def ready_battle(arena: Arena, session: str = "s1", voter: str = "hf:alice",
                 a: str = "m1:direct", b: str = "m2:direct") -> str:
    battle = arena.new_battle(session, voter, UID, "bundled", a, b, "model_vs_model")
    arena.deliver(battle, session, "A", save_run(arena.store, a))
    arena.deliver(battle, session, "B", save_run(arena.store, b))
    return battle


def vote_count(store: Store) -> int:
    return store.query("select count(*) as n from votes")[0]["n"]


def test_accepted_vote_is_committed_and_reveals_the_systems(arena, store):
    battle = ready_battle(arena)
    result = arena.vote(battle, "s1", "hf:alice", "B")
    assert (result["system_a"], result["system_b"], result["choice"]) == ("m1:direct", "m2:direct", "B")
    other = Store.open(store.path)  # a second connection sees it: the vote was committed
    assert [(v["battle_id"], v["choice"], v["voter"]) for v in other.votes()] == [
        (battle, "B", "hf:alice")]
    other.close()
    assert arena.reveal(battle, "s1")["vote_id"] == result["vote_id"]


def test_battle_id_is_opaque(arena):
    battle = ready_battle(arena, a="secret-model:direct", b="other-model:direct")
    assert "secret" not in battle and "other" not in battle and len(battle) == 32


def test_battle_ids_sort_in_issue_order_and_keep_120_random_bits(store):
    """Later battles' ids sort after earlier ones, so the id index and the votes' index on it grow at their
    end instead of changing a random page per battle (issue 18: several times the write-ahead log per vote);
    each id still carries 20 characters of ``secrets.token_urlsafe`` (120 bits) no visitor can guess."""
    import base64
    import time
    arena = Arena(store, max_battles=10**6)
    ids = []
    for i in range(40):
        ids.append(arena.new_battle(f"s{i}", "hf:alice", UID, "bundled", "m1:direct", "m2:direct",
                                    "model_vs_model"))
        if i % 10 == 9:
            time.sleep(0.002)  # ids within one millisecond may come in any order; across milliseconds, in order
    millis = [int(b[:12], 16) for b in ids]
    assert millis == sorted(millis) and millis[-1] > millis[0]
    assert abs(millis[-1] / 1000 - time.time()) < 60  # the issue time, in milliseconds since the epoch
    tails = [b[12:] for b in ids]
    assert len(set(tails)) == len(tails)
    assert all(len(base64.urlsafe_b64decode(t)) == 15 for t in tails)  # 15 bytes: 120 bits
    stored = [r["id"] for r in store.query("select id from battles order by id")]
    assert [int(b[:12], 16) for b in stored] == sorted(millis)


@pytest.mark.parametrize("bad_id, message", [
    ("not-a-battle", "malformed battle id"),
    ("", "malformed battle id"),
    (None, "malformed battle id"),
    ("x" * 32, "unknown battle id"),
])
def test_malformed_or_unknown_ids_are_refused(arena, store, bad_id, message):
    ready_battle(arena)
    with pytest.raises(VoteRefused, match=message):
        arena.vote(bad_id, "s1", "hf:alice", "A")
    assert vote_count(store) == 0


def test_vote_from_another_session_is_refused(arena, store):
    battle = ready_battle(arena, session="s1")
    with pytest.raises(VoteRefused, match="another session"):
        arena.vote(battle, "s2", "hf:mallory", "A")
    assert vote_count(store) == 0
    arena.vote(battle, "s1", "hf:alice", "A")  # the owner can still vote


def test_second_vote_on_a_battle_is_refused_and_the_first_is_kept(arena, store):
    battle = ready_battle(arena)
    arena.vote(battle, "s1", "hf:alice", "A")
    with pytest.raises(VoteRefused, match="already has a vote"):
        arena.vote(battle, "s1", "hf:alice", "B")
    assert [v["choice"] for v in store.votes()] == ["A"]


def test_vote_before_both_outputs_were_delivered_is_refused(arena, store):
    battle = arena.new_battle("s1", "hf:alice", UID, "bundled", "m1:direct", "m2:direct",
                              "model_vs_model")
    with pytest.raises(VoteRefused, match="sides A and B have not been shown"):
        arena.vote(battle, "s1", "hf:alice", "A")
    arena.deliver(battle, "s1", "A", save_run(store, "m1:direct"))
    with pytest.raises(VoteRefused, match="side B has not been shown"):
        arena.vote(battle, "s1", "hf:alice", "A")
    assert vote_count(store) == 0


@pytest.mark.parametrize("choice", ["a", "left", "", None, "both bad"])
def test_unknown_choices_are_refused(arena, store, choice):
    battle = ready_battle(arena)
    with pytest.raises(VoteRefused, match="expected one of A, B, tie, both_bad"):
        arena.vote(battle, "s1", "hf:alice", choice)
    assert vote_count(store) == 0


def test_rate_limit_counts_every_session_of_one_voter(arena, store):
    for n in range(3):
        arena.vote(ready_battle(arena, session=f"s{n}"), f"s{n}", "hf:alice", "tie")
    battle = ready_battle(arena, session="s9")
    with pytest.raises(VoteRefused, match="rate limit: at most 3 votes per 60 s"):
        arena.vote(battle, "s9", "hf:alice", "A")
    arena.vote(ready_battle(arena, session="s8"), "s8", "hf:bob", "A")  # others are unaffected
    assert vote_count(store) == 4


def test_anonymous_rate_limit_follows_the_ip_across_sessions(store):
    arena = Arena(store, max_votes=1, window_seconds=60, trusted_proxies=2)
    headers = {"X-Forwarded-For": "203.0.113.7, 10.0.0.1"}
    first = arena.voter_id(None, "sess-1", headers, peer="10.0.0.2")
    second = arena.voter_id(None, "sess-2", headers, peer="10.0.0.2")
    assert first != second and rate_key(first) == rate_key(second)
    arena.vote(ready_battle(arena, session="sess-1", voter=first), "sess-1", first, "A")
    with pytest.raises(VoteRefused, match="rate limit"):
        arena.vote(ready_battle(arena, session="sess-2", voter=second), "sess-2", second, "A")


def test_deliver_checks_the_run_matches_the_side(arena, store):
    battle = arena.new_battle("s1", "hf:alice", UID, "bundled", "m1:direct", "m2:direct",
                              "model_vs_model")
    with pytest.raises(BattleError, match="side A of this battle is m1:direct"):
        arena.deliver(battle, "s1", "A", save_run(store, "m2:direct"))
    with pytest.raises(BattleError, match="on UEG_3_world_knowledge"):
        arena.deliver(battle, "s1", "A", save_run(store, "m1:direct", uid="UEG_4_world_knowledge"))
    with pytest.raises(BattleError, match="run 999 is not in the store"):
        arena.deliver(battle, "s1", "A", 999)
    with pytest.raises(BattleError, match="another session"):
        arena.deliver(battle, "s2", "A", save_run(store, "m1:direct"))
    assert store.query("select run_a, delivered_a_at from battles") == [
        {"run_a": None, "delivered_a_at": None}]


def _battle_statements(store: Store, work) -> list[str]:
    """The statements ``work()`` ran on the store's write connection that read or write arena tables."""
    seen: list[str] = []
    store.db.conn.set_trace_callback(seen.append)
    try:
        work()
    finally:
        store.db.conn.set_trace_callback(None)
    return [s for s in seen if any(t in s.lower() for t in (" battles", " runs", " votes"))]


def test_a_valid_delivery_is_one_statement(arena, store):
    battle = arena.new_battle("s1", "hf:alice", UID, "bundled", "m1:direct", "m2:direct", "model_vs_model")
    run = save_run(store, "m1:direct")
    statements = _battle_statements(store, lambda: arena.deliver(battle, "s1", "A", run))
    assert len(statements) == 1 and statements[0].lower().startswith("update battles"), statements
    row = store.query("select run_a, delivered_a_at from battles")[0]
    assert row["run_a"] == run and row["delivered_a_at"]


def test_every_delivery_check_still_holds_and_says_which_failed(arena, store):
    """Each refusal of ``deliver`` (expected messages written from its rules), with the row left as it was;
    and the deliveries it allows: the same run again, and a flagged one."""
    battle = arena.new_battle("s1", "hf:alice", UID, "bundled", "m1:direct", "m2:direct", "model_vs_model")
    run_a, run_b = save_run(store, "m1:direct"), save_run(store, "m2:direct")
    arena.deliver(battle, "s1", "A", run_a)
    first = store.query("select * from battles")[0]
    other_a = save_run(store, "m1:direct", seed=1)
    assert other_a != run_a
    refusals = [
        (lambda: arena.deliver(battle, "s1", "A", other_a), f"side A was already delivered with run {run_a}"),
        (lambda: arena.deliver(battle, "s1", "B", run_a), "side B of this battle is m2:direct"),
        (lambda: arena.deliver(battle, "s2", "B", run_b), "another session"),
        (lambda: arena.deliver("x" * 32, "s1", "B", run_b), "unknown battle id"),
    ]
    for call, message in refusals:
        with pytest.raises(BattleError, match=message):
            call()
        assert store.query("select * from battles") == [first]
    arena.deliver(battle, "s1", "A", run_a)  # the same run again: allowed, only the time moves
    again = store.query("select * from battles")[0]
    assert again["run_a"] == run_a and again["delivered_a_at"] >= first["delivered_a_at"]
    arena.deliver(battle, "s1", "B", run_b, flag="names: m2")
    assert store.query("select run_b, flagged from battles")[0] == {"run_b": run_b, "flagged": "side B: names: m2"}
    arena.vote(battle, "s1", "hf:alice", "A")
    voted = store.query("select * from battles")
    with pytest.raises(BattleError, match="already has a vote"):
        arena.deliver(battle, "s1", "A", run_a)
    assert store.query("select * from battles") == voted


def test_reveal_before_the_vote_is_refused(arena):
    battle = ready_battle(arena)
    with pytest.raises(BattleError, match="revealed only after the vote"):
        arena.reveal(battle, "s1")
    arena.vote(battle, "s1", "hf:alice", "A")
    with pytest.raises(BattleError, match="another session"):
        arena.reveal(battle, "s2")


@pytest.mark.parametrize("a, b, kind, message", [
    ("m1:direct", "m1:direct", "model_vs_model", "two models in the same mode"),
    ("m1:direct", "m1:stepwise", "model_vs_model", "two models in the same mode"),
    ("m1:direct", "m2:stepwise", "model_vs_model", "two models in the same mode"),
    ("m1:direct", "m2:stepwise", "direct_vs_stepwise", "one model's two modes"),
    ("m1:stepwise", "m1:stepwise", "direct_vs_stepwise", "one model's two modes"),
    ("m1", "m2:direct", "model_vs_model", "expected '<model card>:<direct|stepwise>'"),
    ("m1:direct", "m2:direct", "free_for_all", "battle kind 'free_for_all'"),
])
def test_bad_battles_are_refused(arena, store, a, b, kind, message):
    with pytest.raises(BattleError, match=message):
        arena.new_battle("s1", "hf:alice", UID, "bundled", a, b, kind)
    assert store.query("select count(*) as n from battles")[0]["n"] == 0


def test_voter_id_hides_the_ip_and_uses_the_username_when_logged_in(store):
    arena = Arena(store, trusted_proxies=1)
    headers = {"x-forwarded-for": "198.51.100.23"}
    assert arena.voter_id("alice", "sess", headers, peer="10.0.0.1") == "hf:alice"
    anon = arena.voter_id(None, "sess", headers, peer="10.0.0.1")
    assert "198.51.100.23" not in anon and anon.startswith("anon:")
    assert arena.voter_id(None, "sess", {"x-forwarded-for": "198.51.100.24"}, peer="10.0.0.1") != anon
    assert Arena(store, trusted_proxies=1).voter_id(None, "sess", headers, peer="10.0.0.1") == anon  # salt kept


@pytest.mark.parametrize("headers, peer, proxies, expected", [
    ({}, "192.0.2.1", 0, "192.0.2.1"),  # reached directly, no header: the socket peer
    ({"X-Forwarded-For": "203.0.113.7"}, "192.0.2.1", 0, "192.0.2.1"),  # no proxy trusted: header ignored
    ({"x-forwarded-for": "203.0.113.7"}, "10.0.0.9", 1, "203.0.113.7"),  # one proxy appended the visitor
    # a client-written entry left of the proxy's is never used, however many it sends
    ({"x-forwarded-for": "1.1.1.1, 2.2.2.2 ,203.0.113.7"}, "10.0.0.9", 1, "203.0.113.7"),
    ({"x-forwarded-for": "1.1.1.1, 203.0.113.7, 10.0.0.5"}, "10.0.0.9", 2, "203.0.113.7"),  # two proxy hops
    ({"x-forwarded-for": "203.0.113.7"}, "10.0.0.9", 3, "203.0.113.7"),  # fewer hops than proxies: left-most
    ({}, "10.0.0.9", 1, "10.0.0.9"),  # configured for a proxy but reached directly: the peer
    ({}, None, 0, "unknown"),  # no request at all (called from inside the process)
])
def test_client_address_is_the_rightmost_address_no_trusted_proxy_wrote(headers, peer, proxies, expected):
    assert client_address(headers, peer, proxies) == expected


def test_a_rotated_forwarded_header_does_not_change_the_rate_key(store):
    direct, proxied = Arena(store), Arena(store, trusted_proxies=1)
    keys = {rate_key(direct.voter_id(None, f"s{n}", {"x-forwarded-for": f"198.51.100.{n}"}, peer="192.0.2.1"))
            for n in range(8)}
    assert len(keys) == 1  # reached directly: the peer, whatever the header says
    keys = {rate_key(proxied.voter_id(None, f"s{n}", {"x-forwarded-for": f"198.51.100.{n}, 192.0.2.1"},
                                      peer="10.0.0.9")) for n in range(8)}
    assert len(keys) == 1  # behind one proxy: the entry the proxy appended, not the client's inventions
    visitors = {rate_key(direct.voter_id(None, "s", {}, peer=f"192.0.2.{n}")) for n in range(1, 4)}
    assert len(visitors) == 3  # without any header, each peer is its own voter, not one shared bucket


def test_voter_salt_from_the_environment(monkeypatch):
    with pytest.raises(ValueError, match=SALT_ENV):
        voter_id(None, "sess", {})
    monkeypatch.setenv(SALT_ENV, "pepper-and-more-pepper")  # 22 characters: the app takes 16 or more
    assert voter_id(None, "sess", {}) != voter_id(None, "sess", {}, salt="other")
    monkeypatch.setenv(SALT_ENV, "pepper")  # guessable: refused (arena.MIN_SALT_CHARS), never used
    with pytest.raises(ValueError, match=f"{SALT_ENV}: 6 character"):
        voter_id(None, "sess", {})


def test_concurrent_votes_on_one_battle_store_exactly_one(arena, store):
    """Racing votes: one is stored; the same vote again is that vote (a retry), a different one is refused."""
    battle = ready_battle(arena)
    outcomes: list[tuple[str, object]] = []

    def attempt(choice: str) -> None:
        try:
            outcomes.append((choice, arena.vote(battle, "s1", "hf:alice", choice)["vote_id"]))
        except VoteRefused as e:
            outcomes.append((choice, e.message))

    threads = [threading.Thread(target=attempt, args=(choice,)) for choice in ("A", "B") * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (stored,) = store.votes()
    assert sorted(outcomes) == sorted(
        (choice, stored["vote_id"] if choice == stored["choice"]
         else "this battle already has a vote; each battle takes one vote") for choice in ("A", "B") * 4)


def test_draw_pair():
    rng = random.Random(0)
    systems = ["m1:direct", "m1:stepwise", "m2:direct", "m3:direct"]
    for _ in range(20):
        a, b = draw_pair(systems, "direct_vs_stepwise", rng)
        assert {a, b} == {"m1:direct", "m1:stepwise"}
        a, b = draw_pair(systems, "model_vs_model", rng)
        assert {a, b} <= {"m1:direct", "m2:direct", "m3:direct"} and a != b
    sides = {draw_pair(systems, "direct_vs_stepwise", rng)[0] for _ in range(30)}
    assert sides == {"m1:direct", "m1:stepwise"}  # sides are shuffled
    pairs = {frozenset(draw_pair(systems, "model_vs_model", rng)) for _ in range(60)}
    assert len(pairs) == 3  # every same-mode pair of models gets drawn
    with pytest.raises(BattleError, match="both direct and stepwise"):
        draw_pair(["m2:direct", "m3:direct"], "direct_vs_stepwise", rng)
    with pytest.raises(BattleError, match="two models with runs in the same mode"):
        draw_pair(["m1:direct", "m1:stepwise"], "model_vs_model", rng)


@pytest.mark.parametrize("rotated", [
    [f"2001:db8:5:7::{n:x}" for n in range(1, 9)],  # one IPv6 /64: a visitor picks any of 2^64 source addresses
    [f"[2001:db8:5:7::{n:x}]:{40000 + n}" for n in range(1, 9)],  # as some proxies write it, with a port
    [f"198.51.100.7:{40000 + n}" for n in range(1, 9)],  # an IPv4 address with the source port
    ["::ffff:198.51.100.7", "198.51.100.7", "198.51.100.7:443"],  # one address, spelled three ways
])
def test_one_visitor_spelling_or_rotating_its_address_keeps_one_rate_key(store, rotated):
    proxied = Arena(store, trusted_proxies=1)
    keys = {rate_key(proxied.voter_id(None, f"s{n}", {"x-forwarded-for": f"1.1.1.{n}, {address}"},
                                      peer="10.0.0.9")) for n, address in enumerate(rotated)}
    assert len(keys) == 1, rotated
    assert client_address({"x-forwarded-for": "[2001:db8:5:7::1]:443"}, "10.0.0.9", 1) == "2001:db8:5:7::/64"
    assert client_address({}, "2001:db8:5:8::1", 0) != client_address({}, "2001:db8:5:7::1", 0)  # other /64s
    assert client_address({"x-forwarded-for": "not-an-address"}, "10.0.0.9", 1) == "not-an-address"


def test_a_run_whose_mode_holds_a_colon_is_not_the_side_whose_model_does(arena, store):
    """The one-statement delivery compared ``model || ':' || mode`` with the side's system: a stored run of
    model ``m1`` in mode ``x:direct`` (``Trace`` does not check its mode) passed for side ``m1:x:direct``,
    whose model is ``m1:x``, and was written; ``_check_run`` would have refused it."""
    battle = arena.new_battle("s1", "hf:alice", UID, "bundled", "m1:x:direct", "m2:x:direct", "model_vs_model")
    trace = Trace(UID, "m1", "x:direct", {"seed": 0},
                  steps=[Step(StepRole.GENERATED_IMAGE, prompt="p", image=Image.new("RGB", (4, 4)))])
    impostor = store.save_trace(trace, "bundled")
    before = store.query("select * from battles")
    with pytest.raises(BattleError, match="not a system"):
        arena.deliver(battle, "s1", "A", impostor)
    assert store.query("select * from battles") == before
    arena.deliver(battle, "s1", "A", save_run(store, "m1:x:direct"))  # the side's real system is delivered
    assert store.query("select run_a from battles")[0]["run_a"] is not None


def battle_rows(store: Store) -> int:
    return store.query("select count(*) as n from battles")[0]["n"]


def test_battle_starts_are_limited_per_voter_across_sessions(store):
    """A script starting battle after battle (each stores a row) is held to the battle limit, counted per
    address across sessions like votes; the refusal writes nothing and other visitors are unaffected."""
    arena = Arena(store, max_battles=3, battle_window_seconds=60)
    voters = [arena.voter_id(None, f"sess-{n}", {}, peer="203.0.113.7") for n in range(4)]
    for n, voter in enumerate(voters[:3]):
        arena.new_battle(f"sess-{n}", voter, UID, "bundled", "m1:direct", "m2:direct", "model_vs_model")
    with pytest.raises(BattleError) as info:
        arena.new_battle("sess-3", voters[3], UID, "bundled", "m1:direct", "m2:direct", "model_vs_model")
    assert info.value.message == "rate limit: at most 3 new battles per 60 s; please wait a little"
    assert battle_rows(store) == 3
    other = arena.voter_id(None, "sess-9", {}, peer="198.51.100.1")
    arena.new_battle("sess-9", other, UID, "bundled", "m1:direct", "m2:direct", "model_vs_model")
    assert battle_rows(store) == 4


def test_a_withdrawn_battle_gives_its_start_back_and_takes_no_vote(store):
    """A battle that never produced an output (refused by a full queue) is withdrawn: under a limit of 2, two
    starts, one withdrawn, a third start is let through (hand-counted). A vote, or a delivery, on the withdrawn
    id is refused as unknown. Left alone: another session's battle, one with a side delivered, one voted on."""
    arena = Arena(store, max_battles=2, battle_window_seconds=60)
    first = arena.new_battle("s1", "hf:alice", UID, "bundled", "m1:direct", "m2:direct", "model_vs_model")
    kept = arena.new_battle("s1", "hf:alice", UID, "bundled", "m1:direct", "m2:direct", "model_vs_model")
    with pytest.raises(BattleError, match="rate limit"):
        arena.new_battle("s1", "hf:alice", UID, "bundled", "m1:direct", "m2:direct", "model_vs_model")
    assert arena.withdraw_battle(first, "s2") is False  # not that session's battle
    assert arena.withdraw_battle(first, "s1") is True
    assert arena.withdraw_battle(first, "s1") is False  # once
    arena.new_battle("s1", "hf:alice", UID, "bundled", "m1:direct", "m2:direct", "model_vs_model")
    with pytest.raises(VoteRefused, match="unknown battle id"):
        arena.vote(first, "s1", "hf:alice", "A")
    with pytest.raises(BattleError, match="unknown battle id"):
        arena.deliver(first, "s1", "A", save_run(store, "m1:direct"))
    arena.deliver(kept, "s1", "A", save_run(store, "m1:direct", seed=1))
    assert arena.withdraw_battle(kept, "s1") is False  # a side was shown
    voted = ready_battle(Arena(store), session="s3", voter="hf:bob")
    Arena(store).vote(voted, "s3", "hf:bob", "tie")
    assert arena.withdraw_battle(voted, "s3") is False
    assert arena.withdraw_battle("not-an-id", "s1") is False and arena.withdraw_battle(kept, "") is False
    assert {row["id"] for row in store.query("select id from battles")} >= {kept, voted}


def test_battles_older_than_the_window_do_not_count(store):
    arena = Arena(store, max_battles=1, battle_window_seconds=60)
    arena.new_battle("s1", "hf:alice", UID, "bundled", "m1:direct", "m2:direct", "model_vs_model")
    store.db.execute("update battles set created_at = '2000-01-01T00:00:00.000000+00:00'")
    store.db.conn.commit()
    arena.new_battle("s1", "hf:alice", UID, "bundled", "m1:direct", "m2:direct", "model_vs_model")
    assert battle_rows(store) == 2


def test_a_vote_retried_on_another_worker_is_the_stored_vote(tmp_path):
    """A vote whose answer was lost, retried (same battle, session, voter and choice) on another app worker
    (its own Store and Arena on the same file, nothing in memory) is accepted as the vote already stored;
    a different choice is still refused, and one vote stays stored."""
    first = Store.open(tmp_path / "arena.db")
    battle = ready_battle(Arena(first))
    cast = Arena(first).vote(battle, "s1", "hf:alice", "B")
    other = Store.open(tmp_path / "arena.db")
    try:
        retried = Arena(other).vote(battle, "s1", "hf:alice", "B")
        assert (retried["vote_id"], retried["choice"], retried["created_at"]) == (
            cast["vote_id"], "B", cast["created_at"])
        with pytest.raises(VoteRefused, match="already has a vote"):
            Arena(other).vote(battle, "s1", "hf:alice", "A")
        with pytest.raises(VoteRefused, match="already has a vote"):  # another voter's same choice
            Arena(other).vote(battle, "s1", "hf:mallory", "B")
    finally:
        other.close()
    assert [(v["vote_id"], v["choice"]) for v in first.votes()] == [(cast["vote_id"], "B")]
    first.close()


def run_start_rows(store: Store) -> int:
    return store.query("select count(*) as n from run_starts")[0]["n"]


def test_run_starts_are_limited_per_address_across_sessions(store):
    """Hand-counted: a limit of 3 lets 2 + 1 runs through from two sessions of one address, refuses the next
    (2 at once and then 1), writes nothing for a refusal; another address is unaffected."""
    arena = Arena(store, max_runs=3, run_window_seconds=60)
    one, two = (arena.voter_id(None, s, {}, peer="203.0.113.7") for s in ("sess-1", "sess-2"))
    arena.admit_runs(one, 2)
    with pytest.raises(RunRefused) as info:
        arena.admit_runs(two, 2)
    assert info.value.message == "rate limit: at most 3 new runs per 60 s; please wait a little"
    assert run_start_rows(store) == 2
    arena.admit_runs(two, 1)
    with pytest.raises(RunRefused):
        arena.admit_runs(one, 1)
    assert run_start_rows(store) == 3
    arena.admit_runs(arena.voter_id(None, "sess-9", {}, peer="198.51.100.1"), 3)
    assert run_start_rows(store) == 6


def test_run_starts_no_window_counts_are_deleted_for_every_session_of_the_address(store):
    """A script that opens a new session per run (a new voter id each time, one address) leaves no row
    behind once the window has passed: the next start deletes the address's expired rows, not only its own
    session's, so the table holds at most the limit per address."""
    import time
    arena = Arena(store, max_runs=5, run_window_seconds=0.05)
    for n in range(4):
        arena.admit_runs(arena.voter_id(None, f"sess-{n}", {}, peer="203.0.113.7"))
    time.sleep(0.1)
    arena.admit_runs(arena.voter_id(None, "sess-new", {}, peer="203.0.113.7"))
    assert run_start_rows(store) == 1


def test_expired_run_starts_of_addresses_that_never_return_are_deleted_by_anyone_s_start(store):
    """Before: a start deleted only its own address's expired rows, so the rows of every address that came once
    and never returned stayed forever. Hand-counted: 3 addresses start 1 run each, the window passes, a fourth
    address starts 1: only its row is left; a row still inside the window is kept. The window passes by dating
    the 3 rows back, not by sleeping through a short window: with a 0.2 s window a loaded machine could pause
    that long between the last two starts, and the row that must be kept had expired too."""
    arena = Arena(store, max_runs=5, run_window_seconds=60)
    for n in range(3):
        arena.admit_runs(arena.voter_id(None, f"sess-{n}", {}, peer=f"203.0.113.{n + 1}"))
    store.db.execute("update run_starts set created_at = '2000-01-01T00:00:00.000000+00:00'")  # the window passed
    store.db.conn.commit()
    fresh = arena.admit_runs(arena.voter_id(None, "sess-a", {}, peer="198.51.100.9"))
    assert [row["id"] for row in store.query("select id from run_starts")] == fresh
    arena.admit_runs(arena.voter_id(None, "sess-b", {}, peer="198.51.100.10"))
    assert run_start_rows(store) == 2  # the first one is still within its window


def test_a_request_for_more_runs_than_the_whole_limit_is_not_told_to_wait(store):
    """Explore's Run starts both columns (2 new runs); under --run-limit 1 it was refused "at most 1 new runs
    per 60 s; please wait a little" however long the visitor waited. It now says why waiting cannot help,
    and writes nothing; a request within the limit is still admitted."""
    arena = Arena(store, max_runs=1, run_window_seconds=60)
    with pytest.raises(RunRefused) as refused:
        arena.admit_runs("hf:alice", 2)
    assert str(refused.value) == ("rate limit: this starts 2 new runs, more than the 1 one visitor may start per"
                                  " 60 s; ask for fewer at once")
    assert store.query("select count(*) as n from run_starts")[0]["n"] == 0
    arena.admit_runs("hf:alice", 1)
    with pytest.raises(RunRefused, match="please wait a little"):
        arena.admit_runs("hf:alice", 1)


def test_released_run_starts_no_longer_count_and_only_they_are_deleted(store):
    """Hand-counted under a limit of 3: two runs admitted, one of them released (it never started), so two more
    are admitted; the released row is gone and the others stay."""
    arena = Arena(store, max_runs=3, run_window_seconds=60)
    first = arena.admit_runs("hf:alice", 2)
    other = arena.admit_runs("hf:bob", 1)
    assert len(first) == 2 and arena.admit_runs("hf:alice", 0) == []
    arena.release_runs(first[1:])
    assert {row["id"] for row in store.query("select id from run_starts")} == {first[0], *other}
    arena.admit_runs("hf:alice", 2)
    with pytest.raises(RunRefused):
        arena.admit_runs("hf:alice", 1)


def test_an_arena_s_limits_default_to_the_settings_defaults(store):
    """One home for the defaults: an Arena built without limits has the app's (Settings') own."""
    from realunify_arena.settings import Settings
    default, app = Arena(store), Arena.from_settings(store, Settings())
    for name in ("max_votes", "window_seconds", "trusted_proxies", "proxy_header", "max_battles",
                 "battle_window_seconds", "max_runs", "run_window_seconds"):
        assert getattr(default, name) == getattr(app, name), name
    custom = Arena.from_settings(store, Settings(vote_limit=2, vote_window=7, run_limit=4, run_window=9,
                                                 proxy_header="forwarded"))
    assert custom.proxy_header == "forwarded"
    assert (custom.max_votes, custom.window_seconds, custom.max_runs, custom.run_window_seconds) == (2, 7, 4, 9)
