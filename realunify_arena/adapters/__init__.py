"""Model families and ``build_adapter``: from a card to a loaded adapter.

Family modules import their heavy libraries only when a card of theirs is loaded, so listing cards and
building the app stay fast and work with any subset of the optional packages installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from realunify_arena.adapters.base import Adapter, ModelSource, ModelUnavailable, NotSupported
from realunify_arena.families import FAMILIES, Capability, Family, GenerationOptions

if TYPE_CHECKING:
    from realunify_arena.cards import ModelCard

__all__ = ["FAMILIES", "Adapter", "Capability", "Family", "GenerationOptions", "ModelSource", "ModelUnavailable",
           "NotSupported", "build_adapter"]


def build_adapter(card: ModelCard, device: str = "cpu") -> Adapter:
    """Load ``card``'s weights (or connect to its endpoint) on ``device``.

    Args:
        card: a card from ``cards.load_cards`` (its ``family`` is a key of ``FAMILIES``).
        device: a torch device string, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; remote families ignore it.

    Returns:
        The family's adapter, declaring the card's capabilities.

    Raises:
        ModelUnavailable: the weights, key, endpoint or a package is missing (the message says which).
        OSError, ValueError, ImportError: a loader failed in another way (``protocols.loaded`` reports
            these as ``ModelUnavailable``).
    """
    module = importlib.import_module(f"{__name__}.{FAMILIES[card.family].module}")
    return module.load(card, device)
