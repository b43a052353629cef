"""Explore, in a real browser: before any Run, the result columns are laid out for the chosen Track (hunt26c).

Before: with Track GEU chosen (by hand or by a link to a GEU instance) both columns still showed UEG's empty
"Generated image" box until Run, though a GEU run answers in text ("Answer") and its stepwise column edits the
image first ("Edited image (step 1)").
"""

from __future__ import annotations

from playwright.sync_api import expect


def test_columns_follow_the_track_before_a_run(page, app):
    page.goto(app["url"] + "?tab=explore")
    expect(page.locator("#ex-run")).to_be_enabled()  # the page's load event has run
    page.locator("#ex-track").get_by_label("GEU", exact=True).check()
    expect(page.locator("#ex-direct-answer")).to_be_visible()
    expect(page.locator("#ex-stepwise-edited")).to_be_visible()
    expect(page.locator("#ex-stepwise-answer")).to_be_visible()
    expect(page.locator("#ex-direct-image")).to_be_hidden()
    expect(page.locator("#ex-stepwise-image")).to_be_hidden()
    page.locator("#ex-track").get_by_label("UEG", exact=True).check()
    expect(page.locator("#ex-direct-image")).to_be_visible()
    expect(page.locator("#ex-stepwise-refined")).to_be_visible()
    expect(page.locator("#ex-direct-answer")).to_be_hidden()
