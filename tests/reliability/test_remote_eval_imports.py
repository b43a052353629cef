"""``eval`` of a model judged by a model, both behind APIs, loads no local model library.

Neither an API's adapter nor its judge runs anything here, so torch, transformers and diffusers have no
work to do in that process; importing them cost each such ``eval`` 4 to 7 seconds on a 2-core machine
(the default device resolved as the pool was made and at every remote load, and ``--no-progress``
importing every library to switch its bars off). The command runs in a process of its own, against a
loopback OpenAI-compatible stand-in (images dialect for the model, chat dialect for the judge), and
reports which of those libraries it imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from stand_in import JSONHandler, serving

from realunify_arena.adapters.wire import png_base64

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PICTURE = png_base64(Image.new("RGB", (16, 16), (20, 120, 220)))
LIBRARIES = ("torch", "transformers", "diffusers")
RUN = """
import json, sys
from realunify_arena.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "imported": [m for m in %r if m in sys.modules]}))
""" % (LIBRARIES,)


class Answers(JSONHandler):
    """An image for every generation request, "yes" to every question."""

    def do_GET(self):
        self.reply(200, {"object": "list", "data": [{"id": "m", "object": "model"}]})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.endswith("/chat/completions"):
            return self.reply(200, {"id": "c", "object": "chat.completion", "created": 0, "model": "m",
                                    "choices": [{"index": 0, "finish_reason": "stop",
                                                 "message": {"role": "assistant", "content": "yes"}}]})
        return self.reply(200, {"created": 0, "data": [{"b64_json": PICTURE}]})


@pytest.mark.parametrize("progress", [[], ["--no-progress"]])
def test_an_eval_of_remote_models_imports_no_model_library(tmp_path, progress):
    models = tmp_path / "models"
    models.mkdir()
    with serving(Answers) as server:
        for name, capabilities, dialect in (("api-draws", ["generate"], "images"),
                                            ("api-judges", ["understand", "generate"], "chat")):
            card = {"family": "openai", "description": f"{name} (stand-in)", "capabilities": capabilities,
                    "endpoint": f"{server.url}/v1", "checkpoint": "m",
                    "params": {"dialect": dialect, "timeout_s": 30, "max_retries": 0}}
            (models / f"{name}.yaml").write_text(json.dumps(card), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-c", RUN, "eval", "--model", "api-draws", "--judge", "api-judges", "--models-dir",
             str(models), "--db", str(tmp_path / "arena.db"), "--track", "UEG", "--mode", "direct", "--limit", "1",
             *progress], cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True,
            timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "judgments: 6 made (0 with judge errors)" in done.stdout, done.stdout  # it really ran and judged
    assert report["imported"] == [], report
