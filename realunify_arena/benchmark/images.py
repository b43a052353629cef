"""Opening untrusted images: the one path every image takes (your own uploads, dataset images, images
models send back). ``open_checked`` enforces the pixel limit before decoding, decodes the first frame at
8 bits per channel, applies the EXIF orientation and an embedded colour profile, flattens transparency on
white and returns sRGB, or raises ``ImageError`` with a message that says why."""

from __future__ import annotations

import contextlib
import io
import mmap
import random
import re
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from realunify_arena.benchmark import decode_budget
from realunify_arena.text_files import NO_SUCH_FILE, path_fault

# 64 megapixels: far above any benchmark image (the largest AF images are ~4k x 4k), far below a bomb.
MAX_PIXELS = 64_000_000
# The largest file a visitor may upload to the app (Gradio's ``max_file_size``, checked as the upload arrives):
# a 64 MP photo is ~10-30 MB as JPEG; without a limit any visitor could fill the server's disk, where the
# database lives, at network speed (a 150 MB upload was stored in 0.3 s on loopback).
MAX_UPLOAD_BYTES = 64 * 2**20
# Header reads and full decodes at once, process-wide: each decode is held to ``MAX_DECODE_BYTES`` (below), so
# uploads can hold at most this many of those at once (tests/reliability/test_image_memory.py measures it).
MAX_CONCURRENT_DECODES = 2
# The most memory one decode may need, estimated from the header (``decode_budget.estimate``): what a cheap
# format (PNG/JPEG RGB, ~4.1 bytes a pixel measured) was documented to hold at the pixel limit, 6 bytes a
# pixel + 32 MB (416 MB at 64 MP); a dearer format (WebP, JPEG 2000, transparency) fits at fewer pixels.
MAX_DECODE_BYTES = 6 * MAX_PIXELS + decode_budget.DECODE_OVERHEAD
_decodes = threading.BoundedSemaphore(MAX_CONCURRENT_DECODES)

# The longest side of an input image as the page shows it (Explore's and the Arena's "Input image", 280 px high;
# its full-screen view on a 4K screen): a 64 MP upload sent whole was encoded as a 64 MP WebP for the page
# (~26 s and several hundred MB on 2 cores) for a picture shown 280 px high.
PREVIEW_SIDE = 2048

ORIENTATION = 0x0112  # the EXIF/TIFF tag
# How to turn an image stored with EXIF orientation 2-8 upright (TIFF 6.0 / EXIF 2.3, tag 274; the same
# table as Pillow's ``ImageOps.exif_transpose``, which Gradio applies to what it shows).
UPRIGHT = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}
WHITE = 255
_ORIENTATION_KEYS = ("exif", "xmp", "XML:com.adobe.xmp", "Raw profile type exif")  # where Pillow reads it


def decode_slot() -> threading.BoundedSemaphore:
    """One of the ``MAX_CONCURRENT_DECODES`` slots, as a context manager (``with decode_slot(): ...``), for code
    outside this module that opens an untrusted image with Pillow itself (Gradio's upload preprocessing reads the
    whole header, as ``open_checked`` does); not re-entrant: a holder must not call ``open_checked`` or
    ``check_header``, which take one too."""
    return _decodes


class ImageError(ValueError):
    """An image that cannot be used, with a message that says why."""


class OverLimit(ImageError):
    """An image refused for its size alone, from its header: over the pixel limit or the decode budget (it may
    well be a sound image, just too large to decode here)."""


def open_checked(source: str | Path | io.BytesIO | bytes | Image.Image, *,
                 max_pixels: int = MAX_PIXELS, max_decode_bytes: int | None = None,
                 owned: bool = False) -> Image.Image:
    """The image as the person sees it: RGB, 8 bits per channel, upright, on white.

    Rules (the same for every source, so an upload and a dataset image are treated alike):

    - size: ``width * height`` over ``max_pixels`` is refused from the header, before anything decodes;
    - memory: a file whose decode is estimated from its header (format, mode, size; ``decode_budget``, a
      measured cost table) to need more than ``max_decode_bytes`` (default ``MAX_DECODE_BYTES``) is refused
      before anything decodes, the message naming format, mode, size, estimate, limit and what to do;
    - slow decoders: a file Pillow would decode in Python (BMP RLE, QOI, RGB DDS, PGM/PPM of an odd maxval) over
      ``MAX_PYTHON_DECODE_PIXELS`` pixels or ``MAX_PYTHON_DECODE_BYTES`` bytes, a plain (text) PBM/PGM/PPM, and a
      PBM/PGM/PPM header over ``MAX_PNM_HEADER`` bytes are refused before anything decodes (``OverLimit``);
    - structure: a JPEG 2000 of more than ``MAX_J2K_TILES`` tiles or ``MAX_J2K_CODEBLOCKS`` code-blocks, and a TIFF
      whose first picture has more than ``MAX_TIFF_BLOCKS`` strips or tiles, are refused before anything decodes
      (``OverLimit``: each is set up or listed at a cost the picture's size does not say);
    - frames: the first frame of an animation (GIF, APNG, WebP) or the first page of a TIFF;
    - orientation: the EXIF orientation (tag 274, 1-8; also read from XMP by Pillow) is read from the file
      before any mode conversion and applied, as EXIF-aware viewers and Gradio show the image;
    - 16-bit and 32-bit integer greyscale (``I;16*``, ``I``): ``value * 255 // 65535``, values clipped to
      0-65535 (so 16384 -> 63, 32768 -> 127, 65535 -> 255; never scaled by the image's own maximum);
    - float greyscale (``F``): the values are 8-bit levels, the fraction dropped, clipped to 0-255 (Pillow's rule);
    - colour profile: an embedded RGB ICC profile (a phone's Display P3, Adobe RGB) is applied, converting
      the pixels to sRGB as colour-managed viewers and browsers show them, and the profile is dropped (the
      pixels are sRGB now); an sRGB profile, a profile of another colour space, or one that cannot be read
      leaves the pixels as they are (a browser ignores an invalid profile too); either way the result carries
      no profile;
    - transparency (alpha bands, a palette's or a colour's ``transparency``): composited over white;
    - everything else: Pillow's conversion to RGB (``1`` -> 0/255, ``CMYK`` -> RGB, palettes, YCbCr, LAB).

    At most ``MAX_CONCURRENT_DECODES`` decodes run at once (others wait); a decode holds about the decoded
    source plus one 8-bit copy, with no float intermediate.

    A PIL ``source`` that the rules leave unchanged (8-bit RGB, upright, no profile to apply) comes back as a
    copy, so the caller's object and the result stay apart; with ``owned`` (the caller hands ``source`` over
    and keeps no use of it: a model's fresh output) it comes back itself, saving that copy (3 bytes a pixel,
    12 MB at 2048x2048). The checks run either way.

    Raises:
        ImageError: the file is missing, over the limit, not an image, or unreadable; the message starts
            with the file name (``<image bytes>`` for bytes).
    """
    if isinstance(source, Image.Image):
        return _from_image(source, max_pixels, owned)
    name = str(source) if isinstance(source, (str, Path)) else "<image bytes>"
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    with _headed(source, name, max_pixels, max_decode_bytes) as im:  # holds a decode slot
        im.seek(0)  # first frame of an animation
        im.load()
        return normalised(im)


