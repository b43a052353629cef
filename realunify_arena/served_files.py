"""The files the page fetches: those the app writes for it (a run's details download, a battle's pre-vote
images, each in a folder of its own under the system temp folder) and the files Gradio keeps for the page in its
temp folder (``GRADIO_TEMP_DIR``, or ``<temp>/gradio``): its copies of those files and of every picture the page
shows (a run's output, the earlier outputs' gallery), and every upload. Gradio removes none of them while the app
runs, so every run, battle and upload added files for good: bounded per visitor only by the run limit, and in all
by nothing.

Before the app writes such a file (``write``) and as an upload request starts (``make_room``), these files are
held to ``MAX_SERVED_BYTES`` in all, the least recently written or shown removed first; files still in use are
removed last, only while the files in all hold more than ``MAX_SERVED_BYTES + MAX_IN_USE_BYTES``. So the total
stays within ``MAX_SERVED_BYTES`` plus what the requests under way add, and within ``MAX_SERVED_BYTES +
MAX_IN_USE_BYTES`` (2 GiB) plus those when files in use hold more than ``MAX_SERVED_BYTES`` on their own. Their
number is held the same way, to ``MAX_SERVED_FILES`` and ``MAX_SERVED_FILES + MAX_IN_USE_FILES``: a file of no
bytes costs a folder entry, an inode (Gradio's hash folder another), an entry of the index below and an ``lstat``
of each full look, and before, a script's uploads of a few bytes each (4 a request) were never removed (1,000
requests kept 4,000 files of 12 KB in all). A file is in use while

- a session Gradio still keeps (its ``state_holder``: a page's until its tab closes, ``ui.sessions`` drops it when
  the heartbeat ends, or after an idle hour; a script's until ``ui.sessions.release_unwatched`` drops it) shows
  it: the latest value an event of that session sent to, or took from, a component (a page left open keeps its
  picture and download; the outputs it has replaced are no longer in use);
- or it is an upload no event has taken yet, written within ``UPLOAD_HOLD_S`` (one waiting in Gradio's queue, or
  in a page's form before Run), and among its visitor's newest ``MAX_WAITING_BYTES_PER_VISITOR`` and newest
  ``MAX_WAITING_FILES_PER_VISITOR`` of such uploads (``uploaded``: the visitor as ``serve_from``'s ``visitor``
  names the request's sender; an upload of no known visitor is held as before). Without this, one client's
  uploads alone used up ``MAX_IN_USE_BYTES``, and the sweep then removed every visitor's files in use, oldest
  first;
- or a request of Gradio's file route is about to send it (``serving``, which ``file_urls.FileRoute`` holds from
  before Gradio checks that the file exists until the file is open and its first bytes go out): without this, a
  sweep between that check and Starlette's look at the file made the request a 500;
- or it was written since the oldest event still under way began, and is no upload: it may be that event's answer
  (Gradio copies and records an answer's files while it makes the answer, and which they are is known once it is
  made; ``write``'s own file is needed until Gradio has copied it). Without this, once files in use held
  ``MAX_SERVED_BYTES``, an answer's files were the first that another request's sweep removed, before the answer
  was sent. An upload is never an answer (Gradio records those among a block's files): before, while any event
  was under way (a run of a minute; on a busy arena nearly always), every upload was in use, past its visitor's
  ``MAX_WAITING_FILES_PER_VISITOR`` too, so one client's tiny uploads filled the files in use, and each write and
  upload then set aside and put back every one of them (~190 ms a sweep at 20,000 files).

Gradio's temp folder may be shared with other Gradio apps on the machine, so of its files only those Gradio
records as this app's are counted and removed: the ``temp_file_sets`` of each page given to ``serve_from``, the
record Gradio's own ``Blocks(delete_cache=...)`` clears (``gradio/route_utils.py``
``delete_files_created_by_app``, which removes by age, not by size, and never a component's own file,
``keep_in_cache``: neither does this module). A removed file also leaves that record.

The sizes and times the sweep needs come from an index kept in memory (``ServedIndex``), not from a look at every
file per write (an ``lstat`` each, ~20-90 ms per 10,000 files; ``bench/served_index.py`` measures both). Each
write reads what changed since the last: one ``lstat`` of each of ``OWN_FOLDERS`` (its names read again, and only
new ones looked at, when its modification time moved), and what Gradio added to or removed from its records
(each record of a block or of the uploads is replaced, once, by the same set that also queues its changes,
``_Record``; a record of another owner, such as a ``gr.render``'s blocks, is read whole, in memory, when its size
changed). A sweep takes the oldest files from a heap (``log n`` each), setting aside, and putting back, each
file in use older than the last it removes. How stale it may be:

- files this process writes, removes or Gradio records (or drops from its record), and files another process adds
  to or removes from ``OWN_FOLDERS``, are seen at the next write or upload;
- a file changed behind the index's back otherwise (a file of Gradio's record removed or rewritten by another
  process or a person, a file of ``OWN_FOLDERS`` rewritten in place by another process, a record of another owner
  that lost and gained as many files between two writes) is seen within ``REFRESH_S``, when the index looks at
  every file again as before (that look costs what one write cost before, once a minute). Until then a gone
  file's bytes still count, so a sweep may remove up to that much more than it needs (in the same order); a file
  a sweep finds gone is dropped and its bytes not counted as removed.
"""

