"""Gradio's upload-progress ids (``?upload_id=`` on ``/gradio_api/upload`` and ``/gradio_api/upload_progress``) in
the app launched as ``app.py`` launches it (``launch_options()``), sent as a hostile script would send them.

Measured before the guard: Gradio's process-wide tracker (``gradio.routes.file_upload_statuses``) kept an entry
for every upload with a new id that nobody watched (~1.9 KB each) and an event for every progress GET of an
unknown id (~0.9 KB each), for ever, under ids as long as uvicorn's header limit. These tests read that tracker's
private maps on purpose: they pin the pruning to the installed Gradio (a Gradio that renames them fails here).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from gradio import routes

pytestmark = pytest.mark.slow
BOUNDARY = "b0und"
# The documented rules (RELIABILITY.md), written here, not imported from the code
MOST_KEPT = 256  # finished entries, and left-over events, the tracker keeps at most
PAGE_ID = "k3x9q2a7m1b0z"  # what Gradio's page sends: Math.random().toString(36).substring(2, 15)


@pytest.fixture(scope="module")
def app(served_app):
    return served_app


def _upload(app, query: str) -> httpx.Response:
    body = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="p.png"\r\n\r\n'
            f"\x89PNGpixels\r\n--{BOUNDARY}--\r\n").encode()
    return app["http"].post(f"gradio_api/upload{query}", content=body,
                            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})


def _tracked() -> set[str]:
    tracker = routes.file_upload_statuses
    return set(tracker._statuses) | set(tracker._signals)


@pytest.mark.parametrize("upload_id", ["x" * 8000, "a b", "../../etc", "id;drop", "", "é" * 3],
                         ids=["8000-chars", "space", "path", "semicolon", "empty", "non-ascii"])
def test_an_upload_id_the_page_never_sends_gets_a_plain_400(app, upload_id):
    errors = len(app["errors"])
    query = "?" + httpx.QueryParams({"upload_id": upload_id}).__str__()
    for response in (_upload(app, query), app["http"].get(f"gradio_api/upload_progress{query}")):
        assert response.status_code == 400, (response.status_code, response.text[:200])
        assert response.headers["content-type"].startswith("text/plain")
        assert "upload_id refused" in response.text and "letters, digits" in response.text, response.text[:200]
    assert upload_id not in _tracked()
    assert app["errors_since"](errors) == []


def test_the_page_upload_and_its_progress_stream_still_work(app):
    response = _upload(app, f"?upload_id={PAGE_ID}")
    assert response.status_code == 200 and response.json()[0].endswith("p.png"), response.text[:200]
    progress = app["http"].get(f"gradio_api/upload_progress?upload_id={PAGE_ID}")
    assert progress.status_code == 200 and '"msg": "done"' in progress.text, progress.text[:200]
    assert PAGE_ID not in _tracked(), "the watched upload's progress was kept after its stream ended"


def test_uploads_nobody_watches_are_not_kept_without_bound(app):
    ids = [f"flood{i:04d}" for i in range(MOST_KEPT + 60)]
    for upload_id in ids:
        assert _upload(app, f"?upload_id={upload_id}").status_code == 200
    tracker = routes.file_upload_statuses
    done = [key for key, status in tracker._statuses.items() if status.is_done]
    spare = [key for key in tracker._signals if key not in tracker._statuses]
    assert len(done) <= MOST_KEPT and len(spare) <= MOST_KEPT, (len(done), len(spare))
    assert ids[-1] in tracker._statuses, "the newest upload's progress must still be there for its page"
    assert ids[0] not in _tracked(), "the oldest unwatched upload's progress is still kept"


def test_a_progress_request_for_an_unknown_id_leaves_nothing_behind(app):
    unknown = [f"nosuch{i}" for i in range(5)]

    async def ask_all():
        async with httpx.AsyncClient(base_url=app["url"], timeout=30) as http:
            return await asyncio.gather(*(http.get(f"gradio_api/upload_progress?upload_id={i}") for i in unknown))

    answers = asyncio.run(ask_all())  # Gradio waits 3 s for each to be tracked, then answers 404
    assert [a.status_code for a in answers] == [404] * len(unknown)
    assert not set(unknown) & _tracked(), "unknown ids' events are kept"


def test_refused_uploads_are_not_kept_without_bound(app):
    """An upload refused part-way (a form field, a body cut before its closing boundary) never reaches the
    point where Gradio marks its progress done, so before, its entry stayed for ever, never pruned."""
    field = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"\r\n\r\nhi\r\n--{BOUNDARY}--\r\n')
    cut = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="c.png"\r\n\r\ncut'
    ids = [f"refused{i:04d}" for i in range(MOST_KEPT + 60)]
    for n, upload_id in enumerate(ids):
        response = app["http"].post(f"gradio_api/upload?upload_id={upload_id}", content=(field, cut)[n % 2],
                                    headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
        assert response.status_code == 400, response.text[:200]
    kept = [upload_id for upload_id in ids if upload_id in _tracked()]
    assert len(kept) <= MOST_KEPT, f"{len(kept)} refused uploads' progress kept"
    assert ids[0] not in kept, "the oldest refused upload's progress is still kept"
