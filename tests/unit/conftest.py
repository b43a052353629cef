"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

from realunify_arena.arena import SALT_ENV
from realunify_arena.store import Store


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh store whose voter salt is generated (not taken from the environment)."""
    monkeypatch.delenv(SALT_ENV, raising=False)
    s = Store.open(tmp_path / "arena.db")
    yield s
    s.close()
