"""Polling: quick first checks (bad parameters fail within seconds), then --poll-interval."""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, Optional

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN")
WAITING = ("PENDING", "RUNNING", "SUSPENDED")
# Checks at 1, 3, 6, 10 and 15 s after submit, then every poll_interval: with the default 15 s the
# later checks land on 30, 45, 60 s..., the same grid as a plain 15 s poller, so a finished task is
# never noticed later than by that poller, while a failure in the first seconds is seen at once.
FAST_START = (1.0, 2.0, 3.0, 4.0, 5.0)


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
