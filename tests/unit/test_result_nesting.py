"""Result files whose entries are nested one level down (hunt28b): the official scorers read a JSON list of flat
entries (``eval_understanding.py``: ``item["task_type"]``, ``item["answer"]``, ``item["response"]``), so a runner's
file that wraps the list in an object (``{"model": ..., "results": [...]}``) or nests each instance under a key
(lmms-eval's samples files: ``{"doc_id", "doc": {...instance...}, "resps", "filtered_resps"}``) is read by neither.
Such a file was refused, but as "expected a JSON list of entries, got dict", or as two "missing" fields per entry
(800 lines for a 400-entry file) with no word of where the fields were: each is now said once, naming where the
entries or the instance's fields were found and the layout expected. Nothing is scored or stored from it."""

from __future__ import annotations

import json

import pytest

from realunify_arena.cli import main

ENTRY = {"index": 1, "task_type": "mental_tracking", "question": "Which digit?", "option": ["1", "2", "3", "4"],
         "answer": "B"}


def test_a_list_wrapped_in_an_object_is_named_by_the_key_that_holds_it(tmp_path, capsys):
    entries = [dict(ENTRY, index=i, response="B") for i in (1, 2)]
    (tmp_path / "GEU_direct.json").write_text(json.dumps({"model": "m", "results": entries}))
    assert main(["score-official", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert ("GEU_direct.json: a JSON object whose 'results' holds a list of 2 objects; expected the file to be that "
            "list itself") in err, err
    assert "Traceback" not in err


def test_an_instance_nested_under_a_key_is_said_once_per_entry_naming_where_it_was(tmp_path, capsys):
    lines = [{"doc_id": i, "doc": dict(ENTRY, index=i), "target": "B", "resps": [["B"]], "filtered_resps": ["B"]}
             for i in range(3)]
    (tmp_path / "GEU_direct.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert main(["score-official", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if line.startswith("  GEU_direct.jsonl")]
    assert len(said) == 3, err  # one a entry, not one per missing field
    assert said[0] == ("  GEU_direct.jsonl, line 1, field 'task_type': missing; found as doc.task_type: the entry "
                       "nests its instance under 'doc' (as lmms-eval's samples files do), which no official scorer "
                       "reads; expected task_type and the other fields at the entry's top level"), said[0]

    db = tmp_path / "arena.db"
    assert main(["import-results", str(tmp_path), "--model", "m", "--data", "bundled", "--db", str(db)]) == 1
    assert "found as doc.task_type" in capsys.readouterr().err and not db.exists()


def test_a_wrapped_list_on_one_line_of_a_jsonl_file_or_over_several_is_named_as_one(tmp_path, capsys):
    """The same wrapper in a ``.jsonl`` file: on one line (an entry holding the entries) or written with indent (the
    shared layout diagnosis, which the votes reader gives too)."""
    wrapper = {"model": "m", "results": [dict(ENTRY, response="B")]}
    results = tmp_path / "results"
    results.mkdir()
    (results / "GEU_direct.jsonl").write_text(json.dumps(wrapper) + "\n")
    assert main(["score-official", str(results)]) == 1
    err = capsys.readouterr().err
    assert ("GEU_direct.jsonl, line 1, field 'task_type': missing; the entry is a JSON object whose 'results' holds "
            "a list of 1 objects (the entries, one level down); expected one entry object a line") in err, err

    (results / "GEU_direct.jsonl").write_text(json.dumps(wrapper, indent=2))
    assert main(["score-official", str(results)]) == 1
    err = capsys.readouterr().err
    assert ("GEU_direct.jsonl: a JSON object whose 'results' holds a list of 1 objects, over several lines; expected "
            "one entry object a line") in err, err

    votes = tmp_path / "battles.json"
    votes.write_text(json.dumps({"battles": [{"model_a": "a", "model_b": "b", "winner": "model_a"}] * 2}, indent=2))
    assert main(["leaderboard", "--votes", str(votes), "--track", "UEG", "--kind", "model_vs_model"]) == 2
    err = capsys.readouterr().err
    assert f"{votes}: a JSON object whose 'battles' holds a list of 2 objects, over several lines; expected" in err


def test_a_result_file_written_in_another_format_is_named_with_the_two_that_are_read(tmp_path, capsys):
    """Runners also keep results as CSV or spreadsheets (VLMEvalKit writes .xlsx and .csv) or compress them. A folder
    whose only results were GEU_direct.csv was refused as holding "no ... .json or .jsonl result files" (hunt28b),
    not naming the file it holds; the refusal names it and the layouts that are read, as a misnamed .json is."""
    (tmp_path / "GEU_direct.csv").write_text("index,task_type,answer,response\n1,mental_tracking,B,B\n")
    (tmp_path / "GEU_step.json.gz").write_bytes(b"\x1f\x8b")
    assert main(["score-official", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert ("GEU_direct.csv (and 1 more file(s) so named) is not read: a result file is .json (a JSON list of entries) "
            "or .jsonl (one entry object a line), as the official scripts read them; write it as GEU_direct.jsonl"
            ) in err, err


@pytest.mark.parametrize("name, rename", [
    ("GEU_direct.json.bak", "if it holds the entries to read, rename it GEU_direct.json"),
    ("GEU_step.jsonl.orig", "if it holds the entries to read, rename it GEU_step.jsonl"),
    ("UEG_direct.json~", "if it holds the entries to read, rename it UEG_direct.json"),
    ("UEG_step.jsonl.gz", "being compressed: decompress it to UEG_step.jsonl"),
    ("GEU_direct.old.json", "rename it GEU_direct.json (the name is matched exactly)"),
    ("GEU_direct (1).json", "rename it GEU_direct.json (the name is matched exactly)"),
    ("GEU_direct.csv", "write it as GEU_direct.jsonl"),
])
@pytest.mark.parametrize("given", ["folder", "file"])
def test_a_result_file_kept_aside_or_compressed_is_told_the_name_it_would_be_read_under(tmp_path, capsys, name,
                                                                                          rename, given):
    """A backup copy, an editor's ``~`` file or a compressed one hold a layout that is read (the suffix after the
    result file's name): the hint used to say "write it as GEU_direct.jsonl" for ``GEU_direct.json.bak``, a
    conversion it does not need; and a name with more after the result file's (a browser's " (1)") was told the four
    names, not its own. Expected: the name the file would be read under, by hand."""
    path = tmp_path / name
    path.write_text("[]\n")
    assert main(["score-official", str(tmp_path if given == "folder" else path)]) == 1
    err = capsys.readouterr().err
    assert f"{name} is not read" in err and rename in err, err
    if name != "GEU_direct.csv":
        assert "write it as" not in err and "UEG_direct.json or UEG_step.json" not in err, err


@pytest.mark.parametrize("name", ["battles.json", "battles.jsonl"])
def test_battles_wrapped_in_an_object_on_one_line_are_named_as_one_level_down(tmp_path, capsys, name):
    """``json.dump({"battles": [...]}, f)`` writes the wrapper on one line: the votes reader said "no model_a or
    model_b ... and no system_a or system_b" of it, where the same object written with indent is named as the
    battles one level down. Both are named so."""
    votes = tmp_path / name
    votes.write_text(json.dumps({"battles": [{"model_a": "a", "model_b": "b", "winner": "model_a"}] * 2}) + "\n")
    assert main(["leaderboard", "--votes", str(votes), "--track", "UEG", "--kind", "model_vs_model"]) == 2
    err = capsys.readouterr().err
    assert (f"{votes} line 1: a JSON object whose 'battles' holds a list of 2 objects (the battles, one level down); "
            "expected a JSON array of battle objects") in err and "no model_a" not in err, err

