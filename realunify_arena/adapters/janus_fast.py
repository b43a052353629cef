"""Fast Janus / Janus-Pro decoding: each token step is one function of tensors, compiled into one CUDA graph.

transformers' Janus image loop costs ~25 ms per token at any model size because every step is Python and
hundreds of small kernel launches (``notes/performance.md``). Here a step — language-model step on a
static KV cache, head, classifier-free guidance, sampling, next-token embedding — is a single function,
compiled with ``torch.compile(mode="reduce-overhead")`` on CUDA so that it replays as one CUDA graph, with
no host synchronisation inside the image loop (the text loop checks for end of sequence every
``sync_every`` steps). Prefill stays eager: the static cache allocates on its first update.

It computes the same function as ``model.generate``: the same prompt handling (CFG batch doubling with an
unconditional copy padded except BOS/BOI, ``num_return_sequences``, left padding), the same logits
processors (read from transformers' own list, so a setting not implemented here is refused rather than
ignored), identical greedy tokens on CPU in float32 (``tests/unit/test_janus_fast.py``), and per-step
logits within bf16 noise on GPU (``tests/gpu/test_janus_fast_gpu.py``). Logits are processed in float32.
Attention never runs on cuDNN's kernels, whose results vary from call to call on CUDA
(``adapters/determinism.py``), so a seed repeats its image: each call turns that backend off for the process,
and each compiled step records the allowed backends in its graph.

Seeds: sampling draws one Exp(1) variate per codebook/vocabulary entry and step from ``generator``
(torch's default generator of the device when none is given, so ``torch.manual_seed`` works too) and takes
``argmax(log p - log E)``, an exact draw from ``p`` (the exponential race in its Gumbel-max form, which
cannot give NaN) that needs no host round trip. The
same seed, device, batch and settings give the same tokens on every run; the draws are not those of
transformers' ``torch.multinomial``, so one seed gives different (equally likely) images on the two paths.

Compiled graphs are keyed by batch rows, cache size (rounded up to ``cache_bucket`` tokens) and which
samplers are on; guidance, temperature and top-p are tensors, so changing them never recompiles. The
first call of each shape compiles (tens of seconds on a GPU): warm up at start-up, not per request.
Attention reads the whole static cache every step (masked beyond the current position), so buckets are
kept small: at batch 16 the cache, not the weights, is most of the bytes a step reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from transformers import GenerationConfig, StaticCache
from transformers.generation.logits_process import (ClassifierFreeGuidanceLogitsProcessor, TemperatureLogitsWarper,
                                                    TopKLogitsWarper, TopPLogitsWarper)

from realunify_arena import stopping
from realunify_arena.adapters.determinism import leave_out_cudnn_attention, reproducible_attention
from realunify_arena.settings import JANUS_FAST_ENV, janus_fast_switch

FAST_PATH_ENV = JANUS_FAST_ENV


class Guidance(ClassifierFreeGuidanceLogitsProcessor):
    """DeepSeek's classifier-free guidance, ``uncond + scale * (cond - uncond)``, at any scale >= 1:
    transformers' processor refuses scale 1, where the rule gives the conditional logits alone (guidance off).
    Janus always runs both halves, so guidance off still needs a processor that keeps the conditional one."""

    def __init__(self, guidance_scale: float):  # not the parent's: it refuses scale 1
        if not guidance_scale >= 1:
            raise ValueError(f"Janus guidance scale must be >= 1 (1: guidance off), got {guidance_scale}")
        self.guidance_scale = float(guidance_scale)


def guidance_processor(scale: float) -> ClassifierFreeGuidanceLogitsProcessor:
    """The guidance processor of a Janus image run: a scale <= 1 means guidance off (the conditional
    logits alone, DeepSeek's rule at scale 1), as in diffusers and transformers, where guidance acts above 1."""
    scale = float(scale)
    return ClassifierFreeGuidanceLogitsProcessor(scale) if scale > 1 else Guidance(1.0)  # transformers' own above 1


def fast_path_wanted(device: str | torch.device, setting: bool | None = None) -> bool:
    """Whether to decode with ``JanusFastGenerator``: an explicit (card) setting, else ``$REALUNIFY_JANUS_FAST``,
    else on CUDA only (on CPU there are no launches to save, and compiling would cost seconds)."""
    if setting is not None:
        return bool(setting)
    switch = janus_fast_switch()  # a bad value raises SettingsError (a ValueError) naming the variable
    if switch is not None:
        return switch
    return torch.device(device).type == "cuda"


class Knobs(NamedTuple):
    """The continuous sampling settings as 0-d float32 tensors, so new values reuse the compiled graph."""

    guidance: torch.Tensor
    temperature: torch.Tensor
    top_p: torch.Tensor


class Sampling(NamedTuple):
    """How head logits become a token: what transformers' logits processors do, in the order
    ``_get_logits_processor`` builds them (guidance, temperature, top-k, top-p)."""

    do_sample: bool
    guidance: float | None = None
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    @classmethod
    def from_processors(cls, processors, do_sample: bool) -> Sampling:
        """Translate transformers' processor list; any other processor changes the output, so it is refused."""
        found: dict = {}
        for processor in processors:
            if isinstance(processor, ClassifierFreeGuidanceLogitsProcessor):
                found["guidance"] = float(processor.guidance_scale)
            elif isinstance(processor, TemperatureLogitsWarper):
                found["temperature"] = float(processor.temperature)
            elif isinstance(processor, TopKLogitsWarper):
                found["top_k"] = int(processor.top_k)
            elif isinstance(processor, TopPLogitsWarper) and processor.min_tokens_to_keep == 1:
                found["top_p"] = float(processor.top_p)
            else:
                raise NotImplementedError(
                    f"fast Janus decoding does not implement {type(processor).__name__}; "
                    f"set {FAST_PATH_ENV}=0 to decode with transformers' loop")
        return cls(do_sample=do_sample, **found)

    def knobs(self, device: torch.device) -> Knobs:
        def scalar(value: float | None) -> torch.Tensor:
            return torch.tensor(1.0 if value is None else value, dtype=torch.float32, device=device)

        return Knobs(scalar(self.guidance), scalar(self.temperature), scalar(self.top_p))

    @property
    def flags(self) -> dict:
        """The settings that change the graph's structure (each combination is its own compiled graph)."""
        return {"do_sample": self.do_sample, "top_k": self.top_k, "top_p": self.top_p is not None}


def warp(logits: torch.Tensor, knobs: Knobs, *, guided: bool, do_sample: bool, top_k: int | None,
         top_p: bool) -> torch.Tensor:
    """Processed scores, computed as transformers' processors compute them (float32; -inf = filtered out)."""
    scores = logits.float()
    if guided:  # rows: the conditional half, then the unconditional half
        cond, uncond = scores.split(scores.shape[0] // 2)
        scores = uncond + (cond - uncond) * knobs.guidance
    if not do_sample:
        return scores
    scores = scores / knobs.temperature
    if top_k is not None:
        kth = torch.topk(scores, min(top_k, scores.shape[-1]))[0][..., -1, None]
        scores = scores.masked_fill(scores < kth, -float("inf"))
    if top_p:
        ascending, order = torch.sort(scores, descending=False)
        drop = ascending.softmax(dim=-1).cumsum(dim=-1) <= (1 - knobs.top_p)
        drop[..., -1:] = False
        scores = scores.masked_fill(drop.scatter(1, order, drop), -float("inf"))
    return scores


def choose(scores: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
    """Greedy without noise; with Exp(1) noise ``E``, an exact draw from ``p = softmax(scores)``.

    The draw is ``argmax(log p - log E)`` (the Gumbel-max form of the exponential race ``argmax(p / E)``:
    ``-log E`` is a standard Gumbel variate). It is written on log-probabilities with the draw clamped to the
    smallest positive float, so a filtered-out token (``log p = -inf``) stays ``-inf`` even when its draw is
    0: ``p / E`` there is ``0 / 0 = NaN``, and ``argmax`` picks a NaN, i.e. a token the filters removed.

    Args:
        scores: ``(rows, vocabulary)`` float32 processed scores, ``-inf`` where filtered out.
        noise: ``(rows, vocabulary)`` Exp(1) draws, or None for greedy decoding.
    Returns:
        ``(rows,)`` int64 token ids.
    """
    if noise is None:
        return scores.argmax(dim=-1)
    return (scores.log_softmax(dim=-1) - noise.clamp_min(torch.finfo(noise.dtype).tiny).log()).argmax(dim=-1)


class Teacher(NamedTuple):
    """Tokens to feed back instead of the chosen ones, when ``on``: the same graph then yields teacher-forced
    logits, so the checks measure exactly the code that generates."""

    tokens: torch.Tensor  # (steps, rows), contiguous per step
    on: torch.Tensor  # 0-d bool

    @classmethod
    def make(cls, forced: torch.Tensor | None, rows: int, steps: int, device: torch.device) -> Teacher:
        if forced is None:
            return cls(torch.zeros(steps, rows, dtype=torch.long, device=device), torch.tensor(False, device=device))
        if tuple(forced.shape) != (rows, steps):
            raise ValueError(f"forced tokens must have shape {(rows, steps)}, got {tuple(forced.shape)}")
        return cls(forced.to(device).t().contiguous(), torch.tensor(True, device=device))


class JanusFastGenerator:
    """``generate_images`` / ``generate_text``: drop-in for ``model.generate(generation_mode=...)``.

    Holds one static cache per mode, reused while shapes repeat (a recorded CUDA graph is tied to the
    cache's addresses). Not thread-safe: one call at a time per model, as on one GPU anyway.
    """

    def __init__(self, model, *, compile: bool | None = None, compile_options: dict | None = None,
                 cache_bucket: int = 128, sync_every: int = 16) -> None:
        """``compile``: None compiles the steps when the inputs are on CUDA (the model may move between calls)."""
        self.model = model
        self.compile = compile
        self.compile_options = {"mode": "reduce-overhead", "dynamic": False, **(compile_options or {})}
        self.cache_bucket = cache_bucket
        self.sync_every = sync_every
        self._caches: dict[str, tuple[tuple, StaticCache]] = {}
        self._compiled: tuple[Callable, Callable] | None = None

    def _steps(self, device: torch.device) -> tuple[Callable, Callable, bool]:
        """The (image, text) step functions for inputs on ``device``, and whether they are compiled."""
        if not (self.compile if self.compile is not None else device.type == "cuda"):
            return self._image_step_eager, self._text_step_eager, False
        if self._compiled is None:
            # one graph per (rows, cache size, samplers): more than dynamo's default limit per function
            torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
            self._compiled = (torch.compile(self._image_step_eager, **self.compile_options),
                              torch.compile(self._text_step_eager, **self.compile_options))
        return (*self._compiled, True)

    # ---- image generation ------------------------------------------------------------------------------

    @torch.inference_mode()
    def generate_images(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, *,
                        generator: torch.Generator | None = None, generation_config: GenerationConfig | None = None,
                        **kwargs) -> torch.Tensor:
        """(prompts × num_return_sequences, num_image_tokens) VQ token ids, rows grouped by prompt."""
        leave_out_cudnn_attention()
        return self._image_loop(input_ids, attention_mask, generator, generation_config, kwargs, None)[0]

    @torch.inference_mode()
    def image_logits(self, input_ids: torch.Tensor, forced: torch.Tensor, attention_mask: torch.Tensor | None = None,
                     *, generator: torch.Generator | None = None, **kwargs) -> torch.Tensor:
        """Raw head logits (2 × rows, steps, codebook) of each step, run with the same settings (so the same
        graph) as ``generate_images`` but feeding back ``forced`` (rows, steps): the teacher-forced check."""
        leave_out_cudnn_attention()
        return self._image_loop(input_ids, attention_mask, generator, None, kwargs, forced)[1]

    def _image_loop(self, input_ids, attention_mask, generator, generation_config, kwargs, forced):
        device = input_ids.device
        config = generation_settings(self.model, generation_config, kwargs, device)
        guidance, config.guidance_scale = config.guidance_scale, None  # as generate: CFG is batched, added below
        if guidance is None:
            raise ValueError("Janus image generation needs a guidance_scale (<= 1: guidance off)")
        processors = self.model._get_logits_processor(
            config, input_ids_seq_length=input_ids.shape[1], encoder_input_ids=input_ids, device=device,
            logits_processor=[guidance_processor(guidance)])
        sampling = Sampling.from_processors(processors, config.do_sample)
        copies = config.num_return_sequences or 1
        input_ids = input_ids.repeat_interleave(copies, dim=0)
        attention_mask = None if attention_mask is None else attention_mask.repeat_interleave(copies, dim=0)
        rows, length = input_ids.shape
        steps = self.model.model.vision_model.config.num_image_tokens
        width = self.model.config.vq_config.num_embeddings  # codebook size: the head's logits
        teacher = Teacher.make(forced, rows, steps, device)
        step, _, compiled = self._steps(device)

        cache = self._cache("image", 2 * rows, length + steps)
        mask = self._padding_mask(attention_mask, 2, cache.get_max_length())
        knobs = sampling.knobs(device)
        prompt = torch.cat([input_ids, unconditional_prompt(input_ids, config)])
        hidden = self.model.model.language_model(
            inputs_embeds=self.model.get_input_embeddings()(prompt), cache=cache, use_cache=True,
            attention_mask=None if mask is None else mask[:, :length]).last_hidden_state[:, -1]

        tokens = torch.empty(rows, steps, dtype=torch.long, device=device)
        kept = None if forced is None else torch.empty(2 * rows, steps, width, device=device)
        for i in range(steps):
            stopping.check()  # host-side only: no synchronisation
            noise = self._noise(generator, sampling, (rows, width), device)
            if i == 0:  # the prefill's last position gives the first token
                token, embeds, logits = self._image_tail(hidden, knobs, noise, teacher.tokens[0], teacher.on,
                                                         **sampling.flags)
            else:
                new_step(compiled)
                token, embeds, logits = step(embeds, cache, mask, knobs, noise, teacher.tokens[i], teacher.on,
                                             **sampling.flags)
            tokens[:, i] = token
            if kept is not None:
                kept[:, i] = logits
            (embeds,) = carried(compiled, embeds)
            del token, logits  # only what is carried over may outlive the next replay
        return tokens, kept

    def _image_step_eager(self, embeds, cache, mask, knobs, noise, forced, teacher, **flags):
        with reproducible_attention():  # also inside: the compiled graph (and its cache entry) records it
            hidden = self.model.model.language_model(
                inputs_embeds=embeds, attention_mask=mask, cache=cache, use_cache=True).last_hidden_state[:, -1]
        return self._image_tail(hidden, knobs, noise, forced, teacher, **flags)

    def _image_tail(self, hidden, knobs, noise, forced, teacher, **flags):
        """Head, guidance, sampling and the next step's input embedding (both CFG halves get the token)."""
        logits = self.model.model.generation_head(hidden)
        token = torch.where(teacher, forced, choose(warp(logits, knobs, guided=True, **flags), noise))
        embeds = self.model.prepare_embeddings_for_image_generation(torch.cat([token, token]).unsqueeze(-1))
        return token, embeds, logits

    # ---- text generation -------------------------------------------------------------------------------

    @torch.inference_mode()
    def generate_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                      pixel_values: torch.Tensor | None = None, *, generator: torch.Generator | None = None,
                      generation_config: GenerationConfig | None = None, **kwargs) -> torch.Tensor:
        """Prompt + new token ids, padded after each row's end of sequence, as ``generate`` returns them."""
        leave_out_cudnn_attention()
        new = self._text_loop(input_ids, attention_mask, pixel_values, generator, generation_config, kwargs,
                              None)[0]
        return torch.cat([input_ids, new], dim=1)

    @torch.inference_mode()
    def text_logits(self, input_ids: torch.Tensor, forced: torch.Tensor, attention_mask: torch.Tensor | None = None,
                    pixel_values: torch.Tensor | None = None, *, generator: torch.Generator | None = None,
                    **kwargs) -> torch.Tensor:
        """LM-head logits (rows, steps, vocab) of each step with ``forced`` (rows, steps) fed back."""
        kwargs = {**kwargs, "max_new_tokens": forced.shape[1]}
        leave_out_cudnn_attention()
        return self._text_loop(input_ids, attention_mask, pixel_values, generator, None, kwargs, forced)[1]

    def _text_loop(self, input_ids, attention_mask, pixel_values, generator, generation_config, kwargs, forced):
        device = input_ids.device
        config = generation_settings(self.model, generation_config, {**kwargs, "guidance_scale": None}, device)
        processors = self.model._get_logits_processor(
            config, input_ids_seq_length=input_ids.shape[1], encoder_input_ids=input_ids, device=device)
        sampling = Sampling.from_processors(processors, config.do_sample)
        rows, length = input_ids.shape
        steps = config.max_new_tokens if config.max_new_tokens is not None else config.max_length - length
        if steps < 1:
            raise ValueError(f"nothing to generate: max_length {config.max_length} <= prompt length {length}")
        if attention_mask is not None and not bool(attention_mask[:, -1].all()):
            raise ValueError("fast Janus decoding needs left padding (the last prompt column must be unmasked)")
        teacher = Teacher.make(forced, rows, steps, device)
        _, step, compiled = self._steps(device)

        cache = self._cache("text", rows, length + steps)
        mask = self._padding_mask(attention_mask, 1, cache.get_max_length())
        if attention_mask is None:
            positions = torch.arange(length, device=device).expand(rows, -1)
        else:  # as generate: padding takes no position
            positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
        knobs = sampling.knobs(device)
        eos = config._eos_token_tensor
        eos = torch.empty(0, dtype=torch.long, device=device) if eos is None else eos
        pad = (config._pad_token_tensor if config._pad_token_tensor is not None else torch.tensor(0)).to(device)
        logits = self.model(input_ids=input_ids, pixel_values=pixel_values, position_ids=positions, cache=cache,
                            use_cache=True, logits_to_keep=1,
                            attention_mask=None if mask is None else mask[:, :length]).logits[:, -1]
        vocab = logits.shape[-1]
        position = positions[:, -1:] + 1
        unfinished = torch.ones(rows, dtype=torch.bool, device=device)

        tokens = torch.empty(rows, steps, dtype=torch.long, device=device)
        remaining = torch.empty(steps, dtype=torch.long, device=device)  # rows still unfinished after step i
        kept = None if forced is None else torch.empty(rows, steps, vocab, device=device)
        ran = 0
        for i in range(steps):
            if i and i % self.sync_every == 0 and forced is None and not bool(unfinished.any()):
                break  # the only host synchronisation: once every sync_every steps
            stopping.check()
            noise = self._noise(generator, sampling, (rows, vocab), device)
            if i == 0:
                token, unfinished = self._text_tail(logits, knobs, noise, teacher.tokens[0], teacher.on, unfinished,
                                                    eos, pad, **sampling.flags)
            else:
                new_step(compiled)
                token, position, unfinished, logits = step(
                    token, position, cache, mask, knobs, noise, teacher.tokens[i], teacher.on, unfinished, eos, pad,
                    **sampling.flags)
            tokens[:, i] = token
            remaining[i] = unfinished.sum()
            if kept is not None:
                kept[:, i] = logits
            token, position, unfinished = carried(compiled, token, position, unfinished)
            del logits  # only what is carried over may outlive the next replay
            ran = i + 1
        done = (remaining[:ran] == 0).nonzero()
        produced = int(done[0]) + 1 if len(done) else ran  # generate stops after the step that ends the last row
        return tokens[:, :produced], kept

    def _text_step_eager(self, token, position, cache, mask, knobs, noise, forced, teacher, unfinished, eos, pad,
                         **flags):
        with reproducible_attention():  # as in _image_step_eager
            logits = self.model(input_ids=token.unsqueeze(-1), position_ids=position, cache=cache, use_cache=True,
                                attention_mask=mask).logits[:, -1]
        token, unfinished = self._text_tail(logits, knobs, noise, forced, teacher, unfinished, eos, pad, **flags)
        return token, position + 1, unfinished, logits

    @staticmethod
    def _text_tail(logits, knobs, noise, forced, teacher, unfinished, eos, pad, **flags):
        """Choose the token; rows past their end of sequence get padding, as in ``generate``."""
        token = torch.where(teacher, forced, choose(warp(logits, knobs, guided=False, **flags), noise))
        token = torch.where(unfinished, token, pad)
        return token, unfinished & ~torch.isin(token, eos)

    # ---- shared ----------------------------------------------------------------------------------------

    def _cache(self, mode: str, rows: int, length: int) -> StaticCache:
        """A reset static cache for ``rows`` × ``length`` tokens: the same object while the shape repeats."""
        size = -(-length // self.cache_bucket) * self.cache_bucket
        key = (rows, size, self.model.device, self.model.dtype)
        held = self._caches.pop(mode, None)
        if held is not None and held[0] == key:
            cache = held[1]
            cache.reset()
        else:
            del held  # free the old cache before allocating its replacement
            cache = StaticCache(config=self.model.config.get_text_config(decoder=True), max_cache_len=size)
        self._caches[mode] = (key, cache)
        return cache

    @staticmethod
    def _padding_mask(attention_mask: torch.Tensor | None, copies: int, size: int) -> torch.Tensor | None:
        """The prompt mask extended over the whole cache (later positions are causally masked anyway), or
        ``None`` when nothing is padded, for the cheaper unmasked attention."""
        if attention_mask is None or bool(attention_mask.all()):
            return None
        mask = attention_mask.bool().repeat(copies, 1)
        return torch.nn.functional.pad(mask, (0, size - mask.shape[1]), value=True)

    @staticmethod
    def _noise(generator: torch.Generator | None, sampling: Sampling, shape: tuple, device) -> torch.Tensor | None:
        if not sampling.do_sample:
            return None
        return torch.empty(shape, dtype=torch.float32, device=device).exponential_(generator=generator)


def carried(compiled: bool, *outputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """A step's outputs that the next step takes as inputs, as copies when the step is a CUDA graph: its
    replay reuses its output memory, and torch 2.11 marks that memory unreadable when the next step
    starts (the error "accessing tensor output of CUDAGraphs that has been overwritten"); 2.14 copies
    live outputs itself, so copying here costs nothing extra there."""
    return tuple(t.clone() for t in outputs) if compiled else outputs


def new_step(compiled: bool) -> None:
    """Tell CUDA-graph trees the previous step's outputs are consumed, so their buffers may be reused."""
    if compiled:
        torch.compiler.cudagraph_mark_step_begin()


def generation_settings(model, generation_config: GenerationConfig | None, kwargs: dict,
                        device: torch.device) -> GenerationConfig:
    """The generation config ``generate`` would use: the model's, updated by ``kwargs``, tokens as tensors."""
    config, unused = model._prepare_generation_config(generation_config, **kwargs)
    unused = {k for k in unused if k not in ("output_attentions", "output_hidden_states")}
    if unused:
        raise TypeError(f"unknown generation arguments: {sorted(unused)}")
    if (config.num_beams or 1) > 1:
        raise NotImplementedError(f"fast Janus decoding is greedy or sampling, not beam search (num_beams="
                                  f"{config.num_beams}); set {FAST_PATH_ENV}=0 to decode with transformers' loop")
    model._prepare_special_tokens(config, device=device)
    return config


def unconditional_prompt(input_ids: torch.Tensor, config: GenerationConfig) -> torch.Tensor:
    """The CFG copy of the prompt: every token but BOS and BOI replaced by padding, as in ``generate``."""
    boi = (getattr(config, "generation_kwargs", None) or {}).get("boi_token_id")  # absent: janus.restore_boi_token_id
    for name, value in (("bos_token_id", config.bos_token_id), ("pad_token_id", config.pad_token_id),
                        ("generation_kwargs['boi_token_id']", boi)):
        if value is None:
            raise ValueError(f"Janus image generation needs generation_config.{name}; it is not set")
    keep = (input_ids == config.bos_token_id) | (input_ids == boi)
    return input_ids.masked_fill(~keep, config.pad_token_id)


@torch.inference_mode()
def reference_image_logits(model, input_ids: torch.Tensor, forced: torch.Tensor, guidance_scale: float = 5.0,
                           attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Teacher-forced head logits (2 × rows, steps, codebook) from one full forward pass of transformers'
    own modules — no cache, no loop: the independent reference for ``JanusFastGenerator.image_logits``."""
    config = generation_settings(model, None, {"guidance_scale": guidance_scale}, input_ids.device)
    prompt = torch.cat([input_ids, unconditional_prompt(input_ids, config)])
    image_embeds = model.prepare_embeddings_for_image_generation(forced[:, :-1].repeat(2, 1))
    embeds = torch.cat([model.get_input_embeddings()(prompt), image_embeds], dim=1)
    mask = None
    if attention_mask is not None:
        mask = torch.nn.functional.pad(attention_mask.repeat(2, 1), (0, forced.shape[1] - 1), value=1)
    hidden = model.model.language_model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
    return model.model.generation_head(hidden[:, input_ids.shape[1] - 1:])


@torch.inference_mode()
def reference_text_logits(model, input_ids: torch.Tensor, forced: torch.Tensor,
                          attention_mask: torch.Tensor | None = None,
                          pixel_values: torch.Tensor | None = None) -> torch.Tensor:
    """Teacher-forced LM-head logits (rows, steps, vocab) from one full forward pass, positions as ``generate``
    gives them: the reference for ``JanusFastGenerator.text_logits``."""
    ids = torch.cat([input_ids, forced[:, :-1]], dim=1)
    mask = torch.ones_like(ids) if attention_mask is None else torch.nn.functional.pad(
        attention_mask, (0, forced.shape[1] - 1), value=1)
    positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, pixel_values=pixel_values).logits
    return logits[:, input_ids.shape[1] - 1:]
