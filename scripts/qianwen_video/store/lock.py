"""Exclusive lock files: one process at a time checks-then-submits (or runs a batch)."""
from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path
from typing import Any, Optional

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
        self._fd: Optional[int] = None  # a plain descriptor: a batch takes one lock per download

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True when held (also when locking is unavailable)."""
        if self._fd is not None:
            return True
        try:
            fd = _open(self.path)
        except FileNotFoundError:  # the directory is not there yet
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = _open(self.path)
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


def _lock(fd: int) -> bool:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                return True  # a file system without locks (some network mounts): best effort
            raise
        return True
    if msvcrt is None:
        return True  # no locking on this platform: best effort
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EDEADLK):
            return False
        raise
    return True


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    elif msvcrt is not None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
