"""Images look as the person sees them: one normalisation path (``open_checked``) for your own uploads and
for dataset images, over modes, EXIF orientations 1-8 and formats.

Every expected pixel is computed here with numpy from the rules, not by the code under test: the test
builds the upright picture first, stores it turned by the inverse of an EXIF orientation with that tag
(what phones and editors write), and expects the upright picture back. The orientation meanings are the
EXIF 2.3 / TIFF 6.0 definitions of tag 274 (where row 0 and column 0 of the stored image are shown).
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from realunify_arena.benchmark import load
from realunify_arena.benchmark.custom import custom_instance
from realunify_arena.benchmark.images import open_checked

W, H, BLOCK = 48, 32, 16  # 3 x 2 blocks of 16 px (JPEG's 8x8/16x16 grid), wider than tall

# shown = SHOWN[o](stored): EXIF 2.3, tag 274. 1 as stored; 2 mirrored; 3 rotated 180; 4 flipped
# vertically; 5 row 0 is the left side, column 0 the top (transpose); 6 row 0 is the right side (turn
# 90 degrees clockwise to view); 7 row 0 is the right side, column 0 the bottom (transverse); 8 row 0 is
# the left side, column 0 the bottom (turn 90 degrees counter-clockwise to view).
SHOWN = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}
STORED = {o: f for o, f in SHOWN.items() if o not in (6, 8)} | {6: lambda a: np.rot90(a, 1),
                                                                8: lambda a: np.rot90(a, -1)}


def blocks(values) -> np.ndarray:
    """An H x W (x bands) array of 3 x 2 flat blocks, ``values`` row by row."""
    values = np.asarray(values)
    rows = [np.concatenate([np.full((BLOCK, BLOCK, *values.shape[1:]), v, dtype=values.dtype)
                            for v in values[r * 3:(r + 1) * 3]], axis=1) for r in range(2)]
    return np.concatenate(rows, axis=0)


def grey(levels) -> np.ndarray:
    return np.repeat(levels[..., None], 3, axis=-1).astype(np.uint8)


def over_white(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Straight alpha composited on white, rounded: c * a/255 + 255 * (1 - a/255)."""
    a = alpha.astype(np.float64)[..., None] / 255
    return np.rint(colour * a + 255 * (1 - a)).astype(np.uint8)


RGB6 = np.array([(255, 0, 0), (0, 160, 0), (0, 0, 255), (250, 220, 0), (0, 200, 210), (120, 40, 160)],
                dtype=np.uint8)
L6 = np.array([0, 40, 90, 140, 200, 255], dtype=np.uint8)
A6 = np.array([255, 0, 255, 128, 255, 0], dtype=np.uint8)
PALETTE = [(255, 0, 0), (0, 0, 255), (0, 160, 0), (250, 220, 0)]


