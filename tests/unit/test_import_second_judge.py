"""``import-results`` of a second judge's replies on runs already imported: the published outputs of one model
judged by two judges (RealUnify's Table 4: Gemini 2.5 Pro, Qwen2.5-VL and people on BAGEL's UEG runs) arrive as
two result files whose runs are the same and whose ``judge_answer`` replies differ. Importing the second under
its own ``--judge-name`` adds that judge's judgments to the runs stored, so ``report --judges`` can compare the
two; it neither refuses the runs as changed nor (with ``--replace``) drops the first judge's judgments.

Expected agreement figures come from the replies the test writes, counted by hand in the test and Cohen's κ
computed from its definition (Cohen 1960: κ = (p_o − p_e) / (1 − p_e))."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from PIL import Image

from realunify_arena.agreement import compare_judges
from realunify_arena.benchmark import load
from realunify_arena.cli import main
from realunify_arena.store import Store


def _folder(root: Path, instances, replies) -> Path:
    """A UEG_direct.json result folder: each instance's run is the same image; ``replies(k, j, q)`` the
    judge's reply to polling question j of instance k."""
    root.mkdir()
    Image.new("RGB", (16, 12), (10, 120, 200)).save(root / "out.png")
    entries = []
    for k, inst in enumerate(instances):
        entries.append({"index": inst.index, "task_type": inst.task_type, "prompt": inst.prompt,
                        "question_list": [{"question": q.question, "answer": q.answer,
                                           "judge_answer": replies(k, j, q)}
                                          for j, q in enumerate(inst.question_list)],
                        "generated_image": "out.png"})
    (root / "UEG_direct.json").write_text(json.dumps(entries), encoding="utf-8")
    return root


def _kappa(pairs: list[tuple[str, str]]) -> float:
    n = len(pairs)
    p_o = sum(a == b for a, b in pairs) / n
    p_e = sum((sum(a == v for a, _ in pairs) / n) * (sum(b == v for _, b in pairs) / n) for v in ("yes", "no"))
    return (p_o - p_e) / (1 - p_e)


def test_a_second_judges_replies_on_the_same_runs_are_added(tmp_path, capsys):
    instances = [i for i in load("bundled").instances if i.track == "UEG"][:6]
    first = _folder(tmp_path / "gemini", instances, lambda k, j, q: q.answer)  # always the expected answer
    # the second judge says "yes" throughout: it agrees wherever the expected answer is yes
    second = _folder(tmp_path / "qwen", instances, lambda k, j, q: "yes")
    db = tmp_path / "s.db"
    assert main(["import-results", str(first), "--model", "bagel-pub", "--data", "bundled",
                 "--judge-name", "gem", "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["import-results", str(second), "--model", "bagel-pub", "--data", "bundled",
                 "--judge-name", "qwen", "--db", str(db)]) == 0, capsys.readouterr()
    said = capsys.readouterr().out
    assert "0 runs imported" in said and "0 replaced" in said

    pairs = [(q.answer, "yes") for inst in instances for q in inst.question_list]
    store = Store.open(db)
    assert len(store.runs()) == len(instances)  # no run added or replaced
    (comparison,) = compare_judges(store, ["gem", "qwen"])
    store.close()
    overall = next(r for r in comparison.agreement if r.scope == "all")
    assert overall.questions == len(pairs)
    assert abs(overall.question_agreement - sum(a == b for a, b in pairs) / len(pairs)) < 1e-12
    assert abs(overall.question_kappa - _kappa(pairs)) < 1e-9

    # importing either folder again changes nothing; the second judge's replies, changed, need --replace
    for folder, judge in ((first, "gem"), (second, "qwen")):
        assert main(["import-results", str(folder), "--model", "bagel-pub", "--data", "bundled",
                     "--judge-name", judge, "--db", str(db)]) == 0
        assert f"0 runs imported, {len(instances)} unchanged, 0 replaced" in capsys.readouterr().out
    changed = _folder(tmp_path / "qwen2", instances, lambda k, j, q: "no")
    assert main(["import-results", str(changed), "--model", "bagel-pub", "--data", "bundled",
                 "--judge-name", "qwen", "--db", str(db)]) == 1
    assert "pass --replace" in capsys.readouterr().err
    store = Store.open(db)
    assert {j["judge"] for j in store.judgments()} == {"gem", "qwen"}
    assert all(j["details"]["questions"][0]["verdict"] == "yes"
               for j in store.judgments("qwen"))  # the refused import wrote nothing
    store.close()



def _same_runs(root: Path, instances, *, image: str, judged: bool, score: bool) -> Path:
    """A UEG_direct.json whose entries name ``image`` (no such file here, or "" for none kept): with ``judged``
    each polling question carries the expected answer as its ``judge_answer``, with ``score`` the entry carries
    its per-item score 1."""
    root.mkdir()
    entries = []
    for inst in instances:
        entry = {"index": inst.index, "task_type": inst.task_type, "prompt": inst.prompt,
                 "question_list": [{"question": q.question, "answer": q.answer,
                                    **({"judge_answer": q.answer} if judged else {})}
                                   for q in inst.question_list],
                 "generated_image": image}
        if score:
            entry["score"] = 1
        entries.append(entry)
    (root / "UEG_direct.json").write_text(json.dumps(entries), encoding="utf-8")
    return root


