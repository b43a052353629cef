"""The files the page fetches: those the app writes for it (a run's details download, a battle's pre-vote
images, each in a folder of its own under the system temp folder) and the files Gradio keeps for the page in its
temp folder (``GRADIO_TEMP_DIR``, or ``<temp>/gradio``): its copies of those files and of every picture the page
shows (a run's output, the earlier outputs' gallery), and every upload. Gradio removes none of them while the app
runs, so every run, battle and upload added files for good: bounded per visitor only by the run limit, and in all
by nothing.

Before the app writes such a file (``write``) and as an upload request starts (``make_room``), these files are
held to ``MAX_SERVED_BYTES`` in all, the least recently written removed first (``sweep``): the total stays within
that plus what the requests under way add. Gradio's temp folder may be shared with other Gradio apps on the machine,
so of its files only those Gradio records as this app's are counted and removed: the ``temp_file_sets`` of each page
given to ``serve_from``, the record Gradio's own ``Blocks(delete_cache=...)`` clears (``gradio/route_utils.py``
``delete_files_created_by_app``; that one removes by age, not by size). A page that still shows a removed file
loses that picture or download (Gradio answers 404): a page left open while ``MAX_SERVED_BYTES`` of newer files
were written."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable
from pathlib import Path

# The most bytes the served files hold before a write (the largest upload, 64 MiB, fits 16 times over; a run's
# output picture is ~0.1-5 MB as Gradio's WebP, a details download a few KB).
MAX_SERVED_BYTES = 2**30
# How long a file the app writes is kept for Gradio to copy (it copies it as the answer is sent).
STAGED_SECONDS = 600
# The folders under the system temp folder the app writes served files to (``write``'s ``folder``).
OWN_FOLDERS = ("realunify-traces", "realunify-battles")

_pages: weakref.WeakSet = weakref.WeakSet()  # serve_from's gr.Blocks, while they live
_lock = threading.Lock()


def serve_from(page) -> None:
    """Counts the files Gradio keeps for ``page`` (a ``gr.Blocks`` built in this process: its ``temp_file_sets``,
    uploads included) among the served files from now on. A process that built no page sweeps only its own
    files."""
    with _lock:
        _pages.add(page)


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
    """The paths of the served files: every file in ``OWN_FOLDERS`` (not one whose ``own_folder_problem`` says it
    is not the app's) and every file Gradio records for the pages given to ``serve_from`` (some may be gone
    already)."""
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
    served files are held to ``MAX_SERVED_BYTES`` less ``data``'s size (``sweep``). Returns the file's path.

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
    stale = time.time() - STAGED_SECONDS
    for entry in os.scandir(staging):
        try:
            if entry.stat().st_mtime < stale:
                os.remove(entry.path)
        except OSError:  # removed meanwhile by another request
            pass
    sweep(served_files(), MAX_SERVED_BYTES - len(data))
    path = staging / Path(name).name
    path.write_bytes(data)
    return str(path)


def make_room(incoming: int) -> int:
    """Holds the served files to ``MAX_SERVED_BYTES`` less ``incoming`` bytes about to be written (an upload, which
    Gradio keeps in its temp folder: ``body_limit.BodyLimit`` calls this as an upload request starts). Returns the
    bytes removed (``sweep``)."""
    return sweep(served_files(), MAX_SERVED_BYTES - incoming)


def sweep(paths: Iterable[str], max_bytes: int) -> int:
    """Removes the least recently modified of the regular files ``paths`` names (a symlink, a folder or a path
    that is gone is passed over) until the rest hold at most ``max_bytes`` bytes; a folder a removal leaves empty
    goes too (Gradio keeps each file in a folder named by its hash), but for ``OWN_FOLDERS``. Each path is looked
    at once (an ``lstat``: ~1-2 us, so 10,000 files cost ~20 ms a write). Returns the bytes removed."""
    files = []
    for path in set(paths):
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            files.append((info.st_mtime, info.st_size, path))
    total = sum(size for _, size, _ in files)
    removed = 0
    for _, size, path in sorted(files):
        if total - removed <= max_bytes:
            break
        try:
            os.remove(path)
        except OSError:
            continue
        removed += size
        parent = os.path.dirname(path)
        if os.path.basename(parent) not in OWN_FOLDERS:  # write() may be about to write into those
            try:
                os.rmdir(parent)  # only when empty
            except OSError:
                pass
    return removed
