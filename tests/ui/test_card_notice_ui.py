"""What the page says about a model card is plain text: no element, no remote request, no server folder.

The page names each card it could not read with its problem (``app.card_notice``), and a problem quotes the
card's wrong value. That notice was escaped only as HTML, not as Markdown: a card (a hostile pull request, or a
value pasted from somewhere) whose field held ``![x](https://evil.example/t.png)`` put a remote image on the
page, fetched by every visitor (a tracking beacon), and ``[sign in](https://evil.example/login)`` a link on
the app's own origin; the notice also named the server's folder of the cards. The same for the note under
Explore's model menu (``explore.model_note``), which quotes an unavailable card's reason, and the reason quotes
card fields (its ``serve`` command, its checkpoint): it was not escaped at all. The real ``app.build_app`` on a
models folder with such cards, launched, in Debian chromium.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from conftest import requests_to
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
EVIL = "evil.example"
FIELD = (f"![x](https://{EVIL}/t.png) [sign in](https://{EVIL}/login) <img src=https://{EVIL}/i.png> "
         f"<https://{EVIL}/auto> **bold** # heading")


@pytest.fixture
def card_app(tmp_path):
    sys.path.insert(0, str(ROOT))
    import app as entry
    from realunify_arena.settings import Settings
    from realunify_arena.store import Store
    from realunify_arena.ui import launch_options

    models = tmp_path / "server-folder-of-cards"
    models.mkdir()
    shutil.copy(ROOT / "models" / "tiny-pair.yaml", models)
    (models / "hostile.yaml").write_text(f"family: '{FIELD}'\ndescription: d\ncapabilities: [understand]\n"
                                         "checkpoint: m\n", encoding="utf-8")
    # a good card whose endpoint does not answer (port 9, discard: nothing listens): its reason quotes ``serve``
    (models / "hostile-serve.yaml").write_text(f"family: openai\ndescription: d\ncapabilities: [understand]\n"
                                               f"endpoint: http://127.0.0.1:9/v1\ncheckpoint: m\n"
                                               f"serve: '{FIELD}'\n", encoding="utf-8")
    settings = Settings(models_dir=models, judge="human", db=tmp_path / "arena.db")
    store = Store.open(settings.db)
    demo = entry.build_app(settings, store)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    try:
        yield url, models
    finally:
        demo.close()
        store.close()


def _no_element(node) -> None:
    made = node.locator("a, img, h1, h2, h3, em, code, li li")
    assert made.count() == 0, [made.nth(i).evaluate("e => e.outerHTML") for i in range(made.count())]


def test_a_hostile_card_is_named_as_text_without_an_element_or_a_request(page, card_app):
    url, models = card_app
    fetched = requests_to(page, EVIL)
    page.goto(url)
    notice = page.locator("#card-problems")
    expect(notice).to_contain_text("hostile.yaml: field 'family': expected one of")
    expect(notice).to_contain_text(FIELD)
    _no_element(notice)
    assert notice.locator("strong").all_inner_texts() == ["1 model card(s) could not be read and are left out:"]
    assert models.name not in notice.inner_text()
    assert fetched == []


def test_an_unavailable_cards_reason_under_the_model_menu_is_text(page, card_app):
    url, _ = card_app
    fetched = requests_to(page, EVIL)
    page.goto(f"{url}?tab=explore&model=hostile-serve")
    note = page.locator("#ex-model-note")
    expect(note).to_contain_text("cannot run here: its endpoint is not answering")
    expect(note).to_contain_text(f"start it with: {FIELD}")
    _no_element(note)
    assert note.locator("strong").all_inner_texts() == ["hostile-serve"]
    assert fetched == []
