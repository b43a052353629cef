"""Judging finished runs: polling questions for UEG images, answer letters for GEU replies.

UEG: a judge (any model card that understands images, or a person) answers each polling question with
the paper's prompt, one call per question. A leading reasoning block (``<think>...</think>`` and its
variants, see ``strip_reasoning``) and the wrappers around the verdict (answer tags such as
``<answer>Yes</answer>``, a tag pair named as an answer or around a bare verdict, a Markdown code fence, ``\\boxed{}``,
a JSON object's ``answer``; see ``answer_text``), then a label ("Answer:", "1.") are removed first (what a wrapper or
label holds must name one answer alone), then the reply is parsed strictly: the first word
decides, so "No." and "Yes—the image shows" are answers while "know", "The answer is yes", "Yes/No" and
"Yes and no" are unparseable (``parse_yes_no``). The official
generation scorer (FrankYang-17/RealUnify ``eval/eval_generation.py``) lower-cases the reply and tests
substrings: "yes" anywhere makes it yes, otherwise "no" anywhere makes it no, so "yes" wins when a reply
contains both words and "know" counts as no. An unparseable reply is asked again a bounded number of times
with another seed, then recorded as a judge error; it is never counted as either answer.

GEU: no judge model. The headline score uses the official extraction exactly (``extract_choice``, after
``eval/eval_understanding.py``'s ``extract_characters_regex``); a strict parse (a clear letter only) is kept
beside it, so answers that only score through the loose rule can be seen.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from PIL import Image

from realunify_arena.adapters.base import GenerationOptions, ModelSource, ModelUnavailable
from realunify_arena.benchmark import prompts
from realunify_arena.benchmark.schema import LETTERS, AnyInstance, GEUInstance, PollingQuestion
from realunify_arena.families import Capability
from realunify_arena.protocols import CUT_ANSWER, loaded
from realunify_arena.reasoning import cut_before_answer, strip_reasoning
from realunify_arena.redaction import error_text, redact
from realunify_arena.scoring import instance_score
from realunify_arena.shown import brief
from realunify_arena.trace import Step, Trace

HUMAN = "human"
ANSWER_PARSER = "answer-parser"  # the judge name GEU judgments are stored under: no judge model takes part
DEFAULT_JUDGE = "qwen2.5-vl-7b"  # local and open; the paper's judge is the gemini-2.5-pro card
PAPER_JUDGE = "gemini-2.5-pro"  # RealUnify's own judge (REALUNIFY.md); runs when $GEMINI_API_KEY is set
ATTEMPTS = 3  # asks per polling question before a judge error is recorded
# The official extraction's phrases, in its order (FrankYang-17/RealUnify eval/eval_understanding.py,
# ``extract_characters_regex``; lmms-eval's realunify task copies the list). Each is removed wherever it
# occurs, case-sensitively: "Answer B" and "**Answer**: D" read as B and D, not as the A of "Answer".
ANSWER_PHRASES = ("The best answer is", "The correct answer is", "The answer is", "The answer",
                  "The best option is", "The correct option is", "Best answer:", "Best option:",
                  "Answer", "Answer is")
# What "strict parse" means, in plain words, wherever a GEU verdict shows it beside the parsed letter.
STRICT_PARSE_NOTE = ("The parsed letter follows the official RealUnify script: after phrases such as \"The answer "
                     "is\" are removed, the first capital A, B, C or D anywhere in the reply counts. The strict "
                     "parse sets aside the same phrases, a reasoning block and a wrapper around the answer (answer "
                     "tags, a code fence, \\boxed{}, a JSON answer), then counts a letter only when the reply is "
                     "nothing but that letter (\"B\", \"(B)\", or \"B.\" with that option's text); anything else "
                     "is \"none\".")
# The strict parse's own prefixes, removed before it asks for a reply that is nothing but a letter.
STRICT_PHRASES = ("The best answer is", "The correct answer is", "The answer is", "The answer",
                  "The best option is", "The correct option is", "Best answer:", "Best option:",
                  "Final Answer:", "Final answer:", "Answer:", "Option:")
# The tags some models put around the answer itself, after the reasoning: <answer> (GLM-4.1V-Thinking,
# Hunyuan-A13B, R1-style RL models), <response> (ERNIE-4.5 thinking), <|begin_of_solution|> (after the
# begin/end-of-thought markers) and GLM-4.5V's <|begin_of_box|>; (opening, closing) pairs.
_ANSWER_WRAPPERS = (("<answer>", "</answer>"), ("<response>", "</response>"),
                    ("<|begin_of_solution|>", "<|end_of_solution|>"), ("<|begin_of_box|>", "<|end_of_box|>"))
# Other wrappers around the whole answer: any one XML-like tag pair (<output>Yes</output>, <verdict>No</verdict>), a
# Markdown code fence with or without its language ("```text\nYes\n```"; a language ends its line, so "```yes```",
# one line, holds "yes", as CommonMark reads it), and LaTeX's \boxed{...} (R1-style
# models box their final answer; \text{...} inside it and $...$ around it are dropped too).
_TAG_PAIR = re.compile(r"<([A-Za-z][\w:.-]*)\s*>(.*)</\1\s*>", re.DOTALL | re.IGNORECASE)
_CODE_FENCE = re.compile(r"(`{3,}|~{3,})(?:[\w+.-]*[ \t]*\n)?(.*?)\n?[ \t]*(?:\1)?", re.DOTALL)
_BOXED = re.compile(r"\$*\s*\\boxed\{\s*(?:\\text(?:bf)?\{(.*)\}|(.*))\s*\}\s*\$*", re.DOTALL)
# The names a JSON object's key or a tag pair gives a verdict by ({"answer": "yes"}, <verdict>No</verdict>). Any
# other one tag pair, and an object of one string value under another key, is read only when it holds a bare verdict
# (<p>No</p>, {"a": "Yes"}): "<analysis>No doubt it is a cat</analysis>" wraps reasoning, not an answer.
_JSON_ANSWER_KEYS = ("answer", "final_answer", "verdict", "response", "result", "output", "judgment")
_ANSWER_NAMES = frozenset(_JSON_ANSWER_KEYS + ("judgement", "final", "conclusion", "decision", "reply", "label"))
_BARE_VERDICT = re.compile(r"[\W_]*(?:yes|no|[ABCD])[\W_]*", re.IGNORECASE)
# A label before the verdict: "Answer: Yes", "**Final answer:** no", "Verdict - yes", or a question's number as a
# judge answering a numbered list writes it ("1. Yes", "(2) No", "Q3: yes"). A sentence ("The answer is yes")
# is no label and stays unparseable.
_VERDICT_LABEL = re.compile(r"[\s*_#>`\"'(\[]*(?:(?:final\s+)?answer|verdict|judg(?:e)?ment|response|result|output"
                            r"|(?:q(?:uestion)?\s*)?\d{1,2})\s*[*_)\]]*\s*[:：.)\]-]\s*[*_]*", re.IGNORECASE)
_NUMBERED_LINE = re.compile(r"[\s*_#>-]*(?:q(?:uestion)?\s*)?(\d{1,2})\s*[.):：]\s*(.*)", re.IGNORECASE)
_STRICT_CHOICE = re.compile(r"\(?([ABCD])\)?(?:\s*[.):]\s*(.*))?", re.DOTALL)
_EDGE_CHARS = string.punctuation + string.whitespace + "“”‘’"
_WORD = re.compile(r"[^\W_]+")  # a run of letters and digits


def judge_card_problem(name: str, cards: Mapping, broken: frozenset[str] = frozenset()) -> str | None:
    """Why the judge setting ``name`` (a card name, ``human``, or ``auto``) cannot judge UEG polling questions
    with these ``cards`` (name -> ``cards.ModelCard``), or None when it can: no such card (``broken``: the
    names of cards left out as unreadable), or a card that cannot understand images."""
    if name in (HUMAN, "auto"):
        return None
    if name in broken:
        return f"{name!r}: its model card could not be read (see the warning above)"
    if name not in cards:
        judges = sorted(n for n, c in cards.items() if Capability.UNDERSTAND in c.capabilities)
        return f"{name!r}: no such model card; expected human, auto or a card that understands images: " \
               f"{', '.join(judges)}"
    if Capability.UNDERSTAND not in cards[name].capabilities:
        return f"{name!r}: the card cannot understand images, so it cannot answer polling questions"
    return None


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


def answer_text(reply: str | None) -> str:
    """The part of a reply that answers: without its leading reasoning block(s) (``strip_reasoning``) and
    without the answer tags around it (``<answer>Yes</answer>``, ``<|begin_of_box|>B<|end_of_box|>``, nested:
    everything after the first closing tag is dropped). "" when the reasoning never ends."""
    return _answer_parts(reply)[0]


def _answer_parts(reply: str | None) -> tuple[str, bool]:
    """``answer_text(reply)`` and whether a wrapper other than the reasoning-model answer tags
    (``_ANSWER_WRAPPERS``) was removed to reach it (then ``parse_yes_no`` reads it only when it names one answer)."""
    text, wrapped = strip_reasoning(reply), False
    while True:
        stripped = text.strip()
        for opening, closing in _ANSWER_WRAPPERS:
            if stripped[:len(opening)].lower() == opening:
                inner = stripped[len(opening):]
                end = inner.lower().find(closing)
                text = inner if end < 0 else inner[:end]
                break
        else:
            inner = _unwrapped(stripped)
            if inner is None:
                return text, wrapped
            text, wrapped = inner, True


def _unwrapped(text: str) -> str | None:
    """What one wrapper around the whole of ``text`` holds (a tag pair, a code fence, \\boxed{}, a JSON object
    naming its answer), or None when nothing wraps it. A tag pair or a JSON key whose name is no answer's
    (``_ANSWER_NAMES``) counts only around a bare verdict."""
    match = _TAG_PAIR.fullmatch(text)
    if match:
        inner = match.group(2)
        return inner if match.group(1).lower() in _ANSWER_NAMES or _BARE_VERDICT.fullmatch(inner) else None
    for pattern in (_CODE_FENCE, _BOXED):
        match = pattern.fullmatch(text)
        if match:
            return next(g for g in reversed(match.groups()) if g is not None)
    if text.startswith("{") and text.endswith("}"):
        try:
            value = json.loads(text)
        except ValueError:
            return None
        if isinstance(value, dict):
            named = {str(k).lower(): v for k, v in value.items()}
            found = next((named[k] for k in _JSON_ANSWER_KEYS if k in named), None)
            if found is None and len(value) == 1:
                found = next(iter(value.values()))
                if not (isinstance(found, str) and _BARE_VERDICT.fullmatch(found)):
                    return None
            return found if isinstance(found, str) else None
    return None


def parse_yes_no(reply: str | None) -> Verdict | None:
    """"yes" or "no" when the reply's first word after any reasoning block and answer tags (``answer_text``) is
    one of them, else None.

    Case and the punctuation around the word are ignored, any script's ("**Yes**", "Yes:", "“No”", "Yes。"),
    and a dash or other punctuation may join it to the next word ("Yes—the image shows", "No–it does not",
    "Yes-the"). A reply that gives both answers is ambiguous and gives None: the other answer joined to the
    first without a space ("Yes/No", "Yes-no"), or ending the reply after it, alone or after "and"/"or"
    ("Yes, no", "Yes and no.", "No or yes"). Where the other word starts a phrase it is no answer: "Yes, no
    other object is visible" is yes. Words that only start with one ("Yesterday", "Nope") or carry a digit
    ("Yes2") give None. Invisible format characters ("\u200bYes", "No\ufeff") are no part of the reply.
    Read through a label or a wrapper other than reasoning-model answer tags ("Answer: ...", a code fence, a JSON
    object), the reply must name one answer alone: "Result: no visible cat, so yes" and "Answer: No\nAnswer: Yes"
    give None, as they did before such wrappers were read (the official substring rule reads both as yes)."""
    text, wrapped = _answer_parts(reply)
    text = _without_format_characters(text).lstrip()
    label = _VERDICT_LABEL.match(text)
    if label:
        text, wrapped = text[label.end():], True
    start = 0
    while start < len(text) and _is_punctuation(text[start]):
        start += 1
    words = list(_WORD.finditer(text, start))
    if not words or words[0].start() != start:
        return None  # nothing, or a symbol that is not punctuation ("✅") before the first word
    first = words[0].group().lower()
    after = text[words[0].end():][:1]
    if first not in ("yes", "no") or (after and not (after.isspace() or _is_punctuation(after))):
        return None
    other = "no" if first == "yes" else "yes"
    rest = [w.group().lower() for w in words[1:3]]
    if rest[:1] == [other]:
        joined = not any(c.isspace() for c in text[words[0].end():words[1].start()])
        if joined or len(words) == 2:
            return None  # "Yes/No", "Yes-no", "Yes, no.": both answers
    elif rest[:1] in (["and"], ["or"]) and rest[1:2] == [other] and len(words) == 3:
        return None  # "Yes and no", "No or yes"
    if wrapped and any(w.group().lower() == other for w in words[1:]):
        return None  # "Result: no visible cat, so yes", "Answer: No\nAnswer: Yes": a label or wrapper, both words
    return first


def _without_format_characters(text: str) -> str:
    """``text`` without invisible format characters (Unicode category Cf: a zero-width space, a word joiner, a
    byte-order mark), which some APIs and tokenizers leave in a reply and which no reader sees."""
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def _is_punctuation(char: str) -> bool:
    """Any script's punctuation (an em dash, "。", "「"), ASCII's symbols and quotes, and white space."""
    return char in _EDGE_CHARS or unicodedata.category(char).startswith("P")


def _strip_phrases(reply: str, phrases: tuple[str, ...] = ANSWER_PHRASES) -> str:
    for phrase in phrases:
        reply = reply.replace(phrase, "")
    return reply.strip()


def extract_choice(reply: str | list | None) -> str | None:
    """The official GEU letter, or None: the headline rule.

    As ``extract_characters_regex`` in FrankYang-17/RealUnify ``eval/eval_understanding.py``: a list reply
    counts by its first element; the reply is stripped, every ``ANSWER_PHRASES`` entry is removed in order
    wherever it occurs, a reply of more than 10 words without a capital A-D has no answer, otherwise the
    first capital A-D anywhere is the answer. Lower-case and full-width letters are not letters here.
    """
    if isinstance(reply, list):
        reply = reply[0] if reply else None
    if not isinstance(reply, str):
        return None
    text = _strip_phrases(reply.strip())
    found = re.search("[ABCD]", text)
    if len(text.split()) > 10 and not found:
        return None
    return found.group(0) if found else None


def parse_choice_strict(reply: str | None, options: list[str] | None = None) -> str | None:
    """A letter only when the reply is just that letter: "B", "B.", "(B)", "B)", or "B. <option B's text>".

    A leading reasoning block and the answer tags around the letter are no part of the reply (``answer_text``,
    as for the judge's yes/no): "<think>A or C?</think>B" and "<answer>B</answer>" are B, and a reply cut
    short while thinking is None."""
    text = _strip_phrases(_without_format_characters(answer_text(reply)), STRICT_PHRASES).strip("*`: \n\t")
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
    A question with no replies was never asked (``asked: False`` in its item), as where a runner stops at the
    first wrong verdict the way the official scorer's loop does; see ``judge_errors`` for how it counts.
    """
    if not questions:
        raise ValueError(f"judge {judge}: no polling questions to score (an empty poll is not a pass)")
    if len(replies) != len(questions):
        raise ValueError(f"{len(questions)} polling questions but replies for {len(replies)}")
    items = []
    # a reply stored on every question answers them all (a runner that asks them together); one given to one
    # question alone answers that question only, even when it is a numbered list (its reasoning steps)
    shared = [a for a in replies[0] if all(a in other for other in replies[1:])]
    for position, (q, answers) in enumerate(zip(questions, replies), start=1):
        verdict = next((v for v in (parse_yes_no(numbered_item(a, position, len(questions)) if a in shared else a)
                                    for a in answers) if v is not None), None)
        items.append({"question": q.question, "expected": q.answer, "replies": list(answers),
                      "verdict": verdict, "correct": None if verdict is None else verdict == q.answer,
                      **({} if answers else {"asked": False})})
    score = instance_score(item["correct"] for item in items)
    return Judgment("polling", score, {"judge": judge, "questions": items}, judge_errors(items, score))


def numbered_item(reply: str, position: int, count: int) -> str:
    """Item ``position`` (1-based) of a reply that answers all ``count`` polling questions as a numbered list, one
    a line, numbered 1 to ``count`` in order ("1. Yes\\n2. No", "Q1: yes\\nQ2: no"; after any reasoning block and
    answer tags), as a runner that asks them together stores it for each question: that line, its number kept
    (``parse_yes_no`` reads it as a label). The reply itself when it is no such list: numbered reasoning steps
    ("1. No cat is visible\\n2. So yes") or a list of more or fewer items than questions is read whole.
    ``polling_judgment`` asks for an item only of a reply stored on every question: a list given to one
    question alone is that judge's steps for it, whatever their number."""
    lines = [line for line in answer_text(reply).splitlines() if line.strip()] if isinstance(reply, str) else []
    found = [_NUMBERED_LINE.fullmatch(line) for line in lines]
    if count < 2 or len(found) != count or not all(found) \
            or [int(m.group(1)) for m in found] != list(range(1, count + 1)):
        return reply
    return lines[position - 1]


def was_asked(item: dict) -> bool:
    """Whether a polling question's item (``Judgment.details["questions"][i]``) was put to the judge: False
    for one marked ``asked: False``, and for a judge's item stored without that mark that has no reply and
    no verdict (an import made before the mark existed; every question the live judge asks keeps its
    replies). A human majority item (``voters``) keeps no replies but was asked."""
    if "asked" in item:
        return bool(item["asked"])
    return bool(item.get("replies")) or item.get("verdict") is not None or "voters" in item


def judge_errors(items: list[dict], score: int | None) -> int:
    """The polling questions of one judgment (``items``, its ``details["questions"]``; ``score`` its instance
    score) that count as judge errors: an asked question with no yes/no verdict; and a question never asked
    only while the instance is undecided (``score`` None). Once an asked question fails the instance (0) the
    official rule asks nothing more, so an unasked question is then no error: it is simply not judged."""
    return sum(item.get("verdict") is None and (score is None or was_asked(item)) for item in items)


def mcq_judgment(instance: GEUInstance, reply: str | list | None) -> Judgment:
    """The parsed letter against the expected one; score 1/0, or None when the instance has no expected
    answer (your own GEU question asked without one: the letter is read but nothing is scored). A list
    reply counts by its first element, as the official script reads it."""
    if isinstance(reply, list):
        reply = reply[0] if reply else None
    if not isinstance(reply, str):
        reply = None
    letter = extract_choice(reply)
    strict = parse_choice_strict(reply, instance.option)
    expected = instance.answer or None

    def score(found: str | None) -> int | None:
        return None if expected is None else int(found == expected)

    return Judgment("mcq", score(letter), {
        "reply": reply, "answer": instance.answer, "letter": letter,
        "strict_letter": strict, "strict_score": score(strict)})


# -- judges ---------------------------------------------------------------------------------------


class Judge:
    """Answers one polling question about one image. ``attempt`` counts retries after unparseable replies."""

    name: str = "judge"

    def ask(self, image: Image.Image, question_text: str, attempt: int = 0) -> str:
        raise NotImplementedError


class AdapterJudge(Judge):
    """Any model card that understands images: a local VLM, Gemini, or an OpenAI-compatible endpoint.

    The first ask is greedy; retries sample with a new seed, since a greedy retry would repeat itself. Each ask
    allows ``max_new_tokens`` (8: the first word is all that counts); a reply cut at that limit inside a
    reasoning block or just after it (``reasoning.cut_before_answer``: a reasoning model served without a reasoning
    parser, whose verdict comes after its thoughts) is asked once more with the card's own ``max_new_tokens``
    (``defaults.max_new_tokens``, 256 unless the card sets it: set it to what the model's thinking needs). A card
    that allows no more than the first ask (``max_new_tokens`` at most 8) cannot be asked again: that ask raises
    ``NoRoomToReason``, whose message names the card file and its value, and the question is not asked again.
    """

    def __init__(self, pool: ModelSource, card: str, *, max_new_tokens: int = 8):
        self.pool = pool
        self.name = card
        self.max_new_tokens = max_new_tokens

    def options(self, attempt: int, max_new_tokens: int | None = None) -> GenerationOptions:
        return GenerationOptions(seed=attempt, max_new_tokens=max_new_tokens or self.max_new_tokens,
                                 temperature=0.0 if attempt == 0 else 0.7)

    def ask(self, image: Image.Image, question_text: str, attempt: int = 0) -> str:
        prompt = prompts.judge_prompt(question_text)
        with loaded(self.pool, self.name) as adapter:
            reply = adapter.understand([image], prompt, self.options(attempt))
            if isinstance(reply, str) and cut_before_answer(reply):
                room = adapter.card.defaults.max_new_tokens
                if room <= self.max_new_tokens:
                    raise NoRoomToReason(
                        f"judge {self.name!r}: its reply ({_cut_shown(reply)}) was cut at {self.max_new_tokens} "
                        f"tokens while it was still reasoning or just after, before its verdict, and its card's "
                        f"defaults.max_new_tokens ({room}) leaves no room to ask again: raise it in "
                        f"{adapter.card.file} to what the model's thinking needs")
                reply = adapter.understand([image], prompt, self.options(attempt, room))
        # kept in the judgment, shown and exported: an endpoint that echoes its key must not put it there
        return redact(reply) if isinstance(reply, str) else reply


def _cut_shown(reply: str) -> str:
    """A cut reply as ``NoRoomToReason`` quotes it (``shown.brief``); one of no text whose thoughts its server gave
    apart (``Reply.reasoning``) as those thoughts, said to be so."""
    reasoning = getattr(reply, "reasoning", None)
    return f"no answer, thoughts apart: {brief(reasoning)}" if reasoning and not reply.strip() else brief(reply)


class NoRoomToReason(ValueError):
    """A judge's reply was cut before its verdict (``reasoning.cut_before_answer``) and its card allows no more
    tokens than the ask that cut it, so asking again, even sampled, would be cut the same way. Raised by
    ``AdapterJudge.ask``; the message quotes the cut reply (``shown.brief``), the first ask's limit (8 tokens) and
    the card's ``defaults.max_new_tokens``, and names the card file (``ModelCard.file``). The question becomes a
    judge error asked once (``_ask_until_parsed``), its reply that message."""


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


def judge_name(instance: AnyInstance, judge: str) -> str:
    """The name a run's judgment is stored under: ``ANSWER_PARSER`` for GEU (its letter is parsed, no judge
    model takes part, as in the paper), ``judge`` for UEG. The one place this rule is written."""
    return judge if asks_judge(instance) else ANSWER_PARSER


def asks_judge(instance: AnyInstance) -> bool:
    """Whether judging a run of ``instance`` asks the judge (UEG: its polling questions), not the answer
    parser (GEU)."""
    return not isinstance(instance, GEUInstance)


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
    answer is raised; any other failure of one ask counts as an unparseable reply, and a question whose
    ask timed out (``TimeoutError``: the judge's one deadline passed) is not asked again."""
    if trace.final is None:
        raise ValueError(f"{trace.system} on {trace.instance_uid}: only finished runs are judged "
                         f"(status {trace.status.value})")
    if trace.instance_uid != instance.uid:
        raise ValueError(f"trace is for {trace.instance_uid}, instance is {instance.uid}")
    if isinstance(instance, GEUInstance):
        judgment = mcq_judgment(instance, trace.final.text)
        if any(note.startswith(CUT_ANSWER) for note in trace.notes):  # its reply alone may not say so: "" when
            # its server gave the thoughts apart (``protocols.cut_answer_note``); ``report`` counts it from here
            judgment.details["cut_while_reasoning"] = True
        return judgment
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
            reply = f"<judge call failed: {error_text(e)}>"
            # the endpoint had its whole deadline: asking again would only wait again; a judge with no room to
            # reason would be cut again
            if isinstance(e, (TimeoutError, NoRoomToReason)):
                replies.append(reply)
                break
        replies.append(reply)
        if parse_yes_no(reply) is not None:
            break
    return replies

