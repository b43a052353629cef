"""Emu3 understanding (GEU answers, UEG stepwise refinement) is asked in the prompt BAAI's Emu3-Chat was
trained and is run with: baaivision/Emu3, emu3/mllm/processing_emu3.py, mode "U", whose chat template is
``"You are a helpful assistant. USER: {image_prompt}{text_prompt}. ASSISTANT:"`` after the BOS token
(multimodal_understanding.py calls it so). Built here on the real-format Emu3-Chat-hf processor
(tests/real_format.py: the real special tokens at their real ids).

Before: the adapter wrote ``USER: <image>{text} ASSISTANT:``: no system prompt, no full stop after the
question. The expected text is written out from BAAI's template above, not from the code under test."""

from __future__ import annotations

import re

import pytest
from PIL import Image

from realunify_arena.adapters.emu3 import understanding_inputs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def processor(tmp_path_factory, real_format_build):
    from transformers import AutoProcessor

    folder = real_format_build("build_emu3", tmp_path_factory.mktemp("emu3") / "emu3-chat", seed=0)
    return AutoProcessor.from_pretrained(folder)


def _prompt(processor, images, text: str) -> str:
    ids = understanding_inputs(processor, images, text)["input_ids"][0].tolist()
    assert ids[0] == 151849  # Emu3's BOS <|extra_203|>, as the reference's prompt begins
    # each image's token span, <|image start|> ... <|image end|>, shown as one "<image>"
    return re.sub(r"<\|image start\|>.*?<\|image end\|>", "<image>", processor.tokenizer.decode(ids[1:]), flags=re.S)


def test_a_question_on_one_image_is_asked_in_baai_s_chat_prompt(processor):
    said = _prompt(processor, [Image.new("RGB", (64, 48))], "Please describe the image")
    assert said == "You are a helpful assistant. USER: <image>Please describe the image. ASSISTANT:"


def test_a_text_only_refinement_has_the_same_system_prompt_and_no_image(processor):
    said = _prompt(processor, [], "Rewrite the prompt")
    assert said == "You are a helpful assistant. USER: Rewrite the prompt. ASSISTANT:"


def test_each_image_of_a_question_gets_its_token_span(processor):
    images = [Image.new("RGB", (64, 64)), Image.new("RGB", (32, 64))]
    said = _prompt(processor, images, "Which is taller")
    assert said == "You are a helpful assistant. USER: <image><image>Which is taller. ASSISTANT:"
