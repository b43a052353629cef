"""Explore's Run, in a real browser: new model runs count against the visitor's run limit (a stored run
shown again does not), and a refusal names no server folder.

Before: Run had no limit (each new seed ran both columns' model and stored two runs), and a data source
instance whose input image was gone failed with a bare "Error" badge (the path went to the log)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import desktop_page
from playwright.sync_api import expect

from realunify_arena.benchmark import load
from realunify_arena.benchmark.generators import generate_set, write_set
from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.ui import build_demo, launch_options


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    root = tmp_path_factory.mktemp("srv-secret-layout")
    write_set(generate_set(1, seed=5, task_types=["mathematical_reasoning", "mental_tracking"]), root / "data")
    settings = Settings(data=(str(root / "data"),), models=("tiny-pair",), judge="human", db=root / "arena.db",
                        gpu_concurrency=2, run_limit=2, run_window=3600)
    store = Store.open(settings.db)
    demo = build_demo(settings, store, ModelPool(load_cards()))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())
    instances = {i.track: i for i in load(root / "data").instances}
    yield {"url": url, "root": root, "instances": instances, "store": store}
    demo.close()
    store.close()


@pytest.fixture()
def page(browser):
    with desktop_page(browser) as page:
        yield page


def _run(page, app, track: str, seed: int) -> None:
    page.goto(f"{app['url']}?tab=explore&instance={app['instances'][track].uid}&model=tiny-pair&seed={seed}")
    expect(page.locator("#ex-seed input")).to_have_value(str(seed))
    page.locator("#ex-run").click()


def test_run_counts_new_runs_only_and_a_gone_image_names_no_folder(page, limited):
    _run(page, limited, "UEG", 0)  # two new runs: the limit of 2 is used up
    for mode in ("direct", "stepwise"):
        expect(page.locator(f"#ex-{mode}-status")).to_contain_text("done in")
    _run(page, limited, "UEG", 1)
    expect(page.locator("#ex-instance-text")).to_contain_text("Not run: rate limit: at most 2 new runs per 3600 s")
    assert limited["store"].counts()["runs"] == 2
    _run(page, limited, "UEG", 0)  # both runs are stored: shown again, not refused
    for mode in ("direct", "stepwise"):
        expect(page.locator(f"#ex-{mode}-status")).to_contain_text("stored run #")

    image = Path(limited["instances"]["GEU"].image_path)
    image.unlink()
    _run(page, limited, "GEU", 0)
    shown = page.locator("#ex-instance-text")
    expect(shown).to_contain_text("Not run:")
    expect(shown).to_contain_text(image.name)
    assert str(limited["root"]) not in shown.inner_text() and "srv-secret-layout" not in shown.inner_text()
