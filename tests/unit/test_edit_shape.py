"""Edits keep the input's shape: a pair card sends no width/height to an edit pipeline (unless it says
``edit_size: card``), and OmniGen gets ``use_input_image_size_as_output=True`` with its edit guidance."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from realunify_arena.adapters import build_adapter
from realunify_arena.benchmark import load
from realunify_arena.benchmark.schema import GEUInstance
from realunify_arena.cards import load_cards
from realunify_arena.protocols import run
from realunify_arena.trace import Status

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline_recorder import Recorder  # noqa: E402  (tests/pipeline_recorder.py)

CARDS = load_cards()


@pytest.fixture(scope="module")
def tiny_pair():
    adapter = build_adapter(CARDS["tiny-pair"])
    yield adapter
    adapter.close()


def non_square_geu(task_type: str) -> GEUInstance:
    return next(i for i in load("bundled").instances if isinstance(i, GEUInstance) and i.task_type == task_type
                and len(set(i.open_image().size)) == 2)


@pytest.mark.parametrize("task_type", ["mental_tracking", "cognitive_navigation"])
def test_geu_stepwise_edit_keeps_a_non_square_inputs_shape(tiny_pair, task_type):
    instance = non_square_geu(task_type)
    width, height = instance.open_image().size
    trace = run(instance, tiny_pair, "stepwise", CARDS["tiny-pair"].defaults)  # card: 32x32 for generation
    assert trace.status is Status.OK, trace.error
    edited = trace.steps[0].image
    # OmniGen crops its input to multiples of 16 (diffusers' crop_image): the aspect ratio is kept
    assert edited.size == (width - width % 16, height - height % 16)


def test_omnigen_edits_get_the_input_size_flag_and_its_edit_guidance(tiny_pair):
    pipeline = next(v for k, v in tiny_pair.loaded.items() if k.startswith("pipeline:"))
    recorder = Recorder(pipeline)
    omnigen, resolved = CARDS["omnigen"], tiny_pair.card
    card = dataclasses.replace(resolved, params={**resolved.params, **omnigen.params})
    tiny_pair.card = card
    try:
        image = non_square_geu("mental_tracking").open_image()
        options = dataclasses.replace(card.defaults, guidance=None)  # as the omnigen card: no one guidance
        tiny_pair.edit(image, "make it blue", options)
        tiny_pair.generate("a red cube", options)
        tiny_pair.edit(image, "make it blue", dataclasses.replace(options, guidance=3.5))
    finally:
        tiny_pair.card = resolved
        pipeline.__class__ = recorder.original_class
    edit, generate, explicit = recorder.calls
    # diffusers' OmniGen "Image edit" example: guidance_scale=2, img_guidance_scale=1.6,
    # use_input_image_size_as_output=True; text-to-image: the pipeline's default guidance 2.5
    assert edit["use_input_image_size_as_output"] is True
    assert (edit["guidance_scale"], edit["img_guidance_scale"]) == (2.0, 1.6)
    assert "width" not in edit and "height" not in edit
    assert generate["guidance_scale"] == 2.5 and "use_input_image_size_as_output" not in generate
    assert (generate["width"], generate["height"]) == (card.defaults.width, card.defaults.height)
    assert explicit["guidance_scale"] == 3.5  # an explicit choice wins over the card's


def test_a_card_may_ask_for_its_own_edit_size(tiny_pair):
    image, resolved = non_square_geu("mental_tracking").open_image(), tiny_pair.card
    tiny_pair.card = dataclasses.replace(resolved, params={**resolved.params, "edit_size": "card"})
    try:
        out = tiny_pair.edit(image, "make it blue", CARDS["tiny-pair"].defaults)
    finally:
        tiny_pair.card = resolved
    assert out.size == (CARDS["tiny-pair"].defaults.width, CARDS["tiny-pair"].defaults.height)


def test_a_large_upload_is_edited_at_the_tiny_cards_bounded_size(tiny_pair):
    """A 2304x1728 upload (4 MP, a phone photo's shape) is edited at most 384 px a side, as the tiny card's
    ``max_input_image_size`` asks: diffusers' OmniGen ``crop_image`` halves while the short side is at least
    twice the bound (2304x1728 -> 1152x864 -> 576x432), scales the long side to the bound (384x288) and crops
    to multiples of 16 (384x288). Hand-computed; at the pipeline's default bound (1024) it came out 1024x768."""
    from PIL import Image

    edited = tiny_pair.edit(Image.new("RGB", (2304, 1728), (200, 10, 10)), "make it blue",
                            CARDS["tiny-pair"].defaults)
    assert edited.size == (384, 288)
