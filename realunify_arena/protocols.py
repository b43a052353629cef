"""The paper's four protocols, the same for every adapter.

- UEG direct: prompt -> image.
- UEG stepwise: refine prompt -> refined text (understanding, text only) -> image from that text.
- GEU direct: input image + MCQ prompt -> answer.
- GEU stepwise: input image + edit prompt -> edited image -> MCQ answered on the edited image only.

A run never raises: a capability the model lacks gives a ``not_supported`` trace (the paper's "-"), any
other failure an ``error`` trace carrying the message, so a batch keeps going and the UI can show why.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from PIL import Image

from realunify_arena.adapters.base import (Adapter, Capability, CutReply, GenerationOptions, ModelSource,
                                           ModelUnavailable, NotSupported, Reply)
from realunify_arena.benchmark.images import ImageError, open_checked
from realunify_arena.benchmark.schema import AnyInstance, GEUInstance
from realunify_arena.reasoning import cut_before_answer, cut_while_reasoning, strip_reasoning
from realunify_arena.redaction import error_text, redact
from realunify_arena.stopping import RunControl, RunStopped, active
from realunify_arena.systems import MODES, Mode
from realunify_arena.trace import Status, Step, StepRole, Trace

if TYPE_CHECKING:
    from realunify_arena.cards import ModelCard


# (track, mode) -> what the model must do, in the order the steps use it: the paper's four protocols
PROTOCOL_NEEDS: dict[tuple[str, Mode], tuple[Capability, ...]] = {
    ("UEG", "direct"): (Capability.GENERATE,),
    ("UEG", "stepwise"): (Capability.UNDERSTAND, Capability.GENERATE),
    ("GEU", "direct"): (Capability.UNDERSTAND,),
    ("GEU", "stepwise"): (Capability.EDIT, Capability.UNDERSTAND),
}


def runnable_protocols(capabilities: Iterable[Capability]) -> list[tuple[str, Mode]]:
    """The protocols (``(track, mode)``, track ``"UEG"``/``"GEU"``, mode in ``MODES``) a model with these
    capabilities can run, in ``PROTOCOL_NEEDS`` order; the others score "-" (``not_supported``)."""
    offered = set(capabilities)
    return [protocol for protocol, needs in PROTOCOL_NEEDS.items() if set(needs) <= offered]


def protocols_text(capabilities: Iterable[Capability]) -> str:
    """The protocols a model can run, in the paper's direct/stepwise notation with "-" for one it cannot,
    each track padded to one width so a column of them lines up: e.g. ``"UEG direct/stepwise GEU direct/-"``
    (Janus-Pro, which cannot edit), ``"UEG direct/-          GEU -/-"`` (a generation specialist)."""
    runnable = set(runnable_protocols(capabilities))
    width = len("/".join(MODES))
    parts = [f"{track} " + f"{'/'.join(mode if (track, mode) in runnable else '-' for mode in MODES):<{width}}"
             for track in ("UEG", "GEU")]
    return " ".join(parts).rstrip()


def required_capabilities(instance: AnyInstance, mode: Mode) -> tuple[Capability, ...]:
    """What the model must be able to do for this protocol, in the order the steps use it.

    Args:
        instance: a UEG or GEU instance.
        mode: ``"direct"`` or ``"stepwise"``.

    Returns:
        1 capability for direct, 2 for stepwise (GEU stepwise: edit, understand; UEG stepwise: understand,
        generate).

    Raises:
        ValueError: ``mode`` is not one of ``MODES``.
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {MODES}")
    return PROTOCOL_NEEDS["GEU" if isinstance(instance, GEUInstance) else "UEG", mode]


