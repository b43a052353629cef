"""A request body Python's JSON reader cannot take, or one that quotes a number JSON cannot hold, is answered
with a 4xx and its reason, never a 500 (``app.py`` as a process).

Measured on the launched app before: a body nested 3,000 levels deep (6 KB of ``[``/``]``) to
``/gradio_api/queue/join`` or ``/call/<name>`` raised ``RecursionError`` in the app's own ``CallTargets``
middleware (it caught only ``ValueError``); ``"fn_index": NaN`` or ``1e400`` (``queue/join``, ``run/<name>``,
``api/<name>``) and ``{"battle_id": 1e999}`` (``call/vote``) were refused by Gradio's request model and then
failed while FastAPI wrote that refusal as strict JSON. Each was a bare "Internal Server Error" and an
"Exception in ASGI application" traceback in the log, per request. The reference: FastAPI's own answers for
bodies it cannot read (400 "There was an error parsing the body", as ``/gradio_api/cancel`` gave for the deep
body already) or that its model refuses (422 with the reasons), and RFC 9110 section 15.6 (a 5xx is the
server's fault, not the request's).
"""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.slow

DEEP = "[" * 3000 + "]" * 3000
BODIES = {
    "nested 3,000 levels": DEEP,
    "an object nested 3,000 levels": '{"a":' * 3000 + "1" + "}" * 3000,
    "data nested 3,000 levels": '{"data": %s, "fn_index": 0, "session_hash": "s"}' % DEEP,
    "fn_index NaN": '{"data": [], "fn_index": NaN, "session_hash": "s"}',
    "fn_index 1e400": '{"data": [], "fn_index": 1e400, "session_hash": "s"}',
    "a keyword 1e999": '{"battle_id": 1e999, "choice": "A"}',
    "event_id -Infinity": '{"session_hash": "s", "fn_index": 0, "event_id": -Infinity}',
}
ROUTES = ("gradio_api/queue/join", "gradio_api/call/vote", "gradio_api/call/v2/vote", "gradio_api/run/vote",
          "gradio_api/api/vote", "gradio_api/component_server", "gradio_api/cancel", "gradio_api/reset")


def test_unreadable_bodies_get_a_4xx_and_no_traceback(start_app, seeded_db):
    app = start_app(seeded_db)
    answers = {}
    with httpx.Client(base_url=app.url, timeout=60) as http:
        for route in ROUTES:
            for name, body in BODIES.items():
                try:
                    answer = http.post(route, content=body, headers={"content-type": "application/json"})
                except httpx.TransportError as e:  # the server dropped the connection mid-answer
                    answers[route, name] = f"no answer: {e!r}"
                    continue
                answers[route, name] = answer.status_code
                assert "Traceback" not in answer.text and "site-packages" not in answer.text, (route, name)
                if answer.status_code < 500 and answer.status_code != 200:
                    assert "detail" in answer.json(), (route, name, answer.text[:300])
        assert http.get("config").status_code == 200  # still serving
    server_errors = {key: status for key, status in answers.items()
                     if not isinstance(status, int) or status >= 500}
    assert server_errors == {}, f"answered with a server error: {server_errors}"
    log = app.log.read_text(encoding="utf-8", errors="replace")
    assert "Exception in ASGI application" not in log
    assert "RecursionError" not in log and "Out of range float values" not in log
