"""The task journal: an append-only JSONL record of every paid task, written before polling.

A task id is the only handle on work the user already paid for; if the process dies, the
journal still has it, with the model and the output path needed to resume.

What a run reads does not grow with the journal's history (store.log reads it backwards):
- the duplicate check covers DUPLICATE_WINDOW, so it reads only the tail: newest first until
  records are older than the window plus CLOCK_MARGIN (see there);
- ``find(task_id)`` parses only lines that contain the id, stops at the task's submit record,
  and remembers where that was, so asking again reads only what was appended since;
- ``list_recent(n)`` streams newest first and stops after n entries.
"""
from __future__ import annotations

import hashlib
import json
import threading
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple
from urllib.parse import urlsplit, urlunsplit

from .. import media
from .log import BLOCK, Log, Record

JOURNAL_NAME = "qianwen-video-tasks.jsonl"
DUPLICATE_WINDOW = 24 * 3600  # task ids live 24 h on the service
# The tail scan stops at records older than the window plus this margin. Records are appended
# in time order per process, but the `at` a record carries is read from the clock just before
# its write, so between processes file order and `at` disagree by the time a writer spends
# between the two: scheduling, swapping, a stopped (SIGSTOP, suspended laptop) process, plus
# clock steps (NTP) and, for a folder shared between machines, their clock skew. An hour
# covers all of these with room to spare (a day-long stall would not be), and costs only one
# more hour of records to read. A record's submit time is never later than its `at`, so every
# record that can match inside the window lies after the first record older than the cutoff.
CLOCK_MARGIN = 3600.0
STOP_RUN = 8  # one record with a bogus old `at` does not end the scan; this many in a row do
FAILED_STATES = ("FAILED", "CANCELED", "UNKNOWN")
# Records a power cut may lose at no cost: a status (the next check writes it again), a download's
# chosen name (a lost one only means the next run downloads afresh under a new name; a crash or
# Ctrl-C loses nothing, the page cache survives them). Every other record (intent, submitted,
# saved) is fsynced before the step it guards.
VOLATILE_EVENTS = ("status", "downloading")
# What a "submitted" record keeps of the request for --list and the gallery page.
TEXT_FIELDS = ("prompt", "negative_prompt")  # user text: stored whole
PARAMETER_FIELDS = ("resolution", "size", "ratio", "duration", "seed")
MAX_INPUTS = 32  # media values recorded per task (a request has a handful)
MAX_PARAMETER = 64  # characters of one parameter value
MAX_CODE, MAX_MESSAGE = 200, 2000  # characters of a failure's code and message (server text)

_TASK_ID_FIELD = re.compile(rb'"task_id":\s*"((?:[^"\\]|\\.)*)"')


def locate(task_id: str, first: Path, cwd: Path, clock=time.time, redact: Optional[Callable[[str], str]] = None,
           warn: Optional[Callable[[str], None]] = None) -> Optional["Journal"]:
    """The journal that recorded `task_id`: the given output directory first, then the default
    one, the working directory itself, then journals in its direct subfolders and under
    ./output/ (a shallow look: from a home directory a deep search would be slow and find
    other projects)."""
    places = [first, cwd / "output" / "qianwen-video-generation", cwd]
    for pattern in ("*/", "output/*/", "output/*/*/"):
        places.extend(p.parent for p in sorted(cwd.glob(pattern + JOURNAL_NAME)))
    seen = set()
    for place in places:
        if place in seen:
            continue
        seen.add(place)
        book = Journal(place, clock, redact=redact, warn=warn)
        if book.path.exists() and book.find(task_id):
            return book
    return None


