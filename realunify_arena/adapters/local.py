"""What every in-process (torch) family shares: dtype, device moves, memory accounting, seeding, reproducible
attention, PIL output."""

from __future__ import annotations

import dataclasses
import functools
import gc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from PIL import Image

from realunify_arena import stopping
from realunify_arena.adapters.base import Adapter, Capability, CutReply, ModelUnavailable, Reply
from realunify_arena.adapters.checkpoint_agree import agreement_problem
from realunify_arena.adapters.checkpoint_files import check_checkpoint, model_weights_problem, weights_entry
from realunify_arena.adapters.checkpoint_fit import load_report_problem
from realunify_arena.adapters.determinism import leave_out_cudnn_attention
from realunify_arena.cards import ModelCard
from realunify_arena.families import FAMILIES, GenerationOptions
from realunify_arena.limits import shipped_guidance

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


class LocalAdapter(Adapter):
    """An adapter whose weights live in this process, held in ``loaded`` (models, pipelines, processors).

    A subclass's ``understand``, ``generate`` and ``edit`` first call ``leave_out_cudnn_attention()``: on
    CUDA, cuDNN's attention kernels vary from call to call, which breaks the same-seed-same-output promise of
    ``Adapter`` (``adapters/determinism.py``). It is switched off for the whole process and never back on, so
    calls on other threads cannot turn it on under a running one.
    """

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("understand", "generate", "edit"):
            if name in cls.__dict__:
                setattr(cls, name, _without_cudnn_attention(cls.__dict__[name]))

    def __init__(self, card: ModelCard, device: str) -> None:
        super().__init__(card=card, capabilities=card.capabilities)
        self.device = device
        self.dtype = DTYPES[card.dtype]
        self.loaded: dict[str, Any] = {}

    @property
    def variant(self) -> str | None:
        """The weights' variant every ``from_pretrained`` of this card reads (``params.variant``, e.g. ``"fp16"``
        for ``model.fp16.safetensors`` / ``pytorch_model.fp16.bin``); None: unvarianted weights."""
        return self.card.params.get("variant")

    def checked(self, checkpoint: str, kind: str, **expected) -> str:
        """``checkpoint``, once its files pass ``check_checkpoint(checkpoint, kind, self.variant, **expected)``
        (``expected``: its ``model_types``, ``chat_template``, ``special_tokens`` and ``sub_configs``).

        Raises:
            ModelUnavailable: ``"{card}: {file}: {what is wrong}; expected {what}"``.
        """
        try:
            check_checkpoint(checkpoint, kind, self.variant, **expected)
        except ModelUnavailable as exc:
            raise ModelUnavailable(f"{self.name}: {exc}") from None
        return checkpoint

    def agreed(self, checkpoint: str, processor):
        """``processor``, once it and ``checkpoint``'s configuration agree on what transformers compares only at
        run time (``checkpoint_agree.agreement_problem``: image token ids, image tokens per image, patch sizes).

        Raises:
            ModelUnavailable: ``"{card}: {file}: field '{field}' is ...; expected ..."``, before the weights load.
        """
        from transformers import AutoConfig

        problem = agreement_problem(checkpoint, AutoConfig.from_pretrained(checkpoint), processor)
        if problem:
            raise ModelUnavailable(f"{self.name}: {problem}")
        return processor

    def pretrained(self, cls, checkpoint: str):
        """``cls.from_pretrained(checkpoint)`` (a transformers model class: ``JanusForConditionalGeneration``,
        ``AutoModelForImageTextToText``) in the card's dtype and variant, refused unless every weight its
        ``config.json`` builds was loaded from the checkpoint, at its shape.

        transformers loads weights lacking some the config builds (a truncated shard set, a smaller variant's
        weights, weights saved from another class) with only a logged load report, the rest at random values, and
        refuses a weight of another shape with "For details look at the above report!", naming neither weight nor
        folder. Its own report (``output_loading_info``; shapes compared with ``ignore_mismatched_sizes``, which
        only turns the exception into report entries) is read by ``checkpoint_fit.load_report_problem``. The same
        refusal comes before anything is loaded when the weight files' headers already show it
        (``checkpoint_files.model_weights_problem``: a broken 7B checkpoint is refused in about a second, not
        after minutes and ~15 GB); the load's report stays the authority for what the headers cannot tell.

        Raises:
            ModelUnavailable: ``"{card}: {checkpoint}: {n} of the {total} weights of the {class} that config.json
                builds are in no weight file ({file}): {names}, ...; ..."`` or ``"{card}: {checkpoint}: weight
                {key} has shape [..] in {file} but config.json builds [..] ..."``.
        """
        problem = model_weights_problem(checkpoint, cls, self.variant)
        if problem:  # what the load report below would say, before the load's minutes and gigabytes
            raise ModelUnavailable(f"{self.name}: {problem}")
        model, report = cls.from_pretrained(checkpoint, dtype=self.dtype, variant=self.variant,
                                            output_loading_info=True, ignore_mismatched_sizes=True)
        problem = load_report_problem(checkpoint, type(model).__name__, report, len(model.state_dict()),
                                      weights_entry(checkpoint, self.variant))
        if problem:
            raise ModelUnavailable(f"{self.name}: {problem}")
        return model

    def _modules(self) -> Iterator[torch.nn.Module]:
        for obj in self.loaded.values():
            if isinstance(obj, torch.nn.Module):
                yield obj
            elif hasattr(obj, "components"):  # a diffusers pipeline
                yield from (c for c in obj.components.values() if isinstance(c, torch.nn.Module))

    def memory_bytes(self) -> int:
        seen: set[int] = set()
        total = 0
        for module in self._modules():
            for tensor in (*module.parameters(), *module.buffers()):
                if id(tensor) not in seen:
                    seen.add(id(tensor))
                    total += tensor.numel() * tensor.element_size()
        return total

    def watch_for_stop(self) -> None:
        """A forward pre-hook on each model and on the first block of each of its ``ModuleList``s (decoder
        layers, transformer blocks) runs ``stopping.check()``: once per decoding or denoising step, in any
        generate loop or pipeline, at the cost of a few Python calls per step. Skipped inside compiled code."""
        for module in self._modules():
            targets = [module] + [m[0] for m in module.modules() if isinstance(m, torch.nn.ModuleList) and len(m)]
            for target in targets:
                if not getattr(target, "_realunify_stop_hook", False):
                    target.register_forward_pre_hook(_stop_hook)
                    target._realunify_stop_hook = True

    def to(self, device: str) -> None:
        for module in self._modules():
            module.to(device)
        self.device = device

    def close(self) -> None:
        self.loaded.clear()
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def generator(self, seed: int) -> torch.Generator:
        """Seed everything a sampler may draw from; returns a generator for APIs that take one."""
        torch.manual_seed(seed)
        return torch.Generator(self.device).manual_seed(seed)

    def sampling(self, options) -> dict:
        """Text decoding arguments: greedy at temperature 0, sampling above it.

        When sampling, ``top_k`` and ``top_p`` are always set here, never inherited from the checkpoint's
        generation config: Qwen2.5-VL ships ``top_k=1, top_p=0.001``, with which a temperature alone still
        decodes greedily (a judge's retries would repeat the first reply). They are cleared (``top_k=0``,
        ``top_p=1.0``: every token may be drawn) unless the card gives ``params.text_top_k`` /
        ``params.text_top_p``.
        """
        if options.temperature > 0:
            return {"do_sample": True, "temperature": options.temperature, "max_new_tokens": options.max_new_tokens,
                    "top_k": int(self.card.params.get("text_top_k", 0)),
                    "top_p": float(self.card.params.get("text_top_p", 1.0))}
        return {"do_sample": False, "max_new_tokens": options.max_new_tokens}


