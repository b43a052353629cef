"""A checkpoint whose configuration files hold values the libraries take unchecked is refused at load, naming the
file, the field and what was expected.

Each broken folder below is first run through diffusers alone (``DiffusionPipeline.from_pretrained`` and a
2-step run of the real-format Qwen-Image folder, tests/real_format.py): it fails in the library's words, naming
no file. Then ``check_checkpoint`` refuses it before anything is loaded.

- ``text_encoder/config.json`` of ``model_type: qwen2`` under ``Qwen2_5_VLForConditionalGeneration``: a bare
  ``ZeroDivisionError`` (the class reads its text fields from a ``text_config`` the qwen2 file lacks: head size 0);
- ``scheduler_config.json`` ``shift_terminal: "0.02"``: diffusers passes the string to ``__init__``
  (``ConfigMixin.extract_init_dict``) and fails at the first run ("unsupported operand type(s) for -");
- ``rope_scaling.mrope_section`` that does not add up to half the head size: torch's "split_with_sizes expects
  split_sizes to sum exactly to 8" at the first forward pass (transformers' ``recomposition_frequencies``);
- ``UniPCMultistepScheduler`` named over the flow-matching ``scheduler_config.json``: UniPC's ``__init__`` refuses
  ``shift_terminal`` without ``use_flow_sigmas``;
- the transformer's ``axes_dims_rope`` not adding up to its ``attention_head_dim``, and the VAE's ``latents_mean``
  of another length than its latent channels: torch's "The size of tensor a (8) must match the size of tensor b
  (7)" and "shape '[1, 16, 1, 1, 1]' is invalid for input of size 8" at the first run.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import torch

from realunify_arena.adapters import ModelUnavailable
from realunify_arena.adapters.checkpoint_files import check_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import real_format  # noqa: E402  (tests/real_format.py)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# The tiny text encoder: hidden_size 32 over 2 heads, so a head of 16 and 16 / 2 = 8 rotary frequencies, which
# the sections [2, 3, 3] (the real [16, 24, 24] of head size 128, scaled) split; [2, 3, 4] adds up to 9.
BROKEN = {
    "model_type": ("text_encoder/config.json", lambda c: c.update(model_type="qwen2"),
                   "text_encoder/config.json: field 'model_type' is 'qwen2'; expected 'qwen2_5_vl'"),
    "shift_terminal": ("scheduler/scheduler_config.json", lambda c: c.update(shift_terminal="0.02"),
                       "scheduler/scheduler_config.json: field 'shift_terminal' is a string, \"0.02\"; expected a "
                       "number"),
    "mrope_section": ("text_encoder/config.json", lambda c: c["rope_scaling"].update(mrope_section=[2, 3, 4]),
                      "text_encoder/config.json: field 'rope_scaling.mrope_section' is [2, 3, 4] (adding up to 9); "
                      "expected sections adding up to 8, half the head size 16"),
    "unipc": ("model_index.json", lambda c: c.update(scheduler=["diffusers", "UniPCMultistepScheduler"]),
              "scheduler/scheduler_config.json: `shift_terminal` is only supported when `use_flow_sigmas=True`."),
    # FlowMatchEulerDiscreteScheduler's default max_shift is 1.15; QwenImagePipeline's calculate_shift subtracts it
    "max_shift": ("scheduler/scheduler_config.json", lambda c: c.update(max_shift=None),
                  "scheduler/scheduler_config.json: field 'max_shift' is null; expected a number"),
    # AutoencoderKLQwenImage's default latents_mean is a list; QwenImagePipeline computes
    # torch.tensor(self.vae.config.latents_mean), which a null fails ("Could not infer dtype of NoneType")
    "latents_mean-null": ("vae/config.json", lambda c: c.update(latents_mean=None),
                          "vae/config.json: field 'latents_mean' is null; expected a value (QwenImagePipeline computes "
                          "with vae.config.latents_mean: "),
    # the transformer's head is 16 wide (attention_head_dim 16), split as RoPE axes [4, 6, 6]
    "axes_dims_rope": ("transformer/config.json", lambda c: c.update(axes_dims_rope=[4, 6, 4]),
                       "transformer/config.json: field 'axes_dims_rope' is [4, 6, 4] (adding up to 14); expected "
                       "sizes adding up to attention_head_dim 16"),
    # the VAE has 16 latent channels (z_dim 16)
    "latents_mean": ("vae/config.json", lambda c: c.update(latents_mean=[0.0] * 8),
                     "vae/config.json: field 'latents_mean' has 8 values; expected 16, one per latent channel "
                     "(z_dim 16)"),
}


@pytest.fixture(scope="module")
def sound(tmp_path_factory, one_torch_thread, real_format_build) -> Path:
    return real_format_build("build_qwen_image", tmp_path_factory.mktemp("values") / "Qwen-Image")


def _run_by_diffusers(folder: Path):
    from diffusers import DiffusionPipeline

    pipeline = DiffusionPipeline.from_pretrained(folder, dtype=torch.float32)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline(prompt="a red cube", width=32, height=32, num_inference_steps=2, output_type="np",
                    generator=torch.Generator().manual_seed(0)).images


@pytest.mark.parametrize("what", sorted(BROKEN))
def test_the_libraries_fail_on_the_folder_naming_no_file(sound, tmp_path, what):
    name, change, _ = BROKEN[what]
    folder = real_format.edited_copy(sound, tmp_path, name, change)
    with pytest.raises(Exception) as failed:  # noqa: PT011 - the library's own error, whatever its class
        _run_by_diffusers(folder)
    assert str(folder) not in str(failed.value)


@pytest.mark.parametrize("what", sorted(BROKEN))
def test_the_folder_is_refused_before_the_load_naming_file_field_and_expectation(sound, tmp_path, what):
    name, change, said = BROKEN[what]
    folder = real_format.edited_copy(sound, tmp_path, name, change)
    with pytest.raises(ModelUnavailable) as refused:
        check_checkpoint(str(folder), "diffusers")
    assert str(refused.value).startswith(f"{folder}/{said}")


def test_the_sound_folder_runs_and_passes(sound):
    assert _run_by_diffusers(sound).shape == (1, 32, 32, 3)
    check_checkpoint(str(sound), "diffusers")


def test_values_of_the_types_diffusers_takes_pass(sound, tmp_path):
    """An integer where a float is annotated (``shift: 1``), null where the default is None (``shift_terminal``),
    and UniPC on flow sigmas (the configuration Wan ships: ``use_flow_sigmas: true``) are what diffusers builds and
    runs: not refused."""
    def change(content):
        content.update(shift=1, shift_terminal=None)

    folder = real_format.edited_copy(sound, tmp_path, "scheduler/scheduler_config.json", change)
    check_checkpoint(str(folder), "diffusers")

    unipc = tmp_path / "unipc"
    unipc.mkdir()
    folder = real_format.edited_copy(folder, unipc, "model_index.json",
                                     lambda c: c.update(scheduler=["diffusers", "UniPCMultistepScheduler"]))
    (folder / "scheduler" / "scheduler_config.json").unlink()
    (folder / "scheduler" / "scheduler_config.json").write_text(
        '{"_class_name": "UniPCMultistepScheduler", "use_flow_sigmas": true, "prediction_type": "flow_prediction",'
        ' "flow_shift": 3.0}')
    check_checkpoint(str(folder), "diffusers")


def test_a_vae_config_value_of_the_wrong_type_is_refused(sound, tmp_path):
    """The same rule holds for a diffusers model component's config.json: ``AutoencoderKLQwenImage`` takes
    ``z_dim: int``; diffusers would build ``torch.nn.Conv3d`` with a string and fail in torch's words."""
    folder = real_format.edited_copy(sound, tmp_path, "vae/config.json", lambda c: c.update(z_dim="16"))
    with pytest.raises(ModelUnavailable) as refused:
        check_checkpoint(str(folder), "diffusers")
    assert str(refused.value).startswith(
        f"{folder}/vae/config.json: field 'z_dim' is a string, \"16\"; expected a whole number")


