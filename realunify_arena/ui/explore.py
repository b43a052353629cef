"""Explore: run one instance direct and stepwise side by side, watch the steps arrive, see the verdicts.

Each column is its own streaming event, so the two modes progress independently; a local card's run
waits for the accelerator in ``AppContext.model_slot`` (a remote card's does not wait). Every run is stored (and reused when asked for
again with the same settings), so the details panel, the download and the human judgment all refer to
a stored run id.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import anyio.to_thread
import gradio as gr
from gradio.utils import get_upload_folder
from PIL import Image

from realunify_arena import page_links, served_files
from realunify_arena.arena import RunRefused, rate_key
from realunify_arena.benchmark.custom import (CUSTOM_DATASET, MAX_TEXT_CHARS, custom_instance, refused_inline,
                                              refused_unopened, refused_unuploaded, refused_upload,
                                              upload_refusal, uploaded_in)
from realunify_arena.benchmark.images import READ_FAILURES, decode_slot, preview
from realunify_arena.benchmark.loaders import selection_problems
from realunify_arena.benchmark.schema import CATEGORIES, LETTERS, TRACKS, GEUInstance, UEGInstance
from realunify_arena.context import AppContext, QueueFull
from realunify_arena.judge import HUMAN, stored_images
from realunify_arena.page_links import explore_query
from realunify_arena.form_settings import FORM_SETTINGS, form_number, form_options, setting_refusal, settings_used
from realunify_arena.protocols import required_capabilities
from realunify_arena.redaction import visitor_text
from realunify_arena.runs import (
    for_visitors,
    judge_by_hand,
    judge_run,
    needs_device,
    new_runs,
    prefetch_judge,
    run_and_judge,
    stream_run,
)
from realunify_arena.shown import said, visible
from realunify_arena.stopping import RunControl
from realunify_arena.store import StoreError
from realunify_arena.systems import MODES, System
from realunify_arena.ui.calls import Refusal, show_drawn
from realunify_arena.ui.render import (
    ABSOLUTE_LINK_JS,
    SHOW_QUERY_JS,
    TraceView,
    history_markdown,
    failure_text,
    instance_label,
    instance_markdown,
    plain,
    scaled_up,
    status_line,
    unsaved,
    verdict_markdown,
)
from realunify_arena.ui.streaming import in_device_slot, on_model_slot, paced, relay, waiter
from realunify_arena.ui.visitor import visitor

RANDOM = "random"
CUSTOM = "custom"


def explained_refusals(upload: gr.Image) -> gr.Image:
    """``upload``, with its refusals saying why. Gradio opens an upload with Pillow before any handler runs,
    and an image Pillow refuses there (over its own bomb limit, ~179 MP, or not an image at all) reached the
    page as a bare "Error" (then a toast that fades); an image ``open_checked`` explains is passed on as a
    ``RefusedUpload`` instead (``benchmark.custom.refused_upload``), so Run refuses your own GEU instance with
    that message (``custom_instance``), shown in place, and a Run of a data source's instance is not refused
    for an image it does not use. A path outside Gradio's upload folder (a value sent without Gradio's file
    marker, which Gradio's own upload check skips) is refused unread (``refused_unuploaded``). (The instance's ``preprocess`` is
    wrapped because a ``gr.Image`` subclass makes Gradio write a ``.pyi`` beside this file.)"""
    preprocess = upload.preprocess
    upload_folders = (upload.GRADIO_CACHE, get_upload_folder())  # where Gradio writes uploads (the same folder)

    def checked(payload):
        # a path without Gradio's file marker ("meta") skips Gradio's own check that the file was uploaded
        # (``processing_utils.async_move_files_to_cache`` looks only at marked values; ``ImageData`` does not
        # ask for the marker): a server file named so was opened, a server image shown back and run. Refused
        # before anything touches the path (existence included), as Gradio refuses a marked one.
        if payload is not None and payload.path is not None and not uploaded_in(payload.path, upload_folders):
            return refused_unuploaded()
        # refused from its header before Gradio opens it with every Pillow plugin (an ICO decodes there); an
        # image sent inline (a data: URL, which the page never sends) Gradio would decode so too: refused
        if payload is not None and payload.path is not None:
            refused = refused_unopened(payload.path, shown_name=payload.orig_name)
            if refused is not None:
                return refused
        elif payload is not None and (payload.url or "").startswith("data:"):
            return refused_inline()
        try:
            with decode_slot():  # Gradio opens the file with Pillow, which reads its whole header: bounded alike
                return preprocess(payload)
        except (Image.DecompressionBombError, *READ_FAILURES):  # what Pillow raises on a file it cannot read
            if payload is None or payload.path is None:
                raise
            # names the problem (by the name the file had on the visitor's machine)
            refused = refused_upload(payload.path, shown_name=payload.orig_name)
            if refused is None:
                raise
            return refused

    upload.preprocess = checked
    return upload


def _image_note(image) -> str:
    """What the page says under your own GEU image once it is uploaded: Run's refusal of it (``upload_refusal``),
    or nothing."""
    reason = upload_refusal(image)
    return f"**Not usable:** {plain(reason)}" if reason else ""


def _checked(problems: list[str], check: Callable, *args, **kwargs):
    """``check(*args, **kwargs)``'s result, or None with its refusal (a ``ValueError`` or ``KeyError``, as a
    visitor may read it) added to ``problems``."""
    try:
        return check(*args, **kwargs)
    except ValueError as e:
        problems.append(plain(e, markdown=False))
    except KeyError as e:
        problems.append(plain(said(e), markdown=False))
    return None


@dataclass
class Column:
    """One mode's output: the trace view, its verdicts, human judging, details, download and history."""

    mode: str
    view: TraceView
    verdict: gr.Markdown
    judge_panel: gr.Accordion
    judge_box: gr.CheckboxGroup
    judge_button: gr.Button
    human_verdict: gr.Markdown
    details: gr.JSON
    download: gr.DownloadButton
    history_table: gr.Markdown
    history_gallery: gr.Gallery
    run_id: gr.State
    history: gr.State
    details_panel: gr.Accordion
    history_panel: gr.Accordion

    @classmethod
    def create(cls, mode: str) -> Column:
        gr.Markdown(f"## {mode.capitalize()}")  # under the page's h1: a screen reader's outline skips no level
        view = TraceView.create(f"ex-{mode}")
        verdict = gr.Markdown(elem_id=f"ex-{mode}-verdict")
        # The panels below have nothing to show before this column's first run, so they and their components
        # start hidden and a finished run's last update shows them: the page then loads no code for a checkbox
        # group, JSON viewer, download button, table or gallery (with its video player) before it is usable
        # (issue 18: the browser fetches the code of every component not hidden, on any tab or panel).
        with gr.Accordion("Judge it yourself", open=False, visible=False) as judge_panel:
            judge_box = gr.CheckboxGroup([], label="Tick every polling question the image answers with yes",
                                         visible=False, elem_id=f"ex-{mode}-judge-box")
            judge_button = gr.Button("Save my judgment", size="sm", elem_id=f"ex-{mode}-judge-save")
            human_verdict = gr.Markdown(elem_id=f"ex-{mode}-human-verdict")
        with gr.Accordion("Details: prompts, raw replies, settings, timings", open=False,
                          visible=False) as details_panel:
            details = gr.JSON(label="trace and judgment", visible=False, elem_id=f"ex-{mode}-details")
            download = gr.DownloadButton("Download trace (JSON)", value=None, size="sm", visible=False,
                                         elem_id=f"ex-{mode}-download")
        with gr.Accordion("Earlier runs of this column", open=False, visible=False) as history_panel:
            history_table = gr.Markdown(visible=False, elem_id=f"ex-{mode}-history", latex_delimiters=[],
                                        elem_classes=["run-history"])  # app.PAGE_CSS fits it to the column
            history_gallery = gr.Gallery(label="earlier outputs", columns=4, height=180, format="png",
                                         visible=False, elem_id=f"ex-{mode}-gallery")
        return cls(mode, view, verdict, judge_panel, judge_box, judge_button, human_verdict, details, download,
                   history_table, history_gallery, gr.State(None), gr.State([]), details_panel, history_panel)

    @property
    def outputs(self) -> list:
        return [*self.view.outputs, self.verdict, self.judge_panel, self.judge_box, self.details,
                self.download, self.run_id, self.history, self.history_table, self.history_gallery,
                self.details_panel, self.history_panel]


