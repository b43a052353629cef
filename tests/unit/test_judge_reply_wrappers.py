"""Judge replies that wrap one plain verdict in something other than reasoning tags: a Markdown code fence with
its language, a JSON object, LaTeX's \\boxed{}, any single XML-like tag pair, a label ("Answer:") or the
question's number. The official generation scorer (FrankYang-17/RealUnify ``eval/eval_generation.py``:
lower-case, then "yes" anywhere is yes, else "no" anywhere is no) reads the verdict a person reads off each, so a
judge error here drops a score the official rule gives. Expected verdicts are read by hand and checked against
that rule, written out below.
"""

from __future__ import annotations

import json

import pytest

from realunify_arena.benchmark.schema import PollingQuestion
from realunify_arena.cli import main
from realunify_arena.judge import parse_yes_no, polling_judgment
from tests.unit.test_judge_reply_tags import official_verdict  # the official substring rule


WRAPPED = [
    ("```text\nYes\n```", "yes"), ("```\nno\n```", "no"), ("~~~\nYes\n~~~", "yes"),
    ('{"answer": "yes"}', "yes"), ('{"Answer":"No"}', "no"), ('```json\n{"answer": "Yes"}\n```', "yes"),
    ('{"verdict": "no"}', "no"), ('{"a": "Yes"}', "yes"),
    ("\\boxed{Yes}", "yes"), ("$\\boxed{\\text{No}}$", "no"),
    ("<output>Yes</output>", "yes"), ("<verdict>\nNo\n</verdict>", "no"),
    ("Answer: Yes", "yes"), ("**Answer:** No", "no"), ("Final answer: yes", "yes"), ("ANSWER - NO", "no"),
    ("Verdict: yes.", "yes"), ("Response: Yes", "yes"),
    ("1. Yes", "yes"), ("(2) No", "no"), ("Q3: yes", "yes"), ("Question 1: No, it is blue", "no"),
    ("<think>\n\n</think>\n\n```\nAnswer: Yes\n```", "yes"),
]


@pytest.mark.parametrize(("reply", "verdict"), WRAPPED, ids=[repr(r)[:40] for r, _ in WRAPPED])
def test_a_wrapped_reply_gives_its_verdict(reply, verdict):
    assert official_verdict(reply) == verdict  # the official rule reads the same verdict
    assert parse_yes_no(reply) == verdict


@pytest.mark.parametrize("reply", [
    '{"answer": "Yes and no"}', '{"answer": true}',
    '{"x": "yes", "y": "no"}', "\\boxed{}", "```json\n{not json}\n```", "Answer: know", "Answer: Yes/No",
    "<output></output>", "The answer is yes",  # a sentence is no label: the strict rule as before
])
def test_wrapped_but_unclear_replies_stay_judge_errors(reply):
    assert parse_yes_no(reply) is None


def test_a_numbered_list_answering_every_question_is_read_by_position():
    # A runner that asks all polling questions at once stores the one reply on each question.
    questions = [PollingQuestion("Is there a tiger?", "yes"), PollingQuestion("Is there a lion?", "no"),
                 PollingQuestion("Is it night?", "no")]
    reply = "1. Yes\n2. No\n3. Yes"
    judgment = polling_judgment(questions, [[reply]] * 3, "j")
    assert [q["verdict"] for q in judgment.details["questions"]] == ["yes", "no", "yes"]
    assert judgment.score == 0 and judgment.errors == 0  # question 3 expected no
    right = "Q1: yes\nQ2: no\nQ3: no"
    assert polling_judgment(questions, [[right]] * 3, "j").score == 1


def test_score_official_scores_wrapped_judge_answers(tmp_path, capsys):
    # one polling question an entry, one entry a line (.jsonl, as third-party runners write it)
    lines = [json.dumps({"index": n, "task_type": "logical_reasoning", "generated_image": f"./images/{n}.png",
                         "question_list": [{"question": "Is it there?", "answer": want, "judge_answer": said}]})
             for n, (said, want) in enumerate(WRAPPED)]
    folder = tmp_path / "wrapped"
    folder.mkdir()
    (folder / "UEG_direct.jsonl").write_text("\n".join(lines), encoding="utf-8")
    assert main(["score-official", str(folder), "--model", "m", "--json", str(tmp_path / "t.json")]) == 0
    capsys.readouterr()
    system = json.loads((tmp_path / "t.json").read_text())[0]["systems"][0]
    assert system["n LR"] == f"{len(WRAPPED)}/{len(WRAPPED)}"  # every entry right, as by the official rule


@pytest.mark.parametrize(("reply", "verdict"), [("```yes```", "yes"), ("```No```", "no"), ("``` Yes ```", "yes")])
def test_a_fence_on_one_line_holds_its_words(reply, verdict):
    # CommonMark (spec 0.31, "Fenced code blocks"): an info string (the language) ends its line, and a backtick
    # fence's may hold no backtick, so "```yes```" is code holding "yes", never a language "yes" and no content.
    # The official substring rule reads the verdict too.
    assert official_verdict(reply) == verdict
    assert parse_yes_no(reply) == verdict
