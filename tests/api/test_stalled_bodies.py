"""A request body that stalls, in the app launched as ``app.py`` launches it (``launch_options()``, with a
short idle limit so the tests are quick), sent over a raw socket as a slowloris client would send it.

Measured before: uvicorn has no timeout on reading a request body (``timeout_keep_alive`` runs only between
requests), so a client that sent its headers and part of its body, then nothing, held its connection and the
request's handler for good (50 such connections stayed open as long as they liked), and on the upload route
Gradio's half-written file stayed in the upload folder meanwhile. RFC 9110 section 15.5.9: 408 Request Timeout
"indicates that the server did not receive a complete request message within the time that it was prepared
to wait", and the server should close the connection.
"""

from __future__ import annotations

import json
import os
import select
import socket
import time

import httpx
import pytest

pytestmark = pytest.mark.slow
IDLE_S = 2.0  # the pieces of a steady body come every IDLE_S / 4: a loaded 2-core CI has 1.5 s of margin
LAUNCH_OPTIONS = {"body_idle_s": IDLE_S}  # read by the served_app fixture
BOUNDARY = "b0und"
PATIENCE_S = 30  # how long a test waits for the server's answer at most: a bound, not a timing check


@pytest.fixture(scope="module")
def app(served_app):
    return served_app


def _kept(app) -> set:
    """Every file in Gradio's upload folder."""
    return {p for p in app["uploads"].rglob("*") if p.is_file()}


def _head(app, path: str, headers: str) -> bytes:
    host = httpx.URL(app["url"]).host
    return f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode()


def _connect(app) -> socket.socket:
    url = httpx.URL(app["url"])
    sock = socket.create_connection((url.host, url.port))
    sock.settimeout(PATIENCE_S)
    return sock


