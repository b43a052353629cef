"""Six kinds of input that spreadsheets, other arenas and `cat` leave, read by the vote and result readers.

1. pandas' ``to_csv(sep=";", decimal=",")`` writes an integer ``vote_id`` column holding a gap as "1,0": it was
   refused; now read as 1 where the file is semicolon-separated ("1,5" still refused, naming file, line, field).
2. An all-digit id a spreadsheet saved in scientific notation ("1.23457E+31", "4.5e+18") has lost its digits past
   the 15th: it was read as an id (two battles could become one), and a JSON float ``vote_id`` past 2**53 was read
   as a whole number (2**53 + 1 read as 2**53); now refused saying a spreadsheet rounded it and to export the
   column again as text.
3. Zero-width joiners (U+200D in "👩‍💻", U+200C in Persian "می‌خواهم") were refused everywhere; now taken where
   they join two characters whose drawing they change (UAX #31 section 2.3, UTS #51), refused elsewhere.
4. An object and a list joined (``{...}[...]``, ``[...]{...}``, with or without white space) got json's bare "Extra
   data"; now named as files joined with `cat` by every JSON reader.
5. ``import-results`` without ``--data`` stored the folder's name as the dataset unchecked (a line break in it was
   stored and shown); now refused, saying to pass --data or rename the folder.
6. A name such as "3 Dez 2026" (a folder named for its date in German) was written bare into CSVs, where a German
   spreadsheet reads it as a date; English month names only were guarded.
Expected values are written by hand here: line and column numbers counted from the bytes written.
"""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest

from realunify_arena.vote_files import VotesFileError, read_votes

VOTE = {"track": "UEG", "kind": "model_vs_model", "system_a": "m1:direct", "system_b": "m2:direct", "choice": "A"}
BATTLE = {"model_a": "x", "model_b": "y", "winner": "model_a"}


def _refusal(path, board=None) -> str:
    with pytest.raises(VotesFileError) as refused:
        read_votes(path, board)
    return str(refused.value)


# 1. a vote_id with a decimal comma


def test_pandas_decimal_comma_vote_ids_in_a_semicolon_csv_are_read_as_whole_numbers(tmp_path):
    """pandas turns an integer column with a gap (None) into floats: 1.0, NaN, 12.0, written "1,0", "", "12,0"."""
    frame = pd.DataFrame([VOTE | {"vote_id": 1}, VOTE | {"vote_id": None}, VOTE | {"vote_id": 12}])
    path = tmp_path / "votes.csv"
    frame.to_csv(path, sep=";", decimal=",", index=False)
    assert path.read_text().splitlines()[1].endswith(";1,0")  # what pandas wrote, as the case says
    assert [v["vote_id"] for v in read_votes(path)] == [1, 0, 12]


def test_a_fraction_with_a_decimal_comma_is_still_refused_naming_file_line_and_field(tmp_path):
    path = tmp_path / "votes.csv"
    pd.DataFrame([VOTE | {"vote_id": 1.0}, VOTE | {"vote_id": 1.5}]).to_csv(path, sep=";", decimal=",", index=False)
    said = _refusal(path)
    assert said == (f"{path} line 3: field 'vote_id' is '1,5'; expected a whole number from 1 (the vote's id in the "
                    "store that exported it), or nothing"), said


# 2. ids a spreadsheet rounded


ROUNDED = "a number in scientific notation, as a spreadsheet"
AS_TEXT = "export the column again as text"


@pytest.mark.parametrize("battle_id", ["1.23457E+31", "4.5e+18", "1,23457E+31", "1E+20"])
def test_a_battle_id_in_scientific_notation_is_refused_in_a_csv(tmp_path, battle_id):
    path = tmp_path / "votes.csv"
    rows = [[*VOTE, "battle_id"], [*VOTE.values(), "7"], [*VOTE.values(), battle_id]]
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    path.write_text(text.getvalue(), newline="")
    said = _refusal(path)
    assert said.startswith(f"{path} line 3: field 'battle_id' is {battle_id!r}: {ROUNDED}"), said
    assert AS_TEXT in said and "15-17 significant digits" in said


def test_a_battle_id_in_scientific_notation_is_refused_in_json_lines_and_fastchat_battles(tmp_path):
    lines = tmp_path / "votes.jsonl"
    lines.write_text(json.dumps(VOTE | {"battle_id": "17"}) + "\n" + json.dumps(VOTE | {"battle_id": "4.5e+18"}))
    said = _refusal(lines)
    assert said.startswith(f"{lines} line 2: field 'battle_id' is '4.5e+18': {ROUNDED}") and AS_TEXT in said, said
    battles = tmp_path / "battles.json"
    battles.write_text(json.dumps([BATTLE | {"battle_id": "1"}, BATTLE | {"battle_id": "1.23457E+31"}]))
    said = _refusal(battles, ("UEG", "model_vs_model"))
    assert said.startswith(f"{battles} entry 2 (index 1): field 'battle_id' is '1.23457E+31': {ROUNDED}"), said


def test_a_vote_id_a_spreadsheet_or_a_float_rounded_is_refused(tmp_path):
    path = tmp_path / "votes.csv"
    path.write_text("track,kind,system_a,system_b,choice,vote_id\nUEG,model_vs_model,m1:direct,m2:direct,A,4.5E+18\n")
    said = _refusal(path)
    assert said.startswith(f"{path} line 2: field 'vote_id' is '4.5E+18': {ROUNDED}") and AS_TEXT in said, said
    # 2**53 + 1 = 9007199254740993 is no float: json reads 9007199254740993.0 as 9007199254740992.0, another vote
    path = tmp_path / "votes.jsonl"
    path.write_text(json.dumps(VOTE | {"vote_id": 1}) + "\n"
                    + json.dumps(VOTE)[:-1] + ', "vote_id": 9007199254740993.0}')
    said = _refusal(path)
    assert said.startswith(f"{path} line 2: field 'vote_id' is 9007199254740992.0: a floating-point number of 2**53 "
                           "or more"), said
    path.write_text(json.dumps(VOTE | {"vote_id": 2.0**53 - 1}) + "\n")  # no other whole number reads as this float
    assert [v["vote_id"] for v in read_votes(path)] == [9007199254740991]


def test_ids_with_an_e_that_are_no_numbers_are_still_read(tmp_path):
    """Hex digits, a UUID, this arena's ids: no sign after the e, or more around it."""
    ids = ["1e5", "12e45", "deadbeef1e10", "1e+5x", "123e4567-e89b-12d3-a456-426614174000", "e+5"]
    path = tmp_path / "votes.jsonl"
    path.write_text("".join(json.dumps(VOTE | {"battle_id": b}) + "\n" for b in ids))
    assert len(read_votes(path)) == len(ids)
