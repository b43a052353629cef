"""Secrets through error paths: every remote family fails in every way while quoting its API key, and the
key appears nowhere served, logged, stored or exported.

Each family (OpenAI images dialect, OpenAI chat dialect, Gemini) runs with its real adapter against a
loopback stand-in that quotes the request's key back in (1) a well-formed HTTP error, (2) a malformed 200
reply (for Gemini one that fails the client's own validation, which quotes the reply), (3) a transport
failure (an illegal HTTP header line holding the key, which the HTTP parser quotes). The keys are
markers in variables whose names look like nothing secret, so only the cards' ``api_key_env`` says what
to take out. The app is ``app.py`` as a process (its whole output captured); runs and judges go through
``/run_instance``; then ``eval`` stores error runs and judge failures, and ``export``/``backup`` copy them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from PIL import Image
from stand_in import JSONHandler, serving

from realunify_arena.adapters.wire import png_base64

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MARKERS = {"STANDIN_OA_MARKER": "marker-oa-7f3e9c21d4b8a6", "STANDIN_GEMINI_MARKER": "marker-gem-52c0e1aa9f37d4"}
MODES = ("error", "malformed", "transport")
UEG_UID = "UEG_1_world_knowledge"
PICTURE = png_base64(Image.new("RGB", (16, 16), (200, 30, 30)))


class QuotingStandIn(JSONHandler):
    """OpenAI-compatible and Gemini REST shapes under ``/<mode>/``; every failure quotes the request's key.

    ``ok`` answers properly (an image; "yes" to a question); the server's ``quoted`` counts the failures
    sent per (family, mode), so the test knows each path was really taken."""

    def do_GET(self):
        self.reply(200, {"object": "list", "data": [{"id": "m", "object": "model"}]})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        key = self.headers.get("x-goog-api-key") or self.headers.get("Authorization", "").removeprefix("Bearer ")
        mode = self.path.split("/")[1]
        gemini = ":generateContent" in self.path
        chat = self.path.endswith("/chat/completions")
        family = "gemini" if gemini else "chat" if chat else "images"
        if mode != "ok":
            with self.server.lock:
                self.server.quoted[(family, mode)] = self.server.quoted.get((family, mode), 0) + 1
        if mode == "transport":  # an illegal header line: the HTTP parser's error quotes it
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Debug " + key.encode() + b"\r\n\r\n{}")
            self.close_connection = True
            return
        if mode == "error" and gemini:
            return self.reply(400, {"error": {"code": 400, "message": f"API key not valid: {key}",
                                               "status": "INVALID_ARGUMENT"}})
        if mode == "error":
            return self.reply(400, {"error": {"message": f"Incorrect API key provided: {key}",
                                               "type": "invalid_request_error", "code": "invalid_api_key"}})
        if gemini:  # malformed: parts must be a list; the client's validation error quotes the value
            return self.reply(200, {"candidates": [{"content": {"role": "model", "parts": key}}]})
        if chat:
            content = "yes" if mode == "ok" else f"no image here; you sent {key}"
            return self.reply(200, {"id": "c", "object": "chat.completion", "created": 0, "model": "m",
                                    "choices": [{"index": 0, "finish_reason": "stop",
                                                 "message": {"role": "assistant", "content": content}}]})
        image = {"b64_json": PICTURE} if mode == "ok" else {"url": f"https://cdn.invalid/{key}.png"}
        return self.reply(200, {"created": 0, "data": [image]})


def write_cards(folder: Path, url: str) -> list[str]:
    folder.mkdir()
    cards = {"oa-images-ok": ("openai", "ok", ["generate"], {"dialect": "images"})}
    for mode in MODES:
        cards[f"oa-images-{mode}"] = ("openai", mode, ["generate"], {"dialect": "images"})
        cards[f"oa-chat-{mode}"] = ("openai", mode, ["understand", "generate"], {"dialect": "chat"})
        cards[f"gemini-{mode}"] = ("gemini", mode, ["understand", "generate"], {})
    for name, (family, mode, capabilities, params) in cards.items():
        gemini = family == "gemini"
        card = {"family": family, "description": f"{name} (secrets test stand-in)", "capabilities": capabilities,
                "endpoint": f"{url}/{mode}" if gemini else f"{url}/{mode}/v1", "checkpoint": "m",
                "api_key_env": "STANDIN_GEMINI_MARKER" if gemini else "STANDIN_OA_MARKER",
                "params": {**params, "timeout_s": 20, **({"attempts": 2} if gemini else {"max_retries": 1})}}
        (folder / f"{name}.yaml").write_text(json.dumps(card), encoding="utf-8")
    return list(cards)


def assert_no_marker(where: str, data: str | bytes) -> None:
    data = data if isinstance(data, bytes) else data.encode("utf-8", "replace")
    for name, value in MARKERS.items():
        assert value.encode() not in data, f"${name} leaked into {where}"


def assert_no_marker_in_tree(folder: Path) -> int:
    files = [p for p in folder.rglob("*") if p.is_file()]
    for path in files:
        assert_no_marker(str(path), path.read_bytes())
    return len(files)


def cli(*args: str, env: dict[str, str]) -> str:
    return clis([args], env=env)[0]


def clis(commands: list[tuple[str, ...]], env: dict[str, str]) -> list[str]:
    """Run the commands at once (as a sharded ``eval`` runs processes side by side on one database), each
    one's output; each is mostly its start (importing the model libraries), which need not take turns."""
    started = [subprocess.Popen([sys.executable, "-m", "realunify_arena", *args], cwd=ROOT, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE) for args in commands]
    printed = []
    for args, process in zip(commands, started):
        try:
            out, err = process.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            for p in started:
                p.kill()
            raise
        assert process.returncode in (0, 1), (args, err[-2000:])
        printed.append(out + err)
    return printed


