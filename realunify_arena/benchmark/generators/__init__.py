"""Our own RealUnify instances: procedural generators with computed answers, plus a hand-written list.

``generate_set`` is the seeded driver. Each procedural instance gets its own seed derived from
(run seed, task_type, position), so ``GENERATORS[name].make(random.Random(seed))`` rebuilds it alone and the
same run seed always gives byte-identical files. Every instance records ``extra["generator"] =
{"name", "seed", "params"}``; GEU correct letters are spread evenly over A-D within each category, a
remainder of under four drawn at random (``spread_letters``).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from PIL import Image

from realunify_arena.benchmark.generators import (
    attentional_focusing,
    code_to_image,
    cognitive_navigation,
    handwritten,
    mathematical_reasoning,
    mental_reconstruction,
    mental_tracking,
)
from realunify_arena.benchmark.generators.base import GeneratorError, GEUDraft, UEGDraft
from realunify_arena.benchmark.generators.drawing import save_png
from realunify_arena.benchmark.schema import CATEGORIES, LETTERS, AnyInstance, GEUInstance, PollingQuestion, UEGInstance
from realunify_arena.benchmark.writer import write_official

# task_type -> the module whose ``make(rng)`` draws one instance of it.
PROCEDURAL: dict[str, ModuleType] = {
    "mathematical_reasoning": mathematical_reasoning,
    "code_to_image": code_to_image,
    "mental_reconstruction": mental_reconstruction,
    "mental_tracking": mental_tracking,
    "attentional_focusing": attentional_focusing,
    "cognitive_navigation": cognitive_navigation,
}
GENERATORS: dict[str, ModuleType] = {m.NAME: m for m in PROCEDURAL.values()}

__all__ = ["GENERATORS", "PROCEDURAL", "GeneratorError", "GeneratedSet", "generate_set", "instance_seed", "write_set"]


@dataclass
class GeneratedSet:
    instances: list[AnyInstance] = field(default_factory=list)
    images: dict[str, Image.Image] = field(default_factory=dict)  # relative path as written -> image


def instance_seed(seed: int, task_type: str, position: int) -> int:
    """A stable 63-bit seed per instance (hash-based, so neighbouring positions are unrelated)."""
    digest = hashlib.sha256(f"{seed}/{task_type}/{position}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def spread_letters(count: int, rng: random.Random) -> list[str]:
    """``count`` answer letters in a random order: each of A-D ``count // 4`` times, and the ``count % 4`` left
    over drawn at random without repeats, so no letter is favoured across seeds (a set of one is not always A)."""
    letters = [LETTERS[i % 4] for i in range(count - count % 4)] + rng.sample(LETTERS, count % 4)
    rng.shuffle(letters)
    return letters


def generate_set(per_category: int, seed: int, task_types: list[str] | None = None) -> GeneratedSet:
    """Build ``per_category`` instances of each task type (all ten by default), in memory."""
    task_types = list(CATEGORIES) if task_types is None else list(dict.fromkeys(task_types))
    for task_type in task_types:
        if task_type not in CATEGORIES:
            raise GeneratorError(f"unknown task_type {task_type!r}; expected one of {list(CATEGORIES)}")
    if per_category < 1:
        raise GeneratorError(f"per_category must be at least 1, got {per_category}")
    out = GeneratedSet()
    for task_type in task_types:
        if task_type in PROCEDURAL:
            _procedural(out, task_type, per_category, seed)
        else:
            _handwritten(out, task_type, per_category, seed)
    return out


def write_set(generated: GeneratedSet, out_dir: Path) -> list[Path]:
    """The official four JSON files plus every image, under ``out_dir``."""
    for rel, image in generated.images.items():
        save_png(image, out_dir / rel)
    return write_official(generated.instances, out_dir)


def _procedural(out: GeneratedSet, task_type: str, count: int, seed: int) -> None:
    module = PROCEDURAL[task_type]
    letters = spread_letters(count, random.Random(f"{seed}/{task_type}/letters"))
    for position in range(count):
        own_seed = instance_seed(seed, task_type, position)
        draft = module.make(random.Random(own_seed))
        record = {"name": module.NAME, "seed": own_seed, "params": draft.params}
        if isinstance(draft, UEGDraft):
            out.instances.append(_ueg(task_type, position, draft, record))
        else:
            out.instances.append(_geu(out, task_type, position, draft, record, letters[position], own_seed))


def _handwritten(out: GeneratedSet, task_type: str, count: int, seed: int) -> None:
    drafts = handwritten.entries(task_type)
    if count > len(drafts):
        raise GeneratorError(f"{task_type} has only {len(drafts)} hand-written instances, {count} were asked for; "
                             f"lower --per-category or leave {task_type} out with --categories")
    for position, draft in enumerate(drafts[:count]):
        record = {"name": handwritten.NAME, "seed": seed, "params": draft.params}
        out.instances.append(_ueg(task_type, position, draft, record))


def _ueg(task_type: str, index: int, draft: UEGDraft, record: dict) -> UEGInstance:
    return UEGInstance(index=index, task_type=task_type, prompt=draft.prompt,
                       question_list=[PollingQuestion(q, a) for q, a in draft.questions],
                       extra={"generator": record})


def _geu(out: GeneratedSet, task_type: str, index: int, draft: GEUDraft, record: dict, letter: str,
         own_seed: int) -> GEUInstance:
    distractors = list(draft.distractors)
    random.Random(f"{own_seed}/options").shuffle(distractors)
    options = distractors[:]
    options.insert(LETTERS.index(letter), draft.answer)
    if len(options) != 4 or len(set(options)) != 4:
        raise AssertionError(f"{record['name']} (seed {own_seed}) made options that are not 4 distinct: {options}")
    folder = f"./image/{task_type}/{draft.subtask}"
    name = f"{task_type}_{index:03d}.png"
    extra = {"generator": record}
    out.images[f"{folder}/images/{name}"] = draft.image
    if draft.reference is not None:
        extra["reference_image"] = f"{folder}/reference/{name}"
        out.images[extra["reference_image"]] = draft.reference
    return GEUInstance(index=index, task_type=task_type, question=draft.question, option=options, answer=letter,
                       input_image=f"{folder}/images/{name}", extra=extra)
