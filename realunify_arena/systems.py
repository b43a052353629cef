"""What is compared: a system is one model card run in one mode (the paper's direct or stepwise protocol).

The one home of ``MODES`` and of the ``"<model card>:<mode>"`` text form that battles, votes, ratings
and exports carry (e.g. ``janus-pro-1b:stepwise``). A leaf module: it imports nothing of the project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from realunify_arena.shown import brief

Mode = Literal["direct", "stepwise"]
MODES: tuple[Mode, ...] = ("direct", "stepwise")  # the paper's two protocols, direct first as in Table 2
# ``--mode`` of the commands that run or read runs: one protocol, or both
MODE_CHOICES: dict[str, tuple[Mode, ...]] = {"direct": ("direct",), "stepwise": ("stepwise",), "both": MODES}

# A model name (a card's file stem, an imported model's --model) is also part of a system's text form, a CSV
# and Markdown table cell and a folder name in exports: so one line, no ':' or '/', and a short file name.
MODEL_NAME_MAX = 100
MODEL_NAME_RULE = (f"1 to {MODEL_NAME_MAX} ASCII letters, digits, '.', '_' or '-', starting with a letter or digit "
                   "(like the model cards' names, e.g. janus-pro-1b)")
_MODEL_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MODEL_NAME_MAX - 1}}}")


def model_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a model name (``MODEL_NAME_RULE``): ``"<name, shortened>: expected ..."``; None when
    it can."""
    if isinstance(name, str) and _MODEL_NAME.fullmatch(name):
        return None
    size = f" ({len(name)} characters)" if isinstance(name, str) and len(name) > MODEL_NAME_MAX else ""
    return f"{brief(name)}{size}: expected {MODEL_NAME_RULE}"


def system_problem(text: object) -> str | None:
    """Why ``text`` is no system's text form (``<model>:<direct|stepwise>``, the model a model name): a line
    naming ``text`` (shortened) and what is expected; None when it is one."""
    model, sep, mode = text.rpartition(":") if isinstance(text, str) else ("", "", "")
    if sep and mode in MODES and model_name_problem(model) is None:
        return None
    return f"{brief(text)}: expected '<model>:<{'|'.join(MODES)}>', the model {MODEL_NAME_RULE}"


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
        """``"janus-pro-1b:stepwise"`` -> System("janus-pro-1b", "stepwise"), split at the last colon: a model name
        stored before the name rule (``model_name_problem``) may hold colons; a new one cannot.

        Raises:
            ValueError: not ``<model card>:<direct|stepwise>``.
        """
        model, sep, mode = text.rpartition(":") if isinstance(text, str) else ("", "", "")
        if not sep or not model or mode not in MODES:
            raise ValueError(f"system {brief(text)}: expected '<model card>:<{'|'.join(MODES)}>'")
        return cls(model, mode)

    def __str__(self) -> str:
        return f"{self.model}:{self.mode}"
