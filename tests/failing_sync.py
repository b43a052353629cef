"""A WAL sync that fails on demand, for tests of what the store does after a failed ``fdatasync``.

``FailingSync`` replaces ``walsync._sync_file`` (the real sync runs otherwise): ``fail_next()`` makes the
next sync raise EIO, as ``fdatasync`` does after a write-back error. ``files_may_not_grow_past`` makes real
writes fail instead (a full disk, as far as SQLite can tell), and ``lost_range`` reads what ``<db>.lock`` says a
failed sync may have lost.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import struct
from pathlib import Path


class FailingSync:
    """Wraps the real WAL sync: ``fail_next()`` makes the next one raise EIO (of any store in this process)
    and notes the WAL bytes it covered (from the end of the last good sync to the end of the file) and the WAL's salt then."""

    def __init__(self, real, synced_to: int = 0):
        self.real, self.failing, self.synced_to, self.lost = real, None, synced_to, None

    def __call__(self, fd: int) -> None:
        size = os.fstat(fd).st_size
        if self.failing == 0:
            self.failing = None
            self.lost = (self.synced_to, os.pread(fd, 8, 16))  # WAL header bytes 16-23: the salts
            raise OSError(5, "Input/output error")
        if self.failing:
            self.failing -= 1
        self.real(fd)
        self.synced_to = size

    def fail_next(self, after: int = 0) -> None:
        """Make the sync after the next ``after`` ones fail."""
        self.failing = after


@contextlib.contextmanager
def files_may_not_grow_past(size: int):
    """This process may not grow any file past ``size`` bytes: a write beyond fails with EFBIG, which SQLite
    reports as SQLITE_IOERR_WRITE (the signal that would end the process is ignored meanwhile)."""
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def lost_range(path: Path) -> tuple[int, int]:
    """The commits ``<db>.lock`` says a failed sync may have lost ((0, 0): none)."""
    return struct.unpack_from("QQ", Path(f"{path}.lock").read_bytes(), 16)