def run_stream(instance: AnyInstance, adapter: Adapter, mode: Mode,
               options: GenerationOptions, control: RunControl | None = None) -> Iterator[Trace]:
    """Yield a snapshot of the growing trace after each step; the last one is the result.

    Args:
        instance: the UEG or GEU instance to run.
        adapter: a loaded adapter (from ``loaded`` or ``ModelSource.use``).
        mode: ``"direct"`` (1 step) or ``"stepwise"`` (2 steps).
        options: the generation options, recorded in ``Trace.settings`` as the adapter runs them
            (``Adapter.run_options``: Janus' and Emu3's guidance of the checkpoint, where they set none).
        control: checked before each step and the active control while a step runs (the model's loop
            checks it); a stopped run or one past its time limit ends as an ``error`` trace with the reason.

    Yields:
        ``Trace`` copies with 1, then 2 steps; each step's ``seconds`` is its wall time in seconds. The last
        has ``status`` ok, ``not_supported`` (a capability the card lacks: the paper's "-") or ``error``
        (``Trace.error`` says why). Never raises for a model failure.
    """
    try:
        options = adapter.run_options(options)  # the settings it runs with are those the trace records
    except Exception as e:  # noqa: BLE001 - a checkpoint value the card refuses: an error trace, as a step's
        trace = Trace(instance.uid, adapter.name, mode, options.to_dict(), status=Status.ERROR, error=error_text(e))
        yield _snapshot(trace)
        return
    trace = Trace(instance.uid, adapter.name, mode, options.to_dict())
    missing = [c.value for c in required_capabilities(instance, mode) if not adapter.supports(c)]
    if missing:
        trace.status = Status.NOT_SUPPORTED
        trace.error = f"{adapter.name} cannot {' or '.join(missing)}, which {instance.track} {mode} needs"
        yield _snapshot(trace)
        return
    steps = _steps(instance, adapter, mode, options)
    try:
        while True:
            if control is not None:
                control.check()
            with active(control):  # the step runs inside next(): the model's loop sees the control
                step = next(steps, None)
            if step is None:
                break
            trace.steps.append(step)
            note = cut_answer_note(step, options.max_new_tokens, adapter.card)
            if note:
                trace.notes.append(note)
            yield _snapshot(trace)
    except RunStopped as e:
        trace.status, trace.error = Status.ERROR, str(e)
        yield _snapshot(trace)
    except NotSupported as e:
        trace.status, trace.error = Status.NOT_SUPPORTED, redact(str(e))
        yield _snapshot(trace)
    except Exception as e:  # noqa: BLE001 - any model failure becomes an error trace, never an exception
        trace.status, trace.error = Status.ERROR, error_text(e)  # secrets out, whatever raised it
        yield _snapshot(trace)


@contextlib.contextmanager
def loaded(pool: ModelSource, name: str) -> Iterator[Adapter]:
    """``pool.use(name)``, with any failure to load reported as ``ModelUnavailable``: a model that cannot
    load must stop a batch with the reason, not turn into one error trace or judge error per item.

    Raises:
        ModelUnavailable: no card ``name``, or its adapter could not be built (the message names the cause).
    """
    with contextlib.ExitStack() as stack:
        try:
            adapter = stack.enter_context(pool.use(name))
        except ModelUnavailable:
            raise
        except Exception as e:  # noqa: BLE001 - loaders raise OSError, ValueError, ImportError, ...
            raise ModelUnavailable(f"{name}: could not be loaded: {error_text(e)}") from e  # as runtime.load_refusal
        yield adapter


def run(instance: AnyInstance, adapter: Adapter, mode: Mode, options: GenerationOptions) -> Trace:
    """The finished trace of one protocol run (the last snapshot of ``run_stream``; same arguments)."""
    trace = None
    for trace in run_stream(instance, adapter, mode, options):
        pass
    return trace


