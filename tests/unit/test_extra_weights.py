"""A whole transformers checkpoint whose weights hold more than the model its config.json builds (a config.json of
fewer layers than the weights: an edited or mixed-up folder) is refused, naming the folder, the weight file, how
many weights have no place and the first of them, before ``from_pretrained`` reads a weight, and by the load
report's check when the early check steps aside. A fused-MoE model (weights stored one per expert, fused on load
by a transformers ``WeightConverter``) lacking weights is refused before the load too.

Before: transformers loaded the smaller model with only a logged "LOAD REPORT" whose UNEXPECTED rows it explains as
"not ok if you expect identical arch" (the adapter then served a 1-layer model as Janus-Pro), and the early check
returned nothing for any model with a fused weight, so a broken MoE checkpoint was refused only after the whole
load. Every name and count expected here comes from the keys the test stores or removes, and from transformers'
own load report of the same folder."""

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


def _janus_card(folder: Path):
    card = CARDS["janus-pro-1b"]
    return dataclasses.replace(card, dtype="float32", parts={},
                               checkpoints={cap.value: str(folder) for cap in card.capabilities})


def _one_layer_janus(whole_models, tmp_path: Path) -> tuple[Path, list[str]]:
    """A copy of the 2-layer real-format Janus-Pro whose config.json builds 1 layer; the stored weights of the
    second layer, sorted."""
    folder = Path(shutil.copytree(whole_models["janus"], tmp_path / "Janus-Pro-1B"))
    config = json.loads((folder / "config.json").read_text())
    assert config["text_config"]["num_hidden_layers"] == 2
    config["text_config"]["num_hidden_layers"] = 1
    (folder / "config.json").write_text(json.dumps(config))
    extra = sorted(key for key in load_file(folder / "model.safetensors")
                   if key.startswith("model.language_model.layers.1."))
    assert len(extra) == 9  # a Llama layer: 4 attention, 3 MLP projections, 2 norms
    return folder, extra


def _library_unexpected(cls, folder: Path) -> list[str]:
    _, report = cls.from_pretrained(str(folder), output_loading_info=True, ignore_mismatched_sizes=True)
    return sorted(report["unexpected_keys"])


def _expected_words(folder: Path, extra: list[str]) -> str:
    return (f"{folder}: 9 weights in model.safetensors have no place in the JanusForConditionalGeneration that "
            f"config.json builds: {', '.join(extra[:3])}, ...;")


def test_janus_weights_of_more_layers_than_config_json_builds_are_refused_before_the_load(
        whole_models, tmp_path, loads):
    from transformers import JanusForConditionalGeneration

    folder, extra = _one_layer_janus(whole_models, tmp_path)
    with pytest.raises(ModelUnavailable) as info:
        build_adapter(_janus_card(folder))
    assert loads == []
    said = str(info.value)
    assert said.startswith(f"janus-pro-1b: {_expected_words(folder, extra)}")
    assert "expected the config.json the weights were saved with" in said
    assert _library_unexpected(JanusForConditionalGeneration, folder) == extra  # transformers' own report agrees


def test_the_load_report_refuses_extra_weights_when_the_early_check_steps_aside(whole_models, tmp_path, loads,
                                                                              monkeypatch, caplog):
    from realunify_arena.adapters import checkpoint_fit

    folder, extra = _one_layer_janus(whole_models, tmp_path)

    def broken(shards):
        raise RuntimeError("a header this transformers cannot read")

    monkeypatch.setattr(checkpoint_fit, "_stored_shapes", broken)
    with pytest.raises(ModelUnavailable) as info:
        build_adapter(_janus_card(folder))
    assert loads == ["JanusForConditionalGeneration"]  # refused after the load, by its report
    assert str(info.value).startswith(f"janus-pro-1b: {_expected_words(folder, extra)}")


def test_stored_weights_transformers_itself_ignores_are_not_refused(whole_models, tmp_path, loads):
    # old Llama checkpoints store each layer's rotary_emb.inv_freq, now a non-persistent buffer: transformers'
    # _adjust_missing_and_unexpected_keys leaves them out of its report, so they must not be refused here either
    from transformers import JanusForConditionalGeneration

    folder = Path(shutil.copytree(whole_models["janus"], tmp_path / "Janus-Pro-1B"))
    weights = load_file(folder / "model.safetensors")
    weights["model.language_model.layers.0.self_attn.rotary_emb.inv_freq"] = torch.ones(4)
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    assert _library_unexpected(JanusForConditionalGeneration, folder) == []
    loads.clear()
    build_adapter(_janus_card(folder)).close()
    assert loads == ["JanusForConditionalGeneration"]


