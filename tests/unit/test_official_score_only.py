"""The file the official generation scorer writes and then summarises (FrankYang-17/RealUnify
``eval/eval_generation.py``: ``evaluate_accuracy`` reads each entry's ``task_type`` and counts it right when
``score == 1``) needs no ``question_list``: a slimmed copy holding ``index``, ``task_type`` and ``score`` is
scored by that rule. Expected percentages are counted by hand from the entries."""

from __future__ import annotations

import json

from realunify_arena.cli import main
from realunify_arena.store import Store

SCORED = [{"index": 1, "task_type": "world_knowledge", "score": 1},
          {"index": 2, "task_type": "world_knowledge", "score": 0},
          {"index": 3, "task_type": "world_knowledge", "score": 1, "question_list": None},
          {"index": 4, "task_type": "world_knowledge", "generated_image": "",  # no image: 0, as officially
           "question_list": [{"question": "Is there a tiger?", "answer": "yes"}]}]


def _folder(tmp_path, entries):
    folder = tmp_path / "scored"
    folder.mkdir()
    (folder / "UEG_direct.json").write_text(json.dumps(entries), encoding="utf-8")
    return folder


def test_score_official_counts_entries_scored_without_their_polling_questions(tmp_path, capsys):
    folder = _folder(tmp_path, SCORED)
    assert main(["score-official", str(folder), "--model", "m", "--json", str(tmp_path / "t.json")]) == 0
    capsys.readouterr()
    system = json.loads((tmp_path / "t.json").read_text())[0]["systems"][0]
    assert system["n WK"] == "2/4"  # indexes 1 and 3 of 4: 50.0


def test_an_entry_with_neither_polling_questions_nor_a_score_is_still_refused(tmp_path, capsys):
    folder = _folder(tmp_path, [{"index": 1, "task_type": "world_knowledge", "generated_image": "./1.png"}])
    assert main(["score-official", str(folder), "--model", "m"]) != 0
    assert "'question_list': missing" in capsys.readouterr().err


def test_import_results_with_the_dataset_stores_the_per_item_scores(tmp_path, capsys):
    db = tmp_path / "s.db"
    folder = _folder(tmp_path, SCORED[:3])
    assert main(["import-results", str(folder), "--model", "m", "--data", "bundled", "--db", str(db)]) == 0
    capsys.readouterr()
    store = Store.open(db)
    scores = sorted((j["instance_uid"], j["score"]) for j in store.judgments())
    assert scores == [("UEG_1_world_knowledge", 1), ("UEG_2_world_knowledge", 0), ("UEG_3_world_knowledge", 1)]
