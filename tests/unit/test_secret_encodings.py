"""A secret echoed back in another encoding than its own text is masked all the same.

An endpoint, a proxy or a library that quotes a key back may escape it: an HTML error page writes ``&`` as
``&amp;``, a Go service's JSON writes it ``\\u0026`` (``encoding/json`` escapes ``<``, ``>`` and ``&``) and ``/`` may
be ``\\/``, a URL may be percent-encoded with small hex digits, a line may be wrapped inside the key, a Basic
credential is base64 of ``user:KEY`` (whose base64 does not contain base64 of the key alone), and a message may be
upper-cased. Each form here is made by the encoder itself (the standard library, or the rule written out here),
not by the code under test; what must never survive is any 12 characters of the key in a row, in any case, or the
encoded form's own text.
"""

from __future__ import annotations

import base64
import html
import json
import re
import textwrap
from urllib.parse import quote, unquote

import pytest

from realunify_arena.commands._options import CommandError, check_not_secret
from realunify_arena.redaction import redact, visitor_text

# characters a self-chosen key (vLLM's --api-key, a proxy's password) may hold that encodings change
KEY = "mk/9Qz+Lr7@Wx=Tb4&Vn2#Hc8Jd5"


def go_json(text: str) -> str:
    """A JSON string's inside as Go's encoding/json writes it (HTML-safe: ``<``, ``>``, ``&`` as ``\\u00XX``), with
    ``/`` escaped as PHP's json_encode does."""
    inside = json.dumps(text)[1:-1]
    return re.sub(r"[<>&]", lambda m: f"\\u{ord(m.group()):04x}", inside).replace("/", "\\/")


ECHOES = {
    "an HTML error page": f"<html><body><p>Invalid key: {html.escape(KEY)}</p></body></html>",
    "HTML numeric references": "key " + "".join(f"&#{ord(c)};" if not c.isalnum() else c for c in KEY),
    "Go's JSON": '{"error": "invalid key ' + go_json(KEY) + '"}',
    "a URL percent-encoded in small hex": "GET /v1?k=" + quote(KEY, safe="").lower(),
    "a URL percent-encoded in capitals": "GET /v1?k=" + quote(KEY, safe=""),
    "upper case": f"INVALID KEY: {KEY.upper()}",
    "lower case": f"invalid key: {KEY.lower()}",
    "a line wrapped inside it": "invalid key: " + "\n".join(textwrap.wrap(KEY, 10)),
    "a JSON string's escaped line break inside it": json.dumps(KEY[:14] + "\n" + KEY[14:]),
    "tags inside it": f"<code>{KEY[:14]}</code><wbr><code>{KEY[14:]}</code>",
    "base64 of user:key": "credential " + base64.b64encode(f"u:{KEY}".encode()).decode(),
    "base64 of a two-letter user and the key": base64.b64encode(f"ab:{KEY}".encode()).decode(),
    "base64 of Bearer key": base64.b64encode(f"Bearer {KEY}".encode()).decode(),
    "URL-safe base64 after one byte": base64.urlsafe_b64encode(f"x{KEY}y".encode()).decode(),
    "base64 wrapped at 76 characters": base64.encodebytes(("x" * 40 + KEY).encode()).decode(),
    "hex": "dump " + KEY.encode().hex(),
    "a Python repr of a text holding both quotes": repr(f"""'"{KEY}"""),
}


def survivors(text: str, secret: str = KEY) -> list[str]:
    """Every 12-character run of ``secret`` that ``text`` still holds, in any case, as it stands or decoded: HTML
    references and percent-encoding read, white space and escaped line breaks left out, each run of base64
    characters (line breaks left out) from each of its first four characters, each run of hex digits from each of
    its first two."""
    views = [text, html.unescape(text), unquote(text), re.sub(r"\s|\\n", "", text)]
    for run in re.findall(r"[A-Za-z0-9+/=_-]{8,}", re.sub(r"\s", "", text)):
        run = run.replace("-", "+").replace("_", "/").rstrip("=")
        for start in range(4):
            part = run[start:len(run) - (len(run) - start) % 4]
            views.append(base64.b64decode(part, validate=False).decode("latin-1") if "=" not in part else "")
    for run in re.findall(r"[0-9a-fA-F]{8,}", text):
        views += [bytes.fromhex(run[start:len(run) - (len(run) - start) % 2]).decode("latin-1") for start in range(2)]
    low = "\n".join(views).lower()
    return [secret[i:i + 12] for i in range(len(secret) - 11) if secret[i:i + 12].lower() in low]


@pytest.mark.parametrize("echo", ECHOES.values(), ids=ECHOES.keys())
def test_a_secret_echoed_in_another_encoding_is_masked(monkeypatch, echo):
    assert survivors(echo)  # the check below sees the key in this form
    monkeypatch.setenv("MY_SERVICE_KEY", KEY)
    for shown in (redact(echo), visitor_text(echo)):
        assert "***" in shown, shown
        assert not survivors(shown), shown


def test_the_encodings_of_a_key_mask_only_the_key(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_KEY", KEY)
    text = ("status 401 &amp; retry; see https://example.com/docs?a=1&b=2; base64 aGVsbG8gd29ybGQ=; "
            "Tb4 and Vn2 are codes; MK/9 is a page")
    assert redact(text) == text


@pytest.mark.parametrize("name", [KEY.upper(), f"judge {html.escape(KEY)}", quote(KEY, safe="").lower()])
def test_a_name_holding_a_secret_in_another_form_is_refused(monkeypatch, name):
    monkeypatch.setenv("MY_SERVICE_KEY", KEY)
    with pytest.raises(CommandError, match="holds the value of a secret"):
        check_not_secret(name, "--judge-name")
    assert check_not_secret("gemini-2.5-pro", "--judge-name") == "gemini-2.5-pro"
