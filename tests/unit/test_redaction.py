"""``redaction``: what is masked in error text and logs; ``wire.within_deadline``: one deadline per request."""

from __future__ import annotations

import io
import logging
import re
import threading
import time

import pytest

from realunify_arena.adapters.wire import within_deadline
from realunify_arena.cards import ModelCard
from realunify_arena.families import Capability
from realunify_arena.redaction import error_text, install_log_redaction, redact


def test_a_cards_key_variable_is_masked_whatever_its_name(monkeypatch):
    monkeypatch.setenv("PLAIN_LOOKING_VAR_A1", "quoted-value-4e1f")  # nothing in the name says secret
    assert redact("got quoted-value-4e1f") == "got quoted-value-4e1f"
    ModelCard(name="x", family="openai", description="x", capabilities=frozenset({Capability.UNDERSTAND}),
              api_key_env="PLAIN_LOOKING_VAR_A1")
    assert redact("got quoted-value-4e1f back") == "got *** back"


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "HF_TOKEN", "REALUNIFY_VOTER_SALT", "MY_SECRET", "DB_PASSWORD"])
def test_variables_named_as_secrets_are_masked(monkeypatch, name):
    monkeypatch.setenv(name, "v4lue-of-the-secret")
    assert redact(f"error: v4lue-of-the-secret in {name}") == f"error: *** in {name}"


def test_short_values_and_ordinary_words_stay(monkeypatch):
    monkeypatch.setenv("SOME_TOKEN", "1")
    text = "API key variable OPENAI_API_KEY is unset; seed 1; api_key_env: KEY_NAME"
    assert redact(text) == text


@pytest.mark.parametrize("text, expected", [
    ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer ***"),
    ("{'x-goog-api-key': 'q1w2e3r4'}", "{'x-goog-api-key': '***'}"),
    ("api_key=zzz123&x=1", "api_key=***&x=1"),
    ("GET https://h/v1/m?key=AB12cd34&alt=sse", "GET https://h/v1/m?key=***&alt=sse"),
    ("keys sk-proj-0123456789abcdefXYZ, AIzaSyA0123456789abcdefghijKLMN and hf_0123456789abcdefghijKL",
     "keys ***, *** and ***"),
    # a credential after Bearer or a header name: a JWT, a token with a digit, a long word, base64
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "Authorization: Bearer ***"),
    ("bearer Q7rT2mX9pL4v", "bearer ***"),
    ("Bearer abcdefghijklmnopqrstuvwxyz", "Bearer ***"),
    ("Authorization: Zm9vOmJhcg==", "Authorization: ***"),
    # after any other scheme (RFC 9110 section 11.4): Basic's base64 of "alice:pw-s3cret-77" (RFC 7617), others
    ("Authorization: Basic YWxpY2U6cHctczNjcmV0LTc3", "Authorization: Basic ***"),
    ("proxy-authorization: Basic YWxpY2U6cHctczNjcmV0LTc3", "proxy-authorization: Basic ***"),
    ('{"Authorization": "Basic YWxpY2U6cHctczNjcmV0LTc3"}', '{"Authorization": "Basic ***"}'),
    ("Authorization: Token 9f8e7d6c5b4a39281706", "Authorization: Token ***"),
    ("authorization=ApiKey abc123def456ghi", "authorization=ApiKey ***"),
    # a known scheme's credential inside prose; an unknown scheme's where it ends the field
    ("proxy said Authorization: Basic YWxpY2U6cHctczNjcmV0LTc3 was refused",
     "proxy said Authorization: Basic *** was refused"),
    ("Authorization: Custom abc123def\nnext", "Authorization: Custom ***\nnext"),
    ("{'Authorization': 'Custom abc123def', 'x': 1}", "{'Authorization': 'Custom ***', 'x': 1}"),
])
def test_key_shapes_are_masked(text, expected):
    assert redact(text) == expected


