"""Batch generation (``--batch FILE``): many requests in one resumable run.

FILE is JSONL (one flat request per line) or a JSON array of them. Each request may name
its own ``model``, ``mode`` and ``output`` (a file name inside ``--output``).

- Every item is planned and validated up front with the single-request code
  (``run.make_plan``); one invalid item stops the batch before anything is sent, unless
  ``--skip-invalid``.
- Submissions follow each model's submit rate and concurrency limit from the catalog
  (dashscope-api.md §6; ``--concurrency`` overrides the limit). A 429 pauses every submit
  and halves that model's rate, which then earns its way back; the item is never failed
  for it (a 429 proves no task was created).
- One poller checks all running tasks, each on the ``poll.delays`` schedule, through a
  token bucket that keeps task queries under the account's 20 per second.
- Local files are uploaded once per (model, file): temporary oss:// URLs are bound to
  the model they were uploaded for.
- The manifest ``<batch name>.manifest.jsonl`` in the output directory records, with
  fsync, the intent to submit an item before the create call and its task id the moment
  it exists, then its status, local file or error. Running the same command again
  resumes: finished items are skipped, running ones polled, only never-created ones
  submitted. An interrupted or unanswered submit is resolved through the task list
  (``Session._ambiguous_candidates``), never resubmitted blindly.
- Item identity is its position plus a digest of the item (its mode, model and fields,
  "output" aside), so an edited item is treated as a new request (with a warning).
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import shlex
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Set, Tuple

from . import catalog, gallery, journal, media, outputs, payload, poll
from . import run as single
from . import session as tasks
from .api import AmbiguousSubmit
from .console import Console
from .context import Context
from .download import DownloadStopped
from .errors import (EXIT_FAILED, EXIT_OK, EXIT_PENDING, EXIT_USAGE, ApiError, CliError, UsageError,
                     ValidationFailed)
from .upload_router import uploader_for

QUERY_RATE = 18.0  # task queries per second; the account allows 20 (dashscope-api.md §6)
QUERY_BURST = 2.0  # a bucket of 2 refilled at 18/s never sends more than 20 in any second
WINDOW = 1.0  # the service counts submits per model in a sliding one-second window
WINDOW_MARGIN = 0.05  # seconds kept clear of the window's edge (network jitter)
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0  # submit pause after a 429, doubled while they last
MIN_SCALE = 0.05  # a model's submit rate never drops below 5 % of the catalog's
DOWNLOAD_WORKERS = 2
STOP_WAIT = 2.0  # seconds (real) Ctrl-C waits for the downloads to notice the stop flag
TICK = 0.25  # longest nap of the main loop (live line refresh)
MANIFEST_SUFFIX = ".manifest.jsonl"


# -- items --------------------------------------------------------------------------------
@dataclass
class Item:
    index: int  # 1-based position in the batch file
    raw: Any
    digest: str = ""
    plan: Optional[single.Plan] = None
    output: Optional[str] = None  # file or directory handed to the download
    problems: List[str] = field(default_factory=list)
    state: str = "queued"  # invalid, queued, running, downloading, done, failed, left
    status: Optional[str] = None  # last task status (or INVALID, NOT_SUBMITTED, ...)
    task_id: Optional[str] = None
    video_url: Optional[str] = None
    local_path: Optional[str] = None
    error: Optional[str] = None
    next_poll: float = 0.0
    schedule: Optional[Iterator[float]] = None
    ambiguous: int = 0
    recheck_from: Optional[float] = None  # an unanswered submit's start (wall clock), to look up again
    recheck_at: float = 0.0  # when (ctx.clock) that second look is due

    @property
    def model(self) -> Optional[str]:
        return self.plan.model if self.plan else (self.raw.get("model") if isinstance(self.raw, dict) else None)

    @property
    def mode(self) -> Optional[str]:
        return self.plan.mode if self.plan else None

    def result(self) -> Dict[str, Any]:
        return {"index": self.index, "task_id": self.task_id, "status": self.status, "model": self.model,
                "mode": self.mode, "video_url": self.video_url, "local_path": self.local_path,
                "error": self.error}


def read_items(path: Path) -> List[Tuple[Any, Optional[str]]]:
    """(value, problem) per item: a JSON array's entries, or each non-blank JSONL line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError("--batch %s: no such file" % path, hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError("--batch %s: cannot read it (%s)" % (path, exc)) from None
    if text.lstrip().startswith("["):
        try:
            values = json.loads(text)
        except ValueError as exc:
            raise UsageError("--batch %s is not a valid JSON array: %s" % (path, exc),
                             hint="use a JSON array of request objects, or JSONL (one object per line)") from None
        found = [(value, None) for value in values]
    else:
        found = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue  # blank lines and # comments
            try:
                found.append((json.loads(line), None))
            except ValueError as exc:
                found.append((line, "line %d is not valid JSON: %s" % (number, exc)))
    if not found:
        raise UsageError("--batch %s holds no requests" % path,
                         hint='one JSON object per line, e.g. {"prompt": "a cat surfing"}')
    return found


