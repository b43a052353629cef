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

