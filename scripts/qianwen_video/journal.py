"""The task journal: an append-only JSONL record of every paid task, written before polling.

A task id is the only handle on work the user already paid for; if the process dies, the
journal still has it, with the model and the output path needed to resume.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence
from urllib.parse import urlsplit, urlunsplit

from . import media

JOURNAL_NAME = "qianwen-video-tasks.jsonl"
DUPLICATE_WINDOW = 24 * 3600  # task ids live 24 h on the service
LOCK_SUFFIX = ".lock"
# What a "submitted" record keeps of the request for --list and the gallery page.
TEXT_FIELDS = ("prompt", "negative_prompt")  # user text: stored whole
PARAMETER_FIELDS = ("resolution", "size", "ratio", "duration", "seed")
MAX_INPUTS = 32  # media values recorded per task (a request has a handful)
MAX_PARAMETER = 64  # characters of one parameter value
MAX_CODE, MAX_MESSAGE = 200, 2000  # characters of a failure's code and message (server text)


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


def request_fields(request: Mapping[str, Any], body: Mapping[str, Any], cwd: Path,
                   home: Optional[str] = None) -> Dict[str, Any]:
    """What --list and the gallery show about a request, as extra fields of its "submitted"
    record: the prompt and negative prompt as sent (whole), resolution/size/ratio, duration and
    seed (from the body, so both the flat and the native forms count), and its media by field.

    `inputs` lists local files as absolute paths (the page shows them, images as thumbnails);
    `remote_inputs` lists URLs without their query string, fragment or user info (a signed
    URL's signature lives in its query), a data: URL as its media type only. No secret can
    reach the journal this way: the body is built before uploads, and no header is read.
    """
    fields: Dict[str, Any] = {}
    sent = body.get("input")
    sent = sent if isinstance(sent, Mapping) else {}
    parameters = body.get("parameters")
    parameters = parameters if isinstance(parameters, Mapping) else {}
    for key in TEXT_FIELDS:
        if isinstance(sent.get(key), str) and sent[key]:
            fields[key] = sent[key]
    for key in PARAMETER_FIELDS:
        value = parameters.get(key, sent.get(key))
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)) or (isinstance(value, str) and value):
            fields[key] = value if not isinstance(value, str) else value[:MAX_PARAMETER]
    local: List[Dict[str, str]] = []
    remote: List[Dict[str, str]] = []
    for ref in media.refs(dict(request))[:MAX_INPUTS]:
        path = media.local_path(ref.value, cwd, home)
        if path is not None:
            local.append({"field": ref.label, "path": os.path.abspath(str(path))})
        else:
            remote.append({"field": ref.label, "url": _without_secrets(ref.value)})
    if local:
        fields["inputs"] = local
    if remote:
        fields["remote_inputs"] = remote
    return fields


def _without_secrets(url: str) -> str:
    """A URL as it may be stored: no query, fragment or user info; data: as its media type."""
    if url.lower().startswith("data:"):
        return url[:url.find(",")] if "," in url[:200] else "data:"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host += ":%d" % parts.port
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1][:500]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))[:500]


def failure_fields(task: Optional[Mapping[str, Any]]) -> Dict[str, str]:
    """A task answer's failure `code` and `message`, for its "status" record: server text,
    kept as strings and bounded (escaping is the reader's job)."""
    output = task.get("output") if isinstance(task, Mapping) else None
    found: Dict[str, str] = {}
    if not isinstance(output, Mapping):
        return found
    for key, limit in (("code", MAX_CODE), ("message", MAX_MESSAGE)):
        value = output.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
            found[key] = str(value)[:limit]
    return found


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
                for key in ("code", "message"):  # a failure's, or none: a newer status clears them
                    if key in record:
                        entry[key] = record[key]
                    else:
                        entry.pop(key, None)
            elif record.get("event") == "downloading":
                entry["downloading"] = record.get("local_path")
            elif record.get("event") == "saved":
                entry["local_path"] = record.get("local_path")
                entry["response_path"] = record.get("response_path")
                entry["status"] = record.get("status") or "SUCCEEDED"
                entry.pop("downloading", None)
                entry.pop("code", None)
                entry.pop("message", None)
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


class FileLock:
    """An exclusive lock on ``<path>.lock``, held by one process at a time.

    Two runs of the same request (or batch) started together would both find "no task yet"
    and both pay. The lock makes the check-then-submit step one at a time. POSIX uses flock,
    Windows msvcrt.locking; the OS releases either when the process dies, so a killed run
    never leaves a stale lock. Elsewhere (no locking available) it is a no-op.
    The lock file itself stays: deleting it would let a third process lock a different file.
    """

    def __init__(self, path: Path):
        self.path = path.with_name(path.name + LOCK_SUFFIX)
        self._handle = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True when held (also when locking is unavailable)."""
        if self._handle is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+b")
        try:
            if not _lock(handle):
                handle.close()
                return False
        except BaseException:
            handle.close()
            raise
        self._handle = handle
        return True

    def acquire(self, timeout: float, clock=time.monotonic, sleep=time.sleep) -> bool:
        """Wait up to `timeout` seconds for the lock; False if another process still holds it."""
        deadline = clock() + timeout
        pause = 0.05
        while not self.try_acquire():
            if clock() >= deadline:
                return False
            sleep(pause)
            pause = min(pause * 2, 1.0)
        return True

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            _unlock(handle)
        except OSError:
            pass
        finally:
            handle.close()

    def __enter__(self) -> "FileLock":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _lock(handle) -> bool:
    try:
        import fcntl
    except ImportError:
        fcntl = None
    if fcntl is not None:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                return True  # a file system without locks (some network mounts): best effort
            raise
        return True
    try:
        import msvcrt
    except ImportError:
        return True  # no locking on this platform: best effort
    try:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EDEADLK):
            return False
        raise
    return True


def _unlock(handle) -> None:
    try:
        import fcntl
    except ImportError:
        fcntl = None
    if fcntl is not None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return
    try:
        import msvcrt
    except ImportError:
        return
    handle.seek(0)
    msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