def check_header(path: str | Path, *, max_pixels: int = MAX_PIXELS, name: str | None = None,
                 verify: bool = False) -> None:
    """What ``open_checked`` refuses before decoding (a path naming no readable file, a format not read here, the
    pixel limit, the decode budget), checked from the header alone: for a file about to be opened by code that
    tries every Pillow plugin (Gradio's upload preprocessing), some of which decode the whole picture while
    opening it, and for every dataset image at load time (``validation.check_image_file``). With ``verify``,
    Pillow's integrity check of the file's structure (``Image.verify``: chunk checksums, a cut-off file) runs
    too, still without decoding the pixels.

    Raises:
        OverLimit: over the pixel limit or the decode budget (an ``ImageError``).
        ImageError: as ``open_checked``, the message starting with ``name`` (default ``path``).
    """
    name = str(path) if name is None else name
    with _headed(path, name, max_pixels, None) as im:
        if verify:
            try:
                im.verify()
            except Exception as e:  # noqa: BLE001 - any failure of the structure check means "unreadable"
                raise ImageError(f"{name}: unreadable image ({e})") from None


# what Pillow's readers raise on bytes that break their format while opening or decoding: OSError, SyntaxError and
# ValueError, and more: its decoders written in Python (QOI, BMP RLE, DDS, PPM) index and unpack past a cut-off or
# damaged stream (IndexError, struct.error, EOFError), and its AVIF reader reports libavif's failures as RuntimeError
READ_FAILURES = (OSError, SyntaxError, ValueError, IndexError, struct.error, EOFError, RuntimeError)


@contextlib.contextmanager
def _headed(source: str | Path | io.BytesIO, name: str, max_pixels: int,
            max_decode_bytes: int | None) -> Iterator[Image.Image]:
    """``source`` opened (header only) as one of ``decode_budget.FORMATS``, within the pixel limit and the decode
    budget; every failure, in the block too, as ``ImageError`` naming ``name``. Opening and the block hold one of
    the ``MAX_CONCURRENT_DECODES`` slots: Pillow reads every chunk before the pixels whole while it opens a file
    (a PNG's text and private chunks, a JPEG's APP markers), about three times the file's size held (+151 MB for
    a 52 MB PNG text chunk), and 8 header reads at once, outside any limit, rose by 1 GB."""
    if isinstance(source, (str, Path)):  # never opened unless a regular file: a named pipe would block for good
        fault = path_fault(source)
        if fault == NO_SUCH_FILE:
            raise ImageError(f"{name}: file not found")
        if fault is not None:
            raise ImageError(f"{name}: {fault}; expected an image file")
    signed = None  # the format the file's first bytes name, when Pillow cannot identify it all the same
    unread = None  # a format Pillow identifies from those bytes that is not read here (``unread_format``)
    try:
        with _decodes, warnings.catch_warnings(), contextlib.ExitStack() as files:
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if isinstance(source, (str, Path)):
                # read through a file object, never from a path: Pillow maps an uncompressed file named by path
                # into memory (TIFF L, RGBA, I;16, CMYK), and its own EXIF orientation step on such a mapped TIFF
                # (``TiffImageFile.load_end``, Pillow 12.3) left orientations 5-8 the wrong way round, where the
                # same bytes read from a file object come out upright
                source = files.enter_context(open(source, "rb"))
            check_scans(name, source)  # before Pillow's own walk over a JPEG's markers, which runs in Python
            check_blocks(name, source)  # likewise a PNG's chunks and a GIF's blocks
            check_pnm_header(name, source)  # and a PBM/PGM/PPM header, read a byte at a time
            check_tiles(name, source)  # a JPEG 2000 of many tiles, each set up by OpenJPEG as it reads the header
            check_tiff_blocks(name, source)  # a TIFF of many strips or tiles, each listed by Pillow as it opens it
            signed = signature_format(source)
            unread = unread_format(source)
            with Image.open(source, formats=decode_budget.FORMATS) as im:
                _check_size(name, im, max_pixels)
                check_budget(name, im, max_pixels, MAX_DECODE_BYTES if max_decode_bytes is None
                              else max_decode_bytes)
                check_python_decode(name, im, source)
                yield im
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow's own words name its own limit (89 or 179 MP), not this one: only its count of pixels is kept
        counted = re.match(r"Image size \((\d+) pixels\)", str(e))
        said = f"{int(counted.group(1))} pixels" if counted else "a size Pillow refuses to open"
        raise OverLimit(f"{name}: over the pixel limit of {max_pixels} ({said})") from None
    except UnidentifiedImageError:
        if signed is not None:  # a download or copy cut short: "not an image file" would send one to convert it
            raise ImageError(f"{name}: a {signed} file cut short or damaged before its picture (its header cannot be"
                             " read); save or download it again") from None
        if unread is not None:  # "not an image file" would be untrue: Pillow reads the format, this app does not
            raise ImageError(f"{name}: {unread} files are not read here (formats read here: "
                             f"{', '.join(decode_budget.FORMATS)}); save the image as PNG or JPEG") from None
        raise ImageError(f"{name}: not an image file Pillow can read (formats read here: "
                         f"{', '.join(decode_budget.FORMATS)})") from None
    except READ_FAILURES as e:
        raise ImageError(f"{name}: unreadable image ({e})") from None


def _from_image(image: Image.Image, max_pixels: int, owned: bool) -> Image.Image:
    """A Python caller's decoded image, through the same rules (it is not closed); unchanged by them, a copy
    unless ``owned``."""
    _check_size("<image>", image, max_pixels)
    with _decodes:
        image.load()
        out = normalised(image, close_source=False)
    return out.copy() if out is image and not owned else out


def _check_size(name: str, im: Image.Image, max_pixels: int) -> None:
    w, h = im.size
    if w * h > max_pixels:
        raise OverLimit(f"{name}: {w}x{h} = {w * h} pixels is over the limit of {max_pixels}")
    if w == 0 or h == 0:
        raise ImageError(f"{name}: image has zero size")


def check_budget(name: str, im: Image.Image, max_pixels: int, budget: int) -> None:
    """Raises ``ImageError`` (``decode_budget.over_budget``'s message) when decoding ``im`` (opened, not yet
    decoded) is estimated from its header to need more than ``budget`` bytes."""
    mode = decode_budget.key(im.mode, im.info)
    why = decode_budget.over_budget(name, im.format, mode, im.size, budget, max_pixels)
    if why is not None:
        raise OverLimit(why)


# The most scans a JPEG may have. Each scan of a progressive JPEG is a pass over the whole picture's coefficients,
# so a small file that repeats one scan decodes for as long as it likes (the second of "Two Issues with the JPEG
# Standard", libjpeg-turbo, 2019; its djpeg has -maxscans and TurboJPEG TJPARAM_SCANLIMIT for this): a 172 KB
# 16 MP file with 1,010 scans took 9 s, ~9 ms a scan, and a 64 MiB upload holds 2 million 31-byte scans. Encoders
# write 1 (baseline) to about 10 (libjpeg's progressive script; mozjpeg's optimised ones stay under 70).
MAX_JPEG_SCANS = 100
# The most markers (segments) a JPEG may have. Walking them is Python work (here, and Pillow's header parser before
# the first scan), ~0.3-0.6 us each, so a 64 MiB file of 4-byte comment segments held a decode slot for 5 s here
# and 10 s in Pillow's open, where libjpeg reads it in 0.1 s. Real files hold tens to a few hundred (an ICC profile
# is at most 255 APP2 chunks; 64 MiB of extended XMP is ~1,000 APP1 segments; a scan brings 1-3 table segments).
MAX_JPEG_MARKERS = 10_000
# The most bytes a JPEG may hold between segments that are no part of one (0xFF fill bytes, junk libjpeg skips with
# a warning). Pillow's header parser skips them one byte at a time in Python before the first scan (8 MiB of 0xFF:
# 1.8 s in its open, so a 64 MiB upload ~14 s holding a decode slot); encoders write none or a few.
MAX_JPEG_SKIPPED = 2**20
# The next marker as libjpeg's ``next_marker`` (jdmarker.c) finds it: bytes other than 0xFF are skipped (with a
# warning, "extraneous bytes before marker"), so is 0xFF 0x00, and a run of 0xFF fill bytes comes before the code
# (T.81 B.1.1.2): the last 0xFF of the run and the code. Never ``\xff+`` before the code: tried at each byte of a
# long run of 0xFF, it backtracks over the rest (quadratic: 40,000 fill bytes took 11 s).
_NEXT_MARKER = re.compile(rb"\xff([^\x00\xff])")
_ENTROPY_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")  # the next marker: 0xFF not stuffing (00) or restart (RSTn)


