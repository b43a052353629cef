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


def count_window(count: int, rank: int) -> list[str]:
    """The three wrong options of a count question: the other numbers of the run of four consecutive
    numbers (none below 0) in which ``count`` is the ``rank``-th smallest (0-3). Drawing ``rank`` uniformly
    keeps the answer's place among the sorted options from giving it away (nearest-first distractors made it
    always the third smallest).

    Raises:
        ValueError: ``rank`` is not 0-3 or exceeds ``count`` (the run would go below 0).
    """
    if not 0 <= rank <= min(3, count):
        raise ValueError(f"rank must be 0-3 and at most the count {count}, got {rank}")
    return [str(n) for n in range(count - rank, count - rank + 4) if n != count]
