"""End to end on CPU: ``eval`` with tiny real models on a slice of the bundled set (one instance per
category, both modes, both tracks), then ``report``, ``export runs`` and ``score-official`` on the export,
all against one real SQLite store."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from realunify_arena import protocols
from realunify_arena.benchmark import load
from realunify_arena.cli import main
from realunify_arena.judge import ANSWER_PARSER, HUMAN, HumanJudge, judge_trace, stored_images
from realunify_arena.store import Store
from realunify_arena.trace import Status

pytestmark = pytest.mark.slow
JUDGE = "tiny-pair"


def eval_args(db: Path, model: str, *extra: str, data: str = "bundled") -> list[str]:
    return ["eval", "--model", model, "--data", data, "--track", "all", "--mode", "both", "--judge", JUDGE,
            "--limit", "1", "--judge-attempts", "2", "--db", str(db), "--no-progress", *extra]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """tiny-pair on ten bundled instances (one per category), both modes; tiny-janus, which cannot edit,
    on the GEU ones; one store."""
    db = tmp_path_factory.mktemp("e2e") / "store" / "arena.db"
    assert main(eval_args(db, "tiny-pair")) == 0
    assert main(eval_args(db, "tiny-janus", "--track", "GEU")) == 0
    return db


def cells(markdown: str, model: str) -> dict[str, str]:
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    row = next(line for line in lines[2:] if line.split("|")[1].strip() == model)
    return dict(zip(header, (c.strip() for c in row.strip("|").split("|"))))


def test_every_run_trace_image_and_judgment_is_stored(evaluated):
    db = evaluated
    store = Store.open(db)
    runs = store.runs()
    assert len(runs) == 10 * 2 + 4 * 2  # (ten + four GEU instances) x two modes
    by_status = {(r["model"], r["track"], r["mode"]): r["status"] for r in runs}
    assert by_status[("tiny-janus", "GEU", "stepwise")] == "not_supported"  # Janus cannot edit: the paper's "-"
    assert by_status[("tiny-pair", "GEU", "stepwise")] == "ok"
    assert all(r["status"] == "ok" for r in runs if (r["model"], r["track"], r["mode"]) != ("tiny-janus", "GEU", "stepwise"))

    instances = {i.uid: i for i in load("bundled").instances}
    for run in store.runs(status="ok"):
        trace = store.load_trace(run["id"])
        for step in trace.steps:
            if step.image_sha:
                assert store.image_path(step.image_sha).is_file()
                assert isinstance(store.get_image(step.image_sha), Image.Image)
        judgment = store.find_judgment(run["id"], JUDGE if run["track"] == "UEG" else ANSWER_PARSER)
        assert judgment is not None, run
        if run["track"] == "UEG":
            questions = judgment["details"]["questions"]
            assert [q["question"] for q in questions] == [q.question for q in instances[run["instance_uid"]].question_list]
            assert all(1 <= len(q["replies"]) <= 2 for q in questions)  # --judge-attempts 2
            assert all(len(q["replies"]) == 2 for q in questions if q["verdict"] is None)
            assert judgment["errors"] == sum(q["verdict"] is None for q in questions)
        else:
            assert judgment["kind"] == "mcq" and judgment["details"]["reply"] == trace.final.text
    assert not any(j["run_id"] in {r["id"] for r in store.runs(status="not_supported")} for j in store.judgments())
    store.close()


def test_rerunning_skips_everything_stored(evaluated, capsys):
    db = evaluated
    before = [r["id"] for r in Store.open(db).runs()]
    assert main(eval_args(db, "tiny-pair")) == 0
    out = capsys.readouterr().out
    assert "runs: 0 computed (none), 20 already stored" in out
    assert "judgments: 0 made" in out
    assert [r["id"] for r in Store.open(db).runs()] == before


def test_an_interrupted_eval_keeps_what_finished_and_resumes(tmp_path, monkeypatch, capsys):
    db = tmp_path / "arena.db"
    real_run, calls = protocols.run_stream, []

    def interrupted(*args, **kwargs):
        calls.append(args)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_run(*args, **kwargs)

    monkeypatch.setattr(protocols, "run_stream", interrupted)
    assert main(eval_args(db, "tiny-pair", "--track", "GEU", "--mode", "direct")) == 130
    assert "rerun the same command to resume" in capsys.readouterr().err
    kept = Store.open(db).runs()
    assert len(kept) == 3
    monkeypatch.setattr(protocols, "run_stream", real_run)
    assert main(eval_args(db, "tiny-pair", "--track", "GEU", "--mode", "direct")) == 0
    assert "runs: 1 computed (1 ok), 3 already stored" in capsys.readouterr().out
    assert [r["id"] for r in Store.open(db).runs()][:3] == [r["id"] for r in kept]


def test_report_prints_the_stored_scores_and_writes_csv_json_and_plot(evaluated, capsys, tmp_path):
    db = evaluated
    assert main(["report", "--db", str(db), "--out", str(tmp_path), "--plot", str(tmp_path / "bars.png")]) == 0
    out = capsys.readouterr().out
    pair, janus = cells(out, "tiny-pair"), cells(out, "tiny-janus")

    # Each category holds one instance: its cell is 100.0 or 0.0 as the stored judgment says, or "-".
    store = Store.open(db)
    for model, row, columns in (("tiny-pair", pair, {"world_knowledge": "WK", "mental_tracking": "MT"}),
                                ("tiny-janus", janus, {"mental_tracking": "MT"})):
        for task, abbr in columns.items():
            expected = []
            for mode in ("direct", "stepwise"):
                (run,) = [r for r in store.runs(model=model, mode=mode) if r["task_type"] == task]
                judgment = store.find_judgment(run["id"], JUDGE if task == "world_knowledge" else ANSWER_PARSER)
                score = judgment["score"] if judgment else None
                expected.append("-" if score is None else f"{100 * score}.0")
            assert row[abbr] == "/".join(expected), (model, abbr)
    assert janus["GEU"].endswith("/-") and janus["Total"] == "-/-" and janus["UEG"] == "-/-"
    assert "Δ tiny-pair" in out

    with (tmp_path / "report.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {(r["model"], r["mode"]) for r in rows} == {(m, mode) for m in ("tiny-pair", "tiny-janus")
                                                        for mode in ("direct", "stepwise")}
    assert next(r for r in rows if r["model"] == "tiny-pair" and r["mode"] == "direct")["WK"] == pair["WK"].split("/")[0]
    (table,) = json.loads((tmp_path / "report.json").read_text())
    assert table["dataset"] == "bundled" and table["judge"] == JUDGE and len(table["systems"]) == 4
    with Image.open(tmp_path / "bars.png") as png:
        assert png.size[0] > 500


def test_export_writes_official_files_that_score_official_reads_back_the_same(evaluated, capsys, tmp_path):
    db = evaluated
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "r")]) == 0
    reported = capsys.readouterr().out
    assert main(["export", "runs", "--format", "official", "--out", str(tmp_path), "--db", str(db),
                 "--judge", JUDGE]) == 0
    capsys.readouterr()
    folder = tmp_path / "bundled" / "tiny-pair"
    ueg_step = json.loads((folder / "UEG_step.json").read_text())
    geu_step = json.loads((folder / "GEU_step.json").read_text())
    assert len(ueg_step) == 6 and len(geu_step) == 4
    for entry in ueg_step:
        assert (folder / entry["generated_image"]).is_file() and isinstance(entry["response"], str)
        assert all("judge_answer" in q for q in entry["question_list"])
    for entry in geu_step:
        assert (folder / entry["edit_image"]).is_file() and isinstance(entry["response"], str)
    # Janus cannot edit: no GEU stepwise entry at all (an entry without `response` crashes the official
    # understanding scorer), while its direct file carries a `response` in every entry.
    janus = tmp_path / "bundled" / "tiny-janus"
    assert not (janus / "GEU_step.json").exists()
    assert all(isinstance(e["response"], str) for e in json.loads((janus / "GEU_direct.json").read_text()))
    for entry in ueg_step:  # absolute paths: found from any working directory
        assert Path(entry["generated_image"]).is_absolute()

    # The exported folder, scored by the official-format scorer, reprints the stored table's row.
    assert main(["score-official", str(folder), "--model", "tiny-pair"]) == 0
    rescored = cells(capsys.readouterr().out, "tiny-pair")
    stored = cells(reported, "tiny-pair")
    for column in ("WK", "CR", "MR-I", "LR", "SR", "C2I", "UEG", "MR-II", "MT", "AF", "CN", "GEU", "Total",
                   "GEU strict", "Q-acc", "judge err", "run err"):
        assert rescored[column] == stored[column], column


def test_bad_arguments_are_refused_with_the_reason(evaluated, capsys, tmp_path):
    db = evaluated
    assert main(eval_args(db, "no-such-card")) == 2
    assert "--model 'no-such-card': no such model card; known:" in capsys.readouterr().err
    assert main(["eval", "--model", "tiny-pair", "--judge", "human", "--db", str(db)]) == 2
    assert "human judgments are entered in the app" in capsys.readouterr().err
    assert main(eval_args(db, "tiny-pair", data=str(tmp_path / "missing"))) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["report", "--db", str(tmp_path / "none.db")]) == 2
    assert "no database at" in capsys.readouterr().err


def test_human_judgments_of_stored_runs_give_their_own_table(evaluated, capsys, tmp_path):
    """Answers entered by a person (as the app stores them) score the same runs under judge "human"."""
    db = evaluated
    store = Store.open(db)
    instances = {i.uid: i for i in load("bundled").instances}
    right = {"world_knowledge", "commonsense_reasoning"}  # the person agrees with every expected answer here
    for run in store.runs(model="tiny-pair", track="UEG"):
        instance = instances[run["instance_uid"]]
        answers = {q.question: q.answer if run["task_type"] in right else ("no" if q.answer == "yes" else "yes")
                   for q in instance.question_list}
        judgment = judge_trace(store.load_trace(run["id"]), instance, HumanJudge(answers), stored_images(store))
        store.save_judgment(run["id"], HUMAN, judgment.to_dict())
    store.close()
    assert main(["report", "--db", str(db), "--judge", HUMAN, "--out", str(tmp_path)]) == 0
    row = cells(capsys.readouterr().out, "tiny-pair")
    assert (row["WK"], row["CR"], row["MR-I"], row["C2I"]) == ("100.0/100.0", "100.0/100.0", "0.0/0.0", "0.0/0.0")
    assert row["UEG"] == "33.3/33.3" and row["judge err"] == "0/0"


def test_failed_runs_count_as_wrong_until_retried(tmp_path, monkeypatch, capsys):
    db = tmp_path / "arena.db"
    real_run = protocols.run_stream

    def out_of_memory_once(instance, adapter, mode, options):
        *_, trace = real_run(instance, adapter, mode, options)
        if instance.task_type == "mental_tracking":
            trace.steps, trace.status, trace.error = [], Status.ERROR, "OutOfMemoryError: CUDA out of memory"
        yield trace

    monkeypatch.setattr(protocols, "run_stream", out_of_memory_once)
    args = eval_args(db, "tiny-pair", "--track", "GEU", "--mode", "direct")
    assert main(args) == 0
    assert "runs: 4 computed (1 error, 3 ok)" in capsys.readouterr().out
    monkeypatch.setattr(protocols, "run_stream", real_run)
    assert main(["report", "--db", str(db), "--out", str(tmp_path)]) == 0
    row = cells(capsys.readouterr().out, "tiny-pair")
    assert (row["MT"], row["run err"]) == ("0.0/-", "1/-")

    assert main(args) == 0
    assert "runs: 0 computed (none), 4 already stored" in capsys.readouterr().out
    assert main([*args, "--retry-errors"]) == 0
    assert "runs: 1 computed (1 ok), 3 already stored" in capsys.readouterr().out
    assert [r["status"] for r in Store.open(db).runs()] == ["ok"] * 4
