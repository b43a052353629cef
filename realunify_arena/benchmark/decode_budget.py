"""What one image decode costs in memory, estimated from the header alone (format, mode, size), before anything
decodes: the budget ``images.open_checked`` holds every decode to.

The costs are peak resident memory a pixel of one decode through ``open_checked`` (the decoded source, the
decoder's own buffers, the 8-bit RGB copy), measured per format and mode by ``bench/decode_memory.py`` (one
process per measurement, ``VmHWM``, 4000x4000 images; Pillow 12.3, 6 Dec 2026), rounded up to the next half
byte at least a quarter byte above. A mode the table does not list for its format costs the dearest of that
format's and that mode's; a format it does not list, the dearest of all.
"""

from __future__ import annotations

import math

# Interpreter and allocator noise around a decode (the bound the memory tests and RELIABILITY.md state).
DECODE_OVERHEAD = 32 * 2**20
# Bytes a pixel: (Pillow's format name, the mode the file opens as) -> measured peak, rounded up.
COSTS: dict[tuple[str, str], float] = {
    # measured: 1, L, P and 16/32-bit greyscale 5.0 (the source, then an L copy, then RGB); RGB 4.0 (one copy);
    # RGBA and CMYK 8.0 (the source and an RGB copy); LA 12.0 (LA, its RGBA and an RGB copy); a transparent
    # colour 9.0 (through RGBA; 12.0 for RGB); WebP 16.0 whatever the mode (libwebp's RGBA buffer, then Pillow's
    # copies); AVIF 9.2 and 11.7
    ("PNG", "1"): 5.5, ("PNG", "L"): 5.5, ("PNG", "LA"): 12.5, ("PNG", "P"): 5.5, ("PNG", "RGB"): 4.5,
    ("PNG", "RGBA"): 8.5, ("PNG", "I;16"): 5.5, ("PNG", "P+transparency"): 9.5, ("PNG", "L+transparency"): 9.5,
    ("PNG", "RGB+transparency"): 12.5,
    ("JPEG", "L"): 5.5, ("JPEG", "RGB"): 4.5, ("JPEG", "CMYK"): 8.5,
    ("BMP", "1"): 5.5, ("BMP", "L"): 5.5, ("BMP", "P"): 5.5, ("BMP", "RGB"): 4.5, ("BMP", "RGBA"): 8.5,
    ("GIF", "L"): 5.5, ("GIF", "P"): 5.5, ("GIF", "P+transparency"): 9.5,
    ("TIFF", "1"): 5.5, ("TIFF", "L"): 5.5, ("TIFF", "LA"): 12.5, ("TIFF", "P"): 5.5, ("TIFF", "RGB"): 4.5,
    ("TIFF", "RGBA"): 8.5, ("TIFF", "CMYK"): 8.5, ("TIFF", "I;16"): 5.5, ("TIFF", "I"): 5.5, ("TIFF", "F"): 5.5,
    ("TIFF", "LAB"): 12.5,
    ("WEBP", "RGB"): 16.5, ("WEBP", "RGBA"): 16.5,
    # JPEG 2000 as one tile (OpenJPEG holds every component as 32-bit integers); tiled 1024x1024 it costs what
    # PNG does, but the header Pillow reads does not say which, so the dearer is charged
    ("JPEG2000", "L"): 6.5, ("JPEG2000", "LA"): 15.0, ("JPEG2000", "RGB"): 20.0, ("JPEG2000", "RGBA"): 25.0,
    ("JPEG2000", "I;16"): 8.5,
    ("AVIF", "RGB"): 9.5, ("AVIF", "RGBA"): 12.0,
    ("PPM", "1"): 5.5, ("PPM", "L"): 5.5, ("PPM", "RGB"): 4.5, ("PPM", "I"): 5.5, ("PPM", "F"): 5.5,
    ("TGA", "L"): 5.5, ("TGA", "LA"): 12.5, ("TGA", "P"): 5.5, ("TGA", "RGB"): 4.5, ("TGA", "RGBA"): 8.5,
    ("QOI", "RGB"): 7.5, ("QOI", "RGBA"): 8.5,
    ("SGI", "L"): 5.5, ("SGI", "RGB"): 6.5, ("SGI", "RGBA"): 8.5,
    ("PCX", "L"): 5.5, ("PCX", "P"): 5.5, ("PCX", "RGB"): 4.5,
    ("IM", "L"): 5.5, ("IM", "RGB"): 4.5, ("IM", "I;16"): 5.5, ("IM", "F"): 5.5,
    ("DDS", "RGB"): 7.5, ("DDS", "RGBA"): 8.5,
}
# Other names Pillow gives a format whose decode is the same: a phone's JPEG with a second (depth, preview)
# picture opens as MPO.
SAME_AS = {"MPO": "JPEG"}
# The formats an image is opened as (``Image.open(..., formats=FORMATS)``): those whose decode cost is measured.
# Pillow tries every plugin it has otherwise, and some decode the whole picture while opening it, before any
# check of the header can run (ICO: a 250 KB file holding an 8000x8000 PNG reached 265 MB inside ``Image.open``).
# (Pillow's JPEG opener gives MPO files too.)
FORMATS = tuple(sorted({fmt for fmt, _ in COSTS}))


