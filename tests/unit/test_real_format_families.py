"""The Qwen-Image, Qwen-Image-Edit, OmniGen v1 and OmniGen2 cards (models/*.yaml) pointed at real-format folders
(tests/real_format.py: each hub folder's model_index.json, component sub-folders, tokenizer files and sharded
weights; random weights, one block): they load through the project's checks, send the settings their authors
use, and make the size the family's own rule gives.

Expected values come from outside this project:

- Qwen-Image: its model card's example (``true_cfg_scale=4.0``, ``negative_prompt=" "``, 50 steps, a seeded
  generator); diffusers' ``QwenImagePipeline`` takes guidance as ``true_cfg_scale`` (``guidance_scale`` is for
  guidance-distilled variants only).
- Qwen-Image-Edit: diffusers' ``QwenImageEditPipeline`` makes, when no size is passed, about 1 MP with the input's
  aspect ratio: ``w = sqrt(1024 * 1024 * aspect)``, ``h = w / aspect``, each rounded to a multiple of 32, then
  down to a multiple of 16 (``calculate_dimensions``), re-derived below.
- OmniGen v1: diffusers' OmniGen edit example (``<img><|image_1|></img>`` in the prompt, guidance 2,
  image guidance 1.6, ``use_input_image_size_as_output=True``); the output then has the processed input's
  size: halved while the short side is >= 2048, scaled so the long side is <= 1024, the sides cropped down to
  multiples of 16 (``processor_omnigen.crop_image``), re-derived below.
- OmniGen2: its chat pipeline's prompt (VectorSpaceLab/OmniGen2 ``pipeline_omnigen2_chat.py``
  ``_apply_chat_template``), written out below, against what the real Qwen2.5-VL chat template renders.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import warnings
from pathlib import Path

import pytest
from PIL import Image

from realunify_arena.adapters import build_adapter
from realunify_arena.adapters.base import Capability
from realunify_arena.adapters.checkpoint_files import check_checkpoint
from realunify_arena.cards import load_cards
from realunify_arena.limits import OptionError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import real_format  # noqa: E402  (tests/real_format.py)
from pipeline_recorder import Recorder  # noqa: E402

CARDS = load_cards()
OMNIGEN2_SYSTEM = "You are a helpful assistant that generates high-quality images based on user instructions."

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def folders(tmp_path_factory, one_torch_thread, real_format_build) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("real_families")
    return {"qwen-image": real_format.build_qwen_image(root / "Qwen-Image"),
            "qwen-image-edit": real_format.build_qwen_image(root / "Qwen-Image-Edit", edit=True, seed=1),
            "omnigen": real_format.build_omnigen(root / "OmniGen-v1-diffusers"),
            "qwen2.5-vl-3b": real_format_build("build_qwen2_5_vl", root / "Qwen2.5-VL-3B-Instruct", size="3b")}


def pointed(name: str, folder: Path, capabilities=None):
    """The real card ``name``, its checkpoints replaced by ``folder`` (float32 for CPU)."""
    card = CARDS[name]
    caps = frozenset(capabilities or card.capabilities)
    return dataclasses.replace(card, dtype="float32", capabilities=caps, parts={},
                               checkpoints={cap.value: str(folder) for cap in caps})


@pytest.fixture(scope="module")
def adapters(folders):
    built = {"qwen-image": build_adapter(pointed("qwen-image", folders["qwen-image"])),
             "qwen-image-edit": build_adapter(pointed("qwen-image-edit", folders["qwen-image-edit"])),
             "omnigen": build_adapter(pointed("omnigen", folders["omnigen"])),
             "omnigen2": build_adapter(pointed("omnigen2", folders["qwen2.5-vl-3b"], [Capability.UNDERSTAND]))}
    yield built
    for adapter in built.values():
        adapter.close()


def pipeline_of(adapter):
    return next(v for k, v in adapter.loaded.items() if k.startswith("pipeline:"))


def recorded(adapter, method: str, *args, **changes):
    """(the one pipeline call's keyword arguments, the image) of ``adapter.method(*args, options)``, the options
    being the card's defaults with ``changes``."""
    options = dataclasses.replace(adapter.card.defaults, **changes)
    with Recorder(pipeline_of(adapter)) as recorder:
        image = getattr(adapter, method)(*args, options)
    (sent,) = recorder.calls
    return sent, image


@pytest.mark.parametrize("name", ["qwen-image", "qwen-image-edit", "omnigen"])
def test_the_real_folders_pass_the_checkpoint_checks(folders, name):
    check_checkpoint(str(folders[name]), "diffusers")  # the weight-fit check included: raises on a refusal


def test_the_real_folders_load_as_their_pipelines(adapters):
    names = {name: type(pipeline_of(adapters[name])).__name__ for name in ("qwen-image", "qwen-image-edit", "omnigen")}
    assert names == {"qwen-image": "QwenImagePipeline", "qwen-image-edit": "QwenImageEditPipeline",
                     "omnigen": "OmniGenPipeline"}
    assert pipeline_of(adapters["qwen-image"]).vae_scale_factor == 8  # 2 ** len(temperal_downsample)


@pytest.mark.parametrize("size", [(64, 48), (48, 80)])
def test_qwen_image_makes_the_size_asked_with_true_cfg_and_its_negative_prompt(adapters, size):
    sent, image = recorded(adapters["qwen-image"], "generate", "a red cube", width=size[0], height=size[1], seed=7)
    # Qwen-Image's model card: true_cfg_scale 4.0 with negative_prompt " ", 50 steps
    assert (sent["true_cfg_scale"], sent["negative_prompt"], sent["num_inference_steps"]) == (4.0, " ", 50)
    assert "guidance_scale" not in sent  # guidance-distilled variants only; the pipeline ignores it here
    assert sent["generator"].initial_seed() == 7
    assert image.size == size


def qwen_edit_size(width: int, height: int) -> tuple[int, int]:
    """diffusers' QwenImageEditPipeline output size with no size passed (its calculate_dimensions, re-derived)."""
    aspect = width / height
    w = math.sqrt(1024 * 1024 * aspect)
    w, h = round(w / 32) * 32, round(w / aspect / 32) * 32
    return w // 16 * 16, h // 16 * 16


@pytest.mark.parametrize("input_size", [(300, 200), (200, 360)])
def test_a_qwen_image_edit_is_about_one_megapixel_at_the_inputs_aspect(adapters, input_size):
    image = Image.new("RGB", input_size, (200, 40, 40))
    sent, edited = recorded(adapters["qwen-image-edit"], "edit", image, "make it blue", steps=2, seed=3)
    assert (sent["true_cfg_scale"], sent["negative_prompt"], sent["num_inference_steps"]) == (4.0, " ", 2)
    assert "width" not in sent and "height" not in sent and sent["image"].size == input_size
    assert sent["generator"].initial_seed() == 3
    assert edited.size == qwen_edit_size(*input_size)


@pytest.mark.parametrize("size", [(64, 48), (32, 80)])
def test_omnigen_makes_the_size_asked_with_its_guidance(adapters, size):
    sent, image = recorded(adapters["omnigen"], "generate", "a red cube", width=size[0], height=size[1], seed=5)
    assert (sent["guidance_scale"], sent["num_inference_steps"]) == (2.5, 50)  # OmniGenPipeline's docs example
    assert "input_images" not in sent and sent["generator"].initial_seed() == 5
    assert image.size == size


def omnigen_input_size(width: int, height: int) -> tuple[int, int]:
    """The size OmniGen's processor gives an input image (crop_image, re-derived): halved while the short side
    is >= 2048, the long side scaled to <= 1024, the short side up to >= 16, then cropped to multiples of 16."""
    while min(width, height) >= 2048:
        width, height = width // 2, height // 2
    if max(width, height) > 1024:
        scale = 1024 / max(width, height)
        width, height = round(width * scale), round(height * scale)
    if min(width, height) < 16:
        scale = 16 / min(width, height)
        width, height = round(width * scale), round(height * scale)
    return width - width % 16, height - height % 16


@pytest.mark.parametrize("input_size", [(300, 200), (200, 300), (1300, 700)])
def test_an_omnigen_edit_keeps_the_inputs_size_with_the_docs_edit_settings(adapters, input_size):
    image = Image.new("RGB", input_size, (200, 40, 40))
    sent, edited = recorded(adapters["omnigen"], "edit", image, "make it blue", steps=1, seed=2)
    assert sent["prompt"] == "<img><|image_1|></img> make it blue" and sent["input_images"] == [image]
    assert (sent["guidance_scale"], sent["img_guidance_scale"]) == (2.0, 1.6)
    assert sent["use_input_image_size_as_output"] is True and sent["generator"].initial_seed() == 2
    assert edited.size == omnigen_input_size(*input_size)


def omnigen2_prompt(question: str, images: int) -> str:
    """OmniGen2's chat pipeline prompt (pipeline_omnigen2_chat.py _apply_chat_template), written out."""
    labels = "".join(f"<img{i}>: <|vision_start|><|image_pad|><|vision_end|>" for i in range(1, images + 1))
    return (f"<|im_start|>system\n{OMNIGEN2_SYSTEM}<|im_end|>\n<|im_start|>user\n{labels}{question}<|im_end|>\n"
            "<|im_start|>assistant\n")


@pytest.mark.parametrize("images", [1, 2])
def test_omnigen2_asks_its_qwen2_5_vl_as_omnigen2s_chat_pipeline_does(adapters, images, monkeypatch):
    adapter = adapters["omnigen2"]
    vlm, processor = adapter.loaded["vlm"], adapter.loaded["processor"]
    seen = []
    original = vlm.generate
    monkeypatch.setattr(vlm, "generate", lambda **kwargs: seen.append(kwargs) or original(**kwargs))
    pictures = [Image.new("RGB", (56, 56), (10 * i, 90, 200)) for i in range(images)]
    options = dataclasses.replace(adapter.card.defaults, max_new_tokens=2)
    adapter.understand(pictures, "What is shown?", options)
    (sent,) = seen
    rendered = processor.tokenizer.decode(sent["input_ids"][0], skip_special_tokens=False)
    # the processor expands each <|image_pad|> to the image's grid (56x56 px: 2x2 merged patches = 4 tokens)
    assert rendered.count("<|image_pad|>") == 4 * images
    assert re.sub(r"(<\|image_pad\|>)+", "<|image_pad|>", rendered) == omnigen2_prompt("What is shown?", images)
    assert sent["do_sample"] is False  # greedy, as OmniGen2's generate_text


@pytest.mark.parametrize("name", ["qwen-image", "qwen-image-edit"])
def test_one_step_is_refused_where_the_qwen_image_scheduler_would_make_nan(adapters, name):
    adapter = adapters[name]
    options = dataclasses.replace(adapter.card.defaults, steps=1, width=None, height=None)
    options = dataclasses.replace(options, width=32, height=32) if name == "qwen-image" else options
    # diffusers' FlowMatchEulerDiscreteScheduler.stretch_shift_to_terminal (Qwen-Image's shift_terminal 0.02)
    # divides by 1 - the last sigma, which is 0 when there is one step: every pixel came back NaN (black)
    with warnings.catch_warnings(), pytest.raises(OptionError) as info:
        warnings.simplefilter("error", RuntimeWarning)  # the old code: "invalid value encountered in divide"
        if name == "qwen-image":
            adapter.generate("a red cube", options)
        else:
            adapter.edit(Image.new("RGB", (64, 64), (200, 40, 40)), "make it blue", options)
    said = str(info.value)
    assert info.value.setting == "steps" and name in said and "steps (num_inference_steps) = 1" in said
    assert "at least 2" in said and "shift_terminal" in said
