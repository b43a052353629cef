"""Direct calls (``POST /gradio_api/run/<name>``) against the launched app (``served_app``): what a script gets.

Measured before: Gradio answered every error of a direct call with HTTP 500, the app's refusals included
(``/run/vote`` with a malformed battle id, an event sent too few values), so a visitor's bad request read as
a server fault. Now the queued events take no direct call at all (Gradio's ``api_open=False``, its default
on a Space: 404 "Please join the queue"), and the page's own ``queue=False`` events, which the browser calls
on ``/run``, answer a refusal with its status (422 for bad input) and the same message.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def app(served_app):
    return served_app


def _fn_index(app, name: str) -> int:
    config = app["http"].get("config").json()
    return next(dep["id"] for dep in config["dependencies"] if dep.get("api_name") == name)


@pytest.mark.parametrize("name, data", [
    ("vote", ["not-a-battle", "A"]),  # a refusal of the app's: before, 500 with its message
    ("leaderboard", ["UEG", "nosuchkind"]),
    ("instances", ["bundled", "UEG"]),  # no refusal: before, 200, past the queue
], ids=["vote", "leaderboard", "instances"])
def test_a_queued_endpoint_takes_no_direct_call(app, name, data):
    before = len(app["errors"])
    response = app["http"].post(f"gradio_api/run/{name}", json={"data": data})
    assert response.status_code == 404, (response.status_code, response.text[:300])
    assert "join the queue" in response.json()["detail"], response.text[:300]
    assert app["errors_since"](before) == []


def test_a_page_event_sent_too_few_values_is_a_422_with_the_message(app):
    """``change_menus`` (Explore's Track, Category and source menus, ``queue=False``: the page calls it on ``/run``)
    takes 3 values."""
    before = len(app["errors"])
    response = app["http"].post("gradio_api/run/predict", json={
        "data": ["bundled"], "fn_index": _fn_index(app, "change_menus"), "session_hash": "s-few",
        "event_data": None})
    assert response.status_code == 422, (response.status_code, response.text[:300])
    assert "takes 3 values" in response.json()["error"] and "got 1" in response.json()["error"], response.text
    assert app["errors_since"](before) == []


def test_a_page_event_that_runs_still_answers_200(app):
    response = app["http"].post("gradio_api/run/predict", json={
        "data": [None, "GEU", "all"], "fn_index": _fn_index(app, "change_menus"), "session_hash": "s-ok",
        "event_data": None})
    assert response.status_code == 200 and "data" in response.json(), response.text[:300]



def _browser_only(app) -> list[dict]:
    """The page's events that run only in the browser: the page's config marks them ``backend_fn`` false."""
    return [dep for dep in app["http"].get("config").json()["dependencies"] if dep.get("backend_fn") is False]


def test_an_event_that_runs_only_in_the_browser_is_refused_with_a_message_and_no_traceback(app):
    """hunt26b: ``POST /gradio_api/run/predict`` naming a browser-only event (the tab link's JavaScript on load,
    ``fn_index`` of ``js_fn_2``) got a 500 ``{"error": null}`` and a ~20-line ``IndexError: function has no
    backend method.`` traceback in the server log for each call: a script repeating it filled the log. The
    same through the queue (``/queue/join``). Such an event has nothing to run on the server: a 404 that says so."""
    events = _browser_only(app)
    assert events, "the page has browser-only events (its tab-link scripts)"
    for dep in events:
        values = [None] * len(dep["inputs"])  # as many values as it takes: the count is not what is refused
        before = len(app["errors"])
        response = app["http"].post("gradio_api/run/predict", json={
            "data": values, "fn_index": dep["id"], "session_hash": "s-js", "event_data": None})
        assert response.status_code == 404, (dep["api_name"], response.status_code, response.text[:300])
        assert "runs only in the browser" in response.json()["error"], response.text[:300]
        assert app["errors_since"](before) == [], dep["api_name"]


def test_a_browser_only_event_joined_through_the_queue_ends_with_its_message_and_no_traceback(app, capfd):
    dep = _browser_only(app)[0]
    capfd.readouterr()
    joined = app["http"].post("gradio_api/queue/join", json={
        "data": [None] * len(dep["inputs"]), "fn_index": dep["id"], "session_hash": "s-js-queue",
        "event_data": None})
    assert joined.status_code == 200, joined.text[:300]
    ended = None
    with app["http"].stream("GET", "gradio_api/queue/data", params={"session_hash": "s-js-queue"}) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:") and '"process_completed"' in line:
                ended = line
                break
    assert ended is not None and "runs only in the browser" in ended, ended
    app["http"].get("gradio_api/queue/status")  # the server has moved on past any log call of that event
    assert "Traceback" not in capfd.readouterr().err


def test_a_page_step_that_shows_what_an_earlier_step_drew_called_first_is_refused_not_a_fault(app, capfd):
    """hunt26b: the page's steps that read only the session's own state (what a Run, a new battle or a vote
    drew, shown by a step of its own) answered a script that called one in a fresh session with a 500
    ``{"error": null}`` and a traceback in the server log (``ValueError: A function didn't return enough output
    values (needed: 34, returned: 1)``). Every such event now answers without a server fault: 200, or a
    refusal (4xx) with a message."""
    config = app["http"].get("config").json()
    kinds = {component["id"]: component["type"] for component in config["components"]}
    steps = [dep for dep in config["dependencies"] if dep.get("backend_fn") and not dep.get("queue")
             and dep["inputs"] and all(kinds[i] == "state" for i in dep["inputs"])]
    assert len(steps) >= 6, [dep["api_name"] for dep in steps]  # Explore's and the Arena's drawing steps
    capfd.readouterr()
    for dep in steps:
        before = len(app["errors"])
        response = app["http"].post("gradio_api/run/predict", json={
            "data": [None] * len(dep["inputs"]), "fn_index": dep["id"], "session_hash": f"s-first-{dep['id']}",
            "event_data": None})
        assert response.status_code < 500, (dep["api_name"], response.status_code, response.text[:300])
        if response.status_code != 200:
            assert response.json()["error"], (dep["api_name"], response.text[:300])
        assert app["errors_since"](before) == [], dep["api_name"]
    assert "Traceback" not in capfd.readouterr().err


def test_a_page_event_refused_in_a_batched_call_is_still_a_422(app):
    """hunt26b: the same refusal sent with ``"batched": true`` (Gradio's batch form, where the event gets a list
    of requests) was answered 500 with the refusal's message: its status was noted on no request."""
    before = len(app["errors"])
    response = app["http"].post("gradio_api/run/predict", json={
        "data": [["no-such-source"], ["GEU"], ["all"]], "fn_index": _fn_index(app, "change_menus"),
        "session_hash": "s-batched", "event_data": None, "batched": True})
    assert response.status_code == 422, (response.status_code, response.text[:300])
    assert "no-such-source" in response.json()["error"], response.text[:300]
    assert app["errors_since"](before) == []
