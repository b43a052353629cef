"""``score-official`` says which entries it counts as failed runs, and why.

The official scorers score such an entry 0 but name the field they miss: ``eval_generation.py``'s ``process_one``
prints ``Error: KeyError('generated_image')`` for an entry without ``generated_image``, and
``eval_understanding.py`` fails with ``KeyError: 'response'`` (FrankYang-17/RealUnify). A file whose runner wrote
its images or replies under other names (``output_image``, ``answer_text``) must not come back as a silent table
of zeros.
"""

from __future__ import annotations

import json

from realunify_arena.cli import main


def ueg(index: int, **result) -> dict:
    return {"index": index, "task_type": "world_knowledge", "prompt": f"prompt {index}",
            "question_list": [{"question": "Is there a cat?", "answer": "yes"}], **result}


def geu(index: int, **result) -> dict:
    return {"index": index, "task_type": "mental_tracking", "input_image": "./image/x.png", "question": "Which?",
            "option": ["1", "2", "3", "4"], "answer": "B", **result}


def test_entries_counted_as_failed_runs_are_named_with_the_field_they_miss(tmp_path, capsys):
    folder = tmp_path / "runner"
    folder.mkdir()
    entries = [ueg(0, generated_image="")] + [ueg(i, output_image=f"./images/{i}.png") for i in range(1, 5)]
    (folder / "UEG_direct.json").write_text(json.dumps(entries))
    (folder / "GEU_direct.json").write_text(json.dumps([geu(0, response="B"), geu(1, answer_text="B")]))
    assert main(["score-official", str(folder)]) == 0, capsys.readouterr().err
    out = capsys.readouterr()
    row = out.out.strip().splitlines()[-1].split("|")
    assert row[2].strip() == "0.0/-" and row[10].strip() == "50.0/-"  # the official rule: both fail, scored 0
    notes = [line for line in out.err.splitlines() if "failed runs" in line]
    ueg_note = next(line for line in notes if "UEG_direct.json" in line)
    assert "5 of 5 entries" in ueg_note and "generated_image missing" in ueg_note and "and 2 more" in ueg_note
    geu_note = next(line for line in notes if "GEU_direct.json" in line)
    assert "1 of 2 entries" in geu_note and "index 1 (mental_tracking)" in geu_note and "response" in geu_note


def test_no_such_note_when_every_run_is_there_or_the_file_says_it_failed(tmp_path, capsys):
    folder = tmp_path / "runner"
    folder.mkdir()
    (folder / "GEU_direct.json").write_text(json.dumps([
        geu(0, response="B"), geu(1, response="C"), geu(2, status="error", error="out of memory")]))
    assert main(["score-official", str(folder)]) == 0, capsys.readouterr().err
    out = capsys.readouterr()
    assert out.out.strip().splitlines()[-1].split("|")[10].strip() == "33.3/-"
    assert "failed runs" not in out.err