@dataclass
class ExploreTab:
    source: gr.Dropdown
    track: gr.Radio
    category: gr.Dropdown
    instance: gr.Dropdown
    model: gr.Dropdown
    judge: gr.Dropdown
    seed: gr.Number
    run: gr.Button  # disabled until the page's load event filled the form (``url_outputs``, then ``ready``)
    note: gr.Markdown  # what the page says under the model menu
    steps: gr.Number  # the generation settings: disabled, as the link's fields, until the load event answered
    guidance: gr.Number
    max_new_tokens: gr.Number
    # what Explore shows, as the query of a link to it (``form_query``; a Run's link after a Run): the page's URL
    # says it while the Explore tab is open (``app.PAGE_URL_JS``)
    shown_query: gr.Textbox
    form_query: Callable[..., str]  # the query of ``query_inputs``' values

    @property
    def query_inputs(self) -> list:
        """The fields ``form_query`` reads: source, track, category, instance, model, judge, seed and the
        generation settings."""
        return [self.source, self.track, self.category, self.instance, self.model, self.judge, self.seed,
                self.steps, self.guidance, self.max_new_tokens]

    @property
    def url_outputs(self) -> list:
        """The fields a link fills in; each starts disabled, as Run does, and ``ready`` enables it."""
        return [self.source, self.track, self.category, self.instance, self.model, self.judge, self.seed]

    @staticmethod
    def ready(updates: list) -> list:
        """``updates`` of ``url_outputs`` (a link's values, or ``gr.skip()``), each also enabling its field.

        The fields start disabled: the page's load event fills in a link's values, and a choice made in a
        menu before its answer arrived (a loaded machine, a slow network) was overwritten by the link's."""
        return [{**update, "interactive": True} for update in updates]

    @property
    def settings_outputs(self) -> list:
        """The model's note and its generation-settings fields, which follow the model a link names."""
        return [self.note, self.steps, self.guidance, self.max_new_tokens]

    @staticmethod
    def settings_ready(ctx: AppContext, model_update: dict, linked: dict | None = None) -> list:
        """Updates of ``settings_outputs`` for the load event, ``model_update`` being the model menu's (a
        link's model, or ``gr.skip()``): a linked model's note and defaults, the link's settings (``linked``:
        ``FORM_SETTINGS`` name -> value, ``link_updates``) over them, and every settings field enabled.

        The settings fields start disabled and follow the model menu only when a visitor picks a model
        (``.input``): a link's model set by the load event made a second round trip (``.change``) whose
        answer replaced a value typed in the moment before it arrived."""
        linked = linked or {}
        model = model_update.get("value") if model_update.get("__type__") == "update" else None
        if model is None:
            return [gr.skip(), *(gr.update(interactive=True, **({"value": linked[name]} if name in linked else {}))
                                 for name in FORM_SETTINGS)]
        fields = zip(FORM_SETTINGS, settings_fields(ctx, model))
        return [model_note(ctx, model), *({**update, "interactive": True, **({"value": linked[name]} if name in linked
                                                                               else {})} for name, update in fields)]


def category_choices(track: str) -> list[tuple[str, str]]:
    return [("all", "all")] + [(f"{c.name} ({c.abbreviation})", task) for task, c in CATEGORIES.items()
                               if c.track == track]


def instance_choices(ctx: AppContext, source: str, track: str, category: str) -> list[tuple[str, str]]:
    fixed = [("random", RANDOM), ("your own (below)", CUSTOM)]
    try:
        dataset = ctx.dataset(source)
    except KeyError:
        return fixed
    return fixed + [(instance_label(inst), inst.uid) for inst in dataset.select(track, category)]


def source_notice(ctx: AppContext, source: str) -> str:
    """What is wrong with a source, so a bad path or file is seen on the page, not just in the log; a source
    that is not configured (only a direct call of the event can send one) says so."""
    try:
        dataset = ctx.dataset(source)
    except KeyError as e:
        return f"**{plain(e.args[0])}**"
    if not dataset.problems:
        return ""
    shown = "\n".join(f"- {plain(ctx.public_text(str(p)))}" for p in dataset.problems[:5])  # no server folder
    more = f"\n- … and {len(dataset.problems) - 5} more" if len(dataset.problems) > 5 else ""
    label = plain(visible(ctx.source_label(source)))
    return (f"**{len(dataset.problems)} problem(s) in {label}** ({len(dataset)} instances usable; "
            f"`python -m realunify_arena validate` on it lists them all):\n{shown}{more}")


