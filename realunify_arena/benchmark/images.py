"""Opening untrusted images safely: one place that enforces the pixel limit and gives a clear error."""

from __future__ import annotations

import io
import warnings
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
