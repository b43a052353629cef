"""JSON Lines files are split where the official scripts split them, and nowhere else.

The official scorers (FrankYang-17/RealUnify ``eval/eval_understanding.py`` and ``eval_generation.py``,
``load_jsonl``) read a ``.jsonl`` file as ``[json.loads(line) for line in open(path, encoding="utf-8")]``: a line
ends at ``\\n`` (``\\r\\n`` and ``\\r`` as Python's universal newlines). JSON allows U+2028, U+2029 and U+0085
unescaped inside a string, and ``json.dumps(..., ensure_ascii=False)`` (what runners write) leaves them so; a
model's reply holding one is one entry, not two broken lines. The expected figures come from that reading
and from the official letter rule, both written here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from realunify_arena.cli import main

SEPARATORS = ["\u2028", "\u2029", "\u0085"]
OPTIONS = ["one", "two", "three", "four"]


def official_load_jsonl(path: Path) -> list[dict]:
    """``load_jsonl`` of the official scripts, as written there."""
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file]


def official_letter(response: str) -> str:
    """``extract_characters_regex`` of the official ``eval_understanding.py``, as its rule reads."""
    response = response.strip()
    for prefix in ("The best answer is", "The correct answer is", "The answer is", "The answer",
                   "The best option is", "The correct option is", "Best answer:", "Best option:", "Answer",
                   "Answer is"):
        response = response.replace(prefix, "")
    if len(response.split()) > 10 and not re.search("[ABCD]", response):
        return ""
    found = re.search("[ABCD]", response)
    return found[0] if found else ""


def geu_entries() -> list[dict]:
    replies = [f"Looking at the image{sep}the digits turn orange.{sep}So B" for sep in SEPARATORS] + [
        f"C{SEPARATORS[1]}", f"The answer{SEPARATORS[0]}is D", "A"]
    answers = ["B", "B", "A", "C", "D", "B"]  # the third and the last are wrong
    return [{"index": i, "task_type": "mental_tracking", "input_image": f"./image/mental_tracking/s/images/{i}.png",
             "question": f"Which digit?{SEPARATORS[i % 3]} Count the segments.", "option": OPTIONS,
             "answer": answer, "response": reply}
            for i, (reply, answer) in enumerate(zip(replies, answers))]


@pytest.mark.parametrize("ending", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_a_reply_holding_a_unicode_line_separator_is_one_entry_scored_as_the_official_scorer_does(
        tmp_path, capsys, ending):
    folder = tmp_path / "someone"
    folder.mkdir()
    path = folder / "GEU_direct.jsonl"
    with open(path, "w", encoding="utf-8", newline="") as file:
        for entry in geu_entries():
            file.write(json.dumps(entry, ensure_ascii=False) + ending)
    read = official_load_jsonl(path)
    assert len(read) == len(geu_entries())
    right = sum(official_letter(e["response"]) == e["answer"] for e in read)
    expected = f"{100 * right / len(read):.1f}"
    assert right == 4  # the reference reads B, B, B, C, D, A
    assert main(["score-official", str(folder)]) == 0, capsys.readouterr().err
    out = capsys.readouterr()
    assert "invalid JSON" not in out.err
    mt = out.out.strip().splitlines()[-1].split("|")[10].strip()  # the MT cell, "direct/stepwise"
    assert mt == f"{expected}/-"


def test_a_fastchat_battle_line_holding_a_unicode_line_separator_is_one_battle(tmp_path, capsys):
    rows = [{"model_a": "a-model", "model_b": "b-model", "winner": "model_a" if i % 3 else "model_b", "anony": True,
             "conversation_a": [{"role": "user", "content": f"Draw a cat{SEPARATORS[i % 3]}on a mat"}]}
            for i in range(6)]
    path = tmp_path / "battles.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert len(official_load_jsonl(path)) == len(rows)
    assert main(["leaderboard", "--votes", str(path), "--format", "json", "--rounds", "5", "--min-votes", "0",
                 "--track", "UEG", "--kind", "model_vs_model"]) == 0, \
        capsys.readouterr().err
    (only,) = json.loads(capsys.readouterr().out)
    assert only["votes"] == len(rows)


def test_an_exported_csv_whose_flag_reason_holds_a_unicode_line_separator_reads_back(tmp_path):
    """The same fault in the CSV reader: ``csv`` quotes a field only for the delimiter, the quote and \\r or \\n,
    so a ``flagged`` reason holding U+2028 or U+0085 (text found in a model's shown output) is written unquoted,
    and ``str.splitlines`` cut that row in two. Read as the csv module's documentation says (``newline=""``),
    the file is the rows written: the flagged battle left out, the others rated."""
    import csv

    from realunify_arena.commands.export import VOTE_FIELDS
    from realunify_arena.vote_files import read_votes

    rows = [{"vote_id": i, "created_at": "2026-12-06T08:00:00", "battle_id": f"b{i}", "kind": "model_vs_model",
             "track": "UEG", "dataset": "bundled", "instance_uid": "UEG_1_world_knowledge",
             "system_a": "m-one:direct", "system_b": "m-two:direct", "choice": "A", "winner": "model_a",
             "voter_hash": f"v{i}", "flagged": f"shown output named m-one{SEPARATORS[i]}twice" if i < 2 else ""}
            for i in range(4)]
    path = tmp_path / "votes.csv"
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=VOTE_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    votes = read_votes(path)
    assert len(votes) == 2  # rows 2 and 3; rows 0 and 1 are flagged
    assert all(v["system_a"] == "m-one:direct" and v["choice"] == "A" for v in votes)
