"""Credentials after an ``Authorization`` scheme other than ``Bearer`` (RFC 9110 section 11.4: ``credentials =
auth-scheme [ 1*SP ( token68 / #auth-param ) ]``), echoed back by an endpoint or a proxy in front of it.

Measured before (serve32): a card whose ``endpoint`` is ``http://alice:<password>@host/v1`` (a basic-auth proxy, as
``redaction``'s docstring names it) sends ``Authorization: Basic base64(alice:<password>)`` (RFC 7617); a loopback
endpoint answering 401 with the request's headers quoted made the run's error, as stored and as a visitor sees it
(``visitor_text``), carry that base64 whole: the password, one decode away. Only ``Bearer`` credentials and a
credential right after the header name were masked.

Since cred32 such a card is refused when read (``test_endpoint_userinfo.py``: the password is never sent), so the
``Basic`` credential here is a proxy's own, the one it adds for the server behind it, quoted back with the
request's headers. The base64 is computed here from RFC 7617's rule (``user-id ":" password``), not by the code
under test; the adapter, its client and the server are real (a loopback ``http.server``). The shapes alone
(``Basic``, ``Token``, prose that stays) are cases of ``test_redaction.py``.
"""

from __future__ import annotations

import base64

import pytest
from PIL import Image

from realunify_arena.adapters import build_adapter
from realunify_arena.adapters.base import Capability, GenerationOptions
from realunify_arena.cards import ModelCard
from realunify_arena.redaction import error_text, visitor_text
from tests.stand_in import JSONHandler, serving

PASSWORD = "pw-s3cret-77"
BASIC = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()  # RFC 7617 section 2


class HeaderEcho(JSONHandler):
    """Every POST answers 401 quoting the headers it sent on (the request's, with the proxy's own Basic credential
    for the server behind it), as some proxies' error pages and debug servers do."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        sent_on = [("Authorization", f"Basic {BASIC}")]  # first: the error shown is shortened after a while
        sent_on += [(k, v) for k, v in self.headers.items() if k.lower() not in ("host", "authorization")]
        quoted = "; ".join(f"{name}: {value}" for name, value in sent_on)
        self.reply(401, {"error": {"message": f"not allowed; you sent {quoted}"}})


def test_a_basic_auth_password_echoed_by_the_endpoint_reaches_no_message():
    with serving(HeaderEcho) as server:
        card = ModelCard(name="echo-basic", family="openai", description="echoes headers",
                         capabilities=frozenset({Capability.UNDERSTAND}), checkpoints={"understand": "m"},
                         endpoint=f"{server.url}/v1", params={"timeout_s": 30, "max_retries": 0})
        with pytest.raises(Exception) as caught:
            build_adapter(card, "cpu").understand([Image.new("RGB", (16, 16))], "hi", GenerationOptions())
    for shown in (error_text(caught.value), visitor_text(str(caught.value))):
        assert "HTTP 401" in shown and "Authorization: Basic" in shown, shown  # the echo itself is there
        assert BASIC not in shown and PASSWORD not in shown, shown