@pytest.fixture(scope="module")
def moe(tmp_path_factory, one_torch_thread) -> Path:
    """A tiny Qwen3-MoE (4 experts, 2 layers) saved by ``save_pretrained``, which stores each expert's projections
    apart (``experts.0.gate_proj.weight``, ...) as the hub's checkpoints do; transformers fuses them on load."""
    from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM

    config = Qwen3MoeConfig(vocab_size=64, hidden_size=16, intermediate_size=32, moe_intermediate_size=8,
                            num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=8,
                            num_experts=4, num_experts_per_tok=2, max_position_embeddings=64)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("moe") / "Qwen3-MoE-tiny"
    Qwen3MoeForCausalLM(config).save_pretrained(folder)
    assert "model.layers.0.mlp.experts.3.up_proj.weight" in load_file(folder / "model.safetensors")
    return folder


@pytest.mark.parametrize("lost", ["model.layers.1.self_attn.", "model.layers.1.mlp.experts."])
def test_a_fused_moe_checkpoint_lacking_weights_is_refused_before_the_load_as_its_report_says(moe, tmp_path, lost,
                                                                                             loads):
    from transformers import Qwen3MoeForCausalLM

    from realunify_arena.adapters.checkpoint_files import model_weights_problem

    folder = Path(shutil.copytree(moe, tmp_path / moe.name))
    weights = load_file(folder / "model.safetensors")
    save_file({k: v for k, v in weights.items() if not k.startswith(lost)}, folder / "model.safetensors",
              metadata={"format": "pt"})
    said = model_weights_problem(str(folder), Qwen3MoeForCausalLM, None)
    assert loads == []
    _, report = Qwen3MoeForCausalLM.from_pretrained(str(folder), output_loading_info=True,
                                                    ignore_mismatched_sizes=True)
    missing = sorted(report["missing_keys"])
    assert missing and all(key.startswith(lost) for key in missing)  # attention: 6 weights; experts: 2 fused ones
    assert said is not None and said.startswith(f"{folder}: {len(missing)} of the ")
    assert f"in no weight file (model.safetensors): {', '.join(missing[:3])}" in said


def test_a_whole_fused_moe_checkpoint_passes_the_early_check(moe, caplog):
    from transformers import Qwen3MoeForCausalLM

    from realunify_arena.adapters import checkpoint_fit
    from realunify_arena.adapters.checkpoint_files import model_weights_problem

    with caplog.at_level(logging.DEBUG, logger=checkpoint_fit.__name__):
        assert model_weights_problem(str(moe), Qwen3MoeForCausalLM, None) is None
    assert "skipped" not in caplog.text  # checked, not stepped aside


_EXPERT = "model.layers.1.mlp.experts.2."
_BROKEN = {  # name -> (change to the stored weights, the words the early refusal must hold)
    "one-expert-lost": (lambda w: [w.pop(k) for k in list(w) if k.startswith(_EXPERT)],
                        [" is fused on load from 3 stored tensors in model.safetensors into shape [3, 16, 8] but "
                         "config.json builds [4, 16, 8]", f"they lack {_EXPERT}down_proj.weight"]),
    "one-tensor-lost": (lambda w: w.pop(f"{_EXPERT}up_proj.weight"),
                        ["weight model.layers.1.mlp.experts.gate_up_proj is fused on load from 7 stored tensors",
                         f"they lack {_EXPERT}up_proj.weight"]),
    "one-tensor-of-another-shape": (lambda w: w.update({f"{_EXPERT}up_proj.weight": torch.zeros(4, 16)}),
                                    [f"weight {_EXPERT}up_proj.weight has shape [4, 16] in model.safetensors but the "
                                     "other tensors transformers fuses with it into "
                                     "model.layers.1.mlp.experts.gate_up_proj have [8, 16]"]),
}


@pytest.mark.parametrize("name", _BROKEN)
def test_a_fused_moe_checkpoint_lacking_one_expert_is_refused_before_the_load_naming_it(moe, tmp_path, name, loads):
    # before: counted as stored (one of the fused tensors was), refused only by the load's report ([3, 16, 8]
    # against [4, 16, 8], naming no expert) or by a bare RuntimeError of the conversion, after the whole load
    from transformers import Qwen3MoeForCausalLM

    from realunify_arena.adapters.checkpoint_files import model_weights_problem

    change, words = _BROKEN[name]
    folder = Path(shutil.copytree(moe, tmp_path / moe.name))
    weights = load_file(folder / "model.safetensors")
    change(weights)
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    said = model_weights_problem(str(folder), Qwen3MoeForCausalLM, None)
    assert loads == []
    assert said is not None and said.startswith(f"{folder}: ")
    for word in words:
        assert word in said
    try:  # transformers' own verdict on the same folder: a fused weight of another shape, or no load at all
        _, report = Qwen3MoeForCausalLM.from_pretrained(str(folder), output_loading_info=True,
                                                        ignore_mismatched_sizes=True)
    except RuntimeError as exc:
        assert "conversion" in str(exc)
    else:
        assert {key for key, *_ in report["mismatched_keys"]} == {"model.layers.1.mlp.experts.gate_up_proj",
                                                                   "model.layers.1.mlp.experts.down_proj"}
