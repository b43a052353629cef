"""``export votes`` read the way FastChat's rating reads a battle file.

FastChat's ``fastchat/serve/monitor/elo_analysis.py`` (lm-sys/FastChat), run with ``--clean-battle-file FILE``:
``battles = pd.read_json(FILE)`` (a JSON array of battle objects), then ``report_elo_analysis_results`` sorts by
``tstamp`` (seconds since the epoch: the last one is printed with ``datetime.fromtimestamp``), keeps
``battles[battles["anony"]]``, counts ``model_a``/``model_b`` and rates on ``winner`` (``model_a``,
``model_b``, ``tie``, ``tie (bothbad)``; a tie is half a win each way). Those steps are written out here with
pandas; nothing of FastChat is imported.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import astuple

import pandas as pd
from PIL import Image

from realunify_arena.arena import Arena
from realunify_arena.cli import main
from realunify_arena.store import Store
from realunify_arena.systems import System
from realunify_arena.trace import Step, StepRole, Trace


def _run(store: Store, system: str, uid: str) -> int:
    model, mode = astuple(System.parse(system))
    trace = Trace(uid, model, mode, {"seed": 0},
                  steps=[Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("L", (2, 2), 0))])
    return store.save_trace(trace, "bundled")


def _vote(arena: Arena, k: int, a: str, b: str, choice: str, flag: str | None = None,
          voter: str = "hf:rater") -> None:
    uid, session = f"UEG_{k}_world_knowledge", f"session-{k}"
    battle_id = arena.new_battle(session, voter, uid, "bundled", a, b, "model_vs_model")
    arena.deliver(battle_id, session, "A", _run(arena.store, a, uid))
    arena.deliver(battle_id, session, "B", _run(arena.store, b, uid), flag=flag)
    arena.vote(battle_id, session, voter, choice)


def _voted_store(path) -> tuple[float, float]:
    """m1 against m2: m1 wins 3 (two as A, one as B), m2 wins 1, one tie, one both-bad; one more battle, won by
    m2, was flagged (a side named its model before the vote). Returns the time span of the votes (epoch s)."""
    before = dt.datetime.now(dt.timezone.utc).timestamp()
    store = Store.open(path)
    arena = Arena(store, max_votes=1000)
    for k, (a, b, choice) in enumerate([("m1:direct", "m2:direct", "A"), ("m2:direct", "m1:direct", "B"),
                                        ("m1:direct", "m2:direct", "A"), ("m1:direct", "m2:direct", "B"),
                                        ("m2:direct", "m1:direct", "tie"), ("m1:direct", "m2:direct", "both_bad")]):
        _vote(arena, k, a, b, choice)
    _vote(arena, 9, "m1:direct", "m2:direct", "B", flag="names: m2")
    store.close()
    return before, dt.datetime.now(dt.timezone.utc).timestamp()


def _fastchat_reads(battles: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """FastChat's steps on a battle frame: sort by tstamp, keep anony, m1's score (win 1, tie or both-bad 1/2)
    against m2 as a rating difference, 400 * log10(score / (n - score)) (the Bradley-Terry maximum-likelihood
    difference of two systems that met only each other)."""
    battles = battles.sort_values(ascending=True, by=["tstamp"])
    battles = battles[battles["anony"]].reset_index(drop=True)
    score = 0.0
    for _, row in battles.iterrows():
        if "tie" in row["winner"]:
            score += 0.5
        elif row[row["winner"]] == "m1:direct":  # "model_a" or "model_b": the column naming the winner
            score += 1.0
    return battles, 400 * math.log10(score / (len(battles) - score))


def test_a_json_export_of_votes_is_a_battle_file_fastchat_s_rating_reads(tmp_path, capsys):
    """Before, the export had no model_a, model_b, tstamp or anony (FastChat's KeyError at its first step) and
    no JSON array format (``pd.read_json`` of JSON Lines: "Trailing data")."""
    db = tmp_path / "arena.db"
    before, after = _voted_store(db)
    out = tmp_path / "battles.json"
    assert main(["export", "votes", "--format", "json", "--out", str(out), "--db", str(db)]) == 0
    capsys.readouterr()

    read = pd.read_json(out)  # elo_analysis.py's own call on --clean-battle-file
    assert len(read) == 7
    assert before <= read["tstamp"].min() <= read["tstamp"].max() <= after
    assert read["tstamp"].is_monotonic_increasing  # the votes were cast in this order
    battles, difference = _fastchat_reads(read)
    assert len(battles) == 6  # the flagged battle is not anonymous: left out, as our rating leaves it out
    # by hand: m1 scores 3 + 0.5 + 0.5 = 4 of 6: 400 * log10(4 / 2) = 120.41
    assert math.isclose(difference, 120.412, abs_tol=0.01)
    counts = battles["model_a"].value_counts().add(battles["model_b"].value_counts(), fill_value=0)
    assert counts.to_dict() == {"m1:direct": 6, "m2:direct": 6}

    # and our own board says the same, from the store and from the file
    assert main(["leaderboard", "--db", str(db), "--format", "json", "--rounds", "20"]) == 0
    board = json.loads(capsys.readouterr().out)[0]
    rating = {row["system"]: row["rating"] for row in board["rows"]}
    assert math.isclose(rating["m1:direct"] - rating["m2:direct"], 120.412, abs_tol=0.5)
    assert main(["leaderboard", "--votes", str(out), "--format", "json", "--rounds", "20"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["rows"] == board["rows"]


def test_every_vote_format_carries_fastchat_s_battle_fields(tmp_path, capsys):
    db = tmp_path / "arena.db"
    _voted_store(db)
    lines = tmp_path / "votes.jsonl"
    assert main(["export", "votes", "--format", "jsonl", "--out", str(lines), "--db", str(db)]) == 0
    read = pd.read_json(lines, lines=True)
    assert len(_fastchat_reads(read)[0]) == 6
    table = tmp_path / "votes.csv"
    assert main(["export", "votes", "--format", "csv", "--out", str(table), "--db", str(db)]) == 0
    read = pd.read_csv(table)
    assert list(read["anony"]) == [True] * 6 + [False]
    assert list(read["model_a"]) == list(read["system_a"]) and list(read["model_b"]) == list(read["system_b"])
    created = [dt.datetime.fromisoformat(c).timestamp() for c in read["created_at"]]
    assert [round(t, 6) for t in read["tstamp"]] == [round(t, 6) for t in created]
    capsys.readouterr()


def test_an_empty_json_export_is_an_empty_array(tmp_path, capsys):
    db = tmp_path / "arena.db"
    Store.open(db).close()
    out = tmp_path / "battles.json"
    assert main(["export", "votes", "--format", "json", "--out", str(out), "--db", str(db)]) == 0
    assert json.loads(out.read_text()) == [] and len(pd.read_json(out)) == 0
    assert "no votes" in capsys.readouterr().err


def test_fastchat_s_per_voter_options_group_the_export_by_voter_without_naming_one(tmp_path, capsys):
    """FastChat's ``elo_analysis.py`` groups battles by ``judge``: ``limit_user_votes`` (``--daily-vote-per-user
    N``) keeps ``groupby("judge").head(N)`` per day of ``tstamp`` (``datetime.fromtimestamp``), and
    ``outlier_detect`` counts ``battles["judge"].value_counts()`` and drops a voter's battles by it; its
    ``clean_battle_data.py`` writes ``judge`` as ``arena_user_<id>``, an id per IP, never the IP. Before, the
    export had no ``judge``: both steps ended in KeyError. Now ``judge`` is ``arena_user_`` and the vote's
    ``voter_hash``: one value per voter, naming no username."""
    db = tmp_path / "arena.db"
    store = Store.open(db)
    arena = Arena(store, max_votes=1000)
    plan = [("hf:rater", "A"), ("hf:rater", "B"), ("hf:rater", "tie"), ("hf:other-person", "A"),
            ("hf:other-person", "A")]
    for k, (voter, choice) in enumerate(plan):
        _vote(arena, k, "m1:direct", "m2:direct", choice, voter=voter)
    store.close()
    out = tmp_path / "battles.json"
    assert main(["export", "votes", "--format", "json", "--out", str(out), "--db", str(db)]) == 0
    capsys.readouterr()
    battles = pd.read_json(out)
    assert battles["judge"].value_counts().sort_values().tolist() == [2, 3]  # outlier_detect's count per voter
    assert (battles["judge"] == "arena_user_" + battles["voter_hash"]).all()
    assert not battles["judge"].str.contains("rater|other-person").any()
    # limit_user_votes with --daily-vote-per-user 2, its steps written out with pandas
    battles["date"] = battles["tstamp"].apply(lambda x: dt.datetime.fromtimestamp(x).strftime("%Y-%m-%d"))
    kept = pd.concat([battles[battles["date"] == day].groupby("judge").head(2) for day in battles["date"].unique()])
    # by hand: at most 2 a voter a day (the votes were cast seconds apart; counted per day all the same)
    per_day: dict[tuple[str, str], int] = {}
    for day, voter in zip(battles["date"], [voter for voter, _ in plan]):
        per_day[day, voter] = per_day.get((day, voter), 0) + 1
    assert len(kept) == sum(min(n, 2) for n in per_day.values())
    lines = tmp_path / "votes.jsonl"
    assert main(["export", "votes", "--out", str(lines), "--db", str(db)]) == 0
    capsys.readouterr()
    assert pd.read_json(lines, lines=True)["judge"].tolist() == battles["judge"].tolist()


def test_an_anonymous_visitor_s_sessions_are_one_judge_as_fastchat_s_per_ip_id(tmp_path, monkeypatch, capsys):
    """hunt26b: FastChat's ``judge`` is one id per IP (``clean_battle_data.py``), and its per-user steps
    (``--daily-vote-per-user``, ``outlier_detect``) group by it; the export's ``judge`` hashed the whole voter
    id, address and session, so one address that reloaded the page three times was three judges and passed
    ``--daily-vote-per-user 1`` three times. One address is one judge (and one ``voter_hash``), whatever its
    sessions; another address another."""
    monkeypatch.setenv("REALUNIFY_VOTER_SALT", "a-test-salt-of-enough-length-0123")
    db = tmp_path / "arena.db"
    store = Store.open(db)
    arena = Arena(store, max_votes=1000)
    plan = [("203.0.113.7", "s1"), ("203.0.113.7", "s2"), ("203.0.113.7", "s3"), ("198.51.100.9", "s4")]
    for k, (address, session) in enumerate(plan):
        _vote(arena, k, "m1:direct", "m2:direct", "A", voter=arena.voter_id(None, session, {}, peer=address))
    store.close()
    out = tmp_path / "battles.json"
    assert main(["export", "votes", "--format", "json", "--out", str(out), "--db", str(db)]) == 0
    capsys.readouterr()
    battles = pd.read_json(out)
    judges = battles["judge"].tolist()
    assert judges[0] == judges[1] == judges[2] != judges[3], judges
    assert (battles["judge"] == "arena_user_" + battles["voter_hash"]).all()
    # limit_user_votes with --daily-vote-per-user 1: one vote a day per address
    assert len(battles.groupby("judge").head(1)) == 2


def test_a_json_export_of_several_boards_says_that_fastchat_rates_it_as_one(tmp_path, capsys):
    """FastChat's rating has no track or kind: ``elo_analysis.py`` rates every battle of the array together. An
    export of all votes holding two boards (UEG and GEU here, m1 against m2 on each) was rated by FastChat as one
    board, m1's UEG and GEU battles pooled, a rating no board of the Leaderboard tab shows, with no word (hunt28b).
    The export says so on stderr and how to write one board's array; one board's export says nothing."""
    db = tmp_path / "arena.db"
    _voted_store(db)
    store = Store.open(db)
    arena = Arena(store, max_votes=1000)
    for k, choice in enumerate(["B", "B"]):
        uid, session = f"GEU_{k}_mental_tracking", f"geu-session-{k}"
        battle_id = arena.new_battle(session, "hf:rater", uid, "bundled", "m1:direct", "m2:direct", "model_vs_model")
        arena.deliver(battle_id, session, "A", _run(store, "m1:direct", uid))
        arena.deliver(battle_id, session, "B", _run(store, "m2:direct", uid))
        arena.vote(battle_id, session, "hf:rater", choice)
    store.close()
    out = tmp_path / "battles.json"
    assert main(["export", "votes", "--format", "json", "--out", str(out), "--db", str(db)]) == 0
    err = capsys.readouterr().err
    assert ("export: note: the array holds the votes of 2 boards (UEG model_vs_model 7, GEU model_vs_model 2); "
            "FastChat's elo_analysis.py rates one battle file as one board, pooling them: pass --track and --kind "
            "to write one board's battles") in err, err
    assert len(json.loads(out.read_text())) == 9
    assert main(["export", "votes", "--format", "json", "--out", str(out), "--db", str(db), "--track", "UEG",
                 "--kind", "model_vs_model"]) == 0
    assert "note" not in capsys.readouterr().err and len(json.loads(out.read_text())) == 7


def test_a_store_with_one_vote_is_counted_in_the_singular_by_export_and_backup(tmp_path, capsys):
    """Found by a newcomer after one Arena vote: `export votes --out` said "wrote 1 votes" and `backup` "1 battles,
    1 votes". Expected (English number agreement): "1 vote", "1 battle"; two stay plural."""
    db = tmp_path / "arena.db"
    store = Store.open(db)
    arena = Arena(store, max_votes=1000)
    _vote(arena, 0, "m1:direct", "m2:direct", "A")
    store.close()
    assert main(["export", "votes", "--format", "csv", "--out", str(tmp_path / "v.csv"), "--db", str(db)]) == 0
    assert f"wrote 1 vote to {tmp_path / 'v.csv'}" in capsys.readouterr().err
    assert main(["backup", str(tmp_path / "bk" / "arena.db"), "--db", str(db)]) == 0
    said = capsys.readouterr().out
    assert "2 runs, 0 judgments, 1 battle, 1 vote;" in said, said


def test_a_reader_that_stops_early_gets_no_error_line(tmp_path):
    """Found by a newcomer: `python -m realunify_arena export votes | head -c 300` printed "export: error: Broken
    pipe" after the lines head wanted. A reader closing the pipe early is the shell's usual way to take the first
    lines (Python's docs, "Note on SIGPIPE": such a program should exit quietly); expected: no error line."""
    import os
    import subprocess
    import sys

    db = tmp_path / "arena.db"
    store = Store.open(db)
    arena = Arena(store, max_votes=100000)
    for k in range(300):  # ~300 lines of JSON, well over a pipe's 64 KiB buffer
        _vote(arena, k % 12, "m1:direct", "m2:direct", "A", voter=f"hf:rater{k}")
    store.close()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "realunify_arena", "export", "votes", "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout.read(300).startswith(b'{"vote_id"')
    proc.stdout.close()  # as `head -c 300` does once it has its bytes
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "error" not in err.lower() and "Traceback" not in err, err
