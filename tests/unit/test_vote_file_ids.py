"""A vote file's ``battle_id`` and ``vote_id`` are checked before they decide which votes are one battle.

A battle id from a file is only compared (one vote per battle); the arena's own are 32 characters of
[0-9A-Za-z_-] (``arena.new_battle_id``; older stores ``secrets.token_urlsafe(24)``, which may start with '-'),
another arena's may be a UUID, hex, a number or other plain text, and all of those are read. Before, anything
was taken: a battle id holding a line break or 100,000 characters, ``true`` (the same battle as ``1``), a list; a
``vote_id`` of 12.7 was read as 12 (and a second vote, 12.2, refused as "vote_id 12 again"), ``true`` as 1, -3 and
Arabic-Indic digits as numbers.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import uuid

import pytest

from realunify_arena.arena import new_battle_id
from realunify_arena.vote_files import VotesFileError, read_votes


def _vote(**fields) -> dict:
    vote = {"vote_id": 1, "battle_id": "b1", "track": "UEG", "kind": "model_vs_model", "system_a": "m1:direct",
            "system_b": "m2:direct", "choice": "A"}
    return {k: v for k, v in (vote | fields).items() if v is not ...}


def _write(tmp_path, fmt: str, votes: list[dict]):
    path = tmp_path / f"votes.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(v) + "\n" for v in votes))
    else:
        text = io.StringIO()  # the header, then each vote's cells in its order
        csv.writer(text).writerows([list(votes[0]), *(list(vote.values()) for vote in votes)])
        path.write_text(text.getvalue(), newline="")
    return path


@pytest.mark.parametrize("battle_id, said", [
    ("a\nb", "holds a control character (U+000A)"),
    ("b1\r", "white space around it"),
    (" b1", "white space around it"),
    ("x" * 300, "300 characters;"),
    ("b\u202e1", "holds an invisible format character (U+202E)"),
    ("b\x001", "holds a control character (U+0000)"),
])
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_battle_id_that_is_no_line_of_text_is_refused_naming_file_line_and_field(tmp_path, fmt, battle_id, said):
    path = _write(tmp_path, fmt, [_vote(vote_id=1, battle_id="b0"), _vote(vote_id=2, battle_id=battle_id)])
    with pytest.raises(VotesFileError) as refused:
        read_votes(path)
    message = str(refused.value)
    # csv: the header is line 1 and the first vote line 2; a quoted line break continues the vote on the next line,
    # and a vote is named by the line it ends on
    line = 2 if fmt == "jsonl" else 3 + battle_id.count("\n") + battle_id.count("\r")
    assert message.startswith(f"{path} line {line}: field 'battle_id' is "), message
    assert said in message and "expected the battle's id, one line of 1 to 256 characters" in message


@pytest.mark.parametrize("battle_id, kind", [(True, "a boolean"), (1.5, "a number"), ([1], "a list"),
                                             ({"id": 1}, "an object")])
def test_a_battle_id_of_another_json_type_is_refused(tmp_path, battle_id, kind):
    """``true`` was the same battle as ``1`` (Python's True == 1), a list compared by its repr."""
    path = _write(tmp_path, "jsonl", [_vote(vote_id=1, battle_id=1), _vote(vote_id=2, battle_id=battle_id)])
    with pytest.raises(VotesFileError, match=rf"line 2: field 'battle_id' is .*, {kind}; expected the battle's id"):
        read_votes(path)


def test_battle_ids_of_this_arena_older_stores_and_other_arenas_are_read(tmp_path):
    older = "-" + secrets.token_urlsafe(24)[1:]  # token_urlsafe(24): 32 of [A-Za-z0-9_-], '-' first possible
    ids = [new_battle_id(), older, str(uuid.uuid4()), uuid.uuid4().hex, "arena2:battle/17", "Ünïcödé-id", 4711,
           "12345678901234567890", "-" * 256]
    path = _write(tmp_path, "jsonl", [_vote(vote_id=k + 1, battle_id=b) for k, b in enumerate(ids)])
    assert len(read_votes(path)) == len(ids)
    path = _write(tmp_path, "csv", [_vote(vote_id=k + 1, battle_id=b) for k, b in enumerate(ids)])
    assert len(read_votes(path)) == len(ids)


def test_a_number_and_its_digits_are_one_battle(tmp_path):
    path = _write(tmp_path, "jsonl", [_vote(vote_id=1, battle_id=17), _vote(vote_id=2, battle_id="17")])
    with pytest.raises(VotesFileError, match=r"line 2: battle_id '17' again \(first at line 1\)"):
        read_votes(path)


@pytest.mark.parametrize("vote_id", [12.7, True, -3, "-3", "١٢", "1_000", "12.5", float("nan"), [12]])
def test_a_vote_id_that_is_no_whole_number_is_refused_not_rounded(tmp_path, vote_id):
    votes = [_vote(vote_id=1, battle_id=...), _vote(vote_id=vote_id, battle_id=...)]
    fmt = "csv" if isinstance(vote_id, str) else "jsonl"
    path = _write(tmp_path, fmt, votes)
    with pytest.raises(VotesFileError) as refused:
        read_votes(path)
    message = str(refused.value)
    assert message.startswith(f"{path} line {3 if fmt == 'csv' else 2}: field 'vote_id' is "), message  # csv: header
    assert message.endswith("expected a whole number from 1 (the vote's id in the store that exported it), or "
                            "nothing"), message


def test_vote_ids_written_as_numbers_digits_or_nothing_are_read(tmp_path):
    """12.0 is how pandas writes an integer column with a gap; an empty CSV cell or null is no vote id."""
    votes = [_vote(vote_id=12.0, battle_id=...), _vote(vote_id=13, battle_id=...), _vote(vote_id=None, battle_id=...),
             _vote(vote_id=None, battle_id=...)]
    assert [v["vote_id"] for v in read_votes(_write(tmp_path, "jsonl", votes))] == [12, 13, 0, 0]
    votes = [_vote(vote_id="12", battle_id=...), _vote(vote_id="", battle_id=...)]
    assert [v["vote_id"] for v in read_votes(_write(tmp_path, "csv", votes))] == [12, 0]
    # two votes 12.7 and 12.2 were both read as 12 and refused as one battle voted twice
    votes = [_vote(vote_id=12.7, battle_id=...), _vote(vote_id=12.2, battle_id=...)]
    with pytest.raises(VotesFileError, match=r"line 1: field 'vote_id' is 12\.7;"):
        read_votes(_write(tmp_path, "jsonl", votes))
