"""CSV text cells that a spreadsheet shows as text: the one home of the formula guard every CSV writer applies.

What a spreadsheet reads as a formula at a cell's start (OWASP, "CSV Injection"): ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return. A name written into a CSV (a system from a votes file, a dataset named after the folder its
results came from, a judge's ``--judge-name``) such as ``=HYPERLINK(...)`` or ``@SUM(1)`` would run when the file is
opened. Such a text cell gets a leading apostrophe, which spreadsheets show as text; numbers (a negative rating bound,
a negative Δ) are not text and are left alone. So does a name a spreadsheet would read as a value and show changed
(Excel's and LibreOffice's CSV import convert such a cell): a number (``1e5`` as 100000, ``007`` as 7, ``1,000``), a
date (``3-4``, ``2/4``, ``2024-06-01``, ``4 Mar``, ``Mar-4``, ``3 Dez 2026`` in a German spreadsheet), a time
(``12:30``), a percentage (``50%``) or a truth value (``TRUE``, ``WAHR``), as a folder named for its date gives a
dataset such a name; a month's name first in German, French, Spanish, Italian, Portuguese or Dutch too (``Dez 3``,
``déc. 3``, ``set 3``), which LibreOffice in that language reads as a date. JSON outputs keep every name exactly.
A leaf module.
"""

from __future__ import annotations

from collections.abc import Iterable

import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# a text a spreadsheet reads as a value: digits with only number, date, time, percent or currency marks, a truth
# value, or a day and a month's name (either way round, with or without a year: the listed names either way round, a
# day then any word in any language); erring toward keeping text as text
_MONTH = (r"(?:january|february|march|april|may|june|july|august|september|october|november|december|"
          r"jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec|"
          # a month's name first is read as a date in the spreadsheet's own language too ("Dez 3": December 2003 in
          # a German LibreOffice): the full names and abbreviations of German, French, Spanish, Italian,
          # Portuguese and Dutch (CLDR), the locales whose decimal comma makes a spreadsheet save ";" CSVs
          r"januar|jänner|jän|februar|märz|mär|mrz|mai|juni|juli|oktober|okt|dezember|dez|"
          r"janvier|janv|février|fevrier|févr|fevr|mars|avril|avr|juin|juillet|juil|août|aout|septembre|octobre|"
          r"novembre|décembre|decembre|déc|"
          r"enero|ene|febrero|marzo|abril|abr|mayo|junio|julio|agosto|ago|setiembre|set|octubre|noviembre|"
          r"diciembre|dic|"
          r"gennaio|gen|febbraio|aprile|maggio|mag|giugno|giu|luglio|lug|settembre|ottobre|ott|dicembre|"
          r"janeiro|fevereiro|fev|março|marco|maio|junho|julho|setembro|outubro|out|dezembro|"
          r"januari|februari|maart|mrt|mei|augustus)\.?")
# a truth value in those languages' spreadsheets ("WAHR" is TRUE in a German one)
_TRUTH = r"true|false|wahr|falsch|vrai|faux|verdadero|falso|vero|verdadeiro|waar|onwaar"
_VALUE = re.compile(rf"[\s$€£¥(]*[-+.]?\d[\d.,:/\-+%eE\s$€£¥()]*|{_TRUTH}|"
                    rf"\s*\d{{1,4}}[\s\-/.]*{_MONTH}(?:[\s\-/.,]*\d{{1,4}})?\s*|"
                    # a day, then a word of letters of any language ("3 Dez 2026", "3. déc.", "3-dic-26", "3 мар"): a
                    # spreadsheet reads a month's name of its own locale so; no list of every language's is kept
                    r"\s*\d{1,2}\.?[\s\-/]+[^\W\d_]{3,10}\.?(?:[\s\-/.,]+\d{2,4})?\s*|"
                    rf"\s*{_MONTH}[\s\-/.]*\d{{1,4}}(?:[\s\-/.,]+\d{{1,4}})?\s*|"
                    # a time of day with AM/PM ("12:30 PM", "3 pm"), and the error values a cell can hold
                    r"\s*\d{1,2}(?::\d{1,2}){0,2}\s*[ap]\.?m\.?\s*|"
                    r"#(?:N/A|DIV/0!|VALUE!|REF!|NAME\?|NUM!|NULL!|SPILL!|CALC!|GETTING_DATA)", re.IGNORECASE)


def spreadsheet_safe(text: str) -> str:
    """``text`` as a CSV text cell a spreadsheet shows as text: prefixed with ``'`` where it starts like a formula
    (``FORMULA_START``, OWASP's CSV injection advice) or would be read as a number, date, time, percentage or truth
    value (``_VALUE``: ``1e5``, ``3-4``, ``2/4``, ``2024-06-01``, ``Mar-4``, ``12:30``, ``3 PM``, ``50%``, ``TRUE``,
    ``#N/A``, a day and a month's name in another language: ``3 Dez 2026``, ``3 déc.``), else unchanged."""
    return "'" + text if text.startswith(FORMULA_START) or _VALUE.fullmatch(text) else text


def safe_row(row: dict, fields: Iterable[str]) -> dict:
    """``row`` with each of its ``fields`` that holds a string made ``spreadsheet_safe`` (a copy; other values, and
    fields it lacks, as they are). ``fields``: the row's text fields that name something (never a number written as
    text, such as a percentage or ``-`` for none, which no spreadsheet runs)."""
    return row | {k: spreadsheet_safe(row[k]) for k in fields if isinstance(row.get(k), str)}
