"""CSV text cells that a spreadsheet shows as text: the one home of the formula guard every CSV writer applies.

What a spreadsheet reads as a formula at a cell's start (OWASP, "CSV Injection"): ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return. A name written into a CSV (a system from a votes file, a dataset named after the folder its
results came from, a judge's ``--judge-name``) such as ``=HYPERLINK(...)`` or ``@SUM(1)`` would run when the file is
opened. Such a text cell gets a leading apostrophe, which spreadsheets show as text; numbers (a negative rating bound,
a negative Δ) are not text and are left alone. JSON outputs keep every name exactly. A leaf module.
"""

from __future__ import annotations

from collections.abc import Iterable

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """``text`` as a CSV text cell a spreadsheet shows as text: prefixed with ``'`` where it starts like a formula
    (``FORMULA_START``, OWASP's CSV injection advice), else unchanged."""
    return "'" + text if text.startswith(FORMULA_START) else text


def safe_row(row: dict, fields: Iterable[str]) -> dict:
    """``row`` with each of its ``fields`` that holds a string made ``spreadsheet_safe`` (a copy; other values, and
    fields it lacks, as they are). ``fields``: the row's text fields that name something (never a number written as
    text, such as a percentage or ``-`` for none, which no spreadsheet runs)."""
    return row | {k: spreadsheet_safe(row[k]) for k in fields if isinstance(row.get(k), str)}
