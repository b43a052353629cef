"""A checkpoint whose configuration files hold a misspelt name (a string the libraries look up only when they build or
run) is refused before the load, naming the file, the field, the value and the values taken.

Each folder is built from the classes' own defaults (diffusers' ``save_config``, transformers' ``save_pretrained``)
with one field misspelt, and first given to the library alone: it fails in the library's words naming no file (or,
for a scheduler value the class never refuses, runs with another setting than the file meant). The values expected
in each refusal are written here from the libraries' own error messages and documentation, not read from the code
under test.

- diffusers schedulers (a tiny DDPM pipeline, whose ``scheduler`` each scheduler class can fill): DDIM's
  ``timestep_spacing``, Euler's ``prediction_type``, DPM-Solver's ``algorithm_type``, UniPC's ``final_sigmas_type``,
  FLUX/Qwen-Image's FlowMatchEuler ``time_shift_type``, DDPM's ``beta_schedule``, and the silent DDPM
  ``variance_type`` and Euler ``timestep_type``;
- transformers ``config.json`` (the real-format Qwen2.5-VL folder, tests/real_format.py): ``hidden_act`` (the hub's
  flat layout and ``vision_config``), ``rope_scaling.rope_type``, ``attn_implementation``;
- every transformers model whose rotary embedding splits its frequencies by ``mrope_section`` (each family's own
  ``recomposition_frequencies`` in transformers/models/*/modeling_*.py), from its configuration class's defaults.
"""

from __future__ import annotations

import importlib
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


# ---- diffusers schedulers -----------------------------------------------------------------------------------------

# case -> (scheduler class, field, misspelt value, values diffusers takes there, whether diffusers refuses it)
SCHEDULERS = {
    # "... is not supported. Please make sure to choose one of 'linspace', 'leading' or 'trailing'." (set_timesteps)
    "timestep_spacing": ("DDIMScheduler", "timestep_spacing", "linspase", ["linspace", "leading", "trailing"], True),
    # "prediction_type given as epsilonn must be one of `epsilon`, or `v_prediction`" (step)
    "prediction_type": ("EulerDiscreteScheduler", "prediction_type", "epsilonn", ["epsilon", "v_prediction"], True),
    # "dpmsolver+++ is not implemented for <class ...>" (__init__); the docs list the four algorithms
    "algorithm_type": ("DPMSolverMultistepScheduler", "algorithm_type", "dpmsolver+++",
                       ["dpmsolver", "dpmsolver++", "sde-dpmsolver", "sde-dpmsolver++"], True),
    # "`final_sigmas_type` must be one of 'zero', or 'sigma_min', but got zeros" (set_timesteps)
    "final_sigmas_type": ("UniPCMultistepScheduler", "final_sigmas_type", "zeros", ["zero", "sigma_min"], True),
    # "`time_shift_type` must either be 'exponential' or 'linear'." (__init__): the cards' FLUX and Qwen-Image scheduler
    "time_shift_type": ("FlowMatchEulerDiscreteScheduler", "time_shift_type", "exponentail",
                        ["exponential", "linear"], True),
    # "scaled_linaer is not implemented for <class ...>" (__init__); the docs list the four schedules
    "beta_schedule": ("DDPMScheduler", "beta_schedule", "scaled_linaer",
                      ["linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid"], True),
    # never refused: DDPM's _get_variance falls through its if/elif chain and keeps the plain variance
    "variance_type": ("DDPMScheduler", "variance_type", "fixed_smal",
                      ["fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log", "learned",
                       "learned_range"], False),
    # never refused: anything but "continuous" reads as discrete timesteps
    "timestep_type": ("EulerDiscreteScheduler", "timestep_type", "continous", ["discrete", "continuous"], False),
}


def _ddpm_folder(tmp_path_factory, name: str, out_channels: int, settings: dict) -> Path:
    """A tiny DDPM pipeline folder (UNet2DModel of 8x8 RGB in, ``out_channels`` out, random weights; DDPMScheduler
    of ``settings``)."""
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=3, out_channels=out_channels, block_out_channels=(32, 32),
                       layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D"),
                       up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=8)
    folder = tmp_path_factory.mktemp("schedulers") / name
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(**settings)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def ddpm(tmp_path_factory) -> Path:
    """A tiny DDPM pipeline folder (UNet2DModel of 8x8 RGB, random weights; DDPMScheduler)."""
    return _ddpm_folder(tmp_path_factory, "ddpm", 3, {"num_train_timesteps": 1000})