def updates_from_url(ctx: AppContext, params: dict[str, str]) -> list:
    """Updates of ``ExploreTab.url_outputs`` for a link's query parameters (``link_updates``' first)."""
    return link_updates(ctx, params)[0]


def link_updates(ctx: AppContext, params: dict[str, str]) -> tuple[list, dict]:
    """Updates of ``ExploreTab.url_outputs`` for a link's query parameters (``page_links.read_explore``): what it
    names that the form offers is filled in, the rest changes nothing and is said (``gr.Warning``); and the
    generation settings it sets (``FORM_SETTINGS`` name -> value, for ``ExploreTab.settings_ready``)."""
    models = ctx.model_choices()
    default = models[0][1] if models else None  # the model menu's (``build``) when the link names none
    link = page_links.read_explore(params, sources=ctx.source_names(),
                                   find_source=lambda name: ctx.source_label(ctx.configured_source(name)),
                                   find_instance=lambda source, uid: ctx.dataset(source).get(uid),
                                   models=ctx.cards, judges=[name for _, name in ctx.judge_choices()],
                                   check_setting=lambda model, name, value: setting_refusal(
                                       ctx.cards, model or default, name, value))
    for problem in link.problems:
        gr.Warning(plain(problem, markdown=False))
    source = link.source or ctx.source_names()[0]
    inst = link.instance
    if inst is not None:  # its track and category, the menus offering them
        drawn = [gr.update(value=inst.track), gr.update(choices=category_choices(inst.track), value=inst.task_type),
                 gr.update(choices=instance_choices(ctx, source, inst.track, inst.task_type), value=inst.uid)]
    elif link.track is not None:  # where Run draws a random instance (``form_query``)
        drawn = [gr.update(value=link.track), gr.update(choices=category_choices(link.track), value=link.category),
                 gr.update(choices=instance_choices(ctx, source, link.track, link.category), value=RANDOM)]
    else:
        drawn = [gr.skip()] * 3
    named = [gr.skip() if value is None else gr.update(value=value) for value in (link.model, link.judge, link.seed)]
    return [gr.update(value=link.source) if link.source else gr.skip(), *drawn, *named], dict(link.settings)


def model_note(ctx: AppContext, model: str | None) -> str:
    """What the page says under the model menu: a tiny card's outputs are noise; an unavailable one's reason."""
    card = ctx.cards.get(model)
    if card is None:
        return ""
    if card.family == "tiny":
        return (f"**{model}** has random weights: its images and answers are noise. It exercises the pipeline "
                "(loading, steps, judging) without downloading a model.")
    runnable, why = ctx.availability[model]
    return "" if runnable else f"**{model}** cannot run here: {plain(visitor_text(why))}"  # quotes card fields


PICK_HINTS = {RANDOM: "*Run draws a random instance of the chosen track and category, and shows it here.*",
              CUSTOM: "*Your own instance: fill in the fields under “Your own instance” above, then Run.*"}


def instance_preview(ctx: AppContext, source: str, choice: str | None) -> tuple:
    """What the page shows for the instance chosen in the menu, before Run: its prompt (UEG, with the polling
    questions) or its question, options and input image (GEU), as Run shows them (``instance_markdown``); for
    "random" and "your own" what Run will do. Returns (Markdown, ``gr.update`` of the input image)."""
    no_image = gr.update(value=None, visible=False)
    if choice in (None, RANDOM, CUSTOM):
        return PICK_HINTS[choice or RANDOM], no_image
    try:
        inst = ctx.dataset(source).get(choice)
        image = preview(inst.open_image()) if isinstance(inst, GEUInstance) else None
    except (ValueError, LookupError) as e:  # a source gone, or an image that no longer opens: said in place
        return f"**{plain(ctx.public_text(said(e)))}**", no_image
    return instance_markdown(inst, with_questions=True), gr.update(value=image, visible=image is not None)


def settings_fields(ctx: AppContext, model: str | None) -> list:
    """Updates of the settings fields for ``model``: its defaults in the fields it uses, the others
    hidden and empty (a browser sends an empty number field as 0, so no field is left empty by default)."""
    card = ctx.cards.get(model)
    used = settings_used(card) if card is not None else dict.fromkeys(FORM_SETTINGS, False)
    return [gr.update(value=getattr(card.defaults, name) if used[name] else None, visible=used[name])
            for name in FORM_SETTINGS]


def _changed(ctx: AppContext, model: str | None, values) -> dict:
    """The settings fields' ``values`` (steps, guidance, max new tokens) a link to the form names
    (``page_links.card_settings`` of ``model``'s card)."""
    return page_links.card_settings(ctx.cards.get(model), dict(zip(FORM_SETTINGS, values)))


def _user_options(ctx: AppContext, model, seed, steps, guidance, max_new_tokens):
    """The validated settings of a Run (``AppContext.options``), or ``gr.Error`` naming the broken limit."""
    try:
        return form_options(ctx.cards, model, seed, steps, guidance, max_new_tokens)
    except ValueError as e:
        raise Refusal(plain(f"Not run: {e}", markdown=False)) from None


