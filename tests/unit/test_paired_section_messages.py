"""The Leaderboard's paired section says each thing once, where it is seen: what its refresh (``show_paired``,
wired by ``ui.leaderboard_tab.build_paired``) returns for the plot, the line in the plot's place and the tables.

Before: with nothing paired, "Nothing to pair yet" was returned twice (the line in the plot's place and the
tables accordion); with models paired but no instance scored in both modes (no Δ), "Nothing to pair yet" sat
beside tables that listed the pairs' counts.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pytest

from realunify_arena.store import Store
from realunify_arena.trace import Step, StepRole, Trace
from realunify_arena.ui.leaderboard_tab import build_paired

NOTHING = "Nothing to pair yet"
MT = "mental_tracking"


def _geu(store: Store, model: str, mode: str, number: int, score: int) -> None:
    """A pinned GEU run of ``model`` on instance ``number``, scored ``score`` by the answer parser."""
    run_id = store.save_trace(Trace(f"GEU_{number}_{MT}", model, mode, {"seed": 1},
                                    [Step(StepRole.ANSWER, "p", text="A")]), "set", pin=True)
    store.save_judgment(run_id, "answer-parser", {"kind": "mcq", "score": score,
                                                  "details": {"strict_score": score}, "errors": 0})


@pytest.fixture
def refresh(tmp_path):
    """(store, the section's refresh function as the page calls it: ``fn(current_category) -> outputs``)."""
    store = Store.open(tmp_path / "arena.db")
    with gr.Blocks() as demo:
        with gr.Tab("Leaderboard") as tab:
            build_paired(SimpleNamespace(store=store), tab, gr.Button("Refresh"))
    (fn,) = [block_fn.fn for block_fn in demo.fns.values() if block_fn.fn.__name__ == "show_paired"]
    yield store, fn
    store.close()


def _texts(outputs) -> tuple[dict, str, str]:
    plot, blurb, tables, *_ = outputs  # then the menu, the helped/hurt choice, the judges
    return plot, blurb, tables


def test_nothing_paired_is_said_once(refresh):
    store, fn = refresh
    _geu(store, "solo", "direct", 1, 1)  # one mode only: nothing to pair
    plot, blurb, tables = _texts(fn(None))
    assert plot["visible"] is False and plot["value"] is None
    assert NOTHING in blurb and NOTHING not in tables
    assert "solo on set (direct only)" in blurb  # the one-mode note is seen, not in a closed accordion


def test_paired_models_without_a_delta_are_not_called_nothing_to_pair(refresh):
    store, fn = refresh
    _geu(store, "m", "direct", 1, 1)  # both modes stored, never on the same instance: no pair, no Δ
    _geu(store, "m", "stepwise", 2, 1)
    plot, blurb, tables = _texts(fn(None))
    assert "### Paired: m on set" in tables
    assert plot["visible"] is False
    assert NOTHING not in blurb and "No Δ to plot yet" in blurb


def test_a_plot_has_no_line_in_its_place(refresh):
    store, fn = refresh
    for number, (direct, stepwise) in enumerate([(0, 1), (1, 1)], start=1):
        _geu(store, "m", "direct", number, direct)
        _geu(store, "m", "stepwise", number, stepwise)
    plot, blurb, tables = _texts(fn(None))
    assert plot["visible"] is True and plot["value"] is not None
    assert blurb == "" and "### Paired: m on set" in tables and NOTHING not in tables
