"""Typed records for RealUnify instances.

Every official field is kept under its official name so a record can be written back in the official
layout unchanged; fields we do not know are kept in ``extra`` (generators record their seed there).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from PIL import Image

Track = Literal["UEG", "GEU"]
TRACKS: tuple[Track, ...] = ("UEG", "GEU")  # the paper's two directions, in its table order


@dataclass(frozen=True)
class Category:
    """One of the paper's ten task types: its track, the column abbreviation of Table 2, its display name."""

    task_type: str
    track: Track
    abbreviation: str
    name: str


# task_type -> Category, in the paper's column order.
CATEGORIES: dict[str, Category] = {c.task_type: c for c in (
    Category("world_knowledge", "UEG", "WK", "World Knowledge"),
    Category("commonsense_reasoning", "UEG", "CR", "Commonsense Reasoning"),
    Category("mathematical_reasoning", "UEG", "MR-I", "Mathematical Reasoning"),
    Category("logical_reasoning", "UEG", "LR", "Logical Reasoning"),
    Category("scientific_reasoning", "UEG", "SR", "Scientific Reasoning"),
    Category("code_to_image", "UEG", "C2I", "Code-to-Image"),
    Category("mental_reconstruction", "GEU", "MR-II", "Mental Reconstruction"),
    Category("mental_tracking", "GEU", "MT", "Mental Tracking"),
    Category("attentional_focusing", "GEU", "AF", "Attentional Focusing"),
    Category("cognitive_navigation", "GEU", "CN", "Cognitive Navigation"),
)}
UEG_TASKS = [t for t, c in CATEGORIES.items() if c.track == "UEG"]
GEU_TASKS = [t for t, c in CATEGORIES.items() if c.track == "GEU"]
# Instances per category in the official benchmark (arXiv 2509.24897: 1,000 instances, 10 categories of 100):
# a table's figure over fewer covers part of a category (``reporting.coverage``).
OFFICIAL_PER_CATEGORY = 100
LETTERS = ("A", "B", "C", "D")


@dataclass(frozen=True)
class PollingQuestion:
    question: str
    answer: Literal["yes", "no"]


@dataclass
class Instance:
    """Fields shared by both tracks."""

    index: int | None  # None only for a result entry read for scoring alone, without one (validation.parse_entry)
    task_type: str
    extra: dict = field(default_factory=dict)

    track: Track = field(init=False, default="UEG")

    @property
    def uid(self) -> str:
        return f"{self.track}_{self.index}_{self.task_type}"

    @property
    def category(self) -> str:
        return CATEGORIES[self.task_type].abbreviation

    @property
    def category_name(self) -> str:
        return CATEGORIES[self.task_type].name


@dataclass
class UEGInstance(Instance):
    prompt: str = ""
    question_list: list[PollingQuestion] = field(default_factory=list)
    new_prompt: str | None = None  # the filled refine template, as the official step file carries it

    track: Track = field(init=False, default="UEG")

    @property
    def refine_text(self) -> str:
        from realunify_arena.benchmark import prompts

        return self.new_prompt if self.new_prompt else prompts.refine_prompt(self.prompt)


@dataclass
class GEUInstance(Instance):
    question: str = ""
    option: list[str] = field(default_factory=list)
    answer: str = ""
    input_image: str = ""  # relative path as written in the official file
    evaluation_prompt: str | None = None
    edit_prompt: str | None = None
    image_path: Path | None = None  # resolved file, for folder layouts
    image_bytes: bytes | None = field(default=None, repr=False)  # embedded image, for the parquet copy

    track: Track = field(init=False, default="GEU")

    @property
    def subtask(self) -> str | None:
        """``./image/<task_type>/<subtask>/images/<file>`` carries the subtask as a folder name."""
        parts = [p for p in Path(self.input_image).parts if p not in (".", "")]
        if len(parts) >= 4 and parts[0] == "image" and parts[-2] == "images":
            return parts[2]
        return None

    @property
    def mcq_text(self) -> str:
        from realunify_arena.benchmark import prompts

        return self.evaluation_prompt or prompts.mcq_prompt(self.question, self.option)

    @property
    def edit_text(self) -> str:
        from realunify_arena.benchmark import prompts

        return self.edit_prompt or prompts.edit_prompt(self.task_type, self.question)

    def open_image(self) -> Image.Image:
        """The input image, fully decoded and converted to RGB."""
        from realunify_arena.benchmark.images import open_checked

        source = io.BytesIO(self.image_bytes) if self.image_bytes is not None else self.image_path
        if source is None:
            raise ValueError(f"{self.uid}: no image attached")
        return open_checked(source)


AnyInstance = UEGInstance | GEUInstance