def jpeg_scans(data, *, stop_after: int | None = None) -> int:
    """The start-of-scan (SOS) markers of the JPEG in ``data`` (bytes, or a buffer such as an ``mmap``), counted by
    its structure (ITU-T T.81, B.1.1 and B.2: each marker but SOI, EOI, TEM and RSTn starts a segment with a 2-byte
    length; after an SOS segment comes entropy-coded data, in which 0xFF is followed only by 0x00 or RSTn), so a
    marker's bytes inside a segment (an EXIF thumbnail's own scan) are not counted; between segments, bytes that
    are no marker are skipped as libjpeg skips them. Stops at EOI, at the end, or once the count is over
    ``stop_after``."""
    return _jpeg_walk(data, stop_after, None)[0]


def _jpeg_walk(data, max_scans: int | None, max_markers: int | None,
               max_skipped: int | None = None) -> tuple[int, int, int]:
    """(scans, markers, bytes skipped between segments) of the JPEG in ``data``, as ``jpeg_scans`` walks it; stops
    once any is over its limit."""
    scans, markers, skipped, at = 0, 0, 0, 2
    while True:
        found = _NEXT_MARKER.search(data, at)
        if found is None:
            return scans, markers, skipped
        markers += 1
        skipped += found.start() - at
        if (max_markers is not None and markers > max_markers) or (max_skipped is not None and skipped > max_skipped):
            return scans, markers, skipped
        marker, at = found.group(1)[0], found.end()
        if marker == 0xD9:
            return scans, markers, skipped
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue
        at += int.from_bytes(data[at:at + 2], "big")
        if marker == 0xDA:
            scans += 1
            if max_scans is not None and scans > max_scans:
                return scans, markers, skipped
            entropy_end = _ENTROPY_END.search(data, at)
            if entropy_end is None:
                return scans, markers, skipped
            at = entropy_end.start()


@contextlib.contextmanager
def _whole(fp) -> Iterator[bytes | mmap.mmap]:
    """The whole of the binary file object ``fp``: mapped, not copied, where it can be (a file on disk), else read
    (a BytesIO); moves ``fp``'s position."""
    try:
        data = mmap.mmap(fp.fileno(), 0, access=mmap.ACCESS_READ)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):  # a BytesIO: its own buffer
        fp.seek(0)
        data = fp.read()
    try:
        yield data
    finally:
        if isinstance(data, mmap.mmap):
            data.close()


def check_scans(name: str, fp) -> None:
    """Raises ``OverLimit`` when the file ``fp`` (a binary file object, read from its start, whatever its position,
    as ``Image.open`` reads it) is a JPEG (or MPO) of more than ``MAX_JPEG_SCANS`` scans or more than
    ``MAX_JPEG_MARKERS`` markers, or more than ``MAX_JPEG_SKIPPED`` bytes between segments; reads it mapped, not
    copied, where it can, and leaves its position as it was. Other files pass unread but for 3 bytes."""
    where = fp.tell()
    try:
        fp.seek(0)
        if fp.read(3) != b"\xff\xd8\xff":  # SOI and a marker: what Pillow's JPEG plugin accepts
            return
        with _whole(fp) as data:
            scans, markers, skipped = _jpeg_walk(data, MAX_JPEG_SCANS, MAX_JPEG_MARKERS, MAX_JPEG_SKIPPED)
    finally:
        fp.seek(where)
    _refuse_first_over(name, (
        (scans, MAX_JPEG_SCANS, f"a JPEG of more than {MAX_JPEG_SCANS} scans is over the limit (each scan is a pass "
         "over the whole picture, so its decode would take far longer than its size says); save it again as a "
         "baseline or ordinary progressive JPEG, or as a PNG"),
        (markers, MAX_JPEG_MARKERS, f"a JPEG of more than {MAX_JPEG_MARKERS:,} markers (segments) is over the limit "
         "(real files hold a few hundred at most; reading them would take far longer than its size says); save it "
         "again as a JPEG or PNG"),
        (skipped, MAX_JPEG_SKIPPED, f"a JPEG of more than {MAX_JPEG_SKIPPED:,} bytes between its segments that belong "
         "to none (fill or junk bytes; encoders write none or a few) is over the limit; save it again as a JPEG or "
         "PNG"),
    ))


def _refuse_first_over(name: str, counts) -> None:
    """Raises ``OverLimit`` ("``name``: says") for the first (count, limit, says) of ``counts`` over its limit."""
    for count, limit, says in counts:
        if count > limit:
            raise OverLimit(f"{name}: {says}")


# The most chunks a PNG may have. Pillow reads each chunk in Python, keeping each private one (a list entry, ~120
# bytes for a 12-byte empty chunk), before the picture and after it, and each IDAT chunk is a pass of its decode loop:
# 48 MB of 4 million empty chunks took 12 s and 485 MB in Pillow, 48 MB of empty IDAT chunks 10 s (hunting upload27).
# Real files hold a few to a few dozen, and their picture in IDAT chunks of 8 KiB (libpng) to 64 KiB (Pillow) or one
# chunk: 8,192 for a 64 MiB file of 8 KiB chunks; at this limit Pillow needs ~0.3 s and ~12 MB.
MAX_PNG_CHUNKS = 100_000
# The most blocks a GIF may have before its first picture (extensions, each a label and data sub-blocks of up to 255
# bytes), and the most comment bytes among them. Pillow reads them in Python, joining a comment's sub-blocks and a
# frame's comments one copy at a time, so the cost grows with the square of their count: a 1 MB file of 200,000
# one-byte comments took 4.3 s, a 2.5 MB comment of 10,000 sub-blocks 4.9 s, a 10 MB one over a minute (upload27).
# Other blocks cost it a pass of a loop each, in line with their number: 1,000,000 graphic control extensions (2
# million blocks) took 0.75 s. Real files hold a few extensions (loop count, transparency) and a comment of a line or
# two, and XMP: its packet is written raw (XMP specification part 3, 1.1.2), each byte that lands where a sub-block's
# length would be read as one, a block per ~80 bytes of packet; a Photoshop packet grown by its document ancestors
# to 1.4 MB is 17,500 blocks (a limit of 10,000 refused it). At this limit the walk needs ~0.3 s, Pillow under 0.4 s,
# and an XMP packet as large as an upload (``MAX_UPLOAD_BYTES``) passes.
MAX_GIF_BLOCKS = 1_000_000
MAX_GIF_COMMENT = 2**16
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunks(fp, *, stop_after: int | None = None) -> int:
    """The chunks of the PNG in ``fp`` (a binary file object at the first chunk, after the signature), counted by
    their structure (ISO/IEC 15948, 5.3: a 4-byte length, a 4-byte type, the data and a 4-byte CRC) up to IEND or
    the end of the file, without reading their data; stops once the count is over ``stop_after``."""
    chunks = 0
    while stop_after is None or chunks <= stop_after:
        head = fp.read(8)
        if len(head) < 8:
            return chunks
        chunks += 1
        if head[4:] == b"IEND":
            return chunks
        fp.seek(int.from_bytes(head[:4], "big") + 4, io.SEEK_CUR)
    return chunks


