"""Opening the Arena tab starts no battle: a report said tiny-emu3 runs appeared when a visitor only opened the tab.

Checked in Chromium (session 22: refuted, the page sent only its load event and, on the Leaderboard tab, the
board's events); this keeps it so. Every event the page asks the server to start is recorded, in the order sent:
the Leaderboard's board arriving after the Arena tab was opened means anything opening the Arena sent was sent
before it, so no wait is needed."""

from __future__ import annotations

import pytest
from conftest import _launched_app, fn_indices
from playwright.sync_api import expect


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """An app of this file's own, on a fresh store: the session's app holds the other files' battles."""
    with _launched_app(tmp_path_factory.mktemp("ui-app-arena-open")) as launched:
        yield launched


@pytest.mark.parametrize("how", ["click", "link"])
def test_opening_the_arena_tab_starts_no_battle_and_runs_no_model(page, app, how):
    sent: list[int] = []
    page.on("request", lambda request: sent.append((request.post_data_json or {}).get("fn_index"))
            if "/queue/join" in request.url else None)
    if how == "click":
        page.goto(app["url"])
        expect(page.locator("#ex-run")).to_be_enabled()  # the page's load event has answered
        page.get_by_role("tab", name="Arena").click()
    else:
        page.goto(app["url"] + "?tab=arena")
    expect(page.locator("#ar-new")).to_be_visible()
    page.get_by_role("tab", name="Leaderboard").click()
    expect(page.locator("#lb-summary")).to_contain_text("no votes yet")

    battle_events = set().union(*(fn_indices(app["demo"], name) for name in ("start", "generate", "new_battle")))
    assert battle_events and not battle_events & set(sent)
    assert app["store"].counts()["battles"] == 0 and app["store"].counts()["runs"] == 0
    expect(page.locator("#ar-vote-A")).to_be_disabled()
