"""One image decode is held to a memory budget estimated from the header (format, mode, size), not to a bare
pixel count.

Measured before (peak ``VmHWM`` of ``open_checked``, one process per 4000x4000 image): RGB PNG/JPEG 4 bytes a
pixel, RGBA 8, LA 12, WebP 16, untiled JPEG 2000 ~20; at the 64 MP pixel limit a WebP decode peaked at ~1 GB
and a JPEG 2000 at ~1.25 GB, against the documented "6 bytes a pixel + 32 MB" (~418 MB). The rule: refuse,
before decoding, an image whose estimate (the measured cost a pixel of its format and mode x pixels + 32 MiB)
is over 6 bytes a pixel x 64 MP + 32 MiB, so an RGB PNG or JPEG at the pixel limit still passes.

Expected values are hand-computed from the cost table as measured by ``bench/decode_memory.py`` (the numbers
are written here, not read from the code): PNG RGB 4.5, PNG LA 12.5, PNG P 5.5, PNG P with a transparent colour
9.5, WebP 16.5, JPEG RGB 4.5 bytes a pixel. No test decodes a large image: a PNG header claiming a large size
costs a few bytes, and the real decodes are 96x96.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from realunify_arena.benchmark import images
from realunify_arena.benchmark.custom import refused_upload
from realunify_arena.benchmark.images import ImageError, open_checked
from realunify_arena.benchmark.validation import check_image_file

MIB = 2**20
OVERHEAD = 32 * MIB  # the documented slack around a decode
BUDGET = 6 * 64_000_000 + OVERHEAD  # 6 bytes a pixel at the 64 MP limit + 32 MiB = 417,554,432 bytes


def png_header(width: int, height: int, colour_type: int, bit_depth: int = 8) -> bytes:
    """A PNG with its IHDR and IEND only: Pillow reads its size and mode, and it holds no pixel data
    (ISO/IEC 15948 11.2.2: colour type 2 RGB, 4 grey + alpha, 6 RGBA)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_the_budget_is_the_documented_bound_of_a_cheap_decode_at_the_pixel_limit():
    assert images.MAX_DECODE_BYTES == BUDGET


