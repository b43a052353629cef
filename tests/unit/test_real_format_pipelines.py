"""The real diffusers cards (models/*.yaml) pointed at real-format pipeline folders (tests/real_format.py: the
hub's model_index.json, component sub-folders, tokenizer files and sharded weights; random weights, one
block): they load, run with the settings their authors use, and make the sizes asked for.

FLUX.1 Kontext's facts come from outside this project: diffusers' ``FluxKontextPipeline`` (it rescales every
width x height to ``max_area``, 1024 x 1024 by default, and makes 1024 x 1024 when no size is passed) and BFL's
reference (flux ``sampling.prepare_kontext``: an edit is made at the trained resolution nearest the input's
aspect ratio, the table below)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from PIL import Image

from realunify_arena.adapters import ModelUnavailable, build_adapter
from realunify_arena.cards import load_cards

from pipeline_recorder import Recorder  # noqa: E402

CARDS = load_cards()
# BFL's PREFERRED_KONTEXT_RESOLUTIONS (flux src/flux/sampling.py), (width, height): the sizes Kontext was trained at
KONTEXT_SIZES = [(672, 1568), (688, 1504), (720, 1456), (752, 1392), (800, 1328), (832, 1248), (880, 1184),
                 (944, 1104), (1024, 1024), (1104, 944), (1184, 880), (1248, 832), (1328, 800), (1392, 752),
                 (1456, 720), (1504, 688), (1568, 672)]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def kontext_folder(tmp_path_factory, one_torch_thread, real_format_build) -> Path:
    return real_format_build("build_flux_kontext", tmp_path_factory.mktemp("real_pipelines") / "FLUX.1-Kontext-dev")


def kontext_card(folder: Path):
    """The real flux-kontext card pointed at ``folder`` (float32 for CPU)."""
    card = CARDS["flux-kontext"]
    return dataclasses.replace(card, dtype="float32", checkpoints={cap: str(folder) for cap in card.checkpoints})


@pytest.fixture(scope="module")
def kontext(kontext_folder):
    adapter = build_adapter(kontext_card(kontext_folder))
    yield adapter
    adapter.close()


def pipeline_of(adapter):
    return next(v for k, v in adapter.loaded.items() if k.startswith("pipeline:"))


def test_the_real_kontext_folder_loads_with_its_sharded_transformer_and_clip_vocab_files(kontext):
    pipeline = pipeline_of(kontext)
    assert type(pipeline).__name__ == "FluxKontextPipeline" and pipeline.vae_scale_factor == 8
    assert pipeline.tokenizer("a cube").input_ids[0] == 49406  # the CLIP files (vocab.json, merges.txt) read


@pytest.mark.parametrize("size", [(64, 64), (96, 48)])
def test_kontext_makes_the_size_asked_with_the_cards_guidance_and_steps(kontext, size):
    card = kontext.card
    options = dataclasses.replace(card.defaults, width=size[0], height=size[1])
    with Recorder(pipeline_of(kontext)) as recorder:
        image = kontext.generate("a red cube", options)
    (sent,) = recorder.calls
    # the card: FLUX.1 Kontext [dev]'s documented 28 steps and guidance 2.5
    assert (sent["num_inference_steps"], sent["guidance_scale"]) == (28, 2.5)
    assert image.size == size  # diffusers alone rescales it to max_area, 1024x1024


@pytest.mark.parametrize("input_size", [(300, 200), (200, 300), (640, 480), (512, 512)])
def test_a_kontext_edit_keeps_the_inputs_aspect_at_the_trained_size_nearest_it(kontext, input_size):
    image = Image.new("RGB", input_size, (200, 40, 40))
    aspect = input_size[0] / input_size[1]
    expected = min(KONTEXT_SIZES, key=lambda wh: (abs(aspect - wh[0] / wh[1]), wh))
    options = dataclasses.replace(kontext.card.defaults, steps=1)
    edited = kontext.edit(image, "make it blue", options)
    assert edited.size == expected  # BFL's reference; diffusers with no size passed: 1024x1024 whatever the input


def test_a_clip_tokenizer_folder_without_its_merges_file_is_named(kontext_folder, tmp_path):
    folder = Path(shutil.copytree(kontext_folder, tmp_path / "FLUX.1-Kontext-dev"))
    (folder / "tokenizer" / "merges.txt").unlink()  # vocab.json alone: CLIP's BPE needs both
    with pytest.raises(ModelUnavailable) as info:
        build_adapter(kontext_card(folder))
    # transformers itself: "`vocab` and `merges` must be both be from memory or both filenames", naming neither
    said = str(info.value)
    assert f"{folder / 'tokenizer' / 'merges.txt'}: missing" in said and "CLIPTokenizer" in said
