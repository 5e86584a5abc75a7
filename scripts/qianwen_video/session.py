"""Sessions that talk to the service: generate, resume, poll once, cancel, and finish a task."""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any, Collection, Dict, List, Optional

from . import config, gallery, journal, media, outputs, payload, poll
from .api import AmbiguousSubmit, DashScope
from .cli import resume_command
from .console import Console
from .context import Context
from .download import DownloadFailed, DownloadStopped, download
from .errors import EXIT_OK, EXIT_PENDING, CliError, StillRunning, UsageError
from .run import Plan, _when, make_plan

SUBMIT_SPAN = 180.0  # seconds: a create call is answered (or abandoned) within this after it starts
CLOCK_SLACK = 60.0  # seconds of clock difference tolerated between this machine and the service
LOOKUP_TRIES = 3
LIST_MARGIN = 120.0  # seconds added on each side of the submit when reading the task list
LIST_ZONE_SHIFTS = (0.0, 8 * 3600.0)  # the list's times read as UTC, then as Beijing time (UTC+8)
SETTLE = 60.0  # seconds after a submit before "the task list shows nothing" is believed
DOWNLOAD_LOCK_WAIT = 1800.0  # seconds a run waits for another run downloading the same task
LOCK_WAIT = 120.0  # seconds a run waits for another run of the same output directory to submit
TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")
NOT_LISTED_YET = ("no task is listed yet; run the same command again in a minute: it checks once more "
                  "before submitting")


class NoTaskFound(CliError):
    """The ambiguous submit created nothing: the service lists no task for it."""