def build(ctx: AppContext) -> ExploreTab:
    sources = ctx.source_names()  # public names: the menu's values are published in the page's config
    with gr.Row():
        source = gr.Dropdown(ctx.source_choices(), value=sources[0], label="Data source", elem_id="ex-source",
                             interactive=False)  # this field and the next six: enabled by the load event
        track = gr.Radio(["UEG", "GEU"], value="UEG", label="Track", elem_id="ex-track", interactive=False)
        category = gr.Dropdown(category_choices("UEG"), value="all", label="Category", elem_id="ex-category",
                               interactive=False)
        instance = gr.Dropdown(instance_choices(ctx, sources[0], "UEG", "all"), value=RANDOM, label="Instance",
                               elem_id="ex-instance", interactive=False)
    notice = gr.Markdown(source_notice(ctx, sources[0]), elem_id="ex-source-notice")
    with gr.Accordion("Your own instance (choose 'your own' above)", open=False) as own_panel:
        with gr.Row():
            custom_prompt = gr.Textbox(label="UEG: text-to-image prompt", lines=2, max_length=MAX_TEXT_CHARS)
            with gr.Column():
                # A path, not a decoded image: custom_instance checks the file before anything decodes it.
                custom_image = explained_refusals(gr.Image(label="GEU: image", type="filepath", image_mode=None,
                                                           sources=["upload", "clipboard"], elem_id="ex-custom-image"))
                # why Run would refuse the uploaded file, said as it is uploaded (before, a broken-image icon
                # and nothing more until Run); empty for a usable image or none
                image_note = gr.Markdown(elem_id="ex-custom-image-note")
            with gr.Column():
                custom_question = gr.Textbox(label="GEU: question", max_length=MAX_TEXT_CHARS)
                custom_options = gr.Textbox(label="GEU: 4 options, one per line", lines=4, max_length=MAX_TEXT_CHARS)
                custom_answer = gr.Dropdown(["", *LETTERS], value="", label="GEU: expected answer (optional)")
    models = ctx.model_choices()
    with gr.Row():
        model = gr.Dropdown(models, value=models[0][1] if models else None, label="Model", elem_id="ex-model",
                            interactive=False)
        judge = gr.Dropdown(ctx.judge_choices(), value=ctx.judge, label="Judge (UEG polling questions)",
                            elem_id="ex-judge", interactive=False)
        seed = gr.Number(0, precision=0, label="Seed", elem_id="ex-seed", interactive=False)
        # enabled by the page's load event (``ui.app``), once a link's instance, model and seed are in the form:
        # a Run pressed before then ran the form's defaults, not the linked instance (a loaded machine)
        run = gr.Button("Run", variant="primary", elem_id="ex-run", interactive=False)
        stop = gr.Button("Stop", variant="stop", elem_id="ex-stop")
    note = gr.Markdown(model_note(ctx, models[0][1] if models else None), elem_id="ex-model-note")
    with gr.Accordion("Generation settings (empty: the card's default)", open=False):
        gr.Markdown("The chosen model's defaults; settings it does not take are hidden.")
        with gr.Row():
            shown = settings_fields(ctx, models[0][1] if models else None)
            # enabled by the page's load event, with a linked model's defaults (``ExploreTab.settings_ready``)
            steps = gr.Number(shown[0]["value"], precision=0, visible=shown[0]["visible"], interactive=False,
                              label="Diffusion steps (empty or 0: the card's default)", elem_id="ex-steps")
            guidance = gr.Number(shown[1]["value"], visible=shown[1]["visible"], interactive=False,
                                 label="Guidance (classifier-free scale, 0 or more)", elem_id="ex-guidance")
            max_new_tokens = gr.Number(shown[2]["value"], precision=0, visible=shown[2]["visible"],
                                       interactive=False, label="Max new tokens (empty or 0: the card's default)",
                                       elem_id="ex-max-new-tokens")
    link = gr.Textbox(label="Link to this run (instance, model, seed)", interactive=False, buttons=["copy"],
                      placeholder="Run an instance of a data source to get its link", elem_id="ex-link")
    # instance text as written: the chosen instance as soon as it is chosen (before, only its cut-off menu label
    # showed until Run), then what Run ran
    instance_md = gr.Markdown(PICK_HINTS[RANDOM], elem_id="ex-instance-text", latex_delimiters=[])
    input_image = gr.Image(label="Input image", alt_text="Input image", type="pil", interactive=False, visible=False,
                           height=280,
                           elem_id="ex-input-image")
    with gr.Row(equal_height=False):
        columns = {}
        for mode in MODES:
            with gr.Column():
                columns[mode] = Column.create(mode)
    # (dataset name, uid, run request id) of the last Run: ``ctx.hold``'s reference, never the instance
    current = gr.State(None)
    # the same, for this Run's own column events: they read a gr.State when they begin on the server, by
    # then perhaps the next Run's (Run, Stop, Run while the first Run's events were on their way), and ran
    # the stopped Run's settings as that run; a component's value is sent as the event is triggered
    started = gr.JSON(visible=False, elem_id="ex-started")
    # the model and settings this Run read, for its column events, for the same reason: the settings fields
    # can change between Run and its columns (the model menu's defaults, changed just before Run, arriving
    # after it), and a column that read them again ran, or was refused, with what Run never checked
    # (hidden copies of the same kinds of field: their values are read back as the fields' own are)
    run_model = gr.Textbox(visible=False, elem_id="ex-run-model")
    run_source = gr.Textbox(visible=False, elem_id="ex-run-source")  # for the link, as the model and seed
    # what a Run shows (the instance, its image, each column's blank or "Not run"), drawn by a step of its own:
    # a Run refused while another goes on raises, and Gradio marks every visible output of the refusing event
    # with a red "Error" badge that says no reason and stays over the run still going; a State shows none
    drawn = gr.State(None)
    run_seed, run_steps, run_guidance, run_tokens = (
        gr.Number(visible=False, precision=field.precision, elem_id=f"ex-run-{field.elem_id[3:]}")
        for field in (seed, steps, guidance, max_new_tokens))
    custom_image.upload(_image_note, custom_image, image_note, api_visibility="private", queue=False)
    custom_image.clear(lambda: "", None, image_note, api_visibility="private", queue=False)
    instance.change(partial(instance_preview, ctx), [source, instance], [instance_md, input_image],
                    api_visibility="private", queue=False)
    # "your own (below)" opens the fields it runs: before, they stayed closed and Run's refusal ("needs a
    # text-to-image prompt") named a field the page did not show
    instance.change(lambda choice: gr.update(open=True) if choice == CUSTOM else gr.skip(), instance, own_panel,
                    api_visibility="private", queue=False)
    # a model the visitor picks; a link's model comes with its settings in the load event (``settings_ready``)
    model.input(lambda m: [model_note(ctx, m), *settings_fields(ctx, m)], model,
                [note, steps, guidance, max_new_tokens], api_visibility="private", queue=False)

    def change_menus(source_value, track_value, category_value):
        """The category and instance menus and the source notice for the three choices as the page shows
        them: a category of another track (the track just changed) becomes "all"; the instance, random."""
        categories = category_choices(track_value)
        if category_value in {value for _, value in categories}:
            category_update = gr.update(choices=categories)  # no value: a category chosen since stays chosen
        else:
            category_value, category_update = "all", gr.update(choices=categories, value="all")
        instances = gr.update(choices=instance_choices(ctx, source_value, track_value, category_value), value=RANDOM)
        return category_update, instances, source_notice(ctx, source_value)

    # One listener for the three menus, "always_last": a choice made while the menus of the one before load
    # runs again, with every menu as the page then shows it ("once", .input's default, dropped it: the menus
    # listed the first choice's instances under the second's name). Each menu its own listener, "always_last"
    # each, still let an older answer overwrite a newer one: a Track choice whose menus were on their way, then
    # a data source change answered first, and the Track's answer (the first source's instances) came last.
    gr.on([track.input, category.input, source.input], change_menus, [source, track, category],
          [category, instance, notice], api_visibility="private", queue=False, trigger_mode="always_last")

    def choose_own(wanted_track, written, source_value, track_value, category_value, choice):
        """Writing in a field of your own instance chooses "your own" and the field's track: before, Run kept
        the menu's "random" and ran a bundled instance, the visitor's prompt ignored without a word. An emptied
        field changes nothing. Returns updates of (track, category, instance, notice)."""
        if not written or (track_value == wanted_track and choice == CUSTOM):
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if track_value == wanted_track:
            return gr.skip(), gr.skip(), gr.update(value=CUSTOM), gr.skip()
        category_update, instances, shown_notice = change_menus(source_value, wanted_track, category_value)
        return gr.update(value=wanted_track), category_update, {**instances, "value": CUSTOM}, shown_notice

    for field, field_track in ((custom_prompt, "UEG"), (custom_question, "GEU"), (custom_options, "GEU"),
                               (custom_answer, "GEU")):
        # .change, not .input: Gradio sent no input event for a value written in one step (Playwright's fill)
        field.change(partial(choose_own, field_track), [field, source, track, category, instance],
                     [track, category, instance, notice], api_visibility="private", queue=False,
                     trigger_mode="always_last")
    custom_image.change(partial(choose_own, "GEU"), [custom_image, source, track, category, instance],
                        [track, category, instance, notice], api_visibility="private", queue=False)

    def lay_out(track_value, current_value):
        """Before a Run has drawn an instance, each column's output boxes as the chosen track fills them (GEU:
        "Answer", stepwise's "Edited image (step 1)"; before, UEG's "Generated image" stayed until Run); a
        column's status and a Run's results stay as they are."""
        if current_value is not None or track_value not in TRACKS:
            return [gr.skip()] * len(laid_out)
        return [value for mode, column in columns.items()
                for value in (gr.skip(), *column.view.blank(track_value, mode)[1:])]

    laid_out = [output for column in columns.values() for output in column.view.outputs]
    track.change(lay_out, [track, current], laid_out, api_visibility="private", queue=False)

    def resolve(source_value, track_value, category_value, choice, prompt, image, question, options_text,
                answer, model_value, seed_value, steps_value, guidance_value, tokens_value, request: gr.Request,
                profile: gr.OAuthProfile | None):
        if ctx.runs.busy(request.session_hash):
            raise Refusal("A run is already in progress on this page (its seed is shown in each column): "
                           "wait for it to finish or press Stop, then Run again.")
        try:
            options = form_options(ctx.cards, model_value, seed_value, steps_value, guidance_value, tokens_value)
            if choice == CUSTOM:
                dataset_name = CUSTOM_DATASET
                inst = custom_instance(track_value, category_value, prompt, image, question, options_text, answer)
            else:
                dataset = ctx.dataset_for_runs(source_value)
                dataset_name = dataset.name
                inst = (dataset.random(ctx.rng, track_value, category_value) if choice in (None, RANDOM)
                        else dataset.get(choice))
            shown = preview(inst.open_image()) if isinstance(inst, GEUInstance) else None  # an ImageError if it is gone
            if dataset_name == CUSTOM_DATASET:  # a Run the queue refuses holds nothing: ``hold`` below would push
                # out your older own instances, one of them perhaps another tab's Run not yet in the queue (fix28b)
                ctx.check_queue(model_value, waiter(ctx, (request,)))  # who, as the columns' places count it
            # each column that runs its model now (not a stored run shown again) counts against the run limit
            counting = new_runs(ctx.store, dataset_name, inst, model_value, columns, options, ctx.why_not)
            counts = ctx.arena.admit_runs(visitor(ctx, request, profile), len(counting))
        except (ValueError, LookupError, RunRefused, QueueFull) as e:  # your own instance, the settings or the
            # accelerator's queue (your own instance's Run), refused with a message
            # said in place, where the run would have shown, until the next Run: a toast fades, and an
            # error here would leave each column a bare "Error" badge; no run starts (``started`` None)
            if isinstance(e, StoreError):  # the run limit's count could not be written: its message names the file
                reason = f"**Not run:** {_run_unsaved(e)}"
            else:
                reason = f"**Not run:** {plain(ctx.public_text(said(e)))}"  # an image's error names its file only
            return [None, None, *[None] * 6, [reason, gr.update(value=None, visible=False),
                    *blank_columns(track_value if track_value in TRACKS else "UEG", REFUSED_STATUS)]]
        request_id = ctx.runs.begin(request.session_hash, len(columns), keys=tuple(columns),
                                    admitted=(dataset_name, inst.uid, model_value, options),
                                    counted=dict(zip(counting, counts)))  # given back if it never starts
        held = (*ctx.hold(dataset_name, inst, rate_key(visitor(ctx, request, profile))), request_id)
        return [held, list(held), source_value, model_value, seed_value, steps_value, guidance_value, tokens_value,
                [instance_markdown(inst, with_questions=True), gr.update(value=shown, visible=shown is not None),
                 *blank_columns(inst.track, "waiting for the model…")]]

    def blank_columns(track_value: str, status: str) -> list:
        blanks = []
        for mode, column in columns.items():
            blanks += [*column.view.blank(track_value, mode, status), "",
                       gr.update(visible=False), gr.update(choices=[], value=[]), None, None, None,
                       gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()]  # the history stays, to compare with
        return blanks

    resolved = run.click(
        resolve, [source, track, category, instance, custom_prompt, custom_image, custom_question,
                  custom_options, custom_answer, model, seed, steps, guidance, max_new_tokens],
        [current, started, run_source, run_model, run_seed, run_steps, run_guidance, run_tokens, drawn],
        api_visibility="private", concurrency_limit=None,  # queued: Gradio shows no gr.Error of a queue=False event
        trigger_mode="multiple")  # a second click reaches resolve, which refuses it with a message
    resolved = resolved.success(show_drawn, drawn, [instance_md, input_image, *columns["direct"].outputs,
                                                     *columns["stepwise"].outputs],
                                api_visibility="private", queue=False)  # drawn before the columns' own frames

    def link_for(source_value, current_value, model_value, judge_value, seed_value, *settings_values):
        if current_value is None or current_value[0] == CUSTOM_DATASET:
            return ""  # your own instance is not in a data source a link could name
        public = ctx.source_label(source_value)  # the menu's public name; never a configured path
        return explore_query(None if public == sources[0] else public, current_value[1],
                             model=model_value, judge=judge_value,
                             seed=form_number(seed_value) or 0, settings=_changed(ctx, model_value, settings_values))

    # the link names the source, model and seed Run read (its columns run them), not the fields read again:
    # one changed while Run's event was on its way made a link to a run that was never made
    resolved.success(link_for, [run_source, current, run_model, judge, run_seed, run_steps, run_guidance, run_tokens],
                     link, api_visibility="private",
                     queue=False).then(None, link, link, js=ABSOLUTE_LINK_JS, api_visibility="private", queue=False
                                       ).then(None, link, None, js=SHOW_QUERY_JS, api_visibility="private",
                                              queue=False)

    def form_query(source_value, track_value, category_value, instance_value, model_value, judge_value,
                   seed_value, *settings_values) -> str:
        """The query of a link to the form as it is: no instance while it says "random" or "your own", and then
        the track and category (but "all") Run draws from; a named instance implies them."""
        public = ctx.source_label(source_value)
        uid = None if instance_value in (RANDOM, CUSTOM) else instance_value
        drawn_from = {} if uid else {"track": track_value,
                                     "category": None if category_value == "all" else category_value}
        return explore_query(None if public == sources[0] else public, uid, model=model_value, judge=judge_value,
                             seed=form_number(seed_value) or 0, settings=_changed(ctx, model_value, settings_values),
                             **drawn_from)

    # the page's URL follows the form (a menu changed, or a link's values filled in): a reload or a copied address
    # opens what the visitor sees, not the link the page was opened with
    shown_query = gr.Textbox(visible="hidden", interactive=False, elem_id="ex-shown-query")
    gr.on([source.change, track.change, category.change, instance.change, model.change, judge.change, seed.change,
           steps.change, guidance.change, max_new_tokens.change],
          form_query, [source, track, category, instance, model, judge, seed, steps, guidance, max_new_tokens],
          shown_query, api_visibility="private",
          queue=False).then(
        None, shown_query, None, js=SHOW_QUERY_JS, api_visibility="private", queue=False)
    running = []
    for mode, column in columns.items():
        running.append(resolved.success(on_model_slot(ctx, _column_runner(ctx, column), model_arg=1,
                                                      abandon=lambda current, *_: (  # None: Run refused
                                                          current is None or ctx.runs.stopped(_request_of(current))),
                                                      refused=lambda current, *_, mode=mode: ctx.runs.close(
                                                          None, _request_of(current), None, mode),
                                                      admitted=partial(_admitted_instance, ctx)),
                                        [started, run_model, judge, run_seed, run_steps, run_guidance,
                                         run_tokens, column.history],
                                        column.outputs, api_visibility="private", concurrency_limit=None,
                                        trigger_mode="multiple"))  # Run right after Stop, while the stopped
        # column still ends: "once" dropped the new column's event (it never ran, the page stayed busy)
        # drawn by a step of its own, as a Run's: a refused save (over the vote limit, no stored run) raised
        # into the verdicts, and Gradio marked both with a bare red "Error" badge that outlived its toast
        judged = gr.State(None)
        column.judge_button.click(_human_judge(ctx), [current, column.run_id, column.judge_box, judge], judged,
                                  api_visibility="private", concurrency_limit=None).success(
            show_drawn, judged, [column.human_verdict, column.verdict], api_visibility="private",
            queue=False)

    def stop_runs(request: gr.Request):
        # each column says "stopped" on its own stream (a reply of this event could arrive before the
        # column's last frame and be overwritten by it): a running column at its next step, or within
        # STOP_GRACE_S while its model still loads; a queued one at once. A battle of the Arena tab in
        # the same browser session goes on.
        ctx.runs.stop(request.session_hash, keys=columns)

    stop.click(stop_runs, None, None, api_visibility="private", concurrency_limit=None, queue=False)
    _register_api(ctx)
    return ExploreTab(source, track, category, instance, model, judge, seed, run, note, steps, guidance,
                      max_new_tokens, shown_query, form_query)


