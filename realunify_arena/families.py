"""What a model family is and offers, as plain data: capabilities, generation options, the family table.

A leaf module: it imports nothing from the package, so ``cards`` (which validates a card against its
family) and ``adapters`` (which run a card) both depend on it and never on each other's code. The adapter
code for a family lives in ``realunify_arena/adapters/<Family.module>.py``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum

__all__ = ["FAMILIES", "TINY_LAYOUTS", "Capability", "Family", "GenerationOptions", "family_of"]


class Capability(str, Enum):
    """One of the three things a unified model may do (a card declares a subset)."""

    UNDERSTAND = "understand"  # (images, text) -> text
    GENERATE = "generate"  # text -> image
    EDIT = "edit"  # (image, text) -> image


@dataclass(frozen=True)
class GenerationOptions:
    """Everything that changes an output besides the input. Recorded with every output.

    Args:
        seed: random seed of the generation (any integer; the same seed and input give the same output).
        guidance: classifier-free guidance scale (``guidance_scale``, > 0; about 1-10 is usual); None
            takes the card's or the model's default.
        steps: diffusion or sampling steps (``num_inference_steps``, >= 1); None takes the default.
        width, height: output image size in pixels (>= 1); None takes the model's native size. Some families
            make only some sizes (``Family.size_step``, ``Family.fixed_size``): Janus only its one grid's
            (384x384 for Janus-Pro, the card's defaults), Emu3 whole image tokens (multiples of 8 px), a pair's
            diffusers pipeline multiples of 16 px;
            ``limits.check_options`` refuses any other size, naming the size the model would make instead.
        max_new_tokens: upper bound on generated text tokens (>= 1).
        temperature: text sampling temperature (>= 0; 0 is greedy decoding).
    """

    seed: int = 0
    guidance: float | None = None  # None: the card's default
    steps: int | None = None  # diffusion steps; None: the card's default
    width: int | None = None
    height: int | None = None
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 = greedy text decoding

    def to_dict(self) -> dict:
        """The options as a JSON-ready dict (field name -> value), as stored with every run."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GenerationOptions:
        """Options from a stored dict; keys that are not fields (written by other versions) are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class Family:
    """A model family: which adapter module runs it and what its cards may declare."""

    module: str  # realunify_arena.adapters.<module> exposes load(card, device) -> Adapter
    capabilities: frozenset[Capability]  # what a card of this family may declare
    remote: bool  # runs behind an API: nothing resident here
    packages: tuple[str, ...]  # import names it needs
    params: frozenset[str] | None = None  # the ``params`` keys its adapter reads (None: any, read elsewhere)
    ignores: frozenset[str] = frozenset()  # GenerationOptions fields its adapter never reads
    # Image sizes a token-by-token family can make (None: any; a diffusion pipeline or an API sizes the image):
    # each side is a whole number of image tokens of ``size_step`` pixels, and with ``fixed_size`` the token
    # grid itself is fixed, so only the card's ``defaults`` width x height can be made.
    size_step: int | None = None
    fixed_size: bool = False
    # sides rounded down to whole ``size_step`` (diffusers' pipelines) rather than to the nearest (Emu3's tokens)
    size_floor: bool = False
    # The classifier-free guidance a run without one uses where its checkpoint's generation_config.json ships no
    # ``guidance_scale`` (a family whose adapter reads that file's value first: Janus, Emu3); None: the family
    # reads no guidance from its checkpoint (``cards.ModelCard.options`` records the value a run uses).
    default_guidance: float | None = None

    def produced_size(self, width: int, height: int, native: tuple[int | None, int | None]) -> tuple[int, int]:
        """The (width, height) in pixels this family makes when asked for ``width`` x ``height``: the request
        itself for a family that sizes freely; the native size (``native``: the card's default width and
        height) for a fixed grid; each side rounded to whole ``size_step``-pixel tokens otherwise (Emu3's
        processor: ``round(side / spatial_factor)`` tokens when ratio and area are the request's own)."""
        if self.fixed_size:
            return native[0] or width, native[1] or height
        if self.size_step:
            step = self.size_step
            if self.size_floor:
                return rounded_down(width, step), rounded_down(height, step)
            return max(1, round(width / step)) * step, max(1, round(height / step)) * step
        return width, height

    def size_reason(self) -> str:
        """Why only ``produced_size``'s sizes are made, in words, for a refusal ("" for a family that sizes
        freely)."""
        if self.fixed_size:
            return "one fixed grid of image tokens"
        if self.size_floor:
            return rounded_down_reason(self.size_step)
        return f"whole image tokens of {self.size_step} px" if self.size_step else ""


def rounded_down(side: int, step: int) -> int:
    """``side`` (px) rounded down to a whole number of ``step`` px, at least one: what diffusers' FLUX,
    Qwen-Image and OmniGen pipelines make of a side that is not one (``prepare_latents``)."""
    return max(1, side // step) * step


def rounded_down_reason(step: int) -> str:
    """Why a diffusers pipeline makes only multiples of ``step`` px (``vae_scale_factor * 2``), for a refusal."""
    return (f"its diffusers pipeline rounds each side down to a multiple of {step} px (VAE latents packed in 2x2"
            " patches)")


_ALL = frozenset(Capability)
_UNDERSTAND_GENERATE = frozenset({Capability.UNDERSTAND, Capability.GENERATE})

# ``params`` every local card may carry: limits.py's ``limits``, availability's ``memory_gb``,
# LocalAdapter.sampling's text_top_k / text_top_p, and LocalAdapter.variant (from_pretrained's ``variant``)
_LOCAL_PARAMS = frozenset({"limits", "memory_gb", "text_top_k", "text_top_p", "variant"})
# Janus and Emu3 generate images token by token: there are no diffusion steps to set
_NO_STEPS = frozenset({"steps"})

FAMILIES: dict[str, Family] = {
    # Janus decodes a fixed grid of image tokens (24x24 of 16 px: 384x384 for Janus-Pro); guidance 5: the Janus-Pro
    # paper's CFG weight (cfg_weight=5 in DeepSeek's generation_inference.py)
    "janus": Family("janus", _UNDERSTAND_GENERATE, False, ("torch", "transformers"),
                    _LOCAL_PARAMS | {"fast"}, _NO_STEPS, fixed_size=True, default_guidance=5.0),
    # Emu3 takes any grid of 8-px image tokens (the processor's spatial_factor); the card's size is its default;
    # guidance 3: classifier_free_guidance = 3.0 in BAAI's reference (baaivision/Emu3, image_generation.py)
    "emu3": Family("emu3", _UNDERSTAND_GENERATE, False, ("torch", "transformers"),
                   _LOCAL_PARAMS | {"positive_prompt", "negative_prompt"}, _NO_STEPS, size_step=8,
                   default_guidance=3.0),
    # FLUX.1 Kontext, Qwen-Image and OmniGen pack 8x-downsampled VAE latents in 2x2 patches: any other side is
    # rounded down to a multiple of 16 px with only a logged warning (diffusers' ``prepare_latents``)
    "pair": Family("pair", _ALL, False, ("torch", "transformers", "diffusers"),
                   _LOCAL_PARAMS | {"guidance_arg", "call_kwargs", "edit_call_kwargs", "edit_size", "system_prompt",
                                    "image_label"},
                   size_step=16, size_floor=True),
    "openai": Family("openai_compat", _ALL, True, ("openai",)),
    "gemini": Family("gemini", _ALL, True, ("google.genai",)),
    # a tiny card also takes its base family's params and ignores what its base ignores
    "tiny": Family("tiny", _ALL, False, ("torch", "transformers", "diffusers", "torchvision"),
                   frozenset({"base", "seed"})),
}

# A tiny card's ``params.base``: the family whose random-weight model it builds -> capability -> the
# sub-folder of the built model that holds that capability's checkpoint ("" is the folder itself).
TINY_LAYOUTS: dict[str, dict[str, str]] = {
    "janus": {"understand": "", "generate": ""},
    "emu3": {"understand": "", "generate": ""},
    "pair": {"understand": "vlm", "generate": "pipeline", "edit": "pipeline"},
}


def family_of(family: str, params: dict) -> Family:
    """The family whose adapter runs a card of ``family`` with these ``params``: a tiny card's base
    (``params.base``) for ``"tiny"``, else ``FAMILIES[family]``. Raises ``KeyError`` for an unknown name."""
    if family == "tiny":
        return FAMILIES[params["base"]]
    return FAMILIES[family]
