"""Leaderboard: human-preference ratings per board, their 95% intervals, the benchmark table, judge agreement.

Boards are separate per track (UEG, GEU) and battle kind (two models, or one model's two modes): a
rating only compares systems that met on the same kind of battle.
"""

from __future__ import annotations

import threading
from collections import defaultdict

import gradio as gr

from realunify_arena import agreement as judge_comparison
from realunify_arena import paired, ratings, reporting
from realunify_arena.arena import KIND_LABELS, KINDS
from realunify_arena.context import AppContext
from realunify_arena.store import Store

BOARD_HEADERS = ["rank (UB)", "system", "rating", "95% interval", "votes", "both-bad rate", "tier"]
AGREEMENT_HEADERS = ["judge", "battles", "agreement", "decisive battles", "agreement (decisive)"]


class BoardCache:
    """Fitted boards, kept until the next vote: a fit is 200 bootstrap refits, too slow to repeat on every
    page view, and the votes only ever grow, so (count, last id) says whether a board is stale."""

    def __init__(self, store: Store):
        self.store = store
        self._boards: dict[tuple, tuple[tuple, list[dict]]] = {}
        self._locks: dict[tuple, threading.Lock] = defaultdict(threading.Lock)

    def board(self, track: str, kind: str, min_votes: int) -> list[dict]:
        key = (track, kind, min_votes)
        with self._locks[key]:  # concurrent requests after a vote wait for one fit instead of each fitting
            version = self.store.votes_version()
            cached = self._boards.get(key)
            if cached is None or cached[0] != version:
                cached = version, ratings.leaderboard(self.store, track=track, kind=kind, min_votes=min_votes)
                self._boards[key] = cached
            return cached[1]


def board_rows(board: list[dict]) -> list[list]:
    return [[r["rank_ub"], r["system"], round(r["rating"]), f"{r['lower']:.0f} – {r['upper']:.0f}", r["votes"],
             f"{100 * r['both_bad_rate']:.0f}%", "preliminary" if r["preliminary"] else "ranked"] for r in board]


