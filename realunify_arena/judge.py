"""Judging finished runs: polling questions for UEG images, answer letters for GEU replies.

UEG: a judge (any model card that understands images, or a person) answers each polling question with
the paper's prompt, one call per question. Replies are parsed strictly: the first word decides, so
"No." is no and "know" or "The answer is yes" is unparseable (the official script's substring test
would count both as "no"). An unparseable reply is asked again a bounded number of times with another
seed, then recorded as a judge error; it is never counted as either answer.

GEU: no judge model. The paper's extraction gives the headline score; a strict parse (a clear letter
only) is kept beside it, so answers that only score through the paper's loose rule can be seen.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from PIL import Image

from realunify_arena.adapters.base import GenerationOptions, ModelSource, ModelUnavailable
from realunify_arena.benchmark import prompts
from realunify_arena.benchmark.schema import LETTERS, AnyInstance, GEUInstance, PollingQuestion
from realunify_arena.protocols import loaded
from realunify_arena.trace import Step, Trace

HUMAN = "human"
ANSWER_PARSER = "answer-parser"  # the judge name GEU judgments are stored under: no judge model takes part
DEFAULT_JUDGE = "qwen2.5-vl-7b"  # local and open; the paper's judge is the gemini-2.5-pro card
ATTEMPTS = 3  # asks per polling question before a judge error is recorded
# Phrases the paper strips before looking for a letter; longer phrases first so "The answer is" goes whole.
ANSWER_PHRASES = ("The best answer is", "The correct answer is", "The answer is", "The answer",
                  "The best option is", "The correct option is", "Best answer:", "Best option:",
                  "Answer:", "Option:")
_STRICT_CHOICE = re.compile(r"\(?([ABCD])\)?(?:\s*[.):]\s*(.*))?", re.DOTALL)
_EDGE_CHARS = string.punctuation + string.whitespace + "“”‘’"

Verdict = Literal["yes", "no"]
ImageLoader = Callable[[Step], Image.Image]


class MissingAnswer(LookupError):
    """A human judgment was requested for a question nobody answered."""


@dataclass
class Judgment:
    """The verdict on one run: ``score`` 1/0, or None when the judge errors leave it undecided."""

    kind: Literal["polling", "mcq"]
    score: int | None
    details: dict = field(default_factory=dict)
    errors: int = 0

    def to_dict(self) -> dict:
        return {"kind": self.kind, "score": self.score, "details": self.details, "errors": self.errors}

    @classmethod
    def from_dict(cls, d: dict) -> Judgment:
        return cls(kind=d["kind"], score=d["score"], details=d.get("details", {}), errors=d.get("errors", 0))


# -- parsing ----------------------------------------------------------------------------------------


def parse_yes_no(reply: str | None) -> Verdict | None:
    """"yes" or "no" when the reply's first word is one of them (case and punctuation ignored)."""
    words = (reply or "").split()
    if not words:
        return None
    first = words[0].strip(_EDGE_CHARS).lower()
    return first if first in ("yes", "no") else None


def _strip_phrases(reply: str) -> str:
    for phrase in ANSWER_PHRASES:
        reply = reply.replace(phrase, "")
    return reply.strip()


def extract_choice(reply: str | None) -> str | None:
    """The paper's rule: strip the answer phrases, then the first capital A-D anywhere in the reply.

    The paper also gives no answer for a reply over 10 words without a letter; a reply without a letter
    has no answer whatever its length, so that rule needs no code of its own.
    """
    found = re.search("[ABCD]", _strip_phrases(reply or ""))
    return found.group(0) if found else None


def parse_choice_strict(reply: str | None, options: list[str] | None = None) -> str | None:
    """A letter only when the reply is just that letter: "B", "B.", "(B)", "B)", or "B. <option B's text>"."""
    text = _strip_phrases(reply or "").strip("*`: \n\t")
    match = _STRICT_CHOICE.fullmatch(text)
    if not match:
        return None
    letter, rest = match.group(1), _normalise(match.group(2) or "")
    if rest and (options is None or rest != _normalise(options[LETTERS.index(letter)])):
        return None
    return letter


def _normalise(text: str) -> str:
    return " ".join(text.split()).strip(_EDGE_CHARS).lower()


# -- verdicts from replies -------------------------------------------------------------------------


def polling_judgment(questions: list[PollingQuestion], replies: list[list[str]], judge: str) -> Judgment:
    """Score a UEG instance from the judge's replies (``replies[i]``: every reply to question i, in order).

    All-or-nothing as in the paper. A mismatch on any question makes the instance 0 even if another
    question has a judge error (the outcome is decided either way); otherwise a judge error leaves it None.
    """
    if not questions:
        raise ValueError(f"judge {judge}: no polling questions to score (an empty poll is not a pass)")
    if len(replies) != len(questions):
        raise ValueError(f"{len(questions)} polling questions but replies for {len(replies)}")
    items, errors = [], 0
    for q, answers in zip(questions, replies):
        verdict = next((v for v in map(parse_yes_no, answers) if v is not None), None)
        errors += verdict is None
        items.append({"question": q.question, "expected": q.answer, "replies": list(answers),
                      "verdict": verdict, "correct": None if verdict is None else verdict == q.answer})
    if any(item["correct"] is False for item in items):
        score = 0
    elif errors:
        score = None
    else:
        score = 1
    return Judgment("polling", score, {"judge": judge, "questions": items}, errors)


