"""Reading a JSON (or JSON Lines, or CSV) file's text whatever Unicode encoding a tool saved it in, and a
configuration or data file's bytes only when it is a regular file (``read_regular``)."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))


def read_regular(path: Path, limit: int | None = None) -> bytes:
    """The bytes of ``path`` (a symlink followed), at most ``limit + 1`` of them when ``limit`` is given (so a
    caller sees that the file is over ``limit`` without reading it all).

    Only a regular file is read: a card or data file that is a link to ``/dev/zero`` or ``/dev/urandom`` (which
    a pull request can add: git stores links) was read until memory ran out, and a named pipe blocked the
    app's start for good. The file is opened without blocking and checked on its open descriptor, so nothing
    can be swapped in between.

    Raises:
        OSError: the file cannot be opened or read, or is not a regular file (``strerror``: ``"not a regular
            file but a character device"``, ...).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as file:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((what for test, what in _KINDS if test(mode)), "a special file")
            raise OSError(errno.EINVAL, f"not a regular file but {kind}", str(path))
        os.set_blocking(fd, True)
        return file.read() if limit is None else file.read(limit + 1)


def read_json_text(path: Path) -> str:
    """The text of ``path``: UTF-8 with or without a byte-order mark, or UTF-16 / UTF-32 (as Windows
    PowerShell's ``>`` and ``Out-File`` write), told apart as ``json.loads`` tells them apart on bytes
    (``json.detect_encoding``: the byte-order mark, else the pattern of zero bytes). A byte-order mark is no
    part of the text.

    Raises:
        OSError: the file cannot be read, or is not a regular file (``read_regular``).
        UnicodeDecodeError: the bytes are no text in the encoding found (``.encoding`` names it).
    """
    data = read_regular(path)
    encoding = json.detect_encoding(data)
    return data.decode("utf-8-sig" if encoding == "utf-8" else encoding)


def not_text(error: UnicodeDecodeError) -> str:
    """How a file whose bytes ``read_json_text`` could not decode is described in a refusal: ``"not UTF-16-LE
    text (illegal UTF-16 surrogate at byte 6)"``, the encoding it was read in and where its bytes broke."""
    return f"not {error.encoding.upper()} text ({error.reason} at byte {error.start})"
