"""The four protocols: what each step sends, in what order, and how failures become traces.

The adapter here is a small in-test subclass that records its calls: the subject is the protocol logic,
not a model (the tiny real models run through these protocols in test_eval_e2e.py).
"""

from __future__ import annotations

import pytest
from PIL import Image

from realunify_arena.adapters.base import Adapter, Capability, GenerationOptions, NotSupported
from realunify_arena.benchmark import prompts
from realunify_arena.benchmark.schema import GEUInstance, PollingQuestion, UEGInstance
from realunify_arena.protocols import required_capabilities, run, run_stream
from realunify_arena.trace import Status, StepRole

ALL = frozenset(Capability)
OPTIONS = GenerationOptions(seed=7, steps=3)
EDITED = Image.new("RGB", (16, 16), "green")
GENERATED = Image.new("RGB", (16, 16), "white")


class Recorder(Adapter):
    """Records every call; ``fail`` makes one capability raise."""

    def __init__(self, capabilities=ALL, fail: dict[str, Exception] | None = None, refined: str = "  a tiger  \n"):
        super().__init__(card=type("Card", (), {"name": "recorder"})(), capabilities=frozenset(capabilities))
        self.calls: list[tuple] = []
        self.fail = fail or {}
        self.refined = refined

    def _call(self, what, *args):
        self.calls.append((what, *args))
        if what in self.fail:
            raise self.fail[what]

    def understand(self, images, text, options):
        self._call("understand", images, text, options)
        return self.refined if not images else "B"

    def generate(self, text, options):
        self._call("generate", text, options)
        return GENERATED

    def edit(self, image, text, options):
        self._call("edit", image, text, options)
        return EDITED


UEG = UEGInstance(index=1, task_type="world_knowledge", prompt="The largest feline",
                  question_list=[PollingQuestion("Is there a tiger?", "yes")])


@pytest.fixture
def geu(tmp_path):
    path = tmp_path / "in.png"
    Image.new("RGB", (20, 10), "blue").save(path)
    return GEUInstance(index=2, task_type="attentional_focusing", question="How many cars?",
                       option=["1", "2", "3", "4"], answer="B", input_image="./image/x.png", image_path=path)


def test_ueg_direct_generates_from_the_prompt():
    adapter = Recorder()
    trace = run(UEG, adapter, "direct", OPTIONS)
    assert adapter.calls == [("generate", UEG.prompt, OPTIONS)]
    (step,) = trace.steps
    assert (step.role, step.prompt, step.image) == (StepRole.GENERATED_IMAGE, UEG.prompt, GENERATED)
    assert trace.status is Status.OK and trace.final is step and trace.system == "recorder:direct"
    assert trace.settings == OPTIONS.to_dict() and trace.settings["seed"] == 7


def test_ueg_stepwise_refines_text_only_then_generates_from_the_refined_prompt():
    adapter = Recorder()
    snapshots = list(run_stream(UEG, adapter, "stepwise", OPTIONS))
    assert [len(s.steps) for s in snapshots] == [1, 2]  # the UI sees the refined prompt before the image
    assert adapter.calls == [("understand", [], prompts.refine_prompt(UEG.prompt), OPTIONS),
                             ("generate", "a tiger", OPTIONS)]
    refine, image = snapshots[-1].steps
    assert (refine.role, refine.prompt, refine.text) == (StepRole.REFINED_PROMPT, UEG.refine_text, "a tiger")
    assert (image.role, image.prompt) == (StepRole.GENERATED_IMAGE, "a tiger")
    assert all(s.seconds >= 0 for s in snapshots[-1].steps)


def test_geu_direct_answers_on_the_input_image(geu):
    adapter = Recorder()
    trace = run(geu, adapter, "direct", OPTIONS)
    ((what, images, text, _),) = adapter.calls
    assert what == "understand" and text == geu.mcq_text and images[0].size == (20, 10)
    assert trace.final.role is StepRole.ANSWER and trace.final.text == "B"


def test_geu_stepwise_answers_on_the_edited_image_only(geu):
    adapter = Recorder()
    trace = run(geu, adapter, "stepwise", OPTIONS)
    (edit, image, edit_text, _), (understand, images, mcq_text, _) = adapter.calls
    assert (edit, understand) == ("edit", "understand")
    assert image.size == (20, 10) and edit_text == prompts.edit_prompt("attentional_focusing", geu.question)
    assert images == [EDITED] and mcq_text == geu.mcq_text
    assert [s.role for s in trace.steps] == [StepRole.EDITED_IMAGE, StepRole.ANSWER]
    assert trace.steps[0].image == EDITED  # its pixels, through the checked opener (a copy)


