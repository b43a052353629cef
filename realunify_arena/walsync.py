"""Durable commits shared between writers: COMMIT writes SQLite's write-ahead log, one sync serves many.

With ``synchronous=FULL`` in WAL mode SQLite syncs the WAL inside every COMMIT, while the committer holds the
database's write lock: every other writer, in this process or another, waits for that sync, and every
commit pays one of its own. ``Store`` instead commits with ``synchronous=NORMAL`` (COMMIT writes the WAL,
unsynced) and, after letting go of the write lock and before acknowledging anything, calls
``WalSync.make_durable``: it returns once a sync of the WAL file that started after that COMMIT returned
has finished. The WAL is append-only, so such a sync makes every commit written before it durable, whoever
wrote it (``fdatasync`` flushes the file, not one descriptor's writes); checkpoints and WAL restarts stay
safe because SQLite syncs the WAL before a checkpoint and the database after it in NORMAL mode
(https://www.sqlite.org/pragma.html#pragma_synchronous). What is acknowledged is therefore as durable as
with FULL, while the next writer already runs and concurrent committers share one sync.

Across processes the numbers that matter, commits made, commits known to be synced and the commits a failed
sync may have lost, live in the first 32 bytes of ``<db>.lock`` (mapped into memory): the first is counted
under the write lock (the ``flock`` of that file ``Store`` takes), the others are written under the ``flock`` of
``<db>.sync``, which also makes syncs take turns. Where ``flock`` does not work (no lock file) the numbers are
this object's own. A commit is counted once its COMMIT has returned (its WAL frames are written), so a sync
that read the count before it started covers every commit counted.

A commit a failed sync may have lost is never acknowledged, even after a later sync succeeds (Linux reports a
write-back error once, and only to descriptors open when it happened). A later commit is no safer: the failed
write-back may also have taken the pages of commits written while it ran, and WAL frames carry chained
checksums, so recovery after a crash stops at the first frame that did not reach the disk and drops every
frame after it, however well synced. So after a failed sync every commit from the first not known synced on
is refused, until the WAL is emptied into the database file (a checkpoint that syncs it, then ``healed``);
``lost`` says so, and the caller (``Store``) checkpoints before acknowledging anything more.

SQLite's own syncs are the other way a failure goes unseen: a checkpoint syncs the WAL on SQLite's descriptor
and, run automatically at COMMIT (``wal_autocheckpoint``), ignores a failure, which Linux then reports to no
later descriptor. So ``Store`` turns automatic checkpoints off and runs each one through ``checkpoint``: under
the sync lock (no sync of ours runs meanwhile, so none can succeed in between on a fresh descriptor), and a
checkpoint that fails marks the lost range exactly as a failed sync does.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

_WORD = struct.Struct("Q")  # native, aligned 8-byte words: a single load/store each on x86-64 and arm64
_MADE, _SYNCED = 0, 8  # offsets of the two counters; each written only under its own lock
# the commits a failed sync may have lost (first, last; 0, 0: none; last UNTIL_HEALED after a failure), written
# under the sync lock. Linux reports a write-back error once, to descriptors open when it happened: a later sync
# on a fresh descriptor succeeds although those commits' pages were dropped, so they are refused by number.
_LOST_FIRST, _LOST_LAST = 16, 24
UNTIL_HEALED = 2**64 - 1  # the lost range's end after a failed sync: every later commit too, until ``healed``
_WORDS = 4
_sync_file = getattr(os, "fdatasync", os.fsync)


def _names(path: str, kept: os.stat_result) -> bool:
    """Whether ``path`` names the file ``kept`` (``os.fstat``) describes: asked where a file system reports no
    link to a file still in its folder."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return False
    return (found.st_dev, found.st_ino) == (kept.st_dev, kept.st_ino)


