"""End to end on CPU: ``eval --mode both`` for two tiny models on the bundled set, two people judging the UEG
runs as the app stores human judgments, then ``report --paired`` and ``report --judges`` on that store.

The people's answers are chosen so the expected tables are known by hand: person 1 marks every direct
image wrong and every stepwise image right except code-to-image; person 2 agrees except on the first
polling question of the world-knowledge stepwise images.
"""

from __future__ import annotations

import csv
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from PIL import Image

from realunify_arena.benchmark import load
from realunify_arena.benchmark.schema import CATEGORIES, GEU_TASKS, UEG_TASKS
from realunify_arena.cli import main
from realunify_arena.judge import ANSWER_PARSER, HumanJudge, judge_trace, stored_images
from realunify_arena.store import Store

pytestmark = pytest.mark.slow
LIMIT = 1  # instances per category (the expectations below hold for any LIMIT)


def flip(answer: str) -> str:
    return "no" if answer == "yes" else "yes"


def person_answers(instance, mode: str, second: bool) -> dict[str, str]:
    right = mode == "stepwise" and instance.task_type != "code_to_image"
    answers = {q.question: q.answer if right else flip(q.answer) for q in instance.question_list}
    if second and mode == "stepwise" and instance.task_type == "world_knowledge":
        first = instance.question_list[0]
        answers[first.question] = flip(answers[first.question])
    return answers


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    db = tmp_path_factory.mktemp("paired") / "arena.db"
    common = ["--data", "bundled", "--mode", "both", "--judge", "tiny-pair", "--judge-attempts", "1",
              "--db", str(db), "--no-progress"]
    assert main(["eval", "--model", "tiny-pair", "--track", "all", "--limit", str(LIMIT), *common]) == 0
    assert main(["eval", "--model", "tiny-janus", "--track", "GEU", "--limit", "1", *common]) == 0
    store = Store.open(db)
    instances = {i.uid: i for i in load("bundled").instances}
    for run in store.runs(model="tiny-pair", track="UEG"):
        instance = instances[run["instance_uid"]]
        trace = store.load_trace(run["id"])
        for name, second in (("human", False), ("human-2", True)):
            judgment = judge_trace(trace, instance, HumanJudge(person_answers(instance, run["mode"], second)),
                                   stored_images(store))
            store.save_judgment(run["id"], name, judgment.to_dict())
    store.close()
    return db


def p_text(p: float) -> str:
    """A p-value as a paper prints it: three decimals, halves up; "<0.001" below."""
    return "<0.001" if p < 0.001 else str(Decimal(p).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP))


def tables(markdown: str) -> dict[str, dict[str, dict[str, str]]]:
    """Heading -> first cell -> column -> cell, for every Markdown table under a ### heading."""
    out, heading, header = {}, None, None
    for line in markdown.splitlines():
        if line.startswith("### "):
            heading, header = line[4:], None
        elif line.startswith("|") and heading:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if header is None:
                header = cells
            elif set(cells) != {"---"}:
                out.setdefault(heading, {})[cells[0]] = dict(zip(header, cells))
        elif not line.startswith("|"):
            header = None if line.strip() else header
    return out


