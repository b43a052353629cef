"""The Leaderboard tab's board notes in full under its table (board14): the table cut a long note short."""

from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt

from realunify_arena.ui.render import notes_markdown

LONG = ("never lost: held finite by the prior (one virtual tie against a 1000-rated reference); no interval: "
        "its only vote cannot vary under resampling")


def shown_text(markdown: str) -> list[str]:
    """The list items' text as a browser shows it (CommonMark, tags dropped, entities decoded)."""
    rendered = MarkdownIt("commonmark").render(markdown)
    assert "<em>" not in rendered and "<code>" not in rendered and "<a " not in rendered, rendered
    return [html.unescape(re.sub(r"<[^>]+>", "", item)) for item in re.findall(r"<li>(.*?)</li>", rendered, re.S)]


def test_each_note_shows_in_full_as_written_and_rows_without_one_are_left_out():
    rows = [{"system": "my_model-1.5:direct", "note": LONG},
            {"system": "b:stepwise", "note": None},
            {"system": "c:direct", "note": "*not* bold; [a](link) `x` <b>1</b> | 2 # 3 _u_"}]
    text = notes_markdown(rows)
    assert text.startswith("**Notes**")
    assert shown_text(text) == [f"my_model-1.5:direct: {LONG}", f"c:direct: {rows[2]['note']}"]


def test_a_board_without_notes_adds_nothing():
    assert notes_markdown([{"system": "a:direct", "note": None}, {"system": "b:direct", "note": ""}]) == ""
    assert notes_markdown([]) == ""
