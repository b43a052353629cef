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
import sqlite3

import pandas as pd
import pytest

from realunify_arena.benchmark import load
from realunify_arena.benchmark.loaders import read_json_list
from realunify_arena.benchmark.result_files import read_entries
from realunify_arena.cli import main
from realunify_arena.shown import unshown_character
from realunify_arena.spreadsheet import spreadsheet_safe
from realunify_arena.vote_files import VotesFileError, look_alikes, read_votes
from realunify_arena.store import Store
from tests.unit.test_dataset_names import _instances_copy
from tests.unit.test_import_second_judge import _folder
from tests.unit.test_vote_file_names import BOARD, markdown_rows, plan_battles

VOTE = {"track": "UEG", "kind": "model_vs_model", "system_a": "m1:direct", "system_b": "m2:direct", "choice": "A"}
BATTLE = {"model_a": "x", "model_b": "y", "winner": "model_a"}


def _refusal(path, board=None) -> str:
    with pytest.raises(VotesFileError) as refused:
        read_votes(path, board)
    return str(refused.value)


@pytest.fixture(scope="module")
def instances():
    return [i for i in load("bundled").instances if i.track == "UEG"][:2]


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


# 3. zero-width joiners


JOINED = ["👩\u200d💻",  # woman technologist: ZWJ between two pictographs (UTS #51)
          "❤\ufe0f\u200d🔥",  # heart on fire: the presentation selector before the ZWJ
          "🏃🏽\u200d♀\ufe0f",  # a skin tone modifier before the ZWJ
          "می\u200cخواهم",  # Persian: YEH (U+06CC, dual-joining) ZWNJ KHAH (U+062E, dual-joining)
          "क्\u200dष",  # Devanagari KA, VIRAMA (ccc 9), ZWJ, SSA: a half form
          "ನ್\u200cನ"]  # Kannada NA, VIRAMA, ZWNJ, NA
UNJOINED = [("a\u200db", "U+200D"),  # between Latin letters: drawn as "ab"
            ("\u200d👩", "U+200D"), ("👩\u200d", "U+200D"), ("👩\u200d\u200d💻", "U+200D"),  # first, last, doubled
            ("ا\u200cب", "U+200C"),  # ALEF (U+0627) joins no following letter (right-joining): ZWNJ changes nothing
            ("می\u200c خواهم", "U+200C"), ("1\u200d2", "U+200D")]


@pytest.mark.parametrize("name", JOINED)
def test_a_joiner_between_two_characters_it_joins_is_taken(name):
    assert unshown_character(name) is None


@pytest.mark.parametrize("name, code", UNJOINED)
def test_a_joiner_that_joins_nothing_is_refused(name, code):
    said = unshown_character(name)
    assert said is not None and said.startswith(f"holds an invisible format character ({code}) where it joins "
                                                "nothing"), said


def test_joined_names_are_read_in_fastchat_battles_and_battle_ids(tmp_path):
    battles = [{"model_a": "👩\u200d💻-bot", "model_b": "می\u200cخواهم", "winner": "model_a",
                "battle_id": "نبرد\u200cیک"},  # NOON-BEH-REH-DAL (DAL right-joining), ZWNJ, YEH: dal joins none
               {"model_a": "👩\u200d💻-bot", "model_b": "می\u200cخواهم", "winner": "tie", "battle_id": "b\u200dc"}]
    path = tmp_path / "battles.json"
    path.write_text(json.dumps(battles))
    said = _refusal(path, ("UEG", "model_vs_model"))
    assert said.startswith(f"{path} entry 1 (index 0): field 'battle_id' is ") and "(U+200C) where it joins" in said
    battles[0]["battle_id"] = "بیت\u200cیک"  # TEH (dual-joining), ZWNJ, YEH: taken
    path.write_text(json.dumps(battles))
    said = _refusal(path, ("UEG", "model_vs_model"))
    assert said.startswith(f"{path} entry 2 (index 1): field 'battle_id' is 'b\\u200dc': holds an invisible format "
                           "character (U+200D) where it joins nothing"), said
    battles[1]["battle_id"] = "👩\u200d💻"
    path.write_text(json.dumps(battles))
    assert [(v["system_a"], v["system_b"]) for v in read_votes(path, ("UEG", "model_vs_model"))] == [
        ("👩\u200d💻-bot", "می\u200cخواهم")] * 2


