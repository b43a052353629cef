"""Files that survive a crash once written: content synced, then the name synced into its folder.

``fsync`` on a file does not make its name durable: "Calling fsync() does not necessarily ensure that the
entry in the directory containing the file has also reached disk. For that an explicit fsync() on a file
descriptor for the directory is also needed" (fsync(2), https://man7.org/linux/man-pages/man2/fsync.2.html).
The same holds for ``rename`` and for a folder just created. The store writes an image before the row that
names it, and acknowledges the row only once its commit is synced (``walsync``); unless the image's name is
synced first, a power cut after that acknowledgement can leave a stored run whose image file is gone.

Every function here raises ``OSError`` (a full disk, an I/O error, a failed sync) and leaves no partial file
(``write_file``: but a pipe or a device, such as /dev/stdout, is written to as it is).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, BinaryIO, TextIO

_fsync = os.fsync  # tests wrap it to see what is synced, and in which order


def sync_folder(folder: Path) -> None:
    """Make the names in ``folder`` (created, renamed or removed entries) durable. A no-op where folders
    cannot be opened (Windows)."""
    if os.name == "nt":  # pragma: no cover - os.open of a folder raises PermissionError there, not a no-op
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        _fsync(fd)
    finally:
        os.close(fd)


def make_folders(folder: Path) -> None:
    """``mkdir -p folder``, each folder it creates synced into its parent (deepest last).

    If a sync fails, the folders it created are removed again where still empty, so that the next call
    creates (and syncs) them anew rather than finding them and syncing nothing.
    """
    missing = []
    for path in (folder, *folder.parents):
        if path.is_dir():
            break
        missing.append(path)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for path in reversed(missing):  # the outermost first: a name is only reachable once its parent's is
            sync_folder(path.parent)
    except OSError:
        for path in missing:  # the deepest first
            with contextlib.suppress(OSError):
                path.rmdir()
        raise


def exists(path: Path) -> bool:
    """Whether ``path`` exists; if it does, its name is synced into its folder first.

    A file found there may have been renamed in by another writer that has not synced its folder yet, or whose
    sync failed: acknowledging anything that names it must wait for its name to be on disk.

    Raises:
        OSError: the folder's sync failed.
    """
    if not path.exists():
        return False
    sync_folder(path.parent)
    return True


_NO_PERMISSIONS_HERE = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP}  # chmod on FAT, some network mounts


def _chmod_where_supported(path: str, mode: int) -> None:
    try:
        os.chmod(path, mode)
    except OSError as e:
        if e.errno not in _NO_PERMISSIONS_HERE:
            raise


def new_partial(path: Path, mode: int | None) -> tuple[int, str]:
    """Create ``path.<random>.partial`` beside ``path``, exclusively; returns its descriptor and name.

    Created with mode 0o666 less the umask, as ``open(path, "w")`` creates a file (``mkstemp`` makes 0o600: a
    CSV or README others could read before became readable by its owner alone), or with ``mode`` (that of the
    file it replaces, which an ``open(path, "w")`` kept). Where the file system has no permissions to set
    (``chmod`` refused as unsupported: FAT, some network mounts), the file keeps the mode it was made with,
    as ``open(path, "w")`` would have left it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = str(path.parent / f"{path.name}.{secrets.token_hex(4)}.partial")
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        try:
            if mode is not None:
                _chmod_where_supported(tmp, mode)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return fd, tmp
    raise FileExistsError(f"no free temporary name beside {path}")  # pragma: no cover


def _named(e: BaseException, path: Path) -> BaseException:
    if isinstance(e, OSError) and e.filename is None and e.errno is not None:
        return OSError(e.errno, e.strerror, str(path))  # "File too large" alone names nothing
    return e


@contextlib.contextmanager
def _written(path: Path, **open_args) -> Iterator[IO]:
    """The file object a caller writes ``path``'s new content to (``open_args`` as for ``open``); see
    ``write_file``."""
    try:
        found = os.stat(path)  # follows a symbolic link
    except OSError:
        found = None
    if found is not None and not stat.S_ISREG(found.st_mode) and not stat.S_ISDIR(found.st_mode):
        # a pipe, a terminal, /dev/stdout, /dev/null, bash's >(...): nothing there to replace, and a rename
        # would replace the pipe (or /dev/stdout itself) by a regular file no one reads. Written as it is.
        try:
            with open(path, **open_args) as f:
                yield f
        except BaseException as e:
            named = _named(e, path)
            if named is e:
                raise
            raise named from None
        return
    if os.path.islink(path):  # replace the file the link names, as open(path, "w") wrote it; keep the link
        path = Path(os.path.realpath(path))
    make_folders(path.parent)
    fd, tmp = new_partial(path, stat.S_IMODE(found.st_mode) if found is not None and stat.S_ISREG(found.st_mode)
                           else None)
    try:
        with os.fdopen(fd, **open_args) as f:
            yield f
            f.flush()
            _fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        named = _named(e, path)
        if named is e:
            raise
        raise named from None
    sync_folder(path.parent)


def write_file(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Create or replace ``path`` with what ``write(file)`` writes to the open binary file, durably.

    Written to a temporary ``*.partial`` file in the same folder (readers never see half a file), synced,
    renamed to ``path``, then the folder synced (the new name), after creating missing folders the same way.
    On an error the partial file is removed and ``path`` is as it was, except when only the folder's last
    sync failed: then ``path`` is already replaced but its name may not be on disk (``exists`` syncs it).

    The new file has the mode of the one it replaces, or 0o666 less the umask (as ``open(path, "w")``). A
    symbolic link stays: the file it names is replaced. A ``path`` that is no regular file (a pipe, /dev/stdout,
    bash's ``>(...)``) is written to as it is, as nothing there can be replaced: cut short, it stays cut.

    Raises:
        OSError: from ``write``, the disk (full, I/O error) or a sync; one that names no file (a write through
            a descriptor) is raised naming ``path``.
    """
    with _written(path, mode="wb") as f:
        write(f)


def open_text(path: Path) -> contextlib.AbstractContextManager[TextIO]:
    """``with open_text(path) as f:`` a text file (UTF-8, newlines as written, as ``csv`` wants) that replaces
    ``path`` only when the block ends without an error, whole and durably, as ``write_file`` does. A command's
    output cut short (a full disk, an error while writing) never replaces the previous one."""
    return _written(path, mode="w", encoding="utf-8", newline="")


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8), whole and durably (``open_text``)."""
    with open_text(path) as f:
        f.write(text)


def replace(source: Path, target: Path) -> None:
    """Rename the finished file ``source`` to ``target`` (same file system), durably: ``source``'s content is
    synced first, then the rename, into ``target``'s folder.

    Raises:
        OSError: a sync or the rename failed; ``target`` may already be replaced if only the folder's sync failed.
    """
    fd = os.open(source, os.O_RDONLY)
    try:
        _fsync(fd)
    finally:
        os.close(fd)
    os.replace(source, target)
    sync_folder(target.parent)
