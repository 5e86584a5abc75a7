"""The batch command (``--batch FILE``): many requests in one resumable run, scheduling only.

Each task's life is the tasks package's; this module decides when each item is submitted,
polled and downloaded.

FILE is JSONL (one flat request per line) or a JSON array of them. Each request may name
its own ``model``, ``mode`` and ``output`` (a file name inside ``--output``).

- Every item is planned and validated up front with the single-request code
  (``tasks.plan.make_plan``); one invalid item stops the batch before anything is sent, unless
  ``--skip-invalid``.
- Submissions follow each model's submit rate and concurrency limit from the catalog
  (dashscope-api.md §6; ``--concurrency`` overrides the limit). A 429 pauses every submit
  and halves that model's rate, which then earns its way back; the item is never failed
  for it (a 429 proves no task was created).
- One poller checks all running tasks, each on the ``tasks.follow.delays`` schedule, through a
  token bucket that keeps task queries under the account's 20 per second.
- Local files are uploaded once per (model, file): temporary oss:// URLs are bound to
  the model they were uploaded for.
- The manifest ``<batch name>.manifest.jsonl`` in the output directory records the intent
  to submit an item, fsynced before the create call, and its task id the moment it exists
  (fsynced within about a second), then its status, local file or error. Running the same command again
  resumes: finished items are skipped, running ones polled, only never-created ones
  submitted. An interrupted or unanswered submit is resolved through the task list
  (``tasks.recover``), never resubmitted blindly.
- For a shell that is killed after a few minutes (an agent's), the run splits in two:
  ``--submit-only`` submits every item (paced and journaled as above, not polled) and exits 0
  with the task ids; ``--poll-once`` submits nothing, checks every submitted item once,
  downloads what is done and exits 2 while any is unfinished, else 1 if any failed, else 0.
  Both resume from the same manifest, so no interleaving of the two submits an item twice.
- Item identity is a digest of the item (its mode, model and fields, "output" aside) and its
  occurrence among identical items, never its line number: inserting, removing or reordering
  lines never resubmits a finished item, and an edited item is a new request (with a warning).
"""
from __future__ import annotations

import collections
import functools
import json
import queue
import threading
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Set, Tuple

from .. import catalog, config, media, payload
from ..console import Console
from ..context import Context
from ..errors import EXIT_FAILED, EXIT_OK, EXIT_PENDING, EXIT_USAGE, ApiError, CliError, UsageError, ValidationFailed
from ..hints import batch_resume_command
from ..options import Options
from ..outcome import Outcome
from ..store import gallery, journal, outputs
from ..store.manifest import GROUP_WINDOW, Manifest, item_keys, manifest_path
from ..tasks import Runtime, TaskRef, recover
from ..tasks.finish import describe_failure, finish, video_url_of
from ..tasks.follow import TERMINAL, delays, status_of
from ..tasks.pacing import BACKOFF_FIRST, QUERY_BURST, QUERY_RATE, SubmitPacer, TokenBucket
from ..tasks.plan import Plan, make_plan, sent_prompt
from ..tasks.submit import PortraitRefused, check_portrait
from .common import connect, open_journal, update_check

DOWNLOAD_WORKERS = 2  # downloads under way at once
STOP_WAIT = 2.0  # seconds (real) Ctrl-C waits for the downloads to notice the stop flag
TICK = 0.25  # longest nap of the main loop (live line refresh)


