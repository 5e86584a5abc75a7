"""The task journal: an append-only JSONL record of every paid task, written before polling.

A task id is the only handle on work the user already paid for; if the process dies, the
journal still has it, with the model and the output path needed to resume.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

JOURNAL_NAME = "qianwen-video-tasks.jsonl"
DUPLICATE_WINDOW = 24 * 3600  # task ids live 24 h on the service


def locate(task_id: str, first: Path, cwd: Path, clock=time.time) -> Optional["Journal"]:
    """The journal that recorded `task_id`: the given output directory first, then the default
    one, then journals in the working directory's direct subfolders and under ./output/ (a
    shallow look: from a home directory a deep search would be slow and find other projects)."""
    places = [first, cwd / "output" / "qianwen-video-generation"]
    for pattern in ("*/", "output/*/", "output/*/*/"):
        places.extend(p.parent for p in sorted(cwd.glob(pattern + JOURNAL_NAME)))
    seen = set()
    for place in places:
        if place in seen:
            continue
        seen.add(place)
        book = Journal(place, clock)
        if book.path.exists() and book.find(task_id):
            return book
    return None


def request_digest(mode: str, model: str, request: Mapping[str, Any], files: Sequence[Path] = ()) -> str:
    """What identifies a paid request: mode, model, fields, and the local files' size and mtime
    (an edited image.png under the same name is a new request)."""
    identity: List[Any] = []
    for path in files:
        try:
            info = path.stat()
            identity.append([str(path), info.st_size, info.st_mtime_ns])
        except OSError:
            identity.append([str(path), None, None])
    canonical = json.dumps({"mode": mode, "model": model, "request": request, "files": identity},
                           sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


class Journal:
    def __init__(self, directory: Path, clock=time.time):
        self.path = directory / JOURNAL_NAME
        self.clock = clock

    def append(self, event: str, task_id: str, **fields: Any) -> None:
        record = {"event": event, "task_id": task_id, "at": round(self.clock(), 3)}
        record.update({k: v for k, v in fields.items() if v is not None})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def intend(self, **fields: Any) -> str:
        """Record a submit about to be sent; return its attempt id.

        If the process dies while the create call is in flight, the task id was never
        seen, but this record survives: the next identical request looks the task up
        instead of paying for a second one (see ``unresolved_intent``).
        """
        attempt = uuid.uuid4().hex[:16]
        self.append("submitting", "", attempt=attempt, **fields)
        return attempt

    def resolve(self, attempt: str, outcome: str, task_id: str = "") -> None:
        """Close an intent: the create was answered (task_id) or provably created nothing."""
        self.append("submit-resolved", task_id, attempt=attempt, outcome=outcome)

    def unresolved_intent(self, digest: str) -> Optional[Dict[str, Any]]:
        """The newest submit of this request (last 24 h) whose outcome was never learned."""
        now = self.clock()
        for record in reversed(self.unresolved()):
            if record.get("request_digest") == digest and now - _number(record.get("submitted_at")) <= DUPLICATE_WINDOW:
                return record
        return None

    def unresolved(self) -> List[Dict[str, Any]]:
        """Submit intents whose task id was never learned, oldest first."""
        open_: Dict[str, Dict[str, Any]] = {}
        for record in self.records():
            attempt = record.get("attempt")
            if not isinstance(attempt, str):
                continue
            if record.get("event") == "submitting":
                open_[attempt] = record
            elif record.get("task_id") or record.get("event") == "submit-resolved":
                open_.pop(attempt, None)
        return list(open_.values())

    def records(self) -> List[Dict[str, Any]]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return []
        found = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a torn last line after a crash
            if isinstance(record, dict) and isinstance(record.get("task_id"), str):
                found.append(record)
        return found

    def tasks(self) -> Dict[str, Dict[str, Any]]:
        """task_id -> merged view (submit fields, last status, final paths), in submit order."""
        merged: Dict[str, Dict[str, Any]] = {}
        for record in self.records():
            if not record["task_id"]:
                continue  # a submit intent: its task id is not known (yet)
            entry = merged.setdefault(record["task_id"], {"task_id": record["task_id"]})
            if record.get("event") == "submitted":
                entry.update({k: v for k, v in record.items() if k not in ("event", "at")})
                entry["submitted_at"] = record.get("submitted_at") or record.get("at")
                entry.setdefault("status", "PENDING")
            elif record.get("event") == "status":
                entry["status"] = record.get("status")
                entry["updated_at"] = record.get("at")
            elif record.get("event") == "downloading":
                entry["downloading"] = record.get("local_path")
            elif record.get("event") == "saved":
                entry["local_path"] = record.get("local_path")
                entry["response_path"] = record.get("response_path")
                entry["status"] = record.get("status") or "SUCCEEDED"
                entry.pop("downloading", None)
            elif record.get("event") == "adopted":
                entry.update({k: v for k, v in record.items() if k not in ("event", "at")})
        return merged

    def find(self, task_id: str) -> Optional[Dict[str, Any]]:
        return self.tasks().get(task_id)

    def recent_duplicate(self, digest: str) -> Optional[Dict[str, Any]]:
        now = self.clock()
        for entry in reversed(list(self.tasks().values())):
            if entry.get("request_digest") != digest:
                continue
            if now - _number(entry.get("submitted_at")) > DUPLICATE_WINDOW:
                continue
            if entry.get("status") in ("FAILED", "CANCELED", "UNKNOWN"):
                continue  # failed tasks cost nothing: a new try is not paying twice
            return entry
        return None


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
