"""Your own GEU image is refused from its header before Gradio's upload preprocessing opens it.

Gradio's ``gr.Image`` preprocessing opens an upload with ``PIL.Image.open`` and every Pillow plugin; some decode
the whole picture while opening (Pillow's ICO plugin: a 250 KB ICO holding an 8000x8000 PNG reached 265 MB, verify24),
before the app's decode budget and format rules (``images.check_header``) could run. An inline data: URL
(which the page never sends) Gradio decodes the same way. Here the real component, wrapped as Explore wraps it
(``ui.explore.explained_refusals``), is handed such payloads; the expected outcomes are the app's documented
rules: only the measured formats are read, and the refusal names the file as the visitor named it.
"""

from __future__ import annotations

import base64
import io

import gradio as gr
import pytest
from gradio.data_classes import ImageData
from PIL import Image

from realunify_arena.benchmark.custom import RefusedUpload, custom_instance
from realunify_arena.ui.explore import explained_refusals


@pytest.fixture(autouse=True)
def uploads(tmp_path, monkeypatch):
    """Gradio's upload folder for these tests: ``tmp_path``, where each test writes its upload (a file elsewhere
    is a server file, refused unread)."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    return tmp_path


def _upload() -> gr.Image:
    return explained_refusals(gr.Image(type="filepath", image_mode=None))


def test_an_icon_upload_is_refused_by_its_header_naming_the_visitor_s_file(tmp_path):
    path = tmp_path / "upload.ico"
    Image.new("RGB", (32, 32), "red").save(path, "ICO")
    got = _upload().preprocess(ImageData(path=str(path), orig_name="favicon.ico"))
    assert isinstance(got, RefusedUpload), got  # before: the path, as Gradio's preprocessing returned it
    assert got.reason.startswith("Your own GEU image cannot be used: favicon.ico: ICO files are not read here "
                                 "(formats read here: "), got.reason
    assert str(tmp_path) not in got.reason  # never a server path


def test_a_png_upload_passes_to_gradio_s_preprocessing_unchanged(tmp_path):
    path = tmp_path / "upload.png"
    Image.new("RGB", (32, 32), "red").save(path)
    got = _upload().preprocess(ImageData(path=str(path), orig_name="cat.png"))
    assert got == str(path) and not isinstance(got, RefusedUpload)


def test_an_inline_data_url_is_refused_without_decoding(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(buffer, "ICO")
    url = "data:image/x-icon;base64," + base64.b64encode(buffer.getvalue()).decode()
    got = _upload().preprocess(ImageData(url=url))
    assert isinstance(got, RefusedUpload), got  # before: decoded by Gradio and saved as a WebP
    assert "inline" in got.reason and "upload it as a file" in got.reason
    with pytest.raises(ValueError) as refused:  # Run refuses the instance with that reason, in place
        custom_instance("GEU", "all", "", got, "Which?", "a\nb\nc\nd", "")
    assert str(refused.value) == got.reason


def test_a_path_outside_the_upload_folder_is_refused_unread(tmp_path_factory):
    """A visitor's value naming a server file (sent without Gradio's file marker, which Gradio's own upload check
    skips) is refused before it is opened: one message whether it is an image, another file or nothing."""
    elsewhere = tmp_path_factory.mktemp("server-side")
    Image.new("RGB", (32, 32), "red").save(elsewhere / "secret.png")
    (elsewhere / "notes.txt").write_text("not an image")
    reasons = set()
    for name in ("secret.png", "notes.txt", "missing.png"):
        got = _upload().preprocess(ImageData(path=str(elsewhere / name)))
        assert isinstance(got, RefusedUpload), got  # before: the server's image was taken (its path returned)
        reasons.add(got.reason)
    assert len(reasons) == 1 and "not uploaded here" in reasons.pop()
