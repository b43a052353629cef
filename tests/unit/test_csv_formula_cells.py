"""Every CSV the commands write keeps a name that starts like a spreadsheet formula as text.

A dataset is named after the folder its results came from (``import-results``: a third-party runner's folder), and
``--judge-name`` is free text, so ``=HYPERLINK("x","y")`` or ``@SUM(1)`` can reach ``report.csv``,
``judges.csv``, ``paired.csv``, ``score-official --csv`` and ``export votes --format csv``; a spreadsheet opening the
file runs such a cell as a formula. ``leaderboard --format csv`` already kept its names as text; the other writers did
not (hunt27f). The rule, written here from OWASP's "CSV Injection" page: a cell starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return is prefixed with an apostrophe, which spreadsheets show as text and do not run.
A number (a negative Δ) is not text and stays a number; JSON keeps every name exactly.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from PIL import Image

from realunify_arena.arena import Arena
from realunify_arena.benchmark import load
from realunify_arena.cli import main
from realunify_arena.store import Store

FORMULA = '=HYPERLINK("x","y")'  # the folder, so the dataset, of the imported results
JUDGES = ("=1+1", "@SUM(1)")
_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


def _runs_as(cell: str) -> bool:
    """Whether a spreadsheet reads ``cell`` as a formula (OWASP's list of starting characters); a plain number or a
    lone ``-`` (no value) is no formula."""
    return cell[:1] in ("=", "+", "-", "@", "\t", "\r") and cell != "-" and not _NUMBER.fullmatch(cell)


def _formula_cells(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as f:
        return [cell for row in csv.reader(f) for cell in row if _runs_as(cell)]


def _results(folder: Path, instances, reply) -> Path:
    """UEG_direct.json and UEG_step.json of one image per instance, ``reply(question, stem)`` the judge's reply."""
    folder.mkdir(parents=True)
    Image.new("RGB", (16, 12), (10, 120, 200)).save(folder / "out.png")
    for stem in ("UEG_direct", "UEG_step"):
        entries = [{"index": i.index, "task_type": i.task_type, "prompt": i.prompt,
                    "question_list": [{"question": q.question, "answer": q.answer, "judge_answer": reply(q, stem)}
                                      for q in i.question_list],
                    "generated_image": "out.png"} for i in instances]
        (folder / f"{stem}.json").write_text(json.dumps(entries), encoding="utf-8")
    return folder


def test_names_starting_like_a_formula_are_text_in_every_csv_and_exact_in_the_json(tmp_path, capsys, monkeypatch):
    instances = [i for i in load("bundled").instances if i.track == "UEG"][:6]
    first = _results(tmp_path / "one" / FORMULA, instances, lambda q, stem: q.answer if stem == "UEG_direct" else "no")
    second = _results(tmp_path / "two" / FORMULA, instances, lambda q, stem: "yes")
    db = tmp_path / "s.db"
    for folder, judge in ((first, JUDGES[0]), (second, JUDGES[1])):
        assert main(["import-results", str(folder), "--model", "bagel", "--judge-name", judge, "--db", str(db)]) == 0
    store = Store.open(db)
    arena = Arena(store, max_votes=100)
    direct, step = ({r["mode"]: r["id"] for r in store.runs() if r["instance_uid"] == instances[0].uid}[m]
                    for m in ("direct", "stepwise"))
    battle = arena.new_battle("s1", "hf:rater", instances[0].uid, FORMULA, "bagel:direct", "bagel:stepwise",
                              "direct_vs_stepwise")
    arena.deliver(battle, "s1", "A", direct)
    arena.deliver(battle, "s1", "B", step)
    arena.vote(battle, "s1", "hf:rater", "A")
    store.close()
    capsys.readouterr()

    out = tmp_path / "reports"
    assert main(["report", "--db", str(db), "--judge", JUDGES[0], "--out", str(out)]) == 0
    assert main(["report", "--db", str(db), "--judge", JUDGES[0], "--paired", "--judges", ",".join(JUDGES),
                 "--out", str(out)]) == 0
    monkeypatch.chdir(first.parent)  # the folder named as given: the dataset of its scores
    assert main(["score-official", FORMULA, "--csv", str(tmp_path / "scored.csv")]) == 0
    assert main(["export", "votes", "--format", "csv", "--out", str(tmp_path / "votes.csv"), "--db", str(db)]) == 0
    written = [out / "report.csv", out / "paired.csv", out / "judges.csv", tmp_path / "scored.csv",
               tmp_path / "votes.csv"]
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert "'" + FORMULA.replace('"', '""') in text, path.name  # the dataset is there, as text
        assert _formula_cells(path) == [], path.name
    judges_csv = {cell for row in csv.reader(io.StringIO((out / "judges.csv").read_text())) for cell in row}
    assert {"'" + j for j in JUDGES} <= judges_csv
    paired_rows = list(csv.DictReader(io.StringIO((out / "paired.csv").read_text())))
    assert any(r["delta"] and float(r["delta"]) < 0 for r in paired_rows)  # a negative Δ stays a number

    # JSON keeps the names exactly
    (report,) = json.loads((out / "report.json").read_text())
    assert report["dataset"] == FORMULA and report["judge"] == JUDGES[0]
    judges_json = json.loads((out / "judges.json").read_text())
    assert {(r["judge_a"], r["judge_b"]) for r in judges_json[0]["agreement"]} == {JUDGES}
    # the export is still read back as the votes it holds
    capsys.readouterr()
    assert main(["leaderboard", "--votes", str(tmp_path / "votes.csv"), "--format", "json", "--min-votes", "0"]) == 0
    boards = json.loads(capsys.readouterr().out)
    assert {r["system"] for b in boards for r in b["rows"]} == {"bagel:direct", "bagel:stepwise"}


def test_counts_and_names_a_spreadsheet_would_read_as_dates_or_numbers_stay_numbers_and_text(tmp_path, capsys,
                                                                                              monkeypatch):
    """``report.csv`` wrote each category's count as "correct/scored" ("2/3"), which Excel and LibreOffice read as a
    date (the 2nd of March) on opening the file; a dataset named after a folder named for its date (``2024-06-01``)
    or a model named ``1e5`` became a date or 100000. By hand: replies B, B, A to three questions answered B: MT 2
    correct of 3 scored, written as the numbers 2 and 3; the names get the leading apostrophe a formula gets."""
    folder = tmp_path / "2024-06-01"
    folder.mkdir()
    entries = [{"index": i, "task_type": "mental_tracking", "input_image": "./image/x.png", "question": "Which?",
                "option": ["1", "2", "3", "4"], "answer": "B", "response": reply} for i, reply in enumerate("BBA")]
    (folder / "GEU_direct.json").write_text(json.dumps(entries))
    monkeypatch.chdir(tmp_path)  # the folder named as given: the dataset of its scores
    for model in ("1e5", "3-4"):
        assert main(["score-official", "2024-06-01", "--model", model, "--csv", str(tmp_path / "s.csv")]) == 0
        (row,) = list(csv.DictReader(io.StringIO((tmp_path / "s.csv").read_text(encoding="utf-8"))))
        assert (row["dataset"], row["model"]) == ("'2024-06-01", "'" + model), row
        assert (row["MT correct"], row["MT scored"]) == ("2", "3"), row
        assert not any(re.fullmatch(r"\d+/\d+", cell) for cell in row.values()), row
    (table,) = json.loads(_json_of(tmp_path, capsys))
    assert table["systems"][0]["n MT"] == "2/3" and table["dataset"] == "2024-06-01"  # JSON keeps both as written


def _json_of(tmp_path: Path, capsys) -> str:
    out = tmp_path / "s.json"
    assert main(["score-official", "2024-06-01", "--model", "m", "--json", str(out)]) == 0, capsys.readouterr().err
    return out.read_text(encoding="utf-8")


def test_model_names_a_spreadsheet_would_read_as_values_are_text_in_the_boards_csv(tmp_path, capsys):
    """FastChat rates model names as written, so ``1e5``, ``3-4`` and ``12:30`` are three models; the board's CSV
    wrote them bare (100000, the 3rd of April, a time of day in a spreadsheet). ``gpt-4o`` is no value and stays
    as written."""
    names = ("1e5", "3-4", "12:30", "gpt-4o")
    battles = [{"model_a": a, "model_b": b, "winner": "model_a"} for a in names for b in names if a != b]
    path = tmp_path / "battles.json"
    path.write_text(json.dumps(battles))
    assert main(["leaderboard", "--votes", str(path), "--track", "UEG", "--kind", "model_vs_model", "--rounds", "0",
                 "--min-votes", "0", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sorted(r["system"] for r in rows) == sorted(["'1e5", "'3-4", "'12:30", "gpt-4o"])


def test_a_voter_hash_a_spreadsheet_would_read_as_a_number_is_text_in_the_votes_csv(tmp_path, capsys):
    """``voter_hash`` is 16 hex digits; about one voter in 700 gets one of decimal digits only, or with one ``e``
    ("1234e56789012345": 1.234E+56789012345 overflows, "1234567890123456" loses its last digit as a number), which a
    spreadsheet reads as a number, merging or mangling voters. Such a hash is written as text."""
    instances = [i for i in load("bundled").instances if i.track == "UEG"][:1]
    folder = _results(tmp_path / "runs", instances, lambda q, stem: q.answer)
    db = tmp_path / "s.db"
    assert main(["import-results", str(folder), "--model", "bagel", "--db", str(db)]) == 0
    store = Store.open(db)
    arena = Arena(store, max_votes=100)
    voter = next(v for v in (f"hf:voter{i}" for i in range(200_000))
                 if re.fullmatch(r"\d+(e\d+)?", arena.voter_hash(v)))  # the spreadsheet's number, by hand
    runs = {r["mode"]: r["id"] for r in store.runs()}
    battle = arena.new_battle("s1", voter, instances[0].uid, "runs", "bagel:direct", "bagel:stepwise",
                              "direct_vs_stepwise")
    arena.deliver(battle, "s1", "A", runs["direct"])
    arena.deliver(battle, "s1", "B", runs["stepwise"])
    arena.vote(battle, "s1", voter, "A")
    hashed = arena.voter_hash(voter)
    store.close()
    assert main(["export", "votes", "--format", "csv", "--out", str(tmp_path / "votes.csv"), "--db", str(db)]) == 0
    (row,) = list(csv.DictReader(io.StringIO((tmp_path / "votes.csv").read_text(encoding="utf-8"))))
    assert row["voter_hash"] == "'" + hashed, row


def test_times_of_day_with_am_or_pm_and_error_values_are_text_and_model_names_are_not_touched():
    """A spreadsheet's CSV import reads "12:30 PM" and "3 pm" as times of day and "#N/A" or "#DIV/0!" as error
    values (verify29b); names such as these models' stay as written."""
    from realunify_arena.spreadsheet import spreadsheet_safe

    for value in ("12:30 PM", "3 pm", "11:05:09 a.m.", "#N/A", "#DIV/0!", "#name?"):
        assert spreadsheet_safe(value) == "'" + value, value
    for name in ("sd-3.5", "v1.2", "qwen2.5-vl-7b", "flux.1-dev", "janus-pro-1b", "3.5-large", "SDXL 1.0", "pm-7b",
                 "am4", "#1 model"):
        assert spreadsheet_safe(name) == name, name