def mcq_judgment(instance: GEUInstance, reply: str | None) -> Judgment:
    letter = extract_choice(reply)
    strict = parse_choice_strict(reply, instance.option)
    return Judgment("mcq", int(letter == instance.answer), {
        "reply": reply, "answer": instance.answer, "letter": letter,
        "strict_letter": strict, "strict_score": int(strict == instance.answer)})


# -- judges ---------------------------------------------------------------------------------------


class Judge:
    """Answers one polling question about one image. ``attempt`` counts retries after unparseable replies."""

    name: str = "judge"

    def ask(self, image: Image.Image, question_text: str, attempt: int = 0) -> str:
        raise NotImplementedError


class AdapterJudge(Judge):
    """Any model card that understands images: a local VLM, Gemini, or an OpenAI-compatible endpoint.

    The first ask is greedy; retries sample with a new seed, since a greedy retry would repeat itself.
    """

    def __init__(self, pool: ModelSource, card: str, *, max_new_tokens: int = 8):  # the first word is all that counts
        self.pool = pool
        self.name = card
        self.max_new_tokens = max_new_tokens

    def options(self, attempt: int) -> GenerationOptions:
        return GenerationOptions(seed=attempt, max_new_tokens=self.max_new_tokens,
                                 temperature=0.0 if attempt == 0 else 0.7)

    def ask(self, image: Image.Image, question_text: str, attempt: int = 0) -> str:
        with loaded(self.pool, self.name) as adapter:
            return adapter.understand([image], prompts.judge_prompt(question_text), self.options(attempt))


class HumanJudge(Judge):
    """Answers a person entered in the UI, keyed by question text."""

    name = HUMAN

    def __init__(self, answers: Mapping[str, str] | None = None):
        self.answers = dict(answers or {})

    def ask(self, image: Image.Image, question_text: str, attempt: int = 0) -> str:
        try:
            return self.answers[question_text]
        except KeyError:
            raise MissingAnswer(f"human judge: no answer entered for {question_text!r}") from None


def build_judge(name: str, pool: ModelSource | None = None, *, answers: Mapping[str, str] | None = None) -> Judge:
    """``"human"`` (with the answers entered) or the name of a model card the pool can run.

    Raises:
        ValueError: ``name`` is a card but no ``pool`` was given.
    """
    if name == HUMAN:
        return HumanJudge(answers)
    if pool is None:
        raise ValueError(f"judge {name!r} is a model card; a model pool is needed to run it")
    return AdapterJudge(pool, name)


def stored_images(store) -> ImageLoader:
    """Image loader for traces that came back from the store (steps carry content hashes)."""
    return lambda step: step.image if step.image is not None else store.get_image(step.image_sha)


def judge_trace(trace: Trace, instance: AnyInstance, judge: Judge, image_loader: ImageLoader, *,
                attempts: int = ATTEMPTS) -> Judgment:
    """Judge a finished run. A backend that cannot run at all (``ModelUnavailable``) or a missing human
    answer is raised; any other failure of one ask counts as an unparseable reply."""
    if trace.final is None:
        raise ValueError(f"{trace.system} on {trace.instance_uid}: only finished runs are judged "
                         f"(status {trace.status.value})")
    if trace.instance_uid != instance.uid:
        raise ValueError(f"trace is for {trace.instance_uid}, instance is {instance.uid}")
    if isinstance(instance, GEUInstance):
        return mcq_judgment(instance, trace.final.text)
    if not instance.question_list:
        raise ValueError(f"{instance.uid} has no polling questions, so there is nothing to judge it by")
    image = image_loader(trace.final)
    replies = [_ask_until_parsed(judge, image, q.question, attempts) for q in instance.question_list]
    return polling_judgment(instance.question_list, replies, judge.name)


def _ask_until_parsed(judge: Judge, image: Image.Image, question: str, attempts: int) -> list[str]:
    replies = []
    for attempt in range(attempts):
        try:
            reply = judge.ask(image, question, attempt)
        except (ModelUnavailable, MissingAnswer):
            raise
        except Exception as e:  # noqa: BLE001 - a failed call is a failed attempt; its message is kept
            reply = f"<judge call failed: {type(e).__name__}: {e}>"
        replies.append(reply)
        if parse_yes_no(reply) is not None:
            break
    return replies

