"""Reading a JSON (or JSON Lines, or CSV) file's text whatever Unicode encoding a tool saved it in, a
configuration or data file's bytes only when it is a regular file (``read_regular``), and what a path that names
no readable regular file names instead (``path_fault``: the one wording of a folder, a device, a pipe, a dangling
or looping link, ... for data files, result images and dataset images alike)."""

from __future__ import annotations

import codecs
import contextlib
import errno
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from realunify_arena.sizes import size_text

# the largest JSON, JSON Lines or CSV data file read (instances, result files, votes): it is read whole and
# parsed into Python objects several times its size, so a 2 GB file ran the machine out of memory with no
# message. RealUnify's own instance and result files are a few MB each (one per task), a year of an arena's
# votes tens of MB.
MAX_DATA_FILE_BYTES = 256 * 2**20
# raises (or lowers) that limit for one run, in MiB: a reader with the memory for a larger file need not split it
MAX_DATA_FILE_ENV = "REALUNIFY_MAX_DATA_FILE_MB"
_MAX_DATA_FILE_MB = 2**20  # 1 TiB: the largest value the variable takes

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))
NO_SUCH_FILE = "no such file"  # ``path_fault`` of a path naming nothing at all


def kind_of(mode: int) -> str:
    """What a file that is not a regular file is, from its ``st_mode``: ``"a folder"``, ``"a character device"``
    (``/dev/null``), ``"a block device"``, ``"a named pipe"``, ``"a socket"``, else ``"a special file"``."""
    return next((what for test, what in _KINDS if test(mode)), "a special file")


def path_fault(path: str | os.PathLike) -> str | None:
    """Why ``path`` (a symlink followed) names no regular file this process can read, as a phrase to follow
    ``"<path>: "``; None when it names one.

    The phrases: ``NO_SUCH_FILE``; ``"a folder, not a file"`` (likewise a character device such as
    ``/dev/null``, a block device, a named pipe, a socket: ``kind_of``); ``"a symbolic link to 'x.png', which
    names nothing"``; ``"a loop of symbolic links"`` (ELOOP); ``"a name too long for the file system"``
    (ENAMETOOLONG); ``"a name holding a NUL byte, which no file name can"``; ``"no such file: x.png is a file,
    not a folder"`` (ENOTDIR); ``"a file this user has no permission to read"`` (EACCES; root reads any);
    ``"not reachable: no permission to enter a folder above it"``; else ``"cannot be read (<strerror>)"``.
    Never raises, and never opens anything but a regular file (and that without blocking): a named pipe opened
    for reading would wait for a writer forever.
    """
    text = os.fspath(path)
    if "\x00" in text:
        return "a name holding a NUL byte, which no file name can"
    try:
        mode = os.stat(text).st_mode
    except OSError as e:
        return _stat_fault(text, e)
    except ValueError as e:  # another name the platform refuses
        return f"cannot be named here ({e})"
    if not stat.S_ISREG(mode):
        return f"{kind_of(mode)}, not a file"
    try:
        os.close(os.open(text, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)))
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM):
            return "a file this user has no permission to read"
        return f"cannot be read ({e.strerror})"
    return None


def _stat_fault(text: str, error: OSError) -> str:
    """``path_fault``'s phrase for a path that ``os.stat`` refused with ``error``."""
    if error.errno == errno.ELOOP:
        return "a loop of symbolic links"
    if error.errno == errno.ENAMETOOLONG:
        return "a name too long for the file system"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "not reachable: no permission to enter a folder above it"
    if error.errno == errno.ENOTDIR:
        for above in reversed(Path(text).parents):
            if str(above) not in (".", above.anchor) and os.path.exists(above) and not os.path.isdir(above):
                return f"{NO_SUCH_FILE}: {above} is a file, not a folder"
        return f"{NO_SUCH_FILE}: a part of it is a file, not a folder"
    if error.errno == errno.ENOENT and os.path.islink(text):
        try:
            target = os.readlink(text)
        except OSError:
            target = "?"
        return f"a symbolic link to {target!r}, which names nothing"
    if error.errno == errno.ENOENT:
        return NO_SUCH_FILE
    return f"cannot be read ({error.strerror})"


def data_file_limit() -> int:
    """The largest data file read, in bytes: ``$REALUNIFY_MAX_DATA_FILE_MB`` MiB (a whole number from 1 to
    1048576) when set and not empty, else ``MAX_DATA_FILE_BYTES`` (256 MiB). Read at each call, so a command
    or app started with the variable uses it.

    Raises:
        OSError: ``errno.EINVAL``, the variable is set to something else (``strerror`` names it and its value).
    """
    raw = os.environ.get(MAX_DATA_FILE_ENV, "").strip()
    if not raw:
        return MAX_DATA_FILE_BYTES
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= _MAX_DATA_FILE_MB):
        raise OSError(errno.EINVAL, f"{MAX_DATA_FILE_ENV}={raw[:40]!r}: expected a whole number of MiB from 1 to"
                                    f" {_MAX_DATA_FILE_MB}")
    return int(raw) * 2**20


