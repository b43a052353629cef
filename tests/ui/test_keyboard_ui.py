"""A visitor with a keyboard only. Gradio 6.31 gave each radio button a name of its own, so the arrow keys did not
move a radio group's choice (WAI-ARIA Authoring Practices, "Radio Group": the arrows move the choice within the
group), and its theme drew no focus marker on a menu's field or a radio button (``outline: none``), so the visitor
could not see where the focus was (WCAG 2.2, 2.4.7 "Focus Visible"). Seen in Chromium: Tab reached the Track
radio, ArrowRight left "UEG" chosen; the focused menu looked like an unfocused one.

Expected, from those rules: ArrowRight in a radio group chooses the next button, and the app follows the choice
(Explore's Category menu offers that track's categories); whatever has the focus is drawn with a ring at least
2 px wide.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect


def _tab_to(page, selector: str, most: int = 40) -> None:
    """Press Tab from the page's start until ``selector`` holds the focus (a keyboard-only visitor's way there)."""
    page.locator("body").focus()
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def _ring(page) -> tuple[str, float]:
    """The focus ring drawn around the focused element (a radio button: around its label): style and width."""
    return tuple(page.evaluate("""() => { let e = document.activeElement;
        if (e.type === 'radio') e = e.closest('label');
        const s = getComputedStyle(e); return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"""))


def test_the_arrow_keys_move_explore_s_track_and_the_app_follows(page, app):
    page.goto(app["url"] + "?tab=explore")
    expect(page.locator("#ex-track input[value=UEG]")).to_be_enabled()
    _tab_to(page, "#ex-track input[value=UEG]")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#ex-track input[value=GEU]")).to_be_checked()
    expect(page.locator("#ex-track input[value=GEU]")).to_be_focused()
    page.locator("#ex-category input").click()
    expect(page.get_by_role("option", name="Mental Tracking (MT)")).to_be_visible()


def test_the_arrow_keys_move_the_arena_s_battle_kind(page, app):
    page.goto(app["url"] + "?tab=arena")
    first = page.locator("#ar-kind input[type=radio]").first
    expect(first).to_be_checked()
    expect(first).to_be_enabled()  # the Arena's choices wait for the page's load event, as Explore's form does
    _tab_to(page, "#ar-kind input[type=radio]:checked")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#ar-kind input[type=radio]").nth(1)).to_be_checked()
    expect(first).not_to_be_checked()


@pytest.mark.parametrize("selector", ["#ex-source input", "#ex-track input[value=UEG]", "#ex-seed input",
                                      "#ex-run"])
def test_the_focused_field_is_drawn_with_a_ring(page, app, selector):
    page.goto(app["url"] + "?tab=explore")
    expect(page.locator("#ex-run")).to_be_enabled()
    _tab_to(page, selector)
    style, width = _ring(page)
    assert style != "none" and width >= 2, (selector, style, width)
