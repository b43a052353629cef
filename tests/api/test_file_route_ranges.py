"""Gradio's file route (``GET /gradio_api/file=<path>``) asked for parts of a file (``Range``), and asked for a
file that a sweep removes while the request is under way, in the app launched as ``app.py`` launches it.

Measured before (serve32), on an uploaded file of 5,000 bytes:

- ``Range: bytes=0-10`` (two numbers): Gradio's own range answer (``route_utils.file_fetch``) copied every header
  of the request into the answer: ``authorization: Bearer ...``, ``cookie: ...``, ``host``.
- ``Range: bytes=0-1,3-4`` (two ranges, RFC 9110 section 14.1.2) and ``bytes=1-2-3``: a 500 with a ``ValueError``
  traceback logged (``start, end = range_val.split("-")``).
- ``Range: bytes=10-5`` (last before first: invalid, RFC 9110 section 14.1.1): a 206 with byte 5.
- A file removed between Gradio's existence check and Starlette's ``os.stat`` (the known race of note 31,
  section 3): a 500, ``RuntimeError: File at path /server/path does not exist.`` logged with its traceback.

Expected values come from RFC 9110 and the uploaded bytes themselves (sliced here); a multi-range answer is read
with the standard library's MIME parser, not the server's code.
"""

from __future__ import annotations

import email.parser
import os
import threading

import pytest

pytestmark = pytest.mark.slow

DATA = bytes(range(256)) * 19 + bytes(136)  # 5,000 bytes, each offset's byte known
SECRET = "sk-serve32-NotForTheAnswer"


@pytest.fixture(scope="module")
def app(served_app):
    return served_app


@pytest.fixture
def uploaded(app):
    answer = app["http"].post("gradio_api/upload", files={"files": ("d.bin", DATA, "application/octet-stream")})
    assert answer.status_code == 200, answer.text
    return answer.json()[0]


def _get(app, path: str, **headers):
    return app["http"].get(f"gradio_api/file={path}", headers=headers)


@pytest.mark.parametrize("value", ["bytes=0-10", "bytes=4999-4999", "bytes=-5", "bytes=5-"])
def test_a_range_answer_carries_none_of_the_request_headers(app, uploaded, value):
    answer = _get(app, uploaded, Range=value, Authorization=f"Bearer {SECRET}", Cookie=f"token={SECRET}")
    assert answer.status_code == 206, (answer.status_code, answer.text[:300])
    assert SECRET not in str(answer.headers), answer.headers
    assert "authorization" not in answer.headers and "cookie" not in answer.headers