class _Prefixed:
    """The console make_plan needs, with each line naming the item it is about."""

    def __init__(self, console: Console, prefix: str):
        self._console = console
        self._prefix = prefix

    def warn(self, text: str) -> None:
        self._console.warn(self._prefix + text)

    def info(self, text: str) -> None:
        self._console.info(self._prefix + text)


def plan_item(args, ctx: Context, console: Console, index: int, raw: Any, problem: Optional[str],
              out_dir: Path) -> Item:
    item = Item(index, raw)
    if problem or not isinstance(raw, dict):
        item.problems = [problem or "must be a JSON object, got %s" % type(raw).__name__]
        item.digest = _digest(raw)
        return item
    mode = raw.get("mode") or args.mode
    if mode is not None and mode not in catalog.MODES:
        item.problems.append("mode: %r is not a mode; allowed: %s" % (mode, ", ".join(catalog.MODES)))
        mode = None
    item_args = argparse.Namespace(**vars(args))
    item_args.request, item_args.file = json.dumps(raw), None
    item_args.model = raw.get("model") or args.model  # the item's own model wins over --model
    item_args.mode = mode
    item_args.output = None
    try:
        item.plan = single.make_plan(item_args, ctx, _Prefixed(console, "item %d: " % index))
    except ValidationFailed as exc:
        item.problems += exc.problems
    except UsageError as exc:
        item.problems.append(exc.message)
    if item.plan is not None:
        # What is paid for, not where it is saved: renaming an item's output is no new request.
        paid_for = {k: v for k, v in raw.items() if k != "output"}
        files = [f.path for f in media.local_files(paid_for, ctx.cwd, media.home_of(ctx.environ))]
        item.digest = journal.request_digest(item.plan.mode, item.plan.model, paid_for, files)
        try:
            item.output = _item_output(item.plan.output, out_dir)
            outputs.check_writable_location(Path(item.output).parent)
        except UsageError as exc:
            item.problems.append("output: " + exc.message)
    else:
        item.digest = _digest(raw)
    if item.problems:
        item.plan = None
    return item


def _item_output(name: Optional[str], out_dir: Path) -> str:
    """An item's "output" names a file inside the batch's output directory (.mp4 added)."""
    if not name:
        return str(out_dir)
    path = (out_dir / Path(name)).resolve()
    if out_dir.resolve() not in path.parents:
        raise UsageError("output %r leaves the batch's --output directory" % name,
                         hint='give a file name such as "clip_01.mp4"; --output chooses the directory')
    if not outputs.names_file(str(path)):
        path = path.with_name(path.name + ".mp4")
    return str(path)


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


