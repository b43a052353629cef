"""A launched app (tiny models, temp DB, generated instances) and a headless Debian chromium page.

Never ``playwright install`` (it downloads a browser): CI installs Debian's ``chromium`` and
``$CHROMIUM_PATH`` may point elsewhere. The same launch arguments serve ``scripts/screenshots.py``.

The browser and the ``app`` fixture's app are shared by the tier's tests and closed as the run leaves this
folder (``pytest_runtest_teardown``), not at the end of the session: Playwright's sync API marks its event loop
as running in the main thread from ``sync_playwright()`` until its ``stop()``, and the tiers after this one
(``tests/unit``) call ``asyncio.run``, which refuses to start under a running loop.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from unlimited import NOT_LIMITED

from realunify_arena.benchmark import load
from realunify_arena.benchmark.generators import generate_set, write_set
from realunify_arena.cards import load_cards
from realunify_arena.runtime import ModelPool
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.ui import build_demo, launch_options

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
MODELS = ("tiny-pair", "tiny-janus")


@contextmanager
def chromium():
    """Headless Debian chromium driven by Playwright (the tests' and the screenshots' one setup)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.ui)


def launch_app(root: Path, *, task_types: list[str] | None = None, port: int | None = None):
    """Generated instances, a temp DB and the tiny models under ``root``; returns (demo, url, store)."""
    write_set(generate_set(1, seed=5, task_types=task_types), root / "data")
    settings = Settings(data=(str(root / "data"),), models=MODELS, judge="tiny-pair", db=root / "arena.db",
                        gpu_concurrency=2, min_votes=1, **NOT_LIMITED)  # the tier's tests share it: no limit here
    store = Store.open(settings.db)
    demo = build_demo(settings, store, ModelPool(load_cards()))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                            **launch_options())
    return demo, url, store


class TierShared:
    """What the tier's tests share (the browser, the default app): each opened on first use, all closed by
    ``close`` (when the run leaves this folder), and opened again should a later test of the folder ask."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._values: dict[str, object] = {}

    def get(self, name: str, opener):
        """The value of ``name``, entering the context manager ``opener()`` gives the first time."""
        if name not in self._values:
            self._values[name] = self._stack.enter_context(opener())
        return self._values[name]

    def close(self) -> None:
        stack, self._stack, self._values = self._stack, ExitStack(), {}
        stack.close()


SHARED = TierShared()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """After the folder's last test (before the next folder's first): close the browser and the shared app."""
    try:
        return (yield)
    finally:
        here = Path(__file__).parent
        if nextitem is None or here not in Path(str(nextitem.path)).parents:
            SHARED.close()


def pytest_sessionfinish(session):
    SHARED.close()  # a run stopped part-way (-x, a keyboard interrupt) never reached the folder's last test


@contextmanager
def _launched_app(root: Path):
    demo, url, store = launch_app(root, task_types=["mathematical_reasoning", "mental_tracking"])
    uids = {i.track: i.uid for i in load(root / "data").instances}
    try:
        yield {"url": url, "store": store, "uids": uids, "demo": demo}
    finally:
        demo.close()
        store.close()


@pytest.fixture
def app(tmp_path_factory) -> dict:
    """The launched app most tests share (one per pass through this folder)."""
    return SHARED.get("app", lambda: _launched_app(tmp_path_factory.mktemp("ui-app")))


@pytest.fixture
def browser():
    """The headless chromium the folder's tests share (one per pass through this folder)."""
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)  # the first run loads the tiny models
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)")
    return SHARED.get("browser", chromium)