# -- sessions that talk to the service ----------------------------------------------------
class Session:
    def __init__(self, args, ctx: Context, console: Console):
        self.args = args
        self.ctx = ctx
        self.console = console
        self._api: Optional[DashScope] = None

    @property
    def api(self) -> DashScope:
        if self._api is None:
            config.load_dotenv(self.ctx)
            key = config.api_key(self.ctx)
            if config.is_token_plan_key(key):
                self.console.always(config.TOKEN_PLAN_WARNING)
            self._api = DashScope(self.ctx, self.console, key, config.endpoint(self.ctx).base_url)
        return self._api

    def _update_check(self) -> None:
        try:
            import gossamer  # scripts/ is on sys.path when run as video.py
        except ImportError:
            return
        gossamer.run(caller=str(self.ctx.script_path))

    # -- new task -----------------------------------------------------------------------
    def generate(self) -> int:
        plan = make_plan(self.args, self.ctx, self.console)
        outputs.check_writable_location(plan.out_dir)
        outputs.ensure_writable(plan.out_dir)
        api = self.api  # a missing key fails here, before anything is sent
        self._update_check()
        book = journal.Journal(plan.out_dir, self.ctx.wall_clock)
        home = media.home_of(self.ctx.environ)
        files = media.local_files(plan.request, self.ctx.cwd, home)
        digest = journal.request_digest(plan.mode, plan.model, plan.request, [f.path for f in files])
        earlier = None if self.args.force else book.recent_duplicate(digest)
        if earlier:
            return self._adopt_duplicate(earlier, plan, book)
        self.console.info("Mode: %s | Model: %s | Endpoint: %s" % (plan.mode, plan.model, plan.built.route))
        self.console.info("Cost: billed per second of video; see "
                          "https://platform.qianwenai.com/docs/developer-guides/getting-started/pricing")
        request = plan.request
        if files:
            from .upload_router import uploader_for

            request = media.resolved(plan.request, self.ctx.cwd,
                                     uploader_for(self.ctx, self.console, api, plan.model), home)
        body = payload.build(request, plan.model, plan.mode).body
        # One run at a time from here to the journaled task id: a second run of the same
        # request, started together with this one, then finds this run's task and follows it.
        lock = self._lock_journal(book)
        try:
            earlier = None if self.args.force else book.recent_duplicate(digest)
            if earlier:
                lock.release()
                return self._adopt_duplicate(earlier, plan, book)
            document = None
            pending = None if self.args.force else book.unresolved_intent(digest)
            if pending:
                document = self._recover_intent(plan, pending, book)
            if document is None:
                document = self._submit(plan, body, digest, book)
            task_id = document["output"]["task_id"]
            # The id goes to the screen first: if the journal cannot be written, it is still known.
            self.console.always("Task submitted: %s (mode %s, model %s)" % (task_id, plan.mode, plan.model))
            try:
                book.append("submitted", task_id,
                            submitted_at=round(document.get("_started", self.ctx.wall_clock()), 3),
                            mode=plan.mode, model=plan.model, request_digest=digest, output=plan.output,
                            output_dir=str(plan.out_dir), attempt=document.get("_attempt"),
                            adopted=True if document.get("adopted") else None,
                            **journal.request_fields(plan.request, plan.built.body, self.ctx.cwd, home))
            except OSError as exc:
                self.console.warn("could not record task %s in the journal %s (%s); keep the task id: resume "
                                  "with %s" % (task_id, book.path, exc.strerror or exc,
                                               resume_command(self.ctx, task_id, self.args.output)))
        finally:
            lock.release()
        if self.args.submit_only:
            if self.args.print_response:  # one JSON document, as the flag promises
                answer = {k: v for k, v in document.items() if not k.startswith("_")}
                self.console.result(self._document(answer, task_id, plan.mode, plan.model))
            else:
                self.console.plain(task_id)
            self.console.info("Check it with: %s" % resume_command(self.ctx, task_id, self.args.output, poll_once=True))
            return EXIT_OK
        return self._follow(task_id, plan.mode, plan.model, plan.output, book)

    def _lock_journal(self, book: journal.Journal) -> journal.FileLock:
        """The output directory's submit lock, waited for up to LOCK_WAIT seconds."""
        lock = journal.FileLock(book.path)
        try:
            if lock.try_acquire():
                return lock
            self.console.always("Another run is submitting to %s; waiting for it (up to %ds)..."
                                % (book.path.parent, LOCK_WAIT))
            if lock.acquire(LOCK_WAIT, clock=self.ctx.clock, sleep=self.ctx.sleep):
                return lock
        except OSError as exc:
            self.console.warn("could not lock %s (%s); two runs of the same request started together "
                              "could both submit" % (lock.path, exc.strerror or exc))
            return lock  # not held: release() does nothing
        raise CliError("another run has been submitting to %s for %ds; nothing was sent" % (book.path.parent,
                                                                                          LOCK_WAIT),
                       hint="run the same command again once it is done: it follows that run's task if it "
                            "submitted this request (lock file: %s)" % lock.path)

    def _submit(self, plan: Plan, body: Dict[str, Any], digest: str, book: journal.Journal) -> Dict[str, Any]:
        """One create call, journaled before it is sent; an unclear outcome is looked up."""
        started = self.ctx.wall_clock()
        try:
            attempt = book.intend(submitted_at=round(started, 3), mode=plan.mode, model=plan.model,
                                  request_digest=digest, output=plan.output, output_dir=str(plan.out_dir))
        except OSError as exc:
            self.console.warn("could not write the task journal %s (%s); submitting anyway"
                              % (book.path, exc.strerror or exc))
            attempt = None
        try:
            document = self.api.submit(plan.built.route, body, payload.has_oss_url(body))
        except AmbiguousSubmit as exc:
            document = self._find_ambiguous(plan, started, self.ctx.wall_clock(), str(exc), book, attempt)
        except CliError:
            self._resolve(book, attempt, "refused")  # answered with an error: no task exists
            raise
        except KeyboardInterrupt:
            self.console.end_live()
            self.console.always("Interrupted while submitting: a task may have been created. Run the same "
                                "command again: it looks that task up before submitting anything.")
            raise
        except Exception:
            # Not a transport outcome (those are AmbiguousSubmit or an ApiError): the request
            # failed to be built or sent, so no task exists and the intent must not stay open.
            self._resolve(book, attempt, "not-sent")
            raise
        document = dict(document)
        document["_started"], document["_attempt"] = started, attempt
        return document

    def _resolve(self, book: journal.Journal, attempt: Optional[str], outcome: str) -> None:
        if attempt:
            try:
                book.resolve(attempt, outcome)
            except OSError:
                pass

    def _recover_intent(self, plan: Plan, pending: Dict[str, Any], book: journal.Journal) -> Optional[Dict[str, Any]]:
        """An earlier run of this request died or got no answer mid-submit: find its task."""
        try:
            started = float(pending.get("submitted_at"))
        except (TypeError, ValueError):
            started = self.ctx.wall_clock()
        self.console.warn("an earlier run of this exact request (%s) ended before its submit was answered; "
                          "checking whether it created a task before submitting again" % _when(started))
        try:
            document = self._find_ambiguous(plan, started, started + SUBMIT_SPAN, "earlier submit unanswered",
                                            book, pending.get("attempt"))
        except NoTaskFound:
            if self.ctx.wall_clock() - started < SETTLE:
                # A new task can take a while to be listed: never conclude "none" too early.
                raise NoTaskFound("the earlier submit of this request (%s) got no answer and no task is "
                                  "listed for %s yet" % (_when(started), plan.model), hint=NOT_LISTED_YET) from None
            self._resolve(book, pending.get("attempt"), "no-task")
            self.console.info("The earlier submit created no task; submitting now.")
            return None
        document = dict(document)
        document["_started"], document["_attempt"] = started, pending.get("attempt")
        return document

    def _adopt_duplicate(self, earlier: Dict[str, Any], plan: Plan, book: journal.Journal) -> int:
        task_id = earlier["task_id"]
        if self.args.submit_only:
            self.console.warn("this exact request was already submitted as task %s (last status %s); not "
                              "submitting it again. Use --force to submit a new one."
                              % (task_id, earlier.get("status", "?")))
            if self.args.print_response:
                self.console.result({"task_id": task_id, "mode": plan.mode, "model": plan.model,
                                     "status": earlier.get("status"), "local_path": earlier.get("local_path"),
                                     "response_path": earlier.get("response_path"),
                                     "duplicate_of_earlier_request": True})
            else:
                self.console.plain(task_id)
            self.console.info("Check it with: %s" % resume_command(self.ctx, task_id, self.args.output,
                                                                   poll_once=True))
            return EXIT_OK
        self.console.warn("this exact request was already submitted as task %s (last status %s); "
                          "following that task instead of paying for a new video. Use --force to "
                          "submit a new one." % (task_id, earlier.get("status", "?")))
        saved = earlier.get("local_path")
        if saved and Path(saved).exists():  # only a saved video sets local_path
            self.console.always("Video already saved: %s" % saved)
            if self.args.print_response:
                self.console.result({"task_id": task_id, "mode": plan.mode, "model": plan.model,
                                     "local_path": saved, "response_path": earlier.get("response_path"),
                                     "duplicate_of_earlier_request": True})
            return EXIT_OK
        return self._follow(task_id, plan.mode, plan.model, plan.output, book)

    def _find_ambiguous(self, plan: Plan, started: float, ended: float, reason: str,
                        book: journal.Journal, attempt: Optional[str]) -> Dict[str, Any]:
        """The submit may or may not have created a task: look, never resubmit."""
        self.console.always("The submit got no clear answer (%s); checking whether a task was created..." % reason)
        candidates = self._ambiguous_candidates(plan.model, started, until=ended, exclude=set(book.tasks()))
        foreign = len(candidates) == 1 and self.others_task(candidates[0]["task_id"], plan)
        if len(candidates) == 1 and not foreign:
            task_id = candidates[0]["task_id"]
            self.console.always("Found the task the submit created: %s" % task_id)
            return {"output": {"task_id": task_id, "task_status": str(candidates[0].get("status") or "PENDING")},
                    "adopted": True}
        if not candidates:
            # Left open on purpose: the list may lag behind the create. The next run of this
            # request looks again, and submits only once SETTLE seconds have passed.
            raise NoTaskFound("the submit got no answer and the service lists no task for %s yet" % plan.model,
                              hint=NOT_LISTED_YET)
        lines = ["  %s  status=%s  created=%s\n    %s" % (
            t.get("task_id"), t.get("status"), t.get("gmt_create"), resume_command(self.ctx, t["task_id"], self.args.output))
            for t in candidates]
        if foreign:
            raise CliError("the submit got no answer; the one task of %s created around that moment has "
                           "another prompt, so it may be another client's:\n%s" % (plan.model, lines[0]),
                           hint="if it is yours, follow it with the --task-id command above; otherwise run the "
                                "same command again in a minute: it checks once more before submitting")
        raise CliError("the submit got no answer and %d tasks for %s were created around that moment:\n%s"
                       % (len(candidates), plan.model, "\n".join(lines)),
                       hint="one of them is yours: follow it with the --task-id command above; do not resubmit "
                            "(--force would pay for another video)")

    def others_task(self, task_id: str, plan: Plan) -> bool:
        """True when task `task_id` was provably made from another prompt than the one `plan`
        sends (the service echoes the prompt as output.orig_prompt): not ours to adopt."""
        sent = plan.built.body.get("input")
        prompt = sent.get("prompt") if isinstance(sent, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            return False
        try:
            task = self.api.get_task(task_id)
        except CliError:
            return False  # cannot tell: the list's one candidate of this model stays the best guess
        output = task.get("output")
        original = output.get("orig_prompt") if isinstance(output, dict) else None
        return isinstance(original, str) and bool(original.strip()) and original.strip() != prompt.strip()

    def _ambiguous_candidates(self, model: str, started: float, until: Optional[float] = None,
                              exclude: Collection[str] = ()) -> List[Dict[str, Any]]:
        """Tasks of `model` the service lists as created between `started` and `until` (default: now,
        at most SUBMIT_SPAN after the start), leaving out `exclude` (tasks known to be someone else's).

        The list is read up to LOOKUP_TRIES times, 2 s apart, since a new task may show up late.
        """
        candidates: List[Dict[str, Any]] = []
        for attempt_no in range(LOOKUP_TRIES):
            window_end = max(until or 0.0, min(self.ctx.wall_clock(), started + SUBMIT_SPAN))
            try:
                listed = self._list_both_zones(model, started - LIST_MARGIN, window_end + LIST_MARGIN)
            except CliError as exc:
                raise CliError("the submit may have created a task, and the task list could not be read: %s"
                               % exc.message,
                               hint="run the same command again later: it looks the task up before submitting "
                                    "(or check the console's task list); --force would submit a second, paid task"
                               ) from None
            candidates = [t for t in listed if t.get("task_id") not in exclude
                          and _created_within(t, started - CLOCK_SLACK, window_end + CLOCK_SLACK)]
            if candidates:
                break
            if attempt_no + 1 < LOOKUP_TRIES:
                self.ctx.sleep(2.0)
        return candidates

    def _list_both_zones(self, model: str, start: float, end: float) -> List[Dict[str, Any]]:
        """Tasks listed for [start, end], read as UTC and as UTC+8 (the service's zone is not
        documented), merged by task id: two narrow windows, not one 16-hour window that a busy
        account fills past the page cap. The gmt_create filter afterwards is exact either way."""
        merged: Dict[str, Dict[str, Any]] = {}
        for shift in LIST_ZONE_SHIFTS:
            for task in self.api.list_tasks(model, _stamp(start + shift), _stamp(end + shift)):
                merged.setdefault(task["task_id"], task)
        return list(merged.values())

    # -- existing task ------------------------------------------------------------------
    def resume(self, task_id: str) -> int:
        check_task_id(task_id)
        out_dir = outputs.output_dir(self.args.output, self.ctx.cwd)
        book = journal.locate(task_id, out_dir, self.ctx.cwd, self.ctx.wall_clock) if not self.args.output else None
        book = book or journal.Journal(out_dir, self.ctx.wall_clock)
        known = book.find(task_id) or {}
        mode = self.args.mode or known.get("mode") or "?"
        model = self.args.model or known.get("model") or "?"
        output = self.args.output or _recorded_output(known)
        outputs.check_writable_location(outputs.output_dir(output, self.ctx.cwd))
        if self.args.cancel:
            return self._cancel(task_id, book)
        self.api  # key check before the update check
        self._update_check()
        if self.args.poll_once:
            task = self.api.get_task(task_id)
            status = poll.status_of(task)
            self._record_status(book, task_id, status, known.get("status"), task)
            self.console.info("task=%s  status=%s" % (task_id, status))
            if status in poll.TERMINAL:
                return self._finish(task, task_id, mode, model, output, book)
            if self.args.print_response:
                self.console.result(self._document(task, task_id, mode, model))
            self.console.always("Task %s is %s. Check again with: %s" % (
                task_id, status, resume_command(self.ctx, task_id, self.args.output, poll_once=True)))
            return EXIT_PENDING
        self.console.always("Resuming task: %s" % task_id)
        return self._follow(task_id, mode, model, output, book)

    def _cancel(self, task_id: str, book: journal.Journal) -> int:
        from .errors import ApiError

        try:
            answer = self.api.cancel(task_id)
        except ApiError as exc:
            if exc.api_code == "UnsupportedOperation":
                raise CliError("task %s cannot be canceled: %s" % (task_id, exc.message.split(": ", 2)[-1]),
                               hint="only PENDING tasks can be canceled: a RUNNING one finishes (and is billed), and a "
                                    "finished or canceled one has nothing left to cancel",
                               task_id=task_id) from None
            raise
        self._record_status(book, task_id, "CANCELED", None)
        self.console.always("Task %s canceled (request_id %s)" % (task_id, answer.get("request_id", "?")))
        if self.args.print_response:
            self.console.result({"task_id": task_id, "canceled": True, "response": answer})
        return EXIT_OK

    # -- following a task to the end ----------------------------------------------------
    def _follow(self, task_id: str, mode: str, model: str, output: Optional[str], book: journal.Journal) -> int:
        last = {"status": None}

        def on_status(task: Dict[str, Any], status: str, elapsed: float) -> None:
            self._record_status(book, task_id, status, last["status"], task)
            if status != last["status"] or not self.ctx.interactive:
                self.console.info("  [%ds] task=%s status=%s" % (elapsed, task_id, status))
            else:
                self.console.live("  [%ds] task=%s status=%s" % (elapsed, task_id, status))
            last["status"] = status

        try:
            task = poll.wait(lambda: self.api.get_task(task_id), timeout=self.args.timeout,
                             poll_interval=max(self.args.poll_interval, 0.01), clock=self.ctx.clock,
                             sleep=self.ctx.sleep, on_status=on_status)
        except KeyboardInterrupt:
            self.console.end_live()
            self.console.always("Stopped waiting. Task %s keeps running (it is not canceled).\n"
                                "Resume with: %s" % (task_id, resume_command(self.ctx, task_id, output)))
            raise
        except CliError as exc:
            self.console.end_live()
            raise CliError("%s\nTask %s may still be running." % (exc.message, task_id),
                           hint="resume with: %s" % resume_command(self.ctx, task_id, output),
                           task_id=task_id) from None
        self.console.end_live()
        status = poll.status_of(task)
        if status not in poll.TERMINAL:
            if self.args.print_response:
                self.console.result(self._document(task, task_id, mode, model))
            raise StillRunning("task %s is still %s after %gs" % (task_id, status, self.args.timeout),
                               hint="resume with: %s" % resume_command(self.ctx, task_id, output),
                               task_id=task_id)
        return self._finish(task, task_id, mode, model, output, book)

    def _record_status(self, book: journal.Journal, task_id: str, status: str, previous: Optional[str],
                       task: Optional[Dict[str, Any]] = None) -> None:
        """Status changes of tasks the journal knows (an unknown or mistyped id leaves no row)."""
        if status != previous and book.find(task_id) is not None:
            try:
                book.append("status", task_id, status=status, **journal.failure_fields(task))
            except OSError:
                pass  # the journal is a convenience; never fail a paid task over it

    def _download_target(self, book: journal.Journal, task_id: str, output: Optional[str],
                         video_url: str, held: bool = True):
        """(video path, response path, continuing?): the path a killed download of this task left
        a `.part` at, so it continues there (only while this run holds the task's download lock:
        otherwise that `.part` may be another run's live download); otherwise fresh names, the
        video's claimed with an empty `.part` (outputs.claim) that the download then fills."""
        earlier = (book.find(task_id) or {}).get("downloading")
        if earlier and held:
            path = Path(earlier)
            if outputs.part_path_for(path).exists() and not path.exists():
                self.console.info("Continuing the interrupted download into %s" % path)
                return path, outputs.response_path_for(path), True
        outputs.check_writable_location(outputs.output_dir(output, self.ctx.cwd))  # before claiming a name
        video_path, response_path = outputs.plan(output, self.ctx.cwd, video_url, task_id)
        return video_path, response_path, False

    def _lock_download(self, book: journal.Journal, task_id: str, stop=None) -> Optional[journal.FileLock]:
        """The task's download lock (None if it could not be had): two runs following the same
        task download it one after the other, and the second finds the first one's video."""
        lock = journal.FileLock(book.path.parent / (".download-%s" % task_id))
        try:
            if lock.try_acquire():
                return lock
            self.console.always("Another run is downloading task %s; waiting for it..." % task_id)
            deadline = self.ctx.clock() + DOWNLOAD_LOCK_WAIT
            while self.ctx.clock() < deadline:
                if stop is not None and stop.is_set():
                    raise DownloadStopped()
                self.ctx.sleep(0.2)
                if lock.try_acquire():
                    return lock
        except OSError:
            return None
        self.console.warn("another run has been downloading task %s for %ds; downloading it again under "
                          "another name" % (task_id, DOWNLOAD_LOCK_WAIT))
        return None

    def _unlock_download(self, lock: Optional[journal.FileLock]) -> None:
        if lock is None:
            return
        try:  # a run waiting on the removed file re-reads the journal once it has the lock
            lock.path.unlink()
        except OSError:
            pass
        lock.release()

    def _document(self, task: Dict[str, Any], task_id: str, mode: str, model: str, **extra) -> Dict[str, Any]:
        document = dict(task)
        document.update({"task_id": task_id, "mode": mode, "model": model})
        document.update(extra)
        return document

    def _finish(self, task: Dict[str, Any], task_id: str, mode: str, model: str,
                output: Optional[str], book: journal.Journal, stop=None) -> int:
        """Report a failed task, or save a finished one's response and video (`stop`: a
        threading.Event that ends the download early, raising DownloadStopped)."""
        status = poll.status_of(task)
        out = task.get("output") or {}
        if status != "SUCCEEDED":
            if status == "UNKNOWN":
                message = "task %s expired or not found (status UNKNOWN)" % task_id
                hint = "task ids can be queried for 24 h; check the id, or submit again"
            else:
                detail = ": ".join(str(x) for x in (out.get("code"), out.get("message")) if x)
                message = "task %s %s%s" % (task_id, status, ": " + detail if detail else "")
                hint = _failure_hint(str(out.get("code") or ""), str(out.get("message") or ""), model)
            if self.args.print_response:
                self.console.result(self._document(task, task_id, mode, model, video_url=None,
                                                   local_path=None, response_path=None))
            raise CliError(message, hint=hint, task_id=task_id)
        video_url = _video_url(out)
        if not video_url:
            raise CliError("task %s SUCCEEDED but the answer has no video URL" % task_id,
                           hint="re-read it later with: %s" % resume_command(self.ctx, task_id, output),
                           task_id=task_id)
        lock = self._lock_download(book, task_id, stop)
        try:
            return self._save(task, task_id, mode, model, output, book, video_url, lock is not None, stop)
        finally:
            self._unlock_download(lock)

    def _save(self, task: Dict[str, Any], task_id: str, mode: str, model: str, output: Optional[str],
              book: journal.Journal, video_url: str, held: bool, stop) -> int:
        known = book.find(task_id) or {}
        saved = known.get("local_path")
        if saved and Path(saved).is_file():
            # Another run following this task (or an earlier one) already saved it: no second copy.
            self.console.always("Video already saved: %s" % saved)
            if self.args.print_response:
                self.console.result(self._document(task, task_id, mode, model, video_url=video_url,
                                                   local_path=saved, response_path=known.get("response_path")))
            return EXIT_OK
        video_path, response_path, resuming = self._download_target(book, task_id, output, video_url, held)
        try:
            outputs.check_writable_location(video_path.parent)
            _write_json(response_path, task, self.console)
        except OSError as exc:
            if not resuming:
                _remove(outputs.part_path_for(video_path))
            raise CliError("task %s SUCCEEDED but %s could not be written: %s" % (task_id, response_path,
                                                                                  exc.strerror or exc),
                           hint="free some space or fix permissions, then: %s"
                                % resume_command(self.ctx, task_id, output), task_id=task_id) from None
        except BaseException:
            if not resuming:
                _remove(outputs.part_path_for(video_path))
            raise
        self.console.info("Response saved to %s" % response_path)

        def fresh_url() -> str:
            again = _video_url(self.api.get_task(task_id).get("output") or {})
            if not again:
                raise DownloadFailed("the task no longer offers a video URL", task_id=task_id)
            return again

        try:
            book.append("downloading", task_id, local_path=str(video_path))
        except OSError:
            pass  # only the resume of a killed download depends on it
        try:
            # into a killed run's `.part`, or the empty one claimed for this run
            size = download(self.ctx, self.console, self.api.transport, video_url, video_path, fresh_url,
                            stop=stop)
        except KeyboardInterrupt:
            self.console.end_live()
            self.console.always("Stopped the download; nothing was saved at %s. Task %s is done: download it "
                                "with: %s" % (video_path, task_id, resume_command(self.ctx, task_id, output)))
            raise
        except CliError as exc:
            if self.args.print_response:
                self.console.result(self._document(task, task_id, mode, model, video_url=video_url,
                                                   local_path=None, response_path=str(response_path)))
            raise CliError("%s (task %s)" % (exc.message, task_id),
                           hint=(exc.hint + "; " if exc.hint else "") + "retry the download with: "
                                + resume_command(self.ctx, task_id, output),
                           task_id=task_id) from None
        try:
            book.append("saved", task_id, status="SUCCEEDED", local_path=str(video_path),
                        response_path=str(response_path))
        except OSError as exc:
            self.console.warn("could not update the journal %s: %s" % (book.path, exc.strerror or exc))
        self.console.always("Video saved to %s (%.1f MB)" % (video_path, size / 1048576.0))
        gallery.refresh(book.path.parent, self.console.warn, self.console.redactor.secrets, self.ctx.wall_clock)
        self.console.info("Video URL (valid 24 h): %s" % video_url)
        if self.args.print_response:
            self.console.result(self._document(task, task_id, mode, model, video_url=video_url,
                                               local_path=str(video_path), response_path=str(response_path)))
        return EXIT_OK


def check_task_id(task_id: str) -> None:
    if not TASK_ID.match(task_id):
        raise UsageError("--task-id %s is not a task id" % json.dumps(task_id),
                         hint="task ids are letters, digits, '-', '_' and '.', e.g. "
                              "0385dc79-5ff8-4d82-bcb6-6fa7bbc4a9b1 (see `video.py --list`)")


def _recorded_output(known: Dict[str, Any]) -> Optional[str]:
    """The --output a journaled task was submitted with, made absolute (the journal may have
    been written from another working directory)."""
    output, directory = known.get("output"), known.get("output_dir")
    if not directory:
        return output
    if output and outputs.names_file(output):
        return str(Path(directory) / Path(output).name)
    return directory


def _video_url(output: Dict[str, Any]) -> Optional[str]:
    url = output.get("video_url")
    if isinstance(url, str) and url:
        return url
    results = output.get("results")
    if isinstance(results, list) and results and isinstance(results[0], dict):
        return results[0].get("url") or results[0].get("video_url")
    if isinstance(results, dict):
        return results.get("video_url") or results.get("url")
    return None


def _failure_hint(code: str, message: str, model: str) -> str:
    from .api import error_hint

    specific = error_hint(400, code, message, model)
    if specific:
        return specific
    if code.startswith("InvalidParameter") or "invalid" in message.lower():
        return ("the service rejected a parameter after accepting the task; check it with "
                "`video.py --dry-run` and `video.py --list-models` (failed tasks are not billed)")
    if "DataInspection" in code:
        return "content moderation rejected the input or output; change the prompt or media"
    return "failed tasks are not billed; read the message above, adjust the request and submit again"


def _write_json(path: Path, document: Dict[str, Any], console: Console) -> None:
    """Write beside the video via a temporary file of this run's own (two runs may write the
    same name), so the name never holds half a file."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    text = console.redactor.secrets(json.dumps(document, ensure_ascii=False, indent=2))
    fd, temporary = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".part", dir=str(path.parent))
    try:
        with open(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, str(path))
    except BaseException:
        _remove(Path(temporary))
        raise


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _stamp(epoch: float) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(epoch))


def _created_within(task: Dict[str, Any], start: float, end: float) -> bool:
    created = task.get("gmt_create")
    try:
        seconds = float(created) / 1000.0
    except (TypeError, ValueError):
        return True  # no usable time: keep it as a candidate rather than miss ours
    return start <= seconds <= end
