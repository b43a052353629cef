"""Opening untrusted images safely: one place that enforces the pixel limit and gives a clear error."""

from __future__ import annotations

import io
import random
import struct
import warnings
import zlib
from pathlib import Path

from PIL import Image, UnidentifiedImageError

# 64 megapixels: far above any benchmark image (the largest AF images are ~4k x 4k), far below a bomb.
MAX_PIXELS = 64_000_000


class ImageError(ValueError):
    """An image that cannot be used, with a message that says why."""


def open_checked(source: str | Path | io.BytesIO | bytes, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode fully and return an RGB image, or raise ImageError naming the problem."""
    name = str(source) if isinstance(source, (str, Path)) else "<image bytes>"
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    if isinstance(source, (str, Path)) and not Path(source).is_file():
        raise ImageError(f"{name}: file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise ImageError(f"{name}: {w}x{h} = {w * h} pixels is over the limit of {max_pixels}")
                if w == 0 or h == 0:
                    raise ImageError(f"{name}: image has zero size")
                im.seek(0)  # first frame of an animation
                im.load()
                return _to_rgb(im)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{name}: over the pixel limit ({e})") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{name}: unreadable image ({e})") from None


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale to 8 bits rather than clipping to white.
        import numpy as np

        a = np.asarray(im, dtype=np.float64)
        hi = a.max() or 1.0
        return Image.fromarray((a / hi * 255).astype("uint8")).convert("RGB")
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return im.convert("RGB")


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
