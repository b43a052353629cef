"""A diffusers pipeline folder whose model_index.json names a component of another class than the pipeline takes
is refused at load, naming the file and field.

diffusers loads such a folder with only a logged "Expected types for ..." (``DiffusionPipeline.from_pretrained``
compares each component with the pipeline ``__init__``'s annotations and goes on), and the pipeline then fails in
its own words, naming no file: shown first below, through diffusers alone, on the real-format Qwen-Image folder
(QwenImagePipeline's ``__init__`` takes ``scheduler: FlowMatchEulerDiscreteScheduler``, ``tokenizer:
Qwen2Tokenizer``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from realunify_arena.adapters import ModelUnavailable
from realunify_arena.adapters.checkpoint_files import check_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import real_format  # noqa: E402  (tests/real_format.py)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BROKEN = {"scheduler": ("model_index.json", {"scheduler": ["diffusers", "DDIMScheduler"]}),
          "tokenizer": ("model_index.json", {"tokenizer": ["transformers", "CLIPTokenizer"]})}


@pytest.fixture(scope="module")
def sound(tmp_path_factory, one_torch_thread, real_format_build) -> Path:
    return real_format_build("build_qwen_image", tmp_path_factory.mktemp("components") / "Qwen-Image")


def broken(sound: Path, tmp_path: Path, what: str) -> Path:
    name, changes = BROKEN[what]
    return real_format.edited_copy(sound, tmp_path, name, lambda content: content.update(changes))


@pytest.mark.parametrize("what", ["scheduler", "tokenizer"])
def test_diffusers_alone_fails_on_the_folder_naming_no_file(sound, tmp_path, what):
    from diffusers import DiffusionPipeline

    folder = broken(sound, tmp_path, what)
    with pytest.raises(Exception) as failed:  # noqa: PT011 - the library's own error, whatever its class
        pipeline = DiffusionPipeline.from_pretrained(folder, dtype=torch.float32)
        pipeline.set_progress_bar_config(disable=True)
        pipeline(prompt="a red cube", width=32, height=32, num_inference_steps=2, output_type="np")
    assert str(folder) not in str(failed.value)


@pytest.mark.parametrize(("what", "said"), [
    ("scheduler", "model_index.json: field 'scheduler' names diffusers DDIMScheduler; expected "
                  "'FlowMatchEulerDiscreteScheduler', the class QwenImagePipeline takes as scheduler"),
    ("tokenizer", "model_index.json: field 'tokenizer' names transformers CLIPTokenizer; expected 'Qwen2Tokenizer', "
                  "the class QwenImagePipeline takes as tokenizer")])
def test_the_folder_is_refused_before_the_load_naming_the_file_and_field(sound, tmp_path, what, said):
    folder = broken(sound, tmp_path, what)
    with pytest.raises(ModelUnavailable) as refused:
        check_checkpoint(str(folder), "diffusers")
    assert str(refused.value).startswith(f"{folder}/{said}")


def test_the_sound_folder_passes(sound):
    check_checkpoint(str(sound), "diffusers")


def _run_by_diffusers(folder: Path):
    from diffusers import DiffusionPipeline

    pipeline = DiffusionPipeline.from_pretrained(folder, dtype=torch.float32)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline(prompt="a red cube", width=32, height=32, num_inference_steps=2, output_type="np",
                    generator=torch.Generator().manual_seed(0)).images


def test_a_flow_match_scheduler_of_another_class_that_diffusers_runs_passes(sound, tmp_path):
    """FlowMatchLCMScheduler takes the ``sigmas`` and ``mu`` QwenImagePipeline sets its steps with (its
    ``set_timesteps``), so diffusers runs the folder; it must not be refused for not being the annotated class.
    FlowMatchHeunDiscreteScheduler takes neither and is still refused."""
    folder = real_format.edited_copy(sound, tmp_path, "model_index.json",
                                     lambda content: content.update(scheduler=["diffusers", "FlowMatchLCMScheduler"]))
    assert _run_by_diffusers(folder).shape == (1, 32, 32, 3)
    check_checkpoint(str(folder), "diffusers")

    heun = tmp_path / "heun"
    heun.mkdir()
    folder = real_format.edited_copy(sound, heun, "model_index.json", lambda content: content.update(
        scheduler=["diffusers", "FlowMatchHeunDiscreteScheduler"]))
    with pytest.raises(ModelUnavailable) as refused:
        check_checkpoint(str(folder), "diffusers")
    assert "field 'scheduler' names diffusers FlowMatchHeunDiscreteScheduler" in str(refused.value)


def test_a_legacy_class_name_diffusers_remaps_passes(tmp_path):
    """PixArt-alpha/PixArt-XL-2-1024-MS and PixArt-Sigma (and facebook/DiT) name their transformer
    ``Transformer2DModel`` in model_index.json; diffusers loads it as the class its config's ``norm_type`` maps to
    (``_CLASS_REMAPPING_DICT``: ``ada_norm_single`` -> PixArtTransformer2DModel), the class PixArtSigmaPipeline
    takes. Shown on a tiny PixArt-Sigma folder: diffusers loads and runs it, and the check passes it."""
    import json

    from diffusers import (AutoencoderKL, DPMSolverMultistepScheduler, PixArtSigmaPipeline,
                           PixArtTransformer2DModel)
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    folder = tmp_path / "PixArt-Sigma"
    PixArtSigmaPipeline(
        tokenizer=real_format.byte_level_tokenizer(300, {0: "<pad>", 1: "</s>"}, eos="</s>", pad="<pad>"),
        text_encoder=T5EncoderModel(T5Config(vocab_size=300, d_model=8, d_kv=4, d_ff=16, num_layers=1, num_heads=2)),
        vae=AutoencoderKL(block_out_channels=(8,), layers_per_block=1, latent_channels=4, norm_num_groups=8,
                          down_block_types=("DownEncoderBlock2D",), up_block_types=("UpDecoderBlock2D",)),
        transformer=PixArtTransformer2DModel(
            sample_size=8, num_layers=1, patch_size=2, attention_head_dim=4, num_attention_heads=2,
            caption_channels=8, in_channels=4, cross_attention_dim=8, out_channels=8, norm_type="ada_norm_single"),
        scheduler=DPMSolverMultistepScheduler()).save_pretrained(folder)
    index = folder / "model_index.json"
    index.write_text(json.dumps(json.loads(index.read_text()) | {"transformer": ["diffusers", "Transformer2DModel"]}))

    from diffusers import DiffusionPipeline

    pipeline = DiffusionPipeline.from_pretrained(folder, dtype=torch.float32)
    pipeline.set_progress_bar_config(disable=True)
    assert type(pipeline.transformer) is PixArtTransformer2DModel
    assert pipeline(prompt="a red cube", width=16, height=16, num_inference_steps=2, output_type="np",
                    max_sequence_length=8, use_resolution_binning=False).images.shape == (1, 16, 16, 3)
    check_checkpoint(str(folder), "diffusers")


def _shipped_schedulers() -> list[type]:
    """Every scheduler class diffusers exports (``SchedulerMixin`` subclasses; not the Flax ones)."""
    import diffusers
    from diffusers import SchedulerMixin

    found = []
    for name in sorted(dir(diffusers)):
        if name.endswith("Scheduler") and not name.startswith("Flax"):
            cls = getattr(diffusers, name, None)
            if isinstance(cls, type) and issubclass(cls, SchedulerMixin):
                found.append(cls)
    return found


# THUDM/CogView4-6B's scheduler/scheduler_config.json
COGVIEW4_SCHEDULER = {"base_image_seq_len": 256, "base_shift": 0.25, "invert_sigmas": False, "max_image_seq_len": 4096,
                      "max_shift": 0.75, "num_train_timesteps": 1000, "shift": 1.0, "shift_terminal": None,
                      "time_shift_type": "linear", "use_beta_sigmas": False, "use_dynamic_shifting": True,
                      "use_exponential_sigmas": False, "use_karras_sigmas": False}


def _tiny_cogview4(folder: Path) -> Path:
    """A CogView4 pipeline folder at one layer of width 16 with CogView4-6B's scheduler configuration. CogView4Pipeline
    passes set_timesteps its own ``timesteps``, ``sigmas`` and ``mu``; its tokenizer here adds a BOS, as GLM's adds
    ``[gMASK]<sop>``, so the empty negative prompt is not zero tokens."""
    from diffusers import AutoencoderKL, CogView4Pipeline, CogView4Transformer2DModel, FlowMatchEulerDiscreteScheduler
    from transformers import GlmConfig, GlmModel

    torch.manual_seed(0)
    CogView4Pipeline(
        tokenizer=real_format.byte_level_tokenizer(300, {0: "<pad>", 1: "</s>", 2: "<s>"}, bos="<s>", eos="</s>",
                                                   pad="<pad>", add_bos=True),
        text_encoder=GlmModel(GlmConfig(vocab_size=300, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                        num_attention_heads=2, num_key_value_heads=2, head_dim=8, pad_token_id=0)),
        vae=AutoencoderKL(block_out_channels=(8,), layers_per_block=1, latent_channels=4, norm_num_groups=8,
                          down_block_types=("DownEncoderBlock2D",), up_block_types=("UpDecoderBlock2D",)),
        transformer=CogView4Transformer2DModel(
            patch_size=2, in_channels=4, out_channels=4, num_layers=1, attention_head_dim=8, num_attention_heads=2,
            text_embed_dim=16, time_embed_dim=8, condition_dim=4, pos_embed_max_size=32, sample_size=16,
            rope_axes_dim=(4, 4)),
        scheduler=FlowMatchEulerDiscreteScheduler.from_config(COGVIEW4_SCHEDULER)).save_pretrained(folder)
    return folder


def _encode_each_image_once(pipeline) -> None:
    """``pipeline._encode_vae_image`` (FluxKontextPipeline's VAE encoding of its input image, resized to about one
    megapixel) computed once per input: its ``sample_mode="argmax"`` latents depend on the image alone (neither the
    scheduler nor the generator, which it does not draw from), and every scheduler of the sweep runs the same input.
    The encoding came before the scheduler's first call in each run, so it took most of the sweep (84 s of 186 s);
    an input unlike the one encoded is encoded again."""
    encode, seen = pipeline._encode_vae_image, []

    def encode_once(image, generator):
        for earlier, latents in seen:
            if earlier.shape == image.shape and torch.equal(earlier, image):
                return latents.clone()
        latents = encode(image=image, generator=generator)
        seen.append((image.clone(), latents.clone()))
        return latents

    pipeline._encode_vae_image = encode_once


@pytest.mark.parametrize("builder", ["build_omnigen", "build_flux_kontext", "cogview4"])
def test_every_scheduler_swapped_in_is_refused_exactly_where_diffusers_fails_to_run_it(real_format_build, tmp_path,
                                                                                       builder):
    """Each scheduler class diffusers ships, built from the pipeline's own scheduler configuration as diffusers'
    docs swap one in (``Cls.from_config(pipe.scheduler.config)``) and saved into the folder with model_index.json
    naming it, is refused by the check exactly where diffusers then fails to run the pipeline (2 steps at 32x32; the
    scheduler loaded from the folder with ``Cls.from_pretrained``, as ``DiffusionPipeline.from_pretrained`` loads
    the component). OmniGenPipeline passes ``sigmas`` and no ``mu`` (``retrieve_timesteps``), so
    EulerDiscreteScheduler and FlowMapEulerDiscreteScheduler run under it; the check refused them for lacking the
    ``mu`` that the annotated FlowMatchEulerDiscreteScheduler takes. CogView4Pipeline passes ``timesteps`` too:
    UniPCMultistepScheduler, which takes ``sigmas`` and ``mu`` but no ``timesteps``, passed the check and failed at
    the first run ("got an unexpected keyword argument 'timesteps'")."""
    import json
    import os
    import shutil

    from diffusers import DiffusionPipeline
    from PIL import Image

    sound = (_tiny_cogview4(tmp_path / "sound" / builder) if builder == "cogview4"
             else real_format_build(builder, tmp_path / "sound" / builder))
    pipeline = DiffusionPipeline.from_pretrained(sound, dtype=torch.float32)
    pipeline.set_progress_bar_config(disable=True)
    own = dict(pipeline.scheduler.config)
    extra = ({"image": Image.new("RGB", (32, 32))} if builder == "build_flux_kontext"
             else {"max_sequence_length": 16} if builder == "cogview4" else {})
    if builder == "build_flux_kontext":
        _encode_each_image_once(pipeline)
    wrong, ran = [], []
    for cls in _shipped_schedulers():
        try:
            scheduler = cls.from_config(own)
        except Exception:  # noqa: BLE001, S112 - a class that cannot be built from it at all (required arguments)
            continue
        folder = tmp_path / cls.__name__
        shutil.copytree(sound, folder, copy_function=os.link)
        (folder / "scheduler" / "scheduler_config.json").unlink()
        scheduler.save_config(folder / "scheduler")
        index = folder / "model_index.json"
        content = json.loads(index.read_text()) | {"scheduler": ["diffusers", cls.__name__]}
        index.unlink()
        index.write_text(json.dumps(content))
        try:
            pipeline.scheduler = cls.from_pretrained(folder / "scheduler")
            pipeline(prompt="a red cube", width=32, height=32, num_inference_steps=2, output_type="np",
                     generator=torch.Generator().manual_seed(0), **extra)
            runs = True
        except Exception:  # noqa: BLE001 - diffusers' own failure, whatever its class
            runs = False
        try:
            check_checkpoint(str(folder), "diffusers")
            passes = True
        except ModelUnavailable as refused:
            passes = False
            assert str(refused).startswith(str(folder)), str(refused)
        if runs != passes:
            wrong.append(f"{cls.__name__}: diffusers {'runs' if runs else 'fails'}, the check "
                         f"{'passes' if passes else 'refuses'}")
        ran += [cls.__name__] if runs else []
        shutil.rmtree(folder)
    assert not wrong, wrong
    assert "FlowMatchEulerDiscreteScheduler" in ran


def test_a_component_the_pipeline_does_not_take_is_left_unread_as_diffusers_leaves_it(sound, tmp_path):
    """model_index.json naming a component the pipeline's ``__init__`` does not take (one a newer diffusers release
    added, or another family's) without its folder: diffusers keeps only ``__init__``'s own names
    (``extract_init_dict``), never opens that folder, and runs; the check refused it ("names the sub-folder ...,
    which does not exist")."""
    import inspect

    from diffusers import QwenImagePipeline

    assert "refiner" not in inspect.signature(QwenImagePipeline.__init__).parameters
    folder = real_format.edited_copy(sound, tmp_path, "model_index.json",
                                     lambda content: content.update(refiner=["transformers", "CLIPVisionModel"]))
    assert not (folder / "refiner").exists()
    assert _run_by_diffusers(folder).shape == (1, 32, 32, 3)
    check_checkpoint(str(folder), "diffusers")
