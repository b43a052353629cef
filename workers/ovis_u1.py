"""Ovis-U1 worker: understanding, text-to-image and editing through the repository's own test functions.

Run inside an Ovis-U1 environment (AIDC-AI/Ovis-U1 README: Python 3.10, torch 2.4.0, transformers 4.51.3,
``pip install -r requirements.txt && pip install -e .``), from the repository checkout:
    python /path/to/realunify-arena/workers/ovis_u1.py --repo . --port 8101
Entry points (AIDC-AI/Ovis-U1@dccf5eb): ``test_img_to_txt.pipe_txt_gen(model, pil_image, prompt)`` (with an
image; a question without one is built as Ovis-U1's text-to-text script does, ``Backend._text_only``),
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
        if images:
            return self._und(self.model, images[0], question)
        return self._text_only(question)

    def _text_only(self, question) -> str:
        """A question with no image (UEG stepwise refines a prompt as text), as Ovis-U1's text-to-text script
        builds it: the prompt holds no ``<image>`` and ``preprocess_inputs`` gets ``images=None``, so no image is
        placed; the model's ``merge_multimodal`` still iterates ``grid_thws`` at inference, so a mock image's
        ``pixel_values``/``grid_thws`` (``visual_tokenizer.mock_input``) go with it, unused. ``pipe_txt_gen`` is
        not for this: it puts ``<image>`` before every prompt and reads ``images[0]``, and a ``None`` there is
        swallowed (``propagate_exception=False``), logged, and replaced by that mock image, which the model
        then reads as the picture. Decoding as ``pipe_txt_gen``: greedy, ``max_new_tokens=4096``."""
        import torch
        from torchvision import transforms

        model = self.model
        text_tokenizer, visual_tokenizer = model.get_text_tokenizer(), model.get_visual_tokenizer()
        _, input_ids, _, _ = model.preprocess_inputs(question, None, generation_preface=None, return_labels=False,
                                                     propagate_exception=False, multimodal_type="text",
                                                     fix_sample_overall_length_navit=False)
        attention_mask = torch.ne(input_ids, text_tokenizer.pad_token_id).unsqueeze(0).to(device=model.device)
        input_ids = input_ids.unsqueeze(0).to(device=model.device)
        mock, _ = visual_tokenizer.mock_input()
        pixel_values, grid_thws, _ = visual_tokenizer.preprocess_image(transforms.ToPILImage()(mock[0]))
        with torch.inference_mode():
            output_ids = model.generate(
                input_ids, pixel_values=pixel_values.to(device=visual_tokenizer.device, dtype=torch.bfloat16),
                attention_mask=attention_mask, grid_thws=grid_thws.to(device=visual_tokenizer.device),
                max_new_tokens=4096, do_sample=False, top_p=None, top_k=None, temperature=None,
                repetition_penalty=None, eos_token_id=text_tokenizer.eos_token_id,
                pad_token_id=text_tokenizer.pad_token_id, use_cache=True)[0]
        return text_tokenizer.decode(output_ids, skip_special_tokens=True)

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
