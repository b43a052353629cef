"""Files joined with ``cat`` (no byte-order mark involved) are named as joined, where and what to do, by every reader
of CSV, JSON Lines and JSON (``test_joined_files.py``: the same with a mark at each file's start).

``cat a.csv b.csv`` repeats the header line mid-file; ``cat a.jsonl b.jsonl`` where ``a.jsonl`` lacks its last
line break puts two objects on one line; ``cat a.json b.json`` puts two lists one after another. Before, the
repeated header of an `export votes` CSV was read as a vote and left out as flagged (its ``flagged`` cell reads
"flagged", a reason), a hand-made CSV's was refused as "track 'track' is not one of ...", a header run on from a
line missing its break was kept aside silently (``csv.DictReader``'s extra cells), and JSON said "Extra data".
The exports here come from a real store (SQLite) through ``export votes``; line numbers and columns are counted
here from the bytes written.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import astuple

import pytest
from PIL import Image

from realunify_arena.arena import Arena
from realunify_arena.benchmark.loaders import read_json_list
from realunify_arena.benchmark.result_files import read_entries
from realunify_arena.cli import main
from realunify_arena.store import Store
from realunify_arena.systems import System
from realunify_arena.trace import Step, StepRole, Trace
from realunify_arena.vote_files import VotesFileError, read_votes

HAND_MADE = "track,kind,system_a,system_b,choice\r\nUEG,model_vs_model,m1:direct,m2:direct,A\r\n"


def _exported(tmp_path, name: str, fmt: str, choices: list[str]) -> bytes:
    """The bytes ``export votes --format fmt`` writes for a real store holding one battle per choice."""
    db = tmp_path / f"{name}.db"
    store = Store.open(db)
    arena = Arena(store, max_votes=1000)
    for k, choice in enumerate(choices):
        uid, session = f"UEG_{k}_world_knowledge", f"{name}-session-{k}"
        battle_id = arena.new_battle(session, "hf:rater", uid, "bundled", "m1:direct", "m2:direct", "model_vs_model")
        for side, system in (("A", "m1:direct"), ("B", "m2:direct")):
            model, mode = astuple(System.parse(system))
            trace = Trace(uid, model, mode, {"seed": 0},
                          steps=[Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("L", (2, 2), 0))])
            arena.deliver(battle_id, session, side, store.save_trace(trace, "bundled"))
        arena.vote(battle_id, session, "hf:rater", choice)
    store.close()
    out = tmp_path / f"{name}.{fmt}"
    assert main(["export", "votes", "--format", fmt, "--out", str(out), "--db", str(db)]) == 0
    return out.read_bytes()


def _refusal(path, board=None) -> str:
    with pytest.raises(VotesFileError) as refused:
        read_votes(path, board)
    return str(refused.value)


def test_two_csv_exports_joined_with_cat_name_the_repeated_header_line(tmp_path, capsys):
    first, second = _exported(tmp_path, "a", "csv", ["A", "B"]), _exported(tmp_path, "b", "csv", ["tie"])
    capsys.readouterr()
    joined = tmp_path / "joined.csv"
    joined.write_bytes(first + second)
    header_line = first.count(b"\n") + 1  # the second file's header, right after the first file's lines
    said = _refusal(joined)
    assert said.startswith(f"{joined} line {header_line}: the header line again"), said
    assert "joined with `cat`" in said and "Remove this line" in said

    # joined as the message says (the second's header dropped): every vote of both is read
    joined.write_bytes(first + second.split(b"\n", 1)[1])
    assert len(read_votes(joined)) == 3


def test_a_csv_export_joined_onto_a_file_missing_its_last_line_break_is_named(tmp_path, capsys):
    """The header runs on from the first file's last row: its extra cells were kept aside, the row read as a vote."""
    first, second = _exported(tmp_path, "a", "csv", ["A", "B"]), _exported(tmp_path, "b", "csv", ["tie"])
    capsys.readouterr()
    joined = tmp_path / "joined.csv"
    joined.write_bytes(first.rstrip(b"\r\n") + second)
    last_row = first.rstrip(b"\r\n").count(b"\n") + 1
    said = _refusal(joined)
    assert said.startswith(f"{joined} line {last_row}: the row runs on into a header line"), said
    assert "not ending with a line break" in said


@pytest.mark.parametrize("missing_break", [False, True])
def test_a_hand_made_csv_joined_with_cat_is_not_refused_as_track_track(tmp_path, missing_break):
    joined = tmp_path / "joined.csv"
    joined.write_text((HAND_MADE.rstrip("\r\n") if missing_break else HAND_MADE) + HAND_MADE, newline="")
    said = _refusal(joined)
    assert "'track'" not in said and "joined with `cat`" in said, said
    assert said.startswith(f"{joined} line {2 if missing_break else 3}: "), said


def test_a_csv_with_other_columns_joined_below_says_the_columns_differ(tmp_path, capsys):
    export = _exported(tmp_path, "a", "csv", ["A"])
    capsys.readouterr()
    joined = tmp_path / "joined.csv"
    joined.write_bytes(HAND_MADE.encode() + export)
    said = _refusal(joined)
    assert said.startswith(f"{joined} line 3: a header line with other columns than line 1's"), said
    assert "matching columns by name" in said


