"""HTTPS to a remote model: the CA variables ``requests`` and ``httpx`` read are honoured, and a certificate
that fails its check is named as such (not "not answering (ConnectError)").

The endpoint is a real local HTTPS server whose certificate a private CA, made here with ``cryptography``,
signed; what the clients get is decided by OpenSSL's own verification.
"""

from __future__ import annotations

import shutil
import subprocess

import certifi
import pytest
from huggingface_hub import constants
from PIL import Image
from stand_in import JSONHandler, private_ca, serving

from realunify_arena import availability as av
from realunify_arena.adapters import ModelUnavailable, build_adapter
from realunify_arena.adapters.base import Capability, GenerationOptions
from realunify_arena.cards import ModelCard
from realunify_arena.protocols import loaded
from realunify_arena.runtime import ModelPool

ALL_CA_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
UNVERIFIED = "the TLS certificate could not be verified (unable to get local issuer certificate)"
WHAT_TO_SET = "set SSL_CERT_FILE, REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE to a CA file or folder"


class OpenAIStandIn(JSONHandler):
    """``GET /v1/models`` (the availability probe) and chat completions answering "B"; counts the requests."""

    def do_GET(self):
        self.server.requests += 1
        self.reply(200, {"object": "list", "data": [{"id": "fake-vlm", "object": "model"}]})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests += 1
        self.reply(200, {"id": "c1", "object": "chat.completion", "created": 0, "model": "fake-vlm",
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": "B"}}],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return private_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture()
def endpoint(ca):
    with serving(OpenAIStandIn, tls=ca, requests=0) as server:
        yield server


@pytest.fixture(autouse=True)
def no_ca_variables(monkeypatch):
    """This machine may set them all (to the system bundle); each test sets what it means."""
    for name in ALL_CA_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _card(endpoint) -> ModelCard:
    return ModelCard(name="https-vlm", family="openai", description="an HTTPS stand-in (test only)",
                     capabilities=frozenset({Capability.UNDERSTAND}), checkpoints={"understand": "fake-vlm"},
                     endpoint=f"{endpoint.url}/v1", params={"timeout_s": 10, "max_retries": 2})


def _ask(card: ModelCard) -> str:
    adapter = build_adapter(card)
    try:
        return adapter.understand([Image.new("RGB", (8, 8))], "which?", GenerationOptions(max_new_tokens=4))
    finally:
        adapter.close()


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"])
def test_a_ca_file_named_by_any_of_the_variables_is_trusted(endpoint, ca, monkeypatch, variable):
    """Before: only SSL_CERT_FILE was read; REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE were ignored."""
    monkeypatch.setenv(variable, str(ca.ca))
    assert av.availability(_card(endpoint)) == (True, f"endpoint {endpoint.url}/v1")
    assert _ask(_card(endpoint)) == "B"
    assert endpoint.requests == 2


def test_requests_ca_bundle_counts_where_ssl_cert_file_names_the_system_bundle(endpoint, ca, monkeypatch):
    """The common set-up: the image sets SSL_CERT_FILE to the usual CAs, the user adds a company CA."""
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.ca))
    assert av.availability(_card(endpoint))[0]
    assert _ask(_card(endpoint)) == "B"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command for the hashed name")
def test_a_ca_folder_is_trusted_as_requests_reads_one(endpoint, ca, tmp_path, monkeypatch):
    folder = tmp_path / "cas"
    folder.mkdir()
    digest = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(ca.ca)], capture_output=True,
                            text=True, check=True).stdout.strip()
    shutil.copy(ca.ca, folder / f"{digest}.0")  # the name `openssl rehash` gives it
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(folder))
    assert _ask(_card(endpoint)) == "B"


@pytest.mark.parametrize("set_up", ["nothing set", "system bundle"])
def test_an_untrusted_certificate_is_named_with_the_variables_to_set(endpoint, monkeypatch, set_up):
    """Before: availability said "not answering (ConnectError)" and the adapter "endpoint not answering
    (Connection error.)", which sent the user looking for a server that was up."""
    if set_up == "system bundle":
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    ok, reason = av.availability(_card(endpoint))
    assert not ok
    assert reason == f"endpoint {endpoint.url}/v1: {UNVERIFIED}; to trust the CA that signed it, {WHAT_TO_SET}"
    with pytest.raises(ModelUnavailable) as refused:
        _ask(_card(endpoint))
    assert str(refused.value) == f"https-vlm at {endpoint.url}/v1: {reason.split(': ', 1)[1]}"
    assert endpoint.requests == 0  # no request got through the handshake


def test_the_hub_probe_names_an_untrusted_certificate(endpoint, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    av.forget_probes()
    try:
        probe = av.probe_hub(endpoint.url)
    finally:
        av.forget_probes()
    assert not probe.reachable
    assert probe.reason.startswith(f"the hub {endpoint.url}: {UNVERIFIED}; ")


def test_a_variable_naming_a_missing_file_is_a_clear_message_not_a_traceback(endpoint, tmp_path, monkeypatch,
                                                                               capsys):
    import app

    missing = tmp_path / "company-ca.pem"
    monkeypatch.setenv("CURL_CA_BUNDLE", str(missing))
    expected = f"CURL_CA_BUNDLE={missing}: no such CA file or folder"
    ok, reason = av.availability(_card(endpoint))
    assert not ok and reason.startswith(expected)
    assert app.main(["--db", str(tmp_path / "arena.db")]) == 2  # refused at start-up
    err = capsys.readouterr().err
    assert err.startswith(f"app.py: {expected}") and "Traceback" not in err
    assert not (tmp_path / "arena.db").exists()
    pool = ModelPool({"https-vlm": _card(endpoint)}, device="cpu")
    with pytest.raises(ModelUnavailable) as refused, loaded(pool, "https-vlm"):  # how a run gets its adapter
        pass
    assert str(refused.value).startswith(f"https-vlm: could not be loaded from {endpoint.url}/v1: SettingsError: "
                                         f"{expected}")


@pytest.mark.parametrize("command", [["models"], ["eval", "--model", "tiny-janus"],
                                     ["serve-openai", "--model", "tiny-janus", "--port", "0"]])
def test_the_commands_that_read_cards_refuse_a_missing_ca_file_at_start(tmp_path, monkeypatch, capsys, command):
    from realunify_arena.cli import main

    missing = tmp_path / "company-ca.pem"
    monkeypatch.setenv("SSL_CERT_FILE", str(missing))
    argv = [*command, "--db", str(tmp_path / "arena.db")] if command[0] == "eval" else command
    assert main(argv) == 2  # refused before any model, server or database is touched
    err = capsys.readouterr().err
    assert err.startswith(f"{command[0]}: error: SSL_CERT_FILE={missing}: no such CA file or folder")
    assert "Traceback" not in err and not (tmp_path / "arena.db").exists()


def test_a_file_that_holds_no_certificate_is_named(endpoint, tmp_path, monkeypatch):
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(not_pem))
    ok, reason = av.availability(_card(endpoint))
    assert not ok and reason.startswith(f"REQUESTS_CA_BUNDLE={not_pem}: cannot be read as CA certificates")
