"""A text or number field's value of the wrong kind, sent by a script to any page event of the launched app
(``served_app``), is refused naming the field, with no traceback in the server log.

- Text: before (hunt27g), Gradio's Textbox handed the handler ``str(value)``, so your own UEG prompt sent as
  ``["a red cube"]`` resolved to an instance whose prompt was "['a red cube']", and ran.
- Numbers: before (hunt28a), Gradio's Number without a precision (Explore's guidance scale) handed the handler
  whatever came, so a list or an object reached ``float()`` (``TypeError``) and an integer of 400 digits overflowed
  it; with ``precision=0`` (seed, steps, max new tokens) ``Infinity`` raised ``OverflowError`` in Gradio's own
  rounding. Each was an error with no message for the caller and a traceback per call in the log.

Every event of the page's config with such an input is called once per input and per wrong value, every other input
null: queued events through the queue, the page's instant events (``queue=False``) on ``/run/predict`` as the browser
calls them. Bodies are written by Python's ``json``, which writes ``NaN`` and ``Infinity`` as a script can and as
Gradio's server reads them (``queue_calls.Page.join`` writes its bodies so). Browser-only events (no server function)
are left to ``test_direct_call_status``.
"""

from __future__ import annotations

import json

import pytest
from queue_calls import Page

NOT_TEXT = {"an array": ["a red cube"], "an object": {"prompt": "a red cube"}, "a number": 5,
            "true or false": True}
# what was sent -> how the refusal words it (JSON's names; the others by their JSON type)
NOT_A_NUMBER = [(["5"], "takes a number; got an array"), ({"value": 5}, "takes a number; got an object"),
                (True, "takes a number; got true or false"),
                (float("inf"), "takes a finite number; got Infinity"),
                (float("-inf"), "takes a finite number; got -Infinity"),
                (float("nan"), "takes a finite number; got NaN"),
                (10**400, "takes a finite number; got a number past a float's range")]


@pytest.fixture(scope="module")
def app(served_app):
    config = served_app["http"].get("config").json()
    components = {c["id"]: c for c in config["components"]}
    return {**served_app, "config": config, "components": components}


def _inputs(app, kind: str, unlabelled: str) -> list[tuple[dict, int, str]]:
    """(event, input position, the field's label or ``unlabelled``) for every input of component type ``kind``
    ("textbox", "number") of a server-side event."""
    found = []
    for dep in app["config"]["dependencies"]:
        if dep.get("backend_fn") is False:
            continue
        for i, cid in enumerate(dep["inputs"]):
            component = app["components"][cid]
            if component["type"] == kind:
                found.append((dep, i, component["props"].get("label") or unlabelled))
    return found


def _call(app, dep: dict, data: list, session: str) -> tuple[bool, str]:
    """(refused, message) of one call of ``dep``."""
    if dep.get("queue") is False:
        body = json.dumps({"data": data, "fn_index": dep["id"], "session_hash": session, "event_data": None})
        response = app["http"].post("gradio_api/run/predict", content=body,
                                    headers={"content-type": "application/json"})
        return response.status_code == 422, str(response.json().get("error"))
    with Page(app["url"], session) as page:
        done = page.wait(page.join(dep["id"], data))
    return done.get("success") is False, str(done.get("output", {}).get("error"))


def _resolve_form(app) -> tuple[dict, list[str | None], list]:
    """Run's event, its inputs' labels and the page's form as it opens."""
    dep = next(d for d in app["config"]["dependencies"] if d.get("api_name") == "resolve")
    fields = [app["components"][cid]["props"] for cid in dep["inputs"]]
    return dep, [props.get("label") for props in fields], [props.get("value") for props in fields]


def test_the_own_prompt_sent_as_a_list_is_refused_by_name_not_run_as_its_text(app):
    dep, labels, data = _resolve_form(app)
    data[labels.index("Track")], data[labels.index("Instance")] = "UEG", "custom"  # your own UEG instance
    data[labels.index("UEG: text-to-image prompt")] = ["a red cube"]
    refused, message = _call(app, dep, data, "s-own-list")
    assert refused, message
    assert message == "the field 'UEG: text-to-image prompt' takes text (a string); got an array", message


def test_the_guidance_sent_as_a_list_is_refused_by_name(app):
    dep, labels, data = _resolve_form(app)
    guidance = next(label for label in labels if label and label.startswith("Guidance"))
    data[labels.index(guidance)] = [3.0]
    before = len(app["errors"])
    refused, message = _call(app, dep, data, "s-guidance-list")
    assert refused, message
    assert message == f"the field {guidance!r} takes a number; got an array", message
    assert app["errors_since"](before) == []


def _each_refused(app, fields: list[tuple[dict, int, str]], sent: list[tuple[object, str]], tag: str) -> None:
    """Each input of ``fields`` sent each value of ``sent`` (value, the refusal after the field's name), every
    other input null, is refused with ``the field 'LABEL' WORDS``, and nothing is logged as an ERROR."""
    before = len(app["errors"])
    for n, (dep, position, label) in enumerate(fields):
        for k, (value, words) in enumerate(sent):
            data = [None] * len(dep["inputs"])
            data[position] = value
            refused, message = _call(app, dep, data, f"s-{tag}-{n}-{k}")
            assert refused, (dep.get("api_name"), label, words, message)
            assert message == f"the field {label!r} {words}", (dep.get("api_name"), message)
    assert app["errors_since"](before) == []


def test_every_text_field_of_every_event_refuses_a_value_that_is_no_text(app):
    fields = _inputs(app, "textbox", "Textbox")
    names = {dep.get("api_name") for dep, _, _ in fields}
    assert {"resolve", "run_column", "generate"} <= names, names  # your own instance, Explore's columns, the Arena
    _each_refused(app, fields, [(value, f"takes text (a string); got {sent}") for sent, value in NOT_TEXT.items()],
                  "text")


def test_every_number_field_of_every_event_refuses_a_value_that_is_no_finite_number(app):
    fields = _inputs(app, "number", "Number")
    names = {dep.get("api_name") for dep, _, _ in fields}
    assert {"resolve", "run_column", "link_for"} <= names, names  # Run's form, Explore's columns, the link
    _each_refused(app, fields, NOT_A_NUMBER, "number")


def test_every_whole_number_field_refuses_text_by_its_name(app):
    """verify28b: a whole-number field (``precision=0``: seed, steps, max new tokens) sent text, "7" or "" (an
    empty field is null), was refused by Gradio's rounding as "Could not preprocess input component at index 10 (a
    `number` component) of the event handler ...": a position, not the field's name. Gradio's Number rounds a string
    with ``round(value, 0)``, which no string takes, so text is never such a field's value."""
    fields = [(dep, i, label) for dep, i, label in _inputs(app, "number", "Number")
              if app["components"][dep["inputs"][i]]["props"].get("precision") == 0]
    assert {"Seed", "Number"} <= {label.split(" (")[0] for _, _, label in fields}, fields  # Run's form, the columns
    _each_refused(app, fields, [("7", "takes a number; got a string"), ("", "takes a number; got a string")],
                  "whole")
