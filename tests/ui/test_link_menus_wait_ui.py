"""A link's values never overwrite a choice made in Explore's menus before the page's load event answered.

Before: Run waited for the load event (``test_link_ready_ui``), but the menus did not. On a loaded machine a
visitor who opened a link and picked another model (or track, instance, judge, seed) before the load event's
answer arrived saw the link's values put back over the choice; a Run then ran what the link named, not what
was chosen. Now every field a link fills in starts disabled, as Run does, and the load event enables it.
The generation settings too: they follow the model, and a link's model set by the load event made a second
round trip whose answer put the model's defaults back over a value typed in the moment before it arrived;
now they start disabled and the load event fills in the linked model's defaults and enables them.
The same for the link's tab: the load event's answer selected it, over a tab clicked meanwhile; now the
browser opens it as the page starts."""

from __future__ import annotations

import json
import re

from conftest import desktop_page, open_with_load_held, release
from playwright.sync_api import expect

# each field a link can fill in, as the page draws it: the input a visitor types or clicks into
FIELDS = {"source": "#ex-source input", "track": "#ex-track input", "category": "#ex-category input",
          "instance": "#ex-instance input", "model": "#ex-model input", "judge": "#ex-judge input",
          "seed": "#ex-seed input"}
# the generation settings tiny-pair takes (its card: steps 2, guidance 3.0, max_new_tokens 8)
SETTINGS = {"steps": "#ex-steps input", "guidance": "#ex-guidance input", "max_new_tokens": "#ex-max-new-tokens input"}


def test_the_link_s_fields_wait_for_its_values_and_a_choice_made_then_stands(browser, app):
    uid = app["uids"]["GEU"]
    with desktop_page(browser) as page:
        held = open_with_load_held(page, app, f"tab=explore&instance={uid}&model=tiny-pair&judge=human&seed=7")
        expect(page.locator("#ex-run")).to_be_disabled()
        page.get_by_text("Generation settings").click()  # open the accordion
        for name, selector in SETTINGS.items():
            expect(page.locator(selector), f"{name} could be typed in before the link's model arrived").to_be_disabled()
        for name, selector in FIELDS.items():
            inputs = page.locator(selector)
            expect(inputs.first).to_be_visible()
            for i in range(inputs.count()):  # both Track radios
                expect(inputs.nth(i), f"{name} could be changed before the link's values arrived").to_be_disabled()
        release(page, held)
        expect(page.locator("#ex-run")).to_be_enabled()
        for name, selector in FIELDS.items():
            expect(page.locator(selector).first, f"{name} stayed disabled after the load event").to_be_enabled()
        for name, selector in SETTINGS.items():
            expect(page.locator(selector), f"{name} stayed disabled after the load event").to_be_enabled()
        expect(page.locator(SETTINGS["guidance"])).to_have_value("3")  # the linked model's default
        page.locator(SETTINGS["guidance"]).fill("4.5")  # typed at once: nothing arrives later to replace it
        # the link's values are in, and a choice made now stands: Run runs it
        expect(page.locator("#ex-track").get_by_label("GEU", exact=True)).to_be_checked()
        expect(page.locator("#ex-model input")).to_have_value("tiny-pair")
        expect(page.locator("#ex-seed input")).to_have_value("7")
        page.locator("#ex-seed input").fill("4")
        page.locator("#ex-run").click()
        for mode in ("direct", "stepwise"):
            expect(page.locator(f"#ex-{mode}-status")).to_contain_text("seed 4", timeout=120_000)
            expect(page.locator(f"#ex-{mode}-status")).to_contain_text("done in", timeout=120_000)
        expect(page.locator("#ex-instance-text")).to_contain_text(uid)
    runs = app["store"].runs(model="tiny-pair")
    assert {(r["instance_uid"], r["seed"], r["mode"]) for r in runs} >= {(uid, 4, "direct"), (uid, 4, "stepwise")}, runs
    ran = [json.loads(r["settings_key"]) for r in runs if (r["instance_uid"], r["seed"]) == (uid, 4)]
    assert ran and all(settings.get("guidance") == 4.5 for settings in ran), ran


def test_a_link_s_tab_opens_at_once_and_a_tab_chosen_then_stands(browser, app):
    # Before: the load event's answer selected the link's tab, after the Arena tab clicked meanwhile
    with desktop_page(browser) as page:
        held = open_with_load_held(page, app, "tab=leaderboard")
        expect(page.get_by_role("tab", name="Leaderboard")).to_have_attribute("aria-selected", "true")
        # opened as a click opens it: its select event filled the board
        expect(page.locator("#lb-summary")).to_contain_text(re.compile(r"\w"))
        page.get_by_role("tab", name="Arena").click()
        expect(page.locator("#ar-new")).to_be_visible()
        release(page, held)
        expect(page.locator("#ex-run")).to_be_enabled()  # the load event has answered
        expect(page.get_by_role("tab", name="Arena")).to_have_attribute("aria-selected", "true")
        expect(page.locator("#ar-new")).to_be_visible()


def test_the_leaderboard_s_board_waits_for_its_link_and_a_choice_made_then_stands(browser, app):
    """The same for a Leaderboard link's board (``track``, ``battles``): its radios wait for the load event."""
    with desktop_page(browser) as page:
        held = open_with_load_held(page, app, "tab=leaderboard&track=GEU&battles=direct_vs_stepwise")
        for selector in ("#lb-track input", "#lb-kind input"):
            expect(page.locator(selector).first).to_be_visible()
            for i in range(page.locator(selector).count()):
                expect(page.locator(selector).nth(i), f"{selector} could be changed before the link's board arrived"
                       ).to_be_disabled()
        release(page, held)
        expect(page.locator("#ex-run")).to_be_enabled()  # the load event has answered
        expect(page.locator("#lb-track input[value=GEU]")).to_be_checked()
        expect(page.locator("#lb-kind input[value=direct_vs_stepwise]")).to_be_checked()
        page.locator("#lb-track").get_by_label("UEG", exact=True).check()  # chosen now: nothing arrives to undo it
        expect(page.locator("#lb-summary")).to_contain_text("UEG · one model: direct vs stepwise")
        expect(page).to_have_url(app["url"] + "?tab=leaderboard&battles=direct_vs_stepwise")
