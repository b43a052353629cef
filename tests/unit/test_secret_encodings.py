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
import ntpath
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


# a passphrase (a database password, a voter salt) holds spaces; an echo writes each space its own way
PASSPHRASE = "correct horse battery staple"
PASSPHRASE_ECHOES = {
    "as it stands": f"login failed for {PASSPHRASE}.",
    "a form body": "pw=" + PASSPHRASE.replace(" ", "+"),
    "percent-encoded": "GET /?pw=" + quote(PASSPHRASE, safe=""),
    "a line wrapped at a space": "password:\n    " + "\n    ".join(textwrap.wrap(PASSPHRASE, 12)),
    "two spaces": PASSPHRASE.replace(" ", "  "),
    "HTML's no-break space": PASSPHRASE.replace(" ", "&nbsp;"),
    "JSON's \\u0020": PASSPHRASE.replace(" ", "\\u0020"),
    "upper case": PASSPHRASE.upper(),
}


@pytest.mark.parametrize("echo", PASSPHRASE_ECHOES.values(), ids=PASSPHRASE_ECHOES.keys())
def test_a_secret_holding_spaces_is_masked_however_they_are_written(monkeypatch, echo):
    # the gap between characters is taken whole (possessive: a run of white space is not tried split every way,
    # whose cost grew with the square of its length), so a space of the secret is matched by the gap itself
    monkeypatch.setenv("DB_PASSWORD", PASSPHRASE)
    shown = redact(echo)
    assert "***" in shown and not survivors(shown, PASSPHRASE), shown


def test_a_secret_holding_spaces_leaves_its_words_alone(monkeypatch):
    monkeypatch.setenv("DB_PASSWORD", PASSPHRASE)
    text = "the correct horse    won; a battery staple" + " " * 500 + "correct horse battery"
    assert redact(text) == text


