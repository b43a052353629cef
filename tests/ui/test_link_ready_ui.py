"""A link's instance, model and seed, in a real browser: Run waits for them.

Before: the page's form opened on its defaults (the first track, a random instance, seed 0) and the page's load
event then filled in the link's values. On a loaded machine that event came late, and a Run pressed meanwhile
ran a random UEG instance instead of the linked GEU one (seen as ``test_explore_limits_ui`` failing under load:
its GEU run showed the UEG instance). Now Run is disabled until the load event has filled in the link."""

from __future__ import annotations

from conftest import desktop_page, open_with_load_held, release
from playwright.sync_api import expect


def test_run_waits_for_the_links_values_and_then_runs_the_linked_instance(browser, app):
    uid = app["uids"]["GEU"]
    with desktop_page(browser) as page:
        held = open_with_load_held(page, app, f"tab=explore&instance={uid}&model=tiny-pair&seed=7")
        run = page.locator("#ex-run")
        expect(run).to_be_visible()
        expect(run).to_be_disabled()  # the form still holds its defaults: Run would run them
        expect(page.locator("#ex-seed input")).to_have_value("0")
        release(page, held)
        expect(run).to_be_enabled()
        expect(page.locator("#ex-seed input")).to_have_value("7")
        run.click()
        expect(page.locator("#ex-instance-text")).to_contain_text(uid, timeout=60_000)
        for mode in ("direct", "stepwise"):
            expect(page.locator(f"#ex-{mode}-status")).to_contain_text("done in", timeout=120_000)
    runs = app["store"].runs(model="tiny-pair")
    assert {(r["instance_uid"], r["seed"], r["mode"]) for r in runs} >= {(uid, 7, "direct"), (uid, 7, "stepwise")}, runs
