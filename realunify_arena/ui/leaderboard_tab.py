"""Leaderboard: human-preference ratings per board, their 95% intervals, the benchmark table, judge agreement.

Boards are separate per track (UEG, GEU) and battle kind (two models, or one model's two modes): a
rating only compares systems that met on the same kind of battle.
"""

from __future__ import annotations

import html
import functools
import math
import threading
from typing import NamedTuple

import gradio as gr

from realunify_arena import agreement as judge_comparison
from realunify_arena import page_links, paired, ratings, reporting
from realunify_arena.arena import KIND_LABELS, KINDS
from realunify_arena.benchmark.custom import is_benchmark_dataset
from realunify_arena.context import AppContext
from realunify_arena.shown import brief
from realunify_arena.ui.calls import Refusal
from realunify_arena.ui.render import SHOW_QUERY_JS, boxed_tables, filled_in, notes_markdown, plain

BOARD_HEADERS = ratings.BOARD_HEADERS

VIEW_WAIT = 0.3  # seconds a view waits for a refit after a new vote before showing the last finished board


def board_rows(board: list[dict]) -> list[list]:
    return ratings.board_table(board)


def interval_plot(board: list[dict], title: str) -> str:
    """Ratings with their 95% intervals as inline SVG, best at the top; preliminary systems in grey, a hollow
    dot where no interval is meaningful, an arrow at a one-sided interval's open end. Plain markup: drawn in
    microseconds and sent as is, where a figure costs a render and a PNG encoding on every view."""
    row_h, left, right, top, width = 22, 230, 20, 34, 720
    height = top + row_h * len(board) + 34
    ends = [x for r in board for x in (r["lower"], r["rating"], r["upper"]) if x is not None]
    lo, hi = (min(ends), max(ends)) if ends else (950.0, 1050.0)
    pad = max(10.0, 0.08 * (hi - lo))
    lo, hi = lo - pad, hi + pad
    step = next(s for s in (10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10**4, 10**5) if (hi - lo) / s <= 8)

    def x(value: float) -> float:
        return left + (value - lo) / (hi - lo) * (width - left - right)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
             f'role="img" aria-label="{html.escape(title)}: ratings with 95% intervals" '
             'style="max-width:720px;font:12px sans-serif;color:var(--body-text-color, #111827)">',
             f'<text x="{left}" y="18" font-weight="bold" fill="currentColor">{html.escape(title)}</text>']
    for tick in range(int(math.ceil(lo / step) * step), int(hi) + 1, step):
        parts.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top - 6}" y2="{height - 28}" stroke="#e5e7eb"/>'
                     f'<text x="{x(tick):.1f}" y="{height - 14}" text-anchor="middle" fill="#6b7280">{tick}</text>')
    for k, row in enumerate(board):
        y = top + row_h * k + row_h / 2
        colour = "#9ca3af" if row["preliminary"] else "#4f46e5"
        lower, upper, rating = row["lower"], row["upper"], row["rating"]
        parts.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" fill="currentColor">'
                     f'{html.escape(row["system"])}</text>')
        if lower is not None or upper is not None:
            start, end = x(rating if lower is None else lower), x(rating if upper is None else upper)
            if lower is None:
                start = left
            if upper is None:
                end = width - right
            parts.append(f'<line x1="{start:.1f}" x2="{end:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" '
                         'stroke-width="2"/>')
            for open_end, tip, back in ((upper is None, end, end - 7), (lower is None, start, start + 7)):
                if open_end:
                    parts.append(f'<path d="M{tip:.1f},{y:.1f} L{back:.1f},{y - 4:.1f} L{back:.1f},{y + 4:.1f} Z" '
                                 f'fill="{colour}"/>')
        hollow = lower is None and upper is None
        parts.append(f'<circle cx="{x(rating):.1f}" cy="{y:.1f}" r="4" stroke="{colour}" stroke-width="2" '
                     f'fill="{"white" if hollow else colour}"><title>{html.escape(row["system"])}: '
                     f'{rating:.0f} ({html.escape(ratings.interval_text(row))})</title></circle>')
    parts.append(f'<text x="{(left + width - right) / 2:.0f}" y="{height - 1}" text-anchor="middle" '
                 'fill="#6b7280">rating (95% interval)</text></svg>')
    return "".join(parts)


def agreement_updates(rows: list[dict]) -> tuple:
    """The agreement table and the text under it: the table once a voted battle counts, else the text saying why
    it is empty (an empty table says nothing); with the table, what a row that is no judge model is."""
    counted = any(r["battles"] for r in rows)
    note = ratings.agreement_note(rows)
    return (gr.update(value=ratings.agreement_table(rows), visible=counted), gr.update(value=note, visible=bool(note)))


