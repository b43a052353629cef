"""A run's failure as the page shows it: no exception class name where the message already says what failed
(hunt25c: Explore showed "RuntimeError: echo-img at its endpoint: HTTP 400: ...", an Arena side before the
vote "RuntimeError: [model] at <url> HTTP 400: ..."), the class kept where it is the information (a bare
``KeyError: 'x'``); the store keeps the class. Expected texts are written out by hand."""

from __future__ import annotations

import html

import pytest

from realunify_arena.cards import Capability, ModelCard
from realunify_arena.redaction import error_text, shown_error
from realunify_arena.trace import Status, Trace
from realunify_arena.ui.render import status_line


@pytest.mark.parametrize("stored, shown", [
    ("RuntimeError: echo-img at its endpoint: HTTP 400: invalid request", "echo-img at its endpoint: HTTP 400: invalid request"),
    ("ModelUnavailable: m could not be loaded: OSError: no weights in the folder",
     "m could not be loaded: no weights in the folder"),
    ("ValueError: Your own GEU image cannot be used: x.png: not an image",
     "Your own GEU image cannot be used: x.png: not an image"),
    ("OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB", "CUDA out of memory. Tried to allocate 20.00 GiB"),
    ("OSError: [Errno 28] No space left on device", "[Errno 28] No space left on device"),
    ("judge j failed: RuntimeError: j at its endpoint: HTTP 500: busy", "judge j failed: j at its endpoint: HTTP 500: busy"),
    # the class is the information: kept
    ("KeyError: 'x'", "KeyError: 'x'"),
    ("ZeroDivisionError: division by zero", "ZeroDivisionError: division by zero"),
    ("TypeError: 'NoneType' object is not subscriptable", "TypeError: 'NoneType' object is not subscriptable"),
    ("m is not answering (ConnectError: [Errno 111] Connection refused)",
     "m is not answering (ConnectError: [Errno 111] Connection refused)"),
    # a message of one word, or none, says too little without its class
    ("RuntimeError: boom", "RuntimeError: boom"),
    ("RuntimeError: ", "RuntimeError: "),
    # text that is no class name stays
    ("Not run: Your own UEG instance needs a text-to-image prompt.",
     "Not run: Your own UEG instance needs a text-to-image prompt."),
])
def test_a_class_name_is_left_out_only_where_the_message_says_what_failed(stored, shown):
    assert shown_error(stored) == shown


def test_explore_s_status_shows_the_message_and_the_store_keeps_the_class():
    ModelCard(name="echo-img", family="openai", description="x", capabilities=frozenset({Capability.GENERATE}),
              endpoint="http://10.9.8.7:17899/v1")  # registers its address, as loading the cards does
    error = error_text(RuntimeError("echo-img at http://10.9.8.7:17899/v1: HTTP 400: invalid api key *** for images"))
    assert error.startswith("RuntimeError: ")  # what is stored for researchers
    failed = Trace("UEG_0_world_knowledge", "echo-img", "direct", {}, status=Status.ERROR, error=error)
    line = html.unescape(status_line(failed, 1, title="Direct").splitlines()[-1])  # as the page reads it
    assert "RuntimeError" not in line and "10.9.8.7" not in line, line
    assert "echo-img at its endpoint: HTTP 400: invalid api key" in line, line
    bug = Trace("UEG_0_world_knowledge", "m", "direct", {}, status=Status.ERROR, error="KeyError: 'x'")
    assert "KeyError" in status_line(bug, 1, title="Direct")