@pytest.mark.parametrize(("value", "first", "last"), [
    ("bytes=0-10", 0, 10), ("bytes=4999-4999", 4999, 4999), ("bytes=-5", 4995, 4999), ("bytes=4990-", 4990, 4999),
    ("bytes=0-99999999", 0, 4999),  # a last-pos past the end means the end (RFC 9110 section 14.1.2)
])
def test_one_range_is_those_bytes(app, uploaded, value, first, last):
    answer = _get(app, uploaded, Range=value)
    assert answer.status_code == 206, (answer.status_code, answer.text[:300])
    assert answer.headers["content-range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert answer.content == DATA[first:last + 1]


def test_two_ranges_are_a_multipart_answer_of_those_bytes(app, uploaded):
    errors = len(app["errors"])
    answer = _get(app, uploaded, Range="bytes=0-1,3-4")
    assert answer.status_code == 206, (answer.status_code, answer.text[:300])
    head = f"Content-Type: {answer.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser().parsebytes(head + answer.content)
    assert message.get_content_type() == "multipart/byteranges"
    parts = [(part["Content-Range"], part.get_payload(decode=True)) for part in message.get_payload()]
    assert parts == [("bytes 0-1/5000", DATA[0:2]), ("bytes 3-4/5000", DATA[3:5])]
    assert app["errors_since"](errors) == []


@pytest.mark.parametrize("value", ["bytes=1-2-3", "bytes=10-5", "bytes=a-b", "bytes=5000-5001"])
def test_a_range_that_is_not_one_is_a_clear_refusal_or_the_whole_file(app, uploaded, value):
    """RFC 9110 section 14.2: a server MAY ignore or reject an invalid ranges-set; it may not answer other bytes."""
    errors = len(app["errors"])
    answer = _get(app, uploaded, Range=value)
    if answer.status_code == 200:
        assert answer.content == DATA
    else:
        assert answer.status_code in (400, 416), (answer.status_code, answer.text[:300])
        assert "range" in answer.text.lower() and "Traceback" not in answer.text, answer.text
    assert app["errors_since"](errors) == []


def test_a_head_request_of_a_range_sends_no_body(app, uploaded):
    answer = app["http"].head(f"gradio_api/file={uploaded}", headers={"Range": "bytes=0-10"})
    assert answer.status_code in (200, 206) and answer.content == b""


def _sweep_at_stat(monkeypatch, target: str, sweep) -> list:
    """Runs ``sweep()`` once, just before the server's ``os.stat`` of ``target`` that Starlette's ``FileResponse``
    makes after Gradio checked that the file exists: Gradio checks in the event loop's thread, Starlette stats in a
    worker thread (``anyio.to_thread.run_sync``), so the first stat of ``target`` from a thread other than the
    first one that stats it. That is the moment of the race."""
    real_stat, done, checked_in = os.stat, [], []

    def stat(path, *args, **kwargs):
        if os.fspath(path) == target and not done:
            if not checked_in:
                checked_in.append(threading.get_ident())
            elif threading.get_ident() != checked_in[0]:
                done.append(sweep())
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    return done


def test_a_file_being_served_is_not_swept_from_under_its_request(app, uploaded, monkeypatch):
    """An upload no event took, past the hold (``UPLOAD_HOLD_S`` 0 here), is the first a sweep removes; a sweep
    of another request (``make_room`` as an upload of the whole bound starts) that runs while this file is being
    served leaves it, and the request gets the file. Before: a 500, the server's path in the logged traceback."""
    from realunify_arena import served_files

    monkeypatch.setattr(served_files, "UPLOAD_HOLD_S", 0.0)
    done = _sweep_at_stat(monkeypatch, uploaded, lambda: served_files.make_room(served_files.MAX_SERVED_BYTES))
    errors = len(app["errors"])
    answer = _get(app, uploaded)
    assert done, "the file route did not stat the file"
    assert answer.status_code == 200 and answer.content == DATA, (answer.status_code, answer.text[:300])
    assert os.path.exists(uploaded)
    assert app["errors_since"](errors) == []
    served_files.make_room(served_files.MAX_SERVED_BYTES)  # served and done: now the sweep takes it
    assert not os.path.exists(uploaded)


def test_a_file_removed_under_its_request_is_a_404_that_says_so(app, uploaded, monkeypatch):
    """Removed by something else at that moment (past the bound on files in use, or by a person): a 404 saying
    the file is no longer kept, no server path, no traceback logged. Before: a 500 and a logged traceback."""
    done = _sweep_at_stat(monkeypatch, uploaded, lambda: os.remove(uploaded))
    errors = len(app["errors"])
    answer = _get(app, uploaded)
    assert done
    assert answer.status_code == 404, (answer.status_code, answer.text[:300])
    detail = answer.json()["detail"]
    assert "no longer kept" in detail and "/" not in detail, detail
    assert app["errors_since"](errors) == []


def test_a_file_swept_mid_download_arrives_whole_and_is_not_held_by_its_reader(app, monkeypatch):
    """A client that has begun a download and reads no further holds no file in use (else any client could keep
    its own uploads past the per-visitor hold by reading them slowly): a sweep then removes the file, and the
    download, whose file is open, still arrives whole (Linux keeps an open file's bytes after its name goes)."""
    from realunify_arena import served_files

    monkeypatch.setattr(served_files, "UPLOAD_HOLD_S", 0.0)
    big = os.urandom(8 * 2**20)  # past what the sockets' buffers hold: the server is mid-file while the test waits
    answer = app["http"].post("gradio_api/upload", files={"files": ("big.bin", big, "application/octet-stream")})
    assert answer.status_code == 200, answer.text
    path = answer.json()[0]
    errors = len(app["errors"])
    with app["http"].stream("GET", f"gradio_api/file={path}") as download:
        chunks = download.iter_bytes()
        got = [next(chunks)]
        served_files.make_room(served_files.MAX_SERVED_BYTES)
        assert not os.path.exists(path)
        got.extend(chunks)
    assert b"".join(got) == big
    assert app["errors_since"](errors) == []


def test_a_file_swept_before_its_request_is_a_404_that_says_so(app, uploaded):
    """A page's picture swept before the page asked for it (the sweep removes the oldest files to make room):
    before, Gradio's 403 "File not allowed: <path>.", which says the visitor asked for something forbidden. A
    path outside Gradio's folder that is not there stays Gradio's 403: no new answer about the server's files."""
    os.remove(uploaded)
    answer = _get(app, uploaded)
    assert answer.status_code == 404, (answer.status_code, answer.text[:300])
    assert "no longer kept" in answer.json()["detail"]
    head = app["http"].head(f"gradio_api/file={uploaded}")
    assert head.status_code == 404 and head.content == b""
    outside = _get(app, "/etc/realunify-serve32-nothing-here")
    assert outside.status_code == 403, (outside.status_code, outside.text[:300])
