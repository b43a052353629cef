"""A visitor's upload has a size limit: without one, any visitor could fill the server's disk, where the
database lives, at network speed (a 150 MB file was accepted and kept in 0.3 s on loopback).

``app.py`` as a process (stored arena mode, its own Gradio temp folder); raw multipart POSTs to Gradio's
upload route, as a script would send them, not through the page.
"""

from __future__ import annotations

import io
import os

import httpx
import pytest
from PIL import Image

pytestmark = pytest.mark.slow
LIMIT = 64 * 2**20  # the documented limit (RELIABILITY.md), written here, not imported from the code


def _stored_bytes(folder) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_an_upload_over_the_limit_is_refused_and_not_kept(seeded_db, start_app, tmp_path):
    temp = tmp_path / "gradio-temp"
    temp.mkdir()
    app = start_app(seeded_db, env={**os.environ, "GRADIO_TEMP_DIR": str(temp)})
    photo = io.BytesIO()
    Image.new("RGB", (640, 480), (40, 120, 200)).save(photo, format="PNG")
    small = httpx.post(f"{app.url}gradio_api/upload", files={"files": ("photo.png", photo.getvalue(), "image/png")},
                       timeout=60)
    assert small.status_code == 200, small.text
    before = _stored_bytes(temp)
    huge = httpx.post(f"{app.url}gradio_api/upload",
                      files={"files": ("huge.png", b"\0" * (LIMIT + 2**20), "image/png")}, timeout=120)
    assert huge.status_code == 413, (huge.status_code, huge.text[:300])
    assert _stored_bytes(temp) - before < 2**20, "the refused upload was kept on disk"
    at_limit = httpx.post(f"{app.url}gradio_api/upload",
                          files={"files": ("big.png", b"\0" * (LIMIT - 2**20), "image/png")}, timeout=120)
    assert at_limit.status_code == 200, at_limit.text[:300]  # a large photo still arrives