class WalSync:
    """The commit counter and the shared WAL sync of one database file.

    Args:
        db_path: the SQLite file; its WAL is ``<db_path>-wal``.
        write_lock_fd: the open ``<db>.lock`` that writers ``flock`` (None: counters local to this object).

    Raises:
        OSError: ``<db>.sync`` cannot be created (the folder is read-only).
    """

    def __init__(self, db_path: Path, write_lock_fd: int | None):
        self._wal = f"{db_path}-wal"
        self._thread_lock = threading.Lock()  # one sync at a time in this process
        self._local = bytearray(_WORDS * _WORD.size)
        self._counters: mmap.mmap | bytearray = self._local
        self._sync_fd: int | None = None
        # the WAL, opened at the first sync and kept (``_wal_descriptor``): an open and a close a sync fewer
        self._wal_fd: int | None = None
        self._closed = False
        if write_lock_fd is None or fcntl is None:
            return
        self._sync_fd = os.open(f"{db_path}.sync", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            self._map(write_lock_fd)
        except OSError:
            os.close(self._sync_fd)
            raise

    def _map(self, write_lock_fd: int) -> None:
        """Map the counters of ``<db>.lock``, then repair them, under both locks (no counter changes meanwhile).

        Their bytes are first written back as read, zeros past the end (a new lock file, or an older version's,
        empty): the mapped page then has its block on the disk. A page of a hole (an ``ftruncate`` that grew the
        file) is allocated when first touched, and on a full disk that ends the process with SIGBUS (a read of it
        already on tmpfs) rather than raising an error.

        Counters that say more was synced than was ever made (the lock file's page torn by a power cut,
        or edited) would let a new commit pass as already durable: count on from the higher number. A lost
        range, garbage included, is left as it is: it only asks for a checkpoint (``healed``) before the next
        acknowledgement, which is always safe.

        Raises:
            OSError: the counters could not be written (a full disk: ENOSPC).
        """
        fcntl.flock(write_lock_fd, fcntl.LOCK_EX)
        fcntl.flock(self._sync_fd, fcntl.LOCK_EX)
        try:
            held = os.pread(write_lock_fd, len(self._local), 0)
            os.pwrite(write_lock_fd, held + bytes(len(self._local) - len(held)), 0)
            self._counters = mmap.mmap(write_lock_fd, len(self._local))
            made, synced = (_WORD.unpack_from(self._counters, at)[0] for at in (_MADE, _SYNCED))
            if synced > made:
                _WORD.pack_into(self._counters, _MADE, synced)
        finally:
            fcntl.flock(self._sync_fd, fcntl.LOCK_UN)
            fcntl.flock(write_lock_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Let go of the counters and ``<db>.sync``; ``make_durable`` refuses every commit from now on (the
        shared counters, a lost range included, are no longer read)."""
        with self._thread_lock:
            self._closed = True
            if isinstance(self._counters, mmap.mmap):
                self._counters.close()
            self._counters = self._local
            if self._sync_fd is not None:
                os.close(self._sync_fd)
                self._sync_fd = None
            if self._wal_fd is not None:
                os.close(self._wal_fd)
                self._wal_fd = None

    def committed(self) -> int:
        """Count one COMMIT that just returned; returns its number. Call with the write lock held, after the
        COMMIT: a commit numbered before its frames are written could be counted by a sync that starts
        meanwhile (``make_durable`` reads the count first), be taken as synced, and be acknowledged unsynced.
        One written while a sync fails is refused all the same (the lost range runs until ``healed``)."""
        made = _WORD.unpack_from(self._counters, _MADE)[0] + 1
        _WORD.pack_into(self._counters, _MADE, made)
        return made

    def made(self) -> int:
        """How many commits have been counted (``committed``), by any process on the file."""
        return _WORD.unpack_from(self._counters, _MADE)[0]

    def lost(self) -> bool:
        """Whether a failed sync may have lost commits that no checkpoint has healed since (``healed``)."""
        return _WORD.unpack_from(self._counters, _LOST_LAST)[0] != 0

    def healed(self) -> None:
        """Record that a checkpoint copied every commit counted so far into the database file, synced it and
        emptied the WAL: none is lost any more, and each counts as synced. Call with the write lock held
        (no commit is counted meanwhile), right after that checkpoint."""
        with self._sync_locked():
            self._mark_healed()

    def checkpoint(self, run: Callable[[], bool]) -> bool:
        """Run ``run``, a checkpoint, with no sync of ours running meanwhile; returns its result.

        A checkpoint syncs the WAL on SQLite's own descriptor, and a write-back error is reported once per
        open file: a sync of ours on a fresh descriptor would then succeed. So if ``run`` raises ``OSError``
        (an I/O error), every commit not known synced, and every later one, is lost as after a failed sync,
        until ``healed``. ``run`` returns True when it emptied the WAL into the synced database file (a
        TRUNCATE checkpoint that finished): every commit counted is then healed. Call with the write lock
        held (``healed`` needs it), never inside a sync.

        Raises:
            OSError: from ``run``; the lost range is marked.
        """
        with self._sync_locked():
            try:
                emptied = run()
            except OSError:
                self._mark_lost()
                raise
            if emptied:
                self._mark_healed()
            return emptied

    def mark_lost(self) -> None:
        """Record that a sync of SQLite's own may have failed unseen (a checkpoint whose error SQLite did not
        pass on): every commit not known synced, and every later one, is refused until ``healed``."""
        with self._sync_locked():
            self._mark_lost()

    @contextlib.contextmanager
    def _sync_locked(self) -> Iterator[None]:
        """The sync lock: this process's threads and, through ``<db>.sync``, other processes take turns."""
        with self._thread_lock:
            if self._sync_fd is not None:
                fcntl.flock(self._sync_fd, fcntl.LOCK_EX)  # woken at once when the other process's sync is done
            try:
                yield
            finally:
                if self._sync_fd is not None:
                    fcntl.flock(self._sync_fd, fcntl.LOCK_UN)

    def _mark_healed(self) -> None:
        made = _WORD.unpack_from(self._counters, _MADE)[0]
        _WORD.pack_into(self._counters, _SYNCED, max(made, _WORD.unpack_from(self._counters, _SYNCED)[0]))
        _WORD.pack_into(self._counters, _LOST_FIRST, 0)
        _WORD.pack_into(self._counters, _LOST_LAST, 0)

    def _mark_lost(self) -> None:
        """Every commit not known synced may be lost, and every later one with it (written while the failed
        sync ran, or behind the lost frames): refused until ``healed``. Call under the sync lock."""
        first, last, synced = (_WORD.unpack_from(self._counters, at)[0] for at in (_LOST_FIRST, _LOST_LAST, _SYNCED))
        _WORD.pack_into(self._counters, _LOST_FIRST, min(first, synced + 1) if last else synced + 1)
        _WORD.pack_into(self._counters, _LOST_LAST, UNTIL_HEALED)

    def make_durable(self, commit: int, *, force: bool = False) -> None:
        """Return once commit number ``commit`` (from ``committed``) is on disk: at once if a sync already
        covered it, when another process's running sync that covers it ends, else after one ``fdatasync`` of
        the WAL, which covers every commit counted before it started. ``force``: sync even so, to cover commits written but never counted (a process killed between
        its COMMIT and ``committed``), whose rows another process may find. Call without the write lock held.

        Raises:
            OSError: the sync failed, or this object was closed; the commit must not be acknowledged.
        """
        if not force and self._synced_already(commit):
            return
        with self._thread_lock:
            if self._sync_fd is None:
                self._sync_unless_covered(commit, force)
                return
            try:
                fcntl.flock(self._sync_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another process is syncing: wait for its sync, which may cover this commit,
                if not force and self._after_running_sync(commit):  # beside every process waiting for it
                    return
                fcntl.flock(self._sync_fd, fcntl.LOCK_EX)
            try:
                self._sync_unless_covered(commit, force)
            finally:
                fcntl.flock(self._sync_fd, fcntl.LOCK_UN)

    def _sync_unless_covered(self, commit: int, force: bool) -> None:
        """Under the sync lock: one ``_sync`` unless ``commit`` is covered already (with ``force``, always one).
        ``_covered`` is asked first even with ``force``: a commit a failed sync may have lost is refused.

        Raises:
            OSError: as ``_covered`` and ``_sync``.
        """
        if not self._covered(commit, force) or force:
            self._sync()

    def _after_running_sync(self, commit: int) -> bool:
        """Wait for the sync another process is running to end, then say whether it (or any before it)
        covered ``commit``. The wait takes ``<db>.sync`` shared, which every process waiting so gets at once
        when that sync ends: a process it covered returns then, rather than queueing behind the next sync
        (with an exclusive lock each waiter waited for every sync the ones before it ran).

        Raises:
            OSError: as ``_covered``.
        """
        fcntl.flock(self._sync_fd, fcntl.LOCK_SH)
        try:
            return self._covered(commit)
        finally:
            fcntl.flock(self._sync_fd, fcntl.LOCK_UN)

    def _synced_already(self, commit: int) -> bool:
        """Without a lock: whether a sync that finished covered ``commit`` and no sync failed since.
        ``_SYNCED`` only grows, and is stored after its sync returned; a failure's lost range starts after
        the ``_SYNCED`` of its time, and a heal stores ``_SYNCED`` before clearing the range, so a torn read
        only ever says no (the locked path then decides)."""
        counters = self._counters
        try:
            return (not self._closed and _WORD.unpack_from(counters, _LOST_LAST)[0] == 0
                    and commit <= _WORD.unpack_from(counters, _SYNCED)[0])
        except ValueError:  # the mapping was closed meanwhile (``close``)
            return False

    def _covered(self, commit: int, force: bool = False) -> bool:
        """Under the sync lock (shared or not): whether ``commit`` is synced already. ``force``: the caller
        also asks for commits never counted (``make_durable``), which come after every counted one, so any lost
        range includes them; a sync for them would store ``_SYNCED`` past lost commits, which the lock-free
        ``_synced_already`` may then read beside a lost range it read as empty just before the failure.

        Raises:
            OSError: this object was closed, or ``commit`` (with ``force``, any commit) is in the range a failed
                sync may have lost.
        """
        if self._closed:
            raise OSError(errno.EIO, f"the sync of {self._wal} was closed before commit {commit} was synced")
        first, last = (_WORD.unpack_from(self._counters, at)[0] for at in (_LOST_FIRST, _LOST_LAST))
        if last and (first <= commit <= last or force):
            raise OSError(errno.EIO, f"an earlier sync of {self._wal} failed, so this commit (number "
                                     f"{commit}) may not be on disk")
        return commit <= _WORD.unpack_from(self._counters, _SYNCED)[0]

    def _sync(self) -> None:
        """One ``fdatasync`` of the WAL, covering every commit counted before it starts. Call under the
        sync lock.

        Raises:
            OSError: the sync failed, or the WAL has no name any more (``_wal_descriptor``); the lost range is
                marked.
        """
        synced = _WORD.unpack_from(self._counters, _SYNCED)[0]
        covered = _WORD.unpack_from(self._counters, _MADE)[0]  # all written before the sync starts
        try:
            fd = self._wal_descriptor()
            _sync_file(fd)
            kept = os.fstat(fd)
            if kept.st_nlink == 0 and not _names(self._wal, kept):  # synced, but under no name: a crash drops it
                raise FileNotFoundError(errno.ENOENT, "")
        except OSError as e:
            self._mark_lost()
            if isinstance(e, FileNotFoundError):
                raise OSError(errno.EIO, f"{self._wal} was removed while the database was open (another program"
                                         " deleted it, or a process lost its SQLite locks on the file): the commits"
                                         " SQLite writes to it are on disk under no name until its last"
                                         " connection closes: restart the app or command that has the database"
                                         " open") from None
            raise
        _WORD.pack_into(self._counters, _SYNCED, max(synced, covered))

    def _wal_descriptor(self) -> int:
        """The WAL's descriptor, opened at the first sync and kept until ``close``. Call under ``_thread_lock``.
        While a connection has the database open SQLite keeps its WAL, so a sync that finds none was preceded
        by the removal described below.

        One descriptor serves every sync: ``fdatasync`` flushes the file whoever wrote it, and Linux reports a
        write-back error to every descriptor open when it happened, this one included. It stays the file
        SQLite writes: SQLite deletes the WAL only when the last connection to the database closes (it must
        first take an exclusive lock on the database file, which every connection in WAL mode holds shared;
        https://www.sqlite.org/walformat.html), a TRUNCATE checkpoint truncates it in place, and SQLite's own
        connections keep the descriptor they opened, so were the path ever removed under them, theirs and this
        one would still name the same file. That file then has no name, and a crash drops it whatever was synced:
        ``_sync`` refuses (and marks the lost range) once it finds no link left to it. It happens when another
        program deletes the WAL, or when a process loses its locks on the database (POSIX drops every lock a
        process holds on a file when it closes any descriptor of it) and another process's last connection,
        closing, deletes the WAL.

        Raises:
            FileNotFoundError: there is no WAL file.
        """
        if self._wal_fd is None:
            self._wal_fd = os.open(self._wal, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        return self._wal_fd

    def wal_size(self) -> int | None:
        """The WAL file's size in bytes, None where there is none (or this object was closed meanwhile). Read
        without a lock (a running sync is not waited for): through the kept descriptor (one ``fstat``, no path
        look-up) once a sync has opened it, else at the path."""
        fd = self._wal_fd
        try:
            return os.fstat(fd).st_size if fd is not None else os.stat(self._wal).st_size
        except OSError:  # no WAL file yet, or closed by ``close`` meanwhile
            return None