class Lanes(Executor):
    """Up to `count` download threads sharing one backlog. A download goes to the thread that
    finished last, so while downloads do not overlap (the usual case) one warm thread does them
    all: a pool's threads take turns, and each turn wakes a cold one (~0.2 ms more CPU per item
    in bench row 6). Another thread starts only when a download would otherwise wait, and a
    waiting download goes to whichever thread frees up first, never behind a long one."""

    def __init__(self, count: int):
        self._count = count
        self._lock = threading.Lock()
        self._idle: List["queue.SimpleQueue[Any]"] = []  # mailboxes of idle threads, the latest last
        self._backlog: Deque[Tuple[Future, Callable[[], Any]]] = collections.deque()
        self._threads: List[threading.Thread] = []
        self._closed = False

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        job = (future, functools.partial(fn, *args, **kwargs))
        with self._lock:
            if self._closed:
                raise RuntimeError("the downloads were shut down")
            if self._idle:
                self._idle.pop().put(job)
            elif len(self._threads) < self._count:
                mailbox: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
                mailbox.put(job)
                # A daemon: at exit the batch has waited for its downloads (or Ctrl-C stopped them).
                thread = threading.Thread(target=self._work, args=(mailbox,), daemon=True,
                                          name="download-%d" % (len(self._threads) + 1))
                self._threads.append(thread)
                thread.start()
            else:
                self._backlog.append(job)
        return future

    def _work(self, mailbox: "queue.SimpleQueue[Any]") -> None:
        while True:
            job = mailbox.get()
            if job is None:
                return
            future, call = job
            done: Optional[Tuple[bool, Any]] = None
            if future.set_running_or_notify_cancel():
                try:
                    done = (True, call())
                except BaseException as exc:  # noqa: BLE001 - the future carries it to the batch
                    done = (False, exc)
            with self._lock:  # idle again before the caller hears of the result: its next download comes here
                if self._backlog:
                    mailbox.put(self._backlog.popleft())
                elif self._closed:
                    mailbox.put(None)
                else:
                    self._idle.append(mailbox)
            if done is not None:
                if done[0]:
                    future.set_result(done[1])
                else:
                    future.set_exception(done[1])

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No new downloads; waiting ones are cancelled (cancel_futures) or still run; `wait`
        joins the threads."""
        with self._lock:
            self._closed = True
            if cancel_futures:
                for future, _ in self._backlog:
                    future.cancel()
                self._backlog.clear()
            for mailbox in self._idle:
                mailbox.put(None)
            self._idle.clear()
            threads = list(self._threads)
        if wait:
            for thread in threads:
                thread.join()


# -- items --------------------------------------------------------------------------------
@dataclass(eq=False)  # items are compared by identity: list/set operations stay cheap
class Item:
    index: int  # 1-based position in the batch file
    raw: Any
    digest: str = ""
    key: str = ""  # the manifest's name for it: digest#occurrence
    plan: Optional[Plan] = None
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
    unconfirmed: Optional[recover.Decision] = None  # listed tasks that may be this item's, read again then
    checked: bool = False  # --poll-once: its one status check of this run is done
    queued: bool = False  # in Batch.queue (waiting to be submitted)

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


def plan_item(options: Options, ctx: Context, console: Console, index: int, raw: Any, problem: Optional[str],
              out_dir: Path, checked: Set[str]) -> Item:
    """One line of the batch file planned (or its problems listed). `checked`: the output folders
    this planning pass has already found writable."""
    item = Item(index, raw)
    if problem or not isinstance(raw, dict):
        item.problems = [problem or "must be a JSON object, got %s" % type(raw).__name__]
        item.digest = journal.request_digest(None, None, raw)
        return item
    mode = raw.get("mode") or options.mode
    if mode is not None and mode not in catalog.MODES:
        item.problems.append("mode: %r is not a mode; allowed: %s" % (mode, ", ".join(catalog.MODES)))
        mode = None
    try:  # the item's own model wins over --model
        item.plan = make_plan(raw, ctx, _Prefixed(console, "item %d: " % index), model=raw.get("model") or options.model,
                              mode=mode, check=not options.no_validate)
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
            folder = str(Path(item.output).parent)
            if folder not in checked:  # planning takes milliseconds: each folder is resolved once
                outputs.check_writable_location(Path(folder))
                checked.add(folder)
        except UsageError as exc:
            item.problems.append("output: " + exc.message)
    else:
        item.digest = journal.request_digest(None, None, raw)
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


# -- the run ------------------------------------------------------------------------------
def run(options: Options, ctx: Context, console: Console) -> Outcome:
    check_flags(options)
    config.load_dotenv(ctx)  # .env may set the region, which decides regional model ids
    batch_path = Path(options.batch or "").expanduser()
    batch_path = batch_path if batch_path.is_absolute() else ctx.cwd / batch_path
    out_dir = outputs.output_dir(options.output, ctx.cwd)
    checked: Set[str] = set()
    items = [plan_item(options, ctx, console, index, raw, problem, out_dir, checked)
             for index, (raw, problem) in enumerate(read_items(batch_path), 1)]
    _same_output_problems(items)
    invalid = [item for item in items if item.problems]
    if invalid and not options.skip_invalid:
        console.always("Nothing was sent: %d of %d requests are invalid (pass --skip-invalid to submit the "
                       "valid ones)" % (len(invalid), len(items)))
        raise ValidationFailed(["item %d: %s" % (item.index, p) for item in invalid for p in item.problems])
    for item in invalid:
        item.state, item.status = "failed", "INVALID"
        item.error = "; ".join(item.problems)
        console.warn("item %d is invalid and will not be submitted: %s" % (item.index, item.error))
    if options.dry_run:
        return Outcome(EXIT_OK if not invalid else EXIT_USAGE, {"batch": str(batch_path), "items": [
            {"index": item.index, "mode": item.mode, "model": item.model, "route": item.plan.built.route,
             "body": item.plan.built.body, "output": item.output} if item.plan else
            {"index": item.index, "error": item.error} for item in items]}, always_json=True)
    outputs.check_writable_location(out_dir)
    for item, key in zip(items, item_keys(item.digest for item in items)):
        item.key = key
    manifest = Manifest(manifest_path(out_dir, batch_path), ctx.wall_clock, redact=console.redactor.secrets,
                        warn=console.warn)
    # One run per manifest: two runs of the same batch would each submit the items the
    # other has not recorded yet, and pay twice for them.
    lock = manifest.lock()
    try:
        held = lock.try_acquire()
    except OSError as exc:
        console.warn("could not lock %s (%s); do not run this batch twice at once" % (lock.path, exc.strerror or exc))
        held = True
    if not held:
        raise UsageError("another run is using %s; nothing was sent" % manifest.path,
                         hint="let it finish (or stop it), then run the same command again to resume")
    try:
        return _run_locked(options, ctx, console, items, manifest, out_dir, batch_path)
    finally:
        lock.release()


def _run_locked(options: Options, ctx: Context, console: Console, items: List[Item], manifest: Manifest,
                out_dir: Path, batch_path: Path) -> Outcome:
    runner = Batch(options, ctx, console, items, manifest, out_dir)
    if any(item.plan for item in items):
        runner.connect()  # a missing key fails here, before anything is sent
        update_check(ctx)
        manifest.append("run", file=str(batch_path), items=len(items))
        runner.restore()
    try:
        runner.go()
    except KeyboardInterrupt:
        console.end_live()
        console.always("Stopped. Submitted tasks keep running (they are not canceled).\nResume with: %s"
                       % batch_resume_command(ctx, options))
        raise
    except CliError as exc:
        console.end_live()
        raise CliError(exc.message, hint=(exc.hint + "; " if exc.hint else "") + "then resume with: "
                       + batch_resume_command(ctx, options), code=exc.code) from None
    return runner.report(batch_path)


def check_flags(options: Options) -> None:
    """The flags --batch cannot honour, refused before anything is read."""
    for flag, value in (("--request", options.request), ("--file", options.file), ("--task-id", options.task_id)):
        if value is not None:
            raise UsageError("--batch reads its requests from FILE; it takes no %s" % flag,
                             hint="put each request on its own line of the batch file")
    for flag, value in (("--cancel", options.cancel), ("--list", options.list)):
        if value:
            raise UsageError("%s does not work with --batch" % flag,
                             hint="a batch is resumable: run the same --batch command again to continue it")
    if options.submit_only and options.poll_once:
        raise UsageError("--submit-only and --poll-once are the two halves of a batch run; pick one",
                         hint="first --batch FILE --submit-only, then --batch FILE --poll-once until it exits 0")
    if options.output and outputs.names_file(options.output):
        raise UsageError("with --batch, --output is a directory, not a file name: %s" % options.output,
                         hint='name each item\'s file with its own "output" field')
    if options.concurrency is not None and options.concurrency < 1:
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


class Batch:
    def __init__(self, options: Options, ctx: Context, console: Console, items: List[Item], manifest: Manifest,
                 out_dir: Path):
        self.options = options
        self.ctx = ctx
        self.console = console
        self.items = items
        self.manifest = manifest
        self.out_dir = out_dir
        self.book = open_journal(out_dir, ctx, console)
        self.queue: List[Item] = [item for item in items if item.plan is not None]
        # Kept beside the queue so a scheduling pass costs the same at 20 items and 20 000:
        self.queued_models: Dict[str, int] = collections.Counter(item.plan.model for item in self.queue)
        self.rechecking: Set[Item] = set()  # queued items waiting to look an unanswered submit up again
        for item in self.queue:
            item.queued = True
        self.running: List[Item] = []
        self.inflight: Dict[str, int] = collections.defaultdict(int)
        self.pacer = SubmitPacer()
        self.bucket = TokenBucket(QUERY_RATE, QUERY_BURST, ctx.clock())
        self.downloads: Dict[Future, Item] = {}
        self.pool: Optional[Lanes] = None
        self.stop = threading.Event()  # set on Ctrl-C: every download ends, keeping its .part to resume
        self.uploaders: Dict[str, Callable[[List[media.LocalFile]], List[str]]] = {}
        self.uploaded: Dict[Tuple[Any, ...], str] = {}
        self.known_ids: Set[str] = set()
        self.submitting: Optional[str] = None
        self.throttled = False
        self.started = ctx.clock()
        self.timed_out = False
        self._live_at = 0.0
        self._warned_limits: Set[str] = set()
        self.api = None
        self.journal_tasks: Dict[str, Dict[str, Any]] = {}
        self.rt: Optional[Runtime] = None
        self.quiet_rt: Optional[Runtime] = None  # saving a result without per-task info lines

    def connect(self) -> None:
        """The API client (the key is checked here), reporting each 429 to the pacer."""
        self.api = connect(self.ctx, self.console)
        self.api.on_answer(lambda method, url, status: status == 429 and self._saw_429(method, url))
        self.rt = Runtime(self.ctx, self.console, self.api, self.book)
        # The batch reports each item itself; the API client, and so its retry notices, keep the real console.
        self.quiet_rt = self.rt._replace(console=self.console.quiet_twin())

    def _record(self, event: str, item: Item, **fields: Any) -> None:
        self.manifest.append(event, item.key, item.index, **fields)

    # -- resuming from the manifest -----------------------------------------------------
    def restore(self) -> None:
        entries = self.manifest.load()
        for entry in entries.values():
            self.known_ids.update(t for t in entry["task_ids"] if t)
        # Read once for the whole batch, not once per item.
        self.journal_tasks = self.book.find_many(e.get("task_id") for e in entries.values() if e.get("task_id"))
        changed = self.manifest.unclaimed(item.key for item in self.items)
        unresolved: List[Tuple[Item, Dict[str, Any]]] = []
        for item in list(self.queue):
            entry = entries.get(item.key)
            if entry is None:
                older = [e.get("task_id") for e in changed if e.get("index") == item.index and e.get("task_id")]
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
                self._dequeue(item)
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
                self._dequeue(item)
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
            self._resolve(item, started, until=started + recover.SUBMIT_SPAN)

    # -- the main loop ------------------------------------------------------------------
    def go(self) -> None:
        deadline = self.started + max(self.options.timeout, 0.0)
        self.pool = Lanes(DOWNLOAD_WORKERS)
        interrupted = False
        try:
            while True:
                self._collect_downloads()
                if self._finished():
                    break
                now = self.ctx.clock()
                if now >= deadline:
                    self.timed_out = True
                    break
                if not self.options.poll_once:
                    self._submit_ready()
                if not self.options.submit_only:
                    self._poll_due()
                self._show()
                self._nap(deadline)
            while self.downloads:  # a download under way is finished, even after --timeout
                self._collect_downloads()
                self.manifest.sync(after=GROUP_WINDOW)
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
            try:
                self.manifest.sync()
            except OSError as exc:
                self.console.warn("could not sync the manifest %s (%s)" % (self.manifest.path, exc.strerror or exc))
        for item in self.queue + self.running:
            item.state = "left"
            item.status = item.status or "NOT_SUBMITTED"

    def _finished(self) -> bool:
        """Nothing left for this run: --submit-only ends once every item is submitted, --poll-once
        once every submitted item was checked and its download is done."""
        if self.downloads:
            return False
        if self.options.submit_only:
            return not self.queue
        if self.options.poll_once:
            return all(item.checked for item in self.running)
        return not (self.queue or self.running)

    def _stop_downloads(self) -> None:
        """Ctrl-C: stop the downloads (each keeps its `.part` for the next run), wait briefly for them, and
        record the ones that had already finished; the stopped ones are downloaded next run."""
        self.stop.set()
        self.pool.shutdown(wait=False, cancel_futures=True)  # one not started yet never starts
        pending = list(self.downloads)
        if pending:
            wait(pending, timeout=STOP_WAIT)
        for future in pending:
            if future.cancelled() or (future.done() and _stopped(future.exception())):
                item = self.downloads.pop(future)
                item.state = "left"
        try:
            self._collect_downloads()  # the ones saved before the stop
        except Exception:  # noqa: BLE001 - the interrupt is what gets reported
            pass

    def _saved_in_journal(self, item: Item, entry: Dict[str, Any]) -> bool:
        """The journal has this item's video (saved, then the run stopped before the manifest
        said so): the item is done, nothing is downloaded again."""
        task_id = entry.get("task_id")
        known = self.journal_tasks.get(task_id) or {} if task_id else {}
        saved = known.get("local_path")
        if not saved or not Path(saved).is_file():
            return False
        self._dequeue(item)
        item.task_id, item.status, item.state, item.local_path = task_id, "SUCCEEDED", "done", saved
        self._record("saved", item, task_id=task_id, local_path=saved, response_path=known.get("response_path"))
        return True

    def _nap(self, deadline: float) -> None:
        now = self.ctx.clock()
        wake = min(deadline, now + TICK)
        due = [i.next_poll for i in self.running if not (self.options.poll_once and i.checked)]
        if due and not self.options.submit_only:
            wake = min(wake, max(min(due), self.bucket.next_time(now)))
        for item in self.rechecking:  # an item waiting to look its task up again wakes at that moment
            wake = min(wake, item.recheck_at)
        rechecking = collections.Counter(item.plan.model for item in self.rechecking) if self.rechecking else {}
        for model, queued in self.queued_models.items():
            if queued > rechecking.get(model, 0) and self._has_room(model):  # an item it could submit
                wake = min(wake, self.pacer.next_time(model, now))
        if self.downloads:
            wake = min(wake, now + 0.05)
        # Task ids and saved videos reach the disk with the next intent's fsync, or here once they are
        # GROUP_WINDOW old (a nap is TICK at most): while items are submitted, no fsync of its own.
        self.manifest.sync(after=GROUP_WINDOW)
        if wake > now:
            self.ctx.sleep(wake - now)

    # -- submitting ---------------------------------------------------------------------
    def _limit(self, model: str) -> int:
        documented = catalog.limits(model)[1]
        wanted = self.options.concurrency
        if wanted is None:
            return documented
        if wanted > documented and model not in self._warned_limits:
            self._warned_limits.add(model)
            self.console.warn("--concurrency %d is above %s's documented limit of %d running tasks; the "
                              "extra tasks wait PENDING on the service" % (wanted, model, documented))
        return wanted

    def _has_room(self, model: str) -> bool:
        """Whether one more of this model's tasks may be submitted now. --submit-only does not
        poll, so it cannot see tasks end: it submits at the model's rate and the service queues
        what is over the running limit as PENDING."""
        return self.options.submit_only or self.inflight[model] < self._limit(model)

    def _submit_ready(self) -> None:
        for item in [i for i in self.rechecking if self.ctx.clock() >= i.recheck_at]:
            self._look_again(item)
        # In queue order per model; once every model with queued items is held back (running
        # limit or rate), the rest of the queue waits too, so the pass stops there.
        held: Set[str] = set()
        for item in list(self.queue):
            if len(held) >= len(self.queued_models):
                break
            model = item.plan.model
            if item.recheck_from is not None or model in held:
                continue  # a rechecking item is submitted on a later pass, after its second look
            now = self.ctx.clock()
            if not self._has_room(model) or self.pacer.next_time(model, now) > now:
                held.add(model)
                continue
            self._submit(item)

    def _dequeue(self, item: Item) -> None:
        """Take an item off the queue (submitted, adopted or failed)."""
        if not item.queued:
            return
        item.queued = False
        self.queue.remove(item)
        self.rechecking.discard(item)
        self.queued_models[item.plan.model] -= 1
        if not self.queued_models[item.plan.model]:
            del self.queued_models[item.plan.model]

    def _submit(self, item: Item) -> None:
        plan = item.plan
        try:
            home = media.home_of(self.ctx.environ)  # the same files validation and the digest saw
            body = plan.built.body  # what planning built, unless local files become uploaded URLs
            if media.local_files(plan.request, self.ctx.cwd, home):
                request = media.resolved(plan.request, self.ctx.cwd, self._uploader(plan.model), home)
                body = payload.build(request, plan.model, plan.mode).body
            check_portrait(self.api, plan, body)
        except PortraitRefused as exc:  # no task: the same portrait would be refused again
            self._dequeue(item)
            self._fail(item, "PORTRAIT_REFUSED", exc.message, exc.hint)
            return
        except CliError as exc:  # nothing was created: a later run tries again
            self._dequeue(item)
            self._fail(item, "NOT_SUBMITTED", "upload failed: " + exc.message, exc.hint)
            return
        from ..net.api import AmbiguousSubmit

        started = self.ctx.wall_clock()
        self._record("intent", item, model=plan.model, mode=plan.mode, started=round(started, 3))
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
            self._record("not_created", item, error=exc.message)
            if exc.status == 429:  # refused, so nothing was created: stay queued (the pacer slowed down)
                self.console.info("item %d: still rate limited; it stays in the queue" % item.index)
                return
            if exc.status == 401:
                raise
            self._dequeue(item)
            self._fail(item, "SUBMIT_FAILED", exc.message, exc.hint)
            return
        except CliError as exc:  # not sent (network): nothing was created
            self._record("not_created", item, error=exc.message)
            self._dequeue(item)
            self._fail(item, "NOT_SUBMITTED", exc.message, exc.hint)
            return
        finally:
            self.submitting = None
        self.pacer.accepted(plan.model)
        self._adopt(item, document["output"]["task_id"], started, adopted=False)

    def _adopt(self, item: Item, task_id: str, started: float, adopted: bool) -> None:
        plan = item.plan
        self._record("submitted", item, task_id=task_id, model=plan.model, mode=plan.mode,
                             submitted_at=round(started, 3), adopted=adopted or None)
        self.known_ids.add(task_id)
        try:
            self.book.append("submitted", task_id, durable=False,  # the manifest holds it durably
                             submitted_at=round(started, 3), mode=plan.mode, model=plan.model,
                             request_digest=item.digest, output=item.output, output_dir=str(self.out_dir),
                             batch=str(self.manifest.path), batch_item=item.index,
                             **journal.request_fields(plan.request, plan.built.body, self.ctx.cwd,
                                                      media.home_of(self.ctx.environ)))
        except OSError:
            pass  # the manifest has it; the journal is a convenience
        self._dequeue(item)
        self._start_polling(item, task_id, "PENDING", soon=False)
        self._announce(item, "%s task %s (%s)" % ("found" if adopted else "submitted", task_id, plan.model))

    def _resolve(self, item: Item, started: float, until: Optional[float]) -> None:
        """A create call may have made a task: adopt the listed task that shows this item's prompt."""
        try:
            decision = recover.lookup(self.api, self.ctx, item.plan.model, sent_prompt(item.plan), started,
                                      until, exclude=self.known_ids)
        except CliError as exc:
            self._dequeue(item)
            self._fail(item, "AMBIGUOUS", exc.message, exc.hint)
            return
        self._decided(item, decision, started)

    def _look_again(self, item: Item) -> None:
        """The second look an unanswered submit was waiting for."""
        started, item.recheck_from = item.recheck_from, None
        pending, item.unconfirmed = item.unconfirmed, None
        self.rechecking.discard(item)
        if pending is None:
            self._resolve(item, started, until=started + recover.SUBMIT_SPAN)
            return
        try:
            decision = recover.recheck(self.api, pending, sent_prompt(item.plan), self.ctx.wall_clock() - started)
        except CliError as exc:
            self._dequeue(item)
            self._fail(item, "AMBIGUOUS", exc.message, exc.hint)
            return
        self._decided(item, decision, started)

    def _decided(self, item: Item, decision: recover.Decision, started: float) -> None:
        model = item.plan.model
        if decision.kind == recover.ADOPT:
            self._adopt(item, decision.task_id, started, adopted=True)
            return
        if decision.kind == recover.WAIT and decision.candidates:
            # Listed, but it shows no prompt until it finishes: never adopted unconfirmed.
            delay = self.options.poll_interval
            item.recheck_from, item.recheck_at, item.unconfirmed = started, self.ctx.clock() + delay, decision
            self.rechecking.add(item)
            self.console.info("item %d: task %s may be this item's; it is confirmed once the service shows its "
                              "prompt: checking again in %.0fs"
                              % (item.index, ", ".join(c.task_id for c in decision.candidates), delay))
            return
        nothing = decision.kind in (recover.WAIT, recover.NONE, recover.FOREIGN)
        if nothing and item.ambiguous <= 1:
            young = recover.SETTLE - (self.ctx.wall_clock() - started)
            if young > 0:
                # A new task can take a while to be listed: look once more before paying again.
                item.recheck_from, item.recheck_at = started, self.ctx.clock() + young
                self.rechecking.add(item)
                self.console.info("item %d: no task is listed yet; checking again in %.0fs before submitting"
                                  % (item.index, young))
                return
            self._record("not_created", item, error="the task list shows no task from that submit")
            self.console.info("item %d: no task was created; it goes back in the queue" % item.index)
            return
        self._dequeue(item)
        if nothing:
            self._fail(item, "NOT_SUBMITTED", "the submit got no answer twice and no task was created",
                       "check the network, then run the same command again")
            return
        ids = ", ".join("%s (%s)" % (c.task_id, c.status) for c in decision.candidates)
        self._fail(item, "AMBIGUOUS", "the submit got no answer and %d task(s) of %s created around then may be "
                   "this item's, with nothing that proves which: %s" % (len(decision.candidates), model, ids),
                   "one of them may be this item's: follow it with --task-id ID; the batch will not resubmit "
                   "this item while the question stands")

    def _uploader(self, model: str) -> Callable[[List[media.LocalFile]], List[str]]:
        """Upload each (model, file) once for the whole batch."""
        if model not in self.uploaders:
            from ..upload.router import uploader_for

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
        item.schedule = delays(max(self.options.poll_interval, 0.01))
        soon = soon or self.options.poll_once  # its one check of this run is not put off
        item.next_poll = self.ctx.clock() + (0.0 if soon else next(item.schedule))
        self.running.append(item)
        self.inflight[item.plan.model] += 1

    def _poll_due(self) -> None:
        now = self.ctx.clock()
        due = (i for i in self.running if i.next_poll <= now and not (self.options.poll_once and i.checked))
        for item in sorted(due, key=lambda i: i.next_poll):
            if not self.bucket.take(self.ctx.clock()):
                return
            item.checked = True
            try:
                task = self.api.get_task(item.task_id)
            except ApiError as exc:
                if exc.status == 401:
                    raise
                self.console.info("item %d: status check failed (%s); trying again later" % (item.index, exc.message))
                item.next_poll = self.ctx.clock() + next(item.schedule)
                continue
            self._observe(item, task, status_of(task))
            item.next_poll = self.ctx.clock() + next(item.schedule)

    def _observe(self, item: Item, task: Dict[str, Any], status: str) -> None:
        if status != item.status:
            # An end is recorded by the record that follows it (saved, download_failed, failed), and a
            # success reaches the task journal with its download ("downloading", "saved"): one line less
            # each per item, the same views (resuming polls a task whose end was not recorded again).
            if status not in TERMINAL:
                self._record("status", item, task_id=item.task_id, status=status)
            if status != "SUCCEEDED":
                self._journal_status(item, status, journal.failure_fields(task))
            item.status = status
            if status not in TERMINAL:
                self._changed(item, status)
        if status not in TERMINAL:
            return
        self.running.remove(item)
        self.inflight[item.plan.model] -= 1
        if status == "SUCCEEDED":
            item.state = "downloading"
            item.video_url = video_url_of(task.get("output") or {})
            self.downloads[self.pool.submit(self._download, item, task)] = item
            return
        message, hint = describe_failure(task, item.task_id, item.plan.model)
        self._record("failed", item, task_id=item.task_id, status=status, error=message)
        self._fail(item, status, message, hint)

    def _journal_status(self, item: Item, status: str, fields: Dict[str, Any]) -> None:
        try:  # the task journal too: single runs and --list read it
            self.book.append("status", item.task_id, status=status, **fields)
        except OSError:
            pass

    def _download(self, item: Item, task: Dict[str, Any]) -> Tuple[bool, Optional[str], Optional[str]]:
        """In a worker thread: save the video and response (raises DownloadStopped once Ctrl-C set
        the stop flag)."""
        if self.stop.is_set():  # Ctrl-C came first: no lock taken, no name claimed, nothing written
            from ..net.download import DownloadStopped

            raise DownloadStopped()
        ref = TaskRef(item.task_id, item.plan.mode, item.plan.model, item.output)
        try:
            saved = finish(self.quiet_rt, task, ref, stop=self.stop, batch_item=True)
        except CliError as exc:
            return False, exc.message, exc.hint
        return True, saved.local_path, saved.response_path

    def _collect_downloads(self) -> None:
        for future in [f for f in self.downloads if f.done()]:
            item = self.downloads.pop(future)
            try:
                ok, first, second = future.result()
            except Exception as exc:  # noqa: BLE001 - a bug in one download must not lose the others
                ok, first, second = False, "download failed: %s" % exc, None
            if ok:
                item.state, item.local_path = "done", first
                self._record("saved", item, task_id=item.task_id, local_path=first, response_path=second,
                             video_url=item.video_url)
                self._announce(item, "saved %s" % first)
            else:
                self._record("download_failed", item, task_id=item.task_id, status="SUCCEEDED", error=first)
                self._journal_status(item, "SUCCEEDED", {})  # --list: succeeded, not downloaded
                self._fail(item, "SUCCEEDED", first or "download failed",
                           (second + "; " if second else "") + "run the same command again to retry the download")

    # -- reporting ----------------------------------------------------------------------
    def _fail(self, item: Item, status: str, message: str, hint: Optional[str] = None) -> None:
        item.state, item.status, item.error = "failed", status, message
        self._changed(item, "failed: %s%s" % (message, " (hint: %s)" % hint if hint else ""))

    def _announce(self, item: Item, what: str) -> None:
        """What must survive --quiet (a paid task's id, where its video went): "item N: what" on
        stderr, or the live line redrawn in a terminal."""
        if self.ctx.interactive:
            self._show(force=True)
        else:
            self.console.always("item %d: %s" % (item.index, what))

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

    def report(self, batch_path: Path) -> Outcome:
        elapsed = self.ctx.clock() - self.started
        gallery.refresh(self.out_dir, self.console.warn, self.console.redactor.secrets, self.ctx.wall_clock)
        done = [i for i in self.items if i.state == "done"]
        failed = [i for i in self.items if i.state == "failed"]
        left = [i for i in self.items if i.state not in ("done", "failed")]
        unsubmitted = [i for i in left if not i.task_id]
        for item in done:
            item.status = "SUCCEEDED"
        if not self.console.quiet:  # (an info line: not built for --quiet)
            self.console.info(self.console.table(
                ([str(i.index), i.status or "", i.model or "?", i.task_id or "-",
                  (i.local_path or "") if i.state == "done" else _short(i.error or "not finished")]
                 for i in self.items),
                ("item", "status", "model", "task id", "local file / error")))
        document = {"batch": str(batch_path), "manifest": str(self.manifest.path), "output_dir": str(self.out_dir),
                    "succeeded": len(done), "failed": len(failed), "unfinished": len(left),
                    "elapsed_seconds": round(elapsed, 3), "items": [i.result() for i in self.items]}
        if self.options.submit_only:
            return self._submitted_report(batch_path, document, done, failed, left, unsubmitted)
        self.console.always("Batch %s: %d succeeded, %d failed, %d not finished in %.1fs (manifest: %s)"
                            % (batch_path.name, len(done), len(failed), len(left), elapsed, self.manifest.path))
        if self.options.poll_once and left:
            running = len(left) - len(unsubmitted)
            if running:
                self.console.always("%d still running; check again with: %s"
                                    % (running, batch_resume_command(self.ctx, self.options, "--poll-once")))
            if unsubmitted:
                self.console.always("%d not submitted yet; submit them with: %s"
                                    % (len(unsubmitted), batch_resume_command(self.ctx, self.options, "--submit-only")))
        elif left:
            self.console.always("%s; resume with: %s" % (
                "--timeout reached" if self.timed_out else "not finished",
                batch_resume_command(self.ctx, self.options)))
        return Outcome(EXIT_PENDING if left else EXIT_FAILED if failed else EXIT_OK, document)

    def _submitted_report(self, batch_path: Path, document: Dict[str, Any], done: List[Item], failed: List[Item],
                          left: List[Item], unsubmitted: List[Item]) -> Outcome:
        """--submit-only: every item's task id on stdout ("<item> <task id>" lines), what to run next on stderr.
        Exit 0 when every item has a task, 1 when any could not be submitted, 2 when the time ran out first."""
        submitted = [i for i in left if i.task_id]
        self.console.always("Batch %s: %d submitted and running, %d finished earlier, %d failed, %d not submitted "
                            "(manifest: %s)" % (batch_path.name, len(submitted), len(done), len(failed),
                                                len(unsubmitted), self.manifest.path))
        if unsubmitted:
            self.console.always("--timeout reached; submit the rest with: %s"
                                % batch_resume_command(self.ctx, self.options, "--submit-only"))
        if submitted:
            self.console.always("Check them (and download what is done) with: %s"
                                % batch_resume_command(self.ctx, self.options, "--poll-once"))
        ids = "\n".join("%d %s" % (i.index, i.task_id) for i in self.items if i.task_id) or None
        return Outcome(EXIT_PENDING if unsubmitted else EXIT_FAILED if failed else EXIT_OK, document, ids)


def _short(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _stopped(exc: Optional[BaseException]) -> bool:
    from ..net.download import DownloadStopped

    return isinstance(exc, DownloadStopped)