def _with_scheduler(ddpm: Path, under: Path, name: str, settings: dict) -> Path:
    """A copy of ``ddpm`` whose scheduler is diffusers' ``name``: its own defaults saved (``save_config``), then
    ``settings`` written over them."""
    import diffusers

    folder = real_format.edited_copy(ddpm, under, "model_index.json",
                                     lambda content: content.update(scheduler=["diffusers", name]))
    (folder / "scheduler" / "scheduler_config.json").unlink()
    getattr(diffusers, name)().save_config(folder / "scheduler")
    config = folder / "scheduler" / "scheduler_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), **settings}))
    return folder


def _run(folder: Path):
    from diffusers import DDPMPipeline

    pipeline = DDPMPipeline.from_pretrained(folder)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline(num_inference_steps=4, output_type="np", generator=torch.Generator().manual_seed(0)).images


@pytest.mark.parametrize("case", sorted(SCHEDULERS))
def test_diffusers_takes_the_misspelt_scheduler_value_until_it_runs(ddpm, tmp_path, case):
    name, field, value, _, refused = SCHEDULERS[case]
    folder = _with_scheduler(ddpm, tmp_path, name, {field: value})
    if refused:
        with pytest.raises(Exception) as failed:  # noqa: PT011 - the library's own error, whatever its class
            _run(folder)
        assert str(folder) not in str(failed.value)
    else:
        assert _run(folder).shape == (1, 8, 8, 3)


@pytest.mark.parametrize("case", sorted(SCHEDULERS))
def test_a_misspelt_scheduler_value_is_refused_naming_file_field_and_values(ddpm, tmp_path, case):
    name, field, value, allowed, _ = SCHEDULERS[case]
    folder = _with_scheduler(ddpm, tmp_path, name, {field: value})
    with pytest.raises(ModelUnavailable) as refused:
        check_checkpoint(str(folder), "diffusers")
    said = str(refused.value)
    assert said.startswith(f"{folder}/scheduler/scheduler_config.json: field '{field}' is \"{value}\"; expected"), said
    for taken in allowed:
        assert re.search(rf"[\"'`]{re.escape(taken)}[\"'`]", said), (taken, said)


# The FlowMatchEulerDiscreteScheduler configurations the cards load, each in its card's pipeline (the dry run calls
# set_timesteps as that pipeline does): FLUX.1 Kontext's and Qwen-Image's hub files (tests/real_format.py),
# OmniGen-v1's (the class defaults) and tiny-pair's (realunify_arena/adapters/tiny.py, an OmniGen pipeline)
CARD_SCHEDULERS = {"flux-kontext": ("build_flux_kontext", real_format.KONTEXT_SCHEDULER),
                   "qwen-image": ("build_qwen_image", real_format.QWEN_IMAGE_SCHEDULER),
                   "omnigen": ("build_omnigen", {}),
                   "tiny-pair": ("build_omnigen", {"invert_sigmas": True, "num_train_timesteps": 1})}


@pytest.mark.parametrize("card", sorted(CARD_SCHEDULERS))
def test_the_cards_scheduler_configurations_pass(real_format_build, tmp_path, card):
    builder, settings = CARD_SCHEDULERS[card]
    sound = real_format_build(builder, tmp_path / "sound" / builder)
    (tmp_path / "edited").mkdir()
    folder = _pipeline_scheduler(sound, tmp_path / "edited", "FlowMatchEulerDiscreteScheduler", settings)
    check_checkpoint(str(folder), "diffusers")


def test_every_scheduler_with_its_own_defaults_passes():
    """No false refusal: every diffusers scheduler class that builds from its own defaults passes with them."""
    import diffusers
    from diffusers import SchedulerMixin

    from realunify_arena.adapters.checkpoint_scheduler import scheduler_settings_problem

    checked = 0
    for name in sorted(dir(diffusers)):
        cls = getattr(diffusers, name, None) if name.endswith("Scheduler") else None
        if not (isinstance(cls, type) and issubclass(cls, SchedulerMixin)):
            continue
        try:
            content = dict(cls().config)
        except TypeError:  # a scheduler whose __init__ requires arguments (AmusedScheduler's mask_token_id)
            continue
        assert scheduler_settings_problem(Path("scheduler_config.json"), content, cls) is None, name
        checked += 1
    assert checked > 30


