"""An image whose picture Pillow decodes in Python (its ``PyDecoder`` plugins: BMP RLE, QOI, uncompressed RGB DDS,
PGM/PPM of a maxval other than 255 or 65535, plain PBM/PGM/PPM) is held to 1024x1024 pixels and 8 MiB, a plain
(text) one is not read, and a PBM/PGM/PPM header (read a byte at a time) to 64 KiB, before anything decodes.
Measured before (upload27b, 2 shared cores, CPU of one ``open_checked``): 2048x2048 QOI 3.4 s, RGB DDS 4.9 s, PPM of
maxval 254 6.0 s; 16 MB of BMP RLE codes that make no pixel 2.2 s; a 1 MB plain PBM of comments 10 s; 30 MB of
spaces or of one comment in a PPM header 5.8 / 6.3 s.

The files are made here from the formats' own layouts (BMP: BITMAPFILEHEADER, BITMAPINFOHEADER, a 256-entry
palette, RLE8 codes per Microsoft's "Bitmap Compression"; QOI: the 14-byte header, ops, the 8-byte end marker,
qoiformat.org; netpbm's pgm(5)/ppm(5)), or by Pillow's own writers; expected pixels are worked out by hand.
"""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from realunify_arena.benchmark.custom import custom_instance
from realunify_arena.benchmark.images import (OverLimit, open_checked)
MAX_PNM_HEADER, MAX_PYTHON_DECODE_BYTES, MAX_PYTHON_DECODE_PIXELS = 2**16, 8 * 2**20, 2**20
_ = (
                                              OverLimit, open_checked)

SIDE = 1024  # MAX_PYTHON_DECODE_PIXELS is 1024 x 1024


def bmp_rle8(width: int, height: int, codes: bytes) -> bytes:
    """A greyscale-palette 8-bit BMP whose picture is RLE8 ``codes`` (compression 1)."""
    palette = b"".join(bytes((i, i, i, 0)) for i in range(256))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(codes), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(codes), 0, 0, offset) + info + palette + codes


def rows_of_runs(width: int, height: int, level: int) -> bytes:
    """RLE8 codes: each row as runs of 255 (and the rest) of palette index ``level``, then end of line (0, 0)."""
    row = b"".join(bytes((min(255, width - x), level)) for x in range(0, width, 255)) + b"\x00\x00"
    return row * height + b"\x00\x01"  # end of bitmap


def qoi(width: int, height: int, ops: bytes) -> bytes:
    return b"qoif" + struct.pack(">IIBB", width, height, 3, 0) + ops + b"\x00" * 7 + b"\x01"


def qoi_runs(width: int, height: int) -> bytes:
    """One QOI_OP_RGB (0xFE, r, g, b) of (10, 20, 30), then runs (0xC0 | length - 1, up to 62) of it."""
    left, ops = width * height - 1, bytearray(b"\xfe\x0a\x14\x1e")
    while left:
        ops.append(0xC0 | (min(62, left) - 1))
        left -= min(62, left)
    return qoi(width, height, bytes(ops))


