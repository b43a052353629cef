"""Refused calls answered with a one-line message and no traceback in the server log (wiring).

``Refusal`` is the ``gr.Error`` every handler raises for a request it refuses (a malformed battle id, a
vote past the rate limit, a setting out of range): the caller gets the message; the server log got a
Python traceback of each one, so a script repeating a refused call cheaply filled the log.

Gradio checks that an event got enough values before our handler runs; a script's call with too few (an
``/vote`` with only the battle id) made it raise a bare ``ValueError``: the caller got an error with no
message at all, and the server log a traceback quoting the values sent. Too many values were dropped
silently, so a call written for another signature seemed to work. ``answer_miscounted_calls`` makes both a
``gr.Error`` that names the endpoint, the values it takes and how many came, and logs no traceback.

A refusal's HTTP status (``Refusal(..., status=...)``; ``BAD_INPUT`` unless said), which a
direct call (``/gradio_api/run/<name>``) answers with instead of Gradio's 500 (``answer_refusal_status``,
``refusal_status.RefusalStatus``); the queue's routes report it in the event stream, with the message only.

Gradio's own checks of the values an event is sent, before any handler runs (``Blocks.preprocess_data``: a
menu's value not among its choices, a number past its bounds, a value of another type than its field takes)
refuse visitor input too, but Gradio printed a ~30-line traceback of each to the server's standard error, so a
script calling a private event with a made-up value filled the log; a value of the wrong type (``"abc"`` for a
number, a string for an image) also reached the caller as an error with no message. ``answer_unreadable_values``
makes each a ``Refusal`` (a message, ``BAD_INPUT``) and one WARNING log line (the event and the reason,
clipped); any other exception there (a fault of the server, such as a full disk) keeps Gradio's traceback.
A text field's value that is no string (a list, object, number or boolean) is refused there too, naming the
field: Gradio's Textbox took any value as ``str(value)``; so is a number field's value that is neither text nor a
finite number (a list, object, boolean, NaN, an infinity, an integer past a float's range): Gradio's Number without a
precision handed the handler anything (a list as the guidance scale, whose ``float()`` raised a ``TypeError``), and
with ``precision=0`` turned ``Infinity`` into an ``OverflowError`` (each: no message and a traceback per call).
``_field_value_problem`` is the one home of both checks.

An event that runs only in the browser (a ``js=`` script with no Python function: the tab link's script on load)
is in the page's config like any other, with an ``fn_index``; a script that called it (``/gradio_api/run/predict``
or ``/queue/join``) got a 500 ``{"error": null}`` and Gradio's ``IndexError: function has no backend method.``
traceback in the server log for each call. ``answer_browser_only_events`` refuses it with ``NO_SERVER_SIDE`` and
a message, no traceback.
"""

from __future__ import annotations

import html
import inspect
import logging
import math
import re

import gradio as gr

from realunify_arena.benchmark.custom import NOT_FETCHED, NOT_UPLOADED
from realunify_arena.redaction import visitor_text
from realunify_arena.refusal_status import note_status, refusal_status
from realunify_arena.shown import clipped

_log = logging.getLogger(__name__)

# The HTTP status of a refusal (RFC 9110 section 15.5.21): a value the request sent that the event does not take.
# The direct calls that can still reach a refusal are the page's instant events (queued ones are closed to
# direct calls, ``api_open=False``), whose refusals are all of this kind; another kind passes its own status.
BAD_INPUT = 422


class Refusal(gr.Error):
    """``gr.Error(message)`` that Gradio does not print a traceback for (``print_exception=False``), its
    message as a visitor may see it (``redaction.visitor_text``: no secret, endpoint address or server folder).
    ``status``: the HTTP status a direct call is answered with (400-599; ``BAD_INPUT`` by default).

    Raises:
        ValueError: ``status`` is not 400-599 (``refusal_status.refusal_status``), naming it.
    """

    def __init__(self, message: str = "Error raised.", status: int = BAD_INPUT, **options) -> None:
        status = refusal_status(status)  # before anything is built: a wrong status is the caller's bug
        options.setdefault("print_exception", False)
        super().__init__(visitor_text(message), **options)  # no secret, address or server folder reaches a caller
        self.status = status


