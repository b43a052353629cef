"""Explore: run one instance direct and stepwise side by side, watch the steps arrive, see the verdicts.

Each column is its own streaming event, so the two modes progress independently; both share the
``gpu`` concurrency group with every other model event. Every run is stored (and reused when asked for
again with the same settings), so the details panel, the download and the human judgment all refer to
a stored run id.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from PIL import Image

from realunify_arena.benchmark.custom import CUSTOM_DATASET, MAX_TEXT_CHARS, checked_image, custom_instance
from realunify_arena.benchmark.schema import CATEGORIES, LETTERS, GEUInstance, UEGInstance
from realunify_arena.context import AppContext
from realunify_arena.judge import HUMAN, stored_images
from realunify_arena.protocols import required_capabilities
from realunify_arena.runs import judge_by_hand, judge_run, prefetch_judge, run_and_judge, stream_run
from realunify_arena.systems import MODES, System
from realunify_arena.ui.render import TraceView, instance_markdown, status_line, verdict_markdown
from realunify_arena.ui.streaming import paced, relay

RANDOM = "random"
CUSTOM = "custom"
HISTORY_HEADERS = ["run", "instance", "seed", "status", "score", "seconds", "from store"]


def explained_refusals(upload: gr.Image) -> gr.Image:
    """``upload``, with its refusals saying why. Gradio opens an upload with Pillow before any handler runs,
    and an image Pillow refuses there (over its own bomb limit, ~179 MP, or not an image at all) reached the
    page as a bare "Error"; this gives the message ``open_checked`` gives everywhere else. (The instance's
    ``preprocess`` is wrapped because a ``gr.Image`` subclass makes Gradio write a ``.pyi`` beside this file.)"""
    preprocess = upload.preprocess

    def checked(payload):
        try:
            return preprocess(payload)
        except (Image.DecompressionBombError, OSError, SyntaxError, ValueError):
            if payload is None or payload.path is None:
                raise
            try:
                checked_image(payload.path, shown_name=payload.orig_name)
            except ValueError as e:  # names the problem
                raise gr.Error(str(e)) from None
            raise

    upload.preprocess = checked
    return upload


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
    history_table: gr.Dataframe
    history_gallery: gr.Gallery
    run_id: gr.State
    history: gr.State

    @classmethod
    def create(cls, mode: str) -> Column:
        gr.Markdown(f"### {mode.capitalize()}")
        view = TraceView.create(f"ex-{mode}")
        verdict = gr.Markdown(elem_id=f"ex-{mode}-verdict")
        with gr.Accordion("Judge it yourself", open=False, visible=False) as judge_panel:
            judge_box = gr.CheckboxGroup([], label="Tick every polling question the image answers with yes",
                                         elem_id=f"ex-{mode}-judge-box")
            judge_button = gr.Button("Save my judgment", size="sm", elem_id=f"ex-{mode}-judge-save")
            human_verdict = gr.Markdown(elem_id=f"ex-{mode}-human-verdict")
        with gr.Accordion("Details: prompts, raw replies, settings, timings", open=False):
            details = gr.JSON(label="trace and judgment", elem_id=f"ex-{mode}-details")
            download = gr.DownloadButton("Download trace (JSON)", value=None, size="sm",
                                         elem_id=f"ex-{mode}-download")
        with gr.Accordion("Earlier runs of this column", open=False):
            history_table = gr.Dataframe(headers=HISTORY_HEADERS, value=[], interactive=False,
                                         elem_id=f"ex-{mode}-history")
            history_gallery = gr.Gallery(label="earlier outputs", columns=4, height=180, format="png",
                                         elem_id=f"ex-{mode}-gallery")
        return cls(mode, view, verdict, judge_panel, judge_box, judge_button, human_verdict, details, download,
                   history_table, history_gallery, gr.State(None), gr.State([]))

    @property
    def outputs(self) -> list:
        return [*self.view.outputs, self.verdict, self.judge_panel, self.judge_box, self.details,
                self.download, self.run_id, self.history, self.history_table, self.history_gallery]


@dataclass
class ExploreTab:
    source: gr.Dropdown
    track: gr.Radio
    category: gr.Dropdown
    instance: gr.Dropdown
    model: gr.Dropdown
    judge: gr.Dropdown
    seed: gr.Number

    @property
    def url_outputs(self) -> list:
        return [self.source, self.track, self.category, self.instance, self.model, self.judge, self.seed]


def category_choices(track: str) -> list[tuple[str, str]]:
    return [("all", "all")] + [(f"{c.name} ({c.abbreviation})", task) for task, c in CATEGORIES.items()
                               if c.track == track]


def instance_choices(ctx: AppContext, source: str, track: str, category: str) -> list[tuple[str, str]]:
    fixed = [("random", RANDOM), ("your own (below)", CUSTOM)]
    try:
        dataset = ctx.dataset(source)
    except KeyError:
        return fixed
    listed = []
    for inst in dataset.select(track, category):
        text = inst.question if isinstance(inst, GEUInstance) else inst.prompt
        listed.append((f"{inst.uid}: {text[:70]}", inst.uid))
    return fixed + listed


def source_notice(ctx: AppContext, source: str) -> str:
    """What is wrong with a source, so a bad path or file is seen on the page, not just in the log."""
    dataset = ctx.dataset(source)
    if not dataset.problems:
        return ""
    shown = "\n".join(f"- {p}" for p in dataset.problems[:5])
    more = f"\n- … and {len(dataset.problems) - 5} more" if len(dataset.problems) > 5 else ""
    return (f"**{len(dataset.problems)} problem(s) in {source}** ({len(dataset)} instances usable; "
            f"`python -m realunify_arena validate {source}` lists them all):\n{shown}{more}")


def updates_from_url(ctx: AppContext, params: dict[str, str]) -> list:
    """Values for ``ExploreTab.url_outputs`` from query parameters; unknown or absent ones change nothing."""
    source = params.get("data") if params.get("data") in ctx.sources else None
    updates = [gr.update(value=source) if source else gr.skip(), gr.skip(), gr.skip(), gr.skip()]
    uid = params.get("instance")
    if uid:
        try:
            inst = ctx.dataset(source or ctx.sources[0]).get(uid)
        except KeyError:
            gr.Warning(f"The link names instance {uid!r}, which is not in {source or ctx.sources[0]!r}.")
        else:
            updates[1:] = [gr.update(value=inst.track), gr.update(choices=category_choices(inst.track),
                                                                   value=inst.task_type),
                           gr.update(choices=instance_choices(ctx, source or ctx.sources[0], inst.track,
                                                              inst.task_type), value=uid)]
    model = params.get("model")
    updates.append(gr.update(value=model) if model in ctx.cards else gr.skip())
    judge = params.get("judge")
    updates.append(gr.update(value=judge) if judge in ctx.judge_choices() else gr.skip())
    seed = params.get("seed", "")
    updates.append(gr.update(value=int(seed)) if seed.lstrip("-").isdigit() else gr.skip())
    return updates


def _number(value) -> int | None:
    return None if value in (None, "") else int(value)


def build(ctx: AppContext) -> ExploreTab:
    sources = ctx.sources
    with gr.Row():
        source = gr.Dropdown(ctx.source_choices(), value=sources[0], label="Data source", elem_id="ex-source")
        track = gr.Radio(["UEG", "GEU"], value="UEG", label="Track", elem_id="ex-track")
        category = gr.Dropdown(category_choices("UEG"), value="all", label="Category", elem_id="ex-category")
        instance = gr.Dropdown(instance_choices(ctx, sources[0], "UEG", "all"), value=RANDOM, label="Instance",
                               elem_id="ex-instance")
    notice = gr.Markdown(source_notice(ctx, sources[0]), elem_id="ex-source-notice")
    with gr.Accordion("Your own instance (choose 'your own' above)", open=False):
        with gr.Row():
            custom_prompt = gr.Textbox(label="UEG: text-to-image prompt", lines=2, max_length=MAX_TEXT_CHARS)
            # A path, not a decoded image: custom_instance checks the file before anything decodes it.
            custom_image = explained_refusals(gr.Image(label="GEU: image", type="filepath", image_mode=None,
                                                       sources=["upload", "clipboard"], elem_id="ex-custom-image"))
            with gr.Column():
                custom_question = gr.Textbox(label="GEU: question", max_length=MAX_TEXT_CHARS)
                custom_options = gr.Textbox(label="GEU: 4 options, one per line", lines=4, max_length=MAX_TEXT_CHARS)
                custom_answer = gr.Dropdown(["", *LETTERS], value="", label="GEU: expected answer (optional)")
    models = ctx.model_choices()
    with gr.Row():
        model = gr.Dropdown(models, value=models[0][1] if models else None, label="Model", elem_id="ex-model")
        judge = gr.Dropdown(ctx.judge_choices(), value=ctx.settings.judge, label="Judge (UEG polling questions)",
                            elem_id="ex-judge")
        seed = gr.Number(0, precision=0, label="Seed", elem_id="ex-seed")
        run = gr.Button("Run", variant="primary", elem_id="ex-run")
    with gr.Accordion("Generation settings (empty: the card's default)", open=False):
        with gr.Row():
            steps = gr.Number(None, precision=0, label="Diffusion steps")
            guidance = gr.Number(None, label="Guidance")
            max_new_tokens = gr.Number(None, precision=0, label="Max new tokens")
    instance_md = gr.Markdown(elem_id="ex-instance-text")
    input_image = gr.Image(label="Input image", type="pil", interactive=False, visible=False, height=280,
                           elem_id="ex-input-image")
    with gr.Row(equal_height=False):
        columns = {}
        for mode in MODES:
            with gr.Column():
                columns[mode] = Column.create(mode)
    current = gr.State(None)  # (dataset name, instance) of the last Run

    def refresh_instances(source_value, track_value, category_value):
        return gr.update(choices=instance_choices(ctx, source_value, track_value, category_value), value=RANDOM)

    def change_track(source_value, track_value):
        return gr.update(choices=category_choices(track_value), value="all"), refresh_instances(
            source_value, track_value, "all")

    track.input(change_track, [source, track], [category, instance], api_visibility="private", queue=False)
    category.input(refresh_instances, [source, track, category], instance, api_visibility="private",
                    queue=False)
    source.input(lambda *values: (refresh_instances(*values), source_notice(ctx, values[0])),
                 [source, track, category], [instance, notice], api_visibility="private", queue=False)

    def resolve(source_value, track_value, category_value, choice, prompt, image, question, options_text,
                answer):
        try:
            if choice == CUSTOM:
                dataset_name = CUSTOM_DATASET
                inst = custom_instance(track_value, category_value, prompt, image, question, options_text, answer)
            else:
                dataset = ctx.dataset(source_value)
                dataset_name = dataset.name
                inst = (dataset.random(ctx.rng, track_value, category_value) if choice in (None, RANDOM)
                        else dataset.get(choice))
        except ValueError as e:  # your own instance, refused with a message
            raise gr.Error(str(e)) from None
        except (KeyError, LookupError) as e:
            raise gr.Error(str(e).strip("'\"")) from None
        shown = inst.open_image() if isinstance(inst, GEUInstance) else None
        blanks = []
        for mode, column in columns.items():
            blanks += [*column.view.blank(inst.track, mode, "waiting for the model…"), "",
                       gr.update(visible=False), gr.update(choices=[], value=[]), None, None, None,
                       gr.skip(), gr.skip(), gr.skip()]  # the history stays, to compare with
        return [(dataset_name, inst), instance_markdown(inst, with_questions=True),
                gr.update(value=shown, visible=shown is not None), *blanks]

    resolved = run.click(
        resolve, [source, track, category, instance, custom_prompt, custom_image, custom_question,
                  custom_options, custom_answer],
        [current, instance_md, input_image, *columns["direct"].outputs, *columns["stepwise"].outputs],
        api_visibility="private", concurrency_limit=None)  # queued: Gradio shows no gr.Error of a queue=False event

    for mode, column in columns.items():
        resolved.success(_column_runner(ctx, column), [current, model, judge, seed, steps, guidance,
                                                       max_new_tokens, column.history],
                         column.outputs, api_visibility="private", **ctx.gpu_events)
        column.judge_button.click(_human_judge(ctx), [current, column.run_id, column.judge_box],
                                  column.human_verdict, api_visibility="private", concurrency_limit=None)

    _register_api(ctx)
    return ExploreTab(source, track, category, instance, model, judge, seed)


def _column_runner(ctx: AppContext, column: Column):
    images = stored_images(ctx.store)

    def run_column(current, model, judge, seed, steps, guidance, max_new_tokens, history):
        if current is not None:
            yield from paced(frames(current, model, judge, seed, steps, guidance, max_new_tokens, history))

    def frames(current, model, judge, seed, steps, guidance, max_new_tokens, history):
        dataset, inst = current
        mode = column.mode
        if model not in ctx.cards:
            raise gr.Error(f"Choose a model card; {model!r} is not offered here.")
        options = ctx.options(model, seed=_number(seed) or 0, steps=_number(steps),
                              guidance=None if guidance in (None, "") else float(guidance),
                              max_new_tokens=_number(max_new_tokens))
        expected = len(required_capabilities(inst, mode))
        skip_rest = [gr.skip()] * (len(column.outputs) - len(column.view.outputs))
        update = None
        prefetch_judge(ctx.pool, inst, model, judge)  # the judge loads while the model runs
        for update in relay(stream_run(ctx.store, ctx.pool, dataset, inst, model, mode, options)):
            title = f"{mode} · {model} · seed {options.seed}"
            if update.reused:
                title += f" · stored run #{update.run_id}"
            status = status_line(update.trace, expected, title=title)
            if update.done and update.run_id is not None and update.trace.final is not None:
                status += "\n- judging…"
                yield [*column.view.show(update.trace, inst.track, images, status), *skip_rest]
            elif not update.done:
                yield [*column.view.show(update.trace, inst.track, images, status), *skip_rest]
        trace, run_id = update.trace, update.run_id
        judgment, problem = (judge_run(ctx.store, ctx.pool, run_id, trace, inst, judge)
                             if run_id is not None else (None, None))
        verdict = f"**Judge problem:** {problem}" if problem else verdict_markdown(judgment, inst, judge=judge)
        human = isinstance(inst, UEGInstance) and bool(inst.question_list) and trace.final is not None \
            and run_id is not None
        details = {"run_id": run_id, "reused_from_store": update.reused, "dataset": dataset,
                   "trace": trace.to_dict(), "judgment": judgment, "judge_problem": problem}
        history = [*history, _history_row(run_id, options.seed, trace, judgment, update.reused)]
        yield [*column.view.show(trace, inst.track, images, status_line(trace, expected, title=title)),
               verdict, gr.update(visible=human),
               gr.update(choices=[q.question for q in inst.question_list] if human else [], value=[]),
               details, _write_download(details, mode), run_id, history,
               [[row[h] for h in HISTORY_HEADERS] for row in history], _gallery(ctx, history)]

    return run_column


def _history_row(run_id, seed, trace, judgment, reused) -> dict:
    final = trace.final
    return {"run": run_id if run_id is not None else "-", "instance": trace.instance_uid, "seed": seed,
            "status": trace.status.value,
            "score": "-" if judgment is None or judgment["score"] is None else judgment["score"],
            "seconds": round(trace.seconds, 2), "from store": "yes" if reused else "no",
            "image_sha": final.image_sha if final is not None else None}


def _gallery(ctx: AppContext, history: list[dict]) -> list:
    return [(ctx.store.get_image(row["image_sha"]), f"run {row['run']} · seed {row['seed']}")
            for row in history if row["image_sha"]]


def _write_download(details: dict, mode: str) -> str:
    """The details as a JSON file in the system temp folder (which Gradio serves)."""
    folder = Path(tempfile.gettempdir()) / "realunify-traces"
    folder.mkdir(parents=True, exist_ok=True)
    run = details["run_id"] if details["run_id"] is not None else f"unsaved-{uuid.uuid4().hex[:12]}"
    path = folder / f"run-{run}-{mode}.json"
    path.write_text(json.dumps(details, indent=2, ensure_ascii=False), encoding="utf-8")
    return str(path)


def _human_judge(ctx: AppContext):
    def save(current, run_id, ticked):
        if current is None or run_id is None:
            raise gr.Error("Run the instance first; only a stored run can be judged.")
        _, inst = current
        try:
            judgment = judge_by_hand(ctx.store, run_id, inst, list(ticked or []))
        except ValueError as e:  # an instance without polling questions: nothing to judge
            raise gr.Error(str(e)) from None
        return "Saved as the human judgment of run #%d.\n\n%s" % (run_id, verdict_markdown(judgment, inst,
                                                                                         judge=HUMAN))

    return save


def _register_api(ctx: AppContext) -> None:
    def instances(source: str = "bundled", track: str = "all", task_type: str = "all") -> list[dict]:
        """Instances of a configured data source: uid, track, task_type, and the prompt or question."""
        try:
            dataset = ctx.dataset(source)
        except KeyError as e:
            raise gr.Error(str(e).strip("'\"")) from None
        return [{"uid": i.uid, "track": i.track, "task_type": i.task_type, "category": i.category,
                 "text": i.question if isinstance(i, GEUInstance) else i.prompt}
                for i in dataset.select(track, task_type)]

    def run_instance(source: str, instance_uid: str, model: str, mode: str, seed: int = 0,
                     judge: str = "") -> dict:
        """Run (or reuse) one instance in one mode, store it, judge it; returns the run id, trace and judgment."""
        try:
            System(model, mode)
            options = ctx.options(model, seed=int(seed))
            dataset = ctx.dataset(source)
            inst = dataset.get(instance_uid)
        except ValueError as e:
            raise gr.Error(str(e)) from None
        except KeyError as e:
            raise gr.Error(str(e).strip("'\"")) from None
        return run_and_judge(ctx.store, ctx.pool, dataset.name, inst, model, mode, options,
                             judge or ctx.settings.judge)

    gr.api(instances, api_name="instances", concurrency_limit=None)
    gr.api(run_instance, api_name="run_instance", **ctx.gpu_events)
