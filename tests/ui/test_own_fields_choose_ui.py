"""Explore, in a real browser: writing in a field of "Your own instance" chooses "your own" in the Instance menu
and the field's track, so Run runs what the visitor wrote (hunt26c).

Before: a newcomer who opened the accordion, typed a prompt and pressed Run (the menu still on "random") got a
random bundled instance, and their prompt was ignored without a word; the same for a GEU question typed while the
Track was UEG.
"""

from __future__ import annotations

from PIL import Image
from playwright.sync_api import expect


def _open_own(page, app):
    page.goto(app["url"] + "?tab=explore")
    expect(page.locator("#ex-run")).to_be_enabled()  # the page's load event has run
    page.get_by_role("button", name="Your own instance (choose 'your own' above)").click()


def test_typing_your_own_prompt_chooses_your_own_instance(page, app):
    _open_own(page, app)
    page.get_by_label("UEG: text-to-image prompt").fill("A violet kite over a snowy field")
    expect(page.locator("#ex-instance input")).to_have_value("your own (below)")
    page.locator("#ex-run").click()
    expect(page.locator("#ex-instance-text")).to_contain_text("A violet kite over a snowy field")


def test_your_own_geu_fields_choose_your_own_instance_and_the_geu_track(page, app, tmp_path):
    picture = tmp_path / "violet.png"
    Image.new("RGB", (36, 20), "violet").save(picture)
    _open_own(page, app)  # the Track is UEG
    page.get_by_label("GEU: question").fill("Which colour fills this picture?")
    expect(page.locator("#ex-track").get_by_label("GEU", exact=True)).to_be_checked()
    expect(page.locator("#ex-instance input")).to_have_value("your own (below)")
    page.get_by_label("GEU: 4 options, one per line").fill("violet\nred\nblack\nwhite")
    page.locator("#ex-custom-image input[type=file]").set_input_files(str(picture))
    page.locator("#ex-run").click()
    expect(page.locator("#ex-instance-text")).to_contain_text("Which colour fills this picture?")
    expect(page.locator("#ex-direct-verdict")).to_contain_text("Parsed letter")


def test_choosing_your_own_in_the_menu_opens_its_fields(page, app):
    """The other way round (hunt28c): "your own (below)" chosen in the Instance menu left "Your own instance"
    closed, so Run's "Your own UEG instance needs a text-to-image prompt" named a field the page did not show."""
    page.goto(app["url"] + "?tab=explore")
    expect(page.locator("#ex-run")).to_be_enabled()
    prompt = page.get_by_label("UEG: text-to-image prompt")
    expect(prompt).to_be_hidden()  # closed until asked for
    page.get_by_role("combobox", name="Instance").click()
    page.get_by_role("option", name="your own (below)").click()
    expect(prompt).to_be_visible()
    expect(page.get_by_label("GEU: question")).to_be_visible()
