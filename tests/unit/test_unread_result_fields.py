"""Import-results names the entries it stores as failed runs with the note score-official prints for them
(``official_results.failure_notes``: one home for the rule), for a reply or image missing as for an image that
cannot be used. The official scorers (FrankYang-17/RealUnify) score such entries 0 and name the field they
miss: ``eval_generation.py``'s ``process_one`` prints ``KeyError('generated_image')``, ``eval_understanding.py``
stops on ``KeyError: 'response'``. Before, an import stored them as failed runs and said only "runs 3 error".

Expected figures are counted by hand from the entries written here.
"""

from __future__ import annotations

import json
from pathlib import Path

from realunify_arena.cli import main
from tests.unit.test_failed_run_notes import geu, ueg
from tests.unit.test_official_files import table_row


def write(folder: Path, name: str, entries: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(entries), encoding="utf-8")


def score(folder: Path, capsys) -> tuple[dict, list[str]]:
    capsys.readouterr()
    code = main(["score-official", str(folder), "--model", "m"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return table_row(out.out, "m"), [line.removeprefix("note: ") for line in out.err.splitlines()]


def imported(folder: Path, db: Path, capsys) -> list[str]:
    capsys.readouterr()
    code = main(["import-results", str(folder), "--model", "m", "--db", str(db)])
    out = capsys.readouterr()
    assert code == 0, out.err
    return [line.removeprefix("note: ") for line in out.out.splitlines()]


def note_on(lines: list[str], file: str) -> str:
    found = [line for line in lines if line.startswith(f"{file}: ")]
    assert len(found) == 1, lines
    return found[0]


def test_import_names_entries_missing_their_reply_or_image_as_score_official_does(tmp_path, capsys):
    folder = tmp_path / "runner"
    write(folder, "UEG_direct.json", [ueg(0, generated_image=""), ueg(1, generated_image=None),
                                      ueg(2, output_image="2.png")])
    write(folder, "GEU_direct.json", [geu(0, response="B"), geu(1, response=None), geu(2)])
    row, notes = score(folder, capsys)
    assert (row["UEG"], row["GEU"], row["run err"]) == ("0.0/-", "33.3/-", "5/-"), row
    lines = imported(folder, tmp_path / "arena.db", capsys)
    for file, counted_as in (("UEG_direct.json", "3 of 3 entries"), ("GEU_direct.json", "2 of 3 entries")):
        note = note_on(lines, file)
        assert note == note_on(notes, file) and f"{counted_as} count as failed runs" in note, (note, notes)
    geu_note = note_on(lines, "GEU_direct.json")
    assert "index 1 (mental_tracking): no answer (response is null" in geu_note
    assert "index 2 (mental_tracking): no answer (response is missing" in geu_note
    ueg_note = note_on(lines, "UEG_direct.json")
    assert "generated_image is empty" in ueg_note and "generated_image is null" in ueg_note