# signed URLs with the services' own parameter names (values made up): AWS Signature Version 4 (S3 API Reference,
# "Authenticating Requests: Using Query Parameters", with a session's X-Amz-Security-Token), Google Cloud Storage's
# V4 signing, an Azure shared access signature in an HTML attribute (``&amp;``) and in Go's JSON (``\\u0026``)
@pytest.mark.parametrize("text, expected", [
    ("https://b.s3.us-east-1.amazonaws.com/o.png?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE"
     "%2F20261207%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261207T000000Z&X-Amz-Expires=3600&X-Amz-Security-Token="
     "IQoJb3JpZ2luX2VjEXAMPLE&X-Amz-SignedHeaders=host&X-Amz-Signature=9f3b2c7d1e0a4b5c6d7e8f9a0b1c2d3e",
     "https://b.s3.us-east-1.amazonaws.com/o.png?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=***"
     "&X-Amz-Date=20261207T000000Z&X-Amz-Expires=3600&X-Amz-Security-Token=***&X-Amz-SignedHeaders=host"
     "&X-Amz-Signature=***"),
    ("https://storage.googleapis.com/b/o.png?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=sa%40p.iam."
     "gserviceaccount.com%2F20261207%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20261207T000000Z&X-Goog-Expires=900"
     "&X-Goog-SignedHeaders=host&X-Goog-Signature=5a6b7c8d9e0f1a2b3c4d",
     "https://storage.googleapis.com/b/o.png?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=***"
     "&X-Goog-Date=20261207T000000Z&X-Goog-Expires=900&X-Goog-SignedHeaders=host&X-Goog-Signature=***"),
    ('<img src="https://a.blob.core.windows.net/c/o.png?sv=2024-08-04&amp;sp=r&amp;sig=c2lnbmF0dXJl%3D&amp;se=x">',
     '<img src="https://a.blob.core.windows.net/c/o.png?sv=2024-08-04&amp;sp=r&amp;sig=***&amp;se=x">'),
    ('{"url": "https://a.blob.core.windows.net/c/o.png?sv=2024-08-04\\u0026sig=c2lnbmF0dXJl%3D\\u0026sp=r"}',
     '{"url": "https://a.blob.core.windows.net/c/o.png?sv=2024-08-04\\u0026sig=***\\u0026sp=r"}'),
])
def test_a_signed_urls_signature_and_credential_are_masked_and_the_rest_stays(text, expected):
    # before: only key=, api_key=, token= and access_token= were masked; a signature is a credential (anyone with
    # the URL may read the object until it expires) though no variable holds it
    assert redact(text) == expected


# the same credentials where the query rule did not look: an OAuth implicit grant's redirect, whose access token
# (RFC 6749 section 4.2.2's own example) and OpenID Connect's id_token (Core 1.0 section 3.2.2.5) come in the
# fragment after "#"; a signed URL quoted whole in another URL's query (an image proxy's ``?url=``, a sign-in
# page's ``?next=``), its "?", "&" and "=" percent-encoded (RFC 3986 section 2.1), once or twice ("%253F"); the outer
# URL's own parameters stay
@pytest.mark.parametrize("text, expected", [
    ("http://example.com/cb#access_token=2YotnFZFEjr1zCsicMWpAA&state=xyz&token_type=example&expires_in=3600",
     "http://example.com/cb#access_token=***&state=xyz&token_type=example&expires_in=3600"),
    ("https://app.example/cb#id_token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl&state=af0ifjsldkj",
     "https://app.example/cb#id_token=***&state=af0ifjsldkj"),
    ("https://img.example/_next/image?url=https%3A%2F%2Fb.s3.amazonaws.com%2Fo.png%3FX-Amz-Credential%3DAKIAIOSFODNN7"
     "EXAMPLE%252F20261207%26X-Amz-Signature%3D9f3b2c7d1e0a4b5c%26X-Amz-Expires%3D3600&w=64",
     "https://img.example/_next/image?url=https%3A%2F%2Fb.s3.amazonaws.com%2Fo.png%3FX-Amz-Credential%3D***"
     "%26X-Amz-Signature%3D***%26X-Amz-Expires%3D3600&w=64"),
    ("https://sso.example/login?next=https%253A%252F%252Fa.blob.core.windows.net%252Fc%252Fo.png%253Fsv%253D2024"
     "%2526sig%253Dc2lnbmF0dXJl%25253D%2526sp%253Dr&lang=en",
     "https://sso.example/login?next=https%253A%252F%252Fa.blob.core.windows.net%252Fc%252Fo.png%253Fsv%253D2024"
     "%2526sig%253D***%2526sp%253Dr&lang=en"),
])
def test_a_credential_in_a_fragment_or_in_a_quoted_url_is_masked(text, expected):
    assert redact(text) == expected


