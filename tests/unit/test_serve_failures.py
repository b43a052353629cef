"""What ``serve-openai`` says of a model failure, and how it reads its time limit.

OpenAI's error reference: a failure of the server is HTTP 500 with type ``server_error`` (``invalid_request_error``
is for a request that was wrong). The failure here is real: torch's CPU allocator asked for a petabyte.
"""

from __future__ import annotations

import pytest

from realunify_arena.commands._options import CommandError
from realunify_arena.commands.serve_openai import time_limit_s
from realunify_arena.serving import _error_body, failure_message


def test_an_out_of_memory_failure_is_one_short_line_without_the_allocator_s_text():
    """Before: ``"tiny-pair failed: RuntimeError: [enforce fail at alloc_cpu.cpp:127] ... you tried to allocate
    40017601936 bytes"`` under type ``invalid_request_error``."""
    import torch

    with pytest.raises(RuntimeError) as caught:
        torch.empty(2**50, dtype=torch.uint8)
    message = failure_message("tiny-pair", caught.value)
    assert message.startswith("tiny-pair ran out of memory") and "RuntimeError" in message, message
    assert "alloc" not in message and "enforce" not in message and "bytes" not in message, message
    assert failure_message("m", MemoryError()).startswith("m ran out of memory")
    assert _error_body(message, "model_error", status=500)["error"]["type"] == "server_error"
    assert _error_body("bad", "invalid_request", status=400)["error"]["type"] == "invalid_request_error"


def test_another_failure_keeps_its_kind_and_reason():
    assert failure_message("m", ValueError("the prompt is empty")) == "m failed: ValueError: the prompt is empty"


def test_the_time_limit_is_read_as_the_app_reads_it(monkeypatch):
    """``--run-time-limit`` over ``REALUNIFY_RUN_TIME_LIMIT`` over the app's default (900 s off a Space); 0 is
    no limit; a bad value names its source."""
    monkeypatch.delenv("SPACE_ID", raising=False)  # a Space's default is 180 s
    assert time_limit_s(None, {}) == 900.0
    assert time_limit_s(None, {"REALUNIFY_RUN_TIME_LIMIT": "60"}) == 60.0
    assert time_limit_s("0", {"REALUNIFY_RUN_TIME_LIMIT": "60"}) is None
    with pytest.raises(CommandError, match="--run-time-limit: expected an integer"):
        time_limit_s("soon", {})
    with pytest.raises(CommandError, match="REALUNIFY_RUN_TIME_LIMIT"):
        time_limit_s(None, {"REALUNIFY_RUN_TIME_LIMIT": "-1"})
