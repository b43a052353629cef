"""A real-format Janus-Pro folder (tests/real_format.py) broken in a way from_pretrained does not check is refused
at load with one line naming the file and the field: a config/processor disagreement that transformers finds
only in the first run ("Image features and image tokens do not match"), a chat template that does not compile,
and torch ``.bin`` weights that ``torch.load`` cannot read. Any other load failure is one line naming the card
and the folder, never a traceback."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import pickle
import shutil
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from realunify_arena.adapters import ModelUnavailable
from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool

CARDS = load_cards()


@pytest.fixture(scope="module")
def sound(tmp_path_factory, one_torch_thread, real_format_build) -> Path:
    return real_format_build("build_janus_pro", tmp_path_factory.mktemp("agree") / "janus")


def _refusal(folder: Path) -> str:
    """The one-line reason janus-pro-1b, pointed at ``folder``, does not load: ``ModelPool.preload``, as eval
    loads the model before it makes a store (a traceback there ended the command)."""
    card = CARDS["janus-pro-1b"]
    pool = ModelPool({card.name: dataclasses.replace(card, dtype="float32", checkpoints={
        c: str(folder) for c in card.checkpoints})}, device="cpu")
    with pool_closed(pool), pytest.raises(ModelUnavailable) as info:
        pool.preload([card.name])
    message = str(info.value)
    assert message.startswith("janus-pro-1b: ") and "\n" not in message and "Traceback" not in message
    return message


@contextlib.contextmanager
def pool_closed(pool: ModelPool):
    try:
        yield pool
    finally:
        pool.close()


def _copy(sound: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(sound, tmp_path / "janus"))


def _edit(path: Path, **fields) -> None:
    content = json.loads(path.read_text())
    for key, value in fields.items():
        if value is None:
            content.pop(key, None)
        else:
            content[key] = value
    path.write_text(json.dumps(content))


def _token_id(folder: Path, field: str) -> int:
    """The id tokenizer.json gives the token tokenizer_config.json names as ``field`` (read here, by hand)."""
    token = json.loads((folder / "tokenizer_config.json").read_text())[field]
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    ids = {t["content"]: t["id"] for t in tokenizer["added_tokens"]} | tokenizer["model"]["vocab"]
    return ids[token]


def _as_7b_tokenizer(folder: Path) -> None:
    """Put the image token at Janus-Pro-7B's id, 100594 (1B: 100581, JanusConfig's default), swapping ids with the
    token there."""
    path = folder / "tokenizer.json"
    tokenizer = json.loads(path.read_text())
    token = json.loads((folder / "tokenizer_config.json").read_text())["image_token"]
    old = _token_id(folder, "image_token")
    for table in [tokenizer["model"]["vocab"]] + [{t["content"]: t for t in tokenizer["added_tokens"]}]:
        for name, entry in table.items():
            value = entry["id"] if isinstance(entry, dict) else entry
            swapped = 100594 if name == token else old if value == 100594 else value
            if isinstance(entry, dict):
                entry["id"] = swapped
            else:
                table[name] = swapped
    path.write_text(json.dumps(tokenizer))


@pytest.mark.parametrize("image_token_id", [None, "boi"], ids=["missing-7b", "another-token"])
def test_an_image_token_id_other_than_the_processors_image_token_names_config_and_the_id(sound, tmp_path,
                                                                                          image_token_id):
    """Missing: JanusConfig's default 100581 applies, which is not the 7B tokenizer's image token."""
    folder = _copy(sound, tmp_path)
    if image_token_id is None:
        _as_7b_tokenizer(folder)
    wanted = _token_id(folder, "image_token")
    assert wanted == (100594 if image_token_id is None else 100581)
    _edit(folder / "config.json", image_token_id=_token_id(folder, "boi_token") if image_token_id else None)
    message = _refusal(folder)
    assert f"{folder / 'config.json'}: field 'image_token_id'" in message and f"expected {wanted}," in message


def test_a_processor_writing_another_count_of_image_tokens_than_the_vision_tower_makes_is_named(sound, tmp_path):
    folder = _copy(sound, tmp_path)
    vision = json.loads((folder / "config.json").read_text())["vision_config"]
    features = (vision["image_size"] // vision["patch_size"]) ** 2  # one feature per patch (JanusVisionEmbeddings)
    _edit(folder / "processor_config.json", num_image_tokens=features + 1)
    message = _refusal(folder)
    assert f"{folder / 'processor_config.json'}: field 'num_image_tokens' is {features + 1}; expected {features}" \
        in message


@pytest.fixture(scope="module")
def qwen_sound(tmp_path_factory, one_torch_thread, real_format_build) -> Path:
    return real_format_build("build_qwen2_5_vl", tmp_path_factory.mktemp("agree") / "qwen")


def _files(sound: Path, tmp_path: Path, layout: str) -> Path:
    """A copy of ``sound``'s configuration, processor and tokenizer files (no weights: the check reads none).
    ``layout="preprocessor"``: the image processor's settings in ``preprocessor_config.json``, as the hub's
    Qwen2.5-VL-7B-Instruct and Janus-Pro-1B ship them, where transformers 5 saves them under
    ``processor_config.json``'s ``image_processor`` key."""
    folder = Path(shutil.copytree(sound, tmp_path / sound.name, ignore=shutil.ignore_patterns("*.safetensors")))
    if layout == "preprocessor":
        processor = json.loads((folder / "processor_config.json").read_text())
        (folder / "preprocessor_config.json").write_text(json.dumps(processor.pop("image_processor")))
        (folder / "processor_config.json").write_text(json.dumps(processor))
    return folder