def test_a_configuration_saved_for_another_scheduler_passes(ddpm, tmp_path):
    """DDPMScheduler's configuration (``variance_type: "fixed_small"``, a value DDPM's annotation lists and
    DPMSolverMultistepScheduler's does not) under DPMSolverMultistepScheduler, which ignores the value, runs and
    passes."""
    from diffusers import DDPMScheduler

    settings = {key: value for key, value in DDPMScheduler().config.items() if not key.startswith("_")}
    assert settings["variance_type"] == "fixed_small"
    folder = _with_scheduler(ddpm, tmp_path, "DPMSolverMultistepScheduler", settings)
    assert _run(folder).shape == (1, 8, 8, 3)
    check_checkpoint(str(folder), "diffusers")


# DeepFloyd IF-I-XL-v1.0's scheduler/scheduler_config.json (the hub file's values): its UNet predicts the variance
# too, 6 output channels over an RGB sample, which DDPM splits in two; DPM-Solver and UnCLIP take the same setting
# (diffusers' docs: "learned_range" for "diffusion models that predict variance")
IF_SCHEDULER = {"beta_end": 0.02, "beta_schedule": "squaredcos_cap_v2", "beta_start": 0.0001, "clip_sample": True,
                "clip_sample_range": 1.0, "dynamic_thresholding_ratio": 0.95, "num_train_timesteps": 1000,
                "prediction_type": "epsilon", "sample_max_value": 1.5, "thresholding": True, "trained_betas": None,
                "variance_type": "learned_range"}


@pytest.fixture(scope="module")
def ddpm_learned_variance(tmp_path_factory) -> Path:
    """A tiny DDPM pipeline folder whose UNet2DModel predicts the variance too (3 channels in, 6 out), as IF's."""
    return _ddpm_folder(tmp_path_factory, "ddpm-learned-variance", 6, IF_SCHEDULER)


@pytest.mark.parametrize("name, variance", [("DDPMScheduler", "learned_range"), ("DDPMScheduler", "learned"),
                                            ("DPMSolverMultistepScheduler", "learned_range"),
                                            ("UnCLIPScheduler", "learned_range")])
def test_a_learned_variance_scheduler_runs_and_passes(ddpm_learned_variance, tmp_path, name, variance):
    """Before, the dry run gave such a scheduler an output of the sample's shape, it failed ("unsupported operand
    type(s) for +: 'NoneType' and 'int'"), and IF's own scheduler_config.json was refused for its variance_type."""
    folder = _with_scheduler(ddpm_learned_variance, tmp_path, name, {**IF_SCHEDULER, "variance_type": variance})
    assert _run(folder).shape == (1, 8, 8, 3)  # diffusers runs it
    check_checkpoint(str(folder), "diffusers")

    # a misspelling beside it is still named
    folder = _with_scheduler(ddpm_learned_variance, tmp_path / "misspelt", name,
                             {**IF_SCHEDULER, "variance_type": variance, "prediction_type": "epsilonn"})
    with pytest.raises(ModelUnavailable, match=r"scheduler_config\.json: field 'prediction_type' is \"epsilonn\""):
        check_checkpoint(str(folder), "diffusers")


# ---- schedulers driven the way the pipeline that loads them calls set_timesteps ------------------------------------

# Hub-format scheduler configurations (the files' values): FLUX.1-dev's and Kontext's scheduler/scheduler_config.json
# (tests/real_format.py KONTEXT_SCHEDULER); Wan2.1-T2V-1.3B-Diffusers' scheduler/scheduler_config.json
# (UniPCMultistepScheduler, flow sigmas, flow_shift 3.0, as diffusers' Wan docs load it); the FLUX configuration
# under UniPCMultistepScheduler as diffusers' docs swap a scheduler (``UniPCMultistepScheduler.from_config(
# pipe.scheduler.config)``, "Schedulers" usage guide), saved by ``save_config``; tiny-pair's FlowMatchEuler
# (realunify_arena/adapters/tiny.py: OmniGen pipeline, invert_sigmas, one training timestep).
WAN_SCHEDULER = {"beta_end": 0.02, "beta_schedule": "linear", "beta_start": 0.0001, "disable_corrector": [],
                 "dynamic_thresholding_ratio": 0.995, "final_sigmas_type": "zero", "flow_shift": 3.0,
                 "lower_order_final": True, "num_train_timesteps": 1000, "predict_x0": True,
                 "prediction_type": "flow_prediction", "rescale_betas_zero_snr": False, "sample_max_value": 1.0,
                 "solver_order": 2, "solver_p": None, "solver_type": "bh2", "steps_offset": 0,
                 "thresholding": False, "timestep_spacing": "linspace", "trained_betas": None,
                 "use_beta_sigmas": False, "use_exponential_sigmas": False, "use_flow_sigmas": True,
                 "use_karras_sigmas": False}


