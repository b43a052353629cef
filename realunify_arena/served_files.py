"""The files the page fetches: those the app writes for it (a run's details download, a battle's pre-vote
images, each in a folder of its own under the system temp folder) and the copies Gradio makes of them and of every
picture it shows (a run's output, the earlier outputs' gallery) in its own temp folder (``GRADIO_TEMP_DIR``, or
``<temp>/gradio``, as it was when the page was built: ``serve_from``), which holds uploads too. Gradio removes none
of them while the app runs, so every run, battle and upload added files for good: bounded per visitor only by the
run limit, and in all by nothing.

Before the app writes such a file (``write``) and as an upload request starts (``make_room``), these folders are
held to ``MAX_SERVED_BYTES`` in all, the least recently written files removed first (``sweep``): the total stays
within that plus what the requests under way add. A page that still shows a removed file loses that picture or
download (Gradio answers 404): a page left open while ``MAX_SERVED_BYTES`` of newer files were written."""

from __future__ import annotations

import os
import stat
import tempfile
import time
from pathlib import Path

import threading

# The most bytes the served folders hold before a write (the largest upload, 64 MiB, fits 16 times over; a run's
# output picture is ~0.1-5 MB as Gradio's WebP, a details download a few KB).
MAX_SERVED_BYTES = 2**30
# How long a file the app writes is kept for Gradio to copy (it copies it as the answer is sent).
STAGED_SECONDS = 600


_gradio_folders: set[Path] = set()  # serve_from's
_lock = threading.Lock()


def serve_from(folder: str | Path) -> None:
    """Counts ``folder``, the temp folder of a page built in this process (a Gradio ``Blocks``' ``GRADIO_CACHE``),
    among the served folders from now on. A process that built no page sweeps only its own files."""
    with _lock:
        _gradio_folders.add(Path(folder))


def served_folders() -> list[Path]:
    """The Gradio temp folders given to ``serve_from`` and the folders ``write`` writes to."""
    own = Path(tempfile.gettempdir())
    with _lock:
        return [*sorted(_gradio_folders), own / "realunify-traces", own / "realunify-battles"]


def write(folder: str, name: str, data: bytes) -> str:
    """``data`` written as ``name`` (its last part) in the folder ``folder`` under the system temp folder, which
    Gradio serves; that folder's files older than ``STAGED_SECONDS`` are removed first, then the served folders are
    held to ``MAX_SERVED_BYTES`` (``sweep``). Returns the file's path.

    Raises:
        OSError: the file cannot be written.
    """
    staging = Path(tempfile.gettempdir()) / folder
    staging.mkdir(parents=True, exist_ok=True)
    stale = time.time() - STAGED_SECONDS
    for entry in os.scandir(staging):
        try:
            if entry.stat().st_mtime < stale:
                os.remove(entry.path)
        except OSError:  # removed meanwhile by another request
            pass
    sweep(served_folders(), MAX_SERVED_BYTES - len(data))
    path = staging / Path(name).name
    path.write_bytes(data)
    return str(path)


def make_room(incoming: int) -> int:
    """Holds the served folders to ``MAX_SERVED_BYTES`` less ``incoming`` bytes about to be written there (an
    upload, which Gradio keeps in its temp folder: ``body_limit.BodyLimit`` calls this as an upload request
    starts). Returns the bytes removed (``sweep``)."""
    return sweep(served_folders(), MAX_SERVED_BYTES - incoming)


def sweep(folders: list[Path], max_bytes: int) -> int:
    """Removes the least recently modified regular files under ``folders`` (symlinks are not followed; a folder
    that is not there holds nothing) until the rest hold at most ``max_bytes`` bytes, and the subfolders that leaves empty (Gradio keeps each file in a folder
    named by its hash). A file removed meanwhile by another request is passed over. Every file is looked at once
    (a ``stat`` each: ~1-2 us, so 10,000 files cost ~20 ms a write). Returns the bytes removed."""
    files = []
    for top in folders:
        for root, _, names in os.walk(top):
            for name in names:
                path = os.path.join(root, name)
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
        if not any(parent == str(top) for top in folders):
            try:
                os.rmdir(parent)  # only when empty
            except OSError:
                pass
    return removed
