"""Download the result: stream to `.part`, resume with Range, verify, fsync, then rename.

The final path never holds a partial file, nor anything that is not a whole video: the body
must match its Content-Length when one is given, come with a content type a video can have,
and pass a structural check of its MP4/MOV boxes (``mp4_layout``). A dropped connection
resumes from the bytes already on disk when the server honours Range (checked against
Content-Range), and starts over cleanly when it does not. The `.part` is never opened
through a symbolic link. Retries follow retry.POLICIES["download"] through retry.retrying.
"""
from __future__ import annotations

import errno
import os
import re
import stat
import struct
import threading
from pathlib import Path
from typing import BinaryIO, Callable, Optional
from urllib.parse import urlsplit

from . import retry
from ..store import outputs
from ..console import Console, transfer_text
from ..context import Context
from ..errors import CliError
from .transport import CHUNK, Transport, TransportError, Unsendable, USER_AGENT

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 5
PROGRESS_EVERY = 0.25  # seconds between redraws of the download line on a terminal
# Content types a video may arrive with: video/* and the generic binary ones (OSS serves an
# object stored without a type as application/octet-stream; S3-style stores use
# binary/octet-stream; application/mp4 is RFC 4337's MP4 type), or none at all. An HTML
# page (a captive portal), JSON or XML (an error) is never saved as the video.
BINARY_TYPES = ("application/octet-stream", "binary/octet-stream", "application/mp4")
WHOLE, PREFIX, INVALID = "whole", "prefix", "invalid"
_PRINTABLE = bytes(range(0x20, 0x7F))


class DownloadFailed(CliError):
    pass


class UrlExpired(Exception):
    pass


class DownloadStopped(Exception):
    """The caller's stop flag was set (a batch's Ctrl-C): nothing saved, the `.part` kept to resume."""


def download(ctx: Context, console: Console, transport: Transport, url: str, dest: Path,
             refresh_url: Optional[Callable[[], str]] = None,
             stop: Optional[threading.Event] = None) -> int:
    """Fetch url into dest; return the byte count. Raises DownloadFailed, or DownloadStopped
    once `stop` is set (it is checked between chunks).

    On a failure the `.part` file is removed, so the name stays free for the retry
    (`--task-id`). A Ctrl-C, a stop or a kill leaves the `.part` with the bytes already paid
    for: the next run continues it under the same name (the journal's "downloading" record
    names it). Never a partial file at ``dest``.
    The caller owns `<dest>.part` before calling: either the empty one it just claimed
    (outputs.claim; a fresh download) or a killed run's, which is continued with a Range request.
    """
    part = dest.with_name(dest.name + ".part")
    if urlsplit(url).scheme not in ("http", "https"):
        _discard(part)
        raise DownloadFailed("the video URL is not an http(s) URL (%s:)" % (urlsplit(url).scheme or "no scheme"),
                             hint="the service gave an unusable URL; check the task again later")
    try:  # (the folder holds the caller's `.part`: it is there)
        return _download(ctx, console, transport, url, dest, part, refresh_url, stop)
    except OSError as exc:
        _discard(part)
        raise DownloadFailed("could not write %s: %s" % (dest, exc.strerror or exc),
                             hint="check free disk space and permissions of the output directory") from None
    except (KeyboardInterrupt, DownloadStopped):
        raise  # the `.part` stays: the next run resumes it with a Range request
    except BaseException:
        _discard(part)
        raise


def _discard(part: Path) -> None:
    try:
        part.unlink()  # a symbolic link planted there goes, never its target
    except OSError:
        pass


