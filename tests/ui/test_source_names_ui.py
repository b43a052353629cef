"""The Explore page names data sources by their public names: the menu, the page's HTML and the "Link to this
run" box never show the server path a source was configured with, and a link's ``data`` reopens the source."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, quote

import pytest
from playwright.sync_api import expect
from unlimited import NOT_LIMITED

from realunify_arena.benchmark import load
from realunify_arena.benchmark.generators import generate_set, write_set
from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.ui import build_demo, launch_options

MARKER = "srv secret layout"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """Two configured sources of one folder name (the same instances) and a third, under paths holding ``MARKER``
    (the conftest's ``page`` opens this app)."""
    root = tmp_path_factory.mktemp("twin")
    folders = [root / "tmp" / MARKER / f"run {n}" / "realunify" for n in (1, 2)]
    for folder in folders:
        write_set(generate_set(1, seed=5, task_types=["mathematical_reasoning"]), folder)
    folders.append(root / "tmp" / MARKER / "run 3" / "other")  # a dataset of its own name, not the first
    write_set(generate_set(1, seed=6, task_types=["mathematical_reasoning"]), folders[2])
    settings = Settings(data=tuple(map(str, folders)), models=("tiny-pair",), judge="human", db=root / "arena.db",
                        gpu_concurrency=2, **NOT_LIMITED)  # the module's tests share it
    store = Store.open(settings.db)
    demo = build_demo(settings, store, ModelPool(load_cards()))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    uid = next(i.uid for i in load(str(folders[1])).instances if i.track == "UEG")
    yield {"url": url, "uid": uid, "folders": [str(f) for f in folders]}
    demo.close()
    store.close()


def test_the_link_names_the_source_by_its_public_name_and_reopens_it(page, app):
    """Before: the link box said ``data=<the configured path>``, the menu's value."""
    page.goto(app["url"] + "?tab=explore")
    expect(page.locator("#ex-source input")).to_have_value("realunify")
    assert MARKER not in page.content()
    page.locator("#ex-source input").click()
    page.get_by_role("option", name="realunify (2)", exact=True).click(timeout=10_000)
    page.locator("#ex-run").click()
    link = page.locator("#ex-link textarea, #ex-link input").first
    expect(link).to_have_value(re.compile(r"\?tab=explore&"))
    value = link.input_value()
    assert MARKER not in value and quote(MARKER) not in value and "secret" not in value
    query = parse_qs(value.split("?", 1)[1])
    assert query["data"] == ["realunify (2)"]
    assert MARKER not in page.content()

    page.goto(value)  # the copied link opens the same source and instance
    expect(page.locator("#ex-source input")).to_have_value("realunify (2)")
    expect(page.locator("#ex-instance input")).to_have_value(re.compile(f"^{query['instance'][0]}: "))


def test_an_older_link_with_the_configured_path_still_opens_its_source(page, app):
    page.goto(f"{app['url']}?tab=explore&data={quote(app['folders'][1])}&instance={app['uid']}")
    expect(page.locator("#ex-source input")).to_have_value("realunify (2)")
    expect(page.locator("#ex-instance input")).to_have_value(re.compile(f"^{app['uid']}: "))


def test_the_arena_link_names_the_source_by_its_public_name(page, app):
    """Before: the Arena's link to a battle's instance of a source after the first said its configured path."""
    page.goto(app["url"] + "?tab=arena")
    page.locator("#ar-source input").click()
    page.get_by_role("option", name="other", exact=True).click(timeout=10_000)
    page.locator("#ar-track").get_by_label("UEG", exact=True).check()
    page.locator("#ar-new").click()
    link = page.locator("#ar-link textarea, #ar-link input").first
    expect(link).to_have_value(re.compile(r"\?tab=explore&"))
    value = link.input_value()
    assert "secret" not in value and parse_qs(value.split("?", 1)[1])["data"] == ["other"]
    assert MARKER not in page.content()