def _steps(instance: AnyInstance, adapter: Adapter, mode: Mode, options: GenerationOptions) -> Iterator[Step]:
    """The protocol's steps; each is computed only when the previous one has been yielded."""
    if isinstance(instance, GEUInstance):
        image = instance.open_image()
        if mode == "stepwise":
            edit = _timed(StepRole.EDITED_IMAGE, instance.edit_text,
                          lambda: adapter.edit(image, instance.edit_text, options))
            yield edit
            image = edit.image
        yield _timed(StepRole.ANSWER, instance.mcq_text,
                     lambda: adapter.understand([image], instance.mcq_text, options))
        return
    prompt = instance.prompt
    if mode == "stepwise":
        refine = _timed(StepRole.REFINED_PROMPT, instance.refine_text,
                        lambda: adapter.understand([], instance.refine_text, options))
        yield refine
        prompt = refined_prompt(refine.text, cut=isinstance(refine.text, CutReply))
    yield _timed(StepRole.GENERATED_IMAGE, prompt, lambda: adapter.generate(prompt, options))


def cut_answer_note(step: Step, max_new_tokens: int, card: ModelCard) -> str | None:
    """The note a successful run carries (``Trace.notes``) when its GEU answer step was cut at its token limit before
    any answer (``reasoning.cut_before_answer``): inside the model's reasoning (``reasoning.cut_while_reasoning``: a
    block opened and never closed, as a reply cut at its token limit while thinking leaves it, or, served with a
    reasoning parser, a cut reply of thoughts apart and no text: that run's letter is none and it scores 0, as the
    official script scores an empty response), or just after it (a ``CutReply``, ``finish_reason`` "length", whose
    reasoning closed with nothing after it: by its text alone such a reply looks finished, so before, it carried no
    note); None for any other step. The run keeps its status and official score: the
    official extraction (``judge.extract_choice``, issue 16 keeps it exact) reads a letter from the
    thoughts, while the strict parse finds none, so the note says where the letter came from and what to raise.
    ``max_new_tokens``: the run's limit (``GenerationOptions.max_new_tokens``, tokens); ``card``: the model's
    card, whose file the note names (``ModelCard.file``: the path it was read from, whatever ``--models-dir`` held
    it; a page shows it without its server folders, ``redaction.visitor_text``)."""
    if step.role is not StepRole.ANSWER or not cut_before_answer(step.text):
        return None
    if not step.text.strip():  # served with a reasoning parser: the thoughts came apart, no answer at all
        return (f"{CUT_ANSWER}: the answer was cut at {max_new_tokens} tokens (max_new_tokens) while the model was "
                "still reasoning (its server gave the thoughts apart, with no answer), so it has no letter and scores 0, "
                f"as the official script scores an empty response; raise defaults.max_new_tokens in {card.file}")
    if not cut_while_reasoning(step.text):  # its reasoning closed just before the limit, nothing after it
        return (f"{CUT_ANSWER}: the answer was cut at {max_new_tokens} tokens (max_new_tokens) just after the model's "
                "reasoning ended, before any answer, so its letter comes from its thoughts (the strict parse finds "
                f"none); raise defaults.max_new_tokens in {card.file}")
    return (f"{CUT_ANSWER}: the answer was cut at {max_new_tokens} tokens (max_new_tokens) while the model was "
            "still reasoning, so its letter comes from unfinished thoughts (the strict parse finds none); raise "
            f"defaults.max_new_tokens in {card.file}")


# how every ``cut_answer_note`` begins: what ``report`` and ``eval`` count
CUT_ANSWER = "answer cut while reasoning"


def refined_prompt(reply: str, *, cut: bool = False) -> str:
    """The generation prompt in a UEG stepwise refine reply: the reply after any leading reasoning block
    (``reasoning.strip_reasoning``: ``<think>...</think>`` and its variants, as a reasoning model served without a
    reasoning parser writes it), white space at its ends removed. The paper's stepwise protocol generates from
    the refined prompt, which is the reply's content, not the thoughts before it. A reply with nothing after its
    reasoning gives "" (the image is generated from it, as the official runner would generate from an empty
    ``response``), unless it was ``cut`` there (the adapter's reply was a ``CutReply``).

    Raises:
        ValueError: the reply was cut while the model was still reasoning, or at its token limit just after its
            reasoning (``reasoning.cut_before_answer``), so it holds no refined prompt.
    """
    prompt = strip_reasoning(reply).strip()
    if not prompt and cut_before_answer(CutReply(reply) if cut and not isinstance(reply, CutReply) else reply):
        raise ValueError(f"{StepRole.REFINED_PROMPT.value}: the model's reply was cut at its token limit while it "
                         "was still reasoning or just after (raise the card's max_new_tokens), so there is no refined "
                         "prompt to generate the image from")
    return prompt


