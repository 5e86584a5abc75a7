"""Output: human text on stderr, exactly one JSON document on stdout, secrets never shown.

Diagnostics (stderr) have every known secret masked, URL query strings (signatures) redacted
and control characters shown as visible escapes. The JSON result on stdout keeps full URLs,
because the user needs them, but still never contains a secret value.

The masking API (`Redactor`), for every writer of text:

    redactor.add(*secrets)                  register values that must never be written
    redactor.add_credentials(user, pw)      a user:password pair (a proxy's): also its Basic form
    redactor.add_identifier(*values)        values never shown on the terminal (an access key id)
    redactor.secrets(text)     -> str       for files and stdout: secrets masked, URLs kept
    redactor.diagnostic(text)  -> str       for the terminal: secrets masked, URL signatures
                                            redacted, control characters escaped

A secret is masked wherever it appears: whole, split by line breaks, spaces or invisible
characters, behind JSON/repr escapes (``\n``, ``\u200b``), and any piece of 16 or more of its
characters in a row (a cut-off prefix or suffix).
"""
from __future__ import annotations

import bisect
import json
import re
import threading
import unicodedata
from typing import Any, Iterable, List, Optional, Tuple
from urllib.parse import quote, unquote

from . import safe_json
from .context import Context
from .errors import OutputClosed

_URL_QUERY = re.compile(r"((?:https?|oss)://[^\s\"'<>?#]+)\?[^\s\"'<>]*")
_ESCAPED_URL_QUERY = re.compile(r"((?:https?|oss):\\/\\/[^\s\"'<>?#]+)\?[^\s\"'<>]*")
_SIGNATURE_FIELD = re.compile(r"((?:Signature|signature|x-oss-signature|OSSAccessKeyId|x-oss-credential)"
                              r"[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+")
MASK = "***"
PIECE = 16  # a run of this many characters of a secret is masked even when the rest is missing
_CHUNK = PIECE // 2  # every run of PIECE characters holds one whole aligned chunk of this size
MIN_SECRET = 4  # shorter values are not secrets worth masking (they would mask ordinary words)

# What may stand between the characters of a secret in text: ASCII whitespace and controls,
# any non-ASCII character (judged by its category), and escape sequences (`\n`, `\u200b`,
# `\x1b`, also escaped again: `\\n`) that decode to a character.
# (A negated small class: a class spanning U+007F-U+FFFF costs ~10 ms to compile at start-up.)
_UNIT = re.compile(r"\\+(?:u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|x([0-9a-fA-F]{2})|([nrtfbv]))|[^\x21-\x7e]")
# For ASCII text without a backslash, folding only drops the controls and the space.
_ASCII_INVISIBLE = bytes(list(range(0x21)) + [0x7F])  # (bytes.translate: ~5x a str.translate table)
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "f": "\f", "b": "\b", "v": "\v"}
_INVISIBLE_CATEGORIES = ("Cc", "Cf", "Zs", "Zl", "Zp")
# Default-ignorable characters outside those categories: combining grapheme joiner, Hangul fillers,
# Khmer inherent vowels, Mongolian and other variation selectors (Unicode's DerivedCoreProperties),
# as inclusive code point ranges (a regex of them costs ~1 ms to compile at every start-up).
_DEFAULT_IGNORABLE = ((0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x3164, 0x3164),
                      (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xE0000, 0xE0FFF))


def fit(text: str, columns: int) -> str:
    """`text` cut to fit in `columns - 1` terminal cells (wide CJK characters take two), so a
    line redrawn in place never wraps and never leaves a stale row behind."""
    room, used = max(columns - 1, 1), 0
    for index, char in enumerate(text):
        used += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
        if used > room:
            return text[:index - 1] + "\u2026" if index else ""
    return text


