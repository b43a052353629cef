"""Test-wide isolation: no network, no analytics, temp folders for Gradio and the tiny-model cache."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import asyncio  # noqa: E402 - below the environment, which must be set before anything imports the hub
import gc  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

TESTS = Path(__file__).parent
# Tiers whose tests may share an event loop marked running in the main thread between tests: the ui tier's
# Playwright sync API (one browser for the folder, closed as the run leaves it, see tests/ui/conftest.py).
SHARED_LOOP_TIERS = {"ui"}
_first_seen: dict[int, str] = {}  # id of a loop left running -> the test after which it was first seen


def _tier(item) -> str | None:
    parts = Path(str(item.path)).relative_to(TESTS).parts
    return parts[0] if len(parts) > 1 else None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    """Fail the test (an error at its teardown, naming it) after which an event loop is still marked running
    in the main thread: later tests' ``asyncio.run`` refuses to start there ("cannot be called from a running
    event loop"), far from the cause. A tier in ``SHARED_LOOP_TIERS`` is checked as the run leaves it."""
    try:
        return (yield)
    finally:
        loop = asyncio._get_running_loop()
        tier = _tier(item)
        leaving = nextitem is None or _tier(nextitem) != tier
        if loop is None:
            _first_seen.clear()
        else:
            first = _first_seen.setdefault(id(loop), item.nodeid)
            if tier not in SHARED_LOOP_TIERS or leaving:
                _first_seen.clear()
                raise RuntimeError(
                    f"an event loop is still running in the main thread after {item.nodeid}"
                    + (f" (first seen after {first})" if first != item.nodeid else "")
                    + f": {loop!r}. A sync_playwright() never stopped, or a loop run_until_complete never left;"
                    " later tests' asyncio.run refuses to start under it")


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    """Move every object alive once the tests are collected (the modules torch, transformers, diffusers, Gradio
    and Playwright import: some 770,000) into the collector's permanent generation, so that no later full
    collection walks them again. A full collection comes every few tests (a model pool's ``close`` calls
    ``gc.collect()``, and the automatic third generation): 27 of them in tests/unit/test_runtime.py's 16 tests
    took 28.1 s of its 44 s in a whole-suite collection, 0.9 s frozen. Nothing a test makes is frozen (it is
    made later), so a test's own garbage is collected as before; what is frozen lives until the run ends."""
    gc.collect()
    gc.freeze()
