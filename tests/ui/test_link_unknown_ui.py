"""A link's judge or data source that this app does not offer is named in a warning, as its instance, model and
seed are (hunt26c): before, ``?judge=zzz`` or ``?data=nope`` was dropped without a word, and Run judged with, or
drew from, what the form already held."""

from __future__ import annotations

from playwright.sync_api import expect


def test_a_link_s_unknown_judge_and_source_are_named(page, app):
    page.goto(f"{app['url']}?tab=explore&data=nope&judge=zzz&model=tiny-pair")
    expect(page.get_by_text("The link names judge 'zzz', which this app does not offer")).to_be_visible()
    expect(page.get_by_text("The link names data source 'nope', which this app does not serve")).to_be_visible()
    expect(page.locator("#ex-model input")).to_have_value("tiny-pair")  # the rest of the link still applies
