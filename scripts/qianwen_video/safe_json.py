"""JSON from outside (server answers, journal lines, request files): bounded, never a RecursionError.
And JSON for people to read (a saved answer, the result on stdout): indented, written cheaply."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

MAX_DEPTH = 64  # far deeper than any DashScope answer or request; deeper text is refused unparsed
ANSWER_LIMIT = 1024 * 1024  # bytes: a JSON answer from the service is a few KB


_LEAF = json.JSONEncoder(ensure_ascii=False).encode  # no indent: json's C encoder
_INDENT = "  "
_STRING = json.encoder.encode_basestring  # (C) a str as JSON text, non-ASCII kept
_LITERALS = {None: "null", True: "true", False: "false"}
_STR_ONLY = frozenset({str})
_DEEP = 32  # levels written here; below them json.dumps writes the rest (its recursion goes deeper)


def indented(value: Any, level: int = 0) -> str:
    """``json.dumps(value, ensure_ascii=False, indent=2)``, the same text: json writes indented
    output with its pure-Python encoder (~20 calls a value, most of saving a batch item's
    answer); here strings, whole numbers and literals are written directly and other leaves by
    json's C encoder. A dict with a key that is not a string (json converts those) is left to
    json.dumps whole."""
    kind = type(value)
    if kind is str:
        return _STRING(value)
    if kind is int:
        return int.__repr__(value)
    if value is None or kind is bool:
        return _LITERALS[value]
    if kind is dict or kind is list or kind is tuple:
        if level >= _DEEP:  # (and json names a circular value: ValueError, as json.dumps)
            return json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n" + _INDENT * level)
        if not value:
            return "[]" if kind is not dict else "{}"
        pad = "\n" + _INDENT * (level + 1)
        end = "\n" + _INDENT * level
        if kind is not dict:
            return "[" + pad + ("," + pad).join([indented(item, level + 1) for item in value]) + end + "]"
        if _STR_ONLY.issuperset(map(type, value)):  # every key exactly a str
            return "{" + pad + ("," + pad).join([_STRING(key) + ": " + indented(item, level + 1)
                                                for key, item in value.items()]) + end + "}"
        return json.dumps(value, ensure_ascii=False, indent=2).replace("\n", end)
    if isinstance(value, (dict, list, tuple)):  # a subclass: json's own way
        return json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n" + _INDENT * level)
    return _LEAF(value)


class Invalid(ValueError):
    """Text that is not acceptable JSON: malformed, too deep, or too large."""


def loads(text: Any, max_depth: int = MAX_DEPTH) -> Any:
    """json.loads for untrusted text: bytes must be UTF-8; nesting deeper than `max_depth` is
    refused before parsing (json's C parser recurses, so 100 000 brackets would raise
    RecursionError, which callers must never see)."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Invalid("not UTF-8 text (byte %d)" % exc.start) from None
    if not isinstance(text, str):
        raise Invalid("not text")
    # The depth is at most the number of opening brackets: counting them (in C) spares the
    # character-by-character scan for every ordinary answer.
    depth = nesting(text) if text.count("[") + text.count("{") > max_depth else 0
    if depth > max_depth:
        raise Invalid("nested more than %d levels deep" % max_depth)
    try:
        return json.loads(text)
    except RecursionError:  # a guard for the pure-Python parser; nesting() already bounds depth
        raise Invalid("nested too deeply") from None
    except ValueError as exc:
        raise Invalid(str(exc)) from None


def nesting(text: str) -> int:
    """The deepest bracket nesting of JSON text, strings skipped: one linear pass, no parse."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif char in "]}":
            depth -= 1
    return deepest


def read_text(path: Path, limit: int, what: str = "file") -> str:
    """A regular file's UTF-8 text (a BOM is dropped), at most `limit` bytes.

    Never blocks on a FIFO or a device (/dev/zero, a named pipe): the file is opened
    non-blocking and must be a regular file. Raises Invalid for a file that is too large,
    not regular or not UTF-8; OSError for the rest (missing, unreadable).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(str(path), flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Invalid("%s is not a regular file" % what)
        if info.st_size > limit:
            raise Invalid("%s is %d bytes, more than the %d allowed" % (what, info.st_size, limit))
        chunks = []
        size = 0
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:  # grew while being read
                raise Invalid("%s is more than the %d bytes allowed" % (what, limit))
            chunks.append(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid("%s is not UTF-8 text (byte %d)" % (what, exc.start)) from None
