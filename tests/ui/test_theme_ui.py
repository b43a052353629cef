"""The UI tests' app (and so ``scripts/screenshots.py``, which launches it) looks like ``app.py``'s: Gradio 6
takes the theme at launch, and only ``app.py`` passed it, so the README screenshots showed Gradio's default
orange page while visitors get the indigo one."""

from __future__ import annotations

import time

import gradio as gr
from playwright.sync_api import expect


def _rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(h[i:i + 2], 16) for i in (0, 2, 4)))


def test_the_tested_and_screenshotted_page_has_the_app_s_indigo_primary_colour(page, app):
    page.goto(app["url"] + "?tab=explore")
    run = page.locator("#ex-run")
    expect(run).to_be_enabled()  # disabled until the page's load event (a disabled button is drawn paler)
    shades = {_rgb(getattr(gr.themes.colors.indigo, f"c{n}")) for n in (50, *range(100, 1000, 100), 950)}
    deadline = time.monotonic() + 10
    while True:  # the colour eases from the disabled look to the enabled one (CI read rgb(122, 132, 246) mid-way)
        colour = run.evaluate("e => getComputedStyle(e).backgroundColor")
        if colour in shades or time.monotonic() > deadline:
            break
        page.wait_for_timeout(100)
    oranges = {_rgb(getattr(gr.themes.colors.orange, f"c{n}")) for n in (50, *range(100, 1000, 100), 950)}
    assert colour in shades and colour not in oranges, colour
