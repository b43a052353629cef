"""On a 390 px phone no control lies over the page's text (note 32, "Page": the link box's copy button covered the
end of its label, "Link to this run (instance, model, seed)", so "seed)" could not be read).

Expected, from WCAG 2.2, 1.4.10 "Reflow" (content at 320-400 CSS px is readable without loss): no button, field or
icon button of a tab intersects a line box of another element's text.
"""

from __future__ import annotations

import pytest
from conftest import TABS, open_tab, run_in_explore

# every visible control whose box meets (more than 1 px each way) the glyphs of visible text outside it: each text
# node's words, its white space at either end left out. Text a screen reader skips (aria-hidden: Gradio's copy of the
# tab buttons it measures) and a running event's timer (its status tracker, drawn over its box while it runs) are
# left out.
_COVERED = """() => {
    const shown = e => { const r = e.getBoundingClientRect(), s = getComputedStyle(e);
                         return r.width > 0 && r.height > 0 && s.visibility !== 'hidden'; };
    // an image's own button (Gradio's frame of a shown picture) lies under its box's label by design: left out
    const controls = [...document.querySelectorAll('button:not(:has(img)), input, textarea')].filter(shown);
    const words = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const text = node.textContent, start = text.search(/\\S/), end = text.trimEnd().length;
        const owner = node.parentElement;
        if (start < 0 || !shown(owner) || owner.closest('[aria-hidden="true"], [data-testid="status-tracker"]')) {
            continue;
        }
        const range = document.createRange();
        range.setStart(node, start);
        range.setEnd(node, end);
        words.push([owner, [...range.getClientRects()], text.trim()]);
    }
    const covered = [];
    for (const control of controls) {
        const a = control.getBoundingClientRect();
        for (const [owner, rects, text] of words) {
            if (control.contains(owner)) continue;
            if (rects.some(r => Math.min(a.right, r.right) - Math.max(a.left, r.left) > 1
                                && Math.min(a.bottom, r.bottom) - Math.max(a.top, r.top) > 1)) {
                covered.push(`${control.getAttribute('aria-label') || control.id || control.tagName} over `
                             + `"${text.slice(0, 60)}" in #${owner.closest('[id]')?.id}`);
            }
        }
    }
    return covered;
}"""


@pytest.fixture
def phone(browser, app):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True,
                                  has_touch=True)  # a phone's: iPhone 12 to 15 are 390 CSS px wide
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


@pytest.mark.parametrize("tab", TABS)
def test_no_control_covers_text_on_a_phone(phone, app, tab):
    open_tab(phone, app["url"], tab)
    covered = phone.evaluate(_COVERED)
    assert not covered, "\n".join(covered)


def test_no_control_covers_text_on_a_phone_after_a_run(phone, app):
    run_in_explore(phone, app["url"])  # the link box filled, the images with their buttons
    covered = phone.evaluate(_COVERED)
    assert not covered, "\n".join(covered)
