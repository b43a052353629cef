"""Every route's request body has a size limit, not only uploads: Gradio's JSON routes read and parsed a whole
body before the app saw it (a 150 MB body POSTed to ``/gradio_api/call/vote`` grew the server's peak memory by
~560 MB before the app's own "malformed battle id"), so a few such requests at once could exhaust a Space.

``app.py`` as a process (stored arena mode); raw POSTs as a script would send them, with a ``Content-Length``
and chunked (no length given); the server's memory is read from ``/proc``.
"""

from __future__ import annotations

import io
import json

import httpx
import pytest
from gradio_client import Client
from PIL import Image

pytestmark = pytest.mark.slow
LIMIT = 2**20  # the documented limit on a request body (RELIABILITY.md), written here, not imported
UPLOAD_LIMIT = 64 * 2**20  # the upload route's own, per file
BODY = 96 * 2**20  # far over the limit, and large enough that reading it whole shows in the server's memory
PIECE = 2**20
ROUTES = ("gradio_api/call/vote", "gradio_api/queue/join", "gradio_api/run/predict", "gradio_api/api/vote",
          "gradio_api/call/v2/new_battle", "gradio_api/component_server", "gradio_api/cancel")


def _json_pieces(size: int):
    """A JSON body of ``size`` bytes, ``{"data": ["aaa..."]}``, in ``PIECE``-byte pieces."""
    head, tail = b'{"data": ["', b'"]}'
    yield head
    left = size - len(head) - len(tail)
    while left > 0:
        yield b"a" * min(PIECE, left)
        left -= PIECE
    yield tail


def _field_pieces(size: int):
    """A multipart body holding one form field (no filename) of ``size`` bytes, boundary ``b0und``."""
    yield b'--b0und\r\nContent-Disposition: form-data; name="note"\r\n\r\n'
    for start in range(0, size, PIECE):
        yield b"a" * min(PIECE, size - start)
    yield b"\r\n--b0und--\r\n"


def _peak_kib(pid: int) -> int:
    """The process's peak resident memory so far (``VmHWM``), in KiB."""
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def _refused(response: httpx.Response, route: str, how: str) -> None:
    assert response.status_code == 413, (route, how, response.status_code, response.text[:300])
    detail = response.json()["detail"]
    assert str(LIMIT) in detail and "1 MiB" in detail, detail  # the message names the limit


def test_an_oversized_body_is_refused_on_every_route_before_it_is_read(seeded_db, start_app):
    app = start_app(seeded_db)
    client = Client(app.url, verbose=False, download_files=False, headers={"x-forwarded-for": "198.51.100.7"})
    client.predict("bundled", "UEG", "all", api_name="/instances")  # the server has answered a call: warm
    before = _peak_kib(app.proc.pid)
    headers = {"Content-Type": "application/json"}
    with httpx.Client(timeout=120) as http:
        for route in ROUTES:
            announced = http.post(app.url + route, content=b"".join(_json_pieces(BODY)), headers=headers)
            _refused(announced, route, "with Content-Length")
            chunked = http.post(app.url + route, content=_json_pieces(BODY), headers=headers)  # no length sent
            _refused(chunked, route, "chunked")
        # the upload route takes files only: Gradio's parser would keep a form field whole in memory
        form = {"Content-Type": "multipart/form-data; boundary=b0und"}
        field = http.post(app.url + "gradio_api/upload", content=_field_pieces(BODY), headers=form)
        assert field.status_code == 400, (field.status_code, field.text[:300])
        assert "part 1 (name 'note') is a form field" in field.json()["detail"]
    grew_mib = (_peak_kib(app.proc.pid) - before) / 2**10
    assert grew_mib < BODY / 2**20 / 4, f"the server's peak memory grew by {grew_mib:.0f} MiB"

    # a body under the limit still reaches the app, which gives its own answer
    under = json.dumps({"data": ["x" * (LIMIT - 2**10), "A"]}).encode()
    assert len(under) < LIMIT
    answer = httpx.post(app.url + "gradio_api/call/vote", content=under, headers=headers, timeout=60)
    assert answer.status_code == 200, (answer.status_code, answer.text[:300])

    # a battle and its vote, through gradio_client, as before
    battle = client.predict("bundled", "UEG", "any", api_name="/new_battle")
    assert client.predict(battle["battle_id"], "A", api_name="/vote")["choice"] == "A"

    # an upload keeps its own, larger limit
    photo = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 120, 200)).save(photo, format="PNG")
    big = photo.getvalue() + b"\0" * (UPLOAD_LIMIT - 2**20)
    upload = httpx.post(f"{app.url}gradio_api/upload", files={"files": ("big.png", big, "image/png")}, timeout=120)
    assert upload.status_code == 200, (upload.status_code, upload.text[:300])
