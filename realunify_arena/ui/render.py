"""Turning instances, traces and judgments into what a column shows; shared by Explore and Arena.

A ``TraceView`` is one column's components: a status line with timings, the intermediate step (refined
prompt text or edited image) and the final output (generated image or answer). Only the components the
track uses are visible, so a column never shows an empty image box for a text answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr
from PIL import Image

from realunify_arena.benchmark.schema import LETTERS, AnyInstance, GEUInstance
from realunify_arena.trace import Status, Step, StepRole, Trace

ImageLoader = Callable[[Step], Image.Image]
BOX_PX = 320  # the height of an image box; smaller images are scaled up to it
EMPTY_OUTPUT = "(empty output)"


def scaled_up(image: Image.Image, box: int = BOX_PX) -> Image.Image:
    """``image`` enlarged by a whole factor with nearest-neighbour sampling, so a small output (a tiny
    model's 32x32 image) fills the box with sharp pixels instead of a blur; larger images are unchanged."""
    factor = box // max(image.size)
    return image.resize((image.width * factor, image.height * factor), Image.NEAREST) if factor > 1 else image


@dataclass
class TraceView:
    status: gr.Markdown
    refined: gr.Textbox
    edited: gr.Image
    image: gr.Image
    answer: gr.Textbox

    @classmethod
    def create(cls, prefix: str) -> TraceView:
        """Components with ``elem_id``s ``<prefix>-status``, ``-refined``, ``-edited``, ``-image``, ``-answer``."""
        return cls(
            status=gr.Markdown("", elem_id=f"{prefix}-status"),
            refined=gr.Textbox(label="Refined prompt (step 1)", lines=3, interactive=False,
                               elem_id=f"{prefix}-refined", visible=False),
            edited=gr.Image(label="Edited image (step 1)", type="pil", format="png", interactive=False,
                            elem_id=f"{prefix}-edited", visible=False, height=BOX_PX),
            image=gr.Image(label="Generated image", type="pil", format="png", interactive=False,
                           elem_id=f"{prefix}-image", height=BOX_PX),
            answer=gr.Textbox(label="Answer", interactive=False, elem_id=f"{prefix}-answer", visible=False),
        )

    @property
    def outputs(self) -> list:
        return [self.status, self.refined, self.edited, self.image, self.answer]

    def blank(self, track: str, mode: str, status: str = "") -> list:
        """Empty components laid out for ``track`` and ``mode`` (stepwise shows its intermediate box)."""
        stepwise = mode == "stepwise"
        return [
            gr.update(value=status),
            gr.update(value=None, visible=track == "UEG" and stepwise),
            gr.update(value=None, visible=track == "GEU" and stepwise),
            gr.update(value=None, visible=track == "UEG"),
            gr.update(value=None, visible=track == "GEU"),
        ]

    def show(self, trace: Trace, track: str, images: ImageLoader, status: str, *, final_only: bool = False) -> list:
        """The trace's steps so far; ``final_only`` leaves out the intermediate step."""
        values = self.blank(track, "direct" if final_only else trace.mode, status)
        for step in trace.steps:
            if final_only and step.role in (StepRole.REFINED_PROMPT, StepRole.EDITED_IMAGE):
                continue
            slot = {StepRole.REFINED_PROMPT: 1, StepRole.EDITED_IMAGE: 2,
                    StepRole.GENERATED_IMAGE: 3, StepRole.ANSWER: 4}[step.role]
            content = ((step.text or EMPTY_OUTPUT) if step.role in (StepRole.REFINED_PROMPT, StepRole.ANSWER)
                       else scaled_up(images(step)))
            values[slot] = gr.update(value=content, visible=True)
        return values


def status_line(trace: Trace, expected_steps: int, *, title: str) -> str:
    """Where the run is: each finished step with its time, the step in progress, or the failure."""
    lines = [f"**{title}**"]
    lines += [f"- {step.role.value.replace('_', ' ')}: {step.seconds:.2f} s" for step in trace.steps]
    if trace.status is Status.NOT_SUPPORTED:
        lines.append(f"- not supported (the paper's \"-\"): {trace.error}")
    elif trace.status is Status.ERROR:
        lines.append(f"- **error:** {trace.error}")
    elif len(trace.steps) < expected_steps:
        lines.append(f"- step {len(trace.steps) + 1} of {expected_steps} running…")
    else:
        lines.append(f"- done in {trace.seconds:.2f} s")
    return "\n".join(lines)


def instance_markdown(instance: AnyInstance, *, with_questions: bool) -> str:
    head = f"**{instance.uid}** · {instance.track} · {instance.category_name} ({instance.category})"
    if isinstance(instance, GEUInstance):
        options = "\n".join(f"- **{letter}.** {text}" for letter, text in zip(LETTERS, instance.option))
        return f"{head}\n\n**Question:** {instance.question}\n\n{options}"
    text = f"{head}\n\n**Prompt:** {instance.prompt}"
    if with_questions and instance.question_list:
        text += "\n\n**Polling questions** (expected answer):\n" + "\n".join(
            f"- {q.question} (*{q.answer}*)" for q in instance.question_list)
    return text


def verdict_markdown(judgment: dict | None, instance: AnyInstance, *, judge: str) -> str:
    """The judge's verdict per polling question against the expected answer, or the parsed GEU letter."""
    if judgment is None:
        if isinstance(instance, GEUInstance) or instance.question_list:
            return f"*Not judged by {judge}.*" + (" Judge it yourself below." if judge == "human" else "")
        return "*This instance has no polling questions, so there is nothing to judge.*"
    score = {1: "1 (correct)", 0: "0 (wrong)", None: "undecided (judge errors)"}[judgment["score"]]
    details = judgment["details"]
    if judgment["kind"] == "mcq":
        if not details["answer"]:  # your own question, asked without an expected answer
            return (f"Parsed letter: **{details['letter'] or 'none'}** (strict parse: "
                    f"{details['strict_letter'] or 'none'}) · no expected answer was given, so this run is "
                    "not scored")
        options = "\n".join(
            f"- {'**' if letter == details['answer'] else ''}{letter}. {text}"
            f"{' ← expected**' if letter == details['answer'] else ''}"
            for letter, text in zip(LETTERS, getattr(instance, "option", [])))
        return (f"{options}\n\nParsed letter: **{details['letter'] or 'none'}** "
                f"(strict parse: {details['strict_letter'] or 'none'}) · expected **{details['answer']}** "
                f"· {'right' if judgment['score'] else 'wrong'}\n\n**Instance score:** {score}")
    rows = ["| polling question | expected | judge reply | verdict | match |", "|---|---|---|---|---|"]
    for item in details["questions"]:
        reply = (item["replies"][-1] if item["replies"] else "").replace("|", "\\|").replace("\n", " ")
        mark = {True: "right", False: "wrong", None: "unparseable"}[item["correct"]]
        rows.append(f"| {item['question']} | {item['expected']} | {reply[:80]} | {item['verdict'] or '-'} | {mark} |")
    judged_by = details.get("judge", judge)
    return f"Judge: **{judged_by}**\n\n" + "\n".join(rows) + f"\n\n**Instance score:** {score}"
