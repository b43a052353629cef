"""A judge served without a reasoning parser puts its model's own tags around the verdict: the reasoning block
in the forms other model families write it, and answer tags around the yes/no itself. Each reply below says
one plain verdict that a person reads off by hand; the official generation scorer (FrankYang-17/RealUnify
``eval/eval_generation.py``: lower-case, then "yes" anywhere is yes, else "no" anywhere is no) reads the
same verdict from each, so a judge error here is a score the official rule would have given and the project
dropped.

The tag forms are those of vLLM's reasoning parsers (``vllm/reasoning/``): ``seed_oss`` (``<seed:think>``),
``mistral`` (``[THINK]``/``[/THINK]``), ``gptoss`` (``<|channel|>analysis<|message|>``...``<|end|>``, then
``<|start|>assistant<|channel|>final<|message|>``), ``hunyuan_a13b`` (``<think>``...``</think>`` then
``<answer>``...``</answer>``), ERNIE's ``<response>``...``</response>``; GLM-4.5V's
``<|begin_of_box|>``...``<|end_of_box|>``; the begin/end-of-thought models' ``<|begin_of_solution|>``.
"""

from __future__ import annotations

import json

import pytest

from realunify_arena.benchmark.schema import GEUInstance
from realunify_arena.cli import main
from realunify_arena.judge import STRICT_PARSE_NOTE, extract_choice, mcq_judgment, parse_choice_strict, parse_yes_no
from tests.unit.test_score_official import table_row

# (judge reply, the verdict it gives, read by hand). The reasoning texts hold neither "yes" nor "no", so the
# official substring rule reads the same verdict (checked below against a reference of that rule).
TAGGED = [
    ("<seed:think>The water looks solid.</seed:think>Yes", "yes"),
    ("<seed:think>\nA lion is absent.\n</seed:think>\n\nNo.", "no"),
    ("[THINK]The glass is intact.[/THINK]Yes", "yes"),
    ("[THINK]\n\n[/THINK]\nNo", "no"),
    ("<|channel|>analysis<|message|>The pan is hot.<|end|><|start|>assistant<|channel|>final<|message|>Yes", "yes"),
    ("<|channel|>analysis<|message|>A kangaroo is there.<|end|><|start|>assistant<|channel|>final<|message|>No"
     "<|return|>", "no"),
    ("<|channel|>final<|message|>Yes", "yes"),
    ("<think>\nThe flag has stripes.\n</think>\n<answer>\nYes\n</answer>", "yes"),
    ("<think>The cube melted.</think><answer>No</answer>", "no"),
    ("<answer>Yes</answer>", "yes"),
    ("<think>\n\n</think>\n\n<response>\nNo\n</response>", "no"),
    ("<think>Red stripes.</think><answer><|begin_of_box|>Yes<|end_of_box|></answer>", "yes"),
    ("<|begin_of_box|>No<|end_of_box|>", "no"),
    ("<|begin_of_thought|>Stripes.<|end_of_thought|>\n\n<|begin_of_solution|>\nYes\n<|end_of_solution|>", "yes"),
    ("<think>The tiger is there.</think >Yes", "yes"),  # a space before the closing tag's ">"
    ("<ANSWER>YES</ANSWER>", "yes"),
]


def official_verdict(reply: str) -> str:
    """Reference of the official substring rule (eval_generation.py ``process_one``)."""
    text = reply.lower()
    if "yes" in text:
        text = "yes"
    if "no" in text:
        text = "no"
    return text


@pytest.mark.parametrize(("reply", "verdict"), TAGGED, ids=[repr(r)[:40] for r, _ in TAGGED])
def test_a_tagged_reply_gives_its_verdict(reply, verdict):
    assert official_verdict(reply) == verdict  # the official rule reads the same verdict
    assert parse_yes_no(reply) == verdict


@pytest.mark.parametrize("reply", [
    "<seed:think>cut short while thinking", "[THINK]cut short", "<|channel|>analysis<|message|>cut short",
    "<answer>", "<answer>Yes and no</answer>", "<answer>The answer is yes</answer>",
])
def test_unfinished_or_unclear_tagged_replies_stay_judge_errors(reply):
    assert parse_yes_no(reply) is None


def test_end_of_turn_markers_after_the_verdict_are_no_reasoning():
    # Phi-3 ends a turn with <|end|>: not gpt-oss's end of analysis, so the verdict before it stays.
    assert parse_yes_no("Yes<|end|>") == "yes"
    assert parse_yes_no("No.<|end|>") == "no"


@pytest.mark.parametrize("names_image", [True, False])  # False: as the shared case judge-think-tags writes them
def test_score_official_scores_tagged_judge_answers(tmp_path, capsys, names_image):
    entries = []
    for i, (reply, verdict) in enumerate(TAGGED):
        other = "no" if verdict == "yes" else "yes"
        entries.append({"index": i, "task_type": "scientific_reasoning", "prompt": f"prompt {i}",
                        **({"generated_image": f"./images/{i}.png"} if names_image else {}),
                        "question_list": [{"question": "Is it there?", "answer": verdict, "judge_answer": reply},
                                          {"question": "Is it gone?", "answer": other, "judge_answer": other}]})
    folder = tmp_path / "tagged"
    folder.mkdir()
    (folder / "UEG_direct.json").write_text(json.dumps(entries), encoding="utf-8")
    assert main(["score-official", str(folder), "--model", "m", "--json", str(tmp_path / "t.json")]) == 0
    row = table_row(capsys.readouterr().out, "m")
    # every entry right by the official rule, judged with or without the image's path (judge-think-tags: SR 100.0)
    assert row["SR"] == "100.0/-" and row["judge err"] == "0/-" and row["run err"] == "0/-"
    assert json.loads((tmp_path / "t.json").read_text())[0]["systems"][0]["n SR"] == f"{len(TAGGED)}/{len(TAGGED)}"


def test_the_strict_letter_reads_inside_answer_tags_and_the_headline_stays_official():
    options = ["a red circle", "a blue square", "a green triangle", "nothing"]
    instance = GEUInstance(index=1, task_type="mental_tracking", question="q", option=options, answer="C")
    for reply in ("<answer>C</answer>", "<think>Is it A?</think><answer><|begin_of_box|>C<|end_of_box|></answer>",
                  "[THINK]Maybe B.[/THINK]C", "<seed:think>Maybe D.</seed:think>\nC"):
        assert parse_choice_strict(reply, options) == "C"
        assert mcq_judgment(instance, reply).details["strict_score"] == 1
    # The headline is the official extraction, which strips no tags: the first capital A-D anywhere.
    assert extract_choice("<think>Is it A?</think><answer>C</answer>") == "A"
    assert mcq_judgment(instance, "[THINK]Maybe B.[/THINK]C").score == 0


@pytest.mark.parametrize(("named", "reply"), [
    ('"The answer', "The answer is B"), ("reasoning block", "<think>A or C?</think>B"),
    ("answer tags", "<answer>B</answer>"),
    ("code fence", "```\nB\n```"), ("\\boxed{}", "\\boxed{B}"), ("JSON answer", '{"answer": "B"}'),
])
def test_the_strict_parse_note_names_what_the_strict_parse_sets_aside(named, reply):
    # The note beside every GEU verdict said a letter counts "only when the reply is nothing but that letter;
    # anything else is none", while each of these replies was read B: the note now names what is set aside.
    assert parse_choice_strict(reply, ["a", "b", "c", "d"]) == "B"
    assert named in STRICT_PARSE_NOTE