def test_a_whole_qwen_vl_model_with_mrope_sections_off_its_head_size_is_refused(tmp_path, real_format_build):
    """Qwen2.5-VL-7B's own folder (not a pipeline component) goes through the same rule."""
    sound = real_format_build("build_qwen2_5_vl", tmp_path / "sound" / "Qwen2.5-VL-7B-Instruct")
    check_checkpoint(str(sound), "transformers", model_types={"qwen2_5_vl"})
    (tmp_path / "broken").mkdir()
    folder = real_format.edited_copy(sound, tmp_path / "broken", "config.json",
                                     lambda c: c["rope_scaling"].update(mrope_section=[4, 6, 6]))
    with pytest.raises(ModelUnavailable) as refused:
        check_checkpoint(str(folder), "transformers", model_types={"qwen2_5_vl"})
    assert str(refused.value) == (
        f"{folder}/config.json: field 'rope_scaling.mrope_section' is [4, 6, 6] (adding up to 16); expected "
        "sections adding up to 8, half the head size 16 (hidden_size 32 / num_attention_heads 2)")


def test_a_models_null_that_its_class_reads_as_its_own_setting_passes(tmp_path):
    """google/ddpm-cat-256 ships ``UNet2DModel`` with ``"attention_head_dim": null`` (annotated ``int | None``,
    default 8; ``UNet2DModel`` reads None as one head per channel block). A tiny DDPM folder of that layout is
    saved, run by diffusers and accepted; a null the class cannot be built with (``UNet2DConditionModel``
    ``norm_num_groups: null``: its blocks divide by it) is still refused, naming the field."""
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(32, 32), layers_per_block=1,
                       down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=8, attention_head_dim=None,
                       downsample_padding=0, flip_sin_to_cos=False, freq_shift=1, norm_eps=1e-6)
    folder = tmp_path / "ddpm-cat-256"
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=10)).save_pretrained(folder)
    assert json.loads((folder / "unet" / "config.json").read_text())["attention_head_dim"] is None
    pipeline = DDPMPipeline.from_pretrained(folder)
    pipeline.set_progress_bar_config(disable=True)
    assert pipeline(num_inference_steps=2, output_type="np", generator=torch.Generator().manual_seed(0)).images.shape \
        == (1, 8, 8, 3)
    check_checkpoint(str(folder), "diffusers")

    from diffusers import UNet2DConditionModel

    from realunify_arena.adapters.checkpoint_config import config_values_problem

    tiny = {"sample_size": 8, "block_out_channels": [32, 64], "layers_per_block": 1, "cross_attention_dim": 16,
            "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
            "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"]}
    UNet2DConditionModel.from_config(tiny)  # builds with its default groups
    with pytest.raises(TypeError):
        UNet2DConditionModel.from_config({**tiny, "norm_num_groups": None})
    assert config_values_problem(Path("unet/config.json"), {**tiny, "norm_num_groups": None}, UNet2DConditionModel) \
        .startswith("unet/config.json: field 'norm_num_groups' is null; expected a whole number")


