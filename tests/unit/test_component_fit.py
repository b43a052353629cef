"""A diffusers pipeline component whose configuration disagrees with its weights (the real-format FLUX.1
Kontext folder of tests/real_format.py, one file changed) is refused before loading, naming the component's
folder, the file and what was expected.

Before: diffusers said "Cannot load  because decoder.conv_in.weight expected shape ...", naming neither the
component nor the file; ``T5Model`` named for the hub's ``T5EncoderModel`` folder loaded with its decoder left
at random values (transformers' own load report lists every ``decoder.*`` weight as newly initialised); a
``text_encoder/config.json`` declaring ``model_type: t5`` over CLIP's fields loaded without a word. The shapes
expected here are computed in the test from the builder's own numbers, not read from the code under test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from realunify_arena.adapters import ModelUnavailable
from realunify_arena.adapters.checkpoint_files import check_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _edit(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    path.write_text(json.dumps(data, indent=2))


def _refusal(folder: Path) -> str:
    with pytest.raises(ModelUnavailable) as info:
        check_checkpoint(str(folder), "diffusers")
    return str(info.value)


def test_the_real_format_kontext_folder_with_its_tied_t5_embedding_passes(kontext_built):
    # transformers 5 saves T5EncoderModel without encoder.embed_tokens.weight (tied to shared.weight)
    from safetensors import safe_open

    keys = set()
    for shard in (kontext_built / "text_encoder_2").glob("*.safetensors"):
        with safe_open(str(shard), framework="pt") as f:
            keys |= set(f.keys())
    assert "shared.weight" in keys and "encoder.embed_tokens.weight" not in keys
    check_checkpoint(str(kontext_built), "diffusers")


def test_a_vae_config_without_latent_channels_names_the_vae_weight_and_both_shapes(kontext_copy):
    _edit(kontext_copy / "vae" / "config.json", latent_channels=None)  # AutoencoderKL's default: 4
    said = _refusal(kontext_copy)
    # the builder: 16 latent channels, block_out_channels 8 -> decoder.conv_in is Conv2d(16, 8, 3); the default 4
    assert f"{kontext_copy / 'vae'}: weight " in said
    assert "decoder.conv_in.weight has shape [8, 16, 3, 3] in diffusion_pytorch_model.safetensors" in said or \
           "encoder.conv_out.weight has shape [32, 8, 3, 3] in diffusion_pytorch_model.safetensors" in said
    assert "vae/config.json builds" in said and "loads vae as diffusers AutoencoderKL" in said


def test_a_transformer_whose_joint_attention_dim_changed_names_its_shard(kontext_copy):
    _edit(kontext_copy / "transformer" / "config.json", joint_attention_dim=48)  # the weights: 32 (the T5's d_model)
    said = _refusal(kontext_copy)
    # context_embedder = Linear(joint_attention_dim, heads * head_dim = 2 * 16)
    assert f"{kontext_copy / 'transformer'}: weight context_embedder.weight has shape [32, 32] in " in said
    assert "diffusion_pytorch_model-0000" in said and "but transformer/config.json builds [32, 48]" in said
    assert "loads transformer as diffusers FluxTransformer2DModel" in said


def test_t5model_named_for_the_t5_encoder_folder_names_the_decoder_it_would_leave_random(kontext_copy):
    _edit(kontext_copy / "model_index.json", text_encoder_2=["transformers", "T5Model"])
    said = _refusal(kontext_copy)
    assert f"{kontext_copy / 'text_encoder_2'}: " in said
    assert "model.safetensors.index.json" in said and "decoder.block.0." in said
    assert "left at random values" in said and "loads text_encoder_2 as transformers T5Model" in said


def test_a_clip_text_config_declaring_model_type_t5_is_refused(kontext_copy):
    _edit(kontext_copy / "text_encoder" / "config.json", model_type="t5")
    said = _refusal(kontext_copy)
    assert said.startswith(f"{kontext_copy / 'text_encoder' / 'config.json'}: field 'model_type' is 't5'; "
                           "expected 'clip_text_model'")
    assert "loads text_encoder as transformers CLIPTextModel" in said


def test_a_t5_config_under_clip_text_model_names_the_type_and_the_missing_weights(kontext_copy):
    # the whole T5 encoder folder (config and weights) where model_index.json loads a CLIPTextModel
    shutil.rmtree(kontext_copy / "text_encoder")
    shutil.copytree(kontext_copy / "text_encoder_2", kontext_copy / "text_encoder")
    said = _refusal(kontext_copy)
    assert said.startswith(f"{kontext_copy / 'text_encoder' / 'config.json'}: field 'model_type' is 't5'; "
                           "expected 'clip_text_model'")
    assert "left at random values" in said


def test_an_mt5_config_of_the_same_layout_under_t5_encoder_model_is_accepted(kontext_copy):
    # Hunyuan-DiT's text_encoder_2 is an mT5 encoder loaded as T5EncoderModel: same fields, same weights
    _edit(kontext_copy / "text_encoder_2" / "config.json", model_type="mt5")
    check_checkpoint(str(kontext_copy), "diffusers")


def test_t5_encoder_weights_saved_with_their_decoder_are_accepted(kontext_copy):
    # T5EncoderModel._keys_to_ignore_on_load_unexpected = ["decoder"]: a full T5Model's file loads into it
    from transformers import T5Config, T5Model

    folder = kontext_copy / "text_encoder_2"
    config = T5Config.from_pretrained(folder)
    shutil.rmtree(folder)
    T5Model(config).save_pretrained(folder)
    _edit(folder / "config.json", architectures=["T5EncoderModel"])
    check_checkpoint(str(kontext_copy), "diffusers")


def test_a_legacy_transformer2dmodel_component_is_built_as_the_class_diffusers_remaps_it_to(tmp_path):
    # PixArt-alpha's model_index.json names transformer as diffusers Transformer2DModel; its config maps it to
    # PixArtTransformer2DModel (LegacyModelMixin.from_pretrained), whose weights it holds
    from diffusers import PixArtTransformer2DModel

    from realunify_arena.adapters.checkpoint_fit import component_fit_problem

    model = PixArtTransformer2DModel(num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=8,
                                     num_layers=1, cross_attention_dim=16, caption_channels=16, sample_size=8)
    model.save_pretrained(tmp_path / "transformer")
    _edit(tmp_path / "transformer" / "config.json", _class_name="Transformer2DModel")
    weights = tmp_path / "transformer" / "diffusion_pytorch_model.safetensors"
    assert component_fit_problem(tmp_path / "model_index.json", "transformer", "diffusers", "Transformer2DModel",
                                 weights, [weights]) is None


def test_a_check_that_breaks_leaves_the_checkpoint_to_the_library(kontext_copy, monkeypatch):
    # The check leans on library internals (transformers' rename_source_key); if an update breaks them, the
    # folder must not be refused for it: the check steps aside and from_pretrained reports as it would.
    import transformers.core_model_loading as loading

    def broken(*args, **kwargs):
        raise TypeError("rename_source_key() got an unexpected keyword argument (a changed internal)")

    _edit(kontext_copy / "text_encoder" / "config.json", model_type="t5")  # a fault the check would name
    monkeypatch.setattr(loading, "rename_source_key", broken)
    check_checkpoint(str(kontext_copy), "diffusers")  # no refusal, no TypeError
    monkeypatch.undo()
    assert "model_type" in _refusal(kontext_copy)  # the same folder, with the check working, is refused
