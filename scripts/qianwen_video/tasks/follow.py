"""Follow a task to a final status on the skill's poll schedule, journaling each change.

Quick first checks (bad parameters fail within seconds), then every --poll-interval.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, Optional

from ..errors import CliError, StillRunning
from ..hints import resume_command
from ..outcome import task_document
from ..store.journal import failure_fields
from . import Runtime, TaskRef

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN")
# Still going: videoretalk adds PRE-/POST-PROCESSING, style transfer SUSPENDED
# (dashscope-new-models.md §4, §5). Anything not TERMINAL is polled again until --timeout.
WAITING = ("PENDING", "PRE-PROCESSING", "RUNNING", "POST-PROCESSING", "SUSPENDED")
# Checks at 1, 3, 6, 10 and 15 s after submit, then every poll_interval: with the default 15 s the
# later checks land on 30, 45, 60 s..., the same grid as a plain 15 s poller, so a finished task is
# never noticed later than by that poller, while a failure in the first seconds is seen at once.
FAST_START = (1.0, 2.0, 3.0, 4.0, 5.0)
TICK = 1.0  # seconds between redraws of the waiting clock on a terminal


def delays(poll_interval: float) -> Iterator[float]:
    """1, 2, 3, 4, 5 s, then every poll_interval; never longer than poll_interval."""
    for delay in FAST_START:
        yield min(delay, poll_interval)
    while True:
        yield poll_interval


def status_of(task: Dict[str, Any]) -> str:
    output = task.get("output") if isinstance(task, dict) else None
    if not isinstance(output, dict):
        return "UNKNOWN"
    return str(output.get("task_status") or "UNKNOWN").upper()


def wait(fetch: Callable[[], Dict[str, Any]], *, timeout: float, poll_interval: float,
         clock: Callable[[], float], sleep: Callable[[float], None],
         on_status: Optional[Callable[[Dict[str, Any], str, float], None]] = None) -> Dict[str, Any]:
    """Fetch until a terminal status; return the last task document either way.

    The caller tells a timeout apart by the status still being PENDING/RUNNING.
    """
    started = clock()
    schedule = delays(poll_interval)
    due = 0.0  # offset of the next check from the start: sleeps absorb the time each check took
    while True:
        task = fetch()
        status = status_of(task)
        elapsed = clock() - started
        if on_status:
            on_status(task, status, elapsed)
        if status in TERMINAL:
            return task
        now = clock() - started
        remaining = timeout - now
        if remaining <= 0:
            return task
        due += next(schedule)
        while due <= now:  # a slow check overran its slot: take the next one
            due += next(schedule)
        sleep(min(due - now, remaining))


def follow(rt: Runtime, ref: TaskRef, timeout: float, poll_interval: float) -> Dict[str, Any]:
    """Poll until the task ends; return its last answer. Raises StillRunning at the timeout."""
    ctx, console = rt.ctx, rt.console
    last = {"status": None}
    started = ctx.clock()

    def line(elapsed: float) -> str:
        return "  [%ds] task=%s status=%s" % (elapsed, ref.task_id, last["status"])

    def on_status(task: Dict[str, Any], status: str, elapsed: float) -> None:
        record_status(rt.book, ref.task_id, status, last["status"], task)
        changed, last["status"] = status != last["status"], status
        if changed or not ctx.interactive:
            console.info(line(elapsed))
        else:
            console.live(line(elapsed))

    def ticking(seconds: float) -> None:
        """On a terminal the wait between checks shows a clock that moves every second."""
        end = ctx.clock() + seconds
        while True:
            left = end - ctx.clock()
            if left <= 0:
                return
            ctx.sleep(min(TICK, left))
            console.live(line(ctx.clock() - started))

    try:
        task = wait(lambda: rt.api.get_task(ref.task_id), timeout=timeout, poll_interval=max(poll_interval, 0.01),
                    clock=ctx.clock, sleep=ticking if ctx.interactive and not console.quiet else ctx.sleep,
                    on_status=on_status)
    except KeyboardInterrupt:
        console.end_live()
        console.always("Stopped waiting. Task %s keeps running (it is not canceled).\n"
                       "Resume with: %s" % (ref.task_id, resume_command(ctx, ref.task_id, ref.output)))
        raise
    except CliError as exc:
        console.end_live()
        raise CliError("%s\nTask %s may still be running." % (exc.message, ref.task_id),
                       hint="resume with: %s" % resume_command(ctx, ref.task_id, ref.output),
                       task_id=ref.task_id) from None
    console.end_live()
    status = status_of(task)
    if status not in TERMINAL:
        raise StillRunning("task %s is still %s after %gs" % (ref.task_id, status, timeout),
                           hint="resume with: %s" % resume_command(ctx, ref.task_id, ref.output),
                           task_id=ref.task_id, document=task_document(task, ref.task_id, ref.mode, ref.model))
    return task


def check_once(rt: Runtime, ref: TaskRef, previous: Optional[str]) -> Dict[str, Any]:
    """One status check (--poll-once), journaled."""
    task = rt.api.get_task(ref.task_id)
    status = status_of(task)
    record_status(rt.book, ref.task_id, status, previous, task)
    rt.console.info("task=%s  status=%s" % (ref.task_id, status))
    return task


def record_status(book, task_id: str, status: str, previous: Optional[str],
                  task: Optional[Dict[str, Any]] = None) -> None:
    """Status changes of tasks the journal knows (an unknown or mistyped id leaves no row), with a
    failure's code and message (what --list and the gallery show)."""
    if status != previous and book.find(task_id) is not None:
        try:
            book.append("status", task_id, status=status, **failure_fields(task))
        except OSError:
            pass  # the journal is a convenience; never fail a paid task over it
