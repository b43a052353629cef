"""Names and texts from outside show in the page's menus as what they are: a data source named after a folder
whose name holds a right-to-left override (U+202E) and a prompt holding one. The browser draws the characters
after an override reversed ("evil\u202egnp.exe" read "evilexe.png" in the Data source menu, as seen in Chromium),
so a menu label showed another name than the folder's.

Expected, from the names themselves: the label the browser shows holds no bidi control, and names it visibly
(``[U+202E]``) between the name's own characters in their order.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect
from unlimited import NOT_LIMITED

from realunify_arena.benchmark.generators import generate_set, write_set
from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.ui import build_demo, launch_options

REVERSED = "evil\u202egnp.exe"
PROMPT_MARK = "drawn \u202ekcab"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """Two sources, "realunify" (its first UEG prompt starting with ``PROMPT_MARK``) and ``REVERSED``."""
    root = tmp_path_factory.mktemp("names")
    folders = [root / "a" / "realunify", root / "b" / REVERSED]
    for folder in folders:
        write_set(generate_set(1, seed=5, task_types=["mathematical_reasoning"]), folder)
    for name in ("UEG_direct.json", "UEG_step.json"):
        entries = json.loads((folders[0] / name).read_text(encoding="utf-8"))
        entries[0]["prompt"] = f"{PROMPT_MARK} {entries[0]['prompt']}"
        (folders[0] / name).write_text(json.dumps(entries), encoding="utf-8")
    settings = Settings(data=tuple(map(str, folders)), models=("tiny-pair",), judge="human", db=root / "arena.db",
                        gpu_concurrency=2, **NOT_LIMITED)
    store = Store.open(settings.db)
    demo = build_demo(settings, store, ModelPool(load_cards()))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    yield {"url": url}
    demo.close()
    store.close()


def _options(page, menu: str) -> list[str]:
    page.locator(f"{menu} input").click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible()
    texts = options.all_inner_texts()
    page.keyboard.press("Escape")
    return [t.removeprefix("✓").strip() for t in texts]


@pytest.mark.parametrize("tab, menu", [("explore", "#ex-source"), ("arena", "#ar-source")])
def test_a_source_named_with_a_bidi_override_shows_as_it_is_in_the_source_menu(page, app, tab, menu):
    page.goto(f"{app['url']}?tab={tab}")
    shown = _options(page, menu)
    assert "evil[U+202E]gnp.exe" in shown, shown
    assert not [t for t in shown if "\u202e" in t], shown


def test_a_prompt_with_a_bidi_override_shows_as_it_is_in_the_instance_menu(page, app):
    page.goto(f"{app['url']}?tab=explore")
    shown = [t for t in _options(page, "#ex-instance") if "drawn" in t]
    assert shown and "drawn [U+202E]kcab" in shown[0] and "\u202e" not in shown[0], shown


def test_the_problems_heading_names_the_source_as_it_is(page, app):
    page.goto(f"{app['url']}?tab=explore")
    page.locator("#ex-source input").click()
    page.get_by_role("option", name="evil[U+202E]gnp.exe", exact=True).click(timeout=10_000)
    heading = page.locator("strong", has_text="problem(s) in")
    expect(heading).to_contain_text("problem(s) in evil[U+202E]gnp.exe")
    assert "\u202e" not in heading.inner_text()
