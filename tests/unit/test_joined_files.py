"""Files joined with ``cat``, each written with a UTF-8 byte-order mark (U+FEFF, bytes EF BB BF, as Windows tools
and ``encoding="utf-8-sig"`` write it), and files given a second mark at their start.

A file's first mark is skipped (``bytes.decode('utf-8-sig')``); one starting a later line used to be refused in
json's words, "Unexpected UTF-8 BOM (decode using utf-8-sig)", which says neither why the line holds one nor what to
do, and a CSV's joined header was refused as "track '\\ufefftrack' is not one of UEG, GEU". The official scripts
(FrankYang-17/RealUnify ``eval/eval_understanding.py``: ``json.loads`` of each line of ``open(path,
encoding="utf-8")``, ``json.load`` of a ``.json``) read no mark at all, so such a file is still refused, now with a
message that names the file and the line, says what the mark is, and how to remove it.
"""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest

from realunify_arena.cli import main
from tests.unit.test_failed_run_notes import geu

MARK = b"\xef\xbb\xbf"


def joined(*parts: bytes) -> bytes:
    """What ``cat`` writes: the files' bytes one after another."""
    return b"".join(parts)


def marked_lines(records: list[dict]) -> bytes:
    """One file per record, each with a mark, as JSON Lines: joined, each record's line starts with a mark."""
    return joined(*(MARK + json.dumps(r).encode() + b"\n" for r in records))


def no_json_words(text: str) -> None:
    assert "Unexpected UTF-8 BOM" not in text and "decode using utf-8-sig" not in text and "Traceback" not in text


@pytest.mark.parametrize("command", ["score-official", "import-results"])
def test_a_result_jsonl_of_files_joined_with_cat_names_the_line_and_the_fix(tmp_path, capsys, command):
    folder = tmp_path / "runner"
    folder.mkdir()
    (folder / "GEU_direct.jsonl").write_bytes(marked_lines([geu(0, response="B"), geu(1, response="B"),
                                                            geu(2, response="A")]))
    extra = ["--model", "m", "--db", str(tmp_path / "a.db")] if command == "import-results" else []
    assert main([command, str(folder), *extra]) != 0
    err = capsys.readouterr().err
    no_json_words(err)
    for line in (2, 3):  # line 1's mark is the file's own, skipped
        assert f"GEU_direct.jsonl, line {line}: starts with a UTF-8 byte-order mark (U+FEFF" in err, err
    assert "line 1:" not in err and "joined with `cat`" in err and "sed -i" in err


def test_the_fix_the_message_gives_makes_the_file_read(tmp_path, capsys):
    """The ``sed`` command the message names removes every line's mark (GNU sed, Debian's): the file is then
    scored, 2 of 3 right by hand (answers B, B, B; replies B, B, A)."""
    folder = tmp_path / "runner"
    folder.mkdir()
    path = folder / "GEU_direct.jsonl"
    path.write_bytes(marked_lines([geu(0, response="B"), geu(1, response="B"), geu(2, response="A")]))
    assert main(["score-official", str(folder), "--model", "m"]) != 0
    said = capsys.readouterr().err
    command = said[said.index("(sed -i ") + 1:said.index(" FILE")]
    subprocess.run([*shlex.split(command), str(path)], check=True)
    assert MARK not in path.read_bytes()
    assert main(["score-official", str(folder), "--model", "m"]) == 0, capsys.readouterr().err
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| m "))
    assert "66.7" in row, row


def test_a_json_result_file_with_two_marks_at_its_start_is_named_so(tmp_path, capsys):
    folder = tmp_path / "runner"
    folder.mkdir()
    (folder / "GEU_direct.json").write_bytes(MARK + MARK + json.dumps([geu(0, response="B")]).encode())
    assert main(["score-official", str(folder)]) != 0
    err = capsys.readouterr().err
    no_json_words(err)
    assert "GEU_direct.json: starts with two UTF-8 byte-order marks" in err, err


VOTE = {"track": "UEG", "kind": "model_vs_model", "system_a": "a:direct", "system_b": "b:direct", "choice": "A"}
BATTLE = {"model_a": "x", "model_b": "y", "winner": "model_a"}


@pytest.mark.parametrize("name, data, line", [
    ("votes.jsonl", marked_lines([VOTE, VOTE | {"choice": "B"}]), 2),
    ("battles.jsonl", marked_lines([BATTLE, BATTLE]), 2),
    ("votes.csv", joined(*(MARK + b"track,kind,system_a,system_b,choice\nUEG,model_vs_model,a:direct,b:direct,A\n"
                           for _ in range(2))), 3),
    ("battles.json", MARK + MARK + json.dumps([BATTLE]).encode(), 1),
], ids=["export-jsonl", "fastchat-jsonl", "export-csv", "fastchat-array-two-marks"])
def test_a_votes_file_with_a_mark_past_its_start_names_the_line_and_the_fix(tmp_path, capsys, name, data, line):
    path = tmp_path / name
    path.write_bytes(data)
    board = ["--track", "UEG", "--kind", "model_vs_model", "--rounds", "0"]
    assert main(["leaderboard", "--votes", str(path), *board]) != 0
    err = capsys.readouterr().err
    no_json_words(err)
    assert "ufeff" not in err, err  # the header a joined CSV repeats, marked: not named as a track
    assert f"{path} line {line}: starts with " in err and "byte-order mark" in err and "sed -i" in err, err
