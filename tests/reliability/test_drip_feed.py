"""An endpoint that drips bytes never holds a request past its deadline.

httpx's read timeout restarts with every byte it receives, so a server that sends one byte every 0.5 s
for ever never times out on its own. Each remote path (the OpenAI-compatible adapter's four requests in
both dialects, the Gemini adapter, a judge card asked a polling question, the card list's endpoint probe)
talks to a real loopback socket (``stand_in.dripping``) with a 3 s deadline and must end within the
deadline and a small margin, with a message that states the measured seconds and the deadline and holds
no secret, and the drip server must see its connection closed (no socket or thread is left reading).
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack

import pytest
from PIL import Image
from stand_in import dripping

from realunify_arena import availability
from realunify_arena.adapters import build_adapter
from realunify_arena.adapters.base import Capability, GenerationOptions
from realunify_arena.benchmark.schema import PollingQuestion, UEGInstance
from realunify_arena.cards import ModelCard, load_card
from realunify_arena.judge import AdapterJudge, judge_trace
from realunify_arena.redaction import error_text
from realunify_arena.runtime import ModelPool
from realunify_arena.trace import Step, StepRole, Trace

pytestmark = pytest.mark.slow

DEADLINE_S = 5  # the cards' timeout_s: one deadline plus LATE_S ends short of a second attempt (5 + 0.5 + 5 s)
# how far past its deadline a request may end: the timer thread's wake-up and the client's unwinding with ten
# requests at once on a loaded 2-core machine (CI measured 1.1 s past one for test_hung_remote); a request
# read for ever, or retried with a deadline of its own, ends far later
LATE_S = 3.0
# a bound on the wait for each stand-in to find its connection closed (two drips, 0.5 s apart, after the close),
# not a timing check: a connection left open, still being read, is never found closed
CLOSE_SEEN_S = 15
KEY_ENV, KEY = "DRIP_STANDIN_MARKER", "drip-marker-5a0c7e19b2d4f6"  # a name that looks like nothing secret
PICTURE = Image.new("RGB", (16, 16), (30, 90, 200))
OPTIONS = GenerationOptions(seed=0, max_new_tokens=8, width=16, height=16)
SAID = re.compile(rf"no answer after (\d+\.\d) s \(1 attempt; deadline {DEADLINE_S} s\)")


def _openai(url: str, dialect: str = "images") -> ModelCard:
    return ModelCard(name="drips", family="openai", description="drips a byte at a time (reliability test)",
                     capabilities=frozenset(Capability), checkpoints={c.value: "drip-model" for c in Capability},
                     endpoint=f"{url}/v1", api_key_env=KEY_ENV,
                     params={"timeout_s": DEADLINE_S, "max_retries": 2, "dialect": dialect})


def _gemini(url: str, tmp_path) -> ModelCard:
    path = tmp_path / "drips-gemini.yaml"
    path.write_text(json.dumps({
        "family": "gemini", "description": "drips a byte at a time (reliability test)", "endpoint": url,
        "api_key_env": KEY_ENV, "capabilities": ["understand", "generate", "edit"],
        "checkpoints": {c: "gemini-drip" for c in ("understand", "generate", "edit")},
        "params": {"timeout_s": DEADLINE_S, "attempts": 3}}))
    return load_card(path)


def _judge(card: ModelCard) -> str:
    """A judge card asked one polling question about a finished run: the failed ask is its reply."""
    instance = UEGInstance(index=1, task_type="drip", prompt="a blue square",
                           question_list=[PollingQuestion("Is the square blue?", "yes")])
    trace = Trace(instance.uid, "someone", "direct", {}, steps=[Step(StepRole.GENERATED_IMAGE, "p", image=PICTURE)])
    judgment = judge_trace(trace, instance, AdapterJudge(ModelPool({card.name: card}, device="cpu"), card.name),
                           lambda step: step.image)
    replies = judgment.details["questions"][0]["replies"]
    assert len(replies) == 1 and judgment.score is None, replies  # a timed-out ask is not asked again
    return replies[0]


def _call(build, method: str, *args):
    """(url, tmp_path) -> the call to time: the adapter is built first (importing a client library takes
    a while), then ``method(*args)`` is what the deadline bounds."""
    def prepare(url, tmp_path):
        adapter = build(url, tmp_path)
        return lambda: getattr(adapter, method)(*args, OPTIONS)
    return prepare


def _images(url, tmp_path):
    return build_adapter(_openai(url))


def _chat(url, tmp_path):
    return build_adapter(_openai(url, "chat"))


def _gemini_adapter(url, tmp_path):
    return build_adapter(_gemini(url, tmp_path))


CALLS = {
    "openai understand (chat completions)": _call(_images, "understand", [PICTURE], "What colour?"),
    "openai generate (images dialect)": _call(_images, "generate", "a cube"),
    "openai edit (images dialect, multipart)": _call(_images, "edit", PICTURE, "make it red"),
    "openai generate (chat dialect)": _call(_chat, "generate", "a cube"),
    "openai edit (chat dialect)": _call(_chat, "edit", PICTURE, "make it red"),
    "gemini understand": _call(_gemini_adapter, "understand", [PICTURE], "What colour?"),
    "gemini generate": _call(_gemini_adapter, "generate", "a cube"),
    "judge card (openai)": lambda url, tmp_path: lambda: _judge(_openai(url)),
}


# every path with the body dripped after whole headers; the status line itself dripped on one path per client
CASES = [(path, True) for path in CALLS] + [("openai generate (images dialect)", False), ("gemini understand", False)]


def test_a_dripping_endpoint_ends_every_remote_request_at_its_deadline(tmp_path, monkeypatch):
    """All cases at once (each against its own dripping endpoint, on its own thread), so the file takes
    one deadline, not ten; each is asserted on its own."""
    monkeypatch.setenv(KEY_ENV, KEY)
    with ExitStack() as stack:
        servers = [stack.enter_context(dripping(headers_first=first)) for _, first in CASES]
        folders = [tmp_path / str(i) for i in range(len(CASES))]
        for folder in folders:
            folder.mkdir()
        calls = [CALLS[path](server.url, folder) for (path, _), server, folder in zip(CASES, servers, folders)]
        pool = ThreadPoolExecutor(len(CASES))
        futures = [pool.submit(_timed, call) for call in calls]
        _, late = wait(futures, timeout=DEADLINE_S + 15)  # without a total deadline they would read for ever
        seen_by = time.monotonic() + CLOSE_SEEN_S  # the drip's next byte or two find each connection closed
        while any(len(s.closed) < s.connections for s in servers) and time.monotonic() < seen_by:
            time.sleep(0.1)
        drips = [(s.connections, s.dripped, len(s.closed)) for s in servers]
    pool.shutdown(wait=False)  # the servers are stopped: a request still reading ends now
    assert not late, (f"{[path for (path, _), f in zip(CASES, futures) if f in late]} still reading after "
                      f"{DEADLINE_S + 15} s")
    results = [f.result() for f in futures]
    lines = []
    for (path, first), (outcome, elapsed), (connections, dripped, closed) in zip(CASES, results, drips):
        case = f"{path}, {'body' if first else 'status line'} dripped"
        lines.append(f"{case}: ended after {elapsed:.2f} s; {outcome}")
        assert connections >= 1 and dripped >= 3, f"{case}: the request never reached the dripping endpoint"
        assert closed == connections, f"{case}: a connection was left open, still being read"
        said = SAID.search(outcome)
        assert said, f"{case}: {outcome}"
        assert DEADLINE_S <= float(said.group(1)) <= DEADLINE_S + LATE_S, f"{case}: {outcome}"
        assert elapsed <= DEADLINE_S + LATE_S, f"{case}: ended after {elapsed:.2f} s"
        assert KEY not in outcome
    print("\n" + "\n".join(lines))


def _timed(call) -> tuple[str, float]:
    start = time.monotonic()
    try:
        outcome = call()
    except TimeoutError as e:
        outcome = error_text(e)
    return outcome, time.monotonic() - start


def test_the_card_probe_ends_at_its_deadline(monkeypatch):
    """``models`` and the app's start-up ask each endpoint card's ``/models``: a dripping endpoint is
    reported as not answering after ``availability.ENDPOINT_PROBE_TIMEOUT_S``, not waited on for ever."""
    monkeypatch.setattr(availability, "ENDPOINT_PROBE_TIMEOUT_S", 2.0)
    with dripping() as server:
        card = _openai(server.url)
        monkeypatch.setenv(KEY_ENV, KEY)
        with ThreadPoolExecutor(1) as pool:
            start = time.monotonic()
            probe = pool.submit(availability.availability, card)
            done, _ = wait([probe], timeout=15)
            elapsed = time.monotonic() - start
            assert server.dripped >= 2
            server.stop.set()  # a probe still reading ends now
        assert done, "the probe was still reading after 15 s"
        ok, why = probe.result()
    assert not ok and "not answering (no answer within 2 s)" in why, why
    assert elapsed <= 2.0 + LATE_S, elapsed  # a probe without its deadline reads for ever
    assert KEY not in why


def test_the_hub_probe_ends_at_its_deadline(monkeypatch):
    """Availability asks the hub once (``probe_hub``) before offering a model that is not cached: a hub or
    proxy that drips bytes counts as unreachable after the probe's timeout, not after the last byte."""
    monkeypatch.setattr(availability, "hub_offline", lambda: False)  # the tests run with HF_HUB_OFFLINE=1
    availability.forget_probes()
    with dripping(headers_first=False) as server:  # the status line itself a byte at a time
        start = time.monotonic()
        probe = availability.probe_hub(server.url, timeout=2.0, ttl=0)
        elapsed = time.monotonic() - start
        server.stop.set()
    assert not probe.reachable and "did not answer within 2 s" in probe.reason, probe
    assert elapsed <= 2.0 + LATE_S, elapsed  # a probe without its deadline reads for ever


def test_a_hub_that_answers_the_probe_then_drips_holds_no_listing(monkeypatch, tmp_path):
    """The probe's HEAD has no body to drip, so such a hub counts as reachable; the next question (the
    repo's file sizes, for a model not cached) must still end at its limit, the size then taken from the
    checkpoint's name."""
    from huggingface_hub import constants

    monkeypatch.setattr(availability, "hub_offline", lambda: False)  # the tests run with HF_HUB_OFFLINE=1
    monkeypatch.setattr(availability, "HUB_PROBE_TIMEOUT_S", 2.0)
    availability.forget_probes()
    card_file = tmp_path / "local.yaml"
    card_file.write_text("family: janus\ndescription: d\ncapabilities: [understand]\ncheckpoint: org/Model-1B\n")
    with dripping() as server:  # headers at once, then the body a byte every 0.5 s
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        start = time.monotonic()
        ok, why = availability.availability(load_card(card_file), device="cpu")
        elapsed = time.monotonic() - start
        server.stop.set()
    availability.forget_probes()
    assert ok and "about 2.0 GB of weights" in why, why  # 1B x 2 bytes (bfloat16), from the name
    assert elapsed <= 2 * 2.0 + LATE_S, elapsed  # the probe, then the size question, each bounded
