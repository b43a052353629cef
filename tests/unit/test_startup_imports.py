"""Start-up imports nothing heavy (issue 18): building the app with its model pool loads no model library.

Torch comes in when a model is first needed, ``spaces`` only on ZeroGPU, and the page's first event imports no
matplotlib (Gradio's per-event backend switch did). Checked in a fresh interpreter
(``sys.modules`` after the build), since this test process has long imported everything.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ["torch", "scipy", "spaces", "transformers", "diffusers"]

BUILD = """
import json, sys
from pathlib import Path
import app
from realunify_arena.settings import Settings
from realunify_arena.store import Store
settings = Settings(models=("tiny-janus", "tiny-pair"), judge="tiny-pair", db=Path(sys.argv[1]))
demo = app.build_app(settings, Store.open(settings.db))
assert "ex-run" in str(demo.config), "the Explore tab was built"
print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
""".replace("{HEAVY!r}", repr(HEAVY))


# The page's first events as a browser sends them (the Arena's load event, queue=False, through /run/predict):
# Gradio's MatplotlibBackendMananger imported matplotlib and pyplot in the first one, on the server's event loop
# (about 0.6 s before any of the page's answers, fonts or queue joins went out; the page never plots).
BUILT = BUILD.split("print(json.dumps")[0]  # the app built, nothing printed yet
SERVE = BUILT + f"""import httpx
from realunify_arena.ui import launch_options
demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[2]), prevent_thread_lock=True, **launch_options())
load = next(i for i, fn in demo.fns.items() if fn.fn is not None and not fn.inputs and fn.queue is False
            and any(event == "load" for _, event in fn.targets))
answer = httpx.post(f"http://127.0.0.1:{{sys.argv[2]}}/gradio_api/run/predict",
                    json={{"fn_index": load, "data": [], "session_hash": "startup-imports"}}, timeout=60)
assert answer.status_code == 200, answer.text
demo.close()
print(json.dumps([m for m in {HEAVY + ['matplotlib']!r} if m in sys.modules]))"""
# Where matplotlib is imported, an event still draws with Agg, as Gradio's own manager makes it, and the backend
# chosen before comes back after it.
BACKEND = "import matplotlib\nmatplotlib.use('svg')\n" + BUILT + """from gradio import utils
with utils.MatplotlibBackendMananger():
    inside = matplotlib.get_backend()
print(json.dumps([inside, matplotlib.get_backend()]))"""

# One queued event (the page's load event, as the page sends it: queue/join, then its answer on queue/data) in
# the app as launched (``launch_options``: /monitoring off) and in the same app with Gradio's default monitoring:
# the number of events recorded and whether the traffic summary (pandas, after every queued event) was computed.
SUMMARY = BUILT + """import time, httpx
from realunify_arena.ui import launch_options

def summarised_after_one_event(demo, options, session):
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, **options)
    load = next(i for i, fn in demo.fns.items() if fn.name == "open_from_url")
    with httpx.Client(base_url=demo.local_url.rstrip("/"), timeout=60) as http:
        joined = http.post("/gradio_api/queue/join", json={"fn_index": load, "data": [], "session_hash": session})
        assert joined.status_code == 200, joined.text
        with http.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as stream:
            answer = next(line for line in stream.iter_lines() if "process_completed" in line)
    assert '"success":true' in answer.replace(' ', ''), answer
    deadline = time.monotonic() + 120
    while demo._queue.event_ids_to_events:  # the queue's own end of the event, its summary included, comes last
        assert time.monotonic() < deadline, "the event never ended in the queue"
        time.sleep(0.05)
    summary = demo._queue.cached_event_analytics_summary["functions"]
    demo.close()
    return [len(demo._queue.event_analytics), bool(summary)]