def _glm4v_folder(folder: Path, sections: list[int]) -> tuple[Path, object]:
    """A tiny GLM-4.1V (``Glm4vForConditionalGeneration``) saved with GLM-4.1V-9B's hub layout of its text RoPE:
    ``text_config.partial_rotary_factor`` 0.5 and ``text_config.rope_scaling`` ``{"type": "default",
    "mrope_section": ...}`` (the hub's [8, 12, 12] over heads of 4096 / 32 = 128: 64 rotary dims, 32 frequencies).
    Here heads of 32 / 2 = 16, so 8 rotary dims and 4 frequencies. Returns (folder, the loaded model)."""
    from transformers import (Glm4vConfig, Glm4vForConditionalGeneration, Glm4vImageProcessor, Glm4vProcessor,
                              Glm4vVideoProcessor)

    torch.manual_seed(0)
    ids = {"image_token_id": 290, "video_token_id": 291, "image_start_token_id": 292, "image_end_token_id": 293,
           "video_start_token_id": 294, "video_end_token_id": 295}
    config = Glm4vConfig(text_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                                      "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 300},
                         vision_config={"hidden_size": 16, "depth": 1, "num_heads": 2, "out_hidden_size": 32,
                                        "intermediate_size": 32, "patch_size": 2, "image_size": 8}, **ids)
    Glm4vForConditionalGeneration(config).save_pretrained(folder)
    specials = {i: f"<|special{i}|>" for i in range(288, 300)}
    tokenizer = real_format.byte_level_tokenizer(300, specials, eos="<|special288|>", pad="<|special289|>")
    Glm4vProcessor(image_processor=Glm4vImageProcessor(), tokenizer=tokenizer,
                   video_processor=Glm4vVideoProcessor()).save_pretrained(folder)

    def hub_layout(content):
        text = content["text_config"]
        text.pop("rope_parameters", None)
        text.update(partial_rotary_factor=0.5, rope_theta=10000.0,
                    rope_scaling={"type": "default", "mrope_section": sections})

    content = json.loads((folder / "config.json").read_text())
    hub_layout(content)
    (folder / "config.json").write_text(json.dumps(content))
    return folder, Glm4vForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).eval()


