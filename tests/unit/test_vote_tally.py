"""The persisted vote tally (``vote_tally``, kept by triggers) that the cold leaderboard reads.

Expected counts come from a plain Python count over the raw ``votes`` and ``battles`` rows, read through
an independent ``sqlite3`` connection."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter

from sqlite_utils import Database

from realunify_arena.arena import Arena
from realunify_arena.ratings import VoteCounts
from realunify_arena.store import Store, migrations
from realunify_arena.trace import Trace

SYSTEMS = ("m1:direct", "m2:direct", "m3:direct", "m1:stepwise")


def python_count(path, after_id: int = 0) -> Counter:
    """Votes (with ``id > after_id``) per (track, kind, system_a, system_b, choice), flagged battles left
    out: a plain count."""
    conn = sqlite3.connect(path)
    battles = {row[0]: row[1:] for row in conn.execute(
        "select id, track, kind, system_a, system_b, flagged from battles")}
    counts = Counter()
    for battle_id, choice in conn.execute("select battle_id, choice from votes where id > ?", (after_id,)):
        track, kind, a, b, flagged = battles[battle_id]
        if flagged is None:
            counts[(track, kind, a, b, choice)] += 1
    conn.close()
    return counts


def tallied(store: Store, after_id: int = 0) -> Counter:
    return Counter({(r["track"], r["kind"], r["system_a"], r["system_b"], r["choice"]): r["n"]
                    for r in store.vote_counts(after_id=after_id)})


def raw_battle(conn: sqlite3.Connection, battle_id: str, track: str, kind: str, a: str, b: str,
               flagged: str | None = None) -> None:
    conn.execute("insert into battles (id, session_key, voter, dataset, instance_uid, track, kind, system_a,"
                 " system_b, created_at, flagged) values (?, 's', 'v', 'd', ?, ?, ?, ?, ?, 't', ?)",
                 (battle_id, f"{track}_1_x", track, kind, a, b, flagged))


def test_the_tally_equals_a_plain_count_through_every_kind_of_write(tmp_path):
    """Votes through the arena (flagged and not) and through another connection: inserts, deletes, a
    changed choice, a battle flagged and unflagged after its vote, a battle's systems rewritten."""
    path = tmp_path / "arena.db"
    store = Store.open(path)
    arena = Arena(store, max_votes=10**6)
    runs = {s: store.save_trace(Trace("UEG_3_world_knowledge", s.split(":")[0], s.split(":")[1],
                                      {"seed": 0}), "b") for s in SYSTEMS}
    rng = random.Random(7)
    for k in range(60):  # the arena's own write path; every fifth battle flagged at delivery
        a, b = rng.sample(SYSTEMS[:3], 2)
        battle = arena.new_battle(f"s{k}", "hf:v", "UEG_3_world_knowledge", "b", a, b, "model_vs_model")
        arena.deliver(battle, f"s{k}", "A", runs[a], flag="named itself" if k % 5 == 0 else None)
        arena.deliver(battle, f"s{k}", "B", runs[b])
        arena.vote(battle, f"s{k}", "hf:v", rng.choice(("A", "B", "tie", "both_bad")))
    assert tallied(store) == python_count(path)

    other = sqlite3.connect(path, isolation_level=None)  # another writer, bypassing the store
    other.execute("pragma foreign_keys=on")
    for k in range(40):
        track, kind = rng.choice((("UEG", "model_vs_model"), ("GEU", "direct_vs_stepwise")))
        raw_battle(other, f"raw{k}", track, kind, *rng.sample(SYSTEMS, 2),
                   flagged="flag" if k % 7 == 0 else None)
        other.execute("insert into votes (battle_id, voter, choice, created_at) values (?, 'v', ?, 't')",
                      (f"raw{k}", rng.choice(("A", "B", "tie"))))
    assert tallied(store) == python_count(path)

    ids = [i for (i,) in other.execute("select battle_id from votes order by id")]
    for battle_id in rng.sample(ids, 10):
        other.execute("delete from votes where battle_id = ?", (battle_id,))
        ids.remove(battle_id)
    for battle_id in rng.sample(ids, 10):
        other.execute("update votes set choice = case choice when 'A' then 'B' else 'A' end where battle_id = ?",
                      (battle_id,))
    flagged_now = rng.sample(ids, 8)
    for battle_id in flagged_now:  # flagged after the vote: its vote leaves the tally
        other.execute("update battles set flagged = coalesce(flagged, 'late') where id = ?", (battle_id,))
    for battle_id in flagged_now[:4]:  # and unflagged again: back in
        other.execute("update battles set flagged = null where id = ?", (battle_id,))
    for battle_id in rng.sample(ids, 5):  # a battle's systems rewritten (a repair): counted under the new ones
        other.execute("update battles set system_a = 'm9:direct' where id = ?", (battle_id,))
    other.close()
    expected = python_count(path)
    assert sum(expected.values()) > 50 and any(key[2] == "m9:direct" for key in expected)
    assert tallied(store) == expected
    store.close()


def test_the_cold_count_and_the_incremental_counts_agree_with_a_plain_count(tmp_path):
    path = tmp_path / "arena.db"
    store = Store.open(path)
    other = sqlite3.connect(path, isolation_level=None)
    rng = random.Random(3)

    def add(n: int, start: int) -> None:
        for k in range(start, start + n):
            raw_battle(other, f"b{k}", "UEG", "model_vs_model", *rng.sample(SYSTEMS[:3], 2),
                       flagged="x" if k % 9 == 0 else None)
            other.execute("insert into votes (battle_id, voter, choice, created_at) values (?, 'v', ?, 't')",
                          (f"b{k}", rng.choice(("A", "B", "tie", "both_bad"))))

    add(50, 0)
    counts = VoteCounts()
    counts.update(store)  # cold: read from the tally
    (last,) = other.execute("select max(id) from votes").fetchone()
    assert counts.last_vote_id == last
    add(30, 50)
    assert counts.update(store) == sum(1 for k in range(50, 80) if k % 9)  # only the new rated votes
    expected = python_count(path)
    assert counts.table("UEG", "model_vs_model").counts == Counter(
        {(a, b, choice): n for (_, _, a, b, choice), n in expected.items()})
    assert tallied(store, after_id=last) == python_count(path, after_id=last)  # the newer votes alone
    assert tallied(store) == expected
    other.close()
    store.close()


def test_an_old_database_gets_its_tally_from_the_votes_it_already_holds(tmp_path):
    path = tmp_path / "arena.db"
    old = Database(path)
    migrations.apply(old, stop_before="m005_vote_tally")
    rng = random.Random(11)
    for k in range(120):
        raw_battle(old.conn, f"o{k}", rng.choice(("UEG", "GEU")), "model_vs_model", *rng.sample(SYSTEMS[:3], 2),
                   flagged="named" if k % 6 == 0 else None)
        if k % 10:  # some battles were never voted on
            old.execute("insert into votes (battle_id, voter, choice, created_at) values (?, 'v', ?, 't')",
                        (f"o{k}", rng.choice(("A", "B", "tie", "both_bad"))))
    old.conn.commit()
    old.close()
    store = Store.open(path)
    expected = python_count(path)
    assert sum(expected.values()) == sum(1 for k in range(120) if k % 10 and k % 6)
    assert tallied(store) == expected
    store.close()
