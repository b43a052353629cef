"""The guidance a Janus card without ``defaults.guidance`` records (``ModelCard.options``, before the load) is the
one transformers gives the loaded model (ckbreak34).

A checkpoint without ``generation_config.json`` (an older save) gets its generation config from ``config.json``:
from_pretrained builds it with ``GenerationConfig.from_model_config``, which takes a ``guidance_scale`` at the
config's top, else in its text config. The reference is the loaded model's ``generation_config.guidance_scale``
(transformers itself) on the tiny Janus (``adapters/tiny.py``: the real classes, from_pretrained)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from realunify_arena.adapters import LOADING, build_adapter
from realunify_arena.adapters.tiny import TINY_BUILDERS
from realunify_arena.cards import load_cards

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _card(folder):
    card = load_cards()["tiny-janus"]
    return dataclasses.replace(card, family="janus", checkpoints={c.value: str(folder) for c in card.capabilities},
                               defaults=dataclasses.replace(card.defaults, guidance=None))


@pytest.mark.parametrize("where", ["top", "text_config"])
def test_a_checkpoint_without_generation_config_records_the_guidance_of_its_config(tmp_path, where):
    # before: the family's 5 was recorded (and, set in the options, run), while transformers' generation config of
    # the loaded model said 7.5 (what the run took where the checkpoint was not on disk before its load)
    import torch

    folder = tmp_path / "janus"
    torch.manual_seed(0)
    with LOADING:  # no load of an earlier module's pool meanwhile: see conftest's real_format_build
        TINY_BUILDERS["janus"](folder)
    (folder / "generation_config.json").unlink()
    config = json.loads((folder / "config.json").read_text())
    (config if where == "top" else config["text_config"])["guidance_scale"] = 7.5
    (folder / "config.json").write_text(json.dumps(config))
    card = _card(folder)
    recorded = card.options().guidance
    adapter = build_adapter(card)
    try:
        assert recorded == adapter.model.generation_config.guidance_scale == 7.5
        assert adapter.run_options(card.options()).guidance == 7.5
    finally:
        adapter.close()


def test_a_generation_config_nested_too_deeply_is_no_recursion_error(tmp_path):
    # before: card.options() (every form and API request) raised RecursionError; the load refuses the file
    folder = tmp_path / "janus"
    folder.mkdir()
    (folder / "generation_config.json").write_text("[" * 200_000 + "]" * 200_000)
    assert _card(folder).options().guidance is None  # not known before the load, as for a file that is not JSON
