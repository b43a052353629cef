"""``BodyLimit`` around a small Starlette app that echoes the length of the body it read: the boundary is
exact, with and without a ``Content-Length``, and Gradio's upload route is left to its own cap."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from realunify_arena.body_limit import BodyLimit
from realunify_arena.upload_parts import UploadRules

LIMIT = 1000  # small, so the boundary is cheap to test


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"read": len(await request.body())})


@pytest.fixture
def client():
    routes = [Route("/gradio_api/call/vote", echo, methods=["POST"]),
              Route("/gradio_api/upload", echo, methods=["POST"])]
    app = Starlette(routes=routes, middleware=[Middleware(BodyLimit, max_body_bytes=LIMIT, uploads=UploadRules())])
    with TestClient(app) as c:
        yield c


def _pieces(size: int, piece: int = 300):
    for start in range(0, size, piece):
        yield b"a" * min(piece, size - start)


@pytest.mark.parametrize("chunked", [False, True])
def test_the_limit_is_exact(client, chunked):
    def post(size):
        return client.post("/gradio_api/call/vote", content=_pieces(size) if chunked else b"a" * size)

    assert post(LIMIT).json() == {"read": LIMIT}
    over = post(LIMIT + 1)
    assert over.status_code == 413
    assert over.json() == {"detail": "request body too large: the limit is 1000 bytes; files go"
                                     " to /gradio_api/upload first"}  # before: "1000 bytes (0.000953674 MiB)"


def test_the_upload_route_keeps_its_own_cap(client):
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    upload = _multipart(("files", "a.png", b"p" * (LIMIT * 5)))
    assert client.post("/gradio_api/upload", content=upload, headers=headers).json() == {"read": len(upload)}
    assert client.post("/gradio_api/upload/", content=upload, headers=headers).status_code != 413


def test_a_negative_limit_is_refused():
    with pytest.raises(ValueError, match="must be 0 or more, not -1"):
        BodyLimit(None, max_body_bytes=-1)


@pytest.mark.parametrize("limits", [{"max_files": -1}, {"max_bytes": -1}])
def test_a_negative_upload_limit_is_refused(limits):
    with pytest.raises(ValueError, match="must be 0 or more, not .*-1"):
        UploadRules(**limits)


BOUNDARY = "b0und"


def _multipart(*parts: tuple[str, str | None, bytes]) -> bytes:
    """A multipart/form-data body written by hand from (name, filename or None, content) parts."""
    out = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


UPLOAD_FILES, UPLOAD_BYTES = 2, 3000  # small, so the boundaries are cheap to test


@pytest.fixture
def upload_client():
    app = Starlette(routes=[Route("/gradio_api/upload", echo, methods=["POST"])],
                    middleware=[Middleware(BodyLimit, max_body_bytes=LIMIT,
                                           uploads=UploadRules(max_files=UPLOAD_FILES, max_bytes=UPLOAD_BYTES))])
    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("route", ["/gradio_api/upload", "/gradio_api/upload?upload_id=x1"])
def test_the_upload_route_takes_a_few_files_and_nothing_else(upload_client, chunked, route):
    """Gradio's upload route: at most ``max_upload_files`` files holding ``max_upload_bytes`` in all, each a
    part named ``files``; a form field (kept whole in memory by Gradio, a 500 when named ``files`` or sent
    with an ``upload_id``) or a file under another name (left in Gradio's upload folder) is refused."""
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}

    def post(*parts):
        body = _multipart(*parts)
        pieces = (body[i:i + 300] for i in range(0, len(body), 300))
        return upload_client.post(route, content=pieces if chunked else body, headers=headers)

    def refused(response, status, detail):
        assert (response.status_code, response.json()) == (status, {"detail": "upload refused: " + detail})

    at_limit = post(("files", "a.png", b"p" * 2000), ("files", "b.png", b"q" * 1000))  # over the body limit
    assert at_limit.json() == {"read": len(_multipart(("files", "a.png", b"p" * 2000), ("files", "b.png",
                                                                                          b"q" * 1000)))}
    refused(post(("files", "a.png", b"p" * 2000), ("files", "b.png", b"q" * 1001)), 413,
            "the files of one upload request may hold 3000 bytes in all")  # before: "(0.00286102 MiB)"
    refused(post(*[("files", f"{i}.png", b"p") for i in range(3)]), 413,
            "part 3 (name 'files') is file 3: one upload request takes at most 2 files")
    refused(post(("files", None, b"x")), 400, "part 1 (name 'files') is a form field, not a file: this route"
                                              " takes only files, each a part named 'files' with a filename")
    refused(post(("files", "a.png", b"p"), ("note", None, b"x")), 400,
            "part 2 (name 'note') is a form field, not a file: this route takes only files, each a part named"
            " 'files' with a filename")
    refused(post(("photo", "a.png", b"p")), 400,
            "part 1 (name 'photo') is a file under another name: each file must be a part named 'files'")
    # a body that is not multipart holds no file: it has the limit of every other route
    assert upload_client.post(route, content=b"a" * (LIMIT * 5)).status_code == 413


