"""``realunify_arena.asgi``: the route path under a proxy's ``root_path``, the request headers the middleware read,
and the short answers they send.

``route_path`` took a ``root_path`` ``/app`` off ``/apps/...`` too (``/apps/x`` routed as ``s/x``): Starlette's
router strips it only when the path is the root or goes on with ``/`` (``starlette._utils.get_route_path``). The
expected paths here are written out by hand from that rule. (Every route the middleware compare with begins with
``/``, which the wrongly cut remainder never does, so no request was misrouted: the fault was in the contract.)
"""

from __future__ import annotations

import asyncio

import pytest

from realunify_arena.asgi import content_length, header, media_type, route_path, send_detail, send_plain


@pytest.mark.parametrize(("root", "path", "routed"), [
    ("/app", "/apps/gradio_api/upload", "/apps/gradio_api/upload"),  # another mount that shares a prefix
    ("/app", "/appgradio_api/upload", "/appgradio_api/upload"),
    ("/app", "/app/gradio_api/upload", "/gradio_api/upload"),
    ("/app", "/app", ""),
    ("/app", "/app/", "/"),
    ("/app", "/other/x", "/other/x"),
    ("", "/gradio_api/upload", "/gradio_api/upload"),
])
def test_the_root_path_comes_off_only_at_a_segment_boundary(root, path, routed):
    assert route_path({"type": "http", "path": path, "root_path": root}) == routed


def _scope(*headers: tuple[bytes, bytes]) -> dict:
    return {"type": "http", "path": "/", "headers": list(headers)}


@pytest.mark.parametrize(("values", "expected"), [
    ([b"12"], 12), ([b" 12 "], 12), ([b"\t0012"], 12),
    ([b"12", b"99"], 12),  # duplicates: the first, as before
    ([b"12a"], None), ([b"-1"], None), ([b"1e3"], None), ([b""], None), ([b"+5"], None),
    ([b"\xb2"], None),  # latin-1 SUPERSCRIPT TWO: str.isdigit() says yes, int() refuses it
    ([b"\xa012"], None),  # a latin-1 no-break space is no HTTP white space
    ([], None),
])
def test_content_length_reads_the_first_value_of_ascii_digits(values, expected):
    assert content_length(_scope(*[(b"content-length", v) for v in values])) == expected


def test_headers_are_looked_up_by_any_case_of_their_name():
    scope = _scope((b"content-type", b"Application/JSON; charset=utf-8"), (b"content-type", b"text/plain"))
    assert header(scope, "Content-Type") == "Application/JSON; charset=utf-8"
    assert media_type(scope) == "application/json"
    assert media_type(_scope()) is None and header({"type": "http"}, "content-type") is None


def _sent(close: bool, detail: bool) -> list[dict]:
    sent = []

    async def send(message):
        sent.append(message)

    if detail:
        asyncio.run(send_detail(send, 413, "too big: é", close=close))
    else:
        asyncio.run(send_plain(send, 400, "refused: é", close=close))
    return sent


@pytest.mark.parametrize("close", [True, False])
def test_a_plain_answer_is_whole_and_says_connection_close_when_asked(close):
    start, body = _sent(close, detail=False)
    assert start["status"] == 400 and body == {"type": "http.response.body", "body": "refused: é".encode()}
    assert start["headers"] == [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"11")] \
        + ([(b"connection", b"close")] if close else [])


def test_a_detail_answer_is_fastapi_s_json():
    start, body = _sent(True, detail=True)
    assert body["body"] == b'{"detail": "too big: \\u00e9"}'
    assert start["headers"] == [(b"content-type", b"application/json"), (b"content-length", b"29"),
                                (b"connection", b"close")]