@contextmanager
def desktop_page(browser):
    """A fresh 1400x1000 page (its own context: no cookies or session shared) with a 60 s default timeout."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser, app):
    with desktop_page(browser) as page:
        yield page


TABS = ("explore", "arena", "leaderboard")
_TAB_SHOWN = {"explore": "#ex-run", "arena": "#ar-new", "leaderboard": "#lb-refresh"}  # a control each tab draws


def open_tab(page, url: str, tab: str) -> None:
    """Open the app at ``url`` on ``tab`` (one of ``TABS``, by its link ``?tab=``); returns once the tab is
    selected and drawn."""
    from playwright.sync_api import expect

    page.goto(f"{url}?tab={tab}")
    expect(page.locator(_TAB_SHOWN[tab])).to_be_visible()
    expect(page.locator(f"[role=tab][data-tab-id={tab}]")).to_have_attribute("aria-selected", "true")


def run_in_explore(page, url: str) -> None:
    """Open Explore of the app at ``url`` on its defaults and Run; returns once both columns say "done in"."""
    from playwright.sync_api import expect

    page.goto(url + "?tab=explore")
    expect(page.locator("#ex-run")).to_be_enabled()
    page.locator("#ex-run").click()
    for mode in ("direct", "stepwise"):
        expect(page.locator(f"#ex-{mode}-status")).to_contain_text("done in")


def start_battle(page, url: str, track: str, kind_label: str) -> None:
    """Open the Arena of the app at ``url`` and start one battle of ``track`` and ``kind_label`` (as the Battle
    radio shows it); returns once both sides are delivered (the vote buttons are enabled)."""
    from playwright.sync_api import expect

    page.goto(url + "?tab=arena")
    page.locator("#ar-track").get_by_label(track, exact=True).check()
    page.locator("#ar-kind").get_by_label(kind_label, exact=True).check()
    page.locator("#ar-new").click()
    expect(page.locator("#ar-vote-A")).to_be_enabled()


def vote_in_arena(page, app: dict, track: str, kind_label: str, choice: str) -> None:
    """Open the Arena, play one battle of ``track`` and ``kind_label`` (as the Battle radio shows it) and vote
    ``choice`` (A, B, tie, both_bad) once both sides are delivered; returns when the reveal shows."""
    from playwright.sync_api import expect

    start_battle(page, app["url"], track, kind_label)
    expect(page.locator(f"#ar-vote-{choice}")).to_be_enabled()
    page.locator(f"#ar-vote-{choice}").click()
    expect(page.locator("#ar-reveal")).to_contain_text("You voted")


class RecentLog(logging.Handler):
    """The process's last ``size`` log records that reach the root logger (WARNING and above unless a logger
    was set lower), formatted with their tracebacks: the launched apps run in this process, so their failed
    loads and runs and Gradio's handler errors land here."""

    def __init__(self, size: int = 60) -> None:
        super().__init__()
        self.records: collections.deque[str] = collections.deque(maxlen=size)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.records.append(self.format(record))
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is left out, never raised
            pass


RECENT_LOG = RecentLog()
logging.getLogger().addHandler(RECENT_LOG)  # levels are left as they are: WARNING and above by default

# what a page shows of its runs: every Explore column's and Arena side's status, the arena's reveal, toasts
_SHOWN = "[id$='-status'], #ar-reveal, [data-testid='toast-text']"


def page_report(page) -> str:
    """What ``page`` shows of its runs now (each status, the reveal, each toast's text), one line each."""
    try:
        shown = page.evaluate("""selector => [...document.querySelectorAll(selector)].map(
            e => `${e.id || e.dataset.testid}: ${e.innerText.replace(/\\s+/g, ' ').slice(0, 300)}`)""", _SHOWN)
    except Exception as e:  # noqa: BLE001 - a closed or hung page: say so, keep the test's own error
        return f"(the page could not be read: {type(e).__name__}: {e})"
    return "\n".join(shown) or "(no status, reveal or toast on the page)"