def _swapped_unipc(settings: dict) -> dict:
    return _swapped("UniPCMultistepScheduler", settings)


def _swapped(name: str, settings: dict) -> dict:
    """diffusers' scheduler ``name`` built from another's ``settings`` (``Cls.from_config``), as its configuration."""
    import diffusers

    return {k: v for k, v in getattr(diffusers, name).from_config(settings).config.items() if not k.startswith("_")}


# THUDM/CogView4-6B's scheduler/scheduler_config.json: dynamic shifting with the linear time shift
COGVIEW4_SCHEDULER = {"base_image_seq_len": 256, "base_shift": 0.25, "invert_sigmas": False, "max_image_seq_len": 4096,
                      "max_shift": 0.75, "num_train_timesteps": 1000, "shift": 1.0, "shift_terminal": None,
                      "time_shift_type": "linear", "use_beta_sigmas": False, "use_dynamic_shifting": True,
                      "use_exponential_sigmas": False, "use_karras_sigmas": False}


# case -> (pipeline builder, scheduler class, its configuration, what diffusers' pipeline says / None where it runs,
#          the check's refusal after the folder's path / None where it passes)
PIPELINE_SCHEDULERS = {
    # OmniGenPipeline passes sigmas and no mu: FLUX's dynamic shifting then fails at its first call
    "flux-config-in-omnigen": (
        "build_omnigen", "FlowMatchEulerDiscreteScheduler", real_format.KONTEXT_SCHEDULER,
        "`mu` must be passed when `use_dynamic_shifting` is set to be `True`",
        "scheduler/scheduler_config.json: field 'use_dynamic_shifting' is true; expected false (it refuses this one as "
        "OmniGenPipeline calls set_timesteps(sigmas=np.linspace(1, 0, steps + 1)[:-1]), without mu: `mu` must be "
        "passed when `use_dynamic_shifting` is set to be `True`)"),
    # FluxKontextPipeline passes its own sigmas: UniPC takes them only with flow sigmas
    "unipc-swapped-in-kontext": (
        "build_flux_kontext", "UniPCMultistepScheduler", _swapped_unipc(real_format.KONTEXT_SCHEDULER),
        "Passing `sigmas` is only supported when `use_flow_sigmas=True`",
        "scheduler/scheduler_config.json: field 'use_flow_sigmas' is false; expected true (it refuses this one as "
        "FluxKontextPipeline calls set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), mu=calculate_shift(...)): "
        "Passing `sigmas` is only supported when `use_flow_sigmas=True`."),
    # ... and runs it once flow sigmas are on, as the refusal says
    "unipc-swapped-flow-sigmas-in-kontext": (
        "build_flux_kontext", "UniPCMultistepScheduler",
        {**_swapped_unipc(real_format.KONTEXT_SCHEDULER), "use_flow_sigmas": True}, None, None),
    "wan-unipc-in-kontext": ("build_flux_kontext", "UniPCMultistepScheduler", WAN_SCHEDULER, None, None),
    # DPMSolverMultistepScheduler refuses dynamic shifting with the linear time shift in a bare ``assert``
    # (AssertionError(), no message): the refusal ended "(it refuses this one: )"
    "dpmsolver-from-cogview4-in-kontext": (
        "build_flux_kontext", "DPMSolverMultistepScheduler",
        _swapped("DPMSolverMultistepScheduler", COGVIEW4_SCHEDULER), "does not support custom sigmas schedules",
        "scheduler/scheduler_config.json: field 'use_dynamic_shifting' is true; expected false (it refuses this one: "
        "AssertionError)"),
    "kontext-own": ("build_flux_kontext", "FlowMatchEulerDiscreteScheduler", real_format.KONTEXT_SCHEDULER, None, None),
    # set_timesteps(4) alone fails on it (IndexError), OmniGenPipeline's sigmas run it
    "tiny-pair-in-omnigen": ("build_omnigen", "FlowMatchEulerDiscreteScheduler",
                             {"invert_sigmas": True, "num_train_timesteps": 1}, None, None),
}


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory, real_format_build, one_torch_thread) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pipelines")
    return {name: real_format_build(name, root / name) for name in ("build_omnigen", "build_flux_kontext")}