def test_glm4v_sections_split_its_partial_rotary_size_not_its_head(tmp_path):
    """GLM-4.1V rotates only part of each head (``partial_rotary_factor`` 0.5: its
    ``compute_default_rope_parameters`` makes ``int(head * 0.5) // 2`` frequencies), so its real sections
    [8, 12, 12] add up to 32 over heads of 128, not 64. The tiny model with the same layout ([1, 1, 2] over heads of
    16) runs in transformers and is accepted; [2, 3, 3], which adds up to half the whole head, fails in torch's words
    and is refused naming the rotary size."""
    sound, model = _glm4v_folder(tmp_path / "sound", [1, 1, 2])
    with torch.no_grad():
        assert model(input_ids=torch.tensor([[1, 2, 3, 4]])).logits.shape == (1, 4, 300)
    check_checkpoint(str(sound), "transformers", model_types={"glm4v"})

    broken, model = _glm4v_folder(tmp_path / "broken", [2, 3, 3])
    with pytest.raises(RuntimeError, match="split_with_sizes"), torch.no_grad():
        model(input_ids=torch.tensor([[1, 2, 3, 4]]))
    with pytest.raises(ModelUnavailable) as refused:
        check_checkpoint(str(broken), "transformers", model_types={"glm4v"})
    assert str(refused.value) == (
        f"{broken}/config.json: field 'text_config.rope_scaling.mrope_section' is [2, 3, 3] (adding up to 8); expected "
        "sections adding up to 4, half the rotary size 8 (16 * partial_rotary_factor 0.5 of a head of hidden_size 32 "
        "/ num_attention_heads 2)")


def test_omnigen_rope_factors_of_another_length_than_its_head_frequencies_are_refused(tmp_path, real_format_build):
    """OmniGen-v1's transformer multiplies one ``rope_scaling`` factor into each rotary frequency of a head
    (``OmniGenSuScaledRotaryEmbedding``); the tiny folder has heads of 32 / 4 = 8, so 4 frequencies, and 3 short
    factors fail at the first run in torch's words."""
    from diffusers import DiffusionPipeline

    sound = real_format_build("build_omnigen", tmp_path / "sound" / "OmniGen-v1-diffusers")
    check_checkpoint(str(sound), "diffusers")
    (tmp_path / "broken").mkdir()
    folder = real_format.edited_copy(sound, tmp_path / "broken", "transformer/config.json",
                                     lambda c: c["rope_scaling"].update(short_factor=[1.0, 1.0, 1.1]))
    with pytest.raises(Exception) as failed:  # noqa: PT011 - the library's own error, whatever its class
        pipeline = DiffusionPipeline.from_pretrained(folder, dtype=torch.float32)
        pipeline.set_progress_bar_config(disable=True)
        pipeline(prompt="a red cube", width=32, height=32, num_inference_steps=2, output_type="np")
    assert str(folder) not in str(failed.value)
    with pytest.raises(ModelUnavailable) as refused:
        check_checkpoint(str(folder), "diffusers")
    assert str(refused.value).startswith(
        f"{folder}/transformer/config.json: field 'rope_scaling.short_factor' has 3 values; expected 4, one per "
        "rotary frequency of a head of 8 (hidden_size 32 / num_attention_heads 4)")


