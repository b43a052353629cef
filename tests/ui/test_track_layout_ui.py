"""Explore and the Arena, in a real browser: before any Run or battle, the result boxes are laid out for the chosen
Track (hunt26c).

Before: with Track GEU chosen (by hand or by a link to a GEU instance) both columns still showed UEG's empty
"Generated image" box until Run (the Arena's two sides likewise until New battle), though a GEU run answers in
text ("Answer") and its stepwise column edits the image first ("Edited image (step 1)").
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


def test_arena_sides_follow_the_track_before_a_battle(page, app):
    page.goto(app["url"] + "?tab=arena")
    expect(page.locator("#ar-new")).to_be_enabled()
    page.locator("#ar-track").get_by_label("GEU", exact=True).check()
    for side in ("a", "b"):
        expect(page.locator(f"#ar-{side}-answer")).to_be_visible()
        expect(page.locator(f"#ar-{side}-image")).to_be_hidden()
