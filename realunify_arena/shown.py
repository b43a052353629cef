"""A caller's value as a refusal names it: ``repr`` bounded, so a 100,000-character argument (or a deep list)
sent to a public endpoint comes back as one short line, and the message still says what was expected."""

from __future__ import annotations

import reprlib

_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxlist, _repr.maxdict, _repr.maxstring, _repr.maxother = 1, 4, 4, 60, 60


def brief(value: object) -> str:
    """``repr(value)``, at most about 60 characters (a long string keeps its start and end around '...')."""
    return _repr.repr(value)