def test_a_private_space_s_signed_url_is_masked_and_its_other_parameters_stay():
    # a private Space opened from the Hub is served at its hf.space address with ``__sign=<JWT>``, which opens it to
    # whoever holds the URL; Gradio's own ``__theme`` beside it is no credential
    url = ("https://org-private-arena.hf.space/?__sign=eyJhbGciOiJFZERTQSJ9.eyJyZWFkIjp0cnVlLCJzdWIiOiIvc3BhY2VzIn0"
           ".c2lnbmF0dXJlX2J5dGVz&__theme=dark")
    assert redact(url) == "https://org-private-arena.hf.space/?__sign=***&__theme=dark"


@pytest.mark.parametrize("text", [
    "The flag bearer leads the parade, then B.",
    "a bearer bond, a standard bearer well-dressed",
    "Authorization: pending; api-key: none",
    "Authorization: Basic auth is required",
    "Missing authorization: please sign in",
    # a word after "Authorization:" that is no scheme, then one shaped like a credential, in a sentence (a model's
    # reply; the serve32 rule masked "RFC7617" and "gpt-4o")
    "Authorization: see RFC7617 for the Basic scheme.",
    "authorization: requires gpt-4o access",
    "Authorization: see RFC7617.",
])
def test_ordinary_words_after_a_key_word_stay(text):
    """Model replies are redacted too: a word after "bearer" or a header name that looks like no credential
    stays."""
    assert redact(text) == text