# A null where the class default is None too, in real-format folders (tests/real_format.py): FLUX.1 Kontext's VAE
# ``shift_factor`` (the hub file's 0.1159; FluxKontextPipeline computes ``(latents - shift_factor) * scaling_factor``)
# and OmniGen's transformer ``rope_scaling`` (the hub file's Phi-3 "su" factors; its rotary embedding's __init__
# reads ``rope_scaling["short_factor"]``): both loaded the check, then diffusers failed with a bare TypeError
NULLS = {
    "kontext-vae-shift_factor": ("build_flux_kontext", "vae/config.json", "shift_factor",
                                 "unsupported operand type(s)",
                                 "vae/config.json: field 'shift_factor' is null; expected a number "
                                 "(FluxKontextPipeline computes with vae.config.shift_factor: "),
    "omnigen-transformer-rope_scaling": ("build_omnigen", "transformer/config.json", "rope_scaling",
                                         "'NoneType' object is not subscriptable",
                                         "transformer/config.json: field 'rope_scaling' is null; expected a value "
                                         "(OmniGenTransformer2DModel cannot be built without one: 'NoneType' object "
                                         "is not subscriptable)"),
}


@pytest.mark.parametrize("case", sorted(NULLS))
def test_a_null_the_pipeline_or_model_computes_with_is_refused(real_format_build, tmp_path, case):
    builder, name, field, fails, said = NULLS[case]
    sound = real_format_build(builder, tmp_path / "sound" / builder)
    (tmp_path / "broken").mkdir()
    folder = real_format.edited_copy(sound, tmp_path / "broken", name, lambda c: c.update({field: None}))
    with pytest.raises(TypeError, match=re.escape(fails)) as failed:
        real_format.run_pipeline(folder)
    assert str(folder) not in str(failed.value)
    with pytest.raises(ModelUnavailable) as refused:
        check_checkpoint(str(folder), "diffusers")
    assert str(refused.value).startswith(f"{folder}/{said}"), str(refused.value)


@pytest.mark.parametrize("case", sorted(NULLS))
def test_a_field_left_out_whose_class_default_is_null_is_refused_as_the_null_is(real_format_build, tmp_path, case):
    """A configuration that leaves the field out (written by hand, or by a diffusers release before the field
    existed) builds the class with its default, None, exactly as the null does, and diffusers fails the same way;
    the check looked only at the nulls the file writes and passed it."""
    builder, name, field, fails, said = NULLS[case]
    sound = real_format_build(builder, tmp_path / "sound" / builder)
    (tmp_path / "broken").mkdir()
    folder = real_format.edited_copy(sound, tmp_path / "broken", name, lambda c: c.pop(field))
    with pytest.raises(TypeError, match=re.escape(fails)) as failed:
        real_format.run_pipeline(folder)
    assert str(folder) not in str(failed.value)
    with pytest.raises(ModelUnavailable) as refused:
        check_checkpoint(str(folder), "diffusers")
    cls = json.loads((sound / name).read_text())["_class_name"]
    left_out = said.replace(f"field '{field}' is null", f"field '{field}': missing ({cls}'s default is null)")
    assert str(refused.value).startswith(f"{folder}/{left_out}"), str(refused.value)


