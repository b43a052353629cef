"""A whole transformers checkpoint (Janus-Pro, Emu3, a pair's Qwen2.5-VL: tests/real_format.py's folders) whose
weights do not fill the model its config.json builds is refused when the real card loads it, naming the folder,
the weight file, how many weights are missing and the first of them.

Before: transformers loaded weights lacking a decoder layer, or saved from another class, with only a logged
"LOAD REPORT" and those weights at random values (the adapter then served noise as the model); a weight of
another shape failed as "You set `ignore_mismatched_sizes` to `False`, thus raising an error. For details look
at the above report!", naming neither the weight nor the folder. The names and counts expected here are
computed in the test from the keys it removes and from the model classes transformers builds."""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from realunify_arena.adapters import LOADING, ModelUnavailable, build_adapter
from realunify_arena.cards import load_cards
from realunify_arena.protocols import loaded
from realunify_arena.runtime import ModelPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import real_format  # noqa: E402  (tests/real_format.py)

CARDS = load_cards()
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def built(whole_models) -> dict[str, Path]:
    return whole_models


def _copy(built: dict[str, Path], name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built[name], tmp_path / built[name].name))


def _card(name: str, folder: Path):
    """The real card ``name``, every checkpoint replaced by ``folder`` (float32 for CPU)."""
    card = CARDS[name]
    return dataclasses.replace(card, dtype="float32", parts={},
                               checkpoints={cap: str(folder) for cap in card.checkpoints})


def _refusal(card) -> str:
    with pytest.raises(ModelUnavailable) as info:
        build_adapter(card)
    return str(info.value)


def test_janus_weights_lacking_a_decoder_layer_name_the_folder_the_count_and_the_first_names(built, tmp_path):
    folder = _copy(built, "janus", tmp_path)
    weights = load_file(folder / "model.safetensors")
    dropped = sorted(key for key in weights if key.startswith("model.language_model.layers.1."))
    assert len(dropped) == 9  # a Llama layer: 4 attention, 3 MLP projections, 2 norms
    save_file({k: v for k, v in weights.items() if k not in dropped}, folder / "model.safetensors",
              metadata={"format": "pt"})
    said = _refusal(_card("janus-pro-1b", folder))
    assert said.startswith(f"janus-pro-1b: {folder}: 9 of the ")
    assert "JanusForConditionalGeneration that config.json builds are in no weight file (model.safetensors)" in said
    assert ", ".join(dropped[:3]) + ", ..." in said and "left at random values" in said


def test_a_janus_weight_of_another_shape_reaches_the_caller_named_not_as_the_librarys_pointer(built, tmp_path):
    # the path a run, the CLI and the app take: pool.use inside protocols.loaded
    folder = _copy(built, "janus", tmp_path)
    weights = load_file(folder / "model.safetensors")
    key = "model.language_model.layers.1.mlp.up_proj.weight"  # Linear(32 -> intermediate 64): [64, 32]
    weights[key] = torch.zeros(32, 32, dtype=weights[key].dtype)
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    card = _card("janus-pro-1b", folder)
    pool = ModelPool({card.name: card}, device="cpu")
    with pytest.raises(ModelUnavailable) as info, loaded(pool, card.name):
        pass
    said = str(info.value)
    assert said.startswith(f"janus-pro-1b: {folder}: weight {key} has shape [32, 32] in model.safetensors but "
                           "config.json builds [64, 32]")
    assert "above report" not in said
    pool.close()


def test_qwen2_5_vl_weights_of_a_shallower_variant_are_refused_through_the_pair(built, tmp_path):
    # the 1-layer model's weights beside the 2-layer config.json: its second decoder layer has none
    folder = _copy(built, "qwen", tmp_path)
    full, _ = real_format.qwen2_5_vl_model()
    shallow_config = full.config
    shallow_config.text_config.num_hidden_layers = 1
    shallow = type(full)(shallow_config)
    shallow.save_pretrained(tmp_path / "shallow")
    shutil.copy(tmp_path / "shallow" / "model.safetensors", folder / "model.safetensors")
    missing = sorted(set(full.state_dict()) - set(shallow.state_dict()))
    said = _refusal(_card("qwen2.5-vl-7b", folder))
    assert said.startswith(f"qwen2.5-vl-7b: {folder}: {len(missing)} of the {len(full.state_dict())} weights of the "
                           "Qwen2_5_VLForConditionalGeneration that config.json builds")
    assert ", ".join(missing[:3]) in said


def test_qwen2_5_vl_3b_with_its_tied_output_embedding_left_out_loads(built):
    # tie_word_embeddings: save_pretrained writes no lm_head.weight; transformers ties it, it is not missing
    from safetensors import safe_open

    with safe_open(str(built["qwen-3b"] / "model.safetensors"), framework="pt") as f:
        assert "lm_head.weight" not in set(f.keys())
    adapter = build_adapter(_card("qwen2.5-vl-7b", built["qwen-3b"]))
    adapter.close()


def test_emu3_weights_saved_from_its_text_only_class_are_refused(tmp_path, one_torch_thread):
    # tiny-emu3's folder (a 60-word vocabulary: the real-format one's 184622 cost ten seconds), loaded as emu3
    from transformers import Emu3Config, Emu3ForCausalLM, Emu3ForConditionalGeneration

    from realunify_arena.adapters.tiny import TINY_BUILDERS

    folder = tmp_path / "emu3"
    with LOADING:  # no load of an earlier module's pool meanwhile: see conftest's real_format_build
        TINY_BUILDERS["emu3"](folder)
    config = Emu3Config.from_pretrained(folder)
    text_only = Emu3ForCausalLM(config.text_config)
    text_only.save_pretrained(tmp_path / "text_only")
    shutil.copy(tmp_path / "text_only" / "model.safetensors", folder / "model.safetensors")
    whole = Emu3ForConditionalGeneration(config).state_dict()
    missing = sorted(set(whole) - set(text_only.state_dict()))  # only lm_head.weight has the same name
    card = dataclasses.replace(CARDS["tiny-emu3"], family="emu3", dtype="float32",
                               checkpoints={cap.value: str(folder) for cap in CARDS["tiny-emu3"].capabilities})
    said = _refusal(card)
    assert said.startswith(f"tiny-emu3: {folder}: {len(missing)} of the {len(whole)} weights of the "
                           "Emu3ForConditionalGeneration that config.json builds are in no weight file")
    assert ", ".join(missing[:3]) in said