def test_names_differing_only_by_a_joiner_are_said_to_look_alike_and_shown_apart(tmp_path, capsys):
    """Where a font lacks the sequence, "👩‍💻" is drawn as "👩💻": two models shown alike. The note names them, and
    the Markdown board writes the emoji-joined name as Python's ascii does; a Persian ZWNJ changes the letters'
    forms in any Persian font, and is shown as written."""
    joined, apart, persian = "👩\u200d💻 bot", "👩💻 bot", "می\u200cخواهم"
    assert look_alikes([joined, apart, "other"]) == [[joined, apart]]
    path = tmp_path / "battles.json"
    path.write_text(json.dumps(plan_battles([joined, apart, persian, "m4"]), ensure_ascii=False), encoding="utf-8")
    assert main(["leaderboard", "--votes", str(path), "--format", "markdown", "--rounds", "0", "--min-votes", "0",
                 *BOARD]) == 0
    out, err = capsys.readouterr()
    assert (f"note: {path}: '\\U0001f469\\u200d\\U0001f4bb bot' and '\\U0001f469\\U0001f4bb bot' differ only in white "
            "space or Unicode normalization, or in zero-width joiners") in err, err
    shown = sorted(row[1] for row in markdown_rows(out))
    assert shown == sorted(["'\\U0001f469\\u200d\\U0001f4bb bot'", apart, persian, "m4"]), shown


def test_a_judge_name_with_a_joiner_is_stored_where_it_joins_and_refused_elsewhere(tmp_path, capsys, instances):
    folder = _folder(tmp_path / "gemini", instances, lambda k, j, q: q.answer)
    command = ["import-results", str(folder), "--model", "bagel-pub", "--data", "bundled", "--judge-name"]
    db = tmp_path / "refused.db"
    assert main([*command, "gem\u200dini", "--db", str(db)]) != 0
    err = capsys.readouterr().err
    assert f"{folder}: judge name 'gem\\u200dini': holds an invisible format character (U+200D) where it joins" in err
    assert not db.exists()
    for k, name in enumerate(["👩\u200d💻 judge", "می\u200cخواهم"]):
        db = tmp_path / f"s{k}.db"
        assert main([*command, name, "--db", str(db)]) == 0, capsys.readouterr().err
        with sqlite3.connect(db) as conn:
            assert {row[0] for row in conn.execute("select distinct judge from judgments")} == {name}


# 4. an object and a list joined


def _column_after(first: str, gap: str) -> int:
    return len(first) + len(gap) + 1  # columns count from 1


@pytest.mark.parametrize("gap", ["", " ", "\n"])
def test_a_json_list_joined_after_a_vote_object_is_named(tmp_path, gap):
    first = json.dumps(VOTE)
    path = tmp_path / "votes.jsonl"
    path.write_text(first + gap + json.dumps([VOTE]) + "\n")
    said = _refusal(path)
    if gap == "\n":  # the list on a line of its own
        assert said.startswith(f"{path} line 2: a JSON list of 1 object on a line of its own among JSON objects: a "
                               ".json list joined with `cat` after a JSON Lines file?"), said
    else:
        assert said.startswith(f"{path} line 1: 2 JSON values one after another (an object, then a list), the "
                               f"second starting at column {_column_after(first, gap)}: files of two layouts joined "
                               "with `cat`?"), said
    assert "Extra data" not in said


@pytest.mark.parametrize("gap", ["", " ", "\n"])
def test_a_battle_object_joined_after_a_battle_array_is_named(tmp_path, gap):
    first = json.dumps([BATTLE])
    path = tmp_path / "battles.json"
    path.write_text(first + gap + json.dumps(BATTLE))
    said = _refusal(path, ("UEG", "model_vs_model"))
    place = "line 2 column 1" if gap == "\n" else f"line 1 column {_column_after(first, gap)}"
    assert said.startswith(f"{path}: 2 JSON values one after another (a list, then an object), the second starting "
                           f"at {place}: files of two layouts joined with `cat`?"), said


def test_a_streamed_battle_array_with_an_object_after_it_is_named_with_what_to_do(tmp_path, monkeypatch):
    """Over the data-file limit (1 MB here) the array is streamed; ijson stops at the object after it."""
    monkeypatch.setenv("REALUNIFY_MAX_DATA_FILE_MB", "1")
    battles = [BATTLE | {"pad": "x" * 1000} for _ in range(1100)]
    path = tmp_path / "battles.json"
    path.write_text(json.dumps(battles) + json.dumps(BATTLE))
    said = _refusal(path, ("UEG", "model_vs_model"))
    assert said.startswith(f"{path} after entry 1100 (index 1099): the array ends there and more follows"), said
    assert "jq -s '[.[] | if type == \"array\" then .[] else . end]' JOINED > ALL.json" in said


@pytest.mark.parametrize("text, place, kinds", [
    ('[{"index": 1}]{"index": 2}', "line 1 column 15", "a list, then an object"),
    ('[{"index": 1}]\n{"index": 2}', "line 2 column 1", "a list, then an object"),
    ('{"index": 1} [{"index": 2}]', "column 14", "an object, then a list"),
    ('{"index": 1}\n[{"index": 2}]', "line 2 column 1", "an object, then a list")])