def gif_blocks(fp, *, max_blocks: int | None = None, max_comment: int | None = None) -> tuple[int, int]:
    """(blocks, comment bytes) of the GIF in ``fp`` (a binary file object at its start) before its first picture
    (an image descriptor), by its structure (GIF89a, sections 17-18 and 23-24: after the header, the logical screen
    descriptor and its colour table, extension blocks of a label and data sub-blocks, each a length byte and that
    many bytes, ended by an empty one): each extension and each non-empty sub-block is a block; a comment's bytes
    count its sub-blocks' data and one for the line Pillow puts between two comments. Stops once either is over
    its limit."""
    head = fp.read(13)
    if len(head) < 13:
        return 0, 0
    if head[10] & 0x80:  # a global colour table of 3 x 2^(N+1) bytes
        fp.seek(3 << ((head[10] & 7) + 1), io.SEEK_CUR)
    blocks = comment = 0
    while (max_blocks is None or blocks <= max_blocks) and (max_comment is None or comment <= max_comment):
        introducer = fp.read(2)
        if len(introducer) < 2 or introducer[:1] != b"!":  # a picture, the trailer, the end or junk: Pillow's concern
            return blocks, comment
        blocks += 1
        is_comment = introducer[1] == 0xFE
        comment += is_comment
        while True:
            size = fp.read(1)
            if not size or not size[0]:
                break
            blocks += 1
            comment += size[0] if is_comment else 0
            fp.seek(size[0], io.SEEK_CUR)
            if max_blocks is not None and blocks > max_blocks:
                break
    return blocks, comment


def _head(fp, size: int) -> bytes:
    """The first ``size`` bytes of the file ``fp`` (fewer for a shorter file), its position left as it was."""
    where = fp.tell()
    try:
        fp.seek(0)
        return fp.read(size)
    finally:
        fp.seek(where)


_SIGNATURES = ((_PNG_SIGNATURE, "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"), (b"\xff\xd8\xff", "JPEG"))


def signature_format(fp) -> str | None:
    """"PNG", "GIF" or "JPEG" when the file ``fp`` (a binary file object, read from its start, its position left as
    it was) starts with that format's signature (ISO/IEC 15948 5.2; GIF89a 17; JPEG's SOI marker and the next
    marker's first byte), else None."""
    head = _head(fp, 8)
    return next((kind for signature, kind in _SIGNATURES if head.startswith(signature)), None)


def unread_format(fp) -> str | None:
    """The format of a file ``fp`` (a binary file object, read from its start, its position left as it was) that
    Pillow would identify as one not read here (not in ``decode_budget.FORMATS``: an ICO, a PSD, an EPS), else None.
    Nothing is opened: each of Pillow's plugins' own identification test (``Image.OPEN``'s accept functions, on the
    file's first 16 bytes, as ``Image.open`` tries them in ``Image.ID``'s order) is asked; a plugin with no such
    test (it identifies a file only by parsing it) is not, and a test that fails on a short file counts as a no,
    as ``Image.open`` takes it."""
    prefix = _head(fp, 16)
    Image.init()
    for fmt in Image.ID:
        accept = Image.OPEN[fmt][1]
        if fmt in decode_budget.FORMATS or accept is None:
            continue
        try:
            said = accept(prefix)
        except (SyntaxError, IndexError, TypeError, struct.error):  # what Image.open's own tries catch
            continue
        if said and not isinstance(said, str):  # a text is Pillow's "this variant is not supported": no answer
            return fmt
    return None


def check_blocks(name: str, fp) -> None:
    """Raises ``OverLimit`` when the file ``fp`` (a binary file object, read from its start, whatever its position,
    as ``Image.open`` reads it) is a PNG of more than ``MAX_PNG_CHUNKS`` chunks, or a GIF of more than
    ``MAX_GIF_BLOCKS`` blocks or ``MAX_GIF_COMMENT`` comment bytes before its first picture; leaves its position as
    it was. Other files pass unread but for 8 bytes. ``name``: the file as the message names it (``"<name>: a PNG
    of more than 100,000 chunks ..."``).

    Raises:
        OverLimit: the first limit the file is over, as above.
        OSError: ``fp`` cannot be read or sought.
    """
    where = fp.tell()
    try:
        fp.seek(0)
        signature = fp.read(8)
        if signature == _PNG_SIGNATURE:
            chunks = png_chunks(fp, stop_after=MAX_PNG_CHUNKS)
            blocks = comment = 0
        elif signature[:6] in (b"GIF87a", b"GIF89a"):
            fp.seek(0)
            blocks, comment = gif_blocks(fp, max_blocks=MAX_GIF_BLOCKS, max_comment=MAX_GIF_COMMENT)
            chunks = 0
        else:
            return
    finally:
        fp.seek(where)
    _refuse_first_over(name, (
        (chunks, MAX_PNG_CHUNKS, f"a PNG of more than {MAX_PNG_CHUNKS:,} chunks is over the limit (real files hold a "
         "few dozen; reading them would take far longer than its size says); save it again as a PNG or JPEG"),
        (blocks, MAX_GIF_BLOCKS, f"a GIF of more than {MAX_GIF_BLOCKS:,} blocks before its first picture is over the "
         "limit (real files hold a few, or some thousands in a large XMP packet; reading them would take far longer "
         "than its size says); save it again as a GIF or PNG"),
        (comment, MAX_GIF_COMMENT, f"a GIF of more than {MAX_GIF_COMMENT:,} bytes of comments before its first "
         "picture is over the limit (reading them takes time that grows with their square); save it again without "
         "the comments, or as a PNG"),
    ))


# The most tiles a JPEG 2000 may have. OpenJPEG sets up every tile's coding parameters while it reads the header,
# whatever the tiles hold: ~11.5 KB a tile of 3 components, so a 2.3 MB file of a flat 1 MP picture cut into 65,280
# tiles of 4x4 took 785 MB and 1.7 s in ``open_checked`` (hunt28a; one tile: 45 MB, 0.14 s), twice the decode
# budget its 1 MP header is held to, and the same at any picture size (the count, not the pixels, costs). Real files
# hold one tile, or a few hundred (GDAL's JP2OpenJPEG writes 1024x1024 tiles: 64 for 64 MP; 3,906 of 128x128 there).
MAX_J2K_TILES = 4096
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"  # ISO/IEC 15444-1 I.5.1: the JPEG 2000 signature box
_J2K_START = b"\xff\x4f\xff\x51"  # a codestream's SOC marker, then its SIZ marker (ISO/IEC 15444-1 A.4.1, A.5.1)


# The most code-blocks a JPEG 2000 may have. OpenJPEG sets up every code-block of a tile (its state, segment and
# chunk records) before decoding it, ~400 bytes apiece whatever it holds, and the encoder chooses their size (ISO/IEC
# 15444-1 A.6.1, SPcod/SPcoc: 4x4 to 1024x1024 samples, and no larger than half a precinct above the lowest
# resolution, so small precincts make small code-blocks too): a 42 KB file of a flat 19 MP picture in 4x4 code-blocks
# took 1.75 GB and 3.9 s to open (hunt28a), four times the decode budget its 19 MP header is held to, and a 1 MP one
# 73 MB over the 45 MB of the same picture in 64x64 code-blocks (bench: ~390 bytes a code-block, 4x4 and 8x8 alike).
# Encoders write 64x64 (OpenJPEG's, Kakadu's and Pillow's default) or 32x32: at the largest JPEG 2000 the decode
# budget lets through (19 MP RGB, 64 MP greyscale), 32x32 makes ~56,000 and ~63,000; this limit (~52 MB of them)
# lets those through and refuses 16x16 blocks from about 11 MP of RGB up.
MAX_J2K_CODEBLOCKS = 2**17
# The most marker segments and tile-parts of a JPEG 2000 walked for the code-block size (a coding style may be set in
# the main header and again in any tile-part header, and OpenJPEG reads it from either): each costs a few
# microseconds here, and real files hold a few per tile-part and one to a few dozen tile-parts a tile (one a
# resolution level), well under this many at the tile limit.
MAX_J2K_SEGMENTS = 2**17
# Pillow's JPEG 2000 decoder (``Jpeg2KDecode.c``) refuses a codestream of more than 4 components once OpenJPEG has
# read its main header, before any tile (and any code-block) is set up: the later ones cost nothing.
_J2K_MAX_COMPONENTS = 4
_COD, _COC, _SOT, _SOD, _EOC = 0xFF52, 0xFF53, 0xFF90, 0xFF93, 0xFFD9  # ISO/IEC 15444-1 Table A.2


