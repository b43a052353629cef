"""Turning instances, traces and judgments into what a column shows; shared by Explore and Arena.

A ``TraceView`` is one column's components: a status line with timings, the intermediate step (refined
prompt text or edited image) and the final output (generated image or answer). Only the components the
track uses are visible, so a column never shows an empty image box for a text answer.
"""

from __future__ import annotations

import base64
import os
import tempfile
import time
import html
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from PIL import Image

from realunify_arena.benchmark.schema import LETTERS, AnyInstance, GEUInstance
from realunify_arena.trace import Status, Step, StepRole, Trace

ImageLoader = Callable[[Step], Image.Image]

# Every ASCII punctuation mark as a numeric character reference: CommonMark never reads a character
# reference as structure (spec 0.31, "Entity and numeric character references"), so no link, image,
# autolink (``://``, ``www.``, ``@``), raw HTML, emphasis, heading, list, table cell or ``$$`` math.
_AS_TEXT = {ord(c): f"&#{ord(c)};" for c in string.punctuation}


def plain(value: object, *, markdown: bool = True) -> str:
    """``value`` as text that shows as itself, for anything a visitor, a URL, a data file or a model
    supplied: instance text, your own prompts, model and judge replies, file names, query parameters.

    ``markdown=True`` for a ``gr.Markdown`` value (and Markdown built around it); ``markdown=False`` for a
    message (``gr.Warning``/``gr.Error``/``gr.Info``), which Gradio renders as HTML: ``&``, ``<`` and ``>``
    escaped, so the message still reads normally in an API client's error. Either way the browser shows
    the same characters and builds no element from them.
    """
    text = str(value)
    return text.translate(_AS_TEXT) if markdown else html.escape(text, quote=False)


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
                            elem_id=f"{prefix}-edited", visible=False, height=320),
            image=gr.Image(label="Generated image", type="pil", format="png", interactive=False,
                           elem_id=f"{prefix}-image", height=320),
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

    def show_anonymous(self, side: dict, track: str, status: str) -> list:
        """A side's pre-vote view (``battles.anonymous_side``): the final output only, its image served
        from a file of its own (``battle_image_file``), so Gradio's URL for it is not the one Explore
        shows for the same run."""
        values = self.blank(track, "direct", status)
        if side["image"] is not None:
            values[3] = gr.update(value=battle_image_file(side["image"]), visible=True)
        if side["text"] is not None:
            values[4] = gr.update(value=side["text"], visible=True)
        return values

    def show(self, trace: Trace, track: str, images: ImageLoader, status: str, *, final_only: bool = False) -> list:
        """The trace's steps so far; ``final_only`` leaves out the intermediate step."""
        values = self.blank(track, "direct" if final_only else trace.mode, status)
        for step in trace.steps:
            if final_only and step.role in (StepRole.REFINED_PROMPT, StepRole.EDITED_IMAGE):
                continue
            slot = {StepRole.REFINED_PROMPT: 1, StepRole.EDITED_IMAGE: 2,
                    StepRole.GENERATED_IMAGE: 3, StepRole.ANSWER: 4}[step.role]
            content = step.text if step.role in (StepRole.REFINED_PROMPT, StepRole.ANSWER) else images(step)
            values[slot] = gr.update(value=content, visible=True)
        return values


def battle_image_file(image: dict) -> str:
    """A pre-vote image (``{"name", "png_base64"}``) written to its own file in the system temp folder
    (which Gradio serves); Gradio names its copy by the bytes' hash, and these bytes are unique."""
    folder = Path(tempfile.gettempdir()) / "realunify-battles"
    folder.mkdir(parents=True, exist_ok=True)
    stale = time.time() - 600  # Gradio has long copied these into its cache
    for entry in os.scandir(folder):
        try:
            if entry.stat().st_mtime < stale:
                os.remove(entry.path)
        except OSError:  # removed meanwhile by another battle
            pass
    path = folder / Path(image["name"]).name
    path.write_bytes(base64.b64decode(image["png_base64"]))
    return str(path)


