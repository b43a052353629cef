"""``AppContext``'s public names of the configured data sources: unique, deterministic, "bundled" kept, mapped back
to the configured source in one place; what a visitor reads names no configured path."""

from __future__ import annotations

import pytest

from realunify_arena.arena import Arena
from realunify_arena.benchmark.generators import generate_set, write_set
from realunify_arena.cards import load_cards
from realunify_arena.context import AppContext
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store

MARKER = "srv secret layout"


def _context(tmp_path, data: tuple[str, ...]) -> AppContext:
    store = Store.open(tmp_path / "arena.db")
    return AppContext(Settings(data=data, judge="human", db=tmp_path / "arena.db"), store,
                      ModelPool(load_cards()), Arena(store))


def test_names_are_folder_names_made_unique_in_order_and_bundled_stays_bundled(tmp_path):
    data = ("/srv/x/bundled", "/srv/a/data", "bundled", "/srv/b/data", "/srv/c/data (2)", "/srv/d/set.parquet")
    ctx = _context(tmp_path, data)
    expected = ["bundled (2)", "data", "bundled", "data (2)", "data (2) (2)", "set.parquet"]  # written by hand
    assert ctx.source_names() == expected
    assert ctx.source_choices() == [(name, name) for name in expected]
    assert _context(tmp_path, data).source_names() == expected  # the same on every start
    for name, source in zip(expected, data):
        assert ctx.configured_source(name) == source
        assert ctx.configured_source(source) == source  # a script may pass what it configured
        assert ctx.source_label(source) == name
    with pytest.raises(KeyError) as refused:
        ctx.configured_source("/srv/e/data")
    assert "/srv/a" not in str(refused.value) and "data (2) (2)" in str(refused.value)


def test_a_twin_source_loads_under_its_dataset_name_and_messages_name_it_publicly(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths, which ``redaction.without_paths`` does not cut
    first, second = f"tmp/{MARKER}/run 1/realunify", f"tmp/{MARKER}/run 2/realunify"
    write_set(generate_set(1, seed=3, task_types=["mathematical_reasoning"]), tmp_path / first)
    ctx = _context(tmp_path, (first, second))  # the second folder does not exist
    assert ctx.dataset("realunify").name == "realunify"  # runs are stored under the dataset's name, as before
    assert ctx.dataset("realunify") is ctx.dataset(first)
    with pytest.raises(KeyError) as missing:
        ctx.dataset("realunify (2)").get("no-such-uid")
    assert MARKER in str(missing.value)  # the loader's own message (the CLI's) keeps the path
    shown = ctx.public_text(str(missing.value))
    assert MARKER not in shown and "realunify (2)" in shown


@pytest.mark.parametrize(("text", "expected"), [  # written by hand
    # a trailing "/" configured: the folder's own files keep their "/" (before: "dataimages/x.png")
    ("cannot open /srv/secret/data/images/x.png", "cannot open data/images/x.png"),
    ("'/srv/secret/data/x.json'", "'data/x.json'"),
    ("/srv/secret/data: no such folder", "data: no such folder"),
    # another folder that starts with a source's name is no part of it (before: "ab/c.json", a folder named)
    ("/srv/a/c.json and /srv/ab/c.json", "a/c.json and c.json"),
    ("read /srv/a.", "read a."),
    # a relative source inside a longer name is not it (before: "metax failed")
    ("metadata/x failed; data/x failed", "metadata/x failed; x failed"),
    # "/" and "./" configured name no folder: a visitor's "/" and "." stay (before: "AdataB", every "." replaced)
    ("choose A/B. Then 1/2.", "choose A/B. Then 1/2."),
])
def test_public_text_replaces_a_source_only_where_its_folder_ends(tmp_path, monkeypatch, text, expected):
    monkeypatch.chdir(tmp_path)
    ctx = _context(tmp_path, ("/srv/secret/data/", "/srv/a", "/", "./", "data/x"))
    assert ctx.source_names()[:2] == ["data", "a"] and ctx.source_names()[-1] == "x"
    assert ctx.public_text(text) == expected
