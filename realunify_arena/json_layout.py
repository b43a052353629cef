"""What a JSON Lines file that is not one JSON object a line is instead: the one diagnosis the result-file reader
(``benchmark.result_files``) and the votes reader (``vote_files``) both give, each adding what it expects.

The layouts told apart, as the tools that write them leave them: one object over several lines
(``json.dump(x, f, indent=2)``), pandas' ``DataFrame.to_json()`` default layout (one object of columns, each an
object of row index -> value), a JSON list (``json.dump(rows, f)``), and several objects one after another that
are not one a line (a runner appending ``json.dump(x, f, indent=2)`` for each row, or two on one line). A file
read whole is diagnosed from its text (``whole_layout``); one too large to read whole is streamed
(``streamed_layout``: ``json_stream.top_objects``, the data-file limit holding for each token). Files joined with
``cat`` are named as such where one line (or one ``.json`` file) holds more than one value (``joined_said``).
"""

from __future__ import annotations

import bisect
import codecs
import json
import re
from collections.abc import Callable
from pathlib import Path

from realunify_arena.json_stream import top_objects
from realunify_arena.shown import counted
from realunify_arena.text_files import LINE_BREAK, open_regular
from realunify_arena.unique_keys import loads_json

COLUMNS = ("one JSON object of columns (pandas' DataFrame.to_json() default layout); write it with "
           "to_json(orient='records') as a JSON list, or to_json(orient='records', lines=True) one object a line")
OBJECT = "one JSON object over several lines, not one a line"
_FIRST_BYTES = 16 * 2**20  # of a file too large to read whole, where its first object is looked for (``_first_span``)
_JSON_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace (RFC 8259), as json's own decoder skips it


def pandas_columns(record: object) -> bool:
    """Whether ``record`` is pandas' ``DataFrame.to_json()`` default layout: a non-empty object of columns, each
    an object of row index -> value (no result entry or vote has only objects for values)."""
    return isinstance(record, dict) and bool(record) and all(isinstance(v, dict) for v in record.values())


def wrapped_list(record: object) -> tuple[str, int] | None:
    """``(key, length)`` where ``record`` is an object holding a file's entries under one key, as some runners save
    a run (``{"model": ..., "results": [{...}, ...]}``): exactly one of its values is a list, non-empty and of
    objects only; None otherwise."""
    if not isinstance(record, dict):
        return None
    lists = [(k, v) for k, v in record.items() if isinstance(v, list)]
    if len(lists) != 1 or not lists[0][1] or not all(isinstance(x, dict) for x in lists[0][1]):
        return None
    return lists[0][0], len(lists[0][1])


def wrapped_said(key: str, length: int) -> str:
    """How a file that is ``wrapped_list`` is said; the reader adds what it expects."""
    return f"a JSON object whose {key!r} holds a list of {length} objects"


def whole_layout(text: str, noun: str, parse_int: Callable[[str], object] | None = None) -> tuple[str, str] | None:
    """``(kind, said)`` for the whole ``text`` of a JSON Lines file whose first line was no object of its own (or
    whose only object is ``pandas_columns``): kind ``"columns"`` (``COLUMNS``), ``"object"`` (``OBJECT``), ``"list"``
    (``"a JSON list over several lines"`` or ``"a JSON list"``: the reader says where a list is read) or
    ``"sequence"`` (``sequence_said``). None when ``text`` is none of these (each line's own problem stands).
    ``noun``: what one object of the file is (``"entry"``, ``"vote"``), as ``sequence_said`` names it;
    ``parse_int`` as ``json.loads`` takes it (the reader's own)."""
    try:
        whole = loads_json(text, **({} if parse_int is None else {"parse_int": parse_int}))
    except RecursionError:
        return None
    except ValueError:  # JSONDecodeError and RepeatedKeyError are ValueErrors
        return _in_sequence(text, noun)
    if isinstance(whole, dict):
        wrapped = wrapped_list(whole)
        if wrapped is not None:  # the entries are in it, one level down
            return "object", f"{wrapped_said(*wrapped)}, over several lines"
        return ("columns", COLUMNS) if pandas_columns(whole) else ("object", OBJECT)
    if isinstance(whole, list):
        over = " over several lines" if "\n" in text.strip() or "\r" in text.strip() else ""
        return "list", f"a JSON list{over}"
    return None