@pytest.mark.parametrize("image, first, second", [
    # hunt26e: gem's file has an empty generated_image and no score: by the official rule 2 failed runs (scored
    # 0). qwen's file of the same entries adds the per-item score 1 (judged on an image not kept: ok runs). The
    # outputs digest left the score out, so qwen's judgments (score 1) were added to the two stored *failed*
    # runs, the summary said "runs 2 ok", and `report --judge qwen` gave WK 0.0 where score-official of the
    # same folder gives 100.0.
    ("", {"judged": True, "score": False}, {"judged": True, "score": True}),
    # a sibling: an image not here, unjudged in the first file (a failed run: the official scorer cannot open
    # it), judged in the second (its replies decide, the image not kept)
    ("gone.png", {"judged": False, "score": False}, {"judged": True, "score": False}),
])
def test_a_second_file_that_makes_a_failed_run_a_judged_one_is_a_changed_run(tmp_path, capsys, image, first, second):
    instances = [i for i in load("bundled").instances if i.track == "UEG"][:2]
    first = _same_runs(tmp_path / "gemini", instances, image=image, **first)
    second = _same_runs(tmp_path / "qwen", instances, image=image, **second)
    db = tmp_path / "s.db"
    assert main(["import-results", str(first), "--model", "bagel-pub", "--data", "bundled",
                 "--judge-name", "gem", "--db", str(db)]) == 0
    capsys.readouterr()
    store = Store.open(db)
    assert [run["status"] for run in store.runs()] == ["error", "error"]
    store.close()
    assert main(["import-results", str(second), "--model", "bagel-pub", "--data", "bundled",
                 "--judge-name", "qwen", "--db", str(db)]) == 1
    assert "changed since it was imported" in capsys.readouterr().err
    store = Store.open(db)
    assert [run["status"] for run in store.runs()] == ["error", "error"]
    assert store.judgments() == []  # no judgment of a run that failed
    store.close()


def test_replacing_a_judges_changed_replies_keeps_the_old_ones(tmp_path, capsys):
    # hunt26e: qwen's replies (all "yes") re-imported, changed (all "no"), with --replace: qwen's old judgments
    # were deleted and kept nowhere (replaced_runs stayed empty), where a replaced run keeps its old judgments
    # there; and the summary said the runs were "given this import's judgments (another judge's replies)".
    instances = [i for i in load("bundled").instances if i.track == "UEG"][:2]
    db = tmp_path / "s.db"
    for name, judge, reply in (("gemini", "gem", None), ("qwen", "qwen", "yes"), ("qwen2", "qwen", "no")):
        folder = _folder(tmp_path / name, instances, (lambda k, j, q: q.answer) if reply is None
                         else (lambda k, j, q, reply=reply: reply))
        assert main(["import-results", str(folder), "--model", "bagel-pub", "--data", "bundled",
                     "--judge-name", judge, "--db", str(db), *(["--replace"] if name == "qwen2" else [])]) == 0
    said = capsys.readouterr().out
    assert ("2 runs imported before, unchanged, this import's judge's earlier judgments of them replaced "
            "(the old ones kept") in said
    store = Store.open(db)
    for run in store.runs():
        (now,) = [j for j in store.judgments("qwen") if j["run_id"] == run["id"]]
        assert {q["verdict"] for q in now["details"]["questions"]} == {"no"}
        assert [j for j in store.judgments("gem") if j["run_id"] == run["id"]]  # the other judge's stay
        (kept,) = store.replaced_runs(run["id"])
        assert [j["judge"] for j in kept["judgments"]] == ["qwen"]
        assert {q["verdict"] for q in json.loads(kept["judgments"][0]["details"])["questions"]} == {"yes"}
        assert kept["trace"] is not None and kept["status"] == "ok"
    store.close()