def test_a_json_result_list_joined_with_an_object_is_named(tmp_path, text, place, kinds):
    path = tmp_path / "GEU_direct.json"
    path.write_text(text)
    problems = []
    assert read_json_list(path, problems) == []
    assert [p.message.split(": files")[0] for p in problems] == [
        f"2 JSON values one after another ({kinds}), the second starting at {place}"], problems


def test_a_jsonl_result_line_of_an_object_and_a_list_is_named(tmp_path):
    path = tmp_path / "GEU_direct.jsonl"
    path.write_text('{"index": 1}\n{"index": 2}[{"index": 3}]\n[{"index": 4}]\n')
    problems = []
    read_entries(path, problems)
    said = [(p.entry, p.message.split(": ")[0]) for p in problems]
    assert said == [("line 2", "2 JSON values one after another (an object, then a list), the second starting at "
                               "column 13"),
                    ("line 3", "a JSON list of 1 object on a line of its own among JSON objects")], said


# 5. the dataset name import-results takes from the folder


@pytest.mark.parametrize("folder_name, said", [("runs\nx", "holds a control character (U+000A)"),
                                               ("runs\u202ex", "holds an invisible format character (U+202E)"),
                                               ("runs ", "white space around it")])
def test_a_folder_name_that_is_no_dataset_name_is_refused_without_data(tmp_path, capsys, instances, folder_name,
                                                                       said):
    folder = _folder(tmp_path / folder_name, instances, lambda k, j, q: q.answer)
    db = tmp_path / "s.db"
    assert main(["import-results", str(folder), "--model", "bagel-pub", "--db", str(db)]) != 0
    err = capsys.readouterr().err
    assert f"dataset name (this folder's name) {folder_name!r}: {said}" in err, err
    assert "expected one line of 1 to 255 characters: pass --data with the instances the entries answer" in err
    assert "or rename the folder" in err
    assert not db.exists()
    # --data gives the name: the same folder is imported under "bundled"
    assert main(["import-results", str(folder), "--model", "bagel-pub", "--data", "bundled", "--db", str(db)]) == 0
    with sqlite3.connect(db) as conn:
        assert {row[0] for row in conn.execute("select dataset from runs")} == {"bundled"}


def test_eval_of_a_folder_whose_name_is_no_dataset_name_is_refused_before_any_model_loads(tmp_path, capsys):
    """``eval --data FOLDER`` names the dataset after the folder too (``benchmark.load``)."""
    db = tmp_path / "arena.db"
    Store.open(db).close()  # an existing store: the model is not checked before the data is read
    before = db.read_bytes()
    folder = _instances_copy(tmp_path / "set\nx")
    code = main(["eval", "--model", "tiny-pair", "--judge", "tiny-pair", "--data", str(folder), "--track", "GEU",
                 "--limit", "1", "--db", str(db), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "dataset name (the folder's or file's name) 'set\\nx': holds a control character (U+000A)" in err, err
    assert "Traceback" not in err and db.read_bytes() == before


# 6. a day and a month's name in another language, written into a CSV


@pytest.mark.parametrize("name", ["3 Dez 2026", "3 déc. 2026", "3. Dez. 2026", "3-dic-26", "03/Dez/2026", "3 мар"])
def test_a_day_and_a_month_name_in_another_language_is_text_in_a_csv(name):
    assert spreadsheet_safe(name) == "'" + name


@pytest.mark.parametrize("name", ["gpt-4o", "sd-3.5", "qwen2.5-vl-7b", "flux.1-dev", "2024 results", "3dfier",
                                  "1st place"])
def test_names_that_are_no_dates_stay_as_written(name):
    assert spreadsheet_safe(name) == name


def test_a_dataset_named_for_a_german_date_is_text_in_the_scores_csv(tmp_path, monkeypatch):
    folder = tmp_path / "3 Dez 2026"
    folder.mkdir()
    entries = [{"index": 0, "task_type": "mental_tracking", "input_image": "./image/x.png", "question": "Which?",
                "option": ["1", "2", "3", "4"], "answer": "B", "response": "B"}]
    (folder / "GEU_direct.json").write_text(json.dumps(entries))
    monkeypatch.chdir(tmp_path)
    assert main(["score-official", "3 Dez 2026", "--model", "m", "--csv", str(tmp_path / "s.csv")]) == 0
    (row,) = list(csv.DictReader(io.StringIO((tmp_path / "s.csv").read_text(encoding="utf-8"))))
    assert row["dataset"] == "'3 Dez 2026", row