def request_digest(mode: str, model: str, request: Any, files: Sequence[Path] = ()) -> str:
    """What identifies a paid request: mode, model, fields, and the local files' size and mtime
    (an edited image.png under the same name is a new request). `request` may be any JSON
    value (a batch line that is not an object gets a digest too)."""
    identity: List[Any] = []
    for path in files:
        try:
            info = path.stat()
            identity.append([str(path), info.st_size, info.st_mtime_ns])
        except OSError:
            identity.append([str(path), None, None])
    canonical = json.dumps({"mode": mode, "model": model, "request": request, "files": identity},
                           sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8", "backslashreplace")).hexdigest()[:32]


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
    """The journal of one output directory. `redact` masks every line before it is written;
    `warn` receives one line about unreadable lines or an unreadable journal."""

    def __init__(self, directory: Path, clock=time.time, redact: Optional[Callable[[str], str]] = None,
                 warn: Optional[Callable[[str], None]] = None, block: int = BLOCK):
        self.path = Path(directory) / JOURNAL_NAME
        self.clock = clock
        self.log = Log(self.path, redact=redact, warn=warn, block=block)
        self._warn = warn
        self._unreadable_told = False
        self._floor: Dict[str, int] = {}  # task id -> offset no record find() needs lies before
        # Records of the tasks this journal submitted, kept while it is the file's only writer (each
        # append starts where the last one ended): find() answers those from memory, so a batch's
        # cost per item does not grow with the lines other items wrote in between.
        self._own: Dict[str, List[Record]] = {}
        self._own_end: Optional[int] = None
        self._own_lock = threading.Lock()
        self._ident: Optional[Tuple[int, int, int]] = None

    # -- writing ----------------------------------------------------------------------
    def append(self, event: str, task_id: str, durable: Optional[bool] = None, **fields: Any) -> None:
        """One record, fsynced unless its event is volatile (or `durable` says otherwise: a batch's
        manifest already holds the fact durably); raises OSError when it cannot be written."""
        record = {"event": event, "task_id": task_id, "at": round(self.clock(), 3)}
        record.update({k: v for k, v in fields.items() if v is not None})
        with self._own_lock:  # a batch's download threads append too
            start, data = self.log.append(record, durable=event not in VOLATILE_EVENTS if durable is None else durable)
            if self._own_end is not None and start != self._own_end:
                self._own.clear()  # another writer appended since: only the file knows everything now
            self._own_end = start + len(data)
            if event == "saved":
                self._own.pop(task_id, None)  # done: memory stays bounded by the tasks under way
            elif event == "submitted" or task_id in self._own:
                try:
                    self._own.setdefault(task_id, []).append(json.loads(data))  # the line as stored
                except ValueError:
                    self._own.pop(task_id, None)

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

    # -- tail queries (cost independent of history) -------------------------------------
    def recent_duplicate(self, digest: str) -> Optional[Dict[str, Any]]:
        """The newest task of this request submitted within DUPLICATE_WINDOW that has not
        failed (a failed task costs nothing, so a new try is not paying twice)."""
        now = self.clock()
        later: Dict[str, List[Record]] = {}  # task id -> its records newer than here, newest first
        decided: Set[str] = set()
        for _, record in self._tail(now):
            task_id = record["task_id"]
            if not task_id or task_id in decided:
                continue
            later.setdefault(task_id, []).append(record)
            if record.get("event") != "submitted":
                continue
            decided.add(task_id)  # its newest submit record: the task's fields as tasks() merges them
            entry = merge(task_id, reversed(later.pop(task_id)))
            if entry.get("request_digest") != digest:
                continue
            if now - _number(entry.get("submitted_at")) > DUPLICATE_WINDOW:
                continue
            if entry.get("status") in FAILED_STATES:
                continue
            return entry
        return None

    def unresolved_intent(self, digest: str) -> Optional[Dict[str, Any]]:
        """The newest submit of this request (last 24 h) whose outcome was never learned."""
        now = self.clock()
        closed: Set[str] = set()  # attempts a newer record answered
        for _, record in self._tail(now):
            attempt = record.get("attempt")
            if not isinstance(attempt, str):
                continue
            if record.get("event") == "submitting":
                if (attempt not in closed and record.get("request_digest") == digest
                        and now - _number(record.get("submitted_at")) <= DUPLICATE_WINDOW):
                    return record
                closed.add(attempt)  # an older record of the same attempt is not newer news
            elif record["task_id"] or record.get("event") == "submit-resolved":
                closed.add(attempt)
        return None

    def recent_task_ids(self, since: float) -> Set[str]:
        """Ids of the tasks journaled from `since` on (CLOCK_MARGIN earlier, to be safe): what a
        lost submit's lookup must not mistake for the task it created."""
        ids: Set[str] = set()
        for _, record in self._since(since - CLOCK_MARGIN):
            if record["task_id"]:
                ids.add(record["task_id"])
        return ids

    def find(self, task_id: str) -> Optional[Dict[str, Any]]:
        """The merged view of one task (None if the journal never heard of it), reading back
        only to its newest submit record, parsing only lines that name it; asked again, only
        lines appended since are read."""
        if not isinstance(task_id, str) or not task_id:
            return None
        ident = self._snapshot()
        if ident is None:
            return None
        with self._own_lock:
            own = list(self._own.get(task_id, ())) if ident[2] == self._own_end else None
        if own:  # this journal submitted it and nothing was appended by anyone else since
            return merge(task_id, own)
        needle = json.dumps(task_id, ensure_ascii=False)[1:-1].encode("utf-8", "backslashreplace")
        found: List[Record] = []
        lowest = None
        for offset, record in self._back(stop=self._floor.get(task_id, 0), end=ident[2], contains=needle,
                                         keep=lambda line: needle in line):
            if record["task_id"] != task_id:
                continue
            found.append(record)
            lowest = offset
            if record.get("event") == "submitted":
                break
        self._floor[task_id] = lowest if lowest is not None else ident[2]
        return merge(task_id, reversed(found)) if found else None

    def find_many(self, task_ids: Iterable[str]) -> Dict[str, Dict[str, Any]]:
        """find() for many ids in one backward pass (a batch resuming): task id -> merged view."""
        wanted = {t for t in task_ids if isinstance(t, str) and t}
        found: Dict[str, List[Record]] = {}
        done: Set[str] = set()

        def keep(line: bytes) -> bool:
            named = _line_task_id(line)
            return named is None or named in wanted

        if wanted:
            for _, record in self._back(keep=keep):
                task_id = record["task_id"]
                if task_id not in wanted or task_id in done:
                    continue
                found.setdefault(task_id, []).append(record)
                if record.get("event") == "submitted":
                    done.add(task_id)
                    if len(done) == len(wanted):
                        break
        return {task_id: merge(task_id, reversed(records)) for task_id, records in found.items()}

    def list_recent(self, limit: int) -> List[Dict[str, Any]]:
        """At most `limit` entries, newest first: tasks (merged views) and submits whose answer
        never arrived (task_id None, status SUBMIT-UNANSWERED). Reads back only as far as the
        limit needs; memory grows with `limit`, not with the journal."""
        out: List[Dict[str, Any]] = []
        pending: Dict[str, List[Record]] = {}  # tasks seen, their submit record not yet
        lowest: Dict[str, int] = {}
        listed: Set[str] = set()
        closed: Set[str] = set()
        if limit <= 0:
            return out
        for offset, record in self._back():
            task_id = record["task_id"]
            attempt = record.get("attempt")
            if isinstance(attempt, str):
                if record.get("event") == "submitting" and not task_id:
                    if attempt not in closed:
                        closed.add(attempt)
                        out.append(_intent_entry(record))
                        if len(out) >= limit:
                            break
                    continue
                if task_id or record.get("event") == "submit-resolved":
                    closed.add(attempt)
            if not task_id or task_id in listed:
                continue
            pending.setdefault(task_id, []).append(record)
            lowest[task_id] = offset
            if record.get("event") == "submitted":
                listed.add(task_id)
                out.append(merge(task_id, reversed(pending.pop(task_id))))
                if len(out) >= limit:
                    break
        else:  # the whole journal was read: tasks with records but no submit record, too
            for task_id in sorted(pending, key=lambda t: -lowest[t]):
                out.append(merge(task_id, reversed(pending[task_id])))
        return out[:limit]

    # -- whole-journal reads (oldest first, streamed) -------------------------------------
    def records(self) -> List[Dict[str, Any]]:
        return [record for _, record in self._forward()]

    def tasks(self) -> Dict[str, Dict[str, Any]]:
        """task_id -> merged view (submit fields, last status, final paths), in submit order."""
        merged: Dict[str, Dict[str, Any]] = {}
        for _, record in self._forward():
            task_id = record["task_id"]
            if not task_id:
                continue  # a submit intent: its task id is not known (yet)
            merged[task_id] = merge(task_id, (record,), merged.get(task_id))
        return merged

    def unresolved(self) -> List[Dict[str, Any]]:
        """Submit intents whose task id was never learned, oldest first."""
        open_: Dict[str, Dict[str, Any]] = {}
        for _, record in self._forward():
            attempt = record.get("attempt")
            if not isinstance(attempt, str):
                continue
            if record.get("event") == "submitting":
                open_[attempt] = record
            elif record["task_id"] or record.get("event") == "submit-resolved":
                open_.pop(attempt, None)
        return list(open_.values())

    # -- plumbing -----------------------------------------------------------------------
    def _tail(self, now: float) -> Iterator[Tuple[int, Record]]:
        """Records newest first while they can still matter for a window ending at `now`."""
        return self._since(now - DUPLICATE_WINDOW - CLOCK_MARGIN)

    def _since(self, cutoff: float) -> Iterator[Tuple[int, Record]]:
        """Records newest first, until STOP_RUN records in a row are older than `cutoff`."""
        old = 0
        for offset, record in self._back():
            at = record.get("at")
            if isinstance(at, (int, float)) and not isinstance(at, bool) and at < cutoff:
                old += 1
                if old >= STOP_RUN:
                    return
            else:
                old = 0
            yield offset, record

    def _back(self, **kwargs: Any) -> Iterator[Tuple[int, Record]]:
        try:
            for offset, record in self.log.backward(**kwargs):
                if isinstance(record.get("task_id"), str):
                    yield offset, record
        except OSError as exc:
            self._unreadable(exc)

    def _forward(self) -> Iterator[Tuple[int, Record]]:
        try:
            for offset, record in self.log.forward():
                if isinstance(record.get("task_id"), str):
                    yield offset, record
        except OSError as exc:
            self._unreadable(exc)

    def _snapshot(self) -> Optional[Tuple[int, int, int]]:
        """The log's (device, inode, size); find()'s memory is dropped if the file was replaced."""
        try:
            ident = self.log.snapshot()
        except OSError as exc:
            self._unreadable(exc)
            return None
        if ident is None or self._ident is None or ident[:2] != self._ident[:2] or ident[2] < self._ident[2]:
            self._floor.clear()
            if self._ident is not None:
                self._own.clear()  # replaced or cut: the file no longer holds what was written
        self._ident = ident
        return ident

    def _unreadable(self, exc: OSError) -> None:
        if self._warn is not None and not self._unreadable_told:
            self._unreadable_told = True
            self._warn("cannot read the task journal %s (%s); the tasks it records are not seen"
                       % (self.path, exc.strerror or exc))


def merge(task_id: str, records: Iterable[Record], entry: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """A task's records, oldest first, folded into one view: every field of its submit record,
    status (with code and message) of the last status record, the saved or downloading path.
    A submit record starts the view afresh (a task journaled twice is described by its newest
    submit and what followed it), which is what lets find() stop reading there."""
    entry = {"task_id": task_id} if entry is None else entry
    for record in records:
        event = record.get("event")
        if event == "submitted":
            entry.clear()
            entry["task_id"] = task_id
            entry.update({k: v for k, v in record.items() if k not in ("event", "at")})
            entry["submitted_at"] = record.get("submitted_at") or record.get("at")
            entry.setdefault("status", "PENDING")
        elif event == "status" or (event == "downloading" and record.get("status")):
            # a status line, or a download's start (it carries the SUCCEEDED it began on)
            entry["status"] = record.get("status")
            for key in ("code", "message"):
                if key in record:
                    entry[key] = record[key]
                else:
                    entry.pop(key, None)
            entry["updated_at"] = record.get("at")
        if event == "downloading":
            entry["downloading"] = record.get("local_path")
        elif event == "saved":
            entry["local_path"] = record.get("local_path")
            entry["response_path"] = record.get("response_path")
            entry["status"] = record.get("status") or "SUCCEEDED"
            entry.pop("downloading", None)
            entry.pop("code", None)
            entry.pop("message", None)
        elif event == "adopted":
            entry.update({k: v for k, v in record.items() if k not in ("event", "at")})
    return entry


def _intent_entry(record: Record) -> Dict[str, Any]:
    return {"task_id": None, "submitted_at": record.get("submitted_at"), "mode": record.get("mode"),
            "model": record.get("model"), "status": "SUBMIT-UNANSWERED",
            "request_digest": record.get("request_digest"), "output": record.get("output")}


def _line_task_id(line: bytes) -> Optional[str]:
    """The task_id a raw journal line names, without parsing it (None: cannot tell)."""
    match = _TASK_ID_FIELD.search(line)
    if match is None:
        return None
    raw = match.group(1)
    try:
        return raw.decode("utf-8") if b"\\" not in raw else json.loads(b'"' + raw + b'"')
    except ValueError:
        return None


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
