"""A secret in another form than its own text: cut in half by a shortened message, percent-encoded in a
URL, base64-encoded, or written into a card's endpoint as a URL's password.

Each case is the real CLI as a process (``eval`` stores its error runs in a real SQLite file; ``models``
prints the availability reasons the page's menus also show) against a loopback stand-in. The key is a
marker in a variable named only by the card's ``api_key_env``. What must never appear anywhere: the key, any
12 characters of it in a row, its percent-encoded forms and its base64 forms; the endpoint's password.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from stand_in import JSONHandler, serving

ROOT = Path(__file__).resolve().parents[2]
# Characters a self-chosen key (vLLM's --api-key, a proxy's password) may hold, which a URL must encode.
KEY = "mk/9Qz+Lr7@Wx=Tb4&Vn2#Hc8Jd5"
PROXY_PASSWORD = "Pr0xyPassw0rd99x"


def forms(secret: str) -> set[str]:
    """The key's own text, every 12-character run of it, and its encoded forms (written here, not taken
    from the code under test)."""
    raw = secret.encode()
    found = {secret[i:i + 12] for i in range(len(secret) - 11)}
    found |= {quote(secret, safe=""), quote(secret), quote_plus(secret),
              base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return found


def assert_clean(where: str, text: str, secret: str) -> None:
    for form in forms(secret):
        assert form not in text, f"{form!r} (a form of the secret) leaked into {where}: {text[-600:]}"


class QuotingForms(JSONHandler):
    """``/cut/`` answers Gemini with text only (no image) whose key starts at character 180; ``/encoded/``
    answers the OpenAI images dialect with an image URL quoting the key percent-encoded and base64."""

    def do_GET(self):
        self.reply(200, {"object": "list", "data": [{"id": "m", "object": "model"}]})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        key = self.headers.get("x-goog-api-key") or self.headers.get("Authorization", "").removeprefix("Bearer ")
        if ":generateContent" in self.path:
            text = "I cannot draw that. " + "x" * 155 + f" key {key}"
            return self.reply(200, {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                                                    "finishReason": "STOP"}]})
        url = f"https://cdn.invalid/i.png?s={quote(key, safe='')}&b={base64.b64encode(key.encode()).decode()}"
        return self.reply(200, {"created": 0, "data": [{"url": url}]})


def _card(folder: Path, name: str, card: dict) -> None:
    (folder / f"{name}.yaml").write_text(json.dumps(card), encoding="utf-8")


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "realunify_arena", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=env)


@pytest.mark.slow
def test_a_key_cut_encoded_or_in_a_url_never_leaves(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "STANDIN_FORM_MARKER": KEY}
    with serving(QuotingForms) as server:
        _card(models, "gem-cut", {"family": "gemini", "description": "cut", "capabilities": ["understand", "generate"],
                                  "endpoint": f"{server.url}/cut", "checkpoint": "m",
                                  "api_key_env": "STANDIN_FORM_MARKER", "params": {"timeout_s": 20, "attempts": 1}})
        _card(models, "oa-encoded", {"family": "openai", "description": "encoded", "capabilities": ["generate"],
                                     "endpoint": f"{server.url}/encoded/v1", "checkpoint": "m",
                                     "api_key_env": "STANDIN_FORM_MARKER",
                                     "params": {"dialect": "images", "timeout_s": 20, "max_retries": 0}})
        db = tmp_path / "arena.db"
        printed = []
        for model in ("gem-cut", "oa-encoded"):
            done = _cli(env, "eval", "--model", model, "--models-dir", str(models), "--db", str(db), "--track",
                        "UEG", "--mode", "direct", "--limit", "1", "--judge", "gem-cut", "--no-progress")
            assert done.returncode in (0, 1), done.stderr[-2000:]
            printed.append(done.stdout + done.stderr)
    with sqlite3.connect(db) as conn:
        errors = [json.dumps(row, default=str) for row in conn.execute("SELECT * FROM runs WHERE status = 'error'")]
    assert len(errors) >= 2, errors
    for i, text in enumerate(printed):
        assert_clean(f"eval's output {i}", text, KEY)
    for error in errors:
        assert_clean("a stored error run", error, KEY)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert_clean(str(path), path.read_bytes().decode("utf-8", "replace"), KEY)


def test_a_password_in_a_cards_endpoint_url_is_never_shown(tmp_path):
    """A basic-auth proxy's password written into ``endpoint`` (``https://user:password@host/v1``): ``models``
    (the reasons every menu shows) never shows it, whether the endpoint answers or not. Since cred32 such a card
    is refused when read (the HTTP client sent the password as Basic auth in place of the key:
    ``tests/unit/test_endpoint_userinfo.py``), its file and field named."""
    models = tmp_path / "models"
    models.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    with serving(QuotingForms) as server:
        host = server.url.removeprefix("http://")
        for name, where in (("up", host), ("down", "127.0.0.1:9")):
            _card(models, f"proxy-{name}", {"family": "openai", "description": name, "capabilities": ["generate"],
                                            "endpoint": f"http://alice:{PROXY_PASSWORD}@{where}/v1",
                                            "checkpoint": "m", "params": {"dialect": "images", "timeout_s": 2}})
        done = _cli(env, "models", "--models-dir", str(models))
    out = done.stdout + done.stderr
    for name in ("up", "down"):
        assert f"proxy-{name}.yaml: field 'endpoint': the URL carries user information" in out, out
    assert_clean("models' output", out, PROXY_PASSWORD)


@pytest.mark.parametrize("args", [
    ["-m", "realunify_arena", "leaderboard", "--track", "{token}"],
    ["-m", "realunify_arena", "{token}"],
    ["-m", "realunify_arena", "eval", "--model", "tiny-pair", "--mode", "{token}"],
    ["app.py", "--journal-mode", "{token}"],
])
def test_a_token_pasted_into_an_option_with_fixed_choices_is_not_echoed(args):
    """argparse's own usage error quotes the value typed ("invalid choice: '<value>'"), outside the commands'
    redacted error line: a token pasted into the wrong option reached standard error (a CI log) whole."""
    token = "Zq8dj3kLm2Pq9Rt5Vw7Xy1Bc4Nf6Hg0Jk2Lm8Pq3Rs5"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "MY_SERVICE_TOKEN": token}
    done = subprocess.run([sys.executable, *(a.format(token=token) for a in args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "***" in done.stderr, done.stderr
    assert_clean("the usage error", done.stdout + done.stderr, token)
