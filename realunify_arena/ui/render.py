"""Turning instances, traces and judgments into what a column shows; shared by Explore and Arena.

A ``TraceView`` is one column's components: a status line with timings, the intermediate step (refined
prompt text or edited image) and the final output (generated image or answer). Only the components the
track uses are visible, so a column never shows an empty image box for a text answer.
"""

from __future__ import annotations

import base64
import html
import itertools
import logging
import re
import string
from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr
from PIL import Image

from realunify_arena import served_files
from realunify_arena.benchmark.custom import category_label, is_own
from realunify_arena.benchmark.schema import LETTERS, AnyInstance, GEUInstance
from realunify_arena.importing import IMPORTED_SETTINGS
from realunify_arena.judge import HUMAN, STRICT_PARSE_NOTE, was_asked
from realunify_arena.protocols import AFTER_REASONING, AS_GIVEN, ONLY_REASONING, shown_refined_prompt
from realunify_arena.redaction import shown_error, visitor_text
from realunify_arena.shown import visible
from realunify_arena.trace import Status, Step, StepRole, Trace

ImageLoader = Callable[[Step], Image.Image]
# Turns the query a handler returns ("?tab=explore&…") into the page's own absolute URL, in the browser
# (behind a proxy such as a Space only the page knows its public address).
ABSOLUTE_LINK_JS = "(query) => query && query.startsWith('?') ? window.location.origin + window.location.pathname + query : query"
# The class of what the page says of a run as it goes and ends (an Explore column's or Arena side's status, the
# Arena's reveal after a vote): the page's script makes each a polite live region (``app.NAME_FIELDS_JS``).
LIVE_STATUS = "live-status"
# Hands what a tab shows (a link or its query naming the tab: ``explore_query``, ``leaderboard_query``) to the
# page's script that keeps the URL (``app.PAGE_URL_JS``), which writes it into the address bar while that tab is open.
SHOW_QUERY_JS = "(query) => { window.realunifyShowQuery?.(query); }"

# Every ASCII punctuation mark as a numeric character reference: CommonMark never reads a character
# reference as structure (spec 0.31, "Entity and numeric character references"), so no link, image,
# autolink (``://``, ``www.``, ``@``), raw HTML, emphasis, heading, list, table cell or ``$$`` math.
_AS_TEXT = {ord(c): f"&#{ord(c)};" for c in string.punctuation}


def unsaved(error: Exception, what: str, advice: str = "please try again") -> str:
    """The visitor's words for a write the store could not confirm on disk (a ``StoreError``): nothing
    counted, and ``advice``. Trying again is safe: ``Arena`` completes the retry of a vote or a battle start,
    and a judgment saved again replaces the stored one. The server's path and the OS error go to the log only."""
    _log.warning("%s not saved: %s", what, error)
    return f"{what} was not saved: the server could not confirm it on disk, so nothing was counted; {advice}."


_log = logging.getLogger(__name__)


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


def boxed_tables(text: str, *, one_line: bool = False) -> str:
    """``text`` (Markdown) with each of its tables in a box that scrolls sideways when the table is wider than
    its column (its cells break lines between words only: ``app.PAGE_CSS``); ``one_line``: each cell keeps
    one line (the benchmark's figures and names). The prose around the tables is left as it is; Gradio's
    Markdown keeps inline ``style``."""
    style = "overflow-x: auto" + ("; white-space: nowrap" if one_line else "")
    out: list[str] = []
    for is_table, block in itertools.groupby(text.split("\n"), key=lambda line: line.startswith("|")):
        lines = "\n".join(block)
        out.append(f'<div style="{style}">\n\n{lines}\n\n</div>' if is_table else lines)
    return "\n".join(out)


def notes_markdown(rows: list[dict]) -> str:
    """The board's notes in full, one list item per system that has one (``**Notes**`` and the list; "" when
    no row has a note), for under the Leaderboard tab's table, whose cells keep one line each and cut a long
    note short. ``rows``: ``ratings`` board rows (``system``, ``note``); each text ``plain``, so it shows as
    itself."""
    items = [f"- {plain(r['system'])}: {plain(r['note'])}" for r in rows if r["note"]]
    return "**Notes**\n\n" + "\n".join(items) if items else ""


