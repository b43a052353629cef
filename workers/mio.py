"""MIO worker: understanding, text-to-image and (image + instruction -> image) editing through MIO's own
tokenizer (``tokenization_mio.MIOTokenizer``: chat template, image tokenisation, detokenisation) and
``model.generate``, with the generation settings the repository recommends per task.

Run inside a MIO environment (MIO-Team/MIO README: ``conda create -n mio python=3.10``, ``pip install -r
requirements.txt``), from the repository checkout:
    python /path/to/workers/mio.py --repo . --checkpoint m-a-p/MIO-7B-Instruct --port 8106
Source: MIO-Team/MIO@6c0b5e6 ``infer.py`` (generation_config and the per-task recommendations in its
docstring; prompt formats of its Instruct image-understanding and image-generation examples: the text, then
a newline and the image placeholders, as in "What colour of clothes is the man wearing?" + newline +
``<image_placeholder_0>``). MIO has no dedicated edit entry point: an edit is the chat turn instruction +
newline + ``<image_placeholder_0>``, in the same order, decoded with the image-generation settings. MIO's
tokenizer reads images from files, so inputs travel as temporary files.
Never run against real weights here.
"""

from __future__ import annotations

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from worker_http import Setting, Worker, add_repo_to_path, arguments, run  # noqa: E402

NAME = "m-a-p/MIO-7B-Instruct"
PORT = 8106
SRC = "MIO-Team/MIO@6c0b5e6 infer.py"
TEXT = {"num_beams": Setting(5, f"{SRC} recommended text generation config"),
        "do_sample": Setting(False, f"{SRC} recommended text generation config"),
        "repetition_penalty": Setting(1.0, f"{SRC} recommended text generation config"),
        "max_new_tokens": Setting(512, f"{SRC} generation_config max_new_tokens")}
IMAGE = {"num_beams": Setting(5, f"{SRC} recommended image generation config"),
         "do_sample": Setting(False, f"{SRC} recommended image generation config"),
         "repetition_penalty": Setting(1.15, f"{SRC} recommended image generation config"),
         "top_p": Setting(0.7, f"{SRC} recommended image generation config"),
         "max_new_tokens": Setting(512, f"{SRC} generation_config max_new_tokens")}
DEFAULTS = {"understand": TEXT, "generate": IMAGE, "edit": dict(IMAGE)}
# infer.py's generation_config entries that no task changes (pad_token_id: the tokenizer's, set per call)
FIXED = dict(temperature=1.0, length_penalty=1.0, top_k=0, num_return_sequences=1, guidance_scale=None)


class Backend:
    def __init__(self, model, tokenizer, device) -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device

    @classmethod
    def load(cls, args) -> Backend:
        import torch
        from tokenization_mio import MIOTokenizer
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(args.checkpoint, torch_dtype=torch.float16,
                                                     device_map={"": args.device}).eval()
        return cls(model, MIOTokenizer(args.checkpoint, args.device), args.device)

    def _run(self, content, images, settings, folder):
        paths = []
        for i, image in enumerate(images):
            paths.append(os.path.join(folder, f"input_{i}.png"))
            image.save(paths[-1])
        inputs = self.tokenizer.apply_chat_template([[{"role": "user", "content": content}]],
                                                    batch_image_paths=[paths] if paths else None,
                                                    batch_speech_paths=None, mode="std", padding=True,
                                                    truncation=True, max_length=2048, return_tensors="pt")
        output = self.model.generate(input_ids=inputs.input_ids.to(self.device),
                                     attention_mask=inputs.attention_mask.to(self.device),
                                     pad_token_id=self.tokenizer.tokenizer.pad_token_id,
                                     eos_token_id=7, **FIXED, **settings)  # 7 = <|im_end|> (infer.py, Instruct)
        return self.tokenizer.detokenize(output, output_image_dir=folder, output_speech_dir=folder,
                                         extract_assistant=True, save_images=True, save_speeches=False)

    def understand(self, images, question, *, num_beams, do_sample, repetition_penalty, max_new_tokens) -> str:
        placeholders = "".join(f"<image_placeholder_{i}>" for i in range(len(images)))
        with tempfile.TemporaryDirectory() as folder:
            texts, _, _ = self._run(f"{question}\n{placeholders}" if images else question, images, dict(
                num_beams=num_beams, do_sample=do_sample, repetition_penalty=repetition_penalty,
                max_new_tokens=max_new_tokens), folder)
        return texts[0]

    def _image(self, content, images, settings):
        from PIL import Image

        with tempfile.TemporaryDirectory() as folder:
            _, image_paths, _ = self._run(content, images, settings, folder)
            found = [p for group in image_paths for p in (group if isinstance(group, list) else [group]) if p]
            if not found:
                raise RuntimeError("MIO produced no image tokens for this request")
            with Image.open(found[0]) as image:
                return image.convert("RGB")

    def generate(self, prompt, *, num_beams, do_sample, repetition_penalty, top_p, max_new_tokens):
        return self._image(f"Please generate an image according to the caption.\n{prompt}", [], dict(
            num_beams=num_beams, do_sample=do_sample, repetition_penalty=repetition_penalty, top_p=top_p,
            max_new_tokens=max_new_tokens))

    def edit(self, image, instruction, *, num_beams, do_sample, repetition_penalty, top_p, max_new_tokens):
        return self._image(f"{instruction}\n<image_placeholder_0>", [image], dict(
            num_beams=num_beams, do_sample=do_sample, repetition_penalty=repetition_penalty, top_p=top_p,
            max_new_tokens=max_new_tokens))


def main(argv=None) -> None:
    args = arguments(__doc__.splitlines()[0], NAME, PORT).parse_args(argv)
    add_repo_to_path(args.repo)
    run(Worker(NAME, Backend.load(args), DEFAULTS), args.host, args.port)


if __name__ == "__main__":
    main()