monitored = app.build_app(settings, Store.open(Path(sys.argv[1] + "-monitored")))
print(json.dumps([summarised_after_one_event(demo, launch_options(), "plain"),
                  summarised_after_one_event(monitored, {**launch_options(), "enable_monitoring": None}, "on")]))"""


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _start(code: str, *args: str, env: dict | None = None, keep_zero_gpu: bool = False) -> subprocess.Popen:
    """``code`` started in a fresh interpreter (off ZeroGPU unless asked)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    if not keep_zero_gpu:
        env.pop("SPACES_ZERO_GPU", None)
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    """Each test's fresh interpreter, all started at once (the second core imports too); a test reads its own."""
    spaces_off = ("import json, sys\nfrom realunify_arena import runs, runtime\n"
                  "f = lambda: 1\nprint(json.dumps([runtime.zero_gpu(60)(f) is f, 'spaces' in sys.modules]))")
    spaces_on = ("import json, sys\nfrom realunify_arena import runs, runtime\n"
                 "print(json.dumps(['spaces' in sys.modules, runs._live.__wrapped__.__module__,"
                 " runs._live.__code__.co_filename.startswith(sys.modules['spaces'].__path__[0]),"
                 " runtime._gpu_call.__code__.co_filename.startswith(sys.modules['spaces'].__path__[0])]))")
    zero_gpu = {"SPACES_ZERO_GPU": "true", "SPACES_ZERO_DEVICE_API_URL": "http://127.0.0.1:9"}
    started = {
        "build": _start(BUILD, str(tmp_path_factory.mktemp("startup") / "arena.db")),
        "serve": _start(SERVE, str(tmp_path_factory.mktemp("serve") / "arena.db"), _free_port()),
        "summary": _start(SUMMARY, str(tmp_path_factory.mktemp("summary") / "arena.db")),
        "backend": _start(BACKEND, str(tmp_path_factory.mktemp("backend") / "arena.db")),
        "scipy": _start("import json, sys\nimport scipy.optimize\n"
                        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"),
        "spaces_off": _start(spaces_off),
        "spaces_on": _start(spaces_on, env=zero_gpu, keep_zero_gpu=True),
        "serve_openai": _start("import json, sys\nfrom realunify_arena.cards import load_cards\n"
                               "from realunify_arena.runtime import ModelPool\n"
                               "from realunify_arena.serving import create_app\n"
                               "create_app(ModelPool(load_cards()), 'tiny-pair')\n"
                               f"print(json.dumps([m for m in {HEAVY + ['gradio']!r} if m in sys.modules]))"),
    }
    yield started
    for process in started.values():
        if process.poll() is None:
            process.kill()
            process.communicate()


def _heavy_after(process: subprocess.Popen) -> list:
    """The JSON list the started code prints last."""
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_building_the_app_with_tiny_cards_imports_no_model_library(probes):
    assert _heavy_after(probes["build"]) == []


def test_the_page_s_first_event_imports_neither_matplotlib_nor_a_model_library(probes):
    """Before: Gradio's per-event backend switch imported matplotlib and pyplot in the first event."""
    assert _heavy_after(probes["serve"]) == []


def test_no_traffic_summary_is_computed_after_each_event_while_monitoring_is_off(probes):
    """Before: Gradio built its /monitoring summary (a pandas DataFrame of up to 10,000 events) after every queued
    event, the page's load event and each vote included, though the app turns /monitoring off. With Gradio's
    default (monitoring on) the summary is still computed."""
    assert _heavy_after(probes["summary"]) == [[1, False], [1, True]]


def test_an_event_still_draws_with_agg_where_matplotlib_is_imported(probes):
    assert _heavy_after(probes["backend"]) == ["agg", "svg"]


def test_serve_openai_s_app_imports_neither_gradio_nor_a_model_library(probes):
    """``serve-openai`` shares the app's request-body limits (``body_limit``) without Gradio's ~3 s import."""
    assert _heavy_after(probes["serve_openai"]) == []


def test_the_check_sees_a_heavy_import(probes):
    assert _heavy_after(probes["scipy"]) == ["scipy"]


def test_spaces_is_imported_and_applied_only_on_zero_gpu(probes):
    assert _heavy_after(probes["spaces_off"]) == [True, False]


def test_on_zero_gpu_the_decorator_is_applied_at_import(probes):
    """With ZeroGPU's variables (a device API address that is never called here), the run entry points come
    wrapped by ``spaces.GPU`` as soon as their modules are imported."""
    assert _heavy_after(probes["spaces_on"]) == [True, "realunify_arena.runs", True, True]
