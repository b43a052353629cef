"""The score table says how many of the official instances each figure covers: the official benchmark holds
100 instances a category (arXiv 2509.24897; 1,000 in 10 categories), so "WK 50.0" from 2 entries must read as
2 of 100, not as a paper figure. The "instances" column is the table's last, so every column before it (and
the parsers that read them by name or place) is unchanged; ``--json`` and ``--csv`` carry the same text.

Before (official25): nothing in the table said a figure rested on fewer than 100 instances (only ``--json``'s
"n WK": "1/2").
"""

from __future__ import annotations

import json

from realunify_arena.cli import main
from realunify_arena.reporting import coverage
from realunify_arena.scoring import SystemScore, Tally
from tests.unit.test_official_files import table_row


def _entry(index: int, task_type: str, reply: str) -> dict:
    return {"index": index, "task_type": task_type, "prompt": "p", "generated_image": "",
            "score": 1 if reply == "yes" else 0,
            "question_list": [{"question": "q?", "answer": "yes", "judge_answer": reply}]}


def test_a_partial_folder_says_of_100_in_the_table_and_the_json(tmp_path, capsys):
    folder = tmp_path / "m"
    folder.mkdir()
    entries = [_entry(1, "world_knowledge", "yes"), _entry(2, "world_knowledge", "no")]
    entries += [_entry(i, "scientific_reasoning", "yes") for i in (1, 2, 3)]
    (folder / "UEG_direct.json").write_text(json.dumps(entries), encoding="utf-8")
    out = tmp_path / "t.json"
    assert main(["score-official", str(folder), "--json", str(out)]) == 0
    row = table_row(capsys.readouterr().out, "m")
    assert (row["WK"], row["SR"]) == ("50.0/-", "100.0/-")  # 1 of 2, 3 of 3: the figures themselves unchanged
    assert row["instances"] == "WK 2, SR 3 of 100/-"
    system = json.loads(out.read_text())[0]["systems"][0]
    assert (system["instances"], system["official_per_category"], system["n WK"]) == ("WK 2, SR 3 of 100", 100, "1/2")


def _score(**scored: int) -> SystemScore:
    score = SystemScore("m", "direct")
    score.categories = {task: Tally(0, n) for task, n in scored.items()}
    return score


def test_coverage_wording():
    ten = ["world_knowledge", "commonsense_reasoning", "mathematical_reasoning", "logical_reasoning",
           "scientific_reasoning", "code_to_image", "mental_reconstruction", "mental_tracking",
           "attentional_focusing", "cognitive_navigation"]
    assert coverage(_score(**{t: 100 for t in ten})) == "100 of 100 each"
    assert coverage(_score(**{t: 37 for t in ten})) == "37 of 100 each"
    assert coverage(_score(world_knowledge=99)) == "WK 99 of 100"
    assert coverage(_score(world_knowledge=120, mental_tracking=3)) == "WK 120, MT 3 (100 official)"
    assert coverage(_score()) == "none"