def _j2k_start(fp) -> int | None:
    """Where the codestream of the JPEG 2000 in ``fp`` starts (its SOC marker): 0 for a raw codestream, or just inside
    a JP2 file's first contiguous codestream box (``jp2c``, ISO/IEC 15444-1 I.5.4), found by walking its top-level
    boxes (I.4: a 4-byte length, 1 for an 8-byte one after the type, 0 for "to the end"); None when ``fp`` holds no
    JP2 codestream box. Moves ``fp``'s position.

    Raises:
        ValueError: a JP2 box before the codestream says it runs past the end of the file (its length, up to
            2**64 - 1 in an XLBox, is no offset a file has: seeking there raised OverflowError, here and in
            Pillow's own box reader); the message names the box and both sizes.
    """
    end = fp.seek(0, io.SEEK_END)
    fp.seek(0)
    if fp.read(12) != _JP2_SIGNATURE:
        return 0
    start = 12
    while True:
        fp.seek(start)
        box = fp.read(16)
        if len(box) < 8:
            return None
        length, kind = struct.unpack(">I4s", box[:8])
        body = 8
        if length == 1 and len(box) == 16:
            length, body = struct.unpack(">Q", box[8:16])[0], 16
        if kind == b"jp2c":
            return start + body
        if length < body:  # 0 ("to the end") or malformed: no codestream box after it
            return None
        if start + length > end:
            raise ValueError(f"its {kind.decode('latin-1')!r} box of {length:,} bytes at byte {start:,} runs "
                             f"past the end of the file ({end:,} bytes)")
        start += length


@contextlib.contextmanager
def _j2k_siz(fp) -> Iterator[tuple[int, bytes] | None]:
    """The start of the codestream in ``fp`` (``_j2k_start``) and its first 42 bytes (SOC, SIZ, Lsiz, Rsiz, the 8
    sizes and offsets, Csiz; ISO/IEC 15444-1 A.5.1), or None when it has none; ``fp``'s position is put back as it
    was after the block.

    Raises:
        ValueError: as ``_j2k_start``.
    """
    where = fp.tell()
    try:
        start = _j2k_start(fp)
        siz = b""
        if start is not None:
            fp.seek(start)
            siz = fp.read(42)
        yield (start, siz) if len(siz) == 42 and siz.startswith(_J2K_START) else None
    finally:
        fp.seek(where)


