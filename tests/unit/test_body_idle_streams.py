"""BodyLimit's idle limit never cuts an event stream (found under load in the launched app: the page's
``GET /gradio_api/queue/data`` got the 408 after its stream had started, every later event was dropped, the page's
run never showed a status, and uvicorn logged "ASGI callable returned without completing response").

Starlette's ``StreamingResponse`` (ASGI spec 2.3, as uvicorn serves) listens for the disconnect with ``receive``
from before its answer starts; here that wait gets nothing for four idle limits while the stream sends on.
"""

from __future__ import annotations

import asyncio

from realunify_arena.body_limit import BodyLimit


def _served(method: str, headers: list[tuple[bytes, bytes]]) -> list[dict]:
    """What a streaming app sends through ``BodyLimit(body_idle_s=0.05)`` when its disconnect listener, started
    before the answer, waits 0.3 s for a message; the stream sends an event after 0.2 s, then ends."""
    scope = {"type": "http", "method": method, "path": "/gradio_api/queue/data", "root_path": "",
             "query_string": b"session_hash=abc", "headers": headers}
    sent: list[dict] = []

    async def receive():
        await asyncio.sleep(0.3)
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    async def stream(scope, receive, send):
        listener = asyncio.ensure_future(receive())  # listen_for_disconnect, before the answer starts
        await asyncio.sleep(0)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0.2)  # four idle limits
        await send({"type": "http.response.body", "body": b"data: event\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        listener.cancel()

    async def main():
        await asyncio.wait_for(BodyLimit(stream, body_idle_s=0.05)(scope, receive, send), 10)

    asyncio.run(main())
    return sent


def test_a_get_event_stream_is_never_timed():
    """RFC 9112 section 6.3: a request without Content-Length or Transfer-Encoding has no body to wait for."""
    sent = _served("GET", [])
    assert [m.get("body") for m in sent] == [None, b"data: event\n\n", b""]
    assert sent[0]["status"] == 200


def test_an_answer_already_started_is_never_refused():
    """A request announcing a body whose answer began before the idle limit passed: the answer goes on whole
    (a 408 can no longer be sent, and dropping the rest left the response incomplete)."""
    sent = _served("POST", [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")])
    assert [m.get("body") for m in sent] == [None, b"data: event\n\n", b""]
