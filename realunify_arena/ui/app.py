"""``build_demo``: the three tabs over injected settings, store and model pool (tests pass tiny ones).

Nothing here loads a model; the pool does on first use, so the page is up within seconds.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys

import gradio as gr
from fastapi.exceptions import RequestValidationError
from starlette.middleware import Middleware

from realunify_arena import page_links, served_files
from realunify_arena.arena import Arena
from realunify_arena.benchmark.images import MAX_UPLOAD_BYTES
from realunify_arena.body_limit import BODY_IDLE_S, BodyLimit
from realunify_arena.call_targets import CallTargets
from realunify_arena.context import AppContext
from realunify_arena.file_urls import FileRoute
from realunify_arena.redaction import install_log_redaction
from realunify_arena.refusal_status import RefusalStatus
from realunify_arena.settings import Settings
from realunify_arena.store import Store
from realunify_arena.stream_errors import QuietStreams
from realunify_arena.upload_parts import UploadRules
from realunify_arena.upload_progress import UploadProgressGuard
from realunify_arena.validation_answers import answer_refused_request
from realunify_arena.ui import arena_tab, explore, leaderboard_tab, sessions, visitor
from realunify_arena.ui.render import LIVE_STATUS, SHOW_QUERY_JS, plain
from realunify_arena.ui.calls import (answer_browser_only_events, answer_miscounted_calls, answer_refusal_status,
                                      answer_unreadable_values)

log = logging.getLogger(__name__)

TABS = page_links.TABS
# A link's tab (``?tab=arena``) is opened in the browser as the page starts, by a click on its button (so its
# select event runs, as a visitor's click would). Chosen by the load event's answer, it came after a tab the
# visitor had clicked meanwhile (a loaded machine, a slow network) and moved the visitor back to the link's.
TAB_FROM_LINK_JS = ("() => { const tab = new URLSearchParams(window.location.search).get('tab'); "
                    f"if ({json.dumps(list(TABS))}.includes(tab)) "
                    "document.querySelector(`[role=tab][data-tab-id=\"${tab}\"]`)?.click(); }")
# The address bar says what the page shows, so that a reload or a copied address opens it: the open tab
# (``?tab=arena``) and its link (``page_links``): on Explore the link of what Explore shows
# (``ExploreTab.shown_query``), on the Arena its choices', on the Leaderboard its board's, each handed over by
# ``render.SHOW_QUERY_JS``. Before, the link the page was opened with stayed in it: a visitor who opened
# ``?tab=arena`` and moved to the Leaderboard reloaded into the Arena. Replaced, not pushed: Back leaves the page.
PAGE_URL_JS = ("() => { const tabs = " + json.dumps(list(TABS)) + """;
    const link = new URLSearchParams(window.location.search);
    const linked = tabs.includes(link.get('tab')) ? link.get('tab') : tabs[0];  // as TAB_FROM_LINK_JS reads it
    link.set('tab', linked);
    // each tab's query; the link's tab's the page's link until the load event has filled that tab in (a reload
    // meanwhile opens the link again, not the tab's defaults)
    const queries = Object.fromEntries(tabs.map(tab => [tab, tab === linked ? '?' + link : `?tab=${tab}`]));
    // the keys no link of the page uses are someone else's (Gradio's ``__theme`` and ``view``, a host's) and stay
    const own = new Set(""" + json.dumps(list(page_links.LINK_KEYS)) + """);
    const shown = (search) => {
        const query = new URLSearchParams(search);
        const named = new Set(query.keys());  // each other key with all its values (``?ref=a&ref=b``), once
        for (const [key, value] of new URLSearchParams(window.location.search)) {
            if (!own.has(key) && !named.has(key)) query.append(key, value);
        }
        return '?' + query;
    };
    const show = () => {
        const tab = document.querySelector('[role=tab][aria-selected="true"][data-tab-id]')?.dataset.tabId;
        if (!tabs.includes(tab)) return;
        const search = shown(queries[tab]);
        if (window.location.search !== search) {
            window.history.replaceState(window.history.state, '',
                                        window.location.pathname + search + window.location.hash);
        }
    };
    window.realunifyShowQuery = (query) => {
        if (!query) return;
        const search = new URL(query, window.location.href).search;
        const tab = new URLSearchParams(search).get('tab');
        if (!tabs.includes(tab)) return;
        queries[tab] = search;
        show();
    };
    new MutationObserver(show).observe(document.body,
                                       {subtree: true, attributes: true, attributeFilter: ['aria-selected']});
}""")
INTRO = ("# RealUnify Arena\nDo unified multimodal models gain from unification? **Explore** runs a RealUnify "
         "instance *direct* and *stepwise* side by side; the **Arena** asks you which of two anonymous "
         "outputs is better; the **Leaderboard** ranks systems by those votes.")


# Gradio's Markdown lets a table break a word anywhere (``word-break: break-word`` on the table, and
# ``overflow-wrap: anywhere`` inherited), so a table's columns shrank below their words and Explore's judge
# table read "expect|ed", "verdi|ct", "unparsea|ble" in a 1400 px window. Words stay whole; a table wider than
# its column scrolls in its box (``render.boxed_tables``).
# An Explore column's earlier runs (``render.history_markdown``, class ``run-history``): seven columns in half the
# page, so smaller text and cells than a prose table's (14 px, 10px 14px): at 1400 px the table was 662 px in a
# 576 px box, and its last columns were hidden past the box's edge.
# Where the keyboard's focus is, drawn plainly: Gradio's theme draws no focus marker on its text fields and menus
# (``outline: none``, a border one shade darker) nor on a radio button, so a visitor moving with Tab could not see
# where they were. A 3 px ring in the accent colour around whatever has the keyboard's focus (a radio: its label).
FOCUS_CSS = (":is(input, textarea, button, select, a, [tabindex]):focus-visible, "
             "label:has(> input[type=radio]:focus-visible) "
             "{ outline: 3px solid var(--color-accent) !important; outline-offset: 2px !important; } "
             "label > input[type=radio]:focus-visible { outline: none !important; } ")
# A battle side's image is its file as stored (a tiny model's is 32x32), and Gradio draws an image no larger than
# itself (``object-fit: scale-down``): a tiny side was a 32 px speck in a 320 px box, on a phone as on a desktop,
# where Explore's columns show the same output scaled up (``render.scaled_up``). The Arena's side images fill
# their box, with sharp pixels (nearest neighbour, as ``scaled_up``).
SIDE_IMAGE_CSS = ("#ar-a-image img, #ar-b-image img { width: 100%; height: 100%; object-fit: contain; "
                  "image-rendering: pixelated; } ")
# A text box's copy button (``buttons=["copy"]``: the link boxes) is drawn over the box's top right corner, and its
# label ran under it: on a 390 px phone "Link to this run (instance, model, seed)" ended under the button. The label
# keeps clear of the corner (the button, 23 px, 6 px from the edge) and wraps before it.
ICON_CORNER_CSS = 'label > .icon-button-wrapper ~ [data-testid="block-info"] { margin-right: 2rem; } '
PAGE_CSS = (FOCUS_CSS + SIDE_IMAGE_CSS + ICON_CORNER_CSS + ".md table { word-break: normal; overflow-wrap: normal; } "
            ".run-history table { font-size: var(--text-sm); } "
            ".run-history table th, .run-history table td { padding: 6px 8px; }")

# Gradio draws a text box's copy button inside the box's <label>, before the field: a label names its first
# labelable element, so it named the button (whose own aria-label "Copy" wins) and left the field with no name
# (the Arena's link box) or its placeholder's (Explore's, "Run an instance ..." even while it held the link), as
# a screen reader says it. Each such field is given its label's text, now and whenever Gradio draws it anew.
# And what the page says of a run (``render.LIVE_STATUS``: a column's or side's status, the Arena's reveal) is a
# polite live region (role status; WCAG 2.2, 4.1.3 "Status Messages"): Gradio's Markdown is none, so a screen
# reader heard only its status tracker's "Loading" and "Complete", never a run's stages, end or failure, nor the
# vote's reveal. Gradio's icons (a menu's arrow, a box label's and an empty image's pictogram, those inside a
# named button or link) are drawn as unnamed SVGs, each an "image" with no name to a screen reader; they repeat
# what their text or button says, so they are hidden from it (WAI-ARIA 1.2, role img: an image has a name;
# WCAG 2.2, 1.1.1: decoration is implemented so assistive technology can ignore it).
NAME_FIELDS_JS = """() => {
    const DECORATIVE = [
        '.icon-wrap svg', '[data-testid="block-label"] svg', '.empty svg', 'button svg', 'a svg',
    ].map(s => `${s}:not([aria-hidden]):not([aria-label]):not([aria-labelledby])`).join(', ');
    const name = () => {
        for (const live of document.querySelectorAll('.""" + LIVE_STATUS + """')) {
            if (live.getAttribute('role') !== 'status') live.setAttribute('role', 'status');
        }
        for (const icon of document.querySelectorAll(DECORATIVE)) icon.setAttribute('aria-hidden', 'true');
        for (const info of document.querySelectorAll('label > [data-testid="block-info"]')) {
            const label = info.parentElement, text = info.textContent.trim();
            for (const field of label.querySelectorAll('textarea, input:not([type="file"])')) {
                if (field.labels.length === 0 && field.getAttribute('aria-label') !== text) {  // named by none
                    field.setAttribute('aria-label', text);
                }
            }
        }
    };
    let pending = false;
    new MutationObserver(() => {
        if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; name(); }); }
    }).observe(document.body, {childList: true, subtree: true, characterData: true});
    name();
}"""

# Keyboard use Gradio 6.31 leaves out. Its radio buttons each carry a name of their own ("radio-3", "radio-4"), so
# a group was a row of unrelated buttons: the arrow keys did not move the choice, as in any radio group (WAI-ARIA
# Authoring Practices, "Radio Group"), and nothing said they were one group. Each group's buttons are given one name
# and the group the role and name of a radio group.
KEYBOARD_JS = """() => {
    let groups = 0;
    const group = () => {
        for (const wrap of document.querySelectorAll('.block:has(> .wrap > label > input[type="radio"])')) {
            const radios = wrap.querySelector(':scope > .wrap:has(> label > input[type="radio"])');
            const buttons = radios.querySelectorAll(':scope > label > input[type="radio"]');
            wrap.dataset.radioGroup ||= `radio-group-${++groups}`;  // one name per group, a group's own
            const name = wrap.dataset.radioGroup, info = wrap.querySelector('[data-testid="block-info"]');
            buttons.forEach(b => { if (b.name !== name) b.name = name; });
            if (radios.getAttribute('role') !== 'radiogroup') radios.setAttribute('role', 'radiogroup');
            if (info && radios.getAttribute('aria-label') !== info.textContent.trim()) {
                radios.setAttribute('aria-label', info.textContent.trim());
            }
        }
    };
    let pending = false;
    new MutationObserver(() => {
        if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; group(); }); }
    }).observe(document.body, {childList: true, subtree: true});
    group();
    // Tab on a menu's field: the focus goes on, the option list closes (WAI-ARIA Authoring Practices, "Combobox":
    // Tab closes the popup and moves focus to the next focusable element). Gradio 6.31's keydown handler runs a
    // tick later and opens the list for any key but Escape, Tab and Shift+Tab's Shift included, after its blur
    // handler closed it: each menu tabbed through stayed open over the fields below. And Chromium lets Tab stop
    // on the open list, a scrollable box, which the blur then removes: the focus fell to the page's body. Tab and a
    // modifier key alone (which change nothing in a menu) are kept from Gradio's handler (the browser still moves
    // the focus), and the list is taken out of the Tab order first.
    const passing = new Set(['Tab', 'Shift', 'Control', 'Alt', 'Meta']);
    window.addEventListener('keydown', (event) => {
        const field = event.target;
        if (!passing.has(event.key) || !(field instanceof HTMLInputElement)
            || field.getAttribute('role') !== 'combobox') {
            return;
        }
        if (event.key === 'Tab') {
            document.getElementById(field.getAttribute('aria-controls'))?.setAttribute('tabindex', '-1');
        }
        event.stopPropagation();
    }, true);
}"""

# Keys Gradio 6.31's frontend translates (``i18n(`...`)`` in its bundle) that its English strings lack, so the page
# showed the key itself: the status tracker's live region (``role="status"``) said "common.complete" to a screen
# reader at the end of every event. Given to Gradio as custom translations (``gr.I18n``, launch's ``i18n``); a
# browser in another language falls back to English for them, as for any key its language lacks.
GRADIO_MISSING_ENGLISH = {"common.complete": "Complete", "common.upload": "Upload", "common.video": "Video",
                          "common.webcam": "Webcam", "image.no_webcam_support": "Webcam is not supported here",
                          "model3d.drop_to_upload": "Drop a 3D model file here to upload"}


def launch_options(body_idle_s: float = BODY_IDLE_S) -> dict:
    """``Blocks.launch`` keyword arguments for the page's look (Gradio 6 takes the theme, ``PAGE_CSS`` and the
    page's scripts ``NAME_FIELDS_JS`` and ``PAGE_URL_JS`` at launch, not in ``Blocks``), its upload limit
    (``max_file_size``:
    ``MAX_UPLOAD_BYTES``, 64 MiB; Gradio refuses a larger upload with a 413 before keeping it), the English of
    the frontend's keys Gradio lacks (``GRADIO_MISSING_ENGLISH``) and FastAPI
    middleware, outermost first:
    ``ui.sessions.HeartbeatWatch``: counts each session's open heartbeat streams, so a script's sessions go soon;
    ``stream_errors.QuietStreams``: an event stream of an unknown session ends with a clear event, no ERROR
    log; ``upload_progress.UploadProgressGuard``: an ``upload_id`` of the page's form, its progress kept
    bounded; ``file_urls.FileRoute``: Gradio's file route given a URL answers 403, fetching nothing for a
    visitor; ``body_limit.BodyLimit``: 1 MiB on every other request body, and on the upload route a few files
    (``upload_parts``), 64 MiB in all, files only; a body that stalls ``body_idle_s`` seconds (tests pass a
    short one) is a 408; ``call_targets.CallTargets`` innermost (the body it reads
    already capped): a call naming an event, endpoint or component that does not exist gets a 404 or 422
    saying so, not Gradio's 500; ``refusal_status.RefusalStatus``: a direct call's refusal answered with its
    status (``ui.calls.Refusal``), not Gradio's 500; and FastAPI's 422 for a refused request body written even
    when it quotes ``NaN`` or ``1e999`` (``validation_answers``), not a 500. Gradio's ``/monitoring`` dashboard is
    off (``enable_monitoring``: its page printed the dashboard's secret URL to the log for any visitor). ``app.py``, the UI tests,
    ``scripts/screenshots.py`` and ``bench/explore.py`` all pass them, so the README's screenshots, the tests
    and the bench show the page a visitor gets."""
    return {"theme": gr.themes.Soft(primary_hue="indigo"), "css": PAGE_CSS,
            "js": f"() => {{ ({NAME_FIELDS_JS})(); ({PAGE_URL_JS})(); ({KEYBOARD_JS})(); }}",
            "footer_links": ["api", "gradio", "settings"], "max_file_size": MAX_UPLOAD_BYTES,
            "i18n": gr.I18n(en=GRADIO_MISSING_ENGLISH),
            # Gradio's traffic dashboard: any visitor's GET /monitoring printed its secret URL to the server's log
            # (hunt25c); off, every /monitoring route answers 403
            "enable_monitoring": False,
            "app_kwargs": {"middleware": [Middleware(sessions.HeartbeatWatch), Middleware(QuietStreams),
                                          Middleware(UploadProgressGuard), Middleware(FileRoute),
                                          Middleware(BodyLimit, body_idle_s=body_idle_s, uploads=UploadRules()), Middleware(CallTargets),
                                          Middleware(RefusalStatus)],
                           "exception_handlers": {RequestValidationError: answer_refused_request}}}


def build_demo(settings: Settings, store: Store, pool) -> gr.Blocks:
    """The app over ``settings``, ``store`` and ``pool`` (a ``runtime.ModelPool``): ``demo_for`` a new
    ``AppContext`` of them."""
    return demo_for(AppContext(settings, store, pool, Arena.from_settings(store, settings)))


def demo_for(ctx: AppContext) -> gr.Blocks:
    """The three tabs over ``ctx``, which every event shares; a caller that keeps ``ctx`` (a test) may read its
    state, e.g. ``ctx.waiting_runs``."""
    install_log_redaction()  # every log line of the app process, whichever library writes it
    # Which forwarded address is the visitor's is the arena's call (--trusted-proxies): uvicorn's own
    # rewrite of the socket peer, which by default believes any X-Forwarded-For sent from loopback, is off.
    os.environ["FORWARDED_ALLOW_IPS"] = ""
    with gr.Blocks(title="RealUnify Arena") as demo:
        # the files Gradio keeps for the page (its copies, uploads) count as served; uploads held per visitor
        served_files.serve_from(demo, visitor=functools.partial(visitor.address, ctx))
        with gr.Row():
            gr.Markdown(INTRO)
            if os.environ.get("SPACE_ID"):  # off Spaces a LoginButton needs an HF token to build at all
                gr.LoginButton()
        with gr.Tabs():
            with gr.Tab("Explore", id="explore", elem_id="tab-explore"):
                explore_tab = explore.build(ctx)
            with gr.Tab("Arena", id="arena", elem_id="tab-arena"):
                arena_link = arena_tab.build(ctx, demo)
            with gr.Tab("Leaderboard", id="leaderboard", elem_id="tab-leaderboard") as board_tab:
                *board_radios, board_query = leaderboard_tab.build(ctx, board_tab)

        def open_from_url(request: gr.Request):
            """``?tab=explore&data=bundled&instance=UEG_3_world_knowledge&model=tiny-janus&judge=human&seed=2``,
            ``?tab=arena&track=GEU`` or ``?tab=leaderboard&track=GEU&battles=direct_vs_stepwise``
            (``page_links``; its tab is opened in the browser: ``TAB_FROM_LINK_JS``); last, the fields a link
            fills in and Explore's Run and the Arena's New battle are enabled (they start disabled, so that Run
            never runs the form's defaults instead of the link's, and the link's values never overwrite a choice
            made meanwhile), also when the link could not be read."""
            params = page_links.link_params(request.query_params.multi_items()) if request else {}
            for problem in (*page_links.tab_problems(params), *page_links.key_problems(params)):
                gr.Warning(plain(problem, markdown=False))
            try:
                updates, settings = explore.link_updates(ctx, params)
            except Exception:  # noqa: BLE001 - the page stays usable on its defaults
                log.exception("the page's link could not be read; the form keeps its defaults")
                updates, settings = [gr.skip()] * len(explore_tab.url_outputs), {}
            return [*explore_tab.ready(updates), gr.update(interactive=True),
                    *explore_tab.settings_ready(ctx, updates[explore_tab.url_outputs.index(explore_tab.model)],
                                                settings),
                    *arena_tab.updates_from_url(ctx, params), *leaderboard_tab.updates_from_url(params)]

        demo.load(None, None, None, js=TAB_FROM_LINK_JS, api_visibility="private")
        opened = demo.load(open_from_url, None, [*explore_tab.url_outputs, explore_tab.run,
                                                 *explore_tab.settings_outputs, *arena_link.url_outputs,
                                                 *board_radios], api_visibility="private", concurrency_limit=None)
        # the address bar names each tab as filled in, not a refused value of the link
        for query, inputs, shown in ((explore_tab.form_query, explore_tab.query_inputs, explore_tab.shown_query),
                                     (arena_link.query, arena_link.url_outputs[:3], arena_link.shown_query),
                                     (page_links.leaderboard_query, board_radios, board_query)):
            opened.then(query, inputs, shown, api_visibility="private", queue=False).then(
                None, shown, None, js=SHOW_QUERY_JS, api_visibility="private", queue=False)
        sessions.release_sessions(demo)  # a visit's server state goes when the visit does
    # Model events are admitted at once and a local model's run waits in ctx.model_slot/device_slot (a
    # remote one does not), where settings.queue_size caps how many wait; everything else only reads or
    # writes the store. All set concurrency_limit=None; Gradio's default of 1 stays for an event that forgets
    # to say. Gradio's own queue is left as Blocks makes it (no cap on pending events: they start at once;
    # with a cap of 32, a burst of 40 votes on a loaded machine got "Queue is full" instead of the vote rate
    # limit's answer). demo.queue(...) would also rebuild the whole FastAPI app (~0.2 s of start-up).
    # Queued events take no direct call (POST /gradio_api/run/<name>, which skips the queue): scripts use
    # gradio_client or /gradio_api/call/<name>, both through the queue, as the README says. Gradio's default on
    # a Space (api_open is False there), made the same everywhere; the page's queue=False events keep /run.
    demo.api_open = False
    _pace_progress(demo)
    _summaries_only_when_monitored(demo)
    _matplotlib_when_imported()
    answer_miscounted_calls(demo)  # a script's call with too few or too many values
    answer_unreadable_values(demo)  # a value its field refuses: one log line, not Gradio's traceback
    answer_browser_only_events(demo)  # a call of an event with no server function: a 404 saying so
    answer_refusal_status(demo)  # a refused direct call answers with the refusal's status, not 500
    return demo


PROGRESS_INTERVAL_S = 0.25  # at most this often a running event's progress bar is sent to the page


def _pace_progress(demo: gr.Blocks) -> None:
    """Send each event's pending progress (``gr.Progress``, and the tqdm bars it tracks: downloads, denoising
    loops) at most every ``PROGRESS_INTERVAL_S`` instead of Gradio's 10 ms: a model that denoises a step in
    microseconds (a tiny card) sent 100 progress messages a second per column, and a browser on a loaded
    machine stopped answering clicks (a Stop click waited 60 s in CI). Gradio 6.31 keeps that interval on
    its queue object; if a later Gradio drops the attribute the app starts as before, unpaced."""
    queue = getattr(demo, "_queue", None)
    if queue is not None and hasattr(queue, "progress_update_sleep_when_free"):
        queue.progress_update_sleep_when_free = PROGRESS_INTERVAL_S


def _summaries_only_when_monitored(demo: gr.Blocks) -> None:
    """Gradio's traffic summary (a pandas DataFrame of up to 10,000 recorded events, grouped per function, for
    ``/monitoring``) computed only where monitoring is on. Gradio 6.31 computes it after every queued event, in a
    worker thread: 8-20 ms with a few records and 30-100 ms at 10,000 on a loaded 2-core machine, each vote and
    the page's own load event included (the first also imports pyarrow's pandas layer), while the app turns
    ``/monitoring`` off (``launch_options``), so nothing ever reads it. If a later Gradio drops the method, the
    app starts as before."""
    queue = getattr(demo, "_queue", None)
    summarise = getattr(queue, "compute_analytics_summary", None)
    if summarise is None or getattr(summarise, "only_when_monitored", False):
        return

    def summary_when_monitored(records):
        if getattr(demo, "enable_monitoring", None) is False:  # launch(enable_monitoring=False)
            return getattr(queue, "cached_event_analytics_summary", None)
        return summarise(records)

    summary_when_monitored.only_when_monitored = True
    queue.compute_analytics_summary = summary_when_monitored


class _BackendWhenImported:
    """Gradio's ``utils.MatplotlibBackendMananger`` (Agg for the length of each event, so that a function plotting
    with pyplot draws off-screen) where matplotlib is already imported, and nothing where it is not. Gradio's
    imports matplotlib, and pyplot to resolve its backend, in each process's first event, on the server's event
    loop: about 0.6 s on a loaded 2-core machine, during which the page's load events, fonts and queue join all
    waited, and Run was enabled 1.36x as late as in a bare Gradio app (issue 18). The page never plots; the app's
    plots (``paired``, ``reporting``) choose Agg themselves."""

    gradio_manager: type | None = None  # Gradio's own, set by ``_matplotlib_when_imported``

    def __init__(self):
        imported = "matplotlib" in sys.modules and self.gradio_manager is not None
        self._inner = self.gradio_manager() if imported else None

    def __enter__(self):
        return self._inner.__enter__() if self._inner is not None else None

    def __exit__(self, *exc):
        return self._inner.__exit__(*exc) if self._inner is not None else None


def _matplotlib_when_imported() -> None:
    """Gradio's per-event matplotlib backend switch only where matplotlib is already imported
    (``_BackendWhenImported``); if a later Gradio drops ``utils.MatplotlibBackendMananger``, nothing changes."""
    from gradio import utils as gradio_utils

    original = getattr(gradio_utils, "MatplotlibBackendMananger", None)
    if original is None or original is _BackendWhenImported:
        return
    _BackendWhenImported.gradio_manager = original
    gradio_utils.MatplotlibBackendMananger = _BackendWhenImported
