"""BLIP3-o worker: understanding with its frozen Qwen2.5-VL-7B backbone and text-to-image through the
repository's diffusion decoder pipeline. BLIP3-o has no editing in the paper (its GEU stepwise is "-").

Run inside a BLIP3-o environment (JiuhaiChen/BLIP3o README: torch 2.3.0, transformers 4.51.3, the
repository's forked diffusers), from a checkout of its branch main (``git clone -b main``: the default branch,
BLIP3o-NEXT, holds another model's code and inference.py):
    python /path/to/workers/blip3o.py --repo . --checkpoint BLIP3o/BLIP3o-Model-8B --port 8105
Source: JiuhaiChen/BLIP3o (branch main) ``inference.py``: ``load_pretrained_model(path)``,
``DiffusionPipeline.from_pretrained(path + "/diffusion-decoder", custom_pipeline=..., multimodal_encoder=model,
tokenizer=tokenizer)`` called with the prompt in the ``qwen`` conversation template and guidance_scale=3.0;
understanding is the Qwen2.5-VL-7B-Instruct the 8B model is built on (``AutoProcessor.from_pretrained
("Qwen/Qwen2.5-VL-7B-Instruct")`` in the same file). Never run against real weights here.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from worker_http import Setting, Worker, add_repo_to_path, arguments, run  # noqa: E402

NAME = "BLIP3o/BLIP3o-Model-8B"
PORT = 8105
SRC = "JiuhaiChen/BLIP3o@main inference.py"
DEFAULTS = {
    "understand": {"max_new_tokens": Setting(256, "Qwen2.5-VL model card example: generate(max_new_tokens=128..512); "
                                                  "256 here, no BLIP3-o value")},
    "generate": {
        "guidance_scale": Setting(3.0, f"{SRC} pipe(..., guidance_scale=3.0)"),
        "seed": Setting(42, f"{SRC} set_global_seed(seed=42)"),
    },
}


class Backend:
    def __init__(self, pipe, conv_templates, vlm, processor) -> None:
        self.pipe, self.conv_templates, self.vlm, self.processor = pipe, conv_templates, vlm, processor

    @classmethod
    def load(cls, args) -> Backend:
        import torch
        from blip3o.conversation import conv_templates
        from blip3o.mm_utils import get_model_name_from_path
        from blip3o.model.builder import load_pretrained_model
        from diffusers import DiffusionPipeline
        from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

        tokenizer, model, _ = load_pretrained_model(args.checkpoint, None, get_model_name_from_path(args.checkpoint))
        pipe = DiffusionPipeline.from_pretrained(os.path.join(args.checkpoint, "diffusion-decoder"),
                                                 custom_pipeline=args.custom_pipeline, torch_dtype=torch.bfloat16,
                                                 use_safetensors=True, variant="bf16", multimodal_encoder=model,
                                                 tokenizer=tokenizer, safety_checker=None).to(args.device)
        vlm = Qwen2_5_VLForConditionalGeneration.from_pretrained(args.vlm, torch_dtype=torch.bfloat16).to(args.device)
        return cls(pipe, conv_templates, vlm, AutoProcessor.from_pretrained(args.vlm))

    def understand(self, images, question, *, max_new_tokens) -> str:
        content = [{"type": "image", "image": im} for im in images] + [{"type": "text", "text": question}]
        text = self.processor.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                                  add_generation_prompt=True)
        inputs = self.processor(text=[text], images=images or None, padding=True, return_tensors="pt")
        out = self.vlm.generate(**inputs.to(self.vlm.device), max_new_tokens=max_new_tokens, do_sample=False)
        return self.processor.batch_decode(out[:, inputs.input_ids.shape[1]:], skip_special_tokens=True)[0].strip()

    def generate(self, prompt, *, guidance_scale, seed):
        import random

        import numpy as np
        import torch

        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        conv = self.conv_templates["qwen"].copy()
        conv.append_message(conv.roles[0], f"Please generate image based on the following caption: {prompt}")
        conv.append_message(conv.roles[1], None)
        return self.pipe([conv.get_prompt()], guidance_scale=guidance_scale).image


def main(argv=None) -> None:
    parser = arguments(__doc__.splitlines()[0], NAME, PORT)
    parser.add_argument("--vlm", default="Qwen/Qwen2.5-VL-7B-Instruct", help="the understanding backbone")
    parser.add_argument("--custom-pipeline", default="pipeline_llava_gen", help="the decoder's custom pipeline file")
    args = parser.parse_args(argv)
    add_repo_to_path(args.repo)
    run(Worker(NAME, Backend.load(args), DEFAULTS), args.host, args.port)


if __name__ == "__main__":
    main()