@pytest.mark.parametrize(("capabilities", "mode", "instance", "missing"), [
    ({Capability.UNDERSTAND, Capability.GENERATE}, "stepwise", "geu", "edit"),
    ({Capability.GENERATE}, "stepwise", "ueg", "understand"),
    ({Capability.UNDERSTAND}, "direct", "ueg", "generate"),
])
def test_missing_capability_is_a_not_supported_trace_with_no_calls(capabilities, mode, instance, missing, geu):
    adapter = Recorder(capabilities)
    inst = geu if instance == "geu" else UEG
    snapshots = list(run_stream(inst, adapter, mode, OPTIONS))
    (trace,) = snapshots
    assert trace.status is Status.NOT_SUPPORTED and missing in trace.error
    assert trace.steps == [] and trace.final is None and adapter.calls == []


def test_not_supported_raised_mid_run_is_not_an_error():
    adapter = Recorder(fail={"generate": NotSupported("this checkpoint has no image head")})
    trace = run(UEG, adapter, "stepwise", OPTIONS)
    assert trace.status is Status.NOT_SUPPORTED and "image head" in trace.error
    assert [s.role for s in trace.steps] == [StepRole.REFINED_PROMPT]  # what ran is kept


def test_failures_become_error_traces_never_exceptions(geu, tmp_path):
    crash = run(UEG, Recorder(fail={"generate": RuntimeError("CUDA out of memory")}), "direct", OPTIONS)
    assert crash.status is Status.ERROR and crash.error == "RuntimeError: CUDA out of memory"
    assert crash.final is None

    class TextInsteadOfImage(Recorder):
        def edit(self, image, text, options):
            return "an image, I promise"

    wrong_type = run(geu, TextInsteadOfImage(), "stepwise", OPTIONS)
    assert wrong_type.status is Status.ERROR and "expected a PIL image" in wrong_type.error

    geu.image_path = tmp_path / "missing.png"
    missing = run(geu, Recorder(), "direct", OPTIONS)
    assert missing.status is Status.ERROR and "file not found" in missing.error


class Returns(Recorder):
    """Makes ``image`` (a fresh object per call, as a model's output is) for every generate and edit."""

    def __init__(self, make):
        super().__init__()
        self.make, self.made = make, []

    def generate(self, text, options):
        self.made.append(self.make())
        return self.made[-1]


def test_a_model_s_8_bit_rgb_upright_image_is_kept_not_copied_again():
    """The step holds the model's own image object: no second copy (3 bytes a pixel, 12 MB at 2048x2048) on the
    run's path. Before: ``open_checked`` copied it."""
    adapter = Returns(lambda: Image.new("RGB", (6, 4), (10, 20, 30)))
    (step,) = run(UEG, adapter, "direct", OPTIONS).steps
    assert step.image is adapter.made[0]


def _exif_turned(orientation: int) -> Image.Image:
    """4x2 RGB, red at the top-left pixel, EXIF orientation ``orientation``."""
    image = Image.new("RGB", (4, 2), (0, 0, 255))
    image.putpixel((0, 0), (255, 0, 0))
    exif = Image.Exif()
    exif[274] = orientation
    image.info["exif"] = exif.tobytes()
    return image


@pytest.mark.parametrize("make, size, pixel, value", [
    (lambda: Image.new("I;16", (6, 4), 32768), (6, 4), (0, 0), (127, 127, 127)),  # 32768 * 255 // 65535
    (lambda: Image.new("RGBA", (3, 3), (255, 0, 0, 0)), (3, 3), (1, 1), (255, 255, 255)),  # clear: white
    (lambda: Image.new("L", (3, 2), 9), (3, 2), (2, 1), (9, 9, 9)),
    (lambda: _exif_turned(6), (2, 4), (1, 0), (255, 0, 0)),  # 6: turned 90 degrees clockwise to view
])
def test_a_model_s_image_the_rules_change_is_still_changed(make, size, pixel, value):
    """``open_checked``'s rules still run on a model's image that is kept without a copy: 8-bit RGB, on white,
    upright (EXIF orientation 6: the top-left pixel shows at the top right)."""
    adapter = Returns(make)
    (step,) = run(UEG, adapter, "direct", OPTIONS).steps
    assert step.image is not adapter.made[0]
    assert (step.image.mode, step.image.size, step.image.getpixel(pixel)) == ("RGB", size, value)


@pytest.mark.parametrize("make, why", [(lambda: Image.new("RGB", (0, 0)), "zero size"),
                                       (lambda: Image.new("1", (8_001, 8_000)), "over the limit of 64000000")])
def test_a_model_s_image_the_rules_refuse_is_still_the_run_s_error(make, why):
    """The pixel limit (64 MP, the README's) and a 0x0 image are still refused on the path that keeps images."""
    trace = run(UEG, Returns(make), "direct", OPTIONS)
    assert trace.status is Status.ERROR and why in trace.error and "generated_image" in trace.error, trace.error


def test_snapshots_are_independent_of_later_steps():
    first, last = run_stream(UEG, Recorder(), "stepwise", OPTIONS)
    assert len(first.steps) == 1 and len(last.steps) == 2


def test_unknown_mode_is_a_caller_error():
    with pytest.raises(ValueError, match="mode 'both'"):
        required_capabilities(UEG, "both")
