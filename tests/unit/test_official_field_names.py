"""Result fields under another name, and files with no results, are scored and named as the official scorer does.

The official ``eval_generation.py`` (FrankYang-17/RealUnify) reads ``item["generated_image"]`` first in its
``process_one``: an entry without that field raises ``KeyError``, which it prints, and the item is never scored
(0). It re-judges each image itself and never reads a ``judge_answer``. So an entry whose image sits under
``output_image`` (or nowhere) scores 0 there whatever judge replies it carries; before, ``score-official`` and
``import-results`` scored it by those replies (a file mixing such an entry with a ``generated_image`` one gave
WK 100.0 where the official scorer gives 50.0) and named no field. A field that stands for a missing one
(``edited_image`` for ``edit_image``, ``refined_prompt`` for ``response``, ``answer_text`` for ``response``) is
now named with its file and entry, also where the entry is scored all the same. A folder whose files are all
instance files names each file and why, in both commands; the three messages that list the result fields list
the same ones. Expected scores are the official rule applied by hand to the entries written here.
"""

from __future__ import annotations

import json
import re

from realunify_arena.cli import main
from tests.unit.test_failed_run_notes import geu, ueg
from tests.unit.test_result_files_shared import stored_runs
from tests.unit.test_unread_result_fields import imported, note_on, score, write

RIGHT = [{"question": "Is there a cat?", "answer": "yes", "judge_answer": "Yes"}]  # the judge found it right


def test_a_judged_entry_whose_image_is_under_another_field_scores_0_as_the_official_scorer(tmp_path, capsys):
    folder = tmp_path / "runner"
    write(folder, "UEG_direct.json", [ueg(1, generated_image="./images/1.png", question_list=RIGHT),
                                      ueg(2, output_image="./images/2.png", question_list=RIGHT)])
    row, notes = score(folder, capsys)
    # by hand: entry 1 judged right (1); entry 2 has no generated_image: process_one's KeyError, 0 -> 1 of 2
    assert (row["WK"], row["run err"]) == ("50.0/-", "1/-"), row
    note = note_on(notes, "UEG_direct.json")
    assert "1 of 2 entries count as failed runs" in note, note
    assert re.search(r"index 2 \(world_knowledge\): no generated image \(generated_image missing in "
                     r"UEG_direct\.json \(found output_image, which no scorer reads\)", note), note
    lines = imported(folder, tmp_path / "arena.db", capsys)
    assert note in lines, lines  # one rule, one wording (beside the note on entry 1's image, not copied here)
    statuses = {uid: run["status"] for uid, run in stored_runs(tmp_path / "arena.db").items()}
    assert statuses == {"UEG_1_world_knowledge": "ok", "UEG_2_world_knowledge": "error"}


def test_judged_entries_without_any_generated_image_field_score_0(tmp_path, capsys):
    folder = tmp_path / "runner"
    write(folder, "UEG_step.json", [ueg(i, response=f"refined {i}", question_list=RIGHT) for i in range(2)]
          + [ueg(2, response="refined 2", image_out="2.png", question_list=RIGHT)])
    row, notes = score(folder, capsys)
    # by hand: none of the 3 has generated_image: 0 of 3, all failed runs (the official scorer prints 3 KeyErrors)
    assert (row["WK"], row["run err"]) == ("-/0.0", "-/3"), row
    note = note_on(notes, "UEG_step.json")
    assert "index 0 (world_knowledge): no generated image (generated_image missing in UEG_step.json; its " \
           "judge_answer replies are not scored" in note, note
    assert "image_out (1 entry)" in note and "(found image_out, which no scorer reads)" in note, note


def test_a_stepwise_geu_entry_with_its_edit_under_another_name_is_scored_and_the_field_named(tmp_path, capsys):
    folder = tmp_path / "runner"
    write(folder, "GEU_step.json", [geu(0, edited_image="./e/0.png", response="B"),
                                    geu(1, edit_image=None, response="C")])
    row, notes = score(folder, capsys)
    # by hand: the reply is what eval_understanding.py scores: B right, C wrong -> 1 of 2
    assert (row["MT"], row["run err"]) == ("-/50.0", "-/0"), row
    note = note_on(notes, "GEU_step.json")
    assert note.startswith("GEU_step.json: fields found that no scorer reads: edited_image (1 entry) "
                           "(in index 0 (mental_tracking))"), note
    assert "edit_image" in note.split("scored from")[1], note
    lines = imported(folder, tmp_path / "arena.db", capsys)
    assert note in lines, lines  # the same note in both commands
    image_note = [line for line in lines if "stored without the image named" in line]
    assert "index 0 (mental_tracking): edit_image missing (found edited_image, which no scorer reads)" \
           in image_note[0], lines


