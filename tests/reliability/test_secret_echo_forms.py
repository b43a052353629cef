"""A key an endpoint echoes back in another encoding never reaches a visitor, the log or the database.

An OpenAI-compatible stand-in answers every request with an HTTP 400 whose body quotes the request's key as a proxy
or service in front of a model may write it: an HTML error page (``&`` as ``&amp;``), a URL percent-encoded in
small hex digits, upper case, wrapped over lines, base64 of ``user:KEY`` (a Basic credential without its header
name), Go's JSON (``\\u0026``, ``\\/``) in a body the client cannot read as JSON. Each form is made here by the
encoder itself. The key holds characters these encodings change, as a self-chosen key (vLLM's ``--api-key``) may;
its variable's name says nothing secret, so only the card's ``api_key_env`` names it. ``app.py`` as a process
(its whole output captured), ``/run_instance`` for each card; the database file and its journal are read whole.
Before: the run's error quoted most of the key in every form but its own (``error_line`` takes the key out as
written, and the redaction matched only the key, its percent-encoding in capitals and its base64 standing alone).
Before session 34 the ``winpath`` form (a key file's Windows path, the key right after a backslash) showed the
whole key: no match started after a backslash.
"""

from __future__ import annotations

import base64
import html
import json
import re
import textwrap
import threading
from urllib.parse import quote, unquote

import pytest
from gradio_client import Client
from stand_in import JSONHandler, serving

pytestmark = pytest.mark.slow

KEY = "mk/9Qz+Lr7@Wx=Tb4&Vn2#Hc8Jd5"
KEY_ENV = "STANDIN_ECHO_VARIABLE"
UEG_UID = "UEG_1_world_knowledge"


def go_json(text: str) -> str:
    inside = json.dumps(text)[1:-1]
    return re.sub(r"[<>&]", lambda m: f"\\u{ord(m.group()):04x}", inside).replace("/", "\\/")


FORMS = {  # mode -> (content type, body quoting the key ``k``)
    "html": lambda k: ("text/html", f"<html><body><h1>401</h1><p>bad key {html.escape(k)}</p></body></html>"),
    "percent": lambda k: ("text/plain", "denied: /v1/models?k=" + quote(k, safe="").lower()),
    "upper": lambda k: ("text/plain", "INVALID KEY " + k.upper()),
    "wrapped": lambda k: ("text/plain", "invalid key:\n" + "\n".join(textwrap.wrap(k, 10))),
    "basic": lambda k: ("text/plain", "credential " + base64.b64encode(f"u:{k}".encode()).decode() + " refused"),
    "gojson": lambda k: ("text/plain", '{"error": "invalid key ' + go_json(k) + '"'),
    # a key file's Windows path in Go's JSON: the key after an escaped backslash (``C:\\keys\\mk\/9Qz...``)
    "winpath": lambda k: ("text/plain", '{"error": "cannot open ' + go_json("C:\\keys\\" + k) + '"'),
}


class EchoingStandIn(JSONHandler):
    """Every POST under ``/<mode>/`` is a 400 quoting the key in ``FORMS[mode]``; GET lists a model."""

    def do_GET(self):
        self.reply(200, {"object": "list", "data": [{"id": "m", "object": "model"}]})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        mode = self.path.split("/")[1]
        content_type, body = FORMS[mode](key)
        data = body.encode()
        self.send_response(400)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        with self.server.lock:
            self.server.quoted[mode] = self.server.quoted.get(mode, 0) + 1


def survivors(data: bytes | str) -> list[str]:
    """Every 12-character run of the key that ``data`` holds in any case, as it stands, with HTML references and
    percent-encoding read, with white space left out, or in base64 from any of a base64 run's first four
    characters (written here: the code under test is not asked)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    views = [text, html.unescape(text), unquote(text), re.sub(r"\s|\\n", "", text)]
    for run in re.findall(r"[A-Za-z0-9+/]{16,}", text):
        views += [base64.b64decode(run[s:len(run) - (len(run) - s) % 4]).decode("latin-1") for s in range(4)]
    low = "\n".join(views).lower()
    return [KEY[i:i + 12] for i in range(len(KEY) - 11) if KEY[i:i + 12].lower() in low]


def test_a_key_echoed_in_another_encoding_never_leaves(tmp_path, start_app):
    for mode, form in FORMS.items():  # each form really holds the key, as the check below reads it
        assert survivors(form(KEY)[1]), mode
    with serving(EchoingStandIn, quoted={}, lock=threading.Lock()) as server:
        models = tmp_path / "models"
        models.mkdir()
        for mode in FORMS:
            card = {"family": "openai", "description": f"echo-{mode} (stand-in)",
                    "capabilities": ["understand", "generate"], "endpoint": f"{server.url}/{mode}/v1",
                    "checkpoint": "m", "api_key_env": KEY_ENV,
                    "params": {"dialect": "chat", "timeout_s": 20, "max_retries": 0}}
            (models / f"echo-{mode}.yaml").write_text(json.dumps(card), encoding="utf-8")
        data = tmp_path / "data"
        data.mkdir()
        db = data / "arena.db"
        app = start_app(db, "--models-dir", str(models), "--models", ",".join(f"echo-{m}" for m in FORMS),
                        "--arena-mode", "live", "--judge", "human", env={KEY_ENV: KEY})
        client = Client(app.url, verbose=False, download_files=False)
        replies = {}
        for mode in FORMS:
            replies[mode] = client.predict("bundled", UEG_UID, f"echo-{mode}", "direct", 0, "human",
                                           api_name="/run_instance")
        app.stop()
        client.close()
        assert set(server.quoted) == set(FORMS), server.quoted  # every form was sent
    for mode, reply in replies.items():
        assert reply["status"] == "error" and "HTTP 400" in reply["error"], (mode, reply)
        assert not survivors(json.dumps(reply)), (mode, reply["error"])
    assert not survivors(app.log.read_bytes()), "the app's output"
    for path in data.rglob("*"):
        if path.is_file():
            assert not survivors(path.read_bytes()), path
