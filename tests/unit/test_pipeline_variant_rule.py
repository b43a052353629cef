"""A local diffusers pipeline folder is runnable with the card's ``params.variant`` exactly where diffusers itself
loads it (ckbreak34).

The reference is ``DiffusionPipeline.from_pretrained(folder, variant=...)`` on tiny real pipelines written by
``save_pretrained``: a component without the variant falls back to its unvarianted weights only where another
component holds a file of the variant; a pipeline none of whose components does is refused ("You are trying to load
the model files of the `variant=fp16`, but no such modeling files are available.").
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from realunify_arena import availability as av
from realunify_arena.cards import load_card

SAVES = {  # name -> the save_pretrained calls that wrote the folder
    "plain only": [{}],
    "fp16 only": [{"variant": "fp16"}],
    "plain and fp16": [{"variant": "fp16"}, {}],
    "fp16 sharded": [{"variant": "fp16", "max_shard_size": "10KB"}],
    "fp16 .bin": [{"variant": "fp16", "safe_serialization": False}],
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    import torch
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=3, out_channels=3, layers_per_block=1, block_out_channels=(8, 8),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=4)
    pipe = DDPMPipeline(unet=unet, scheduler=DDPMScheduler())
    root = tmp_path_factory.mktemp("pipes")
    made = {}
    for name, saves in SAVES.items():
        made[name] = root / name.replace(" ", "_").replace(".", "")
        for kwargs in saves:
            pipe.save_pretrained(made[name], **kwargs)
    return made


def _diffusers_loads(folder: Path, variant: str | None) -> bool:
    from diffusers import DDPMPipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            DDPMPipeline.from_pretrained(folder, variant=variant)
        except (OSError, ValueError):
            return False
    return True


def test_a_pipeline_folder_is_runnable_where_diffusers_loads_it_with_the_cards_variant(tmp_path, folders):
    # before: "plain only" with params.variant fp16 was runnable ("local folder ..."), and diffusers refused it; the
    # other nine agreed already (fp16 weights without the variant refused, both kinds, sharded, .bin)
    seen = {}
    for name, folder in folders.items():
        for variant in (None, "fp16"):
            params = f"params:\n  variant: {variant}\n" if variant else ""
            card_file = tmp_path / f"{folder.name}-{variant}.yaml"
            card_file.write_text(f"family: janus\ndescription: d\ncapabilities: [understand]\ncheckpoint: {folder}\n"
                                 f"{params}")
            ok, reason = av.availability(load_card(card_file), device="cpu", allow_large=True)
            seen[name, variant] = (ok, _diffusers_loads(folder, variant))
            if not ok:
                assert "params.variant" in reason and str(folder) in reason, reason
    assert {k: v for k, v in seen.items() if v[0] != v[1]} == {}