def _column_runner(ctx: AppContext, column: Column):
    images = stored_images(ctx.store)

    def run_column(current, model, judge, seed, steps, guidance, max_new_tokens, history, request: gr.Request,
                   progress=gr.Progress(track_tqdm=True), *,  # noqa: B008 - Gradio's way to ask for a tracker
                   admitted=None):  # your own instance, taken when the column got its place (``_admitted_instance``)
        if current is None:  # Run refused (its reason is where the instance would be): this column says so
            # in a frame of its own; a column event that ended without one left its status blank now and
            # then on a loaded machine (Gradio's frontend, not the refusal's own frame)
            yield [gr.update(value=REFUSED_STATUS), *[gr.skip()] * (len(column.outputs) - 1)]
            return
        session, request_id = request.session_hash, _request_of(current)
        if request_id is None or not ctx.runs.known(session, request_id):
            raise Refusal(NOT_STARTED)  # the column's event called directly, with a made-up ``started``
        control = ctx.runs.open(session, request_id, ctx.settings.time_limit_s, column.mode)
        if control is None:  # this column's event called again for the same Run: its run was opened once
            raise Refusal(ALREADY_OPENED)
        try:  # the column's values come from the browser: only what Run checked and counted may run;
            # a run that ends without using the machine (``control.spent``) gives its count back
            if ctx.runs.admitted(session, request_id) != (*current[:2], model, _user_options(
                    ctx, model, seed, steps, guidance, max_new_tokens)):
                raise Refusal(NOT_ADMITTED)
            if control.stopped:  # stopped while it waited for the accelerator
                yield _stopped_frame(column, f"{column.mode} · {model}", control)
                return
            yield from paced(frames(current, model, judge, seed, steps, guidance, max_new_tokens, history,
                                    control, lambda stage: progress(0.0, desc=stage), admitted))
        finally:
            ctx.runs.close(session, request_id, control, column.mode)

    def frames(current, model, judge, seed, steps, guidance, max_new_tokens, history, control, report, admitted):
        dataset, inst = current[0], admitted if admitted is not None else _held(ctx, current)
        mode = column.mode
        options = _user_options(ctx, model, seed, steps, guidance, max_new_tokens)
        expected = len(required_capabilities(inst, mode))
        skip_rest = [gr.skip()] * (len(column.outputs) - len(column.view.outputs))
        title = f"{mode} · {model} · seed {options.seed}"
        stage = ctx.pool.stage(model) if hasattr(ctx.pool, "stage") else None  # None: loaded already
        yield [gr.update(value=f"**{title}**\n- {stage or f'step 1 of {expected} running'}…"),
               *[gr.skip()] * (len(column.outputs) - 1)]
        update = None
        prefetch_judge(ctx.pool, inst, model, judge, ctx.why_not)  # the judge loads while the model runs
        try:
            for update in relay(stream_run(ctx.store, ctx.pool, dataset, inst, model, mode, options,
                                           control=control, report=report, why_not=ctx.why_not), control):
                title = f"{mode} · {model} · seed {options.seed}"
                if update.reused:
                    title += f" · stored run #{update.run_id}"
                status = status_line(update.trace, expected, title=title)
                if update.done and update.run_id is not None and update.trace.final is not None:
                    status += "\n- judging…"
                    yield [*column.view.show(update.trace, inst.track, images, status), *skip_rest]
                elif not update.done:
                    yield [*column.view.show(update.trace, inst.track, images, status), *skip_rest]
        except StoreError as e:  # the run's save was refused (full disk) or not confirmed on disk: said in place
            yield [gr.update(value=f"**{title}**\n- {_run_unsaved(e)}"),
                   *[gr.skip()] * (len(column.outputs) - 1)]
            return
        if update is None or not update.done:  # stopped, and its model did not get to a step in time
            yield _stopped_frame(column, title, control)
            return
        trace, run_id = update.trace, update.run_id
        judgment, problem = (judge_run(ctx.store, ctx.pool, run_id, trace, inst, judge, why_not=ctx.why_not)
                             if run_id is not None else (None, None))
        human = isinstance(inst, UEGInstance) and bool(inst.question_list) and trace.final is not None \
            and run_id is not None
        details = for_visitors({"run_id": run_id, "reused_from_store": update.reused, "dataset": dataset,
                                "trace": trace.to_dict(thoughts=False), "judgment": judgment, "judge_problem": problem})
        verdict = f"**Judge problem:** {failure_text(details['judge_problem'])}" if problem else verdict_markdown(
            details["judgment"], inst, judge=judge, judge_here=human, has_output=trace.final is not None)
        history = [*history, _history_row(run_id, options.seed, trace, judgment, update.reused)]
        gallery = _gallery(ctx, history)  # none for GEU's direct answers: no empty "earlier outputs" box
        yield [*column.view.show(trace, inst.track, images, status_line(trace, expected, title=title)),
               verdict, gr.update(visible=human),
               gr.update(choices=[q.question for q in inst.question_list] if human else [], value=[], visible=True),
               gr.update(value=details, visible=True), gr.update(value=_write_download(details, mode), visible=True),
               run_id, history, gr.update(value=history_markdown(history), visible=True),
               gr.update(value=gallery, visible=bool(gallery)), gr.update(visible=True), gr.update(visible=True)]

    return run_column