def transfer_text(label: str, done: int, total: Optional[int], rate: float) -> str:
    """A transfer's progress for a live line: bytes, rate (bytes/s) and, with a known size, time left."""
    text = "%s: %s" % (label, size_text(done))
    if total:
        text += " of %s (%d%%)" % (size_text(total), 100 * done // total)
    if rate:
        text += ", %s/s" % size_text(int(rate))
        if total and total > done:
            text += ", %ds left" % max(1, round((total - done) / rate))
    return text


def size_text(size: int) -> str:
    """A byte count for people: KB below 1 MB (an 8 KB file is not "0.0 MB"), else MB."""
    if size < 1024 * 1024:
        return "%.1f KB" % (size / 1024.0)
    return "%.1f MB" % (size / 1048576.0)


def invisible(char: str) -> bool:
    """A character that shows nothing (whitespace, a control, a format character such as U+200B)."""
    return (char.isspace() or unicodedata.category(char) in _INVISIBLE_CATEGORIES
            or any(low <= ord(char) <= high for low, high in _DEFAULT_IGNORABLE))


class _Folded:
    """Text with invisible characters left out and escapes decoded, mapped back to the original.

    `text` is the folded string; `span(i, j)` the original slice the folded slice [i, j) came from.
    """

    def __init__(self, original: str):
        parts: List[str] = []
        # (folded start, original start, original end or -1 for a run copied one to one)
        self._marks: List[Tuple[int, int, int]] = []
        self._starts: List[int] = []
        folded = copied = 0  # folded length so far; original text copied so far
        for match in _UNIT.finditer(original):
            char = _decoded(match)
            if char is not None and not invisible(char) and match.group(0) == char:
                continue  # an ordinary non-ASCII character: part of the run being copied
            if match.start() > copied:  # the run of plain text before this unit
                parts.append(original[copied:match.start()])
                self._mark(folded, copied, -1)
                folded += match.start() - copied
            copied = match.end()
            if char is None or invisible(char):
                continue  # left out
            parts.append(char)  # an escape standing for a visible character
            self._mark(folded, match.start(), match.end())
            folded += 1
        if copied < len(original):
            parts.append(original[copied:])
            self._mark(folded, copied, -1)
        self.text = "".join(parts)

    def _mark(self, folded: int, start: int, end: int) -> None:
        self._marks.append((folded, start, end))
        self._starts.append(folded)

    def _origin(self, index: int) -> Tuple[int, int]:
        """The original slice that folded character `index` came from."""
        folded, start, end = self._marks[bisect.bisect_right(self._starts, index) - 1]
        if end < 0:
            return start + index - folded, start + index - folded + 1
        return start, end

    def span(self, start: int, end: int) -> Tuple[int, int]:
        return self._origin(start)[0], self._origin(end - 1)[1]


def _decoded(match: "re.Match[str]") -> Optional[str]:
    """The character a unit stands for (None for an escape of a surrogate or out of range)."""
    code, wide, byte, simple = match.groups()
    if simple:
        return _SIMPLE_ESCAPES[simple]
    number = code or wide or byte
    if number is None:
        return match.group(0)
    value = int(number, 16)
    if 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:
        return None  # half of an escaped pair: nothing a key is made of
    return chr(value)


def _fold_secret(secret: str) -> str:
    return "".join(c for c in secret if not invisible(c))


class _Masks:
    """A set of values masked in every form described in the module docstring."""

    def _in_folded(self, folded: str) -> bool:
        """Whether any value (or a PIECE-long run of one) is in this folded text: one regex search
        for the short values and the long ones' aligned chunks (every such run holds one) decides
        most texts; a chunk found is then grown to see whether a whole run is there."""
        if self._probe is None or not self._probe.search(folded):
            return False
        return any(value in folded if len(value) < PIECE else _pieces(folded, value) for value in self.folded)

    def __init__(self) -> None:
        self.exact: List[str] = []  # literal forms, longest first (quoted, encoded)
        self.folded: List[str] = []  # the values themselves, invisible characters left out
        self._probe: Optional["re.Pattern[str]"] = None
        self._ascii_values = True

    def add(self, value: Any) -> None:
        if not isinstance(value, str) or len(value) < MIN_SECRET:
            return
        # The forms an exception message, a URL or a JSON document quotes it in (a repr escapes
        # control characters; a bytes repr escapes non-ASCII; JSON escapes quotes and \n).
        forms = [value, repr(value)[1:-1], repr(value.encode("utf-8", "backslashreplace"))[2:-1],
                 json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], quote(value, safe="")]
        for form in forms:
            if len(form) >= MIN_SECRET and form not in self.exact:
                self.exact.append(form)
        self.exact.sort(key=len, reverse=True)
        folded = _fold_secret(value)
        if len(folded) >= MIN_SECRET and folded not in self.folded:
            self.folded.append(folded)
            probes = [v if len(v) < PIECE else v[at:at + _CHUNK] for v in self.folded
                      for at in (range(0, len(v) - _CHUNK + 1, _CHUNK) if len(v) >= PIECE else (0,))]
            self._ascii_values = all(v.isascii() for v in self.folded)
            self._probe = re.compile("|".join(re.escape(p) for p in sorted(set(probes), key=len, reverse=True)))

    def mask(self, text: str) -> str:
        if not self.folded or not text:
            return text
        for form in self.exact:
            if form in text:
                text = text.replace(form, MASK)
        # No escapes: the folded text is the text without its invisible characters. When every
        # secret is ASCII, an ASCII run of it stays whole with the non-ASCII characters left out.
        if "\\" not in text and (self._ascii_values or text.isascii()):
            visible = text.encode("ascii", "ignore").translate(None, _ASCII_INVISIBLE).decode("ascii")
            if not self._in_folded(visible):
                return text  # the common case, decided without mapping folded positions back
        view = _Folded(text)
        spans = set()
        for value in self.folded:
            spans.update(_occurrences(view.text, value) if len(value) < PIECE else _pieces(view.text, value))
        if not spans:
            return text
        merged: List[List[int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        for start, end in reversed(merged):
            first, last = view.span(start, end)
            text = text[:first] + MASK + text[last:]
        return text


class Redactor:
    """Masks registered secrets (see the module docstring for the API)."""

    def __init__(self) -> None:
        self._secrets = _Masks()
        self._terminal = _Masks()  # identifiers hidden from the terminal only

    def add(self, *secrets: Any) -> None:
        """Register values to mask everywhere; None, non-strings and values under 4 characters
        are ignored."""
        for secret in secrets:
            self._secrets.add(secret)

    def add_identifier(self, *values: Any) -> None:
        """Register values masked on the terminal only: an access key id is no credential by
        itself and sits in every signed URL the result must keep whole (OSSAccessKeyId=...)."""
        for value in values:
            self._terminal.add(value)

    def add_credentials(self, user: Optional[str], password: Optional[str]) -> None:
        """A user:password pair (e.g. from a proxy URL, either percent-encoded or not): the password,
        the pair and the `Basic` token an HTTP header carries (base64 of user:password)."""
        if not password:
            return
        import base64  # here: only a proxy URL with a password needs it

        pairs = []
        for name in sorted({user or "", unquote(user or "")}):
            for secret in sorted({password, unquote(password)}):
                self.add(secret)
                pairs.append("%s:%s" % (name, secret))
        for pair in pairs:
            raw = pair.encode("utf-8")
            token = base64.b64encode(raw).decode("ascii")
            self.add(pair, token, token.rstrip("="), base64.urlsafe_b64encode(raw).decode("ascii"))

    def secrets(self, text: str) -> str:
        """For files and stdout: every registered secret masked (see the module docstring)."""
        return self._secrets.mask(text)

    def diagnostic(self, text: str) -> str:
        """For the terminal: secrets and identifiers masked, signed-URL queries and signature fields
        redacted, and control, bidi and other invisible format characters shown as escapes
        (see `printable`)."""
        text = self._terminal.mask(self._secrets.mask(text))
        text = _URL_QUERY.sub(r"\1?[REDACTED]", text)
        text = _ESCAPED_URL_QUERY.sub(r"\1?[REDACTED]", text)
        return printable(_SIGNATURE_FIELD.sub(r"\1[REDACTED]", text))


def _occurrences(text: str, secret: str) -> List[Tuple[int, int]]:
    found = []
    at = text.find(secret)
    while at >= 0:
        found.append((at, at + len(secret)))
        at = text.find(secret, at + 1)
    return found


def _pieces(text: str, secret: str) -> List[Tuple[int, int]]:
    """Every run of at least PIECE characters of `secret` in `text`, as (start, end) in `text`.

    Any such run contains one of the secret's aligned chunks of _CHUNK characters whole, so
    only those are searched for; each hit is grown both ways as far as text and secret agree.
    """
    found = []
    for offset in range(0, len(secret) - _CHUNK + 1, _CHUNK):
        chunk = secret[offset:offset + _CHUNK]
        at = text.find(chunk)
        while at >= 0:
            left = 0
            while left < min(at, offset) and text[at - left - 1] == secret[offset - left - 1]:
                left += 1
            right = _CHUNK
            while (at + right < len(text) and offset + right < len(secret)
                   and text[at + right] == secret[offset + right]):
                right += 1
            if left + right >= PIECE:
                found.append((at - left, at + right))
            at = text.find(chunk, at + 1)
    return found


# -- the terminal ---------------------------------------------------------------------------
_MAYBE_UNSAFE = re.compile(r"[^\x20-\x7e]")
_UNSAFE_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")


def printable(text: str, keep: str = "\n\t") -> str:
    """Text safe to show on a terminal: C0/C1 controls (ESC included), bidi overrides and other
    format characters, line/paragraph separators and lone surrogates become visible escapes
    (``\\x1b``, ``\\u202e``); the characters in `keep` stay (line breaks and tabs by default)."""
    def escape(match: "re.Match[str]") -> str:
        char = match.group(0)
        if char in keep or unicodedata.category(char) not in _UNSAFE_CATEGORIES:
            return char
        return _escape(char)

    return _MAYBE_UNSAFE.sub(escape, text)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return "\\x%02x" % code
    if code < 0x10000:
        return "\\u%04x" % code
    return "\\U%08x" % code


def _json_safe(text: str) -> str:
    """JSON text with the characters json.dumps leaves raw but a terminal acts on (DEL, C1 controls,
    format characters, separators, lone surrogates) written as \\u escapes: the same data."""
    def escape(match: "re.Match[str]") -> str:
        char = match.group(0)
        if char == "\n" or unicodedata.category(char) not in _UNSAFE_CATEGORIES:
            return char  # (a raw line break is the indentation's: inside strings json.dumps escapes it)
        code = ord(char)
        if code < 0x10000:
            return "\\u%04x" % code
        code -= 0x10000
        return "\\u%04x\\u%04x" % (0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF))

    return _MAYBE_UNSAFE.sub(escape, text)


class _Screen:
    """What the terminal shows now, shared by the consoles that write to it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.live = False  # a \r progress line is showing


class Console:
    def __init__(self, ctx: Context, quiet: bool = False, redactor: Optional[Redactor] = None,
                 screen: Optional[_Screen] = None):
        self.ctx = ctx
        self.quiet = quiet
        self.redactor = redactor or Redactor()
        self._screen = screen or _Screen()

    def quiet_twin(self) -> "Console":
        """A console without progress lines on the same terminal: its lines never run into this
        console's live line (a batch saves items through one)."""
        return Console(self.ctx, quiet=True, redactor=self.redactor, screen=self._screen)

    # -- stderr -----------------------------------------------------------------------
    def _write_err(self, text: str) -> None:
        with self._screen.lock:
            if self._screen.live:
                self.ctx.stderr.write("\r\x1b[2K")  # the plain line takes the live line's place
                self._screen.live = False
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
        shown = fit(self.redactor.diagnostic(text), self.ctx.columns)
        with self._screen.lock:
            self.ctx.stderr.write("\r\x1b[2K" + shown)
            self.ctx.stderr.flush()
            self._screen.live = True

    def end_live(self) -> None:
        with self._screen.lock:
            if self._screen.live:
                self.ctx.stderr.write("\n")
                self.ctx.stderr.flush()
                self._screen.live = False

    # -- stdout -----------------------------------------------------------------------
    def result(self, document: Any) -> None:
        """Exactly one JSON document on stdout, UTF-8 text, secrets masked.

        On a console whose encoding cannot show every character (cp1252 and Chinese), the
        JSON uses \\u escapes instead: still the same data, never "?" in place of text.
        """
        text = _json_safe(safe_json.indented(document))
        if not _encodable(text, self.ctx.stdout):
            text = json.dumps(document, ensure_ascii=True, indent=2)
        self._stdout(self.redactor.secrets(text) + "\n")

    def plain(self, text: str) -> None:
        """A bare stdout line (the task id for --submit-only, a table): secrets masked, control
        characters escaped."""
        self._stdout(printable(self.redactor.secrets(text)) + "\n")

    def _stdout(self, text: str) -> None:
        try:
            self.ctx.stdout.write(text)
            self.ctx.stdout.flush()
        except BrokenPipeError:
            raise OutputClosed() from None

    def table(self, rows: Iterable[Iterable[Any]], header: Iterable[str]) -> str:
        """Render a plain-text table (callers pick the stream); a cell's line breaks, tabs and
        control characters are escaped, so one row stays one line."""
        grid = [[printable(str(c), keep="") for c in header]] + [[printable(str(c), keep="") for c in r] for r in rows]
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
