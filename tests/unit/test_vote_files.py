"""`leaderboard --votes FILE` reads FastChat's battle files (board14).

The format is FastChat's own: ``fastchat/serve/monitor/clean_battle_data.py`` writes ``clean_battle_<date>.json``
with ``json.dump(battles, fout, indent=2)``, a JSON array of battles ``{model_a, model_b, winner, judge, turn,
anony, language, tstamp}``, ``winner`` one of model_a, model_b, tie, tie (bothbad); ``elo_analysis.py`` reads it
with ``pd.read_json`` and rates only the battles whose ``anony`` is true.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from realunify_arena.cli import main

BOARD = ["--track", "UEG", "--kind", "model_vs_model"]


def battles() -> list[dict]:
    """A connected board where every model won and lost, with ties and both-bad, as FastChat writes them."""
    plan = [("vicuna-13b", "koala-13b", "model_a", 9), ("koala-13b", "vicuna-13b", "model_a", 3),
            ("koala-13b", "alpaca-13b", "model_a", 6), ("alpaca-13b", "koala-13b", "model_a", 4),
            ("alpaca-13b", "vicuna-13b", "model_b", 7), ("vicuna-13b", "alpaca-13b", "model_b", 2),
            ("alpaca-13b", "llama-13b", "model_a", 5), ("llama-13b", "alpaca-13b", "model_a", 2),
            ("llama-13b", "vicuna-13b", "tie", 3), ("koala-13b", "llama-13b", "tie (bothbad)", 4),
            ("llama-13b", "koala-13b", "model_b", 3), ("vicuna-13b", "llama-13b", "model_a", 6)]
    out = []
    for a, b, winner, n in plan:
        for _ in range(n):
            out.append({"model_a": a, "model_b": b, "winner": winner, "judge": f"arena_user_{len(out)}",
                        "turn": 1, "anony": True, "language": "English", "tstamp": 1682000000.5 + len(out)})
    return out


def fastchat_mle_elo(rows: list[dict]) -> dict[str, float]:
    """FastChat's ``compute_mle_elo`` objective, written here: each battle twice as rows of a logistic
    regression with +ln 10 for model_a and -ln 10 for model_b, no intercept; a win for A is two A wins, a tie
    (either kind) one A win and one B win; rating = 400 * coefficient + 1000. Solved by Newton's method with
    the pseudo-inverse (the fit is unpenalised: steps stay orthogonal to the all-equal shift, from 0)."""
    models = sorted({r["model_a"] for r in rows} | {r["model_b"] for r in rows})
    index = {m: i for i, m in enumerate(models)}
    x, y = [], []
    for r in rows:
        row = np.zeros(len(models))
        row[index[r["model_a"]]], row[index[r["model_b"]]] = math.log(10), -math.log(10)
        x += [row, row]
        y += [1.0, 1.0] if r["winner"] == "model_a" else [0.0, 0.0] if r["winner"] == "model_b" else [1.0, 0.0]
    x, y = np.array(x), np.array(y)
    beta = np.zeros(len(models))
    for _ in range(100):
        p = 1 / (1 + np.exp(-x @ beta))
        beta -= np.linalg.pinv(x.T @ (x * (p * (1 - p))[:, None])) @ (x.T @ (p - y))
    return {m: 400 * float(beta[index[m]]) + 1000 for m in models}


def board(tmp_path, capsys, name: str, text: str, *flags: str) -> dict:
    path = tmp_path / name
    path.write_text(text)
    assert main(["leaderboard", "--votes", str(path), "--format", "json", "--rounds", "20", "--min-votes", "0",
                 *flags]) == 0, capsys.readouterr().err
    (only,) = json.loads(capsys.readouterr().out)
    return only


def test_a_fastchat_clean_battle_file_is_rated_as_fastchats_mle_elo(tmp_path, capsys):
    rows = battles()
    expected = fastchat_mle_elo(rows)
    assert expected["vicuna-13b"] > expected["koala-13b"] > expected["llama-13b"]  # the reference is sane
    got = board(tmp_path, capsys, "clean_battle_20230905.json", json.dumps(rows, indent=2), *BOARD)
    assert (got["track"], got["kind"], got["votes"]) == ("UEG", "model_vs_model", len(rows))
    ratings = {r["system"]: r["rating"] for r in got["rows"]}
    assert ratings.keys() == expected.keys()
    for model, rating in expected.items():
        assert ratings[model] == pytest.approx(rating, abs=0.5), model

    # the same battles as JSON Lines: the same board
    lines = board(tmp_path, capsys, "battles.jsonl", "".join(json.dumps(r) + "\n" for r in rows), *BOARD)
    assert lines["rows"] == got["rows"]


def test_battles_whose_voter_saw_the_names_are_left_out_as_fastchat_does(tmp_path, capsys):
    rows = battles()
    named = [dict(r, anony=False, winner="model_b") for r in rows[:15]]  # would swing vicuna vs koala
    plain = board(tmp_path, capsys, "a.json", json.dumps(rows), *BOARD)
    mixed = board(tmp_path, capsys, "b.json", json.dumps(named + rows), *BOARD)
    assert mixed["votes"] == len(rows) and mixed["rows"] == plain["rows"]


def test_battles_that_deduplication_did_not_sample_are_left_out_as_fastchat_does(tmp_path, capsys):
    """FastChat's deduplication tags every battle of a too-frequent prompt ``{"high_freq": true, ...}`` and keeps
    a sample (``"sampled": true``); its leaderboard rates only battles with ``sampled`` true (or no tag)."""
    rows = [dict(r, dedup_tag={"high_freq": False, "sampled": True}) for r in battles()]
    repeats = [dict(rows[0], model_a="koala-13b", model_b="vicuna-13b", dedup_tag={"high_freq": True,
                                                                                   "sampled": False})] * 40
    kept = [dict(rows[0], dedup_tag={"high_freq": True, "sampled": True})]
    expected = fastchat_mle_elo(rows + kept)
    got = board(tmp_path, capsys, "c.json", json.dumps(repeats + rows + kept), *BOARD)
    assert got["votes"] == len(rows) + 1
    for r in got["rows"]:
        assert r["rating"] == pytest.approx(expected[r["system"]], abs=0.5), r["system"]


@pytest.mark.parametrize("tag", ["yes", {"sampled": "false"}, [True]])
def test_a_dedup_tag_of_another_shape_is_refused_naming_the_entry(tmp_path, capsys, tag):
    path = tmp_path / "d.json"
    path.write_text(json.dumps(battles()[:2] + [dict(battles()[0], dedup_tag=tag)]))
    assert main(["leaderboard", "--votes", str(path), *BOARD]) == 2
    err = capsys.readouterr().err
    assert f"{path} entry 3 (index 2): field 'dedup_tag' is" in err and "'sampled' is true or false" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_battles_that_name_a_track_and_kind_need_no_flags_and_others_ask_for_them(tmp_path, capsys):
    rows = [dict(r, track="GEU", kind="model_vs_model") for r in battles()]
    path = tmp_path / "own.json"
    path.write_text(json.dumps(rows))
    assert main(["leaderboard", "--votes", str(path), "--format", "json", "--rounds", "0"]) == 0
    geu = {(b["track"], b["kind"]): b["votes"] for b in json.loads(capsys.readouterr().out)}
    assert geu[("GEU", "model_vs_model")] == len(rows) and geu[("UEG", "model_vs_model")] == 0

    path.write_text(json.dumps(battles()))
    assert main(["leaderboard", "--votes", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "entry 1" in err and "--track and --kind" in err and "Traceback" not in err


@pytest.mark.parametrize("entry, message", [
    ({"model_a": "a", "model_b": "b", "winner": "model_c"}, "field 'winner' is 'model_c'; expected one of model_a"),
    ({"model_a": "a", "model_b": "b"}, "field 'winner' is missing"),
    ({"model_a": "a", "winner": "tie"}, "field 'model_b' is missing or empty"),
    ({"model_a": "a\nb", "model_b": "b", "winner": "tie"}, "model_a 'a\\nb'"),
    ({"model_a": "a", "model_b": "b", "winner": "tie", "anony": "yes"}, "field 'anony' is 'yes'; expected true"),
    ({"model_a": "a", "model_b": "b", "winner": "tie", "track": "XYZ"}, "track 'XYZ' is not one of UEG, GEU"),
    ("model_a", "expected a JSON object, got a string"),
    # a model against itself is left out, not refused (test_vote_file_names), but its winner is still checked
    ({"model_a": "a", "model_b": "a", "winner": "model_c"}, "field 'winner' is 'model_c'"),
    # Neither side named: the record is no battle, whatever --track and --kind say (hunt28b: it was refused for a
    # missing 'track' though --track was given). A line of FastChat's conversation log (its gradio server's
    # vote_last_response writes {tstamp, type, models, states, ip}; type leftvote, rightvote, tievote or
    # bothbad_vote) is named as such: FastChat's clean_battle_data.py turns those logs into battles.
    ({"winner": "model_a", "anony": True}, "no model_a or model_b (a FastChat battle) and no system_a or system_b"),
    ({"tstamp": 1700000000.5, "type": "leftvote", "models": ["", ""], "ip": "1.2.3.4",
      "states": [{"model_name": "a"}, {"model_name": "b"}]},
     "a line of FastChat's conversation log (type 'leftvote'), not a battle: FastChat's clean_battle_data.py"),
    ({"tstamp": 1700000000.5, "type": "chat", "model": "a", "gen_params": {}, "ip": "1.2.3.4"},
     "a line of FastChat's conversation log (type 'chat'), not a battle"),
])
def test_a_bad_battle_is_refused_naming_the_file_entry_and_field(tmp_path, capsys, entry, message):
    good = {"model_a": "a", "model_b": "b", "winner": "model_a", "anony": True}
    path = tmp_path / "clean_battle.json"
    path.write_text(json.dumps([good, good, entry, good], indent=2))
    assert main(["leaderboard", "--votes", str(path), *BOARD]) == 2
    err = capsys.readouterr().err
    assert f"{path} entry 3 (index 2): " in err and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1

    path.write_text("".join(json.dumps(e) + "\n" for e in (good, good, entry, good)))
    assert main(["leaderboard", "--votes", str(path), *BOARD]) == 2
    err = capsys.readouterr().err
    assert f"{path} line 3: " in err and message in err and "Traceback" not in err


def test_a_csv_of_fastchat_battles_is_named_as_such_not_as_a_missing_track(tmp_path, capsys):
    """A table of FastChat battles saved as CSV (pandas' to_csv of a clean_battle file) was refused for "no column
    'track'" though --track was given (hunt28b): it is named for what it is, and the two layouts that are read."""
    path = tmp_path / "battles.csv"
    path.write_text("model_a,model_b,winner,anony\na,b,model_a,True\n")
    assert main(["leaderboard", "--votes", str(path), *BOARD]) == 2
    err = capsys.readouterr().err
    assert f"{path} line 1: a CSV of FastChat battles (columns model_a, model_b) is not read" in err
    assert "one battle object a line" in err and "no column 'track'" not in err and "Traceback" not in err


def test_an_export_csv_without_a_column_is_named_for_that_column_not_as_fastchat_s(tmp_path, capsys):
    """`export votes --format csv` writes FastChat's model_a and model_b beside the export's own columns: such a
    file that lost one of track, kind, system_a, system_b (a column deleted in a spreadsheet) was called "a CSV of
    FastChat battles", told to be written as FastChat does. It is the export's, missing that column."""
    path = tmp_path / "votes.csv"
    path.write_text("vote_id,track,system_a,system_b,choice,winner,model_a,model_b\n"
                    "1,UEG,m1:direct,m2:direct,A,model_a,m1:direct,m2:direct\n")
    assert main(["leaderboard", "--votes", str(path), *BOARD]) == 2
    err = capsys.readouterr().err
    assert f"{path} line 1: no column 'kind'" in err and "a CSV of FastChat battles" not in err and "Traceback" not in err


@pytest.mark.parametrize("text, message", [
    ('[{"model_a": "a", "model_b": "b", "winner": "tie"},\n oops]', "line 2 column 2: not JSON"),
    ('[{"model_a": "a", "model_b": "b", "winner": "tie"}', "not JSON"),
])
def test_a_broken_json_array_names_the_line(tmp_path, capsys, text, message):
    path = tmp_path / "clean_battle.json"
    path.write_text(text)
    assert main(["leaderboard", "--votes", str(path), *BOARD]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err and "Traceback" not in err


@pytest.mark.parametrize("name, text, where", [
    ("deep.json", "[" * 100_000 + "]" * 100_000, ": JSON nested too deeply"),
    ("deep.jsonl", '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}\n", " line 1: JSON nested too deeply"),
], ids=["array", "lines"])
def test_json_nested_too_deeply_is_one_line_not_a_traceback(tmp_path, capsys, name, text, where):
    path = tmp_path / name
    path.write_text(text)
    assert main(["leaderboard", "--votes", str(path), *BOARD]) == 2
    err = capsys.readouterr().err
    assert f"{path}{where}" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_battle_file_saved_as_utf16_by_powershell_is_rated_as_its_utf8_copy(tmp_path, capsys):
    rows = battles()
    text = "".join(json.dumps(r) + "\r\n" for r in rows)
    utf8 = board(tmp_path, capsys, "battles.jsonl", text, *BOARD)
    (tmp_path / "utf16.jsonl").write_bytes(text.encode("utf-16"))  # what `... > battles.jsonl` writes there
    assert main(["leaderboard", "--votes", str(tmp_path / "utf16.jsonl"), "--format", "json", "--rounds", "20",
                 "--min-votes", "0", *BOARD]) == 0, capsys.readouterr().err
    (utf16,) = json.loads(capsys.readouterr().out)
    assert utf16["votes"] == utf8["votes"] == len(rows)
    assert {r["system"]: r["rating"] for r in utf16["rows"]} == {r["system"]: r["rating"] for r in utf8["rows"]}


@pytest.mark.parametrize("kind, a, b, rule", [
    ("direct_vs_stepwise", "m1:direct", "m2:stepwise", "direct_vs_stepwise compares one model's two modes"),
    ("direct_vs_stepwise", "m1:stepwise", "m2:stepwise", "direct_vs_stepwise compares one model's two modes"),
    ("model_vs_model", "m1:direct", "m2:stepwise", "model_vs_model compares two models in the same mode"),
    ("model_vs_model", "m1:direct", "m1:stepwise", "model_vs_model compares two models in the same mode"),
])
def test_a_vote_whose_systems_cannot_meet_in_its_kind_of_battle_is_refused(tmp_path, capsys, kind, a, b, rule):
    """The arena's kinds fix who meets: direct_vs_stepwise is one model's direct against its own stepwise,
    model_vs_model two models in one mode; ``merge`` refuses a battle that breaks this (``arena.pair_problem``).
    A votes file holding one (an export edited by hand, votes of another tool) was rated as if the arena had
    recorded it (hunt28b: m1:direct against m2:stepwise filled the direct-vs-stepwise board with a model-vs-model
    comparison across modes); it is refused naming the line, the kind and the rule, in every format."""
    good = {"track": "GEU", "kind": kind, "system_a": "m3:direct",
            "system_b": "m3:stepwise" if kind == "direct_vs_stepwise" else "m4:direct", "choice": "A"}
    bad = {"track": "GEU", "kind": kind, "system_a": a, "system_b": b, "choice": "B"}
    path = tmp_path / "votes.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    assert main(["leaderboard", "--votes", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path} line 2: {rule}, got {a!r} and {b!r}" in err and "Traceback" not in err, err

    path = tmp_path / "votes.csv"
    path.write_text("track,kind,system_a,system_b,choice\n" + "".join(
        f"{v['track']},{v['kind']},{v['system_a']},{v['system_b']},{v['choice']}\n" for v in (good, bad)))
    assert main(["leaderboard", "--votes", str(path)]) == 2
    assert f"{path} line 3: {rule}" in capsys.readouterr().err


@pytest.mark.parametrize("text, said", [
    ('[{"model_a": "a", "model_b": "b", "winner": "model_a"}, null]', "entry 2 (index 1): expected a JSON object, "
                                                                      "got null"),
    ('[{"model_a": "a", "model_b": "b", "winner": "model_a"}, 7]', "entry 2 (index 1): expected a JSON object, "
                                                                   "got an integer"),
    ('{"model_a": "a", "model_b": "b", "winner": "model_a"}\n["a", "b"]\n', "line 2: expected a JSON object, got a "
                                                                            "list"),
])
def test_a_record_that_is_no_object_is_named_by_its_json_kind(tmp_path, capsys, text, said):
    """A record that is not a JSON object was named by Python's type (hunt28b: "got NoneType" for a null, "got
    int", "got list"): it is named as JSON names it, as the result-file reader names a field's value."""
    path = tmp_path / "battles.json"
    path.write_text(text)
    assert main(["leaderboard", "--votes", str(path), *BOARD]) == 2
    err = capsys.readouterr().err
    assert f"{path} {said}" in err and "NoneType" not in err, err


def test_a_result_file_that_is_no_list_is_named_by_its_json_kind(tmp_path, capsys):
    """The result-file reader said "expected a JSON list of entries, got str" (Python's type) for a file holding
    one JSON string (hunt28b); it says "a string"."""
    (tmp_path / "GEU_direct.json").write_text('"B"')
    assert main(["score-official", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "GEU_direct.json: expected a JSON list of entries, got a string" in err, err