def shown_refined_prompt(reply: str | None) -> tuple[str | None, str]:
    """A UEG stepwise refine reply (a ``refined_prompt`` step's text: the model's whole reply, or an imported
    ``response`` as the file gives it) as a page shows it in its refined-prompt box, and what that shown text is:
    ``AFTER_REASONING``: the reply had reasoning and text after it, and that text is shown (``refined_prompt``'s
    rule, what this project sends on to generation); ``ONLY_REASONING``: the reply is reasoning and nothing after
    it (closed or cut while thinking), so it holds no refined prompt: the reply is shown whole, its thoughts being
    all there is to show, and the label must say so (an own run generated from "" or failed); ``AS_GIVEN``: a reply
    without reasoning (or empty), shown as it is. Display only: the stored reply is never changed."""
    if not reply or not reply.strip():
        return reply, AS_GIVEN
    prompt = strip_reasoning(reply).strip()
    if not prompt:  # only white space is left when the reply was all reasoning
        return reply, ONLY_REASONING
    if prompt != reply.strip():
        return prompt, AFTER_REASONING
    return reply, AS_GIVEN


# what ``shown_refined_prompt`` shows: the reply as given, the text after its reasoning, or reasoning only
AS_GIVEN, AFTER_REASONING, ONLY_REASONING = "as given", "after reasoning", "only reasoning"


def _timed(role: StepRole, prompt: str, call: Callable[[], object]) -> Step:
    start = time.perf_counter()
    output = call()
    seconds = time.perf_counter() - start
    if role in (StepRole.REFINED_PROMPT, StepRole.ANSWER):
        if not isinstance(output, str):
            raise TypeError(f"{role.value}: the model returned {type(output).__name__}, expected text")
        # The refined prompt is sent on as the generation prompt; surrounding whitespace is not content.
        # Secrets out (an endpoint may echo its key in a reply): the text is stored, shown and sent on.
        # The adapter's kind of reply is kept (``Reply.like``): a ``CutReply`` says it was cut at its token limit,
        # and its ``reasoning`` what a reasoning parser gave apart (``cut_answer_note``, ``refined_prompt``).
        text = Reply.like(redact(output.strip() if role is StepRole.REFINED_PROMPT else output), output)
        thoughts = getattr(text, "reasoning", None)
        if thoughts:  # stored with the run (``Step.reasoning``), secrets out as from the text
            text.reasoning = redact(thoughts)
        return Step(role, prompt, text=text, seconds=seconds, reasoning=text.reasoning if thoughts else None)
    if not isinstance(output, Image.Image):
        raise TypeError(f"{role.value}: the model returned {type(output).__name__}, expected a PIL image")
    # The one path every image takes (``open_checked``): a 0x0 image or one over the pixel limit is this
    # run's error, not a failure to store it; 16-bit, alpha and EXIF orientation as for every other image.
    # ``owned``: the model's output is this step's alone, so one the rules leave as it is is kept, not copied.
    try:
        image = open_checked(output, owned=True)
    except ImageError as e:
        raise ImageError(f"{role.value}: the model returned an image that cannot be used: "
                         f"{str(e).removeprefix('<image>: ')}") from None
    return Step(role, prompt, image=image, seconds=seconds)


def _snapshot(trace: Trace) -> Trace:
    return dataclasses.replace(trace, steps=list(trace.steps), settings=dict(trace.settings))
