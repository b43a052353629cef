"""A broken or missing file in a real-format checkpoint (tests/real_format.py; a diffusers pipeline saved by
the tiny builder) is refused with one line that names the file and what was expected, before transformers
or diffusers read it: not a library's bare ``SafetensorError``/``JSONDecodeError``, and not a full-size
default model built for minutes when ``config.json`` is missing."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from realunify_arena.adapters import ModelUnavailable
from realunify_arena.adapters.tiny import TINY_BUILDERS
from realunify_arena.cards import load_cards
from realunify_arena.protocols import loaded
from realunify_arena.runtime import ModelPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import real_format  # noqa: E402  (tests/real_format.py)

CARDS = load_cards()


@pytest.fixture(scope="module")
def sound(tmp_path_factory) -> dict[str, Path]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("sound")
    TINY_BUILDERS["pair"](root / "pair")
    yield {"janus": real_format.build_janus_pro(root / "janus"), "pipeline": root / "pair" / "pipeline"}
    torch.set_num_threads(threads)


def _load(card_name: str, folder: Path | str, **params) -> str:
    """The one-line reason the real card, pointed at ``folder`` with ``params`` added, does not load (via
    ``protocols.loaded``)."""
    card = CARDS[card_name]
    card = dataclasses.replace(card, dtype="float32", checkpoints={c: str(folder) for c in card.checkpoints},
                               params={**card.params, **params})
    pool = ModelPool({card.name: card}, device="cpu")
    try:
        with pytest.raises(ModelUnavailable) as info, loaded(pool, card.name):
            pass
    finally:
        pool.close()
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def _truncate(path: Path, size: int) -> None:
    with path.open("r+b") as f:
        f.truncate(size)


def _copy(sound: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(sound, tmp_path / sound.name))


@pytest.mark.parametrize("size", [4, 1000, -4096], ids=["no-header", "header-cut", "tensors-cut"])
def test_a_truncated_safetensors_file_is_named_with_its_size(sound, tmp_path, size):
    folder = _copy(sound["janus"], tmp_path)
    weights = folder / "model.safetensors"
    _truncate(weights, size if size > 0 else weights.stat().st_size + size)
    message = _load("janus-pro-1b", folder)
    assert message.startswith("janus-pro-1b: ") and str(weights) in message
    assert "SafetensorError" not in message and "download it again" in message


@pytest.mark.parametrize("name", ["config.json", "generation_config.json", "tokenizer_config.json",
                                  "processor_config.json", "tokenizer.json"])
def test_a_half_written_json_file_is_named_with_line_and_column(sound, tmp_path, name):
    folder = _copy(sound["janus"], tmp_path)
    path = folder / name
    path.write_text(path.read_text()[:10])
    message = _load("janus-pro-1b", folder)
    assert str(path) in message and "not valid JSON (line " in message
    assert "JSONDecodeError" not in message


def test_a_missing_config_json_is_refused_at_once_not_built_at_full_size(sound, tmp_path):
    folder = _copy(sound["janus"], tmp_path)
    (folder / "config.json").unlink()
    assert _load("janus-pro-1b", folder) == f"janus-pro-1b: {folder / 'config.json'}: missing; " \
                                            "expected the model's configuration (config.json)"


def test_a_config_without_model_type_names_the_field(sound, tmp_path):
    folder = _copy(sound["janus"], tmp_path)
    config = json.loads((folder / "config.json").read_text())
    del config["model_type"]
    (folder / "config.json").write_text(json.dumps(config))
    message = _load("janus-pro-1b", folder)
    assert str(folder / "config.json") in message and "field 'model_type'" in message


def test_a_shard_index_naming_a_missing_shard_names_the_shard(sound, tmp_path):
    folder = _copy(sound["janus"], tmp_path)
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    shard_map = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(shard_map))
    message = _load("janus-pro-1b", folder)
    assert "model-00002-of-00002.safetensors" in message and "model.safetensors.index.json" in message


def test_a_checkpoint_folder_that_does_not_exist_is_said_so(tmp_path):
    missing = tmp_path / "Janus-Pro-1B"
    assert _load("janus-pro-1b", missing) == f"janus-pro-1b: checkpoint folder {missing} does not exist"


def test_a_pipeline_without_a_component_folder_names_model_index_and_the_component(sound, tmp_path):
    folder = _copy(sound["pipeline"], tmp_path)
    shutil.rmtree(folder / "vae")
    message = _load("omnigen", folder)
    assert str(folder / "model_index.json") in message and "'vae'" in message and str(folder / "vae") in message


def test_a_truncated_pipeline_component_is_named(sound, tmp_path):
    folder = _copy(sound["pipeline"], tmp_path)
    weights = next((folder / "transformer").glob("*.safetensors"))
    _truncate(weights, weights.stat().st_size - 100)
    message = _load("omnigen", folder)
    assert message.startswith("omnigen: ") and str(weights) in message and "truncated" in message


def test_a_sharded_checkpoint_as_the_7b_ships_it_loads(sound, tmp_path):
    """Janus-Pro-7B ships model-0000N-of-0000M.safetensors with model.safetensors.index.json."""
    from transformers import JanusForConditionalGeneration

    folder = _copy(sound["janus"], tmp_path)
    (folder / "model.safetensors").unlink()
    JanusForConditionalGeneration.from_pretrained(sound["janus"]).save_pretrained(folder, max_shard_size="4MB")
    assert len(list(folder.glob("model-*-of-*.safetensors"))) > 1 and (folder / "model.safetensors.index.json").is_file()
    _loads("janus-pro-7b", folder)


def _loads(card_name: str, folder: Path, **params) -> None:
    """The real card, pointed at ``folder`` with ``params`` added, loads."""
    card = CARDS[card_name]
    card = dataclasses.replace(card, dtype="float32", checkpoints={c: str(folder) for c in card.checkpoints},
                               params={**card.params, **params})
    pool = ModelPool({card.name: card}, device="cpu")
    with loaded(pool, card.name) as adapter:
        assert adapter.memory_bytes() > 0
    pool.close()


def test_sound_checkpoints_still_load(sound):
    _loads("janus-pro-1b", sound["janus"])
    _loads("omnigen", sound["pipeline"])


def _variant_only(sound: Path, tmp_path: Path, save) -> Path:
    """A copy of ``sound`` whose weights are replaced by ``save(folder)``'s."""
    folder = _copy(sound, tmp_path)
    for old in folder.glob("*.safetensors"):
        old.unlink()
    save(folder)
    return folder