def _problem(folder: Path, processor=None) -> str | None:
    """``agreement_problem`` for ``folder`` as read by ``AutoConfig`` and ``AutoProcessor`` (``processor``: one
    already read from a folder whose processor and tokenizer files ``folder``'s are copies of)."""
    from transformers import AutoConfig, AutoProcessor

    from realunify_arena.adapters.checkpoint_agree import agreement_problem

    return agreement_problem(str(folder), AutoConfig.from_pretrained(folder),
                             processor if processor is not None else AutoProcessor.from_pretrained(folder))


def _image_processor_key(folder: Path, layout: str, key: str) -> tuple[Path, str, dict]:
    """(file, dotted key, that file's content) where transformers reads the image processor's ``key``
    (``ImageProcessingMixin.get_image_processor_dict``: processor_config.json's nested entry, else
    preprocessor_config.json)."""
    if layout == "preprocessor":
        return folder / "preprocessor_config.json", key, json.loads((folder / "preprocessor_config.json").read_text())
    return (folder / "processor_config.json", f"image_processor.{key}",
            json.loads((folder / "processor_config.json").read_text()))


def _at(content: dict, key: str):
    for part in key.split("."):
        content = content[part]
    return content


def _parent(content: dict, key: str) -> tuple[dict, str]:
    """(the dict holding dotted ``key``'s last part, that part)."""
    head, _, last = key.rpartition(".")
    return (_at(content, head) if head else content), last


@pytest.mark.parametrize("layout", ["processor", "preprocessor"])
@pytest.mark.parametrize("build, key, value, wanted", [
    ("janus", "size", {"height": 256, "width": 256}, "expected 384 a side"),
    ("qwen", "merge_size", 4, "expected 2,"),
    ("qwen", "patch_size", 16, "expected 14,"),
])
def test_an_image_processor_setting_is_named_in_the_file_and_key_it_was_read_from(
        sound, qwen_sound, tmp_path, layout, build, key, value, wanted):
    folder = _files(sound if build == "janus" else qwen_sound, tmp_path, layout)
    path, dotted, content = _image_processor_key(folder, layout, key)
    holder, last = _parent(content, dotted)
    holder[last] = value
    path.write_text(json.dumps(content))
    message = _problem(folder)
    assert message.startswith(f"{path}: field '{dotted}' is {value!r}; {wanted}")
    assert _at(json.loads(path.read_text()), dotted) == value  # the named file holds the named key


@pytest.mark.parametrize("layout", ["processor", "preprocessor"])
def test_an_image_processor_setting_the_file_lacks_is_said_missing_with_the_default_that_applies(
        qwen_sound, tmp_path, layout):
    """Qwen2VLImageProcessor's class default merge_size is 2 (transformers' docs); a tower merging 4 disagrees."""
    folder = _files(qwen_sound, tmp_path, layout)
    path, dotted, content = _image_processor_key(folder, layout, "merge_size")
    holder, last = _parent(content, dotted)
    del holder[last]
    path.write_text(json.dumps(content))
    config = json.loads((folder / "config.json").read_text())
    config["vision_config"]["spatial_merge_size"] = 4
    (folder / "config.json").write_text(json.dumps(config))
    message = _problem(folder)
    assert message.startswith(f"{path}: field '{dotted}' is missing (Qwen2VLImageProcessor's default 2 applies); "
                              f"expected 4, the vision tower's spatial_merge_size ({folder / 'config.json'}: field "
                              "'vision_config.spatial_merge_size' is 4)")


