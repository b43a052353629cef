"""A diffusers pipeline folder whose model_index.json names a component of another class than the pipeline takes
is refused at load, naming the file and field.

diffusers loads such a folder with only a logged "Expected types for ..." (``DiffusionPipeline.from_pretrained``
compares each component with the pipeline ``__init__``'s annotations and goes on), and the pipeline then fails in
its own words, naming no file: shown first below, through diffusers alone, on the real-format Qwen-Image folder
(QwenImagePipeline's ``__init__`` takes ``scheduler: FlowMatchEulerDiscreteScheduler``, ``tokenizer:
Qwen2Tokenizer``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from realunify_arena.adapters import ModelUnavailable
from realunify_arena.adapters.checkpoint_files import check_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import real_format  # noqa: E402  (tests/real_format.py)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BROKEN = {"scheduler": ("model_index.json", {"scheduler": ["diffusers", "DDIMScheduler"]}),
          "tokenizer": ("model_index.json", {"tokenizer": ["transformers", "CLIPTokenizer"]})}


@pytest.fixture(scope="module")
def sound(tmp_path_factory, one_torch_thread, real_format_build) -> Path:
    return real_format_build("build_qwen_image", tmp_path_factory.mktemp("components") / "Qwen-Image")


def broken(sound: Path, tmp_path: Path, what: str) -> Path:
    name, changes = BROKEN[what]
    return real_format.edited_copy(sound, tmp_path, name, lambda content: content.update(changes))


@pytest.mark.parametrize("what", ["scheduler", "tokenizer"])
def test_diffusers_alone_fails_on_the_folder_naming_no_file(sound, tmp_path, what):
    from diffusers import DiffusionPipeline

    folder = broken(sound, tmp_path, what)
    with pytest.raises(Exception) as failed:  # noqa: PT011 - the library's own error, whatever its class
        pipeline = DiffusionPipeline.from_pretrained(folder, dtype=torch.float32)
        pipeline.set_progress_bar_config(disable=True)
        pipeline(prompt="a red cube", width=32, height=32, num_inference_steps=2, output_type="np")
    assert str(folder) not in str(failed.value)


@pytest.mark.parametrize(("what", "said"), [
    ("scheduler", "model_index.json: field 'scheduler' names diffusers DDIMScheduler; expected "
                  "'FlowMatchEulerDiscreteScheduler', the class QwenImagePipeline takes as scheduler"),
    ("tokenizer", "model_index.json: field 'tokenizer' names transformers CLIPTokenizer; expected 'Qwen2Tokenizer', "
                  "the class QwenImagePipeline takes as tokenizer")])
def test_the_folder_is_refused_before_the_load_naming_the_file_and_field(sound, tmp_path, what, said):
    folder = broken(sound, tmp_path, what)
    with pytest.raises(ModelUnavailable) as refused:
        check_checkpoint(str(folder), "diffusers")
    assert str(refused.value).startswith(f"{folder}/{said}")


def test_the_sound_folder_passes(sound):
    check_checkpoint(str(sound), "diffusers")
