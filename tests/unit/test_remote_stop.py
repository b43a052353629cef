"""A remote model's request stops when its run is stopped, as a local model's loop does (``stopping``).

A local run stops at its model's next step (``stopping.check``); a remote request blocks in a socket read that no
check reaches, so before, a visitor's Stop, a ``serve-openai`` client that disconnected, the app shutting down
(``stopping.stop_all``) or ``--run-time-limit`` left the request running to the card's own deadline (300 s by
default), holding the endpoint (and its accelerator and queue) for nobody. Now the run's stop shuts the request's
sockets (``adapters.wire.within_deadline``), and the endpoint sees its connection closed.

Every endpoint here is a real loopback server (``stand_in.dripping``: it takes the request and answers a byte at a
time for ever, noting when the client closes its end), reached through the real adapters and clients. The card's
own deadline is 120 s, so a connection closed within the tests' bounds was closed by the stop, not by it.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time

import pytest
from PIL import Image

from realunify_arena import stopping
from realunify_arena.adapters import build_adapter
from realunify_arena.adapters.base import Capability, GenerationOptions
from realunify_arena.cards import ModelCard, load_card
from realunify_arena.stopping import STOPPED_BY_USER, RunControl, RunStopped
from tests.stand_in import dripping

CARD_DEADLINE_S = 120.0  # the card's own deadline: far past every bound below
BOUND_S = 60.0  # how long a test waits for what must happen (a loaded 2-core machine is slow, never this slow)


def _openai_card(url: str, name: str = "remote-drip") -> ModelCard:
    return ModelCard(name=name, family="openai", description="drips (stop test)",
                     capabilities=frozenset({Capability.UNDERSTAND}), checkpoints={"understand": "m"},
                     endpoint=f"{url}/v1", params={"timeout_s": CARD_DEADLINE_S, "max_retries": 0})


def _gemini_card(tmp_path, url: str) -> ModelCard:
    path = tmp_path / "drip-gemini.yaml"
    path.write_text(json.dumps({
        "family": "gemini", "description": "drips (stop test)", "endpoint": url, "api_key_env": "DRIP_GEMINI_KEY",
        "capabilities": ["understand"], "checkpoints": {"understand": "gemini-2.5-pro"},
        "params": {"attempts": 1, "timeout_s": CARD_DEADLINE_S}}))
    return load_card(path)


def _wait_for(what: str, condition) -> None:
    since = time.monotonic()
    while not condition():
        assert time.monotonic() - since < BOUND_S, f"{what}: not within {BOUND_S:g} s"
        time.sleep(0.02)


def _ask(adapter, control: RunControl, outcome: dict) -> threading.Thread:
    """``adapter.understand`` on a thread of its own inside ``control``'s run, as ``protocols.run_stream`` runs a
    step; ``outcome`` gets what it raised (or returned) and when."""
    def ask():
        with control.active():
            control.start_clock()
            try:
                outcome["value"] = adapter.understand([Image.new("RGB", (16, 16))], "hello", GenerationOptions())
            except BaseException as e:  # noqa: BLE001 - the test looks at it
                outcome["error"] = e
            outcome["at"] = time.monotonic()

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("family", ["openai", "gemini"])
def test_a_stopped_run_closes_its_remote_request(family, tmp_path, monkeypatch):
    """Stop pressed while the endpoint is answering: the request ends with the stop's reason and its connection is
    closed (before: both waited for the card's 120 s deadline)."""
    monkeypatch.setenv("DRIP_GEMINI_KEY", "drip-key")
    with dripping(gap_s=0.05) as server:
        card = _openai_card(server.url) if family == "openai" else _gemini_card(tmp_path, server.url)
        control, outcome = RunControl(), {}
        thread = _ask(build_adapter(card), control, outcome)
        _wait_for("the endpoint took the request", lambda: server.connections == 1)
        _wait_for("the endpoint dripped into the request", lambda: server.dripped >= 2)
        stopped_at = time.monotonic()
        control.stop()
        _wait_for("the request ended", lambda: not thread.is_alive())
        _wait_for("the endpoint saw its connection closed", lambda: server.closed)
    assert isinstance(outcome.get("error"), RunStopped), outcome
    assert str(outcome["error"]) == STOPPED_BY_USER
    assert outcome["at"] - stopped_at < CARD_DEADLINE_S / 2
    assert server.connections == 1  # a stopped request is not sent again


def test_a_fork_stopped_by_the_other_side_closes_its_request():
    """A battle's two sides share one stop signal (``RunControl.fork``): stopping the battle closes the remote
    side's request too."""
    with dripping(gap_s=0.05) as server:
        battle = RunControl()
        side = battle.fork()
        outcome = {}
        thread = _ask(build_adapter(_openai_card(server.url)), side, outcome)
        _wait_for("the endpoint took the request", lambda: server.connections == 1)
        battle.stop()
        _wait_for("the request ended", lambda: not thread.is_alive())
        _wait_for("the endpoint saw its connection closed", lambda: server.closed)
    assert isinstance(outcome.get("error"), RunStopped) and str(outcome["error"]) == STOPPED_BY_USER, outcome


@pytest.mark.parametrize("gap_s", [0.05, 1000.0], ids=["dripping", "silent"])
def test_a_remote_request_ends_at_the_runs_time_limit(gap_s):
    """``--run-time-limit`` bounds a remote run as it bounds a local one: a 1 s limit under a card deadline of
    120 s ends the request with the time limit's message (before: it ran to the card's deadline), whether the
    endpoint drips (the total deadline shuts the socket) or says nothing (the client's own read timeout, given
    the time left, may fire first: the message is the same)."""
    with dripping(gap_s=gap_s) as server:
        control, outcome = RunControl(time_limit_s=1.0), {}
        thread = _ask(build_adapter(_openai_card(server.url)), control, outcome)
        _wait_for("the request ended", lambda: not thread.is_alive())
        if gap_s < 1:  # a silent endpoint never writes, so it cannot notice the close
            _wait_for("the endpoint saw its connection closed", lambda: server.closed)
    error = outcome.get("error")
    assert isinstance(error, RunStopped) and "1 s time limit" in str(error), outcome


def test_a_run_stopped_before_its_request_sends_nothing():
    """A run stopped while it waited (for the device, behind another run) sends no request at all."""
    with dripping(gap_s=0.05) as server:
        control, outcome = RunControl(), {}
        control.stop()
        _ask(build_adapter(_openai_card(server.url)), control, outcome).join(BOUND_S)
        time.sleep(0.2)  # a request, had one been sent, would have reached the endpoint by now
        assert server.connections == 0
    assert isinstance(outcome.get("error"), RunStopped), outcome


def test_outside_a_run_the_cards_deadline_alone_applies():
    """No active control (a call made outside any run): the request is bounded by the card's deadline as
    before, and a control stopped on another thread does not touch it."""
    with dripping(gap_s=0.05) as server:
        card = dataclasses.replace(_openai_card(server.url), params={"timeout_s": 1, "max_retries": 0})
        elsewhere = RunControl()
        elsewhere.stop()
        with pytest.raises(TimeoutError, match="deadline 1 s"):
            build_adapter(card).understand([], "hello", GenerationOptions())


@pytest.mark.slow
def test_serve_openai_closes_its_remote_request_when_its_client_disconnects():
    """``serve-openai`` over a remote card (an OpenAI-compatible endpoint behind it): the client sends a chat
    request and closes its connection; the server stops the run (``CLIENT_GONE``), and now the upstream endpoint
    sees its connection closed too (before: the upstream request ran on to the card's 120 s deadline)."""
    from realunify_arena.runtime import ModelPool
    from realunify_arena.serving import CLIENT_GONE, BackgroundServer, create_app

    with dripping(gap_s=0.05) as upstream:
        card = _openai_card(upstream.url, "remote-behind")
        pool = ModelPool({card.name: card}, device="cpu")
        with BackgroundServer(create_app(pool, card.name)) as served:
            host, port = served.url.split("//")[1].split("/")[0].split(":")
            body = json.dumps({"messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}).encode()
            with socket.create_connection((host, int(port)), timeout=10) as sock:
                sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                _wait_for("the upstream took the request", lambda: upstream.connections == 1)
            _wait_for("the run was stopped",
                      lambda: any(c.stopped and c.reason == CLIENT_GONE for c in list(stopping._opened)))
            _wait_for("the upstream saw its connection closed", lambda: upstream.closed)
            assert stopping.wait_until_idle(BOUND_S)