from __future__ import annotations

import collections
import errno
import heapq
import math
import os
import stat
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path

# The most bytes the served files hold before a write (the largest upload, 64 MiB, fits 16 times over; a run's
# output picture is ~0.1-5 MB as Gradio's WebP, a details download a few KB).
MAX_SERVED_BYTES = 2**30
# How many more bytes files in use may hold past MAX_SERVED_BYTES before they too are removed, oldest first.
MAX_IN_USE_BYTES = 2**30
# How long a file the app writes is kept for Gradio to copy (it copies it as the answer is sent).
STAGED_SECONDS = 600
# The most bytes of one visitor's uploads no event has taken yet that are held as in use, newest first: four of the
# largest uploads (a page's form holds one or two pictures; a run takes them within seconds).
MAX_WAITING_BYTES_PER_VISITOR = 4 * 64 * 2**20
# The most files the served files hold before a write (MAX_SERVED_BYTES holds ~200-10,000 run outputs of 0.1-5 MB),
# and how many more files in use may be, past it, before they too are removed, oldest first.
MAX_SERVED_FILES = 20_000
MAX_IN_USE_FILES = 20_000
# The most files of one visitor's uploads no event has taken yet that are held as in use, newest first: four
# requests of the most files one takes (upload_parts.MAX_UPLOAD_FILES).
MAX_WAITING_FILES_PER_VISITOR = 16
# How long an upload no event has taken yet is in use: as long as an idle page keeps its state (ui.sessions
# IDLE_S), so a file picked in a page's form, or queued behind a long run, is still there when its event runs.
UPLOAD_HOLD_S = 3600.0
# How often the index looks at every file again (the most it may be stale about a change behind its back).
REFRESH_S = 60.0
# A folder changed this recently may change again within the same tick of the file system's clock (Linux
# updates a folder's modification time from a clock of a few ms): its names are read again at the next write.
_RACY_S = 1.0
# How far a file's modification time may lag the clock (Linux stamps files from a clock that ticks every 1-10 ms).
_CLOCK_LAG_S = 0.1
# The folders under the system temp folder the app writes served files to (``write``'s ``folder``).
OWN_FOLDERS = ("realunify-traces", "realunify-battles")

_pages: weakref.WeakSet = weakref.WeakSet()  # serve_from's gr.Blocks, while they live
_visitor: list = []  # serve_from's ``visitor``, the last one given
_lock = threading.Lock()  # _pages and _index


def serve_from(page, visitor: Callable[[dict], str] | None = None) -> None:
    """Counts the files Gradio keeps for ``page`` (a ``gr.Blocks`` built in this process: its ``temp_file_sets``,
    uploads included) among the served files from now on, and notes which files each of its sessions shows (its
    ``process_api``'s inputs and outputs, wrapped once). A process that built no page sweeps only its own
    files. ``visitor``: who sent an HTTP request (its ASGI scope), as the app's rate limits count visitors; an
    upload's files are then held per visitor (``uploaded``)."""
    with _lock:
        if visitor is not None:
            _visitor[:] = [visitor]
        if page in _pages:
            return
        _pages.add(page)
    _note_events(page)


