"""Result folders as they really are, stored exactly and honestly reported by ``import-results`` (and scored
alike by ``score-official``):

- entries that name their own ``model`` (some runners write it) are never stored under another model's name;
- the summary names the entries stored as failed runs because their image is missing, outside the folder,
  unreadable or corrupt (the first few of a file, and how many; as score-official names them), as it names
  judged entries without images;
- a file name stored decomposed (Unicode NFD, as folders copied from macOS keep them) is the name the JSON
  spells composed (NFC), and the other way round (UAX #15), wherever a result or dataset image path is read;
- a corrupt image beside judge replies is judged by the replies in both commands, and a corrupt image with
  nothing else to decide it is a failed run in both (the official ``eval_generation.py`` scores an image it
  cannot open 0).

Expected percentages are counted by hand from the entries written here (the official rule: a UEG item is
right only when every polling question's reply matches its expected answer)."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from realunify_arena.benchmark import load
from realunify_arena.cli import main
from tests.unit.test_official_files import table_row
from tests.unit.test_result_files_shared import both_tables, picture, stored_runs, ueg, write

NFC = unicodedata.normalize("NFC", "Café_ñandú")
NFD = unicodedata.normalize("NFD", "Café_ñandú")
CORRUPT = b"\x89PNG\r\n\x1a\n" + b"garbage" * 20  # a PNG signature and nothing an image decoder can read


def _import(folder: Path, db: Path, capsys, model: str = "m") -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["import-results", str(folder), "--model", model, "--db", str(db)])
    out = capsys.readouterr()
    return code, out.out, out.err


def _by_index(db: Path) -> dict[int, dict]:
    return {int(uid.split("_")[1]): run for uid, run in stored_runs(db).items()}


# -- the entries' own model name -------------------------------------------------------------------


def test_entries_naming_another_model_are_refused_and_nothing_is_written(tmp_path, capsys):
    folder = tmp_path / "res"
    for i in (1, 2, 3):
        picture(folder / f"{i}.png")
    write(folder / "UEG_direct.json", [ueg(1, image="1.png", model="someone-else"),
                                      ueg(2, image="2.png", model="someone-else"),
                                      ueg(3, image="3.png", model="m")])
    db = tmp_path / "arena.db"
    code, out, err = _import(folder, db, capsys)
    assert code == 1 and "Traceback" not in err
    assert "nothing was written" in err
    assert "UEG_direct.json, index 1 (world_knowledge) and 1 more, field 'model'" in err, err
    assert "2 entries name(s) another model than --model 'm': 'someone-else' (2)" in err, err
    assert not db.exists()  # a refused import creates no store


def test_a_model_field_that_is_no_name_is_refused(tmp_path, capsys):
    folder = tmp_path / "res"
    picture(folder / "1.png")
    write(folder / "UEG_direct.json", [ueg(1, image="1.png", model={"name": "m"})])
    code, _, err = _import(folder, tmp_path / "arena.db", capsys)
    assert code == 1 and "field 'model'" in err and "{'name': 'm'}" in err, err


def test_entries_naming_the_model_by_its_hub_id_are_imported_with_a_note(tmp_path, capsys):
    folder = tmp_path / "res"
    picture(folder / "1.png")
    write(folder / "UEG_direct.json", [ueg(1, image="1.png", model="deepseek-ai/Janus-Pro-1B"),
                                      ueg(2, replies=["Yes", "No"], image="1.png")])  # no model field: not compared
    db = tmp_path / "arena.db"
    code, out, err = _import(folder, db, capsys, model="janus-pro-1b")
    assert code == 0, err
    assert ("note: UEG_direct.json: entries name the model 'deepseek-ai/Janus-Pro-1B', taken as --model "
            "'janus-pro-1b'") in out, out
    assert sorted(_by_index(db)) == [1, 2]


def _import_one_named(tmp_path, capsys, named) -> tuple[Path, str]:
    """One entry whose ``model`` field is ``named``, imported as janus-pro-1b: the folder and the summary."""
    folder = tmp_path / "res"
    picture(folder / "1.png")
    write(folder / "UEG_direct.json", [ueg(1, image="1.png", model=named)])
    db = tmp_path / "arena.db"
    code, out, err = _import(folder, db, capsys, model="janus-pro-1b")
    assert code == 0, err
    assert sorted(_by_index(db)) == [1]
    return folder, out


@pytest.mark.parametrize("named", ["/data/ckpt/Janus-Pro-1B/", r"C:\models\Janus-Pro-1B",
                                   "D:\\runs\\janus-pro-1b\\"])
def test_entries_naming_the_model_by_a_checkpoint_path_are_imported_with_a_note(tmp_path, capsys, named):
    """Runners write the path they loaded the model from (a folder, on POSIX or Windows, often with a trailing
    separator): its last part names the model, as a hub id's does."""
    _, out = _import_one_named(tmp_path, capsys, named)
    assert f"note: UEG_direct.json: entries name the model {named!r}, taken as --model 'janus-pro-1b'" in out, out