def joined_said(text: str, error: json.JSONDecodeError) -> str | None:
    """What ``text`` (one line of a JSON Lines file, or a whole ``.json`` file) is when ``json.loads`` refused it
    (``error``) only because whole JSON objects or lists follow its first value, itself an object or a list: files
    joined with ``cat``. Objects on one line (the first file not ending with a line break), lists one after another
    (two ``.json`` lists joined), or objects and lists mixed (``{...}[...]``, ``[...]{...}``: files of two layouts
    joined, with or without white space between); the phrase names how many, where the second starts (column,
    and line where ``text`` has several) and what to do. None for any other error (json's own message stands),
    for a value of another kind after the first (a number, a string), or for objects only over several lines
    (``whole_layout`` names those)."""
    if not error.msg.startswith("Extra data"):
        return None
    start = _JSON_SPACE.match(text).end()
    kind = text[start:start + 1]
    if kind not in ("{", "["):
        return None
    decoder, at, kinds = json.JSONDecoder(), error.pos, {kind}
    count = 1
    try:
        while at < len(text):
            if text[at] not in ("{", "["):
                return None
            kinds.add(text[at])
            at = _JSON_SPACE.match(text, decoder.raw_decode(text, at)[1]).end()
            count += 1
    except (ValueError, RecursionError):  # the rest is no such value: json's own message stands
        return None
    if kinds == {"{"} and LINE_BREAK.search(text):
        return None
    place = (f"line {error.lineno} column {error.colno}" if LINE_BREAK.search(text) or kind == "[" else
             f"column {error.colno}")
    if len(kinds) == 2:
        first, second = ("an object", "a list") if kind == "{" else ("a list", "an object")
        return (f"{count} JSON values one after another ({first}, then {second}), the second starting at {place}: "
                "files of two layouts joined with `cat`? A file holds one: split it there, or write every entry "
                "of both one a line (jq -c 'if type == \"array\" then .[] else . end' JOINED > ALL.jsonl) or as "
                "one list (jq -s '[.[] | if type == \"array\" then .[] else . end]' JOINED > ALL.json)")
    if kind == "{":
        return (f"{count} JSON objects on one line, the second starting at column {error.colno}: files joined "
                "with `cat`, the first not ending with a line break? Break the line before that column")
    return (f"{count} JSON lists one after another, the second starting at {place}: files joined with `cat`? A "
            ".json file holds one list: join the lists into one (jq -s add FIRST.json SECOND.json > ALL.json)")


def list_line_said(value: object) -> str | None:
    """What a line of a JSON Lines file (not its first line: a file starting with a list is read as one) holding
    ``value`` is where that is a non-empty JSON list of objects only: a ``.json`` list joined with ``cat`` after the
    lines, as ``joined_said`` says it of the same files joined on one line. None for any other value."""
    if not isinstance(value, list) or not value or not all(isinstance(item, dict) for item in value):
        return None
    return (f"a JSON list of {counted(len(value), 'object')} on a line of its own among JSON objects: a .json list "
            "joined with `cat` after a JSON Lines file? A .jsonl file holds one JSON object a line: write the "
            "list's objects one a line (jq -c 'if type == \"array\" then .[] else . end' JOINED > ALL.jsonl)")


def joined_after_array_said(entries: int) -> str:
    """What a JSON array streamed whole (``json_stream.array_items``) is when more follows its end after
    ``entries`` entries (a list or an object: ijson reads no further), as ``joined_said`` says it of a file read
    whole."""
    return (f"after entry {entries} (index {entries - 1}): the array ends there and more follows, which one JSON "
            "file cannot hold: files joined with `cat`? A .json file holds one list: join the lists into one (jq -s "
            "add FIRST.json SECOND.json > ALL.json), or, where an object follows, make every entry of both one "
            "list (jq -s '[.[] | if type == \"array\" then .[] else . end]' JOINED > ALL.json)")


