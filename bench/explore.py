"""Explore runs with the tiny models on CPU: first and warm runs, split into parts, against the old settings
in the same run (issue 18).

For each protocol (UEG/GEU x direct/stepwise) and each configuration, a fresh Python process (so the first
run pays what a freshly started app pays: imports, model load, judge load) runs the instance the way the
Explore tab does: start the judge's prefetch, stream the run through the pool (``runs.stream_run`` on a
thread of its own, frames through the UI's pacer), then judge it. Then ``--warm`` rounds of warm runs with
new seeds, each round one run of each configuration, alternated in that process so both see the same load.

- ``current``: this code (torch threads sized by the pool, the judge prefetched, frames merged, never held).
- ``reference``: today's-code settings reproduced in the same run: ``--reference-threads default`` (torch's
  own thread count, as before the pool set it), no judge prefetch, and ``--reference-paced 0.3`` (every
  frame held at least 0.3 s after the previous one, the old ``paced``).

Parts of each run: model load (getting the run's own model from the pool, on its critical path; torch is
imported before the clock in both configurations and its import time shown apart: this code pays it at
the first run instead of at start-up), inference (the protocol's step
times), storing (find + save in SQLite), judging (``judge_run``, with any wait for the judge's load), and UI
overhead (everything else between the click and the verdict: relay, pacing). Judge load is shown apart:
in ``current`` it overlaps the run. UEG runs use tiny-janus (judged by tiny-pair); GEU direct tiny-janus;
GEU stepwise tiny-pair (the one that edits).

The app figure: the real app launched in the ``current`` process and driven through ``gradio_client``
(``/run_instance``, warm, new seeds); its overhead over the same call made directly (``runs.run_and_judge``)
is the app's share (queue, HTTP, serialisation). Gradio's floor, in the same run: a bare Gradio app whose
``/run_instance`` returns a reply of the same size, called the same way; the app's time around its own run
minus the floor is ours. Calls come from a process of their own, through ``gradio_client`` and again through
Gradio's HTTP API on one kept connection (without ``gradio_client``'s own costs). Goals: warm tiny-janus UEG
direct >= 3x faster than the reference, UI overhead (pacing + app share) <= 10% of a warm run.

    python bench/explore.py [--warm 5] [--protocols UEG:direct,GEU:stepwise] [--reference-threads default]
                            [--reference-paced 0.3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable right after `pip install -r requirements.txt`

PROTOCOLS = {"UEG:direct": "tiny-janus", "UEG:stepwise": "tiny-janus", "GEU:direct": "tiny-janus",
             "GEU:stepwise": "tiny-pair"}
JUDGE = "tiny-pair"
PARTS = ("load", "inference", "storing", "judging", "ui")


def old_paced(frames, gap_s: float):
    """The pacing before issue 18, as it was: every frame at least ``gap_s`` after the previous one."""
    last = float("-inf")
    for frame in frames:
        wait = last + gap_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        yield frame
        last = time.monotonic()


class Timed:
    """Seconds spent in a wrapped callable, summed since the last ``take()``."""

    def __init__(self) -> None:
        self.total = 0.0

    def wrap(self, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total += time.perf_counter() - start
        return timed

    def take(self) -> float:
        total, self.total = self.total, 0.0
        return total


def child(args) -> None:
    """One configuration, one protocol, in this fresh process: a first run, then warm runs; JSON on stdout."""
    from realunify_arena.adapters import build_adapter
    from realunify_arena.benchmark import load
    from realunify_arena.cards import load_cards
    from realunify_arena.runs import judge_run, prefetch_judge, stream_run
    from realunify_arena.runtime import ModelPool
    from realunify_arena.store import Store
    from realunify_arena.ui.streaming import paced, relay

    track, mode = args.protocol.split(":")
    model = PROTOCOLS[args.protocol]
    loads: dict[str, float] = {}

    def loader(card, device):
        start = time.perf_counter()
        adapter = build_adapter(card, device)
        loads[card.name] = loads.get(card.name, 0.0) + time.perf_counter() - start
        return adapter

    start = time.perf_counter()
    import torch  # before the clock in both configurations: the old code imported it at start-up, this code
    # at the first run (the start-up figure is bench/startup.py's); the import time is shown apart
    torch_import = time.perf_counter() - start
    reference_threads = torch.get_num_threads() if args.reference_threads == "default" else int(args.reference_threads)
    pool = ModelPool(load_cards(), device="cpu", loader=loader,
                     torch_threads=reference_threads if args.config == "reference" else None)
    acquiring: dict[str, float] = {}  # time in the pool getting a model for a use: torch's import, load, waits
    acquire = pool._acquire

    def timed_acquire(card, *args, **kwargs):
        start = time.perf_counter()
        try:
            return acquire(card, *args, **kwargs)
        finally:
            acquiring[card.name] = acquiring.get(card.name, 0.0) + time.perf_counter() - start

    pool._acquire = timed_acquire
    store = Store.open(Path(tempfile.mkdtemp(prefix="realunify-explore-")) / "arena.db")
    storing = Timed()
    store.save_trace, store.find_run = storing.wrap(store.save_trace), storing.wrap(store.find_run)
    dataset = load("bundled")
    inst = next(i for i in dataset.instances if i.track == track)
    def one_run(seed: int, config: str) -> dict:
        reference = config == "reference"
        pool.torch_threads = reference_threads if reference else None
        pace = (lambda frames: old_paced(frames, args.reference_paced)) if reference else paced
        loads.clear()
        acquiring.clear()
        storing.take()
        start = time.perf_counter()
        if not reference:
            prefetch_judge(pool, inst, model, JUDGE)  # as Explore does when a run starts
        update = None
        options = pool.cards[model].options(seed=seed)
        for update in pace(relay(stream_run(store, pool, dataset.name, inst, model, mode, options))):
            pass
        streamed = time.perf_counter()
        judged = time.perf_counter()
        _judgment, problem = judge_run(store, pool, update.run_id, update.trace, inst, JUDGE)
        end = time.perf_counter()
        if update.trace.error or problem:
            raise RuntimeError(f"{args.protocol} seed {seed}: {update.trace.error or problem}")
        load_s, store_s, infer_s = acquiring.get(model, 0.0), storing.take(), update.trace.seconds
        return {"total": end - start, "shown": streamed - start, "load": load_s, "inference": infer_s, "storing": store_s,
                "judging": end - judged, "ui": max(0.0, (streamed - start) - load_s - infer_s - store_s),
                "judge_load": loads.get(JUDGE, 0.0) if model != JUDGE else 0.0}

    first = one_run(1000, args.config)
    warm: dict[str, list] = {"current": [], "reference": []}
    for i in range(args.warm):  # alternated in this one process, so both see the same load on the machine
        for config in ("current", "reference"):
            warm[config].append(one_run(2000 + 2 * i + (config == "reference"), config))
    pool.torch_threads = None
    result = {"first": first, "warm": warm, "torch_import": torch_import}
    if args.config == "current" and args.protocol == "UEG:direct" and args.app_calls:
        result["app"] = app_figure(pool, store, dataset, inst, model, args.app_calls)
    print("RESULT " + json.dumps(result))


def app_figure(pool, store, dataset, inst, model, calls: int) -> dict:
    """Warm ``/run_instance`` against the same call made directly (same pool), and Gradio's floor: a bare
    Gradio app, launched in this process too, whose ``/run_instance`` (same signature, registered the same
    way) returns a recorded reply of the same size, at once (``instant``) or after waiting as long as the
    app's own run just took (``held``: a client sets up its result stream while a run goes on, so only a call
    of the same length shows what it adds to one). The calls come from a process of their own, as a user's
    would (in this one a client would take the interpreter from the run: ``gradio_client`` builds two HTTP
    clients, each with a fresh TLS context, per call), ``call_api``: through ``gradio_client`` and through
    Gradio's HTTP API. Calls alternate, so all see the same load.

    Returns, per way of calling (``client``, ``http``), medians in seconds of: ``app``; ``share`` (each call
    minus the direct call beside it); ``around`` (each call minus the app's own ``run_and_judge`` in it: the
    app's queue, HTTP and wrapping alone, with less of the run's noise); ``held`` and ``instant`` (the floor:
    the bare app's call minus its wait). ``direct``: the median direct call.
    """
    import logging
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import gradio as gr

    from realunify_arena.runs import run_and_judge
    from realunify_arena.settings import Settings
    from realunify_arena.ui import build_demo, launch_options
    from realunify_arena.ui import explore as explore_tab

    logging.getLogger("httpx").setLevel(logging.WARNING)
    handler = Timed()  # the app's own run_and_judge inside /run_instance: the call minus it is the app around it
    explore_tab.run_and_judge = handler.wrap(run_and_judge)
    settings = Settings(models=(model, JUDGE), judge=JUDGE, db=Path(tempfile.mkdtemp()) / "unused.db")
    demo = build_demo(settings, store, pool)
    args = ("bundled", inst.uid, model, "direct")
    reply = run_and_judge(store, pool, dataset.name, inst, model, "direct", pool.cards[model].options(seed=3000),
                          JUDGE)
    hold = [0.0]  # how long the bare endpoint waits before its reply

    def run_instance(source: str, instance_uid: str, model: str, mode: str, seed: int = 0, judge: str = "") -> dict:
        time.sleep(hold[0])
        return reply

    with gr.Blocks() as bare:
        gr.api(run_instance, api_name="run_instance", concurrency_limit=None)
    app_url = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_options())[1]
    bare_url = bare.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)[1]
    caller = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        def timed(way: str, url: str, seed: int) -> tuple[float, float]:
            """(seconds the caller waited, of which in the app's run_and_judge)"""
            handler.take()
            seconds, status = caller.submit(call_api, way, url, (*args, seed, JUDGE)).result()
            if status is not None:
                raise RuntimeError(f"/run_instance at {url}: {status}")
            return seconds, handler.take()

        for way in WAYS:  # warm-up; each reply as big as the other
            timed(way, app_url, 3001), timed(way, bare_url, 3001)
        direct, rows = [], {way: [] for way in WAYS}
        for i in range(calls):
            seed = 4000 + 10 * i
            start = time.perf_counter()
            options = pool.cards[model].options(seed=seed)
            run_and_judge(store, pool, dataset.name, inst, model, "direct", options, JUDGE)
            direct.append(time.perf_counter() - start)
            for n, way in enumerate(WAYS, 1):
                total, inside = timed(way, app_url, seed + n)
                hold[0] = inside
                held = timed(way, bare_url, seed)[0] - inside
                hold[0] = 0.0
                rows[way].append({"app": total, "share": total - direct[-1], "around": total - inside,
                                  "held": held, "instant": timed(way, bare_url, seed)[0]})
        return {"direct": statistics.median(direct),
                **{way: {key: statistics.median(r[key] for r in got) for key in got[0]} for way, got in rows.items()}}
    finally:
        explore_tab.run_and_judge = run_and_judge
        caller.shutdown()
        demo.close()
        bare.close()


WAYS = ("client", "http")
_callers: dict = {}  # in the caller process: a gradio_client Client per URL, one httpx client, a session per URL


def call_api(way: str, url: str, data: tuple) -> tuple[float, str | None]:
    """One ``/run_instance`` call at ``url`` in the caller process (``app_figure``): (seconds, None when the
    run was stored and judged, else what went wrong). ``way``: ``client`` (``gradio_client``, what a user of
    the API runs) or ``http`` (Gradio's documented HTTP API, ``POST /gradio_api/call/NAME`` then its event
    stream, on one kept connection and one session per app: without ``gradio_client``'s own costs, a fresh
    HTTP client per request and a 50 ms poll for the result; a new session per call would add Gradio's
    per-session set-up, which grows with the number of components on the page)."""
    import httpx
    from gradio_client import Client

    if way == "client":
        if url not in _callers:
            _callers[url] = Client(url, verbose=False)
        start = time.perf_counter()
        reply = _callers[url].predict(*data, api_name="/run_instance")
        seconds = time.perf_counter() - start
    else:
        if "http" not in _callers:
            _callers["http"] = httpx.Client(timeout=120)
        http, session = _callers["http"], _callers.setdefault(("session", url), uuid.uuid4().hex)
        call = f"{url}gradio_api/call/run_instance"
        start = time.perf_counter()
        event = http.post(call, json={"data": list(data), "session_hash": session}).raise_for_status().json()
        with http.stream("GET", f"{call}/{event['event_id']}") as stream:  # "event: KIND" then "data: JSON"
            lines = stream.iter_lines()
            kind = next((line[6:].strip() for line in lines
                         if line.startswith("event:") and line[6:].strip() in ("complete", "error")), None)
            body = next((line[5:] for line in lines if line.startswith("data:")), "null")
        seconds = time.perf_counter() - start
        if kind != "complete":
            return seconds, f"{kind or 'no result'}: {body}"
        reply = json.loads(body)[0]
    ok = reply["status"] == "ok" and reply["judgment"] is not None
    return seconds, None if ok else reply["error"] or reply["judge_problem"]


def run_child(config: str, protocol: str, args) -> dict:
    command = [sys.executable, __file__, "--child", "--config", config, "--protocol", protocol, "--warm",
               str(args.warm), "--reference-threads", args.reference_threads, "--reference-paced",
               str(args.reference_paced), "--app-calls", str(args.app_calls)]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "TQDM_DISABLE": "1"}
    env.pop("OMP_NUM_THREADS", None)
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode or not lines:
        raise RuntimeError(f"{config} {protocol} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def median_parts(runs: list[dict]) -> dict:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def show(label: str, parts: dict) -> str:
    split = "  ".join(f"{p} {parts[p]:5.2f}" for p in PARTS)
    return (f"{label:28s} total {parts['total']:6.2f} s (image at {parts['shown']:5.2f}) | {split} | "
            f"judge load {parts['judge_load']:5.2f}")


def main(argv: list[str] | None = None) -> int:
    from realunify_arena.redaction import RedactingParser  # one-line usage errors, keys masked

    parser = RedactingParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warm", type=int, default=5, help="warm runs after the first (median shown)")
    parser.add_argument("--protocols", default=",".join(PROTOCOLS), help="comma-separated TRACK:MODE")
    parser.add_argument("--reference-threads", default="default", help="'default' (torch's own) or a number")
    parser.add_argument("--reference-paced", type=float, default=0.3, help="the old minimum gap between frames")
    parser.add_argument("--app-calls", type=int, default=5, help="warm /run_instance calls through gradio_client")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", choices=("current", "reference"), help=argparse.SUPPRESS)
    parser.add_argument("--protocol", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0

    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        parser.error(f"unknown protocol(s) {unknown}; known: {', '.join(PROTOCOLS)}")
    print(f"machine: {os.cpu_count()} CPUs; load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results: dict[tuple[str, str], dict] = {}
    warm: dict[tuple[str, str], dict] = {}
    for protocol in protocols:
        for config in ("current", "reference"):
            results[protocol, config] = run_child(config, protocol, args)
        for config in ("current", "reference"):
            runs = [r for first in ("current", "reference") for r in results[protocol, first]["warm"][config]]
            warm[protocol, config] = median_parts(runs)
            print(f"\n{protocol} ({PROTOCOLS[protocol]}) {config}:")
            print(show("  first run (fresh process)", results[protocol, config]["first"])
                  + f" | torch import before it {results[protocol, config]['torch_import']:5.2f}")
            print(show(f"  warm (median of {len(runs)})", warm[protocol, config]))
    print("\nsummary (ratio = reference / current; warm runs alternated in the same processes):")
    for protocol in protocols:
        c, r = warm[protocol, "current"], warm[protocol, "reference"]
        first_c, first_r = results[protocol, "current"]["first"], results[protocol, "reference"]["first"]
        print(f"  {protocol:13s} warm to the image {c['shown']:5.2f} s vs {r['shown']:5.2f} s "
              f"({r['shown'] / c['shown']:.1f}x), to the verdict {c['total']:5.2f} s vs {r['total']:5.2f} s "
              f"({r['total'] / c['total']:.1f}x); first run {first_c['total']:5.2f} s vs {first_r['total']:5.2f} s "
              f"({first_r['total'] / first_c['total']:.1f}x); UI overhead {c['ui'] / c['total']:.0%} "
              f"(reference {r['ui'] / r['total']:.0%})")
    app = results.get(("UEG:direct", "current"), {}).get("app")
    if app:
        c = warm["UEG:direct", "current"]
        for way, label in (("client", "through gradio_client"), ("http", "through Gradio's HTTP API, kept connection")):
            a = app[way]
            share = max(0.0, a["share"])
            print(f"  app (/run_instance {label}, warm UEG direct): {a['app']:.2f} s vs direct {app['direct']:.2f} s: "
                  f"app share {share:.3f} s; UI overhead (pacing/relay {c['ui']:.2f} s + app share) = "
                  f"{(c['ui'] + share) / c['total']:.0%} of a warm run (goal <= 10%)")
            print(f"    the app around its run {a['around']:.3f} s; Gradio's floor (a bare app's /run_instance held as "
                  f"long) {a['held']:.3f} s = {a['held'] / c['total']:.0%} of a warm run (instant: "
                  f"{a['instant']:.3f} s); ours {a['around'] - a['held']:+.3f} s")
    if ("UEG:direct", "reference") in results:
        c, r = warm["UEG:direct", "current"], warm["UEG:direct", "reference"]
        print(f"  goal: warm tiny-janus UEG direct >= 3x faster than the reference: {r['shown'] / c['shown']:.1f}x to "
              f"the image, {r['total'] / c['total']:.1f}x to the verdict")
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
