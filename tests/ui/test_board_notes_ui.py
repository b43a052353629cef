"""The Leaderboard tab's board notes are readable in full in a real browser, on a desktop and a phone
screen (board14). Before: a long note ("never lost: held finite by the prior ...") showed only in the
table's last cell, cut at the cell's edge with an ellipsis (``overflow: hidden``), on any screen.

Its own app: a board where alpha beat beta three times, so both rows carry a long note.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import astuple

import pytest
from conftest import launch_app
from PIL import Image
from playwright.sync_api import expect

from realunify_arena.arena import Arena
from realunify_arena.ratings import Leaderboards
from realunify_arena.systems import System
from realunify_arena.trace import Step, StepRole, Trace

# every element under ``root`` whose text is cut: wider or taller than its box, and not scrollable there
CUT = """root => [...root.querySelectorAll('*')].filter(el => {
    const style = getComputedStyle(el);
    const hides = v => v === 'hidden' || v === 'clip';
    return (el.scrollWidth > el.clientWidth + 1 && hides(style.overflowX))
        || (el.scrollHeight > el.clientHeight + 1 && hides(style.overflowY));
}).map(el => el.tagName + ': ' + el.innerText.slice(0, 60))"""


@pytest.fixture(scope="module")
def board(tmp_path_factory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("notes-app")
    demo, url, store = launch_app(root, task_types=["mathematical_reasoning", "mental_tracking"])
    arena = Arena(store, max_votes=1000)
    for k in range(3):
        uid, session = f"UEG_{k}_world_knowledge", f"session-{k}"
        battle = arena.new_battle(session, "hf:rater", uid, "bundled", "alpha:direct", "beta:direct",
                                  "model_vs_model")
        for side, system in (("A", "alpha:direct"), ("B", "beta:direct")):
            model, mode = astuple(System.parse(system))
            trace = Trace(uid, model, mode, {"seed": 0},
                          steps=[Step(StepRole.GENERATED_IMAGE, "p", image=Image.new("L", (2, 2), 0))])
            arena.deliver(battle, session, side, store.save_trace(trace, "bundled"))
        arena.vote(battle, session, "hf:rater", "A")
    notes = {r["system"]: r["note"] for r in Leaderboards(store).board("UEG", "model_vs_model", 1).rows}
    assert all(len(n) > 150 for n in notes.values()), notes  # long enough to pass a cell's edge
    yield {"url": url, "notes": notes}
    demo.close()
    store.close()


@pytest.mark.parametrize("width, height", [(1400, 1000), (390, 844)])
def test_each_board_note_is_readable_in_full(browser, board, width, height):
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(board["url"] + "?tab=leaderboard")
        shown = page.locator("#lb-notes")
        for system, note in board["notes"].items():
            expect(shown).to_contain_text(f"{system}: {note}")
        assert shown.evaluate(CUT) == []
        right = shown.evaluate("el => Math.max(...[...el.querySelectorAll('li')]"
                               ".map(li => li.getBoundingClientRect().right))")
        assert right <= width, "a note runs off the screen"
    finally:
        context.close()
