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
    assert client.post("/gradio_api/upload", content=b"a" * (LIMIT * 5)).json() == {"read": LIMIT * 5}
    assert client.post("/gradio_api/upload/", content=b"a" * (LIMIT * 5)).status_code != 413


def test_a_negative_limit_is_refused():
    with pytest.raises(ValueError, match="max_body_bytes must be 0 or more, not -1"):
        BodyLimit(None, max_body_bytes=-1)
