"""A visitor's file value that names a file on the server instead of an upload, sent to Explore's "your own" GEU
image (the page's only file input: its upload note and Run), in the app launched as ``app.py`` launches it.

Measured before (probe25): ``{"path": "/tmp/x/secret.png"}`` without Gradio's file marker (``"meta"``) skipped
Gradio's check that the file was uploaded (it looks only at marked values), so Run built the instance from the
server's image, showed it back to the visitor (a download link under /gradio_api/file=) and would run the model on
it; a server file that is no image was refused with "<name>: not an image file", telling the visitor it exists.
The marked form was refused by Gradio, but with no message and a traceback in the server log per call.
What is expected (Gradio's own rule for a marked value, ``processing_utils._check_allowed``): a value from a
visitor is read only if it is in the upload folder; here every other path is refused unread, saying so.
"""

from __future__ import annotations

import pytest
from PIL import Image
from queue_calls import Page, drawn_index, fn_index, predict_call, queue_call
from gradio_sessions import page_config

pytestmark = pytest.mark.slow
MARKER = {"_type": "gradio.FileData"}


@pytest.fixture(scope="module")
def app(served_app, tmp_path_factory):
    """The served app, with server files a visitor should never reach: an image, a text file, a missing path."""
    outside = tmp_path_factory.mktemp("server-side")
    Image.new("RGB", (48, 48), (200, 10, 10)).save(outside / "secret.png")
    (outside / "notes.txt").write_text("password=hunter2\n")
    config = page_config(served_app["url"])
    menus = {c["props"].get("label"): c["props"].get("value") for c in config["components"]}
    return {**served_app, "outside": outside, "source": menus["Data source"]}


def _run_values(app, image) -> list:
    """Explore's Run with your own GEU instance (image, question, four options), tiny-pair."""
    return [app["source"], "GEU", "all", "custom", "", image, "What colour is it?", "red\ngreen\nblue\nblack", "A",
            "tiny-pair", 0, 0, 1, 0]


@pytest.mark.parametrize("name", ["secret.png", "notes.txt", "missing.png"])
def test_a_server_path_as_your_own_image_is_refused_unread(app, name):
    path = str(app["outside"] / name)
    url = app["url"]
    drawn = drawn_index(url)
    with Page(url) as page:
        run = page.wait(page.join(fn_index(url, "resolve"), _run_values(app, {"path": path})))
        assert run["success"] is True, run
        assert run["output"]["data"][1] is None, f"Run was admitted with the server file {name}: {run}"
        shown = predict_call(url, drawn, [None], page.session).json()["data"]
    message, image = shown[0], shown[1]
    assert image.get("value") is None, f"the server file {name} was shown back: {image}"
    assert "not uploaded here" in message and "upload the file" in message, message
    assert name not in message and "Pillow" not in message, message  # nothing about the file itself


def test_the_upload_note_says_the_same_for_every_server_path(app):
    """The note under the image (as it is uploaded) refuses a server path unread: one message for an image, a
    text file and a path that does not exist, so it tells nothing about the server's files."""
    note = fn_index(app["url"], "_image_note")
    notes = {name: predict_call(app["url"], note, [{"path": str(app["outside"] / name)}], f"s-note-{i}").json()
             for i, name in enumerate(["secret.png", "notes.txt", "missing.png"])}
    texts = {name: reply["data"][0] for name, reply in notes.items()}
    assert len(set(texts.values())) == 1, texts
    assert "not uploaded here" in texts["secret.png"], texts


def test_a_marked_server_path_is_refused_with_a_message_and_no_traceback(app, capfd):
    capfd.readouterr()
    path = str(app["outside"] / "secret.png")
    done = queue_call(app["url"], fn_index(app["url"], "resolve"), _run_values(app, {"path": path, "meta": MARKER}))
    err = capfd.readouterr().err
    assert done["success"] is False, done
    error = done["output"]["error"] or ""
    assert "not uploaded here" in error and "upload the file" in error, done
    assert str(app["outside"]) not in error, error
    assert "Traceback" not in err and "InvalidPathError" not in err, err


@pytest.mark.parametrize("marked", [True, False])
def test_an_uploaded_image_is_still_taken(app, marked, monkeypatch):
    """The same image uploaded first (/gradio_api/upload, as the page and gradio_client do) is taken, its path
    sent with the marker or without it."""
    # Gradio's own check of a marked value reads the upload folder from the environment at each call; the
    # fixture set it only for the launch (a real app keeps it for its whole life)
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(app["uploads"]))
    with open(app["outside"] / "secret.png", "rb") as f:
        uploaded = app["http"].post("gradio_api/upload", files={"files": ("mine.png", f, "image/png")})
    assert uploaded.status_code == 200, uploaded.text
    value = {"path": uploaded.json()[0], "orig_name": "mine.png", **({"meta": MARKER} if marked else {})}
    done = queue_call(app["url"], fn_index(app["url"], "resolve"), _run_values(app, value))
    assert done["success"] is True and done["output"]["data"][1] is not None, (done["output"], uploaded.json())


