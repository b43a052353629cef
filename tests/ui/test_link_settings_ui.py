"""Explore's link carries the generation settings (diffusion steps, guidance scale, max new tokens), as it carries
the instance, model and seed: before, ``?steps=5&guidance=2.5`` was dropped without a word, the form showed the
card's defaults, and neither the address nor the "Link to this run" named a setting changed from them, so a shared
run could not be made again from its link.

Expected, from the model cards (tiny-pair: 2 steps, guidance 3, 8 new tokens; tiny-janus: guidance 5, 8 new
tokens, no diffusion steps; a tiny card's max new tokens at most 256, ``limits.TINY_LIMITS``): a link's settings
fill the fields and stay in the address and in Run's link; one the card does not use, or outside its limits, or
not a number, is said and the field keeps the card's default; settings left at the defaults are not written."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from conftest import TABS
from playwright.sync_api import expect

SETTINGS = "Generation settings (empty: the card's default)"


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_a_link_s_settings_fill_the_form_and_stay_in_the_address_and_run_s_link(page, app):
    page.goto(app["url"] + "?tab=explore&model=tiny-pair&steps=5&guidance=2.5&max_new_tokens=16")
    expect(page.locator("#ex-run")).to_be_enabled()
    page.get_by_text(SETTINGS).click()
    expect(page.locator("#ex-steps input")).to_have_value("5")
    expect(page.locator("#ex-guidance input")).to_have_value("2.5")
    expect(page.locator("#ex-max-new-tokens input")).to_have_value("16")
    expect(page).to_have_url(re.compile(r"[?&]max_new_tokens=16(&|$)"))
    query = _query(page.url)
    assert query["tab"] == [TABS[0]]  # Explore
    assert (query["steps"], query["guidance"], query["max_new_tokens"]) == (["5"], ["2.5"], ["16"])
    page.locator("#ex-guidance input").fill("3")  # back to the card's default: no longer written
    page.locator("#ex-guidance input").blur()
    expect(page).not_to_have_url(re.compile(r"[?&]guidance="))
    page.locator("#ex-run").click()
    for mode in ("direct", "stepwise"):
        expect(page.locator(f"#ex-{mode}-status")).to_contain_text("done in")
    link = page.locator("#ex-link textarea, #ex-link input").first
    expect(link).to_have_value(re.compile(r"[?&]steps=5(&|$)"))
    made = _query(link.input_value())
    assert (made["steps"], made["max_new_tokens"], "guidance" in made) == (["5"], ["16"], False)


def test_a_link_s_setting_the_card_does_not_take_is_said_and_the_default_kept(page, app):
    page.goto(app["url"] + "?tab=explore&model=tiny-janus&steps=7&guidance=abc&max_new_tokens=99999")
    expect(page.locator("#ex-run")).to_be_enabled()
    expect(page.get_by_text("The link's steps '7' is not taken: 'tiny-janus' does not use it")).to_be_visible()
    expect(page.get_by_text("The link's guidance 'abc' is not a number")).to_be_visible()
    expect(page.get_by_text("The link's max_new_tokens '99999' is not taken")).to_be_visible()
    page.get_by_text(SETTINGS).click()
    expect(page.locator("#ex-guidance input")).to_have_value("5")
    expect(page.locator("#ex-max-new-tokens input")).to_have_value("8")
    expect(page.locator("#ex-steps")).to_be_hidden()
    expect(page).to_have_url(re.compile(r"[?&]model=tiny-janus(&|$)"))
    assert not {"steps", "guidance", "max_new_tokens"} & set(_query(page.url))


def test_a_link_s_settings_for_a_model_this_app_does_not_offer_stay_off_the_form_s_model(page, app):
    """A link's settings are its model's: before, with ``model=`` a card this app does not offer (a link from an
    app with other --models), they were checked against the form's model, tiny-pair, filled in and run with it,
    without a word. Expected: each is said, naming that model, and the fields keep tiny-pair's defaults (2 steps,
    guidance 3), which the address leaves out."""
    page.goto(app["url"] + "?tab=explore&model=janus-pro-7b&steps=40&guidance=7.5")
    expect(page.locator("#ex-run")).to_be_enabled()
    expect(page.get_by_text("The link's steps '40' is not taken: it is set for model 'janus-pro-7b'")).to_be_visible()
    expect(page.get_by_text("The link's guidance '7.5' is not taken: it is set for model 'janus-pro-7b'")
           ).to_be_visible()
    page.get_by_text(SETTINGS).click()
    expect(page.locator("#ex-model input")).to_have_value("tiny-pair")
    expect(page.locator("#ex-steps input")).to_have_value("2")
    expect(page.locator("#ex-guidance input")).to_have_value("3")
    expect(page).to_have_url(re.compile(r"[?&]model=tiny-pair(&|$)"))
    assert not {"steps", "guidance"} & set(_query(page.url))
