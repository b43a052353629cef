"""What is compared: a system is one model card run in one mode (the paper's direct or stepwise protocol).

The one home of ``MODES`` and of the ``"<model card>:<mode>"`` text form that battles, votes, ratings
and exports carry (e.g. ``janus-pro-1b:stepwise``). A leaf module: it imports nothing of the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from realunify_arena.shown import brief

Mode = Literal["direct", "stepwise"]
MODES: tuple[Mode, ...] = ("direct", "stepwise")  # the paper's two protocols, direct first as in Table 2
# ``--mode`` of the commands that run or read runs: one protocol, or both
MODE_CHOICES: dict[str, tuple[Mode, ...]] = {"direct": ("direct",), "stepwise": ("stepwise",), "both": MODES}


@dataclass(frozen=True, order=True)
class System:
    """A model card and a mode; ``str(system)`` is its text form, ``System.parse`` reads it back."""

    model: str
    mode: Mode

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"system model {brief(self.model)}: expected a model card name")
        if self.mode not in MODES:
            raise ValueError(f"system mode {brief(self.mode)}: expected one of {', '.join(MODES)}")

    @classmethod
    def parse(cls, text: str) -> System:
        """``"janus-pro-1b:stepwise"`` -> System("janus-pro-1b", "stepwise"); the model may hold colons.

        Raises:
            ValueError: not ``<model card>:<direct|stepwise>``.
        """
        model, sep, mode = text.rpartition(":") if isinstance(text, str) else ("", "", "")
        if not sep or not model or mode not in MODES:
            raise ValueError(f"system {text!r}: expected '<model card>:<{'|'.join(MODES)}>'")
        return cls(model, mode)

    def __str__(self) -> str:
        return f"{self.model}:{self.mode}"
