"""Generation settings a card accepts: one check used by the app, its API and ``eval``.

Every limit can be set per card under ``params.limits`` (for example ``limits: {max_new_tokens: 2048}``);
the defaults below keep one request from holding a shared accelerator for long: tiny random-weight cards
get small ones, since their outputs are noise at any length.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Protocol

from realunify_arena.families import GenerationOptions, family_of
from realunify_arena.shown import brief

SEED_MAX = 2**32 - 1  # numpy's and most samplers' seed range is [0, 2**32)


@dataclass(frozen=True)
class Limits:
    """Upper bounds of the settings; lower bounds are fixed (``check_options``)."""

    max_new_tokens: int = 4096  # text tokens per understanding call
    steps: int = 250  # num_inference_steps of a diffusion pipeline
    side: int = 2048  # width and height in pixels
    temperature: float = 2.0
    # classifier-free guidance scale: ComfyUI's KSampler takes cfg 0.0 to 100.0 (its node's input range). Far
    # above, the guided logits or noise overflow: tiny-pair at 1e308 made a NaN image, stored as a good run, and
    # Janus failed with torch's "probability tensor contains either inf, nan or element < 0" (hunt28a)
    guidance: float = 100.0


class CardLike(Protocol):
    """What the checks read of a card: ``cards.ModelCard`` satisfies it. Named apart from that class (one
    name, one home): cards.py checks each card's defaults with these checks when it reads the card, so this
    module does not import it."""

    name: str
    family: str
    params: Mapping[str, Any]
    defaults: GenerationOptions
    parts: Mapping[str, Any]
    path: Path | None


class OptionError(ValueError):
    """Generation settings ``card`` refuses. ``setting`` is the first ``GenerationOptions`` field it names,
    ``settings`` every one (in the order ``check_options`` checks them); the message names each with its
    value and limit, joined by "; "."""

    def __init__(self, setting: str, message: str, settings: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.setting = setting
        self.settings = settings or (setting,)

    @classmethod
    def joined(cls, problems: list[OptionError]) -> OptionError:
        """One error naming every problem in ``problems`` (at least one): a form or a request with several
        bad settings is told all of them at once, not one per try."""
        if len(problems) == 1:
            return problems[0]
        return cls(problems[0].setting, "; ".join(str(p) for p in problems),
                   tuple(s for p in problems for s in p.settings))


_NAMES = {"steps": "steps (num_inference_steps)", "guidance": "guidance (classifier-free guidance scale)"}
TINY_LIMITS = Limits(max_new_tokens=256, steps=50, side=512)


def limits_for(card: CardLike) -> Limits:
    """The card's limits: the defaults (``TINY_LIMITS`` for tiny cards) with ``params.limits`` applied."""
    base = TINY_LIMITS if card.family == "tiny" else Limits()
    given = card.params.get("limits") or {}
    known = {f.name: f.type for f in fields(Limits)}
    where = f"{card.path or card.name}: field 'params.limits"
    if not isinstance(given, dict):
        raise ValueError(f"{where}': expected a map of limits ({', '.join(sorted(known))}), got {brief(given)}")
    unknown = set(given) - set(known)
    if unknown:
        raise ValueError(f"{where}': unknown {sorted(unknown)}; expected some of {sorted(known)}")
    for name, value in given.items():
        whole = known[name] in (int, "int")
        if (isinstance(value, bool) or not isinstance(value, int if whole else (int, float))
                or not math.isfinite(value) or value <= 0):
            raise ValueError(f"{where}.{name}': expected a {'whole' if whole else 'finite'} number above 0, "
                             f"got {brief(value)}")
    return replace(base, **given)


