"""Reading a JSON array one element at a time, with memory bounded by the largest element instead of the file:
FastChat's ``clean_battle_*.json`` (a JSON array of battles, each with its two conversations) runs to gigabytes,
and parsed whole it took several times its size.

The parsing is ijson's (https://github.com/ICRAR/ijson): its C backend ``yajl2_c`` where it is installed (the
wheels on PyPI carry it), else its pure-Python backend (same results, a few times slower). Numbers are ints
and floats (``use_float``: no ``Decimal``), as ``json.loads`` gives them. Around it, this module guards what
a streaming parser leaves open: each element is at most ``limit`` bytes (the data-file limit, per element
instead of per file), and nesting deeper than ``MAX_DEPTH`` is refused before ijson sees it (ijson keeps a
path string for each open level, so memory grows with the square of the depth: 20,000 levels, a 40 kB file,
took 1 GB). A key written twice in one object is refused, as ``unique_keys.loads_json`` refuses it.
"""

from __future__ import annotations

import codecs
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from realunify_arena.shown import clipped
from realunify_arena.sizes import size_text
from realunify_arena.text_files import MAX_DATA_FILE_ENV, open_regular
from realunify_arena.unique_keys import noting_map, repeat_in


def _backend():
    import ijson

    try:
        return ijson.get_backend("yajl2_c")
    except ImportError:  # no compiler and no wheel for this platform: the pure-Python parser reads the same
        return ijson.get_backend("python")


