"""A link's seed that Run cannot take is refused with a warning; the form stays usable.

``?seed=99999999999999999999`` (20 digits, accepted by the link's check) reached the page as a number
over 64 bits: every field of the Explore form (source, track, category, instance, model, judge, seed) showed
a red "Error" and no menu could be used. A seed is a whole number from 0 to 2**32 - 1 (the README: "a seed
outside 0..2³²-1" is refused); anything else in a link is named in a warning and the field keeps its value.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

SEED_LIMIT = 2**32 - 1  # the README's seed range


@pytest.mark.parametrize("seed", ["99999999999999999999", str(SEED_LIMIT + 1), "-1", "1e3"])
def test_a_link_seed_run_cannot_take_is_named_and_the_form_stays_usable(page, app, seed):
    page.goto(f"{app['url']}?model=tiny-pair&seed={seed}")
    expect(page.get_by_text(f"The link's seed '{seed}' is not a whole number from 0 to {SEED_LIMIT}")).to_be_visible()
    expect(page.locator("#ex-model input")).to_have_value("tiny-pair")  # the rest of the link still applies
    expect(page.locator("#ex-seed input")).to_have_value("0")
    assert page.locator("#tab-explore .error").count() == 0


@pytest.mark.parametrize("seed", ["0", "42", str(SEED_LIMIT)])
def test_a_link_seed_in_range_is_filled_in(page, app, seed):
    page.goto(f"{app['url']}?model=tiny-pair&seed={seed}")
    expect(page.locator("#ex-seed input")).to_have_value(seed)
    assert page.locator("#tab-explore .error").count() == 0