def test_a_grey_alpha_png_under_the_pixel_limit_but_over_the_budget_is_refused_from_its_header(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(png_header(7000, 7000, colour_type=4))  # LA, 49 MP: inside the 64 MP limit
    with pytest.raises(ImageError) as refused:
        open_checked(path)
    message = str(refused.value)
    # 12.5 x 49,000,000 + 33,554,432 = 646,054,432 bytes -> 646 MB; the limit 417,554,432 -> 418 MB;
    # LA fits at (417,554,432 - 33,554,432) / 12.5 = 30,720,000 pixels -> 30.7 MP; as RGB it fits at 64 MP
    assert message.startswith(f"{path}: ")
    for field in ("PNG", "mode LA", "7000x7000", "49.0 MP", "646 MB", "418 MB", "30.7 MP", "save it as an RGB PNG or JPEG"):
        assert field in message, (field, message)
    assert "unreadable" not in message  # refused before anything decodes, not for the missing pixel data


def test_an_rgb_png_or_jpeg_at_the_pixel_limit_is_still_within_the_budget(tmp_path):
    # 4.5 x 64,000,000 + 33,554,432 = 321,554,432 bytes, under 417,554,432: refused only for its missing pixels
    path = tmp_path / "limit.png"
    path.write_bytes(png_header(8000, 8000, colour_type=2))
    with pytest.raises(ImageError, match="unreadable image"):
        open_checked(path, max_decode_bytes=321_554_432)
    with pytest.raises(ImageError, match="would need about 322 MB"):  # one byte less: the estimate is exact
        open_checked(path, max_decode_bytes=321_554_431)
    from realunify_arena.benchmark.decode_budget import over_budget

    for fmt in ("PNG", "JPEG", "MPO"):  # MPO: a phone's JPEG with a second picture
        assert over_budget("x", fmt, "RGB", (8000, 8000), BUDGET, 64_000_000) is None


# A budget with room for 60,000 bytes of pixels: 96x96 = 9,216 pixels cost 41,472 (RGB PNG/JPEG at 4.5),
# 50,688 (P at 5.5), 87,552 (P with a transparent colour, 9.5) or 152,064 (WebP, 16.5) bytes.
SMALL = OVERHEAD + 60_000


@pytest.mark.parametrize(("fmt", "mode", "options", "allowed"), [
    ("PNG", "RGB", {}, True),
    ("JPEG", "RGB", {}, True),
    ("PNG", "P", {}, True),
    ("PNG", "P", {"transparency": 0}, False),
    ("WEBP", "RGB", {}, False),
    ("WEBP", "RGBA", {"lossless": True}, False),
])
def test_the_same_pixels_in_a_dearer_format_or_mode_are_refused_first(fmt, mode, options, allowed):
    picture = Image.new("RGBA", (96, 96), (40, 120, 200, 128))  # half transparent: RGBA stays RGBA
    data = encoded(picture.convert("RGB" if mode != "RGBA" else mode).convert(mode), fmt, **options)
    if allowed:
        out = open_checked(data, max_decode_bytes=SMALL)
        assert out.size == (96, 96) and out.mode == "RGB"
    else:
        with pytest.raises(ImageError, match=rf"^<image bytes>: a {fmt} image of mode {mode}.*96x96.*over the limit"):
            open_checked(data, max_decode_bytes=SMALL)


def test_the_module_budget_is_the_default(monkeypatch):
    data = encoded(Image.new("RGB", (96, 96), "white"), "WEBP")
    monkeypatch.setattr(images, "MAX_DECODE_BYTES", SMALL)
    with pytest.raises(ImageError, match="over the limit of 34 MB"):  # 33,614,432 bytes
        open_checked(data)


def test_an_upload_over_the_budget_is_refused_by_the_name_it_had_on_the_visitor_s_machine(tmp_path):
    path = tmp_path / "a1b2c3" / "upload.png"
    path.parent.mkdir()
    path.write_bytes(png_header(7000, 7000, colour_type=6))  # RGBA: 8.5 x 49 MP + 32 MiB = 450 MB
    refused = refused_upload(str(path), shown_name="holiday.png")
    assert refused is not None
    assert refused.reason.startswith("Your own GEU image cannot be used: holiday.png: a PNG image of mode RGBA, "
                                     "7000x7000 (49.0 MP), would need about 450 MB")
    assert "scale it down to 45.2 MP or less" in refused.reason  # 384,000,000 / 8.5 = 45,176,470
    assert "a1b2c3" not in refused.reason


def test_a_dataset_image_over_the_budget_is_a_problem_at_load_time(tmp_path):
    path = tmp_path / "scan.png"
    path.write_bytes(png_header(7000, 7000, colour_type=4))
    problem = check_image_file(path, file="geu.json", label="entry 3")
    assert problem is not None and "scan.png: a PNG image of mode LA" in problem.message
    assert "646 MB" in problem.message and "418 MB" in problem.message


def test_the_page_s_preview_of_a_large_image_is_scaled_down_and_a_small_one_is_left_alone():
    from realunify_arena.benchmark.images import preview

    wide = Image.new("RGB", (4096, 1024), (10, 200, 30))
    shown = preview(wide)
    assert shown.size == (2048, 512)  # 4096x1024 halved to fit 2048 px, the aspect kept
    assert shown.getpixel((1000, 300)) == (10, 200, 30)
    small = Image.new("RGB", (300, 200), "white")
    assert preview(small) is small and small.size == (300, 200)
    assert preview(None) is None


@pytest.mark.parametrize("fmt", ["ICO", "ICNS", "XBM", "PSD"])
def test_a_format_whose_cost_is_not_measured_is_not_opened(tmp_path, fmt):
    """Pillow's ICO plugin decodes the whole picture inside ``Image.open``, before any header check (verify24: a
    250 KB ICO holding an 8000x8000 PNG reached 265 MB there, outside the decode budget and the decode slots).
    Only the formats of the measured cost table are opened; any other is refused by name, for an upload and a
    dataset image alike. Before: each of these small files was opened and decoded."""
    path = tmp_path / f"small.{fmt.lower()}"
    if fmt == "PSD":  # Pillow writes no PSD: the smallest file its reader opens (header, empty sections, raw data)
        path.write_bytes(b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 2, 2, 8, 3) + bytes(4) * 3
                         + struct.pack(">H", 0) + bytes(12))
    else:
        Image.new("RGB" if fmt != "XBM" else "1", (32, 32)).save(path, fmt)
    with Image.open(path) as im:  # Pillow itself reads it
        assert im.format == fmt
    with pytest.raises(ImageError) as refused:
        open_checked(path)
    assert str(refused.value).startswith(f"{path}: {fmt} files are not read here (formats read here: ")
    assert "PNG" in str(refused.value) and "JPEG" in str(refused.value)
    problem = check_image_file(path, file="set.json", label="index 1")
    assert problem is not None and path.name in problem.message, problem