def _answer(sock: socket.socket) -> tuple[int, dict, bytes]:
    """(status, lower-cased headers, body) of the server's answer, read until it closes the connection
    (``socket.timeout`` when it never does within ``PATIENCE_S``)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def _stalled(status: int, body: bytes) -> None:
    assert status == 408, (status, body[:300])
    detail = json.loads(body)["detail"]
    assert "stalled" in detail and f"{IDLE_S:g} s" in detail, detail


def _left_nothing(app, before: set, errors: int) -> None:
    """No file of the refused upload stays in the upload folder (within a bounded wait), no ERROR log."""
    deadline = time.monotonic() + 10
    while _kept(app) != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _kept(app) == before, "the stalled upload's file was left in the upload folder"
    assert app["errors_since"](errors) == []


def _file_head(name: str) -> bytes:
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            f"Content-Type: image/png\r\n\r\n").encode()


UPLOAD = f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"


def test_an_upload_that_stalls_mid_file_is_a_408_and_leaves_no_file(app):
    """Headers and part of a file, then nothing with the socket kept open: Gradio had begun writing the file."""
    before, errors = _kept(app), len(app["errors"])
    with _connect(app) as sock:
        sock.sendall(_head(app, "/gradio_api/upload", UPLOAD + "Content-Length: 5000000\r\n")
                     + _file_head("slow.png") + b"\x89PNG" + b"s" * 300_000)
        deadline = time.monotonic() + PATIENCE_S  # a bound on the wait, not a timing check
        while _kept(app) == before and time.monotonic() < deadline:
            time.sleep(0.02)
        status, headers, body = _answer(sock)
    _stalled(status, body)
    assert headers.get("connection") == "close"
    _left_nothing(app, before, errors)


# A steady body's test is told apart from our own pause: a loaded machine may hold this process (test and
# server alike) past the idle limit between two pieces, and then a 408 is right. An attempt whose own longest
# gap between pieces came within PAUSED_S of the limit proves nothing either way and is made again, up to
# ATTEMPTS times; a 408 after an attempt whose every gap stayed under it fails at once.
PAUSED_S = IDLE_S * 3 / 4
ATTEMPTS = 3


def _paced(pieces: list[bytes], gaps: list[float]):
    """``pieces`` one every IDLE_S / 4; appends each measured gap between two pieces (seconds) to ``gaps``."""
    last = None
    for piece in pieces:
        if last is not None:
            time.sleep(IDLE_S / 4)
            gaps.append(time.monotonic() - last)
        last = time.monotonic()
        yield piece


def test_a_steady_upload_is_not_cut_until_it_stalls(app):
    """A piece every quarter of the idle limit for more than twice the limit: no answer yet; then a stall."""
    before, errors = _kept(app), len(app["errors"])
    for attempt in range(1, ATTEMPTS + 1):
        with _connect(app) as sock:
            sock.sendall(_head(app, "/gradio_api/upload", UPLOAD + "Transfer-Encoding: chunked\r\n"))
            gaps: list[float] = []
            try:
                for piece in _paced([_file_head("steady.png"), *[b"p" * 1000] * 10], gaps):
                    sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                sent = time.monotonic()
                time.sleep(IDLE_S / 4)
                gaps.append(time.monotonic() - sent)
                sock.setblocking(False)
                sock.recv(1)
                cut = True  # answered (or closed) while the pieces kept coming
            except BlockingIOError:
                cut = False
            except OSError:  # closed under a piece being sent
                cut = True
            if not cut:
                sock.setblocking(True)
                sock.settimeout(PATIENCE_S)
                status, _, body = _answer(sock)
                break
        assert max(gaps, default=0) >= PAUSED_S and attempt < ATTEMPTS, (
            f"cut while its pieces kept coming (longest gap {max(gaps, default=0):.2f} s,"
            f" limit {IDLE_S} s; attempt {attempt})")
    _stalled(status, body)
    _left_nothing(app, before, errors)


def test_a_steady_upload_arrives_whole(app):
    """The other half of the rule (it passes without it too): pieces that keep coming are never cut."""
    pieces = [_file_head("whole.png"), *[b"w" * 1000] * 8, f"\r\n--{BOUNDARY}--\r\n".encode()]
    for attempt in range(1, ATTEMPTS + 1):
        gaps: list[float] = []
        try:
            response = app["http"].post("gradio_api/upload", content=_paced(pieces, gaps),
                                        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
        except httpx.TransportError:  # cut while still sending: the connection closed under the body
            response = None
        if response is not None and response.status_code != 408:
            break
        assert max(gaps, default=0) >= PAUSED_S and attempt < ATTEMPTS, (
            f"cut while its pieces kept coming (longest gap {max(gaps, default=0):.2f} s,"
            f" limit {IDLE_S} s; attempt {attempt})")
    assert response.status_code == 200, response.text[:300]
    (path,) = response.json()
    assert os.path.getsize(path) == 8000


@pytest.mark.parametrize("sent", [b"", b'{"data": ['], ids=["headers-only", "mid-body"])
def test_a_call_whose_body_stalls_is_a_408(app, sent):
    """Any other route (here a direct call, which reads its JSON body whole): the same answer."""
    errors = len(app["errors"])
    with _connect(app) as sock:
        sock.sendall(_head(app, "/gradio_api/call/vote", "Content-Type: application/json\r\n"
                                                          "Content-Length: 1000\r\n") + sent)
        status, headers, body = _answer(sock)
    _stalled(status, body)
    assert headers.get("connection") == "close"
    assert app["errors_since"](errors) == []


def _trickle(app) -> tuple[bytes, float]:
    """A call's headers, then a byte every IDLE_S / 8 until the server answers (or 120 bytes): (the whole
    answer, b"" if none came; the longest gap measured here between two sends, from the headers to the first
    byte and from the last byte to the answer included)."""
    gaps: list[float] = []
    with _connect(app) as sock:
        sock.sendall(_head(app, "/gradio_api/call/vote", "Content-Type: application/json\r\n"
                                                          "Content-Length: 1000\r\n"))
        last = time.monotonic()
        answered = b""
        for _ in range(120):
            if select.select([sock], [], [], IDLE_S / 8)[0]:  # the server answered (or closed)
                answered = sock.recv(65536)
                gaps.append(time.monotonic() - last)  # a pause here, after the last byte, counts too
                break
            sock.sendall(b" ")
            gaps.append(time.monotonic() - last)
            last = time.monotonic()
        while answered and (chunk := sock.recv(65536)):
            answered += chunk
    return answered, max(gaps, default=0)


def test_a_call_whose_body_trickles_is_a_408_while_it_still_comes(app):
    """A byte every IDLE_S / 8 (never a pause near the idle limit), the slowloris way of holding a connection for
    good under a wait per piece alone. Apache mod_reqtimeout's rule (``body=20,MinRate=500``): the body may take
    the idle limit plus 1 s for every 500 bytes received, so it is refused after about IDLE_S, long before its
    120 bytes have all come (before: never refused while bytes kept coming). An attempt paused here near the
    idle limit between two bytes (a loaded machine holding this process) may rightly be told "stalled": it proves
    nothing and is made again, as the steady bodies' are."""
    errors = len(app["errors"])
    for attempt in range(1, ATTEMPTS + 1):
        answered, longest = _trickle(app)
        assert answered, "the trickle was never refused while it kept coming"
        head, _, body = answered.partition(b"\r\n\r\n")
        assert head.split()[1] == b"408", head
        assert b"connection: close" in head.lower()
        detail = json.loads(body)["detail"]
        if "stalled" not in detail:
            break
        assert longest >= PAUSED_S and attempt < ATTEMPTS, (
            f"told {detail!r} while its bytes kept coming (longest gap {longest:.2f} s, limit {IDLE_S} s;"
            f" attempt {attempt})")
    assert detail == (f"request body too slow: a body may take {IDLE_S:g} s plus 1 s for every"
                      f" 500 bytes received; send the whole body without pausing")
    assert app["errors_since"](errors) == []
