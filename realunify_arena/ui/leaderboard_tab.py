"""Leaderboard: human-preference ratings per board, their 95% intervals, the benchmark table, judge agreement.

Boards are separate per track (UEG, GEU) and battle kind (two models, or one model's two modes): a
rating only compares systems that met on the same kind of battle.
"""

from __future__ import annotations

import threading
from collections import defaultdict

import gradio as gr

from realunify_arena import ratings, reporting
from realunify_arena.arena import KIND_LABELS, KINDS
from realunify_arena.benchmark.custom import is_benchmark_dataset
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
    """Table 2 from batch evaluations only (pinned runs: ``eval``, ``import-results``), with the number of
    items behind each cell; one-off Explore runs (any settings, any seed) are counted, never scored here."""
    reports = reporting.reports_from_store(ctx.store, pinned=True)
    one_off = sum(is_benchmark_dataset(r["dataset"]) for r in ctx.store.runs(pinned=False))
    note = (f"\n\n*{one_off} run{'s' if one_off != 1 else ''} made in Explore "
            f"{'are' if one_off != 1 else 'is'} not in this table: a one-off run (any settings, any seed) is "
            "not a benchmark evaluation.*") if one_off else ""
    if not reports:
        return ("*No batch evaluation yet: the table fills from `python -m realunify_arena eval --model NAME` "
                "(or `import-results` of published result files), then Refresh.*" + note)
    return ("Each model's **n** row gives the number of items behind each cell (Q-acc: polling questions).\n\n"
            + "\n\n".join(_scrolling(reporting.markdown(r, items=True)) for r in reports) + note)


def _scrolling(table: str) -> str:
    """A wide Markdown table that scrolls sideways on a narrow screen instead of breaking its headers and
    names inside words (Gradio's Markdown keeps inline ``style``)."""
    return f'<div style="overflow-x: auto; white-space: nowrap">\n\n{table}\n\n</div>'


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
    gr.Markdown("## Benchmark (the paper's Table 2 layout, from batch evaluations; cells are direct/stepwise)")
    benchmark = gr.Markdown(elem_id="lb-benchmark")
    gr.Markdown("## Judge–human agreement (does the judge's score prefer the side people voted for?)")
    agreement = gr.Dataframe(headers=AGREEMENT_HEADERS, value=[], interactive=False, elem_id="lb-agreement")

    def show(track_value, kind_value):
        rows = boards.board(track_value, kind_value, ctx.settings.min_votes)
        votes = len(ctx.store.votes(track=track_value, kind=kind_value))
        title = f"{track_value} · {KIND_LABELS[kind_value]}"
        text = (f"**{title}**: {votes} vote{'s' if votes != 1 else ''}. Systems with fewer than "
                f"{ctx.settings.min_votes} votes are *preliminary* and listed last.")
        if not votes:  # the empty state says what to do, instead of an empty plot
            text = f"**{title}**: 0 votes; no votes yet — play a battle in the Arena tab."
        plot_update = gr.update(value=interval_plot(rows, title), visible=True) if rows else \
            gr.update(value=None, visible=False)
        return (text, board_rows(rows), plot_update, benchmark_markdown(ctx),
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
