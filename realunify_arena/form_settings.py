"""A run's generation settings from a form's fields (Explore's Run; an API caller's the same way): which
settings a card's form offers, and the fields read and checked (``limits.check_options``)."""

from __future__ import annotations

from realunify_arena.adapters.base import Capability, GenerationOptions
from realunify_arena.cards import ModelCard
from realunify_arena.limits import check_options
from realunify_arena.shown import brief

FORM_SETTINGS = ("steps", "guidance", "max_new_tokens")  # the generation settings a run's form offers, in order


def settings_used(card: ModelCard) -> dict[str, bool]:
    """Which of ``FORM_SETTINGS`` a form offers for ``card``: diffusion steps and guidance where the card
    generates or edits and declares a default for them (the others leave them to their pipeline or
    service), max new tokens where it understands images."""
    generates = bool({Capability.GENERATE, Capability.EDIT} & card.capabilities)
    return {"steps": generates and card.defaults.steps is not None,
            "guidance": generates and card.defaults.guidance is not None,
            "max_new_tokens": Capability.UNDERSTAND in card.capabilities}


def form_number(value) -> int | None:
    """A form's integer field: None when empty (None or ""), else ``int(value)`` (``ValueError`` for text)."""
    return None if value in (None, "") else int(value)


def _form_setting(value) -> int | None:
    """An integer setting where 0 is never valid (steps, max new tokens): empty or 0 is the card's default."""
    return None if value in (None, "") or int(value) == 0 else int(value)


def form_options(cards: dict[str, ModelCard], model, seed, steps, guidance, max_new_tokens) -> GenerationOptions:
    """The checked settings of a run asked for with a form's fields (Explore's; an API caller's the same way):
    ``model``'s defaults with the fields given. Empty fields, 0 steps or max new tokens, and fields the card
    does not use (``settings_used``) keep the card's defaults; an empty seed is 0; ``guidance`` is a float,
    the others integers.

    Raises:
        ValueError: a plain-text sentence ending in "." naming the broken limit (``check_options``), a field
            that is not a number, or a ``model`` not in ``cards`` ("Choose a model card; ... is not offered
            here.").
    """
    card = cards.get(model)
    used = settings_used(card) if card is not None else dict.fromkeys(FORM_SETTINGS, True)
    try:
        overrides = dict(seed=form_number(seed) or 0, steps=_form_setting(steps) if used["steps"] else None,
                         guidance=None if guidance in (None, "") or not used["guidance"] else float(guidance),
                         max_new_tokens=_form_setting(max_new_tokens) if used["max_new_tokens"] else None)
        if card is None:
            raise KeyError(model)
        return check_options(card, card.options(**{k: v for k, v in overrides.items() if v is not None}))
    except KeyError:
        raise ValueError(f"Choose a model card; {brief(model)} is not offered here.") from None
    except ValueError as e:
        raise ValueError(f"{e}.") from None


def setting_refusal(cards: dict[str, ModelCard], model, name: str, value: int | float) -> str | None:
    """Why ``model``'s form would not run with the generation setting ``name`` (one of ``FORM_SETTINGS``) at
    ``value`` (a link's, ``page_links.read_explore``), as plain-text sentences ending in "." that also say what
    Run uses instead; None where it would: a setting the card does not use (``settings_used``: the form hides its
    field) is said as such, a limit it breaks named as Run names it (``form_options``), then "Run uses the NAME
    below." (the field the form shows). A ``model`` not in ``cards`` is said by whoever reads the model."""
    card = cards.get(model)
    if card is None:
        return None
    if not settings_used(card)[name]:
        return f"{brief(model)} does not use it, so its runs are made without one."
    try:
        form_options(cards, model, 0, **{setting: value if setting == name else None for setting in FORM_SETTINGS})
    except ValueError as e:
        return f"{e} Run uses the {name} below."
    return None
