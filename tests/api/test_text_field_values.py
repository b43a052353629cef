"""A text field's value that is no text, sent by a script to any page event of the launched app (``served_app``),
is refused naming the field; before (hunt27g), Gradio's Textbox handed the handler ``str(value)``, so your own
UEG prompt sent as ``["a red cube"]`` resolved to an instance whose prompt was "['a red cube']", and ran.

Every event of the page's config with a text input is called once per text input, that input sent as each JSON type
that is not a string, every other input null: queued events through the queue, the page's instant events
(``queue=False``) on ``/run/predict`` as the browser calls them. Browser-only events (no server function) are left
to ``test_direct_call_status``.
"""

from __future__ import annotations

import pytest
from queue_calls import queue_call

NOT_TEXT = {"an array": ["a red cube"], "an object": {"prompt": "a red cube"}, "a number": 5,
            "true or false": True}


@pytest.fixture(scope="module")
def app(served_app):
    config = served_app["http"].get("config").json()
    components = {c["id"]: c for c in config["components"]}
    return {**served_app, "config": config, "components": components}


def _text_inputs(app) -> list[tuple[dict, int, str]]:
    """(event, input position, the field's label or "Textbox") for every text input of a server-side event."""
    found = []
    for dep in app["config"]["dependencies"]:
        if dep.get("backend_fn") is False:
            continue
        for i, cid in enumerate(dep["inputs"]):
            component = app["components"][cid]
            if component["type"] == "textbox":
                found.append((dep, i, component["props"].get("label") or "Textbox"))
    return found


def _call(app, dep: dict, data: list, session: str) -> tuple[bool, str]:
    """(refused, message) of one call of ``dep``."""
    if dep.get("queue") is False:
        response = app["http"].post("gradio_api/run/predict", json={
            "data": data, "fn_index": dep["id"], "session_hash": session, "event_data": None})
        return response.status_code == 422, str(response.json().get("error"))
    done = queue_call(app["url"], dep["id"], data, session=session)
    return done.get("success") is False, str(done.get("output", {}).get("error"))


def test_the_own_prompt_sent_as_a_list_is_refused_by_name_not_run_as_its_text(app):
    dep = next(d for d in app["config"]["dependencies"] if d.get("api_name") == "resolve")
    fields = [app["components"][cid]["props"] for cid in dep["inputs"]]
    labels = [props.get("label") for props in fields]
    data = [props.get("value") for props in fields]  # the page's form as it opens
    data[labels.index("Track")], data[labels.index("Instance")] = "UEG", "custom"  # your own UEG instance
    data[labels.index("UEG: text-to-image prompt")] = ["a red cube"]
    refused, message = _call(app, dep, data, "s-own-list")
    assert refused, message
    assert message == "the field 'UEG: text-to-image prompt' takes text (a string); got an array", message


def test_every_text_field_of_every_event_refuses_a_value_that_is_no_text(app):
    fields = _text_inputs(app)
    names = {dep.get("api_name") for dep, _, _ in fields}
    assert {"resolve", "run_column", "generate"} <= names, names  # your own instance, Explore's columns, the Arena
    before = len(app["errors"])
    for n, (dep, position, label) in enumerate(fields):
        for sent, value in NOT_TEXT.items():
            data = [None] * len(dep["inputs"])
            data[position] = value
            refused, message = _call(app, dep, data, f"s-text-{n}-{sent[:5].strip()}")
            assert refused, (dep.get("api_name"), label, sent, message)
            assert message == f"the field {label!r} takes text (a string); got {sent}", (dep.get("api_name"), message)
    assert app["errors_since"](before) == []