@pytest.mark.parametrize("named", ["", "   "])
def test_an_empty_model_field_states_no_model(tmp_path, capsys, named):
    """A runner's template with the ``model`` field left blank says nothing about whose runs they are, as
    null does: not compared, no note."""
    folder, out = _import_one_named(tmp_path, capsys, named)
    assert "entries name the model" not in out, out
    capsys.readouterr()
    assert main(["score-official", str(folder), "--model", "janus-pro-1b"]) == 0
    assert "another model" not in capsys.readouterr().err


def test_score_official_notes_entries_naming_another_model(tmp_path, capsys):
    folder = tmp_path / "res"
    picture(folder / "1.png")
    write(folder / "UEG_direct.json", [ueg(1, replies=["Yes", "No"], image="1.png", model="someone-else")])
    capsys.readouterr()
    assert main(["score-official", str(folder), "--model", "m"]) == 0
    err = capsys.readouterr().err
    assert "UEG_direct.json: 1 entry name(s) another model than 'm': 'someone-else' (1)" in err, err


# -- the summary names entries whose image is unusable -----------------------------------------------


def test_the_summary_names_each_kind_of_unusable_image_bounded(tmp_path, capsys):
    top = tmp_path / "top"
    folder = top / "res"
    picture(top / "outside.png")  # exists, but above the result folder
    (folder).mkdir(parents=True)
    (folder / "corrupt.png").write_bytes(CORRUPT)
    (folder / "empty.png").write_bytes(b"")
    picture(folder / "fine.png")
    entries = [ueg(1, image="gone.png"), ueg(2, image="../outside.png"), ueg(3, image="corrupt.png"),
               ueg(4, image="empty.png"), ueg(5, image="fine.png", replies=["Yes", "No"])]
    entries += [ueg(i, image=f"gone{i}.png") for i in (6, 7)]
    write(folder / "UEG_direct.json", entries)
    db = tmp_path / "arena.db"
    code, out, err = _import(folder, db, capsys)
    assert code == 0, err
    assert "runs 6 error, 1 ok" in out, out
    line = next(x for x in out.splitlines() if "failed runs" in x)
    # named as score-official names them (``official_results.failure_notes``: one rule for both commands)
    assert line.startswith("note: UEG_direct.json: 6 of 7 entries count as failed runs (scored 0, in run err) (")
    # the first three, each with its path and why, then how many more
    assert "index 1 (world_knowledge): no generated image: generated_image gone.png not found" in line
    assert "index 2 (world_knowledge): no generated image: generated_image ../outside.png climbs above" in line
    assert "index 3 (world_knowledge): no usable generated image: generated_image corrupt.png: " in line
    assert "; and 3 more)" in line and "index 4" not in line
    runs = _by_index(db)
    assert [runs[i]["status"] for i in range(1, 8)] == ["error"] * 4 + ["ok"] + ["error"] * 2
    assert "empty.png" in runs[4]["trace"].error


# -- names in another Unicode normalization ----------------------------------------------------------


