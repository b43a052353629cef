"""Janus / Janus-Pro through transformers' ``JanusForConditionalGeneration``: understand and generate, no edit.

Works around transformers 5.2x's Janus post-processing (both image-processor backends fail on the
decoder's channels-last output) by converting the decoded pixels to PIL directly.
"""

from __future__ import annotations

import torch
from PIL import Image
from transformers import LogitsProcessorList

from realunify_arena.adapters.base import Capability, GenerationOptions, ModelUnavailable
from realunify_arena.adapters.janus_fast import JanusFastGenerator, fast_path_wanted, guidance_processor
from realunify_arena.adapters.local import (LocalAdapter, checkpoint_for, checkpoint_guidance, pixels_to_pil,
                                           reply_text, with_chat_template, with_checkpoint_guidance)
from realunify_arena.cards import ModelCard
from realunify_arena.families import FAMILIES
from realunify_arena.limits import size_refusal

DEFAULT_GUIDANCE = FAMILIES["janus"].default_guidance  # 5, the Janus-Pro paper's CFG weight
# How DeepSeek's reference (deepseek-ai/Janus, generation_inference.py) draws each image token:
# ``torch.multinomial(softmax(logits / temperature))`` with temperature 1 over the whole 16384-entry
# codebook. Neither public generation config sets top_k, so without these transformers would apply its
# global default top_k=50; both decoding paths (transformers' loop and janus_fast) get them explicitly.
IMAGE_SAMPLING = {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0}
# JanusConfig's nested configurations (its sub_configs_defaults; text_config is a Llama in every Janus-Pro)
SUB_CONFIGS = {"text_config": {"llama"}, "vision_config": {"janus_vision_model"}, "vq_config": {"janus_vqgan"}}


class JanusAdapter(LocalAdapter):
    def __init__(self, card: ModelCard, device: str) -> None:
        from transformers import AutoProcessor, JanusForConditionalGeneration

        super().__init__(card, device)
        checkpoints = set(card.checkpoints.values())
        if len(checkpoints) != 1:
            raise ValueError(f"{card.path}: a janus card has one checkpoint for all capabilities, got {checkpoints}")
        checkpoint = self.checked(checkpoint_for(card, next(iter(card.capabilities))), "transformers",
                                  model_types={"janus"}, chat_template=True,
                                  special_tokens=("image_token", "boi_token", "eoi_token"), sub_configs=SUB_CONFIGS)
        self.loaded["processor"] = self.agreed(checkpoint, with_chat_template(AutoProcessor.from_pretrained(checkpoint)))
        self.loaded["model"] = self.pretrained(JanusForConditionalGeneration, checkpoint).to(device)
        self.loaded["model"].eval()
        restore_boi_token_id(self.model.generation_config, self.processor)
        side = self.native_side
        declared = (card.defaults.width, card.defaults.height)
        if Capability.GENERATE in card.capabilities and any(d not in (None, side) for d in declared):
            raise ModelUnavailable(f"{card.name}: defaults width x height {declared[0]}x{declared[1]}, but "
                                   f"{checkpoint} generates only {side}x{side} images (a fixed grid of image "
                                   f"tokens); set the card's defaults to width: {side}, height: {side}")

    @property
    def native_side(self) -> int:
        """The side in pixels of every generated image: the VQ grid (``vq_config.num_patches`` tokens a side,
        24 for Janus-Pro) times the decoder's upsampling (2 per level after the first: 16 for Janus-Pro's five
        ``channel_multiplier`` levels), 384 for Janus-Pro. Janus cannot make any other size."""
        vq = self.model.config.vq_config
        return vq.num_patches * 2 ** (len(vq.channel_multiplier) - 1)

    @property
    def model(self):
        return self.loaded["model"]

    @property
    def processor(self):
        return self.loaded["processor"]

    @property
    def fast(self) -> JanusFastGenerator | None:
        """The compiled decoder (janus_fast), default on CUDA; card param ``fast`` or $REALUNIFY_JANUS_FAST decide."""
        if not fast_path_wanted(self.device, self.card.params.get("fast")):
            return None
        if "fast" not in self.loaded:
            self.loaded["fast"] = JanusFastGenerator(self.model)
        return self.loaded["fast"]

    def run_options(self, options: GenerationOptions) -> GenerationOptions:
        """``options`` with the guidance ``generate_image_ids`` uses where they set none
        (``with_checkpoint_guidance``)."""
        return with_checkpoint_guidance(options, self.model.generation_config, self.card)

    def understand(self, images: list[Image.Image], text: str, options: GenerationOptions) -> str:
        content = [{"type": "image", "image": image} for image in images] + [{"type": "text", "text": text}]
        inputs = self.processor.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=True, return_dict=True,
            return_tensors="pt", processor_kwargs={"generation_mode": "text"}).to(self.device, self.dtype)
        self.generator(options.seed)
        new = self.generate_text_ids(inputs, options)[0, inputs["input_ids"].shape[1]:]
        text = self.processor.decode(new, skip_special_tokens=True).strip()
        return reply_text(text, new, options.max_new_tokens, self.model.generation_config.eos_token_id,
                          prompt_tokens=inputs["input_ids"].shape[1])

    def generate(self, text: str, options: GenerationOptions) -> Image.Image:
        """A ``native_side`` x ``native_side`` image (384x384 for Janus-Pro); ``options.width``/``height`` may only
        repeat that size (or be None).

        Raises:
            limits.OptionError: another width or height asked for, naming the card, the asked size and the
                size Janus makes (``check_options`` refuses it before any run; this guards direct callers).
        """
        side = self.native_side
        refusal = size_refusal(self.name, (options.width, options.height), (side, side),
                               "one fixed grid of image tokens")
        if refusal:
            raise refusal
        prompt = self.processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "text", "text": text}]}], add_generation_prompt=True)
        inputs = self.processor(text=prompt, generation_mode="image", return_tensors="pt").to(self.device)
        self.generator(options.seed)
        ids = self.generate_image_ids(inputs, options)
        with torch.no_grad():  # decode_image_tokens is not wrapped in no_grad upstream
            pixels = self.model.decode_image_tokens(ids)
        return pixels_to_pil(pixels)[0]

    def generate_text_ids(self, inputs, options: GenerationOptions) -> torch.Tensor:
        """Prompt + answer token ids: the one place text decoding happens."""
        with torch.inference_mode():
            if self.fast is not None:
                return self.fast.generate_text(**inputs, **self.sampling(options))
            return self.model.generate(**inputs, generation_mode="text",
                                       **as_total_length(self.sampling(options), inputs["input_ids"].shape[1]))

    def generate_image_ids(self, inputs, options: GenerationOptions) -> torch.Tensor:
        """(1, 576) VQ token ids for one image: the one place image decoding happens. A guidance of 1 or
        less turns classifier-free guidance off (the conditional logits alone); None: the checkpoint's own
        (``generation_config.json``'s ``guidance_scale``, 5 in Janus-Pro's, as transformers' Janus ``generate``
        reads it), else ``DEFAULT_GUIDANCE``."""
        guidance = options.guidance if options.guidance is not None else checkpoint_guidance(
            self.model.generation_config, DEFAULT_GUIDANCE, self.card)
        with torch.inference_mode():
            if self.fast is not None:
                return self.fast.generate_images(**inputs, guidance_scale=guidance, **IMAGE_SAMPLING)
            if guidance > 1:
                return self.model.generate(**inputs, generation_mode="image", guidance_scale=guidance,
                                           **IMAGE_SAMPLING)
            # transformers adds its processor only above 1 but always runs both halves: give it one that
            # keeps the conditional half (guidance_scale 1 stops it adding another)
            return self.model.generate(**inputs, generation_mode="image", guidance_scale=1,
                                       logits_processor=LogitsProcessorList([guidance_processor(guidance)]),
                                       **IMAGE_SAMPLING)


