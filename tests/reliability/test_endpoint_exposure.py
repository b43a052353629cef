"""A remote card's endpoint address never reaches a visitor: cards pointed at a loopback stand-in that fails
(an HTTP error, a dropped connection, a key refused by the availability probe), ``app.py`` as a process.

Before, the run's error and the judge's problem in the ``/run_instance`` reply, the model menu's
"unavailable" label and the note under the model menu quoted the endpoint URL ("ep-fails at
http://127.0.0.1:PORT/fails/v1: HTTP 500: ..."). The store that ``eval`` writes keeps it: a researcher needs
to know which endpoint failed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from PIL import Image
from stand_in import JSONHandler, serving

from realunify_arena.adapters.wire import png_base64

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
KEY_ENV = "STANDIN_ENDPOINT_KEY"
UEG_UID = "UEG_1_world_knowledge"
PICTURE = png_base64(Image.new("RGB", (16, 16), (30, 200, 30)))


class FailingStandIn(JSONHandler):
    """OpenAI-compatible and Gemini REST shapes under ``/<mode>/``: ``ok`` answers (an image; "yes"),
    ``fails`` answers HTTP 500, ``drops`` closes the connection without a reply, ``refuses`` refuses the
    availability probe's key (401)."""

    def do_GET(self):
        if self.path.startswith("/refuses/"):
            return self.reply(401, {"error": {"message": "bad key"}})
        self.reply(200, {"object": "list", "data": [{"id": "m", "object": "model"}]})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        mode = self.path.split("/")[1]
        if mode == "drops":
            self.close_connection = True
            return
        if mode != "ok":
            return self.reply(500, {"error": {"message": "upstream exploded", "code": 500}})
        if self.path.endswith("/chat/completions"):
            return self.reply(200, {"id": "c", "object": "chat.completion", "created": 0, "model": "m",
                                    "choices": [{"index": 0, "finish_reason": "stop",
                                                 "message": {"role": "assistant", "content": "yes"}}]})
        return self.reply(200, {"created": 0, "data": [{"b64_json": PICTURE}]})


def write_cards(folder: Path, url: str) -> None:
    folder.mkdir()
    chat = {"family": "openai", "capabilities": ["understand", "generate"], "checkpoint": "m",
            "api_key_env": KEY_ENV, "params": {"dialect": "chat", "timeout_s": 20, "max_retries": 0}}
    cards = {
        "ep-ok": {**chat, "capabilities": ["generate"], "endpoint": f"{url}/ok/v1",
                  "params": {"dialect": "images", "timeout_s": 20, "max_retries": 0}},
        "ep-fails": {**chat, "endpoint": f"{url}/fails/v1"},
        "ep-drops": {**chat, "endpoint": f"{url}/drops/v1"},
        "ep-refused": {**chat, "endpoint": f"{url}/refuses/v1"},
        "gem-drops": {"family": "gemini", "capabilities": ["understand", "generate"], "checkpoint": "m",
                      "api_key_env": KEY_ENV, "endpoint": f"{url}/drops", "params": {"timeout_s": 20, "attempts": 1}},
    }
    for name, card in cards.items():
        card = {**card, "description": f"{name} (endpoint exposure stand-in)"}
        (folder / f"{name}.yaml").write_text(json.dumps(card), encoding="utf-8")


def assert_no_address(where: str, text: str, url: str) -> None:
    address = url.removeprefix("http://")  # "127.0.0.1:PORT"
    assert address not in text, f"the stand-in's address {address} reached {where}: {text[:3000]}"
    for path in ("/fails/v1", "/drops/v1", "/refuses/v1", "/ok/v1"):
        assert path not in text, f"the endpoint path {path} reached {where}: {text[:3000]}"


def test_a_remote_cards_endpoint_is_hidden_from_visitors_and_kept_for_the_command_line(tmp_path, start_app):
    env = {KEY_ENV: "standin-endpoint-key-1234"}
    with serving(FailingStandIn) as server:
        models_dir = tmp_path / "models"
        write_cards(models_dir, server.url)
        db = tmp_path / "arena.db"
        app = start_app(db, "--models-dir", str(models_dir), "--models", "ep-ok,ep-fails,ep-drops,ep-refused,gem-drops",
                        "--arena-mode", "live", "--judge", "human", env=env)
        served = {path or "page": httpx.get(app.url + path, timeout=60).text for path in ("", "config")}
        assert "ep-refused (unavailable: " in served["config"], served["config"][:2000]  # the label is there
        client = Client(app.url, verbose=False, download_files=False)
        for model in ("ep-fails", "ep-drops", "gem-drops", "ep-refused"):
            reply = client.predict("bundled", UEG_UID, model, "direct", 0, "human", api_name="/run_instance")
            served[f"run of {model}"] = json.dumps(reply)
            assert reply["status"] == "error" and ("[endpoint]" in reply["error"] or "its endpoint" in reply["error"]), (
                model, reply)
        for seed, judge in enumerate(("ep-fails", "ep-drops", "gem-drops")):
            reply = client.predict("bundled", UEG_UID, "ep-ok", "direct", seed, judge, api_name="/run_instance")
            served[f"judge {judge}"] = json.dumps(reply)
            judged = reply["judge_problem"] or json.dumps(reply["judgment"])  # a failed call is kept as a reply
            assert reply["status"] == "ok" and ("[endpoint]" in judged or "its endpoint" in judged), (judge, reply)
        app.stop()  # the server first: the client's close then need not wait out its heartbeat read (1 s)
        client.close()

        # the note under the model menu, for a card that cannot run: the first card of this app's menu
        only = start_app(tmp_path / "only.db", "--models-dir", str(models_dir), "--models", "ep-refused",
                         "--judge", "human", env=env)
        served["config, ep-refused first"] = text = httpx.get(only.url + "config", timeout=60).text
        assert "**ep-refused** cannot run here: its endpoint rejected the API key" in text, text[:3000]
        only.stop()

        printed = subprocess.run(
            [sys.executable, "-m", "realunify_arena", "eval", "--model", "ep-fails", "--models-dir", str(models_dir),
             "--db", str(tmp_path / "cli.db"), "--track", "UEG", "--mode", "direct", "--limit", "1", "--judge",
             "ep-fails", "--no-progress"], cwd=ROOT, env={**os.environ, **env, "HF_HUB_OFFLINE": "1"},
            capture_output=True, text=True, timeout=600)
    for where, text in served.items():
        assert_no_address(where, text, server.url)
    # the store (what the command line's reports and exports read) names the endpoint that failed
    assert printed.returncode in (0, 1) and "6 error" in printed.stdout, printed.stdout + printed.stderr
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        errors = [json.dumps(row) for row in conn.execute("SELECT * FROM runs WHERE status = 'error'")]
    assert errors and all(f"{server.url}/fails/v1" in e for e in errors), errors
