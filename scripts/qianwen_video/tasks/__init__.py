"""One task's life, shared by single runs and batches: plan, submit, recover, follow, finish."""
from __future__ import annotations

from typing import NamedTuple, Optional

from ..console import Console
from ..context import Context


class Runtime(NamedTuple):
    """What the steps of a task's life use from the outside world."""

    ctx: Context
    console: Console
    api: "object"  # net.api.DashScope (imported lazily: --dry-run never loads the network code)
    book: "object"  # store.journal.Journal


class TaskRef(NamedTuple):
    """A task being followed: its id, what it was made with, and where its video goes."""

    task_id: str
    mode: str
    model: str
    output: Optional[str]  # --output as given (a directory or a file name), or None