def streamed_layout(path: Path, encoding: str, limit: int, noun: str) -> tuple[str, str] | None:
    """``whole_layout`` of a file too large to read whole (``json_stream.top_objects``: memory follows the
    longest token, each at most ``limit`` bytes): ``"columns"``, ``"object"`` or ``"sequence"`` (which of them
    spans lines is found in the file's first ``limit`` bytes, at most 16 MiB, where its first object ends there),
    else None. ``noun`` as ``whole_layout`` takes it.

    Raises:
        OSError: the file cannot be read.
    """
    found = top_objects(path, encoding, limit)
    if found is None:
        return None
    kind, count = found
    if kind != "objects":
        return kind, COLUMNS if kind == "columns" else OBJECT
    if count < 2:
        return None
    span = _first_span(path, encoding, min(limit, _FIRST_BYTES))
    if span is not None and span[1] > span[0]:
        return "sequence", sequence_said(count, f"the first spans lines {span[0]}-{span[1]}", noun)
    return "sequence", sequence_said(count, "the first is not on a line of its own", noun)


def sequence_said(count: int, which: str, noun: str, *, spans_lines: bool = True) -> str:
    """How ``count`` objects one after another are said, ``which`` naming the first that is not one a line;
    ``spans_lines``: it spans several, as ``json.dump(<noun>, f, indent=...)`` writes one (said so)."""
    how = f" (as json.dump({noun}, f, indent=...) writes one)" if spans_lines else ""
    return f"{count} JSON objects one after another, not one a line: {which}{how}"


def _first_span(path: Path, encoding: str, limit: int) -> tuple[int, int] | None:
    """The lines (numbered as ``text_files.json_lines`` numbers them) the first JSON value of ``path`` spans,
    read from its first ``limit`` bytes; None when it does not end within them."""
    with open_regular(path) as file:
        data = file.read(limit)
    decoder = codecs.getincrementaldecoder("utf-8-sig" if encoding == "utf-8" else encoding)(errors="replace")
    text = decoder.decode(data, final=False)
    start = _JSON_SPACE.match(text).end()
    try:
        end = json.JSONDecoder().raw_decode(text, start)[1]
    except (ValueError, RecursionError):
        return None
    return _line_of(text, start), _line_of(text, end - 1)


def _line_of(text: str, offset: int, ends: list[int] | None = None) -> int:
    """The number of the line holding ``text[offset]``, from 1 (``ends``: where each line break ends, if known)."""
    ends = [m.end() for m in LINE_BREAK.finditer(text)] if ends is None else ends
    return 1 + bisect.bisect_right(ends, offset)


def _in_sequence(text: str, noun: str) -> tuple[str, str] | None:
    """``("sequence", said)`` when ``text`` is two or more JSON objects one after another (whitespace, or nothing,
    between them) that are not one a line: ``said`` names the first that spans several lines, else the first
    line holding more than one. None when ``text`` is no such sequence, or each of its objects is on a line of its
    own. Memory follows the largest object, not their number: a line of millions of ``{}`` held a list of each
    one's place (100 times the file)."""
    decoder, at = json.JSONDecoder(), _JSON_SPACE.match(text).end()
    line_of = _Lines(text)
    count, spanning, shared, on_shared, last_line = 0, None, None, 0, None
    try:
        while at < len(text):
            value, end = decoder.raw_decode(text, at)
            if not isinstance(value, dict):
                return None
            first, last = line_of(at), line_of(end - 1)
            count += 1
            if spanning is None and last > first:
                spanning = (first, last, count == 1)
            if shared is None and first == last_line:
                shared, on_shared = first, 1  # the one before ends on this line
            on_shared += shared is not None and first == shared
            last_line, at = last, _JSON_SPACE.match(text, end).end()
    except (ValueError, RecursionError):  # no such sequence: JSONDecodeError, or an integer too long to read
        return None
    if count < 2:
        return None
    if spanning is not None:
        which = "the first" if spanning[2] else f"the one at line {spanning[0]}"
        return "sequence", sequence_said(count, f"{which} spans lines {spanning[0]}-{spanning[1]}", noun)
    if shared is None:  # one a line after all: the first line's own problem (a key twice, say) stands
        return None
    return "sequence", sequence_said(count, f"line {shared} holds {on_shared} of them", noun, spans_lines=False)


class _Lines:
    """The line number (``_line_of``'s) of each offset asked, asked in increasing order: the line breaks are
    counted as they are passed, none kept."""

    def __init__(self, text: str):
        self._breaks = LINE_BREAK.finditer(text)
        self._next = next(self._breaks, None)
        self._line = 1

    def __call__(self, offset: int) -> int:
        while self._next is not None and self._next.end() <= offset:
            self._line += 1
            self._next = next(self._breaks, None)
        return self._line
