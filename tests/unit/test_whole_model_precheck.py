"""A whole transformers checkpoint (Janus-Pro, Emu3, a pair's Qwen2.5-VL: tests/real_format.py's folders) whose
weights do not fill the model its config.json builds is refused before ``from_pretrained`` reads a weight, from the
weight files' headers, in the words the post-load report check gives; a good one still loads.

Before: the refusal came only from transformers' load report, after the whole checkpoint was loaded (a real 7B:
minutes and ~15 GB first; bench/model_fit.py measures it). Every count and name expected here comes from the keys
the test removes or from transformers' own load report of the same folder; ``from_pretrained`` is wrapped to record
each call (and still load)."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from realunify_arena.adapters import ModelUnavailable, build_adapter
from realunify_arena.cards import load_cards

CARDS = load_cards()
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _copy(whole_models: dict[str, Path], name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(whole_models[name], tmp_path / whole_models[name].name))


def _card(name: str, folder: Path):
    """The real card ``name`` (``tiny-emu3`` as the emu3 family), every checkpoint replaced by ``folder``."""
    card = CARDS[name]
    family = {"family": "emu3"} if name == "tiny-emu3" else {}
    return dataclasses.replace(card, dtype="float32", parts={}, **family,
                               checkpoints={cap.value: str(folder) for cap in card.capabilities})


def _refusal(card) -> str:
    with pytest.raises(ModelUnavailable) as info:
        build_adapter(card)
    return str(info.value)


def _without(path: Path, drop) -> list[str]:
    """``path`` (a safetensors file) re-saved without the keys ``drop(key)`` picks; returns them, sorted."""
    weights = load_file(path)
    dropped = sorted(key for key in weights if drop(key))
    save_file({k: v for k, v in weights.items() if k not in dropped}, path, metadata={"format": "pt"})
    return dropped


def _library_missing(cls, folder: Path) -> list[str]:
    """The weights transformers' own load report calls missing for ``folder`` (loaded for real)."""
    _, report = cls.from_pretrained(str(folder), output_loading_info=True, ignore_mismatched_sizes=True)
    return sorted(report["missing_keys"])


def test_janus_lacking_a_decoder_layer_is_refused_before_any_weight_is_loaded(whole_models, tmp_path, loads):
    folder = _copy(whole_models, "janus", tmp_path)
    dropped = _without(folder / "model.safetensors", lambda key: key.startswith("model.language_model.layers.1."))
    assert len(dropped) == 9  # a Llama layer: 4 attention, 3 MLP projections, 2 norms
    said = _refusal(_card("janus-pro-1b", folder))
    assert loads == []
    assert said.startswith(f"janus-pro-1b: {folder}: 9 of the ")
    assert "JanusForConditionalGeneration that config.json builds are in no weight file (model.safetensors)" in said
    assert ", ".join(dropped[:3]) + ", ..." in said and "left at random values" in said


def test_a_janus_weight_of_another_shape_is_refused_before_any_weight_is_loaded(whole_models, tmp_path, loads):
    folder = _copy(whole_models, "janus", tmp_path)
    weights = load_file(folder / "model.safetensors")
    key = "model.language_model.layers.1.mlp.up_proj.weight"  # Linear(32 -> intermediate 64): [64, 32]
    weights[key] = torch.zeros(32, 32, dtype=weights[key].dtype)
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    said = _refusal(_card("janus-pro-1b", folder))
    assert loads == []
    assert said.startswith(f"janus-pro-1b: {folder}: weight {key} has shape [32, 32] in model.safetensors but "
                           "config.json builds [64, 32] (JanusForConditionalGeneration)")


def test_janus_torch_bin_lacking_a_weight_is_refused_before_any_weight_is_loaded(whole_models, tmp_path, loads):
    folder = _copy(whole_models, "janus", tmp_path)
    weights = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    key = "model.language_model.norm.weight"
    del weights[key]
    torch.save(weights, folder / "pytorch_model.bin")
    said = _refusal(_card("janus-pro-1b", folder))
    assert loads == []
    assert said.startswith(f"janus-pro-1b: {folder}: 1 of the ")
    assert f"in no weight file (pytorch_model.bin): {key};" in said


