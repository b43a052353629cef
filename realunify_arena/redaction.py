"""Secrets out of every text the app shows, stores, exports or logs (``redact``, ``error_text``); server
addresses and folders out of what a visitor sees (``visitor_text``).

An endpoint, a proxy in front of it, or a library's validation error may quote an API key back; any
exception text can therefore hold one. Every place where an exception becomes text that leaves the
process (a run's ``Trace.error``, a judge's failed reply or problem, the OpenAI-compatible server's
error body, a command's error line, a log record) goes through ``error_text`` or ``redact``, whatever the
exception's type, so no adapter has to get its own cleaning right.

What is taken out (each replaced by ``***``):

- the value of every environment variable named by a loaded card's ``api_key_env`` (``register_secret_env``)
  or whose name says it holds a secret (contains ``KEY``, ``TOKEN``, ``SECRET``, ``PASSWORD``, ``PASSWD``,
  ``SALT``, ``CREDENTIAL`` or ``AUTH``, not ``AUTHOR``; not one ending in ``CLIENT_ID`` or ``SCOPES``, an OAuth
  app's public identifier and scopes: ``_secret_by_name``), when the value is at least ``MIN_SECRET_CHARS`` long
  (shorter values are settings such as ``1``, not keys, and would blank ordinary words);
- common key shapes: OpenAI ``sk-...``, Google ``AIza...``, Hugging Face ``hf_...``, the credentials after
  ``Bearer``, after a known scheme of an ``Authorization`` field (``Basic``, ``Token``, ...: ``_AUTH_SCHEMES``) or
  after any other where the credential ends the field (not in a sentence: "see RFC7617 for ...") and after an
  ``Authorization``, ``x-goog-api-key``, ``x-api-key`` or ``api_key`` field when
  they look like one (6+ characters with a digit or an inner ``.``, ``/``, ``+``, ``=``, ..., or 20+: model
  replies are redacted too, and in "a torch bearer running" the word after "bearer" is no key), and
  ``key=``, ``token=`` and a signed URL's signature and credential in URLs (``X-Amz-Signature=``, ``sig=``, ...:
  ``_CREDENTIAL_QUERY``; the host, path and other parameters stay);
- the value after a command-line option whose name ends in a secret's word (``--api-key VALUE``,
  ``--hf-token=VALUE``, ``--voter-salt VALUE``: ``_SECRET_OPTION``), whatever its length: no command takes a
  secret as an option (they come from environment variables, which ``ps`` does not show), so such an option is
  a mistake argparse's "unrecognized arguments" error would echo;
- each secret value also in the forms an echo gives it (``_secret_pattern``): each character as itself in either
  case or escaped as percent-encoding (either case of hex, ``+`` for a space), a JSON or JavaScript string writes
  it (``\\u0026``, ``\\/``), a Python repr (``\\x26``, ``\\'``) or HTML (``&amp;``, ``&#38;``, ``&#x26;``), with
  white space or HTML tags between characters (a line wrapped, ``<wbr>``); its base64 (standard and
  URL-safe) where it starts at any of the three byte offsets inside a longer text (``user:KEY`` of a Basic
  credential, ``Bearer KEY``), and its hex; a text of a secret longer than ``MAX_ESCAPED_CHARS`` (a PEM key) as
  written, in either case;
- the password of a URL's user information (``https://user:password@host``), such as a proxy variable's URL
  quoted in an error: the user name stays. (A card's ``endpoint`` or a base URL variable with user information
  is refused before any client sees it: ``url_credentials``.)

What the public app shows a visitor (a run's error, a judge problem or failed reply, an availability
reason, a refusal) goes through ``visitor_text``: also no endpoint address of a card (``register_endpoint``),
of ``$HF_ENDPOINT`` or of a proxy (``without_endpoints``), and no server folder (``without_paths``). The
command line, the log and the store keep both.

A text shortened for a message must be redacted *before* the cut (``shortened``): a cut through a key
leaves a part of it that no longer matches the whole value.
"""

from __future__ import annotations

import argparse
import base64
import functools
import ipaddress
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

MASK = "***"
MIN_SECRET_CHARS = 8
# what every --help says of secrets (``cli.build_parser``, ``settings._parser``): none is taken as an option
SECRETS_FROM_ENV = ("Secrets come from environment variables only (a card's api_key_env such as OPENAI_API_KEY, "
                    "HF_TOKEN, REALUNIFY_VOTER_SALT): no option takes one, as a command line is visible to every "
                    "user of the machine (ps) and kept in shell history.")
