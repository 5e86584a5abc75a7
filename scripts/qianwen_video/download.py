"""Download the result: stream to `.part`, resume with Range, verify, fsync, then rename.

The final path never holds a partial file. A dropped connection resumes from the bytes
already on disk when the server honours Range (checked against Content-Range), and starts
over cleanly when it does not.
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Callable, Optional

from . import outputs, retry
from .console import Console
from .context import Context
from .errors import CliError
from .transport import CHUNK, Transport, TransportError, USER_AGENT

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 5


class DownloadFailed(CliError):
    pass


class UrlExpired(Exception):
    pass


class DownloadStopped(Exception):
    """The caller's stop flag was set (a batch's Ctrl-C): the `.part` is removed, nothing saved."""


def download(ctx: Context, console: Console, transport: Transport, url: str, dest: Path,
             refresh_url: Optional[Callable[[], str]] = None,
             stop: Optional[threading.Event] = None) -> int:
    """Fetch url into dest; return the byte count. Raises DownloadFailed, or DownloadStopped
    once `stop` is set (it is checked between chunks).

    On failure, stop or Ctrl-C the `.part` file is removed, so the name stays free for the
    retry (`--task-id`). Only a kill leaves a `.part` behind, never a partial file at ``dest``.
    The caller owns `<dest>.part` before calling: either the empty one it just claimed
    (outputs.claim; a fresh download) or a killed run's, which is continued with a Range request.
    """
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        return _download(ctx, console, transport, url, dest, part, refresh_url, stop)
    except OSError as exc:
        _discard(part)
        raise DownloadFailed("could not write %s: %s" % (dest, exc.strerror or exc),
                             hint="check free disk space and permissions of the output directory") from None
    except BaseException:
        _discard(part)
        raise


def _discard(part: Path) -> None:
    try:
        part.unlink()
    except OSError:
        pass


def _download(ctx: Context, console: Console, transport: Transport, url: str, dest: Path, part: Path,
              refresh_url: Optional[Callable[[], str]], stop: Optional[threading.Event] = None) -> int:
    policy = retry.POLICIES["download"]
    refreshed = False
    attempt, waited = 0, 0.0
    while True:
        attempt += 1
        _check(stop)
        try:
            total = _fetch(ctx, console, transport, url, part, stop)
            break
        except UrlExpired:
            if refreshed or refresh_url is None:
                raise DownloadFailed("the video URL has expired (HTTP 403)",
                                     hint="video URLs are valid for 24 h after the task ends") from None
            refreshed = True
            console.info("The video URL expired; reading the task again for a fresh one")
            url = refresh_url()
            continue
        except _Retryable as exc:
            delay = exc.retry_after if exc.retry_after is not None else retry.backoff(policy, attempt - 1)
            if attempt >= policy.attempts or waited + delay > policy.max_total:
                raise DownloadFailed("download failed after %d attempts: %s" % (attempt, exc)) from None
            have = part.stat().st_size if part.exists() else 0
            console.info("download: %s; retrying in %.1fs%s" % (
                exc, delay, " (resuming at byte %d)" % have if have else ""))
            ctx.sleep(delay)
            waited += delay
    _check(stop)
    _replace(part, dest, ctx)
    return total


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: Optional[float] = None):
        super().__init__(message)
        self.retry_after = retry_after


def _check(stop: Optional[threading.Event]) -> None:
    if stop is not None and stop.is_set():
        raise DownloadStopped()


def _fetch(ctx: Context, console: Console, transport: Transport, url: str, part: Path,
           stop: Optional[threading.Event] = None) -> int:
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    if have:
        headers["Range"] = "bytes=%d-" % have
    stream = _open_following_redirects(transport, url, headers)
    try:
        if stream.status == 416 and have:
            # Everything is already here if the server's size matches ours.
            match = re.search(r"/(\d+)", stream.headers.get("content-range", ""))
            if match and int(match.group(1)) == have:
                return have
            part.unlink()
            raise _Retryable("server rejected the resume range; starting over")
        if stream.status == 403:
            raise UrlExpired()
        if stream.status in retry.TRANSIENT_STATUSES:
            raise _Retryable("HTTP %d" % stream.status,
                             retry.parse_retry_after(stream.headers.get("retry-after"), ctx.wall_clock()))
        if stream.status not in (200, 206):
            raise DownloadFailed("download failed: HTTP %d %s" % (stream.status, stream.reason))
        span = _span(stream.status, stream.headers, have)
        if span is None:
            part.unlink()
            raise _Retryable("server sent a range we did not ask for; starting over")
        start, total = span
        mode = "ab" if start else "wb"
        if start == 0 and have:
            console.info("download: the server ignored the resume range; starting over")
        written = start
        with open(part, mode) as handle:
            flusher = _Writeback(handle) if (total or 0) - start >= _Writeback.MIN_SIZE else None
            try:
                while True:
                    _check(stop)
                    try:
                        chunk = stream.read(CHUNK)
                    except TransportError as exc:
                        handle.flush()
                        raise _Retryable(str(exc)) from None
                    if not chunk:
                        break
                    handle.write(chunk)
                    written += len(chunk)
                    if flusher:
                        flusher.wrote(len(chunk))
            finally:
                if flusher:
                    flusher.stop()
            handle.flush()
            os.fsync(handle.fileno())
        if total is not None and written != total:
            raise _Retryable("connection closed at %d of %d bytes" % (written, total))
        return written
    finally:
        stream.close()


def _open_following_redirects(transport: Transport, url: str, headers):
    """GET `url`, following up to MAX_REDIRECTS redirects (relative Locations resolved).

    The headers are the download's own (never an Authorization header), so nothing secret
    follows a redirect to another host.
    """
    from urllib.parse import urljoin, urlsplit

    for hop in range(MAX_REDIRECTS + 1):
        try:
            stream = transport.open("GET", url, headers, timeout=60.0)
        except TransportError as exc:
            raise _Retryable(str(exc)) from None
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
    return 0, int(length) if length and length.isdigit() else None


def _replace(part: Path, dest: Path, ctx: Context) -> None:
    """Move the finished .part into place (retried while another program holds it: outputs.replace)."""
    try:
        outputs.replace(part, dest, ctx.sleep)
    except PermissionError as exc:
        raise DownloadFailed("could not move %s into place: %s" % (part.name, exc),
                             hint="another program may hold the file; try again") from None