def shipped_guidance(value: object, card: CardLike) -> float | None:
    """The classifier-free guidance a run of ``card`` without one takes from its checkpoint: ``value``, the
    ``guidance_scale`` of the checkpoint's ``generation_config.json`` (as transformers' ``GenerationConfig`` read
    it), where it is a finite number 0 or more (0 turns guidance off, as in transformers' ``generate``); None where
    the file ships none or no such number (``checkpoint_config.generation_config_problem`` refuses the latter before
    a load), so the family's ``Family.default_guidance`` applies.

    Raises:
        OptionError: ``value`` is above the card's guidance limit (``limits_for``: 100 unless ``params.limits``
            says), as a run's guidance would be: far above it the guided logits overflow.
    """
    usable = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
              and value >= 0)
    if not usable:
        return None
    limit = limits_for(card).guidance
    if value > limit:
        raise OptionError("guidance", f"guidance (classifier-free guidance scale) = {_num(float(value))}, the "
                                      f"guidance_scale of the checkpoint's generation_config.json, is outside the "
                                      f"allowed range 0 to {_num(limit)} of {card.name}; set the card's "
                                      "defaults.guidance or ask for a guidance")
    return float(value)


def check_options(card: CardLike, options: GenerationOptions) -> GenerationOptions:
    """``options`` if ``card`` accepts them; else ``OptionError`` (a ``ValueError``) naming the setting, its
    value and the limit.

    Checked: ``max_new_tokens`` 1..limit, ``steps`` (num_inference_steps) 1..limit, ``width``/``height``
    16..limit px and a size the card's family can make (``size_problem``), ``guidance`` (classifier-free
    guidance scale) 0..limit (a negative one said as such), ``seed`` 0..2**32-1,
    ``temperature`` 0..limit; every number finite (NaN and infinity are refused for each setting); every
    value a number (text and booleans from an API caller are refused) and the integer settings (seed, steps,
    width, height, max_new_tokens) whole: 7.0 is returned as 7, 1.5 is refused. Every setting that breaks a
    rule is named in the one error (``OptionError.settings``), e.g. both ``max_new_tokens`` and ``seed``.
    """
    options, problems = _number_problems(card, options)
    if not {"width", "height"} & {s for p in problems for s in p.settings}:  # a size already refused: once
        problem = size_problem(card, options.width, options.height)
        if problem:
            problems.append(problem)
    if problems:
        raise OptionError.joined(problems)
    return options


def numbers_checked(card: CardLike, options: GenerationOptions) -> GenerationOptions:
    """``options`` with every ``check_options`` rule but the size the family makes (``size_problem``, which
    needs a pair's parts resolved): what a card's own ``defaults`` must pass when the card is read.

    Raises:
        OptionError: as ``check_options``.
        ValueError: the card's ``params.limits`` is not a map of known limits to positive numbers.
    """
    options, problems = _number_problems(card, options)
    if problems:
        raise OptionError.joined(problems)
    return options


