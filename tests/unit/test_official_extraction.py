"""The GEU headline letter is the official one: a table of reply phrasings, each with the letter a person reads
off the official rule by hand, checked against a reference implementation of that rule written here and
against ``extract_choice``. Also: reasoning blocks before a judge's yes/no, and the strict column beside.

The official rule, as FrankYang-17/RealUnify ``eval/eval_understanding.py`` (``extract_characters_regex``,
commit 2186ab9) states it: take the first element of a list reply; strip the reply; remove each phrase of
its list, in its order, wherever it occurs (case-sensitive); a reply of more than 10 words without a capital
A-D has no answer; otherwise the answer is the first capital A, B, C or D anywhere.
"""

from __future__ import annotations

import re

import pytest

from realunify_arena.benchmark.schema import GEUInstance
from realunify_arena.judge import extract_choice, mcq_judgment, parse_choice_strict, parse_yes_no, strip_reasoning

# The official script's phrase list, in its order (eval/eval_understanding.py, lines 31-42).
OFFICIAL_PHRASES = ["The best answer is", "The correct answer is", "The answer is", "The answer",
                    "The best option is", "The correct option is", "Best answer:", "Best option:",
                    "Answer", "Answer is"]


def official_letter(response) -> str:
    """Reference implementation of the official extraction ("" where it finds no letter)."""
    if isinstance(response, list):
        response = response[0]
    text = response.strip()
    for phrase in OFFICIAL_PHRASES:
        text = text.replace(phrase, "")
    has_letter = re.search("[ABCD]", text) is not None
    if len(text.split()) > 10 and not has_letter:
        return ""
    first = re.search("[ABCD]", text)
    return first.group(0) if first else ""


# (reply, the letter read by hand from the official rule; "" = no answer)
PHRASINGS = [
    # bare letters, punctuation, parentheses
    ("A", "A"), ("B", "B"), ("C.", "C"), ("(D)", "D"), ("D)", "D"), ("[B]", "B"), ("\n\n  C  \n", "C"),
    # the answer phrases, including the bare word "Answer" the official list strips
    ("Answer B", "B"), ("Answer A", "A"), ("Answer: C", "C"), ("Answer is C", "C"), ("Answers: B", "B"),
    ("**Answer**: D", "D"), ("**Final Answer**\n\nB", "B"), ("Final Answer: A", "A"),
    ("The best answer is C", "C"), ("The best answer is: (B)", "B"), ("The best answer is\nB", "B"),
    ("The correct answer is D.", "D"), ("The answer is A", "A"), ("The answer: B", "B"),
    ("The best option is C", "C"), ("The correct option is (A)", "A"), ("Best answer: D", "D"),
    ("Best option: B", "B"), ("Answer：B", "B"),
    ("ANSWER: B", "A"),  # case-sensitive: "ANSWER" is not stripped, and its A comes first
    # markdown
    ("**B**", "B"), ("`C`", "C"), ("*D*", "D"), ("My final answer: **C**", "C"),
    # lower case: not letters to the official rule
    ("b", ""), ("the answer is c", ""), ("answer: d", ""),
    # option text
    ("B. a blue square", "B"), ("C. a green triangle", "C"), ("a blue square", ""),
    ("Blue square", "B"),  # the capital B of "Blue"
    ("The answer is (B) a blue square", "B"), ("A. a red circle, although B is close", "A"),
    # two letters: the first wins
    ("A or B", "A"), ("B and C", "B"), ("Either C or D", "C"), ("Option A", "A"),
    # no letter
    ("", ""), ("I cannot tell.", ""), ("None of the above", ""),
    ("I am not sure what the picture shows here so I will not guess at all", ""),
    # reasoning before the answer: the first capital A-D anywhere decides
    ("Looking at the image, the path turns left twice, so the answer is D", "D"),
    ("Because the blue segment moves, B", "B"),
    ("Let me think. Counting the segments gives 3. Answer: A", "C"),  # the C of "Counting"
    ("Step 1: rotate. Step 2: flip. Therefore D", "D"), ("Definitely B", "D"),
    ("B\n\nExplanation: the blue block is on top.", "B"),
    # XML-ish tags
    ("<answer>B</answer>", "B"), ("<answer> C </answer>", "C"), ("<|begin_of_box|>C<|end_of_box|>", "C"),
    ("<think>The digit looks like 8.</think>\nA", "A"), ("<think>Option B seems off; it is D</think>D", "B"),
    # full-width letters are not A-D
    ("Ｂ", ""), ("（Ｃ）", ""), ("答案：Ｄ", ""), ("答案：D", "D"),
    # a list reply counts by its first element
    (["D", "A"], "D"),
]