def test_a_null_the_pipeline_never_reads_or_handles_passes(real_format_build, tmp_path):
    """OmniGen's VAE (AutoencoderKL) as diffusers saves it writes ``shift_factor: null`` and ``latents_mean: null``
    (their defaults): OmniGenPipeline never reads them; StableDiffusionXLPipeline, which tests ``latents_mean`` for
    None, is not that pipeline's reader. The folder runs and passes."""
    sound = real_format_build("build_omnigen", tmp_path / "OmniGen")
    vae = json.loads((sound / "vae" / "config.json").read_text())
    assert vae["shift_factor"] is None and vae["latents_mean"] is None
    assert real_format.run_pipeline(sound).shape[-1] == 3
    check_checkpoint(str(sound), "diffusers")


def test_which_nulls_each_pipeline_computes_with():
    """Read from diffusers' own pipelines: FLUX and SD3 add the VAE's shift_factor unguarded; SDXL tests
    latents_mean for None; SD 1.x and OmniGen read neither."""
    import diffusers
    from diffusers import AutoencoderKL

    from realunify_arena.adapters.checkpoint_config import pipeline_null_problem

    nulls = {"shift_factor": None, "latents_mean": None, "latents_std": None}
    refused = {name: pipeline_null_problem(Path("vae/config.json"), nulls, getattr(diffusers, name), "vae",
                                           AutoencoderKL)
               for name in ("FluxPipeline", "StableDiffusion3Pipeline", "StableDiffusionXLPipeline",
                            "StableDiffusionPipeline", "OmniGenPipeline")}
    assert {name for name, said in refused.items() if said} == {"FluxPipeline", "StableDiffusion3Pipeline"}
    assert all("field 'shift_factor' is null" in said for said in refused.values() if said)

    # SD reads the UNet's sample_size only as ``height or self.unet.config.sample_size * self.vae_scale_factor`` (a
    # caller's height skips it; its docstring says the same in words), SDXL's addition_time_embed_dim always
    from diffusers import UNet2DConditionModel

    unet = {"sample_size": None, "addition_time_embed_dim": None}
    assert pipeline_null_problem(Path("unet/config.json"), {"sample_size": None}, diffusers.StableDiffusionPipeline,
                                 "unet", UNet2DConditionModel) is None
    assert pipeline_null_problem(Path("unet/config.json"), unet, diffusers.StableDiffusionXLPipeline, "unet",
                                 UNet2DConditionModel).startswith(
        "unet/config.json: field 'addition_time_embed_dim' is null; expected a whole number")


def test_a_size_left_out_is_said_to_be_missing_not_quoted_as_the_files(real_format_build, tmp_path):
    """FLUX Kontext's transformer config.json without ``axes_dims_rope`` (tiny heads of 16) builds the class default,
    which diffusers' rotary embedding then fails on at the first run; the refusal quoted that default as the file's
    value ("field 'axes_dims_rope' is [16, 56, 56]"), a field the file does not hold."""
    import inspect

    from diffusers import FluxTransformer2DModel

    sound = real_format_build("build_flux_kontext", tmp_path / "sound" / "FLUX.1-Kontext-dev")
    (tmp_path / "broken").mkdir()
    folder = real_format.edited_copy(sound, tmp_path / "broken", "transformer/config.json",
                                     lambda c: c.pop("axes_dims_rope"))
    with pytest.raises(RuntimeError, match="must match the size of tensor"):
        real_format.run_pipeline(folder)
    default = list(inspect.signature(FluxTransformer2DModel.__init__).parameters["axes_dims_rope"].default)
    head = json.loads((sound / "transformer" / "config.json").read_text())["attention_head_dim"]
    with pytest.raises(ModelUnavailable) as refused:
        check_checkpoint(str(folder), "diffusers")
    assert str(refused.value).startswith(
        f"{folder}/transformer/config.json: field 'axes_dims_rope': missing (the class default is {default}) (adding "
        f"up to {sum(default)}); expected sizes adding up to attention_head_dim {head}"), str(refused.value)