def own_folder_problem(folder: Path) -> str | None:
    """Why ``folder`` (one of ``OWN_FOLDERS`` under the system temp folder, which other users may write to) is not
    a folder of this app's to write and remove files in: a symlink (to anywhere: the app would write, and its
    clean-ups remove, files there), not a folder, or another user's. None when it is this user's folder or not
    there."""
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        return f"{folder} is a symlink"
    if not stat.S_ISDIR(info.st_mode):
        return f"{folder} is not a folder"
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return f"{folder} belongs to another user (uid {info.st_uid})"
    return None


def served_files() -> list[str]:
    """The paths of the served files, read afresh (the walk the index replaces; ``sweep`` takes it): every file in
    ``OWN_FOLDERS`` (not one whose ``own_folder_problem`` says it is not the app's) and every file Gradio records
    for the pages given to ``serve_from`` (some may be gone already)."""
    own = Path(tempfile.gettempdir())
    paths = [os.path.join(root, name) for folder in OWN_FOLDERS if own_folder_problem(own / folder) is None
             for root, _, names in os.walk(own / folder) for name in names]
    with _lock:
        pages = list(_pages)
    for page in pages:
        for kept in list(page.temp_file_sets):  # list() of a set copies it in one step: no "changed size" error
            paths.extend(list(kept))
    return paths


def write(folder: str, name: str, data: bytes) -> str:
    """``data`` written as ``name`` (its last part) in ``folder`` (one of ``OWN_FOLDERS``) under the system temp
    folder, which Gradio serves; that folder's files older than ``STAGED_SECONDS`` are removed first, then the
    served files are held to ``MAX_SERVED_BYTES`` less ``data``'s size (see the module's docstring). Returns the
    file's path.

    Raises:
        OSError: the file cannot be written, or the folder is not the app's (``own_folder_problem``: a symlink or
            another user's folder in a shared temp folder); nothing is written or removed then.
    """
    staging = Path(tempfile.gettempdir()) / folder
    staging.mkdir(mode=0o700, parents=True, exist_ok=True)
    problem = own_folder_problem(staging)
    if problem is not None:
        raise OSError(errno.EPERM, f"{problem}; expected a folder of this app's own: remove it, or give the app a "
                                   "private temp folder (TMPDIR)")
    with _lock:
        now = time.time()
        _index.update(list(_pages), now)
        _index.remove_older(str(staging), now - STAGED_SECONDS)
        _index.sweep(MAX_SERVED_BYTES - len(data), MAX_SERVED_BYTES + MAX_IN_USE_BYTES - len(data), now,
                     MAX_SERVED_FILES - 1, MAX_SERVED_FILES + MAX_IN_USE_FILES - 1)
    path = staging / Path(name).name
    path.write_bytes(data)
    with _lock:
        _index.note(str(path))
    return str(path)


def uploaded(scope: dict, paths: Iterable[str]) -> None:
    """Notes that the upload request ``scope`` (an ASGI scope) wrote ``paths`` (Gradio's answer): held as in use,
    while no event has taken them, only among its visitor's newest ``MAX_WAITING_BYTES_PER_VISITOR`` (see the
    module's docstring). Nothing is noted when ``serve_from`` was given no ``visitor``."""
    if not _visitor:
        return
    key = _visitor[0](scope)
    with _lock:
        for path in paths:
            if isinstance(path, str):
                _index.uploader[path] = key


def make_room(incoming: int, files: int = 1) -> int:
    """Holds the served files to ``MAX_SERVED_BYTES`` less ``incoming`` bytes and to ``MAX_SERVED_FILES`` less
    ``files`` files about to be written (an upload, which Gradio keeps in its temp folder: ``body_limit.BodyLimit``
    calls this as an upload request starts), files in use to ``MAX_IN_USE_BYTES`` and ``MAX_IN_USE_FILES`` more
    (see the module's docstring). Returns the bytes removed."""
    with _lock:
        now = time.time()
        _index.update(list(_pages), now)
        return _index.sweep(MAX_SERVED_BYTES - incoming, MAX_SERVED_BYTES + MAX_IN_USE_BYTES - incoming, now,
                            MAX_SERVED_FILES - files, MAX_SERVED_FILES + MAX_IN_USE_FILES - files)


