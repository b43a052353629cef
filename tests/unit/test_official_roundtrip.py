"""End to end on a folder shaped like the real release (step files without ``prompt``, images at
``./image/<task>/<subtask>/images/img_NNN.jpg``, indices repeating across task types): ``validate``, ``eval
--limit 1`` with tiny real models and a reasoning judge behind an OpenAI-compatible stand-in, ``report``,
``export --format official``, and the exported files scored by a reference implementation of the official
scripts (written here, from FrankYang-17/RealUnify ``eval/eval_understanding.py`` and
``eval/eval_generation.py``), run from another working directory: the same figures as ``report``."""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from pathlib import Path

import pytest
from PIL import Image

from realunify_arena import protocols
from realunify_arena.benchmark.prompts import edit_prompt, mcq_prompt, refine_prompt
from realunify_arena.benchmark.schema import CATEGORIES, GEU_TASKS, UEG_TASKS
from realunify_arena.cards import MODELS_DIR
from realunify_arena.cli import main
from realunify_arena.store import Store
from realunify_arena.trace import Status
from tests.stand_in import JSONHandler, serving

pytestmark = pytest.mark.slow
JUDGE = "thinking-judge"
CODE_PROMPT = "What does this print?\n\n```python\nx = 3\n\nprint('red' if x > 2 else 'blue')\n```\n\nDraw it."
OPTIONS = ["1", "2", "3", "4"]