def _number_problems(card: CardLike, options: GenerationOptions) -> tuple[GenerationOptions, list[OptionError]]:
    """``options`` (whole floats as ints) and one ``OptionError`` per setting that breaks a
    ``numbers_checked`` rule, in field order; a setting is named once, by its first broken rule."""
    limits = limits_for(card)
    where = f" for {card.name}"
    problems: list[OptionError] = []
    allowed = {"guidance": f"a finite number from 0 to {_num(limits.guidance)}", "temperature": f"a finite number "
               f"from 0 to {_num(limits.temperature)}"}
    whole = {}
    for field in fields(options):  # an API caller's JSON may hold anything; NaN passes every comparison below
        value, name = getattr(options, field.name), _NAMES.get(field.name, field.name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(OptionError(field.name, f"{name} = {brief(value)} is not allowed{where}: it must be"
                                                    " a number"))
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(OptionError(field.name, f"{name} = {value} is not allowed{where}: it must be "
                                                    f"{allowed.get(field.name, 'a finite number')}"))
        elif field.name in _WHOLE and isinstance(value, float):
            if not value.is_integer():
                problems.append(OptionError(field.name, f"{name} = {_num(value)} is not allowed{where}: it must be a"
                                                        " whole number"))
            else:
                whole[field.name] = int(value)
    options = replace(options, **whole)
    named = {p.setting for p in problems}  # a value that is not a number is not also compared
    checks = [
        ("max_new_tokens", 1, limits.max_new_tokens),
        ("steps", 1, limits.steps),
        ("width", 16, limits.side),
        ("height", 16, limits.side),
        ("seed", 0, SEED_MAX),
        ("temperature", 0, limits.temperature),
    ]
    for field, low, high in checks:
        value = getattr(options, field)
        if field not in named and value is not None and not low <= value <= high:
            problems.append(OptionError(field, f"{_NAMES.get(field, field)} = {_num(value)} is outside the "
                                               f"allowed range {_num(low)} to {_num(high)}{where}"))
    if "guidance" not in named and options.guidance is not None and options.guidance < 0:
        problems.append(OptionError("guidance", f"{_NAMES['guidance']} = {_num(options.guidance)} must not be "
                                                f"negative{where}; 0 turns guidance off"))
    elif "guidance" not in named and options.guidance is not None and options.guidance > limits.guidance:
        problems.append(OptionError("guidance", f"{_NAMES['guidance']} = {_num(options.guidance)} is outside the "
                                                f"allowed range 0 to {_num(limits.guidance)}{where}"))
    order = [f.name for f in fields(options)]
    return options, sorted(problems, key=lambda p: order.index(p.setting))


def size_problem(card: CardLike, width: int | None, height: int | None) -> OptionError | None:
    """Why ``card`` cannot make a ``width`` x ``height`` image (None: that side is the model's default), or None.

    Some families make only some sizes (``Family.produced_size``): Janus one fixed grid (the card's default
    size, 384x384 for Janus-Pro), Emu3 whole 8-px image tokens, a pair's diffusers pipeline multiples of 16 px
    (rounded down). Any other size would come back
    silently different, so it is refused: ``"size 512x512 is not allowed for janus-pro-1b: it makes size
    384x384 instead (one fixed grid of image tokens); ask for that or leave the size unset"``. The setting
    named is the first side that differs (``width`` or ``height``).
    """
    part = card.parts.get("generate")
    if part is not None:  # a pair whose images another card makes (card:NAME): that card's rule
        return size_problem(part, width, height)
    family = family_of(card.family, card.params)
    if (width is None and height is None) or not (family.fixed_size or family.size_step):
        return None
    made = family.produced_size(width or 0, height or 0, (card.defaults.width, card.defaults.height))
    return size_refusal(card.name, (width, height), made, family.size_reason())


def edit_size_used(card: CardLike) -> bool:
    """Whether an edit by ``card`` is made at the width x height asked for: only a pair card with
    ``params.edit_size: card``. Every other edit keeps the input image's size (a pair's default
    ``edit_size: input``; the images API's ``auto``), so a size asked for an edit is not used and not checked."""
    part = card.parts.get("edit")
    if part is not None:  # a pair whose edits another card makes (card:NAME): that card's rule
        return edit_size_used(part)
    return family_of(card.family, card.params).module == "pair" and card.params.get("edit_size", "input") == "card"


def size_refusal(name: str, asked: tuple[int | None, int | None], made: tuple[int, int],
                 why: str) -> OptionError | None:
    """The ``OptionError`` for card ``name`` asked for ``asked`` (width, height; None: unset) but making
    ``made``, ``why`` being the reason in words; None when every side asked for is the side made."""
    wrong = [side for side, a, m in zip(("width", "height"), asked, made) if a is not None and a != m]
    if not wrong:
        return None
    instead = _size(*(m if a is not None else None for a, m in zip(asked, made)))
    return OptionError(wrong[0], f"{_size(*asked)} is not allowed for {name}: it makes {instead} instead ({why}); "
                                 "ask for that or leave the size unset")


def _size(width: int | None, height: int | None) -> str:
    """``size 512x384``, or the one side given (``height 300``)."""
    if width is not None and height is not None:
        return f"size {width}x{height}"
    return f"width {width}" if width is not None else f"height {height}"


_WHOLE = ("seed", "steps", "width", "height", "max_new_tokens")  # integer settings; 7.0 is taken as 7


def _num(value: float) -> str:
    """``value`` for a message: an int exactly (never through float, which overflows at an API caller's
    10**400) and shortened past 40 characters; a float in %g, as an int when whole and under 1e16 (a larger one,
    1e308, in %g: its int form spells the float's binary digits, 1000000000000000010979...), and in its shortest
    exact form where %g would round it (100.0000000000001, not 100, past a limit of 100)."""
    if isinstance(value, int):
        return brief(value)
    if value.is_integer() and abs(value) < 1e16:
        return brief(int(value))
    text = f"{value:g}"
    return text if float(text) == value else repr(value)  # %g's 6 digits would round 100.0000000000001 onto 100