def test_a_key_quoted_in_any_failure_of_any_remote_family_never_leaves(tmp_path, start_app):
    with serving(QuotingStandIn, quoted={}, lock=threading.Lock()) as server:
        models_dir = tmp_path / "models"
        names = write_cards(models_dir, server.url)
        data = tmp_path / "data"
        data.mkdir()
        db = data / "arena.db"
        temp = tmp_path / "tmp"  # the app's temp folder: Gradio's served copies and trace downloads
        temp.mkdir()
        env = {**MARKERS, "TMPDIR": str(temp), "GRADIO_TEMP_DIR": str(temp / "gradio")}
        app = start_app(db, "--models-dir", str(models_dir), "--models", ",".join(names), "--arena-mode", "live",
                        "--judge", "human", env=env)
        served = [httpx.get(app.url + path, timeout=60).text
                  for path in ("", "config", "gradio_api/info", "?tab=explore&model=gemini-malformed")]
        client = Client(app.url, verbose=False, download_files=False)
        failing = [n for n in names if not n.endswith("-ok")]
        for name in failing:
            reply = client.predict("bundled", UEG_UID, name, "direct", 0, "human", api_name="/run_instance")
            served.append(json.dumps(reply))
            assert reply["status"] == "error" and reply["error"], (name, reply)
            assert "***" in reply["error"] or "Connection error" in reply["error"], (name, reply["error"])
        # judges that fail (a chat reply quoting the key is a reply, not a failure: its text is the answer)
        judges = [n for n in failing if not n.startswith("oa-images") and n != "oa-chat-malformed"]
        for seed, judge in enumerate(judges):
            reply = client.predict("bundled", UEG_UID, "oa-images-ok", "direct", seed, judge, api_name="/run_instance")
            served.append(json.dumps(reply))
            assert reply["status"] == "ok", reply
            judged = reply["judgment"] or {}
            assert reply["judge_problem"] or judged.get("errors"), (judge, reply)
        served.append(client.view_api(print_info=False, return_format="str") or "")
        app.stop()  # the server first: the client's close then need not wait out its heartbeat read (1 s)
        client.close()

        base = {**os.environ, **env, "HF_HUB_OFFLINE": "1"}
        outputs = tmp_path / "out"
        common = ["--models-dir", str(models_dir), "--db", str(db), "--track", "UEG", "--mode", "direct",
                  "--limit", "1", "--no-progress"]
        printed = clis([("eval", "--model", model, "--judge", "gemini-error", *common)
                        for model in ("gemini-malformed", "oa-chat-malformed", "oa-images-error", "gemini-transport")]
                       + [("eval", "--model", "oa-images-ok", "--judge", "gemini-malformed", "--judge-attempts", "1",
                           *common)], env=base)
        printed += [cli("export", "runs", "--out", str(outputs / "runs"), "--db", str(db), env=base),
                    cli("export", "--format", "official", "--judge", "gemini-malformed", "--out",
                        str(outputs / "official"), "--db", str(db), env=base),
                    cli("backup", str(outputs / "backup" / "arena.db"), "--db", str(db), env=base)]

        for family in ("images", "chat", "gemini"):  # every failure was really sent, quoting the key
            for mode in MODES:
                assert server.quoted.get((family, mode)), (family, mode, server.quoted)
    for i, text in enumerate(served):
        assert_no_marker(f"served response {i}", text)
    assert_no_marker("the app's output (log and standard error)", app.log.read_bytes())
    for i, text in enumerate(printed):
        assert_no_marker(f"CLI output {i}", text)
    stored = _error_rows(db)
    assert len(stored) >= 4 and any("***" in error for error in stored), stored  # error runs kept by eval
    assert assert_no_marker_in_tree(data) >= 1  # the database, its journal and the images
    assert assert_no_marker_in_tree(outputs) >= 3
    assert_no_marker_in_tree(temp)


def _error_rows(db: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return [json.dumps(row, default=str) for row in conn.execute("SELECT * FROM runs WHERE status = 'error'")]


def test_the_openai_compatible_server_cleans_a_model_error(tmp_path, monkeypatch):
    """``serve-openai`` over a card whose model fails quoting its key answers 500 without the key."""
    from realunify_arena.cards import load_cards
    from realunify_arena.runtime import ModelPool
    from realunify_arena.serving import BackgroundServer, create_app

    for name, value in MARKERS.items():
        monkeypatch.setenv(name, value)
    with serving(QuotingStandIn, quoted={}, lock=threading.Lock()) as stand_in:
        models_dir = tmp_path / "models"
        write_cards(models_dir, stand_in.url)
        pool = ModelPool(load_cards(models_dir), device="cpu")
        with BackgroundServer(create_app(pool, "gemini-malformed")) as server:
            reply = httpx.post(f"{server.url}/images/generations", json={"prompt": "a red cube"}, timeout=60)
        assert stand_in.quoted.get(("gemini", "malformed"))
    assert reply.status_code == 500 and "ValidationError" in reply.text and "***" in reply.text, reply.text
    assert reply.json()["error"]["type"] == "server_error", reply.text  # OpenAI's type for its own failure
    assert_no_marker("serve-openai's error reply", reply.text)
