"""The adapter protocol: what every model family offers the protocols, and nothing more.

A model declares which of the three capabilities it has. Asking for one it lacks raises
``NotSupported`` (the paper's "-"), which the protocols turn into a "not supported" trace rather than
an error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    from realunify_arena.cards import ModelCard


class Capability(str, Enum):
    UNDERSTAND = "understand"  # (images, text) -> text
    GENERATE = "generate"  # text -> image
    EDIT = "edit"  # (image, text) -> image


class NotSupported(Exception):
    """The model has no such capability (shown as "-", never counted as an error)."""


class ModelUnavailable(RuntimeError):
    """The card cannot be run here (weights, key, endpoint or package missing); the message says which."""


@dataclass(frozen=True)
class GenerationOptions:
    """Everything that changes an output besides the input. Recorded with every output."""

    seed: int = 0
    guidance: float | None = None  # None: the card's default
    steps: int | None = None  # diffusion steps; None: the card's default
    width: int | None = None
    height: int | None = None
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 = greedy text decoding

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GenerationOptions:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class Adapter:
    """Base class of every family. Subclasses override the capabilities they declare."""

    card: ModelCard
    capabilities: frozenset[Capability] = field(default_factory=frozenset)

    @property
    def name(self) -> str:
        return self.card.name

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def understand(self, images: list[Image.Image], text: str, options: GenerationOptions) -> str:
        raise NotSupported(f"{self.name} cannot understand images")

    def generate(self, text: str, options: GenerationOptions) -> Image.Image:
        raise NotSupported(f"{self.name} cannot generate images")

    def edit(self, image: Image.Image, text: str, options: GenerationOptions) -> Image.Image:
        raise NotSupported(f"{self.name} cannot edit images")

    def memory_bytes(self) -> int:
        """Device memory held while resident (0 for remote endpoints); the pool evicts by this."""
        return 0

    def to(self, device: str) -> None:
        """Move weights (``"cpu"`` to free the accelerator). Remote adapters ignore it."""

    def watch_for_stop(self) -> None:
        """Let a stopped run end inside a long model call (``stopping.check`` per step); the pool calls
        this once after loading. Remote adapters stop between calls only."""

    def close(self) -> None:
        """Release everything; the adapter is not used again."""
