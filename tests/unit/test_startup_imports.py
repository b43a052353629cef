"""Start-up imports nothing heavy (issue 18): building the app with its model pool loads no model library.

Torch comes in when a model is first needed, ``spaces`` only on ZeroGPU. Checked in a fresh interpreter
(``sys.modules`` after the build), since this test process has long imported everything.
"""

from __future__ import annotations

import json
import os
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