@contextmanager
def explain_timeouts(*pages):
    """Re-raise a failed wait (an ``expect`` or a Playwright timeout) inside the block with what ``pages``
    show (``page_report``) and the process's recent log (``RECENT_LOG``: the app's loads and errors), so a
    wait that ran out says why: no run started, one waiting for the accelerator, or one that failed."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        yield
    except (AssertionError, PlaywrightError) as failed:
        shown = "\n".join(f"-- page {n}:\n{page_report(page)}" for n, page in enumerate(pages, 1))
        log = "\n".join(RECENT_LOG.records) or "(nothing logged)"
        raise AssertionError(f"{failed}\n\nWhat the pages show:\n{shown}\n\nRecent log:\n{log}") from failed


def requests_to(page, host: str) -> list[str]:
    """Every request ``page`` makes from now on to ``host`` or its subdomains, each answered with nothing
    (aborted): an injected image or link must fetch nothing."""
    seen: list[str] = []

    def record(route):
        seen.append(route.request.url)
        route.abort()

    page.route(lambda url: (urlsplit(url).hostname or "").endswith(host), record)
    return seen


def fn_indices(demo, name: str) -> set[int]:
    """The dependency indices of ``demo``'s event handlers called ``name`` (what the page's queue/join sends)."""
    return {index for index, fn in demo.fns.items() if fn.name == name}


JOIN = "**/queue/join*"


def hold_events(page, indices: set[int]) -> list:
    """Hold back the page's requests to start an event of ``indices`` (as a loaded machine or a slow network
    delays them); returns the list of held routes, to ``continue_()`` later. The rest pass."""
    held = []

    def hold(route):
        if (route.request.post_data_json or {}).get("fn_index") in indices:
            held.append(route)
        else:
            route.continue_()

    page.route(JOIN, hold)
    return held


def wait_held(page, held: list, count: int, deadline: float) -> None:
    while len(held) < count:
        assert time.monotonic() < deadline, f"{len(held)} of {count} held events were sent"
        page.wait_for_timeout(50)


def open_with_load_held(page, app: dict, query: str) -> list:
    """Open ``app``'s page at ``?query`` with the page's load event (``open_from_url``: a link's values, then
    the form enabled) held back, as a loaded machine delays it; returns once it was sent, with the held
    route to ``release``."""
    load = fn_indices(app["demo"], "open_from_url")
    assert load, "the page's load event was not found"
    held = hold_events(page, load)
    page.goto(f"{app['url']}?{query}")
    wait_held(page, held, 1, time.monotonic() + 60)
    return held


def release(page, held: list) -> None:
    for route in held:
        route.continue_()
    page.unroute(JOIN)


# counts, in the page itself, its fetches whose URL has the fragment: sent when the page calls fetch, ended
# once the answer's body has come (or the fetch failed); the page's own handling of the answer follows
_COUNT_CALLS_JS = """(() => {
    const fragment = FRAGMENT, fetch0 = window.fetch, calls = window.__calls = {sent: 0, ended: 0};
    window.fetch = function (input, init) {
        const answer = fetch0.apply(this, arguments);
        if (String(input && input.url || input).includes(fragment)) {
            calls.sent++;
            answer.then(r => r.clone().arrayBuffer()).catch(() => null).finally(() => { calls.ended++; });
        }
        return answer;
    };
})();"""


def count_calls(page, fragment: str) -> None:
    """From ``page``'s next load on, count its fetches whose URL has ``fragment`` (what ``settle`` waits on)."""
    page.add_init_script(_COUNT_CALLS_JS.replace("FRAGMENT", json.dumps(fragment)))


def settle(page, open_calls: int = 0, timeout_ms: float = 60_000) -> None:
    """Return once ``page`` has ``open_calls`` of its counted fetches (``count_calls``) unanswered (the ones
    held back) and has handled the others' answers: a few turns of its own timers ran after, and it sent
    nothing new meanwhile. An order of events in the page, not a timed wait: a choice's event is sent, and an
    answer shown, before those turns end, however slow the machine."""
    while True:
        page.wait_for_function("open => window.__calls.sent - window.__calls.ended === open", arg=open_calls,
                               polling=50, timeout=timeout_ms)
        sent = page.evaluate("() => window.__calls.sent")
        page.evaluate("() => new Promise(r => setTimeout(() => setTimeout(() => setTimeout(r, 0), 0), 0))")
        if page.evaluate("() => [window.__calls.sent, window.__calls.sent - window.__calls.ended]") == [
                sent, open_calls]:
            return
