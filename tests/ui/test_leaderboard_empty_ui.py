"""The Leaderboard right after a newcomer's first vote: the board it opens on (UEG, two models) is not the one
the vote went to when the battle was one model's direct against its stepwise. Before, that board said
"no votes yet — play a battle" to someone who just had; now it names the boards that hold the votes. The
judge–human agreement section, an empty table with headers only before, says why it is empty."""

from __future__ import annotations

import pytest
from conftest import _launched_app, vote_in_arena
from playwright.sync_api import expect


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """An app of this file's own, on a fresh store: the session's app holds the other files' votes."""
    with _launched_app(tmp_path_factory.mktemp("ui-app-empty-board")) as launched:
        yield launched


def test_an_empty_agreement_table_says_why_instead_of_showing_bare_headers(page, app):
    assert not app["store"].votes()  # the first test of this file: a fresh store
    page.goto(app["url"] + "?tab=leaderboard")
    expect(page.locator("#lb-summary")).to_contain_text("no votes yet — play a battle")
    expect(page.locator("#lb-agreement-empty")).to_contain_text("No voted battle has both sides judged yet")
    expect(page.locator("#lb-agreement")).to_be_hidden()


def test_the_board_shown_after_a_vote_on_another_kind_of_battle_names_where_the_vote_went(page, app):
    vote_in_arena(page, app, "UEG", "one model: direct vs stepwise", "tie")
    expect(page.locator("#ar-reveal")).to_contain_text("You voted: Tie")
    # the store, read independently: exactly one vote, and it is on the direct-vs-stepwise UEG board
    assert [(v["track"], v["kind"]) for v in app["store"].votes()] == [("UEG", "direct_vs_stepwise")]

    page.get_by_role("tab", name="Leaderboard").click()
    summary = page.locator("#lb-summary")
    expect(summary).to_contain_text("UEG · two models, same mode: 0 votes on this board yet")
    expect(summary).to_contain_text("UEG · one model: direct vs stepwise: 1 vote")
    expect(summary).not_to_contain_text("no votes yet")
    page.locator("#lb-kind").get_by_label("one model: direct vs stepwise", exact=True).check()
    expect(summary).to_contain_text("UEG · one model: direct vs stepwise: 1 vote.")


def test_a_filter_changed_while_the_board_loads_is_the_board_shown(page, app):
    """Choose GEU, then the other kind of battle before GEU's board arrives (held here, as a large store or a
    slow network delays it): the board event ran once at a time and dropped the second choice, so the page
    showed GEU's two-models board under the menus saying direct vs stepwise. Now the last choice is shown."""
    page.goto(app["url"] + "?tab=leaderboard")
    summary = page.locator("#lb-summary")
    expect(summary).to_contain_text("UEG · two models, same mode")
    held = []
    page.route("**/queue/join*", lambda route: held.append(route) if not held else route.continue_())
    page.locator("#lb-track").get_by_label("GEU", exact=True).check()
    while not held:
        page.wait_for_timeout(50)
    page.locator("#lb-kind").get_by_label("one model: direct vs stepwise", exact=True).check()
    page.wait_for_timeout(500)  # the second choice's event, had it been sent, has been answered by now
    for route in held:
        route.continue_()
    page.unroute("**/queue/join*")
    expect(summary).to_contain_text("GEU · one model: direct vs stepwise", timeout=30_000)
    expect(page.locator("#lb-track input:checked")).to_have_value("GEU")
    expect(page.locator("#lb-kind input:checked")).to_have_value("direct_vs_stepwise")