def saved(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def over(width: int, height: int) -> dict[str, bytes]:
    """Sound files one row over the pixel limit (in every format here but DDS, only its header and a few rows: a
    whole one would take ~2 s to decode before the fix)."""
    return {
        "bmp_rle": bmp_rle8(width, height, rows_of_runs(width, height, 7)),
        "qoi": qoi_runs(width, height),
        "ppm": b"P5\n%d %d\n254\n" % (width, height) + bytes(width * height),
        "dds_rgb": saved(Image.new("RGB", (width, 4), (1, 2, 3)), "DDS")[:12]
        + struct.pack("<II", height, width) + saved(Image.new("RGB", (width, 4), (1, 2, 3)), "DDS")[20:],
    }


@pytest.mark.parametrize("codec", ["bmp_rle", "qoi", "ppm", "dds_rgb"])
def test_a_python_decoded_image_over_its_pixel_limit_is_refused_from_its_header(codec):
    data = over(SIDE, SIDE + 1)[codec]
    with Image.open(io.BytesIO(data)) as im:  # what the file is: Pillow's Python decoder, that size
        assert im.tile[0][0] == codec and im.size == (SIDE, SIDE + 1)
    with pytest.raises(OverLimit) as refused:
        open_checked(data)
    assert f"1024x1025 = 1,049,600 pixels is over the limit of {MAX_PYTHON_DECODE_PIXELS:,} (1024x1024)" \
        in str(refused.value)
    assert "Pillow decodes in Python" in str(refused.value) and "save it as a PNG or JPEG" in str(refused.value)


def test_a_bmp_of_rle_codes_that_make_no_pixels_is_refused_by_its_size(tmp_path):
    """End of line (0, 0) at a line's start makes no pixel: 8 MiB of them for a 16x16 picture."""
    codes = b"\x00\x00" * (MAX_PYTHON_DECODE_BYTES // 2) + rows_of_runs(16, 16, 7)
    data = bmp_rle8(16, 16, codes)
    with pytest.raises(OverLimit, match=rf"a file of {len(data):,} bytes is over the limit of 8,388,608 bytes "
                                        r"for a BMP image that Pillow decodes in Python \(L, codec bmp_rle"):
        open_checked(data)
    path = tmp_path / "codes.bmp"
    path.write_bytes(data)
    with pytest.raises(ValueError) as own:  # the upload path names the file as uploaded
        custom_instance("GEU", "mental_tracking", None, str(path), "Which colour?", "a\nb\nc\nd", "A")
    assert str(own.value).startswith("Your own GEU image cannot be used: codes.bmp: a file of")


def test_honest_python_decoded_images_up_to_the_limits_are_read():
    bmp = open_checked(bmp_rle8(SIDE, SIDE, rows_of_runs(SIDE, SIDE, 7)))  # palette entry 7 is (7, 7, 7)
    assert bmp.size == (SIDE, SIDE) and bmp.getpixel((1023, 0)) == (7, 7, 7)
    quite = open_checked(qoi_runs(SIDE, SIDE))
    assert quite.size == (SIDE, SIDE) and quite.getpixel((500, 700)) == (10, 20, 30)
    grey = open_checked(b"P5\n4 2\n254\n" + bytes((0, 127, 254, 1, 2, 3, 4, 5)))
    assert grey.getpixel((1, 0)) == (128, 128, 128)  # round(127 / 254 * 255) = 128 (pgm(5): value / maxval)
    assert grey.getpixel((2, 0)) == (255, 255, 255)
    deep = open_checked(b"P6\n1 1\n4095\n" + struct.pack(">3H", 4095, 0, 2048))  # 16-bit samples, maxval 4095
    assert deep.getpixel((0, 0)) == (255, 0, 128)  # round(2048 / 4095 * 255) = round(127.53) = 128
    dds = open_checked(saved(Image.new("RGB", (64, 64), (200, 100, 50)), "DDS"))
    assert dds.getpixel((5, 5)) == (200, 100, 50)
    at_limit = b"P6\n%d %d\n254\n" % (SIDE, 1) + bytes(3 * SIDE)
    assert open_checked(at_limit).size == (SIDE, 1)


def test_c_decoded_files_of_the_same_formats_are_not_held_to_it():
    """An uncompressed BMP, a binary PPM of maxval 255 and a 16-bit SGI (decoded a band at a time in C) of
    2048x2048 are read as before."""
    big = Image.new("RGB", (2048, 2048), (30, 60, 90))
    assert open_checked(saved(big, "BMP")).getpixel((2047, 2047)) == (30, 60, 90)
    assert open_checked(saved(big, "PPM")).getpixel((0, 2047)) == (30, 60, 90)
    head = struct.pack(">hBBHHHH", 474, 0, 2, 2, 2048, 2048, 1)  # SGI: magic, verbatim, 2 bytes a sample, 2-D
    sgi = head + bytes(512 - len(head)) + b"\x80\x00" * (2048 * 2048)  # 32768 everywhere
    assert open_checked(sgi).getpixel((9, 9)) == (128, 128, 128)  # Pillow reads SGI as L, 0x8000's high byte


@pytest.mark.parametrize("magic", [b"P1", b"P2", b"P3"])
def test_a_plain_text_pbm_pgm_or_ppm_is_not_read(magic):
    """Pillow removes each comment in a plain raster by copying the rest of a 1 MiB block (a 1 MB file of them took
    10 s for a 16x16 picture); plain files are refused whatever their size."""
    body = {b"P1": b"P1\n2 2\n0 1\n1 0\n", b"P2": b"P2\n2 2\n255\n0 1\n#\n1 0\n",
            b"P3": b"P3\n1 1\n255\n9 9 9\n"}[magic]
    with pytest.raises(OverLimit, match="a plain \\(text\\) PBM/PGM/PPM \\(P1, P2 or P3\\) is not read here"):
        open_checked(body)


@pytest.mark.parametrize("padding", [b" ", b"#c"], ids=["spaces", "comment"])
def test_a_pnm_header_longer_than_the_limit_is_refused_before_it_opens(padding):
    filler = (padding * MAX_PNM_HEADER)[:MAX_PNM_HEADER]
    data = b"P6\n" + filler + b"\n2 2\n255\n" + bytes(12)
    with pytest.raises(OverLimit, match=f"header .* is longer than {MAX_PNM_HEADER:,} bytes"):
        open_checked(data)


def test_pnm_headers_up_to_the_limit_are_read():
    tail = b"\n3 1\n255\n" + bytes((250, 0, 0)) * 3
    comment = b"P6\n#" + b"c" * (MAX_PNM_HEADER - 4 - len(b"\n3 1\n255")) + tail  # header: 65,536 bytes
    assert comment.index(bytes((250, 0, 0))) == MAX_PNM_HEADER + 1  # then one whitespace byte, then the raster
    assert open_checked(comment).getpixel((2, 0)) == (250, 0, 0)
    spaces = b"P6" + b" " * (MAX_PNM_HEADER - 2 - len(b"3 1 255")) + b"3 1 255 " + bytes((0, 9, 0)) * 3
    assert open_checked(spaces).getpixel((0, 0)) == (0, 9, 0)
    gimp = b"P6\n# Created by GIMP version 2.10.38 PNM plug-in\n3 1\n255\n" + bytes((1, 2, 3)) * 3
    assert open_checked(gimp).getpixel((1, 0)) == (1, 2, 3)
