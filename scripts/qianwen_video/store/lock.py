"""Exclusive locks: one run at a time checks-then-submits, runs a batch or downloads a task."""
from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Set, Tuple, TypeVar

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
try:
    import msvcrt
except ImportError:  # POSIX
    msvcrt = None  # type: ignore[assignment]

LOCK_SUFFIX = ".lock"


class FileLock:
    """An exclusive lock on ``<path>.lock``, held by one process at a time.

    Two runs of the same request (or batch) started together would both find "no task yet"
    and both pay. The lock makes the check-then-submit step one at a time. POSIX uses flock,
    Windows msvcrt.locking; the OS releases either when the process dies, so a killed run
    never leaves a stale lock. Elsewhere (no locking available) it is a no-op.
    The lock file itself stays: deleting it would let a third process lock a different file.
    """

    def __init__(self, path: Path):
        self.path = path.with_name(path.name + LOCK_SUFFIX)
        self._fd: Optional[int] = None  # a plain descriptor, closed on release

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True when held (also when locking is unavailable)."""
        if self._fd is not None:
            return True
        fd = in_made_folder(self.path, lambda: _open(self.path))
        try:
            if not _lock(fd):
                os.close(fd)
                return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def acquire(self, timeout: float, clock=time.monotonic, sleep=time.sleep) -> bool:
        """Wait up to `timeout` seconds for the lock; False if another process still holds it."""
        deadline = clock() + timeout
        pause = 0.05
        while not self.try_acquire():
            if clock() >= deadline:
                return False
            sleep(pause)
            pause = min(pause * 2, 1.0)
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            _unlock(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def __enter__(self) -> "FileLock":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


T = TypeVar("T")


def in_made_folder(path: Path, action: Callable[[], T]) -> T:
    """action(), done again once `path`'s folder is made if it was missing (made when first
    needed, not checked before every use)."""
    try:
        return action()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return action()


class SlotLock:
    """An exclusive lock named by a string, kept as one byte of a lock file many names share (at
    an offset hashed from the name), so taking it never creates or deletes a file.

    Why not a file per name: a batch takes one lock per download, and on some file systems a
    file's creation costs more CPU than the rest of a small download (ext4 without a journal
    scans past every inode freed in the last minute, so deleting the lock file afterwards makes
    each later creation slower still). The OS releases a dead process's byte locks as it does
    whole-file ones. Byte locks (POSIX lockf) are held per process, so the threads of one
    process are kept apart here, and the file has one descriptor per process, opened while any
    of its bytes is held: closing any descriptor of the file would release them all. Two names
    hashed to one byte (one pair in ~2**31) wait for each other, which is safe.
    """

    def __init__(self, path: Path, name: str):
        self.path = path
        self.offset = int.from_bytes(hashlib.sha256(name.encode("utf-8", "backslashreplace")).digest()[:4], "big") >> 1
        self._held_in: Optional[Tuple[Any, ...]] = None  # the lock file's identity while held (see try_acquire)

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True when held (also when locking is unavailable)."""
        if self._held_in is not None:
            return True
        folder = in_made_folder(self.path, lambda: os.stat(self.path.parent))
        # The folder's identity, not its path: two spellings of a folder share one descriptor (a file
        # system without inode numbers, as some Windows shares, falls back to the resolved path).
        where = (folder.st_dev, folder.st_ino or os.path.normcase(os.path.realpath(str(self.path.parent))),
                 self.path.name)
        with _SHARED_GUARD:
            shared = _SHARED.get(where)
            if shared is None:
                shared = _SHARED[where] = _Shared(_open(self.path))
            try:
                taken = self.offset not in shared.held and _lock(shared.fd, self.offset)
            except BaseException:
                _close_unused(where)
                raise
            if not taken:
                _close_unused(where)
                return False
            shared.held.add(self.offset)
            self._held_in = where
            return True

    def release(self) -> None:
        where, self._held_in = self._held_in, None
        if where is None:
            return
        with _SHARED_GUARD:
            shared = _SHARED[where]
            shared.held.discard(self.offset)
            try:
                _unlock(shared.fd, self.offset)
            except OSError:
                pass
            finally:
                _close_unused(where)


class _Shared:
    """A lock file's one descriptor in this process and the bytes this process holds in it."""

    def __init__(self, fd: int):
        self.fd = fd
        self.held: Set[int] = set()


_SHARED: Dict[Tuple[Any, ...], _Shared] = {}
_SHARED_GUARD = threading.Lock()


def _close_unused(where: Tuple[Any, ...]) -> None:
    """Close the descriptor once no byte of its file is held (call with _SHARED_GUARD held)."""
    shared = _SHARED[where]
    if not shared.held:
        del _SHARED[where]
        os.close(shared.fd)


def _open(path: Path) -> int:
    """The lock file's descriptor, the file created if needed: never through a symlink
    (O_NOFOLLOW), never a FIFO or device (opened non-blocking, then checked), so a planted link
    cannot touch another file."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    if not hasattr(os, "O_NOFOLLOW") and os.path.islink(str(path)):
        raise OSError(errno.ELOOP, "the lock file is a symlink; not used", str(path))
    fd = os.open(str(path), flags | getattr(os, "O_BINARY", 0), 0o666)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "the lock file is not a regular file; not used", str(path))
        return fd
    except BaseException:
        os.close(fd)
        raise


def _lock(fd: int, offset: Optional[int] = None) -> bool:
    """Lock without waiting: the whole file (offset None; POSIX flock, held per open file) or one
    byte of it (POSIX lockf, held per process). False when another holder has it."""
    if fcntl is not None:
        if offset is None:
            return _locked(lambda: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB),
                           (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES))
        return _locked(lambda: fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset, os.SEEK_SET),
                       (errno.EAGAIN, errno.EACCES))
    if msvcrt is None:
        return True  # no locking on this platform: best effort

    def byte() -> None:  # Windows locks the byte at the file position
        os.lseek(fd, offset or 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    return _locked(byte, (errno.EACCES, errno.EDEADLK))


def _locked(take: Callable[[], None], busy: Tuple[int, ...]) -> bool:
    try:
        take()
    except OSError as exc:
        if exc.errno in busy:
            return False
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
            return True  # a file system without locks (some network mounts): best effort
        raise
    return True


def _unlock(fd: int, offset: Optional[int] = None) -> None:
    if fcntl is not None:
        if offset is None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        else:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset, os.SEEK_SET)
    elif msvcrt is not None:
        os.lseek(fd, offset or 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
