"""A card whose guidance the pipeline would ignore is refused, not run without guidance.

diffusers' FLUX and Qwen-Image pipelines take two guidance arguments and use each only under a condition
(diffusers 0.42 ``pipeline_flux_kontext.py``, ``pipeline_qwenimage.py``, ``pipeline_qwenimage_edit.py``):

- ``guidance_scale`` feeds the transformer's guidance embedding, so it is used only when the transformer's
  ``config.json`` has ``guidance_embeds: true`` (FLUX.1 [dev], Kontext); otherwise FLUX drops it without a word
  and Qwen-Image logs "ignored since the model is not guidance-distilled";
- ``true_cfg_scale`` runs classifier-free guidance only with a negative prompt (``do_true_cfg = true_cfg_scale >
  1 and has_neg_prompt``); otherwise Qwen-Image logs "classifier-free guidance is not enabled".

The first test shows both on the real-format Qwen-Image folder, through diffusers alone (the same seed makes the
same image with and without the guidance). Then the cards: the flux-kontext card pointed at a Qwen-Image folder
(the wrong folder: its guidance 2.5 goes to ``guidance_scale``), the qwen-image card without its negative prompt,
and a guidance asked at run time of a card whose pipeline would ignore it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from realunify_arena.adapters import build_adapter
from realunify_arena.cards import CardError, load_cards
from realunify_arena.limits import OptionError

CARDS = load_cards()

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def qwen_image(tmp_path_factory, one_torch_thread, real_format_build) -> Path:
    return real_format_build("build_qwen_image", tmp_path_factory.mktemp("real_guidance") / "Qwen-Image")


def pointed(name: str, folder: Path, **changes):
    """The real card ``name`` at ``folder`` (float32 for CPU), with ``changes`` to its fields."""
    card = CARDS[name]
    return dataclasses.replace(card, dtype="float32", checkpoints={cap: str(folder) for cap in card.checkpoints},
                               **changes)


def test_diffusers_runs_qwen_image_the_same_without_either_guidances_condition(qwen_image):
    from diffusers import DiffusionPipeline

    pipeline = DiffusionPipeline.from_pretrained(qwen_image, dtype=torch.float32)
    pipeline.set_progress_bar_config(disable=True)

    def made(**kwargs):
        return pipeline(prompt="a red cube", width=32, height=32, num_inference_steps=2, output_type="np",
                        generator=torch.Generator().manual_seed(0), **kwargs).images

    plain = made()
    assert (made(guidance_scale=2.5) == plain).all()  # guidance_embeds false
    assert (made(true_cfg_scale=4.0) == plain).all()  # no negative prompt
    assert not (made(true_cfg_scale=4.0, negative_prompt=" ") == plain).all()  # the guidance Qwen-Image uses


def test_a_card_sending_guidance_scale_to_a_transformer_without_guidance_embeds_is_refused(qwen_image):
    card = pointed("flux-kontext", qwen_image)  # the wrong folder: defaults guidance 2.5, sent as guidance_scale
    with pytest.raises(CardError) as refused:
        build_adapter(card)
    said = str(refused.value)
    assert said.startswith(f"{card.path}: field 'defaults.guidance'")
    assert str(qwen_image / "transformer" / "config.json") in said and "guidance_embeds" in said
    assert "expected" in said and "true_cfg_scale" in said and "negative_prompt" in said


def test_a_card_sending_true_cfg_scale_without_a_negative_prompt_is_refused(qwen_image):
    card = CARDS["qwen-image"]
    params = {k: v for k, v in card.params.items() if k != "call_kwargs"}
    card = pointed("qwen-image", qwen_image, params=params)
    with pytest.raises(CardError) as refused:
        build_adapter(card)
    said = str(refused.value)
    assert said.startswith(f"{card.path}: field 'defaults.guidance'")
    assert "params.call_kwargs.negative_prompt" in said and "true_cfg_scale" in said


def test_a_guidance_asked_of_a_card_whose_pipeline_would_ignore_it_is_refused_at_the_run(qwen_image):
    card = CARDS["qwen-image"]
    params = {k: v for k, v in card.params.items() if k != "guidance_arg"}  # guidance_scale, by default
    card = pointed("qwen-image", qwen_image, params=params, defaults=dataclasses.replace(card.defaults, guidance=None))
    adapter = build_adapter(card)  # no guidance of its own: it loads
    try:
        options = dataclasses.replace(card.defaults, width=32, height=32, steps=2)
        assert adapter.generate("a red cube", options).size == (32, 32)
        with pytest.raises(OptionError) as refused:
            adapter.generate("a red cube", dataclasses.replace(options, guidance=3.0))
        assert refused.value.setting == "guidance"
        assert "guidance_embeds" in str(refused.value) and "qwen-image" in str(refused.value)
    finally:
        adapter.close()


def test_a_pipeline_whose_guidance_scale_runs_classifier_free_guidance_is_not_refused():
    """SanaPipeline (diffusers 0.42 ``pipeline_sana.py``) runs classifier-free guidance whenever
    ``guidance_scale > 1`` (its ``do_classifier_free_guidance``), and never reads its transformer's
    ``guidance_embeds`` (false for every non-Sprint Sana checkpoint, the class default): its guidance is used,
    so a card's guidance must not be refused for that flag. FluxPipeline, which does read it, still is."""
    from diffusers import (FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel, SanaPipeline,
                           SanaTransformer2DModel)

    from realunify_arena.adapters.pair import _ignored_guidance

    sana = SanaPipeline(tokenizer=None, text_encoder=None, vae=None, scheduler=FlowMatchEulerDiscreteScheduler(),
                        transformer=SanaTransformer2DModel(
                            patch_size=1, in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=4,
                            num_layers=1, num_cross_attention_heads=2, cross_attention_head_dim=4,
                            cross_attention_dim=8, caption_channels=8, sample_size=8))
    assert sana.transformer.config.guidance_embeds is False
    sana._guidance_scale = 4.5  # the pipeline's own reading of its guidance (set by __call__)
    assert sana.do_classifier_free_guidance
    assert _ignored_guidance(sana, "guidance_scale", 4.5, {}) is None

    flux = FluxPipeline(tokenizer=None, text_encoder=None, tokenizer_2=None, text_encoder_2=None, vae=None,
                        scheduler=FlowMatchEulerDiscreteScheduler(), transformer=FluxTransformer2DModel(
                            patch_size=1, in_channels=4, num_layers=1, num_single_layers=1, attention_head_dim=4,
                            num_attention_heads=2, joint_attention_dim=8, pooled_projection_dim=8,
                            guidance_embeds=False, axes_dims_rope=(2, 2)))
    assert "guidance_embeds false" in _ignored_guidance(flux, "guidance_scale", 3.5, {})


def test_a_true_cfg_scale_of_at_most_one_without_a_negative_prompt_is_not_refused(qwen_image):
    """``true_cfg_scale`` 1 asks for no classifier-free guidance, which is how the pipeline runs without a
    negative prompt (``do_true_cfg = true_cfg_scale > 1 and has_neg_prompt``): nothing the user asked is lost."""
    card = CARDS["qwen-image"]
    params = {k: v for k, v in card.params.items() if k != "call_kwargs"}
    card = pointed("qwen-image", qwen_image, params=params, defaults=dataclasses.replace(card.defaults, guidance=1.0))
    adapter = build_adapter(card)
    try:
        options = dataclasses.replace(card.defaults, width=32, height=32, steps=2)
        assert adapter.generate("a red cube", options).size == (32, 32)
        with pytest.raises(OptionError):
            adapter.generate("a red cube", dataclasses.replace(options, guidance=4.0))
    finally:
        adapter.close()