def answer_refusal_status(demo: gr.Blocks) -> None:
    """Note a ``Refusal`` that leaves any of ``demo``'s events (``Blocks.process_api``, which also checks the
    inputs) on its request (``refusal_status.note_status``), so that a direct call's answer carries its
    status; the refusal goes on as before. Replaced on this instance only."""
    gradio_process_api = demo.process_api

    async def process_api(*args, **kwargs):
        try:
            return await gradio_process_api(*args, **kwargs)
        except Refusal as refusal:
            note_status(kwargs.get("request"), refusal.status)
            raise

    demo.process_api = process_api


def answer_miscounted_calls(demo: gr.Blocks) -> None:
    """Replace ``demo``'s check of an event's input count: too few values (any event), or more than a
    public API endpoint takes, raise ``Refusal`` such as
    ``"/vote takes 2 values (battle_id, choice), got 1"``. The check is Gradio's ``Blocks.validate_inputs``,
    called before preprocessing; it is replaced on this instance only."""
    gradio_check = demo.validate_inputs

    def validate_inputs(block_fn, inputs: list) -> None:
        wanted, got = len(block_fn.inputs), len(inputs)
        public = getattr(block_fn, "api_visibility", "public") == "public" and block_fn.api_name
        if got < wanted or (public and got > wanted):
            raise Refusal(f"{_endpoint(block_fn)} takes {wanted} value{'s' * (wanted != 1)}"
                          f"{_names(block_fn)}, got {got}")
        gradio_check(block_fn, inputs)

    demo.validate_inputs = validate_inputs


NO_SERVER_SIDE = 404  # RFC 9110 section 15.5.5: the server has nothing to run for the event named


def answer_browser_only_events(demo: gr.Blocks) -> None:
    """Replace ``demo``'s ``Blocks.call_function`` so that an event with no server function (``fn`` None: a
    ``js=`` script that runs only in the browser) raises ``Refusal`` with ``NO_SERVER_SIDE``, such as
    ``"/js_fn_2 runs only in the browser: the server has nothing to run for it"``, instead of Gradio's
    ``IndexError`` (a 500 with no message and a traceback in the log). Replaced on this instance only."""
    gradio_call = demo.call_function

    async def call_function(block_fn, *args, **kwargs):
        event = demo.fns[block_fn] if isinstance(block_fn, int) else block_fn
        if event.fn is None:
            raise Refusal(f"{_endpoint(event)} runs only in the browser: the server has nothing to run for it",
                          status=NO_SERVER_SIDE)
        return await gradio_call(block_fn, *args, **kwargs)

    demo.call_function = call_function


NOTHING_DRAWN = ("nothing to show yet: this step shows what this page's Run, new battle or vote drew; "
                 "it follows that event, so call that one")


def show_drawn(values):
    """The outputs an earlier step of the same event drew into a ``gr.State`` (``values``: one per output,
    as a list), for the step that shows them. Raises ``Refusal`` (``NOTHING_DRAWN``) when there are none:
    the step called by a script in a session that drew nothing (before: Gradio's 500 with no message and a
    "didn't return enough output values" traceback in the log)."""
    if not isinstance(values, (list, tuple)):
        raise Refusal(NOTHING_DRAWN)
    return values