def test_an_upload_announced_over_its_limit_is_refused_before_it_is_read(upload_client):
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}",
               "content-length": str(UPLOAD_BYTES + LIMIT + 1)}
    response = upload_client.post("/gradio_api/upload", content=b"x", headers=headers)
    assert response.status_code == 413
    assert response.json()["detail"].startswith("upload refused: the files of one upload request may hold 3000")



def _run(app, messages: list[dict], then) -> list[dict]:
    """Run ``app`` on one POST whose ``receive`` gives ``messages``, then awaits ``then()`` for each next one.
    Returns what the app sent. A hung app fails after 10 s instead of hanging the test run."""
    scope = {"type": "http", "method": "POST", "path": "/gradio_api/call/vote", "root_path": "",
             "query_string": b"", "headers": [(b"content-type", b"application/json")]}
    queue, sent = list(messages), []

    async def receive():
        return queue.pop(0) if queue else await then()

    async def send(message):
        sent.append(message)

    asyncio.run(asyncio.wait_for(app(scope, receive, send), 10))
    return sent


def test_a_body_that_stalls_is_a_408():
    """RFC 9110 section 15.5.9: 408 when the request message did not come whole in the time the server waits."""

    async def never():
        await asyncio.Event().wait()

    app = Starlette(routes=[Route("/gradio_api/call/vote", echo, methods=["POST"])])
    # min_body_rate 1 byte/s: the 4 bytes read give the whole body 4 s more, so the idle limit, not the rate rule,
    # is what runs out however long this machine pauses between two reads (at 500 bytes/s, 8 ms would do it)
    sent = _run(BodyLimit(app, body_idle_s=0.05, min_body_rate=1),
                [{"type": "http.request", "body": b'{"da', "more_body": True}], never)
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"]) == {"detail": "request body stalled: no part of it arrived for 0.05 s;"
                                                     " send the whole body without pausing"}


def test_the_wait_for_a_disconnect_after_the_body_is_not_cut():
    """An event stream waits on ``receive`` for the visitor to leave, long after its body ended."""

    async def stream(scope, receive, send):
        assert (await receive())["type"] == "http.request"
        assert (await receive())["type"] == "http.disconnect"  # after 4 idle limits
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"left"})

    async def later():
        await asyncio.sleep(0.2)
        return {"type": "http.disconnect"}

    sent = _run(BodyLimit(stream, body_idle_s=0.05), [{"type": "http.request", "body": b"{}"}], later)
    assert (sent[0]["status"], sent[1]["body"]) == (200, b"left")


@pytest.mark.parametrize("idle", [0, -1, float("nan")])
def test_an_idle_limit_not_over_zero_is_refused(idle):
    with pytest.raises(ValueError, match="body_idle_s must be over 0 seconds"):
        BodyLimit(None, body_idle_s=idle)


def _paced(piece: bytes, pieces: int, gap_s: float):
    """A ``then`` for ``_run``: ``pieces`` pieces of a body, each after ``gap_s`` seconds, the last ending it."""
    left = [pieces]

    async def then():
        await asyncio.sleep(gap_s)
        left[0] -= 1
        return {"type": "http.request", "body": piece, "more_body": left[0] > 0}

    return then


def _echoing_app():
    return Starlette(routes=[Route("/gradio_api/call/vote", echo, methods=["POST"])])


def test_a_body_that_trickles_under_the_minimum_rate_is_a_408():
    """Apache mod_reqtimeout's rule (``body=20,MinRate=500``): the body may take the idle limit plus 1 s for every
    ``MinRate`` bytes received. Here 1.0 s + 1 s per 100 bytes, and a byte comes every 0.05 s (20 bytes a second,
    never a pause near the idle limit): the deadline passes after about 1 s, long before the 80 pieces end."""
    limited = BodyLimit(_echoing_app(), body_idle_s=1.0, min_body_rate=100)
    sent = _run(limited, [], _paced(b" ", 80, 0.05))
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"]) == {"detail": "request body too slow: a body may take 1 s plus 1 s for every"
                                                     " 100 bytes received; send the whole body without pausing"}


def test_a_body_over_the_minimum_rate_is_read_whole_past_many_idle_limits():
    """The other half of the rule: 100 bytes every 0.05 s (2000 bytes a second, over 20 times the minimum) for
    about 2 s, ten idle limits of 0.2 s: never cut."""
    limited = BodyLimit(_echoing_app(), body_idle_s=0.2, min_body_rate=100)
    sent = _run(limited, [], _paced(b"a" * 100, 40, 0.05))
    assert sent[0]["status"] == 200
    assert json.loads(sent[1]["body"]) == {"read": 4000}


@pytest.mark.parametrize("rate", [0, -1, float("nan")])
def test_a_minimum_rate_not_over_zero_is_refused(rate):
    with pytest.raises(ValueError, match="min_body_rate must be over 0 bytes a second"):
        BodyLimit(None, min_body_rate=rate)
