"""What a screen reader hears as an event ends (hunt28c, in Debian chromium).

Gradio's status tracker writes each finished event into a polite live region (``role="status"``), through its
own translations; its English lacks the key it uses for a finished event, so after every Run, battle or tab
view the region held, and a screen reader read out, "common.complete". ``ui.launch_options`` now gives Gradio
the English of the keys its frontend uses and lacks (``ui.app.GRADIO_MISSING_ENGLISH``).
"""

from __future__ import annotations

import re

from conftest import vote_in_arena
from playwright.sync_api import expect

# every text the page's live regions hold, in order, from before the page's own script runs
_RECORD = """window.__announced = [];
new MutationObserver(() => document.querySelectorAll('[aria-live]').forEach(e => {
    const text = e.textContent.trim();
    if (text && window.__announced[window.__announced.length - 1] !== text) window.__announced.push(text);
})).observe(document, {subtree: true, childList: true, characterData: true});"""
RAW_KEY = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")  # a translation key, as "common.complete"


def test_a_finished_run_is_announced_in_words_not_as_a_translation_key(page, app):
    page.add_init_script(_RECORD)
    page.goto(app["url"] + "?tab=explore")
    expect(page.locator("#ex-run")).to_be_enabled()
    page.locator("#ex-run").click()
    expect(page.locator("#ex-stepwise-status")).to_contain_text("done in")
    # the run's end is announced: the region's last text is no longer "Loading" or a queue position
    page.wait_for_function("""() => { const last = window.__announced[window.__announced.length - 1];
        return last !== undefined && last !== 'Loading' && !last.startsWith('In queue'); }""")
    announced = page.evaluate("() => window.__announced")
    assert not [text for text in announced if RAW_KEY.match(text)], announced
    assert "Complete" in announced, announced


# every text a live region holds, in order: a region with aria-live, or one of the roles WAI-ARIA 1.2 gives an
# implicit aria-live (status and log: polite; alert: assertive), the way a screen reader follows them
_RECORD_LIVE = """window.__live = [];
new MutationObserver(() => document.querySelectorAll('[aria-live], [role=status], [role=alert], [role=log]')
    .forEach(e => {
        const text = e.textContent.replace(/\\s+/g, ' ').trim();
        if (text && !window.__live.includes(text)) window.__live.push(text);
    })).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});"""


def _heard(page, fragment: str) -> bool:
    return any(fragment in text for text in page.evaluate("() => window.__live"))


def test_a_run_s_end_is_announced_with_what_each_column_says(page, app):
    """Before, the live regions said only "Loading" and "Complete": whether a column was done, and in how long
    (or failed, and why), was on the screen only (WCAG 2.2, 4.1.3 "Status Messages")."""
    page.add_init_script(_RECORD_LIVE)
    page.goto(app["url"] + "?tab=explore")
    expect(page.locator("#ex-run")).to_be_enabled()
    page.locator("#ex-run").click()
    for mode in ("direct", "stepwise"):
        expect(page.locator(f"#ex-{mode}-status")).to_contain_text("done in")
        page.wait_for_function("m => window.__live.some(t => t.startsWith(m + ' ·') && t.includes('done in'))",
                               arg=mode)


def test_a_vote_s_reveal_is_announced(page, app):
    """The reveal after a vote (which system each side was) and each side's end are announced."""
    page.add_init_script(_RECORD_LIVE)
    vote_in_arena(page, app, "UEG", "two models, same mode", "A")
    page.wait_for_function("() => window.__live.some(t => t.includes('You voted'))")
    assert _heard(page, "A: "), page.evaluate("() => window.__live")

