"""Emu3 through transformers: the Chat checkpoint understands, the Gen checkpoint generates.

``decode_image_tokens`` is called with keywords (it accepts nothing else, unlike its docs), and the
token layout is forced with fixed offsets checked first, which avoids the documented callback's
wrong answer for two-token-wide grids.
"""

from __future__ import annotations

import torch
from PIL import Image

from realunify_arena.adapters.base import Capability, GenerationOptions
from realunify_arena.adapters.local import (LocalAdapter, checkpoint_for, checkpoint_guidance, reply_text,
                                           with_checkpoint_guidance)
from realunify_arena.cards import ModelCard
from realunify_arena.families import FAMILIES
from realunify_arena.limits import size_refusal

DEFAULT_GUIDANCE = FAMILIES["emu3"].default_guidance  # 3, BAAI's reference (baaivision/Emu3, image_generation.py)
DEFAULT_SIDE = 720  # the Gen checkpoint's native 720x720 (image_area 518400)
# BAAI's reference samples image tokens with GenerationConfig(do_sample=True, top_k=2048) (image_generation.py);
# the Gen checkpoint's generation config sets no top_k, so transformers' global top_k=50 would apply.
IMAGE_SAMPLING = {"do_sample": True, "top_k": 2048, "top_p": 1.0, "temperature": 1.0}
# BAAI's Emu3-Chat system prompt (baaivision/Emu3, emu3/mllm/processing_emu3.py, the default chat_template)
CHAT_SYSTEM_PROMPT = "You are a helpful assistant."
SUB_CONFIGS = {"text_config": {"emu3_text_model"}, "vq_config": {"emu3_vqgan"}}  # Emu3Config's sub_configs


class Emu3Adapter(LocalAdapter):
    def __init__(self, card: ModelCard, device: str) -> None:
        from transformers import AutoProcessor, Emu3ForConditionalGeneration

        super().__init__(card, device)
        for checkpoint in dict.fromkeys(card.checkpoints.values()):  # Chat and Gen may be one folder (tiny)
            self.checked(checkpoint, "transformers", model_types={"emu3"},  # the prompt is written here
                         special_tokens=("image_token", "boi_token", "eoi_token", "image_wrapper_token", "eof_token"),
                         sub_configs=SUB_CONFIGS)
            self.loaded[f"processor:{checkpoint}"] = self.agreed(checkpoint, AutoProcessor.from_pretrained(checkpoint))
            model = self.pretrained(Emu3ForConditionalGeneration, checkpoint).to(device)
            self.loaded[f"model:{checkpoint}"] = model.eval()

    def _pick(self, capability: Capability):
        checkpoint = checkpoint_for(self.card, capability)
        return self.loaded[f"model:{checkpoint}"], self.loaded[f"processor:{checkpoint}"]

    def run_options(self, options: GenerationOptions) -> GenerationOptions:
        """``options`` with the guidance ``generate`` uses where they set none (``with_checkpoint_guidance``)."""
        if Capability.GENERATE not in self.card.capabilities:
            return options
        return with_checkpoint_guidance(options, self._pick(Capability.GENERATE)[0].generation_config, self.card)

    def understand(self, images: list[Image.Image], text: str, options: GenerationOptions) -> str:
        model, processor = self._pick(Capability.UNDERSTAND)
        inputs = understanding_inputs(processor, images, text).to(self.device, self.dtype)
        self.generator(options.seed)
        with torch.inference_mode():
            new = model.generate(**inputs, **self.sampling(options))[0, inputs["input_ids"].shape[1]:]
        text = processor.decode(new, skip_special_tokens=True).strip()
        return reply_text(text, new, options.max_new_tokens, model.generation_config.eos_token_id,
                          prompt_tokens=inputs["input_ids"].shape[1])

    def generate(self, text: str, options: GenerationOptions) -> Image.Image:
        """An image of ``options.width`` x ``options.height`` (each None: 720), which must be whole image tokens
        (the processor's ``spatial_factor``, 8 px): the token grid is ``round(side / 8)`` a side.

        Raises:
            limits.OptionError: a side that is not whole tokens, naming the card, the asked size and the size
                Emu3 would make (``check_options`` refuses it before any run; this guards direct callers).
        """
        model, processor = self._pick(Capability.GENERATE)
        width, height = options.width or DEFAULT_SIDE, options.height or DEFAULT_SIDE
        # Both prompts carry the image-generation header (<|image start|>H*W<|image token|>), as in BAAI's
        # reference, which tokenises positive and negative prompt alike in mode "G" (transformers' docs
        # example tokenises the negative prompt as plain text; we follow the model's authors).
        header = {"return_for_image_generation": True, "ratio": f"{width}:{height}", "image_area": width * height,
                  "return_tensors": "pt"}
        prompt = text + self.card.params.get("positive_prompt", "")
        inputs = processor(text=[prompt], **header).to(self.device)
        rows, cols = (int(n) for n in inputs.pop("image_sizes")[0])
        step = processor.image_processor.spatial_factor
        refusal = size_refusal(self.name, (options.width, options.height), (cols * step, rows * step),
                               f"whole image tokens of {step} px")
        if refusal:
            raise refusal
        negative = processor(text=[self.card.params.get("negative_prompt", "")], **header).to(self.device)
        negative.pop("image_sizes")
        guidance = options.guidance if options.guidance is not None else checkpoint_guidance(
            model.generation_config, DEFAULT_GUIDANCE, self.card)  # the checkpoint's own, else BAAI's reference value
        self.generator(options.seed)
        with torch.inference_mode():
            ids = model.generate(
                **inputs, max_new_tokens=(cols + 1) * rows + 3, guidance_scale=guidance, **IMAGE_SAMPLING,
                prefix_allowed_tokens_fn=_layout(model, processor.tokenizer, rows, cols),
                negative_prompt_ids=negative.input_ids, negative_prompt_attention_mask=negative.attention_mask)
            pixels = model.decode_image_tokens(image_tokens=ids[:, inputs.input_ids.shape[1]:], height=rows,
                                               width=cols)
        return processor.postprocess(list(pixels.float()), return_tensors="PIL.Image.Image")["pixel_values"][0]


