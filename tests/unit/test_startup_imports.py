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


def _heavy_after(code: str, *args: str, env: dict | None = None, keep_zero_gpu: bool = False) -> list:
    """The JSON list the code prints last, run in a fresh interpreter (off ZeroGPU unless asked)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    if not keep_zero_gpu:
        env.pop("SPACES_ZERO_GPU", None)
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_building_the_app_with_tiny_cards_imports_no_model_library(tmp_path):
    assert _heavy_after(BUILD, str(tmp_path / "arena.db")) == []


def test_the_check_sees_a_heavy_import():
    code = f"import json, sys\nimport scipy.optimize\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    assert _heavy_after(code) == ["scipy"]


def test_spaces_is_imported_and_applied_only_on_zero_gpu():
    code = ("import json, sys\nfrom realunify_arena import runs, runtime\n"
            "f = lambda: 1\nprint(json.dumps([runtime.zero_gpu(60)(f) is f, 'spaces' in sys.modules]))")
    assert _heavy_after(code) == [True, False]



def test_on_zero_gpu_the_decorator_is_applied_at_import():
    """With ZeroGPU's variables (a device API address that is never called here), the run entry points come
    wrapped by ``spaces.GPU`` as soon as their modules are imported."""
    code = ("import json, sys\nfrom realunify_arena import runs, runtime\n"
            "print(json.dumps(['spaces' in sys.modules, runs._live.__wrapped__.__module__,"
            " runs._live.__code__.co_filename.startswith(sys.modules['spaces'].__path__[0]),"
            " runtime._gpu_call.__code__.co_filename.startswith(sys.modules['spaces'].__path__[0])]))")
    env = {"SPACES_ZERO_GPU": "true", "SPACES_ZERO_DEVICE_API_URL": "http://127.0.0.1:9"}
    assert _heavy_after(code, env=env, keep_zero_gpu=True) == [True, "realunify_arena.runs", True, True]
