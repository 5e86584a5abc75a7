"""Commands to run next, as printed in hints and resume lines: this CLI's own name and quoting."""
from __future__ import annotations

import sys
import time
from typing import Any, List, Optional

from .context import Context
from .options import DEFAULTS, Options


def command_prefix(ctx: Context) -> List[str]:
    """How to run this CLI again: the script by absolute path, or the console script when installed."""
    from . import shell  # here: --dry-run and --help never quote a command

    if ctx.script_path.exists():
        return shell.python_command(sys.executable) + [str(ctx.script_path)]
    return ["qianwen-video"]  # `pip install .` puts the package in site-packages without video.py


def program_name(ctx: Context) -> str:
    """The name the user ran: `video.py` from a skill or a checkout, `qianwen-video` when installed."""
    return "video.py" if ctx.script_path.exists() else "qianwen-video"


def quoted(parts: List[str]) -> str:
    """One command line, quoted for the shell it will be pasted into (POSIX, cmd.exe or PowerShell)."""
    from . import shell

    return shell.join(parts)


def resume_command(ctx: Context, task_id: str, output: Optional[str] = None, poll_once: bool = False) -> str:
    """The exact command that picks this task up again."""
    parts = command_prefix(ctx) + ["--task-id", task_id]
    if output:
        parts += ["--output", output]
    if poll_once:
        parts += ["--poll-once"]
    return quoted(parts)


def batch_resume_command(ctx: Context, options: Options, *extra: str) -> str:
    """The command that resumes a batch: the same file and every option that changes its run
    (plus `extra` flags, e.g. --poll-once)."""
    parts = command_prefix(ctx) + ["--batch", options.batch or ""]
    for flag, name in (("--output", "output"), ("--model", "model"), ("--mode", "mode"),
                       ("--concurrency", "concurrency"), ("--poll-interval", "poll_interval"),
                       ("--timeout", "timeout")):
        value = getattr(options, name)
        if value is not None and value != getattr(DEFAULTS, name):
            parts += [flag, "%g" % value if isinstance(value, float) else str(value)]
    for flag, name in (("--skip-invalid", "skip_invalid"), ("--no-validate", "no_validate"),
                       ("--print-response", "print_response"), ("--quiet", "quiet")):
        if getattr(options, name):
            parts.append(flag)
    return quoted(parts + list(extra))


def when(epoch: Any) -> str:
    """A journal time for people: local 'YYYY-MM-DD HH:MM', or '?'."""
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(float(epoch)))
    except (TypeError, ValueError, OverflowError, OSError):
        return "?"