def _stopped_frame(column: Column, title: str, control: RunControl) -> list:
    """A column's frame for a run that ended before its first step (Stop, or its time limit)."""
    return [gr.update(value=f"**{title}**\n- {control.reason}"), *[gr.skip()] * (len(column.outputs) - 1)]


REFUSED_STATUS = "**Not run:** the reason is shown above, where the instance would be; change it and Run again."
NOT_STARTED = "this run was not started by Run: press Run to start one"
ALREADY_OPENED = "this column of that Run was already started: each Run runs each column once; press Run again"
NOT_ADMITTED = "this run's instance, model or settings are not the ones Run started: press Run to start one"


def _request_of(current) -> str | None:
    """The run request id in a Run's ``current``/``started`` value, (dataset name, uid, request id) as
    ``resolve`` set it; None for anything else. ``started`` comes back from the browser, so a direct call of a
    column's event can put anything there: a number, or a request this session never started."""
    if isinstance(current, (list, tuple)) and len(current) == 3 and all(isinstance(p, str) for p in current):
        return current[2]
    return None


def _run_unsaved(error: StoreError) -> str:
    """What a run, or its count against the run limit, that the store could not confirm says (``unsaved``:
    "This run was not saved: ...; run it again.", naming no server path)."""
    return unsaved(error, "This run", "run it again")


