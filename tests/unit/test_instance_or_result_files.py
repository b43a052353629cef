"""Which files are results and which are instances, by the official formats' fields (REALUNIFY.md: the
instance files hold ``index``, ``task_type``, ``prompt``/``new_prompt``, ``question_list``, GEU's
``input_image``/``question``/``option``/``answer``/``evaluation_prompt``/``edit_prompt``; a runner adds the
result fields, and often ``error`` and ``model``, which no instance file holds).

Before (official25): an entry carrying only a runner's ``error`` (or ``model``) beside the instance fields made
its file an "instance file": skipped, and the one-entry folder refused as "its entries carrying instance fields
only", which was untrue; a file of instance fields only was skipped without saying how to mark a run that
wrote nothing.
"""

from __future__ import annotations

import json

import pytest

from realunify_arena.cli import main
from tests.unit.test_official_files import table_row

ENTRY = {"index": 1, "task_type": "world_knowledge", "prompt": "The largest feline",
         "question_list": [{"question": "Is there a tiger?", "answer": "yes"}]}


@pytest.mark.parametrize("extra", [{"error": "CUDA out of memory"}, {"model": "m"}])
def test_a_runner_s_error_or_model_field_makes_a_result_file(tmp_path, capsys, extra):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "UEG_direct.json").write_text(json.dumps([{**ENTRY, **extra}]), encoding="utf-8")
    assert main(["score-official", str(folder)]) == 0
    captured = capsys.readouterr()
    row = table_row(captured.out, "m")
    assert (row["WK"], row["run err"]) == ("0.0/-", "1/-")  # a run that made no image: 0, as the official scorer
    assert "skipped" not in captured.err
    if "error" in extra:  # the runner's own words are kept in the note
        assert "its error: 'CUDA out of memory'" in captured.err


def test_a_file_of_instance_fields_only_is_skipped_saying_how_to_mark_a_failed_run(tmp_path, capsys):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "UEG_direct.json").write_text(json.dumps([ENTRY]), encoding="utf-8")
    assert main(["score-official", str(folder)]) != 0
    err = capsys.readouterr().err
    assert "every file was skipped as an instance file" in err and str(folder / "UEG_direct.json") in err
    assert 'mark each failed run with "status": "error"' in err
    (folder / "UEG_step.json").write_text(json.dumps([{**ENTRY, "generated_image": ""}]), encoding="utf-8")
    assert main(["score-official", str(folder)]) == 0  # beside a result file: a note, the rest scored
    err = capsys.readouterr().err
    assert "note: UEG_direct.json: skipped: its entries carry instance fields only" in err
    assert 'nor error or model' in err and 'mark each failed run with "status": "error"' in err