@pytest.mark.parametrize("on_disk,written", [(NFD, NFC), (NFC, NFD)], ids=["disk-NFD", "disk-NFC"])
def test_a_name_in_another_unicode_normalization_is_the_same_file(on_disk, written, tmp_path, capsys):
    folder = tmp_path / "res"
    picture(folder / on_disk / f"{on_disk}.png")
    write(folder / "UEG_direct.json", [ueg(1, image=f"{written}/{written}.png"),  # not judged: image decides
                                      ueg(2, image=f"./{written}/{written}.png", replies=["Yes", "No"])])
    capsys.readouterr()
    assert main(["score-official", str(folder), "--model", "m"]) == 0
    out = capsys.readouterr()
    row = table_row(out.out, "m")
    assert (row["WK"], row["run err"]) == ("100.0/-", "0/-"), out.out  # entry 1 left out, not judged; 2 right
    assert "not found" not in out.err, out.err
    code, summary, err = _import(folder, tmp_path / "arena.db", capsys)
    assert code == 0, err
    runs = _by_index(tmp_path / "arena.db")
    assert [runs[i]["status"] for i in (1, 2)] == ["ok", "ok"]
    assert all(runs[i]["trace"].steps and runs[i]["trace"].steps[-1].image_sha for i in (1, 2))
    assert "note:" not in summary, summary


def test_a_normalization_match_never_leaves_the_folder(tmp_path, capsys):
    top = tmp_path / "top"
    picture(top / f"{NFD}.png")  # above the result folder
    folder = top / "res"
    write(folder / "UEG_direct.json", [ueg(1, image=f"../{NFC}.png")])
    code, out, err = _import(folder, tmp_path / "arena.db", capsys)
    assert code == 0, err
    assert _by_index(tmp_path / "arena.db")[1]["status"] == "error"
    assert "climbs above" in out, out


def test_geu_images_of_an_official_folder_match_by_normalization(tmp_path):
    folder = tmp_path / "data"
    picture(folder / "image" / "mental_tracking" / "s" / "images" / f"{NFD}.png")
    entry = {"index": 1, "task_type": "mental_tracking",
             "input_image": f"./image/mental_tracking/s/images/{NFC}.png", "question": "Which digit?",
             "option": ["one", "two", "three", "four"], "answer": "A"}
    (folder / "GEU_direct.json").write_text(json.dumps([entry]), encoding="utf-8")
    dataset = load(str(folder))
    assert dataset.problems == []
    assert [i.uid for i in dataset.instances] == ["GEU_1_mental_tracking"]
    assert dataset.instances[0].image_path.is_file()


# -- corrupt images -----------------------------------------------------------------------------------


def test_a_corrupt_image_is_judged_by_its_replies_or_fails_alike_in_both_commands(tmp_path, capsys):
    folder = tmp_path / "res"
    folder.mkdir()
    (folder / "corrupt.png").write_bytes(CORRUPT)
    picture(folder / "fine.png")
    write(folder / "UEG_direct.json", [
        ueg(1, replies=["Yes", "No"], image="corrupt.png"),  # judged right: 1 (the replies are what is scored)
        ueg(2, replies=["No", "No"], image="corrupt.png"),   # judged wrong: 0
        ueg(3, image="corrupt.png"),                         # nothing but a corrupt image: failed run, 0
        ueg(4, replies=["Yes", "No"], image="fine.png"),     # judged right: 1
    ])
    scored, imported = both_tables(folder, tmp_path, capsys)
    # by hand: 2 of 4 = 50.0; run errors: entry 3
    assert (scored["WK"], scored["run err"]) == ("50.0/-", "1/-")
    assert (imported["WK"], imported["run err"]) == ("50.0/-", "1/-")
    runs = _by_index(tmp_path / "arena.db")
    assert [runs[i]["status"] for i in (1, 2, 3, 4)] == ["ok", "ok", "error", "ok"]
    assert runs[1]["trace"].steps == []  # stored without the image it names
    assert "corrupt.png" in runs[3]["trace"].error


def test_the_summary_says_a_judged_entry_was_stored_without_its_corrupt_image(tmp_path, capsys):
    folder = tmp_path / "res"
    folder.mkdir()
    (folder / "corrupt.png").write_bytes(CORRUPT)
    write(folder / "UEG_direct.json", [ueg(1, replies=["Yes", "No"], image="corrupt.png")])
    code, out, err = _import(folder, tmp_path / "arena.db", capsys)
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.startswith("note:"))
    assert "UEG_direct.json: 1 entry stored without the image named (index 1 (world_knowledge): " in line, line
    assert "corrupt.png" in line and "judged by its judge_answer replies" in line, line