def test_qwen2_5_vl_shards_lacking_a_weight_are_refused_through_the_pair_as_transformers_reports_them(
        whole_models, tmp_path, loads):
    # an index and two shards (the hub's layout) that lost the last decoder layer's MLP
    from transformers import Qwen2_5_VLForConditionalGeneration

    folder = _copy(whole_models, "qwen", tmp_path)
    weights = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    keys = sorted(weights)
    parts = {"model-00001-of-00002.safetensors": keys[: len(keys) // 2],
             "model-00002-of-00002.safetensors": keys[len(keys) // 2:]}
    lost = {key for key in keys if key.startswith("model.layers.1.mlp.")}
    assert len(lost) == 3
    weight_map = {}
    for name, part in parts.items():
        kept = [key for key in part if key not in lost]
        save_file({key: weights[key] for key in kept}, folder / name, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(kept, name))
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    said = _refusal(_card("qwen2.5-vl-7b", folder))
    assert loads == []
    missing = _library_missing(Qwen2_5_VLForConditionalGeneration, folder)
    assert len(missing) == 3 and all(".layers.1.mlp." in key for key in missing)  # transformers' own names
    assert said.startswith(f"qwen2.5-vl-7b: {folder}: 3 of the ")
    assert f"in no weight file (model.safetensors.index.json): {', '.join(missing)};" in said


def test_a_tied_embedding_stored_under_neither_name_counts_both_as_transformers_does(whole_models, tmp_path, loads):
    # Qwen2.5-VL-3B ties lm_head to the input embedding and stores only the latter; without it, transformers
    # ties neither ("This checkpoint seem corrupted") and reports both missing
    from transformers import Qwen2_5_VLForConditionalGeneration

    folder = _copy(whole_models, "qwen-3b", tmp_path)
    assert _without(folder / "model.safetensors", lambda key: "embed_tokens" in key) == ["model.embed_tokens.weight"]
    said = _refusal(_card("qwen2.5-vl-7b", folder))
    assert loads == []
    missing = _library_missing(Qwen2_5_VLForConditionalGeneration, folder)
    assert missing == ["lm_head.weight", "model.language_model.embed_tokens.weight"]
    assert said.startswith(f"qwen2.5-vl-7b: {folder}: 2 of the ")
    assert f"(model.safetensors): {', '.join(missing)};" in said


def test_a_t5_component_without_its_shared_embedding_counts_the_tied_encoder_one_too(kontext_copy):
    # the pipeline check shares the counting: T5EncoderModel ties encoder.embed_tokens to shared; neither stored
    from transformers import T5EncoderModel

    from realunify_arena.adapters.checkpoint_files import check_checkpoint

    sub = kontext_copy / "text_encoder_2"
    index = sub / "model.safetensors.index.json"
    weights = {}
    for shard in sorted(set(json.loads(index.read_text())["weight_map"].values())):
        weights.update(load_file(sub / shard))
        (sub / shard).unlink()
    index.unlink()
    del weights["shared.weight"]  # encoder.embed_tokens.weight is not stored either (save_pretrained ties it)
    assert "encoder.embed_tokens.weight" not in weights
    save_file(weights, sub / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelUnavailable) as info:
        check_checkpoint(str(kontext_copy), "diffusers")
    missing = _library_missing(T5EncoderModel, sub)
    assert missing == ["encoder.embed_tokens.weight", "shared.weight"]
    assert str(info.value).startswith(f"{sub}: 2 of the ")
    assert f"in no weight file (model.safetensors): {', '.join(missing)};" in str(info.value)


# bitsandbytes 4-bit as diffusers and transformers save it (e.g. the hub's diffusers/FLUX.1-dev-bnb-4bit): a
# Linear's [out, in] weight stored as uint8 [out*in/2, 1] beside its quantization state, unpacked on load
BNB_4BIT = {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
            "bnb_4bit_compute_dtype": "bfloat16", "bnb_4bit_use_double_quant": False}


def _packed(path: Path, key: str) -> None:
    """``key`` of the safetensors file ``path`` re-stored as bitsandbytes packs a 4-bit weight."""
    weights = load_file(path)
    weights[key] = torch.zeros(weights[key].numel() // 2, 1, dtype=torch.uint8)
    weights[f"{key}.absmax"] = torch.ones(weights[key].shape[0] * 2 // 64)
    save_file(weights, path, metadata={"format": "pt"})


def _quantized(config: Path) -> None:
    content = json.loads(config.read_text())
    config.write_text(json.dumps({**content, "quantization_config": BNB_4BIT}))


def test_a_prequantized_pipeline_component_is_left_to_its_quantizer(kontext_copy):
    from realunify_arena.adapters.checkpoint_files import check_checkpoint

    sub = kontext_copy / "transformer"
    index = json.loads((sub / "diffusion_pytorch_model.safetensors.index.json").read_text())
    key = next(k for k in sorted(index["weight_map"]) if k.endswith("proj_mlp.weight"))
    _packed(sub / index["weight_map"][key], key)
    _quantized(sub / "config.json")
    check_checkpoint(str(kontext_copy), "diffusers")


def test_a_prequantized_whole_model_is_left_to_its_quantizer(whole_models, tmp_path):
    from transformers import JanusForConditionalGeneration

    from realunify_arena.adapters.checkpoint_files import model_weights_problem

    folder = _copy(whole_models, "janus", tmp_path)
    _packed(folder / "model.safetensors", "model.language_model.layers.1.mlp.up_proj.weight")
    assert model_weights_problem(str(folder), JanusForConditionalGeneration, None)  # unquantized: the wrong shape
    _quantized(folder / "config.json")
    assert model_weights_problem(str(folder), JanusForConditionalGeneration, None) is None


@pytest.mark.parametrize("name, card", [("janus", "janus-pro-1b"), ("qwen", "qwen2.5-vl-7b"),
                                        ("qwen-3b", "qwen2.5-vl-7b"), ("emu3", "tiny-emu3")])
def test_good_checkpoints_pass_the_check_and_load(whole_models, name, card, loads):
    # qwen-3b: tied output embedding not stored; emu3: its VQ model's weights beside the language model's
    from realunify_arena.adapters.checkpoint_files import model_weights_problem

    classes = {"janus": "JanusForConditionalGeneration", "qwen": "Qwen2_5_VLForConditionalGeneration",
               "qwen-3b": "Qwen2_5_VLForConditionalGeneration", "emu3": "Emu3ForConditionalGeneration"}
    from transformers import AutoModelForImageTextToText, Emu3ForConditionalGeneration, JanusForConditionalGeneration

    cls = {"janus": JanusForConditionalGeneration, "emu3": Emu3ForConditionalGeneration}.get(
        name, AutoModelForImageTextToText)
    assert model_weights_problem(str(whole_models[name]), cls, None) is None
    adapter = build_adapter(_card(card, whole_models[name]))
    assert loads == [classes[name]]
    adapter.close()


def test_a_check_that_breaks_steps_aside_and_the_load_report_still_refuses(whole_models, tmp_path, loads, monkeypatch,
                                                                          caplog):
    from transformers import JanusForConditionalGeneration

    from realunify_arena.adapters import checkpoint_fit
    from realunify_arena.adapters.checkpoint_files import model_weights_problem

    folder = _copy(whole_models, "janus", tmp_path)
    dropped = _without(folder / "model.safetensors", lambda key: key.startswith("model.language_model.layers.1."))

    def broken(shards):
        raise RuntimeError("a header this transformers cannot read")

    monkeypatch.setattr(checkpoint_fit, "_stored_shapes", broken)
    with caplog.at_level(logging.DEBUG, logger=checkpoint_fit.__name__):
        assert model_weights_problem(str(folder), JanusForConditionalGeneration, None) is None
    assert "weight-fit check skipped (RuntimeError: a header this transformers cannot read)" in caplog.text
    assert model_weights_problem("nobody-here/never-cached", JanusForConditionalGeneration, None) is None
    said = _refusal(_card("janus-pro-1b", folder))
    assert loads == ["JanusForConditionalGeneration"]  # refused after the load, by its report
    assert said.startswith(f"janus-pro-1b: {folder}: 9 of the ") and ", ".join(dropped[:3]) in said