def _layout(model, tokenizer, rows: int, cols: int):
    """Constrain decoding to ``rows`` lines of ``cols`` visual tokens + end-of-line, then eof, eoi, eos."""
    ids = tokenizer.convert_tokens_to_ids
    wrapper, eol, eof, eoi = (ids(t) for t in ("<|image token|>", "<|extra_200|>", "<|extra_201|>", "<|image end|>"))
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    visual = model.vocabulary_mapping.image_tokens
    body = (cols + 1) * rows
    tail = {body + 1: [eof], body + 2: [eoi], body + 3: [eos]}

    def allowed(batch_id: int, prefix: torch.Tensor) -> list[int]:
        offset = prefix.shape[0] - torch.nonzero(prefix == wrapper, as_tuple=True)[0][0].item()
        if offset in tail:  # fixed offsets first: the modulo test below would emit eol here when cols == 2
            return tail[offset]
        if offset > body + 3:
            return [pad]
        if offset % (cols + 1) == 0:
            return [eol]
        return visual

    return allowed


def load(card: ModelCard, device: str) -> Emu3Adapter:
    return Emu3Adapter(card, device)


def understanding_inputs(processor, images: list[Image.Image], text: str):
    """The Emu3 processor's inputs for ``images`` (RGB) and ``text`` in Emu3-Chat's prompt, tensors on the CPU:
    ``<BOS>You are a helpful assistant. USER: <image>...{text}. ASSISTANT:``, BAAI's reference (baaivision/Emu3,
    emu3/mllm/processing_emu3.py, mode "U": chat template ``"You are a helpful assistant. USER:
    {image_prompt}{text_prompt}. ASSISTANT:"``, the full stop put after every question as there). The -hf
    checkpoints' chat template renders no system prompt unless given one; the model was trained with this one.

    The images are declared channels-last (height, width, 3: what a PIL RGB image becomes). Left to guess,
    transformers' ``infer_channel_dimension_format`` takes an image 1 or 3 pixels tall for channels-first
    ("The channel dimension is ambiguous"): a 50x1 image failed ("mean must have 1 elements if it is an
    iterable, got 3") and a 50x3 one reached the model transposed, 3 wide and 50 tall."""
    prompt = f"{CHAT_SYSTEM_PROMPT} USER: " + "<image>" * len(images) + text + ". ASSISTANT:"
    return processor(images=images or None, text=prompt, return_tensors="pt",
                     **({"input_data_format": "channels_last"} if images else {}))
