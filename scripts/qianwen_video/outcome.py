"""What a command returns: an exit code and the one JSON document `--print-response` prints."""
from __future__ import annotations

from typing import Any, Dict, NamedTuple, Optional


class Outcome(NamedTuple):
    code: int
    document: Optional[Any] = None  # printed on stdout with --print-response
    stdout_line: Optional[str] = None  # printed on stdout without it (the task id of --submit-only)
    always_json: bool = False  # the document is the command's answer even without --print-response


def task_document(task: Dict[str, Any], task_id: str, mode: str, model: str, **extra: Any) -> Dict[str, Any]:
    """A task's answer plus what this tool adds: task_id, mode, model, and the saved paths."""
    document = dict(task)
    document.update({"task_id": task_id, "mode": mode, "model": model})
    document.update(extra)
    return document
