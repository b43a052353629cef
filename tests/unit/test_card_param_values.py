"""A card's ``params`` values are checked when the card is read, and a pair's pipeline settings against
the pipeline's own call when it loads.

Failing cases (hunt27d): every key of a local card's ``params`` was checked, never its value, so a researcher's
slip either changed nothing, silently, or failed every run with an unrelated TypeError:
``guidance_arg: guidance_scal`` dropped the card's guidance (the pipeline's own default ran, nothing said);
``edit_size: inputs`` made every edit at the card's size (a 48x32 input came back 32x32) while the size checks
treated the card as keeping the input's size; ``fast: 'false'`` turned Janus's fast path on (``bool('false')``);
``call_kwargs: negative_prompt`` failed each run with "unsupported operand type(s) for |: 'str' and 'dict'";
``call_kwargs: {num_inference_step: 2}`` failed each run with "OmniGenPipeline.__call__() got an unexpected
keyword argument". Remote cards alike: ``timeout_s: soon`` failed each run with "could not convert string to
float: 'soon'", naming neither file nor field; ``nested_extra_body: 'false'`` was on. The expected keys below are the ones diffusers' ``OmniGenPipeline.__call__`` takes (read in
its signature by the test, not by the code under test).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from PIL import Image

from realunify_arena.adapters import build_adapter
from realunify_arena.adapters.base import Capability
from realunify_arena.cards import CardError, load_card

_PAIR = "family: pair\ndescription: d\ncapabilities: [generate, edit]\ncheckpoint: x/y\n"
_JANUS = "family: janus\ndescription: d\ncapabilities: [understand, generate]\ncheckpoint: x/y\n"
_GEMINI = "family: gemini\ndescription: d\ncapabilities: [understand]\ncheckpoint: g\napi_key_env: GK\n"
_OPENAI = "family: openai\ndescription: d\ncapabilities: [understand]\ncheckpoint: m\nendpoint: http://127.0.0.1:9/v1\n"
_EMU3 = "family: emu3\ndescription: d\ncapabilities: [understand, generate]\ncheckpoint: x/y\n"

WRONG_VALUES = [
    (_PAIR, "edit_size: inputs", "params.edit_size", "expected 'input' or 'card', got 'inputs'"),
    (_PAIR, "edit_size: 1", "params.edit_size", "expected 'input' or 'card', got 1"),
    (_PAIR, "call_kwargs: negative_prompt", "params.call_kwargs", "expected a map of the pipeline's argument names"),
    (_PAIR, "edit_call_kwargs: [1, 2]", "params.edit_call_kwargs", "expected a map of the pipeline's argument"),
    (_PAIR, "call_kwargs: {1: 2}", "params.call_kwargs", "expected a map of the pipeline's argument names"),
    (_PAIR, "guidance_arg: 2.5", "params.guidance_arg", "expected the name of the pipeline's guidance argument"),
    (_PAIR, "guidance_arg: 'true cfg'", "params.guidance_arg", "expected the name of the pipeline's guidance"),
    (_PAIR, "text_top_k: five", "params.text_top_k", "expected a whole number >= 0, got 'five'"),
    (_PAIR, "text_top_k: -1", "params.text_top_k", "expected a whole number >= 0, got -1"),
    (_PAIR, "text_top_p: 3", "params.text_top_p", "expected a number above 0 and at most 1, got 3"),
    (_PAIR, "text_top_p: '0.9'", "params.text_top_p", "expected a number above 0 and at most 1, got '0.9'"),
    (_PAIR, "memory_gb: lots", "params.memory_gb", "expected a number of GB above 0, got 'lots'"),
    (_PAIR, "memory_gb: 0", "params.memory_gb", "expected a number of GB above 0, got 0"),
    (_JANUS, "fast: 'false'", "params.fast", "expected true or false, got 'false'"),
    (_JANUS, "fast: 1", "params.fast", "expected true or false, got 1"),
    (_EMU3, "positive_prompt: 5", "params.positive_prompt", "expected a string, got 5"),
    (_EMU3, "negative_prompt: [ugly, blurry]", "params.negative_prompt", "expected a string, got ['ugly', 'blurry']"),
    ("family: tiny\ndescription: d\ncapabilities: [understand]\n", "{base: janus, seed: x}", "params.seed",
     "expected a whole number, got 'x'"),
    # remote families: "could not convert string to float: 'soon'" at every run; bool('false') is true
    (_GEMINI, "timeout_s: soon", "params.timeout_s", "expected a number of seconds above 0, got 'soon'"),
    (_GEMINI, "timeout_s: .inf", "params.timeout_s", "expected a number of seconds above 0, got inf"),
    (_GEMINI, "attempts: many", "params.attempts", "expected a whole number >= 1, got 'many'"),
    (_OPENAI, "timeout_s: 0", "params.timeout_s", "expected a number of seconds above 0, got 0"),
    (_OPENAI, "max_retries: '3'", "params.max_retries", "expected a whole number >= 0, got '3'"),
    (_OPENAI, "nested_extra_body: 'false'", "params.nested_extra_body", "expected true or false, got 'false'"),
    (_OPENAI, "modalities: 'no'", "params.modalities", "expected true or false, got 'no'"),
]


@pytest.mark.parametrize(("head", "param", "field", "message"), WRONG_VALUES,
                         ids=[f"{i}-{c[2]}" for i, c in enumerate(WRONG_VALUES)])
def test_a_cards_param_of_the_wrong_kind_is_refused_naming_file_and_field(tmp_path, head, param, field,
                                                                               message):
    path = tmp_path / "broken.yaml"
    body = f"params: {param}\n" if param.startswith("{") else f"params:\n  {param}\n"
    path.write_text(head + body)
    with pytest.raises(CardError) as info:
        load_card(path)
    assert str(info.value).startswith(f"{path}: field '{field}': "), str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize("text", [
    _PAIR + "params: {edit_size: card, guidance_arg: true_cfg_scale, call_kwargs: {negative_prompt: ' '}, "
            "edit_call_kwargs: {}, text_top_k: 0, text_top_p: 1, memory_gb: 0.5}\n",
    _JANUS + "params: {fast: false}\n",
    _EMU3 + "params: {positive_prompt: '', negative_prompt: ugly}\n",
    "family: tiny\ndescription: d\ncapabilities: [understand]\nparams: {base: janus, seed: 3}\n",
    _GEMINI + "params: {timeout_s: 20, attempts: 1}\n",
    _OPENAI + "params: {timeout_s: 2.5, max_retries: 0, nested_extra_body: true, modalities: false}\n",
])
def test_the_right_kinds_of_values_still_load(tmp_path, text):
    path = tmp_path / "ok.yaml"
    path.write_text(text)
    load_card(path)


def test_every_shipped_card_still_loads():
    from realunify_arena.cards import MODELS_DIR

    for path in sorted(MODELS_DIR.glob("*.yaml")):
        load_card(path)


# --- a pair's pipeline settings against the pipeline's own call (real-format OmniGen-v1-diffusers) ---------

@pytest.fixture(scope="module")
def omnigen(tmp_path_factory, real_format_build) -> Path:
    return real_format_build("build_omnigen", tmp_path_factory.mktemp("omnigen") / "OmniGen-v1-diffusers")


def _card(tmp_path: Path, folder: Path, params: str):
    path = tmp_path / "researcher.yaml"
    path.write_text(f"family: pair\ndescription: d\ncapabilities: [generate, edit]\ncheckpoint: {folder}\n"
                    f"dtype: float32\ndefaults: {{width: 32, height: 32, steps: 2, guidance: 3.0}}\n"
                    f"params: {params}\n")
    return load_card(path)


def _omnigen_arguments() -> set[str]:
    from diffusers import OmniGenPipeline

    return set(inspect.signature(OmniGenPipeline.__call__).parameters) - {"self"}


@pytest.mark.parametrize(("params", "field", "name"), [
    ("{guidance_arg: guidance_scal}", "params.guidance_arg", "guidance_scal"),
    ("{call_kwargs: {num_inference_step: 2}}", "params.call_kwargs.num_inference_step", "num_inference_step"),
    ("{edit_call_kwargs: {image_guidance_scale: 1.6}}", "params.edit_call_kwargs.image_guidance_scale",
     "image_guidance_scale"),
])
def test_a_pipeline_setting_the_pipeline_does_not_take_is_refused_at_load(tmp_path, omnigen, params, field, name):
    assert name not in _omnigen_arguments()  # the independent source: diffusers' own signature
    card = _card(tmp_path, omnigen, params)
    with pytest.raises(CardError) as info:
        build_adapter(card)
    message = str(info.value)
    assert message.startswith(f"{card.path}: field '{field}': OmniGenPipeline takes no argument {name!r}"), message
    assert "guidance_scale" in message  # the arguments it does take are listed
    assert "\n" not in message


def test_a_pipeline_setting_of_the_wrong_type_is_refused_at_load(tmp_path, omnigen):
    # OmniGenPipeline.__call__(guidance_scale: float = 2.5): a number; the text '2.5' would reach the pipeline
    card = _card(tmp_path, omnigen, "{call_kwargs: {guidance_scale: '2.5'}}")
    with pytest.raises(CardError) as info:
        build_adapter(card)
    assert str(info.value).startswith(f"{card.path}: field 'params.call_kwargs.guidance_scale': OmniGenPipeline "
                                      "takes a number (default 2.5), got '2.5'"), str(info.value)


@pytest.mark.parametrize(("params", "field", "name", "value"), [
    # OmniGenPipeline.__call__(max_input_image_size: int = 1024): a float reached the processor's crop
    ("{edit_call_kwargs: {max_input_image_size: 384.5}}", "params.edit_call_kwargs.max_input_image_size",
     "max_input_image_size", "384.5"),
    # (num_images_per_prompt: int | None = 1)
    ("{call_kwargs: {num_images_per_prompt: 1.5}}", "params.call_kwargs.num_images_per_prompt",
     "num_images_per_prompt", "1.5"),
    # (output_type: str | None = 'pil'): a list is no string
    ("{call_kwargs: {output_type: [pil]}}", "params.call_kwargs.output_type", "output_type", "['pil']"),
])
def test_a_pipeline_setting_of_a_kind_its_annotation_refuses_is_refused_at_load(tmp_path, omnigen, params, field,
                                                                                name, value):
    # the independent source: diffusers' own annotations of OmniGenPipeline.__call__
    from diffusers import OmniGenPipeline
    annotation = str(inspect.signature(OmniGenPipeline.__call__).parameters[name].annotation)
    assert "float" not in annotation and "list" not in annotation, annotation
    card = _card(tmp_path, omnigen, params)
    with pytest.raises(CardError) as info:
        build_adapter(card)
    message = str(info.value)
    assert message.startswith(f"{card.path}: field '{field}': OmniGenPipeline takes "), message
    assert message.endswith(f"got {value}"), message


def test_a_list_where_the_annotation_takes_one_is_not_refused(tmp_path):
    # diffusers pipelines whose argument takes a list beside a scalar default (OvisImagePipeline, ErnieImagePipeline:
    # negative_prompt: str | list[str] = ''; ControlNet pipelines: controlnet_conditioning_scale: float |
    # list[float] = 1.0), and a float argument whose default is written as an int (BriaFiboEditPipeline:
    # guidance_scale: float = 5): the card's value matches the annotation, not the default's kind
    from realunify_arena.adapters.pair import PairAdapter

    class Pipeline:
        def __call__(self, prompt: str, negative_prompt: str | list[str] = "", scale: float | list[float] = 1.0,
                     guidance_scale: float = 5, steps: int = 4):
            raise AssertionError("not called")

    path = tmp_path / "lists.yaml"
    path.write_text("family: pair\ndescription: d\ncapabilities: [generate]\ncheckpoint: x\n"
                    "params: {call_kwargs: {negative_prompt: [blurry], scale: [0.5, 1.0], guidance_scale: 4.5, "
                    "steps: 3}}\n")
    adapter = PairAdapter.__new__(PairAdapter)
    adapter.card = load_card(path)
    adapter._check_pipeline_settings(Pipeline(), Capability.GENERATE)  # no CardError


def test_settings_the_pipeline_takes_still_run_and_an_edit_keeps_the_input_size(tmp_path, omnigen):
    card = _card(tmp_path, omnigen, "{guidance_arg: guidance_scale, call_kwargs: {guidance_scale: 2.5}, "
                                    "edit_call_kwargs: {guidance_scale: 2.0, img_guidance_scale: 1.6}}")
    adapter = build_adapter(card)
    try:
        assert adapter.generate("a red cube", card.options()).size == (32, 32)
        assert adapter.edit(Image.new("RGB", (48, 32), "white"), "make it red", card.options()).size == (48, 32)
    finally:
        adapter.close()
