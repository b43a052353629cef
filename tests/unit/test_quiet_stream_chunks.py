"""``stream_errors.QuietStreams`` rewords Gradio's not-found event without touching the rest of the stream.

It decoded each body chunk on its own with ``errors="replace"``: a chunk holding the not-found event and ending
inside a multi-byte UTF-8 character (the rest in the next chunk) reached the visitor with U+FFFD in place of
the character, though the middleware meant to change only the not-found line.
"""

from __future__ import annotations

import asyncio
import json

from realunify_arena.stream_errors import NOT_FOUND, QuietStreams

NOT_FOUND_EVENT = b'data: {"msg": "unexpected_error", "message": "404: Not Found", "session_not_found": true}\n\n'


def _through(chunks: list[bytes], path: str = "/gradio_api/queue/data") -> bytes:
    """The body the visitor gets when the app streams ``chunks`` through ``QuietStreams``."""

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i, chunk in enumerate(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": i < len(chunks) - 1})

    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.disconnect"}

    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "query_string": b"", "headers": []}
    asyncio.run(QuietStreams(app)(scope, receive, send))
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def _expected_event(crlf: bool = False) -> bytes:
    """The not-found event as it should leave, written from its parts (not by the code under test)."""
    data = {"msg": "unexpected_error", "message": NOT_FOUND, "session_not_found": True}
    end = b"\r\n\r\n" if crlf else b"\n\n"
    return b"data: " + json.dumps(data).encode() + end


def test_a_character_split_across_chunks_arrives_whole():
    tail = 'data: {"msg": "log", "log": "caf\u00e9 \u2014 \U0001f600"}\n\n'.encode()
    for cut in range(1, len(tail)):  # every place, inside each of the 2-, 3- and 4-byte characters too
        body = _through([NOT_FOUND_EVENT + tail[:cut], tail[cut:]])
        assert body == _expected_event() + tail, cut
        assert "\ufffd" not in body.decode("utf-8")


def test_bytes_that_are_not_utf_8_pass_unchanged_beside_the_event():
    other = b"data: \xff\xfe not utf-8\n\n"
    assert _through([other + NOT_FOUND_EVENT]) == other + _expected_event()


def test_the_event_is_reworded_with_crlf_line_ends():
    assert _through([NOT_FOUND_EVENT.replace(b"\n", b"\r\n")]) == _expected_event(crlf=True)


def test_the_call_route_s_bare_message_is_reworded():
    body = _through([b'event: error\ndata: "404: Not Found"\n\n'], path="/gradio_api/call/vote/abc")
    assert body == b"event: error\ndata: " + json.dumps(NOT_FOUND).encode() + b"\n\n"


def test_another_message_mentioning_404_is_left_alone():
    event = b'data: {"msg": "log", "log": "404: Not Found was the answer"}\n\n'
    assert _through([event]) == event
