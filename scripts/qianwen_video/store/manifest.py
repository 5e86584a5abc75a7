"""A batch's manifest: every item's events in one append-only log, items keyed by request content.

``<batch name>.manifest.jsonl`` in the output directory records: run (a header per run),
intent (about to send the create call), submitted (task_id), not_created (the create call
provably made no task), status, saved (local_path), failed (a terminal task status),
download_failed. An intent is fsynced before its create call is sent; submitted and saved
records are fsynced together, by the next intent's fsync or by ``sync`` once the oldest of
them is GROUP_WINDOW old (the batch asks at every pass, at least every quarter second): one
fsync for many records, not one each.
Losing them to a power cut costs nothing paid: an intent with no task id is looked up in the
task list on resume (tasks.recover), and a video whose saved record is lost is at worst
downloaded again. A status is never fsynced (the next check writes it again).

An item's key is its request digest (journal.request_digest) plus its occurrence among
identical items of the file (``sha256:...#2`` is the second identical line), never its line
number: inserting, removing or reordering lines keeps every finished item's key, so a rerun
never submits it again. The file is read once (``load``); afterwards every ``append`` also
updates the view kept in memory, so the batch asks ``entry(key)`` without reading again.
"""
from __future__ import annotations

import collections
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ..errors import CliError
from .lock import FileLock
from .log import Log, Record, strip_query

MANIFEST_SUFFIX = ".manifest.jsonl"
GROUPED_EVENTS = ("submitted", "saved")  # durable at the next fsync of the file, GROUP_WINDOW at most
GROUP_WINDOW = 1.0  # seconds a grouped record may wait for that fsync
VOLATILE_EVENTS = ("status",)
Entry = Dict[str, Any]


def manifest_path(out_dir: Path, batch_file: Path) -> Path:
    return Path(out_dir) / (Path(batch_file).stem + MANIFEST_SUFFIX)


def item_keys(digests: Iterable[str]) -> List[str]:
    """The keys of a batch file's items, given their digests in file order."""
    seen: Dict[str, int] = collections.Counter()
    keys = []
    for digest in digests:
        seen[digest] += 1
        keys.append("%s#%d" % (digest, seen[digest]))
    return keys


