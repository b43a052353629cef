"""What one request to Gradio's upload route (``/gradio_api/upload``) may hold, checked part by part as its
multipart body streams by, before Gradio's own parser sees the bytes (``body_limit.BodyLimit`` feeds it).

Gradio 6.31's route takes up to 1000 files of ``max_file_size`` each in one request (``upload_fn`` hard-codes
``GradioMultiPartParser(max_files=1000, max_fields=1000)``; no setting changes it), so one request could make
the server write ~64 GB to disk. What its clients send is far less: the page's JavaScript client appends only
parts named ``files`` (``upload_files``, one per chosen file; each upload control here takes one image), and
``gradio_client`` uploads one file per request (``Client._upload_file``). Anything else is refused:

- more than ``MAX_UPLOAD_FILES`` files, or file bytes over ``MAX_UPLOAD_BYTES`` in all (one file's worth):
  413, at the part or byte that passes the limit;
- a part that is not a file (no ``filename`` in its ``Content-Disposition``): 400. Gradio keeps such a part
  whole in memory, answers a field named ``files`` with a 500 (``upload_fn``'s ``TypeError``) and any field
  sent with ``?upload_id=`` with a 500 (``on_part_data`` reads ``None.filename``);
- a file part not named ``files``: 400. Gradio writes it to its upload folder and never moves or deletes it;
- a filename Gradio refuses once the body is read (``upload_fn``'s 400 "Invalid file name", e.g. ``..``): 400
  as its headers end. Gradio has written the file by then and leaves it in its upload folder;
- a body that ends before its closing boundary (``--BOUNDARY--``: a lying ``Content-Length``, a cut chunked
  body): 400 (``finish``). Gradio answers such a body 200 ``[]`` and leaves its unfinished file behind;
- a body the parser cannot read (a folded part header, a missing CR): 400 with the parser's words, where
  Gradio said 413 "Headers exceeded maximum allowed size" of any unreadable part header;
- a boundary over 70 characters (RFC 2046 section 5.1.1: 1 to 70): 400 before the body is read.
  ``python_multipart`` raises ``FormParserError`` past 256, which was Gradio's 500 with an ERROR traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gradio.route_utils import API_PREFIX
from gradio.utils import DeveloperPath, InvalidPathError, UserProvidedPath, safe_join
from gradio_client.utils import strip_invalid_filename_characters
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from realunify_arena.asgi import header, route_path
from realunify_arena.benchmark.images import MAX_UPLOAD_BYTES
from realunify_arena.sizes import exact_size_text

MAX_UPLOAD_FILES = 4  # each upload control sends one image; a few more for a script's batch
UPLOAD_PART = b"files"  # the only part name Gradio's upload_fn reads
REFUSED = "upload refused: "  # how every refusal of an upload request begins
MAX_BOUNDARY_CHARS = 70  # RFC 2046 section 5.1.1: a boundary is 1 to 70 characters
UPLOAD_ROUTE = f"{API_PREFIX}/upload"  # Gradio's file upload route


class UploadParts:
    """Watches a multipart body of Gradio's upload route piece by piece (``feed``) and says what is wrong with
    it as soon as a part's headers or bytes show it: ``(status, message)``, else None.

    Raises:
        ValueError: ``max_files`` or ``max_bytes`` is negative.
    """

    def __init__(self, boundary: bytes, max_files: int = MAX_UPLOAD_FILES, max_bytes: int = MAX_UPLOAD_BYTES):
        if max_files < 0 or max_bytes < 0:
            raise ValueError(f"max_files and max_bytes must be 0 or more, not {max_files} and {max_bytes}")
        self.max_files, self.max_bytes = max_files, max_bytes
        self.files = self.file_bytes = self.parts = 0
        self.problem: tuple[int, str] | None = None
        self._header = self._name = b""
        self._disposition = b""
        self.ended = False  # the closing boundary has been read
        self.boundary = boundary
        self._parser: MultipartParser | None = None
        if len(boundary) > MAX_BOUNDARY_CHARS:
            self._refuse(400, f"the Content-Type's boundary has {len(boundary)} characters: RFC 2046 allows 1 to"
                              f" {MAX_BOUNDARY_CHARS}")
            return
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._begin, "on_header_field": self._header_name, "on_header_value": self._value,
            "on_header_end": self._header_end, "on_headers_finished": self._headers_done,
            "on_part_data": self._data, "on_end": self._end})

    @classmethod
    def of(cls, scope, **limits) -> "UploadParts | None":
        """A watcher for this request's multipart body, or None when it is not multipart with a boundary
        (Gradio's upload route refuses such a request before reading its body)."""
        main, options = parse_options_header(header(scope, "content-type"))
        boundary = options.get(b"boundary")
        return cls(boundary, **limits) if main == b"multipart/form-data" and boundary else None

    def feed(self, piece: bytes) -> tuple[int, str] | None:
        """Reads ``piece``; returns the first problem found so far, else None. A body the parser cannot read
        is a 400 with the parser's words: Gradio's parser, the same one, answered a part header it cannot read (a
        folded line, RFC 5322's obs-fold, which ``python_multipart`` does not take) with a 413 "Headers
        exceeded maximum allowed size" however short the header."""
        if self._parser is not None and self.problem is None:
            try:
                self._parser.write(piece)
            except MultipartParseError as error:
                self._parser = None
                where = f"in part {self.parts}" if self.parts else "at its first boundary"
                self._refuse(400, f"the multipart body cannot be read {where}: {error}")
        return self.problem

    def finish(self) -> tuple[int, str] | None:
        """Called once the whole body has been fed: the first problem found, or a 400 when the body ended before
        its closing boundary, else None."""
        if self.problem is None and self._parser is not None and not self.ended:
            where = f"inside part {self.parts}" if self.parts else "before its first part"
            self._refuse(400, f"the body ended {where}, without its closing boundary"
                              f" '--{self.boundary.decode('latin-1')}--' (cut off, or a Content-Length that is"
                              f" too small)")
        return self.problem

    def _end(self) -> None:
        self.ended = True

    def _begin(self) -> None:
        self.parts += 1
        self._disposition = b""

    def _header_name(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _value(self, data: bytes, start: int, end: int) -> None:
        self._header += data[start:end]

    def _header_end(self) -> None:
        if self._name.lower() == b"content-disposition":
            self._disposition = self._header
        self._name = self._header = b""

    def _headers_done(self) -> None:
        options = parse_options_header(self._disposition)[1]
        name = options.get(b"name", b"").decode("latin-1")
        where = f"part {self.parts} (name {name!r})"
        if b"filename" not in options:
            self._refuse(400, f"{where} is a form field, not a file: this route takes only files, each a part"
                              f" named {UPLOAD_PART.decode()!r} with a filename")
        elif options.get(b"name") != UPLOAD_PART:
            self._refuse(400, f"{where} is a file under another name: each file must be a part named"
                              f" {UPLOAD_PART.decode()!r}")
        elif gradio_refuses_name(options[b"filename"]):
            self._refuse(400, f"{where} has the filename {options[b'filename'].decode('latin-1')[:80]!r}, which"
                              f" names no file")
        else:
            self.files += 1
            if self.files > self.max_files:
                self._refuse(413, f"{where} is file {self.files}: one upload request takes at most"
                                  f" {self.max_files} files")

    def _data(self, data: bytes, start: int, end: int) -> None:
        self.file_bytes += end - start
        if self.file_bytes > self.max_bytes:
            self._refuse(413, over_bytes(self.max_bytes))

    def _refuse(self, status: int, message: str) -> None:
        if self.problem is None:
            self.problem = (status, REFUSED + message)


def gradio_refuses_name(filename: bytes) -> bool:
    """Whether Gradio 6.31's ``upload_fn`` refuses ``filename`` (its 400 "Invalid file name") once the body is
    read, named the way it names it: the last path segment, stripped of characters no file name takes."""
    if not filename:
        return False  # Gradio names such a file itself
    name = strip_invalid_filename_characters(Path(filename.decode("utf-8", "replace")).name)
    try:
        safe_join(DeveloperPath("upload"), UserProvidedPath(name))
    except InvalidPathError:
        return True
    return False


def over_bytes(max_bytes: int) -> str:
    """Why an upload request whose files pass ``max_bytes`` in all is refused (without ``REFUSED``)."""
    return f"the files of one upload request may hold {exact_size_text(max_bytes)} in all"


@dataclass(frozen=True)
class UploadRules:
    """The upload route's rules, as ``body_limit.BodyLimit`` (``uploads=``) holds its multipart bodies to them:
    at most ``max_files`` files holding ``max_bytes`` in all (``UploadParts``).

    Raises:
        ValueError: ``max_files`` or ``max_bytes`` is negative.
    """

    route: str = UPLOAD_ROUTE
    max_files: int = MAX_UPLOAD_FILES
    max_bytes: int = MAX_UPLOAD_BYTES

    def __post_init__(self) -> None:
        if self.max_files < 0 or self.max_bytes < 0:
            raise ValueError(f"max_upload_files and max_upload_bytes must be 0 or more, not {self.max_files} and"
                             f" {self.max_bytes}")

    def watch(self, scope) -> UploadParts | None:
        """A watcher for this request's body if it is a multipart request to ``route`` (with or without a final
        ``/``), else None (the body is then only capped as any other)."""
        if route_path(scope) not in (self.route, self.route + "/"):
            return None
        return UploadParts.of(scope, max_files=self.max_files, max_bytes=self.max_bytes)

    def too_large(self) -> tuple[int, str]:
        """The refusal of an upload request whose body passes ``max_bytes`` (and the room its parts' headers
        take)."""
        return 413, REFUSED + over_bytes(self.max_bytes)

    def gone(self) -> tuple[int, str]:
        """The refusal of an upload whose client went away before its body ended (no one reads it: it makes
        Gradio's parser delete the files it had begun writing)."""
        return 400, REFUSED + "the client went away before the body ended"
