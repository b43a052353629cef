"""Reading a JSON (or JSON Lines, or CSV) file's text whatever Unicode encoding a tool saved it in."""

from __future__ import annotations

import json
from pathlib import Path


def read_json_text(path: Path) -> str:
    """The text of ``path``: UTF-8 with or without a byte-order mark, or UTF-16 / UTF-32 (as Windows
    PowerShell's ``>`` and ``Out-File`` write), told apart as ``json.loads`` tells them apart on bytes
    (``json.detect_encoding``: the byte-order mark, else the pattern of zero bytes). A byte-order mark is no
    part of the text.

    Raises:
        OSError: the file cannot be read.
        UnicodeDecodeError: the bytes are no text in the encoding found (``.encoding`` names it).
    """
    data = path.read_bytes()
    encoding = json.detect_encoding(data)
    return data.decode("utf-8-sig" if encoding == "utf-8" else encoding)


def not_text(error: UnicodeDecodeError) -> str:
    """How a file whose bytes ``read_json_text`` could not decode is described in a refusal: ``"not UTF-16-LE
    text (illegal UTF-16 surrogate at byte 6)"``, the encoding it was read in and where its bytes broke."""
    return f"not {error.encoding.upper()} text ({error.reason} at byte {error.start})"
