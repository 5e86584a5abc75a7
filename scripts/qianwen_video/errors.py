"""Exit codes and the exceptions that carry them to the CLI boundary.

Every failure a user can cause ends as one ``Error:`` line plus a hint, never a traceback.
"""
from __future__ import annotations

from typing import Any, Optional

EXIT_OK = 0
EXIT_FAILED = 1  # API error, task FAILED/CANCELED/UNKNOWN, download failed, missing key
EXIT_PENDING = 2  # not finished yet: --poll-once on a running task, or --timeout reached
EXIT_USAGE = 64  # bad usage or bad input (EX_USAGE); nothing was sent
EXIT_INTERRUPTED = 130  # Ctrl-C

EXIT_CODES = {
    EXIT_OK: "done: the video is on disk (or --submit-only/--dry-run/--cancel succeeded)",
    EXIT_FAILED: "failed: API error, task FAILED/CANCELED/UNKNOWN, download failed, or no API key",
    EXIT_PENDING: "not finished yet: --poll-once on a running task, or --timeout reached "
                  "(the resume command is printed)",
    EXIT_USAGE: "bad usage or bad input (argument errors included); nothing was sent",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); the task keeps running, resume with --task-id",
}


class OutputClosed(Exception):
    """stdout's reader went away (`video.py --list-models | head -1`): the run ends quietly."""


class CliError(Exception):
    """A failure to report as ``Error: <message>`` + ``Hint: <hint>`` and exit ``code``."""

    code = EXIT_FAILED

    def __init__(self, message: str, hint: Optional[str] = None, code: Optional[int] = None,
                 task_id: Optional[str] = None, document: Optional[Any] = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.task_id = task_id
        self.document = document  # what --print-response shows beside the error (a task's answer)
        if code is not None:
            self.code = code


class UsageError(CliError):
    code = EXIT_USAGE


class ValidationFailed(UsageError):
    """Several problems found at once; each is printed on its own ``Error:`` line."""

    def __init__(self, problems):
        super().__init__("%d problem(s) in the request" % len(problems))
        self.problems = list(problems)


class ApiError(CliError):
    """The service answered with an error (non-200) or a transport failure after retries."""

    def __init__(self, message: str, hint: Optional[str] = None, status: Optional[int] = None,
                 api_code: Optional[str] = None, task_id: Optional[str] = None):
        super().__init__(message, hint=hint, task_id=task_id)
        self.status = status
        self.api_code = api_code


class StillRunning(CliError):
    code = EXIT_PENDING
