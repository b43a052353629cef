"""Hand-written UEG instances for the categories whose answers need knowledge rather than computation
(world knowledge, commonsense, logical and scientific reasoning), kept in ``handwritten.json`` in our own
words. Each has 1-4 polling questions, and every category includes questions whose expected answer is "no".
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from realunify_arena.benchmark.generators.base import UEGDraft

NAME = "handwritten"
DATA = Path(__file__).with_name("handwritten.json")
TASK_TYPES = ("world_knowledge", "commonsense_reasoning", "logical_reasoning", "scientific_reasoning")


@lru_cache(maxsize=1)
def _load() -> dict[str, list[dict]]:
    return json.loads(DATA.read_text(encoding="utf-8"))


def entries(task_type: str) -> list[UEGDraft]:
    """The hand-written drafts of one category, in file order."""
    return [UEGDraft(prompt=item["prompt"], questions=[tuple(q) for q in item["questions"]], params={"id": item["id"]})
            for item in _load()[task_type]]
