"""Explore's "Judge it yourself" with the judge "human" (hunt28c, in Debian chromium): after "Save my judgment" the
column's verdict is your judgment and the people's majority, and the panel says it was saved.

Before, the panel repeated the whole verdict under "Saved as your judgment": the polling table, the instance score
and the human verdict stood twice, one above the other. With a judge model chosen, the column keeps that model's
verdict, so the panel still shows yours (``test_app_ui``).
"""

from __future__ import annotations

from playwright.sync_api import expect


def test_a_saved_judgment_is_shown_once_when_the_judge_is_human(page, app):
    page.goto(f"{app['url']}?tab=explore&instance={app['uids']['UEG']}&model=tiny-pair&judge=human&seed=11")
    expect(page.locator("#ex-judge input")).to_have_value("human")
    page.locator("#ex-run").click()
    verdict = page.locator("#ex-direct-verdict")
    expect(verdict).to_contain_text("Judge it yourself below.")
    page.get_by_role("button", name="Judge it yourself").first.click()
    page.locator("#ex-direct-judge-box input[type=checkbox]").first.check()
    page.locator("#ex-direct-judge-save").click()
    saved = page.locator("#ex-direct-human-verdict")
    expect(saved).to_contain_text("Saved as your judgment")
    expect(verdict).to_contain_text("Human verdict")
    column = page.locator("#ex-direct-verdict, #ex-direct-human-verdict")
    assert column.get_by_text("Human verdict").count() == 1  # the column's, not the panel's copy
    assert "Instance score" not in saved.inner_text()