def test_a_row_with_more_cells_than_the_header_is_refused_not_read_under_shifted_columns(tmp_path):
    """An unquoted comma in a cell: ``csv.DictReader`` kept the extra cell aside and read the row."""
    path = tmp_path / "votes.csv"
    path.write_text(HAND_MADE + "UEG,model_vs_model,m1:direct,m2:direct,A,x\r\n", newline="")
    said = _refusal(path)
    assert said.startswith(f"{path} line 3: 6 cells where the header (line 1) has 5 columns"), said
    # empty cells past the header's columns (a spreadsheet's trailing commas) say nothing: the votes are read
    path.write_text(HAND_MADE + "UEG,model_vs_model,m1:direct,m2:direct,B,,\r\n", newline="")
    assert [v["choice"] for v in read_votes(path)] == ["A", "B"]


def test_a_cell_holding_a_quoted_comma_or_a_column_name_is_read(tmp_path):
    """Not everything that names a column is a header: a flag reason quoting one, a comma in quotes."""
    rows = [{"track": "UEG", "kind": "model_vs_model", "system_a": "m1:direct", "system_b": "m2:direct",
             "choice": "A", "flagged": ""},
            {"track": "UEG", "kind": "model_vs_model", "system_a": "m2:direct", "system_b": "m1:direct",
             "choice": "B", "flagged": "side A wrote track,kind,system_a,system_b"}]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / "votes.csv"
    path.write_text(text.getvalue(), newline="")
    assert [v["choice"] for v in read_votes(path)] == ["A"]  # the flagged one is left out, as before


def test_jsonl_exports_joined_without_a_line_break_name_the_line_and_column(tmp_path, capsys):
    first, second = _exported(tmp_path, "a", "jsonl", ["A", "B"]), _exported(tmp_path, "b", "jsonl", ["tie"])
    capsys.readouterr()
    joined = tmp_path / "joined.jsonl"
    joined.write_bytes(first.rstrip(b"\n") + second)
    lines = first.rstrip(b"\n").split(b"\n")
    column = len(lines[-1].decode()) + 1  # the second file's first object starts right after the first's last
    said = _refusal(joined)
    assert said.startswith(f"{joined} line {len(lines)}: 2 JSON objects on one line, the second starting at column "
                           f"{column}: files joined with `cat`"), said


def test_json_array_exports_joined_say_two_lists_and_how_to_join_them(tmp_path, capsys):
    first, second = _exported(tmp_path, "a", "json", ["A", "B"]), _exported(tmp_path, "b", "json", ["tie"])
    capsys.readouterr()
    joined = tmp_path / "joined.json"
    joined.write_bytes(first + second)
    said = _refusal(joined)
    second_line = first.count(b"\n") + 1
    assert said.startswith(f"{joined}: 2 JSON lists one after another, the second starting at line {second_line} "
                           "column 1: files joined with `cat`"), said
    assert "jq -s add" in said


def test_a_json_array_over_the_data_file_limit_joined_with_another_is_named(tmp_path, monkeypatch):
    """Over the limit the array is streamed (ijson): its parser's "trailing garbage" is said as files joined."""
    monkeypatch.setenv("REALUNIFY_MAX_DATA_FILE_MB", "1")
    battles = [{"model_a": "x", "model_b": "y", "winner": "model_a", "conversation_a": "z" * 1000}] * 1200
    joined = tmp_path / "joined.json"
    joined.write_text(json.dumps(battles) + "\n" + json.dumps(battles[:2]) + "\n")
    assert joined.stat().st_size > 2**20
    said = _refusal(joined, ("UEG", "model_vs_model"))
    assert said.startswith(f"{joined} after entry 1200 (index 1199): the array ends there and more follows"), said
    assert "joined with `cat`" in said


def test_result_files_joined_with_cat_are_named_by_file_and_line(tmp_path):
    entry = {"index": 1, "task_type": "mental_tracking", "response": "A"}
    jsonl = tmp_path / "GEU_direct.jsonl"
    jsonl.write_text(json.dumps(entry) + "\n" + json.dumps(entry | {"index": 2}) + json.dumps(entry | {"index": 3})
                     + "\n")
    problems = []
    read_entries(jsonl, problems)
    column = len(json.dumps(entry | {"index": 2})) + 1
    assert [(p.file, p.entry) for p in problems] == [("GEU_direct.jsonl", "line 2")]
    assert problems[0].message.startswith(f"2 JSON objects on one line, the second starting at column {column}: "
                                          "files joined with `cat`"), problems[0].message

    listed = tmp_path / "GEU_direct.json"
    listed.write_text(json.dumps([entry]) + "\n" + json.dumps([entry | {"index": 2}]) + "\n")
    problems = []
    assert read_json_list(listed, problems) == []
    assert [p.message for p in problems] == [
        "2 JSON lists one after another, the second starting at line 2 column 1: files joined with `cat`? A .json "
        "file holds one list: join the lists into one (jq -s add FIRST.json SECOND.json > ALL.json)"]


@pytest.mark.parametrize("tail", [" x", ' "s"', " 3"])
def test_other_text_after_a_json_value_keeps_json_s_own_message(tmp_path, tail):
    """Only objects and lists after the first value are said to be joined files (an object after a list too:
    ``test_read_input_kinds.py``); anything else is not JSON, as before."""
    listed = tmp_path / "GEU_direct.json"
    listed.write_text(json.dumps([{"index": 1}]) + tail + "\n")
    problems = []
    read_json_list(listed, problems)
    assert [p.message.split(":")[0] for p in problems] == ["invalid JSON at line 1, column 16"], problems
