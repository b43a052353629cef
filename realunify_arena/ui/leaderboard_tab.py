"""Leaderboard: human-preference ratings per board, their 95% intervals, the benchmark table, judge agreement.

Boards are separate per track (UEG, GEU) and battle kind (two models, or one model's two modes): a
rating only compares systems that met on the same kind of battle.
"""

from __future__ import annotations

import gradio as gr

from realunify_arena import ratings, reporting
from realunify_arena.arena import KINDS
from realunify_arena.ui.context import AppContext

BOARD_HEADERS = ratings.BOARD_HEADERS
AGREEMENT_HEADERS = ["judge", "battles", "agreement", "decisive battles", "agreement (decisive)"]
KIND_LABELS = ratings.KIND_LABELS
VIEW_WAIT = 0.3  # seconds a view waits for a refit after a new vote before showing the last finished board


def board_rows(board: list[dict]) -> list[list]:
    return ratings.board_table(board)


def interval_plot(board: list[dict], title: str):
    """Ratings with their 95% intervals, best at the top; preliminary systems in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.45 * max(len(board), 2) + 1.2))
    for y, row in enumerate(reversed(board)):
        colour = "#9ca3af" if row["preliminary"] else "#4f46e5"
        # no interval: a hollow dot; one-sided (never lost / never won): a line to the open side's arrow
        lower, upper = row["lower"], row["upper"]
        if lower is not None or upper is not None:
            ax.hlines(y, row["rating"] if lower is None else lower, row["rating"] if upper is None else upper,
                      color=colour, linewidth=2)
        marker = "o" if (lower is None) == (upper is None) else (">" if upper is None else "<")
        ax.plot(row["rating"], y, marker, color=colour,
                markerfacecolor="white" if lower is None and upper is None else colour)
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
    boards = ratings.Leaderboards(ctx.store)
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
        shown = boards.board(track_value, kind_value, ctx.settings.min_votes, wait=VIEW_WAIT)
        text = ratings.summary_markdown(shown, boards.votes(track_value, kind_value))
        plot_update = (gr.update(value=interval_plot(shown.rows, shown.title), visible=True) if shown.rows
                       else gr.update(value=None, visible=False))  # the empty state is the summary's text
        return (text, board_rows(shown.rows), plot_update, benchmark_markdown(ctx),
                agreement_rows(boards.agreement()))

    outputs = [summary, board, plot, benchmark, agreement]
    gr.on([refresh.click, track.change, kind.change, tab.select], show, [track, kind], outputs,
          api_visibility="private", concurrency_limit=None)

    def leaderboard(track: str = "UEG", kind: str = "model_vs_model") -> list[dict]:
        """Ratings of one board, every vote counted (``ratings.rate_counts`` rows: system, rating, lower, upper,
        rank_ub, votes, both_bad_rate, preliminary, flag, note)."""
        if track not in ("UEG", "GEU") or kind not in KINDS:
            raise gr.Error(f"expected track UEG or GEU and kind one of {', '.join(KINDS)}; got {track!r}, {kind!r}")
        return boards.board(track, kind, ctx.settings.min_votes).rows

    gr.api(leaderboard, api_name="leaderboard", concurrency_limit=None)
