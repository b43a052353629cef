"""Model families and ``build_adapter``: from a card to a loaded adapter.

Family modules import their heavy libraries only when a card of theirs is loaded, so listing cards and
building the app stay fast and work with any subset of the optional packages installed.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from realunify_arena.adapters.base import (Adapter, Capability, GenerationOptions, ModelUnavailable,
                                           NotSupported)

if TYPE_CHECKING:
    from realunify_arena.cards import ModelCard

__all__ = ["FAMILIES", "Adapter", "Capability", "Family", "GenerationOptions", "ModelUnavailable", "NotSupported",
           "build_adapter"]

_ALL = frozenset(Capability)


@dataclass(frozen=True)
class Family:
    module: str  # realunify_arena.adapters.<module> exposes load(card, device) -> Adapter
    capabilities: frozenset[Capability]  # what a card of this family may declare
    remote: bool  # runs behind an API: nothing resident here
    packages: tuple[str, ...]  # import names it needs


FAMILIES: dict[str, Family] = {
    "janus": Family("janus", frozenset({Capability.UNDERSTAND, Capability.GENERATE}), False,
                    ("torch", "transformers")),
    "emu3": Family("emu3", frozenset({Capability.UNDERSTAND, Capability.GENERATE}), False,
                   ("torch", "transformers")),
    "pair": Family("pair", _ALL, False, ("torch", "transformers", "diffusers")),
    "openai": Family("openai_compat", _ALL, True, ("openai",)),
    "gemini": Family("gemini", _ALL, True, ("google.genai",)),
    "tiny": Family("tiny", _ALL, False, ("torch", "transformers", "diffusers", "torchvision")),
}


def build_adapter(card: ModelCard, device: str = "cpu") -> Adapter:
    """Load ``card``'s weights (or connect to its endpoint) on ``device``."""
    module = importlib.import_module(f"{__name__}.{FAMILIES[card.family].module}")
    return module.load(card, device)