# An Explore column's earlier runs (``history_markdown``). A Markdown table, not a ``gr.Dataframe``: the
# Dataframe fixed each column's width from its cells and clipped the last header ("from st") past its box, and
# with ``wrap=True`` broke headers inside words ("see|d", "statu|s"); a table of the page's Markdown breaks
# lines between words only (``app.PAGE_CSS``) and fits its columns to the box.
HISTORY_HEADERS = ["run", "instance", "seed", "status", "score", "time (s)", "from store"]


def history_markdown(rows: list[dict]) -> str:
    """``rows`` (dicts keyed by ``HISTORY_HEADERS``; ``status`` a ``trace.Status`` value) as a Markdown table
    in a box that scrolls sideways only if a single word is wider than the column; "" for no rows. Every value
    is ``plain`` text; a status reads as words ("not supported")."""
    if not rows:
        return ""
    lines = ["| " + " | ".join(HISTORY_HEADERS) + " |", "|" + "---|" * len(HISTORY_HEADERS)]
    for row in rows:
        cells = {**row, "status": str(row["status"]).replace("_", " ")}
        lines.append("| " + " | ".join(plain(cells[h]) for h in HISTORY_HEADERS) + " |")
    return boxed_tables("\n".join(lines))


BOX_PX = 320  # the height of an image box; smaller images are scaled up to it
EMPTY_OUTPUT = "(empty output)"


def output_text(text: str | None) -> str:
    """A text output as its box shows it: ``EMPTY_OUTPUT`` for an answer or refined prompt that is empty or
    only white space, so the box never looks like one still waiting for its output (Explore, the reveal and
    a battle's pre-vote sides alike)."""
    return text if text and text.strip() else EMPTY_OUTPUT


def scaled_up(image: Image.Image, box: int = BOX_PX) -> Image.Image:
    """``image`` enlarged by a whole factor with nearest-neighbour sampling, so a small output (a tiny
    model's 32x32 image) fills the box with sharp pixels instead of a blur; larger images are unchanged."""
    factor = box // max(image.size)
    return image.resize((image.width * factor, image.height * factor), Image.NEAREST) if factor > 1 else image


REFINED_LABEL = "Refined prompt (step 1)"
# The refined-prompt box's label, by (imported run, what the box shows: ``protocols.shown_refined_prompt``). An
# imported run's image prompt is not known (what a third-party runner sent its image model is not in its files):
# its box says that the text is the file's ``response``, and, where thoughts were left out, that this is derived.
# A reply that is only reasoning holds no refined prompt: its thoughts are shown, never called the prompt sent on.
REFINED_LABELS = {
    (False, AS_GIVEN): REFINED_LABEL,
    (False, AFTER_REASONING): f"{REFINED_LABEL}: the model's reply after its reasoning, as sent to the image model",
    (False, ONLY_REASONING): f"{REFINED_LABEL}: none, the model's reply (shown) is only its reasoning, with no "
                             "refined prompt after it",
    (True, AS_GIVEN): f"{REFINED_LABEL}: the imported response, as given",
    (True, AFTER_REASONING): f"{REFINED_LABEL}: the imported response with its reasoning left out (derived here; "
                             "the file keeps it whole, and what its runner sent the image model is not known)",
    (True, ONLY_REASONING): f"{REFINED_LABEL}: none, the imported response (shown as given) is only its reasoning, "
                            "with no refined prompt after it",
}


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
            status=gr.Markdown("", elem_id=f"{prefix}-status", elem_classes=[LIVE_STATUS]),
            refined=gr.Textbox(label=REFINED_LABEL, lines=3, interactive=False,
                               elem_id=f"{prefix}-refined", visible=False),
            # alt_text: the image (inside Gradio's frame button) is the result, named as its label says
            edited=gr.Image(label="Edited image (step 1)", alt_text="Edited image (step 1)", type="pil", format="png",
                            interactive=False, elem_id=f"{prefix}-edited", visible=False, height=BOX_PX),
            image=gr.Image(label="Generated image", alt_text="Generated image", type="pil", format="png",
                           interactive=False, elem_id=f"{prefix}-image", height=BOX_PX),
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
            gr.update(value=None, visible=track == "UEG" and stepwise, label=REFINED_LABEL),
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
            values[4] = gr.update(value=output_text(side["text"]), visible=True)
        return values

    def show(self, trace: Trace, track: str, images: ImageLoader, status: str, *, final_only: bool = False) -> list:
        """The trace's steps so far; ``final_only`` leaves out the intermediate step."""
        values = self.blank(track, "direct" if final_only else trace.mode, status)
        for step in trace.steps:
            if final_only and step.role in (StepRole.REFINED_PROMPT, StepRole.EDITED_IMAGE):
                continue
            slot = {StepRole.REFINED_PROMPT: 1, StepRole.EDITED_IMAGE: 2,
                    StepRole.GENERATED_IMAGE: 3, StepRole.ANSWER: 4}[step.role]
            if step.role is StepRole.REFINED_PROMPT:  # the refined prompt, not the thoughts before it
                text, shown = shown_refined_prompt(step.text)
                label = REFINED_LABELS[trace.settings == IMPORTED_SETTINGS, shown]
                values[slot] = gr.update(value=output_text(text), visible=True, label=label)
                continue
            content = output_text(step.text) if step.role is StepRole.ANSWER else scaled_up(images(step))
            values[slot] = gr.update(value=content, visible=True)
        return values


