"""The address bar says what the page shows. Before, the link the page was opened with stayed in it: a visitor
who opened ``?tab=arena`` and moved to the Leaderboard, or opened an Explore link and changed its seed, reloaded
(or shared the address) into the link's tab and values, not the ones on screen.

Expected, from what the page shows: after each move the address's query names the open tab and, on Explore, the
form's instance, model and seed; a reload opens that tab with those values.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

SEED_7 = re.compile(r"[?&]seed=7(&|$)")


def _query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def _tab(page, tab: str):
    return page.locator(f"[role=tab][data-tab-id={tab}]")


def test_the_address_names_the_tab_the_visitor_moved_to(page, app):
    page.goto(app["url"] + "?tab=arena")
    expect(_tab(page, "arena")).to_have_attribute("aria-selected", "true")
    _tab(page, "leaderboard").click()
    expect(page).to_have_url(app["url"] + "?tab=leaderboard")
    page.reload()
    expect(_tab(page, "leaderboard")).to_have_attribute("aria-selected", "true")


def test_the_address_follows_explore_s_form_and_a_reload_opens_it(page, app):
    uid = app["uids"]["UEG"]
    page.goto(f"{app['url']}?tab=explore&instance={uid}&model=tiny-janus&seed=3")
    expect(page.locator("#ex-seed input")).to_have_value("3")
    expect(page.locator("#ex-seed input")).to_be_enabled()
    page.locator("#ex-seed input").fill("7")
    page.locator("#ex-seed input").blur()
    expect(page).to_have_url(SEED_7)
    assert _query(page)["instance"] == [uid] and _query(page)["model"] == ["tiny-janus"]
    _tab(page, "arena").click()
    expect(page).to_have_url(app["url"] + "?tab=arena")
    _tab(page, "explore").click()
    expect(page).to_have_url(SEED_7)
    page.reload()
    expect(page.locator("#ex-seed input")).to_have_value("7")
    expect(page.locator("#ex-instance input")).to_have_value(re.compile(f"^{re.escape(uid)}: "))


def test_a_link_s_value_the_page_could_not_open_leaves_the_address(page, app):
    page.goto(f"{app['url']}?tab=explore&instance=no_such_instance&seed=5")
    expect(page.locator("#ex-seed input")).to_have_value("5")
    expect(page).not_to_have_url(re.compile(r"[?&]instance="))
    assert _query(page)["seed"] == ["5"] and _query(page)["tab"] == ["explore"]


def test_a_reload_keeps_the_track_and_category_run_draws_from(page, app):
    """Track GEU, category Mental Tracking, instance "random": what Run draws from. Before, the address named
    neither, and a reload (or the address shared) drew from UEG's categories again."""
    page.goto(app["url"] + "?tab=explore")
    expect(page.locator("#ex-run")).to_be_enabled()
    page.locator("#ex-track").get_by_label("GEU", exact=True).check()
    expect(page.locator("#ex-category input")).to_have_value("all")
    page.locator("#ex-category input").click()
    page.get_by_role("option", name="Mental Tracking (MT)").click()
    expect(page).to_have_url(re.compile(r"[?&]category=mental_tracking(&|$)"))
    assert _query(page)["track"] == ["GEU"] and "instance" not in _query(page)
    page.reload()
    expect(page.locator("#ex-run")).to_be_enabled()
    expect(page.locator("#ex-track input[value=GEU]")).to_be_checked()
    expect(page.locator("#ex-category input")).to_have_value("Mental Tracking (MT)")
    expect(page.locator("#ex-instance input")).to_have_value("random")
    page.locator("#ex-instance input").click()  # the menu offers that category's instances, as a visitor's choice did
    expect(page.get_by_role("option", name=re.compile(f"^{re.escape(app['uids']['GEU'])}: "))).to_be_visible()


def test_a_shared_link_s_category_of_another_track_is_said_and_left_out(browser, app):
    """``track=GEU&category=mathematical_reasoning`` (a UEG category) in a fresh browser: the track is GEU's, the
    category "all", and the page says which value it left out."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(app["url"] + "?tab=explore&track=GEU&category=mathematical_reasoning")
        expect(page.locator("#ex-run")).to_be_enabled()
        expect(page.locator("#ex-track input[value=GEU]")).to_be_checked()
        expect(page.locator("#ex-category input")).to_have_value("all")
        expect(page.get_by_text("The link's category 'mathematical_reasoning' is not one of track GEU's")
               ).to_be_visible()
        expect(page).not_to_have_url(re.compile(r"[?&]category="))
    finally:
        context.close()


def test_the_address_names_the_leaderboard_s_board_and_a_reload_opens_it(page, app):
    """Track GEU, battles "one model: direct vs stepwise": the board shown. Before, the address stayed
    ``?tab=leaderboard`` and a reload (or the address shared) showed UEG's two-model board."""
    page.goto(app["url"] + "?tab=leaderboard")
    expect(page.locator("#lb-summary")).to_contain_text("UEG · two models, same mode")
    page.locator("#lb-track").get_by_label("GEU", exact=True).check()
    page.locator("#lb-kind").get_by_label("one model: direct vs stepwise", exact=True).check()
    expect(page.locator("#lb-summary")).to_contain_text("GEU · one model: direct vs stepwise")
    expect(page).to_have_url(app["url"] + "?tab=leaderboard&track=GEU&battles=direct_vs_stepwise")
    _tab(page, "explore").click()  # Explore's own track is not the board's
    expect(page).not_to_have_url(re.compile(r"[?&]battles="))
    _tab(page, "leaderboard").click()
    expect(page).to_have_url(app["url"] + "?tab=leaderboard&track=GEU&battles=direct_vs_stepwise")
    page.reload()
    expect(page.locator("#lb-track input[value=GEU]")).to_be_checked()
    expect(page.locator("#lb-summary")).to_contain_text("GEU · one model: direct vs stepwise")
    _tab(page, "explore").click()
    expect(page.locator("#ex-run")).to_be_enabled()
    expect(page.locator("#ex-track input[value=UEG]")).to_be_checked()  # the board's track is not Explore's


def test_a_shared_leaderboard_link_s_unknown_value_is_said_and_left_out(browser, app):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(app["url"] + "?tab=leaderboard&track=GEU&battles=nope")
        expect(page.locator("#lb-summary")).to_contain_text("GEU · two models, same mode")
        expect(page.get_by_text("The link's battles 'nope' is not one of")).to_be_visible()
        expect(page).to_have_url(app["url"] + "?tab=leaderboard&track=GEU")
    finally:
        context.close()
