"""A broken or missing file in a real-format checkpoint (tests/real_format.py; a diffusers pipeline saved by
the tiny builder) is refused with one line that names the file and what was expected, before transformers
or diffusers read it: not a library's bare ``SafetensorError``/``JSONDecodeError``, and not a full-size
default model built for minutes when ``config.json`` is missing."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from realunify_arena.adapters import LOADING, ModelUnavailable
from realunify_arena.adapters.checkpoint_files import check_checkpoint
from realunify_arena.adapters.tiny import TINY_BUILDERS
from realunify_arena.cards import load_cards
from realunify_arena.protocols import loaded
from realunify_arena.runtime import ModelPool


CARDS = load_cards()


@pytest.fixture(scope="module")
def sound(tmp_path_factory, real_format_build) -> dict[str, Path]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("sound")
    with LOADING:  # no load of an earlier module's pool meanwhile: see conftest's real_format_build
        TINY_BUILDERS["pair"](root / "pair")
    yield {"janus": real_format_build("build_janus_pro", root / "janus"), "pipeline": root / "pair" / "pipeline"}
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


@pytest.mark.parametrize("card", ["janus-pro-1b", "omnigen"])
def test_weights_sharded_as_a_variant_name_the_one_variant_and_load_with_it(sound, tmp_path, card):
    """save_pretrained(variant="fp16", max_shard_size=...) writes model.safetensors.index.fp16.json and its shards
    model.fp16-00001-of-0000N.safetensors (transformers and diffusers alike): one variant, fp16, not a variant per
    shard ("'fp16' or 'fp16-00001-of-00004' or ...")."""
    if card == "omnigen":
        from diffusers import OmniGenTransformer2DModel

        folder = _copy(sound["pipeline"], tmp_path)
        where, stem = folder / "transformer", "diffusion_pytorch_model"
        model, size = OmniGenTransformer2DModel.from_pretrained(where), "200KB"
    else:
        from transformers import JanusForConditionalGeneration

        folder = where = _copy(sound["janus"], tmp_path)
        model, size, stem = JanusForConditionalGeneration.from_pretrained(sound["janus"]), "4MB", "model"
    for old in where.glob("*.safetensors"):
        old.unlink()
    model.save_pretrained(where, variant="fp16", max_shard_size=size)
    shards = sorted(p.name for p in where.glob(f"{stem}.fp16-*-of-*.safetensors"))
    assert len(shards) > 1 and (where / f"{stem}.safetensors.index.fp16.json").is_file()
    assert _load(card, folder) == (f"{card}: {where}: weights only as variant 'fp16' "
                                   f"({stem}.safetensors.index.fp16.json); set the card's params.variant: fp16 "
                                   "(from_pretrained(variant='fp16') loads them)")
    _loads(card, folder, variant="fp16")


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


# ---- what the folder holds, checked against what the loading class and the adapter need ----------------


def _edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    for key, value in changes.items():
        if value is None:
            del data[key]
    path.write_text(json.dumps(data))


def test_a_config_of_another_model_type_is_refused_before_a_default_model_is_built(sound, tmp_path):
    """JanusForConditionalGeneration.from_pretrained on another type's config.json only warns and builds a
    Janus model from whatever fields it finds (full size for a real 7B Qwen config: the process is killed)."""
    folder = _copy(sound["janus"], tmp_path)
    _edit_json(folder / "config.json", model_type="emu3")
    assert _load("janus-pro-1b", folder) == (f"janus-pro-1b: {folder / 'config.json'}: field 'model_type' is "
                                              "'emu3'; expected 'janus'")


def test_a_vlm_card_on_a_model_type_no_image_text_to_text_class_loads_is_refused(sound, tmp_path):
    folder = _copy(sound["janus"], tmp_path)
    _edit_json(folder / "config.json", model_type="llama")
    message = _load("qwen2.5-vl-7b", folder)
    assert message.startswith(f"qwen2.5-vl-7b: {folder / 'config.json'}: field 'model_type' is 'llama'; "
                              "expected one of ")
    assert " model types, e.g. " in message


def test_a_chat_template_only_in_tokenizer_config_is_used(sound, tmp_path):
    """Checkpoints saved before processors had their own template keep it in tokenizer_config.json."""
    from PIL import Image

    from realunify_arena.families import GenerationOptions

    folder = _copy(sound["janus"], tmp_path)
    template = (folder / "chat_template.jinja").read_text()
    (folder / "chat_template.jinja").unlink()
    _edit_json(folder / "tokenizer_config.json", chat_template=template)
    card = dataclasses.replace(CARDS["janus-pro-1b"], dtype="float32",
                               checkpoints={c: str(folder) for c in CARDS["janus-pro-1b"].checkpoints})
    pool = ModelPool({card.name: card}, device="cpu")
    try:
        with loaded(pool, card.name) as adapter:
            answer = adapter.understand([Image.new("RGB", (32, 32))], "What is it?",
                                        GenerationOptions(max_new_tokens=2))
            assert isinstance(answer, str)
            assert adapter.processor.chat_template == template
    finally:
        pool.close()


def _processor_case(folder: Path, case: str) -> str:
    """Break ``folder`` as ``case`` says; the reason expected (after the folder)."""
    if case == "no-chat-template":
        (folder / "chat_template.jinja").unlink()
        return ("no chat template; expected chat_template.jinja, chat_template.json, or a 'chat_template' field in "
                "tokenizer_config.json")
    if case == "no-image-processor":
        _edit_json(folder / "processor_config.json", image_processor=None)
        return "no image processor; expected preprocessor_config.json, or an 'image_processor' field in " \
               "processor_config.json"
    (folder / "tokenizer.json").unlink()
    return ("no tokenizer; expected tokenizer.json (or tokenizer_config.json with its vocabulary: tokenizer.model, "
            "vocab.json, vocab.txt, spiece.model, sentencepiece.bpe.model or a .tiktoken file)")


@pytest.mark.parametrize("case", ["no-chat-template", "no-image-processor", "no-tokenizer"])
@pytest.mark.parametrize("card", ["janus-pro-1b", "qwen2.5-vl-7b"])
def test_a_processor_part_the_adapter_needs_is_named_before_loading(sound, tmp_path, case, card):
    folder = _copy(sound["janus"], tmp_path)
    reason = _processor_case(folder, case)
    assert _load(card, folder) == f"{card}: {folder}: {reason}"


def test_a_legacy_layout_with_preprocessor_config_and_chat_template_json_runs(sound, tmp_path):
    """The layout of checkpoints saved by transformers 4.4x: the image processor in preprocessor_config.json,
    the template in chat_template.json."""
    folder = _copy(sound["janus"], tmp_path)
    processor = json.loads((folder / "processor_config.json").read_text())
    (folder / "preprocessor_config.json").write_text(json.dumps(processor.pop("image_processor")))
    (folder / "processor_config.json").write_text(json.dumps(processor))
    template = (folder / "chat_template.jinja").read_text()
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    (folder / "chat_template.jinja").unlink()
    _loads("janus-pro-1b", folder)


def _hub_cache(source: Path, cache: Path, repo: str, *, lost: str | None = None) -> Path:
    """``source`` laid out as huggingface_hub caches ``repo``: snapshots/REVISION/* are relative links into
    blobs/SHA256; ``lost``: that file's blob is missing (an interrupted download)."""
    import hashlib
    import os

    root = cache / f"models--{repo.replace('/', '--')}"
    revision = "0123456789abcdef0123456789abcdef01234567"
    snapshot = root / "snapshots" / revision
    (root / "blobs").mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(revision)
    for path in sorted(source.rglob("*")):
        link = snapshot / path.relative_to(source)
        if path.is_dir():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        blob = root / "blobs" / hashlib.sha256(path.read_bytes()).hexdigest()
        if path.name != lost:
            shutil.copyfile(path, blob)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_a_hub_cache_snapshot_of_links_into_blobs_loads(sound, hub_cache):
    _hub_cache(sound["janus"], hub_cache, "deepseek-community/Janus-Pro-1B")
    _loads("janus-pro-1b", "deepseek-community/Janus-Pro-1B")


@pytest.mark.parametrize(("card", "source"), [("janus-pro-1b", "janus"), ("omnigen", "pipeline")])
@pytest.mark.parametrize("named", ["repository", "snapshots"])
def test_a_hub_cache_folder_named_as_the_checkpoint_names_the_hub_id_and_the_snapshot(sound, hub_cache, card, source,
                                                                                      named):
    """``checkpoint: ~/.cache/huggingface/hub/models--deepseek-community--Janus-Pro-1B`` (or its ``snapshots``):
    transformers and diffusers find no config.json or model_index.json there. The refusal says what the folder is and
    what to give instead, in ``models`` as at the load."""
    from realunify_arena.availability import availability

    snapshot = _hub_cache(sound[source], hub_cache, "deepseek-community/Janus-Pro-1B")
    repository = snapshot.parent.parent
    folder = repository if named == "repository" else repository / "snapshots"
    expected = (f"{folder}: a Hugging Face cache folder of deepseek-community/Janus-Pro-1B, not a checkpoint folder; "
                f"expected the hub id deepseek-community/Janus-Pro-1B as the checkpoint (its cached snapshot is read) "
                f"or its snapshot folder {snapshot}")
    assert _load(card, folder) == f"{card}: {expected}"
    shown = dataclasses.replace(CARDS[card], checkpoints={c: str(folder) for c in CARDS[card].checkpoints})
    assert availability(shown, device="cpu") == (False, expected)
    _loads(card, snapshot)  # the snapshot folder it names loads


@pytest.mark.parametrize("lost", ["model.safetensors", "config.json"])
def test_a_hub_cache_link_to_a_missing_blob_is_named(sound, hub_cache, lost):
    snapshot = _hub_cache(sound["janus"], hub_cache, "deepseek-community/Janus-Pro-1B", lost=lost)
    message = _load("janus-pro-1b", "deepseek-community/Janus-Pro-1B")
    assert message.startswith(f"janus-pro-1b: {snapshot / lost}: a link to ../../blobs/")
    assert message.endswith(", which is missing (an interrupted download?); download it again")


@pytest.mark.parametrize(("component", "lost", "expected"), [
    ("transformer", "config.json", "{sub}/config.json: missing; expected the model's configuration"),
    ("scheduler", "scheduler_config.json", "{sub}/scheduler_config.json: missing; expected the scheduler's"),
    ("tokenizer", "tokenizer.json", "{sub}: no tokenizer; expected tokenizer.json"),
])
def test_a_pipeline_component_folder_without_its_files_is_named(sound, tmp_path, component, lost, expected):
    folder = _copy(sound["pipeline"], tmp_path)
    (folder / component / lost).unlink()
    message = _load("omnigen", folder)
    assert message.startswith("omnigen: " + expected.format(sub=folder / component))
    assert f"({folder / 'model_index.json'} names it as " in message


@pytest.mark.parametrize(("change", "said"), [
    ({"vocab_size": "102400"}, "Field 'vocab_size' expected int, got str (value: '102400')"),
    ("llama", "Field 'text_config' expected dict, got str (value: 'llama')"),
], ids=["vocab_size-a-string", "text_config-a-string"])
def test_a_config_field_of_the_wrong_type_is_named_in_one_line_with_the_file(sound, tmp_path, change, said):
    folder = _copy(sound["janus"], tmp_path)
    config = json.loads((folder / "config.json").read_text())
    if isinstance(change, dict):
        config["text_config"].update(change)
    else:
        config["text_config"] = change
    (folder / "config.json").write_text(json.dumps(config))
    message = _load("janus-pro-1b", folder)
    assert message.startswith(f"janus-pro-1b: {folder / 'config.json'}: ") and said in message
    assert message.endswith("; expected the configuration as the checkpoint ships it")


@pytest.mark.parametrize(("field", "value", "said"), [
    ("_class_name", None, "field '_class_name' missing; expected the name of a diffusers pipeline class"),
    ("_class_name", "OmniGenPipelin", "field '_class_name' is 'OmniGenPipelin'; expected the name of a diffusers"),
    ("vae", ["diffusers", "AutoencoderKLX"], "field 'vae' names diffusers AutoencoderKLX, which diffusers lacks"),
], ids=["no-pipeline-class", "misspelt-pipeline-class", "misspelt-component-class"])
def test_a_model_index_naming_no_or_an_unknown_class_is_refused_naming_the_field(sound, tmp_path, field, value, said):
    folder = _copy(sound["pipeline"], tmp_path)
    index = folder / "model_index.json"
    content = json.loads(index.read_text())
    content.pop(field)
    if value is not None:
        content[field] = value
    index.write_text(json.dumps(content))
    assert _load("omnigen", folder).startswith(f"omnigen: {index}: {said}")


@pytest.mark.parametrize("name", ["image_token", "boi_token", "eoi_token"])
def test_a_tokenizer_without_a_token_the_janus_processor_reads_is_named(sound, tmp_path, name):
    """JanusProcessor reads tokenizer.image_token/boi_token/eoi_token; without one it raised a bare
    ``AttributeError: TokenizersBackend has no attribute boi_token``."""
    folder = _copy(sound["janus"], tmp_path)
    _edit_json(folder / "tokenizer_config.json", **{name: None})
    assert _load("janus-pro-1b", folder) == (
        f"janus-pro-1b: {folder / 'tokenizer_config.json'}: field '{name}': missing; expected the token the processor"
        f" reads as its {name} (a field of tokenizer_config.json or of its extra_special_tokens)")



# ---- nested configurations and token ids, checked before any load ------------------------------------------


def _edit_nested(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def emu3(tmp_path_factory, real_format_build) -> Path:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield real_format_build("build_emu3", tmp_path_factory.mktemp("emu3") / "emu3")
    torch.set_num_threads(threads)


@pytest.mark.parametrize(("field", "expected"), [("vq_config", "janus_vqgan"), ("vision_config", "janus_vision_model"),
                                                 ("text_config", "llama")])
def test_a_missing_nested_janus_config_is_refused_naming_the_field_before_a_default_is_built(sound, tmp_path, field,
                                                                                         expected):
    """JanusConfig fills a missing sub-configuration with its full-size default (a 7B Llama for text_config):
    the load then failed on hundreds of size mismatches, or ran out of memory."""
    folder = _copy(sound["janus"], tmp_path)
    _edit_nested(folder / "config.json", lambda c: c.pop(field))
    assert _load("janus-pro-1b", folder) == (
        f"janus-pro-1b: {folder / 'config.json'}: field '{field}': missing; expected the '{expected}' configuration "
        "(a JSON object; without it transformers builds its full-size default)")


@pytest.mark.parametrize(("field", "other", "expected"), [("vq_config", "emu3_vqgan", "janus_vqgan"),
                                                          ("text_config", "qwen2", "llama")])
def test_a_nested_janus_config_of_another_model_type_is_named(sound, tmp_path, field, other, expected):
    folder = _copy(sound["janus"], tmp_path)
    _edit_nested(folder / "config.json", lambda c: c[field].update(model_type=other))
    assert _load("janus-pro-1b", folder) == (f"janus-pro-1b: {folder / 'config.json'}: field '{field}.model_type' is "
                                              f"'{other}'; expected '{expected}'")


def test_a_missing_nested_emu3_config_is_named(emu3, tmp_path):
    folder = _copy(emu3, tmp_path)
    _edit_nested(folder / "config.json", lambda c: c.pop("vq_config"))
    assert _load("emu3", folder) == (
        f"emu3: {folder / 'config.json'}: field 'vq_config': missing; expected the 'emu3_vqgan' configuration "
        "(a JSON object; without it transformers builds its full-size default)")


def _set_added_token_id(tokenizer: dict, content: str, new_id: int) -> None:
    (entry,) = [a for a in tokenizer["added_tokens"] if a["content"] == content]
    entry["id"] = new_id


# Janus-Pro-1B: vocab_size 102400, <begin_of_image> 100016, <image_placeholder> 100581 (real-format.md)
@pytest.mark.parametrize(("name", "edit", "said"), [
    ("generation_config.json", lambda c: c["generation_kwargs"].update(boi_token_id=102400),
     "field 'generation_kwargs.boi_token_id' is 102400; expected an id below the model's vocab_size 102400 "
     "(config.json text_config.vocab_size)"),
    ("generation_config.json", lambda c: c["generation_kwargs"].update(boi_token_id=100017),
     "field 'generation_kwargs.boi_token_id' is 100017; expected 100016, the id of the tokenizer's boi_token "
     "'<begin_of_image>' (tokenizer_config.json)"),
    ("generation_config.json", lambda c: c.update(eos_token_id=[100001, -1]),
     "field 'eos_token_id' is [100001, -1]; expected a token id (a whole number, 0 or more)"),
    ("config.json", lambda c: c.update(image_token_id=200000),
     "field 'image_token_id' is 200000; expected an id below the model's vocab_size 102400"),
    ("config.json", lambda c: c.update(image_token_id=100016),
     "field 'image_token_id' is 100016; expected 100581, the id of the tokenizer's image_token "
     "'<image_placeholder>'"),
    ("tokenizer.json", lambda c: _set_added_token_id(c, "<begin_of_image>", 102500),
     "token '<begin_of_image>' (field 'boi_token' of tokenizer_config.json) has id 102500; expected an id below the "
     "model's vocab_size 102400 (config.json text_config.vocab_size)"),
], ids=["boi-past-vocab", "boi-not-the-tokenizers", "eos-negative", "image-past-vocab", "image-not-the-tokenizers",
        "tokenizer-boi-past-vocab"])
def test_a_janus_token_id_outside_the_vocabulary_or_disagreeing_is_named(sound, tmp_path, name, edit, said):
    folder = _copy(sound["janus"], tmp_path)
    _edit_nested(folder / name, edit)
    assert _load("janus-pro-1b", folder).startswith(f"janus-pro-1b: {folder / name}: {said}")


def test_a_janus_special_token_the_tokenizer_lacks_is_named(sound, tmp_path):
    folder = _copy(sound["janus"], tmp_path)
    _edit_json(folder / "tokenizer_config.json", boi_token="<boi>")
    assert _load("janus-pro-1b", folder) == (
        f"janus-pro-1b: {folder / 'tokenizer_config.json'}: field 'boi_token' is '<boi>', which "
        f"{folder / 'tokenizer.json'} lacks; expected a token of the tokenizer's vocabulary")


# Emu3: vocab_size 184622, <image> 151646, <|image start|> 151852 (real-format.md)
@pytest.mark.parametrize(("name", "edit", "said"), [
    ("generation_config.json", lambda c: c.update(eos_token_id=190000),
     "field 'eos_token_id' is 190000; expected an id below the model's vocab_size 184622"),
    ("config.json", lambda c: c.update(image_token_id=151647),
     "field 'image_token_id' is 151647; expected 151646, the id of the tokenizer's image_token '<image>'"),
    ("tokenizer.json", lambda c: _set_added_token_id(c, "<|image start|>", 184700),
     "token '<|image start|>' (field 'boi_token' of tokenizer_config.json) has id 184700; expected an id below the "
     "model's vocab_size 184622"),
], ids=["eos-past-vocab", "image-not-the-tokenizers", "tokenizer-boi-past-vocab"])
def test_an_emu3_token_id_outside_the_vocabulary_or_disagreeing_is_named(emu3, tmp_path, name, edit, said):
    folder = _copy(emu3, tmp_path)
    _edit_nested(folder / name, edit)
    assert _load("emu3", folder).startswith(f"emu3: {folder / name}: {said}")


# OmniGenPipeline.__init__(transformer, scheduler, vae, tokenizer): none optional (diffusers 0.42.1)
@pytest.mark.parametrize(("component", "spec", "said"), [
    ("vae", [None, None], "field 'vae' is [null, null]; expected the 'AutoencoderKL' component OmniGenPipeline needs"),
    ("transformer", [None, None], "field 'transformer' is [null, null]; expected the 'OmniGenTransformer2DModel' "
                                  "component OmniGenPipeline needs"),
    ("vae", ["diffusers", None], "field 'vae' is [\"diffusers\", null]; expected [library, class name] (two strings"),
    ("vae", "AutoencoderKL", "field 'vae' is \"AutoencoderKL\"; expected [library, class name] (two strings"),
    ("vae", ..., "no field 'vae'; expected the 'AutoencoderKL' component OmniGenPipeline needs"),
], ids=["vae-null", "transformer-null", "half-null", "a-string", "left-out"])
def test_a_model_index_component_null_malformed_or_left_out_is_named(sound, tmp_path, component, spec, said):
    """diffusers said "Pipeline <class ...> expected [...], but only {...} were passed" after loading the other
    components, or a bare "'NoneType' object has no attribute 'startswith'" / "too many values to unpack"."""
    folder = _copy(sound["pipeline"], tmp_path)
    index = folder / "model_index.json"
    _edit_nested(index, lambda c: c.pop(component) if spec is ... else c.update({component: spec}))
    assert _load("omnigen", folder).startswith(f"omnigen: {index}: {said}")


@pytest.mark.parametrize(("edit", "field", "value"), [
    (lambda c: c.update(dtype="bf16"), "dtype", "'bf16'"),
    (lambda c: (c.pop("dtype"), c.update(torch_dtype="float8")), "torch_dtype", "'float8'"),
    (lambda c: c.update(dtype="auto"), "dtype", "'auto'"),
    (lambda c: c["text_config"].update(dtype=16), "text_config.dtype", "16"),
], ids=["bf16", "torch_dtype-float8", "auto", "nested-number"])
def test_a_config_dtype_that_names_no_torch_dtype_is_named(sound, tmp_path, edit, field, value):
    """transformers said "module 'torch' has no attribute 'bf16'" (or ignored a number)."""
    folder = _copy(sound["janus"], tmp_path)
    _edit_nested(folder / "config.json", edit)
    assert _load("janus-pro-1b", folder) == (f"janus-pro-1b: {folder / 'config.json'}: field '{field}' is {value}; "
                                              "expected a torch dtype name ('bfloat16', 'float16' or 'float32')")


def test_a_config_with_torch_dtype_as_older_checkpoints_name_it_loads(sound, tmp_path):
    folder = _copy(sound["janus"], tmp_path)
    _edit_nested(folder / "config.json", lambda c: (c.pop("dtype"), c.update(torch_dtype="float16")))
    _loads("janus-pro-1b", folder)


@pytest.mark.parametrize(("edit", "said"), [
    (lambda c: c.update(generation_kwargs="boi_token_id=100016"),
     "field 'generation_kwargs' is a string; expected a JSON object"),
    (lambda c: c.update(max_new_tokens=-1), "`max_new_tokens` must be greater than 0, but is -1."),
], ids=["generation_kwargs-a-string", "max_new_tokens-negative"])
def test_a_generation_config_transformers_cannot_use_is_named_before_loading(sound, tmp_path, edit, said):
    """Both failed only after the weights were loaded, as a bare ValueError."""
    folder = _copy(sound["janus"], tmp_path)
    _edit_nested(folder / "generation_config.json", edit)
    assert _load("janus-pro-1b", folder).startswith(
        f"janus-pro-1b: {folder / 'generation_config.json'}: {said}")


@pytest.mark.parametrize("shard_kept", [True, False], ids=["shard-on-disk", "shard-gone-too"])
def test_a_shard_index_that_leaves_out_a_shard_of_its_numbered_set_is_named(sound, tmp_path, shard_kept):
    """An index whose weight_map lacks the last shard's tensors loaded silently, those tensors left at random
    values (transformers only printed a MISSING report)."""
    from transformers import JanusForConditionalGeneration

    folder = _copy(sound["janus"], tmp_path)
    (folder / "model.safetensors").unlink()
    JanusForConditionalGeneration.from_pretrained(sound["janus"]).save_pretrained(folder, max_shard_size="4MB")
    index = folder / "model.safetensors.index.json"
    shards = sorted(folder.glob("model-*-of-*.safetensors"))
    last = shards[-1].name
    assert last == f"model-{len(shards):05d}-of-{len(shards):05d}.safetensors"
    _edit_nested(index, lambda c: c.update(weight_map={k: v for k, v in c["weight_map"].items() if v != last}))
    if not shard_kept:
        shards[-1].unlink()
    held = "" if shard_kept else f" (and {folder} lacks it)"
    assert _load("janus-pro-1b", folder) == (
        f"janus-pro-1b: {index}: field 'weight_map' names no tensor of {last}{held}; expected every shard of the "
        "numbered set its shard names count (their tensors would be left at random values)")


def test_an_emu3_vocabulary_map_with_a_dtype_token_is_no_dtype_field(emu3, tmp_path):
    """Emu3's config.json carries ``vocabulary_map``, the whole BPE vocabulary (token -> id) as the conversion
    script writes it; a byte-level BPE over code has a token ``dtype``. Its id is no dtype field: the checkpoint
    was refused with "field 'vocabulary_map.dtype' is 47727; expected a torch dtype name"."""
    folder = _copy(emu3, tmp_path)
    _edit_nested(folder / "config.json", lambda c: c["vocabulary_map"].update(dtype=47727, torch_dtype=47728))
    _loads("emu3", folder)


def _tiny_stable_diffusion(folder: Path) -> Path:
    """A StableDiffusionPipeline saved by diffusers' own save_pretrained: its model_index.json holds the setting
    ``"requires_safety_checker": false`` beside the components (register_to_config), and
    ``safety_checker``/``feature_extractor`` as [null, null]."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    words = folder.parent / "words"
    words.mkdir()
    (words / "vocab.json").write_text(json.dumps({"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2}))
    (words / "merges.txt").write_text("#version: 0.2\n")
    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=8, cross_attention_dim=8,
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), norm_num_groups=4,
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=2)
    vae = AutoencoderKL(block_out_channels=(8,), latent_channels=4, norm_num_groups=4)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=3, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                        num_attention_heads=2, bos_token_id=0, eos_token_id=1, pad_token_id=1))
    StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=CLIPTokenizer(str(words / "vocab.json"),
                                                                                str(words / "merges.txt")),
                            unet=unet, scheduler=DDIMScheduler(), safety_checker=None, feature_extractor=None,
                            requires_safety_checker=False).save_pretrained(folder)
    return folder


def test_a_pipeline_setting_in_model_index_is_no_malformed_component(tmp_path):
    """``requires_safety_checker: false`` was refused as "expected [library, class name]" (and a diffusers
    pipeline loads it); a component given as a bare value is still refused."""
    from diffusers import StableDiffusionPipeline

    from realunify_arena.adapters.checkpoint_files import check_checkpoint

    folder = _tiny_stable_diffusion(tmp_path / "sd")
    assert json.loads((folder / "model_index.json").read_text())["requires_safety_checker"] is False
    check_checkpoint(str(folder), "diffusers")
    StableDiffusionPipeline.from_pretrained(folder)
    _edit_nested(folder / "model_index.json", lambda c: c.update(vae=True))
    with pytest.raises(ModelUnavailable, match=r"field 'vae' is true; expected \[library, class name\]"):
        check_checkpoint(str(folder), "diffusers")


def test_a_component_class_transformers_renamed_is_read_as_diffusers_loads_it(tmp_path):
    """Stable Diffusion 1.x folders name their feature extractor ["transformers", "CLIPFeatureExtractor"], a class
    transformers 5 no longer exports; diffusers loads it as CLIPImageProcessor (its _TRANSFORMERS_CLASS_REMAPPING).
    The check refused it ("which transformers lacks"). A class no release has is still refused."""
    from diffusers import DiffusionPipeline
    from transformers import CLIPImageProcessor

    folder = _tiny_stable_diffusion(tmp_path / "sd")
    CLIPImageProcessor().save_pretrained(folder / "feature_extractor")
    _edit_nested(folder / "model_index.json", lambda c: c.update(feature_extractor=["transformers",
                                                                                    "CLIPFeatureExtractor"]))
    assert isinstance(DiffusionPipeline.from_pretrained(folder).feature_extractor, CLIPImageProcessor)
    check_checkpoint(str(folder), "diffusers")
    _edit_nested(folder / "model_index.json", lambda c: c.update(feature_extractor=["transformers",
                                                                                    "CLIPFeatureExtracter"]))
    with pytest.raises(ModelUnavailable, match="names transformers CLIPFeatureExtracter, which transformers lacks;"):
        check_checkpoint(str(folder), "diffusers")


# the wire bytes of a SentencePiece ModelProto holding one piece, "<unk>" (score 0, type UNKNOWN): how every
# tokenizer.model of Llama, T5 (spiece.model) and their kin begins
_SENTENCEPIECE = b"\n\x0e\n\x05<unk>\x15\x00\x00\x00\x00\x18\x02"
_TIKTOKEN = b"IQ== 0\nIg== 1\nIw== 2\n"  # "<base64 of the token's bytes> <rank>" lines


@pytest.mark.parametrize(("content", "kind", "needed"), [
    (_SENTENCEPIECE, "a SentencePiece model", {"sentencepiece": "sentencepiece", "protobuf": "google.protobuf"}),
    (_TIKTOKEN, "a tiktoken file", {"tiktoken": "tiktoken"}),
], ids=["sentencepiece", "tiktoken"])
def test_a_tokenizer_model_without_tokenizer_json_names_the_packages_transformers_reads_it_with(sound, tmp_path,
                                                                                              content, kind, needed):
    """A checkpoint whose tokenizer is only tokenizer.model (a Llama or T5 saved before tokenizer.json). transformers
    5.24 converts a SentencePiece model only with sentencepiece and protobuf (SentencePieceExtractor), else falls back
    to reading it as tiktoken; without them the load failed as "`tiktoken` is required to read a `tiktoken` file",
    naming neither the file nor sentencepiece. Checked by hand: with both installed a Llama tokenizer.model loads."""
    import importlib.util

    def importable(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except ImportError:
            return False

    missing = [package for package, module in needed.items() if not importable(module)]
    if not missing:
        pytest.skip(f"{', '.join(needed)} installed: transformers reads the file")
    folder = _copy(sound["janus"], tmp_path)
    (folder / "tokenizer.json").unlink()
    (folder / "tokenizer.model").write_bytes(content)
    _edit_nested(folder / "tokenizer_config.json", lambda c: c.update(tokenizer_class="LlamaTokenizer"))
    verb = "is" if len(missing) == 1 else "are"
    assert _load("janus-pro-1b", folder) == (
        f"janus-pro-1b: {folder / 'tokenizer.model'}: {kind} and no tokenizer.json beside it; transformers reads it "
        f"only with the {' and '.join(needed)} package{'s' * (len(needed) > 1)}, and {' and '.join(missing)} {verb} "
        f"not installed here (pip install {' '.join(missing)}, or add the checkpoint's tokenizer.json)")


def _newer(library: str) -> str:
    """A release of ``library`` newer than the one installed."""
    from importlib.metadata import version

    major, minor, *_ = version(library).split(".")
    return f"{major}.{int(minor) + 1}.0"


@pytest.mark.parametrize(("where", "file", "edit", "said"), [
    ("pipeline", "model_index.json", lambda c, v: c.update(_class_name="OmniGen3Pipeline", _diffusers_version=v),
     "field '_class_name' is 'OmniGen3Pipeline' (model_index.json was written by diffusers {v}, newer than this "
     "diffusers {installed}, which may not know it); expected the name of a diffusers pipeline class (e.g. "
     "'OmniGenPipeline')"),
    ("pipeline", "model_index.json", lambda c, v: c.update(transformer=["diffusers", "OmniGen3Transformer2DModel"],
                                                          _diffusers_version=v),
     "field 'transformer' names diffusers OmniGen3Transformer2DModel, which diffusers lacks (model_index.json was "
     "written by diffusers {v}, newer than this diffusers {installed}, which may not know it); expected a diffusers "
     "class"),
    ("janus", "config.json", lambda c, v: c.update(model_type="janus3", transformers_version=v),
     "field 'model_type' is 'janus3' (config.json was written by transformers {v}, newer than this transformers "
     "{installed}, which may not know it); expected 'janus'"),
], ids=["pipeline class", "component class", "model type"])
def test_a_class_or_model_type_of_a_newer_library_release_is_said_to_be_one(sound, tmp_path, where, file, edit,
                                                                             said):
    """A folder saved by a newer diffusers or transformers may name what this release lacks; the refusal says so
    (the release is the file's own _diffusers_version / transformers_version). Written by this release, it does not."""
    from importlib.metadata import version

    library = "diffusers" if file == "model_index.json" else "transformers"
    card = "omnigen" if where == "pipeline" else "janus-pro-1b"
    folder = _copy(sound[where], tmp_path)
    _edit_nested(folder / file, lambda c: edit(c, _newer(library)))
    assert _load(card, folder) == f"{card}: {folder / file}: " + said.format(v=_newer(library),
                                                                            installed=version(library))
    _edit_nested(folder / file, lambda c: edit(c, version(library)))
    assert "newer than" not in _load(card, folder)


# a key in the environment (masked by its value, not by a shape) and a field value that holds it past the
# first ~30 characters of the quoted text, so that a 100- or 300-character cut falls inside the key
_SECRET = "zz" + "Abc9" * 30 + "Tail"


def _leaks(text: str, secret: str) -> bool:
    """Whether ``text`` holds any 12 characters in a row of ``secret``."""
    return any(secret[i:i + 12] in text for i in range(len(secret) - 11))


@pytest.mark.parametrize(("sound_key", "file", "edit"), [
    ("janus", "generation_config.json", lambda c: c.update(cache_implementation="q" * 250 + _SECRET)),
    ("pipeline", "model_index.json", lambda c: c.update(vae="v" * 70 + _SECRET)),
], ids=["generation_config-refusal", "model_index-component"])
def test_a_key_quoted_in_a_checkpoint_refusal_is_masked_before_the_cut(sound, tmp_path, monkeypatch, sound_key,
                                                                       file, edit):
    """transformers' GenerationConfig refusal ("Invalid `cache_implementation` (<value>) ...") and a malformed
    model_index.json component were cut to 300 / 100 characters before the key in the value was masked: the
    message kept the key's first ~25 characters, which no later redaction matched."""
    monkeypatch.setenv("MY_SERVICE_TOKEN", _SECRET)
    folder = _copy(sound[sound_key], tmp_path)
    _edit_nested(folder / file, edit)
    message = _load("janus-pro-1b" if sound_key == "janus" else "omnigen", folder)
    assert f"{folder / file}: " in message and "***" in message and not _leaks(message, _SECRET), message


@pytest.mark.parametrize(("name", "content", "said"), [
    ("config.json", None, "null"),
    ("config.json", "janus", "a string"),
    ("preprocessor_config.json", 7, "an integer"),
], ids=["config-null", "config-a-string", "preprocessor-an-integer"])
def test_a_config_file_that_is_no_object_is_named_by_its_json_kind(sound, tmp_path, name, content, said):
    """A configuration file that is no JSON object was named by Python's type ("a JSON NoneType", "a JSON str"),
    where the other readers name a value as JSON names it (``shown.json_kind``)."""
    folder = _copy(sound["janus"], tmp_path)
    (folder / name).write_text(json.dumps(content))
    message = _load("janus-pro-1b", folder)
    assert f"{folder / name}: {said}; expected a JSON object" in message, message


def test_a_named_chat_template_without_its_template_is_named_by_its_json_kind(sound, tmp_path):
    """tokenizer_config.json's chat_template may be a list of {name, template}; an entry without its template was
    "a JSON NoneType"."""
    folder = _copy(sound["janus"], tmp_path)
    template = (folder / "chat_template.jinja").read_text()
    (folder / "chat_template.jinja").unlink()
    _edit_json(folder / "tokenizer_config.json", chat_template=[{"name": "default", "template": template},
                                                                 {"name": "tool_use"}])
    message = _load("janus-pro-1b", folder)
    assert message.endswith(f"{folder / 'tokenizer_config.json'} field 'chat_template' ('tool_use'): null; expected a "
                            "Jinja chat template (a string)"), message


def _omni_and_encoder_decoder() -> dict[str, dict]:
    """config.json as transformers' own classes write it (``to_dict``): Qwen2.5-Omni's three levels
    (``thinker_config.text_config``, ``token2wav_config.dit_config``) and an encoder-decoder's ``encoder`` /
    ``decoder`` (nested configurations named by their ``model_type``, not by a ``_config`` suffix)."""
    from transformers import BertConfig, EncoderDecoderConfig, Qwen2_5OmniConfig

    return {"omni": Qwen2_5OmniConfig().to_dict(),
            "encoder-decoder": EncoderDecoderConfig.from_encoder_decoder_configs(BertConfig(), BertConfig()).to_dict()}


@pytest.mark.parametrize(("model", "field"), [
    ("omni", "thinker_config.text_config.dtype"),
    ("omni", "thinker_config.vision_config.torch_dtype"),
    ("omni", "token2wav_config.dit_config.dtype"),
    ("encoder-decoder", "decoder.torch_dtype"),
], ids=["omni-thinker-text", "omni-thinker-vision", "omni-token2wav-dit", "encoder-decoder-decoder"])
def test_a_dtype_nested_at_any_depth_that_names_no_torch_dtype_is_named(tmp_path, model, field):
    """Only the top level and its ``*_config`` children were checked: a nested configuration's "bf16" loaded the
    check and failed at AutoConfig as "module 'torch' has no attribute 'bf16'", naming neither file nor field."""
    from transformers import AutoConfig

    from realunify_arena.adapters.checkpoint_config import dtype_problem

    content = _omni_and_encoder_decoder()[model]
    place = content
    *parents, key = field.split(".")
    for part in parents:
        place = place[part]
    place[key] = "bf16"
    (tmp_path / "config.json").write_text(json.dumps(content))
    with pytest.raises(AttributeError, match="has no attribute 'bf16'"):  # transformers itself cannot read it
        AutoConfig.from_pretrained(tmp_path)
    assert dtype_problem(tmp_path / "config.json", content) == (
        f"{tmp_path / 'config.json'}: field '{field}' is 'bf16'; expected a torch dtype name ('bfloat16', "
        "'float16' or 'float32')")


@pytest.mark.parametrize("model", ["omni", "encoder-decoder"])
def test_nested_configs_as_transformers_writes_them_pass_the_dtype_check(tmp_path, model):
    from transformers import AutoConfig

    from realunify_arena.adapters.checkpoint_config import dtype_problem

    content = _omni_and_encoder_decoder()[model]
    for fields in [content, *(v for v in content.values() if isinstance(v, dict) and "model_type" in v)]:
        fields["dtype"] = "bfloat16"
    (tmp_path / "config.json").write_text(json.dumps(content))
    AutoConfig.from_pretrained(tmp_path)
    assert dtype_problem(tmp_path / "config.json", content) is None


# A Git LFS pointer as a clone without git-lfs leaves it (the Git LFS specification, docs/spec.md of
# github.com/git-lfs/git-lfs: "version https://git-lfs.github.com/spec/v1", "oid sha256:<hex>", "size <bytes>").
LFS_POINTER = ("version https://git-lfs.github.com/spec/v1\n"
               "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 7031\n")


def _pointer_in_place_of(folder: Path, name: str) -> Path:
    path = folder / name
    path.unlink()
    path.write_text(LFS_POINTER)
    return path


def test_a_chat_template_left_as_a_git_lfs_pointer_is_named_where_transformers_renders_the_pointer(sound, tmp_path):
    """transformers takes a ``chat_template.jinja`` pointer as the template: every prompt becomes the pointer's
    lines, silently. The check passed it."""
    from transformers import AutoProcessor

    folder = _copy(sound["janus"], tmp_path)
    path = _pointer_in_place_of(folder, "chat_template.jinja")
    rendered = AutoProcessor.from_pretrained(folder).apply_chat_template(
        [{"role": "user", "content": [{"type": "text", "text": "Which cube is red?"}]}], add_generation_prompt=True)
    assert "git-lfs.github.com" in rendered and "Which cube is red?" not in rendered
    assert _load("janus-pro-1b", folder) == (
        f"janus-pro-1b: {path}: a Git LFS pointer ({len(LFS_POINTER)} bytes), not the file it points to (7031 bytes); "
        "expected the file itself (fetch it with git lfs pull in the clone, or download the checkpoint from the hub)")


@pytest.mark.parametrize("name", ["model.safetensors", "tokenizer.json", "config.json"])
def test_a_janus_file_left_as_a_git_lfs_pointer_is_named_as_one(sound, tmp_path, name):
    """The check said "truncated or not safetensors ... download it again" or "not valid JSON (line 1 column 1)
    ... (an interrupted download?)": true of the bytes, not of what happened."""
    folder = _copy(sound["janus"], tmp_path)
    path = _pointer_in_place_of(folder, name)
    assert _load("janus-pro-1b", folder).startswith(f"janus-pro-1b: {path}: a Git LFS pointer ")


def test_a_pipeline_tokenizer_vocabulary_left_as_a_git_lfs_pointer_is_named_where_transformers_fails(kontext_built,
                                                                                                    tmp_path):
    """FLUX's CLIP tokenizer reads ``tokenizer/vocab.json``; a pointer there passed the check and transformers then
    failed to load it naming no file."""
    from transformers import CLIPTokenizer

    folder = Path(shutil.copytree(kontext_built, tmp_path / kontext_built.name))
    path = _pointer_in_place_of(folder, "tokenizer/vocab.json")
    with pytest.raises(Exception) as failed:  # noqa: PT011 - the library's own error, whatever its class
        CLIPTokenizer.from_pretrained(folder / "tokenizer")
    assert str(path) not in str(failed.value)
    with pytest.raises(ModelUnavailable) as refused:
        check_checkpoint(str(folder), "diffusers")
    assert str(refused.value).startswith(f"{path}: a Git LFS pointer ")