def picture(mode: str) -> tuple[np.ndarray, object, np.ndarray]:
    """(stored upright pixels as an array, how to make the PIL image from such an array, expected RGB)."""
    if mode == "1":
        bits = blocks(np.array([1, 0, 1, 0, 0, 1], dtype=bool))
        return bits, lambda a: Image.fromarray(a).convert("1"), grey(np.where(bits, 255, 0))
    if mode == "L":
        levels = blocks(L6)
        return levels, Image.fromarray, grey(levels)
    if mode == "LA":
        la = blocks(np.stack([L6, A6], axis=1))
        return la, lambda a: Image.fromarray(a, "LA"), over_white(grey(la[..., 0]), la[..., 1])
    if mode == "P":  # palette with a transparent index (1: blue)
        index = blocks(np.array([0, 1, 2, 3, 1, 0], dtype=np.uint8))

        def make(a):
            im = Image.fromarray(a, "P")
            im.putpalette([c for rgb in PALETTE for c in rgb])
            im.info["transparency"] = 1
            return im

        colours = np.array(PALETTE, dtype=np.uint8)[index]
        colours[index == 1] = 255
        return index, make, colours
    if mode == "RGB":
        rgb = blocks(RGB6)
        return rgb, Image.fromarray, rgb
    if mode == "RGBA":
        rgba = blocks(np.concatenate([RGB6, A6[:, None]], axis=1))
        return rgba, lambda a: Image.fromarray(a, "RGBA"), over_white(rgba[..., :3], rgba[..., 3])
    if mode == "I;16":  # 16-bit: value * 255 // 65535, never by the image's own maximum (here 32768)
        values = blocks(np.array([0, 257, 16384, 20000, 32767, 32768], dtype=np.uint16))
        return values, Image.fromarray, grey(values.astype(np.int64) * 255 // 65535)
    if mode == "I":  # 32-bit integers: the 16-bit scale, clipped to 0-65535
        values = blocks(np.array([-500, 0, 16384, 65535, 70000, 40000], dtype=np.int32))
        return values, lambda a: Image.fromarray(a, "I"), grey(np.clip(values, 0, 65535).astype(np.int64)
                                                                * 255 // 65535)
    if mode == "F":  # 8-bit levels, the fraction dropped (as integer division does for 16-bit), clipped
        values = blocks(np.array([-3.0, 0.2, 100.25, 200.75, 254.6, 300.0], dtype=np.float32))
        return values, lambda a: Image.fromarray(a, "F"), grey(np.clip(np.floor(values), 0, 255))
    if mode == "CMYK":  # no black: R, G, B = 255 - C, M, Y
        cmy = blocks(np.array([(0, 255, 255), (255, 0, 255), (255, 255, 0), (10, 60, 200), (200, 10, 60),
                               (0, 0, 0)], dtype=np.uint8))
        cmyk = np.concatenate([cmy, np.zeros((*cmy.shape[:2], 1), np.uint8)], axis=-1)
        return cmyk, lambda a: Image.fromarray(a, "CMYK"), 255 - cmy
    raise AssertionError(mode)


def encode(image: Image.Image, fmt: str, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    options = {"exif": exif.tobytes()} if orientation != 1 else {}
    if fmt == "JPEG":
        options.update(quality=95, subsampling=0)
    if fmt == "WEBP":
        options.update(lossless=True)
    if fmt == "PNG" and image.mode == "P":
        options.update(transparency=1)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


FORMAT_MODES = {
    "PNG": ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"],
    "JPEG": ["L", "RGB", "CMYK"],
    "WEBP": ["RGB", "RGBA"],
    "TIFF": ["1", "L", "LA", "RGB", "RGBA", "I;16", "I", "F", "CMYK"],
}
CASES = [(fmt, mode, o) for fmt, modes in FORMAT_MODES.items() for mode in modes for o in range(1, 9)]


def assert_pixels(got: Image.Image, want: np.ndarray, lossy: bool) -> None:
    assert got.mode == "RGB"
    array = np.asarray(got)
    assert array.shape == want.shape, f"size {got.size}, expected {want.shape[1]}x{want.shape[0]}"
    if not lossy:
        np.testing.assert_array_equal(array, want)
        return
    # JPEG: each flat block's middle (away from the block edges the codec blurs) within 6 levels
    for y in range(BLOCK // 2, want.shape[0], BLOCK):
        for x in range(BLOCK // 2, want.shape[1], BLOCK):
            diff = np.abs(array[y, x].astype(int) - want[y, x].astype(int)).max()
            assert diff <= 6, f"pixel ({x}, {y}): got {array[y, x]}, expected {want[y, x]}"


@pytest.mark.parametrize("fmt, mode, orientation", CASES, ids=[f"{f}-{m}-o{o}" for f, m, o in CASES])
def test_an_image_arrives_upright_in_rgb_as_its_viewer_shows_it(fmt, mode, orientation):
    upright, make, want = picture(mode)
    stored = make(np.ascontiguousarray(STORED[orientation](upright)))
    assert stored.mode == mode
    data = encode(stored, fmt, orientation)
    with Image.open(io.BytesIO(data)) as reread:  # the file really holds the mode and the tag
        assert reread.getexif().get(0x0112, 1) == orientation
        if fmt != "JPEG" or mode != "L":
            assert reread.mode in (mode, "I;16B" if mode == "I;16" else mode, "RGB" if fmt == "WEBP" else mode)
    assert_pixels(open_checked(data), want, lossy=fmt == "JPEG")


@pytest.mark.parametrize("fmt, mode, orientation", CASES, ids=[f"{f}-{m}-o{o}" for f, m, o in CASES])
def test_an_image_file_arrives_upright_as_its_bytes_do(tmp_path, fmt, mode, orientation):
    """The same cases from a file path, as an upload (Gradio's upload folder) and a dataset image arrive: Pillow
    maps an uncompressed file whose stored bytes are its mode's (TIFF L, RGBA, I;16, CMYK) into memory instead of
    reading it, and Pillow 12.3's own orientation step on such a mapped TIFF left orientations 5-8 the wrong way
    round (48 x 32 where 32 x 48 was stored to be shown): 16 of these cases failed while their bytes passed."""
    upright, make, want = picture(mode)
    path = tmp_path / f"image.{fmt.lower()}"
    path.write_bytes(encode(make(np.ascontiguousarray(STORED[orientation](upright))), fmt, orientation))
    assert_pixels(open_checked(path), want, lossy=fmt == "JPEG")
    assert_pixels(open_checked(str(path)), want, lossy=fmt == "JPEG")


def test_the_orientation_table_is_its_own_check():
    """The test's own table: storing with STORED[o] and showing with SHOWN[o] gives the picture back."""
    a = np.arange(6).reshape(2, 3)
    for o in SHOWN:
        np.testing.assert_array_equal(SHOWN[o](STORED[o](a)), a)
    assert SHOWN[6](np.array([[1, 2]])).tolist() == [[1], [2]]  # clockwise: the left end goes on top


def test_a_gif_gives_its_first_frame_with_its_transparency_on_white():
    upright, make, want = picture("P")
    first = make(upright)
    second = Image.new("P", (W, H), 2)
    second.putpalette([c for rgb in PALETTE for c in rgb])
    buffer = io.BytesIO()
    first.save(buffer, format="GIF", save_all=True, append_images=[second], transparency=1, duration=50,
               loop=0)
    assert_pixels(open_checked(buffer.getvalue()), want, lossy=False)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "I;16"])
def test_the_phone_screenshot_case(tmp_path, mode):
    """The reported case (shared/cases/upload-exif-alpha): a 40x20 picture, red left half and blue right
    half, stored with orientation 6: shown 20 wide and 40 tall with red on top, through the upload path
    (a file path, as the browser sends it) and the dataset path alike."""
    landscape = np.zeros((20, 40, 3), np.uint8)
    landscape[:, :20] = (255, 0, 0)
    landscape[:, 20:] = (0, 0, 255)
    base = Image.fromarray(landscape)
    red_top, blue_bottom = (255, 0, 0), (0, 0, 255)
    if mode == "LA":  # grey by ITU-R 601-2 luma (L = 299 R + 587 G + 114 B over 1000): red 76, blue 29
        image, red_top, blue_bottom = base.convert("LA"), (76,) * 3, (29,) * 3
    elif mode == "P":  # red is palette index 0, made transparent: white on top
        image = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
        assert image.getpalette()[:3] == [255, 0, 0]
        red_top = (255, 255, 255)
    elif mode == "I;16":
        image = Image.fromarray(np.where(landscape[..., 0] > 0, 65535, 16384).astype(np.uint16))
        red_top, blue_bottom = (255,) * 3, (63,) * 3
    else:
        image = base.convert(mode)
    path = tmp_path / "screenshot.png"
    exif = Image.Exif()
    exif[0x0112] = 6
    image.save(path, exif=exif.tobytes(), **({"transparency": 0} if mode == "P" else {}))

    upload = custom_instance("GEU", "mental_tracking", None, str(path), "Which colour is on top?",
                             "red\nblue\ngreen\nblack", "A").open_image()
    (tmp_path / "image").mkdir()
    path.rename(tmp_path / "image" / "screenshot.png")
    (tmp_path / "GEU_direct.json").write_text(json.dumps([{
        "index": 0, "task_type": "mental_tracking", "input_image": "./image/screenshot.png",
        "question": "Which colour is on top?", "option": ["red", "blue", "green", "black"], "answer": "A"}]),
        encoding="utf-8")
    dataset = load(tmp_path)
    assert not dataset.problems, dataset.problems
    from_dataset = dataset.select("GEU", "all")[0].open_image()
    for got in (upload, from_dataset):
        assert got.size == (20, 40)
        assert got.getpixel((10, 2)) == red_top and got.getpixel((10, 37)) == blue_bottom
    assert np.array_equal(np.asarray(upload), np.asarray(from_dataset))


# An RGB ICC profile (v2, matrix/TRC) written here byte by byte from the ICC.1:2001-04 layout, so the test
# does not take the profile from the library under test: sRGB's D50 primaries with red and green exchanged.
# A pixel stored (255, 0, 0) under it is sRGB's green, and a colour-managed viewer shows it green.
SRGB_D50 = {"red": (0.4361, 0.2225, 0.0139), "green": (0.3851, 0.7169, 0.0971), "blue": (0.1431, 0.0606, 0.7141)}


def _icc_rgb_profile(red, green, blue, gamma: float = 2.2) -> bytes:
    import struct

    def s15(x):
        return struct.pack(">i", round(x * 65536))

    def xyz(x, y, z):
        return b"XYZ " + b"\0" * 4 + s15(x) + s15(y) + s15(z)

    name = b"red-green exchanged test profile\0"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(name)) + name + b"\0" * 78
    curve = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [(b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249)), (b"rXYZ", xyz(*red)), (b"gXYZ", xyz(*green)),
            (b"bXYZ", xyz(*blue)), (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve),
            (b"cprt", b"text" + b"\0" * 4 + b"none\0\0\0\0")]
    start, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", start + len(body), len(data))
        body += data
    header = (struct.pack(">I", start + len(body)) + b"\0" * 4 + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ "
              + b"\0" * 12 + b"acsp" + b"\0" * 28 + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 48)
    return header + struct.pack(">I", len(tags)) + table + body


ICC_CASES = [("PNG", "RGB"), ("PNG", "RGBA"), ("PNG", "P"), ("JPEG", "RGB"), ("WEBP", "RGB"), ("WEBP", "RGBA"),
             ("TIFF", "RGB")]


@pytest.mark.parametrize("fmt, mode", ICC_CASES, ids=[f"{f}-{m}" for f, m in ICC_CASES])
def test_an_embedded_colour_profile_is_applied_as_a_colour_managed_viewer_does(tmp_path, fmt, mode):
    """Stored red, green and blue blocks under the exchanged profile arrive as sRGB green, red and blue (a
    phone's Display P3 photo arrives as its viewer shows it, not with its numbers read as sRGB); the result
    carries no profile, so the stored PNG and what a model receives are the same sRGB pixels. The upload
    path (a file path) and the dataset path agree."""
    profile = _icc_rgb_profile(SRGB_D50["green"], SRGB_D50["red"], SRGB_D50["blue"])
    stored = np.zeros((BLOCK, 3 * BLOCK, 3), np.uint8)
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        stored[:, i * BLOCK:(i + 1) * BLOCK] = colour
    image = Image.fromarray(stored)
    image = image.convert(mode) if mode != "P" else image.quantize(colors=3, method=Image.Quantize.MAXCOVERAGE)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, icc_profile=profile, **({"quality": 100} if fmt in ("JPEG", "WEBP") else {}))
    with Image.open(io.BytesIO(buffer.getvalue())) as reread:
        assert reread.info.get("icc_profile") == profile  # the file really carries the profile
    got = open_checked(buffer.getvalue())
    shown = [(0, 255, 0), (255, 0, 0), (0, 0, 255)]
    for i, want in enumerate(shown):
        pixel = got.getpixel((i * BLOCK + BLOCK // 2, BLOCK // 2))
        assert max(abs(a - b) for a, b in zip(pixel, want)) <= 8, (i, pixel, want)
    assert "icc_profile" not in got.info
    path = tmp_path / f"photo.{fmt.lower()}"
    path.write_bytes(buffer.getvalue())
    upload = custom_instance("GEU", "mental_tracking", None, str(path), "Which colour is on the left?",
                             "red\nblue\ngreen\nblack", "C").open_image()
    assert np.array_equal(np.asarray(upload), np.asarray(got))


def test_an_srgb_or_unreadable_profile_leaves_the_pixels_as_they_are():
    """sRGB's own profile (nothing to convert) and a profile of garbage bytes change no pixel."""
    from PIL import ImageCms

    stored = Image.new("RGB", (16, 16), (200, 30, 90))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for profile in (srgb, b"not a profile at all" * 10):
        buffer = io.BytesIO()
        stored.save(buffer, format="PNG", icc_profile=profile)
        assert open_checked(buffer.getvalue()).getpixel((8, 8)) == (200, 30, 90)


def png_chunk_types(data: bytes) -> list[bytes]:
    """The chunk types of a PNG, in order (PNG specification, 5.3: length, type, data, CRC)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    types, at = [], 8
    while at < len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        types.append(data[at + 4:at + 8])
        at += 12 + length
    return types


@pytest.mark.parametrize("mode, kind", [("RGB", "sRGB"), ("RGB", "garbage"), ("L", "LAB"), ("RGB", "LAB")])
def test_a_profile_left_unapplied_is_not_stored_with_the_rgb_pixels(tmp_path, mode, kind):
    """A profile ``open_checked`` does not apply (sRGB's own, unreadable bytes, another colour space) is not
    carried on the RGB result, so the PNG stored for your own image holds no iCCP chunk. Before, the visitor's
    profile bytes were written into the stored PNG as they came: a greyscale or Lab profile on an RGB PNG (which
    the PNG specification, 11.3.3.3, does not allow for a colour image) and any unreadable bytes up to Pillow's
    1 MB chunk limit, in the file and in the instance's content hash."""
    from PIL import ImageCms

    from realunify_arena.benchmark.images import png_bytes

    profile = {"sRGB": lambda: ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
               "LAB": lambda: ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes(),
               "garbage": lambda: b"not a profile at all" * 50}[kind]()
    level = (200, 30, 90) if mode == "RGB" else 120
    path = tmp_path / "own.png"
    Image.new(mode, (16, 16), level).save(path, icc_profile=profile)
    with Image.open(path) as reread:
        assert reread.info.get("icc_profile") == profile  # the file really carries it
    got = open_checked(path)
    assert got.getpixel((8, 8)) == (level if mode == "RGB" else (level,) * 3)
    assert "icc_profile" not in got.info
    assert b"iCCP" not in png_chunk_types(png_bytes(got))
    instance = custom_instance("GEU", "mental_tracking", None, str(path), "Which colour?",
                               "red\nblue\ngreen\nblack", "C")
    assert b"iCCP" not in png_chunk_types(instance.image_bytes)
    caller = Image.new(mode, (16, 16), level)
    caller.info["icc_profile"] = profile
    open_checked(caller)
    assert caller.info["icc_profile"] == profile  # a caller's own image is left as it was