def status_line(trace: Trace, expected_steps: int, *, title: str) -> str:
    """Where the run is: each finished step with its time, the step in progress, or the failure."""
    lines = [f"**{title}**"]
    lines += [f"- {step.role.value.replace('_', ' ')}: {step.seconds:.2f} s" for step in trace.steps]
    if trace.status is Status.NOT_SUPPORTED:
        lines.append(f"- not supported (the paper's \"-\"): {plain(trace.error)}")
    elif trace.status is Status.ERROR:
        lines.append(f"- **error:** {plain(trace.error)}")
    elif len(trace.steps) < expected_steps:
        lines.append(f"- step {len(trace.steps) + 1} of {expected_steps} running…")
    else:
        lines.append(f"- done in {trace.seconds:.2f} s")
    return "\n".join(lines)


def instance_markdown(instance: AnyInstance, *, with_questions: bool) -> str:
    """The instance as Markdown; its text (from a data file or a visitor) shows as plain text."""
    head = (f"**{plain(instance.uid)}** · {instance.track} · {plain(instance.category_name)} "
            f"({plain(instance.category)})")
    if isinstance(instance, GEUInstance):
        options = "\n".join(f"- **{letter}.** {plain(text)}" for letter, text in zip(LETTERS, instance.option))
        return f"{head}\n\n**Question:** {plain(instance.question)}\n\n{options}"
    text = f"{head}\n\n**Prompt:** {plain(instance.prompt)}"
    if with_questions and instance.question_list:
        text += "\n\n**Polling questions** (expected answer):\n" + "\n".join(
            f"- {plain(q.question)} (*{plain(q.answer)}*)" for q in instance.question_list)
    return text


def verdict_markdown(judgment: dict | None, instance: AnyInstance, *, judge: str) -> str:
    """The judge's verdict per polling question against the expected answer, or the parsed GEU letter."""
    if judgment is None:
        if isinstance(instance, GEUInstance) or instance.question_list:
            return f"*Not judged by {judge}.*" + (" Judge it yourself below." if judge == "human" else "")
        return "*This instance has no polling questions, so there is nothing to judge.*"
    score = {1: "1 (correct)", 0: "0 (wrong)", None: "undecided (judge errors)"}[judgment["score"]]
    details = judgment["details"]
    if "voters" in details:  # the human verdict: the majority of the people who judged the run
        score = {1: "1 (correct)", 0: "0 (wrong)", None: "undecided (a tie)"}[judgment["score"]]
        return (f"**Human verdict:** {score} · {details['voters']} voter(s): {details['yes']} correct, "
                f"{details['no']} wrong ({details['rule']})")
    if judgment["kind"] == "mcq":
        if not details["answer"]:  # your own question, asked without an expected answer
            return (f"Parsed letter: **{plain(details['letter'] or 'none')}** (strict parse: "
                    f"{plain(details['strict_letter'] or 'none')}) · no expected answer was given, so this run is "
                    "not scored")
        options = "\n".join(
            f"- {'**' if letter == details['answer'] else ''}{letter}. {plain(text)}"
            f"{' ← expected**' if letter == details['answer'] else ''}"
            for letter, text in zip(LETTERS, getattr(instance, "option", [])))
        return (f"{options}\n\nParsed letter: **{plain(details['letter'] or 'none')}** "
                f"(strict parse: {plain(details['strict_letter'] or 'none')}) · expected "
                f"**{plain(details['answer'])}** "
                f"· {'right' if judgment['score'] else 'wrong'}\n\n**Instance score:** {score}")
    rows = ["| polling question | expected | judge reply | verdict | match |", "|---|---|---|---|---|"]
    for item in details["questions"]:
        reply = (item["replies"][-1] if item["replies"] else "").replace("\n", " ")
        mark = {True: "right", False: "wrong", None: "unparseable"}[item["correct"]]
        cells = [item["question"], item["expected"], reply[:80], item["verdict"] or "-"]
        rows.append("| " + " | ".join(plain(c).replace("\n", " ") for c in cells) + f" | {mark} |")
    judged_by = details.get("judge", judge)
    return f"Judge: **{plain(judged_by)}**\n\n" + "\n".join(rows) + f"\n\n**Instance score:** {score}"
