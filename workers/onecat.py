"""OneCAT worker: understanding (``model.chat``), text-to-image (``model.generate_t2i``) and editing
(``model.generate_edit``), prepared the way the repository's scripts prepare them.

Run inside a OneCAT environment (onecat-ai/OneCAT README), from the repository checkout, with the Infinity
VAE checkpoint:  python /path/to/workers/onecat.py --repo . --vae-path infinity_vae_d32reg.pth --port 8102
Source: onecat-ai/OneCAT@fc971e4 ``generate_understanding.py``, ``generate_txt2img.py``,
``generate_imgedit.py``. OneCAT samples its image tokens (top-k/top-p) and its scripts set no seed, so
``seed`` here seeds torch before each call. Never run against real weights here.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from worker_http import Setting, Worker, add_repo_to_path, arguments, run  # noqa: E402

NAME = "onecat-ai/OneCAT-3B"
PORT = 8102
SRC = "onecat-ai/OneCAT@fc971e4"
DEFAULTS = {
    "understand": {"max_new_tokens": Setting(1000, f"{SRC} generate_understanding.py generation_config")},
    "generate": {
        "guidance_scale": Setting(20.0, f"{SRC} generate_txt2img.py --cfg"),
        "top_k": Setting(2, f"{SRC} generate_txt2img.py --top_k"),
        "top_p": Setting(0.97, f"{SRC} generate_txt2img.py --top_p"),
        "h_div_w": Setting(1.0, f"{SRC} generate_txt2img.py --h_div_w (1M pixels at --t2i_stage 3: 1024x1024)"),
        "seed": Setting(0, "none in the official scripts; recorded here so repeated runs match"),
    },
    "edit": {
        "guidance_scale": Setting(3.0, f"{SRC} generate_imgedit.py --cfg_T"),
        "image_guidance_scale": Setting(1.0, f"{SRC} generate_imgedit.py --cfg_I"),
        "top_k": Setting(2, f"{SRC} generate_imgedit.py --top_k"),
        "top_p": Setting(0.97, f"{SRC} generate_imgedit.py --top_p"),
        "seed": Setting(0, "none in the official scripts; recorded here so repeated runs match"),
    },
}


class Backend:
    def __init__(self, model, tokenizer, device) -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device

    @classmethod
    def load(cls, args) -> Backend:
        import argparse

        import torch
        from onecat.constants import (IMG_GEN_CONTEXT_TOKEN, IMG_GEN_START_TOKEN, REF_GEN_CONTEXT_TOKEN)
        from onecat.modeling_onecat import OneCatVLModel
        from onecat.var_model.tools.run_infinity import load_visual_tokenizer
        from transformers import AutoTokenizer

        model = OneCatVLModel.from_pretrained(args.checkpoint)
        tokenizer = AutoTokenizer.from_pretrained(args.checkpoint)
        vae_args = argparse.Namespace(vae_type=32, vae_path=args.vae_path, apply_spatial_patchify=0, pn="1M")
        model.vae_local = load_visual_tokenizer(vae_args).eval()
        model.vargpt_gen_args = vae_args
        model.img_gen_context_token_id = tokenizer.convert_tokens_to_ids(IMG_GEN_CONTEXT_TOKEN)
        model.img_gen_start_token_id = tokenizer.convert_tokens_to_ids(IMG_GEN_START_TOKEN)
        model.ref_img_context_token_id = tokenizer.convert_tokens_to_ids(REF_GEN_CONTEXT_TOKEN)
        return cls(model.to(device=args.device, dtype=torch.bfloat16).eval(), tokenizer, args.device)

    def _ids(self, text):
        inputs = self.tokenizer(text, return_tensors="pt", truncation=False, padding=False)
        return inputs["input_ids"].to(self.device), inputs["attention_mask"].to(self.device)

    @staticmethod
    def _pil(tensor):
        import numpy as np
        from PIL import Image

        array = tensor[0].add_(1).mul_(0.5).float().permute(1, 2, 0).mul_(255).cpu().numpy().astype(np.uint8)
        return Image.fromarray(array)

    def understand(self, images, question, *, max_new_tokens) -> str:
        import torch
        from onecat.smart_resize import smart_resize
        from onecat.util import build_transform

        pixel_values = thumbnail = None
        if images:
            height, width = smart_resize(images[0].height, images[0].width)
            pixel_values = build_transform(input_size=(height, width))(images[0]).unsqueeze(0)
            thumbnail = build_transform(input_size=(448, 448))(images[0]).unsqueeze(0)
            pixel_values = pixel_values.to(device=self.device, dtype=torch.bfloat16)
            thumbnail = thumbnail.to(device=self.device, dtype=torch.bfloat16)
        config = dict(do_sample=False, top_k=None, top_p=None, num_beams=1, max_new_tokens=max_new_tokens,
                      eos_token_id=self.tokenizer.eos_token_id)
        return self.model.chat(tokenizer=self.tokenizer, pixel_values=pixel_values, question=question,
                               generation_config=config, pixel_values_thumbnail=thumbnail, verbose=False)

    def generate(self, prompt, *, guidance_scale, top_k, top_p, h_div_w, seed):
        import torch
        from onecat.constants import SYSTEM_PROMPT

        torch.manual_seed(seed)
        ids, mask = self._ids(f"{SYSTEM_PROMPT}<|im_start|>user\n{prompt}<|im_end|><|im_start|>assistant\n<img_gen>")
        ids_cfg, mask_cfg = self._ids(f"{SYSTEM_PROMPT}<|im_start|>user\n<|im_end|><|im_start|>assistant\n<img_gen>")
        with torch.no_grad():
            out = self.model.generate_t2i(input_ids=ids, input_ids_cfg=ids_cfg, attention_mask=mask,
                                          attention_mask_cfg=mask_cfg, output_hidden_states=True, cfg=guidance_scale,
                                          top_k=top_k, top_p=top_p, use_cache=True, return_dict=True, h_div_w=h_div_w)
        return self._pil(out)

    def edit(self, image, instruction, *, guidance_scale, image_guidance_scale, top_k, top_p, seed):
        import numpy as np
        import torch
        from onecat.constants import REF_GEN_CONTEXT_TOKEN, REF_GEN_END_TOKEN, REF_GEN_START_TOKEN, SYSTEM_PROMPT
        from onecat.smart_resize import smart_resize
        from onecat.util import build_transform
        from onecat.var_model.infinity.utils.dynamic_resolution import h_div_w_templates

        torch.manual_seed(seed)
        ratio = image.height / image.width
        template = h_div_w_templates[np.argmin(np.abs(ratio - h_div_w_templates))]
        short = 1008  # generate_imgedit.py, --t2i_stage 3
        height, width = (smart_resize(int(short * ratio), short) if image.width < image.height
                         else smart_resize(short, int(short / ratio)))
        pixels = build_transform(input_size=[height, width])(image).unsqueeze(0)
        pixels = pixels.to(device=self.device, dtype=torch.bfloat16)
        count = int((width // self.model.patch_size) * (height // self.model.patch_size) * 0.25)
        tokens = f"{REF_GEN_START_TOKEN}{REF_GEN_CONTEXT_TOKEN * count}{REF_GEN_END_TOKEN}"
        tail = "<|im_start|>assistant\n<img_gen>"
        ids, mask = self._ids(f"{SYSTEM_PROMPT}<|im_start|>user\n{tokens}{instruction}<|im_end|>{tail}")
        ids_cfg, mask_cfg = self._ids(f"{SYSTEM_PROMPT}<|im_start|>user\n{instruction}<|im_end|>{tail}")
        ids_cfg2, mask_cfg2 = self._ids(f"{SYSTEM_PROMPT}<|im_start|>user<|im_end|>{tail}")
        with torch.no_grad():
            out = self.model.generate_edit(pixel_values=pixels, input_ids=ids, input_ids_cfg=ids_cfg,
                                           input_ids_cfg2=ids_cfg2, attention_mask=mask, attention_mask_cfg=mask_cfg,
                                           attention_mask_cfg2=mask_cfg2, output_hidden_states=True,
                                           cfg_I=image_guidance_scale, cfg_T=guidance_scale, top_k=top_k,
                                           top_p=top_p, h_div_w=template, use_cache=True, return_dict=True)
        return self._pil(out)


def main(argv=None) -> None:
    parser = arguments(__doc__.splitlines()[0], NAME, PORT)
    parser.add_argument("--vae-path", required=True, help="Infinity VAE checkpoint (infinity_vae_d32reg.pth)")
    args = parser.parse_args(argv)
    add_repo_to_path(args.repo)
    run(Worker(NAME, Backend.load(args), DEFAULTS), args.host, args.port)


if __name__ == "__main__":
    main()