def reply_text(text: str, new_ids: torch.Tensor, limit: int, eos: int | list[int] | None, *,
               prompt_tokens: int | None = None) -> Reply:
    """``text`` (the decoded ``new_ids``, 1-D) as a ``CutReply`` when generation stopped at ``limit`` new tokens
    without ending on one of the ``eos`` ids (``generation_config.eos_token_id``: one id, a list, or None), else a
    ``Reply``; either counts ``prompt_tokens`` (the length of the ``input_ids`` the model was given) and
    ``len(new_ids)`` as its completion tokens."""
    ends = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
    cut = len(new_ids) >= limit and (not len(new_ids) or int(new_ids[-1]) not in ends)
    return (CutReply if cut else Reply).counted(text, prompt_tokens, len(new_ids))


def _without_cudnn_attention(method: Callable) -> Callable:
    @functools.wraps(method)
    def wrapped(*args, **kwargs):
        leave_out_cudnn_attention()
        return method(*args, **kwargs)

    return wrapped


def _stop_hook(module, args) -> None:
    if not torch.compiler.is_compiling():
        stopping.check()


def with_chat_template(processor):
    """``processor``, given its tokenizer's chat template when it has none of its own: a checkpoint saved
    before processors had one ships it only in ``tokenizer_config.json``, which transformers 5 gives the
    tokenizer but not the processor (whose ``apply_chat_template`` then refuses every prompt)."""
    if getattr(processor, "chat_template", None) is None:
        template = getattr(getattr(processor, "tokenizer", None), "chat_template", None)
        if isinstance(template, dict):  # named templates: the default one
            template = template.get("default")
        if isinstance(template, str):
            processor.chat_template = template
    return processor


def checkpoint_guidance(generation_config, default: float, card: ModelCard) -> float:
    """The classifier-free guidance the checkpoint's authors ship in its ``generation_config.json``
    (``guidance_scale``, read by ``limits.shipped_guidance``'s rule), else ``default``: a card that sets no
    ``defaults.guidance`` runs a checkpoint at its own value, as ``generate`` in transformers would, not at the
    family's constant. 0 is guidance off, as there (Janus' ``generate`` adds its guidance processor only for a scale
    above 1), not ``default``.

    Raises:
        limits.OptionError: the checkpoint's value is above the card's guidance limit (``limits.shipped_guidance``).
    """
    value = shipped_guidance(getattr(generation_config, "guidance_scale", None), card)
    return default if value is None else value


def with_checkpoint_guidance(options: GenerationOptions, generation_config, card: ModelCard) -> GenerationOptions:
    """``options`` with the guidance a run that asks none generates with (``checkpoint_guidance`` of the loaded
    generating model's ``generation_config``, else the family's ``Family.default_guidance``), so the run records the
    value it used, as ``cards.ModelCard.options`` does where the file is on disk before the load. ``options`` as they
    are where they set a guidance, the family has no default, or the card does not generate.

    Raises:
        limits.OptionError: as ``checkpoint_guidance``.
    """
    default = FAMILIES[card.family].default_guidance
    if options.guidance is not None or default is None or Capability.GENERATE not in card.capabilities:
        return options
    return dataclasses.replace(options, guidance=checkpoint_guidance(generation_config, default, card))


def checkpoint_for(card: ModelCard, capability: Capability) -> str:
    return card.checkpoints[capability.value]


def pixels_to_pil(pixels: torch.Tensor) -> list[Image.Image]:
    """(B, H, W, 3) floats in [-1, 1] -> PIL images (the Janus decoder's layout)."""
    array = ((pixels.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
    return [Image.fromarray(np.ascontiguousarray(a)) for a in array]