def test_error_text_names_the_type_and_masks(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaTestKeyValue000")
    assert error_text(ValueError("parts: input_value='AIzaTestKeyValue000'")) == "ValueError: parts: input_value='***'"


def test_log_records_are_masked_with_their_arguments_and_traceback(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-logged-key-value")
    install_log_redaction()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("test_redaction")
    logger.addHandler(handler)
    try:
        logger.warning("endpoint said %s", "no: sk-logged-key-value")
        try:
            raise RuntimeError("quoted sk-logged-key-value")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "sk-logged-key-value" not in out
    assert "endpoint said no: ***" in out and "RuntimeError: quoted ***" in out


class Passing(Exception):
    pass


# how far past the waits it asked for a within_deadline call may end: its back-offs are read exactly from the
# sleeps it asks for (``slept``), so the clock only shows they were real and that nothing hangs; a tight bound
# on a loaded 2-core machine would fail on scheduling, not on a wrong back-off
HANG_SLACK_S = 3.0


@pytest.fixture()
def slept(monkeypatch) -> list[float]:
    """The seconds each ``time.sleep`` in this test's thread asked for, in order; each sleep still happens."""
    asked: list[float] = []
    real_sleep, here = time.sleep, threading.get_ident()

    def sleep(seconds: float) -> None:
        if threading.get_ident() == here:  # another thread's sleeps (a server left by an earlier test) are not ours
            asked.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    return asked


def test_retries_happen_within_one_deadline(slept):
    calls: list[float] = []

    def attempt(left: float) -> str:
        calls.append(left)
        if len(calls) < 3:
            raise Passing("503")
        return "ok"

    start = time.monotonic()
    assert within_deadline(attempt, timeout_s=10, retries=2, where="x", is_timeout=lambda e: False,
                           is_retryable=lambda e: isinstance(e, Passing)) == "ok"
    assert len(calls) == 3 and calls[0] <= 10 and calls[2] < calls[1] < calls[0]  # each gets the time left
    assert slept == [0.5, 1.0]  # the docstring's back-off: 0.5 s, doubling
    assert 1.4 <= time.monotonic() - start < 1.5 + HANG_SLACK_S  # the sleeps were real, and nothing hangs


def test_a_timeout_ends_the_request_with_the_measured_seconds(slept):
    def attempt(left: float) -> str:
        time.sleep(left)
        raise TimeoutError("read timed out")

    start = time.monotonic()
    with pytest.raises(TimeoutError, match=r"^x at h: no answer after \d+\.\d s \(1 attempt; deadline 1 s\)$") as late:
        within_deadline(attempt, timeout_s=1, retries=5, where="x at h", is_timeout=lambda e: True,
                        is_retryable=lambda e: True)
    measured = time.monotonic() - start
    shown = float(re.search(r"after (\d+\.\d) s", str(late.value)).group(1))
    assert 1.0 <= shown <= measured + 0.05  # the seconds the request took, whatever a loaded machine adds
    assert len(slept) == 1 and slept[0] <= 1  # the attempt's own wait: no back-off, no second attempt
    assert measured < 1 + HANG_SLACK_S  # 5 retries each given a fresh 1 s would take 6 s


def test_no_retry_starts_once_the_back_off_would_pass_the_deadline(slept):
    calls = []

    def attempt(left: float) -> str:
        calls.append(left)
        raise Passing("busy")

    start = time.monotonic()
    with pytest.raises(Passing):
        within_deadline(attempt, timeout_s=1.2, retries=10, where="x", is_timeout=lambda e: False,
                        is_retryable=lambda e: True)
    assert len(calls) == 2 and slept == [0.5]  # 0 s, then 0.5 s; the 1 s back-off would pass the deadline
    assert time.monotonic() - start < 1.2 + HANG_SLACK_S  # nothing hangs
    with pytest.raises(ValueError):  # not retryable: raised at once
        within_deadline(lambda left: (_ for _ in ()).throw(ValueError("bad")), timeout_s=5, retries=3, where="x",
                        is_timeout=lambda e: False, is_retryable=lambda e: False)


@pytest.mark.parametrize("text, shown", [
    ("ImportError: cannot import name 'X' from 'transformers' (/root/.pyenv/lib/python3.11/transformers/__init__.py)",
     "ImportError: cannot import name 'X' from 'transformers' (__init__.py)"),
    ("[Errno 2] No such file or directory: '/srv/app/data/x.json'", "[Errno 2] No such file or directory: 'x.json'"),
    ("card ~/models/janus.yaml: bad field", "card janus.yaml: bad field"),
    ("see https://huggingface.co/org/model/tree/main", "see https://huggingface.co/org/model/tree/main"),
    ("ratio 1/2 of data/runs.db, instance UEG_1/x", "ratio 1/2 of data/runs.db, instance UEG_1/x"),
    # a slash with no folder before the name hides nothing: a caller's '<b>x</b>' is shown as sent
    ("Choose a model card; '<b>x</b>' is not offered here.", "Choose a model card; '<b>x</b>' is not offered here."),
    ("2 /3 of the runs; see /tmp", "2 /3 of the runs; see /tmp"),
    # a slash and one word names no folder: an endpoint (ui/calls.py's own message) or a unit stays whole
    ("/vote takes 2 values (battle_id, choice), got 1", "/vote takes 2 values (battle_id, choice), got 1"),
    ("at most 30 runs /min; choose A/B on 2026/12/05", "at most 30 runs /min; choose A/B on 2026/12/05"),
    # a file URL is a server path too
    ("cannot read file:///srv/app/cache/img.png", "cannot read img.png"),
    # what a visitor typed, echoed in a refusal, is not a server path
    ("'<b>AAA</b>' is not offered; &lt;/b&gt; A/B and/or /b", "'<b>AAA</b>' is not offered; &lt;/b&gt; A/B and/or /b"),
    ("CURL_CA_BUNDLE=/tmp/pytest-of-root/x/company-ca.pem: no such CA file", "CURL_CA_BUNDLE=company-ca.pem: no such CA file"),
])
def test_without_paths_keeps_only_the_file_name_of_an_absolute_path(text, shown):
    from realunify_arena.redaction import without_paths

    assert without_paths(text) == shown


def test_the_working_folder_counts_as_a_server_folder_wherever_it_is():
    import os

    from realunify_arena.redaction import without_paths
    assert without_paths(f"cannot open {os.getcwd()}/models/x.yaml") == "cannot open x.yaml"


def test_error_text_keeps_the_path_for_the_command_line_and_the_page_shows_its_file_name_only():
    """The CLI names the file a researcher's command meant (its whole path); what the app shows a visitor cuts
    the server's folders (``status_line``, the run details, the API reply)."""
    from realunify_arena.runs import for_visitors
    from realunify_arena.trace import Status, Trace
    from realunify_arena.ui.render import status_line

    text = error_text(FileNotFoundError(2, "No such file or directory", "/srv/secret/data/img.png"))
    assert text == "FileNotFoundError: [Errno 2] No such file or directory: '/srv/secret/data/img.png'"
    trace = Trace("UEG_1_world_knowledge", "m", "direct", {}, status=Status.ERROR, error=text)
    shown_line = status_line(trace, 1, title="direct")
    assert "secret" not in shown_line and "img&#46;png" in shown_line  # plain() escapes the dot
    shown = for_visitors({"error": text, "judge_problem": f"judge j failed: {text}", "trace": trace.to_dict()})
    assert "/srv" not in str(shown) and str(shown).count("img.png") == 3


@pytest.mark.parametrize("text, shown", [
    # a folder with a space: before, "my data/x.json" (its tail) was left
    ("cannot open /srv/my data/x.json", "cannot open x.json"),
    ("[Errno 2] No such file or directory: '/srv/my data/cache/x'", "[Errno 2] No such file or directory: 'x'"),
    ("card ~/my models/tiny one.yaml: bad field", "card tiny one.yaml: bad field"),
    ("cannot read file:///srv/app/my dir/img.png now", "cannot read img.png now"),
    ("cannot open /srv/app//x.json", "cannot open x.json"),  # before: "app//x.json"
    ("cache /srv/app/cache/ is full", "cache cache/ is full"),  # a folder keeps its own name only
    # visitor text after a path stays whole
    ("cannot open /srv/a/x.json and A/B", "cannot open x.json and A/B"),
    ("cannot read /srv/data and A/B", "cannot read data and A/B"),
    ("Choose a model card; '<b>x</b>' is not offered here; 1/2; /vote takes 2 values",
     "Choose a model card; '<b>x</b>' is not offered here; 1/2; /vote takes 2 values"),
    # a folder with a space on the way to a last part without an extension: before, its tail was left
    # ("my data/models", "My Models/janus/", "run 1/out")
    ("cannot open /srv/my data/models", "cannot open models"),
    ("see /home/runner/My Models/janus/ for details", "see janus/ for details"),
    ("at /tmp/run 1/out: permission denied", "at out: permission denied"),
    ("cannot open ~/my  models/janus and A/B", "cannot open janus and A/B"),
    ("cannot open /srv/data/v1.0 final/models", "cannot open models"),  # a dotted word is no file name here
    ("cannot open /srv/my data/x.json/models", "cannot open models"),
    ("cannot open /srv/Program Files (x86)/app now", "cannot open app now"),
    ("cannot read file:///srv/my dir/sub dir/img (gone)", "cannot read img (gone)"),
    # where the path may end: a ratio or choice, a sentence's end, an open bracket, a URL, a unit stay
    ("cannot read /srv/data and A/B.", "cannot read data and A/B."),
    ("cannot read /srv/data now 1/2 done, per /s", "cannot read data now 1/2 done, per /s"),
    ("cannot read /srv/data on 2026/12/05 and/or later", "cannot read data on 2026/12/05 and/or later"),
    ("cannot read /srv/data. See runs/votes", "cannot read data. See runs/votes"),
    ("cannot read /srv/data (see docs/x)", "cannot read data (see docs/x)"),
    ("cannot read /srv/data see https://x.org/a/b", "cannot read data see https://x.org/a/b"),
])
def test_without_paths_cuts_folders_with_spaces_and_keeps_visitor_text(text, shown):
    from realunify_arena.redaction import without_paths

    assert without_paths(text) == shown


ENDPOINT_CARD = "http://10.0.0.5:8000/v1"  # with user information a card is refused (test_endpoint_userinfo)


@pytest.mark.parametrize("text, shown", [
    ("RuntimeError: oa at http://u:***@10.0.0.5:8000/v1: HTTP 400: bad", "RuntimeError: oa at its endpoint: HTTP 400: bad"),
    ("Client error '404 Not Found' for url 'http://10.0.0.5:8000/v1/chat/completions?x=1'",
     "Client error '404 Not Found' for url '[endpoint]'"),
    ("endpoint http://10.0.0.5:8000/v1 is not answering (ConnectError: 10.0.0.5:8000 refused)",
     "its endpoint is not answering (ConnectError: [endpoint] refused)"),
    ("hostname '10.0.0.5' doesn't match", "hostname '[endpoint]' doesn't match"),
    ("HTTPConnectionPool(host='10.0.0.5', port=8000): x", "HTTPConnectionPool(host=[endpoint]): x"),
    # percent-encoded whole, as another URL's query holds it (a proxy's or a login page's link); before: shown
    ("502: retry at /login?next=http%3A%2F%2F10.0.0.5%3A8000%2Fv1%2Fchat", "502: retry at /login?next=[endpoint]"),
    ("redirect_uri=http%3a%2f%2f10.0.0.5%3a8000%2fv1&state=x.", "redirect_uri=[endpoint]&state=x."),
    # other hosts, URLs and a visitor's text stay
    ("see https://huggingface.co/org/m and 10.0.0.55 or 110.0.0.5; </b> A/B 1/2",
     "see https://huggingface.co/org/m and 10.0.0.55 or 110.0.0.5; </b> A/B 1/2"),
    ("next=https%3A%2F%2Fhuggingface.co%2Forg%2Fm", "next=https%3A%2F%2Fhuggingface.co%2Forg%2Fm"),
])
def test_visitor_text_hides_a_cards_endpoint_and_error_text_keeps_it(text, shown):
    from realunify_arena.redaction import visitor_text

    ModelCard(name="ep", family="openai", description="x", capabilities=frozenset({Capability.UNDERSTAND}),
              endpoint=ENDPOINT_CARD)
    assert visitor_text(text) == shown
    assert error_text(RuntimeError(text)) == f"RuntimeError: {text}"  # the CLI and the store keep the address


def test_visitor_text_hides_the_hub_mirror_and_proxy_addresses(monkeypatch):
    from realunify_arena.redaction import visitor_text

    monkeypatch.setenv("HF_ENDPOINT", "http://hub-mirror.lan:9000")
    monkeypatch.setenv("https_proxy", "http://proxy.lan:3128")
    shown = visitor_text("weights a/b are not cached and the hub http://hub-mirror.lan:9000 is not answering "
                         "(ProxyError: proxy.lan:3128 refused)")
    assert shown == "weights a/b are not cached and the hub is not answering (ProxyError: [endpoint] refused)"


@pytest.mark.parametrize("text, shown", [
    ("oa at http://localhost:8011/v1: HTTP 500: bad", "oa at its endpoint: HTTP 500: bad"),
    # the same machine by another name, with the endpoint's port
    ("ConnectError: 127.0.0.1:8011 refused; [::1]:8011 too", "ConnectError: [endpoint] refused; [endpoint] too"),
    ("x at http://[::1]:8011/v1/chat/completions: HTTP 400", "x at its endpoint: HTTP 400"),
    # before, every "localhost" became "[endpoint]": the words, another port, a visitor's own text
    ("open http://localhost:7860 in a browser; it runs on localhost (127.0.0.1, 0.0.0.0)",
     "open http://localhost:7860 in a browser; it runs on localhost (127.0.0.1, 0.0.0.0)"),
    ("localhost:80110 and localhost:801 are other ports", "localhost:80110 and localhost:801 are other ports"),
    # the host and port written apart (urllib3, asyncio): before, "host='localhost', port=8011" was shown whole
    ("HTTPConnectionPool(host='localhost', port=8011): Max retries", "HTTPConnectionPool(host=[endpoint]): Max retries"),
    ("[Connect call failed ('127.0.0.1', 8011)]; ('localhost', 7860) and localhost, 8011 rows stay",
     "[Connect call failed ([endpoint])]; ('localhost', 7860) and localhost, 8011 rows stay"),
    # a container's name for its host is generic too
    ("host.docker.internal lets a container reach its host; http://host.docker.internal:9011/v1 failed",
     "host.docker.internal lets a container reach its host; [endpoint] failed"),
])
def test_a_local_endpoint_is_hidden_by_its_address_not_by_the_word_localhost(text, shown):
    from realunify_arena.redaction import visitor_text

    for endpoint in ("http://localhost:8011/v1", "http://host.docker.internal:9011/v1"):
        ModelCard(name="ep", family="openai", description="x", capabilities=frozenset({Capability.UNDERSTAND}),
                  endpoint=endpoint)
    assert visitor_text(text) == shown


def test_a_local_proxys_address_is_hidden_and_the_words_stay(monkeypatch):
    from realunify_arena.redaction import visitor_text

    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    shown = visitor_text("ProxyError: 127.0.0.1:3128 refused (http://localhost:3128); the app listens on 127.0.0.1")
    assert shown == "ProxyError: [endpoint] refused ([endpoint]); the app listens on 127.0.0.1"


def test_a_judges_failed_call_kept_as_a_reply_is_shown_without_its_endpoint():
    """A polling judgment keeps a failed judge call as ``"<judge call failed: ...>"``; the API reply and the
    revealed arena sides showed it whole (``runs.for_visitors``)."""
    from realunify_arena.runs import for_visitors

    ModelCard(name="ep", family="openai", description="x", capabilities=frozenset({Capability.UNDERSTAND}),
              endpoint="http://10.0.0.7:8000/v1")
    failed = "<judge call failed: RuntimeError: j at http://10.0.0.7:8000/v1: HTTP 500: /srv/app/logs/x.txt>"
    judgment = {"kind": "polling", "score": None, "errors": 1,
                "details": {"judge": "j", "questions": [{"question": "Is it red?", "expected": "yes",
                                                          "replies": [failed, "yes"], "correct": True}]}}
    shown = for_visitors({"judgment": judgment})["judgment"]
    assert shown["details"]["questions"][0]["replies"] == [
        "<judge call failed: RuntimeError: j at its endpoint: HTTP 500: x.txt>", "yes"]
    assert {k: v for k, v in shown.items() if k != "details"} == {"kind": "polling", "score": None, "errors": 1}
    assert judgment["details"]["questions"][0]["replies"][0] == failed  # the stored judgment is left whole


def test_an_unavailable_endpoints_reason_reads_as_a_sentence_without_its_address(monkeypatch):
    """Before: the model menu's note for a card whose endpoint was down read "endpoint [endpoint] not answering
    (ConnectError)": the address hidden, its placeholder left in the sentence. The reason comes from a real
    probe of a closed port; the command line keeps the address."""
    import socket

    from realunify_arena.availability import availability
    from realunify_arena.redaction import visitor_text

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    card = ModelCard(name="down", family="openai", description="x", capabilities=frozenset({Capability.UNDERSTAND}),
                     endpoint=url, serve=f"python -m realunify_arena serve-openai --port {port}")
    ok, why = availability(card)
    assert not ok and url in why  # the log and the command line name the endpoint
    shown = visitor_text(why)
    assert shown.startswith("its endpoint is not answering ("), shown
    assert "[endpoint]" not in shown and "127.0.0.1" not in shown and url not in shown, shown
    # the same kind of sentence from the other places that name an address after its noun, or after "at"
    for text, expected in ((f"edit via d: endpoint {url} rejected the API key in $K (HTTP 401)",
                            "edit via d: its endpoint rejected the API key in $K (HTTP 401)"),
                           (f"Endpoint {url} is not answering", "Its endpoint is not answering"),
                           (f"the proxy {url} refused", "the proxy refused"),
                           (f"d at {url}: HTTP 500", "d at its endpoint: HTTP 500")):
        assert visitor_text(text) == expected


@pytest.mark.parametrize("user_password", ["user:pass", "alice:secret", "a:b"])
def test_a_short_basic_credential_is_masked_however_it_looks(user_password):
    """RFC 7617: Basic's credential is base64 of ``user:password``. A short one has neither digit nor inner mark
    ("dXNlcjpwYXNz" is ``user:pass``), so the shape rule alone let it pass; the prose after "Basic" stays."""
    import base64

    from realunify_arena.redaction import redact

    token = base64.b64encode(user_password.encode()).decode()
    for text in (f"Authorization: Basic {token}", f'{{"Authorization": "Basic {token}"}}',
                 f"proxy-authorization: basic {token}"):
        masked = redact(text)
        assert token not in masked and "***" in masked, masked
    assert redact("Authorization: Basic authentication is required") == \
        "Authorization: Basic authentication is required"


@pytest.mark.parametrize("text, expected", [
    # a CGI/WSGI environment's names for request headers (RFC 3875 section 4.1.18), as Django's 500 page, a PHP
    # $_SERVER dump or a WSGI app's debug answer list them when a proxy echoes the request
    ("HTTP_AUTHORIZATION: 'Basic dXNlcjpwYXNz'", "HTTP_AUTHORIZATION: 'Basic ***'"),
    ("{'HTTP_AUTHORIZATION': 'Token 9f8e7d6c5b4a'}", "{'HTTP_AUTHORIZATION': 'Token ***'}"),
    ("HTTP_PROXY_AUTHORIZATION=Basic YWxpY2U6cHctczNjcmV0LTc3", "HTTP_PROXY_AUTHORIZATION=Basic ***"),
    ("{'HTTP_X_API_KEY': 'q1w2e3r4t5'}", "{'HTTP_X_API_KEY': '***'}"),
    ("HTTP_X_GOOG_API_KEY = AIzaShort123", "HTTP_X_GOOG_API_KEY = ***"),
    # a program's keyword for the same fields
    ("Client(x_api_key='q1w2e3r4t5')", "Client(x_api_key='***')"),
    ("openai_api_key=zz9yy8xx7", "openai_api_key=***"),
])
def test_a_header_named_as_a_cgi_environment_names_it_is_masked(text, expected):
    """Before: ``\\b`` before the field's name needs a non-word character, and ``_`` is a word character, so
    ``HTTP_AUTHORIZATION`` and ``HTTP_X_API_KEY`` were not seen as the fields they are: a Basic credential or a
    key a proxy's debug page echoed stayed whole."""
    assert redact(text) == expected


@pytest.mark.parametrize("text", ["api_key_env: KEY_NAME", "OPENAI_API_KEY is unset", "requires_authorization: true",
                                  "mapi_key: q1w2e3r4t5 is a map's field"])
def test_a_word_that_only_ends_in_a_field_name_stays(text):
    assert redact(text) == text
