"""Our own RealUnify instances: procedural generators with computed answers, plus a hand-written list.

``generate_set`` is the seeded driver. Each procedural instance gets its own seed derived from
(run seed, task_type, position), so ``GENERATORS[name].make(random.Random(seed))`` rebuilds it alone and the
same run seed always gives byte-identical files. Every instance records ``extra["generator"] =
{"name", "seed", "params"}``; GEU correct letters are spread evenly over A-D within each category, a
remainder of under four drawn at random (``spread_letters``).

The hand-written categories (world knowledge, commonsense, logical and scientific reasoning) draw from a
fixed pool each (``handwritten.json``, 12 a category): the run seed picks which of them, and in which order
(so which instance gets which index), and the order of each one's polling questions; seed 0 keeps the
file's order, since the bundled set (``assets/instances``) is the seed-0 set and stored runs refer to its
instances by index.

Memory stays bounded whatever the size: ``generate_set`` keeps the instance records and, for each image, how
to draw it again (generator and seed); ``write_set`` draws each image when it writes it. A request over
``MAX_PER_CATEGORY`` is refused (``GeneratorError``) before anything is drawn: ten times the paper's 100 per
category, which bounds the run's time and disk (about 4 MB of PNG per attentional-focusing image).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
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

__all__ = ["GENERATORS", "MAX_PER_CATEGORY", "PROCEDURAL", "GeneratorError", "GeneratedSet", "generate_set",
           "instance_seed", "write_set"]

MAX_PER_CATEGORY = 1000  # instances per category one run may ask for (the paper has 100)


@dataclass(frozen=True)
class ImageRecipe:
    """How to draw one image again: the generator module, the instance's own seed, and which of the draft's
    images (``"image"`` or ``"reference"``)."""

    module: ModuleType
    seed: int
    which: str

    def draw(self) -> Image.Image:
        return getattr(self.module.make(random.Random(self.seed)), self.which)


class _DrawnImages(Mapping):
    """Relative path -> image, each drawn from its recipe when looked up (nothing is kept)."""

    def __init__(self, recipes: dict[str, ImageRecipe]):
        self._recipes = recipes

    def __getitem__(self, rel: str) -> Image.Image:
        return self._recipes[rel].draw()

    def __iter__(self):
        return iter(self._recipes)

    def __len__(self) -> int:
        return len(self._recipes)


@dataclass
class GeneratedSet:
    instances: list[AnyInstance] = field(default_factory=list)
    recipes: dict[str, ImageRecipe] = field(default_factory=dict)  # relative path as written -> how to draw it

    @property
    def images(self) -> Mapping[str, Image.Image]:
        """Relative path as written -> the image, drawn when looked up."""
        return _DrawnImages(self.recipes)


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
    """Build ``per_category`` instances of each task type (all ten by default): the records in memory, the
    images as recipes ``write_set`` draws.

    Raises:
        GeneratorError: an unknown task type, ``per_category`` below 1 or over ``MAX_PER_CATEGORY``, or over
            the hand-written pool of a hand-written category.
    """
    task_types = list(CATEGORIES) if task_types is None else list(dict.fromkeys(task_types))
    for task_type in task_types:
        if task_type not in CATEGORIES:
            raise GeneratorError(f"unknown task_type {task_type!r}; expected one of {list(CATEGORIES)}")
    if not 1 <= per_category <= MAX_PER_CATEGORY:
        raise GeneratorError(f"per_category must be at least 1 and at most {MAX_PER_CATEGORY}, got {per_category}")
    out = GeneratedSet()
    for task_type in task_types:
        if task_type in PROCEDURAL:
            _procedural(out, task_type, per_category, seed)
        else:
            _handwritten(out, task_type, per_category, seed)
    return out


def write_set(generated: GeneratedSet, out_dir: Path) -> list[Path]:
    """The official four JSON files plus every image, under ``out_dir``; one instance's draft (its image and
    reference) in memory at a time, drawn once for both (``_geu`` adds an instance's recipes one after the
    other)."""
    last: tuple[tuple[ModuleType, int], object] | None = None
    for rel, recipe in generated.recipes.items():
        key = (recipe.module, recipe.seed)
        if last is None or last[0] != key:
            last = key, recipe.module.make(random.Random(recipe.seed))
        save_png(getattr(last[1], recipe.which), out_dir / rel)
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
    """``count`` of the category's hand-written drafts, which and in what order drawn by ``seed``, each with its
    polling questions in an order drawn by its own seed."""
    drafts = handwritten.entries(task_type)
    if count > len(drafts):
        raise GeneratorError(f"{task_type} has only {len(drafts)} hand-written instances, {count} were asked for; "
                             f"lower --per-category or leave {task_type} out with --categories")
    if seed != 0:  # seed 0 keeps the file's order: the bundled set (assets/instances) is the seed-0 set
        drafts = random.Random(f"{seed}/{task_type}/handwritten").sample(drafts, len(drafts))
    for position, draft in enumerate(drafts[:count]):
        questions = list(draft.questions)
        if seed != 0:
            random.Random(instance_seed(seed, task_type, position)).shuffle(questions)
        record = {"name": handwritten.NAME, "seed": seed, "params": draft.params}
        out.instances.append(_ueg(task_type, position, UEGDraft(draft.prompt, questions, draft.params), record))


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
    module = PROCEDURAL[task_type]
    out.recipes[f"{folder}/images/{name}"] = ImageRecipe(module, own_seed, "image")
    if draft.reference is not None:
        extra["reference_image"] = f"{folder}/reference/{name}"
        out.recipes[extra["reference_image"]] = ImageRecipe(module, own_seed, "reference")
    return GEUInstance(index=index, task_type=task_type, question=draft.question, option=options, answer=letter,
                       input_image=f"{folder}/images/{name}", extra=extra)
