"""Janus / Janus-Pro through transformers' ``JanusForConditionalGeneration``: understand and generate, no edit.

Works around transformers 5.2x's Janus post-processing (both image-processor backends fail on the
decoder's channels-last output) by converting the decoded pixels to PIL directly.
"""

from __future__ import annotations

import torch
from PIL import Image

from realunify_arena.adapters.base import GenerationOptions
from realunify_arena.adapters.janus_fast import JanusFastGenerator, fast_path_wanted
from realunify_arena.adapters.local import LocalAdapter, checkpoint_for, pixels_to_pil
from realunify_arena.cards import ModelCard

DEFAULT_GUIDANCE = 5.0  # the Janus-Pro paper's CFG weight


class JanusAdapter(LocalAdapter):
    def __init__(self, card: ModelCard, device: str) -> None:
        from transformers import AutoProcessor, JanusForConditionalGeneration

        super().__init__(card, device)
        checkpoints = set(card.checkpoints.values())
        if len(checkpoints) != 1:
            raise ValueError(f"{card.path}: a janus card has one checkpoint for all capabilities, got {checkpoints}")
        checkpoint = checkpoint_for(card, next(iter(card.capabilities)))
        self.loaded["processor"] = AutoProcessor.from_pretrained(checkpoint)
        self.loaded["model"] = JanusForConditionalGeneration.from_pretrained(checkpoint, dtype=self.dtype).to(device)
        self.loaded["model"].eval()

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

    def understand(self, images: list[Image.Image], text: str, options: GenerationOptions) -> str:
        content = [{"type": "image", "image": image} for image in images] + [{"type": "text", "text": text}]
        inputs = self.processor.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=True, return_dict=True,
            return_tensors="pt", processor_kwargs={"generation_mode": "text"}).to(self.device, self.dtype)
        self.generator(options.seed)
        ids = self.generate_text_ids(inputs, options)
        return self.processor.decode(ids[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()

    def generate(self, text: str, options: GenerationOptions) -> Image.Image:
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
        """(1, 576) VQ token ids for one image: the one place image decoding happens."""
        guidance = options.guidance if options.guidance is not None else DEFAULT_GUIDANCE
        with torch.inference_mode():
            if self.fast is not None:
                return self.fast.generate_images(**inputs, do_sample=True, guidance_scale=guidance)
            return self.model.generate(**inputs, generation_mode="image", do_sample=True, guidance_scale=guidance)


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