def _pipeline_scheduler(sound: Path, under: Path, name: str, settings: dict) -> Path:
    """A copy of the pipeline folder ``sound`` whose scheduler is diffusers' ``name`` with ``settings`` (the whole
    scheduler_config.json but its ``_class_name`` / ``_diffusers_version``)."""
    import diffusers

    folder = real_format.edited_copy(sound, under, "model_index.json",
                                     lambda content: content.update(scheduler=["diffusers", name]))
    config = folder / "scheduler" / "scheduler_config.json"
    config.unlink()  # a hard link into the shared build: written anew, not in place
    config.write_text(json.dumps({"_class_name": name, "_diffusers_version": diffusers.__version__, **settings}))
    return folder


@pytest.mark.parametrize("case", sorted(PIPELINE_SCHEDULERS))
def test_a_scheduler_is_judged_the_way_its_pipeline_calls_set_timesteps(pipelines, tmp_path, case):
    """The dry run called ``set_timesteps(4)`` (with ``mu`` where dynamic shifting is on) whatever the pipeline:
    FLUX's configuration under OmniGen and a swapped-in UniPC under FLUX Kontext passed the check, then failed at
    the first run in diffusers' words, naming no file."""
    builder, name, settings, fails, said = PIPELINE_SCHEDULERS[case]
    folder = _pipeline_scheduler(pipelines[builder], tmp_path, name, settings)
    if fails:
        with pytest.raises(ValueError) as failed:
            real_format.run_pipeline(folder)
        assert fails in str(failed.value) and str(folder) not in str(failed.value)
        with pytest.raises(ModelUnavailable) as refused:
            check_checkpoint(str(folder), "diffusers")
        assert str(refused.value).startswith(f"{folder}/{said}"), str(refused.value)
    else:
        assert real_format.run_pipeline(folder).shape[-1] == 3
        check_checkpoint(str(folder), "diffusers")


def test_how_each_pipeline_family_calls_set_timesteps():
    """What diffusers' own ``__call__`` passes (read in diffusers 0.42's pipelines/*/pipeline_*.py): FLUX, Kontext,
    Qwen-Image(-Edit), LTX, Z-Image: ``retrieve_timesteps(..., sigmas=np.linspace(1.0, 1 / n, n), mu=mu)``;
    OmniGen ``sigmas=np.linspace(1, 0, n + 1)[:n]``, HunyuanVideo ``np.linspace(1.0, 0.0, n + 1)[:-1]``, no mu;
    SD3 ``mu`` only under ``use_dynamic_shifting``; DDPM and SD the step count alone."""
    import diffusers
    import numpy as np

    from realunify_arena.adapters.checkpoint_scheduler import timestep_call

    expected = {  # pipeline -> (sigmas for 4 steps or None, mu)
        "FluxPipeline": ([1.0, 0.75, 0.5, 0.25], "always"), "FluxKontextPipeline": ([1.0, 0.75, 0.5, 0.25], "always"),
        "QwenImagePipeline": ([1.0, 0.75, 0.5, 0.25], "always"),
        "QwenImageEditPipeline": ([1.0, 0.75, 0.5, 0.25], "always"),
        "ZImagePipeline": ([1.0, 0.75, 0.5, 0.25], "always"), "LTXPipeline": ([1.0, 0.75, 0.5, 0.25], "always"),
        "OmniGenPipeline": ([1.0, 0.75, 0.5, 0.25], "never"), "HunyuanVideoPipeline": ([1.0, 0.75, 0.5, 0.25], "never"),
        "StableDiffusion3Pipeline": (None, "dynamic"), "SanaPipeline": (None, "never"),
        "DDPMPipeline": (None, "never"), "StableDiffusionPipeline": (None, "never"),
    }
    for pipeline, (sigmas, mu) in expected.items():
        call = timestep_call(getattr(diffusers, pipeline))
        assert call is not None and call.mu == mu, pipeline
        if sigmas is None:
            assert call.sigmas is None, pipeline
        else:
            assert np.allclose(np.asarray(call.sigmas(4), dtype=float), sigmas), pipeline

    # CogView4Pipeline: timesteps = np.linspace(num_train_timesteps, 1.0, n) cast to whole numbers, sigmas = timesteps /
    # num_train_timesteps, mu from calculate_shift (diffusers 0.42's pipelines/cogview4/pipeline_cogview4.py);
    # by hand for 4 steps of 1000: 1000, 667, 334, 1
    call = timestep_call(diffusers.CogView4Pipeline)
    assert call is not None and call.mu == "always" and call.sigmas is None
    schedule = call.timesteps(4, {"num_train_timesteps": 1000})
    assert schedule["timesteps"].tolist() == [1000.0, 667.0, 334.0, 1.0]
    assert np.allclose(schedule["sigmas"], [1.0, 0.667, 0.334, 0.001])


