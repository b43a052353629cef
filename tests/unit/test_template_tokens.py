"""A tokenizer lacking a special token its chat template writes is refused at load, naming the token.

The real chat templates write turn and image markers as special tokens: transformers' Janus conversion script's
template writes ``<|User|>`` and ``<|Assistant|>`` (ids 100588 and 100589 of Janus-Pro's tokenizer), Qwen2.5-VL's
writes ``<|im_start|>``, ``<|im_end|>`` and ``<|vision_start|><|image_pad|><|vision_end|>`` (ids 151644, 151645,
151652, 151655, 151653). A tokenizer without one (a tokenizer.json copied from another model) read the marker as
plain text, several byte tokens, and every prompt ran in a format the model was never trained on, without a word.
The expected count of tokens is the tokenizer's own (``encode``), not the project's.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from realunify_arena.adapters import ModelUnavailable, build_adapter
from realunify_arena.cards import load_cards

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import real_format  # noqa: E402  (tests/real_format.py)

CARDS = load_cards()

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def sound(one_torch_thread, janus_and_qwen) -> dict[str, Path]:
    return janus_and_qwen


def without(sound: Path, tmp_path: Path, token: str) -> Path:
    """A copy of ``sound`` whose tokenizer.json lacks ``token`` (neither an added token nor in the vocabulary)."""
    def drop(content: dict) -> None:
        content["added_tokens"] = [t for t in content["added_tokens"] if t["content"] != token]
        content["model"]["vocab"].pop(token, None)

    return real_format.edited_copy(sound, tmp_path, "tokenizer.json", drop)


def pointed(name: str, folder: Path):
    card = CARDS[name]
    caps = [cap for cap in card.capabilities if cap.value == "understand"]
    return dataclasses.replace(card, dtype="float32", capabilities=frozenset(caps), parts={},
                               checkpoints={cap.value: str(folder) for cap in caps})


@pytest.mark.parametrize(("name", "token"), [("janus-pro-1b", "<|User|>"), ("janus-pro-1b", "<|Assistant|>"),
                                             ("qwen2.5-vl-7b", "<|vision_start|>"),
                                             ("qwen2.5-vl-7b", "<|im_start|>")])
def test_a_tokenizer_without_a_token_its_chat_template_writes_is_refused(sound, tmp_path, name, token):
    folder = without(sound[name], tmp_path, token)
    with pytest.raises(ModelUnavailable) as refused:
        build_adapter(pointed(name, folder))
    said = str(refused.value)
    assert said.startswith(f"{name}: {folder / 'chat_template.jinja'}: the chat template writes {token!r}")
    assert str(folder / "tokenizer.json") in said and "expected" in said


@pytest.mark.parametrize("name", ["janus-pro-1b", "qwen2.5-vl-7b"])
def test_the_real_tokenizers_hold_every_token_their_templates_write(sound, name):
    adapter = build_adapter(pointed(name, sound[name]))
    adapter.close()


def test_special_tokens_declared_in_tokenizer_config_at_their_ids_pass(sound, tmp_path):
    """A tokenizer.json holding only the base vocabulary, with the special tokens declared in tokenizer_config.json's
    ``added_tokens_decoder`` at their ids: transformers adds them at load at exactly those ids (Qwen2.5-VL's
    ``<|im_start|>`` 151644, ``<|vision_start|>`` 151652, ``<|image_pad|>`` 151655: the ids the model was trained
    with), so the template's markers are the model's own tokens and the folder loads."""
    import json

    moved: dict[int, dict] = {}

    def base_vocabulary_only(content: dict) -> None:
        moved.update({token["id"]: token for token in content["added_tokens"]})
        content["added_tokens"] = []
        content["model"]["vocab"] = {k: v for k, v in content["model"]["vocab"].items() if v < min(moved)}

    folder = real_format.edited_copy(sound["qwen2.5-vl-7b"], tmp_path, "tokenizer.json", base_vocabulary_only)
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["added_tokens_decoder"] = {str(i): {key: token[key] for key in ("content", "lstrip", "rstrip", "normalized",
                                                                         "single_word", "special")}
                                      for i, token in sorted(moved.items())}
    path.unlink()  # a hard link to the shared build's file
    path.write_text(json.dumps(config), encoding="utf-8")

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_start|>", "<|vision_start|>", "<|image_pad|>")] == \
        [151644, 151652, 151655]
    adapter = build_adapter(pointed("qwen2.5-vl-7b", folder))
    adapter.close()


def test_the_checks_parse_tokenizer_json_once(sound, tmp_path):
    """The checks before the load parsed tokenizer.json twice (that it parses; the token ids) and the chat-template
    check after the processor had loaded it parsed it a third time: each parse of a Qwen-size tokenizer.json
    (12 MB) takes about 0.35 s here. Counted: the project's own opens of the file (an audit hook, the first frame
    outside the standard library being the project's), across a whole adapter build; transformers' own reads of
    the file are not the project's."""
    import os
    import shutil
    import sysconfig

    folder = Path(shutil.copytree(sound["qwen2.5-vl-7b"], tmp_path / "qwen", copy_function=os.link))
    target = str(folder / "tokenizer.json")
    library = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
    reads: list[str] = []
    counting = [True]

    def hook(event: str, args: tuple) -> None:
        if not counting[0] or event != "open" or not args or str(args[0]) != target:
            return
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename.startswith(library) \
                and "site-packages" not in frame.f_code.co_filename:
            frame = frame.f_back
        if frame is not None and f"{os.sep}realunify_arena{os.sep}" in frame.f_code.co_filename:
            reads.append(f"{frame.f_code.co_filename}:{frame.f_lineno}")

    sys.addaudithook(hook)  # an audit hook cannot be removed: it stops counting below
    try:
        adapter = build_adapter(pointed("qwen2.5-vl-7b", folder))
        adapter.close()
    finally:
        counting[0] = False
    assert len(reads) == 1, reads