def sweep(paths: Iterable[str], max_bytes: int) -> int:
    """Removes the least recently modified of the regular files ``paths`` names (a symlink, a folder or a path
    that is gone is passed over) until the rest hold at most ``max_bytes`` bytes; a folder a removal leaves empty
    goes too (Gradio keeps each file in a folder named by its hash), but for ``OWN_FOLDERS``. Each path is looked
    at once (an ``lstat``: ~1-2 us, ~20 ms per 10,000 files; the app's writes use ``ServedIndex`` instead).
    Returns the bytes removed."""
    files = []
    for path in set(paths):
        info = _regular(path)
        if info is not None:
            files.append((info.st_mtime, info.st_size, path))
    total = sum(size for _, size, _ in files)
    removed = 0
    for _, size, path in sorted(files):
        if total - removed <= max_bytes:
            break
        if _remove(path):
            removed += size
    return removed


def _regular(path: str) -> os.stat_result | None:
    """``path``'s ``lstat`` when it is a regular file (not a symlink, not a folder), else None (gone too)."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return info if stat.S_ISREG(info.st_mode) else None


def _remove(path: str) -> bool | None:
    """Removes the file ``path`` and its folder when that is left empty (Gradio's hash folder; never one of
    ``OWN_FOLDERS``, which ``write`` may be about to write into). True when removed, False when it was gone
    already, None when it could not be removed (permissions)."""
    try:
        os.remove(path)
    except FileNotFoundError:
        return False
    except OSError:
        return None
    parent = os.path.dirname(path)
    if os.path.basename(parent) not in OWN_FOLDERS:
        try:
            os.rmdir(parent)  # only when empty
        except OSError:
            pass
    return True


def serving(path: str) -> Callable[[], None]:
    """Marks ``path`` (absolute, as Gradio records it) as in use for a file route request about to send it, and
    returns what ends that (once; later calls do nothing): call it once the file is open (its first bytes are
    being sent; the open file stays readable when removed) or the request is over, so a client that reads
    slowly holds no file in use. Call both from one thread (the server's event loop); a sweep in any thread
    reads the mark."""
    counts = _index.serving
    counts[path] = counts.get(path, 0) + 1
    done = []

    def release() -> None:
        if not done:
            done.append(True)
            counts[path] -= 1
            if not counts[path]:
                del counts[path]

    return release


def paths_in(value) -> frozenset[str] | None:
    """The file paths a component's value as Gradio's events carry it names (each ``"path"`` string of a dict at
    any depth: ``FileData``, a gallery's items, an update's value), or None for an update that leaves the value
    as it was (``gr.skip()``, an update without ``value``)."""
    if isinstance(value, dict) and value.get("__type__") == "update" and "value" not in value:
        return None
    found = set()
    stack = [value]
    while stack:  # no recursion: a visitor's input may nest deeply
        item = stack.pop()
        if isinstance(item, dict):
            path = item.get("path")
            if isinstance(path, str):
                found.add(path)
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return frozenset(found)


def _note_events(page) -> None:
    """Wraps ``page.process_api`` (what Gradio's queue and routes call for every event) so that each event's
    session is noted as showing its inputs' and outputs' files, per component (``ServedIndex.shown``), and each
    event is noted as under way while it is made (``ServedIndex.under_way``)."""
    process_api = page.process_api
    ref = weakref.ref(page)
    names = ("block_fn", "inputs", "state", "request", "iterator", "session_hash")

    async def process_api_noting_files(*args, **kwargs):
        given = {**dict(zip(names, args)), **kwargs}
        fn, session = given.get("block_fn"), given.get("session_hash")
        if isinstance(fn, int):
            fn = page.fns.get(fn)
        if session and fn is not None:  # the inputs as the event starts: an upload it takes is in use from now
            _index.shown(ref, session, [block._id for block in fn.inputs], given.get("inputs"))
        token = object()
        _index.under_way[token] = time.time()
        try:
            result = await process_api(*args, **kwargs)
            if session and fn is not None and isinstance(result, dict):
                _index.shown(ref, session, [block._id for block in fn.outputs], result.get("data"))
        finally:  # after the answer's files are noted as shown: no moment when they are in use by neither rule
            del _index.under_way[token]
        return result

    page.process_api = process_api_noting_files


class _Record(set):
    """One of Gradio's records of a page's files (a ``Block.temp_files``, ``Blocks.upload_file_set``) in the same
    set, which also queues what is added to it and removed from it (Gradio adds with ``add`` and ``update`` and
    removes with ``-=``), so the index reads only what changed. ``_track`` puts one in the place of each."""

    def __init__(self, items=()) -> None:
        super().__init__(items)
        self.changes: collections.deque = collections.deque()  # (added, path), oldest first

    def add(self, item) -> None:
        super().add(item)
        self.changes.append((True, item))

    @staticmethod
    def _each(others, step) -> None:
        for other in others:
            for item in list(other):  # a copy: ``other`` may be this set
                step(item)

    def update(self, *others) -> None:
        self._each(others, self.add)

    def __ior__(self, other):
        self.update(other)
        return self

    def discard(self, item) -> None:
        super().discard(item)
        self.changes.append((False, item))

    def remove(self, item) -> None:
        super().remove(item)
        self.changes.append((False, item))

    def pop(self):
        item = super().pop()
        self.changes.append((False, item))
        return item

    def clear(self) -> None:
        self.difference_update(self)

    def difference_update(self, *others) -> None:
        self._each(others, self.discard)

    def __isub__(self, other):
        self.difference_update(other)
        return self

    def intersection_update(self, *others) -> None:
        self.difference_update(set(self) - set.intersection(set(self), *others))

    def __iand__(self, other):
        self.intersection_update(other)
        return self

    def symmetric_difference_update(self, other) -> None:
        for item in set(other):
            if item in self:
                self.discard(item)
            else:
                self.add(item)

    def __ixor__(self, other):
        self.symmetric_difference_update(other)
        return self


def _track(page) -> None:
    """Puts a ``_Record`` in the place of each plain set of ``page.temp_file_sets`` whose owner is known (a block of
    ``page.blocks`` whose ``temp_files`` it is, or the page's ``upload_file_set``); a set of another owner (a
    ``gr.render``'s blocks) stays as it is, and the index reads it by its size."""
    owners = {id(block.temp_files): block for block in page.blocks.values()
              if type(getattr(block, "temp_files", None)) is set}
    for kept in list(page.temp_file_sets):
        if type(kept) is not set:
            continue
        owner = owners.get(id(kept))
        if owner is None and kept is not page.upload_file_set:
            continue
        record = _Record(list(kept))
        if owner is not None:
            owner.temp_files = record
        else:
            page.upload_file_set = record
        record.update(kept - record)  # what Gradio added to the old set meanwhile
        sets = page.temp_file_sets
        sets[next(i for i, other in enumerate(sets) if other is kept)] = record  # in place: the list is Gradio's


class _Entry:
    """One served file as the index knows it: modification time and last use (s since the epoch), size (bytes),
    the Gradio record it came from (``id`` of the set, or None for ``OWN_FOLDERS``), whether it is an upload."""

    __slots__ = ("mtime", "size", "used", "record", "upload")

    def __init__(self, info: os.stat_result, record: int | None, upload: bool) -> None:
        self.mtime, self.size, self.used, self.record, self.upload = info.st_mtime, info.st_size, 0.0, record, upload

    @property
    def recency(self) -> float:
        return max(self.mtime, self.used)


class ServedIndex:
    """The served files' sizes and times, kept in memory between writes (see the module's docstring for what it
    reads per write and how stale it may be). ``update(pages, now)`` reads what changed; ``sweep(max_bytes,
    hard_bytes, now, max_files, hard_files)`` removes files; ``total`` is the bytes it counts, ``files`` the files.
    Not thread-safe: the module's functions call it under one lock; ``shown``, ``under_way`` (each event being
    made, noted by ``serve_from``'s wrapper) and ``serving`` (each file a file route request sends,
    ``serving()``) are only written with single dict and set operations and may be used from any thread."""

    def __init__(self, refresh_s: float | None = None) -> None:
        self.refresh_s = refresh_s
        self.files: dict[str, _Entry] = {}
        self.total = 0
        self._heap: list[tuple[float, str]] = []  # (recency, path), oldest first; stale pairs skipped when popped
        self._folders: dict[str, tuple[int | None, set[str]]] = {}  # own folder -> (mtime_ns as read, its files)
        # id -> (Gradio's record, None when it is a _Record, else its paths as last read)
        self._records: dict[int, tuple[set, set[str] | None]] = {}
        self._shown: dict[str, tuple[weakref.ref, dict[int, frozenset[str]]]] = {}  # session -> (page, id -> paths)
        # (session, component id) -> (page, paths, when) noted by ``shown`` and not read yet
        self._pending: dict[tuple[str, int], tuple[weakref.ref, frozenset[str], float]] = {}
        self._holding: set[str] = set()  # sessions that have shown a file, until they are forgotten
        self._refreshed = -math.inf
        self.under_way: dict[object, float] = {}  # an event being made -> when it began (s since the epoch)
        self.serving: dict[str, int] = {}  # a file a file route request is sending -> how many such requests
        self.uploader: dict[str, str] = {}  # an upload's path -> its visitor (``uploaded``), while it is known

    # reading
    def update(self, pages: list, now: float) -> None:
        """Brings the index up to date with ``OWN_FOLDERS`` under the system temp folder, the records of
        ``pages`` and the events noted since the last update; every file is looked at again once
        ``refresh_s`` (``REFRESH_S``) has passed since that last happened."""
        refresh_s = REFRESH_S if self.refresh_s is None else self.refresh_s
        if now - self._refreshed >= refresh_s:
            old = self.files
            self.files, self.total, self._heap, self._folders, self._records = {}, 0, [], {}, {}
            self._refreshed = now
            self._read_folders(now)
            self._read_records(pages)
            for path, entry in self.files.items():
                before = old.get(path)
                if before is not None:
                    entry.used, entry.upload = before.used, before.upload
            self._heap = [(entry.recency, path) for path, entry in self.files.items()]
            heapq.heapify(self._heap)
            self._read_events()
            self._in_use()  # forgets the sessions Gradio no longer keeps, whether or not a sweep comes
            return
        self._read_folders(now)
        self._read_records(pages)
        self._read_events()

    def note(self, path: str) -> None:
        """``path`` (a file of ``OWN_FOLDERS``) was just written by this process: its size and time as now."""
        folder = os.path.dirname(path)
        if folder in self._folders and self._add(path, None, False):
            self._folders[folder][1].add(path)

    def shown(self, page: weakref.ref, session: str, components: list[int], values) -> None:
        """Notes that ``session`` of ``page`` now shows ``values`` (an event's inputs or outputs as Gradio carries
        them, one per component of ``components``): the files each names (``paths_in``) replace that
        component's earlier ones. Safe from any thread (read at the next ``update``); what waits to be read is
        the last value per session and component, and nothing for a session that never showed a file (a
        script's votes): at most one entry per component of each session that showed a file since then."""
        if not isinstance(values, (list, tuple)):
            return
        when = time.time()
        for component, value in zip(components, values):
            paths = paths_in(value)
            if paths is None or (not paths and session not in self._holding):  # nothing shown changes
                continue
            self._holding.add(session)
            self._pending[(session, component)] = (page, paths, when)

    def _read_events(self) -> None:
        while self._pending:
            try:
                (session, component), (page, paths, when) = self._pending.popitem()
            except KeyError:  # emptied meanwhile
                break
            self._shown.setdefault(session, (page, {}))[1][component] = paths
            for path in paths:
                entry = self.files.get(path)
                if entry is not None:
                    entry.used = max(entry.used, when)
                    self._push(path, entry)

    def _read_folders(self, now: float) -> None:
        base = Path(tempfile.gettempdir())
        current: dict[str, tuple[int | None, set[str]]] = {}
        for name in OWN_FOLDERS:
            folder = str(base / name)
            seen, paths = self._folders.pop(folder, (None, set()))
            try:
                info = os.lstat(folder)
            except OSError:
                info = None
            if info is None or own_folder_problem(Path(folder)) is not None:  # gone, or not the app's
                for path in paths:
                    self._forget(path)
                continue
            if info.st_mtime_ns != seen:  # a file was added or removed since the names were read
                try:
                    names = {os.path.join(folder, entry.name) for entry in os.scandir(folder)}
                except OSError:
                    names = set()
                for path in paths - names:
                    self._forget(path)
                paths = {path for path in paths & names}
                for path in names - paths:
                    if self._add(path, None, False):
                        paths.add(path)
                seen = None if now - info.st_mtime < _RACY_S else info.st_mtime_ns
            current[folder] = (seen, paths)
        for _, paths in self._folders.values():  # folders no longer this process's temp folder's
            for path in paths:
                self._forget(path)
        self._folders = current

    def _read_records(self, pages: list) -> None:
        seen = set()
        for page in pages:
            if any(type(kept) is set for kept in page.temp_file_sets):
                _track(page)
            uploads = page.upload_file_set
            pinned: set[str] | None = None
            for kept in list(page.temp_file_sets):
                key = id(kept)
                seen.add(key)
                record = self._records.get(key)
                tracked = isinstance(kept, _Record)
                if record is not None and record[0] is kept and tracked:  # only what changed since
                    changes = []
                    while kept.changes:
                        changes.append(kept.changes.popleft())
                    if not changes:
                        continue
                    gone = {path for added, path in changes if not added and path not in kept}
                    new = {path for added, path in changes if added and path not in self.files}
                elif record is not None and record[0] is kept:  # a set of Gradio's own: by its size
                    if len(kept) == len(record[1]):  # nothing added or removed (see the module's docstring)
                        continue
                    now_paths = set(list(kept))  # list() copies it in one step: no "changed size" error
                    gone, new = record[1] - now_paths, now_paths - record[1]
                    record[1].clear()
                    record[1].update(now_paths)
                else:  # a record not read before: all of it
                    if tracked:
                        kept.changes.clear()
                    now_paths = set(list(kept))
                    self._records[key] = (kept, None if tracked else now_paths)
                    gone, new = set(), now_paths
                for path in gone:
                    if path in self.files and not self._recorded(path):
                        self._forget(path)
                if new and pinned is None:  # a component's own file (its value as built, an example): never removed
                    pinned = set().union(*(getattr(block, "keep_in_cache", ()) for block in page.blocks.values()))
                for path in new - (pinned or set()):
                    if path not in self.files:
                        self._add(path, key, kept is uploads)
        for key in [key for key in self._records if key not in seen]:  # a page gone
            kept, known = self._records.pop(key)
            for path in (kept if known is None else known):
                if path in self.files and not self._recorded(path):
                    self._forget(path)

    def _recorded(self, path: str) -> bool:
        """Whether a record read still lists ``path``."""
        return any(path in (kept if known is None else known) for kept, known in self._records.values())

    def _add(self, path: str, record: int | None, upload: bool) -> bool:
        info = _regular(path)
        if info is None:
            return False
        visitor = self.uploader.get(path)  # noted (``uploaded``) before the index read the file, or read again
        self._forget(path)
        if visitor is not None:
            self.uploader[path] = visitor
        entry = self.files[path] = _Entry(info, record, upload)
        self.total += entry.size
        self._push(path, entry)
        return True

    def _forget(self, path: str) -> None:
        self.uploader.pop(path, None)
        entry = self.files.pop(path, None)
        if entry is not None:
            self.total -= entry.size

    def _push(self, path: str, entry: _Entry) -> None:
        heapq.heappush(self._heap, (entry.recency, path))
        if len(self._heap) > 2 * len(self.files) + 64:  # mostly stale pairs: rebuilt from the entries
            self._heap = [(e.recency, p) for p, e in self.files.items()]
            heapq.heapify(self._heap)

    # removing
    def _in_use(self) -> set[str]:
        """The files the sessions Gradio still keeps show; sessions it no longer keeps are forgotten."""
        held: set[str] = set()
        for session, (page, shown) in list(self._shown.items()):
            holder = getattr(page(), "state_holder", None)
            if holder is None or session not in holder:
                del self._shown[session]
                self._holding.discard(session)
                continue
            for paths in shown.values():
                held |= paths
        return held

    def _waiting(self, path: str, entry: _Entry, now: float, over: set[str] | None) -> bool:
        """Whether ``path`` is an upload no event has taken yet, held as in use: written within
        ``UPLOAD_HOLD_S`` and not past its visitor's ``MAX_WAITING_BYTES_PER_VISITOR`` or
        ``MAX_WAITING_FILES_PER_VISITOR`` (``over``: those that are, ``_past_visitor_hold``)."""
        return (entry.upload and not entry.used and now - entry.mtime < UPLOAD_HOLD_S
                and not (over and path in over))

    def _past_visitor_hold(self, now: float) -> set[str]:
        """The uploads no event has taken yet past their visitor's newest ``MAX_WAITING_BYTES_PER_VISITOR`` or newest
        ``MAX_WAITING_FILES_PER_VISITOR``; the visitors of uploads no longer waiting are forgotten."""
        mine: dict[str, list[tuple[float, int, str]]] = collections.defaultdict(list)
        for path, key in list(self.uploader.items()):
            entry = self.files.get(path)
            if entry is None or not self._waiting(path, entry, now, None):
                del self.uploader[path]
            else:
                mine[key].append((entry.mtime, entry.size, path))
        over = set()
        for uploads in mine.values():
            held = 0
            for count, (_, size, path) in enumerate(sorted(uploads, reverse=True), 1):  # newest first
                held += size
                if held > MAX_WAITING_BYTES_PER_VISITOR or count > MAX_WAITING_FILES_PER_VISITOR:
                    over.add(path)
        return over

    def _delete(self, path: str) -> int | None:
        """Removes ``path`` (``_remove``) and drops it from the index and from Gradio's records. Returns the bytes
        freed (0 when it was gone already), or None when it could not be removed."""
        if path not in self.files:  # removed already (a second pair of it in the heap)
            return 0
        done = _remove(path)
        if done is None:
            return None
        self.uploader.pop(path, None)
        entry = self.files.pop(path)
        self.total -= entry.size
        for kept, known in self._records.values():
            if path in kept:
                kept.discard(path)
            if known is not None:
                known.discard(path)
        folder = self._folders.get(os.path.dirname(path))
        if folder is not None:
            folder[1].discard(path)
        return entry.size if done else 0

    def remove_older(self, folder: str, before: float) -> int:
        """Removes the files of ``folder`` (one of ``OWN_FOLDERS`` as read) modified before ``before``."""
        _, paths = self._folders.get(folder, (None, set()))
        old = [path for path in paths if path in self.files and self.files[path].mtime < before]
        return sum(self._delete(path) or 0 for path in old)

    def sweep(self, max_bytes: int, hard_bytes: int, now: float, max_files: float = math.inf,
              hard_files: float = math.inf) -> int:
        """Removes the files not in use, least recently written or shown first, until the index counts at most
        ``max_bytes`` in at most ``max_files`` files; then, only while it counts over ``hard_bytes`` or
        ``hard_files``, the files in use in the same order. Returns the bytes removed."""
        removed = 0
        if self.total <= max_bytes and len(self.files) <= max_files:
            return removed
        in_use: set[str] | None = None
        over: set[str] | None = None
        held: list[tuple[float, str]] = []
        held_paths: set[str] = set()
        # files written since the oldest event under way began (less the file clock's lag) may be its answer
        since = min(list(self.under_way.values()), default=math.inf) - _CLOCK_LAG_S
        while (self.total > max_bytes or len(self.files) > max_files) and self._heap:
            recency, path = heapq.heappop(self._heap)
            entry = self.files.get(path)
            if entry is None or entry.recency != recency:  # stale pair
                continue
            if in_use is None:
                in_use, over = self._in_use(), self._past_visitor_hold(now)
            waiting = self._waiting(path, entry, now, over)
            # an upload is no event's answer (Gradio records answers in a block's files): held only as ``waiting``
            answer = entry.mtime >= since and not entry.upload
            if waiting or answer or path in in_use or path in self.serving:
                if path not in held_paths:  # (a path may have two equal pairs)
                    held.append((recency, path))
                    held_paths.add(path)
                continue
            freed = self._delete(path)
            if freed is None:
                held.append((recency, path))
            else:
                removed += freed
        kept = []
        for recency, path in held:  # oldest first
            freed = self._delete(path) if self.total > hard_bytes or len(self.files) > hard_files else None
            if freed is None:
                kept.append((recency, path))
            else:
                removed += freed
        for pair in kept:
            heapq.heappush(self._heap, pair)
        return removed


_index = ServedIndex()
