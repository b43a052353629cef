"""Byte counts as messages say them: the one home for the wording, so every limit and size reads alike.

A MiB is 2**20 bytes. A figure is given in MiB to one decimal (a trailing ``.0`` dropped) from 1 MiB up, and in
bytes below it, where one decimal of a MiB would read ``0 MiB``.
"""

from __future__ import annotations

MIB = 2**20


def size_text(size: int) -> str:
    """``size`` bytes, short: ``"1000 bytes"`` under 1 MiB, else ``"1 MiB"``, ``"1.5 MiB"``, ``"86.3 MiB"`` (one
    decimal, rounded)."""
    return f"{size / MIB:.1f}".removesuffix(".0") + " MiB" if size >= MIB else f"{size} bytes"


def exact_size_text(size: int) -> str:
    """``size`` bytes exactly, for a limit a client must keep to, with the MiB beside it from 1 MiB up:
    ``"1000 bytes"``, ``"1048576 bytes (1 MiB)"``, ``"90527061 bytes (about 86.3 MiB)"`` (``about`` where the MiB
    figure is rounded)."""
    if size < MIB:
        return f"{size} bytes"
    about = "" if round(size / MIB, 1) * MIB == size else "about "
    return f"{size} bytes ({about}{size_text(size)})"
