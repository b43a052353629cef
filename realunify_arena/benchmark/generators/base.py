"""What a generator returns: one instance's content before the driver numbers it, places the options and
writes the files."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image


class GeneratorError(ValueError):
    """A request the generators cannot satisfy (unknown category, more hand-written items than exist)."""


@dataclass
class GEUDraft:
    subtask: str  # folder name under image/<task_type>/
    question: str
    answer: str  # text of the correct option
    distractors: list[str]  # three wrong options, in order of preference
    image: Image.Image
    params: dict  # everything needed to re-derive the answer
    reference: Image.Image | None = None  # the unshuffled scene, for judging a restoration (MR-II)


@dataclass
class UEGDraft:
    prompt: str
    questions: list[tuple[str, str]]  # (polling question, "yes" | "no")
    params: dict
