"""Gradio's queue and call routes asked about a session, event, endpoint or component that does not exist, in
the app launched as ``app.py`` launches it (``launch_options()``), as a stale tab or a hostile script asks.

Measured before ``stream_errors.QuietStreams``: ``GET /gradio_api/queue/data?session_hash=<unknown>`` (and
``/gradio_api/call/<api>/<unknown event>``, the same stream) answered 200 with an ``unexpected_error`` event
saying only "404: Not Found", then Gradio re-raised the 404 inside the started stream and uvicorn logged
"Exception in ASGI application" at ERROR with a traceback, once per request.

Measured before ``call_targets.CallTargets``: ``POST /gradio_api/queue/join`` with a ``fn_index`` no event has,
``/run/<unknown>``, ``/call/<unknown>``, ``/call/v2/<unknown>``, ``/call/v2/vote`` with a keyword it does not take,
and ``/component_server`` with an unknown ``component_id`` answered a bare 500 "Internal Server Error" and uvicorn
logged a ``KeyError``, ``FnIndexInferError`` or ``TypeError`` traceback at ERROR.
"""

from __future__ import annotations

import json
import socket

import httpx
import pytest
from queue_calls import fn_index


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app(served_app):
    return served_app


def _events(text: str) -> list[dict]:
    return [json.loads(line[len("data: "):]) for line in text.splitlines() if line.startswith("data: {")]


@pytest.mark.parametrize("path", ["gradio_api/queue/data?session_hash=nosuchsession",
                                  "gradio_api/queue/data?session_hash=" + "z" * 3000])
def test_a_stream_for_an_unknown_session_says_so_without_an_error_log(app, path):
    before = len(app["errors"])
    response = app["http"].get(path)
    assert response.status_code == 200, response.text[:300]
    (event,) = _events(response.text)
    assert event["msg"] == "unexpected_error" and event["session_not_found"] is True, event
    assert "session" in event["message"] and "queue/join" in event["message"], event
    assert "Traceback" not in response.text
    assert app["errors_since"](before) == []


@pytest.mark.parametrize("method, path, body", [
    ("GET", "gradio_api/call/vote/nosuchevent", None),
    ("GET", "gradio_api/heartbeat/nosuchsession", None),
    ("POST", "gradio_api/queue/join", {"data": [], "fn_index": 99999, "session_hash": "s"}),
    ("POST", "gradio_api/queue/join", {"data": "x", "fn_index": "a", "session_hash": 5}),
    ("POST", "gradio_api/queue/join", {"data": [], "fn_index": 0, "trigger_id": -5, "session_hash": "s"}),
    ("POST", "gradio_api/cancel", {"session_hash": "nosuch", "fn_index": 99999, "event_id": "nosuch"}),
    ("POST", "gradio_api/cancel", {"session_hash": 1}),
], ids=["call-unknown-event", "heartbeat-unknown", "join-unknown-fn", "join-wrong-types", "join-bad-trigger",
        "cancel-unknown", "cancel-missing-fields"])
def test_other_queue_routes_with_unknown_ids_log_no_error(app, method, path, body):
    before = len(app["errors"])
    try:
        response = app["http"].request(method, path, json=body, timeout=3 if "heartbeat" in path else 60)
        status, text = response.status_code, response.text
    except httpx.ReadTimeout:  # the heartbeat stream stays open for as long as the tab does
        status, text = 200, ""
    assert status < 500, (status, text[:300])
    assert "Traceback" not in text
    assert app["errors_since"](before) == []


