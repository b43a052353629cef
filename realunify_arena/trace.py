"""What one run of one instance produced: the ordered steps, the final output, settings and any error.

A Trace is what the protocols return, what the store persists, what the UI shows and what the judge
scores. Images inside a trace are PIL images while in memory and content hashes once stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from PIL import Image

from realunify_arena.systems import Mode, System


class StepRole(str, Enum):
    REFINED_PROMPT = "refined_prompt"  # UEG stepwise stage 1 (text)
    GENERATED_IMAGE = "generated_image"  # UEG final (image)
    EDITED_IMAGE = "edited_image"  # GEU stepwise stage 1 (image)
    ANSWER = "answer"  # GEU final (text)


class Status(str, Enum):
    OK = "ok"
    NOT_SUPPORTED = "not_supported"  # the paper's "-"
    ERROR = "error"


@dataclass
class Step:
    role: StepRole
    prompt: str  # the exact string sent to the model at this step
    text: str | None = None
    image: Image.Image | None = None
    image_sha: str | None = None  # set once the image is in the store
    seconds: float = 0.0
    # the model's thoughts where its server gave them apart from the answer (``adapters.base.Reply.reasoning``: vLLM
    # or SGLang with a reasoning parser), else None; never part of ``text``, never judged or scored (``Trace.output``
    # leaves them out), kept in the stored trace only when there are some
    reasoning: str | None = None

    def to_dict(self, *, thoughts: bool = True) -> dict:
        """The step as stored; ``thoughts`` False leaves ``reasoning`` out (what a page or an API reply shows: a
        parser-served model's thoughts are not shown, as they were not before they were kept)."""
        return {
            "role": self.role.value,
            "prompt": self.prompt,
            "text": self.text,
            "image_sha": self.image_sha,
            "seconds": round(self.seconds, 4),
            **({"reasoning": self.reasoning} if thoughts and self.reasoning else {}),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Step:
        reasoning = d.get("reasoning")
        return cls(
            role=StepRole(d["role"]),
            prompt=d["prompt"],
            text=d.get("text"),
            image_sha=d.get("image_sha"),
            seconds=d.get("seconds", 0.0),
            reasoning=reasoning if isinstance(reasoning, str) and reasoning else None,
        )


@dataclass
class Trace:
    instance_uid: str
    model: str  # model card name
    mode: Mode
    settings: dict  # GenerationOptions.to_dict()
    steps: list[Step] = field(default_factory=list)
    status: Status = Status.OK
    error: str | None = None
    # what a reader of a successful run must know about it (``protocols.cut_answer_note``: a GEU answer cut while
    # the model was still reasoning); kept in the stored trace only when there is one
    notes: list[str] = field(default_factory=list)

    @property
    def system(self) -> str:
        """A system is (model card, mode), e.g. ``janus-pro-1b:stepwise``."""
        return str(System(self.model, self.mode))

    @property
    def final(self) -> Step | None:
        """The last step if the run finished (the generated image or the answer)."""
        if self.status is not Status.OK or not self.steps:
            return None
        return self.steps[-1]

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)

    def output(self) -> tuple:
        """What a judge (or voter) saw of the run: its status and each step's role, text and image id, as
        ``(status, ((role, text, image_sha), ...))``. Two runs of one key with one output are one run however long
        each took (``evaluation.merge``, ``store.rows_missing``)."""
        return self.status.value, tuple((step.role.value, step.text, step.image_sha) for step in self.steps)

    def to_dict(self, *, thoughts: bool = True) -> dict:
        """The trace as stored (JSON-ready); ``thoughts`` False leaves each step's ``reasoning`` out
        (``Step.to_dict``): what a page or an API reply shows."""
        return {
            "instance_uid": self.instance_uid,
            "model": self.model,
            "mode": self.mode,
            "settings": self.settings,
            "steps": [s.to_dict(thoughts=thoughts) for s in self.steps],
            "status": self.status.value,
            "error": self.error,
            **({"notes": list(self.notes)} if self.notes else {}),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Trace:
        return cls(
            instance_uid=d["instance_uid"],
            model=d["model"],
            mode=d["mode"],
            settings=d["settings"],
            steps=[Step.from_dict(s) for s in d.get("steps", [])],
            status=Status(d.get("status", "ok")),
            error=d.get("error"),
            notes=_notes(d.get("notes")),
        )


def _notes(value: object) -> list[str]:
    """A stored trace's ``notes`` as a list of texts: a list as it is (each item as text), one text as the one
    note it is (a store merged from elsewhere may hold one: ``list`` would make each character a note), none when
    absent or empty."""
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item if isinstance(item, str) else str(item) for item in value]
    return [str(value)]
