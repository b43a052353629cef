"""Result fields under another name, and files with no results, are named; scores follow the shared cases.

A judged UEG entry is scored by its ``judge_answer`` replies even where it names no ``generated_image`` (the shared
case judge-think-tags, entries without the field: SR 100.0); an entry with neither image nor replies is a failed
run, 0 (official-missing-image: WK 50.0). What a runner wrote under another name (``output_image``,
``edited_image`` for ``edit_image``, ``refined_prompt`` or ``answer_text`` for ``response``) used to be named by
no note when the entry was scored all the same; it is now named with its file and entry, and where a missing
field fails the entry, its error names the field found instead. A folder whose files are all instance files
names each file and why, in both commands; the three messages that list the result fields list the same ones.
Expected scores are applied by hand to the entries written here.
"""

from __future__ import annotations

import json
import re

import pytest

from realunify_arena.cli import main
from tests.unit.test_failed_run_notes import geu, ueg
from tests.unit.test_result_files_shared import stored_runs
from tests.unit.test_unread_result_fields import imported, note_on, score, write

RIGHT = [{"question": "Is there a cat?", "answer": "yes", "judge_answer": "Yes"}]  # the judge found it right


def test_a_judged_entry_whose_image_is_under_another_field_is_scored_by_its_replies_and_the_field_named(
        tmp_path, capsys):
    folder = tmp_path / "runner"
    write(folder, "UEG_direct.json", [ueg(1, generated_image="./images/1.png", question_list=RIGHT),
                                      ueg(2, output_image="./images/2.png", question_list=RIGHT)])
    row, notes = score(folder, capsys)
    # by hand: both judged right by their replies (the shared case judge-think-tags: judged entries without a
    # generated_image are scored by their replies, SR 100.0) -> 2 of 2
    assert (row["WK"], row["run err"]) == ("100.0/-", "0/-"), row
    note = note_on(notes, "UEG_direct.json")
    assert "output_image (1 entry)" in note and "index 2 (world_knowledge)" in note, note
    assert "index 1" not in note, note  # entry 1 carries no unread field
    # neither image is here: the official scorer would score both 0 (os.path.exists); said, for both entries
    # (before: score-official said nothing, import-results alone named them)
    unseen = [line for line in notes if "scored without the image named" in line]
    assert len(unseen) == 1 and unseen[0].startswith("UEG_direct.json: 2 entries scored without the image named")
    assert "index 1 (world_knowledge): generated_image ./images/1.png not found" in unseen[0], unseen
    assert "index 2 (world_knowledge): generated_image missing (found output_image" in unseen[0], unseen
    lines = imported(folder, tmp_path / "arena.db", capsys)
    assert note in lines, lines  # one rule, one wording in both commands
    statuses = {uid: run["status"] for uid, run in stored_runs(tmp_path / "arena.db").items()}
    assert statuses == {"UEG_1_world_knowledge": "ok", "UEG_2_world_knowledge": "ok"}


def test_judged_entries_without_a_generated_image_field_are_scored_by_their_replies(tmp_path, capsys):
    folder = tmp_path / "runner"
    wrong = [{"question": "Is there a cat?", "answer": "yes", "judge_answer": "No"}]
    write(folder, "UEG_step.json", [ueg(i, response=f"refined {i}", question_list=RIGHT) for i in range(2)]
          + [ueg(2, response="refined 2", image_out="2.png", question_list=wrong)])
    row, notes = score(folder, capsys)
    # by hand: entries 0 and 1 judged right, entry 2 judged wrong: 2 of 3 = 66.7, no failed run
    assert (row["WK"], row["run err"]) == ("-/66.7", "-/0"), row
    note = note_on(notes, "UEG_step.json")
    assert "image_out (1 entry)" in note and "index 2 (world_knowledge)" in note, note


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


