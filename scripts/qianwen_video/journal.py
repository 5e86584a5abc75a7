"""The task journal: an append-only JSONL record of every paid task, written before polling.

A task id is the only handle on work the user already paid for; if the process dies, the
journal still has it, with the model and the output path needed to resume.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

JOURNAL_NAME = "qianwen-video-tasks.jsonl"
DUPLICATE_WINDOW = 24 * 3600  # task ids live 24 h on the service


def request_digest(mode: str, model: str, request: Mapping[str, Any]) -> str:
    canonical = json.dumps({"mode": mode, "model": model, "request": request}, sort_keys=True,
                           ensure_ascii=False, separators=(",", ":"))
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
            entry = merged.setdefault(record["task_id"], {"task_id": record["task_id"]})
            if record.get("event") == "submitted":
                entry.update({k: v for k, v in record.items() if k not in ("event", "at")})
                entry["submitted_at"] = record.get("submitted_at") or record.get("at")
                entry.setdefault("status", "PENDING")
            elif record.get("event") == "status":
                entry["status"] = record.get("status")
                entry["updated_at"] = record.get("at")
            elif record.get("event") == "saved":
                entry["local_path"] = record.get("local_path")
                entry["response_path"] = record.get("response_path")
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
            if now - float(entry.get("submitted_at") or 0) > DUPLICATE_WINDOW:
                continue
            if entry.get("status") in ("FAILED", "CANCELED", "UNKNOWN"):
                continue  # failed tasks cost nothing: a new try is not paying twice
            return entry
        return None
