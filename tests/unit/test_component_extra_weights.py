"""A diffusers pipeline component whose weights hold more than the module its ``config.json`` builds (a
config of fewer blocks than the weights: an edited or mixed-up folder; a weight file with a stray tensor) is
refused before loading, naming the component's folder, the weight file, how many weights have no place and
the first of them.

Before: such a folder passed ``check_checkpoint``, and diffusers' ``ModelMixin.from_pretrained`` built the
smaller module and dropped the rest with only a logged "Some weights of the model checkpoint ... were not
used" (checked below on the same folder): FLUX.1 Kontext ran with a transformer missing its single-stream
block. Keys the class declares ignorable (``_keys_to_ignore_on_load_unexpected``, regular expressions that
diffusers drops silently) are not refused. Every key expected here is one the test stores or the builder's
block layout (tests/real_format.py: one double-stream and one single-stream block) gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from realunify_arena.adapters import ModelUnavailable
from realunify_arena.adapters.checkpoint_files import check_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _refusal(folder: Path) -> str:
    with pytest.raises(ModelUnavailable) as info:
        check_checkpoint(str(folder), "diffusers")
    return str(info.value)


def _add_tensor(weights: Path, key: str) -> None:
    tensors = load_file(str(weights))
    tensors[key] = torch.zeros(2, 2)
    save_file(tensors, str(weights), metadata={"format": "pt"})


def test_a_transformer_config_of_fewer_blocks_than_its_weights_is_refused(kontext_copy):
    from diffusers import FluxTransformer2DModel

    config = kontext_copy / "transformer" / "config.json"
    config.write_text(json.dumps(json.loads(config.read_text()) | {"num_single_layers": 0}))
    # diffusers itself loads it, the single-stream block's weights dropped with a logged warning only
    model, info = FluxTransformer2DModel.from_pretrained(kontext_copy / "transformer", output_loading_info=True)
    dropped = sorted(info["unexpected_keys"])
    assert dropped and all(key.startswith("single_transformer_blocks.0.") for key in dropped)
    said = _refusal(kontext_copy)
    assert f"{kontext_copy / 'transformer'}: {len(dropped)} weights in " in said
    assert "diffusion_pytorch_model.safetensors.index.json" in said and dropped[0] in said
    assert "transformer/config.json" in said and "loads transformer as diffusers FluxTransformer2DModel" in said


def test_a_stray_tensor_in_the_vae_weights_is_named(kontext_copy):
    _add_tensor(kontext_copy / "vae" / "diffusion_pytorch_model.safetensors", "decoder.stray.weight")
    said = _refusal(kontext_copy)
    assert f"{kontext_copy / 'vae'}: 1 weights in diffusion_pytorch_model.safetensors" in said
    assert "decoder.stray.weight" in said and "loads vae as diffusers AutoencoderKL" in said


def test_a_stray_tensor_in_a_transformers_text_encoder_is_named(kontext_copy):
    weights = next((kontext_copy / "text_encoder").glob("*.safetensors"))
    _add_tensor(weights, "text_model.stray.weight")
    from transformers import CLIPTextModel

    # named as transformers' own load report names it (the base model's prefix taken off)
    _, info = CLIPTextModel.from_pretrained(kontext_copy / "text_encoder", output_loading_info=True)
    assert len(info["unexpected_keys"]) == 1
    said = _refusal(kontext_copy)
    assert f"{kontext_copy / 'text_encoder'}: 1 weights in {weights.name}" in said
    assert next(iter(info["unexpected_keys"])) in said and "loads text_encoder as transformers CLIPTextModel" in said


def test_keys_the_class_declares_ignorable_are_not_refused(kontext_copy, monkeypatch):
    from diffusers import AutoencoderKL

    _add_tensor(kontext_copy / "vae" / "diffusion_pytorch_model.safetensors", "encoder.version")
    # latent diffusion's VQ model declares r"encoder\.version" so; diffusers then drops it without a word
    monkeypatch.setattr(AutoencoderKL, "_keys_to_ignore_on_load_unexpected", [r"encoder\.version"])
    check_checkpoint(str(kontext_copy), "diffusers")
