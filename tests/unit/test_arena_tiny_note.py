"""The Arena says "Some systems here are tiny random-weight test models" only where a battle can show one.

The failing case (hunt27b, in Chromium): a stored-mode app (the README's CPU Space: imported runs, every card
left offered as the README advises) said it above battles of imported real models only, since the note looked
at the offered cards, which always include the tiny ones. In stored mode battles show pinned runs only, so the
note now follows the models of those runs; live battles run the offered cards, as before.

The page is the real Blocks over a real SQLite store and the project's cards; the note is read from the config
the browser is sent.
"""

from __future__ import annotations

import json

import pytest
from PIL import Image
from unlimited import NOT_LIMITED

from realunify_arena.benchmark import load
from realunify_arena.benchmark.writer import official_entry
from realunify_arena.cards import load_cards
from realunify_arena.importing import import_results
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.ui import build_demo

NOTE = "Some systems here are tiny random-weight test models"


def _page_says_tiny(settings: Settings, store: Store) -> bool:
    demo = build_demo(settings, store, ModelPool(load_cards()))
    texts = [c.get("props", {}).get("value") for c in demo.get_config_file()["components"]]
    return any(isinstance(t, str) and NOTE in t for t in texts)


def _published(tmp_path, model_name: str, store: Store) -> None:
    """One bundled UEG instance's direct and stepwise results imported as ``model_name`` (pinned runs)."""
    bundled = load("bundled")
    inst = next(i for i in bundled.instances if i.track == "UEG")
    folder = tmp_path / model_name
    folder.mkdir()
    Image.new("RGB", (16, 16), "orange").save(folder / "0.png")
    for mode, name in (("direct", "UEG_direct.json"), ("step", "UEG_step.json")):
        entry = {**official_entry(inst, mode), "response": "a cube", "generated_image": str(folder / "0.png")}
        (folder / name).write_text(json.dumps([entry]), encoding="utf-8")
    assert import_results(store, folder, model_name, data=bundled).new == 2


@pytest.mark.parametrize("imported, says", [("runner-x", False), ("tiny-janus", True)])
def test_a_stored_arena_names_tiny_models_only_when_its_pinned_runs_hold_one(tmp_path, imported, says):
    settings = Settings(db=tmp_path / "arena.db", arena_mode="stored", judge="human", **NOT_LIMITED)
    store = Store.open(settings.db)
    try:
        _published(tmp_path, imported, store)
        assert _page_says_tiny(settings, store) is says
    finally:
        store.close()


@pytest.mark.parametrize("models, says", [(("tiny-pair", "tiny-janus"), True), (("gpt-4.1", "gpt-image-1"), False)])
def test_a_live_arena_names_tiny_models_when_it_offers_one(tmp_path, models, says):
    settings = Settings(db=tmp_path / "arena.db", models=models, judge="human", **NOT_LIMITED)
    store = Store.open(settings.db)
    try:
        assert _page_says_tiny(settings, store) is says
    finally:
        store.close()