def open_regular(path: Path, flags: int, mode: int = 0o644) -> int:
    """os.open that never follows a symbolic link at `path` and accepts only a regular file
    (a FIFO or a device never blocks the open: O_NONBLOCK). Raises DownloadFailed otherwise.

    O_NOFOLLOW where the platform has it; elsewhere (Windows) an lstat first."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    refused = DownloadFailed("refusing to write %s: it is a symbolic link or not a regular file" % path,
                             hint="remove it (nothing was written through it), then run the command again")
    if not nofollow:
        try:
            info = os.lstat(str(path))
        except FileNotFoundError:
            info = None
        if info is not None and not stat.S_ISREG(info.st_mode):
            raise refused
    try:
        fd = os.open(str(path), flags | nofollow | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0), mode)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK, errno.ENXIO, errno.EISDIR):  # ELOOP/EMLINK: a link
            raise refused from None
        raise
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        os.close(fd)
        raise
    if not regular:
        os.close(fd)
        raise refused
    return fd


def mp4_layout(handle: BinaryIO, size: int) -> str:
    """WHOLE when the top-level ISO-BMFF boxes of the first `size` bytes start with ``ftyp``
    and cover them exactly; PREFIX when they are a valid start whose last box runs past
    `size` (or nothing yet); INVALID when these bytes cannot begin an MP4/MOV.

    Box sizes: 32-bit; 1 = a 64-bit size follows the type; 0 = the box runs to the end.
    """
    offset = 0
    while offset < size:
        handle.seek(offset)
        header = handle.read(min(16, size - offset))
        if len(header) < 8:
            return PREFIX
        small, kind = struct.unpack(">I4s", header[:8])
        if kind.translate(None, _PRINTABLE):  # a box type is four printable ASCII characters
            return INVALID
        if offset == 0 and kind != b"ftyp":
            return INVALID
        if small == 0:
            return WHOLE if offset > 0 else INVALID  # to the end of the file; never the ftyp
        if small == 1:
            if len(header) < 16:
                return PREFIX
            box, head = struct.unpack(">Q", header[8:16])[0], 16
        else:
            box, head = small, 8
        if box < head or (offset == 0 and box < 16):  # ftyp: major brand + minor version at least
            return INVALID
        offset += box
    return WHOLE if offset == size and size > 0 else PREFIX


def _download(ctx: Context, console: Console, transport: Transport, url: str, dest: Path, part: Path,
              refresh_url: Optional[Callable[[], str]], stop: Optional[threading.Event] = None) -> int:
    refreshed = False

    def attempt(number: int) -> int:
        nonlocal url, refreshed
        while True:
            _check(stop)
            try:
                return _fetch(ctx, console, transport, url, part, stop)
            except UrlExpired:
                if refreshed or refresh_url is None:
                    raise DownloadFailed("the video URL has expired (HTTP 403)",
                                         hint="video URLs are valid for 24 h after the task ends") from None
                refreshed = True
                console.info("The video URL expired; reading the task again for a fresh one")
                url = refresh_url()

    try:
        total = retry.retrying(retry.POLICIES["download"], attempt, ctx.sleep, console.info)
    except retry.GaveUp as exc:
        raise DownloadFailed("download failed after %d attempts: %s" % (exc.attempts, exc.reason)) from None
    _check(stop)
    _replace(part, dest, ctx)
    return total


def _check(stop: Optional[threading.Event]) -> None:
    if stop is not None and stop.is_set():
        raise DownloadStopped()


def _resuming(size: int) -> str:
    return " (resuming at byte %d)" % size if size else ""


def video_type(content_type: Optional[str]) -> bool:
    """True for a content type a video can arrive with (see BINARY_TYPES), or none."""
    kind = (content_type or "").split(";")[0].strip().lower()
    return not kind or kind.startswith("video/") or kind in BINARY_TYPES


def _fetch(ctx: Context, console: Console, transport: Transport, url: str, part: Path,
           stop: Optional[threading.Event] = None) -> int:
    fd = open_regular(part, os.O_RDWR | os.O_CREAT)
    with os.fdopen(fd, "r+b") as handle:
        have = os.fstat(handle.fileno()).st_size
        headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
        if have:
            headers["Range"] = "bytes=%d-" % have
        stream = _open_following_redirects(transport, url, headers)
        try:
            return _receive(ctx, console, stream, handle, have, stop)
        finally:
            stream.close()


def _receive(ctx: Context, console: Console, stream, handle: BinaryIO, have: int,
             stop: Optional[threading.Event]) -> int:
    if stream.status == 416 and have:
        # Everything is already here if the server's size matches ours.
        match = re.search(r"/(\d+)", stream.headers.get("content-range", ""))
        if match and int(match.group(1)) == have and mp4_layout(handle, have) == WHOLE:
            return have
        handle.truncate(0)
        raise retry.Again("server rejected the resume range; starting over")
    if stream.status == 403:
        raise UrlExpired()
    if stream.status in retry.TRANSIENT_STATUSES:
        raise retry.Again("HTTP %d" % stream.status,
                          retry_after=retry.parse_retry_after(stream.headers.get("retry-after"), ctx.wall_clock()),
                          note=_resuming(have))
    if stream.status not in (200, 206):
        raise DownloadFailed("download failed: HTTP %d %s" % (stream.status, stream.reason))
    kind = stream.headers.get("content-type")
    if not video_type(kind):
        raise DownloadFailed("the download answer is %s, not a video; nothing was saved"
                             % (kind or "").split(";")[0].strip().lower(),
                             hint="a captive portal or proxy may be answering instead of the storage "
                                  "(log in to the network, or check HTTPS_PROXY/NO_PROXY)")
    span = _span(stream.status, stream.headers, have)
    if span is None:
        handle.truncate(0)
        raise retry.Again("server sent a range we did not ask for; starting over")
    start, total = span
    if start == 0 and have:
        console.info("download: the server ignored the resume range; starting over")
    handle.seek(start)
    if start != have:  # (a fresh download's `.part` is empty already)
        handle.truncate(start)
    size = start
    flusher = _Writeback(handle) if (total or 0) - start >= _Writeback.MIN_SIZE else None
    began = shown = ctx.clock()
    try:
        while True:
            _check(stop)
            try:
                chunk = stream.read(CHUNK)
            except TransportError as exc:
                handle.flush()
                raise retry.Again(str(exc), note=_resuming(_valid_prefix(handle, size))) from None
            if not chunk:
                break
            handle.write(chunk)
            size += len(chunk)
            if flusher:
                flusher.wrote(len(chunk))
            now = ctx.clock()
            if now - shown >= PROGRESS_EVERY:  # a live line on a terminal only (Console.live)
                shown = now
                console.live(transfer_text("Downloading", size, total, (size - start) / max(now - began, 1e-6)))
    finally:
        if flusher:
            flusher.stop()
    handle.flush()
    os.fsync(handle.fileno())
    if total is not None and size != total:
        raise retry.Again("connection closed at %d of %d bytes" % (size, total),
                          note=_resuming(_valid_prefix(handle, size)))
    layout = mp4_layout(handle, size)
    if layout == WHOLE:
        return size
    if layout == PREFIX and total is None and size > start:
        # No Content-Length, and the boxes say the video goes on: the connection was cut.
        raise retry.Again("connection closed at %d bytes, inside the video" % size, note=_resuming(size))
    raise DownloadFailed("the downloaded file is not a whole video (%s); nothing was saved"
                         % ("empty" if size == 0 else "%d bytes whose MP4 boxes %s" % (
                             size, "end early" if layout == PREFIX else "are not a video's")),
                         hint="the storage served something else than the video; try again later")


def _valid_prefix(handle: BinaryIO, size: int) -> int:
    """`size` when the first `size` bytes can begin a video (the resume continues after
    them); otherwise the `.part` is emptied and 0 returned (the retry starts over)."""
    if mp4_layout(handle, size) == INVALID:
        handle.truncate(0)
        return 0
    return size


def _open_following_redirects(transport: Transport, url: str, headers):
    """GET `url`, following up to MAX_REDIRECTS redirects (relative Locations resolved).

    The headers are the download's own (never an Authorization header), so nothing secret
    follows a redirect to another host.
    """
    from urllib.parse import urljoin, urlsplit

    for hop in range(MAX_REDIRECTS + 1):
        try:
            stream = transport.open("GET", url, headers, timeout=60.0)
        except Unsendable as exc:
            raise DownloadFailed("download failed: %s" % exc) from None
        except TransportError as exc:
            raise retry.Again(str(exc)) from None
        if stream.status not in REDIRECTS:
            return stream
        location = stream.headers.get("location")
        status = stream.status
        stream.close()
        if not location:
            raise DownloadFailed("download failed: HTTP %d redirect without a Location" % status)
        if hop == MAX_REDIRECTS:
            raise DownloadFailed("download failed: more than %d redirects" % MAX_REDIRECTS)
        url = urljoin(url, location.strip())
        if urlsplit(url).scheme not in ("http", "https"):
            raise DownloadFailed("download failed: HTTP %d redirect to a URL that is not http(s)" % status)
    raise AssertionError("unreachable")


class _Writeback:
    """Pushes a big download to disk while it is still arriving.

    The file is fsynced before it is renamed into place; without this, a large file's
    whole writeback would happen in that final fsync, after the last byte arrived.
    """

    MIN_SIZE = 64 * 1024 * 1024
    EVERY = 32 * 1024 * 1024

    def __init__(self, handle):
        self.handle = handle
        self.since = 0
        self.wake = threading.Event()
        self.done = False
        self.thread = threading.Thread(target=self._run, name="writeback", daemon=True)
        self.thread.start()

    def wrote(self, count: int) -> None:
        self.since += count
        if self.since >= self.EVERY:
            self.since = 0
            self.handle.flush()
            self.wake.set()

    def _run(self) -> None:
        sync = getattr(os, "fdatasync", os.fsync)
        while True:
            self.wake.wait()
            self.wake.clear()
            if self.done:
                return
            try:
                sync(self.handle.fileno())
            except (OSError, ValueError):
                return  # the final fsync reports real problems

    def stop(self) -> None:
        self.done = True
        self.wake.set()
        self.thread.join()


def _span(status: int, headers, have: int):
    """(offset the body starts at, total size or None), validating Content-Range strictly."""
    length = headers.get("content-length")
    if status == 206:
        match = _CONTENT_RANGE.match(headers.get("content-range", ""))
        if not match or int(match.group(1)) != have:
            return None
        total = None if match.group(3) == "*" else int(match.group(3))
        return have, total
    # (isascii: "\u00b2" is a digit to isdigit and not to int; a server's header is Latin-1 text)
    return 0, int(length) if length and length.isascii() and length.isdigit() and len(length) <= 18 else None


def _replace(part: Path, dest: Path, ctx: Context) -> None:
    """Move the finished .part into place (retried while another program holds it: outputs.replace)."""
    try:
        outputs.replace(part, dest, ctx.sleep)
    except PermissionError as exc:
        raise DownloadFailed("could not move %s into place: %s" % (part.name, exc),
                             hint="another program may hold the file; try again") from None