def test_report_paired_prints_the_hand_known_ueg_table_and_stored_geu_one(judged, capsys, tmp_path):
    db = judged
    assert main(["report", "--paired", "--judge", "human", "--db", str(db), "--out", str(tmp_path),
                 "--plot", str(tmp_path / "forest.png")]) == 0
    out = capsys.readouterr().out
    rows = tables(out)["Paired: tiny-pair on bundled, UEG judged by human"]

    for task in UEG_TASKS:
        row = rows[CATEGORIES[task].abbreviation]
        gained = task != "code_to_image"
        assert (row["n"], row["both right"], row["direct only (hurt)"]) == (str(LIMIT), "0", "0")
        assert row["stepwise only (helped)"] == (str(LIMIT) if gained else "0")
        assert row["Δ pp"] == ("+100.0" if gained else "0.0")
        assert row["p"] == (p_text(min(1, 2 * 0.5 ** LIMIT)) if gained else "1.000")  # 2 * (1/2)^LIMIT
        assert row["Holm p"] == p_text(min(1, 6 * 2 * 0.5 ** LIMIT))  # six categories, the smallest p first
        assert row["left out: unpaired / undecided"] == "0 / 0"
    ueg = rows["UEG (category mean)"]
    assert (ueg["n"], ueg["stepwise only (helped)"], ueg["both wrong"]) == (str(6 * LIMIT), str(5 * LIMIT), str(LIMIT))
    assert ueg["Δ pp"] == f"+{100 * 5 / 6:.1f}"  # the mean of the category Δs
    assert ueg["p"] == p_text(2 * 0.5 ** (5 * LIMIT))  # 5 * LIMIT discordant, all helped, categories of equal size

    # GEU: the answer parser's stored scores, tallied here from the store
    store = Store.open(db)
    for task in GEU_TASKS:
        scores = {}
        for run in store.runs(model="tiny-pair"):
            if run["task_type"] == task:
                scores.setdefault(run["instance_uid"], {})[run["mode"]] = \
                    store.find_judgment(run["id"], ANSWER_PARSER)["score"]
        helped = sum(s["stepwise"] > s["direct"] for s in scores.values())
        hurt = sum(s["stepwise"] < s["direct"] for s in scores.values())
        row = rows[CATEGORIES[task].abbreviation]
        assert (row["n"], row["stepwise only (helped)"], row["direct only (hurt)"]) == (str(LIMIT), str(helped), str(hurt))
    store.close()

    # tiny-janus cannot edit: its GEU stepwise runs are "not supported", so every instance is left out, counted
    janus = tables(out)["Paired: tiny-janus on bundled, UEG judged by human"]
    assert {janus[CATEGORIES[t].abbreviation]["left out: unpaired / undecided"] for t in GEU_TASKS} == {"1 / 0"}
    assert {janus[CATEGORIES[t].abbreviation]["n"] for t in GEU_TASKS} == {"0"}

    with (tmp_path / "paired.csv").open() as f:
        records = list(csv.DictReader(f))
    wk = next(r for r in records if r["model"] == "tiny-pair" and r["scope"] == "world_knowledge")
    assert (wk["helped"], float(wk["delta"]), float(wk["p"])) == (str(LIMIT), 100.0, min(1, 2 * 0.5 ** LIMIT))
    (pair_json,) = [a for a in json.loads((tmp_path / "paired.json").read_text()) if a["model"] == "tiny-pair"]
    helped = pair_json["discordant"]["WK"]["helped"]
    assert len(helped) == LIMIT and all(h["link"].startswith("?tab=explore&data=bundled&") and
                                        f"instance={h['instance_uid']}&model=tiny-pair" in h["link"] for h in helped)
    with Image.open(tmp_path / "forest.png") as png:
        assert png.size[0] > 500


def test_report_judges_prints_agreement_and_each_judges_scores(judged, capsys, tmp_path):
    db = judged
    assert main(["report", "--judges", "human,human-2", "--db", str(db), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    (heading,) = [h for h in tables(out) if h.startswith("Judges on bundled")]
    lines = [line for line in out.splitlines() if line.startswith("| human | human-2 | all UEG |")]
    cells = [c.strip() for c in lines[0].strip("|").split("|")]

    # By hand from the plan: every question answered by both; they differ on one question of each
    # world-knowledge stepwise image (LIMIT of them), so LIMIT of the 2 * 6 * LIMIT instances differ too.
    store = Store.open(db)
    evaluated = {r["instance_uid"] for r in store.runs(model="tiny-pair", track="UEG")}
    store.close()
    chosen = [i for i in load("bundled").instances if i.uid in evaluated]
    assert len(chosen) == LIMIT * len(UEG_TASKS)
    answers = [(a, b) for inst in chosen for mode in ("direct", "stepwise")
               for q in inst.question_list
               for a, b in [(person_answers(inst, mode, False)[q.question], person_answers(inst, mode, True)[q.question])]]
    n = len(answers)
    p_o = sum(a == b for a, b in answers) / n
    yes_a, yes_b = sum(a == "yes" for a, _ in answers) / n, sum(b == "yes" for _, b in answers) / n
    p_e = yes_a * yes_b + (1 - yes_a) * (1 - yes_b)
    kappa = (p_o - p_e) / (1 - p_e)
    assert cells[3:6] == [str(n), f"{100 * p_o:.1f}%", f"{kappa:.2f}"]
    i_n, i_agree = 2 * len(chosen), (2 * len(chosen) - LIMIT) / (2 * len(chosen))
    assert cells[6:8] == [str(i_n), f"{100 * i_agree:.1f}%"]

    scores = tables(out)  # Table 4 rows: per judge, "direct/stepwise" per category, then UEG
    text = out[out.index("**tiny-pair**"):]
    assert f"| human | {12 * LIMIT} | 0.0/100.0 | 0.0/100.0 | 0.0/100.0 | 0.0/100.0 | 0.0/100.0 | 0.0/0.0 | 0.0/83.3 |" in text
    assert f"| human-2 | {12 * LIMIT} | 0.0/0.0 | 0.0/100.0 | 0.0/100.0 | 0.0/100.0 | 0.0/100.0 | 0.0/0.0 | 0.0/66.7 |" in text
    assert heading in scores
    (saved,) = json.loads((tmp_path / "judges.json").read_text())
    assert saved["judges"] == ["human", "human-2"] and saved["common_runs"] == 12 * LIMIT
    assert Path(tmp_path / "judges.csv").read_text().count("\nagreement,") == 1 + len(UEG_TASKS)

    assert main(["report", "--judges", "human", "--db", str(db)]) == 2
    assert "name two or more judges" in capsys.readouterr().err
    assert main(["report", "--judges", "human,nobody", "--db", str(db)]) == 2
    assert "['nobody'] judged no UEG runs" in capsys.readouterr().err
