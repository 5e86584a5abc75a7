"""Streaming multipart/form-data reader (doc 5: OSS PostObject upload).

Reads exactly ``length`` bytes from a file-like object, never buffering more
than one read chunk plus the delimiter; part data is handed out as chunks.
"""
from __future__ import annotations

from typing import Callable, Dict, Iterator, Optional, Tuple

CHUNK = 256 * 1024
MAX_HEADER = 16 * 1024


class MultipartError(Exception):
    """The body is not well-formed multipart/form-data."""


class IncompleteBody(MultipartError):
    """The client sent fewer bytes than Content-Length."""


def boundary_of(content_type: str) -> Optional[bytes]:
    ct = content_type or ""
    if ct.split(";", 1)[0].strip().lower() != "multipart/form-data":
        return None
    for piece in ct.split(";")[1:]:
        k, _, v = piece.strip().partition("=")
        if k.strip().lower() == "boundary":
            v = v.strip().strip('"')
            return v.encode("latin-1") if v else None
    return None


def parse_disposition(value: str) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for piece in value.split(";")[1:]:
        k, _, v = piece.strip().partition("=")
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] == '"':
            v = v[1:-1]
        out[k.strip().lower()] = v
    return out


class StreamingMultipart:
    def __init__(self, rfile, length: int, boundary: bytes,
                 on_raw: Optional[Callable[[bytes], None]] = None) -> None:
        self._rfile = rfile
        self._remaining = length
        self._on_raw = on_raw
        self._delim = b"\r\n--" + boundary
        # A leading CRLF lets the first "--boundary" match the same delimiter.
        self._buf = b"\r\n"
        self.finished = False

    def _fill(self) -> bool:
        if self._remaining <= 0:
            return False
        data = self._rfile.read(min(CHUNK, self._remaining))
        if not data:
            raise IncompleteBody("request body shorter than Content-Length")
        self._remaining -= len(data)
        if self._on_raw is not None:
            self._on_raw(data)
        self._buf += data
        return True

    def drain(self) -> None:
        """Read and discard the rest of the declared body."""
        self._buf = b""
        while self._fill():
            self._buf = b""

    def _skip_to_delim(self) -> None:
        for _ in self._data():
            pass

    def _data(self) -> Iterator[bytes]:
        keep = len(self._delim) - 1
        while True:
            idx = self._buf.find(self._delim)
            if idx >= 0:
                if idx:
                    yield self._buf[:idx]
                self._buf = self._buf[idx + len(self._delim):]
                return
            if len(self._buf) > keep:
                out = self._buf[:-keep]
                self._buf = self._buf[-keep:]
                yield out
            if not self._fill():
                raise MultipartError("closing boundary not found")

    def parts(self) -> Iterator[Tuple[Dict[str, str], Iterator[bytes]]]:
        """Yield (headers, data-chunk iterator); consume each iterator before the next part."""
        self._skip_to_delim()  # preamble
        while True:
            while len(self._buf) < 2:
                if not self._fill():
                    raise MultipartError("truncated after boundary")
            if self._buf.startswith(b"--"):
                self.finished = True
                self.drain()  # epilogue
                return
            # transport padding then CRLF
            while b"\r\n" not in self._buf:
                if len(self._buf) > MAX_HEADER or not self._fill():
                    raise MultipartError("bad boundary line")
            pad, _, self._buf = self._buf.partition(b"\r\n")
            if pad.strip(b" \t"):
                raise MultipartError("bad boundary line")
            while b"\r\n\r\n" not in self._buf and not self._buf.startswith(b"\r\n"):
                if len(self._buf) > MAX_HEADER:
                    raise MultipartError("part headers too large")
                if not self._fill():
                    raise MultipartError("truncated part headers")
            if self._buf.startswith(b"\r\n"):
                raw, self._buf = b"", self._buf[2:]
            else:
                raw, _, self._buf = self._buf.partition(b"\r\n\r\n")
            headers: Dict[str, str] = {}
            for line in raw.decode("utf-8", "replace").split("\r\n"):
                if ":" in line:
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
            data = self._data()
            yield headers, data
            for _ in data:  # in case the caller did not consume it
                pass
