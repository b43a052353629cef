"""Forms of ids and names from outside files that session 31's readers had not met (a fresh attack, session 32).

1. A ``vote_id`` written as text of more digits than Python reads as a number (CPython's
   ``sys.get_int_max_str_digits()``, 4300 by default: the guard against CVE-2020-10735) in a CSV, a JSON Lines
   string or a FastChat battle's string reached ``int()`` and ended ``leaderboard --votes`` with a traceback; now
   refused as the same digits written as a JSON integer are (file, line, field, how many digits).

Expected values are written by hand here, from the rule each case cites.
"""

from __future__ import annotations

import json
import sys

import pytest

from realunify_arena.cli import main
from realunify_arena.vote_files import VotesFileError, read_votes

VOTE = {"track": "UEG", "kind": "model_vs_model", "system_a": "m1:direct", "system_b": "m2:direct", "choice": "A"}
BATTLE = {"model_a": "x", "model_b": "y", "winner": "model_a"}
BOARD = ("UEG", "model_vs_model")


# 1. a vote id of more digits than Python reads


@pytest.mark.parametrize("form", ["csv", "jsonl", "fastchat", "csv float"])
def test_a_vote_id_of_more_digits_than_python_reads_is_refused_not_a_traceback(tmp_path, capsys, form):
    digits = sys.get_int_max_str_digits() + 700  # CPython documents 4300 as the default
    assert digits == 5000
    vote_id = "9" * digits + (".0" if form == "csv float" else "")
    path = tmp_path / ("votes.csv" if form.startswith("csv") else "votes.jsonl" if form == "jsonl" else "b.json")
    if form.startswith("csv"):
        path.write_text("track,kind,system_a,system_b,choice,vote_id\n"
                        f"UEG,model_vs_model,m1:direct,m2:direct,A,{vote_id}\n")
        where = "line 2"
    elif form == "jsonl":
        path.write_text(json.dumps(VOTE | {"vote_id": vote_id}) + "\n")
        where = "line 1"
    else:
        path.write_text(json.dumps([BATTLE | {"vote_id": vote_id}]))
        where = "entry 1 (index 0)"
    with pytest.raises(VotesFileError) as refused:
        read_votes(path, BOARD)
    said = str(refused.value)
    assert said.startswith(f"{path} {where}: field 'vote_id' is '999"), said
    assert "an integer of 5000 digits, over the 4300 digits Python reads as a number" in said, said
    # the command says it in one line, exit 2, as every bad votes file
    assert main(["leaderboard", "--votes", str(path), "--track", "UEG", "--kind", "model_vs_model"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"leaderboard: error: {path} {where}: field 'vote_id'") and err.count("\n") == 1, err


def test_a_vote_id_of_4300_digits_is_still_read_as_its_number(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("track,kind,system_a,system_b,choice,vote_id\n"
                    f"UEG,model_vs_model,m1:direct,m2:direct,A,{'7' * 4300}\n")
    assert [v["vote_id"] for v in read_votes(path)] == [int("7" * 4300)]