# ---- transformers config.json names -------------------------------------------------------------------------------

# case -> (change to the hub's flat config.json, the field as the file writes it, misspelt value, a value taken)
NAMES = {
    "hidden_act": (lambda c: c.update(hidden_act="siluu"), "hidden_act", "siluu", "silu"),
    "vision_hidden_act": (lambda c: c["vision_config"].update(hidden_act="siluu"), "vision_config.hidden_act",
                          "siluu", "silu"),
    "rope_type": (lambda c: c["rope_scaling"].update(rope_type="defualt"), "rope_scaling.rope_type", "defualt",
                  "default"),
    "attn_implementation": (lambda c: c.update(attn_implementation="sdpaa"), "attn_implementation", "sdpaa", "sdpa"),
}


@pytest.fixture(scope="module")
def qwen(tmp_path_factory, real_format_build) -> Path:
    return real_format_build("build_qwen2_5_vl", tmp_path_factory.mktemp("names") / "Qwen2.5-VL-7B-Instruct")


@pytest.mark.parametrize("case", sorted(NAMES))
def test_transformers_fails_on_the_misspelt_name_naming_no_file(qwen, tmp_path, case):
    from transformers import Qwen2_5_VLForConditionalGeneration

    folder = real_format.edited_copy(qwen, tmp_path, "config.json", NAMES[case][0])
    with pytest.raises(Exception) as failed:  # noqa: PT011 - the library's own error, whatever its class
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(folder, dtype=torch.float32)
        with torch.no_grad():
            model(input_ids=torch.tensor([[1, 2, 3]]))
    assert str(folder) not in str(failed.value)


@pytest.mark.parametrize("case", sorted(NAMES))
def test_a_misspelt_name_is_refused_naming_file_field_and_values(qwen, tmp_path, case):
    change, field, value, taken = NAMES[case]
    folder = real_format.edited_copy(qwen, tmp_path, "config.json", change)
    with pytest.raises(ModelUnavailable) as refused:
        check_checkpoint(str(folder), "transformers", model_types={"qwen2_5_vl"})
    said = str(refused.value)
    assert said.startswith(
        f"{folder}/config.json: field '{field}' is \"{value}\"; expected \"{taken}\" (the nearest)"), \
        said


def test_the_sound_qwen_folder_passes(qwen):
    check_checkpoint(str(qwen), "transformers", model_types={"qwen2_5_vl"})


# T5's config.json writes its feed-forward as ``feed_forward_proj`` ("relu", "gated-gelu": T5Config's docs), from
# which the class makes ``dense_act_fn``, a field the file does not hold: a misspelling is named where it is written
# (t5-small's hub file, as older transformers saved it, holds no dense_act_fn)
@pytest.mark.parametrize("written, activation, nearest", [("gated-gelux", "gelux", "gated-gelu"),
                                                          ("reluu", "reluu", "relu")])
def test_a_misspelt_activation_is_named_where_the_file_writes_it(tmp_path, written, activation, nearest):
    from transformers import T5Config, T5ForConditionalGeneration

    sound = T5Config(vocab_size=32, d_model=8, d_kv=4, d_ff=16, num_layers=1, num_heads=2, decoder_start_token_id=0)
    folder = tmp_path / "t5-tiny"
    torch.manual_seed(0)
    T5ForConditionalGeneration(sound).save_pretrained(folder)

    def change(content: dict) -> None:
        content.update(feed_forward_proj=written)
        del content["dense_act_fn"]

    folder = real_format.edited_copy(folder, tmp_path / "misspelt", "config.json", change)
    with pytest.raises(KeyError) as failed:  # transformers' own words: the activation, no file, no field
        T5ForConditionalGeneration.from_pretrained(folder)
    assert str(folder) not in str(failed.value)
    with pytest.raises(ModelUnavailable) as refused:
        check_checkpoint(str(folder), "transformers")
    said = str(refused.value)
    assert said.startswith(f"{folder}/config.json: field 'feed_forward_proj' is \"{written}\""), said
    assert f'naming the activation "{activation}"; expected "{nearest}" (the nearest)' in said, said


# ---- mrope_section ------------------------------------------------------------------------------------------------