def interval_plot(board: list[dict], title: str):
    """Ratings with their 95% intervals, best at the top; preliminary systems in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.45 * max(len(board), 2) + 1.2))
    for y, row in enumerate(reversed(board)):
        colour = "#9ca3af" if row["preliminary"] else "#4f46e5"
        # Drawn as a line and a dot: a bootstrap interval need not contain the full-data estimate.
        ax.hlines(y, row["lower"], row["upper"], color=colour, linewidth=2)
        ax.plot(row["rating"], y, "o", color=colour)
    ax.set_yticks(range(len(board)), [r["system"] for r in reversed(board)])
    ax.set_xlabel("rating (95% interval)")
    ax.set_title(title if board else f"{title}: no votes yet")
    fig.tight_layout()
    plt.close(fig)
    return fig


def agreement_rows(rows: list[dict]) -> list[list]:
    def share(x):
        return "-" if x is None else f"{100 * x:.0f}%"

    return [[r["judge"], r["battles"], share(r["agreement"]), r["decisive_battles"], share(r["agreement_decisive"])]
            for r in rows]


def benchmark_markdown(ctx: AppContext) -> str:
    reports = reporting.reports_from_store(ctx.store)
    if not reports:
        return "*No stored runs yet: run instances in Explore or `python -m realunify_arena eval`.*"
    return "\n\n".join(reporting.markdown(r) for r in reports)


def build(ctx: AppContext, tab: gr.Tab) -> None:
    boards = BoardCache(ctx.store)
    with gr.Row():
        track = gr.Radio(["UEG", "GEU"], value="UEG", label="Track", elem_id="lb-track")
        kind = gr.Radio([(label, k) for k, label in KIND_LABELS.items()], value=KINDS[0], label="Battles",
                        elem_id="lb-kind")
        refresh = gr.Button("Refresh", size="sm", elem_id="lb-refresh")
    summary = gr.Markdown(elem_id="lb-summary")
    board = gr.Dataframe(headers=BOARD_HEADERS, value=[], interactive=False, elem_id="lb-board")
    plot = gr.Plot(label="95% intervals", elem_id="lb-plot")
    gr.Markdown("## Benchmark (the paper's Table 2 layout, from stored judged runs; cells are direct/stepwise)")
    benchmark = gr.Markdown(elem_id="lb-benchmark")
    gr.Markdown("## Judge–human agreement (does the judge's score prefer the side people voted for?)")
    agreement = gr.Dataframe(headers=AGREEMENT_HEADERS, value=[], interactive=False, elem_id="lb-agreement")

    def show(track_value, kind_value):
        rows = boards.board(track_value, kind_value, ctx.settings.min_votes)
        votes = len(ctx.store.votes(track=track_value, kind=kind_value))
        title = f"{track_value} · {KIND_LABELS[kind_value]}"
        text = (f"**{title}**: {votes} vote{'s' if votes != 1 else ''}. Systems with fewer than "
                f"{ctx.settings.min_votes} votes are *preliminary* and listed last.")
        return (text, board_rows(rows), interval_plot(rows, title), benchmark_markdown(ctx),
                agreement_rows(ratings.judge_agreement(ctx.store)))

    outputs = [summary, board, plot, benchmark, agreement]
    gr.on([refresh.click, track.change, kind.change, tab.select], show, [track, kind], outputs,
          api_visibility="private", concurrency_limit=None)

    def leaderboard(track: str = "UEG", kind: str = "model_vs_model") -> list[dict]:
        """Ratings of one board: system, rating, lower, upper, rank_ub, votes, both_bad_rate, preliminary."""
        if track not in ("UEG", "GEU") or kind not in KINDS:
            raise gr.Error(f"expected track UEG or GEU and kind one of {', '.join(KINDS)}; got {track!r}, {kind!r}")
        return boards.board(track, kind, ctx.settings.min_votes)

    gr.api(leaderboard, api_name="leaderboard", concurrency_limit=None)
    build_paired(ctx, tab, refresh)


def judges_markdown(ctx: AppContext) -> str:
    comparisons = judge_comparison.compare_judges(ctx.store)
    if not comparisons:
        return ("*Agreement needs two or more judges on the same runs: judge stored UEG runs yourself in "
                "Explore, or `eval --judge` another model card over them.*")
    return "\n\n".join(judge_comparison.markdown(c) for c in comparisons)


class PairedCache:
    """The paired section's contents, recomputed only when runs or judgments changed: a bootstrap per model
    and category (and statsmodels' Holm, which runs the garbage collector) is too slow for every page view.
    A judgment replaced in place gets a new ``created_at``, so (count, last id, newest judgment) is enough."""

    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self._lock = threading.Lock()
        self._cached: tuple[tuple, tuple] | None = None

    def contents(self) -> tuple:
        """(forest plot figure, paired tables Markdown, discordant choices, judges Markdown)."""
        with self._lock:
            version = tuple(self.ctx.store.query(
                "select (select count(*) from runs) as runs, (select max(id) from runs) as last_run,"
                " (select count(*) from judgments) as judgments, (select max(created_at) from judgments) as newest"
            )[0].values())
            if self._cached is None or self._cached[0] != version:
                analyses = paired.analyses_from_store(self.ctx.store)
                text = "\n\n".join(paired.markdown(a) for a in analyses) or "*No model has runs in both modes yet.*"
                self._cached = version, (paired.forest_plot(analyses), text, paired.discordant_choices(analyses),
                                         judges_markdown(self.ctx))
            return self._cached[1]


def build_paired(ctx: AppContext, tab: gr.Tab, refresh: gr.Button) -> None:
    """Does stepwise help? Δ per model and category with intervals; its discordant instances; judge agreement."""
    gr.Markdown("## Does stepwise help? (paired per instance: Δ = stepwise − direct with 95% intervals; "
                "filled dots survive Holm's correction)")
    forest = gr.Plot(label="Δ per category (percentage points)", elem_id="lb-paired-plot")
    with gr.Accordion("Paired tables (2x2 counts, McNemar and Holm p-values)", open=False):
        tables = gr.Markdown(elem_id="lb-paired-tables")
    with gr.Row():
        category = gr.Dropdown([], label="Model and category with discordant instances", elem_id="lb-paired-category")
        which = gr.Radio([("stepwise helped", paired.HELPED), ("stepwise hurt", paired.HURT)], value=paired.HELPED,
                         label="List the instances where", elem_id="lb-paired-which")
    listing = gr.Markdown(elem_id="lb-discordant")
    gr.Markdown("## Judge agreement across judges (UEG polling questions; the paper's Table 4 layout)")
    judges = gr.Markdown(elem_id="lb-judges")

    cache = PairedCache(ctx)

    def show_paired(current):
        figure, text, choices, judges_text = cache.contents()
        keys = [key for _, key in choices]
        return (figure, text, gr.update(choices=choices, value=current if current in keys else (keys[0] if keys else None)),
                judges_text)

    gr.on([refresh.click, tab.select], show_paired, [category], [forest, tables, category, judges],
          api_visibility="private", concurrency_limit=None)

    def list_discordant(key, which_value):
        if not key:
            return "*No instance changed between direct and stepwise yet.*"
        return paired.discordant_markdown(ctx.store, key, which_value, ctx.sources)

    gr.on([category.change, which.change], list_discordant, [category, which], [listing],
          api_visibility="private", concurrency_limit=None)