def test_leaderboard_of_a_blank_votes_file_or_one_of_left_out_battles_says_which(tmp_path, capsys):
    """verify24: a file of blank lines was read as a CSV without its header ("line 1: no column 'track'"); a file
    whose battles FastChat's rules leave out (``anony`` false, ``dedup_tag.sampled`` false, ``flagged``) said "no
    battles" without why; with ``--format csv`` or ``json`` an empty board said nothing at all."""
    board = ["--rounds", "0", "--track", "UEG", "--kind", "model_vs_model"]
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n\n  \n")
    assert main(["leaderboard", "--votes", str(blank), *board]) == 0
    assert f"{blank} holds no battles to rate" in capsys.readouterr().out
    battle = {"model_a": "a", "model_b": "b", "winner": "model_a"}
    left = tmp_path / "left.json"
    left.write_text(json.dumps([battle | {"anony": False}, battle | {"anony": False},
                                battle | {"dedup_tag": {"high_freq": True, "sampled": False}}]))
    assert main(["leaderboard", "--votes", str(left), *board]) == 0
    out = capsys.readouterr().out
    assert f"{left} holds no battles to rate (3 left out: 2 not anonymous (anony false), 1 a redundant" in out, out
    for fmt in ("csv", "json"):
        assert main(["leaderboard", "--votes", str(left), *board, "--format", fmt]) == 0
        err = capsys.readouterr().err
        assert f"{left} holds no battles to rate (3 left out" in err, err
    mixed = tmp_path / "mixed.json"  # verify24b: one left out beside rated ones was never mentioned
    mixed.write_text(json.dumps([battle, battle, battle | {"anony": False}]))
    for fmt in ("markdown", "csv", "json"):
        assert main(["leaderboard", "--votes", str(mixed), *board, "--format", fmt]) == 0
        err = capsys.readouterr().err
        assert f"note: {mixed}: 1 left out: 1 not anonymous (anony false)" in err, err


@pytest.mark.parametrize("fmt", ["markdown", "csv", "json"])
def test_each_empty_board_of_a_votes_file_counts_what_was_left_out_of_it_not_the_whole_files(tmp_path, capsys, fmt):
    """Each empty board said the whole file's left-out count: a file of 2 UEG model-vs-model battles not anonymous
    and 1 GEU direct-vs-stepwise copy not sampled made all four boards say "3 left out". By hand: UEG model vs
    model 2 (not anonymous), GEU direct vs stepwise 1 (not sampled), the two other boards none; a battle naming
    no track or kind, read without --track and --kind, is of no board and said so."""
    battle = {"model_a": "a", "model_b": "b", "winner": "model_a"}
    path = tmp_path / "left.json"
    path.write_text(json.dumps([battle | {"track": "UEG", "kind": "model_vs_model", "anony": False}] * 2 +
                               [battle | {"track": "GEU", "kind": "direct_vs_stepwise",
                                          "dedup_tag": {"high_freq": True, "sampled": False}}]))
    assert main(["leaderboard", "--votes", str(path), "--rounds", "0", "--format", fmt]) == 0
    out = capsys.readouterr()
    said = {line.removeprefix("note: ").split(f" {path} holds", 1)[0].removesuffix(" 0 votes;").rstrip(":").strip("*"):
            line.split(f"{path} holds no battles to rate", 1)[1].rstrip(".")
            for line in (out.out if fmt == "markdown" else out.err).splitlines() if "holds no battles" in line}
    assert said == {"UEG · two models, same mode": " (2 left out: 2 not anonymous (anony false))",
                    "UEG · one model: direct vs stepwise": "",
                    "GEU · two models, same mode": "",
                    "GEU · one model: direct vs stepwise": " (1 left out: 1 a redundant copy FastChat does not rate "
                                                           "(dedup_tag.sampled false))"}, said
    nowhere = tmp_path / "nowhere.json"
    nowhere.write_text(json.dumps([battle | {"anony": False}]))
    assert main(["leaderboard", "--votes", str(nowhere), "--rounds", "0", "--format", fmt]) == 0
    out = capsys.readouterr()
    text = out.out if fmt == "markdown" else out.err
    assert text.count("(1 left out: 1 not anonymous (anony false), naming no track and kind)") == 4, text


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
