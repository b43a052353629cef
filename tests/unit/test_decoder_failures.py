"""A damaged image is refused as unreadable, whatever Pillow's reader raises for it: never a traceback.

``open_checked`` promises ``ImageError`` for a file that is not a readable image, and the upload handlers turn that
into the visitor's message. Pillow's readers raise more than OSError/ValueError on broken bytes: its decoders
written in Python (QOI here) index past a cut-off stream (``IndexError``), and its AVIF reader reports libavif's
failures as ``RuntimeError``, at open or at decode. Before, those escaped: Run with such an upload, the upload's
note and Explore's upload check (which opens the header before Gradio does) ended in Gradio's bare "Error".

Expected values: the QOI file is written by hand from the QOI specification (14-byte header "qoif", width, height,
channels, colorspace; one QOI_OP_RGB chunk, 0xFE + 3 bytes, for a 4x4 picture that needs 16 pixels; no end marker);
the damaged AVIF files are Pillow's own encoding of a 16x16 picture with one byte inverted, kept where Pillow itself
raises ``RuntimeError`` for them (the case, as Pillow defines it), and the rule is the documented contract.
"""

from __future__ import annotations

import io
import struct

import gradio as gr
import pytest
from gradio.data_classes import ImageData
from PIL import Image

from realunify_arena.benchmark.custom import RefusedUpload, checked_image, upload_refusal
from realunify_arena.benchmark.images import ImageError, open_checked
from realunify_arena.benchmark.validation import check_image_file
from realunify_arena.ui.explore import explained_refusals

QOI_CUT = b"qoif" + struct.pack(">IIBB", 4, 4, 3, 0) + b"\xfe\x10\x20\x30"


def _pillow_raises(data: bytes) -> type | None:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    except Exception as e:  # noqa: BLE001 - which exception Pillow raises is what is asked
        return type(e)
    return None


def _damaged_avifs() -> list[bytes]:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buffer, "AVIF")
    data = buffer.getvalue()
    flipped = [data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:] for i in range(len(data))]
    return [v for v in flipped if _pillow_raises(v) is RuntimeError]


def test_a_qoi_cut_short_is_refused_as_unreadable(tmp_path):
    assert _pillow_raises(QOI_CUT) is IndexError  # the case: Pillow's own QOI decoder runs out of bytes
    with pytest.raises(ImageError) as refused:
        open_checked(QOI_CUT)
    assert str(refused.value).startswith("<image bytes>: unreadable image (")
    path = tmp_path / "cut.qoi"
    path.write_bytes(QOI_CUT)
    with pytest.raises(ValueError) as told:  # Run's check of your own GEU image
        checked_image(path, shown_name="mine.qoi")
    assert str(told.value).startswith("Your own GEU image cannot be used: mine.qoi: unreadable image (")
    assert upload_refusal(str(path)).startswith(f"Your own GEU image cannot be used: {path.name}: unreadable image")


def test_a_damaged_avif_is_refused_as_unreadable_at_open_and_at_decode(tmp_path):
    damaged = _damaged_avifs()
    assert damaged, "no inverted byte makes Pillow raise RuntimeError: the case is gone"
    for n, data in enumerate(damaged):
        with pytest.raises(ImageError) as refused:
            open_checked(data)
        assert str(refused.value).startswith("<image bytes>: unreadable image (")
        path = tmp_path / f"{n}.avif"  # a dataset's image, checked at load (header and integrity)
        path.write_bytes(data)
        problem = check_image_file(path, file="GEU_direct.json", label="index 1")
        assert problem is None or (problem.field == "input_image" and path.name in problem.message), problem


@pytest.fixture
def uploads(tmp_path, monkeypatch):
    """Gradio's upload folder for this test: ``tmp_path`` (a file elsewhere is a server file, refused unread)."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    return tmp_path


def test_explore_s_upload_check_refuses_a_damaged_avif_in_words(uploads):
    upload = explained_refusals(gr.Image(type="filepath", image_mode=None))
    for n, data in enumerate(_damaged_avifs()):
        path = uploads / f"upload{n}.avif"
        path.write_bytes(data)
        got = upload.preprocess(ImageData(path=str(path), orig_name="photo.avif"))
        if isinstance(got, RefusedUpload):  # refused at upload (a header libavif rejects)
            assert got.reason.startswith("Your own GEU image cannot be used: photo.avif: unreadable image ("), got
        else:  # passed on as the path; Run's check refuses it (a picture libavif cannot decode)
            assert got == str(path)
            assert upload_refusal(got).startswith(f"Your own GEU image cannot be used: {path.name}: unreadable image")


@pytest.mark.parametrize("fmt", ["QOI", "AVIF", "BMP", "TGA", "DDS", "PPM"])
def test_every_cut_of_a_small_image_is_an_image_or_a_refusal(fmt):
    buffer = io.BytesIO()
    Image.new("RGBA" if fmt == "DDS" else "RGB", (12, 8), (200, 30, 90, 255)[:4 if fmt == "DDS" else 3]).save(
        buffer, fmt, **({"compression": "tga_rle"} if fmt == "TGA" else {}))
    data = buffer.getvalue()
    for cut in range(1, len(data)):
        try:
            open_checked(data[:cut]).close()
        except ImageError:
            pass
