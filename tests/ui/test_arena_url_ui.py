"""The Arena's choices are in the address, as Explore's form and the Leaderboard's board are (note 32, "Page"):
before, a visitor who chose track GEU and "one model: direct vs stepwise" and reloaded (or shared the address) got
"any" and "any" again. Only what the next battle is drawn from: never a battle, nor its systems before or after
the vote.

Expected, from what the Arena shows: its query names its track and battle kind (defaults left out); a reload opens
them; a value the Arena does not offer is said and left out; the choices and New battle wait for the link's values.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from conftest import MODELS, desktop_page, open_with_load_held, release, vote_in_arena
from playwright.sync_api import expect

DIRECT_VS_STEPWISE = "one model: direct vs stepwise"
CHOSEN = "?tab=arena&track=GEU&battles=direct_vs_stepwise"


def test_the_address_names_the_arena_s_choices_and_never_a_battle_s_systems(page, app):
    vote_in_arena(page, app, "GEU", DIRECT_VS_STEPWISE, "A")  # chooses, plays one battle, votes: the reveal shows
    expect(page).to_have_url(app["url"] + CHOSEN)
    assert not any(model in page.url for model in MODELS), page.url
    page.reload()
    expect(page.locator("#ar-new")).to_be_enabled()
    expect(page.locator("#ar-track input[value=GEU]")).to_be_checked()
    expect(page.locator("#ar-kind input[value=direct_vs_stepwise]")).to_be_checked()
    expect(page).to_have_url(app["url"] + CHOSEN)


def test_an_arena_link_s_unknown_value_is_said_and_left_out(page, app):
    page.goto(app["url"] + "?tab=arena&track=GEU&battles=nope")
    expect(page.locator("#ar-new")).to_be_enabled()
    expect(page.get_by_text("The link's battles 'nope' is not one of")).to_be_visible()
    expect(page.locator("#ar-track input[value=GEU]")).to_be_checked()
    expect(page).to_have_url(app["url"] + "?tab=arena&track=GEU")


def test_the_arena_s_choices_and_new_battle_wait_for_the_link_s_values(browser, app):
    """New battle pressed before the load event answered drew from the defaults, not the link's choices."""
    with desktop_page(browser) as page:
        held = open_with_load_held(page, app, CHOSEN[1:])
        expect(page.get_by_role("tab", name="Arena")).to_have_attribute("aria-selected", "true")
        expect(page.locator("#ar-new")).to_be_disabled()
        expect(page.locator("#ar-track input[value=UEG]")).to_be_disabled()
        assert dict(parse_qsl(urlsplit(page.url).query)) == {"tab": "arena", "track": "GEU",
                                                             "battles": "direct_vs_stepwise"}  # kept meanwhile
        release(page, held)
        expect(page.locator("#ar-new")).to_be_enabled()
        expect(page.locator("#ar-kind input[value=direct_vs_stepwise]")).to_be_checked()
