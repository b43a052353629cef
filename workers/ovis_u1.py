"""Ovis-U1 worker: understanding, text-to-image and editing through the repository's own test functions.

Run inside an Ovis-U1 environment (AIDC-AI/Ovis-U1 README: Python 3.10, torch 2.4.0, transformers 4.51.3,
``pip install -r requirements.txt && pip install -e .``), from the repository checkout:
    python /path/to/realunify-arena/workers/ovis_u1.py --repo . --port 8101
Entry points (AIDC-AI/Ovis-U1@dccf5eb): ``test_img_to_txt.pipe_txt_gen(model, pil_image, prompt)``,
``test_txt_to_img.pipe_t2i(model, prompt, height, width, steps, cfg, seed)``,
``test_img_edit.pipe_img_edit(model, input_img, prompt, steps, txt_cfg, img_cfg, seed)``; the model is
``AutoModelForCausalLM.from_pretrained(..., torch_dtype=bfloat16, trust_remote_code=True)`` as their main().
Never run against real weights here.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from worker_http import Setting, Worker, add_repo_to_path, arguments, run  # noqa: E402

NAME = "AIDC-AI/Ovis-U1-3B"
PORT = 8101
SRC = "AIDC-AI/Ovis-U1@dccf5eb"
DEFAULTS = {
    "understand": {},  # pipe_txt_gen fixes greedy decoding and max_new_tokens=4096 itself
    "generate": {
        "width": Setting(1024, f"{SRC} test_txt_to_img.py --width"),
        "height": Setting(1024, f"{SRC} test_txt_to_img.py --height"),
        "num_inference_steps": Setting(50, f"{SRC} test_txt_to_img.py --steps"),
        "guidance_scale": Setting(5.0, f"{SRC} test_txt_to_img.py --txt_cfg"),
        "seed": Setting(42, f"{SRC} test_txt_to_img.py --seed"),
    },
    "edit": {
        "num_inference_steps": Setting(50, f"{SRC} test_img_edit.py --steps"),
        "guidance_scale": Setting(6.0, f"{SRC} test_img_edit.py --txt_cfg"),
        "image_guidance_scale": Setting(1.5, f"{SRC} test_img_edit.py --img_cfg"),
        "seed": Setting(42, f"{SRC} test_img_edit.py pipe_img_edit(seed=42)"),
    },
}


class Backend:
    def __init__(self, model, und, t2i, edit) -> None:
        self.model, self._und, self._t2i, self._edit = model, und, t2i, edit

    @classmethod
    def load(cls, args) -> Backend:
        import torch
        from test_img_edit import pipe_img_edit
        from test_img_to_txt import pipe_txt_gen
        from test_txt_to_img import pipe_t2i
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(args.checkpoint, torch_dtype=torch.bfloat16,
                                                     trust_remote_code=True)
        return cls(model.eval().to(args.device).to(torch.bfloat16), pipe_txt_gen, pipe_t2i, pipe_img_edit)

    def understand(self, images, question) -> str:
        return self._und(self.model, images[0] if images else None, question)

    def generate(self, prompt, *, width, height, num_inference_steps, guidance_scale, seed):
        return self._t2i(self.model, prompt, height, width, num_inference_steps, guidance_scale, seed=seed)[0]

    def edit(self, image, instruction, *, num_inference_steps, guidance_scale, image_guidance_scale, seed):
        return self._edit(self.model, image, instruction, num_inference_steps, guidance_scale, image_guidance_scale,
                          seed=seed)[0]


def main(argv=None) -> None:
    args = arguments(__doc__.splitlines()[0], NAME, PORT).parse_args(argv)
    add_repo_to_path(args.repo)
    run(Worker(NAME, Backend.load(args), DEFAULTS), args.host, args.port)


if __name__ == "__main__":
    main()