TRANSPARENT = "+transparency"  # after a mode without an alpha band whose header names a transparent colour


def key(mode: str, info: dict) -> str:
    """The table's mode for an image of ``mode`` whose header gave ``info`` (Pillow's ``Image.info``): a palette,
    greyscale or RGB image with a transparent colour is flattened through RGBA, so it costs more than its mode."""
    return mode + TRANSPARENT if "transparency" in info and "A" not in mode else mode


def cost(fmt: str | None, mode: str) -> float:
    """Bytes a pixel one decode of a ``fmt`` file that opens as ``mode`` (``key``) peaks at (``COSTS``); an
    unlisted mode costs the dearest of its format's and of that mode's in other formats (TGA LA, before it was
    listed, cost TGA's dearest, 8.5, and measured 12.0 as LA does everywhere), an unlisted format (or None)
    the dearest of the table."""
    fmt = SAME_AS.get(fmt, fmt)
    listed = COSTS.get((fmt, mode))
    if listed is not None:
        return listed
    of_either = [c for (f, m), c in COSTS.items() if f == fmt or m == mode]
    return max(of_either) if any(f == fmt for f, _ in COSTS) else max(COSTS.values())


def estimate(fmt: str | None, mode: str, size: tuple[int, int]) -> int:
    """Estimated peak bytes of decoding a ``size`` (width, height) ``fmt`` image of ``mode``: ``cost`` x pixels
    + ``DECODE_OVERHEAD``."""
    width, height = size
    return math.ceil(cost(fmt, mode) * width * height) + DECODE_OVERHEAD


def largest_pixels(fmt: str | None, mode: str, budget: int) -> int:
    """The most pixels a ``fmt`` image of ``mode`` may have for its estimate to stay within ``budget`` bytes."""
    return max(0, math.floor((budget - DECODE_OVERHEAD) / cost(fmt, mode)))


def over_budget(name: str, fmt: str | None, mode: str, size: tuple[int, int], budget: int, max_pixels: int) -> str | None:
    """Why the image ``name`` may not be decoded (its estimate is over ``budget`` bytes), or None when it may.
    The message names the file, its format, mode, size, the estimate and the budget in MB (10**6 bytes), and
    what to do: a format and mode whose decode fits at ``max_pixels``, or the size its own would fit at."""
    needed = estimate(fmt, mode, size)
    if needed <= budget:
        return None
    width, height = size
    fits = min(largest_pixels(fmt, mode, budget), max_pixels)
    cheap = [f for f in ("PNG", "JPEG") if largest_pixels(f, "RGB", budget) >= width * height]
    instead = f"save it as an RGB {' or '.join(cheap)} (no transparency), or " if cheap else ""
    shown = mode.replace(TRANSPARENT, " with a transparent colour")
    return (f"{name}: a {fmt or 'decoded'} image of mode {shown}, {width}x{height} ({width * height / 1e6:.1f} MP), "
            f"would need about {needed / 1e6:,.0f} MB of memory to decode, over the limit of "
            f"{budget / 1e6:,.0f} MB per image; {instead}scale it down to {fits / 1e6:.1f} MP or less")
