"""What a screen reader hears as an event ends (hunt28c, in Debian chromium).

Gradio's status tracker writes each finished event into a polite live region (``role="status"``), through its
own translations; its English lacks the key it uses for a finished event, so after every Run, battle or tab
view the region held, and a screen reader read out, "common.complete". ``ui.launch_options`` now gives Gradio
the English of the keys its frontend uses and lacks (``ui.app.GRADIO_MISSING_ENGLISH``).
"""

from __future__ import annotations

import re

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
