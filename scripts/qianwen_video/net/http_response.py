"""http.client's response with its own reading of the status line and header lines.

http.client hands an answer's header lines to the email package, which costs ~250 Python calls
per answer: most of what a batch item's three exchanges cost above the kernel's work. An HTTP
answer's head is simpler than a mail's: a status line, then ``Name: value`` lines up to a blank
line (RFC 9112 §2.1, §4, §5). This class reads them directly, with http.client's bounds (a line
of at most 64 KiB, at most 100 header lines) and its exceptions, and sets the same attributes
http.client's body reading relies on (``chunked``, ``length``, ``will_close``); reading the body
is left to http.client unchanged.
"""
from __future__ import annotations

import http.client
from typing import List, Optional, Tuple

MAX_LINE = 65536  # bytes of one status or header line (http.client's _MAXLINE)
MAX_HEADERS = 100  # header lines of one answer (http.client's _MAXHEADERS)
CONTINUE = 100


class Headers:
    """An answer's headers as http.client's callers use them: ``get`` (the first value of a name,
    any case), ``get_all`` and ``items`` (every line, in order)."""

    def __init__(self, pairs: List[Tuple[str, str]]):
        self._pairs = pairs
        self._first = {}
        for name, value in pairs:
            self._first.setdefault(name.lower(), value)

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        return self._first.get(name.lower(), default)

    def get_all(self, name: str, failobj: Optional[List[str]] = None) -> Optional[List[str]]:
        name = name.lower()
        found = [value for key, value in self._pairs if key.lower() == name]
        return found or failobj

    def items(self) -> List[Tuple[str, str]]:
        return list(self._pairs)


class LeanResponse(http.client.HTTPResponse):
    """Used by every connection the transport opens (``conn.response_class``)."""

    def __init__(self, sock, debuglevel: int = 0, method: Optional[str] = None, url: Optional[str] = None):
        super().__init__(sock, debuglevel, method, url)
        self.sent_method = method

    def begin(self) -> None:
        if self.headers is not None:  # already begun
            return
        while True:
            version, status, reason = read_status(self.fp)
            if status != CONTINUE:
                break
            read_header_lines(self.fp)  # an interim 100 answer's headers: the real answer follows
        self.code = self.status = status
        self.reason = reason
        self.version = 10 if version in ("HTTP/1.0", "HTTP/0.9") else 11
        self.headers = self.msg = Headers(read_header_lines(self.fp))
        framing = body_framing(self.version, status, self.sent_method, self.headers)
        self.chunked, self.length, self.will_close = framing
        self.chunk_left = None


def read_status(fp) -> Tuple[str, int, str]:
    """(version, status, reason) from the status line, raising what http.client raises: an empty
    read is RemoteDisconnected (a kept-alive connection the server closed), a malformed line
    BadStatusLine, an overlong one LineTooLong."""
    line = fp.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise http.client.LineTooLong("status line")
    if not line:
        raise http.client.RemoteDisconnected("Remote end closed connection without response")
    text = line.decode("iso-8859-1")
    parts = text.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise http.client.BadStatusLine(text)
    version, code = parts[0], parts[1]
    if not version.startswith("HTTP/1.") and version != "HTTP/0.9":
        raise http.client.UnknownProtocol(version)
    if not (len(code) == 3 and code.isascii() and code.isdigit() and code[0] != "0"):
        raise http.client.BadStatusLine(text)
    return version, int(code), parts[2].strip() if len(parts) > 2 else ""


def read_header_lines(fp) -> List[Tuple[str, str]]:
    """(name, value) of each header line up to the blank line (or the end of the stream). A line
    starting with a space or tab continues the previous value (obsolete folding); a line without a
    colon, or a name holding whitespace, is skipped. Names and values are Latin-1 text, values stripped."""
    pairs: List[Tuple[str, str]] = []
    lines = 0
    while True:
        line = fp.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            return pairs
        lines += 1
        if lines > MAX_HEADERS:
            raise http.client.HTTPException("got more than %d headers" % MAX_HEADERS)
        text = line.decode("iso-8859-1")
        if text[0] in " \t":
            if pairs:
                name, value = pairs[-1]
                pairs[-1] = (name, (value + " " + text.strip()).strip())
            continue
        name, colon, value = text.partition(":")
        if colon and name.split() == [name]:  # a name is one token: no whitespace in or around it
            pairs.append((name, value.strip()))


def body_framing(version: int, status: int, method: Optional[str], headers: Headers) -> Tuple[bool, Optional[int], bool]:
    """(chunked, length, will_close) of an answer's body, by RFC 9112 §6.3 as http.client applies
    it: chunked when Transfer-Encoding says so (Content-Length is then ignored); no body after a
    HEAD, a 1xx, 204 or 304; otherwise Content-Length when it is one non-negative number; a body
    of unknown length ends when the server closes the connection."""
    encoding = headers.get("transfer-encoding")
    chunked = bool(encoding) and encoding.strip().lower() == "chunked"
    length: Optional[int] = None
    declared = headers.get("content-length")
    if declared and not chunked:
        declared = declared.strip()
        if declared.isascii() and declared.isdigit() and len(declared) <= 18:  # (int() takes "+1", "1_0")
            length = int(declared)
    if status in (204, 304) or 100 <= status < 200 or method == "HEAD":
        length = 0
    connection = (headers.get("connection") or "").lower()
    if version == 11:
        will_close = "close" in connection
    else:  # HTTP/1.0 keeps the connection only when it says so
        will_close = not (headers.get("keep-alive") or "keep-alive" in connection)
    if not chunked and length is None:
        will_close = True
    return chunked, length, will_close