# Every model type of transformers 5.24 whose text rotary embedding splits its frequencies by mrope_section
# (``freq.split(self.mrope_section, dim=-1)``; HunYuan-VL by the sections doubled over the frequencies doubled),
# found by reading models/*/modeling_*.py: model type -> its modeling module
MROPE_FAMILIES = {"qwen2_vl": "qwen2_vl", "qwen2_5_vl": "qwen2_5_vl", "qwen2_5_omni": "qwen2_5_omni",
                  "glm4v": "glm4v", "glm4v_moe": "glm4v_moe", "glm46v": "glm4v", "glm_image": "glm_image",
                  "glm_ocr": "glm_ocr", "paddleocr_vl": "paddleocr_vl", "ernie4_5_vl_moe": "ernie4_5_vl_moe",
                  "hunyuan_vl": "hunyuan_vl"}


def _text_rotaries(config, module: str):
    """(dotted place, nested configuration, its rotary embedding class) of each configuration in ``config`` that one
    of the module's text rotary embeddings (a ``*RotaryEmbedding`` class, not the vision tower's, that keeps an
    ``mrope_section``) is built from."""
    from transformers import PreTrainedConfig

    classes = [cls for name, cls in vars(importlib.import_module(f"transformers.models.{module}.modeling_{module}"))
               .items() if name.endswith("RotaryEmbedding") and "Vision" not in name and "DiT" not in name]
    found = []

    def walk(node, prefix):
        for cls in classes:
            try:
                rotary = cls(config=node)
            except Exception:  # noqa: BLE001 - not this rotary embedding's configuration
                continue
            if hasattr(rotary, "mrope_section"):
                found.append((prefix, node, cls))
                break
        for key, value in vars(node).items():
            if isinstance(value, PreTrainedConfig):
                walk(value, f"{prefix}{key}.")

    walk(config, "")
    return found


def _frequencies(node, cls) -> int:
    """The number of rotary frequencies ``cls`` computes for ``node`` (its ``inv_freq``), with sections that fit
    whatever (Ernie 4.5-VL pre-rotates by them: a placeholder of the default layout)."""
    saved = node.rope_parameters.get("mrope_section")
    node.rope_parameters.pop("mrope_section", None)
    try:
        return int(cls(config=node).inv_freq.shape[-1])
    except Exception:  # noqa: BLE001 - a rotary embedding that needs sections to build
        node.rope_parameters["mrope_section"] = saved
        raise