def test_a_path_through_a_linked_folder_in_the_upload_folder_is_refused_unread(app):
    """``<upload folder>/link/../secret.png`` where ``link`` is a symbolic link to a folder outside: as written it
    reads as inside (``os.path.abspath`` drops ``link/..`` as text), but the operating system opens the file
    outside. Before (verify25b), Run was admitted and the server image shown back."""
    below = app["outside"] / "below"
    below.mkdir(exist_ok=True)
    link = app["uploads"] / "linked-folder"
    app["uploads"].mkdir(parents=True, exist_ok=True)
    link.symlink_to(below, target_is_directory=True)
    try:
        done = queue_call(app["url"], fn_index(app["url"], "resolve"),
                          _run_values(app, {"path": f"{link}/../secret.png"}))
    finally:
        link.unlink()
    assert done["success"] is True and done["output"]["data"][1] is None, done["output"]


@pytest.mark.parametrize("address", [
    "http://127.0.0.1:9/secret.png",  # the server's own machine: Gradio's fetch refuses a private host ...
    "http://169.254.169.254/latest/meta-data/iam/",  # ... a cloud's metadata service
    "https://images.example.invalid/cat.png",  # a public-looking host: Gradio would fetch it (no DNS here)
])
@pytest.mark.parametrize("endpoint", ["resolve", "_image_note"])
def test_a_marked_url_is_refused_unfetched_with_one_message_and_one_log_line(app, capfd, caplog, address, endpoint):
    """Measured before (hunt26g): Gradio fetches the ``path`` of a marked file value that is an http(s) URL
    (``processing_utils.async_ssrf_protected_download``); a private host was refused with no message and a
    traceback per call in the server log, a public one fetched on the visitor's behalf. Expected: the server
    fetches nothing for a visitor; such a value is refused as a server path is, saying to upload the file."""
    url = app["url"]
    value = {"path": address, "meta": MARKER}
    if endpoint == "_image_note":  # inside an object Gradio does not take for a file value, which it walks into
        value = {"path": "x.png", "meta": {}, "inner": [value]}
    capfd.readouterr()
    caplog.clear()
    if endpoint == "resolve":
        done = queue_call(url, fn_index(url, endpoint), _run_values(app, value))
    else:
        done = queue_call(url, fn_index(url, endpoint), [value])
    err = capfd.readouterr().err
    assert done["success"] is False, done
    error = done["output"]["error"] or ""
    assert "a URL" in error and "not fetched" in error and "upload the file" in error, done
    assert address not in error, error  # nothing the visitor sent is echoed
    assert "Traceback" not in err, err
    refused = [r.getMessage() for r in caplog.records if "refused a call" in r.getMessage()]
    assert len(refused) == 1 and "a URL" in refused[0] and address not in refused[0], refused


@pytest.mark.parametrize("meta", ["gradio.FileData", None, ["gradio.FileData"], 7])
def test_a_file_marker_that_is_not_an_object_is_refused_with_one_message_and_one_log_line(app, capfd, caplog, meta):
    """Gradio's test for a marked file value (``gradio_client.utils.is_file_obj_with_meta``) calls
    ``meta.get``: a ``meta`` that is a string, null, list or number raised ``AttributeError`` before any check
    (hunt26g: no message, a traceback per call). Expected: refused as a value its field does not take."""
    url = app["url"]
    capfd.readouterr()
    caplog.clear()
    done = queue_call(url, fn_index(url, "_image_note"), [{"path": "x.png", "meta": meta}])
    err = capfd.readouterr().err
    assert done["success"] is False, done
    error = done["output"]["error"] or ""
    assert "meta" in error and "object" in error, done
    assert "Traceback" not in err, err
    refused = [r.getMessage() for r in caplog.records if "refused a call" in r.getMessage()]
    assert len(refused) == 1, refused


def test_an_upload_waiting_behind_newer_uploads_is_still_taken(app, monkeypatch, tmp_path):
    """An upload no event has taken yet (one in a page's form before Run, or queued behind a long run) while
    another visitor uploads more than ``MAX_SERVED_BYTES``: before, each of those upload requests made room by
    removing the oldest files, this upload among them, so Run refused the file as gone. Now it is in use for
    ``UPLOAD_HOLD_S`` (swept only past ``MAX_IN_USE_BYTES`` more), and Run takes it."""
    import os
    import tempfile
    from pathlib import Path

    from realunify_arena import served_files
    from realunify_arena.benchmark.images import MAX_UPLOAD_BYTES

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(app["uploads"]))  # as in test_an_uploaded_image_is_still_taken
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the app's own folders: this test's
    monkeypatch.setattr(served_files, "MAX_SERVED_BYTES", MAX_UPLOAD_BYTES + 200_000)  # room for 200 KB more
    monkeypatch.setattr(served_files, "MAX_IN_USE_BYTES", 2_000_000, raising=False)
    with open(app["outside"] / "secret.png", "rb") as f:
        uploaded = app["http"].post("gradio_api/upload", files={"files": ("mine.png", f, "image/png")})
    assert uploaded.status_code == 200, uploaded.text
    (path,) = uploaded.json()
    for i in range(6):  # another visitor's 384 KB of uploads, each request making room first
        other = app["http"].post("gradio_api/upload", files={"files": (f"o{i}.bin", os.urandom(64_000))})
        assert other.status_code == 200, other.text
    assert Path(path).exists(), "the waiting upload was removed"
    done = queue_call(app["url"], fn_index(app["url"], "resolve"), _run_values(app, {"path": path, "meta": MARKER}))
    assert done["success"] is True and done["output"]["data"][1] is not None, done["output"]