def test_merge_says_when_a_judge_judged_the_same_runs_otherwise(tmp_path, capsys):
    # hunt26e: two stores imported the same published runs, judged by "qwen" in both but with other replies (all
    # "yes" here, all "no" there). merge kept --db's qwen judgments (right: one judgment per judge and run) but
    # printed only "0 new runs, 1 new judgments"; the source's differing judgments were dropped without a word,
    # where a differing run is reported.
    instances = [i for i in load("bundled").instances if i.track == "UEG"][:2]
    yes = _folder(tmp_path / "yes", instances, lambda k, j, q: "yes")
    no = _folder(tmp_path / "no", instances, lambda k, j, q: "no")
    gem = _folder(tmp_path / "gem", instances, lambda k, j, q: q.answer)
    target, source = tmp_path / "t.db", tmp_path / "s.db"
    for folder, judge, db in ((yes, "qwen", target), (no, "qwen", source), (gem, "gem", source)):
        assert main(["import-results", str(folder), "--model", "bagel-pub", "--data", "bundled",
                     "--judge-name", judge, "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["merge", str(source), "--db", str(target)]) == 0
    said = capsys.readouterr().out
    assert "0 new runs, 2 new judgments" in said  # gem's, on the 2 runs
    assert "2 judgment(s) differ from the one --db holds for the same run and judge" in said
    store = Store.open(target)
    assert {q["verdict"] for j in store.judgments("qwen") for q in j["details"]["questions"]} == {"yes"}
    assert len(store.judgments("gem")) == 2
    store.close()


def test_runs_imported_before_outputs_digests_were_kept_take_a_second_judge(tmp_path, capsys):
    # hunt26e: a store whose runs were imported before m011 (b4a52f5's import-results: run_origins.outputs_digest
    # null, as m011 leaves every older row) refused qwen's file of gem's runs as "changed since it was imported;
    # pass --replace", and --replace drops gem's judgments from the table: the fault 888c877 fixed, still there
    # for every store made before it. Importing gem's file again (unchanged) now records its outputs digest, and
    # the refusal says so.
    instances = [i for i in load("bundled").instances if i.track == "UEG"][:2]
    first = _folder(tmp_path / "gemini", instances, lambda k, j, q: q.answer)
    second = _folder(tmp_path / "qwen", instances, lambda k, j, q: "yes")
    db = tmp_path / "s.db"
    common = ["--model", "bagel-pub", "--data", "bundled", "--db", str(db)]
    assert main(["import-results", str(first), "--judge-name", "gem", *common]) == 0
    store = Store.open(db)
    store.db.execute("update run_origins set outputs_digest = null")  # as m011 leaves the rows imported before it
    store.db.conn.commit()
    store.close()
    capsys.readouterr()
    assert main(["import-results", str(second), "--judge-name", "qwen", *common]) == 1
    said = capsys.readouterr().err
    assert "changed since it was imported" in said
    assert "import the file it was imported from again first" in said
    assert main(["import-results", str(first), "--judge-name", "gem", *common]) == 0
    assert "0 runs imported, 2 unchanged, 0 replaced" in capsys.readouterr().out
    assert main(["import-results", str(second), "--judge-name", "qwen", *common]) == 0
    assert "2 runs imported before, unchanged, given this import's judgments" in capsys.readouterr().out
    store = Store.open(db)
    assert sorted(j["judge"] for j in store.judgments()) == ["gem", "gem", "qwen", "qwen"]
    assert all(not store.replaced_runs(run["id"]) for run in store.runs())
    store.close()


def test_each_run_a_judge_judged_otherwise_gets_its_problem_line(tmp_path, capsys):
    # hunt26e: qwen's changed replies on 3 runs were refused with one line naming the first entry only (the
    # store's conflict, raised at the first); a changed run gets a line per entry (file, entry)
    instances = [i for i in load("bundled").instances if i.track == "UEG"][:3]
    db = tmp_path / "s.db"
    common = ["--model", "bagel-pub", "--data", "bundled", "--db", str(db)]
    for name, judge, reply in (("gemini", "gem", None), ("qwen", "qwen", "yes")):
        folder = _folder(tmp_path / name, instances, (lambda k, j, q: q.answer) if reply is None
                         else (lambda k, j, q: "yes"))
        assert main(["import-results", str(folder), "--judge-name", judge, *common]) == 0
    changed = _folder(tmp_path / "qwen2", instances, lambda k, j, q: "no")
    capsys.readouterr()
    assert main(["import-results", str(changed), "--judge-name", "qwen", *common]) == 1
    said = capsys.readouterr().err
    assert "3 problem(s); nothing was written" in said
    for inst in instances:
        assert (f"UEG_direct.json, index {inst.index} ({inst.task_type}): judge 'qwen' already judged this run "
                "otherwise;") in said
    assert said.count("pass --replace") == 3, said


def test_a_second_judges_file_under_the_same_judge_name_is_told_about_judge_name(tmp_path, capsys):
    """verify26a: the second judge's file imported without --judge-name (both under the default name
    'judge_answer') was told only "pass --replace to re-import its replies", which stores the second judge's
    replies in place of the first's under the first's name, so the two are never compared. The refusal names
    --judge-name too, for another judge's replies on the same runs."""
    instances = [i for i in load("bundled").instances if i.track == "UEG"][:2]
    first = _folder(tmp_path / "gemini", instances, lambda k, j, q: q.answer)
    second = _folder(tmp_path / "qwen", instances, lambda k, j, q: "yes" if q.answer == "no" else "no")
    db = tmp_path / "s.db"
    for folder, status in ((first, 0), (second, 1)):
        assert main(["import-results", str(folder), "--model", "bagel-pub", "--data", "bundled",
                     "--db", str(db)]) == status
    said = capsys.readouterr().err
    assert "judge 'judge_answer' already judged this run otherwise" in said, said
    assert "--judge-name" in said and "another judge" in said, said
