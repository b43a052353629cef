"""Strict yes/no parsing, bounded retries and judge errors, GEU answer extraction (paper and strict)."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from realunify_arena.adapters.base import ModelUnavailable
from realunify_arena.benchmark import prompts
from realunify_arena.benchmark.schema import GEUInstance, PollingQuestion, UEGInstance
from realunify_arena.judge import (ATTEMPTS, AdapterJudge, HumanJudge, Judge, Judgment, MissingAnswer,
                                   build_judge, extract_choice, judge_trace, mcq_judgment, parse_choice_strict,
                                   parse_yes_no, polling_judgment)
from realunify_arena.trace import Status, Step, StepRole, Trace

IMAGE = Image.new("RGB", (8, 8), "red")
OPTIONS = ["a red car", "a blue car", "a green car", "no car"]


@pytest.mark.parametrize(("reply", "verdict"), [
    ("yes", "yes"), ("Yes.", "yes"), ("YES, the cat is red", "yes"), ("**No**", "no"), ("no", "no"),
    ("No, it is not.", "no"), ("  \n yes", "yes"), ("“Yes”", "yes"),
    # Punctuation beyond ASCII is punctuation too: dashes, an ellipsis, CJK full stops and marks.
    ("Yes—", "yes"), ("No – it is blue", "no"), ("No…", "no"), ("Yes。", "yes"), ("No！", "no"), ("「Yes」", "yes"),
    ("know", None),  # the official substring test counts this as "no"
    ("The answer is yes", None), ("Yes/No", None), ("Nope", None), ("", None), (None, None), ("y", None),
])
def test_yes_no_first_word_decides(reply, verdict):
    assert parse_yes_no(reply) == verdict


@pytest.mark.parametrize(("reply", "verdict"), [
    # A dash (or other punctuation) joined to the next word still ends the verdict word.
    ("Yes—the image shows a red cube", "yes"), ("No–it does not", "no"), ("Yes-the cube melted", "yes"),
    ("No—", "no"), ("Yes:the", "yes"), ("**Yes**—a cube", "yes"), ("“No”-it is blue", "no"),
    # ...but a reply that goes on to the other answer says both, and a longer word is not the verdict.
    ("Yes and no", None), ("No or yes", None), ("Yes-no", None), ("Yes—No", None), ("Yes, no", None),
    ("YES/no", None), ("Yesterday", None), ("Yes2", None), ("No-one is there", "no"), ("Yes and no.", None),
    # ...while the other word starting a phrase is no second answer.
    ("Yes, no other object is visible.", "yes"), ("No, yes-men are not shown", "no"),
    ("Yes and no cars are parked", "yes"), ("Yes. No text appears.", "yes"),
])
def test_a_verdict_joined_to_the_next_word_reads_and_both_answers_do_not(reply, verdict):
    assert parse_yes_no(reply) == verdict


@pytest.mark.parametrize(("reply", "verdict"), [
    ("Yes\u200b", "yes"), ("\u200bNo", "no"), ("\ufeffYes.", "yes"), ("No\u2060", "no"), ("Ye\u200bs", "yes"),
    ("\u200b", None), ("Yes\u200b/No", None),
])
def test_invisible_format_characters_are_no_part_of_a_verdict(reply, verdict):
    assert parse_yes_no(reply) == verdict


@pytest.mark.parametrize(("reply", "letter"), [
    ("B", "B"), ("The best answer is C", "C"), ("Answer: A", "A"), ("Answer: D", "D"),
    ("Best option: C", "C"),  # without stripping, the B of "Best" would win
    ("The correct answer is (D).", "D"), ("c", None), ("I cannot tell from this image at all, sorry about that", None),
    ("Because the path turns left, D", "B"),  # the paper's loose rule: the first capital A-D anywhere
    ("", None), (None, None),
])
def test_paper_extraction(reply, letter):
    assert extract_choice(reply) == letter


@pytest.mark.parametrize(("reply", "letter"), [
    ("B", "B"), ("B.", "B"), ("(B)", "B"), ("B)", "B"), (" B \n", "B"), ("**B**", "B"), ("The answer is B", "B"),
    ("B. a blue car", "B"), ("B. A Blue  Car.", "B"),
    ("B. a red car", None),  # the letter and the option text disagree
    ("Because the path turns left, D", None), ("B and C", None), ("b", None), ("B or maybe C", None), ("", None),
    # a reasoning model's thinking comes first and is no part of its answer; one cut short answers nothing
    ("<think>\n\n</think>\n\nB", "B"), ("<think>A or C? Not D.</think>\nB.", "B"), ("<think>A or C", None),
    ("◁think▷maybe A◁/think▷(B)", "B"), ("Because A.</think>The answer is B", "B"),
    # invisible format characters (zero-width space, word joiner, byte-order mark) are no part of a reply
    ("B\u200b", "B"), ("\ufeff(B)", "B"), ("B\u2060.", "B"),
])
def test_strict_extraction_accepts_only_a_clear_letter(reply, letter):
    assert parse_choice_strict(reply, OPTIONS) == letter


def test_mcq_judgment_reports_both_rules():
    instance = GEUInstance(index=1, task_type="mental_tracking", question="q", option=OPTIONS, answer="B")
    loose = mcq_judgment(instance, "Because of the blue paint.")
    assert loose.score == 1 and loose.details["strict_score"] == 0 and loose.details["letter"] == "B"
    clear = mcq_judgment(instance, "The best answer is: B")
    assert (clear.score, clear.details["strict_score"]) == (1, 1)
    wrong = mcq_judgment(instance, "A")
    assert (wrong.kind, wrong.score, wrong.errors) == ("mcq", 0, 0)


QUESTIONS = [PollingQuestion("Is there a tiger?", "yes"), PollingQuestion("Is there a lion?", "no")]


def test_polling_is_all_or_nothing():
    assert polling_judgment(QUESTIONS, [["Yes."], ["No"]], "j").score == 1
    assert polling_judgment(QUESTIONS, [["Yes."], ["yes"]], "j").score == 0
    judged = polling_judgment(QUESTIONS, [["no"], ["no"]], "j")
    assert judged.score == 0 and [q["correct"] for q in judged.details["questions"]] == [False, True]


def test_unparseable_replies_are_judge_errors_never_answers():
    undecided = polling_judgment(QUESTIONS, [["yes"], ["maybe", "I think no", "know"]], "j")
    assert undecided.score is None and undecided.errors == 1
    assert undecided.details["questions"][1]["verdict"] is None
    # A mismatch elsewhere decides the instance despite the error.
    decided = polling_judgment(QUESTIONS, [["no"], ["maybe"]], "j")
    assert decided.score == 0 and decided.errors == 1
    # A later parseable retry counts.
    assert polling_judgment(QUESTIONS, [["yes"], ["hmm", "No."]], "j").score == 1


def test_a_question_never_asked_after_a_failed_one_is_no_judge_error():
    """The official loop stops asking at the first wrong verdict: the questions after it (no replies) are not
    judged, not judge errors. Before any failure, a question never asked leaves the instance undecided."""
    three = [*QUESTIONS, PollingQuestion("Is it big?", "no")]
    stopped = polling_judgment(three, [["no"], [], []], "j")  # first wrong, nothing more asked
    assert (stopped.score, stopped.errors) == (0, 0)
    assert [q.get("asked", True) for q in stopped.details["questions"]] == [True, False, False]
    # an asked question with no yes/no still counts, beside the unasked one
    assert (polling_judgment(three, [["no"], ["maybe"], []], "j").errors) == 1
    undecided = polling_judgment(three, [["yes"], ["no"], []], "j")
    assert (undecided.score, undecided.errors) == (None, 1)


class ScriptedJudge(Judge):
    """Replies from a script, recording every ask (a stand-in for a model in a test of the retry logic)."""

    name = "scripted"

    def __init__(self, script: dict[str, list]):
        self.script = {q: list(replies) for q, replies in script.items()}
        self.asked: list[tuple[str, int]] = []

    def ask(self, image, question_text, attempt=0):
        self.asked.append((question_text, attempt))
        reply = self.script[question_text].pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def ueg_trace(instance: UEGInstance) -> Trace:
    return Trace(instance.uid, "m", "direct", {"seed": 0},
                 [Step(StepRole.GENERATED_IMAGE, instance.prompt, image=IMAGE)])


UEG = UEGInstance(index=3, task_type="world_knowledge", prompt="The largest feline", question_list=QUESTIONS)


def test_judge_trace_retries_a_bounded_number_of_times():
    judge = ScriptedJudge({"Is there a tiger?": ["Sure!", RuntimeError("HTTP 500"), "yes"],
                           "Is there a lion?": ["hmm"] * ATTEMPTS})
    judgment = judge_trace(ueg_trace(UEG), UEG, judge, lambda step: step.image)
    assert judge.asked == [("Is there a tiger?", 0), ("Is there a tiger?", 1), ("Is there a tiger?", 2),
                           ("Is there a lion?", 0), ("Is there a lion?", 1), ("Is there a lion?", 2)]
    tiger, lion = judgment.details["questions"]
    assert tiger["verdict"] == "yes" and "HTTP 500" in tiger["replies"][1]
    assert lion["verdict"] is None and len(lion["replies"]) == ATTEMPTS
    assert (judgment.score, judgment.errors) == (None, 1)
    assert Judgment.from_dict(judgment.to_dict()) == judgment


def test_judge_that_cannot_run_is_raised_not_counted():
    judge = ScriptedJudge({"Is there a tiger?": [ModelUnavailable("GEMINI_API_KEY is not set")]})
    with pytest.raises(ModelUnavailable, match="GEMINI_API_KEY"):
        judge_trace(ueg_trace(UEG), UEG, judge, lambda step: step.image)


def test_human_judge_uses_entered_answers():
    judge = build_judge("human", answers={"Is there a tiger?": "yes", "Is there a lion?": "no"})
    assert isinstance(judge, HumanJudge) and judge.name == "human"
    assert judge_trace(ueg_trace(UEG), UEG, judge, lambda step: step.image).score == 1
    with pytest.raises(MissingAnswer, match="lion"):
        judge_trace(ueg_trace(UEG), UEG, build_judge("human", answers={"Is there a tiger?": "yes"}),
                    lambda step: step.image)


def test_judge_trace_refuses_unfinished_or_mismatched_runs():
    failed = Trace(UEG.uid, "m", "direct", {}, status=Status.ERROR, error="boom")
    with pytest.raises(ValueError, match="only finished runs"):
        judge_trace(failed, UEG, HumanJudge(), lambda step: step.image)
    other = UEGInstance(index=4, task_type="world_knowledge", prompt="p", question_list=QUESTIONS)
    with pytest.raises(ValueError, match="UEG_4_world_knowledge"):
        judge_trace(ueg_trace(UEG), other, HumanJudge(), lambda step: step.image)


def test_an_instance_without_polling_questions_is_refused_not_passed():
    with pytest.raises(ValueError, match="no polling questions"):
        polling_judgment([], [], "j")
    own = UEGInstance(index=77, task_type="world_knowledge", prompt="three green apples", question_list=[])
    judge = ScriptedJudge({})
    loaded = []
    with pytest.raises(ValueError, match="UEG_77_world_knowledge has no polling questions"):
        judge_trace(ueg_trace(own), own, judge, loaded.append)
    with pytest.raises(ValueError, match="UEG_77_world_knowledge has no polling questions"):
        judge_trace(ueg_trace(own), own, build_judge("human", answers={}), loaded.append)
    assert judge.asked == [] and loaded == []  # refused before any image is loaded or question asked


def test_geu_traces_are_scored_from_the_answer_without_asking_the_judge():
    instance = GEUInstance(index=2, task_type="cognitive_navigation", question="q", option=OPTIONS, answer="D")
    trace = Trace(instance.uid, "m", "direct", {}, [Step(StepRole.ANSWER, "prompt", text="The answer is D")])
    judge = ScriptedJudge({})
    assert judge_trace(trace, instance, judge, lambda step: step.image).score == 1
    assert judge.asked == []


class RecordingPool:
    """The pool interface AdapterJudge uses (``use(name)`` as a context manager), recording the calls."""

    def __init__(self):
        self.calls = []

    def use(self, name):
        pool = self

        class Use:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def understand(self, images, text, options):
                pool.calls.append((name, images, text, options))
                return "no"

        return Use()


def test_adapter_judge_sends_the_paper_prompt_greedy_then_sampled_retries():
    pool = RecordingPool()
    judge = build_judge("some-vlm", pool)
    assert isinstance(judge, AdapterJudge) and judge.name == "some-vlm"
    assert judge.ask(IMAGE, "Is there a tiger?", attempt=0) == "no"
    judge.ask(IMAGE, "Is there a tiger?", attempt=2)
    (name, images, text, first), (_, _, _, retry) = pool.calls
    assert name == "some-vlm" and images == [IMAGE] and text == prompts.judge_prompt("Is there a tiger?")
    assert first.temperature == 0 and retry.temperature > 0 and retry.seed != first.seed
    with pytest.raises(ValueError, match="model pool"):
        build_judge("some-vlm")


def test_a_judge_that_fails_to_load_stops_the_batch_instead_of_recording_errors():
    class NoWeights:
        def use(self, name):
            raise OSError("couldn't find them in the cached files")

    with pytest.raises(ModelUnavailable, match="some-vlm: could not be loaded: OSError: couldn't find them"):
        judge_trace(ueg_trace(UEG), UEG, build_judge("some-vlm", NoWeights()), lambda step: step.image)


def test_an_openai_compatible_endpoint_judges_exactly_like_the_local_model(tmp_path):
    """The same AdapterJudge drives a card of the openai family: here the tiny pair behind serve-openai's app."""
    from realunify_arena.cards import load_card, load_cards
    from realunify_arena.runtime import ModelPool
    from realunify_arena.serving import BackgroundServer, create_app

    cards = load_cards()
    pool = ModelPool(cards, device="cpu")
    trace = ueg_trace(UEG)
    with BackgroundServer(create_app(pool, "tiny-pair")) as server:
        path = tmp_path / "remote-judge.yaml"
        path.write_text(json.dumps({
            "family": "openai", "description": "tiny-pair behind an OpenAI-compatible endpoint (test only)",
            "endpoint": server.url, "capabilities": ["understand"], "checkpoint": "tiny-pair",
            "params": {"send_options": True}}))
        remote_pool = ModelPool({"remote-judge": load_card(path)}, device="cpu")
        remote = judge_trace(trace, UEG, build_judge("remote-judge", remote_pool), lambda step: step.image)
        local = judge_trace(trace, UEG, build_judge("tiny-pair", pool), lambda step: step.image)
    pool.close()
    assert remote.details["judge"] == "remote-judge"
    assert not any("judge call failed" in r for q in remote.details["questions"] for r in q["replies"])
    assert [q["replies"] for q in remote.details["questions"]] == [q["replies"] for q in local.details["questions"]]
    assert (remote.score, remote.errors) == (local.score, local.errors)
