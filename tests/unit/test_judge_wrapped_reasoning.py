"""Labels and wrappers that hold reasoning rather than a verdict stay judge errors.

Reading a label ("Result:"), any tag pair, a code fence, \\boxed{} or a JSON object made replies readable that
were judge errors, and some of them were read wrongly: "Result: no visible cat, so yes" was "no" where the official
generation scorer (FrankYang-17/RealUnify ``eval/eval_generation.py``: lower-cased, "yes" anywhere is yes) and a
reader both say yes. Each reply below was a judge error before wrappers were read (``parse_yes_no`` read its first
word, "Result", "<", "{", "\\", "1"), names both answers or wraps reasoning, and must stay one.
"""

from __future__ import annotations

import pytest

from realunify_arena.benchmark.schema import PollingQuestion
from realunify_arena.judge import parse_yes_no, polling_judgment
from tests.unit.test_judge_reply_tags import official_verdict

UNCLEAR = [
    "Result: no visible cat, so yes",  # a label that starts a sentence naming both answers
    "Output: no cat seen; the answer is yes",
    "Response: No problem! The image shows a cat, yes.",
    "Result - no cat visible. Verdict: yes",
    "Answer: No\nAnswer: Yes",  # two labelled answers that disagree
    "1. No cat is visible at first\n2. So yes",  # numbered reasoning steps, read whole
    "\\boxed{No cat? yes}",
    '{"answer": "No doubt, there is a cat. Yes."}',  # the answer key holds reasoning naming both
    '{"explanation": "No cat visible, so yes"}',  # one key, no answer's name, reasoning inside
    '{"reasoning": "No cat is visible"}',
    "<analysis>No cat visible at first, but yes there is one</analysis>",  # a tag pair around reasoning
    "<analysis>No doubt it is a cat.</analysis>",
    "<explanation>No cat is visible.</explanation>",
]


@pytest.mark.parametrize("reply", UNCLEAR, ids=[repr(r)[:40] for r in UNCLEAR])
def test_a_wrapper_or_label_around_reasoning_stays_a_judge_error(reply):
    assert parse_yes_no(reply) is None


@pytest.mark.parametrize("reply", [r for r in UNCLEAR if "yes" in r.lower()])
def test_these_are_yes_by_the_official_rule_so_no_would_be_a_wrong_read(reply):
    assert official_verdict(reply) == "yes"


@pytest.mark.parametrize(("reply", "verdict"), [
    ("<p>No</p>", "no"), ('{"a": "Yes"}', "yes"), ("<verdict>No, it is blue</verdict>", "no"),
    ('{"answer": "Yes, the cat is on the left"}', "yes"), ("Result: no", "no"),
])
def test_a_clear_wrapped_verdict_is_still_read(reply, verdict):
    assert official_verdict(reply) == verdict
    assert parse_yes_no(reply) == verdict


def test_a_numbered_list_is_read_by_position_only_when_it_has_one_item_a_question():
    questions = [PollingQuestion("Is there a cat?", "yes")]
    steps = "1. No cat is visible at first\n2. So yes"  # two numbered lines, one question: reasoning steps
    judgment = polling_judgment(questions, [[steps]], "j")
    assert judgment.details["questions"][0]["verdict"] is None and judgment.score is None
    three = [PollingQuestion("Is there a cat?", "yes"), PollingQuestion("Is it night?", "no"),
             PollingQuestion("Is it red?", "no")]
    short = "1. Yes\n2. No"  # fewer items than questions: which one is missing is unknown
    judgment = polling_judgment(three, [[short]] * 3, "j")
    assert [q["verdict"] for q in judgment.details["questions"]] == [None, None, None]
    skipped = "1. Yes\n3. No\n2. No"  # numbered out of order
    assert [q["verdict"] for q in polling_judgment(three, [[skipped]] * 3, "j").details["questions"]] \
        == [None, None, None]


def test_numbered_steps_given_to_one_question_alone_are_read_whole():
    # The official protocol asks one polling question a call. A judge that reasons in as many numbered steps as the
    # instance has questions wrote no list of answers: its first step is no verdict for question 1. Read whole, the
    # reply names both words (a judge error, as "1. No cat is visible at first\n2. So yes" is for one question);
    # the official substring rule reads it yes, so "no" would be a wrong read.
    questions = [PollingQuestion("Is there a cat?", "yes"), PollingQuestion("Is it night?", "no")]
    steps = "1. No cat is visible at first\n2. So yes"
    assert official_verdict(steps) == "yes"
    judgment = polling_judgment(questions, [[steps], ["No"]], "j")
    assert [q["verdict"] for q in judgment.details["questions"]] == [None, "no"]
    assert judgment.score is None  # undecided: a judge error on question 1, question 2 right
    # the same list stored on both questions (a runner that asked them together) is still read by position
    answers = "1. Yes\n2. No"
    together = polling_judgment(questions, [[answers], [answers]], "j")
    assert [q["verdict"] for q in together.details["questions"]] == ["yes", "no"] and together.score == 1
