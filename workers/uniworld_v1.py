"""UniWorld-V1 worker: understanding, text-to-image and editing through the loaders and steps of the
repository's own chat CLI (``univa/serve/cli.py``), with the task forced by the endpoint instead of the
CLI's task head.

Run inside a UniWorld-V1 environment (PKU-YuanGroup/UniWorld-V1 README: transformers 4.50.0, diffusers
0.32.2), from the repository checkout, with FLUX.1-dev and SigLIP2 weights:
    python /path/to/workers/uniworld_v1.py --repo . --flux-path <FLUX.1-dev> --siglip-path <siglip2> --port 8104
Source: PKU-YuanGroup/UniWorld-V1@8403e86 ``univa/serve/cli.py`` (load_main_model_and_processor, load_pipe,
load_siglip_and_processor, preprocess_siglip_pixel_values, update_size, encode_prompt). Images travel to
the repository's helpers as temporary files, as the CLI takes paths. Never run against real weights here.
"""

from __future__ import annotations

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from worker_http import Setting, Worker, add_repo_to_path, arguments, run  # noqa: E402

NAME = "LanguageBind/UniWorld-V1"
PORT = 8104
SRC = "PKU-YuanGroup/UniWorld-V1@8403e86 univa/serve/cli.py"
DEFAULTS = {
    "understand": {"max_new_tokens": Setting(128, f"{SRC} model.generate(max_new_tokens=128)")},
    "generate": {
        "width": Setting(1024, f"{SRC} --width"),
        "height": Setting(1024, f"{SRC} --height"),
        "num_inference_steps": Setting(28, f"{SRC} --num_inference_steps"),
        "guidance_scale": Setting(3.5, f"{SRC} --guidance_scale"),
        "seed": Setting(42, f"{SRC} seed = 42"),
    },
    "edit": {
        "anchor_pixels": Setting(1024 * 1024, f"{SRC} update_size(anchor_pixels=--height * --width)"),
        "num_inference_steps": Setting(28, f"{SRC} --num_inference_steps"),
        "guidance_scale": Setting(3.5, f"{SRC} --guidance_scale"),
        "seed": Setting(42, f"{SRC} seed = 42"),
    },
}
IMAGE_PIXELS = 448 * 448  # cli.py: every input image at min_pixels = max_pixels = 448*448


class Backend:
    def __init__(self, cli, model, task_head, processor, pipe, tokenizers, text_encoders, siglip, device) -> None:
        self.cli, self.model, self.processor, self.pipe = cli, model, processor, pipe
        self.tokenizers, self.text_encoders, self.siglip, self.device = tokenizers, text_encoders, siglip, device

    @classmethod
    def load(cls, args) -> Backend:
        import argparse

        import torch
        from univa.serve import cli

        device = torch.device(args.device)
        checkpoint = local_folder(args.checkpoint)
        # cli.py's loader reads the task head from the module global args.model_path, which only its __main__
        # sets (a NameError otherwise): set it as __main__ would for these paths
        cli.args = argparse.Namespace(model_path=checkpoint, flux_path=args.flux_path, siglip_path=args.siglip_path)
        model, task_head, processor = cli.load_main_model_and_processor(checkpoint, device)
        pipe, tokenizers, text_encoders = cli.load_pipe(model.denoise_tower.denoiser, args.flux_path, device)
        siglip = cli.load_siglip_and_processor(args.siglip_path, device)
        return cls(cli, model, task_head, processor, pipe, tokenizers, text_encoders, siglip, device)

    def _inputs(self, text, paths):
        from qwen_vl_utils import process_vision_info

        content = [{"type": "text", "text": text}] + [
            {"type": "image", "image": p, "min_pixels": IMAGE_PIXELS, "max_pixels": IMAGE_PIXELS} for p in paths]
        conversation = [{"role": "user", "content": content}]
        chat = self.processor.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        chat = "<|im_end|>\n".join(chat.split("<|im_end|>\n")[1:])  # cli.py: drop the system turn
        images, videos = process_vision_info(conversation)
        return self.processor(text=[chat], images=images, videos=videos, padding=True,
                              return_tensors="pt").to(self.device)

    def understand(self, images, question, *, max_new_tokens) -> str:
        with tempfile.TemporaryDirectory() as folder:
            inputs = self._inputs(question, _save(images, folder))
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens)
        trimmed = out[:, inputs.input_ids.shape[1]:]
        return self.processor.batch_decode(trimmed, skip_special_tokens=True, clean_up_tokenization_spaces=False)[0]

    def _denoise(self, text, paths, height, width, num_inference_steps, guidance_scale, seed):
        import torch

        inputs = self._inputs(text, paths)
        siglip_states = None
        if paths and self.siglip[0] is not None:
            siglip_processor, siglip_model = self.siglip
            siglip_states = self.cli.preprocess_siglip_pixel_values(siglip_model, siglip_processor, paths)
        with torch.no_grad():
            embeds = self.model(inputs.input_ids, pixel_values=getattr(inputs, "pixel_values", None),
                                attention_mask=inputs.attention_mask,
                                image_grid_thw=getattr(inputs, "image_grid_thw", None),
                                siglip_hidden_states=siglip_states, output_type="denoise_embeds")
            t5_embeds, pooled = self.cli.encode_prompt(self.text_encoders, self.tokenizers, text, 256, self.device, 1)
            embeds = torch.concat([t5_embeds, embeds], dim=1)  # cli.py default: joint with T5
            generator = torch.Generator(device=self.device).manual_seed(seed)
            return self.pipe(prompt_embeds=embeds, pooled_prompt_embeds=pooled, height=height, width=width,
                             num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
                             generator=generator).images[0]

    def generate(self, prompt, *, width, height, num_inference_steps, guidance_scale, seed):
        return self._denoise(prompt, [], height, width, num_inference_steps, guidance_scale, seed)

    def edit(self, image, instruction, *, anchor_pixels, num_inference_steps, guidance_scale, seed):
        with tempfile.TemporaryDirectory() as folder:
            paths = _save([image], folder)
            height, width = self.cli.update_size(paths[0], None, "any_11ratio", anchor_pixels=anchor_pixels)
            return self._denoise(instruction, paths, height, width, num_inference_steps, guidance_scale, seed)


def local_folder(checkpoint: str) -> str:
    """``checkpoint`` as a folder: a hub id is fetched into the hub cache (cli.py opens
    ``<model_path>/task_head_final.pt`` as a file, which a hub id is not; its README passes a downloaded folder)."""
    if os.path.isdir(checkpoint):
        return checkpoint
    from huggingface_hub import snapshot_download

    return snapshot_download(checkpoint)


def _save(images, folder):
    paths = []
    for i, image in enumerate(images):
        paths.append(os.path.join(folder, f"input_{i}.png"))
        image.save(paths[-1])
    return paths


def main(argv=None) -> None:
    parser = arguments(__doc__.splitlines()[0], NAME, PORT)
    parser.add_argument("--flux-path", required=True, help="FLUX.1-dev weights (gated licence)")
    parser.add_argument("--siglip-path", required=True, help="google/siglip2-so400m-patch16-512 weights")
    args = parser.parse_args(argv)
    add_repo_to_path(args.repo)
    run(Worker(NAME, Backend.load(args), DEFAULTS), args.host, args.port)


if __name__ == "__main__":
    main()
