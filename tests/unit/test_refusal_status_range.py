"""A refusal's HTTP status is 400-599 (RFC 9110 section 15: 4xx the client's fault, 5xx the server's), as
``ui.calls.Refusal`` and ``refusal_status.note_status`` say; nothing checked it, so ``Refusal(..., status=200)``
would have turned a refused direct call's 500 into a 200 success (``RefusalStatus`` rewrites the status line)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from realunify_arena.refusal_status import STATE_KEY, note_status
from realunify_arena.ui.calls import Refusal

OUT_OF_RANGE = [200, 399, 600, 0, -422, True, 422.0, "422", None]


@pytest.mark.parametrize("status", OUT_OF_RANGE)
def test_a_refusal_out_of_range_is_refused_naming_its_status(status):
    with pytest.raises(ValueError, match=f"400 to 599, not {status!r}$".replace("(", r"\(").replace(".", r"\.")):
        Refusal("no", status=status)


@pytest.mark.parametrize("status", OUT_OF_RANGE)
def test_noting_a_status_out_of_range_is_refused(status):
    request = Request({"type": "http", "method": "POST", "path": "/", "headers": []})
    with pytest.raises(ValueError, match="400 to 599"):
        note_status(request, status)
    assert STATE_KEY not in request.scope.get("state", {})


@pytest.mark.parametrize("status", [400, 422, 429, 503, 599])
def test_a_refusal_in_range_keeps_its_status(status):
    assert Refusal("no", status=status).status == status
    request = Request({"type": "http", "method": "POST", "path": "/", "headers": []})
    note_status(request, status)
    assert request.scope["state"][STATE_KEY] == status


def test_the_default_status_is_unprocessable_content():
    assert Refusal("no").status == 422
