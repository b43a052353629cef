"""The MIO worker's prompts and generation arguments against MIO-Team/MIO@6c0b5e6 ``infer.py``.

infer.py's Instruct examples put an image after the text: ``"What colour of clothes is the man wearing?\\n
<image_placeholder_0>"`` (image understanding), ``"Please provide an accurate and detailed description of this
image.\\n<image_placeholder_0>"`` (captioning); its ``generation_config`` takes ``pad_token_id`` from
``mio_tokenizer.tokenizer.pad_token_id`` and sets ``top_k=0``, ``num_return_sequences=1``. The tokenizer and
model below are stand-ins that record what the worker's real ``Backend`` hands them.
"""

from __future__ import annotations

import importlib.util
import types
from pathlib import Path

import torch
from PIL import Image

WORKERS_DIR = Path(__file__).resolve().parents[2] / "workers"
PAD = 151643  # any id but 0: the worker must pass the tokenizer's own


class Tokenizer:
    def __init__(self) -> None:
        self.tokenizer = types.SimpleNamespace(pad_token_id=PAD)
        self.conversations = []

    def apply_chat_template(self, conversations, batch_image_paths=None, **kwargs):
        self.conversations.append((conversations, batch_image_paths))
        return types.SimpleNamespace(input_ids=torch.ones(1, 3, dtype=torch.long),
                                     attention_mask=torch.ones(1, 3, dtype=torch.long))

    def detokenize(self, output, output_image_dir, **kwargs):
        path = Path(output_image_dir) / "out.png"
        Image.new("RGB", (32, 32), (1, 2, 3)).save(path)
        return ["the answer"], [[str(path)]], []


class Model:
    def __init__(self) -> None:
        self.calls = []

    def generate(self, **kwargs):
        self.calls.append(kwargs)
        return torch.ones(1, 4, dtype=torch.long)


def _backend():
    spec = importlib.util.spec_from_file_location("worker_mio", WORKERS_DIR / "mio.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tokenizer, model = Tokenizer(), Model()
    return module, module.Backend(model, tokenizer, "cpu"), tokenizer, model


def test_understanding_puts_the_image_after_the_question_as_infer_py_does():
    module, backend, tokenizer, model = _backend()
    image = Image.new("RGB", (20, 16), (9, 9, 9))
    settings = {k: s.value for k, s in module.DEFAULTS["understand"].items()}
    assert backend.understand([image], "What colour of clothes is the man wearing?", **settings) == "the answer"
    [([[turn]], paths)] = tokenizer.conversations
    assert turn == {"role": "user", "content": "What colour of clothes is the man wearing?\n<image_placeholder_0>"}
    assert len(paths[0]) == 1
    [call] = model.calls
    assert call["pad_token_id"] == PAD and call["eos_token_id"] == 7
    assert (call["top_k"], call["num_return_sequences"], call["num_beams"], call["do_sample"]) == (0, 1, 5, False)


def test_an_edit_uses_the_same_order_and_the_image_settings():
    module, backend, tokenizer, model = _backend()
    settings = {k: s.value for k, s in module.DEFAULTS["edit"].items()}
    edited = backend.edit(Image.new("RGB", (20, 16)), "Make the sky red.", **settings)
    assert edited.size == (32, 32)
    [([[turn]], _)] = tokenizer.conversations
    assert turn["content"] == "Make the sky red.\n<image_placeholder_0>"
    assert model.calls[0]["repetition_penalty"] == 1.15 and model.calls[0]["top_p"] == 0.7