# "AUTH" but not "AUTHOR" ("AUTHORIZATION" is): a Hugging Face Space is given its owner's name as SPACE_AUTHOR_NAME,
# git a commit's author as GIT_AUTHOR_NAME; masked as a secret, the owner's name went out of every repo id
# ("owner/model"), Hub URL and message, in any case
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW(?:OR)?D|SALT|CREDENTIAL|AUTH(?!OR(?!I[SZ]))", re.IGNORECASE)
# ... but not a name whose last words say it holds an OAuth client's identifier or its scopes, which are no secret:
# RFC 6749 section 2.2 ("The client identifier is not a secret; it is exposed to the resource owner") and section 3.3
# (scopes go in the authorization request's URL), and the Hugging Face Spaces OAuth guide
# (huggingface.co/docs/hub/spaces-oauth): a Space with ``hf_oauth: true`` is given OAUTH_CLIENT_ID ("the client ID
# of your OAuth app (public)", in every visitor's sign-in URL), OAUTH_SCOPES ("openid profile": masked as a secret,
# those two words went out of every text), OPENID_PROVIDER_URL (no secret word) and OAUTH_CLIENT_SECRET, which stays one
_PUBLIC_SETTING_NAME = re.compile(r"(?:^|_)(?:CLIENT_ID|SCOPES?)$", re.IGNORECASE)


def _secret_by_name(name: str) -> bool:
    """Whether the environment variable ``name`` holds a secret by its name alone (``_SECRET_NAME``, not
    ``_PUBLIC_SETTING_NAME``): ``OPENAI_API_KEY``, ``HF_TOKEN``, ``OAUTH_CLIENT_SECRET`` do; ``SPACE_AUTHOR_NAME``,
    ``OAUTH_CLIENT_ID``, ``OAUTH_SCOPES`` do not."""
    return bool(_SECRET_NAME.search(name)) and not _PUBLIC_SETTING_NAME.search(name)


def _credential(chars: str) -> str:
    """A regex for a credential made of ``chars`` (a character class) after ``Bearer`` or a header name: at
    least 6 of them, with a digit or an inner ``.``, ``_``, ``~``, ``+``, ``/`` or ``=`` (a JWT, base64), or
    20 or more. Model replies go through ``redact`` too (a refined prompt is sent on to generation), and an
    ordinary word after "bearer" ("a torch bearer running") or "Authorization:" is no credential."""
    return (rf"(?={chars}{{6}})(?={chars}*?(?:[0-9]|[._~+/=][A-Za-z0-9])|{chars}{{20}}){chars}+")


# schemes of an Authorization field (other than Bearer) whose next word is its credential wherever it stands: IANA's
# HTTP Authentication Scheme Registry (https://www.iana.org/assignments/http-authschemes) and schemes APIs use
# unregistered (Token: GitHub, Django REST framework; ApiKey, Api-Key, Key: fal.ai; NTLM; AWS4-HMAC-SHA256)
_AUTH_SCHEMES = (r"(?:Basic|Concealed|Digest|DPoP|GNAP|HOBA|Mutual|Negotiate|OAuth|PrivateToken|SCRAM-SHA-1"
                 r"|SCRAM-SHA-256|vapid|Token|Api-?Key|Key|NTLM|AWS4-HMAC-SHA256)\b")


# an Authorization field's name, and those of the fields that carry a key, as HTTP writes them and as a CGI or WSGI
# environment (RFC 3875 section 4.1.18) and the debug pages and dumps that list one write them (``HTTP_AUTHORIZATION``,
# ``HTTP_X_API_KEY``: Django's 500 page, PHP's ``$_SERVER``), or a program's keyword (``x_api_key=``): "_" may
# come before the name and join its words, a letter or digit may not come before it
_AUTH_FIELD = r"(?<![A-Za-z0-9])(?:proxy[-_])?authorization\b"
_KEY_FIELD = r"(?<![A-Za-z0-9])(?:(?:proxy[-_])?authorization|x[-_]goog[-_]api[-_]key|x[-_]api[-_]key|api[-_]?key)\b"


# the last word of an option name that says its value is a secret ("--api-key", "--hf-token", "--db-password"); an
# option that only mentions one ("--max-new-tokens", "--key-file") is not one, and a value taken from a variable
# ("--api-key $VLLM_API_KEY") is no secret
_SECRET_OPTION = re.compile(r"(?<![\w-])(--?(?:[A-Za-z0-9]+[-_])*(?:(?:api)?key|token|secret|passw(?:or)?d|salt"
                            r"|credentials?|auth)(?:=|\s+)[\"']?)(?![-$])[^\s'\"]+", re.IGNORECASE)


def literal_secret_options(command: str) -> list[str]:
    """The options in ``command`` (a shell command line, as a card's ``serve``) named for a secret whose value is
    written out rather than taken from a variable: ``["--api-key"]`` for ``vllm serve m --api-key abc123``,
    ``[]`` for ``--api-key "$VLLM_API_KEY"`` or ``--api-key=${KEY}``."""
    return [match.group(1).rstrip("=\"' \t\n") for match in _SECRET_OPTION.finditer(command)]


