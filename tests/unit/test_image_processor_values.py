"""An image processor whose saved values cannot be used is refused at load, naming the file and field.

transformers reads ``image_mean`` / ``image_std`` and the size settings as they are saved and compares nothing:
two means for an RGB image failed every run with "The size of tensor a (3) must match the size of tensor b (2)",
a ``min_pixels`` saved as a string with "'<' not supported between instances of 'int' and 'str'", each naming no
file (both shown below on the real-format Janus-Pro and Qwen2.5-VL folders, through transformers alone). The
real processors normalise three channels: Janus-Pro's mean/std 0.5 x 3, Qwen2.5-VL's CLIP mean/std (3 values).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
from PIL import Image

from realunify_arena.adapters import ModelUnavailable, build_adapter
from realunify_arena.cards import load_cards

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import real_format  # noqa: E402  (tests/real_format.py)

CARDS = load_cards()

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BROKEN = {"image_mean": {"image_mean": [0.5, 0.5]}, "min_size": {"min_size": "14"},
          "min_pixels": {"min_pixels": "3136"}}
CASES = [("janus-pro-1b", "image_mean"), ("janus-pro-1b", "min_size"), ("qwen2.5-vl-7b", "image_mean"),
         ("qwen2.5-vl-7b", "min_pixels")]


@pytest.fixture(scope="module")
def sound(one_torch_thread, janus_and_qwen) -> dict[str, Path]:
    return janus_and_qwen


def broken(sound: Path, tmp_path: Path, key: str) -> Path:
    """A copy of ``sound`` whose processor_config.json's image_processor has ``BROKEN[key]``."""
    return real_format.edited_copy(sound, tmp_path, "processor_config.json",
                                   lambda content: content["image_processor"].update(BROKEN[key]))


def pointed(name: str, folder: Path):
    card = CARDS[name]
    caps = [cap for cap in card.capabilities if cap.value == "understand"]
    return dataclasses.replace(card, dtype="float32", capabilities=frozenset(caps), parts={},
                               checkpoints={cap.value: str(folder) for cap in caps})


@pytest.mark.parametrize(("name", "key"), CASES)
def test_transformers_alone_fails_on_the_first_image_naming_no_file(sound, tmp_path, name, key):
    from transformers import AutoProcessor

    folder = broken(sound[name], tmp_path, key)
    processor = AutoProcessor.from_pretrained(folder)
    with pytest.raises((TypeError, RuntimeError, ValueError)) as failed:
        processor.image_processor(Image.new("RGB", (64, 64), "red"), return_tensors="pt")
    assert str(folder) not in str(failed.value)


@pytest.mark.parametrize(("name", "key"), CASES)
def test_the_folder_is_refused_at_load_naming_the_file_and_field(sound, tmp_path, name, key):
    folder = broken(sound[name], tmp_path, key)
    with pytest.raises(ModelUnavailable) as refused:
        build_adapter(pointed(name, folder))
    value = BROKEN[key][key]
    expected = "expected 3 numbers, one per channel" if key == "image_mean" else "expected a number"
    assert str(refused.value).startswith(
        f"{name}: {folder / 'processor_config.json'}: field 'image_processor.{key}' is {value!r}; {expected}")


def test_a_size_setting_saved_as_a_dict_of_numbers_passes(tmp_path):
    """Pixtral's image processor (mistral-community/pixtral-12b, Mistral-Small-3.1: a LLaVA VLM) saves
    ``patch_size`` as ``{"height": 16, "width": 16}``, its class default, as do Fuyu's and Kosmos-2.5's: numbers,
    only in a dict, which transformers reads (shown: it processes an image). It is not a malformed value."""
    from transformers import AutoConfig, AutoProcessor, LlavaConfig, PixtralProcessor, PixtralVisionConfig
    from transformers.models.pixtral.image_processing_pixtral import PixtralImageProcessor

    from realunify_arena.adapters.checkpoint_agree import _image_processor_values_problem

    folder = tmp_path / "pixtral"
    tokenizer = real_format.byte_level_tokenizer(300, {10: "[IMG]", 12: "[IMG_BREAK]", 13: "[IMG_END]", 2: "</s>",
                                                        11: "<pad>"}, eos="</s>", pad="<pad>")
    PixtralProcessor(image_processor=PixtralImageProcessor(), tokenizer=tokenizer, patch_size=16,
                     image_token="[IMG]", image_break_token="[IMG_BREAK]",
                     image_end_token="[IMG_END]").save_pretrained(folder)
    LlavaConfig(vision_config=PixtralVisionConfig(), image_token_index=10).save_pretrained(folder)
    processor = AutoProcessor.from_pretrained(folder)
    assert processor.image_processor.patch_size == {"height": 16, "width": 16}
    assert processor.image_processor(Image.new("RGB", (64, 64), "red"), return_tensors="pt")["pixel_values"].shape[1] == 3
    assert _image_processor_values_problem(folder, folder / "config.json", AutoConfig.from_pretrained(folder),
                                           processor, processor.tokenizer) is None