# -- the manifest -------------------------------------------------------------------------
class Manifest:
    """Append-only JSONL, one record per event, each flushed and fsynced before going on.

    Events: run (a header per run), intent (about to send the create call), submitted
    (task_id), not_created (the create call provably made no task), status, saved
    (local_path), failed (a terminal task status), download_failed.
    """

    def __init__(self, path: Path, clock: Callable[[], float]):
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()

    def append(self, event: str, item: Optional[Item] = None, **fields: Any) -> None:
        record: Dict[str, Any] = {"event": event}
        if item is not None:
            record.update({"index": item.index, "digest": item.digest})
        record["at"] = round(self.clock(), 3)
        record.update({k: v for k, v in fields.items() if v is not None})
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())

    def entries(self) -> Dict[Tuple[int, str], Dict[str, Any]]:
        """(index, digest) -> merged view of that item's records, in file order."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError("cannot read the batch manifest %s: %s" % (self.path, exc),
                           hint="it records the tasks already paid for; fix or move it before running again")
        merged: Dict[Tuple[int, str], Dict[str, Any]] = {}
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a torn last line after a crash
            if not (isinstance(record, dict) and isinstance(record.get("index"), int)
                    and isinstance(record.get("digest"), str)):
                continue
            entry = merged.setdefault((record["index"], record["digest"]), {"task_ids": []})
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
                entry.update(status="SUCCEEDED", finished=True, error=None, local_path=record.get("local_path"),
                             video_url=record.get("video_url"))
            elif event == "failed":
                entry.update(status=record.get("status"), finished=True, error=record.get("error"))
        return merged


# -- pacing -------------------------------------------------------------------------------
class TokenBucket:
    def __init__(self, rate: float, burst: float, now: float):
        self.rate, self.burst = rate, burst
        self.tokens, self.last = burst, now
        self.paused_until = 0.0

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.last) * self.rate)
        self.last = max(self.last, now)

    def take(self, now: float) -> bool:
        if now < self.paused_until:
            return False
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def next_time(self, now: float) -> float:
        self._refill(now)
        ready = now if self.tokens >= 1.0 else now + (1.0 - self.tokens) / self.rate
        return max(ready, self.paused_until)


class SubmitPacer:
    """Per-model submit rate as the service counts it (a sliding window), shared back-off on 429."""

    def __init__(self) -> None:
        self._sent: Dict[str, Deque[float]] = collections.defaultdict(lambda: collections.deque(maxlen=64))
        self._scale: Dict[str, float] = collections.defaultdict(lambda: 1.0)
        self._backoff = 0.0
        self.paused_until = 0.0

    def rate(self, model: str) -> float:
        return catalog.limits(model)[0] * self._scale[model]

    def next_time(self, model: str, now: float) -> float:
        ready = max(now, self.paused_until)
        sent = self._sent[model]
        rate = self.rate(model)
        if rate >= 1.0:
            per_window = int(rate)
            if len(sent) >= per_window:
                ready = max(ready, sent[-per_window] + WINDOW + WINDOW_MARGIN)
        elif sent:
            ready = max(ready, sent[-1] + 1.0 / rate)
        return ready

    def record(self, model: str, now: float) -> None:
        self._sent[model].append(now)

    def throttled(self, model: str, now: float) -> float:
        self._backoff = min(max(self._backoff * 2, BACKOFF_FIRST), BACKOFF_MAX)
        self.paused_until = max(self.paused_until, now + self._backoff)
        self._scale[model] = max(self._scale[model] / 2, MIN_SCALE)
        return self._backoff

    def accepted(self, model: str) -> None:
        self._backoff = 0.0
        self._scale[model] = min(1.0, self._scale[model] * 1.1)


class _Observed:
    """The API's transport, reporting each 429 the moment it arrives (before any retry)."""

    def __init__(self, inner: Any, on_429: Callable[[str, str], None]):
        self._inner = inner
        self._on_429 = on_429

    def request(self, method: str, url: str, *args: Any, **kwargs: Any):
        resp = self._inner.request(method, url, *args, **kwargs)
        if resp.status == 429:
            self._on_429(method, url)
        return resp

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


# -- the run ------------------------------------------------------------------------------
def run(args, ctx: Context, console: Console) -> int:
    _check_flags(args)
    batch_path = Path(args.batch).expanduser()
    batch_path = batch_path if batch_path.is_absolute() else ctx.cwd / batch_path
    out_dir = outputs.output_dir(args.output, ctx.cwd)
    items = [plan_item(args, ctx, console, index, raw, problem, out_dir)
             for index, (raw, problem) in enumerate(read_items(batch_path), 1)]
    _same_output_problems(items)
    invalid = [item for item in items if item.problems]
    if invalid and not args.skip_invalid:
        console.always("Nothing was sent: %d of %d requests are invalid (pass --skip-invalid to submit the "
                       "valid ones)" % (len(invalid), len(items)))
        raise ValidationFailed(["item %d: %s" % (item.index, p) for item in invalid for p in item.problems])
    for item in invalid:
        item.state, item.status = "failed", "INVALID"
        item.error = "; ".join(item.problems)
        console.warn("item %d is invalid and will not be submitted: %s" % (item.index, item.error))
    if args.dry_run:
        console.result({"batch": str(batch_path), "items": [
            {"index": item.index, "mode": item.mode, "model": item.model, "route": item.plan.built.route,
             "body": item.plan.built.body, "output": item.output} if item.plan else
            {"index": item.index, "error": item.error} for item in items]})
        return EXIT_OK if not invalid else EXIT_USAGE
    outputs.check_writable_location(out_dir)
    manifest = Manifest(out_dir / (batch_path.stem + MANIFEST_SUFFIX), ctx.wall_clock)
    session_args = argparse.Namespace(**vars(args))
    session_args.print_response = False  # one JSON document for the whole batch, not one per item
    session = tasks.Session(session_args, ctx, console)
    # Saving a result: run.py's _finish, minus its per-task info lines (the batch reports
    # each item itself); the API client, and so its retry notices, keep the real console.
    finisher = tasks.Session(session_args, ctx, Console(ctx, quiet=True, redactor=console.redactor))
    runner = Batch(args, ctx, console, session, finisher, items, manifest, out_dir)
    # One run per manifest: two runs of the same batch would each submit the items the
    # other has not recorded yet, and pay twice for them.
    lock = journal.FileLock(manifest.path)
    try:
        held = lock.try_acquire()
    except OSError as exc:
        console.warn("could not lock %s (%s); do not run this batch twice at once" % (lock.path, exc.strerror or exc))
        held = True
    if not held:
        raise UsageError("another run is using %s; nothing was sent" % manifest.path,
                         hint="let it finish (or stop it), then run the same command again to resume")
    try:
        return _run_locked(args, ctx, console, runner, session, finisher, manifest, items, batch_path)
    finally:
        lock.release()