def test_a_reply_or_refined_prompt_under_another_name_is_named_with_its_entry(tmp_path, capsys):
    folder = tmp_path / "runner"
    write(folder, "GEU_direct.json", [geu(0, answer_text="B"), geu(1, response="B")])
    write(folder, "UEG_step.json", [ueg(0, refined_prompt="a cat", generated_image="./i/0.png",
                                        question_list=RIGHT)])
    row, notes = score(folder, capsys)
    # by hand: GEU 1 of 2 (entry 0 has no response); UEG entry judged right: 1 of 1
    assert (row["MT"], row["WK"], row["run err"]) == ("50.0/-", "-/100.0", "1/0"), row
    assert "index 0 (mental_tracking): no answer (response is missing (found answer_text, which no scorer " \
           "reads) in GEU_direct.json)" in note_on(notes, "GEU_direct.json")
    ueg_note = note_on(notes, "UEG_step.json")
    assert "refined_prompt (1 entry) (in index 0 (world_knowledge))" in ueg_note, ueg_note
    assert "response (the refined prompt)" in ueg_note, ueg_note


def test_a_folder_of_instance_files_names_each_file_and_why_in_both_commands(tmp_path, capsys):
    folder = tmp_path / "runner"
    write(folder, "UEG_direct.json", [ueg(0)])
    write(folder, "GEU_step.json", [geu(0, edit_prompt="edit it")])
    capsys.readouterr()
    assert main(["score-official", str(folder), "--model", "m"]) == 1
    scored = capsys.readouterr().err
    assert main(["import-results", str(folder), "--model", "m", "--db", str(tmp_path / "a.db")]) == 1
    refused = capsys.readouterr().err
    for err in (scored, refused):
        for name in ("UEG_direct.json", "GEU_step.json"):
            assert str(folder / name) in err, err
        assert "skipped as an instance file" in err, err
    assert not (tmp_path / "a.db").exists() or stored_runs(tmp_path / "a.db") == {}


def _listed(text: str) -> list[str]:
    """The result fields a message lists: the parenthesis that names generated_image."""
    found = re.search(r"\(([^()]*generated_image[^()]*)\)", text)
    assert found, text
    return [name.strip() for name in found.group(1).split(",")]


def test_every_message_listing_the_result_fields_lists_the_same_ones(tmp_path, capsys):
    folder = tmp_path / "runner"
    write(folder, "UEG_direct.json", [ueg(0)])
    capsys.readouterr()
    assert main(["score-official", str(folder), "--model", "m"]) == 1
    scored = capsys.readouterr().err
    assert main(["import-results", str(folder), "--model", "m", "--db", str(tmp_path / "a.db")]) == 1
    refused = capsys.readouterr().err
    write(folder, "GEU_direct.json", [geu(0, response="B")])  # now one file is read, the other skipped
    row, notes = score(folder, capsys)
    skipped = note_on(notes, "UEG_direct.json")
    lists = [_listed(text) for text in (scored, refused, skipped)]
    assert lists[0] == lists[1] == lists[2], lists
    # the fields a runner fills in (REALUNIFY.md: UEG generated_image, response; GEU response, edit_image) and
    # the judge's reply on each polling question
    for name in ("generated_image", "response", "edit_image"):
        assert name in lists[0], lists[0]
    assert any(name.endswith("judge_answer") for name in lists[0]), lists[0]


def test_leaderboard_of_a_votes_file_without_battles_names_the_file(tmp_path, capsys):
    for name, content in (("votes.jsonl", ""), ("battles.json", "[]")):
        path = tmp_path / name
        path.write_text(content)
        assert main(["leaderboard", "--votes", str(path), "--rounds", "0", "--track", "UEG",
                     "--kind", "model_vs_model"]) == 0
        out = capsys.readouterr().out
        assert f"{path} holds no battles" in out and "Arena tab" not in out, out


def test_leaderboard_of_a_votes_file_with_battles_elsewhere_says_where(tmp_path, capsys):
    path = tmp_path / "votes.jsonl"
    vote = {"track": "GEU", "kind": "model_vs_model", "system_a": "a:direct", "system_b": "b:direct", "choice": "A"}
    path.write_text(json.dumps(vote) + "\n")
    assert main(["leaderboard", "--votes", str(path), "--rounds", "0", "--track", "UEG",
                 "--kind", "model_vs_model"]) == 0
    out = capsys.readouterr().out
    assert f"{path} holds none of this board's battles (1 on other boards)" in out and "Arena tab" not in out, out


def test_export_help_names_every_votes_format(capsys):
    try:
        main(["export", "--help"])
    except SystemExit:
        pass
    out = " ".join(capsys.readouterr().out.split())
    assert "export votes --format jsonl|csv|json" in out, out
