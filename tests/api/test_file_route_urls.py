"""Gradio's file route given a URL (``GET /gradio_api/file=https://host/x``), in the app launched as ``app.py``
launches it.

Measured before (hunt26g): Gradio 6.31 fetches the URL itself and streams it back
(``route_utils.secure_url_stream_response``: a private host is refused with a 403 naming the URL, a public one
fetched), so any visitor could make the server download any public URL for them. The page never asks for one: a
file the app shows is served from its own cache (``/gradio_api/file=<path>``), an external image would be shown
by the browser from its own address. Expected: no URL is fetched; the route answers 403 saying so, the URL not
echoed, before Gradio sees the request.
"""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("address", [
    "http://192.0.2.1/cat.png",  # TEST-NET-1 (RFC 5737): a public-format address that answers nothing
    "https://93.184.215.14/cat.png",
    "http://127.0.0.1:9/secret.png",  # a private host: Gradio's own 403 named it
])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("route", ["gradio_api/file=", "gradio_api/file/"])
def test_the_file_route_fetches_no_url(served_app, address, method, route):
    """``/gradio_api/file/<path>`` is Gradio's older spelling of the route (``file_deprecated``, which calls the
    same handler): it fetched a URL too (verify26b: the 403 covered ``file=`` only)."""
    started = time.monotonic()
    answer = served_app["http"].request(method, f"{route}{address}")
    assert answer.status_code == 403, (answer.status_code, answer.text[:300])
    assert time.monotonic() - started < 5  # no connection tried (Gradio's connect timeout is 10 s)
    if method == "GET":
        detail = answer.json()["detail"]
        assert "not fetched" in detail and address not in detail, detail


def test_a_file_of_the_app_is_still_served(served_app):
    """The route still serves what it served: a file in Gradio's upload folder (uploaded first)."""
    uploaded = served_app["http"].post("gradio_api/upload", files={"files": ("a.txt", b"hello", "text/plain")})
    assert uploaded.status_code == 200, uploaded.text
    for route in ("gradio_api/file=", "gradio_api/file/"):
        answer = served_app["http"].get(f"{route}{uploaded.json()[0]}")
        assert answer.status_code == 200 and answer.content == b"hello", (route, answer.text[:300])