def j2k_tiles(fp) -> int | None:
    """The tiles of the JPEG 2000 in ``fp`` (a binary file object, read from its start, its position left as it was),
    from its SIZ marker segment (ISO/IEC 15444-1 A.5.1: ceil((Xsiz - XTOsiz) / XTsiz) x ceil((Ysiz - YTOsiz) /
    YTsiz)): a raw codestream, or a JP2 file's first contiguous codestream box (``_j2k_start``). None when ``fp`` is
    no JPEG 2000 or its SIZ cannot be read (Pillow then says what is wrong), or a tile side is 0.

    Raises:
        ValueError: a JP2 box before the codestream runs past the end of the file (``_j2k_start``).
    """
    with _j2k_siz(fp) as found:
        if found is None:
            return None
        xsiz, ysiz, _, _, xtsiz, ytsiz, xtosiz, ytosiz = struct.unpack(">8I", found[1][8:40])
        if not xtsiz or not ytsiz or xsiz <= xtosiz or ysiz <= ytosiz:
            return None
        return -(-(xsiz - xtosiz) // xtsiz) * -(-(ysiz - ytosiz) // ytsiz)


def _coding_style(body: bytes, coc: bool, components: int) -> tuple[int, list[tuple[int, int]]] | None:
    """A COD or COC marker segment's body (after its length; ISO/IEC 15444-1 A.6.1, A.6.2) as (decomposition levels,
    the code-block width and height exponents at each resolution level, 0 the lowest), each exponent the smaller of
    the code-block's (``xcb + 2``) and what the precinct allows (its own exponent at level 0, one less above: B.7);
    None for a body too short or values the standard does not allow (OpenJPEG refuses those itself). A COC
    (``coc``) starts with its component's index, 1 byte, or 2 for a codestream of ``components`` over 256."""
    if coc:
        body = body[(1 if components < 257 else 2):]
    if len(body) < 6:
        return None
    scod, spcod = body[0], body[1:] if coc else body[5:]  # a COD: SGcod (progression, layers, transform) first
    if len(spcod) < 5:
        return None
    levels, xcb, ycb = spcod[0], spcod[1] + 2, spcod[2] + 2
    if levels > 32 or xcb > 10 or ycb > 10 or xcb + ycb > 12:
        return None
    precincts = [(15, 15)] * (levels + 1)  # no precincts given: 2**15 each way
    if scod & 1:
        given = spcod[5:6 + levels]
        if len(given) < levels + 1:
            return None
        precincts = [(b & 0x0F, b >> 4) for b in given]
    exponents = [(min(xcb, ppx - (r > 0)), min(ycb, ppy - (r > 0))) for r, (ppx, ppy) in enumerate(precincts)]
    # a precinct of exponent 0 above the lowest level (A.6.1 allows it only there): OpenJPEG refuses the tile
    return None if min(min(e) for e in exponents) < 0 else (levels, exponents)


def _codeblocks(width: tuple[int, int], height: tuple[int, int], style) -> int:
    """The code-blocks of one component spanning ``width`` x ``height`` (start, end on the reference grid) coded in
    ``style`` (``_coding_style``): over each resolution level and its subbands (one at the lowest, three above, the
    level's area less the one below: B.5), ceil(band side / code-block side) each way; tile and precinct borders,
    which only add blocks, are left out, so this is the fewest the file can make."""
    levels, exponents = style

    def side(at: tuple[int, int], n: int) -> int:
        return max(0, -(-at[1] >> n) - -(-at[0] >> n))  # ceil(end / 2**n) - ceil(start / 2**n)

    total = 0
    for r, (xe, ye) in enumerate(exponents):
        n = levels - r
        w, h = side(width, n), side(height, n)
        if r == 0:
            bands = ((w, h),)
        else:
            lw, lh = side(width, n + 1), side(height, n + 1)
            bands = ((w - lw, lh), (lw, h - lh), (w - lw, h - lh))
        total += sum(-(-bw >> xe) * -(-bh >> ye) for bw, bh in bands)
    return total


def j2k_codeblocks(fp) -> tuple[int, int, tuple[int, int]]:
    """(code-blocks, marker segments and tile-parts walked, the smallest code-block's width and height in samples)
    of the JPEG 2000 in ``fp`` (a binary file object, read from its start, mapped where it can be, its position left
    as it was). The coding styles are those of every COD and COC marker segment of its main header and of each
    tile-part header (ISO/IEC 15444-1 A.6.1, A.6.2); each of its first 4 components (``_J2K_MAX_COMPONENTS``) counts
    the code-blocks (``_codeblocks``) of the style, given for it or for every component, that makes the most. The
    walk follows each tile-part's Psot (A.4.2) and stops after ``MAX_J2K_SEGMENTS`` segments, at the end of the
    codestream (EOC, a tile-part running to the end) or at anything damaged (Pillow and OpenJPEG then say what is
    wrong). (0, 0, (0, 0)) for a file that is no JPEG 2000 or whose SIZ cannot be read.

    Raises:
        ValueError: a JP2 box before the codestream runs past the end of the file (``_j2k_start``).
    """
    with _j2k_siz(fp) as found:
        if found is None:
            return 0, 0, (0, 0)
        start, siz = found
        xsiz, ysiz, xosiz, yosiz = struct.unpack(">4I", siz[8:24])
        (components,) = struct.unpack(">H", siz[40:42])
        if xsiz <= xosiz or ysiz <= yosiz:
            return 0, 0, (0, 0)
        with _whole(fp) as data:
            styles, segments = _j2k_styles(data, start, components)
    blocks, smallest = 0, (1 << 10, 1 << 10)
    for component in range(min(components, _J2K_MAX_COMPONENTS)):
        ways = [(levels, exponents) for (at, levels), exponents in styles.items() if at in (None, component)]
        if ways:
            most, (_, exponents) = max((_codeblocks((xosiz, xsiz), (yosiz, ysiz), way), way) for way in ways)
            blocks += most
            xe, ye = min(exponents, key=sum)
            smallest = min(smallest, (1 << xe, 1 << ye), key=lambda side: side[0] * side[1])
    return blocks, segments, smallest if blocks else (0, 0)


def _j2k_styles(data, start: int, components: int) -> tuple[dict, int]:
    """The coding styles (``_coding_style``) of the COD and COC marker segments of the codestream at ``start`` in
    ``data``, as {(component, decomposition levels): the smallest exponents of each level seen}, the component None
    for a COD (every component), and the segments walked (``j2k_codeblocks``). Which segment overrides which (A.6) is
    not followed: each style is one a tile may use."""
    worst: dict[tuple[int | None, int], list[tuple[int, int]]] = {}
    end = len(data)
    segments = 0

    def note(marker: int, at: int, length: int) -> None:
        body = bytes(data[at:at + length])
        style = _coding_style(body, marker == _COC, components)
        if style is None:
            return
        component = None
        if marker == _COC:
            component = body[0] if components < 257 else int.from_bytes(body[:2], "big")
            if component >= _J2K_MAX_COMPONENTS:
                return
        levels, exponents = style
        kept = worst.setdefault((component, levels), exponents)
        worst[component, levels] = [(min(a, c), min(b, d)) for (a, b), (c, d) in zip(kept, exponents)]

    at = start + 2  # after SOC: SIZ, then the rest of the main header
    while at + 4 <= end and segments < MAX_J2K_SEGMENTS:
        marker, length = struct.unpack_from(">HH", data, at)
        if marker < 0xFF00 or marker == _EOC or length < 2:
            break
        segments += 1
        if marker != _SOT:
            if marker in (_COD, _COC):
                note(marker, at + 4, length - 2)
            at += 2 + length
            continue
        if at + 10 > end:
            break
        (psot,) = struct.unpack_from(">I", data, at + 6)
        header = at + 2 + length  # the tile-part's header, up to its SOD
        while header + 4 <= end and segments < MAX_J2K_SEGMENTS:
            inner, size = struct.unpack_from(">HH", data, header)
            if inner == _SOD or inner < 0xFF00 or size < 2:
                break
            segments += 1
            if inner in (_COD, _COC):
                note(inner, header + 4, size - 2)
            header += 2 + size
        if psot < 14:  # 0: the last tile-part, to the end of the codestream (or no tile-part a decoder can read)
            break
        at += psot
    return worst, segments


def check_tiles(name: str, fp) -> None:
    """Raises ``OverLimit`` when the file ``fp`` is a JPEG 2000 of more than ``MAX_J2K_TILES`` tiles (``j2k_tiles``),
    more than ``MAX_J2K_CODEBLOCKS`` code-blocks or more than ``MAX_J2K_SEGMENTS`` marker segments and tile-parts
    (``j2k_codeblocks``), naming it as ``name``; other files pass, 12 bytes read. ``fp``'s position is left as it was.

    Raises:
        OverLimit: as above.
        ImageError: a JP2 box before its codestream runs past the end of the file (``_j2k_start``).
        OSError: ``fp`` cannot be read or sought.
    """
    try:
        tiles = j2k_tiles(fp)
        blocks, segments, (width, height) = (j2k_codeblocks(fp) if tiles is not None and tiles <= MAX_J2K_TILES
                                             else (0, 0, (0, 0)))
    except ValueError as e:
        raise ImageError(f"{name}: a JPEG 2000 cut short or damaged: {e}; save or download it again") from None
    _refuse_first_over(name, (
        (tiles or 0, MAX_J2K_TILES, f"a JPEG 2000 of more than {MAX_J2K_TILES:,} tiles is over the limit (real files "
         "hold one or a few hundred; decoding sets up each tile, ~12 KB of memory apiece, whatever it holds); save it "
         "again as PNG or JPEG, or as JPEG 2000 in larger tiles"),
        (segments, MAX_J2K_SEGMENTS - 1, f"a JPEG 2000 of {MAX_J2K_SEGMENTS:,} or more marker segments and tile-parts "
         "is over the limit (real files hold a few per tile); save it again as PNG or JPEG"),
        (blocks, MAX_J2K_CODEBLOCKS, f"a JPEG 2000 in code-blocks as small as {width}x{height} samples makes about "
         f"{blocks:,} of them, over the limit of {MAX_J2K_CODEBLOCKS:,} (decoding sets up each code-block, ~400 "
         "bytes of memory apiece, whatever it holds: encoders write 64x64 or 32x32); save it again as PNG or JPEG, "
         "or as JPEG 2000 in 64x64 code-blocks"),
    ))


# The most strips or tiles the first picture of a TIFF may have. Pillow lists every one as it opens the file (a
# Python tuple each) and decodes them one by one in Python's loop, ~320 bytes and ~10 us apiece, and the file says
# how small they are: TIFF 6.0 asks tiles of a multiple of 16 samples a side, Pillow takes any, so an 8 MB file of
# a flat 2000x2000 picture in 1,000,000 tiles of 2x2 took 9.8 s and 362 MB to open (hostile29; the same picture in
# 16x16 tiles, 15,625 of them: 0.15 s and 46 MB), and a 64 MiB upload holds 8 million such entries. Real files hold
# one strip of ~8 KB (libtiff's default) or one row each: ~8,000 for the 8000-row picture of the pixel limit, or
# tiles of 256x256 or larger (~1,000 there).
MAX_TIFF_BLOCKS = 2**16
_TIFF_STARTS = {b"II*\x00": ("<", False), b"MM\x00*": (">", False), b"II+\x00": ("<", True), b"MM\x00+": (">", True)}
_TIFF_OFFSETS = (273, 324)  # StripOffsets, TileOffsets (TIFF 6.0 sections 3 and 15)


def tiff_blocks(fp) -> int:
    """The strips or tiles of the first picture (IFD) of the TIFF in ``fp`` (a binary file object, read from its
    start, its position left as it was): the larger count of its StripOffsets and TileOffsets fields (TIFF 6.0
    section 2: an 8-byte header, IFD entries of 12 bytes; BigTIFF's 16-byte header and 20-byte entries). 0 when
    ``fp`` is no TIFF or its first IFD cannot be read (Pillow then says what is wrong)."""
    where = fp.tell()
    try:
        fp.seek(0)
        head = fp.read(16)
        order, big = _TIFF_STARTS.get(head[:4], (None, False))
        if order is None or len(head) < (16 if big else 8):
            return 0
        offset, count_size, entry = (struct.unpack(order + "Q", head[8:16])[0], 8, 20) if big else \
            (struct.unpack(order + "I", head[4:8])[0], 2, 12)
        fp.seek(offset)
        raw = fp.read(count_size)
        if len(raw) < count_size:
            return 0
        (entries,) = struct.unpack(order + ("Q" if big else "H"), raw)
        table = fp.read(min(entries, 2**16) * entry)
        most = 0
        for at in range(0, len(table) - entry + 1, entry):
            tag = struct.unpack_from(order + "H", table, at)[0]
            if tag in _TIFF_OFFSETS:
                most = max(most, struct.unpack_from(order + ("Q" if big else "I"), table, at + 4)[0])
        return most
    finally:
        fp.seek(where)


def check_tiff_blocks(name: str, fp) -> None:
    """Raises ``OverLimit`` when the file ``fp`` is a TIFF whose first picture has more than ``MAX_TIFF_BLOCKS``
    strips or tiles (``tiff_blocks``), naming it as ``name``; other files pass, 16 bytes read. ``fp``'s position is
    left as it was."""
    blocks = tiff_blocks(fp)
    _refuse_first_over(name, ((blocks, MAX_TIFF_BLOCKS, f"a TIFF of {blocks:,} strips or tiles is over the limit of "
                               f"{MAX_TIFF_BLOCKS:,} (real files hold one strip of a few KB or one row each, or tiles "
                               "of 256x256 or larger; each costs time and memory to open, whatever it holds); save it "
                               "again as a PNG, or as a TIFF in larger strips or tiles"),))


# The longest header a PBM/PGM/PPM may have (its magic number, size, maxval, the whitespace and comments among them).
# Pillow reads it one byte at a time in Python, ~0.2 us a byte: 30 MB of spaces or of one comment took 5.8 and 6.3 s
# (upload27b), a 64 MiB upload ~13 s holding a decode slot. Encoders write a line or two (GIMP: one comment line).
MAX_PNM_HEADER = 2**16
# whitespace (Pillow's ``b_whitespace``) and comments, from ``#`` to the next CR or LF, then a token
# (possessive: nothing is tried again, so a header that never ends costs one pass)
_PNM_TOKEN = re.compile(rb"(?:[ \t\n\x0b\f\r]|#[^\r\n]*+[\r\n])*+[^ \t\n\x0b\f\r#]++(?=[ \t\n\x0b\f\r#])")


def pnm_header_length(data: bytes) -> int | None:
    """Bytes of the PBM/PGM/PPM header at the start of ``data`` (netpbm's pbm(5)/pgm(5)/ppm(5), as Pillow's
    ``PpmImageFile`` reads it: the magic (up to 6 bytes), then width, height and, but for P1/P4, maxval or scale,
    each after whitespace and comments from ``#`` to the next CR or LF), up to the end of the last token; None when
    ``data`` ends first."""
    magic = re.match(rb"[^ \t\n\x0b\f\r]{0,6}", data).group()  # Pillow's: up to 6 bytes (``PyRGBA``)
    position = len(magic)
    for _ in range(2 if magic in (b"P1", b"P4") else 3):
        token = _PNM_TOKEN.match(data, position)
        if token is None:
            return None
        position = token.end()
    return position


def check_pnm_header(name: str, fp) -> None:
    """Raises ``OverLimit`` when the file ``fp`` (a binary file object, read from its start whatever its position)
    is a PBM/PGM/PPM (what Pillow's PPM plugin accepts: ``P`` and one of ``0123456fy``) whose header is longer than
    ``MAX_PNM_HEADER`` bytes (64 KiB); leaves its position as it was. Other files pass unread but for 2 bytes.
    ``name``: the file as the message names it.

    Raises:
        OverLimit: the header is over the limit.
        OSError: ``fp`` cannot be read or sought.
    """
    where = fp.tell()
    try:
        fp.seek(0)
        head = fp.read(2)
        if len(head) < 2 or head[:1] != b"P" or head[1] not in b"0123456fy":
            return
        head += fp.read(MAX_PNM_HEADER - 1)  # MAX_PNM_HEADER + 1 in all
    finally:
        fp.seek(where)
    length = pnm_header_length(head)  # head: up to one byte past the limit, to see the last token end
    if len(head) > MAX_PNM_HEADER and (length is None or length > MAX_PNM_HEADER):
        raise OverLimit(f"{name}: a PBM/PGM/PPM whose header (size, maxval, whitespace and comments) is longer than "
                        f"{MAX_PNM_HEADER:,} bytes is over the limit (encoders write a line or two; reading it would "
                        "take far longer than its size says); save it again as a PPM or PNG")


# Formats whose picture Pillow decodes in Python (its ``PyDecoder`` plugins, registered in ``Image.DECODERS``: BMP
# RLE, QOI, uncompressed RGB DDS, PGM/PPM of a maxval other than 255 or 65535), at ~0.6-1.2 us a pixel where its C
# decoders take ~0.01: an honest 2048x2048 QOI took 3.4 s, an RGB DDS 4.9 s, a PPM of maxval 254 6.0 s (upload27b),
# so a 64 MP upload minutes, holding a decode slot. Such a file is held to this many pixels (1024x1024): 0.8 s for
# a QOI, 1.6 s for a PPM of maxval 254, 1.7 s for an RGBA DDS, 1.9 s for a 16-bit PPM of maxval 4095 at the limit.
MAX_PYTHON_DECODE_PIXELS = 2**20
# And to this many bytes: some of their codes make no pixels (BMP RLE's end of line at a line's start, a move of
# (0, 0)), ~0.13 us each, so 16 MB of them took 2.2 s for a 16x16 picture. The most an honest file at the pixel
# limit holds is 6 bytes a pixel (a 16-bit RGB PPM; QOI at worst 5), 6 MiB.
MAX_PYTHON_DECODE_BYTES = 8 * 2**20
# Python decoders that loop only over bands, each decoded in C (SGI 16-bit: 2048x2048 in 0.05 s): not held.
_VECTORISED_PYTHON_DECODERS = frozenset({"SGI16"})
# Python decoders not run at all: plain (text) PBM/PGM/PPM (P1-P3). Pillow's removes each comment in its raster by
# copying the rest of a 1 MiB block, so the cost grows with the square of their count: a 1 MB file of "#\n" took
# 10 s for a 16x16 picture (upload27b), and its honest 2048x2048 RGB 4.6 s. Nobody shares a picture as text.
_REFUSED_PYTHON_DECODERS = {"ppm_plain": "a plain (text) PBM/PGM/PPM (P1, P2 or P3) is not read here (its decoder "
                            "is slow for a picture of any size); save it as a binary PPM (P4-P6) or as a PNG"}


def check_python_decode(name: str, im: Image.Image, fp) -> None:
    """Raises ``OverLimit`` when ``im`` (opened from the file ``fp``, not yet decoded) would be decoded by one of
    Pillow's Python decoders (a tile's codec in ``Image.DECODERS``, bar ``_VECTORISED_PYTHON_DECODERS``) and has
    more than ``MAX_PYTHON_DECODE_PIXELS`` pixels or its file more than ``MAX_PYTHON_DECODE_BYTES`` bytes, or by
    one of ``_REFUSED_PYTHON_DECODERS``. ``name``: the file as the message names it (``"<name>: ..."``); ``fp``'s
    position is left as it was.

    Raises:
        OverLimit: the message says which limit, the picture's size or the file's bytes, and to save it as a PNG
            or JPEG.
    """
    codecs = {tile[0] for tile in im.tile} & set(Image.DECODERS) - _VECTORISED_PYTHON_DECODERS
    if not codecs:
        return
    codec = sorted(codecs)[0]
    if codec in _REFUSED_PYTHON_DECODERS:
        raise OverLimit(f"{name}: {_REFUSED_PYTHON_DECODERS[codec]}")
    width, height = im.size
    where = fp.tell()
    size = fp.seek(0, io.SEEK_END)
    fp.seek(where)
    what = f"a {im.format} image that Pillow decodes in Python ({im.mode}, codec {codec}; ~100 times slower than " \
        "PNG or JPEG)"
    if width * height > MAX_PYTHON_DECODE_PIXELS:
        raise OverLimit(f"{name}: {width}x{height} = {width * height:,} pixels is over the limit of "
                        f"{MAX_PYTHON_DECODE_PIXELS:,} (1024x1024) for {what}; save it as a PNG or JPEG, or scale it "
                        "down")
    if size > MAX_PYTHON_DECODE_BYTES:
        raise OverLimit(f"{name}: a file of {size:,} bytes is over the limit of {MAX_PYTHON_DECODE_BYTES:,} bytes "
                        f"for {what} (an honest {width}x{height} one needs far fewer); save it as a PNG or JPEG")


def orientation(im: Image.Image) -> int:
    """The EXIF orientation 1-8 stored with ``im`` (1, upright, when absent or unreadable)."""
    try:
        value = im.getexif().get(ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - a corrupt EXIF block must not make the image unusable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def normalised(im: Image.Image, *, close_source: bool = True) -> Image.Image:
    """``im`` (decoded) as upright 8-bit RGB by the rules of ``open_checked``; with ``close_source`` the
    source's pixels are released as soon as an 8-bit copy exists (peak: source + 8-bit copy)."""
    turn = UPRIGHT.get(orientation(im), ())  # read before any conversion, which drops EXIF
    profile = rgb_profile(im)  # likewise: flattening transparency drops it
    eight_bit = _eight_bit(im)
    if close_source and eight_bit is not im:
        im.close()
    for method in turn:  # on the smallest copy: greyscale turns before it becomes RGB
        eight_bit = eight_bit.transpose(method)
    out = eight_bit if eight_bit.mode == "RGB" else eight_bit.convert("RGB")
    if profile is not None:
        out = _to_srgb(out, profile, in_place=close_source or out is not im)
    elif "icc_profile" in out.info:
        # a profile left unapplied (sRGB's own, unreadable, another colour space) does not describe these RGB
        # pixels, which are read as sRGB from here on: not carried on (Pillow's PNG writer would store the
        # visitor's bytes as they came, a greyscale or Lab profile on an RGB PNG included)
        if out is im and not close_source:  # a caller's own image keeps its info
            out = out.copy()
        out.info.pop("icc_profile")
    if turn:  # upright now: no orientation left for a later viewer to apply again
        for key in _ORIENTATION_KEYS:
            out.info.pop(key, None)
    return out


def rgb_profile(im: Image.Image):
    """The RGB ICC profile embedded in ``im`` (an ``ImageCms.ImageCmsProfile``), or None: none, sRGB itself
    (nothing to convert), another colour space (greyscale, CMYK), or unreadable."""
    data = im.info.get("icc_profile")
    if not data:
        return None
    from PIL import ImageCms

    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(data))
        description = ImageCms.getProfileDescription(profile).strip()
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None
    if profile.profile.xcolor_space.strip() != "RGB" or description.startswith("sRGB"):
        return None
    return profile


def _to_srgb(image: Image.Image, profile, *, in_place: bool) -> Image.Image:
    """``image`` (RGB, pixels in ``profile``'s colours) converted to sRGB, perceptual intent, without the
    profile in its info; unchanged but for that when the profile cannot make a transform."""
    from PIL import ImageCms

    try:
        converted = ImageCms.profileToProfile(image, profile, _srgb(), outputMode="RGB", inPlace=in_place)
    except ImageCms.PyCMSError:
        converted = None
    out = image if converted is None else converted
    if out is image and not in_place:
        out = image.copy()
    out.info.pop("icc_profile", None)
    return out


_SRGB = []


def _srgb():
    if not _SRGB:
        from PIL import ImageCms

        _SRGB.append(ImageCms.createProfile("sRGB"))
    return _SRGB[0]


def _eight_bit(im: Image.Image) -> Image.Image:
    """``L`` for greyscale sources (cheaper to turn than RGB), ``RGB`` for the rest."""
    mode = im.mode
    if mode == "I;16":
        # in place per pixel (Pillow's linear point transform, no float array): exact for all 65536 values
        return im.point(lambda v: v * (255 / 65535) + 1e-4).convert("L")
    if mode.startswith("I;16") or mode == "I":
        source = im if mode == "I" else im.convert("I")
        return source.point(_SIXTEEN_TO_EIGHT, "L")  # 65536-entry table; below 0 -> 0, above 65535 -> 255
    if mode == "F":
        return im.convert("L")
    if "A" in im.getbands() or "transparency" in im.info:
        rgba = im if mode == "RGBA" else im.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (WHITE, WHITE, WHITE))
        flat.paste(rgba, mask=rgba)  # an RGBA mask means its alpha band, without a copy of it
        return flat
    if mode in ("1", "L", "RGB"):
        return im if mode != "1" else im.convert("L")
    return im.convert("RGB")