_one_line = functools.partial(boxed_tables, one_line=True)  # names and figures read whole; the box scrolls


def benchmark_markdown(ctx: AppContext) -> str:
    """Table 2 from batch evaluations only (pinned runs: ``eval``, ``import-results``), with the number of
    items behind each cell; one-off runs (made in Explore or for a live Arena battle: any settings, any seed) are
    counted, never scored here."""
    reports = reporting.reports_from_store(ctx.store, pinned=True)
    one_off = sum(is_benchmark_dataset(r["dataset"]) for r in ctx.store.runs(pinned=False))
    note = (f"\n\n*{one_off} run{'s' if one_off != 1 else ''} made in Explore or for Arena battles "
            f"{'are' if one_off != 1 else 'is'} not in this table: a one-off run (any settings, any seed) is "
            "not a benchmark evaluation.*") if one_off else ""
    if not reports:
        return ("*No batch evaluation yet: the table fills from `python -m realunify_arena eval --model NAME` "
                "(or `import-results` of published result files), then Refresh.*" + note)
    return ("Each model's **n** row gives the number of items behind each cell (Q-acc: polling questions).\n\n"
            + "\n\n".join(_one_line(reporting.markdown(r, items=True)) for r in reports) + note)


def updates_from_url(params: dict[str, str]) -> list:
    """Updates of the board's (track, kind) radios for a link's board (``page_links.read_board``); a value the
    radios do not offer is said (``gr.Warning``) and left out. Each update also enables its radio: they start
    disabled, as Explore's form does, so that a choice made before the page's load event answered (a slow
    network) is never overwritten by the link's."""
    link = page_links.read_board(params)
    for problem in link.problems:
        gr.Warning(plain(problem, markdown=False))
    return filled_in((link.track, link.kind))


def build(ctx: AppContext, tab: gr.Tab) -> tuple[gr.Radio, gr.Radio, gr.Textbox]:
    """The Leaderboard tab; returns its (track, kind) radios, which a link fills in (``updates_from_url``), and
    the hidden box whose value (``page_links.leaderboard_query`` of them) the address bar shows."""
    boards = ratings.Leaderboards(ctx.store)
    with gr.Row():
        # both enabled by the page's load event, with a link's board (``updates_from_url``)
        track = gr.Radio(["UEG", "GEU"], value="UEG", label="Track", elem_id="lb-track", interactive=False)
        kind = gr.Radio([(label, k) for k, label in KIND_LABELS.items()], value=KINDS[0], label="Battles",
                        elem_id="lb-kind", interactive=False)
        refresh = gr.Button("Refresh", size="sm", elem_id="lb-refresh")
    summary = gr.Markdown(elem_id="lb-summary")
    # Tables and plots start hidden and ``show`` (on selecting this tab) fills and shows them: the browser
    # fetches the code of every component not hidden, on any tab, before the page is usable (issue 18).
    board = gr.Dataframe(headers=BOARD_HEADERS, value=[], interactive=False, visible=False, elem_id="lb-board")
    notes = gr.Markdown(elem_id="lb-notes")  # each note in full: the table cuts a long one at its cell's edge
    plot = gr.HTML(label="95% intervals", visible=False, elem_id="lb-plot")
    with gr.Accordion("What the columns mean", open=False):
        gr.Markdown(ratings.COLUMNS_MARKDOWN, elem_id="lb-columns")
    gr.Markdown("## Benchmark (the paper's Table 2 layout, from batch evaluations; cells are direct/stepwise)")
    benchmark = gr.Markdown(elem_id="lb-benchmark")
    gr.Markdown("## Judge–human agreement (does the judge's score prefer the side people voted for?)")
    agreement = gr.Dataframe(headers=ratings.AGREEMENT_HEADERS, value=[], interactive=False, visible=False,
                             elem_id="lb-agreement")
    agreement_empty = gr.Markdown(elem_id="lb-agreement-empty")

    def show(track_value, kind_value):
        shown = boards.board(track_value, kind_value, ctx.settings.min_votes, wait=VIEW_WAIT)
        votes = boards.votes(track_value, kind_value)  # the other boards are only named when this one is empty
        text = ratings.summary_markdown(shown, votes, boards.elsewhere(track_value, kind_value) if votes == 0 else None)
        text += ratings.left_out_text(ctx.store.flagged_votes(track=track_value, kind=kind_value))
        imported = [r["system"] for r in imported_rows(ctx, shown.rows) if r["imported"]]
        text += f"\n\n{reporting.imported_line(imported)}" if imported else ""
        plot_update = (gr.update(value=interval_plot(shown.rows, shown.title), visible=True) if shown.rows
                       else gr.update(value="", visible=False))  # the empty state is the summary's text
        # an empty board is the summary's text ("0 votes on this board yet"), not a table of bare headers
        return (text, gr.update(value=board_rows(shown.rows), visible=bool(shown.rows)), notes_markdown(shown.rows),
                plot_update, benchmark_markdown(ctx), *agreement_updates(boards.agreement()))

    outputs = [summary, board, notes, plot, benchmark, agreement, agreement_empty]
    gr.on([refresh.click, track.change, kind.change, tab.select], show, [track, kind], outputs,
          api_visibility="private", concurrency_limit=None,
          trigger_mode="always_last")  # "once" (gr.on's mode for a click first) dropped a filter chosen while
    # the board loaded: the page showed the board of the first choice under menus naming the second

    def leaderboard(track: str = "UEG", kind: str = "model_vs_model") -> list[dict]:
        """Ratings of one board, every vote counted (``ratings.rate_counts`` rows: system, rating, lower, upper,
        rank_ub, votes, both_bad_rate, preliminary, flag, note; and imported: the system's runs came from
        published result files)."""
        if track not in ("UEG", "GEU") or kind not in KINDS:
            raise Refusal(plain(f"expected track UEG or GEU and kind one of {', '.join(KINDS)}; got {brief(track)}, "
                                 f"{brief(kind)}", markdown=False))
        return imported_rows(ctx, boards.board(track, kind, ctx.settings.min_votes).rows)

    gr.api(leaderboard, api_name="leaderboard", concurrency_limit=None)
    build_paired(ctx, tab, refresh)
    # the page's URL names the board shown (a radio changed, or a link's values filled in): a reload or a copied
    # address opens it, not the default board
    shown_query = gr.Textbox(visible="hidden", interactive=False, elem_id="lb-shown-query")
    gr.on([track.change, kind.change], page_links.leaderboard_query, [track, kind], shown_query,
          api_visibility="private", queue=False).then(None, shown_query, None, js=SHOW_QUERY_JS,
                                                      api_visibility="private", queue=False)
    return track, kind, shown_query