def _admitted_instance(ctx: AppContext, current, *_):
    """A column's own instance (``current`` names one of ``CUSTOM_DATASET``), read from the held set when the
    column gets its place in the accelerator's queue (``on_model_slot``'s ``admitted``) and kept by the column
    until its run ends; None for an instance of a data source (read when it runs: a source keeps its
    instances) or a ``current`` that is not a Run's (the column refuses it). Read after the wait, a Run of your
    own prompt or image waiting behind others said "no longer held on the server; press Run again" once your
    newer own instances (other tabs; ``context.OWN_SHARES``) had pushed it out of the held set (fix28b).

    Raises:
        Refusal: it is no longer held (pushed out between Run and its column's place in the queue).
    """
    if _request_of(current) is None or current[0] != CUSTOM_DATASET:
        return None
    return _held(ctx, current)


def _held(ctx: AppContext, current: tuple[str, str, str]):
    """The instance of a Run's ``current`` state, (dataset name, uid, run request id)."""
    try:
        return ctx.instance(current[:2])
    except KeyError as e:
        raise Refusal(plain(said(e), markdown=False)) from None


def _history_row(run_id, seed, trace, judgment, reused) -> dict:
    final = trace.final
    return {"run": run_id if run_id is not None else "-", "instance": trace.instance_uid, "seed": seed,
            "status": trace.status.value,
            "score": "-" if judgment is None or judgment["score"] is None else judgment["score"],
            "time (s)": round(trace.seconds, 2), "from store": "yes" if reused else "no",
            "image_sha": final.image_sha if final is not None else None}