def restore_boi_token_id(generation_config, processor) -> None:
    """Give ``generation_config.generation_kwargs["boi_token_id"]`` the processor's begin-of-image id when
    the config lacks it. Janus image generation reads it there (both transformers' loop and janus_fast's
    unconditional prompt); a generation_config.json saved with ``"_from_model_config": true`` (as some
    public copies of Janus-Pro are) loses ``generation_kwargs`` on loading, and generation would fail with
    ``AttributeError``. The official value is the same token: ``<begin_of_image>``, id 100016."""
    extra = dict(getattr(generation_config, "generation_kwargs", None) or {})
    if extra.get("boi_token_id") is None:
        boi = processor.tokenizer.convert_tokens_to_ids(processor.tokenizer.boi_token)
        if boi is None or boi == processor.tokenizer.unk_token_id:
            raise ValueError("Janus image generation: neither the generation config (generation_kwargs."
                             "boi_token_id) nor the processor's tokenizer (boi_token) gives the begin-of-image id")
        generation_config.generation_kwargs = {**extra, "boi_token_id": boi}


def as_total_length(sampling: dict, prompt_length: int) -> dict:
    """``sampling`` with ``max_new_tokens`` given as the same limit on the total length, ``max_length``.

    ``JanusForConditionalGeneration.generate`` (text mode) prepares the generation config itself and hands
    it to ``GenerationMixin.generate``, which then sees ``max_length`` (20, filled in by the first
    preparation) beside ``max_new_tokens`` and logs "Both `max_new_tokens` and `max_length` seem to have
    been set" on every call: once per item of an ``eval``. A total length alone decodes the same tokens."""
    sampling = dict(sampling)
    new_tokens = sampling.pop("max_new_tokens", None)
    if new_tokens is not None:
        sampling["max_length"] = prompt_length + new_tokens
    return sampling


def load(card: ModelCard, device: str) -> JanusAdapter:
    return JanusAdapter(card, device)
