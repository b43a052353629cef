"""The adapter protocol: what every model family offers the protocols, and nothing more.

A model declares which of the three capabilities it has. Asking for one it lacks raises
``NotSupported`` (the paper's "-"), which the protocols turn into a "not supported" trace rather than
an error. ``Capability`` and ``GenerationOptions`` are plain data defined in ``realunify_arena.families``
and re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from PIL import Image

from realunify_arena.families import Capability, GenerationOptions

if TYPE_CHECKING:
    from realunify_arena.cards import ModelCard

__all__ = ["Adapter", "Capability", "GenerationOptions", "ModelSource", "ModelUnavailable", "NotSupported"]


class Reply(str):
    """An ``understand`` reply with the token counts its model made it with, a ``str`` in every other way:
    ``prompt_tokens``, the ids the model read (chat template, text and every image's tokens, as its processor
    built them), and ``completion_tokens``, the new ids it generated (an end token included), each an ``int``, or
    None where an adapter does not count them (the remote families). ``serve-openai`` answers them as OpenAI's
    ``usage``. ``reasoning``: the model's thoughts where its server gave them apart from the answer (vLLM or SGLang
    with a reasoning parser: ``message.reasoning_content``, ``message.reasoning`` in newer vLLM), else None; never
    part of the answer, never scored (``reasoning.cut_while_reasoning`` reads it)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning: str | None = None

    @classmethod
    def counted(cls, text: str, prompt_tokens: int | None, completion_tokens: int | None) -> Reply:
        """``text`` as this class, with its counts."""
        reply = cls(text)
        reply.prompt_tokens, reply.completion_tokens = prompt_tokens, completion_tokens
        return reply

    @staticmethod
    def like(text: str, reply: object) -> str:
        """``text`` (``reply`` rewritten: redacted, stripped) as ``reply``'s class with its counts and reasoning, so
        that it still says it was cut (``CutReply``) and what was thought apart; ``text`` itself when ``reply`` is
        no ``Reply``."""
        if not isinstance(reply, Reply):
            return text
        kept = type(reply).counted(text, reply.prompt_tokens, reply.completion_tokens)
        kept.reasoning = reply.reasoning
        return kept


class CutReply(Reply):
    """An ``understand`` reply cut at ``options.max_new_tokens`` (the model had not ended it), a ``str`` in every
    other way. ``serve-openai`` answers it with OpenAI's ``finish_reason`` ``"length"`` (the API reference: the
    maximum number of tokens given in the request was reached), any other reply with ``"stop"``."""


class NotSupported(Exception):
    """The model has no such capability (shown as "-", never counted as an error)."""


class ModelUnavailable(RuntimeError):
    """The card cannot be run here (weights, key, endpoint or package missing); the message says which."""


@dataclass
class Adapter:
    """Base class of every family. Subclasses override the capabilities they declare.

    Images in and out are ``PIL.Image.Image`` in RGB mode, any size (the adapter resizes to what its model
    needs); text is a Python ``str``. Every method is deterministic for equal inputs and ``options``
    (same seed, same output) unless the card's endpoint is not.
    """

    card: ModelCard
    capabilities: frozenset[Capability] = field(default_factory=frozenset)

    @property
    def name(self) -> str:
        """The card's name (the file name of its YAML card, without ``.yaml``)."""
        return self.card.name

    def supports(self, capability: Capability) -> bool:
        """Whether ``capability`` is declared; calling an undeclared one raises ``NotSupported``."""
        return capability in self.capabilities

    def require(self, capability: Capability) -> None:
        """Raise ``NotSupported`` ("<name> cannot <capability> images") unless ``capability`` is declared: a
        family that serves every capability (a remote endpoint) calls it first, so a card's declaration
        holds whatever the endpoint could do."""
        if not self.supports(capability):
            raise NotSupported(f"{self.name} cannot {capability.value} images")

    def run_options(self, options: GenerationOptions) -> GenerationOptions:
        """``options`` as this adapter runs them, recorded with the run (``protocols.run_stream``): a setting left
        None that the adapter fills from its loaded checkpoint given the value it uses (Janus, Emu3: the guidance of
        the checkpoint's ``generation_config.json``, ``adapters.local.with_checkpoint_guidance``). This base returns
        ``options``.

        Raises:
            limits.OptionError: a value the checkpoint ships that the card's limits refuse.
        """
        return options

    def understand(self, images: list[Image.Image], text: str, options: GenerationOptions) -> str:
        """Answer ``text`` about ``images`` (0 or more, in order; 0 for a text-only turn such as prompt refinement).

        Returns:
            The model's reply, at most ``options.max_new_tokens`` tokens, surrounding whitespace kept; a
            ``CutReply`` when it was stopped at that limit: the local families (``pair``, ``janus``, ``emu3``)
            tell it from the token ids (``local.reply_text``), ``openai`` from the endpoint's ``finish_reason``,
            ``gemini`` from its ``MAX_TOKENS`` finish reason.

        Raises:
            NotSupported: the card does not declare ``understand``.
            ModelUnavailable: a remote endpoint cannot be reached or refused the key.
            TimeoutError: a remote endpoint did not answer within the card's ``params.timeout_s``.
        """
        raise NotSupported(f"{self.name} cannot understand images")

    def generate(self, text: str, options: GenerationOptions) -> Image.Image:
        """An image for the prompt ``text``.

        Returns:
            An RGB image of ``options.width`` x ``options.height`` pixels when both are set, else the
            model's native size. Never another size than asked: a family that cannot make it refuses.

        Raises:
            NotSupported: the card does not declare ``generate``.
            ModelUnavailable, TimeoutError: as for ``understand``.
            limits.OptionError: a size a token-by-token family cannot make (Janus: only its fixed grid's,
                384x384 for Janus-Pro; Emu3: whole 8-px tokens), naming the asked size and the one it makes.
        """
        raise NotSupported(f"{self.name} cannot generate images")

    def edit(self, image: Image.Image, text: str, options: GenerationOptions) -> Image.Image:
        """``image`` edited as the instruction ``text`` says.

        Returns:
            An RGB image (the size rules of ``generate``).

        Raises:
            NotSupported: the card does not declare ``edit``.
            ModelUnavailable, TimeoutError: as for ``understand``.
        """
        raise NotSupported(f"{self.name} cannot edit images")

    def memory_bytes(self) -> int:
        """Device memory held while resident, in bytes (0 for remote endpoints); the pool evicts by this."""
        return 0

    def to(self, device: str) -> None:
        """Move weights to ``device`` (a torch device string; ``"cpu"`` frees the accelerator). Remote adapters ignore it."""

    def watch_for_stop(self) -> None:
        """Let a stopped run end inside a long model call (``stopping.check`` per step); the pool calls
        this once after loading. Remote adapters stop between calls only."""

    def close(self) -> None:
        """Release everything; the adapter is not used again."""


class ModelSource(Protocol):
    """What the protocols, the judge, the server and the app need from a model pool.

    ``runtime.ModelPool`` is the implementation; tests may pass any object with these members.
    """

    @property
    def cards(self) -> Mapping[str, ModelCard]:
        """Every known card by name (loaded or not)."""
        ...

    def use(self, name: str, report: Callable[[str], None] | None = None) -> AbstractContextManager[Adapter]:
        """The loaded adapter of card ``name``, held (not evicted, not shared on its device) for the block.
        ``report`` (optional) is told each stage that may take a while (``runtime.WAITING_FOR_DEVICE``, then
        any loading stage: a run's ``RunControl`` learns from it that its model began loading).

        Raises:
            ModelUnavailable: no card ``name``, or it cannot run here.
        """
        ...