# (method, path, body, the 4xx expected, words the message must hold): a name in the path that does not exist
# is a 404 (RFC 9110 15.5.5), a value in a well-formed body that names nothing a 422 (RFC 9110 15.5.21).
UNKNOWN_TARGETS = {
    "join-fn-index-unknown": ("gradio_api/queue/join", {"data": [], "fn_index": 99999, "session_hash": "s"},
                              422, ["fn_index", "99999"]),
    "join-fn-index-negative": ("gradio_api/queue/join", {"data": [], "fn_index": -1, "session_hash": "s"},
                               422, ["fn_index", "-1"]),
    "join-fn-index-huge": ("gradio_api/queue/join", {"data": [], "fn_index": 10**22, "session_hash": "s"},
                           422, ["fn_index", "1000000"]),
    "join-fn-index-as-text": ("gradio_api/queue/join", {"data": [], "fn_index": "99999", "session_hash": "s"},
                              422, ["fn_index", "99999"]),
    "join-fn-index-unknown-no-session": ("gradio_api/queue/join", {"data": [], "fn_index": 99999},
                                         400, ["Session hash"]),  # Gradio's own check comes first and is a 400
    "run-unknown-name": ("gradio_api/run/nosuchapi", {"data": []}, 404, ["/nosuchapi", "/vote"]),
    "api-unknown-name": ("gradio_api/api/nosuchapi", {"data": []}, 404, ["/nosuchapi", "/vote"]),
    "run-unknown-fn-index": ("gradio_api/run/vote", {"data": [], "fn_index": 99999}, 422, ["fn_index", "99999"]),
    "call-unknown-name": ("gradio_api/call/nosuchapi", {"data": []}, 404, ["/nosuchapi", "/vote"]),
    "call-v2-unknown-name": ("gradio_api/call/v2/nosuchapi", {}, 404, ["/nosuchapi", "/vote"]),
    "call-v2-private-name": ("gradio_api/call/v2/open_from_url", {}, 404, ["/open_from_url"]),
    "call-private-name": ("gradio_api/call/open_from_url", {"data": []}, 404, ["/open_from_url", "/vote"]),
    "call-private-release": ("gradio_api/call/release", {"data": []}, 404, ["/release", "/vote"]),
    "call-private-cast": ("gradio_api/call/cast", {"data": ["x"]}, 404, ["/cast", "/vote"]),
    "call-v2-unknown-keyword": ("gradio_api/call/v2/vote", {"battle_id": "x", "choice": "A", "nosuch": 1},
                                422, ["/vote", "nosuch"]),
    "call-v2-missing-keyword": ("gradio_api/call/v2/vote", {"battle_id": "x"}, 422, ["/vote", "choice"]),
    "component-unknown": ("gradio_api/component_server",
                          {"session_hash": "s", "component_id": 99999, "fn_name": "x", "data": None},
                          422, ["component_id", "99999"]),
}


@pytest.mark.parametrize("path, body, status, words", UNKNOWN_TARGETS.values(), ids=UNKNOWN_TARGETS.keys())
def test_a_call_naming_nothing_gets_a_4xx_that_says_what(app, path, body, status, words):
    before = len(app["errors"])
    response = app["http"].post(path, json=body)
    assert response.status_code == status, (response.status_code, response.text[:300])
    detail = response.json()["detail"]
    assert isinstance(detail, str) and all(word in detail for word in words), detail
    assert app["errors_since"](before) == []


@pytest.mark.parametrize("path, body", [
    ("gradio_api/call/v2/vote", {"battle_id": "x", "choice": "A"}),
    ("gradio_api/call/vote", {"data": ["x", "A"]}),
], ids=["keywords", "positional"])
def test_a_call_naming_a_real_endpoint_still_runs_with_its_values(app, path, body):
    """The body read to check the target reaches Gradio whole: the vote runs and refuses the made-up battle."""
    response = app["http"].post(path, json=body)
    assert response.status_code == 200, response.text[:300]
    stream = app["http"].get(f"{path.replace('/v2/', '/')}/{response.json()['event_id']}")
    assert "event: error" in stream.text and "battle" in stream.text, stream.text[:300]


def test_an_oversized_call_body_is_still_refused_by_the_body_limit(app):
    response = app["http"].post("gradio_api/queue/join", content=b'{"data": ["' + b"x" * (2 * 2**20) + b'"]}',
                                headers={"content-type": "application/json"})
    assert response.status_code == 413 and "too large" in response.json()["detail"], response.text[:300]


def test_a_join_from_the_page_for_a_real_event_is_accepted(app):
    """A ``fn_index`` the page's own config lists (``/config``'s dependencies) is let through."""
    config = app["http"].get("config").json()
    vote = next(dep for dep in config["dependencies"] if dep.get("api_name") == "vote")
    response = app["http"].post("gradio_api/queue/join", json={"data": ["x", "A"], "fn_index": vote["id"],
                                                                "session_hash": "page"})
    assert response.status_code == 200 and response.json()["event_id"], response.text[:300]


MULTIPART_COMPONENT_CALLS = {  # form fields of a multipart /component_server call; Gradio read them unchecked
    "unknown-id": ({"component_id": "99999", "session_hash": "s", "fn_name": "x"}, ["component_id 99999"]),
    "id-no-integer": ({"component_id": "abc", "session_hash": "s", "fn_name": "x"}, ["'abc'", "no integer"]),
    "id-missing": ({"session_hash": "s", "fn_name": "x"}, ["no component_id"]),
    "fn-name-missing": ({"component_id": "1", "session_hash": "s"}, ["no fn_name"]),
}