class Manifest:
    def __init__(self, path: Path, clock: Callable[[], float] = time.time,
                 redact: Optional[Callable[[str], str]] = None, warn: Optional[Callable[[str], None]] = None):
        self.path = Path(path)
        self.clock = clock
        self.log = Log(self.path, redact=redact, warn=warn)
        self._entries: Optional[Dict[str, Entry]] = None
        self._lock = threading.Lock()
        self._unsynced_at: Optional[float] = None  # when (clock) the oldest record awaiting an fsync was written

    def lock(self) -> FileLock:
        """One run per manifest: two runs of one batch would both submit what neither recorded yet."""
        return self.log.lock()

    def load(self) -> Dict[str, Entry]:
        """key -> merged view of that item's records, read from the file once (later calls
        return the view kept up to date by ``append``). Unreadable lines are skipped with a
        warning; a manifest that exists but cannot be read is an error, since it records
        tasks already paid for."""
        with self._lock:
            if self._entries is None:
                self._entries = self._read()
            return self._entries

    def entry(self, key: str) -> Optional[Entry]:
        return self.load().get(key)

    def unclaimed(self, keys: Iterable[str]) -> List[Entry]:
        """Entries no current item has (an item edited or removed since), oldest first."""
        wanted = set(keys)
        return [entry for key, entry in self.load().items() if key not in wanted]

    def append(self, event: str, key: Optional[str] = None, index: Optional[int] = None, **fields: Any) -> None:
        """Record one event (of item `key`, at line `index` of this run's file, if given), fsynced
        now or, for GROUPED_EVENTS, at the next ``sync`` or fsynced append. Raises OSError when it
        cannot be written."""
        record: Record = {"event": event}
        if key is not None:
            record["key"] = key
            if index is not None:
                record["index"] = index
        now = self.clock()
        record["at"] = round(now, 3)
        record.update({k: v for k, v in fields.items() if v is not None})
        with self._lock:
            durable = event not in GROUPED_EVENTS and event not in VOLATILE_EVENTS
            self.log.append(record, durable=durable)
            if event in GROUPED_EVENTS:
                if self._unsynced_at is None:
                    self._unsynced_at = now  # not the rounded "at": a sync right after must not see it in the future
            elif durable:
                self._unsynced_at = None  # that fsync covered every earlier line
            if self._entries is not None and key is not None:
                _fold(self._entries, key, record)

    def sync(self, after: float = 0.0) -> None:
        """Make the grouped records written so far durable, if the oldest of them was written
        `after` seconds ago or more (or the clock went back); nothing to do when there are none."""
        with self._lock:
            if self._unsynced_at is not None and not 0.0 <= self.clock() - self._unsynced_at < after:
                self.log.sync()
                self._unsynced_at = None

    def _read(self) -> Dict[str, Entry]:
        """One pass; a second only for a manifest written before items had keys."""
        try:
            entries: Dict[str, Entry] = {}
            old = set()
            for _, record in self.log.forward():
                key = record.get("key")
                if isinstance(key, str):
                    _fold(entries, key, record)
                elif _old_id(record) is not None:
                    old.add(_old_id(record))
            if not old:
                return entries
            keys = _old_keys(old)
            entries = {}
            for _, record in self.log.forward():
                key = record.get("key")
                key = key if isinstance(key, str) else keys.get(_old_id(record) or ("", -1))
                if key is not None:
                    _fold(entries, key, record)
            return entries
        except OSError as exc:
            raise CliError("cannot read the batch manifest %s: %s" % (self.path, exc.strerror or exc),
                           hint="it records the tasks already paid for; fix or move it before running again") from None


def _old_id(record: Record) -> Optional[Tuple[str, int]]:
    index, digest = record.get("index"), record.get("digest")
    if isinstance(index, int) and not isinstance(index, bool) and isinstance(digest, str):
        return digest, index
    return None


def _old_keys(pairs: Iterable[Tuple[str, int]]) -> Dict[Tuple[str, int], str]:
    """Keys for records of an older manifest, which named items by line number: the n-th
    distinct line number (in line order) of a digest is that digest's n-th occurrence, as it
    was in the file then."""
    lines: Dict[str, set] = collections.defaultdict(set)
    for digest, index in pairs:
        lines[digest].add(index)
    return {(digest, index): "%s#%d" % (digest, rank)
            for digest, indexes in lines.items() for rank, index in enumerate(sorted(indexes), 1)}


def _fold(entries: Dict[str, Entry], key: str, record: Record) -> None:
    entry = entries.get(key)
    if entry is None:
        entry = entries[key] = {"key": key, "task_ids": []}
    if isinstance(record.get("index"), int):
        entry["index"] = record["index"]
    event = record.get("event")
    if event == "intent":
        entry.update(intent_at=record.get("started") or record.get("at"), model=record.get("model"),
                     mode=record.get("mode"))
    elif event == "submitted":
        entry.pop("intent_at", None)
        entry.update(task_id=record.get("task_id"), status=entry.get("status") or "PENDING")
        entry["task_ids"].append(record.get("task_id"))
    elif event == "not_created":
        entry.pop("intent_at", None)
    elif event == "status":
        entry["status"] = record.get("status")
    elif event == "saved":
        url = record.get("video_url")
        entry.update(status="SUCCEEDED", finished=True, error=None, local_path=record.get("local_path"),
                     response_path=record.get("response_path"),
                     video_url=strip_query(url) if isinstance(url, str) else url)
    elif event == "failed":
        entry.update(status=record.get("status"), finished=True, error=record.get("error"))
    elif event == "download_failed":
        entry["error"] = record.get("error")
        entry["status"] = record.get("status") or entry.get("status")