def _gallery(ctx: AppContext, history: list[dict]) -> list:
    """The earlier outputs, each as the column shows it (``scaled_up``): a thumbnail box is ~275 px wide, and a
    tiny model's 32x32 image, sent as it was, was enlarged by the browser's smoothing into a blur."""
    return [(scaled_up(ctx.store.get_image(row["image_sha"])), f"run {row['run']} · seed {row['seed']}")
            for row in history if row["image_sha"]]


def _write_download(details: dict, mode: str) -> str:
    """The details as a JSON file Gradio serves (``served_files.write``)."""
    run = details["run_id"] if details["run_id"] is not None else f"unsaved-{uuid.uuid4().hex[:12]}"
    data = json.dumps(details, indent=2, ensure_ascii=False).encode("utf-8")
    return served_files.write("realunify-traces", f"run-{run}-{mode}.json", data)


def _human_judge(ctx: AppContext):
    def save(current, run_id, ticked, judge, request: gr.Request, profile: gr.OAuthProfile | None):
        if current is None or run_id is None:
            raise Refusal("Run the instance first; only a stored run can be judged.")
        inst = _held(ctx, current)
        voter = visitor(ctx, request, profile)
        try:  # the same identity and limit as a vote
            judgment = judge_by_hand(ctx.store, run_id, inst, list(ticked or []), voter, rate_key=rate_key(voter),
                                     max_per_window=ctx.arena.max_votes,
                                     window_seconds=ctx.arena.window_seconds)
        except StoreError as e:  # a ValueError too, whose message names the server's file
            raise Refusal(unsaved(e, "Your judgment")) from None
        except ValueError as e:  # nothing to judge, or over the rate limit: nothing was written
            raise Refusal(plain(e, markdown=False)) from None
        yours = verdict_markdown(judgment, inst, judge=HUMAN)
        people = verdict_markdown(ctx.store.human_verdict(run_id), inst, judge=HUMAN)
        saved = f"Saved as your judgment of run #{run_id} (one per person; saving again replaces yours)."
        # with "human" as the chosen judge the column's verdict is your judgment and the people's majority (it no
        # longer says "not judged"), and the panel only says it was saved: before, it repeated the whole verdict
        # under the column's; with a judge model the column keeps the model's verdict, the panel shows yours
        if judge == HUMAN:
            return [saved, f"{yours}\n\n{people}"]
        return [f"{saved}\n\n{yours}\n\n{people}", gr.skip()]

    return save


def _register_api(ctx: AppContext) -> None:
    def instances(source: str = "bundled", track: str = "all", task_type: str = "all") -> list[dict]:
        """Instances of a configured data source: uid, track, task_type, and the prompt or question."""
        problems: list[str] = []  # an unknown source, track and task type are named together
        dataset = _checked(problems, ctx.dataset, source)
        problems += [plain(p, markdown=False) for p in selection_problems(track, task_type)]
        if problems:
            raise Refusal(ctx.public_text("; ".join(problems)))
        selected = dataset.select(track, task_type)
        return [{"uid": i.uid, "track": i.track, "task_type": i.task_type, "category": i.category,
                 "text": i.question if isinstance(i, GEUInstance) else i.prompt}
                for i in selected]

    def admitted(source, instance_uid, model, mode, seed, judge, voter: str):
        """The checked request (dataset, instance, options), its new model run counted against the caller's
        run limit (``Arena.admit_runs``) unless a stored run answers it."""
        problems: list[str] = []  # every bad part of the request, named in one refusal (not one per try)
        check = partial(_checked, problems)
        system = check(System, model, mode)
        if judge:  # empty: the app's judge
            check(ctx.check_judge, judge)
        if system is not None or isinstance(model, str) and model:  # a model name to look up (a bad mode aside)
            options = check(ctx.options, model, seed=seed)  # check_options refuses 1.5 or "abc" by name
        dataset = check(ctx.dataset_for_runs, source)
        inst = check(dataset.get, instance_uid) if dataset is not None else None
        if problems:  # a source that failed to load is named by its public name, not its path
            raise Refusal(ctx.public_text("; ".join(problems)))
        try:
            counts = ctx.arena.admit_runs(voter, len(new_runs(ctx.store, dataset.name, inst, model, (mode,),
                                                              options, ctx.why_not)))
        except RunRefused as e:
            raise Refusal(plain(e.message, markdown=False)) from None
        except StoreError as e:
            raise Refusal(_run_unsaved(e)) from None
        return dataset, inst, options, counts

    async def run_instance(source: str, instance_uid: str, model: str, mode: str, seed: int = 0,
                           judge: str = "", request: gr.Request = None,
                           profile: gr.OAuthProfile | None = None) -> dict:
        """Run (or reuse) one instance in one mode, store it, judge it; returns the run id, trace and judgment.
        A new run counts against the caller's run limit (--run-limit per --run-window); a stored one does not."""
        dataset, inst, options, counts = await anyio.to_thread.run_sync(
            admitted, source, instance_uid, model, mode, seed, judge, visitor(ctx, request, profile))
        control = RunControl(ctx.settings.time_limit_s)
        try:
            # a local card's run waits in ctx.device_slot, a remote card's does not wait; refused there (a full
            # queue), its run never starts and no longer counts against the run limit
            result = for_visitors(await in_device_slot(
                ctx, needs_device(ctx.pool, model), run_and_judge, ctx.store, ctx.pool, dataset.name, inst, model,
                mode, options, judge or ctx.judge, control, ctx.why_not, refused=lambda: ctx.runs.release(counts),
                request=request))
        except StoreError as e:  # the run's save was refused or not confirmed on disk
            raise Refusal(_run_unsaved(e)) from None
        if counts and not control.spent:  # its model failed to load, or it was stopped before loading: nothing ran
            ctx.runs.release(counts)
        return result

    gr.api(instances, api_name="instances", concurrency_limit=None)
    gr.api(run_instance, api_name="run_instance", concurrency_limit=None)