def battle_image_file(image: dict) -> str:
    """A pre-vote image (``{"name", "png_base64"}``) written to its own file (``served_files.write``, which Gradio
    serves); Gradio names its copy by the bytes' hash, and these bytes are unique."""
    return served_files.write("realunify-battles", image["name"], base64.b64decode(image["png_base64"]))


def failure_text(text: str | None) -> str:
    """A run's or a judge's stored failure as the page shows it (Markdown): no secret, endpoint address or
    server folder (``visitor_text``), no class name that adds nothing (``redaction.shown_error``), escaped."""
    return plain(shown_error(visitor_text(text)) or "")


def status_line(trace: Trace, expected_steps: int, *, title: str) -> str:
    """Where the run is: each finished step with its time, the step in progress, or the failure. An imported
    run's steps have no time (its result file records none: "0.00 s" would be a time it never took)."""
    lines = [f"**{title}**"]
    imported = trace.settings == IMPORTED_SETTINGS
    lines += [f"- {step.role.value.replace('_', ' ')}" + ("" if imported else f": {step.seconds:.2f} s")
              for step in trace.steps]
    if trace.status is Status.NOT_SUPPORTED:
        lines.append(f"- not supported (the paper's \"-\"): {failure_text(trace.error)}")
    elif trace.status is Status.ERROR:
        lines.append(f"- **error:** {failure_text(trace.error)}")
    elif len(trace.steps) < expected_steps:
        lines.append(f"- step {len(trace.steps) + 1} of {expected_steps} running…")
    elif imported:
        lines.append("- imported from a result file, which records no timings")
    else:
        lines.append(f"- done in {trace.seconds:.2f} s")
    lines += [f"- **note:** {failure_text(note)}" for note in trace.notes]  # the run stands; its reader must know
    return "\n".join(lines)


# Instance text is escaped line by line with ``plain`` (every ASCII punctuation mark as a character reference,
# so nothing becomes syntax). Gradio's LaTeX runs on the rendered text: the components showing instance text
# set ``latex_delimiters=[]``.
_NBSP = "&nbsp;"
_FENCE = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_CODE_LINE = re.compile(r"[=;{}]|\w\(|\)\s*$|:\s*$|^\s*(def|for|while|if|elif|else|return|import|from|print|"
                        r"int|let|var|const|function|class|#include)\b")
CODE_TASKS = ("code_to_image",)  # categories whose prompt holds a program, shown as a code block


def _escape_line(line: str) -> str:
    body = line.lstrip(" \t")
    indent = line[:len(line) - len(body)].replace("\t", "    ")
    return _NBSP * len(indent) + plain(body)