def imported_rows(ctx: AppContext, rows: list[dict]) -> list[dict]:
    return ratings.mark_imported(rows, ctx.store.imported_models())


def judges_markdown(ctx: AppContext) -> str:
    """The judge-agreement section over the runs the benchmark table reads (pinned: batch evaluations)."""
    comparisons = judge_comparison.compare_judges(ctx.store, pinned=True)
    if not comparisons:
        return ("*Agreement needs two or more judges on the same runs: judge stored UEG runs yourself in "
                "Explore, or `eval --judge` another model card over them.*")
    return "\n\n".join(_one_line(judge_comparison.markdown(c)) for c in comparisons)


# Before, an empty plot box said "No model stored in both modes yet" right after a visitor ran a model in both
# modes in Explore: this section pairs batch runs only, as the benchmark table above it does.
NOT_PAIRED_YET = ("*Nothing to pair yet: the pairs come from batch evaluations run in both modes (`python -m "
                  "realunify_arena eval --model NAME --mode both`, or `import-results` of both modes), then "
                  "Refresh. Runs made in Explore or for Arena battles are not paired here.*")
# Models are paired, but no instance is scored in both modes: the tables count what was left out, no Δ exists.
NO_DELTA_YET = ("*No Δ to plot yet: no instance is scored in both modes (the paired tables count the instances "
                "stored in one mode only or left undecided by the judge).*")


class PairedView(NamedTuple):
    """What the paired section shows: ``figure`` the forest plot (None when no Δ is there to plot), ``blurb``
    the line in its place saying why ("" beside a plot), ``tables`` the paired tables' Markdown with the
    one-mode note ("" when nothing is paired: the note is in ``blurb``), ``choices`` the discordant
    categories, ``judges`` the judge-agreement Markdown."""

    figure: object | None
    blurb: str
    tables: str
    choices: list[tuple[str, str]]
    judges: str