# the query parameters of a URL whose value is a key or a signature: a key (``key=``, ``api_key=``), a token
# (``token=``, ``access_token=``; OAuth's ``id_token=``, ``refresh_token=``, ``client_secret=``), a password, and
# those of a signed URL (an image or file a model or storage answers with; its host and path are kept): AWS Signature
# Version 4 (Amazon S3 API Reference, "Authenticating Requests: Using Query Parameters": ``X-Amz-Credential``,
# ``X-Amz-Signature``, ``X-Amz-Security-Token``) and version 2 (``AWSAccessKeyId``, ``Signature``), Google Cloud
# Storage's V4 signing (``X-Goog-Credential``, ``X-Goog-Signature``) and V2 (``GoogleAccessId``, ``Signature``), Azure
# Storage's shared access signature (``sig``: "Create a service SAS"), CloudFront's signed URLs (``Signature``). A
# signature is a credential though no variable holds it: anyone with the URL may read the object until it expires.
# Also a private Hugging Face Space's ``__sign=`` (the signed token its embed URL carries, which opens the Space).
# After ``?``, ``&``, ``;`` (HTML's ``&amp;``), ``#`` (an OAuth implicit grant's redirect carries its access_token
# and OpenID Connect's id_token in the fragment: RFC 6749 section 4.2.2, OIDC Core 1.0 section 3.2.2.5) or a JSON
# string's ``\\u0026``; and percent-encoded once or twice (``%3Fsig%3D``, ``%2526sig%253D``: a signed URL quoted
# whole in another URL's query, as an image proxy's ``?url=`` or a sign-in page's ``?next=`` holds it)
_CREDENTIAL_QUERY = (r"(?:key|api_?key|(?:access_|id_|refresh_)?token|client_secret|password|sig|signature"
                     r"|x-(?:amz|goog)-(?:credential|signature)|x-amz-security-token|awsaccesskeyid|googleaccessid"
                     r"|__sign)")


def _basic_credential(match: re.Match) -> str:
    """``Authorization: Basic <token>``'s token masked when it is what RFC 7617 makes it, base64 of ``user:password``
    (text holding a colon): the shape rule (``_credential``) lets a short one pass ("dXNlcjpwYXNz", ``user:pass``),
    while "Basic authentication is required" is prose and stays."""
    token = match.group(2)
    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return match.group(0)
    return match.group(1) + MASK if ":" in decoded and decoded.isprintable() else match.group(0)


_SHAPES = (
    (_SECRET_OPTION, r"\1" + MASK),
    (re.compile(r"""(""" + _AUTH_FIELD + r"""["']?\s*[:=]\s*["']?Basic[ \t]+)"""
                r"""([A-Za-z0-9+/]{4,}=*)(?![A-Za-z0-9+/=])""", re.IGNORECASE), _basic_credential),
    (re.compile(r"(\bBearer\s+)" + _credential("[A-Za-z0-9._~+/=-]"), re.IGNORECASE), r"\1" + MASK),
    # after an Authorization header's scheme other than Bearer (RFC 9110 section 11.4, ``auth-scheme 1*SP token68``):
    # ``Basic base64(user:password)`` (RFC 7617), which a proxy in front of an endpoint may add and echo back. After
    # a known scheme (_AUTH_SCHEMES) wherever the credential stands; after any other word only where the credential
    # ends the field (the line, a quote, a comma, a bracket): "Authorization: see RFC7617 for Basic" and
    # "authorization: requires gpt-4o access" are prose, whose second word is no credential
    (re.compile(r"""(""" + _AUTH_FIELD + r"""["']?\s*[:=]\s*["']?""" + _AUTH_SCHEMES + r"""[ \t]+)"""
                + _credential("[A-Za-z0-9._~+/=-]"), re.IGNORECASE), r"\1" + MASK),
    (re.compile(r"""(""" + _AUTH_FIELD + r"""["']?\s*[:=]\s*["']?(?!Bearer\b)[A-Za-z][A-Za-z0-9!#$%&*+.^_`|~-]*"""
                r"""[ \t]+)""" + _credential("[A-Za-z0-9._~+/=-]") + r"""(?<!\.)(?=[ \t]*(?:$|[\r\n"'`,;)}\]>]))""",
                re.IGNORECASE | re.MULTILINE), r"\1" + MASK),
    (re.compile(r"""(""" + _KEY_FIELD + r"""["']?\s*[:=]\s*["']?)"""
                r"""(?!Bearer\b)""" + _credential(r"""[^\s"',;&)}\]]"""), re.IGNORECASE), r"\1" + MASK),
    (re.compile(r"((?:[?&;#]|\\u0026)" + _CREDENTIAL_QUERY + r"=)(?:(?!\\u0026)[^\s&#\"'<>])+", re.IGNORECASE),
     r"\1" + MASK),
    # the same in a URL quoted whole in another's query, its "?", "&" and "=" percent-encoded once or twice
    (re.compile(r"(%(?:25)?(?:3F|26)" + _CREDENTIAL_QUERY + r"%(?:25)?3D)(?:(?!%(?:25)?26|\\u0026)[^\s&#\"'<>])+",
                re.IGNORECASE), r"\1" + MASK),
    (re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+(?=@)"), r"\1" + MASK),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{20,}"), MASK),
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}"), MASK),
)
_registered: set[str] = set()
_endpoint_addresses: set[tuple[str, int | None]] = set()  # (host, port): see _address
_lock = threading.Lock()


def register_secret_env(name: str | None) -> None:
    """Treat the variable ``name`` (a card's ``api_key_env``) as a secret from now on; ``None`` is ignored."""
    if name:
        with _lock:
            _registered.add(name)


