"""The injectable environment: streams, variables, clock and paths.

Every layer receives a Context instead of touching ``sys``/``os.environ``/``time`` directly,
so tests build one with fake streams, a fake clock and their own variables (httpie's
``Environment`` pattern) and need no monkeypatching.
"""
from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Optional, TextIO

SCRIPTS_DIR = Path(__file__).resolve().parent.parent
SKILL_DIR = SCRIPTS_DIR.parent


def _utf8_stream(stream: TextIO, data: bool = False) -> TextIO:
    """Make a console stream safe for any text: UTF-8 where possible, never crash on encode.

    A cp936/cp1252 console or a pipe must not raise UnicodeEncodeError on a Chinese prompt.
    ``data=True`` (stdout): when it is not a terminal (a pipe or a file: JSON for a program),
    it is switched to UTF-8, whatever the locale or PYTHONIOENCODING says.
    """
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(errors="replace")
            encoding = (getattr(stream, "encoding", "") or "").lower().replace("-", "").replace("_", "")
            if encoding in ("ascii", "ansix3.41968") or (data and encoding != "utf8" and not _isatty(stream)):
                reconfigure(encoding="utf-8")
        except (ValueError, OSError, io.UnsupportedOperation):
            pass
    return stream


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class Context:
    """Everything from the outside world; each argument defaults to the real thing."""

    def __init__(self, environ: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None,
                 stdout: Optional[TextIO] = None, stderr: Optional[TextIO] = None,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, script_path: Optional[Path] = None,
                 stderr_isatty: Optional[bool] = None, stdin: Optional[TextIO] = None,
                 columns: Optional[int] = None):
        self.environ = dict(os.environ) if environ is None else environ
        self.cwd = Path.cwd() if cwd is None else cwd
        self.stdout = _utf8_stream(sys.stdout, data=True) if stdout is None else stdout
        self.stderr = _utf8_stream(sys.stderr) if stderr is None else stderr
        self.stdin = sys.stdin if stdin is None else stdin
        self.clock = clock
        self.wall_clock = wall_clock
        self.sleep = sleep
        self.script_path = SCRIPTS_DIR / "video.py" if script_path is None else script_path
        self.stderr_isatty = stderr_isatty
        self._columns = columns

    @property
    def interactive(self) -> bool:
        """Whether stderr is a terminal (asked once: a batch asks for every line it shows)."""
        if self.stderr_isatty is None:
            isatty = getattr(self.stderr, "isatty", None)
            try:
                self.stderr_isatty = bool(isatty and isatty())
            except (ValueError, OSError):
                self.stderr_isatty = False
        return self.stderr_isatty

    @property
    def columns(self) -> int:
        """The terminal's width now (asked each time: a window can be resized mid-run)."""
        if self._columns is not None:
            return self._columns
        try:
            return max(os.get_terminal_size(self.stderr.fileno()).columns, 20)
        except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
            return 80

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        value = self.environ.get(name)
        if value is None or value.strip() == "":
            return default
        return value.strip()