def test_a_processor_count_the_file_lacks_is_said_missing_with_the_default_that_applies(sound, tmp_path):
    """JanusProcessor's num_image_tokens defaults to 576 (transformers' docs); a 256-px tower of 16-px patches
    yields 256 features."""
    folder = _files(sound, tmp_path, "processor")
    _edit(folder / "processor_config.json", num_image_tokens=None)
    config = json.loads((folder / "config.json").read_text())
    config["vision_config"].update(image_size=256, num_image_tokens=256)
    (folder / "config.json").write_text(json.dumps(config))
    message = _problem(folder)
    assert message.startswith(f"{folder / 'processor_config.json'}: field 'num_image_tokens' is missing "
                              "(JanusProcessor's default 576 applies); expected 256,")


@pytest.mark.parametrize("where", ["chat_template.jinja", "tokenizer_config.json"])
def test_a_chat_template_that_does_not_compile_names_the_file_and_line(sound, tmp_path, where):
    folder = _copy(sound, tmp_path)
    broken = "{% for m in messages %}\n{{ m['content'] }\n{% endfor %}"  # line 2: '}' for '}}'
    if where == "chat_template.jinja":
        (folder / where).write_text(broken)
    else:
        (folder / "chat_template.jinja").unlink()
        _edit(folder / where, chat_template=broken)
    message = _refusal(folder)
    assert f"{folder / where}" in message and "line 2 of the chat template" in message