def _save_bin(model, folder: Path, variant: str | None = None) -> None:
    """What transformers 4.x's save_pretrained(variant=..., safe_serialization=False) wrote: the state dict as
    pytorch_model[.VARIANT].bin (transformers 5 saves safetensors only; it still loads .bin files)."""
    model.save_pretrained(folder)
    for written in folder.glob("model*.safetensors*"):
        written.unlink()
    torch.save(model.state_dict(), folder / f"pytorch_model{'.' + variant if variant else ''}.bin")


@pytest.mark.parametrize("layout", ["safetensors", "bin"])
def test_weights_only_as_a_variant_name_the_variant_to_set_and_load_with_it(sound, tmp_path, layout):
    """model.fp16.safetensors or pytorch_model.fp16.bin alone: from_pretrained(variant="fp16") loads them,
    from_pretrained() does not. The check says which variant to set, and with it the card loads."""
    from transformers import JanusForConditionalGeneration

    model = JanusForConditionalGeneration.from_pretrained(sound["janus"])
    save = ((lambda f: model.save_pretrained(f, variant="fp16")) if layout == "safetensors"
            else (lambda f: _save_bin(model, f, "fp16")))
    folder = _variant_only(sound["janus"], tmp_path, save)
    weights = {"safetensors": "model.fp16.safetensors", "bin": "pytorch_model.fp16.bin"}[layout]
    assert (folder / weights).is_file() and not list(folder.glob("model.safetensors"))
    message = _load("janus-pro-1b", folder)
    assert message.startswith("janus-pro-1b: ") and weights in message
    assert "params.variant: fp16" in message and "no weights;" not in message
    _loads("janus-pro-1b", folder, variant="fp16")


def test_a_pipeline_component_only_as_a_variant_bin_names_the_variant_and_loads_with_it(sound, tmp_path):
    """diffusers' save_pretrained(variant="fp16", safe_serialization=False) writes diffusion_pytorch_model.fp16.bin."""
    from diffusers import OmniGenTransformer2DModel

    sub = "transformer"
    model = OmniGenTransformer2DModel.from_pretrained(sound["pipeline"] / sub)
    folder = _copy(sound["pipeline"], tmp_path)
    for old in (folder / sub).glob("*.safetensors"):
        old.unlink()
    model.save_pretrained(folder / sub, variant="fp16", safe_serialization=False)
    assert [p.name for p in (folder / sub).glob("*.bin")] == ["diffusion_pytorch_model.fp16.bin"]
    message = _load("omnigen", folder)
    assert "diffusion_pytorch_model.fp16.bin" in message and "params.variant: fp16" in message
    _loads("omnigen", folder, variant="fp16")


def test_unvarianted_bin_weights_load(sound, tmp_path):
    """pytorch_model.bin alone (as transformers 4.x saved it with safe_serialization=False)."""
    from transformers import JanusForConditionalGeneration

    model = JanusForConditionalGeneration.from_pretrained(sound["janus"])
    single = _variant_only(sound["janus"], tmp_path, lambda f: _save_bin(model, f))
    assert (single / "pytorch_model.bin").is_file()
    _loads("janus-pro-1b", single)


def test_a_variant_the_folder_lacks_is_named(sound, tmp_path):
    message = _load("janus-pro-1b", sound["janus"], variant="fp16")
    assert "no weights of variant 'fp16'" in message and "model.safetensors" in message
