"""One append-only JSONL log: fsynced single-write appends, never through a symlink, read line by line either way.

Used by the task journal and the batch manifest. The rules:

- ``append`` writes one JSON record per line with ONE ``os.write`` on an ``O_APPEND``
  descriptor, then fsyncs. POSIX sets the offset to the end of the file and writes with no
  intervening modification, so lines of concurrent writers (processes or threads) never
  interleave (write(3p), https://man7.org/linux/man-pages/man3/write.3p.html; NFS does not
  keep this promise: http://metamodular.com/POSIX-API/Low/o-append.html). Threads of one
  process also take a lock. A file left ending in a torn line (a crash, a full disk) gets a
  newline first, so the new record stays a line of its own. On POSIX the descriptor is kept
  between appends while the path still names the same regular file (checked with one lstat
  before each append: a log removed, replaced or turned into a link is opened again); on
  Windows an open file cannot be deleted or renamed, nor its folder, so it is closed after
  each append as before.
- The file is opened without following a symlink (``O_NOFOLLOW``) and must be a regular file:
  a log symlinked to some SKILL.md gets nothing, a FIFO never blocks (``O_NONBLOCK``); both
  raise ``NotRegular`` (an OSError).
- Every line goes through ``redact`` before it is written (secrets never stored) and every
  ``*url*`` field loses its query string (signed URLs carry signatures).
- Reading never trusts the file: each line is parsed on its own with ``safe_json``; a line
  that is not UTF-8, not JSON, nested too deep, longer than ``MAX_LINE``, not an object, or
  cut short by a crash is skipped (a last line without its newline still counts when it
  parses whole: a cut JSON object never does), and one warning names the file and how
  many lines were skipped. Reads never go past the size seen when they began, and use constant memory.
- ``backward`` reads from the end in blocks, newest record first, for tail queries; a
  ``contains`` needle skips whole blocks that cannot hold a wanted line, unparsed.
"""
from __future__ import annotations

import errno
import json
import os
import stat
import threading
import weakref
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit, urlunsplit

from .. import safe_json
from .lock import FileLock, in_made_folder

BLOCK = 64 * 1024  # bytes read per step
MAX_LINE = 1024 * 1024  # a longer line is skipped unparsed (records are a few hundred bytes)

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_KEEP_OPEN = os.name != "nt"  # an append descriptor kept between appends (see the module docstring)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_LOOP_ERRNOS = {errno.ELOOP, getattr(errno, "EMLINK", errno.ELOOP), getattr(errno, "EFTYPE", errno.ELOOP)}

Record = Dict[str, Any]


class NotRegular(OSError):
    """The log path is a symlink, a directory, a FIFO or a device: refused, never followed."""