def register_endpoint(url: str | None) -> None:
    """Hide the address of ``url`` (a card's ``endpoint``) in what a visitor sees from now on (``visitor_text``,
    ``without_endpoints``); ``None`` or a URL without a host is ignored."""
    address = _address(url) if url else None
    if address:
        with _lock:
            _endpoint_addresses.add(address)


def secret_values() -> list[str]:
    """The current values of every secret variable (registered or secret by name) and their encoded forms
    (``_wire_forms``), longest first, so a key that contains another is masked whole."""
    with _lock:
        names = set(_registered)
    # white space around a value is not the secret's (a value pasted with its line break; a client strips it)
    values = {value.strip() for name, value in os.environ.items()
              if (name in names or _secret_by_name(name)) and len(value.strip()) >= MIN_SECRET_CHARS}
    return sorted({form for value in values for form in _wire_forms(value)}, key=len, reverse=True)


@functools.lru_cache(maxsize=64)
def _wire_forms(value: str) -> frozenset[str]:
    """``value`` and the encodings of it that are other text (each character's escapes are ``_secret_pattern``'s):
    base64, standard and URL-safe, of ``value`` standing at each of the three byte offsets of a longer text (the
    characters that depend on its bytes alone: ``base64("user:" + value)`` holds one of them, whatever the user
    name), and its hex."""
    raw = value.encode("utf-8", "surrogatepass")
    forms = {value, raw.hex()}
    for offset in range(3):  # base64 turns 3 bytes into 4 characters; a character holds 6 bits
        encoded = base64.b64encode(bytes(offset) + raw + bytes(2)).decode()
        middle = encoded[-(-8 * offset // 6):8 * (offset + len(raw)) // 6]
        whole = base64.b64encode(raw).decode() if offset == 0 else ""  # with its padding, when it stands alone
        forms |= {middle, middle.replace("+", "-").replace("/", "_"), whole, whole.replace("+", "-").replace("/", "_")}
    return frozenset(form for form in forms if form)


# the named HTML character references (HTML Living Standard section 13.5) of the characters a secret may hold
_HTML_NAMES = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos", " ": "nbsp"}
# what may stand between two characters of an echoed secret: white space (a wrapped line; an HTML page's tags taken
# out, as ``wire.error_line`` takes them out), a JSON string's escaped line break, an HTML tag (``<wbr>``, where a
# page lets a long word wrap, or a key written in two elements). Possessive (``*+``): a gap, once taken, is never
# given back, so a failed match costs one pass over it; before, a secret holding a space ("correct horse ...")
# tried every split of a run of white space after its first word between the gap and the space, and a text of
# "correct" and 8,000 spaces took ~3 s (100,000: ~10 minutes). A white-space character of the secret is therefore
# matched by the gap and its other forms are optional (``_escaped_char``).
_GAP_STEP = r"(?:\s|\\[nrt]|<[^<>]{0,200}>)"
_GAP = _GAP_STEP + "*+"


def _escaped_char(char: str) -> str:
    """A regex (to compile ignoring case) for ``char`` as itself or as an encoding writes it: percent-encoded (RFC 3986
    section 2.1, its UTF-8 bytes; twice too), ``+`` for a space (a form body), a JSON or JavaScript string's
    ``\\uXXXX`` (RFC 8259 section 7; two of them for a character past U+FFFF) and backslash before a mark (``\\/``,
    ``\\"``; a repr's ``\\'``), a Python repr's ``\\xXX``, and HTML's numeric and named character references."""
    code = ord(char)
    data = char.encode("utf-8", "surrogatepass")
    units = [code] if code < 0x10000 else [0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)]
    # percent-encoded once, or twice ("%252F": a URL quoting the key in its query, quoted whole inside another's,
    # as a login page's ``?next=`` or a proxy's redirect holds it)
    forms = [re.escape(char), "".join(f"%(?:25)?{byte:02x}" for byte in data),
             "".join(rf"\\u{unit:04x}" for unit in units),
             rf"&\#0*{code};", rf"&\#x0*{code:x};"]
    if code < 0x100:
        forms.append(rf"\\x{code:02x}")
    if not char.isalnum():
        forms.append(r"\\" + re.escape(char))
    if char == " ":
        forms.append(r"\+")
    if char in _HTML_NAMES:
        forms.append(f"&{_HTML_NAMES[char]};")
    if char.isspace():  # as itself it is the gap's (``_GAP``, possessive): only an escaped form is left to match
        return f"(?:{'|'.join(forms[1:])})?"
    return f"(?:{'|'.join(forms)})"


@functools.lru_cache(maxsize=8)
def _secret_pattern(secrets: tuple[str, ...]) -> re.Pattern | None:
    """One regex for every text of ``secrets`` (``secret_values()``, longest first) in any of its characters'
    escaped forms (``_escaped_char``), ignoring case, white space allowed between characters (``_GAP``); None for
    no secrets. A secret's white space at either end is not part of it (a value pasted with a line break after it).

    No match starts inside a gap, so a failed try costs one pass over the gap after its start, once per gap: not
    at the ``n``, ``r`` or ``t`` of an escaped line break or tab (``\\n``) that a gap goes on after (another
    escape, white space, a tag: a JSON text of 50,000 ``\\n`` in a row cost ~1 minute when each ``n`` was a start
    whose gap ran to the end), and not with white space. Any other character after a backslash may start one: a
    key in a Windows path (``C:\\keys\\KEY``), after an escaped backslash (``"\\\\KEY"``) or after an escaped
    line break (``\\nKEY``) is masked from its first character, one starting with ``n`` (``nvapi-...``) too
    unless white space, a tag or an escape comes right after that ``n``. (Since break33 to session 34 no match
    started after any backslash, and such a key was not masked at all.)"""
    forms = [secret.strip() for secret in secrets]
    forms = [form for form in forms if form]
    if not forms:
        return None
    # what a match can start with (a form's first character, or an escape's "%", "\\" or "&"), looked at first: a
    # position that cannot start one is passed over without trying each form (5 keys, 100,000 characters: ~13 ms
    # against ~95 ms)
    first = "".join(sorted({form[0] for form in forms} | {"%", "\\", "&"}))
    inside_gap = rf"(?<=\\)[nrt]{_GAP_STEP}"  # the "n" of "\\n" with more gap after it (see above)
    return re.compile(rf"(?=[{re.escape(first)}])(?!{inside_gap})(?:" + "|".join(map(_form_pattern, forms)) + ")",
                      re.IGNORECASE)


# the longest text of a secret matched in its echoes' forms (``_secret_pattern``); a longer one (a PEM private key or a
# service account's JSON in a variable: no endpoint is sent one, so none echoes it escaped) is matched as written, in
# either case: its forms' regex, ~70 characters a character, took ~9 s to compile for a 1,700-character PEM key (and
# each command of the CLI compiles it once)
MAX_ESCAPED_CHARS = 256


def _form_pattern(form: str) -> str:
    """The regex of one text of a secret (``_secret_pattern``): each character in its forms, gaps between them, up to
    ``MAX_ESCAPED_CHARS``; as written past it."""
    return _GAP.join(map(_escaped_char, form)) if len(form) <= MAX_ESCAPED_CHARS else re.escape(form)


def holds_secret(text: str, secrets: list[str] | None = None) -> bool:
    """Whether ``text`` holds a secret's value in any form ``redact`` masks (``secrets``: as for ``redact``)."""
    pattern = _secret_pattern(tuple(secret_values() if secrets is None else secrets))
    return bool(text and pattern and pattern.search(text))


def shortened(text: str, limit: int, mark: str = "…") -> str:
    """``text`` redacted, then cut to at most ``limit`` characters (``mark`` ends a cut): redacting first
    means a cut never leaves part of a key."""
    text = redact(text)
    return text if len(text) <= limit else text[:max(0, limit - len(mark))] + mark


def redact(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with every secret value and key shape replaced by ``***`` (see the module docstring).
    ``secrets``: ``secret_values()`` read once by a caller redacting many texts (reading the environment is
    most of a call's cost, ~50 us)."""
    if not text:
        return text
    pattern = _secret_pattern(tuple(secret_values() if secrets is None else secrets))
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


def each_string(value, change: Callable[[str], str]):
    """``value`` (JSON-like: dicts, lists, strings, numbers) with ``change`` applied to every string in it,
    dict keys kept (tuples become lists)."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {key: each_string(item, change) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [each_string(item, change) for item in value]
    return value


def redact_all(value, secrets: list[str] | None = None):
    """``value`` (JSON-like) with ``redact`` applied to every string in it: a judgment's details as stored (its
    judge's replies) before they are copied or written elsewhere."""
    secrets = secret_values() if secrets is None else secrets
    return each_string(value, lambda text: redact(text, secrets))


def error_text(error: BaseException) -> str:
    """``"<ExceptionType>: <message>"`` with secrets taken out: the one way an exception becomes text that a
    user, the store, an export or a log sees. Paths and endpoints stay whole (a researcher's command names the
    file and the endpoint it means); what the app shows a visitor also goes through ``visitor_text``."""
    return redact(f"{type(error).__name__}: {error}")


# Exception classes whose name adds nothing to a message that already says what failed ("x at its endpoint:
# HTTP 400: ...", "CUDA out of memory. Tried to ...", "[Errno 28] No space left on device"): the project's own
# (raised with a whole sentence) and Python's generic ones. Any other class stays, because there the class is
# what a reader needs: a bare "KeyError: 'x'", "ZeroDivisionError: division by zero", "TypeError: ...",
# "ConnectError: ..." (a bug, or a library's own kind of failure).
PLAIN_ERRORS = frozenset({
    "Exception", "RuntimeError", "ValueError", "OSError", "IOError", "EnvironmentError", "TimeoutError",
    "FileNotFoundError", "PermissionError", "ConnectionError", "ConnectionRefusedError", "OutOfMemoryError",
    "ModelUnavailable", "FieldsGivenTwice", "ImageError", "StoreError", "RunRefused", "RunStopped", "NoRoomToReason",
})
_CLASS_PREFIX = re.compile(r"(?:(?<=^)|(?<=: )|(?<=\())([A-Z]\w*): (?=\S+\s+\S)")


def shown_error(text: str | None) -> str | None:
    """A stored error (``error_text``: ``"<ExceptionType>: <message>"``, also inside another message: ``"judge j
    failed: RuntimeError: ..."``) as a page shows it: the class name left out where it is one of
    ``PLAIN_ERRORS`` and its message says what failed (at least two words), so ``"RuntimeError: m at its
    endpoint: HTTP 400: bad"`` reads ``"m at its endpoint: HTTP 400: bad"``; kept for any other class and for a
    message of one word (``"KeyError: 'x'"``, ``"RuntimeError: boom"``). The one rule for what a visitor
    reads; the store, exports, the command line and the log keep the class (``error_text``)."""
    if not text:
        return text
    return _CLASS_PREFIX.sub(lambda m: "" if m.group(1) in PLAIN_ERRORS else m.group(0), text)


# The first folder of an absolute path on a server: the usual top-level folders, and those of the working
# folder, the home folder, the temporary folder and Python's prefix (added at first use). An absolute path
# is matched only from one of them, so text a visitor typed ("</b>", "A/B", "1/2") is left alone.
_SERVER_ROOTS = ("app", "bin", "data", "etc", "home", "lib", "media", "mnt", "nix", "opt", "private", "proc", "root",
                 "run", "scratch", "srv", "tmp", "Users", "usr", "var", "work", "workspace")
# what ends a part of a path; not "(" and ")", which folder names hold ("Copy (2)"): one around a path is kept
# with its last part
_STOP = r"\s/'\"<>,;:|*?`"
_PART = rf"[^{_STOP}]+"
# the words of a folder with spaces whose path goes on ("/srv/my data/models", "/tmp/run 1/out"): where such a
# path ends cannot be known, so any words up to the next "/" count as the folder's, and the whole path is cut
# (cutting too much beats naming a folder), except after a sentence's end ("/srv/x. See a/b") and before what
# reads as prose: a short ratio or choice ("A/B", "1/2", "and/or", "2026/12/05")
_SHORT = r"(?:\d+|[^\W\d_]{1,2}|and|or)"
_PROSE = rf"{_SHORT}(?:/{_SHORT})+[.!]*(?![\w/.-])"
_WORD = rf"(?:[^{_STOP}()]|\([^{_STOP}()]*\))+"  # a later word of a folder: its brackets closed ("(2)", not "(see")
_FOLDER = rf"{_PART}(?:(?<![.!]) +(?!{_PROSE}){_WORD})*"


@functools.lru_cache(maxsize=1)
def _path_patterns() -> tuple[re.Pattern, ...]:
    """(a quoted path, an unquoted path); each match's group ``name`` is what is kept."""
    roots = set(_SERVER_ROOTS)
    for folder in (os.getcwd(), str(Path.home()), tempfile.gettempdir(), sys.prefix, sys.base_prefix):
        parts = Path(folder).parts
        if len(parts) > 1:
            roots.add(parts[1])
    alternatives = "|".join(re.escape(r) for r in sorted(roots))
    # not inside a URL or a longer path ("https://h/tmp/x", "a/usr/b"): no word, ':', '/', '.', '~' or '-' before
    start = rf"(?:\bfile://|(?<![\w:/.~-]))(?:~|/(?:{alternatives}))"
    flags = re.IGNORECASE
    return (
        # quoted (an OSError's repr, a message quoting a path): everything up to the closing quote is the path
        re.compile(rf"(?<=(?P<q>['\"])){start}(?:/+[^'\"\n/]+)*?/+(?P<name>[^'\"\n/]+/?)(?=(?P=q))", flags),
        # any other path, through folders with spaces ("/srv/my data/models" -> "models"); "… and A/B" stays
        re.compile(rf"{start}(?:/+{_FOLDER}(?=/))*/+(?P<name>{_PART})", flags),
    )


def without_paths(text: str) -> str:
    """``text`` with every absolute file path on this server cut to its last part (``"cannot open
    /srv/app/data/x.json"`` -> ``"cannot open x.json"``, ``"~/models/z.yaml"`` -> ``"z.yaml"``, a folder
    ``"/srv/app/cache/"`` -> ``"cache/"``): what a visitor is shown names no folder of the server (its layout,
    user name, cache or mount points), also as a file URL (``"file:///srv/x.png"``). A folder name may hold
    spaces (``"'/srv/my data/x'"`` -> ``"'x'"``, ``"/srv/my data/x.json"`` -> ``"x.json"``, ``"/tmp/run 1/out:
    denied"`` -> ``"out: denied"``): unquoted, the words before a later ``/`` count as the folder's, so a path
    is cut whole even where the message's own words are cut with it, unless a sentence ends first (``"/srv/x.
    See a/b"``) or the ``/`` is in a short ratio or choice (``"/srv/x and A/B"`` -> ``"x and A/B"``; ``1/2``,
    ``and/or``, a date). The last part's own words stay (``"/srv/my data"`` -> ``"my data"``). A path counts when it starts at a usual top-level folder or
    the first folder of the working, home or temporary folder or of Python's prefix, and names a folder
    there: an endpoint (``"/vote takes 2 values"``), a unit (``"per /s"``), ``"</b>"`` of a caller's value,
    other URLs, ``1/2`` and ``A/B`` are kept. The log and the command line keep the whole path."""
    if not text:
        return text
    for pattern in _path_patterns():
        text = pattern.sub(lambda m: m.group("name"), text)
    return text


ENDPOINT = "[endpoint]"
# variables whose value is a server's own address: the hub mirror and the proxies a request goes through
_ADDRESS_ENV = ("HF_ENDPOINT", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
# a URL, its host an IPv6 literal in brackets too ("http://[::1]:8000/v1")
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://(?:[^\s'\"<>()\[\]{}`|]|\[[0-9A-Za-z:.%]*\])+")
# a URL percent-encoded whole, as another URL's query holds one ("?next=http%3A%2F%2F10.0.0.5%3A8000%2Fv1")
_ENCODED_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*%3A%2F%2F[^\s&'\"<>()\[\]{}`|]+", re.IGNORECASE)


# hosts that name no server of their own: a bare mention is ordinary prose ("runs on localhost", "bind
# 0.0.0.0"), so only their address with the endpoint's port is hidden; the loopback ones are one host
_LOOPBACK = ("localhost", "127.0.0.1", "::1", "0.0.0.0")
_GENERIC_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback", "host.docker.internal",
                            "gateway.docker.internal", "host.containers.internal"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _address(url: str) -> tuple[str, int | None] | None:
    """The lower-case host of ``url`` and its port, else the scheme's (``"http://u:p@10.0.0.5:8000/v1"`` ->
    ``("10.0.0.5", 8000)``, ``"https://h/v1"`` -> ``("h", 443)``; a bare ``"host:8000"`` counts too; None: no port
    known), or None for no host."""
    try:
        parts = urlsplit(url if "://" in url else f"//{url}")
        host, port = parts.hostname, parts.port
    except ValueError:  # a malformed port or IPv6 address
        return None
    return (host, port or _DEFAULT_PORTS.get(parts.scheme.lower())) if host else None


def _loopback(host: str) -> bool:
    """Whether ``host`` is this machine: ``localhost`` (``*.localhost``), a loopback or unspecified address."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _generic(host: str) -> bool:
    """Whether ``host`` names no particular server: this machine (``_loopback``) or a container's name for
    its host (``host.docker.internal``)."""
    return host in _GENERIC_NAMES or _loopback(host)


def hidden_addresses() -> tuple[set[str], set[tuple[str, int | None]]]:
    """What ``without_endpoints`` hides, from every registered card endpoint and ``$HF_ENDPOINT`` and the proxy
    variables (upper or lower case) as they are now: (hosts hidden wherever they are named; ``(host, port)`` of
    generic hosts (``localhost``, ``127.0.0.1``, ``host.docker.internal``), hidden only in a URL with that port
    or as ``host:port``, a port of None meaning any URL on the host). A loopback address stands for all of
    ``localhost``, ``127.0.0.1``, ``::1`` and ``0.0.0.0`` with its port."""
    with _lock:
        addresses = set(_endpoint_addresses)
    values = (os.environ.get(name) or os.environ.get(name.lower()) for name in _ADDRESS_ENV)
    addresses |= {a for a in map(_address, filter(None, values)) if a}
    hosts = {host for host, _ in addresses if not _generic(host)}
    generic = {(host, port) for host, port in addresses if _generic(host)}
    generic |= {(alias, port) for host, port in generic if _loopback(host) for alias in _LOOPBACK}
    return hosts, generic


def without_endpoints(text: str) -> str:
    """``text`` with every URL on a host of ``hidden_addresses`` (scheme, user, host, port, path and query:
    ``"x at http://10.0.0.5:8000/v1: HTTP 400"`` -> ``"x at [endpoint]: HTTP 400"``) and every other mention of
    such a host (``"10.0.0.5:8000"``, ``"hostname '10.0.0.5'"``) replaced by ``ENDPOINT``: a visitor learns no
    internal address. A generic host (``localhost``) is hidden only with the endpoint's port (``"localhost:8000"``,
    ``"http://127.0.0.1:8000/v1"``, ``"host='localhost', port=8000"``): ``"http://localhost:7860"`` and the word
    ``localhost`` stay. Other URLs (``https://huggingface.co/...``) stay. A URL percent-encoded whole (another URL's
    query: ``"?next=http%3A%2F%2F10.0.0.5%3A8000%2Fv1"``) is read as its decoded text."""
    hosts, generic = hidden_addresses() if text else (set(), set())
    if not hosts and not generic:
        return text

    def hidden(address: tuple[str, int | None] | None) -> bool:
        return bool(address) and (address[0] in hosts or address in generic or (address[0], None) in generic)

    def url(match: re.Match) -> str:
        whole = match.group(0)
        core = whole.rstrip(".,:;!?")  # the sentence's punctuation after a URL is not part of it
        return ENDPOINT + whole[len(core):] if hidden(_address(core)) else whole

    def encoded(match: re.Match) -> str:  # a URL inside another's query, percent-encoded (RFC 3986 section 2.1)
        whole = match.group(0)
        core = whole.rstrip(".,:;!?")
        return ENDPOINT + whole[len(core):] if hidden(_address(unquote(core))) else whole

    text = _ENCODED_URL.sub(encoded, _URL.sub(url, text))
    # a host named alone, with any port; a generic host only with its endpoint's port; either also with its port
    # written apart, as urllib3 and asyncio write it ("host='localhost', port=8000", "('127.0.0.1', 8000)")
    local = [(h, port) for h, port in sorted(generic, key=str) if port]
    named = [_apart(h, r"\d+") for h in sorted(hosts, key=len, reverse=True)]
    named += [_apart(h, str(port)) for h, port in local]
    named += [rf"{re.escape(h)}\]?(?::\d+)?" for h in sorted(hosts, key=len, reverse=True)]
    named += [rf"{re.escape(h)}\]?:{port}" for h, port in local]
    if named:
        text = re.sub(rf"(?<![\w.-])\[?(?:{'|'.join(named)})(?![\w-]|\.\w)", ENDPOINT, text, flags=re.IGNORECASE)
    return _phrased(text)


# A hidden address where a sentence names it after its noun or "at": the sentence reads without it. Before,
# a visitor read "endpoint [endpoint] not answering" under the model menu.
_NAMED = re.compile(r"\b(?:(the|its|an?|this|that)\s+)?(endpoint|hub|mirror|proxy|server)\s+" + re.escape(ENDPOINT),
                    re.IGNORECASE)
_AT = re.compile(r"\bat\s+" + re.escape(ENDPOINT))


def _phrased(text: str) -> str:
    """``text`` (its addresses already ``ENDPOINT``) with the placeholder after a noun naming it left out
    (``"endpoint [endpoint] is not answering"`` -> ``"its endpoint is not answering"``, ``"the hub [endpoint]
    cannot be reached"`` -> ``"the hub cannot be reached"``) and ``"at [endpoint]"`` read as ``"at its
    endpoint"``. The placeholder stays elsewhere (``"ConnectError: [endpoint] refused"``, a quoted URL)."""
    def named(match: re.Match) -> str:
        article, noun = match.group(1), match.group(2)
        article = article or ("its" if noun.lower() == "endpoint" else "the")
        phrase = f"{article.lower()} {noun.lower()}"
        return phrase[0].upper() + phrase[1:] if match.group(0)[0].isupper() else phrase

    return _AT.sub("at its endpoint", _NAMED.sub(named, text))


def _apart(host: str, port: str) -> str:
    """A pattern of ``host`` and ``port`` written apart: the host quoted (``"('127.0.0.1', 8000)"``) or the port
    as ``port=`` (``"host=localhost, port=8000"``); ``"localhost, 8000 rows"`` is prose and is not matched."""
    return rf"(?:['\"]{re.escape(host)}['\"],\s*(?:port=)?|{re.escape(host)},\s*port=){port}(?!\d)"


def visitor_text(text: str | None, secrets: list[str] | None = None) -> str | None:
    """``text`` as the public app may show it to a visitor: secrets out (``redact``), no endpoint address of a
    card, hub mirror or proxy (``without_endpoints``) and no server folder (``without_paths``). The one
    function for a run's error, a judge problem, an availability reason or a refusal on the page or in an
    API reply; the command line, the log and the store keep the addresses and paths (``error_text``).
    ``secrets``: as for ``redact``."""
    return without_paths(without_endpoints(redact(text, secrets))) if text else text


class RedactingParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors (``invalid choice: '<value>'``, quoting what was typed) are
    redacted before they are printed: a key pasted into the wrong option never reaches a terminal log.
    Its subcommand parsers are of the same class.

    A usage error is one line on standard error, as every command's own errors are (README, "Commands"):
    ``COMMAND: error: <argparse's message>; see 'PROG --help'`` (``COMMAND``: the parser's ``command`` attribute,
    which ``cli.build_parser`` sets on each subcommand's parser, else the program), then exit status 2. argparse's default printed its whole usage block first."""

    def error(self, message: str):
        command = getattr(self, "command", None) or self.prog  # a subcommand's name (``cli.build_parser``)
        self.exit(2, f"{command}: error: {redact(message)}; see '{self.prog} --help'\n")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but an unknown option is reported by the subcommand it was given to ("report: error:
        unrecognized arguments: --x"), not by the program."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            chosen = next((action.choices.get(getattr(parsed, action.dest, None)) for action in self._actions
                           if isinstance(action, argparse._SubParsersAction)), None)  # noqa: SLF001 - no public way
            (chosen or self).error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


_installed = False


def install_log_redaction() -> None:
    """Redact every log record as it is made (its message, arguments, traceback and stack), whichever
    logger or handler it goes to. Idempotent; the app, the CLI and ``serve-openai`` call it at start."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    make = logging.getLogRecordFactory()
    formatter = logging.Formatter()

    def redacting_factory(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record: logging reports it when it is emitted
            return record
        record.msg, record.args = redact(message), None
        if record.exc_info:
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None  # formatters print exc_text; the raw exception would print unredacted
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    logging.setLogRecordFactory(redacting_factory)
