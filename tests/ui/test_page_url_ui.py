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