def paired_texts(analyses: list[paired.Analysis], note: str) -> tuple[str, str]:
    """``(blurb, tables)`` of ``PairedView`` for ``analyses`` and the one-mode ``note`` (``paired.one_mode_note``):
    each message said once, where it is seen."""
    tables = "\n\n".join(_one_line(paired.markdown(a)) for a in analyses)
    if not tables:
        return "\n\n".join(filter(None, [NOT_PAIRED_YET, note])), ""
    return ("" if paired.plotted(analyses) else NO_DELTA_YET), "\n\n".join(filter(None, [tables, note]))


class PairedCache:
    """The paired section's contents over the runs the benchmark table above it reads (pinned: batch
    evaluations and imports, never a one-off Explore run), recomputed only when runs, pins or judgments
    changed: a bootstrap per model and category is
    too slow for every page view. A judgment replaced in place (a model's, or a voter's own) gets a new
    ``created_at``, a pin a new ``pinned_at``, and a run replaced in place (a failed run by a successful one in
    ``merge``, keeping its id and pin; an ``import-results --replace``) leaves a ``replaced_runs`` row, so counts,
    last ids and the newest stamps are enough."""

    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self._lock = threading.Lock()
        self._cached: tuple[tuple, tuple] | None = None

    def contents(self) -> PairedView:
        """The section's ``PairedView``, recomputed when the store changed."""
        with self._lock:
            version = tuple(self.ctx.store.query(
                "select (select count(*) from runs) as runs, (select max(id) from runs) as last_run,"
                " (select count(pinned_at) from runs) as pinned, (select max(pinned_at) from runs) as last_pin,"
                " (select count(*) from judgments) as judgments, (select max(created_at) from judgments) as newest,"
                " (select count(*) from human_judgments) as people,"
                " (select max(created_at) from human_judgments) as newest_person,"
                " (select count(*) from replaced_runs) as replaced"
            )[0].values())
            if self._cached is None or self._cached[0] != version:
                analyses = paired.analyses_from_store(self.ctx.store, pinned=True)  # the table's runs
                note = paired.one_mode_note(paired.one_mode_systems(self.ctx.store, pinned=True))
                figure = paired.forest_plot(analyses) if paired.plotted(analyses) else None
                self._cached = version, PairedView(figure, *paired_texts(analyses, note),
                                                   paired.discordant_choices(analyses), judges_markdown(self.ctx))
            return self._cached[1]


def build_paired(ctx: AppContext, tab: gr.Tab, refresh: gr.Button) -> None:
    """Does stepwise help? Δ per model and category with intervals; its discordant instances; judge agreement."""
    gr.Markdown("## Does stepwise help? (paired per instance: Δ = stepwise − direct with 95% intervals; "
                "filled dots survive Holm's correction)")
    empty = gr.Markdown(elem_id="lb-paired-empty")
    forest = gr.Plot(label="Δ per category (percentage points)", visible=False, elem_id="lb-paired-plot")
    with gr.Accordion("Paired tables (2x2 counts, p-values, Holm-adjusted)", open=False):
        tables = gr.Markdown(elem_id="lb-paired-tables")
    with gr.Row():
        # shown once some instance is discordant: before, an empty menu and a choice that changed nothing stood
        # under "Nothing to pair yet"
        category = gr.Dropdown([], label="Model and category with discordant instances", elem_id="lb-paired-category",
                               visible=False)
        which = gr.Radio([("stepwise helped", paired.HELPED), ("stepwise hurt", paired.HURT)], value=paired.HELPED,
                         label="List the instances where", elem_id="lb-paired-which", visible=False)
    listing = gr.Markdown(elem_id="lb-discordant")
    gr.Markdown("## Judge agreement across judges (UEG polling questions; the paper's Table 4 layout)")
    judges = gr.Markdown(elem_id="lb-judges")

    cache = PairedCache(ctx)

    def show_paired(current):
        view = cache.contents()
        keys = [key for _, key in view.choices]
        return (gr.update(value=view.figure, visible=view.figure is not None), view.blurb, view.tables,
                gr.update(choices=view.choices, value=current if current in keys else (keys[0] if keys else None),
                          visible=bool(keys)),
                gr.update(visible=bool(keys)), view.judges)

    gr.on([refresh.click, tab.select], show_paired, [category], [forest, empty, tables, category, which, judges],
          api_visibility="private", concurrency_limit=None)

    def list_discordant(key, which_value):
        if not key:
            return "*No instance changed between direct and stepwise yet.*"
        return paired.discordant_markdown(ctx.store, key, which_value, ctx.sources, pinned=True,
                                            shown=ctx.source_label)

    gr.on([category.change, which.change], list_discordant, [category, which], [listing],
          api_visibility="private", concurrency_limit=None)
