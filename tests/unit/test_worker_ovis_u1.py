"""The Ovis-U1 worker's understanding with and without an image (workers/ovis_u1.py).

UEG stepwise asks the model to refine a prompt as text, with no image. AIDC-AI/Ovis-U1@dccf5eb
``test_img_to_txt.pipe_txt_gen(model, pil_image, prompt)`` puts ``"<image>\\n"`` before every prompt and passes
``[pil_image]``; the checkpoint's ``preprocess_inputs`` reads ``images[i]`` for the i-th ``<image>`` and, with
``propagate_exception=False``, logs a failure and places a mock image instead, and its inference-time
``merge_multimodal`` iterates ``grid_thws``. ``OvisU1`` below is a stand-in of that model reduced to those rules
(token ids are character codes, a placed image is one ``-1``); ``pipe_txt_gen`` is the script's function reduced
to what it calls. The worker's ``Backend`` is the real one.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import torch
from PIL import Image

WORKERS_DIR = Path(__file__).resolve().parents[2] / "workers"
IMAGE_ATOM = -1


class TextTokenizer:
    pad_token_id, eos_token_id = 0, 3

    def decode(self, ids, skip_special_tokens=True) -> str:
        return "".join(chr(i) for i in ids.tolist() if i > 0)


class VisualTokenizer:
    device = "cpu"

    def mock_input(self):
        return torch.zeros(1, 3, 28, 28), None

    def preprocess_image(self, image, **kwargs):
        width, height = image.size  # None (no image) fails here, as the real one does
        return torch.zeros(1, 3, height, width), torch.tensor([[1, height // 14, width // 14]]), [IMAGE_ATOM]


class OvisU1:
    device = "cpu"

    def __init__(self) -> None:
        self.mocked = 0  # images replaced by the mock after a failure (propagate_exception=False)
        self.seen = []  # (text the LLM read, images placed in it) per generate call

    def get_text_tokenizer(self):
        return TextTokenizer()

    def get_visual_tokenizer(self):
        return VisualTokenizer()

    def preprocess_inputs(self, text, images, generation_preface="", return_labels=False, propagate_exception=True,
                          multimodal_type="single_image", fix_sample_overall_length_navit=False):
        parts = text.split("<image>")
        ids, pixel_values, grid_thws = [ord(c) for c in parts[0]], [], []
        for i, part in enumerate(parts[1:]):
            try:
                pixels, grid, placeholders = VisualTokenizer().preprocess_image(images[i])
            except Exception as e:
                if propagate_exception:
                    raise
                logging.exception(e)
                self.mocked += 1
                pixels, grid, placeholders = VisualTokenizer().preprocess_image(Image.new("RGB", (28, 28)))
            ids += placeholders + [ord(c) for c in part]
            pixel_values.append(pixels)
            grid_thws.append(grid)
        return (text, torch.tensor(ids), torch.cat(pixel_values) if pixel_values else None,
                torch.cat(grid_thws) if grid_thws else None)

    def generate(self, inputs, *, pixel_values, attention_mask, grid_thws, **gen_kwargs):
        [0 for _ in grid_thws]  # merge_multimodal at inference: grid_thws must be iterable
        row = inputs[0].tolist()
        self.seen.append(("".join(chr(i) for i in row if i > 0), row.count(IMAGE_ATOM)))
        return torch.tensor([[ord(c) for c in "ok"]])


def pipe_txt_gen(model, pil_image, prompt):
    """test_img_to_txt.py@dccf5eb, reduced to its calls."""
    tok = model.get_text_tokenizer()
    _, input_ids, pixel_values, grid_thws = model.preprocess_inputs(
        "<image>\n" + prompt, [pil_image], generation_preface=None, return_labels=False, propagate_exception=False,
        multimodal_type="single_image", fix_sample_overall_length_navit=False)
    attention_mask = torch.ne(input_ids, tok.pad_token_id).unsqueeze(0)
    out = model.generate(input_ids.unsqueeze(0), pixel_values=pixel_values, attention_mask=attention_mask,
                         grid_thws=grid_thws, max_new_tokens=4096, do_sample=False)[0]
    return tok.decode(out, skip_special_tokens=True)


def _backend(model):
    spec = importlib.util.spec_from_file_location("worker_ovis_u1", WORKERS_DIR / "ovis_u1.py")
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    return worker.Backend(model, pipe_txt_gen, None, None)


def test_a_question_without_an_image_reaches_the_model_as_text_only():
    model = OvisU1()
    assert _backend(model).understand([], "Refine this prompt: a cat") == "ok"
    assert model.mocked == 0  # no image failed and was replaced by the mock
    [(text, placed)] = model.seen
    assert placed == 0 and text == "Refine this prompt: a cat"


def test_a_question_about_an_image_still_goes_through_pipe_txt_gen_with_that_image():
    model = OvisU1()
    assert _backend(model).understand([Image.new("RGB", (56, 28))], "What is it?") == "ok"
    assert model.mocked == 0 and model.seen == [("\nWhat is it?", 1)]
