"""What a newcomer reads after a first Arena vote, with no Explore run made (hunt28c, in Debian chromium).

Failing cases on the old code:
- the reveal of a GEU battle said "judge score 0" for each side, though no judge model looks at a GEU answer: its
  score is the parsed letter checked against the expected one (Explore and the Leaderboard both say so);
- the Leaderboard said "2 runs made in Explore are not in this table" when the only runs were the battle's;
- the board the Leaderboard opens on (UEG, two models) showed an empty ratings table of bare headers under
  "0 votes on this board yet", as the judge–human agreement table did before it was fixed.
"""

from __future__ import annotations

import re

import pytest
from conftest import _launched_app, vote_in_arena
from playwright.sync_api import expect

from realunify_arena.judge import ANSWER_PARSER


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """An app of this file's own, on a fresh store: no Explore run, no vote yet."""
    with _launched_app(tmp_path_factory.mktemp("ui-first-vote")) as launched:
        yield launched


def test_after_a_first_geu_vote_the_reveal_and_the_leaderboard_say_what_happened(page, app):
    store = app["store"]
    assert not store.runs() and not store.votes()  # a fresh store: whatever runs follow are the battle's
    vote_in_arena(page, app, "GEU", "one model: direct vs stepwise", "A")
    reveal = page.locator("#ar-reveal")
    battle_runs = store.runs()
    assert len(battle_runs) == 2
    for run in battle_runs:  # GEU is scored by its letter, stored under the answer parser: no judge model
        assert store.find_judgment(run["id"], ANSWER_PARSER) is not None
    expect(reveal).not_to_contain_text("judge score")
    for side in ("A", "B"):  # the letter checked against the expected one, as the page says elsewhere
        expect(reveal).to_contain_text(re.compile(rf"{side} was \S+ \(answer score [01]: letter \S+, expected [A-D]\)"))

    page.goto(app["url"] + "?tab=leaderboard")
    benchmark = page.locator("#lb-benchmark")
    expect(benchmark).to_contain_text("2 runs made in Explore or for Arena battles are not in this table")
    board, summary = page.locator("#lb-board"), page.locator("#lb-summary")
    # the board that holds the vote shows its table ...
    page.locator("#lb-track").get_by_label("GEU", exact=True).check()
    page.locator("#lb-kind").get_by_label("one model: direct vs stepwise", exact=True).check()
    expect(board).to_contain_text("tiny-pair:direct")
    # ... and one with no vote says so, with no table of bare headers under "0 votes"
    page.locator("#lb-track").get_by_label("UEG", exact=True).check()
    expect(summary).to_contain_text("UEG · one model: direct vs stepwise: 0 votes on this board yet")
    expect(board).to_be_hidden()


def test_the_discordant_instance_menus_are_hidden_while_nothing_is_paired(page, app):
    """Before (hunt28c): an empty "Model and category with discordant instances" menu, with nothing to choose, and
    a "stepwise helped / hurt" choice that changed nothing, stood under "Nothing to pair yet"."""
    page.goto(app["url"] + "?tab=leaderboard")
    expect(page.locator("#lb-paired-empty")).to_contain_text("Nothing to pair yet")
    expect(page.locator("#lb-discordant")).to_contain_text("No instance changed between direct and stepwise yet")
    expect(page.locator("#lb-paired-category")).to_be_hidden()
    expect(page.locator("#lb-paired-which")).to_be_hidden()


def test_the_arena_link_box_says_how_it_fills_before_a_battle(page, app):
    """Before (hunt28c): an empty box with a copy button and no word, where Explore's says "Run an instance of a data
    source to get its link"."""
    page.goto(app["url"] + "?tab=arena")
    box = page.locator("#ar-link textarea")
    expect(box).to_have_value("")
    expect(box).to_have_attribute("placeholder", "Start a new battle to get the link of its instance")