def _state_dict(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


def _as_bin(sound: Path, tmp_path: Path, write) -> Path:
    """A copy whose weights are only ``pytorch_model.bin``, as ``write(state_dict, path)`` makes it."""
    folder = _copy(sound, tmp_path)
    state = _state_dict(folder)
    (folder / "model.safetensors").unlink()
    write(state, folder / "pytorch_model.bin")
    return folder


class Custom:
    """A class torch.load(weights_only=True) refuses to unpickle."""


def _truncated_zip(state, path):
    torch.save(state, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _safetensors_named_bin(state, path):
    from safetensors.torch import save_file

    save_file(state, path)


def _custom_class(state, path):
    torch.save(OrderedDict(state, extra=Custom()), path)


@pytest.mark.parametrize("write, said", [(_truncated_zip, "not a whole zip archive"),
                                         (_safetensors_named_bin, "a safetensors file"),
                                         (_custom_class, f"{__name__}.Custom")],
                         ids=["truncated-zip", "safetensors-named-bin", "custom-class"])
def test_a_torch_bin_that_torch_load_cannot_read_names_the_file(sound, tmp_path, write, said):
    folder = _as_bin(sound, tmp_path, write)
    message = _refusal(folder)
    assert f"janus-pro-1b: {folder / 'pytorch_model.bin'}: " in message and said in message


def test_any_other_load_failure_is_one_line_naming_the_card_and_folder(sound, tmp_path):
    """A legacy-format torch file cut short passes the first-bytes check; torch.load's own RuntimeError becomes
    one line (it was a traceback out of eval)."""
    def legacy_cut(state, path):
        torch.save(state, path, _use_new_zipfile_serialization=False)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    folder = _as_bin(sound, tmp_path, legacy_cut)
    assert (folder / "pytorch_model.bin").read_bytes().startswith(pickle.dumps(torch.serialization.MAGIC_NUMBER,
                                                                                protocol=2))
    message = _refusal(folder)
    assert message.startswith(f"janus-pro-1b: could not be loaded from {folder}: RuntimeError: ")


def test_the_sound_folder_loads(sound):
    card = dataclasses.replace(CARDS["janus-pro-1b"], dtype="float32",
                               checkpoints={c: str(sound) for c in CARDS["janus-pro-1b"].checkpoints})
    with pool_closed(ModelPool({card.name: card}, device="cpu")) as pool, pool.use(card.name) as adapter:
        assert adapter.name == "janus-pro-1b"


# ---- each agreement rule broken, one folder each (as transformers ships the files) --------------------------

@pytest.fixture(scope="module")
def emu3_sound(tmp_path_factory, one_torch_thread, real_format_build) -> Path:
    return real_format_build("build_emu3", tmp_path_factory.mktemp("agree") / "emu3")


@pytest.fixture(scope="module")
def emu3_processor(emu3_sound):
    """``emu3_sound``'s processor, read once for the tests that change only its ``config.json``: what
    ``AutoProcessor`` reads from their copies is the same files (its 184,622-word tokenizer took 2-3 s a read
    on 2 shared cores). The check only reads it."""
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(emu3_sound)


def _tokenizer_ids(folder: Path) -> dict[str, int]:
    """token -> id as tokenizer.json gives them (read here, by hand)."""
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    return tokenizer["model"]["vocab"] | {t["content"]: t["id"] for t in tokenizer["added_tokens"]}


def _visual(code: int) -> str:
    """Emu3's BPE token for VQ code ``code`` (Emu3ImageVocabularyMapping reads the code from the name's digits)."""
    return f"<|visual token{code:06d}|>"


def _edit_map(folder: Path, change) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text())
    change(config["vocabulary_map"])
    path.write_text(json.dumps(config))


@pytest.mark.parametrize("token, change, said", [
    ("<image>", lambda m, ids: m.update({"<image>": ids["<|image token|>"]}),
     "gives '<image>' the id {wrong}; expected {id}"),
    ("<image>", lambda m, ids: m.pop("<image>"), "lacks the processor's image_token '<image>'; expected it at {id}"),
    # Emu3ImageVocabularyMapping.eol_token_id: each row of image codes ends with it when Emu3 reads an image
    # (convert_img2bpe); without it every understanding run failed with "unsupported operand type(s) for *".
    ("<|extra_200|>", lambda m, ids: m.pop("<|extra_200|>"),
     "lacks '<|extra_200|>', the token Emu3 ends each row of image codes with; expected it at {id}"),
    ("<|extra_200|>", lambda m, ids: m.update({"<|extra_200|>": ids["<|extra_201|>"]}),
     "gives '<|extra_200|>' the id {wrong}; expected {id}"),
    # a code whose visual token is not in the map reads as BPE id 0 (img2bpe_mapping_tensor's fill), silently
    (_visual(1000), lambda m, ids: m.pop(_visual(1000)),
     "lacks 1 of the 32768 visual tokens, the first '<|visual token001000|>'"),
], ids=["image-token-another-id", "image-token-missing", "row-end-missing", "row-end-another-id",
        "visual-token-missing"])
def test_an_emu3_vocabulary_map_that_disagrees_with_the_tokenizer_names_config_and_the_token(
        emu3_sound, emu3_processor, tmp_path, token, change, said):
    folder = _files(emu3_sound, tmp_path, "processor")
    ids = _tokenizer_ids(folder)
    _edit_map(folder, lambda m: change(m, ids))
    wrong = json.loads((folder / "config.json").read_text())["vocabulary_map"].get(token)
    message = _problem(folder, emu3_processor)
    assert message is not None, "the load was not refused"
    assert message.startswith(f"{folder / 'config.json'}: field 'vocabulary_map' "
                              f"{said.format(wrong=wrong, id=ids[token])}"), message


def test_an_emu3_vocabulary_map_missing_visual_tokens_names_the_codebook_size(emu3_sound, emu3_processor, tmp_path):
    folder = _files(emu3_sound, tmp_path, "processor")
    _edit_map(folder, lambda m: [m.pop(_visual(code)) for code in (7, 32767)])
    message = _problem(folder, emu3_processor)
    assert message.startswith(f"{folder / 'config.json'}: field 'vocabulary_map' lacks 2 of the 32768 visual tokens, "
                              "the first '<|visual token000007|>'; expected one per code of the VQ codebook "
                              f"({folder / 'config.json'}: field 'vq_config.codebook_size' is 32768)"), message


@pytest.mark.parametrize("field, wrong_token, token", [("image_token_id", "<|vision_pad|>", "<|image_pad|>"),
                                                       ("video_token_id", "<|image_pad|>", "<|video_pad|>")])
def test_a_qwen_image_or_video_token_id_other_than_the_processors_names_config_and_the_id(
        qwen_sound, tmp_path, field, wrong_token, token):
    """Qwen2.5-VL finds image (video) positions as input_ids == config.image_token_id (video_token_id), where the
    processor wrote <|image_pad|> (<|video_pad|>): Qwen2_5_VLModel.get_placeholder_mask."""
    folder = _files(qwen_sound, tmp_path, "processor")
    ids = _tokenizer_ids(folder)
    _edit(folder / "config.json", **{field: ids[wrong_token]})
    message = _problem(folder)
    assert message.startswith(f"{folder / 'config.json'}: field '{field}' is {ids[wrong_token]}; expected "
                              f"{ids[token]}, the id {folder / 'tokenizer.json'} gives the processor's "
                              f"{field[:5]}_token '{token}'"), message


def test_a_qwen_temporal_patch_size_other_than_the_towers_is_named(qwen_sound, tmp_path):
    folder = _files(qwen_sound, tmp_path, "preprocessor")
    tower = json.loads((folder / "config.json").read_text())["vision_config"]["temporal_patch_size"]
    _edit(folder / "preprocessor_config.json", temporal_patch_size=tower + 1)
    message = _problem(folder)
    assert message.startswith(f"{folder / 'preprocessor_config.json'}: field 'temporal_patch_size' is {tower + 1}; "
                              f"expected {tower}, the vision tower's temporal_patch_size"), message


def test_a_janus_vq_token_count_other_than_the_towers_patches_is_named(sound, tmp_path):
    folder = _files(sound, tmp_path, "processor")
    vision = json.loads((folder / "config.json").read_text())["vision_config"]
    features = (vision["image_size"] // vision["patch_size"]) ** 2
    vision["num_image_tokens"] = features // 4
    _edit(folder / "config.json", vision_config=vision)
    message = _problem(folder)
    assert message.startswith(f"{folder / 'config.json'}: field 'vision_config.num_image_tokens' is {features // 4}; "
                              f"expected {features}, the image tokens the VQ decoder reads"), message


@pytest.mark.parametrize("build, key, token_field, wrong", [
    # JanusForConditionalGeneration.generate's unconditional prompt keeps bos and boi and pads the rest with
    # generation_config's ids: another id there silently changed classifier-free guidance's unconditional half
    ("janus", "generation_kwargs.boi_token_id", "boi_token", 100017),
    ("janus", "bos_token_id", "bos_token", 100002),
    ("janus", "pad_token_id", "pad_token", 100001),
    # generation stops at generation_config's eos ids only: one the tokenizer does not end a turn with ran on
    ("janus", "eos_token_id", "eos_token", 100015),
    ("emu3", "eos_token_id", "eos_token", 151849),
    ("qwen", "eos_token_id", "eos_token", [151643]),
])
def test_a_generation_config_id_other_than_the_tokenizers_special_token_names_the_file_and_key(
        sound, emu3_sound, qwen_sound, tmp_path, build, key, token_field, wrong):
    folder = _files({"janus": sound, "emu3": emu3_sound, "qwen": qwen_sound}[build], tmp_path, "processor")
    path = folder / "generation_config.json"
    content = json.loads(path.read_text())
    holder, last = _parent(content, key)
    holder[last] = wrong
    path.write_text(json.dumps(content))
    token = json.loads((folder / "tokenizer_config.json").read_text())[token_field]
    wanted = _tokenizer_ids(folder)[token]
    message = _problem(folder)
    assert message is not None, "the load was not refused"
    assert message.startswith(f"{path}: field '{key}' is {wrong!r}; expected {wanted}"), message
    assert f"the tokenizer's {token_field} {token!r}" in message


def test_an_emu3_tokenizer_lacking_the_row_end_is_refused_naming_it(emu3_sound, tmp_path):
    """verify26a: the row end was checked in config.json's vocabulary_map only; a tokenizer without
    <|extra_200|> (a vocabulary_map entry whose token the tokenizer lacks was skipped) loaded, and image
    generation (adapters/emu3.py's layout: each row of codes ends with the tokenizer's id of <|extra_200|>)
    then had no id to end a row with."""
    folder = _files(emu3_sound, tmp_path, "processor")
    path = folder / "tokenizer.json"
    tokenizer = json.loads(path.read_text())
    tokenizer["added_tokens"] = [t for t in tokenizer["added_tokens"] if t["content"] != "<|extra_200|>"]
    tokenizer["model"]["vocab"].pop("<|extra_200|>", None)
    path.write_text(json.dumps(tokenizer))
    assert "<|extra_200|>" not in _tokenizer_ids(folder)
    message = _problem(folder)
    assert message is not None, "the load was not refused"
    assert message.startswith(f"{path}: lacks '<|extra_200|>', the token Emu3 ends each row of image codes with"), \
        message