def strip_query(url: str) -> str:
    """An http(s) URL without its query and fragment (where signatures live)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0]
    if parts.scheme.lower() not in ("http", "https") or not (parts.query or parts.fragment):
        return url
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


_SCALARS = frozenset({str, int, float, bool, type(None)})
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(ensure_ascii=False) without a new encoder per line


def scrub(value: Any, url_field: bool = False) -> Any:
    """`value` with the query string removed from every URL held in a field named like *url*."""
    if type(value) is dict and not url_field and _plain(value):
        return dict(value)  # (most records: nothing to scrub, decided without a call per field)
    if isinstance(value, dict):
        return {k: scrub(v, url_field or (isinstance(k, str) and "url" in k.lower())) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, url_field) for v in value]
    if url_field and isinstance(value, str):
        return strip_query(value)
    return value


def _plain(record: Dict[Any, Any]) -> bool:
    """No key names a URL and every value is a plain scalar (exactly str, int, float, bool or None)."""
    try:
        named = "url" in "\n".join(record).lower()
    except TypeError:  # a key that is not a string
        return False
    return not named and _SCALARS.issuperset(map(type, record.values()))


class Log:
    def __init__(self, path: Path, redact: Optional[Callable[[str], str]] = None,
                 warn: Optional[Callable[[str], None]] = None, block: int = BLOCK):
        self.path = Path(path)
        self.redact = redact
        self.warn = warn
        self.block = max(1, int(block))
        self._lock = threading.Lock()
        self._bad: set = set()  # offsets of lines skipped so far
        self._warned = 0  # how many of them a warning has already named
        self._line_end: Tuple[int, int] = (-1, -1)  # (inode, size) right after this process's last append
        # The descriptor appends go through, kept between them (an open and a close fewer per line),
        # and the (device, inode) it was opened on; closed when the Log is collected.
        self._held: List[int] = []
        self._held_id: Tuple[int, int] = (-1, -1)
        weakref.finalize(self, _close_all, self._held)

    # -- writing ----------------------------------------------------------------------
    def encode(self, record: Mapping[str, Any]) -> bytes:
        """The line `record` is stored as: scrubbed, redacted, UTF-8, newline-terminated."""
        clean = scrub(dict(record))
        text = _ENCODE(clean)
        if self.redact is not None:
            masked = self.redact(text)
            if masked != text:
                try:
                    json.loads(masked)
                except ValueError:  # a mask cut through JSON syntax: redact each string instead
                    masked = json.dumps(_redact_strings(clean, self.redact), ensure_ascii=False)
            text = masked
        text = text.replace("\r", "\\r").replace("\n", "\\n")  # json.dumps never emits either raw
        # A lone surrogate (from a prompt argv) becomes the JSON escape \udcXX: still valid JSON.
        return text.encode("utf-8", "backslashreplace") + b"\n"

    def append(self, record: Mapping[str, Any], durable: bool = True) -> Tuple[int, bytes]:
        """Write `record` as one line, fsynced unless `durable` is False (a record whose loss in a
        power cut costs nothing: the next status check writes it again). Returns (the file's size
        before the write, the bytes written). Raises OSError (NotRegular included)."""
        data = self.encode(record)
        with self._lock:
            fd, size, inode = self._appender()
            try:
                # The end this process last wrote is a line end: only another end is read to check.
                if size and (inode, size) != self._line_end and _pread(fd, 1, size - 1) != b"\n":
                    data = b"\n" + data  # the file ends in a torn line: never glue onto it
                view = memoryview(data)
                while view:  # a short write happens only on errors; the rest still appends
                    view = view[os.write(fd, view):]
                self._line_end = (inode, size + len(data))
                if durable:
                    os.fsync(fd)
            except BaseException:
                self._let_go()  # the next append opens the log again
                raise
            if not _KEEP_OPEN:
                self._let_go()
        return size, data

    def sync(self) -> None:
        """fsync what earlier non-durable appends wrote (one fsync covers every line before it)."""
        with self._lock:
            kept = self._kept_if_current()
            if kept is not None:
                os.fsync(kept[0])
                return
            fd = self._open(os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _appender(self) -> Tuple[int, int, int]:
        """(descriptor, size now, inode) to append with: the one kept from the last append while
        the path still names that file (one lstat; a log removed, replaced or turned into a link
        since is opened again, with every check), else a new one, then kept."""
        kept = self._kept_if_current()
        if kept is not None:
            return kept
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT
        fd, info = in_made_folder(self.path, lambda: self._open_checked(flags))
        self._held.append(fd)
        self._held_id = (info.st_dev, info.st_ino)
        return fd, info.st_size, info.st_ino

    def _kept_if_current(self) -> Optional[Tuple[int, int, int]]:
        """(descriptor, size, inode) of the kept descriptor when the path names its file now."""
        if not self._held:
            return None
        try:
            info = os.lstat(str(self.path))
        except OSError:
            info = None
        if (info is not None and stat.S_ISREG(info.st_mode) and info.st_ino
                and (info.st_dev, info.st_ino) == self._held_id):
            return self._held[0], info.st_size, info.st_ino
        self._let_go()
        return None

    def _let_go(self) -> None:
        _close_all(self._held)

    def lock(self) -> FileLock:
        """The log's exclusive lock file (``<path>.lock``), for check-then-append steps."""
        return FileLock(self.path)

    def _open(self, flags: int) -> int:
        """A descriptor on the log itself: never a symlink's target, never a non-regular file."""
        return self._open_checked(flags)[0]

    def _open_checked(self, flags: int) -> Tuple[int, os.stat_result]:
        """(descriptor, its fstat), as ``_open``: one fstat serves the check and the rest."""
        if not _NOFOLLOW and os.path.islink(str(self.path)):  # no O_NOFOLLOW (Windows): check first
            raise self._refused()
        try:
            fd = os.open(str(self.path), flags | _NOFOLLOW | _NONBLOCK | _BINARY, 0o666)
        except OSError as exc:
            if exc.errno in _LOOP_ERRNOS or exc.errno in (errno.EISDIR, errno.ENXIO):
                raise self._refused() from None
            raise
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise self._refused()
        except BaseException:
            os.close(fd)
            raise
        return fd, info

    def _refused(self) -> NotRegular:
        return NotRegular(errno.EINVAL, "not a regular file (a symlink, directory or FIFO); not used", str(self.path))

    # -- reading ----------------------------------------------------------------------
    def snapshot(self) -> Optional[Tuple[int, int, int]]:
        """(device, inode, size) of the log now, or None when there is none: one lstat while the
        append descriptor kept from this process's last line is still the file's."""
        with self._lock:
            kept = self._kept_if_current()
            if kept is not None:
                return self._held_id[0], kept[2], kept[1]
        try:
            fd = self._open(os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            info = os.fstat(fd)
            return info.st_dev, info.st_ino, info.st_size
        finally:
            os.close(fd)

    def forward(self, start: int = 0) -> Iterator[Tuple[int, Record]]:
        """(offset, record) oldest first, from byte `start` (a line start). Missing log: nothing.
        Raises OSError when the log exists but cannot be read (NotRegular included)."""
        return self._scan(self._forward_lines(start), None)

    def backward(self, stop: int = 0, contains: Optional[bytes] = None, keep: Optional[Callable[[bytes], bool]] = None,
                 end: Optional[int] = None) -> Iterator[Tuple[int, Record]]:
        """(offset, record) newest first, from byte `end` (default: the end; a line end) down to
        byte `stop` (a line start). Only lines holding `contains` (when given) and accepted by
        `keep` (raw bytes; when given) are parsed. Raises OSError as ``forward`` does."""
        return self._scan(self._backward_lines(stop, contains, end), keep)

    def _scan(self, lines: Iterator[Tuple[int, bytes, bool]], keep) -> Iterator[Tuple[int, Record]]:
        bad: List[int] = []
        try:
            for offset, line, whole in lines:
                if keep is not None and whole and not keep(line):
                    continue
                record = _parse(line) if whole else None
                if record is None:
                    bad.append(offset)
                    continue
                yield offset, record
        finally:  # also when the caller stops early (generator closed)
            self._note_bad(bad)

    def _note_bad(self, offsets: List[int]) -> None:
        if not offsets:
            return
        with self._lock:
            self._bad.update(offsets)
            if self._warned or self.warn is None:
                return
            self._warned = len(self._bad)
            count = self._warned
        self.warn("skipped %d unreadable line%s of %s (cut by a crash or a full disk, or not a JSON record); "
                  "every other line counts" % (count, "" if count == 1 else "s", self.path))

    @property
    def skipped(self) -> int:
        """How many distinct unreadable lines reads of this log have met so far."""
        return len(self._bad)

    def _reader(self, end: Optional[int] = None) -> Optional[Tuple[int, int]]:
        """(descriptor, size to read up to), or None when there is no log."""
        with self._lock:  # no write of this process is half done at the size seen
            try:
                fd, info = self._open_checked(os.O_RDONLY)
            except FileNotFoundError:
                return None
        return fd, info.st_size if end is None else min(end, info.st_size)

    def _forward_lines(self, start: int) -> Iterator[Tuple[int, bytes, bool]]:
        """(offset, line without newline, parseable?) oldest first; blank lines skipped."""
        opened = self._reader()
        if opened is None:
            return
        fd, end = opened
        try:
            pos = start
            line_at = start  # where the line gathered in `carry` begins
            carry = b""
            carry_len = 0  # its real length (carry is dropped once longer than MAX_LINE)
            while pos < end:
                chunk = _pread(fd, min(self.block, end - pos), pos)
                if not chunk:
                    break
                chunk_at = pos
                pos += len(chunk)
                i = 0
                while True:
                    j = chunk.find(b"\n", i)
                    if j < 0:
                        break
                    length = carry_len + j - i
                    if length:
                        yield line_at, (carry + chunk[i:j] if length <= MAX_LINE else b""), length <= MAX_LINE
                    carry, carry_len = b"", 0
                    line_at = chunk_at + j + 1
                    i = j + 1
                carry_len += len(chunk) - i
                carry = carry + chunk[i:] if carry_len <= MAX_LINE else b""
            if carry_len:  # no newline at the end: a torn line (it still counts if it parses whole)
                yield line_at, carry, carry_len <= MAX_LINE
        finally:
            os.close(fd)

    def _backward_lines(self, stop: int, contains: Optional[bytes],
                        end: Optional[int] = None) -> Iterator[Tuple[int, bytes, bool]]:
        """(offset, line without newline, parseable?) newest first, down to `stop`."""
        opened = self._reader(end)
        if opened is None:
            return
        fd, end = opened
        try:
            pos = end
            carry = b""  # the start of the data after `pos` up to the next newline (a partial line)
            carry_len = 0  # its real length (carry is dropped once longer than MAX_LINE)
            while pos > stop:
                start = max(stop, pos - self.block)
                chunk = _pread(fd, pos - start, start)
                pos = start
                first = chunk.find(b"\n")
                if first < 0:
                    carry_len += len(chunk)
                    carry = chunk + carry if carry_len <= MAX_LINE else b""
                    continue
                region = chunk[first + 1:]
                region_len = len(region) + carry_len
                overlong = carry_len > MAX_LINE
                if not overlong:
                    region += carry
                if contains is None or contains in region or overlong:
                    parts = region.split(b"\n")
                    offsets = []
                    offset = start + first + 1
                    for part in parts[:-1]:
                        offsets.append(offset)
                        offset += len(part) + 1
                    last_len = region_len - (offset - (start + first + 1))
                    # the last part ends at a newline already consumed, or at EOF
                    if last_len > 0:
                        yield offset, parts[-1], not (overlong or last_len > MAX_LINE)
                    for offset, part in zip(reversed(offsets), reversed(parts[:-1])):
                        if part:
                            yield offset, part, len(part) <= MAX_LINE
                carry = chunk[:first]
                carry_len = len(carry)
            if carry_len > 0:
                yield stop, carry, carry_len <= MAX_LINE
        finally:
            os.close(fd)


def _close_all(descriptors: List[int]) -> None:
    while descriptors:
        try:
            os.close(descriptors.pop())
        except OSError:
            pass


def _parse(line: bytes) -> Optional[Record]:
    """safe_json.loads of one line; a line with no more brackets than MAX_DEPTH cannot nest
    deeper, so its character-by-character depth scan (most of the cost) is skipped."""
    if line.count(b"[") + line.count(b"{") <= safe_json.MAX_DEPTH:
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None
    else:
        try:
            record = safe_json.loads(line)
        except safe_json.Invalid:
            return None
    return record if isinstance(record, dict) else None


def _pread(fd: int, size: int, offset: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # Windows: no pread; the descriptor is ours alone
    return os.read(fd, size)


def _redact_strings(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, dict):
        return {redact(k) if isinstance(k, str) else k: _redact_strings(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_strings(v, redact) for v in value]
    return redact(value) if isinstance(value, str) else value
