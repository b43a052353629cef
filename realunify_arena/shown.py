"""A caller's value as a refusal names it: ``repr`` bounded, so a 100,000-character argument (or a deep list)
sent to a public endpoint comes back as one short line, and the message still says what was expected.
Secrets are taken out of each string before it is cut (``redaction.redact``): a cut keeps the start and the
end of a long value, and a key cut in two matches neither its value nor its shape any more, so redacting the
message afterwards would leave both halves of a key pasted into the wrong setting."""

from __future__ import annotations

import reprlib

from realunify_arena.redaction import redact


class _Brief(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        """A long integer keeps its leading digits (its size reads from them): 37 of them and '...'."""
        return clipped(repr(x), self.maxlong)

    def repr_str(self, x: str, level: int) -> str:
        """A string with its secrets masked (``***``) before it is cut."""
        return super().repr_str(redact(x), level)


_repr = _Brief()
_repr.maxlevel, _repr.maxlist, _repr.maxdict, _repr.maxstring, _repr.maxother, _repr.maxlong = 1, 4, 4, 60, 60, 40


def brief(value: object) -> str:
    """``repr(value)``, at most about 60 characters (a long string keeps its start and end around '...'; an
    integer past 40 characters its first 37 and '...'), each string's secrets masked as ``***`` first."""
    return _repr.repr(value)


def clipped(text: str, length: int) -> str:
    """``text`` if it has at most ``length`` characters (``length`` >= 3), else its first ``length - 3`` and
    '...': a message keeps its start, where what went wrong is said."""
    return text if len(text) <= length else text[:length - 3] + "..."
