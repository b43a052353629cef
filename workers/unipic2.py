"""UniPic2 (Skywork-UniPic2, Qwen2.5-VL-7B + SD3.5M-Kontext, "MQ") worker: understanding with the
Qwen2.5-VL backbone, text-to-image and editing through the repository's Kontext pipeline and conditioner.

Run inside a UniPic2 environment (SkyworkAI/UniPic ``UniPic-2/requirements.txt``), from ``UniPic-2/``:
    python /path/to/workers/unipic2.py --repo . --checkpoint <unipic2 MQ checkpoint> --port 8103
Source: SkyworkAI/UniPic@33bf374 ``UniPic-2/scripts/unipic2_mq_t2i.py``, ``unipic2_mq_editing.py``,
``unipic2_mq_i2t.py`` (script bodies; the repository has no callable entry point, so the steps of their
main() are followed). Never run against real weights here.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from worker_http import Setting, Worker, add_repo_to_path, arguments, run  # noqa: E402

NAME = "UniPic2-Metaquery-9B"  # the id this worker serves; the weights come from --checkpoint
PORT = 8103
SRC = "SkyworkAI/UniPic@33bf374 UniPic-2/scripts"
EDIT_NEGATIVE = ("blurry, low quality, low resolution, distorted, deformed, broken content, missing parts, damaged "
                 "details, artifacts, glitch, noise, pixelated, grainy, compression artifacts, bad composition, wrong "
                 "proportion, incomplete editing, unfinished, unedited areas.")
DEFAULTS = {
    "understand": {"max_new_tokens": Setting(512, f"{SRC}/unipic2_mq_i2t.py --max_new_tokens")},
    "generate": {
        "width": Setting(384, f"{SRC}/unipic2_mq_t2i.py --width"),
        "height": Setting(512, f"{SRC}/unipic2_mq_t2i.py --height"),
        "num_inference_steps": Setting(50, f"{SRC}/unipic2_mq_t2i.py --num_inference_steps"),
        "guidance_scale": Setting(3.5, f"{SRC}/unipic2_mq_t2i.py --guidance_scale"),
        "negative_prompt": Setting("", f"{SRC}/unipic2_mq_t2i.py --negative_prompt"),
        "seed": Setting(42, f"{SRC}/unipic2_mq_t2i.py --seed"),
    },
    "edit": {
        "image_size": Setting(512, f"{SRC}/unipic2_mq_editing.py --image_size (longer edge)"),
        "num_inference_steps": Setting(50, f"{SRC}/unipic2_mq_editing.py --num_inference_steps"),
        "guidance_scale": Setting(3.5, f"{SRC}/unipic2_mq_editing.py --guidance_scale"),
        "negative_prompt": Setting(EDIT_NEGATIVE, f"{SRC}/unipic2_mq_editing.py --negative_prompt"),
        "seed": Setting(42, f"{SRC}/unipic2_mq_editing.py --seed"),
    },
}


class Backend:
    def __init__(self, lmm, processor, conditioner, pipeline) -> None:
        self.lmm, self.processor, self.conditioner, self.pipeline = lmm, processor, conditioner, pipeline

    @classmethod
    def load(cls, args) -> Backend:
        import torch
        from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler
        from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor
        from unipicv2.pipeline_stable_diffusion_3_kontext import StableDiffusion3KontextPipeline
        from unipicv2.stable_diffusion_3_conditioner import StableDiffusion3Conditioner
        from unipicv2.transformer_sd3_kontext import SD3Transformer2DKontextModel

        bf16, ckpt = torch.bfloat16, args.checkpoint
        transformer = SD3Transformer2DKontextModel.from_pretrained(ckpt, subfolder="transformer", torch_dtype=bf16)
        vae = AutoencoderKL.from_pretrained(ckpt, subfolder="vae", torch_dtype=bf16)
        lmm = Qwen2_5_VLForConditionalGeneration.from_pretrained(args.lmm, torch_dtype=bf16)
        processor = Qwen2_5_VLProcessor.from_pretrained(args.lmm)
        processor.chat_template = processor.chat_template.replace(  # as the scripts: no default system turn
            "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant."
            "<|im_end|>\n{% endif %}", "")
        conditioner = StableDiffusion3Conditioner.from_pretrained(ckpt, subfolder="conditioner", torch_dtype=bf16)
        scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(ckpt, subfolder="scheduler")
        pipeline = StableDiffusion3KontextPipeline(
            transformer=transformer.to(args.device), vae=vae.to(args.device), text_encoder=None, tokenizer=None,
            text_encoder_2=None, tokenizer_2=None, text_encoder_3=None, tokenizer_3=None, scheduler=scheduler)
        return cls(lmm.to(args.device), processor, conditioner.to(args.device), pipeline)

    def understand(self, images, question, *, max_new_tokens) -> str:
        content = [{"type": "image", "image": im} for im in images] + [{"type": "text", "text": question}]
        text = self.processor.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                                  add_generation_prompt=True)
        inputs = self.processor(text=[text], images=images or None, padding=True, return_tensors="pt")
        out = self.lmm.generate(**inputs.to(self.lmm.device), max_new_tokens=max_new_tokens)
        return self.processor.batch_decode(out[:, inputs.input_ids.shape[1]:], skip_special_tokens=True)[0].strip()

    def _embeds(self, texts, image=None):
        """The scripts' conditioning: meta queries appended to the Qwen2.5-VL input, hidden states -> SD3."""
        import torch

        count = self.conditioner.config.num_queries
        kwargs = {}
        if image is not None:
            pixels = int(image.height * 28 / 32 * image.width * 28 / 32)
            kwargs = dict(images=[image] * 2, min_pixels=pixels, max_pixels=pixels)
        inputs = self.processor(text=texts, padding=True, return_tensors="pt", **kwargs).to(self.lmm.device)
        ids = torch.cat([inputs.input_ids, inputs.input_ids.new_zeros(2, count)], dim=1)
        mask = torch.cat([inputs.attention_mask, inputs.attention_mask.new_ones(2, count)], dim=1)
        embeds = self.lmm.get_input_embeddings()(ids)
        embeds[:, -count:] = self.conditioner.meta_queries[None].expand(2, -1, -1)
        extra = {}
        if image is not None:
            image_embeds = self.lmm.visual(inputs.pixel_values, grid_thw=inputs.image_grid_thw)
            embeds[ids == self.processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")] = image_embeds
            self.lmm.model.rope_deltas = None
            extra = dict(image_grid_thw=inputs.image_grid_thw)
        hidden = self.lmm.model(inputs_embeds=embeds, attention_mask=mask, use_cache=False, **extra).last_hidden_state
        return self.conditioner(hidden[:, -count:])

    def _render(self, prompt_embeds, pooled, seed, **kwargs):
        import torch

        generator = torch.Generator(device=self.pipeline.transformer.device).manual_seed(seed)
        return self.pipeline(prompt_embeds=prompt_embeds[:1], pooled_prompt_embeds=pooled[:1],
                             negative_prompt_embeds=prompt_embeds[1:], negative_pooled_prompt_embeds=pooled[1:],
                             generator=generator, **kwargs).images[0]

    def generate(self, prompt, *, width, height, num_inference_steps, guidance_scale, negative_prompt, seed):
        texts = [self.processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "text", "text": f"Generate an image: {t}"}]}], tokenize=False,
            add_generation_prompt=True) for t in (prompt, negative_prompt)]
        embeds, pooled = self._embeds(texts)
        return self._render(embeds, pooled, seed, height=height, width=width,
                            num_inference_steps=num_inference_steps, guidance_scale=guidance_scale)

    def edit(self, image, instruction, *, image_size, num_inference_steps, guidance_scale, negative_prompt, seed):
        scale = image_size / max(image.size)  # unipic2_mq_editing.py fix_longer_edge, multiples of 32
        width, height = (image_size, round(image.height * scale / 32) * 32) if image.width >= image.height else (
            round(image.width * scale / 32) * 32, image_size)
        image = image.resize((width, height))
        texts = [self.processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": t}]}],
            tokenize=False, add_generation_prompt=True) for t in (instruction, negative_prompt)]
        embeds, pooled = self._embeds(texts, image)
        return self._render(embeds, pooled, seed, image=image, height=height, width=width,
                            num_inference_steps=num_inference_steps, guidance_scale=guidance_scale)


def main(argv=None) -> None:
    parser = arguments(__doc__.splitlines()[0], None, PORT)
    parser.add_argument("--lmm", default="Qwen/Qwen2.5-VL-7B-Instruct", help="the Qwen2.5-VL-7B-Instruct weights")
    args = parser.parse_args(argv)
    add_repo_to_path(args.repo)
    run(Worker(NAME, Backend.load(args), DEFAULTS), args.host, args.port)


if __name__ == "__main__":
    main()