# the deepest nesting read (the array itself is level 1; a FastChat battle reaches 4: array, battle,
# conversation, message). Python's json refuses past about 1,000 (RecursionError).
MAX_DEPTH = 512
_CHUNK = 8 * 1024  # bytes handed to the parser at a time
# Opening brackets (either kind, in strings too) handed to the parser since the chunk where the last element
# ended bound how deep the element being parsed can be. Past MAX_DEPTH of them, the file is read again
# following the depth exactly (strings told apart: about 2x slower); FastChat's prose rarely gets there.
_LONG_NUMBER = re.compile(r"Unexpected symbol '-?[0-9]{1000}")
_LONG = (f"an integer of over {sys.get_int_max_str_digits()} digits, more than Python reads as a number"
         " (CVE-2020-10735's guard)")
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)  # a whole JSON string
_STRING_END = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*"', re.S)  # the rest of a string begun before
_PARTIAL = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.S)  # as much of a string as a chunk holds
# a \u escape of half a surrogate pair without its other half: yajl writes '?' for a lone high one (a name
# silently changed) and bytes no UTF-8 decoder takes for a lone low one; the pure-Python backend keeps both, as
# json.loads does.
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")  # either half (its literal start keeps the scan fast)
# an escaped backslash (its "u" is text), or a high half and its low half: what ``_lone_surrogate`` takes out first
_PAIRED = re.compile(rb"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_SURROGATE_TAIL = 12  # a pair's bytes: how far before a chunk's end ``_safe_cut`` looks for an escape to hold back


def _lone_surrogate(text: bytes) -> bool:
    """Whether ``text`` holds a surrogate escape without its other half: a high one (``\\uD800``-``\\uDBFF``) not
    followed at once by a low one (``\\uDC00``-``\\uDFFF``), or a low one not preceded at once by a high one.
    Escaped backslashes and whole pairs are taken out left to right (``_PAIRED``; ``\\\\ud83d`` is an escaped
    backslash and the text "ud83d"), then any half left is lone: at the regular expression engine's speed (a
    lookbehind tried at every byte, or a walk escape by escape, cost twice the parse of a FastChat file)."""
    return b"\\u" in text and _SURROGATE.search(_PAIRED.sub(b"", text)) is not None


def _safe_cut(text: bytes, cut: int) -> int:
    """A position at or before ``cut`` where ``text`` may be split without splitting a run of backslashes or a
    surrogate pair: before the first backslash run within the 12 bytes before ``cut``, and before a high half
    just ahead of it (so a pair, 12 bytes, lies wholly on one side)."""
    at = text.find(b"\\", max(0, cut - _SURROGATE_TAIL), cut)
    if at < 0:
        return cut
    while at > 0 and text[at - 1] == 0x5C:  # a run of backslashes stays whole
        at -= 1
    if at >= 6 and _SURROGATE.match(text, at - 6) and text[at - 3] in b"89abAB":  # a high half's low may follow
        at -= 6
        while at > 0 and text[at - 1] == 0x5C:
            at -= 1
    return at


class StreamError(ValueError):
    """The array cannot be read on. ``reason`` says why (``"not JSON (parse error: ...)"``, ``"JSON nested
    deeper than 512 levels"``, ``"an element over the 256 MiB ..."``, ``"not UTF-16-LE text (... at byte
    N)"``, or a repeated key's message, which names the element: ``"key 'winner' appears twice in '[3]'; keep
    one"``); ``read`` how many elements were read whole before it (the problem is further on: ijson is handed
    the file in chunks, so it is not known exactly where), None where the reason names the place; ``kind``
    one of ``"json"`` (not JSON, or nested too deeply), ``"text"``, ``"size"``, ``"repeat"``."""

    def __init__(self, read: int | None, reason: str, kind: str = "json") -> None:
        super().__init__(reason)
        self.read, self.reason, self.kind = read, reason, kind


class _Deep(Exception):
    """Nesting maybe (cheap mode: the file is read again in exact mode) or surely (exact mode) deeper than
    ``MAX_DEPTH``."""


class _Surrogate(Exception):
    """A lone surrogate escape, which yajl does not read as json.loads does: read again with the Python backend."""


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class _Source:
    """The file as ijson reads it (``read(n)``: UTF-8 bytes), checked on the way: every chunk is counted and
    bracket-checked before ijson parses it. A chunk that fails is not handed over: the source ends there
    instead (``stop`` says why), so ijson stops on an unclosed array as on a cut file (an exception raised
    through its pure-Python backend's generators is printed as "Exception ignored" when they are closed)."""

    def __init__(self, file, encoding: str, exact: bool, limit: int, python: bool = False) -> None:
        self.file, self.exact, self.limit, self.python = file, exact, limit, python
        self.held = b""  # the end of the file read, not yet handed over: a pair of escapes cut between two chunks
        self.decoder = None if encoding == "utf-8" else codecs.getincrementaldecoder(encoding)()
        self.fed = 0  # bytes of the file read (before any decoding)
        self.since_openers = self.since_bytes = 0  # handed over since the last element was read
        self.last_openers = self.last_bytes = 0  # in the last chunk handed over
        self.depth, self.in_string, self.escaped = 0, False, False  # exact mode
        self.stop: Exception | None = None

    def element_read(self) -> None:
        """The parser gave an element: what follows is counted from the last chunk (where the next began)."""
        self.since_openers, self.since_bytes = self.last_openers, self.last_bytes

    def read(self, size: int = -1) -> bytes:
        if size == 0 or self.stop is not None:  # size 0: ijson asks whether the source gives bytes or text
            return b""
        try:
            while True:  # b"" tells ijson the file ended: never while bytes are only held back
                raw = self.file.read(_CHUNK)
                given = self._checked(raw)
                if given or not raw:
                    return given
        except (_Deep, _TooLarge, _Surrogate, UnicodeDecodeError) as e:
            self.stop = e
            return b""

    def _checked(self, raw: bytes) -> bytes:
        chunk = raw
        if self.decoder is not None:  # UTF-16 or UTF-32: ijson reads UTF-8
            try:
                chunk = self.decoder.decode(raw, final=not raw).encode("utf-8")
            except UnicodeDecodeError as e:  # at the file's byte, as json.loads' decoding counts it
                pending = len(self.decoder.getstate()[0])
                raise UnicodeDecodeError(e.encoding, e.object, self.fed - pending + e.start,
                                         self.fed - pending + e.end, e.reason) from None
        self.fed += len(raw)
        self.last_bytes = len(chunk)
        self.since_bytes += len(chunk)
        if self.since_bytes > self.limit:
            raise _TooLarge(self.since_bytes)
        given = chunk
        if not self.python:  # yajl's backend: a lone surrogate escape is read by the Python backend instead
            given = self._paired(chunk, final=not raw)
        if self.exact:
            self._track(chunk)
        else:
            self.last_openers = chunk.count(b"[") + chunk.count(b"{")
            self.since_openers += self.last_openers
            if self.since_openers > MAX_DEPTH:
                raise _Deep
        return given

    def _paired(self, chunk: bytes, final: bool) -> bytes:
        """What of ``self.held + chunk`` to hand over now, once no lone surrogate escape is in it (``_Surrogate``
        otherwise): up to the end, or before the end's last bytes (``_safe_cut``), held back until the next chunk,
        so a high half ending this chunk is judged with the low half the next one begins with (an emoji written
        by ``json.dumps``' default ``ensure_ascii``) and what is handed over is judged on its own."""
        pending = self.held + chunk
        cut = len(pending) if final else _safe_cut(pending, len(pending))
        given, self.held = pending[:cut], pending[cut:]
        if _lone_surrogate(given):
            raise _Surrogate  # the file is read again by the Python backend
        return given

    def _track(self, chunk: bytes) -> None:
        """Follow the nesting depth outside strings; raise ``_Deep`` past ``MAX_DEPTH``."""
        pos = 0
        if self.in_string:
            if self.escaped and chunk:  # the chunk before ended on a backslash: this byte is escaped
                pos, self.escaped = 1, False
            end = _STRING_END.match(chunk, pos)
            if end is None:  # the string goes on past this chunk
                self.escaped = _PARTIAL.match(chunk, pos).end() < len(chunk)  # stopped before a final backslash
                return
            pos, self.in_string = end.end(), False
        outside = _STRING.sub(b"", chunk[pos:])
        quote = outside.find(b'"')  # a string this chunk does not end (its rest holds no other bare quote)
        if quote >= 0:
            tail = outside[quote + 1:]
            self.in_string, self.escaped = True, _PARTIAL.match(tail).end() < len(tail)
            outside = outside[:quote]
        opens = outside.count(b"[") + outside.count(b"{")
        if self.depth + opens > MAX_DEPTH:  # maybe deeper: follow each bracket
            for byte in outside:
                self.depth += 1 if byte in b"[{" else -1 if byte in b"]}" else 0
                if self.depth > MAX_DEPTH:
                    raise _Deep
        else:
            self.depth += opens - outside.count(b"]") - outside.count(b"}")


def array_items(path: Path, encoding: str, limit: int, keep: frozenset[str]) -> Iterator[object]:
    """The elements of the JSON array in ``path``, in order, one at a time: each parsed with ``json.loads``'
    types (objects as dicts, ints, floats), an object cut to its ``keep`` keys. ``encoding`` is the
    file's (``json.detect_encoding``'s name; a UTF-8 byte-order mark is skipped), ``limit`` the most bytes one
    element may take (UTF-8).

    Raises:
        StreamError: not JSON, a key twice in one object, nesting past ``MAX_DEPTH``, an element over
            ``limit`` bytes, or bytes that are no text in ``encoding`` (``reason`` says which; ``index`` where).
        OSError: the file cannot be read.
    """
    exact, python, given = False, False, 0
    while True:
        try:
            yield from _items(path, encoding, limit, keep, exact, python, given)
            return
        except _Restart as restart:  # read again from the start, the elements given before not given again
            given, exact, python = restart.given, exact or restart.exact, python or restart.python


class _Restart(Exception):
    """Read the file again: following the depth exactly (brackets enough for a deep nesting), or with the
    pure-Python backend (a number yajl cannot hold: an integer past 64 bits, a float past 1.8e308, both of
    which ``json.loads`` reads); ``given``: the elements already given."""

    def __init__(self, given: int, exact: bool = False, python: bool = False) -> None:
        super().__init__(given)
        self.given, self.exact, self.python = given, exact, python


def _items(path: Path, encoding: str, limit: int, keep: frozenset[str], exact: bool, python: bool,
           skip: int) -> Iterator[object]:
    import ijson

    backend = ijson.get_backend("python") if python else _backend()
    mapping = noting_map()
    index = 0
    with open_regular(path) as file:
        if encoding == "utf-8" and file.read(3) != codecs.BOM_UTF8:
            file.seek(0)
        source = _Source(file, encoding, exact, limit, backend.backend_name == "python")
        try:
            for item in backend.items(source, "item", map_type=mapping, use_float=True, buf_size=_CHUNK):
                source.element_read()
                if mapping.repeats:
                    found = repeat_in(item, f"[{index}]")
                    if found is not None:
                        raise StreamError(None, str(found), "repeat")
                if index >= skip:
                    yield kept(item, keep)
                index += 1
        except ijson.JSONError as e:  # IncompleteJSONError too; both backends raise these
            if source.stop is None:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                if "overflow" in first and backend.backend_name != "python":  # yajl's numbers are C's
                    raise _Restart(index, python=True) from None
                if _LONG_NUMBER.match(first):  # the pure-Python backend's int() refused it (CVE-2020-10735's guard)
                    raise StreamError(index, _LONG) from None
                raise StreamError(index, f"not JSON ({clipped(first, 120)})") from None
        except UnicodeDecodeError as e:  # yajl passes "\\udc00" on, which Python's UTF-8 decoding refuses
            raise StreamError(index, f"not JSON ({e.reason} in a string: a lone surrogate escape?)") from None

    if source.stop is not None:
        raise _stopped(source.stop, index, exact, limit)


def _stopped(why: Exception, index: int, exact: bool, limit: int) -> Exception:
    """What to raise for a source stopped by ``why`` while element ``index`` was read."""
    if isinstance(why, _Deep):
        return _Restart(index, exact=True) if not exact else StreamError(index, f"JSON nested deeper than {MAX_DEPTH} levels")
    if isinstance(why, _Surrogate):
        return _Restart(index, python=True)
    if isinstance(why, _TooLarge):
        return StreamError(index, f"an element over the {size_text(limit)} one is read up to (each is parsed whole; "
                                  f"{MAX_DATA_FILE_ENV} raises the limit)", "size")
    return StreamError(None, f"not {why.encoding.upper()} text ({why.reason} at byte {why.start})", "text")


def top_objects(path: Path, encoding: str, limit: int) -> tuple[str, int] | None:
    """What the whole of ``path`` is, streamed (a file too large to parse whole), as ``(kind, count)``: one JSON
    object every value of which is an object (pandas' ``DataFrame.to_json()`` default layout) is ``("columns",
    1)``, one other JSON object ``("object", 1)``, and ``count`` (2 or more) JSON objects one after another
    (JSON's white space, or nothing, between them) ``("objects", count)``. None when it is none of these (not
    JSON, a value that is no object, a token over ``limit`` bytes, nesting past ``MAX_DEPTH``, bytes that are no
    text in ``encoding``). Memory follows the longest token. ``encoding`` as ``array_items`` takes it. Keys
    written twice are not looked for.

    Raises:
        OSError: the file cannot be read.
    """
    import ijson

    backend = _backend()
    with open_regular(path) as file:
        if encoding == "utf-8" and file.read(3) != codecs.BOM_UTF8:
            file.seek(0)
        source = _Source(file, encoding, True, limit, backend.backend_name == "python")
        tops, depth, values, columns = 0, 0, 0, True
        try:
            for event, _ in backend.basic_parse(source, use_float=True, buf_size=_CHUNK, multiple_values=True):
                source.element_read()  # ``limit`` holds for what is read between two events: one token
                if depth == 0:
                    if event != "start_map":  # a top-level value that is no object
                        return None
                    tops += 1
                if event in ("end_map", "end_array"):
                    depth -= 1
                    continue
                if tops == 1 and depth == 1 and event != "map_key":  # a value of the first object
                    values, columns = values + 1, columns and event == "start_map"
                depth += event in ("start_map", "start_array")
        except (ijson.JSONError, UnicodeDecodeError):
            return None
    if not tops or depth or source.stop is not None:
        return None
    if tops > 1:
        return "objects", tops
    return ("columns" if columns and values else "object"), 1


def kept(item: object, keep: frozenset[str]) -> object:
    """``item`` cut to its ``keep`` keys when it is an object, those as ``json.loads`` builds them (plain dicts,
    as far down as a message shows them); anything else as it is. An object none of whose keys is kept keeps its
    first key, its value None, so a reader can still tell it from ``{}`` (an object of other fields is not empty)."""
    if not isinstance(item, dict):
        return item
    cut = {k: _plain(v) for k, v in item.items() if k in keep}
    return cut if cut or not item else {next(iter(item)): None}


def _plain(value: object, level: int = 0) -> object:
    if level > 16:  # deeper than a message shows (``shown.brief``): left as parsed
        return value
    if isinstance(value, dict):
        return {k: _plain(v, level + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, level + 1) for v in value]
    return value