def answer_unreadable_values(demo: gr.Blocks) -> None:
    """Replace ``demo``'s preprocessing of an event's values (Gradio's ``Blocks.preprocess_data``) so that its
    refusal of a value sent raises ``Refusal`` and logs one line (see the module docstring): Gradio's own
    ``gr.Error`` (``"Value: 'x' is not in the list of choices: [...]"``), a value its field's data model refuses
    (pydantic's ``ValidationError``: a string for an image) and one its component cannot read
    (``ComponentProcessingError`` over a ``TypeError`` or ``ValueError``: ``"abc"`` for a number) and a file value
    naming a server file that was not uploaded (Gradio's ``InvalidPathError``: before, no message and a traceback). Any other
    exception passes unchanged. A file value with Gradio's marker whose path is an http(s) URL is refused so before
    Gradio sees it: Gradio would fetch it on the visitor's behalf (``processing_utils.async_move_files_to_cache``),
    and a private host's refusal there was a bare ``ValueError`` (no message, a traceback per call). Replaced on
    this instance only."""
    from gradio.exceptions import ComponentProcessingError, InvalidPathError
    from pydantic import ValidationError

    gradio_preprocess = demo.preprocess_data

    async def preprocess_data(block_fn, *args, **kwargs):
        try:
            inputs = args[0] if args else kwargs.get("inputs")
            reason = _field_value_problem(block_fn, inputs) or _file_value_problem(inputs)
            if reason is None:
                return await gradio_preprocess(block_fn, *args, **kwargs)
        except Refusal:
            raise
        except gr.Error as refused:
            reason = str(refused.message)
        except InvalidPathError:  # a file value naming a server file (Gradio's message names its absolute path)
            reason = f"a file value {NOT_UPLOADED}"
        except ValidationError as refused:
            reason = f"a value is not what its field takes: {refused}"
        except ComponentProcessingError as refused:
            if not isinstance(refused.__cause__, (TypeError, ValueError)):
                raise
            reason = _GRADIO_LISTS.sub("", str(refused))
        reason = clipped(" ".join(reason.split()), 300)  # one line however it was sent or written
        _log.warning("refused a call of %s: %s", _endpoint(block_fn), reason)
        raise Refusal(html.escape(reason, quote=False)) from None  # shown as HTML: it quotes what was sent

    demo.preprocess_data = preprocess_data


_JSON_TYPES = {str: "a string", type(None): "null", list: "an array", int: "a number", float: "a number",
               bool: "true or false"}


# the fields whose Gradio component takes any value and passes ``str(value)`` to the handler (Textbox.preprocess)
TEXT_FIELDS = (gr.Textbox, gr.ColorPicker)
# the fields whose Gradio component passes any value on (Number.preprocess without a precision) or raises a bare
# OverflowError for an infinity (``int(round(inf))`` with ``precision=0``)
NUMBER_FIELDS = (gr.Number,)


def _field_value_problem(block_fn, inputs: object) -> str | None:
    """Why a value sent for a text or number field of ``block_fn`` is not what the field holds, or None. A
    ``TEXT_FIELDS`` input takes a string: Gradio hands such a field's value to the handler as ``str(value)``, so a
    script's ``["a red cube"]``, ``{}``, ``5`` or ``true`` for your own prompt became the prompt "['a red cube']"
    and ran (hunt27g). A ``NUMBER_FIELDS`` input takes a finite number (a JSON number that a float can hold; not
    ``true``, NaN or an infinity, which Python's JSON reader takes): Gradio's Number without a precision passed a
    list or object on to the handler, and ``Infinity`` with ``precision=0`` raised ``OverflowError`` (hunt28a).
    Null (an empty field) is taken by both; so is a string by a number field without a precision ("" is an empty
    field, other text is read or refused by name by ``form_settings``); a whole-number field (``precision=0``)
    refuses one by name, where Gradio's rounding refused it naming the input's position (verify28b). The reason names the field by its label and what was sent by its JSON
    type (``NaN``, ``Infinity``, ``-Infinity`` or "a number past a float's range" for a number's)."""
    if not isinstance(inputs, (list, tuple)):
        return None
    props = getattr(block_fn, "component_prop_inputs", ()) or ()
    for i, (field, value) in enumerate(zip(block_fn.inputs, inputs)):
        if not isinstance(field, (*TEXT_FIELDS, *NUMBER_FIELDS)):
            continue
        if i in props and isinstance(value, dict):  # a component's properties sent as an object: its value
            value = value.get("value")
        if value is None:
            continue
        name = getattr(field, "label", None) or type(field).__name__
        if isinstance(field, TEXT_FIELDS):
            if not isinstance(value, str):
                return f"the field {name!r} takes text (a string); got {_json_type(value)}"
            continue
        if isinstance(value, str) and getattr(field, "precision", None) is None:  # "" (an empty field), or text
            continue  # the handler reads or refuses by name (``form_settings``)
        if isinstance(value, bool) or not isinstance(value, (int, float)):  # text too for a whole-number field:
            # Gradio's rounding (``round(value, 0)``) takes no string, and its refusal named the input's position
            return f"the field {name!r} takes a number; got {_json_type(value)}"
        if not _finite(value):
            return f"the field {name!r} takes a finite number; got {_non_finite(value)}"
    return None


