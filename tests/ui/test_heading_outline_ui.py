"""The page's headings, as a screen reader lists them to move around. Seen in Chromium's accessibility tree: the
page's title is a level-1 heading and Explore's columns ("Direct", "Stepwise") and the Arena's sides ("A", "B")
were level 3, with no level 2 between: a screen reader's outline (and its "next level-2 heading" key) skipped a
level and found no section on those two tabs.

Expected, from WCAG 2.2 technique G141 ("Organizing a page using headings": a heading's level is at most one
deeper than the heading before it) and the HTML standard's note on headings (§4.3.11, "Headings and outlines":
levels nested by rank, without skipping): the headings shown, in document order, start at level 1 and never go
more than one level deeper than the one before.
"""

from __future__ import annotations

import pytest
from conftest import TABS, open_tab, run_in_explore

# the visible headings, in document order, as (level, text)
_HEADINGS = """() => [...document.querySelectorAll('h1, h2, h3, h4, h5, h6, [role=heading]')]
    .filter(h => h.getClientRects().length > 0)
    .map(h => [Number(h.getAttribute('aria-level') || h.tagName.slice(1)), h.textContent.trim().slice(0, 60)])"""


def _skips(headings: list) -> list[str]:
    skips, level = [], 0
    for shown, text in headings:
        if shown > level + 1:
            skips.append(f"{text!r} is level {shown} after level {level}")
        level = shown
    return skips


@pytest.mark.parametrize("tab", TABS)
def test_the_headings_of_each_tab_skip_no_level(page, app, tab):
    open_tab(page, app["url"], tab)
    headings = page.evaluate(_HEADINGS)
    assert headings and headings[0][0] == 1, headings
    assert len(headings) > 1, headings  # the tab's own headings were found, not the page's title alone
    assert not _skips(headings), (_skips(headings), headings)


def test_explore_s_headings_skip_no_level_after_a_run(page, app):
    run_in_explore(page, app["url"])
    headings = page.evaluate(_HEADINGS)
    assert not _skips(headings), (_skips(headings), headings)