# names of variables a platform sets that are no secret though they hold AUTH: Hugging Face Spaces give a Space its
# owner's name (SPACE_AUTHOR_NAME, huggingface.co/docs/hub/spaces-overview, "Helper environment variables"), git
# a commit's author
@pytest.mark.parametrize("name", ["SPACE_AUTHOR_NAME", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL"])
def test_an_authors_name_in_the_environment_is_no_secret(monkeypatch, name):
    monkeypatch.setenv(name, "arena-owner-lab")
    text = "model arena-owner-lab/janus-ft at https://huggingface.co/spaces/Arena-Owner-Lab/realunify"
    assert redact(text) == text
    assert check_not_secret("arena-owner-lab/janus-ft", "--model") == "arena-owner-lab/janus-ft"


# what a Space with "hf_oauth: true" (this one's README) is given besides its client secret
# (huggingface.co/docs/hub/spaces-oauth): OAUTH_SCOPES, "openid profile" and the scopes its README asks for, and
# OAUTH_CLIENT_ID, "the client ID of your OAuth app (public)", which every visitor's sign-in URL carries (RFC 6749
# section 2.2: "The client identifier is not a secret")
SIGN_IN = "https://huggingface.co/oauth/authorize?client_id=3f1c9a2e-7b4d-4e8a-9c61-2d5b8e0f4a17&scope=openid%20profile"


@pytest.mark.parametrize("name, value", [("OAUTH_SCOPES", "openid profile"),
                                         ("OAUTH_SCOPES", "openid profile inference-api"),
                                         ("OAUTH_CLIENT_ID", "3f1c9a2e-7b4d-4e8a-9c61-2d5b8e0f4a17")])
def test_a_spaces_public_oauth_settings_are_no_secret(monkeypatch, name, value):
    # before: AUTH in the name made each a secret, so "openid profile" was masked in every text, and a name holding
    # it was refused as holding a secret
    monkeypatch.setenv(name, value)
    text = f"sign in at {SIGN_IN} (scopes: openid profile inference-api)"
    assert redact(text) == text
    assert check_not_secret(value, "--judge-name") == value


def test_a_spaces_oauth_client_secret_stays_a_secret_beside_its_public_settings(monkeypatch):
    monkeypatch.setenv("OAUTH_SCOPES", "openid profile")
    monkeypatch.setenv("OAUTH_CLIENT_ID", "3f1c9a2e-7b4d-4e8a-9c61-2d5b8e0f4a17")
    monkeypatch.setenv("OAUTH_CLIENT_SECRET", "9d2b7c4e-1a6f-4b3e-8c5d-0e7f2a9b6c31")
    assert redact(f"{SIGN_IN} secret 9d2b7c4e-1a6f-4b3e-8c5d-0e7f2a9b6c31") == f"{SIGN_IN} secret ***"


@pytest.mark.parametrize("name", ["GRADIO_AUTH", "AUTH_TOKEN", "PROXY_AUTHORIZATION", "HTTP_AUTHORISATION",
                                  "OAUTH_CLIENT_SECRET"])
def test_a_variable_named_for_authorization_is_still_a_secret(monkeypatch, name):
    monkeypatch.setenv(name, "Zq7-credential-Xv4")
    assert redact("denied: Zq7-credential-Xv4") == "denied: ***"


@pytest.mark.parametrize("value", ["Zq7credentialXv4\n", "Zq7credentialXv4\r\n", "  Zq7credentialXv4 "])
def test_a_secret_set_with_white_space_around_it_is_masked_without_it(monkeypatch, value):
    # a Space secret or an .env value pasted with its line break: clients strip it (huggingface_hub's token, a
    # header value), so an echo holds the key alone
    monkeypatch.setenv("MY_SERVICE_KEY", value)
    assert redact("invalid key Zq7credentialXv4.") == "invalid key ***."
    assert redact('{"detail": "bad key \\"Zq7credentialXv4\\"\\n"}') == '{"detail": "bad key \\"***\\"\\n"}'


def test_a_key_after_an_escaped_line_break_is_masked(monkeypatch):
    # no match starts at the "n" of an escaped line break that more gap follows (a run of escaped line breaks is a
    # gap, tried once), yet a key after one is still seen from its own first character
    monkeypatch.setenv("MY_SERVICE_KEY", "Zq7credentialXv4")
    assert redact('"error:\\nZq7credentialXv4\\n\\n"') == '"error:\\n***\\n\\n"'
    assert redact("n" + "\\n" * 300 + "x") == "n" + "\\n" * 300 + "x"


# keys that stand after a backslash: one of self-chosen characters, NVIDIA's "nvapi-" shape, one starting with "t"
# ("n", "r" and "t" after a backslash also read as an escaped line break or tab)
BACKSLASH_KEYS = {"self-chosen": KEY, "nvapi": "nvapi-Q7rT2mX9pL4vW8yZk3Hc8J", "t": "tQ7rT2mX9pL4vW8yZk3Hc8Jd"}


def _key_path(key: str) -> str:
    """A key file named by the key in a Windows folder, joined by Windows' own rule (``ntpath``)."""
    return ntpath.join("C:\\", "Users", "me", "keys", key)


# a tool's error naming a key file in a Windows folder, and that text as a JSON string, a Python repr and Go's JSON
# write it (each backslash escaped: the key then stands after "\\"), and a key after a lone backslash: each made
# by the encoder; (echo, the echo's text of the key) -> the key's text replaced by the mask is what must be shown
BACKSLASH_ECHOES = {
    "a Windows path": lambda k: (f"cannot open {_key_path(k)}: permission denied", k),
    "a Windows path with a suffix": lambda k: (f"OSError: cannot open {_key_path(k)}.txt", k),
    "the path in JSON": lambda k: (json.dumps({"error": f"cannot open {_key_path(k)}"}), k),
    "the path in a Python repr": lambda k: (repr(f"cannot open {_key_path(k)}"), k),
    "the path in Go's JSON": lambda k: ('{"error": "' + go_json(f"cannot open {_key_path(k)}") + '"}', go_json(k)),
    "the path upper-cased": lambda k: (f"CANNOT OPEN {_key_path(k).upper()}", k.upper()),
    "a lone backslash": lambda k: (f"bad key \\{k}", k),
}


@pytest.mark.parametrize("key", BACKSLASH_KEYS.values(), ids=BACKSLASH_KEYS.keys())
@pytest.mark.parametrize("form", BACKSLASH_ECHOES.values(), ids=BACKSLASH_ECHOES.keys())
def test_a_key_after_a_backslash_is_masked_from_its_first_character(monkeypatch, form, key):
    # before (break33 to session 34): no match started right after a backslash, so each of these showed the whole
    # key, as a key variable's name says nothing of the key's shape
    echo, written = form(key)
    assert echo.count(written) == 1 and survivors(echo, key)  # the echo holds the key, as the encoder wrote it
    monkeypatch.setenv("MY_SERVICE_KEY", key)
    assert redact(echo) == echo.replace(written, "***")
    shown = visitor_text(echo)
    assert "***" in shown and not survivors(shown, key), shown


def test_a_short_value_padded_with_spaces_is_no_secret(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_KEY", "       a")  # 8 characters, one of them the value's
    assert redact("a cat and a hat") == "a cat and a hat"


def test_a_key_in_a_url_quoted_inside_another_url_is_masked(monkeypatch):
    # a login page or a proxy's redirect quotes the URL asked for whole in its own query: the key's "/", "+", "="
    # ... are percent-encoded twice ("%252F"), its letters not at all
    monkeypatch.setenv("MY_SERVICE_KEY", KEY)
    asked = "https://proxy.example/v1/models?api_key=" + quote(KEY, safe="")
    echo = "302 Found: Location: /login?next=" + quote(asked, safe="")
    assert unquote(unquote(echo)).endswith(KEY)  # the echo holds the key, encoded twice
    shown = redact(echo)
    assert not survivors(shown) and not survivors(unquote(shown)) and "***" in shown, shown


def test_a_long_secret_is_masked_as_written_in_either_case(monkeypatch):
    # past redaction.MAX_ESCAPED_CHARS (a PEM key in a variable) a secret is matched as written, in either case: its
    # forms' regex took seconds to compile; a key sent to endpoints is far shorter
    body = "\n".join(base64.b64encode(bytes((i + j) % 256 for j in range(48))).decode() for i in range(0, 1200, 48))
    pem = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----"
    monkeypatch.setenv("JWT_PRIVATE_KEY", pem + "\n")
    assert redact(f"x {pem} y") == "x *** y"
    assert redact(f"x {pem.upper()} y") == "x *** y"
