"""`leaderboard --votes FILE` against outside references (session 23 arena review).

FastChat's published battle files (``clean_battle_<date>.json``, written by ``clean_battle_data.py`` with
``json.dump(battles, fout, indent=2)``) hold one to two million battles; ``elo_analysis.py`` reads one with
``pd.read_json`` and rates it in minutes. Reading such a file here must cost a few microseconds a battle, not
the price of a refusal message per battle.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from realunify_arena import shown
from realunify_arena.cli import main
from realunify_arena.vote_files import read_votes

BOARD = ("UEG", "model_vs_model")


def fastchat_battles(n: int) -> list[dict]:
    """``n`` anonymous FastChat battles between four models, winners in turn (model_a, model_b, tie, both bad)."""
    models = ["vicuna-13b", "koala-13b", "alpaca-13b", "llama-13b"]
    winners = ["model_a", "model_b", "tie", "tie (bothbad)"]
    return [{"model_a": models[k % 4], "model_b": models[(k + 1) % 4], "winner": winners[k % 4],
             "judge": f"arena_user_{k}", "turn": 1, "anony": True, "language": "English",
             "tstamp": 1682000000.5 + k} for k in range(n)]


def test_valid_battles_are_read_without_building_a_refusal_for_each(tmp_path, monkeypatch):
    """Before: every FastChat battle's two model names were first checked as ``model:mode`` systems, and the
    refusal that check builds (``shown.brief``, which reads every environment variable for secrets to mask)
    was made and thrown away: 0.6 ms a battle, 20 minutes for FastChat's 2-million-battle file. A valid record
    needs no message: reading valid battles and valid `export votes` lines reads the secrets zero times."""
    reads = []
    real = shown.secret_values
    monkeypatch.setattr(shown, "secret_values", lambda: reads.append(1) or real())

    battles = tmp_path / "clean_battle_20240814.json"
    battles.write_text(json.dumps(fastchat_battles(400), indent=2))
    exported = tmp_path / "votes.jsonl"
    exported.write_text("".join(json.dumps({"vote_id": k + 1, "battle_id": f"b{k}", "track": "UEG", "kind": "model_vs_model",
                                            "system_a": "m1:direct", "system_b": "m2:direct",
                                            "choice": "AB"[k % 2]}) + "\n" for k in range(400)))

    assert len(read_votes(battles, BOARD)) == 400 and len(read_votes(exported)) == 400
    assert reads == []
    bad = tmp_path / "bad.json"  # the check still refuses a bad name, with the message it builds
    bad.write_text(json.dumps([{"model_a": "bad\nname", "model_b": "x", "winner": "tie"}]))
    try:
        read_votes(bad, BOARD)
    except ValueError as e:
        assert "model_a 'bad\\nname'" in str(e) and "entry 1" in str(e)
    else:
        raise AssertionError("a model name with a newline was read")


def export_line(vote_id: int, battle_id: str, choice: str) -> dict:
    return {"vote_id": vote_id, "battle_id": battle_id, "track": "UEG", "kind": "model_vs_model",
            "system_a": "m1:direct", "system_b": "m2:direct", "choice": choice}


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_a_vote_given_twice_in_a_file_is_refused_not_counted_twice(tmp_path, capsys, fmt):
    """The store takes one vote per battle and `export votes` writes each vote once. The same export joined twice
    repeats votes. Before, a file with battle b1's vote three times and b2's once was rated 3-1 (x ahead by
    400*log10(3) = 191 points, where the store holds a 1-1 tie); now it is refused, naming the line of the repeat
    and the first one."""
    lines = [export_line(1, "b1", "A")] * 3 + [export_line(2, "b2", "B")]
    path = tmp_path / f"votes.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(v) + "\n" for v in lines))
        first, again = "line 1", "line 2"
    elif fmt == "json":
        path.write_text(json.dumps(lines, indent=2))
        first, again = "entry 1 (index 0)", "entry 2 (index 1)"
    else:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(lines[0]))
        writer.writeheader()
        writer.writerows(lines)
        path.write_text(out.getvalue())
        first, again = "line 2", "line 3"
    assert main(["leaderboard", "--votes", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path} {again}: battle_id 'b1' again (first at {first})" in err and "Traceback" not in err


def test_a_battle_is_told_by_its_battle_id_else_by_its_vote_id(tmp_path, capsys):
    """Battle ids are random tokens, unique across stores; vote ids count from 1 in each store. So the same
    battle under two vote ids is refused, while exports of two arenas joined (vote 1 in each, different battles)
    are two votes, rated 1-1: a tie at 1000 each. A file without battle ids is told apart by vote id."""
    def rated(lines: list[dict]) -> tuple[int, str]:
        path = tmp_path / "votes.jsonl"
        path.write_text("".join(json.dumps(v) + "\n" for v in lines))
        code = main(["leaderboard", "--votes", str(path), "--format", "json", "--min-votes", "0"])
        out, err = capsys.readouterr()
        return code, out if code == 0 else err

    code, err = rated([export_line(1, "b1", "A"), export_line(2, "b1", "B")])
    assert code == 2 and "line 2: battle_id 'b1' again (first at line 1)" in err

    code, out = rated([export_line(1, "arena1-b1", "A"), export_line(1, "arena2-b1", "B")])
    assert code == 0
    (ueg,) = [b for b in json.loads(out) if b["track"] == "UEG" and b["kind"] == "model_vs_model"]
    assert [round(r["rating"], 6) for r in ueg["rows"]] == [1000.0, 1000.0] and ueg["votes"] == 2

    without = [{k: v for k, v in export_line(vote_id, "", choice).items() if k != "battle_id"}
               for vote_id, choice in ((7, "A"), (7, "A"))]
    code, err = rated(without)
    assert code == 2 and "line 2: vote_id 7 again (first at line 1)" in err


@pytest.mark.parametrize("rounds", ["10001", "-1"])
def test_a_rounds_count_past_the_bound_is_one_line_not_a_memory_error(tmp_path, capsys, rounds):
    """FastChat's elo_analysis.py bootstraps 100 rounds. Before, any count was fitted: ``--rounds 1000000000``
    asked numpy for a (rounds, categories) array, a MemoryError traceback under a memory limit (29.8 GiB for
    four categories) and an OOM-killed process without one; now a count outside 0..10000 is refused before
    anything is read, and the bound itself is accepted. (The test stays at 10001: a billion, on code without
    the bound, could take the machine's memory.)"""
    path = tmp_path / "votes.jsonl"
    path.write_text("".join(json.dumps(export_line(k + 1, f"b{k}", "AB"[k % 2])) + "\n" for k in range(4)))
    assert main(["leaderboard", "--votes", str(path), "--rounds", rounds]) == 2
    err = capsys.readouterr().err
    assert f"--rounds {rounds}: expected 0 to 10000" in err and "Traceback" not in err and "Memory" not in err
    assert main(["leaderboard", "--votes", str(path), "--rounds", "10000", "--min-votes", "0"]) == 0
    assert "m1:direct" in capsys.readouterr().out


def test_a_file_that_is_one_json_object_says_so_and_what_is_expected(tmp_path, capsys):
    """FastChat's battle file is a JSON array (``json.dump(battles, fout, indent=2)``); pandas' ``to_json()``
    writes, by default, one object of columns (``{"model_a": {"0": ...}, ...}``), which ``pd.read_json`` reads
    back but which is no list of battles. Before, one battle written with ``indent`` was refused as broken JSON
    Lines ("line 1: not JSON (Expecting property name ...)") although it is valid JSON, and a one-line object
    of columns as a battle whose 'model_a' "is missing or empty"; now each is named for what it is."""
    one = {"model_a": "vicuna-13b", "model_b": "koala-13b", "winner": "model_a", "anony": True}
    columns = {"model_a": {"0": "vicuna-13b", "1": "koala-13b"}, "model_b": {"0": "koala-13b", "1": "vicuna-13b"},
               "winner": {"0": "model_a", "1": "tie"}}
    cases = [(json.dumps(one, indent=2), "one JSON object over several lines, not one a line"),
             (json.dumps(columns), "one JSON object of columns (pandas' DataFrame.to_json() default layout)"),
             (json.dumps(columns, indent=2), "one JSON object of columns (pandas' DataFrame.to_json() default layout); "
                                             "write it with to_json(orient='records')")]
    for text, message in cases:
        path = tmp_path / "battles.json"
        path.write_text(text)
        assert main(["leaderboard", "--votes", str(path), "--track", "UEG", "--kind", "model_vs_model"]) == 2
        err = capsys.readouterr().err
        assert f"{path}: {message}" in err and "expected a JSON array of battle objects" in err, err
        assert "Traceback" not in err

    # one battle on one line is JSON Lines of one vote, rated as before; a broken second line is named as before
    path.write_text(json.dumps(one) + "\n")
    assert main(["leaderboard", "--votes", str(path), "--track", "UEG", "--kind", "model_vs_model",
                 "--min-votes", "0", "--format", "csv"]) == 0
    assert "vicuna-13b" in capsys.readouterr().out
    path.write_text(json.dumps(one) + "\n{bad\n")
    assert main(["leaderboard", "--votes", str(path), "--track", "UEG", "--kind", "model_vs_model"]) == 2
    assert f"{path} line 2: not JSON" in capsys.readouterr().err


def _export_line(**fields) -> dict:
    """One `export votes` JSON Lines record (its field names, as commands/export.py writes them)."""
    return {"track": "UEG", "kind": "model_vs_model", "system_a": "tiny-janus:direct", "system_b": "tiny-pair:direct",
            "choice": "A", "vote_id": fields.pop("vote_id", 1), **fields}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("flagged", ["false", "False", "0", "no", " NULL "])
def test_a_flagged_field_reading_as_false_is_refused_not_taken_as_a_reason(tmp_path, fmt, flagged):
    """`export votes` writes ``flagged`` as why a battle was flagged, or nothing (null; an empty CSV cell). Someone
    editing the file who writes "false" to count a vote again meant it to count; before, any non-empty string was a
    reason and the vote was left out without a word (hunt26b). Such a value is refused, naming the line and field."""
    rows = [_export_line(vote_id=1, flagged=""), _export_line(vote_id=2, flagged=flagged)]
    path = tmp_path / f"votes.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    else:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        path.write_text(out.getvalue(), encoding="utf-8")
    with pytest.raises(ValueError) as refused:
        read_votes(path)
    said = str(refused.value)
    assert f"{path} line 3" in said if fmt == "csv" else f"{path} line 2" in said
    assert "'flagged'" in said


def test_flagged_given_as_a_reason_true_false_or_nothing_is_read_as_written(tmp_path):
    """The values the exporter writes (a reason, null) and JSON's own booleans keep their meaning: a reason or true
    leaves the vote out, null, "" or false counts it (hand count: votes 2, 4 and 5 counted)."""
    rows = [_export_line(vote_id=1, flagged="named tiny-janus in its output"), _export_line(vote_id=2, flagged=None),
            _export_line(vote_id=3, flagged=True), _export_line(vote_id=4, flagged=False),
            _export_line(vote_id=5, flagged="")]
    path = tmp_path / "votes.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    assert [v["vote_id"] for v in read_votes(path)] == [2, 4, 5]


@pytest.mark.parametrize("text", ["{}\n", "[{}]", "{}\n{}\n"])
def test_an_empty_object_is_named_as_empty(tmp_path, text):
    """A record that is ``{}`` was refused as "field 'track' is missing", as if a vote had been half written; it is
    named as an empty object and what a record holds is said."""
    path = tmp_path / "votes.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="an empty object; expected a vote"):
        read_votes(path)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
@pytest.mark.parametrize("text", ['{"question_id": "q1", "answer": "B"}\n', '[{"question_id": "q1", "answer": "B"}]',
                                  '{"model": "m", "conversation_a": []}\n{"model": "m"}\n'])
def test_a_record_of_fields_no_vote_has_is_not_called_empty(tmp_path, text, encoding):
    """A record whose fields are all ones a vote does not have (a results file given to --votes by mistake) is not
    empty: it is refused for the vote field it lacks, in every encoding. Before (verify26b), the streamed readers
    (UTF-8 JSON Lines and JSON arrays) kept only the fields a vote reads before the empty-record check, so such a
    record was refused as "an empty object", while the same file in UTF-16 (read whole) said 'track' is missing.
    Since hunt28b it is refused for naming neither side of a vote (its track is not what it lacks first)."""
    path = tmp_path / "votes.json"
    path.write_text(text, encoding=encoding)
    with pytest.raises(ValueError) as refused:
        read_votes(path)
    said = str(refused.value)
    assert "empty object" not in said and "no model_a or model_b (a FastChat battle) and no system_a" in said, said
