"""The Leaderboard right after a newcomer's first vote: the board it opens on (UEG, two models) is not the one
the vote went to when the battle was one model's direct against its stepwise. Before, that board said
"no votes yet — play a battle" to someone who just had; now it names the boards that hold the votes. The
judge–human agreement section, an empty table with headers only before, says why it is empty."""

from __future__ import annotations

import pytest
from conftest import launch_app, vote_in_arena
from playwright.sync_api import expect


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """An app of this file's own, on a fresh store: the session's app holds the other files' votes."""
    root = tmp_path_factory.mktemp("ui-app-empty-board")
    demo, url, store = launch_app(root, task_types=["mathematical_reasoning", "mental_tracking"])
    yield {"url": url, "store": store, "demo": demo}
    demo.close()
    store.close()


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