def _json_type(value: object) -> str:
    """What ``value`` is as JSON, in words ("an array", "an object", "true or false" ...)."""
    return "an object" if isinstance(value, dict) else _JSON_TYPES.get(type(value), "no string")


def _finite(value: int | float) -> bool:
    """Whether ``value`` is a number a float holds: not NaN, not an infinity, no integer past ~1.8e308."""
    try:
        return math.isfinite(value)  # an int is converted to a float here: OverflowError past its range
    except OverflowError:
        return False


def _non_finite(value: int | float) -> str:
    """A non-finite number as JSON writes it (``NaN``, ``Infinity``, ``-Infinity``), or its size in words."""
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    return "a number past a float's range"


def _file_value_problem(inputs: object) -> str | None:
    """Why ``inputs`` (an event's values as sent) cannot be handed to Gradio's preprocessing, or None. Gradio
    takes, at any depth, an object with a string ``path`` and a ``meta`` for a file value
    (``gradio_client.utils.is_file_obj_with_meta``, which calls ``meta.get``: a ``meta`` that is no object raised
    ``AttributeError``), and one whose marker is ``{"_type": "gradio.FileData"}`` and whose path is an http(s)
    URL (``is_http_url_like``) it fetches for the visitor. Neither is sent by the page (it uploads files); the
    reason does not echo the value (a URL may hold a secret)."""
    from gradio_client import utils as client_utils

    stack = [inputs]  # every object and list, at any depth (Gradio's walk goes into an object it does not take)
    while stack:
        value = stack.pop()
        if isinstance(value, (list, tuple)):
            stack.extend(value)
            continue
        if not isinstance(value, dict):
            continue
        stack.extend(value.values())
        if not isinstance(value.get("path"), str) or "meta" not in value:
            continue
        if not isinstance(value["meta"], dict):
            sent = _JSON_TYPES.get(type(value["meta"]), "no object")
            return f"a file value's 'meta' is {sent}; expected an object, {{\"_type\": \"gradio.FileData\"}}"
        if client_utils.is_file_obj_with_meta(value) and client_utils.is_http_url_like(value["path"]):
            return f"a file value {NOT_FETCHED}"
    return None


# what Gradio's ComponentProcessingError message adds after naming the field and the value: the event's whole
# list of component types, and the component's own error (a Python detail)
_GRADIO_LISTS = re.compile(r" with input components: \[[^\]]*\]|Original error: .*", re.DOTALL)


def _endpoint(block_fn) -> str:
    return f"/{block_fn.api_name}" if block_fn.api_name else "this event"


def _names(block_fn) -> str:
    """`` (battle_id, choice)``: the handler's first parameters, one per input (Gradio passes the inputs
    to them in order; a request or login profile comes after), or "" when they cannot be read."""
    try:
        params = list(inspect.signature(block_fn.fn).parameters)[:len(block_fn.inputs)]
    except (TypeError, ValueError):
        return ""
    return f" ({', '.join(params)})" if len(params) == len(block_fn.inputs) and params else ""