class FileTooLarge(OSError):
    """A data file over the size a reader takes (``errno.EFBIG``): ``filename`` is the file, ``strerror`` says
    its size, the limit and what to do; ``size`` and ``limit`` are in bytes. ``measure`` qualifies the size
    (``"uncompressed"`` for a parquet file, whose columns are decompressed whole)."""

    def __init__(self, path: Path, size: int, limit: int, measure: str = "") -> None:
        exact = f" ({size} bytes)" if size >= 2**20 else ""
        measure = f" {measure}" if measure else ""
        super().__init__(errno.EFBIG, f"{size_text(size)}{exact}{measure}, over the {size_text(limit)} a data file"
                                      " is read up to (it is read whole into memory); split it into several files"
                                      " (RealUnify's own layout has one file per task), or raise the limit with"
                                      f" {MAX_DATA_FILE_ENV}", str(path))
        self.size, self.limit = size, limit

    def __str__(self) -> str:  # "<file>: <why>", not OSError's "[Errno 27] <why>: '<file>'"
        return f"{self.filename}: {self.strerror}"


def open_regular(path: Path) -> BinaryIO:
    """``path`` (a symlink followed) opened for reading bytes, only when it is a regular file (see
    ``read_regular``: opened without blocking and checked on its open descriptor). The caller closes it.

    Raises:
        OSError: the file cannot be opened, or is not a regular file (``strerror``: ``"not a regular file but a
            character device"``, ...).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    file = os.fdopen(fd, "rb")
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        file.close()
        raise OSError(errno.EINVAL, f"not a regular file but {kind_of(mode)}", str(path))
    os.set_blocking(fd, True)
    return file


def read_regular(path: Path, limit: int | None = None, *, refuse_over: bool = False) -> bytes:
    """The bytes of ``path`` (a symlink followed), at most ``limit + 1`` of them when ``limit`` is given (so a
    caller sees that the file is over ``limit`` without reading it all). With ``refuse_over``, a file over
    ``limit`` raises ``FileTooLarge`` instead, from its size before a byte is read (a 2 GB file costs nothing).

    Only a regular file is read: a card or data file that is a link to ``/dev/zero`` or ``/dev/urandom`` (which
    a pull request can add: git stores links) was read until memory ran out, and a named pipe blocked the
    app's start for good. The file is opened without blocking and checked on its open descriptor, so nothing
    can be swapped in between.

    Raises:
        OSError: the file cannot be opened or read, or is not a regular file (``strerror``: ``"not a regular
            file but a character device"``, ...).
        FileTooLarge: ``refuse_over`` and the file is over ``limit`` bytes (an ``OSError``).
    """
    with open_regular(path) as file:
        if limit is None:
            return file.read()
        size = os.fstat(file.fileno()).st_size
        if refuse_over and size > limit:
            raise FileTooLarge(path, size, limit)
        data = _read_up_to(file, min(size, limit) + 1, limit + 1)
        if refuse_over and len(data) > limit:  # it grew while being read
            raise FileTooLarge(path, max(size, len(data)), limit)
        return data


def _read_up_to(file: BinaryIO, first: int, most: int) -> bytes:
    """At most ``most`` bytes of ``file``: ``first`` at once (its size and one more, to see that it grew), then,
    only for a file that grew, a chunk at a time. ``read(n)`` allocates ``n`` bytes before reading: with ``n``
    the limit, 256 MiB for a file of a few bytes, and a ``MemoryError`` for a limit the machine cannot allocate."""
    data = file.read(first)
    if len(data) < first or first >= most:
        return data
    parts = [data]
    while (read := sum(map(len, parts))) < most:
        chunk = file.read(min(_CHUNK, most - read))
        if not chunk:
            break
        parts.append(chunk)
    return b"".join(parts)


def read_json_text(path: Path, limit: int | None = None) -> str:
    """The text of ``path`` (at most ``limit`` bytes, default ``data_file_limit()``): UTF-8 with or without a
    byte-order mark, or UTF-16 / UTF-32 (as Windows PowerShell's ``>`` and ``Out-File`` write), told apart as
    ``json.loads`` tells them apart on bytes (``json.detect_encoding``: the byte-order mark, else the pattern of
    zero bytes). A byte-order mark is no part of the text.

    Raises:
        OSError: the file cannot be read, or is not a regular file (``read_regular``), or
            ``$REALUNIFY_MAX_DATA_FILE_MB`` is not a number of MiB (``data_file_limit``).
        FileTooLarge: the file is over ``limit`` bytes (an ``OSError``; nothing of it is read).
        UnicodeDecodeError: the bytes are no text in the encoding found (``.encoding`` names it).
    """
    data = read_regular(path, data_file_limit() if limit is None else limit, refuse_over=True)
    encoding = json.detect_encoding(data)
    return data.decode("utf-8-sig" if encoding == "utf-8" else encoding)


# where a line of a JSON Lines text ends (``json_lines``)
LINE_BREAK = re.compile(r"\r\n|\r|\n")


def json_lines(text: str) -> list[str]:
    """The lines of a JSON Lines text, split only where a line ends in JSON Lines (``\\n``; ``\\r\\n`` and ``\\r``
    as Python's universal newlines read them, which is how the official scripts' ``load_jsonl`` reads a file:
    ``for line in open(path)``). ``str.splitlines`` also splits at U+2028, U+2029, U+0085 and U+001C-U+001E;
    JSON allows the first three unescaped inside a string (``json.dumps(..., ensure_ascii=False)`` writes
    them so), so a reply holding one would break its line in two."""
    return LINE_BREAK.split(text)


BOM = "\ufeff"  # the byte-order mark (U+FEFF), as text


def line_bom_fault(line: str, *, first: bool = False) -> str | None:
    """What is wrong with a line of a JSON Lines or CSV file that starts with a byte-order mark (U+FEFF) after the
    one a file may start with (skipped as the file is read), as where two files each written with one were joined
    with ``cat``; None for a line that does not. ``first``: ``line`` is the file's text after that mark (a JSON
    file, or a file's first line), so the mark is a second one. The official scripts (``json.load`` or
    ``json.loads`` of each line of ``open(path, encoding="utf-8")``, FrankYang-17/RealUnify
    ``eval/eval_understanding.py``) read no mark at all, so such a line is refused, saying what to do, not in
    ``json``'s words ("Unexpected UTF-8 BOM (decode using utf-8-sig)")."""
    if not line.startswith(BOM):
        return None
    if first:
        return ("starts with two UTF-8 byte-order marks (U+FEFF, the bytes EF BB BF), where a file holds one at "
                "most: a tool added one to a file that had one? Remove them (sed -i '1s/^\\(\\xEF\\xBB\\xBF\\)*//' "
                "FILE)")
    return ("starts with a UTF-8 byte-order mark (U+FEFF, the bytes EF BB BF), which only a file's start may hold: "
            "files each written with one joined with `cat`? Remove the mark from the line's start (sed -i "
            "'s/^\\xEF\\xBB\\xBF//' FILE removes it from every line), or join the files with a tool that skips it")


# Files of other kinds given where text is read, told by their first bytes (each format's own signature: Apache
# Parquet's "PAR1", gzip's RFC 1952 ID, a ZIP local file header, SQLite's header string), and what to do instead.
# Chatbot Arena's battles on the Hugging Face Hub are Parquet; the store (``arena.db``) is SQLite.
_SIGNATURES = (
    (b"PAR1", "a Parquet file, not text; write it as JSON Lines first (pandas: "
              "read_parquet(FILE).to_json(OUT, orient='records', lines=True))"),
    (b"\x1f\x8b", "a gzip-compressed file, not text; decompress it first (gunzip)"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook is one too), not text; unpack it, or save the sheet as CSV"),
    (b"SQLite format 3\x00", "a SQLite database, not text (a store: the commands read one with --db)"),
)


def binary_kind(path: Path) -> str | None:
    """What ``path`` is when its first bytes are the signature of a file kind that is no text (``_SIGNATURES``),
    with what to do instead; None otherwise, or when it cannot be read."""
    try:
        with open_regular(path) as file:
            head = file.read(16)
    except OSError:
        return None
    return next((said for magic, said in _SIGNATURES if head.startswith(magic)), None)


def not_text(error: UnicodeDecodeError, path: Path | None = None) -> str:
    """How a file whose bytes ``read_json_text`` could not decode is described in a refusal: what it is where its
    first bytes say (``binary_kind`` of ``path``: "a Parquet file, not text; ..."), else ``"not UTF-16-LE text
    (illegal UTF-16 surrogate at byte 6)"``, the encoding it was read in and where its bytes broke."""
    kind = binary_kind(path) if path is not None else None
    return kind or f"not {error.encoding.upper()} text ({error.reason} at byte {error.start})"


_LINE_END = re.compile(rb"\r\n|\r|\n")  # ``json_lines``' line ends, on UTF-8 bytes
_CHUNK = 64 * 1024  # bytes read at a time


class LongLine(ValueError):
    """A line over the most bytes one is read up to (``utf8_lines``); ``number`` is its number, from 1."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number


def _raw_lines(file: BinaryIO, limit: int) -> Iterator[tuple[int, bytes, int]]:
    """The lines of ``file`` (UTF-8 bytes, from where it stands): (number from 1, the line's bytes with its
    end, where it begins: bytes from the starting position), split where ``json_lines`` splits the decoded
    text (``\\r\\n`` one end wherever a chunk boundary falls; in UTF-8 these bytes are never part of another
    character, so no character is cut). Raises ``LongLine`` for a line over ``limit`` bytes, before more of it
    is read."""
    buffer, number, offset, scan = bytearray(), 1, 0, 0
    while True:
        chunk = file.read(_CHUNK)
        buffer += chunk
        start = 0
        for end in _LINE_END.finditer(buffer, scan):
            if chunk and end.end() == len(buffer) and end.group() == b"\r":  # "\r\n" maybe cut: wait
                break
            line = bytes(buffer[start:end.end()])
            if end.start() - start > limit:
                raise LongLine(number)
            yield number, line, offset
            number, offset, start = number + 1, offset + len(line), end.end()
        del buffer[:start]
        if len(buffer) - (buffer[-1:] == b"\r") > limit:
            raise LongLine(number)
        if not chunk:
            if buffer:
                yield number, bytes(buffer), offset
            return
        scan = len(buffer) - (buffer[-1:] == b"\r")  # no line end before: only after, or the held "\r"


def _within(path: Path, lines: Iterator[tuple[int, bytes, int]], limit: int) -> Iterator[tuple[int, bytes, int]]:
    """``lines``, refused with ``FileTooLarge`` once they pass ``limit`` bytes in all (a file that grew while
    read: its size was within ``limit`` when opened)."""
    try:
        for number, raw, offset in lines:
            if offset + len(raw) > limit:
                raise FileTooLarge(path, offset + len(raw), limit)
            yield number, raw, offset
    except LongLine:  # a line over the limit is a file over it
        raise FileTooLarge(path, limit + 1, limit) from None


@contextlib.contextmanager
def utf8_lines(path: Path, limit: int, *, whole_limit: bool = False) -> Iterator[Iterator[tuple[int, bytes, int]]]:
    """The lines of the UTF-8 file ``path`` (``open_regular``) after its byte-order mark, if any, read a chunk at a
    time: (number from 1, the line's bytes with its end, where it begins: bytes after the mark, as
    ``bytes.decode('utf-8-sig')`` counts them), split where ``json_lines`` splits the decoded text. A line over
    ``limit`` bytes raises ``LongLine`` (memory follows the longest line). With ``whole_limit`` the limit is the
    file's instead (a reader that keeps every line's content): a file over ``limit`` bytes raises
    ``FileTooLarge`` from its size before a byte is read, as ``read_regular`` refuses it, or once it has grown
    past it. ``decoded_line`` decodes a line.

    Raises:
        OSError: the file cannot be opened or read, or is not a regular file (``FileTooLarge``: see above).
        LongLine: a line over ``limit`` bytes (without ``whole_limit``).
    """
    with open_regular(path) as file:
        size = os.fstat(file.fileno()).st_size
        if whole_limit and size > limit:
            raise FileTooLarge(path, size, limit)
        if file.read(3) != codecs.BOM_UTF8:
            file.seek(0)
        lines = _raw_lines(file, limit)
        yield _within(path, lines, limit) if whole_limit else lines


def decoded_line(raw: bytes, offset: int) -> str:
    """``raw`` (a line of ``utf8_lines``, with its end, ``offset`` bytes into the text) as text.

    Raises:
        UnicodeDecodeError: a byte that is no UTF-8, its ``start`` counted from the text's start (``offset``
            added), as decoding the whole file names it: the line's end is decoded with it, so a character cut
            by it is named so too (``not_text`` says it).
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UnicodeDecodeError(e.encoding, e.object, offset + e.start, offset + e.end, e.reason) from None


def line_body(line: str) -> str:
    """``line`` without its end (``\\r\\n``, ``\\r`` or ``\\n``), as ``json_lines`` gives it."""
    return line[:-2] if line.endswith("\r\n") else line[:-1] if line.endswith(("\r", "\n")) else line


def utf8_file(path: Path) -> bool:
    """Whether ``path``'s text is UTF-8 (with or without a byte-order mark) as ``read_json_text`` tells it
    (``json.detect_encoding`` on its first bytes), so ``utf8_lines`` reads it; else it is UTF-16 or UTF-32.

    Raises:
        OSError: the file cannot be opened or read, or is not a regular file.
    """
    with open_regular(path) as file:
        return json.detect_encoding(file.read(4)) in ("utf-8", "utf-8-sig")
