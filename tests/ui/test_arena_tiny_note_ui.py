"""The Arena's tiny-model note follows the runs a stored-mode battle can show as they are when the page loads,
not as they were when the app started.

The failing case (verify27b): the note was decided once, when the page was built. Runs pinned after that
(``eval`` or ``import-results`` into the running app's store, as the README's stored-mode steps do, or a
replica's merge of the dataset repo's newer snapshot before each push) were drawn into battles at once, while
the page kept saying nothing about the tiny random-weight models among them (and went on saying it after they
were unpinned). The real Blocks over a real SQLite store, launched, in Debian chromium.
"""

from __future__ import annotations

import contextlib

import pytest
from conftest import desktop_page
from playwright.sync_api import expect
from unlimited import NOT_LIMITED

from tests.unit.test_arena_tiny_note import NOTE, _published


@pytest.fixture
def stored_app(tmp_path):
    from realunify_arena.cards import load_cards
    from realunify_arena.runtime import ModelPool
    from realunify_arena.settings import Settings
    from realunify_arena.store import Store
    from realunify_arena.ui import build_demo, launch_options

    settings = Settings(db=tmp_path / "arena.db", arena_mode="stored", judge="human", **NOT_LIMITED)
    with contextlib.closing(Store.open(settings.db)) as store:
        _published(tmp_path, "runner-x", store)
        demo = build_demo(settings, store, ModelPool(load_cards()))
        with contextlib.closing(demo):
            _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
            yield url, store


def test_the_note_follows_runs_pinned_and_unpinned_after_the_app_started(browser, stored_app, tmp_path):
    url, store = stored_app
    with desktop_page(browser) as page:
        _follows(page, url, store, tmp_path)


def _follows(page, url, store, tmp_path) -> None:
    page.goto(url + "?tab=arena")
    expect(page.locator("#ar-new")).to_be_visible()
    expect(page.get_by_text(NOTE)).to_have_count(0)  # runner-x's runs only
    _published(tmp_path, "tiny-janus", store)  # pinned while the app runs: battles can draw them now
    page.reload()
    expect(page.get_by_text(NOTE)).to_be_visible()
    store.pin([run["id"] for run in store.runs(model="tiny-janus")], pinned=False)
    page.reload()
    expect(page.locator("#ar-new")).to_be_visible()
    expect(page.get_by_text(NOTE)).to_have_count(0)