def _sections(total: int, default: list[int] | None) -> list[int]:
    """The family's default sections where they add up to ``total`` (Ernie 4.5-VL needs its first two equal), else
    ``total`` split in three."""
    if default and sum(default) == total:
        return list(default)
    return [total - 2 * (total // 3), total // 3, total // 3]


def _rotary_runs(node, cls, sections: list[int]) -> bool:
    """Whether the family's own rotary embedding, built with ``sections``, computes cos and sin for 4 positions."""
    node.rope_parameters["mrope_section"] = sections
    try:
        rotary = cls(config=node)
        rotary(torch.zeros(1, 4, 8), torch.zeros(len(sections), 1, 4, dtype=torch.long))
    except RuntimeError:
        return False
    return True


@pytest.mark.parametrize("model_type", sorted(MROPE_FAMILIES))
def test_mrope_sections_of_every_splitting_family(tmp_path, model_type):
    """From the configuration class's own defaults, the sections set to add up to the frequency count the family's
    rotary embedding computes (sound: it runs) and one more (broken: torch's split fails); the broken
    ``config.json`` is refused naming the field, the sound one gets past config.json (to the missing tokenizer)."""
    from transformers import CONFIG_MAPPING

    config = CONFIG_MAPPING[model_type]()
    rotaries = _text_rotaries(config, MROPE_FAMILIES[model_type])
    assert rotaries, model_type
    for case in ("sound", "broken"):
        for _, node, cls in rotaries:
            frequencies = _frequencies(node, cls)
            sections = _sections(frequencies, getattr(cls(config=node), "mrope_section", None))
            if case == "broken":
                sections[-1] += 1
            assert _rotary_runs(node, cls, sections) is (case == "sound")
        folder = tmp_path / case
        config.save_pretrained(folder)
        with pytest.raises(ModelUnavailable) as refused:
            check_checkpoint(str(folder), "transformers")
        said = str(refused.value)
        prefix, node, cls = rotaries[0]
        if case == "sound":
            assert not said.startswith(f"{folder}/config.json"), said
        elif "Illegal mrope partition" in said:  # HunYuan-VL's configuration class refuses them itself
            assert said.startswith(f"{folder}/config.json: ") and f"summing to {sum(sections) - 1}" in said, said
        else:
            total = sum(node.rope_parameters["mrope_section"])
            assert re.match(rf"{re.escape(str(folder))}/config.json: field '{re.escape(prefix)}rope_parameters\."
                            rf"mrope_section' is \[[\d, ]+\] \(adding up to {total}\); expected sections adding up "
                            rf"to {total - 1}, ", said), said


# GLM families whose configuration class's defaults give a rotary embedding the default sections [8, 12, 12] do not
# split: a tiny model of the defaults' head size (GLM-4.1V and GLM-Image: 4096 / 32 = 128, no partial_rotary_factor;
# GLM-4.5V: 4096 / 96 = 42 with factor 0.5), and what the hub files add (GLM-4.1V-9B-Thinking's and GLM-Image's
# text_config "partial_rotary_factor": 0.5; GLM-4.5V's "head_dim": 128), each run by transformers itself
GLM_DEFAULTS = {
    "glm4v": ("Glm4vConfig", {"hidden_size": 256, "num_attention_heads": 2, "vocab_size": 1000},
              {"out_hidden_size": 256}, "partial_rotary_factor", 0.5),
    "glm_image": ("GlmImageConfig", {"hidden_size": 256, "num_attention_heads": 2}, {}, "partial_rotary_factor", 0.5),
    "glm4v_moe": ("Glm4vMoeConfig", {"hidden_size": 168, "num_attention_heads": 4, "vocab_size": 1000,
                                     "moe_intermediate_size": 32, "n_routed_experts": 4, "num_experts_per_tok": 2,
                                     "n_shared_experts": 1, "first_k_dense_replace": 1},
                  {"out_hidden_size": 168}, "head_dim", 128),
}


def _glm_runs(folder: Path) -> bool:
    """Whether transformers builds the model of ``folder``'s config.json and runs a text-only forward pass."""
    import transformers
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(folder)
    model = getattr(transformers, type(config).__name__.replace("Config", "ForConditionalGeneration"))(config).eval()
    try:
        with torch.no_grad():
            model(input_ids=torch.tensor([[1, 2, 3, 4]]))
    except RuntimeError as exc:
        assert "split_with_sizes expects split_sizes to sum exactly" in str(exc)
        return False
    return True


@pytest.mark.parametrize("family", sorted(GLM_DEFAULTS))
def test_a_glm_default_rotary_that_transformers_cannot_run_says_what_to_add(tmp_path, family):
    """The class defaults were refused (rightly: transformers fails at the first forward pass) with sections
    "expected adding up to 64", never naming the field the hub files add instead."""
    import transformers
    from transformers import AutoConfig

    from realunify_arena.adapters.checkpoint_settings import settings_problem

    name, text, vision, key, value = GLM_DEFAULTS[family]
    cls = getattr(transformers, name)
    torch.manual_seed(0)
    defaults = cls()
    text_config = {**defaults.text_config.to_dict(), "num_key_value_heads": text["num_attention_heads"],
                   "num_hidden_layers": 1, "intermediate_size": 64, **text}
    vision_config = {**defaults.vision_config.to_dict(), "depth": 1, "hidden_size": 32, "intermediate_size": 32,
                     "num_heads": 2, **vision}
    content = cls(text_config=text_config, vision_config=vision_config).to_dict()
    config = tmp_path / "config.json"
    config.write_text(json.dumps(content))
    assert not _glm_runs(tmp_path)
    said = settings_problem(config, AutoConfig.from_pretrained(tmp_path))
    assert said is not None and said.startswith(f"{config}: field 'text_config.rope_scaling.mrope_section' is "
                                                "missing"), said
    assert f"or add 'text_config.{key}': {value} (" in said, said

    content["text_config"][key] = value  # what the message says to add, as the hub file writes it
    config.write_text(json.dumps(content))
    assert _glm_runs(tmp_path)
    assert settings_problem(config, AutoConfig.from_pretrained(tmp_path)) is None


def test_diffusers_refuses_a_linear_time_shift_in_dpmsolver_without_words():
    """What the refusal above names: DPMSolverMultistepScheduler's ``set_timesteps`` checks dynamic shifting with a
    bare ``assert`` (an AssertionError with no message), so its words alone would say nothing."""
    from diffusers import DPMSolverMultistepScheduler

    with pytest.raises(AssertionError) as refused:
        DPMSolverMultistepScheduler.from_config(COGVIEW4_SCHEDULER).set_timesteps(4, mu=0.5)
    assert str(refused.value) == ""