def _run_locked(args, ctx: Context, console: Console, runner: "Batch", session: tasks.Session,
                finisher: tasks.Session, manifest: Manifest, items: List[Item], batch_path: Path) -> int:
    if any(item.plan for item in items):
        finisher._api = session.api  # a missing key fails here, before anything is sent
        session._update_check()
        manifest.append("run", file=str(batch_path), items=len(items))
        runner.restore()
    try:
        runner.go()
    except KeyboardInterrupt:
        console.end_live()
        console.always("Stopped. Submitted tasks keep running (they are not canceled).\nResume with: %s"
                       % resume_command(ctx, args))
        raise
    except CliError as exc:
        console.end_live()
        raise CliError(exc.message, hint=(exc.hint + "; " if exc.hint else "") + "then resume with: "
                       + resume_command(ctx, args), code=exc.code) from None
    return runner.report(batch_path)


def _check_flags(args) -> None:
    for flag, value in (("--request", args.request), ("--file", args.file), ("--task-id", args.task_id)):
        if value is not None:
            raise UsageError("--batch reads its requests from FILE; it takes no %s" % flag,
                             hint="put each request on its own line of the batch file")
    for flag, value in (("--submit-only", args.submit_only), ("--poll-once", args.poll_once),
                        ("--cancel", args.cancel), ("--list", args.list)):
        if value:
            raise UsageError("%s does not work with --batch" % flag,
                             hint="a batch is resumable: run the same --batch command again to continue it")
    if args.output and outputs.names_file(args.output):
        raise UsageError("with --batch, --output is a directory, not a file name: %s" % args.output,
                         hint='name each item\'s file with its own "output" field')
    if args.concurrency is not None and args.concurrency < 1:
        raise UsageError("--concurrency must be 1 or more", hint="for example --concurrency 2")


def _same_output_problems(items: List[Item]) -> None:
    taken: Dict[str, int] = {}
    for item in items:
        if item.plan is None or not item.output or not outputs.names_file(item.output):
            continue
        if item.output in taken:
            item.problems.append("output: the same file as item %d: %s" % (taken[item.output], item.output))
            item.plan = None
        else:
            taken[item.output] = item.index


def resume_command(ctx: Context, args) -> str:
    from .cli import build_parser, command_prefix

    defaults = build_parser()
    parts = command_prefix(ctx) + ["--batch", args.batch]
    for flag, name in (("--output", "output"), ("--model", "model"), ("--mode", "mode"),
                       ("--concurrency", "concurrency"), ("--poll-interval", "poll_interval"),
                       ("--timeout", "timeout")):
        value = getattr(args, name)
        if value is not None and value != defaults.get_default(name):
            parts += [flag, "%g" % value if isinstance(value, float) else str(value)]
    for flag, name in (("--skip-invalid", "skip_invalid"), ("--no-validate", "no_validate"),
                       ("--print-response", "print_response"), ("--quiet", "quiet")):
        if getattr(args, name):
            parts.append(flag)
    return " ".join(shlex.quote(p) for p in parts)


