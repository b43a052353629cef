"""Model families and ``build_adapter``: from a card to a loaded adapter.

Family modules import their heavy libraries only when a card of theirs is loaded, so listing cards and
building the app stay fast and work with any subset of the optional packages installed.
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING

from realunify_arena.adapters.base import Adapter, ModelSource, ModelUnavailable, NotSupported
from realunify_arena.families import FAMILIES, Capability, Family, GenerationOptions

if TYPE_CHECKING:
    from realunify_arena.cards import ModelCard

__all__ = ["FAMILIES", "LOADING", "Adapter", "Capability", "Family", "GenerationOptions", "ModelSource",
           "ModelUnavailable", "NotSupported", "build_adapter"]

# One local load at a time in the whole process: transformers and diffusers load through process-wide state
# (modules imported lazily, parameters made on the meta device, then filled), so two loads at once, even by
# two pools or a pool and a direct ``build_adapter``, left a model's parameters on the meta device ("Cannot
# copy out of meta tensor") or failed an import half done ("cannot import name 'AutoProcessor'"): 11 of 12
# concurrent loads of the tiny cards failed. Re-entrant: a tiny card's load builds its base family's adapter.
LOADING = threading.RLock()


def build_adapter(card: ModelCard, device: str = "cpu") -> Adapter:
    """Load ``card``'s weights (or connect to its endpoint) on ``device``.

    Args:
        card: a card from ``cards.load_cards`` (its ``family`` is a key of ``FAMILIES``).
        device: a torch device string, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; remote families ignore it.
            A local card's load holds ``LOADING``: one at a time in the process.

    Returns:
        The family's adapter, declaring the card's capabilities.

    Raises:
        ModelUnavailable: the weights, key, endpoint or a package is missing (the message says which).
        OSError, ValueError, ImportError: a loader failed in another way (``protocols.loaded`` reports
            these as ``ModelUnavailable``).
    """
    if card.remote:  # a client of an endpoint: no torch state, and never waits behind a local load
        return importlib.import_module(f"{__name__}.{FAMILIES[card.family].module}").load(card, device)
    with LOADING:
        module = importlib.import_module(f"{__name__}.{FAMILIES[card.family].module}")
        return module.load(card, device)
