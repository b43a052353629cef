"""On the wire: PNG bytes and base64 for the HTTP families and the OpenAI-compatible server, and error
text with the API key taken out."""

from __future__ import annotations

import base64
import os

from PIL import Image

from realunify_arena.benchmark.images import open_checked, png_bytes


def png_base64(image: Image.Image) -> str:
    return base64.b64encode(png_bytes(image)).decode("ascii")


def png_data_url(image: Image.Image) -> str:
    return f"data:image/png;base64,{png_base64(image)}"


def image_from_base64(data: str) -> Image.Image:
    """Decode base64 (optionally a ``data:`` URL) through the checked opener; raises ImageError."""
    if data.startswith("data:"):
        data = data.partition(",")[2]
    return open_checked(base64.b64decode(data, validate=False))


def without_key(text: str, key_env: str | None) -> str:
    """An endpoint, or a proxy in front of it, may quote the key back; error text is shown to users."""
    key = os.environ.get(key_env or "", "")
    return text.replace(key, "***") if key else text
