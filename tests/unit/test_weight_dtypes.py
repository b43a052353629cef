"""A weight stored as integers or booleans where the model its config.json builds holds floating-point numbers (and
no quantization_config says how they are packed) is refused before the load, naming the folder, the file, the
weight and its stored dtype: a whole model (Janus-Pro) and a diffusers pipeline's components (FLUX.1 Kontext's
diffusers VAE and transformers CLIP text encoder).

Before: transformers and diffusers cast such a tensor to the module's dtype without a word and the model ran on
those whole numbers (checked here for transformers: what ``from_pretrained`` loads is the integers, as floats)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from realunify_arena.adapters import ModelUnavailable
from realunify_arena.adapters.checkpoint_files import check_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")
KEY = "model.language_model.layers.0.mlp.up_proj.weight"


def _stored_as(path: Path, key: str, make) -> torch.Tensor:
    """Re-save ``path`` with ``key`` replaced by ``make(its tensor)``; returns the new tensor."""
    weights = load_file(path)
    weights[key] = make(weights[key])
    save_file(weights, path, metadata={"format": "pt"})
    return weights[key]


@pytest.fixture
def janus(real_format_build, tmp_path) -> Path:
    built = real_format_build("build_janus_pro", tmp_path / "built" / "Janus-Pro-1B")
    return Path(shutil.copytree(built, tmp_path / "Janus-Pro-1B"))


@pytest.mark.parametrize("dtype, name", [(torch.int8, "I8"), (torch.bool, "BOOL"), (torch.int64, "I64")])
def test_janus_weights_stored_as_whole_numbers_are_refused_before_the_load(janus, loads, refused_card, dtype, name):
    from transformers import JanusForConditionalGeneration

    stored = _stored_as(janus / "model.safetensors", KEY, lambda t: (t * 100).to(dtype))
    said = refused_card("janus-pro-1b", janus)
    assert loads == []
    assert said.startswith(f"janus-pro-1b: {janus}: weight {KEY} is stored as {name} in model.safetensors but "
                           "config.json builds a floating-point weight there")
    assert "quantization_config" in said
    # what transformers itself does with the file: it loads the whole numbers as the weight's values, silently
    model = JanusForConditionalGeneration.from_pretrained(str(janus))
    assert torch.equal(model.state_dict()[KEY], stored.to(torch.float32))


@pytest.mark.parametrize("component, key_end", [("vae", "decoder.conv_in.weight"),
                                                ("text_encoder", "final_layer_norm.weight")])
def test_a_pipeline_component_stored_as_whole_numbers_is_refused(kontext_copy, component, key_end):
    path = next((kontext_copy / component).glob("*.safetensors"))
    key = next(k for k in load_file(path) if k.endswith(key_end))
    _stored_as(path, key, lambda t: t.to(torch.int8))
    with pytest.raises(ModelUnavailable) as info:
        check_checkpoint(str(kontext_copy), "diffusers")
    said = str(info.value)
    assert said.startswith(f"{kontext_copy / component}: weight ")
    # the weight as the module names it (CLIPTextModel's text_model.final_layer_norm.weight, stored without the prefix)
    assert f"{key_end} is stored as I8 in {path.name} but {component}/config.json builds a floating-point weight" in said


def test_floating_weights_of_another_width_pass(janus, kontext_copy):
    # a bfloat16 file for a float32 config is what every hub checkpoint is (the library casts floats to floats)
    _stored_as(janus / "model.safetensors", KEY, lambda t: t.to(torch.bfloat16))
    check_checkpoint(str(janus), "transformers")
    from realunify_arena.adapters.checkpoint_files import model_weights_problem
    from transformers import JanusForConditionalGeneration

    assert model_weights_problem(str(janus), JanusForConditionalGeneration, None) is None
    check_checkpoint(str(kontext_copy), "diffusers")