@pytest.mark.parametrize("fields, words", MULTIPART_COMPONENT_CALLS.values(), ids=MULTIPART_COMPONENT_CALLS.keys())
def test_a_multipart_component_call_naming_nothing_gets_a_422(app, fields, words):
    """Before: a ``KeyError`` from Gradio's ``blocks[component_id]`` or ``data["fn_name"]``, a bare 500 and
    an ERROR traceback per request."""
    before = len(app["errors"])
    response = app["http"].post("gradio_api/component_server", data=fields, files={"data": ("d.txt", b"1")})
    assert response.status_code == 422, (response.status_code, response.text[:300])
    detail = response.json()["detail"]
    assert all(word in detail for word in words), detail
    assert app["errors_since"](before) == []


def test_a_multipart_component_call_to_a_real_component_reaches_gradio(app):
    """The form read to check it reaches Gradio whole: Gradio itself refuses the made-up function by name."""
    component = next(iter(app["http"].get("config").json()["components"]))["id"]
    response = app["http"].post("gradio_api/component_server", files={"data": ("d.txt", b"1")},
                                data={"component_id": str(component), "session_hash": "s", "fn_name": "nosuch"})
    assert response.status_code == 404 and response.json()["detail"] == "Function not found.", response.text[:300]


def test_gradio_s_monitoring_dashboard_is_off_and_a_visitor_prints_nothing_to_the_log(app, capfd):
    """Before: ``GET /monitoring`` (Gradio's traffic dashboard, on unless launched with ``enable_monitoring=False``)
    answered "See console for monitoring URL." and printed ``* Monitoring URL: .../monitoring/<key> *`` to the
    server's stdout for any visitor: the dashboard's secret, written to the log on demand (hunt25c)."""
    capfd.readouterr()
    for path in ("monitoring", "gradio_api/monitoring", "monitoring/summary", "gradio_api/monitoring/summary"):
        answer = app["http"].get(path)
        assert answer.status_code in (403, 404), (path, answer.status_code, answer.text[:200])
    out, err = capfd.readouterr()
    assert "Monitoring URL" not in out + err



@pytest.mark.parametrize("route", ["queue", "call"])
def test_two_streams_of_one_session_left_together_log_no_error(app, route):
    """Two event streams open for one session (``queue/data``: two tabs sharing a session hash, a reconnect, a
    script; ``call/<api>/<event_id>``: the same event's stream asked for twice) and both left while they wait:
    Gradio's clean-up of the second found the session already cleaned by the first and uvicorn logged
    "Exception in ASGI application" with ``KeyError: '<session>'`` (measured on both routes: one ~100-line
    traceback per extra stream, at will). Now ended quietly; the session is cleaned once."""
    http, session = app["http"], f"twostreams27e{route}"
    if route == "queue":
        vote = fn_index(app["url"], "vote")
        for _ in range(2):  # two events, read to their end below: the session stays in Gradio's pending table
            joined = http.post("gradio_api/queue/join",
                               json={"data": ["x", "A"], "fn_index": vote, "session_hash": session})
            assert joined.status_code == 200, joined.text
        path = f"/gradio_api/queue/data?session_hash={session}"
    else:
        called = http.post("gradio_api/call/vote", json={"data": ["x", "A"]})
        assert called.status_code == 200, called.text
        path = f"/gradio_api/call/vote/{called.json()['event_id']}"
    with http.stream("GET", path) as stream:
        assert [line for line in stream.iter_lines() if line], "the event's own stream said nothing"
    before = len(app["errors"])
    host, port = httpx.URL(app["url"]).host, httpx.URL(app["url"]).port
    waiting = []
    for _ in range(3):  # each waits for a message that never comes
        sock = socket.create_connection((host, port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert sock.recv(64).startswith(b"HTTP/1.1 200"), "the stream did not start"
        waiting.append(sock)
    for sock in waiting:
        sock.close()
    for _ in range(100):  # until the server has let the session go (a stream of it then says not found)
        try:
            text = http.get(path.lstrip("/"), timeout=0.3).text
            if "session_not_found" in text or "session not found" in text:
                break
        except httpx.ReadTimeout:  # still pending: this stream waits too, and is left like the others
            pass
    else:
        pytest.fail("the left streams' session was never let go")
    assert app["errors_since"](before) == []
