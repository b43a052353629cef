"""A refused image says what it is: a file Pillow reads in a format this app does not read (an ICO, a PSD, an
EPS) is named by its format, not called "not an image file Pillow can read" (which is untrue, and sent a visitor
with a favicon or a Photoshop file looking for a broken file); a file over the pixel limit is not shown Pillow's
own limit (89 or 179 MP) beside the app's 64 MP one.

Expected values: the format is what Pillow itself makes of the file when it opens it (``Image.open(...).format``,
its whole identification, not the prefix test the app asks); the pixel count is the GIF header's logical screen,
written by the test (GIF89a section 18: width and height, little-endian 16-bit), multiplied out here. Before:
"favicon.ico: not an image file Pillow can read (formats read here: ...)" for each of the five formats, and
"over the pixel limit of 64000000 (Image size (4294836225 pixels) exceeds limit of 178956970 pixels, could be
decompression bomb DOS attack.)".
"""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from realunify_arena.benchmark.custom import refused_unopened, refused_upload
from realunify_arena.benchmark.images import MAX_PIXELS, ImageError, open_checked

PSD = (b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 2, 2, 8, 3) + bytes(4) * 3 + struct.pack(">H", 0) + bytes(12))


def _write(path, fmt: str) -> None:
    if fmt == "PSD":  # Pillow writes no PSD: the smallest file its reader opens (header, empty sections, raw data)
        path.write_bytes(PSD)
    else:
        Image.new("1" if fmt == "XBM" else "RGB", (32, 32), "white").save(path, fmt)


@pytest.mark.parametrize("fmt", ["ICO", "ICNS", "XBM", "PSD", "EPS"])
def test_a_format_not_read_here_is_named_by_its_format(tmp_path, fmt):
    path = tmp_path / f"picture.{fmt.lower()}"
    _write(path, fmt)
    with Image.open(path) as im:  # Pillow itself reads it, as this format
        assert im.format == fmt
    with pytest.raises(ImageError) as refused:
        open_checked(path)
    said = str(refused.value)
    assert said.startswith(f"{path}: {fmt} files are not read here (formats read here: "), said
    assert "not an image file" not in said and "PNG" in said and "save the image as PNG or JPEG" in said
    for refuse in (refused_unopened, refused_upload):  # the upload's header check and Run's, by the visitor's name
        reason = refuse(str(path), shown_name=f"mine.{fmt.lower()}").reason
        assert reason.startswith(f"Your own GEU image cannot be used: mine.{fmt.lower()}: {fmt} files are not "
                                 "read here"), reason


@pytest.mark.parametrize("data", [b"", b"x", b"just text", b"<html><body>not a picture</body></html>",
                                  b"PK\x03\x04" + bytes(40), b'<svg xmlns="http://www.w3.org/2000/svg"/>'])
def test_what_is_no_image_is_still_called_so(data):
    with pytest.raises(ImageError) as refused:
        open_checked(data)
    assert str(refused.value).startswith("<image bytes>: not an image file Pillow can read (formats read here: ")


def test_an_image_over_the_pixel_limit_is_told_the_app_s_limit_and_its_own_count(tmp_path):
    small = io.BytesIO()
    Image.new("P", (10, 10)).save(small, "GIF")
    data = bytearray(small.getvalue())
    data[6:10] = struct.pack("<HH", 65535, 65535)  # the logical screen: 65535 x 65535
    path = tmp_path / "screen.gif"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError) as refused:
        open_checked(path)
    assert str(refused.value) == f"{path}: over the pixel limit of {MAX_PIXELS} ({65535 * 65535} pixels)"
    assert MAX_PIXELS == 64_000_000  # the README's 64 MP
