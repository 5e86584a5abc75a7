"""Output: human text on stderr, exactly one JSON document on stdout, secrets never shown.

Diagnostics (stderr) have every known secret masked and URL query strings (signatures)
redacted. The JSON result on stdout keeps full URLs, because the user needs them, but
still never contains a secret value.
"""
from __future__ import annotations

import json
import re
import threading
from typing import Any, Iterable, List, Optional

from .context import Context

_URL_QUERY = re.compile(r"((?:https?|oss)://[^\s\"'<>?#]+)\?[^\s\"'<>]*")
_ESCAPED_URL_QUERY = re.compile(r"((?:https?|oss):\\/\\/[^\s\"'<>?#]+)\?[^\s\"'<>]*")
_SIGNATURE_FIELD = re.compile(r"((?:Signature|signature|x-oss-signature|OSSAccessKeyId|x-oss-credential)"
                              r"[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+")
MASK = "***"


class Redactor:
    """Masks registered secrets everywhere and signed-URL queries in diagnostics."""

    def __init__(self) -> None:
        self._secrets: List[str] = []

    def add(self, *secrets: Optional[str]) -> None:
        for secret in secrets:
            if not secret or len(secret) < 4:
                continue
            # Also the forms an exception message or a JSON document quotes it in (a repr escapes
            # control characters; a bytes repr escapes non-ASCII; JSON escapes quotes and \n).
            forms = [secret, repr(secret)[1:-1], repr(secret.encode("utf-8", "backslashreplace"))[2:-1],
                     json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]]
            for form in forms:
                if form not in self._secrets:
                    self._secrets.append(form)
        self._secrets.sort(key=len, reverse=True)

    def secrets(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def diagnostic(self, text: str) -> str:
        text = self.secrets(text)
        text = _URL_QUERY.sub(r"\1?[REDACTED]", text)
        text = _ESCAPED_URL_QUERY.sub(r"\1?[REDACTED]", text)
        return _SIGNATURE_FIELD.sub(r"\1[REDACTED]", text)


class Console:
    def __init__(self, ctx: Context, quiet: bool = False, redactor: Optional[Redactor] = None):
        self.ctx = ctx
        self.quiet = quiet
        self.redactor = redactor or Redactor()
        self._lock = threading.Lock()
        self._live = False  # a \r progress line is showing on a terminal

    # -- stderr -----------------------------------------------------------------------
    def _write_err(self, text: str) -> None:
        with self._lock:
            if self._live:
                self.ctx.stderr.write("\n")
                self._live = False
            self.ctx.stderr.write(self.redactor.diagnostic(text) + "\n")
            self.ctx.stderr.flush()

    def info(self, text: str) -> None:
        """Progress: hidden by --quiet."""
        if not self.quiet:
            self._write_err(text)

    def always(self, text: str) -> None:
        """Lines that must survive --quiet, such as the task id and the resume command."""
        self._write_err(text)

    def warn(self, text: str) -> None:
        self._write_err("Warning: " + text)

    def error(self, message: str, hint: Optional[str] = None) -> None:
        self._write_err("Error: " + message)
        if hint:
            self._write_err("Hint: " + hint)

    def live(self, text: str) -> None:
        """A progress line redrawn in place on a terminal; plain lines are left to callers."""
        if self.quiet or not self.ctx.interactive:
            return
        with self._lock:
            self.ctx.stderr.write("\r\x1b[2K" + self.redactor.diagnostic(text))
            self.ctx.stderr.flush()
            self._live = True

    def end_live(self) -> None:
        with self._lock:
            if self._live:
                self.ctx.stderr.write("\n")
                self.ctx.stderr.flush()
                self._live = False

    # -- stdout -----------------------------------------------------------------------
    def result(self, document: Any) -> None:
        """Exactly one JSON document on stdout, UTF-8 text, secrets masked.

        On a console whose encoding cannot show every character (cp1252 and Chinese), the
        JSON uses \\u escapes instead: still the same data, never "?" in place of text.
        """
        text = json.dumps(document, ensure_ascii=False, indent=2)
        if not _encodable(text, self.ctx.stdout):
            text = json.dumps(document, ensure_ascii=True, indent=2)
        self.ctx.stdout.write(self.redactor.secrets(text) + "\n")
        self.ctx.stdout.flush()

    def plain(self, text: str) -> None:
        """A bare stdout line (the task id for --submit-only)."""
        self.ctx.stdout.write(self.redactor.secrets(text) + "\n")
        self.ctx.stdout.flush()

    def table(self, rows: Iterable[Iterable[str]], header: Iterable[str]) -> str:
        """Render a plain-text table (callers pick the stream)."""
        grid = [list(header)] + [list(r) for r in rows]
        widths = [max(len(str(row[i])) for row in grid) for i in range(len(grid[0]))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in grid]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


def _encodable(text: str, stream: Any) -> bool:
    encoding = getattr(stream, "encoding", None)
    if not encoding:
        return True  # a str buffer (tests): no encoding step
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True