def test_the_table_is_large_enough_and_covers_the_issue_examples():
    assert len(PHRASINGS) >= 50
    table = {r if isinstance(r, str) else r[0]: letter for r, letter in PHRASINGS}
    for reply, letter in {"Answer B": "B", "Answer is C": "C", "**Answer**: D": "D",
                          "**Final Answer**\n\nB": "B"}.items():
        assert table[reply] == letter


@pytest.mark.parametrize(("reply", "letter"), PHRASINGS, ids=[repr(r)[:40] for r, _ in PHRASINGS])
def test_reference_rule_gives_the_hand_read_letter(reply, letter):
    assert official_letter(reply) == letter


def test_headline_extraction_agrees_with_the_official_rule_on_every_phrasing():
    disagreements = [(reply, official_letter(reply), extract_choice(reply)) for reply, _ in PHRASINGS
                     if (extract_choice(reply) or "") != official_letter(reply)]
    agreement = f"{len(PHRASINGS) - len(disagreements)}/{len(PHRASINGS)}"
    assert not disagreements, f"agreement {agreement}: {disagreements}"


def test_strict_column_stays_beside_the_official_letter():
    options = ["a red circle", "a blue square", "a green triangle", "nothing"]
    instance = GEUInstance(index=1, task_type="mental_tracking", question="q", option=options, answer="B")
    for reply in ("Answer B", "**Final Answer**\n\nB", "Blue square", "The answer is (B) a blue square"):
        judgment = mcq_judgment(instance, reply)
        assert judgment.score == 1 and judgment.details["letter"] == "B"
    assert mcq_judgment(instance, "Blue square").details["strict_score"] == 0  # only the loose rule reads B
    assert mcq_judgment(instance, "B. a blue square").details["strict_score"] == 1
    assert parse_choice_strict("Answer: B", options) == "B"
    assert mcq_judgment(instance, ["B", "C"]).score == 1  # the first element, as the official script reads it


@pytest.mark.parametrize(("reply", "verdict"), [
    ("<think>\n\n</think>\n\nYes", "yes"), ("<think>\n\n</think>\n\nNo.", "no"),
    ("<think>\nThe pan is hot, the cube melted.\n</think>\nYes", "yes"),
    ("<think>Is it yes? Maybe no.</think> No", "no"), ("<THINK></THINK>yes", "yes"),
    ("<thinking>looks red</thinking>\nYes", "yes"), ("<reasoning>x</reasoning>no", "no"),
    ("◁think▷hmm◁/think▷Yes", "yes"), ("<|begin_of_thought|>a<|end_of_thought|>\nNo", "no"),
    ("The image shows a tiger.\n</think>\n\nYes", "yes"),  # the template opened the block in the prompt
    ("<think>\n\n</think>\n\n<think>again</think>Yes", "yes"),
    ("<think>cut short while thinking: yes", None), ("<think>\n\n</think>\n\n", None),
    ("<think>\n\n</think>\n\nThe answer is yes", None),  # after the block, the first-word rule as before
    ("Yes <think>", "yes"),
])
def test_judge_replies_are_read_after_the_reasoning_block(reply, verdict):
    assert parse_yes_no(reply) == verdict


def test_strip_reasoning_keeps_plain_replies_whole():
    assert strip_reasoning("No, there is no tiger.") == "No, there is no tiger."
    assert strip_reasoning(None) == ""
