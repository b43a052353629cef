"""``score-official`` and ``import-results`` read result files with one reader and one rule: a string
``index`` is a key like an integer one, ``.jsonl`` files are read, an image missing beside judge replies is
judged by the replies, and Windows absolute paths are found by their tail in the result file's folder.

Expected percentages are counted by hand from the entries written here (the official rule: a UEG item is
right only when every polling question's reply matches; a GEU item when the letter matches)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from realunify_arena.benchmark.result_paths import find_result_image
from realunify_arena.cli import main
from realunify_arena.store import Store
from realunify_arena.trace import StepRole
from tests.unit.test_official_files import table_row

QUESTIONS = [("Is there a red ball?", "yes"), ("Is there a cat?", "no")]


def ueg(index, *, replies=None, image=None, **extra) -> dict:
    entry = {"index": index, "task_type": "world_knowledge", "prompt": f"prompt {index}",
             "question_list": [{"question": q, "answer": a} for q, a in QUESTIONS], **extra}
    if replies is not None:
        for item, reply in zip(entry["question_list"], replies):
            item["judge_answer"] = reply
    if image is not None:
        entry["generated_image"] = image
    return entry


def geu(index, answer: str, response: str) -> dict:
    return {"index": index, "task_type": "mental_tracking", "input_image": f"./image/mental_tracking/s/images/{index}.png",
            "question": f"question {index}?", "option": ["one", "two", "three", "four"], "answer": answer,
            "response": response}


def write(path: Path, entries: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    else:
        path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def picture(path: Path, colour=(200, 10, 10)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)


def both_tables(folder: Path, tmp_path: Path, capsys) -> tuple[dict, dict]:
    """The row score-official prints for ``folder``, and the row `report` prints after importing it."""
    capsys.readouterr()
    assert main(["score-official", str(folder), "--model", "m"]) == 0, capsys.readouterr().err
    scored = table_row(capsys.readouterr().out, "m")
    db = tmp_path / "arena.db"
    assert main(["import-results", str(folder), "--model", "m", "--db", str(db)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "reports")]) == 0, capsys.readouterr().err
    return scored, table_row(capsys.readouterr().out, "m")


def stored_runs(db: Path) -> dict[str, dict]:
    store = Store.open(db)
    try:
        return {r["instance_uid"]: {"status": r["status"], "trace": store.load_trace(r["id"])} for r in store.runs()}
    finally:
        store.close()


def test_a_string_index_is_the_same_key_in_both_commands(tmp_path, capsys):
    folder = tmp_path / "res"
    picture(folder / "1.png")
    picture(folder / "2.png", (0, 0, 200))
    write(folder / "UEG_direct.json", [ueg("1", replies=["Yes", "No"], image="1.png"),    # right
                                       ueg(" 2 ", replies=["No", "No"], image="2.png")])  # wrong
    write(folder / "GEU_direct.json", [geu("7", "B", "B"), geu(8.0, "C", "A"), geu("9", "D", "The answer is D")])
    scored, imported = both_tables(folder, tmp_path, capsys)
    # by hand: WK 1 of 2 = 50.0; MT 2 of 3 = 66.7
    assert (scored["WK"], scored["MT"]) == ("50.0/-", "66.7/-")
    assert (imported["WK"], imported["MT"]) == ("50.0/-", "66.7/-")


def test_an_index_that_is_no_integer_is_named(tmp_path, capsys):
    write(tmp_path / "r" / "GEU_direct.json", [geu("seven", "B", "B"), geu(1.5, "B", "B")])
    for command in (["score-official", str(tmp_path / "r")],
                    ["import-results", str(tmp_path / "r"), "--model", "m", "--db", str(tmp_path / "a.db")]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert "GEU_direct.json, position 0, field 'index': expected an integer, got a string 'seven'" in err, err
        assert "GEU_direct.json, position 1, field 'index': expected an integer, got a number 1.5" in err, err
    assert not (tmp_path / "a.db").exists()


def test_jsonl_files_are_read_by_both_and_a_bad_line_is_named(tmp_path, capsys):
    folder = tmp_path / "res"
    picture(folder / "img" / "1.png")
    write(folder / "UEG_direct.jsonl", [ueg(1, replies=["yes", "no"], image="img/1.png"),
                                        ueg(2, replies=["yes", "yes"], image="img/1.png"),
                                        ueg(3, replies=["yes", "no"], image="img/1.png")])
    write(folder / "GEU_step.jsonl", [{**geu(4, "A", "A"), "edit_image": "img/1.png"}])
    scored, imported = both_tables(folder, tmp_path, capsys)
    # by hand: WK 2 of 3 = 66.7 (entry 2 answers "yes" where "no" is expected); MT stepwise 1 of 1
    assert (scored["WK"], scored["MT"]) == ("66.7/-", "-/100.0")
    assert (imported["WK"], imported["MT"]) == ("66.7/-", "-/100.0")

    bad = tmp_path / "bad"
    write(bad / "GEU_direct.jsonl", [geu(1, "A", "A")])
    with (bad / "GEU_direct.jsonl").open("a", encoding="utf-8") as f:
        f.write("\n[1, 2]\n{\"index\": 3,\n" + json.dumps(geu(4, "A", 5)) + "\n")
    for command in (["score-official", str(bad)],
                    ["import-results", str(bad), "--model", "m", "--db", str(tmp_path / "b.db")]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert "GEU_direct.jsonl, line 3: expected one JSON object a line, got a list" in err, err
        assert "GEU_direct.jsonl, line 4: invalid JSON at column" in err, err
        assert "GEU_direct.jsonl, index 4 (mental_tracking), field 'response': expected a string" in err, err
        assert "Traceback" not in err


def test_a_json_and_a_jsonl_of_one_name_are_refused(tmp_path, capsys):
    folder = tmp_path / "res"
    write(folder / "GEU_direct.json", [geu(1, "A", "A")])
    write(folder / "GEU_direct.jsonl", [geu(1, "A", "A")])
    for command in (["score-official", str(folder)],
                    ["import-results", str(folder), "--model", "m", "--db", str(tmp_path / "a.db")]):
        assert main(command) == 1
        assert "holds both GEU_direct.json and GEU_direct.jsonl" in capsys.readouterr().err


def test_an_image_missing_beside_judge_replies_is_judged_by_both(tmp_path, capsys):
    """The official scorer counts a missing or empty image as a failed run; judge replies already made on an
    image (a folder copied without its images, or an entry that names none: the shared case judge-think-tags,
    expected SR 100.0) are what is scored, in both commands."""
    folder = tmp_path / "res"
    picture(folder / "here.png")
    write(folder / "UEG_direct.json", [
        ueg(1, replies=["Yes", "No"], image="gone/1.png"),  # judged right, image not here: 1
        ueg(2, replies=["Yes", "No"], image="here.png"),    # judged right: 1
        ueg(3, image="gone/3.png"),                         # not judged, image not here: failed run, 0
        ueg(4, replies=["Yes", "No"], image=""),            # empty image: failed run, 0 whatever was said
        ueg(5, replies=["Yes", "No"]),                      # no generated_image field, judged right: 1
    ])
    scored, imported = both_tables(folder, tmp_path, capsys)
    # by hand: 3 of 5 = 60.0; run errors: entries 3 and 4
    assert (scored["WK"], scored["run err"]) == ("60.0/-", "2/-")
    assert (imported["WK"], imported["run err"]) == ("60.0/-", "2/-")
    runs = stored_runs(tmp_path / "arena.db")
    by_index = {uid.split("_")[1]: run for uid, run in runs.items()}
    assert [by_index[str(i)]["status"] for i in range(1, 6)] == ["ok", "ok", "error", "error", "ok"]
    assert [s.role for s in by_index["1"]["trace"].steps] == []  # stored without the image it names
    assert [s.role for s in by_index["2"]["trace"].steps] == [StepRole.GENERATED_IMAGE]


@pytest.mark.parametrize("written", [r"C:\results\images\1.png", "C:/results/images/1.png",
                                     r"D:\elsewhere\res\images\1.png", r"\\server\share\res\images\1.png",
                                     "/home/someone/res/images/1.png"])
def test_an_absolute_path_from_another_machine_is_found_by_its_tail(written, tmp_path):
    folder = tmp_path / "res"
    picture(folder / "images" / "1.png")
    assert find_result_image(written, folder) == (folder / "images" / "1.png").resolve()
    assert find_result_image("C:/results/1.png", folder) is None  # no 1.png directly in the folder
    picture(folder / "1.png")
    assert find_result_image("C:/results/1.png", folder) == (folder / "1.png").resolve()
    (folder / "sub").mkdir()
    assert find_result_image(r"C:\x\..\1.png", folder / "sub") is None  # "../1.png" is no tail tried


def test_windows_absolute_paths_are_imported_and_scored(tmp_path, capsys):
    folder = tmp_path / "res"
    picture(folder / "images" / "1.png", (1, 2, 3))
    picture(folder / "2.png", (4, 5, 6))
    write(folder / "UEG_direct.json", [ueg(1, image=r"C:\results\images\1.png"),
                                       ueg(2, image="C:/results/2.png")])
    capsys.readouterr()
    assert main(["score-official", str(folder), "--model", "m"]) == 0, capsys.readouterr().err
    assert "2 entries with an image but no `judge_answer`" in capsys.readouterr().err  # found, not failed
    db = tmp_path / "arena.db"
    assert main(["import-results", str(folder), "--model", "m", "--db", str(db)]) == 0, capsys.readouterr().err
    runs = stored_runs(db)
    store = Store.open(db)
    try:
        pixels = sorted(store.get_image(run["trace"].steps[0].image_sha).getpixel((0, 0)) for run in runs.values())
    finally:
        store.close()
    assert pixels == [(1, 2, 3), (4, 5, 6)]
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from runs where status = 'ok'").fetchone() == (2,)


def test_a_reply_missing_is_a_failed_run_in_both(tmp_path, capsys):
    folder = tmp_path / "res"
    no_reply = geu(2, "A", "A")
    del no_reply["response"]
    write(folder / "GEU_direct.json", [geu(1, "A", "A"), no_reply, {**geu(3, "B", "B"), "response": None},
                                       {**geu(4, "C", "x"), "response": None, "score": 1}])
    scored, imported = both_tables(folder, tmp_path, capsys)
    # by hand: entries 1 (letter) and 4 (the official per-item score) right, 2 and 3 failed: 2 of 4 = 50.0
    assert (scored["MT"], scored["run err"]) == ("50.0/-", "2/-")
    assert (imported["MT"], imported["run err"]) == ("50.0/-", "2/-")


@pytest.mark.parametrize("written", [r"..\..\secret.png", "../../secret.png", r".\images\..\..\..\secret.png",
                                     r"C:\..\..\secret.png", "images/../../../secret.png"])
def test_a_path_that_climbs_above_the_result_folder_is_never_read(written, tmp_path, capsys, monkeypatch):
    # the secret sits two levels above the result folder; the current directory is the result folder itself,
    # so neither the folder nor the current directory may be left by ".."
    secret, folder = tmp_path / "secret.png", tmp_path / "a" / "res"
    picture(secret, (7, 7, 7))
    picture(folder / "secret.png", (9, 9, 9))  # a file of that name inside the folder is no excuse either
    monkeypatch.chdir(folder)
    write(folder / "UEG_direct.json", [ueg(1, image=written, replies=["Yes", "No"]), ueg(2, image=written)])
    assert find_result_image(written, folder) in (None, (folder / "secret.png").resolve())  # Windows tail only
    capsys.readouterr()
    assert main(["score-official", str(folder), "--model", "m"]) == 0, capsys.readouterr().err
    # by hand: entry 1 right by its replies; entry 2 (no replies) failed for want of an image (1 of 2), or,
    # for the Windows path, found by its tail inside the folder and left to a judge (1 of 1)
    assert table_row(capsys.readouterr().out, "m")["WK"] == ("100.0/-" if written.startswith("C:") else "50.0/-")
    db = tmp_path / "arena.db"
    assert main(["import-results", str(folder), "--model", "m", "--db", str(db)]) == 0, capsys.readouterr().err
    store = Store.open(db)
    try:
        shas = [s.image_sha for run in stored_runs(db).values() for s in run["trace"].steps if s.image_sha]
        pixels = [store.get_image(sha).getpixel((0, 0)) for sha in shas]
    finally:
        store.close()
    assert (7, 7, 7) not in pixels
    if not written.startswith("C:"):  # entry 2's stored error says why its image was not read
        error = stored_runs(db)["UEG_2_world_knowledge"]["trace"].error
        assert "climbs above" in error and str(folder) in error


def test_an_import_judged_without_its_images_exports_and_scores_again_the_same(tmp_path, capsys):
    """Runs imported with their judge's replies from a folder copied without its images are no failed runs:
    exported with those replies (``export --judge``), the folder scores as the folder it came from."""
    folder = tmp_path / "res"
    picture(folder / "here.png")
    write(folder / "UEG_direct.json", [
        ueg(1, replies=["Yes", "No"], image="gone/1.png", score=1),  # right by its replies, image not here: 1
        ueg(2, replies=["Yes", "Yes"], image="gone/2.png", error="a note"),  # wrong by its replies: 0
        ueg(3, replies=["Yes", "No"], image="here.png"),    # right, image here: 1
        ueg(4, replies=["Yes", "No"], image=""),            # empty image: a failed run, 0
    ])
    write(folder / "UEG_step.json", [ueg(1, replies=["yes", "no"], image="gone/s1.png", response="a red ball")])
    scored, imported = both_tables(folder, tmp_path, capsys)
    # by hand: direct 2 of 4 = 50.0 (one failed run); stepwise 1 of 1 = 100.0
    assert (scored["WK"], scored["run err"]) == ("50.0/100.0", "1/0")
    assert (imported["WK"], imported["run err"]) == ("50.0/100.0", "1/0")
    out = tmp_path / "exported"
    assert main(["export", "--format", "official", "--out", str(out), "--db", str(tmp_path / "arena.db"),
                 "--judge", "judge_answer"]) == 0, capsys.readouterr().err
    exported = json.loads(next(out.rglob("UEG_direct.json")).read_text(encoding="utf-8"))
    by_index = {e["index"]: e for e in exported}
    # an image not stored is written empty (the official scorer's key), with the score the replies give
    assert [by_index[i]["generated_image"] for i in (1, 2, 4)] == ["", "", ""]
    assert (by_index[1]["score"], by_index[2]["score"]) == (1, 0)
    # what the source folder said about its own runs is not carried into the exported runs' entries
    assert "error" not in by_index[2] and "score" not in by_index[4]
    capsys.readouterr()
    assert main(["score-official", str(next(out.rglob("UEG_direct.json")).parent), "--model", "m"]) == 0
    again = table_row(capsys.readouterr().out, "m")
    assert (again["WK"], again["run err"]) == ("50.0/100.0", "1/0")


def test_questions_never_asked_after_a_wrong_verdict_are_read_by_both(tmp_path, capsys):
    """A runner that stops asking at the first wrong verdict, as the official scorer's loop breaks, leaves the
    later polling questions without a ``judge_answer``: the instance is already 0, and its unasked questions are
    no judge errors (the official rule asks nothing more once the instance cannot pass); one whose asked
    questions all pass is undecided (a judge error), not a pass and not a broken file."""
    folder = tmp_path / "res"
    picture(folder / "1.png")
    first_wrong = ueg(1, replies=["No"], image="1.png")  # only the first question asked, and it fails
    null_after = ueg(3, replies=["Yes", None], image="1.png")  # the first passes, the second never asked
    write(folder / "UEG_direct.json", [first_wrong, ueg(2, replies=["Yes", "No"], image="1.png"), null_after])
    scored, imported = both_tables(folder, tmp_path, capsys)
    # by hand (the paper's all-or-nothing rule): 1 -> 0, 2 -> 1, 3 -> no score; WK 1 of 2 = 50.0;
    # questions with a verdict: 1 (wrong), 2 (right), 1 (right) -> 3 of 4 = 75.0; judge errors: only
    # instance 3 (undecided), not instance 1, whose unasked question came after its failed one
    for row in (scored, imported):
        assert (row["WK"], row["Q-acc"], row["judge err"], row["run err"]) == ("50.0/-", "75.0/-", "1/-", "0/-")
    bad = tmp_path / "bad"
    write(bad / "UEG_direct.json", [ueg(1, replies=["Yes", 1], image="x.png")])
    assert main(["score-official", str(bad)]) == 1
    assert "field 'question_list[1].judge_answer': expected the judge's reply as a string, got an integer" in \
        capsys.readouterr().err


@pytest.mark.parametrize(("name", "rename"), [("bagel.json", "UEG_direct.json or UEG_step.json"),
                                              ("ueg_direct.jsonl", "UEG_direct.jsonl (the name is matched exactly)")])
def test_a_result_file_under_another_name_is_named_with_what_to_rename_it(name, rename, tmp_path, capsys):
    """The official eval_generation.py writes its scored entries to <model>.json; a file system may lower-case
    names. Neither is read, and the message says which file and what name it needs."""
    folder = tmp_path / "res"
    write(folder / name, [ueg(1, replies=["Yes", "No"])])
    for command in (["score-official", str(folder)], ["score-official", str(folder / name)],
                    ["import-results", str(folder), "--model", "m", "--db", str(tmp_path / "a.db")],
                    ["import-results", str(folder / name), "--model", "m", "--db", str(tmp_path / "a.db")]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert f"{name} is not read, its name being no result file's: rename it {rename}" in err, err
        assert "Traceback" not in err
    assert not (tmp_path / "a.db").exists()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-8-sig"])
def test_files_saved_as_utf16_or_with_a_bom_and_crlf_are_read_by_both(encoding, tmp_path, capsys):
    """Windows PowerShell's ``>`` writes UTF-16 with a byte-order mark and CRLF line ends; Python's json reads
    such bytes, and so must the two commands (.json and .jsonl alike)."""
    folder = tmp_path / "res"
    folder.mkdir()
    entries = [geu(1, "B", "Answer: (B)"), geu("2", "C", "<think>\n\n</think>\n\nC"), geu(3, "A", "b")]
    (folder / "GEU_direct.jsonl").write_bytes("\r\n".join(json.dumps(e) for e in entries).encode(encoding))
    (folder / "UEG_direct.json").write_bytes(json.dumps([ueg(1, replies=["Yes", "No"], image="1.png", prompt="Ünï 🐯")],
                                                        indent=1).replace("\n", "\r\n").encode(encoding))
    scored, imported = both_tables(folder, tmp_path, capsys)
    # by hand (the official extraction): B and C read, "b" is no capital letter -> MT 2 of 3 = 66.7; WK 1 of 1
    for row in (scored, imported):
        assert (row["MT"], row["WK"]) == ("66.7/-", "100.0/-")


@pytest.mark.parametrize("content", [b"", b"\n \r\n", "\ufeff".encode("utf-8")])
def test_an_empty_json_file_is_named_as_empty(content, tmp_path, capsys):
    folder = tmp_path / "res"
    folder.mkdir()
    (folder / "GEU_direct.json").write_bytes(content)
    for command in (["score-official", str(folder)],
                    ["import-results", str(folder), "--model", "m", "--db", str(tmp_path / "a.db")]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert "GEU_direct.json: is empty; expected a JSON list of entries" in err, err


def test_geu_runs_imported_by_their_per_item_score_export_and_score_again_the_same(tmp_path, capsys):
    folder = tmp_path / "res"
    no_reply = geu(3, "C", "x")
    del no_reply["response"]
    write(folder / "GEU_direct.json", [{**geu(1, "B", "x"), "response": None, "score": 1},  # right by its score
                                       geu(2, "B", "B"),                                    # right by its letter
                                       {**no_reply, "score": 0}])                           # wrong by its score
    scored, imported = both_tables(folder, tmp_path, capsys)
    # by hand: 2 of 3 = 66.7
    assert scored["MT"] == imported["MT"] == "66.7/-"
    out = tmp_path / "exported"
    assert main(["export", "--format", "official", "--out", str(out), "--db", str(tmp_path / "arena.db")]) == 0
    capsys.readouterr()
    assert main(["score-official", str(next(out.rglob("GEU_direct.json")).parent), "--model", "m"]) == 0
    assert table_row(capsys.readouterr().out, "m")["MT"] == "66.7/-"


UNASKED = [  # instance index -> what a runner that stops at the first wrong verdict wrote
    ueg(1, replies=["No"], image="1.png"),             # first question fails, second never asked: 0
    ueg(2, replies=["Yes", "No"], image="1.png"),      # both right: 1
    ueg(3, replies=["Yes", None], image="1.png"),      # first right, second never asked (null): undecided
]
# by hand (the official rule): WK 1 of 2 decided = 50.0; questions with a verdict 3 of 4 = 75.0; one instance
# with a judge error (3: undecided); instance 1's unasked question is no error, it is simply not judged
UNASKED_ROW = ("50.0/-", "75.0/-", "1/-", "0/-")


def row_of(row: dict) -> tuple:
    return row["WK"], row["Q-acc"], row["judge err"], row["run err"]


def test_questions_never_asked_export_as_never_asked_and_score_again_the_same(tmp_path, capsys):
    """import -> export --judge -> score-official / import again: a question never asked goes out without
    ``judge_answer``, as the official loop leaves it, not as an empty reply (which every scorer reads as an
    asked question with no usable answer: a judge error, or a failed question to a "no"-wins parser)."""
    folder = tmp_path / "res"
    picture(folder / "1.png")
    write(folder / "UEG_direct.json", UNASKED)
    scored, imported = both_tables(folder, tmp_path, capsys)
    assert row_of(scored) == row_of(imported) == UNASKED_ROW
    out = tmp_path / "exported"
    assert main(["export", "--format", "official", "--out", str(out), "--db", str(tmp_path / "arena.db"),
                 "--judge", "judge_answer"]) == 0, capsys.readouterr().err
    exported = json.loads(next(out.rglob("UEG_direct.json")).read_text(encoding="utf-8"))
    replies = {e["index"]: [q.get("judge_answer", "NOT ASKED") for q in e["question_list"]] for e in exported}
    assert replies == {1: ["No", "NOT ASKED"], 2: ["Yes", "No"], 3: ["Yes", "NOT ASKED"]}
    again_dir = tmp_path / "again"
    again_dir.mkdir()
    again, reimported = both_tables(next(out.rglob("UEG_direct.json")).parent, again_dir, capsys)
    assert row_of(again) == row_of(reimported) == UNASKED_ROW


def test_a_store_imported_before_unasked_questions_were_marked_reports_them_as_not_asked(tmp_path, capsys):
    """Judgments imported before unasked questions were told apart hold them as an item with no reply and no
    verdict, and count them in ``errors``: report counts judge errors from the questions (the official rule),
    and export writes them without ``judge_answer``."""
    folder = tmp_path / "res"
    picture(folder / "1.png")
    write(folder / "UEG_direct.json", UNASKED)
    db = tmp_path / "arena.db"
    assert main(["import-results", str(folder), "--model", "m", "--db", str(db)]) == 0, capsys.readouterr().err
    with sqlite3.connect(db) as conn:  # as the old import stored them: no mark, every verdict-less one an error
        for jid, details in conn.execute("select id, details from judgments where kind = 'polling'").fetchall():
            details = json.loads(details)
            for q in details["questions"]:
                q.pop("asked", None)
            errors = sum(q["verdict"] is None for q in details["questions"])
            conn.execute("update judgments set details = ?, errors = ? where id = ?",
                         (json.dumps(details), errors, jid))
    capsys.readouterr()
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "reports")]) == 0, capsys.readouterr().err
    assert row_of(table_row(capsys.readouterr().out, "m")) == UNASKED_ROW
    out = tmp_path / "exported"
    assert main(["export", "--format", "official", "--out", str(out), "--db", str(db),
                 "--judge", "judge_answer"]) == 0, capsys.readouterr().err
    exported = json.loads(next(out.rglob("UEG_direct.json")).read_text(encoding="utf-8"))
    assert [["judge_answer" in q for q in e["question_list"]] for e in exported] == [[True, False], [True, True],
                                                                                      [True, False]]


@pytest.mark.parametrize("whole, said", [
    (lambda e: e[0], "GEU_direct.jsonl: one JSON object over several lines, not one a line; expected one entry "
                     "object a line"),
    (lambda e: e, "GEU_direct.jsonl: a JSON list over several lines, not one entry object a line; a list of "
                  "entries is read from a .json file: rename it GEU_direct.json"),
], ids=["object", "list"])
def test_a_jsonl_file_that_is_one_pretty_printed_value_is_told_so_once(whole, said, tmp_path, capsys):
    """``json.dump(results, f, indent=4)`` into a .jsonl name (the official scripts' own list layout): before, each
    of its lines was a problem of its own ("line 2: invalid JSON at column 10: Extra data", ... 30 for two
    entries), none saying what the file is; votes files already said it (now json_layout, shared by both readers)."""
    folder = tmp_path / "res"
    folder.mkdir()
    entries = [geu(1, "A", "A"), geu(2, "B", "C")]
    (folder / "GEU_direct.jsonl").write_text(json.dumps(whole(entries), indent=4) + "\n", encoding="utf-8")
    for command in (["score-official", str(folder)],
                    ["import-results", str(folder), "--model", "m", "--db", str(tmp_path / "a.db")]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert err.count("GEU_direct.jsonl") == 1 and said in err and "Traceback" not in err, err
    # one object a line after a bad first line: each line is named as before
    (folder / "GEU_direct.jsonl").write_text("{\n" + "".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    assert main(["score-official", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "GEU_direct.jsonl, line 1: invalid JSON at column 2" in err and "several lines" not in err, err


def test_a_jsonl_file_is_read_a_line_at_a_time(tmp_path):
    """Before, the file's bytes, its text and the list of its lines were all in memory beside the entries parsed
    from them (three copies of the file); now one line is, besides the entries."""
    import tracemalloc

    from realunify_arena.benchmark.result_files import read_entries

    entries = [geu(k, "A", "the reasoning goes on at length " * 100 + "A") for k in range(300)]
    path = write(tmp_path / "GEU_direct.jsonl", entries)
    problems: list = []
    tracemalloc.start()
    try:
        read, places = read_entries(path, problems)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (read, places, problems) == (entries, [f"line {k + 1}" for k in range(300)], [])
    assert peak < 2 * path.stat().st_size, (peak, path.stat().st_size)


def test_jsonl_and_json_copies_import_with_the_same_digests(tmp_path, capsys):
    """A re-import is told apart by the entry's digest (``importing._digest``, kept in run_origins): the entries
    of a .jsonl file, read a line at a time, are the same dicts as those of the same entries as a .json list
    (read whole by json), so both give the same digest, a re-import of either is "already imported"."""
    picture(tmp_path / "a" / "img" / "1.png")
    picture(tmp_path / "b" / "img" / "1.png")
    entries = [ueg(1, replies=["yes", "no"], image="img/1.png", note="é\u2028☃ " + "x" * 70_000),
               ueg(2, replies=["yes", "yes"], image="img/1.png", big=2**70, score=0)]
    lines = write(tmp_path / "a" / "UEG_direct.jsonl", entries)
    lines.write_bytes(b"\xef\xbb\xbf" + lines.read_bytes().replace(b"\n", b"\r\n"))
    write(tmp_path / "b" / "UEG_direct.json", entries)
    digests = []
    for folder in ("a", "b"):
        db = tmp_path / f"{folder}.db"
        assert main(["import-results", str(tmp_path / folder), "--model", "m", "--db", str(db)]) == 0
        capsys.readouterr()
        with sqlite3.connect(db) as conn:
            digests.append(conn.execute("SELECT digest, outputs_digest FROM run_origins ORDER BY run_id").fetchall())
    assert digests[0] == digests[1] and len(digests[0]) == 2


@pytest.mark.parametrize("text, said", [
    (lambda e: "".join(json.dumps(x, indent=2) + "\n" for x in e),
     "GEU_direct.jsonl: 2 JSON objects one after another, not one a line: the first spans lines 1-14 (as "
     "json.dump(entry, f, indent=...) writes one); expected one entry object a line (json.dumps(entry), no indent)"),
    (lambda e: "".join(json.dumps(x, indent=4) for x in e),  # no line break between them either
     "GEU_direct.jsonl: 2 JSON objects one after another, not one a line: the first spans lines 1-14 (as "
     "json.dump(entry, f, indent=...) writes one); expected one entry object a line (json.dumps(entry), no indent)"),
    (lambda e: " ".join(json.dumps(x) for x in e) + "\n",
     "GEU_direct.jsonl: 2 JSON objects one after another, not one a line: line 1 holds 2 of them; expected one "
     "entry object a line (json.dumps(entry), no indent)"),
    (lambda e: json.dumps(e) + "\n",  # a list on one line is no list "over several lines"
     "GEU_direct.jsonl: a JSON list, not one entry object a line; a list of entries is read from a .json file: "
     "rename it GEU_direct.json"),
], ids=["pretty-objects", "pretty-objects-unseparated", "two-on-a-line", "list-on-one-line"])
def test_a_jsonl_file_of_entries_not_one_a_line_is_told_so_once(text, said, tmp_path, capsys):
    """A runner that appends ``json.dump(entry, f, indent=2)`` for each entry writes a .jsonl whose entries span
    several lines each: before, every line of it was a problem of its own (28 for two entries, "line 2: invalid
    JSON at column 10: Extra data", ...), none saying what the file is, as the single pretty-printed object was
    before it was told so once (the test above). Counted by hand: ``geu``'s entry written with indent=2 or 4 is 14
    lines (7 keys, ``option``'s 4 items on lines of their own)."""
    folder = tmp_path / "res"
    folder.mkdir()
    entries = [geu(1, "A", "A"), geu(2, "B", "C")]
    assert json.dumps(entries[0], indent=2).count("\n") + 1 == 14
    (folder / "GEU_direct.jsonl").write_text(text(entries), encoding="utf-8")
    for command in (["score-official", str(folder)],
                    ["import-results", str(folder), "--model", "m", "--db", str(tmp_path / "a.db")]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert err.count("GEU_direct.jsonl") == 1 and said in err and "Traceback" not in err, err
    # a typo on the first line of an otherwise good file is no such file: each line is named as before
    (folder / "GEU_direct.jsonl").write_text('{"index": 1,, }\n' + "".join(json.dumps(e) + "\n" for e in entries),
                                             encoding="utf-8")
    assert main(["score-official", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "GEU_direct.jsonl, line 1: invalid JSON at column 13" in err and "one after another" not in err, err
    # nor is a first line whose object writes a key twice, each entry on its own line
    (folder / "GEU_direct.jsonl").write_text('{"index": 1, "index": 1}\n' + "".join(json.dumps(e) + "\n" for e in entries),
                                             encoding="utf-8")
    assert main(["score-official", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "GEU_direct.jsonl, line 1: key 'index' appears twice" in err and "Traceback" not in err, err


def test_a_jsonl_file_written_by_pandas_to_json_is_told_its_layout_once(tmp_path, capsys):
    """``pd.DataFrame(entries).to_json(path)`` writes, by default, one object of columns on one line
    (``{"index": {"0": 1, "1": 2}, ...}``): before, that line was read as one entry and each of its fields was a
    problem of its own ("field 'index' ...", "field 'task_type' ..."), none saying what the file is, while the votes
    reader named this layout. Now one problem says it and how pandas writes one entry a line (``orient='records',
    lines=True``, checked below to be read)."""
    import pandas as pd

    folder = tmp_path / "res"
    folder.mkdir()
    frame = pd.DataFrame([geu(1, "A", "A"), geu(2, "B", "C")])
    frame.to_json(folder / "GEU_direct.jsonl")
    for command in (["score-official", str(folder)],
                    ["import-results", str(folder), "--model", "m", "--db", str(tmp_path / "a.db")]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert err.count("GEU_direct.jsonl") == 1 and "Traceback" not in err, err
        assert ("GEU_direct.jsonl: one JSON object of columns (pandas' DataFrame.to_json() default layout); write it "
                "with to_json(orient='records') as a JSON list, or to_json(orient='records', lines=True) one object "
                "a line; expected one entry object a line") in err, err
    frame.to_json(folder / "GEU_direct.jsonl", orient="records", lines=True)  # as the message says
    assert main(["score-official", str(folder)]) == 0, capsys.readouterr().err


def test_a_json_result_file_written_by_pandas_to_json_names_its_layout(tmp_path, capsys):
    """The .json sibling of the case above: ``DataFrame.to_json()``'s object of columns was "expected a JSON list of
    entries, got dict", not saying that pandas wrote it so or how it writes a list."""
    import pandas as pd

    folder = tmp_path / "res"
    folder.mkdir()
    frame = pd.DataFrame([geu(1, "A", "A"), geu(2, "B", "C")])
    frame.to_json(folder / "GEU_direct.json")
    assert main(["score-official", str(folder)]) == 1
    err = capsys.readouterr().err
    assert ("GEU_direct.json: one JSON object of columns (pandas' DataFrame.to_json() default layout); write it with "
            "to_json(orient='records') as a JSON list") in err and "Traceback" not in err, err
    frame.to_json(folder / "GEU_direct.json", orient="records")  # as the message says
    assert main(["score-official", str(folder)]) == 0, capsys.readouterr().err


def test_geu_replies_cut_while_thinking_are_counted_by_score_official_and_report(tmp_path, capsys):
    """A third-party runner's GEU replies cut at their token limit inside ``<think>``: the official letter is read
    from the unfinished thoughts (kept: issue 16), and both commands now say how many such answers a system has
    (by hand: 2 of the 3 replies open a reasoning block they never close)."""
    folder = tmp_path / "res"
    folder.mkdir()
    entries = [geu(1, "B", "<think>The answer is B because"), geu(2, "A", "<think>Maybe C, or"),
               geu(3, "A", "<think>C is wrong</think>A")]
    write(folder / "GEU_direct.json", entries)
    assert main(["score-official", str(folder)]) == 0
    err = capsys.readouterr().err
    assert f"note: {folder}: res:direct: 2 of 3 GEU answers cut while the model was still reasoning" in err, err
    db = tmp_path / "a.db"
    assert main(["import-results", str(folder), "--model", "m", "--db", str(db)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "reports")]) == 0
    assert ": m:direct: 2 of 3 GEU answers cut while the model was still reasoning" in capsys.readouterr().err


def test_many_objects_on_one_line_are_told_so_in_memory_that_follows_the_largest(tmp_path):
    """A .jsonl line of 200,000 ``{}`` (400 KB) one after another: its diagnosis ("line 1 holds 200000 of them",
    counted by hand from how the file was written) kept each object's place and line, about 100 times the file
    (a 40 MB file of them took 4.2 GB); now what is held follows the text, read whole within the data-file limit.
    The result-file reader and the votes reader share the diagnosis (``json_layout``)."""
    import tracemalloc

    from realunify_arena.benchmark.result_files import read_entries
    from realunify_arena.vote_files import VotesFileError, read_votes

    path = tmp_path / "GEU_direct.jsonl"
    path.write_text("{}" * 200_000 + "\n", encoding="utf-8")
    said = "200000 JSON objects one after another, not one a line: line 1 holds 200000 of them"
    problems: list = []
    tracemalloc.start()
    try:
        entries, _ = read_entries(path, problems)
        with pytest.raises(VotesFileError) as refused:
            read_votes(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert entries == [] and [said in p.message for p in problems] == [True], problems
    assert said in str(refused.value)
    assert peak < 10 * path.stat().st_size, (peak, path.stat().st_size)