class Batch:
    def __init__(self, args, ctx: Context, console: Console, session: tasks.Session, finisher: tasks.Session,
                 items: List[Item], manifest: Manifest, out_dir: Path):
        self.args = args
        self.ctx = ctx
        self.console = console
        self.session = session
        self.finisher = finisher
        self.items = items
        self.manifest = manifest
        self.out_dir = out_dir
        self.book = journal.Journal(out_dir, ctx.wall_clock)
        self.queue: List[Item] = [item for item in items if item.plan is not None]
        self.running: List[Item] = []
        self.inflight: Dict[str, int] = collections.defaultdict(int)
        self.pacer = SubmitPacer()
        self.bucket = TokenBucket(QUERY_RATE, QUERY_BURST, ctx.clock())
        self.downloads: Dict[Future, Item] = {}
        self.pool: Optional[ThreadPoolExecutor] = None
        self.stop = threading.Event()  # set on Ctrl-C: every download removes its .part and ends
        self.uploaders: Dict[str, Callable[[List[media.LocalFile]], List[str]]] = {}
        self.uploaded: Dict[Tuple[Any, ...], str] = {}
        self.known_ids: Set[str] = set()
        self.submitting: Optional[str] = None
        self.throttled = False
        self.started = ctx.clock()
        self.timed_out = False
        self._live_at = 0.0
        self._warned_limits: Set[str] = set()
        self._api = None

    @property
    def api(self):
        if self._api is None:
            self._api = self.session.api
            self._api.transport = _Observed(self._api.transport, self._saw_429)
        return self._api

    # -- resuming from the manifest -----------------------------------------------------
    def restore(self) -> None:
        entries = self.manifest.entries()
        for entry in entries.values():
            self.known_ids.update(t for t in entry["task_ids"] if t)
        unresolved: List[Tuple[Item, Dict[str, Any]]] = []
        for item in list(self.queue):
            entry = entries.get((item.index, item.digest))
            if entry is None:
                older = [e.get("task_id") for (index, digest), e in entries.items()
                         if index == item.index and digest != item.digest and e.get("task_id")]
                if older:
                    self.console.warn("item %d changed since it was submitted as task %s; treating it as a new "
                                      "request" % (item.index, ", ".join(older)))
                continue
            if len(entry["task_ids"]) > 1:
                self.console.warn("item %d has several tasks in the manifest (%s); following the last"
                                  % (item.index, ", ".join(entry["task_ids"])))
            if not entry.get("finished") and self._saved_in_journal(item, entry):
                continue
            if entry.get("finished"):
                self.queue.remove(item)
                item.task_id, item.status = entry.get("task_id"), entry.get("status")
                item.video_url, item.local_path = entry.get("video_url"), entry.get("local_path")
                if item.status == "SUCCEEDED":
                    item.state = "done"
                    if item.local_path and not Path(item.local_path).exists():
                        self.console.warn("item %d: its video %s is no longer there (task %s)"
                                          % (item.index, item.local_path, item.task_id))
                else:
                    item.state, item.error = "failed", entry.get("error")
                continue
            if entry.get("task_id"):
                self.queue.remove(item)
                self._start_polling(item, entry["task_id"], entry.get("status") or "PENDING", soon=True)
            elif entry.get("intent_at") is not None:
                unresolved.append((item, entry))
        if self.running or any(item.state in ("done", "failed") for item in self.items if item.plan):
            self.console.always("Resuming the batch from %s: %d finished, %d running, %d to submit"
                                % (self.manifest.path, sum(i.state in ("done", "failed") for i in self.items),
                                   len(self.running), len(self.queue) - len(unresolved)))
        for item, entry in unresolved:
            started = float(entry["intent_at"])
            self.console.always("item %d: an earlier run was stopped while submitting it; checking the task "
                                "list before submitting anything" % item.index)
            self._resolve(item, started, until=started + tasks.SUBMIT_SPAN)

    # -- the main loop ------------------------------------------------------------------
    def go(self) -> None:
        deadline = self.started + max(self.args.timeout, 0.0)
        self.pool = ThreadPoolExecutor(max_workers=DOWNLOAD_WORKERS)
        interrupted = False
        try:
            while True:
                self._collect_downloads()
                if not (self.queue or self.running or self.downloads):
                    break
                now = self.ctx.clock()
                if now >= deadline:
                    self.timed_out = True
                    break
                self._submit_ready()
                self._poll_due()
                self._show()
                self._nap(deadline)
            while self.downloads:  # a download under way is finished, even after --timeout
                self._collect_downloads()
                if self.downloads:
                    self.ctx.sleep(0.05)
        except KeyboardInterrupt:
            interrupted = True
            self._stop_downloads()
            raise
        finally:
            if not interrupted:
                self.pool.shutdown(wait=False)
            self.console.end_live()
        for item in self.queue + self.running:
            item.state = "left"
            item.status = item.status or "NOT_SUBMITTED"

    def _stop_downloads(self) -> None:
        """Ctrl-C: stop the downloads (each removes its `.part`), wait briefly for them, and
        record the ones that had already finished; the stopped ones are downloaded next run."""
        self.stop.set()
        pending = list(self.downloads)
        if pending:
            wait(pending, timeout=STOP_WAIT)
        for future in pending:
            if future.done() and isinstance(future.exception(), DownloadStopped):
                item = self.downloads.pop(future)
                item.state = "left"
        try:
            self._collect_downloads()  # the ones saved before the stop
        except Exception:  # noqa: BLE001 - the interrupt is what gets reported
            pass
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _saved_in_journal(self, item: Item, entry: Dict[str, Any]) -> bool:
        """The journal has this item's video (saved, then the run stopped before the manifest
        said so): the item is done, nothing is downloaded again."""
        task_id = entry.get("task_id")
        saved = (self.book.find(task_id) or {}).get("local_path") if task_id else None
        if not saved or not Path(saved).is_file():
            return False
        self.queue.remove(item)
        item.task_id, item.status, item.state, item.local_path = task_id, "SUCCEEDED", "done", saved
        self.manifest.append("saved", item, task_id=task_id, local_path=saved,
                             response_path=(self.book.find(task_id) or {}).get("response_path"))
        return True

    def _nap(self, deadline: float) -> None:
        now = self.ctx.clock()
        wake = min(deadline, now + TICK)
        if self.running:
            wake = min(wake, max(min(i.next_poll for i in self.running), self.bucket.next_time(now)))
        for item in self.queue:  # an item waiting to look its task up again wakes at that moment
            if item.recheck_from is not None:
                wake = min(wake, item.recheck_at)
        for model in {i.plan.model for i in self.queue if i.recheck_from is None}:
            if self.inflight[model] < self._limit(model):
                wake = min(wake, self.pacer.next_time(model, now))
        if self.downloads:
            wake = min(wake, now + 0.05)
        if wake > now:
            self.ctx.sleep(wake - now)

    # -- submitting ---------------------------------------------------------------------
    def _limit(self, model: str) -> int:
        documented = catalog.limits(model)[1]
        if self.args.concurrency is None:
            return documented
        if self.args.concurrency > documented and model not in self._warned_limits:
            self._warned_limits.add(model)
            self.console.warn("--concurrency %d is above %s's documented limit of %d running tasks; the "
                              "extra tasks wait PENDING on the service" % (self.args.concurrency, model, documented))
        return self.args.concurrency

    def _submit_ready(self) -> None:
        for item in list(self.queue):
            if item.recheck_from is not None:
                if self.ctx.clock() >= item.recheck_at:
                    started, item.recheck_from = item.recheck_from, None
                    self._resolve(item, started, until=started + tasks.SUBMIT_SPAN)
                continue  # submitted (if still queued) on a later pass, after the pacer's say
            model = item.plan.model
            if self.inflight[model] >= self._limit(model):
                continue
            now = self.ctx.clock()
            if self.pacer.next_time(model, now) > now:
                continue
            self._submit(item)

    def _submit(self, item: Item) -> None:
        plan = item.plan
        try:
            request = plan.request
            home = media.home_of(self.ctx.environ)  # the same files validation and the digest saw
            if media.local_files(request, self.ctx.cwd, home):
                request = media.resolved(request, self.ctx.cwd, self._uploader(plan.model), home)
            body = payload.build(request, plan.model, plan.mode).body
        except CliError as exc:  # nothing was created: a later run tries again
            self.queue.remove(item)
            self._fail(item, "NOT_SUBMITTED", "upload failed: " + exc.message, exc.hint)
            return
        started = self.ctx.wall_clock()
        self.manifest.append("intent", item, model=plan.model, mode=plan.mode, started=round(started, 3))
        self.pacer.record(plan.model, self.ctx.clock())
        self.submitting, self.throttled = plan.model, False
        try:
            document = self.api.submit(plan.built.route, body, payload.has_oss_url(body))
        except AmbiguousSubmit as exc:
            self.submitting = None
            item.ambiguous += 1
            self.console.always("item %d: the submit got no clear answer (%s); checking the task list..."
                                % (item.index, exc))
            self._resolve(item, started, until=None)
            return
        except ApiError as exc:
            self.manifest.append("not_created", item, error=exc.message)
            if exc.status == 429:  # refused, so nothing was created: stay queued (the pacer slowed down)
                self.console.info("item %d: still rate limited; it stays in the queue" % item.index)
                return
            if exc.status == 401:
                raise
            self.queue.remove(item)
            self._fail(item, "SUBMIT_FAILED", exc.message, exc.hint)
            return
        except CliError as exc:  # not sent (network): nothing was created
            self.manifest.append("not_created", item, error=exc.message)
            self.queue.remove(item)
            self._fail(item, "NOT_SUBMITTED", exc.message, exc.hint)
            return
        finally:
            self.submitting = None
        self.pacer.accepted(plan.model)
        self._adopt(item, document["output"]["task_id"], started, adopted=False)

    def _adopt(self, item: Item, task_id: str, started: float, adopted: bool) -> None:
        plan = item.plan
        self.manifest.append("submitted", item, task_id=task_id, model=plan.model, mode=plan.mode,
                             submitted_at=round(started, 3), adopted=adopted or None)
        self.known_ids.add(task_id)
        try:
            self.book.append("submitted", task_id, submitted_at=round(started, 3), mode=plan.mode,
                             model=plan.model, request_digest=item.digest, output=item.output,
                             output_dir=str(self.out_dir), batch=str(self.manifest.path), batch_item=item.index,
                             **journal.request_fields(plan.request, plan.built.body, self.ctx.cwd,
                                                      media.home_of(self.ctx.environ)))
        except OSError:
            pass  # the manifest has it; the journal is a convenience
        if item in self.queue:
            self.queue.remove(item)
        self._start_polling(item, task_id, "PENDING", soon=False)
        line = "item %d: %s task %s (%s)" % (item.index, "found" if adopted else "submitted", task_id, plan.model)
        if self.ctx.interactive:
            self._changed(item, line)
        else:
            self.console.always(line)  # a paid task's id is printed even with --quiet

    def _resolve(self, item: Item, started: float, until: Optional[float]) -> None:
        """A create call may have made a task: adopt it if the task list shows exactly one."""
        model = item.plan.model
        try:
            candidates = self.session._ambiguous_candidates(model, started, until=until, exclude=self.known_ids)
        except CliError as exc:
            self.queue.remove(item)
            self._fail(item, "AMBIGUOUS", exc.message, exc.hint)
            return
        foreign = len(candidates) == 1 and self.session.others_task(candidates[0]["task_id"], item.plan)
        if len(candidates) == 1 and not foreign:
            self._adopt(item, candidates[0]["task_id"], started, adopted=True)
            return
        if not candidates and item.ambiguous <= 1:
            young = tasks.SETTLE - (self.ctx.wall_clock() - started)
            if young > 0:
                # A new task can take a while to be listed: look once more before paying again.
                item.recheck_from, item.recheck_at = started, self.ctx.clock() + young
                self.console.info("item %d: no task is listed yet; checking again in %.0fs before submitting"
                                  % (item.index, young))
                return
            self.manifest.append("not_created", item, error="the task list shows no task from that submit")
            self.console.info("item %d: no task was created; it goes back in the queue" % item.index)
            return
        self.queue.remove(item)
        if not candidates:
            self._fail(item, "NOT_SUBMITTED", "the submit got no answer twice and no task was created",
                       "check the network, then run the same command again")
            return
        ids = ", ".join("%s (%s)" % (t.get("task_id"), t.get("status")) for t in candidates)
        if foreign:
            self._fail(item, "AMBIGUOUS", "the submit got no answer; the one task of %s created around then, %s, "
                       "has another prompt (another client's?)" % (model, ids),
                       "if it is this item's, follow it with --task-id ID; otherwise run the same command again")
            return
        self._fail(item, "AMBIGUOUS", "the submit got no answer and %d tasks of %s were created around then: %s"
                   % (len(candidates), model, ids),
                   "one of them may be this item's: follow it with --task-id ID; the batch will not resubmit "
                   "this item while the question stands")

    def _uploader(self, model: str) -> Callable[[List[media.LocalFile]], List[str]]:
        """Upload each (model, file) once for the whole batch."""
        if model not in self.uploaders:
            self.uploaders[model] = uploader_for(self.ctx, self.console, self.api, model)
        upload_all = self.uploaders[model]

        def upload(files: List[media.LocalFile]) -> List[str]:
            keys = []
            for item in files:
                stat = item.path.stat()
                keys.append((model, str(item.path.resolve()), stat.st_size, stat.st_mtime_ns))
            todo: Dict[Tuple[Any, ...], media.LocalFile] = {}
            for key, item in zip(keys, files):
                if key not in self.uploaded and key not in todo:
                    todo[key] = item
            if todo:
                self.uploaded.update(zip(todo.keys(), upload_all(list(todo.values()))))
            return [self.uploaded[key] for key in keys]

        return upload

    def _saw_429(self, method: str, url: str) -> None:
        now = self.ctx.clock()
        if method == "POST" and self.submitting is not None:
            if self.throttled:  # once per submit call: the API's own retries already wait
                return
            self.throttled = True
            pause = self.pacer.throttled(self.submitting, now)
            self.console.info("Rate limited (HTTP 429) submitting to %s: slowing the batch down (submits "
                              "paused %.0fs, rate now %.2g/s)" % (self.submitting, pause,
                                                                  self.pacer.rate(self.submitting)))
        elif method == "GET":
            self.bucket.paused_until = max(self.bucket.paused_until, now + BACKOFF_FIRST)

    # -- polling ------------------------------------------------------------------------
    def _start_polling(self, item: Item, task_id: str, status: str, soon: bool) -> None:
        item.task_id, item.status, item.state = task_id, status, "running"
        item.schedule = poll.delays(max(self.args.poll_interval, 0.01))
        item.next_poll = self.ctx.clock() + (0.0 if soon else next(item.schedule))
        self.running.append(item)
        self.inflight[item.plan.model] += 1

    def _poll_due(self) -> None:
        now = self.ctx.clock()
        for item in sorted((i for i in self.running if i.next_poll <= now), key=lambda i: i.next_poll):
            if not self.bucket.take(self.ctx.clock()):
                return
            try:
                task = self.api.get_task(item.task_id)
            except ApiError as exc:
                if exc.status == 401:
                    raise
                self.console.info("item %d: status check failed (%s); trying again later" % (item.index, exc.message))
                item.next_poll = self.ctx.clock() + next(item.schedule)
                continue
            self._observe(item, task, poll.status_of(task))
            item.next_poll = self.ctx.clock() + next(item.schedule)

    def _observe(self, item: Item, task: Dict[str, Any], status: str) -> None:
        if status != item.status:
            self.manifest.append("status", item, task_id=item.task_id, status=status)
            try:  # the task journal too: single runs and --list read it
                self.book.append("status", item.task_id, status=status, **journal.failure_fields(task))
            except OSError:
                pass
            item.status = status
            if status not in poll.TERMINAL:
                self._changed(item, status)
        if status not in poll.TERMINAL:
            return
        self.running.remove(item)
        self.inflight[item.plan.model] -= 1
        if status == "SUCCEEDED":
            item.state = "downloading"
            item.video_url = tasks._video_url(task.get("output") or {})
            self.downloads[self.pool.submit(self._download, item, task)] = item
            return
        try:  # _finish explains a failed task (message and hint) by raising
            self.finisher._finish(task, item.task_id, item.plan.mode, item.plan.model, item.output, self.book)
            message, hint = "task %s ended %s" % (item.task_id, status), None
        except CliError as exc:
            message, hint = exc.message, exc.hint
        self.manifest.append("failed", item, task_id=item.task_id, status=status, error=message)
        self._fail(item, status, message, hint)

    def _download(self, item: Item, task: Dict[str, Any]) -> Tuple[bool, Optional[str], Optional[str]]:
        """In a worker thread: save the video and response with run.py's _finish (raises
        DownloadStopped once Ctrl-C set the stop flag)."""
        try:
            self.finisher._finish(task, item.task_id, item.plan.mode, item.plan.model, item.output, self.book,
                                  stop=self.stop)
        except CliError as exc:
            return False, exc.message, exc.hint
        saved = self.book.find(item.task_id) or {}
        return True, saved.get("local_path"), saved.get("response_path")

    def _collect_downloads(self) -> None:
        for future in [f for f in self.downloads if f.done()]:
            item = self.downloads.pop(future)
            try:
                ok, first, second = future.result()
            except Exception as exc:  # noqa: BLE001 - a bug in one download must not lose the others
                ok, first, second = False, "download failed: %s" % exc, None
            if ok:
                item.state, item.local_path = "done", first
                self.manifest.append("saved", item, task_id=item.task_id, local_path=first, response_path=second,
                                     video_url=item.video_url)
                self._changed(item, "saved %s" % first)
            else:
                self.manifest.append("download_failed", item, task_id=item.task_id, error=first)
                self._fail(item, "SUCCEEDED", first or "download failed",
                           (second + "; " if second else "") + "run the same command again to retry the download")

    # -- reporting ----------------------------------------------------------------------
    def _fail(self, item: Item, status: str, message: str, hint: Optional[str] = None) -> None:
        item.state, item.status, item.error = "failed", status, message
        self._changed(item, "failed: %s%s" % (message, " (hint: %s)" % hint if hint else ""))

    def _changed(self, item: Item, what: str) -> None:
        if not self.ctx.interactive:
            self.console.info("item %d: %s" % (item.index, what))
        self._show(force=True)

    def _counts(self) -> Dict[str, int]:
        counts = collections.Counter(item.state for item in self.items)
        return {"running": counts["running"] + counts["downloading"], "done": counts["done"],
                "failed": counts["failed"]}

    def _show(self, force: bool = False) -> None:
        if not self.ctx.interactive:
            return
        now = self.ctx.clock()
        if not force and now - self._live_at < TICK:
            return
        self._live_at = now
        c = self._counts()
        self.console.live("Batch [%ds]: queued %d | running %d | done %d | failed %d"
                          % (now - self.started, len(self.queue), c["running"], c["done"], c["failed"]))

    def report(self, batch_path: Path) -> int:
        elapsed = self.ctx.clock() - self.started
        gallery.refresh(self.out_dir, self.console.warn, self.console.redactor.secrets, self.ctx.wall_clock)
        done = [i for i in self.items if i.state == "done"]
        failed = [i for i in self.items if i.state == "failed"]
        left = [i for i in self.items if i.state not in ("done", "failed")]
        for item in done:
            item.status = "SUCCEEDED"
        self.console.info(self.console.table(
            ([str(i.index), i.status or "", i.model or "?", i.task_id or "-",
              (i.local_path or "") if i.state == "done" else _short(i.error or "not finished")]
             for i in self.items),
            ("item", "status", "model", "task id", "local file / error")))
        self.console.always("Batch %s: %d succeeded, %d failed, %d not finished in %.1fs (manifest: %s)"
                            % (batch_path.name, len(done), len(failed), len(left), elapsed, self.manifest.path))
        if left:
            self.console.always("%s; resume with: %s" % (
                "--timeout reached" if self.timed_out else "not finished", resume_command(self.ctx, self.args)))
        if self.args.print_response:
            self.console.result({"batch": str(batch_path), "manifest": str(self.manifest.path),
                                 "output_dir": str(self.out_dir), "succeeded": len(done), "failed": len(failed),
                                 "unfinished": len(left), "elapsed_seconds": round(elapsed, 3),
                                 "items": [i.result() for i in self.items]})
        if left:
            return EXIT_PENDING
        return EXIT_FAILED if failed else EXIT_OK


def _short(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