def instance_text_markdown(text: str, *, table_cell: bool = False) -> str:
    """Instance text (a prompt, question, option or polling question, from a data file or typed by a
    visitor) as Markdown that shows it exactly as written: Markdown and HTML characters appear literally
    (nothing becomes a tag, link, heading, list or emphasis), every line break is kept (as a hard break,
    so the text is one paragraph and can sit in a list item) and leading indentation is kept.

    Args:
        table_cell: for a cell of a Markdown table: line breaks become ``<br>`` (a table row is one line).
    """
    lines = [_escape_line(line) or _NBSP for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and lines[-1] == _NBSP:  # a trailing line break shows nothing
        lines.pop()
    return ("<br>" if table_cell else "  \n").join(lines)


def code_block(code: str, language: str = "") -> str:
    """``code`` verbatim in a fenced block (a fence longer than any backtick run inside it)."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{code.rstrip(chr(10))}\n{fence}"


def _looks_like_code(lines: list[str]) -> bool:
    """A paragraph reads as program text: an indented line, or most lines code-like (an assignment, a
    call, a block opener) and not sentences ending in ``.``, ``?`` or ``!``."""
    lines = [line for line in lines if line.strip()]
    if any(line[:1] in (" ", "\t") for line in lines):
        return True
    code_like = [bool(_CODE_LINE.search(line)) and not line.rstrip().endswith((".", "?", "!")) for line in lines]
    return bool(lines) and 2 * sum(code_like) >= len(lines)


def prompt_markdown(text: str, *, task_type: str = "") -> str:
    """A prompt as Markdown: fenced code in it stays a code block; in a code-to-image prompt the
    paragraphs that read as a program (consecutive ones, with their blank lines) become one code block;
    everything else is ``instance_text_markdown``."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    parts, at = [], 0
    for match in _FENCE.finditer(text):
        parts += _prose_and_code(text[at:match.start()], task_type)
        parts.append(code_block(match.group(2)))
        at = match.end()
    parts += _prose_and_code(text[at:], task_type)
    return "\n\n".join(p for p in parts if p)


def _prose_and_code(text: str, task_type: str) -> list[str]:
    if not text.strip():
        return []
    if task_type not in CODE_TASKS:
        return [instance_text_markdown(text.strip("\n"))]
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", text.strip("\n")) if p.strip()]
    out: list[str] = []
    code: list[str] = []
    for paragraph in paragraphs:
        if _looks_like_code(paragraph.split("\n")):
            code.append(paragraph)
            continue
        if code:
            out.append(code_block("\n\n".join(code)))
            code = []
        out.append(instance_text_markdown(paragraph))
    if code:
        out.append(code_block("\n\n".join(code)))
    return out


def instance_label(instance: AnyInstance, width: int = 70) -> str:
    """A one-line menu label: the uid and the start of the prompt or question, whitespace collapsed (a
    code-to-image prompt is summarised by its program, since the instruction before it is shared)."""
    text = instance.question if isinstance(instance, GEUInstance) else instance.prompt
    if instance.task_type in CODE_TASKS:
        code = [p for p in re.split(r"\n[ \t]*\n", text) if _looks_like_code(p.split("\n"))]
        text = "\n".join(code) or text
    text = visible(" ".join(text.split()))  # a right-to-left override in a prompt reversed the menu's label
    return f"{visible(instance.uid)}: {text[:width]}{'…' if len(text) > width else ''}"


def filled_in(values) -> list:
    """Updates that enable fields (which start disabled until the page's load event answered) and give each the
    value a link names, None leaving its value as it is."""
    return [gr.update(interactive=True) if value is None else gr.update(value=value, interactive=True)
            for value in values]


def instance_markdown(instance: AnyInstance, *, with_questions: bool) -> str:
    """The instance as written: the prompt (a program as a code block) or the question and its four
    options, then optionally the polling questions with their expected answers. All instance text goes
    through ``instance_text_markdown``; show it in a ``gr.Markdown(latex_delimiters=[])``."""
    # your own instance's uid carries the task type its stepwise prompt used, maybe not a category you chose
    name = "Your own instance" if is_own(instance) else instance_text_markdown(instance.uid)
    head = f"**{name}** · {instance.track} · {category_label(instance)}"
    if isinstance(instance, GEUInstance):
        options = "\n".join(f"- **{letter}.** {instance_text_markdown(text)}"
                            for letter, text in zip(LETTERS, instance.option))
        return f"{head}\n\n**Question:**  \n{instance_text_markdown(instance.question)}\n\n{options}"
    text = f"{head}\n\n**Prompt:**\n\n{prompt_markdown(instance.prompt, task_type=instance.task_type)}"
    if with_questions and instance.question_list:
        text += "\n\n**Polling questions** (expected answer):\n" + "\n".join(
            f"- {instance_text_markdown(q.question)} (*{q.answer}*)" for q in instance.question_list)
    return text


_STRICT_NOTE = f"<small>{plain(STRICT_PARSE_NOTE)}</small>"  # under every GEU verdict that shows a strict parse


def verdict_markdown(judgment: dict | None, instance: AnyInstance, *, judge: str, judge_here: bool = False,
                     has_output: bool = True) -> str:
    """The judge's verdict per polling question against the expected answer, or the parsed GEU letter.

    ``judge_here``: the page offers "Judge it yourself" for this run, so an unjudged run points to it;
    ``has_output``: False for a run that ended without a final output (nothing to judge).
    """
    if judgment is None:
        if not has_output:
            return "*No output, so there is nothing to judge.*"
        if isinstance(instance, GEUInstance) or instance.question_list:
            who = ("*No judge model ran: the judge chosen is `human`, you.*" if judge == HUMAN
                   else f"*Not judged by {judge}.*")
            return who + (" Judge it yourself below." if judge_here else "")
        return "*This instance has no polling questions, so there is nothing to judge.*"
    score = {1: "1 (correct)", 0: "0 (wrong)", None: "undecided (judge errors)"}[judgment["score"]]
    details = judgment["details"]
    if "voters" in details:  # the human verdict: per question the people's majority (Store.human_verdicts)
        tie = "voters tied on a polling question" if details.get("questions") else "the voters' scores tied"
        score = {1: "1 (correct)", 0: "0 (wrong)", None: f"undecided ({tie})"}[judgment["score"]]
        return (f"**Human verdict:** {score} · {details['voters']} voter(s): {details['yes']} correct, "
                f"{details['no']} wrong ({details['rule']})")
    if judgment["kind"] == "mcq":
        if not details["answer"]:  # your own question, asked without an expected answer
            return (f"Parsed letter: **{plain(details['letter'] or 'none')}** (strict parse: "
                    f"{plain(details['strict_letter'] or 'none')}) · no expected answer was given, so this run is "
                    f"not scored\n\n{_STRICT_NOTE}")
        options = "\n".join(
            f"- {'**' if letter == details['answer'] else ''}{letter}. {instance_text_markdown(text)}"
            f"{' ← expected**' if letter == details['answer'] else ''}"
            for letter, text in zip(LETTERS, getattr(instance, "option", [])))
        return (f"{options}\n\nParsed letter: **{plain(details['letter'] or 'none')}** "
                f"(strict parse: {plain(details['strict_letter'] or 'none')}) · expected "
                f"**{plain(details['answer'])}** "
                f"· {'right' if judgment['score'] else 'wrong'}\n\n**Instance score:** {score}\n\n{_STRICT_NOTE}")
    rows = ["| polling question | expected | judge reply | verdict | match |", "|---|---|---|---|---|"]
    for item in details["questions"]:
        reply = " ".join((item["replies"][-1] if item["replies"] else "").split())
        mark = {True: "right", False: "wrong", None: "unparseable" if was_asked(item) else "not asked"}[item["correct"]]
        rows.append(f"| {instance_text_markdown(item['question'], table_cell=True)} | {item['expected']} | "
                    f"{instance_text_markdown(reply[:80])} | {item['verdict'] or '-'} | {mark} |")
    judged_by = details.get("judge", judge)
    return f"Judge: **{instance_text_markdown(judged_by)}**\n\n" + boxed_tables("\n".join(rows)) + \
        f"\n\n**Instance score:** {score}"