class ThinkingJudge(JSONHandler):
    """A Qwen3-style judge served without a reasoning parser: a think block, then the verdict. It says yes to
    questions that mention something red, no otherwise."""

    def do_GET(self):
        self.reply(200, {"object": "list", "data": [{"id": JUDGE, "object": "model"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        text = next(part["text"] for part in body["messages"][-1]["content"] if part.get("type") == "text")
        question = text.split("Question: ", 1)[1].split("\n", 1)[0]
        reply = "<think>\n\n</think>\n\nYes" if "red" in question else "<think>\nLooking.\n</think>\nNo."
        self.server.replies.append(reply)
        self.reply(200, {"id": "x", "object": "chat.completion", "created": 0, "model": JUDGE,
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": reply}}]})


def release_shaped(root: Path) -> Path:
    """Two instances per category, indices 1 and 2 in every task type, step files as the release has them."""
    ueg_direct, ueg_step, geu_direct, geu_step = [], [], [], []
    for c, task in enumerate(CATEGORIES):
        for index in (1, 2):
            if task in UEG_TASKS:
                prompt = CODE_PROMPT if task == "code_to_image" else f"{task} prompt {index}"
                # Even categories pass with the stand-in judge's answers, odd ones fail.
                questions = ([{"question": "Is anything red?", "answer": "yes"},
                              {"question": "Is the sky green?", "answer": "no"}] if c % 2 == 0 else
                             [{"question": "Is the ball red?", "answer": "no"}])
                ueg_direct.append({"index": index, "task_type": task, "prompt": prompt, "question_list": questions})
                ueg_step.append({"index": index, "task_type": task, "question_list": questions,
                                 "new_prompt": refine_prompt(prompt)})
                continue
            rel = f"./image/{task}/sub{c}/images/img_{index:03d}.jpg"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (40, 30), (40 * c % 255, 90, 160)).save(root / rel, format="JPEG")
            question = f"How many shapes in {task}?"
            entry = {"index": index, "task_type": task, "input_image": rel, "question": question,
                     "option": OPTIONS, "answer": "ABCD"[(c + index) % 4],
                     "evaluation_prompt": mcq_prompt(question, OPTIONS)}
            geu_direct.append(entry)
            geu_step.append({**entry, "edit_prompt": edit_prompt(task, question)})
    for name, entries in (("UEG_direct", ueg_direct), ("UEG_step", ueg_step), ("GEU_direct", geu_direct),
                          ("GEU_step", geu_step)):
        (root / f"{name}.json").write_text(json.dumps(entries, indent=4), encoding="utf-8")
    return root


# -- a reference implementation of the official scripts' rules ------------------------------------------

PHRASES = ["The best answer is", "The correct answer is", "The answer is", "The answer", "The best option is",
           "The correct option is", "Best answer:", "Best option:", "Answer", "Answer is"]


def official_letter(response) -> str:
    """eval_understanding.py: first list element; strip; remove each phrase; >10 words and no letter: none;
    else the first capital A-D."""
    if isinstance(response, list):
        response = response[0]
    text = response.strip()
    for phrase in PHRASES:
        text = text.replace(phrase, "")
    if len(text.split()) > 10 and not re.search("[ABCD]", text):
        return ""
    found = re.search("[ABCD]", text)
    return found.group(0) if found else ""


def official_generation_score(item: dict) -> int:
    """eval_generation.py's process_one with the stored judge reply in place of a new judge call: 0 when the
    image is empty or not found (relative paths resolve from the working directory); else each reply is
    lower-cased, "yes" anywhere makes it yes, then "no" anywhere makes it no; all must match."""
    image = item["generated_image"]
    if image == "" or image is None or not os.path.exists(image):
        return 0
    for qa in item["question_list"]:
        text = qa["judge_answer"].lower()
        if "yes" in text:
            text = "yes"
        if "no" in text:
            text = "no"
        if text != qa["answer"]:
            return 0
    return 1


def official_counts(folder: Path) -> dict[tuple[str, str], str]:
    """(mode, category abbreviation) -> "correct/entries", per official file in ``folder``."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for file in sorted(folder.glob("*.json")):
        track, kind = file.stem.split("_")
        mode = "direct" if kind == "direct" else "stepwise"
        for item in json.loads(file.read_text(encoding="utf-8")):
            right = (official_letter(item["response"]) == item["answer"] if track == "GEU"
                     else official_generation_score(item) == 1)
            tally = counts[(mode, CATEGORIES[item["task_type"]].abbreviation)]
            tally[0] += right
            tally[1] += 1
    return {key: f"{c}/{n}" for key, (c, n) in counts.items()}


def reported_counts(report_json: Path, model: str) -> dict[tuple[str, str], str]:
    (table,) = json.loads(report_json.read_text())
    return {(s["mode"], key[2:]): value for s in table["systems"] if s["model"] == model
            for key, value in s.items() if key.startswith("n ")}


def cells(markdown: str, model: str) -> dict[str, str]:
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    row = next(line for line in lines[2:] if line.split("|")[1].strip() == model)
    return dict(zip(header, (c.strip() for c in row.strip("|").split("|"))))


@pytest.fixture()
def models_dir(tmp_path):
    """tiny-pair (the project's card) and a reasoning judge behind a local OpenAI-compatible stand-in."""
    with serving(ThinkingJudge, replies=[]) as server:
        folder = tmp_path / "models"
        folder.mkdir()
        (folder / "tiny-pair.yaml").write_text((MODELS_DIR / "tiny-pair.yaml").read_text())
        (folder / f"{JUDGE}.yaml").write_text(json.dumps({
            "family": "openai", "description": "a reasoning judge behind an OpenAI-compatible stand-in (test)",
            "capabilities": ["understand"], "endpoint": f"{server.url}/v1", "checkpoint": JUDGE}))
        yield folder, server


def test_release_shaped_folder_validates_evaluates_exports_and_scores_like_the_official_scripts(
        tmp_path, models_dir, monkeypatch, capsys):
    models, judge_server = models_dir
    data = release_shaped(tmp_path / "realunify")
    assert main(["validate", str(data)]) == 0
    out = capsys.readouterr().out
    assert "UEG: 12 instances (WK 2, CR 2, MR-I 2, LR 2, SR 2, C2I 2)" in out
    assert "GEU: 8 instances (MR-II 2, MT 2, AF 2, CN 2)" in out

    real_run = protocols.run_stream  # eval runs each instance through the runs service, which streams

    def some_runs_fail(instance, adapter, mode, options):  # a failed run counts as wrong everywhere
        *_, trace = real_run(instance, adapter, mode, options)
        if (instance.task_type, mode) in {("world_knowledge", "direct"), ("mental_tracking", "stepwise")}:
            trace.steps, trace.status, trace.error = [], Status.ERROR, "RuntimeError: out of memory"
        yield trace

    monkeypatch.setattr(protocols, "run_stream", some_runs_fail)
    db = tmp_path / "store" / "arena.db"
    assert main(["eval", "--model", "tiny-pair", "--judge", JUDGE, "--data", str(data), "--limit", "1",
                 "--models-dir", str(models), "--db", str(db), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "runs: 20 computed (2 error, 18 ok)" in out
    assert "judgments: 18 made (0 with judge errors)" in out  # every think-block reply was read
    assert judge_server.replies and all(r.startswith("<think>") for r in judge_server.replies)
    stored = Store.open(db)
    c2i = {r["mode"]: stored.load_trace(r["id"]) for r in stored.runs(model="tiny-pair")
           if r["instance_uid"] == "UEG_1_code_to_image"}
    assert c2i["direct"].steps[0].prompt == CODE_PROMPT  # the whole prompt, blank lines and all
    assert c2i["stepwise"].steps[0].prompt == refine_prompt(CODE_PROMPT)
    stored.close()

    assert main(["report", "--db", str(db), "--out", str(tmp_path / "report")]) == 0
    reported = capsys.readouterr().out
    row = cells(reported, "tiny-pair")
    assert (row["WK"].split("/")[0], row["run err"], row["judge err"]) == ("0.0", "1/1", "0/0")
    assert (row["CR"], row["LR"]) == ("0.0/0.0", "0.0/0.0")  # odd categories fail by construction
    expected = reported_counts(tmp_path / "report" / "report.json", "tiny-pair")
    assert len(expected) == 20

    exported = tmp_path / "export"
    assert main(["export", "--format", "official", "--out", str(exported), "--db", str(db), "--judge", JUDGE]) == 0
    capsys.readouterr()
    folder = exported / "realunify" / "tiny-pair"
    for file in folder.glob("GEU_*.json"):  # the official understanding scorer reads item["response"]
        assert all(isinstance(e["response"], str) for e in json.loads(file.read_text()))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert official_counts(folder) == expected

    # score-official on the --out folder itself: every model found, the same table as report.
    assert main(["score-official", str(exported)]) == 0
    rescored = cells(capsys.readouterr().out, "tiny-pair")
    for column in ("WK", "CR", "MR-I", "LR", "SR", "C2I", "UEG", "MR-II", "MT", "AF", "CN", "GEU", "Total",
                   "GEU strict", "Q-acc", "judge err", "run err"):
        assert rescored[column] == row[column], column

    # --relative-paths: found from inside the folder only (the official scorer resolves from its cwd).
    relative = tmp_path / "relative"
    assert main(["export", "--format", "official", "--out", str(relative), "--db", str(db), "--judge", JUDGE,
                 "--relative-paths"]) == 0
    moved = relative / "realunify" / "tiny-pair"
    assert all(e["generated_image"] in ("", *(f"./images/{p.name}" for p in (moved / "images").iterdir()))
               for e in json.loads((moved / "UEG_direct.json").read_text()))
    assert official_counts(moved) != expected  # from elsewhere every image is "missing": UEG scores 0
    monkeypatch.chdir(moved)
    assert official_counts(moved) == expected


def test_eval_of_one_track_runs_when_the_other_track_has_problems(tmp_path, models_dir, capsys):
    models, _ = models_dir
    data = release_shaped(tmp_path / "realunify")
    (data / "UEG_direct.json").write_text("[{oops", encoding="utf-8")
    step = json.loads((data / "UEG_step.json").read_text())
    step[0]["new_prompt"] = "not the template"
    (data / "UEG_step.json").write_text(json.dumps(step), encoding="utf-8")
    db = tmp_path / "arena.db"
    assert main(["eval", "--model", "tiny-pair", "--judge", JUDGE, "--data", str(data), "--track", "GEU",
                 "--mode", "direct", "--limit", "1", "--models-dir", str(models), "--db", str(db),
                 "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "UEG_direct.json: invalid JSON at line 1" in captured.err
    assert "UEG_step.json, index 1 (world_knowledge), field 'prompt': missing" in captured.err
    assert "runs: 4 computed (4 ok)" in captured.out
    assert {r["task_type"] for r in Store.open(db).runs()} == set(GEU_TASKS)


def _human_report_and_rescored_export(tmp_path, db, capsys) -> tuple[list[str], list[str]]:
    """Model "m"'s row cells from ``report --judge human``, and from ``score-official`` on ``export --judge
    human``'s files."""
    def row(output: str) -> list[str]:
        line = next(line for line in output.splitlines() if line.startswith("| m |"))
        return [c.strip() for c in line.strip("|").split("|")]

    assert main(["report", "--db", str(db), "--judge", "human", "--out", str(tmp_path / "report")]) == 0
    stored = row(capsys.readouterr().out)
    assert main(["export", "--format", "official", "--db", str(db), "--judge", "human",
                 "--out", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    assert main(["score-official", str(tmp_path / "out")]) == 0
    return stored, row(capsys.readouterr().out)


def test_export_with_the_human_judge_carries_the_human_verdicts_to_score_official(tmp_path, capsys):
    """People's answers are stored as verdicts, not judge replies: exported under ``--judge human`` each
    polling question must carry the voters' yes/no, so score-official reprints report's row (here every
    answer is the expected one: WK 100.0, no judge error), not a judge error per question."""
    from realunify_arena.benchmark import load
    from realunify_arena.judge import HUMAN, HumanJudge, judge_trace, stored_images
    from realunify_arena.trace import Step, StepRole, Trace

    db = tmp_path / "arena.db"
    store = Store.open(db)
    instance = next(i for i in load("bundled").instances if i.uid == "UEG_0_world_knowledge")
    trace = Trace(instance.uid, "m", "direct", {"seed": 0},
                  [Step(StepRole.GENERATED_IMAGE, instance.prompt, image=Image.new("RGB", (4, 4), "red"))])
    run_id = store.save_trace(trace, "bundled")
    answers = {q.question: q.answer for q in instance.question_list}
    store.save_judgment(run_id, HUMAN, judge_trace(store.load_trace(run_id), instance, HumanJudge(answers),
                                                   stored_images(store)).to_dict())
    store.close()

    stored, rescored = _human_report_and_rescored_export(tmp_path, db, capsys)
    assert stored[1] == "100.0/-" and stored[-3] == "0/-"  # WK, judge err (before the "instances" column)
    assert rescored == stored


def _judge_as_voters(store, run_id: int, instance, voters: list[set[int]]) -> None:
    """Voter ``hf:voter{n}`` judges the run by hand, answering wrongly the questions (indices) ``voters[n]`` names."""
    from realunify_arena.judge import HumanJudge, judge_trace, stored_images

    flip = {"yes": "no", "no": "yes"}
    for n, wrong in enumerate(voters):
        answers = {q.question: flip[q.answer] if i in wrong else q.answer for i, q in enumerate(instance.question_list)}
        judgment = judge_trace(store.load_trace(run_id), instance, HumanJudge(answers), stored_images(store))
        store.save_human_judgment(run_id, f"hf:voter{n}", judgment.to_dict())


def test_several_human_voters_give_one_verdict_in_report_export_and_score_official(tmp_path, capsys):
    """Several people judged each run. The one rule (``Store.human_verdicts``): per polling question the
    voters' majority (a tie leaves the question undecided), then the paper's all-or-nothing instance rule.
    Hand-computed on three WK runs:
      UEG_0 (yes, yes, no): v1 misses Q1, v2 misses Q2, v3 gets all -> each question 2 of 3 right -> 1
        (the majority of the voters' own instance scores, 0, 0, 1, would say 0);
      UEG_1 (yes, no): v1 right, v2 misses Q1 -> Q1 tied, Q2 right -> undecided (a judge error);
      UEG_2 (yes, yes, no): v1 misses Q1 and Q2, v2 misses Q2 -> Q1 tied, Q2 wrong -> 0.
    WK = 1 of 2 scored = 50.0; "judge err" counts UEG_1 and UEG_2 (a tied question each, as a judge error
    counts even where another question already fails the instance): 2. score-official on the export must
    print the same row."""
    from realunify_arena.benchmark import load
    from realunify_arena.trace import Step, StepRole, Trace

    plan = {"UEG_0_world_knowledge": [{0}, {1}, set()], "UEG_1_world_knowledge": [set(), {0}],
            "UEG_2_world_knowledge": [{0, 1}, {1}]}  # per voter: the questions they answer wrongly
    db = tmp_path / "arena.db"
    store = Store.open(db)
    instances = {i.uid: i for i in load("bundled").instances}
    for uid, voters in plan.items():
        instance = instances[uid]
        trace = Trace(uid, "m", "direct", {"seed": 0},
                      [Step(StepRole.GENERATED_IMAGE, instance.prompt, image=Image.new("RGB", (4, 4), "red"))])
        run_id = store.save_trace(trace, "bundled", pin=True)
        _judge_as_voters(store, run_id, instance, voters)
    store.close()

    stored, rescored = _human_report_and_rescored_export(tmp_path, db, capsys)
    assert stored[1] == "50.0/-" and stored[-3] == "2/-"  # WK, judge err: the hand-computed values
    assert stored[-1] == "WK 2 of 100/-"  # UEG_0 and UEG_2 scored, UEG_1 undecided: the figure rests on 2
    assert rescored == stored


def test_a_human_voter_without_per_question_answers_counts_in_report_export_and_score_official(tmp_path, capsys):
    """An imported per-item human score (or an old store's ``legacy`` voter) carries no per-question answers.
    Hand-computed on UEG_0: the score-only voter 0, v1 right on every question, v2 wrong on Q1. The voters'
    scores are 0, 1, 0: the run fails (WK 0.0, no judge error). The per-question majority of v1 and v2
    alone (Q1 tied) would drop the score-only voter and call the run undecided."""
    from realunify_arena.benchmark import load
    from realunify_arena.judge import HUMAN
    from realunify_arena.trace import Step, StepRole, Trace

    db = tmp_path / "arena.db"
    store = Store.open(db)
    instance = next(i for i in load("bundled").instances if i.uid == "UEG_0_world_knowledge")
    trace = Trace(instance.uid, "m", "direct", {"seed": 0},
                  [Step(StepRole.GENERATED_IMAGE, instance.prompt, image=Image.new("RGB", (4, 4), "red"))])
    run_id = store.save_trace(trace, "bundled", pin=True)
    store.save_judgment(run_id, HUMAN, {"kind": "polling", "score": 0, "errors": 0,
                                        "details": {"judge": HUMAN, "questions": []}})
    _judge_as_voters(store, run_id, instance, [set(), {0}])
    store.close()

    stored, rescored = _human_report_and_rescored_export(tmp_path, db, capsys)
    assert stored[1] == "0.0/-" and stored[-3] == "0/-"  # WK, judge err: the hand-computed values
    assert rescored == stored


def test_export_of_a_model_run_with_two_settings_scores_back_under_model_names(tmp_path, capsys):
    """A model run with two seeds is labelled "m (seed=0)" / "m (seed=1)"; export names each folder after
    its label, and score-official names each model after its folder, which must be a model name
    (``systems.MODEL_NAME_RULE``: no '=', no spaces)."""
    from realunify_arena.benchmark import load
    from realunify_arena.systems import model_name_problem
    from realunify_arena.trace import Step, StepRole, Trace

    db = tmp_path / "arena.db"
    store = Store.open(db)
    instance = next(i for i in load("bundled").instances if i.uid == "UEG_0_world_knowledge")
    for seed in (0, 1):
        store.save_trace(Trace(instance.uid, "m", "direct", {"seed": seed}, [
            Step(StepRole.GENERATED_IMAGE, instance.prompt, image=Image.new("RGB", (4, 4), "red"))]), "bundled")
    store.close()
    assert main(["export", "--format", "official", "--db", str(db), "--out", str(tmp_path / "out")]) == 0
    folders = sorted(p.name for p in (tmp_path / "out" / "bundled").iterdir())
    assert len(folders) == 2 and not any(map(model_name_problem, folders)), folders
    capsys.readouterr()
    assert main(["score-official", str(tmp_path / "out")]) == 0
    rows = [line.split("|")[1].strip() for line in capsys.readouterr().out.splitlines() if line.startswith("| m")]
    assert sorted(rows) == folders
