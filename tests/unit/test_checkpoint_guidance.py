"""A card that sets no guidance runs a checkpoint at the classifier-free guidance its authors ship in
``generation_config.json`` (``guidance_scale``: 5 in Janus-Pro's, as transformers' conversion script writes it), as
transformers' own ``generate`` would; not at the family's constant. A card's or a run's guidance still wins.

The checkpoint is the tiny Janus (``adapters/tiny.py``: the real classes, from_pretrained, 16 image tokens) with its
generation config given ``guidance_scale: 40`` (its random logits are nearly flat: a large guidance shows in the
tokens); which guidance ran is read from the image tokens drawn at one seed."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch

from realunify_arena.adapters import LOADING, build_adapter
from realunify_arena.adapters.tiny import TINY_BUILDERS
from realunify_arena.cards import load_cards

pytestmark = pytest.mark.usefixtures("one_torch_thread")
OWN = 40.0  # the checkpoint's guidance_scale


def _loaded(under, base: str):
    """(card, adapter): the tiny ``base`` model whose generation_config.json ships guidance_scale ``OWN``, loaded by
    its tiny card with no guidance of its own."""
    folder = under.mktemp("guidance") / base
    torch.manual_seed(0)
    with LOADING:  # no load of an earlier module's pool meanwhile: see conftest's real_format_build
        TINY_BUILDERS[base](folder)
    generation = json.loads((folder / "generation_config.json").read_text())
    generation["guidance_scale"] = OWN
    (folder / "generation_config.json").write_text(json.dumps(generation))
    card = load_cards()[f"tiny-{base}"]
    card = dataclasses.replace(card, family=base, checkpoints={c.value: str(folder) for c in card.capabilities},
                               defaults=dataclasses.replace(card.defaults, guidance=None))
    return card, build_adapter(card)


@pytest.fixture(scope="module")
def janus(tmp_path_factory, one_torch_thread):
    card, adapter = _loaded(tmp_path_factory, "janus")
    yield card, adapter
    adapter.close()


@pytest.fixture(scope="module")
def emu3(tmp_path_factory, one_torch_thread):
    card, adapter = _loaded(tmp_path_factory, "emu3")
    yield card, adapter
    adapter.close()


def _tokens(card, adapter, guidance: float | None, seed: int = 7) -> torch.Tensor:
    prompt = adapter.processor.apply_chat_template([{"role": "user", "content": [{"type": "text", "text": "a cat"}]}],
                                                   add_generation_prompt=True)
    inputs = adapter.processor(text=prompt, generation_mode="image", return_tensors="pt")
    adapter.generator(seed)
    return adapter.generate_image_ids(inputs, dataclasses.replace(card.defaults, guidance=guidance, seed=seed))


def test_a_card_without_guidance_runs_the_checkpoints_own(janus):
    card, adapter = janus
    assert adapter.model.generation_config.guidance_scale == OWN
    own, five = _tokens(card, adapter, OWN), _tokens(card, adapter, 5.0)
    assert not torch.equal(own, five)  # the guidance acts on what is drawn at this seed
    assert torch.equal(_tokens(card, adapter, None), own)  # before: the family's 5


def test_a_generation_config_without_guidance_leaves_the_familys_default(janus, tmp_path):
    card, adapter = janus
    adapter.model.generation_config.guidance_scale = None  # as Emu3-Gen's and many copies ship it
    try:
        assert torch.equal(_tokens(card, adapter, None), _tokens(card, adapter, 5.0))  # janus.DEFAULT_GUIDANCE
    finally:
        adapter.model.generation_config.guidance_scale = OWN


def test_an_emu3_card_without_guidance_runs_the_checkpoints_own(emu3):
    card, adapter = emu3

    def image(guidance: float | None):
        return adapter.generate("a cat", dataclasses.replace(card.defaults, guidance=guidance, seed=7)).tobytes()

    own = image(OWN)
    assert own != image(3.0)  # emu3.DEFAULT_GUIDANCE, BAAI's reference value
    assert image(None) == own


def test_a_checkpoint_guidance_of_0_turns_guidance_off_as_transformers_does(janus):
    # transformers' Janus generate adds its guidance processor only for a guidance_scale above 1 (0 is falsy there),
    # so 0 draws the conditional logits alone: the same tokens as 1; before, 0 ran at the family's 5
    card, adapter = janus
    adapter.model.generation_config.guidance_scale = 0
    try:
        off = _tokens(card, adapter, 1.0, seed=3)
        assert not torch.equal(off, _tokens(card, adapter, 5.0, seed=3))  # at seed 3 the guidance shows
        assert torch.equal(_tokens(card, adapter, None, seed=3), off)
    finally:
        adapter.model.generation_config.guidance_scale = OWN


@pytest.mark.parametrize("value, said", [("5", "a string"), (True, "a boolean"), (-2, "-2"), (float("inf"), "inf"),
                                         (float("nan"), "nan"), ([5], "a list")])
def test_a_guidance_scale_that_is_no_finite_number_0_or_more_is_refused_naming_the_file(janus, tmp_path, value, said):
    # transformers' GenerationConfig keeps each of these as it is (checked: from_pretrained raises nothing), and a card
    # without guidance ran the family's default unsaid (a string, -2) or an infinite scale
    from realunify_arena.adapters.base import ModelUnavailable
    from realunify_arena.adapters.checkpoint_files import check_checkpoint

    card, _ = janus
    folder = tmp_path / "copy"
    shutil.copytree(card.checkpoints["generate"], folder)
    generation = json.loads((folder / "generation_config.json").read_text())
    (folder / "generation_config.json").write_text(json.dumps({**generation, "guidance_scale": value}))
    with pytest.raises(ModelUnavailable) as refused:
        check_checkpoint(str(folder), "transformers")
    assert str(refused.value).startswith(f"{folder / 'generation_config.json'}: field 'guidance_scale' is {said}; "
                                         "expected a finite number, 0 or more")


def test_a_checkpoint_guidance_above_the_cards_limit_is_refused_as_a_runs_would_be(janus):
    # limits.Limits.guidance: 100 (ComfyUI's cfg range); far above it the guided logits overflow (1e308: torch's
    # "probability tensor contains either inf, nan or element < 0"); a run asking 500 is refused, so is the checkpoint's
    from realunify_arena.limits import OptionError

    card, adapter = janus
    adapter.model.generation_config.guidance_scale = 500
    try:
        with pytest.raises(OptionError) as refused:
            _tokens(card, adapter, None)
        assert "= 500, the guidance_scale of the checkpoint's generation_config.json, is outside the allowed range " \
               "0 to 100" in str(refused.value)
        assert refused.value.setting == "guidance"
        _tokens(card, adapter, 100.0)  # a card's or a run's own guidance is what its limit checked
    finally:
        adapter.model.generation_config.guidance_scale = OWN


# -- what a run records: the guidance it ran with, not None ------------------------------------------------------

def _ueg():
    from realunify_arena.benchmark.schema import UEGInstance

    return UEGInstance(index=4, task_type="world_knowledge", prompt="a cat", question_list=[])


def _revision(card, tmp_path, name: str, **generation):
    """``card`` reading a copy of its checkpoint whose generation_config.json is changed by ``generation`` (a None
    value removes the field)."""
    folder = tmp_path / name
    shutil.copytree(card.checkpoints["generate"], folder)
    content = json.loads((folder / "generation_config.json").read_text())
    content.update(generation)
    content = {k: v for k, v in content.items() if v is not None}
    (folder / "generation_config.json").write_text(json.dumps(content))
    return dataclasses.replace(card, checkpoints={c: str(folder) for c in card.checkpoints})


def test_a_run_without_guidance_records_the_checkpoints_own_and_is_found_again(janus, store):
    # before: the card's options and the stored run said guidance None while the run drew at the file's 40
    from realunify_arena.protocols import run

    card, adapter = janus
    options = card.options(seed=7)
    assert options.guidance == OWN  # the guidance_scale written into the file above
    trace = run(_ueg(), adapter, "direct", dataclasses.replace(card.defaults, seed=7))  # as an uncached hub id's
    assert trace.status.value == "ok", trace.error
    assert trace.settings["guidance"] == OWN
    run_id = store.save_trace(trace, "d")
    assert store.find_run("d", trace.instance_uid, card.name, "direct", options.to_dict()) == run_id
    set_card = dataclasses.replace(card, defaults=dataclasses.replace(card.defaults, guidance=2.0))
    assert set_card.options(seed=7).guidance == 2.0  # a card's own guidance still wins, recorded as it was
    assert run(_ueg(), adapter, "direct", set_card.options(seed=7)).settings["guidance"] == 2.0


def test_two_revisions_shipping_other_guidance_scales_are_two_systems(janus, tmp_path):
    from realunify_arena.store import settings_key

    card, _ = janus
    other = _revision(card, tmp_path, "other", guidance_scale=7)
    assert other.options().guidance == 7.0
    assert settings_key(other.options().to_dict()) != settings_key(card.options().to_dict())
    pair = load_cards()["tiny-pair"]  # a family that reads no guidance of its checkpoint keeps None
    assert dataclasses.replace(pair, defaults=dataclasses.replace(pair.defaults, guidance=None)).options().guidance \
        is None


def test_a_checkpoint_without_guidance_records_the_familys_default(janus, emu3, tmp_path):
    janus_card, _ = janus
    emu3_card, _ = emu3
    # the Janus-Pro paper's cfg_weight 5; BAAI's reference classifier_free_guidance 3 (baaivision/Emu3)
    assert _revision(janus_card, tmp_path, "j", guidance_scale=None).options().guidance == 5.0
    assert _revision(emu3_card, tmp_path, "e", guidance_scale=None).options().guidance == 3.0
    gone = _revision(janus_card, tmp_path, "none", guidance_scale=None)
    (tmp_path / "none" / "generation_config.json").unlink()  # transformers then builds one without guidance_scale
    assert gone.options().guidance == 5.0


def test_an_emu3_run_without_guidance_records_the_checkpoints_own(emu3):
    card, adapter = emu3
    assert card.options().guidance == OWN
    assert adapter.run_options(dataclasses.replace(card.defaults, guidance=None)).guidance == OWN


def test_a_hub_checkpoint_in_the_local_cache_is_read_offline(janus, tmp_path, monkeypatch):
    # a snapshot laid out as huggingface_hub writes one: refs/main -> snapshots/<commit>/files
    from huggingface_hub import constants

    card, _ = janus
    cache, commit = tmp_path / "hub", "0123456789abcdef0123456789abcdef01234567"
    repo = cache / "models--org--janus-tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    shutil.copy(f"{card.checkpoints['generate']}/generation_config.json", repo / "snapshots" / commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = dataclasses.replace(card, checkpoints={c: "org/janus-tiny" for c in card.checkpoints})
    assert hub.options().guidance == OWN
    uncached = dataclasses.replace(card, checkpoints={c: "org/not-cached" for c in card.checkpoints})
    assert uncached.options().guidance is None  # not known before its run loads it (the run records it)