_SIXTEEN_TO_EIGHT = [v * 255 // 65535 for v in range(65536)]


def preview(image: Image.Image | None, side: int = PREVIEW_SIDE) -> Image.Image | None:
    """``image`` for the page: scaled down in place (aspect kept, Pillow's ``thumbnail``) to fit ``side`` x
    ``side`` pixels when larger, else as it is; None stays None. Only for what is shown: models get the image
    whole."""
    if image is not None and max(image.size) > side:
        image.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image


def png_bytes(image: Image.Image) -> bytes:
    """The image encoded as PNG (lossless; the mode kept as Pillow writes it): the project's one PNG encoder,
    used for the store's content-addressed files, the wire formats and your own uploaded images."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


_PIXEL_CHUNKS = (b"IHDR", b"PLTE", b"tRNS", b"IEND")  # what a PNG needs to show its pixels; IDAT is rebuilt


def anonymous_png(image: Image.Image, rng: random.Random | None = None) -> bytes:
    """The image's pixels as a PNG that carries nothing else and whose bytes are unique to this call.

    Nothing but the pixels survives: the image is rebuilt from its pixel data, so no text chunk, EXIF,
    ICC profile, timestamp or physical size is written (the PNG keeps only IHDR, PLTE/tRNS for a
    palette, IDAT, IEND). Its bytes, and so any content hash of them, differ from every other encoding
    of the same pixels: the zlib stream is flushed (``Z_SYNC_FLUSH``, an empty stored block, which
    decoders skip) after a few input offsets drawn from ``rng`` (default: the system's secure source).
    The decoded pixels are exactly the input's, converted to RGB(A)/L/P as Pillow keeps them.
    Source: the PNG specification (ISO/IEC 15948), 11.2.4 IDAT, and RFC 1951 3.2.4 (stored blocks).
    """
    rng = rng or random.SystemRandom()
    if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    bare = Image.frombytes(image.mode, image.size, image.tobytes())
    if image.mode == "P":
        bare.putpalette(image.getpalette())
    encoded = png_bytes(bare)
    chunks, raw = [], bytearray()
    position = 8  # after the signature
    while position < len(encoded):
        length, kind = struct.unpack(">I4s", encoded[position:position + 8])
        data = encoded[position + 8:position + 8 + length]
        position += 12 + length
        if kind == b"IDAT":
            raw += data
        elif kind in _PIXEL_CHUNKS:
            chunks.append((kind, data))
    scanlines = zlib.decompress(bytes(raw))
    cuts = sorted(rng.randrange(len(scanlines) + 1) for _ in range(4))
    compressor = zlib.compressobj(6)
    idat = bytearray()
    for start, end in zip([0, *cuts], [*cuts, len(scanlines)]):
        idat += compressor.compress(scanlines[start:end]) + compressor.flush(zlib.Z_SYNC_FLUSH)
    idat += compressor.flush()
    chunks.insert(len(chunks) - 1, (b"IDAT", bytes(idat)))  # before IEND
    out = bytearray(encoded[:8])
    for kind, data in chunks:
        out += struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return bytes(out)
