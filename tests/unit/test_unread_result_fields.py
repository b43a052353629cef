"""A result file whose runner wrote every result under a field no scorer reads is no instance file.

The official scorers (FrankYang-17/RealUnify) score such entries 0 and name the field they miss:
``eval_generation.py``'s ``process_one`` prints ``KeyError('generated_image')`` for an entry without
``generated_image`` and scores it 0; ``eval_understanding.py`` stops on ``KeyError: 'response'``. Before, a file
none of whose entries carried a field this reader knows (every UEG image under ``output_image``, every GEU reply
under ``answer_text``) was taken for an instance file and skipped without a word by ``score-official`` and
``import-results``: the table came out as if the file were not there. Now its entries count as failed runs
(0, in "run err"), and both commands say so through the one rule (``official_results.failure_notes``), naming
the file, the fields found and the field expected. A file of instance fields only (the official ones, or the
generator fields of this project's own instance files) is still skipped, and both commands say that too.

Import-results names its failed runs with the same note as score-official (one home for the rule), for a reply
or image missing as for an image that cannot be used.

Expected figures are counted by hand from the entries written here.
"""

from __future__ import annotations

import json
from pathlib import Path

from realunify_arena.cli import main
from tests.unit.test_failed_run_notes import geu, ueg
from tests.unit.test_official_files import table_row
from tests.unit.test_result_files_shared import stored_runs


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
    """The one note on ``file`` about its failed runs or unread fields (that on entries scored without the image
    they name, ``unseen_image_notes``, is another)."""
    found = [line for line in lines if line.startswith(f"{file}: ") and "scored without the image named" not in line]
    assert len(found) == 1, lines
    return found[0]


def test_every_ueg_image_under_another_field_counts_as_failed_runs_in_both_commands(tmp_path, capsys):
    folder = tmp_path / "runner"
    write(folder, "UEG_direct.json", [ueg(i, output_image=f"./images/{i}.png") for i in range(3)])
    write(folder, "GEU_direct.json", [geu(0, response="B"), geu(1, response="C")])
    row, notes = score(folder, capsys)
    # 3 UEG entries, none with an image the scorers read: 0 of 3 right, all 3 failed runs; GEU 1 of 2 right;
    # Total is the mean of the categories scored (the paper's rule): WK 0 and MT 50
    assert (row["WK"], row["UEG"], row["run err"]) == ("0.0/-", "0.0/-", "3/-"), row
    assert (row["GEU"], row["Total"]) == ("50.0/-", "25.0/-"), row
    note = note_on(notes, "UEG_direct.json")
    assert "3 of 3 entries count as failed runs" in note and "generated_image missing" in note
    assert "fields found that no scorer reads: output_image (3 entries)" in note
    assert "expected under generated_image" in note
    lines = imported(folder, tmp_path / "arena.db", capsys)
    assert "runs 3 error, 2 ok" in lines[0] and "UEG_direct.json" in lines[0], lines
    assert note_on(lines, "UEG_direct.json") == note  # one rule, one wording
    statuses = {uid: run["status"] for uid, run in stored_runs(tmp_path / "arena.db").items()}
    assert statuses == {"UEG_0_world_knowledge": "error", "UEG_1_world_knowledge": "error",
                        "UEG_2_world_knowledge": "error", "GEU_0_mental_tracking": "ok",
                        "GEU_1_mental_tracking": "ok"}


def test_every_geu_reply_and_every_judge_reply_under_another_field(tmp_path, capsys):
    folder = tmp_path / "runner"
    write(folder, "GEU_direct.json", [geu(0, answer_text="B"), geu(1, answer_text="A")])
    judged = ueg(0)
    judged["question_list"][0]["judgement"] = "Yes"  # a judge reply under another name than judge_answer
    write(folder, "UEG_direct.json", [judged])
    row, notes = score(folder, capsys)
    assert (row["GEU"], row["UEG"], row["run err"]) == ("0.0/-", "0.0/-", "3/-"), row
    geu_note = note_on(notes, "GEU_direct.json")
    assert "2 of 2 entries count as failed runs" in geu_note and "response" in geu_note
    assert "answer_text (2 entries)" in geu_note and "expected under response" in geu_note
    ueg_note = note_on(notes, "UEG_direct.json")
    assert "question_list[].judgement (1 entry)" in ueg_note and "judge_answer" in ueg_note


def test_a_file_of_instance_fields_only_is_skipped_and_both_commands_say_so(tmp_path, capsys):
    folder = tmp_path / "runner"
    own = {"generator": {"name": "hand", "seed": 0, "params": {}}}  # this project's instance files carry it
    write(folder, "UEG_step.json", [ueg(0, new_prompt="refine: prompt 0", **own)])
    write(folder, "GEU_direct.json", [geu(0, response="B", **own, reference_image="./image/r.png")])
    row, notes = score(folder, capsys)
    assert (row["GEU"], row["UEG"], row["run err"]) == ("100.0/-", "-/-", "0/-"), row
    assert any(line.startswith("UEG_step.json: skipped: its entries carry instance fields only") for line in notes)
    assert not any("GEU_direct.json" in line for line in notes), notes
    lines = imported(folder, tmp_path / "arena.db", capsys)
    assert any(line.startswith("UEG_step.json: skipped: its entries carry instance fields only") for line in lines)
    assert set(stored_runs(tmp_path / "arena.db")) == {"GEU_0_mental_tracking"}


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
