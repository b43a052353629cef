"""``BodyLimit`` around a small Starlette app that echoes the length of the body it read: the boundary is
exact, with and without a ``Content-Length``, and Gradio's upload route is left to its own cap."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from realunify_arena.body_limit import BodyLimit

LIMIT = 1000  # small, so the boundary is cheap to test


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"read": len(await request.body())})


@pytest.fixture
def client():
    routes = [Route("/gradio_api/call/vote", echo, methods=["POST"]),
              Route("/gradio_api/upload", echo, methods=["POST"])]
    app = Starlette(routes=routes, middleware=[Middleware(BodyLimit, max_body_bytes=LIMIT)])
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
    assert over.json() == {"detail": "request body too large: the limit is 1000 bytes (0.000953674 MiB); files go"
                                     " to /gradio_api/upload first"}


def test_the_upload_route_keeps_its_own_cap(client):
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    upload = _multipart(("files", "a.png", b"p" * (LIMIT * 5)))
    assert client.post("/gradio_api/upload", content=upload, headers=headers).json() == {"read": len(upload)}
    assert client.post("/gradio_api/upload/", content=upload, headers=headers).status_code != 413


def test_a_negative_limit_is_refused():
    with pytest.raises(ValueError, match="max_body_bytes must be 0 or more, not -1"):
        BodyLimit(None, max_body_bytes=-1)


BOUNDARY = "b0und"


def _multipart(*parts: tuple[str, str | None, bytes]) -> bytes:
    """A multipart/form-data body written by hand from (name, filename or None, content) parts."""
    out = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("route", ["/gradio_api/upload", "/gradio_api/upload?upload_id=x1"])
def test_the_upload_routes_form_fields_have_the_limit_its_files_do_not(client, chunked, route):
    """Gradio's upload parser keeps a part without a filename whole in memory: those bytes count, a file's not."""
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}

    def post(body):
        pieces = (body[i:i + 300] for i in range(0, len(body), 300))
        return client.post(route, content=pieces if chunked else body, headers=headers)

    big_file = _multipart(("files", "a.png", b"p" * (LIMIT * 5)))
    assert post(big_file).json() == {"read": len(big_file)}
    # two fields whose contents add up to the limit exactly pass; one byte more is refused
    at_limit = _multipart(("files", "a.png", b"p" * LIMIT), ("f1", None, b"x" * 600), ("f2", None, b"y" * 400))
    assert post(at_limit).json() == {"read": len(at_limit)}
    over = post(_multipart(("files", "a.png", b"p" * 10), ("f1", None, b"x" * 600), ("f2", None, b"y" * 401)))
    assert over.status_code == 413, over.text
    assert "the limit is 1000 bytes" in over.json()["detail"]
    # a body that is not multipart holds no file: it has the limit of every other route
    assert client.post(route, content=b"a" * (LIMIT * 5)).status_code == 413
