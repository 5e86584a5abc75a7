"""After a create call with no clear answer: find the task it made in the task list, or decide there is none.

The decision (``decide``) is pure and table-tested: a listed task is adopted only when its own
record shows the prompt that was sent (the service echoes it as ``output.orig_prompt`` once the
task has succeeded); one that cannot be confirmed yet is looked at again, never adopted silently.
"""
from __future__ import annotations

import time
from typing import Any, Collection, Dict, List, NamedTuple, Optional, Sequence, Tuple

from ..errors import CliError

SUBMIT_SPAN = 180.0  # seconds: a create call is answered (or abandoned) within this after it starts
CLOCK_SLACK = 60.0  # seconds of clock difference tolerated between this machine and the service
LOOKUP_TRIES = 3  # reads of the task list, 2 s apart: a new task may be listed late
LIST_MARGIN = 120.0  # seconds added on each side of the submit when reading the task list
LIST_ZONE_SHIFTS = (0.0, 8 * 3600.0)  # the list's times read as UTC, then as Beijing time (UTC+8)
SETTLE = 60.0  # seconds after a submit before "the task list shows nothing of ours" is believed
MAX_EXAMINED = 10  # listed tasks read one by one to confirm; more than this is ambiguous at once
FINAL = ("SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN")

ADOPT = "adopt"  # exactly one listed task shows the prompt that was sent
WAIT = "wait"  # not provable yet: nothing listed so soon, or a listed task has no prompt to show yet
NONE = "none"  # nothing of ours was created: submitting now pays once
AMBIGUOUS = "ambiguous"  # several tasks may be ours, or one that can never be confirmed
FOREIGN = "foreign"  # what is listed shows another prompt, and it is too soon to say ours is not coming


class Candidate(NamedTuple):
    task_id: str
    status: str
    created: Any  # gmt_create as listed (epoch ms)
    prompt: Optional[str]  # output.orig_prompt, None while the service does not show one


class Decision(NamedTuple):
    kind: str
    candidates: Tuple[Candidate, ...] = ()  # the tasks the decision is about

    @property
    def task_id(self) -> Optional[str]:
        return self.candidates[0].task_id if self.kind == ADOPT else None


def decide(candidates: Sequence[Candidate], sent_prompt: Optional[str], age: float) -> Decision:
    """Which listed task (if any) the unanswered create made; `age`: seconds since it was sent."""
    sent = sent_prompt.strip() if isinstance(sent_prompt, str) else ""
    if not candidates:
        return Decision(WAIT if age < SETTLE else NONE)
    if not sent:
        return Decision(AMBIGUOUS, tuple(candidates))  # no prompt was sent: nothing can prove a match
    if len(candidates) > MAX_EXAMINED:
        return Decision(AMBIGUOUS, tuple(candidates))
    mine = tuple(c for c in candidates if c.prompt is not None and c.prompt.strip() == sent)
    unshown = tuple(c for c in candidates if not (c.prompt or "").strip())
    if len(mine) == 1:
        return Decision(ADOPT, mine)
    if mine:
        return Decision(AMBIGUOUS, mine)
    running = tuple(c for c in unshown if c.status not in FINAL)
    if running:
        return Decision(WAIT, running)  # its prompt shows once it succeeds
    if unshown:
        return Decision(AMBIGUOUS, unshown)  # ended without showing a prompt: it can never be confirmed
    if age < SETTLE:
        return Decision(FOREIGN, tuple(candidates))
    return Decision(NONE)


# -- reading the service ----------------------------------------------------------------
def listed(api, ctx, model: str, started: float, until: Optional[float] = None,
           exclude: Collection[str] = ()) -> List[Dict[str, Any]]:
    """Tasks of `model` the service lists as created between `started` and `until` (default: now,
    at most SUBMIT_SPAN after the start), without `exclude` (tasks known to be other requests')."""
    found: List[Dict[str, Any]] = []
    for attempt_no in range(LOOKUP_TRIES):
        window_end = max(until or 0.0, min(ctx.wall_clock(), started + SUBMIT_SPAN))
        try:
            tasks = _list_both_zones(api, model, started - LIST_MARGIN, window_end + LIST_MARGIN)
        except CliError as exc:
            raise CliError("the submit may have created a task, and the task list could not be read: %s"
                           % exc.message,
                           hint="run the same command again later: it looks the task up before submitting "
                                "(or check the console's task list); --force would submit a second, paid task"
                           ) from None
        found = [t for t in tasks if t.get("task_id") not in exclude
                 and created_within(t, started - CLOCK_SLACK, window_end + CLOCK_SLACK)]
        if found:
            break
        if attempt_no + 1 < LOOKUP_TRIES:
            ctx.sleep(2.0)
    return found


def examine(api, tasks: Sequence[Dict[str, Any]], sent_prompt: Optional[str]) -> List[Candidate]:
    """Each listed task with its own record's status and prompt (read only when a prompt was sent
    and the list is short enough to decide by reading)."""
    found = []
    readable = bool((sent_prompt or "").strip()) and len(tasks) <= MAX_EXAMINED
    for task in tasks:
        status, prompt = str(task.get("status") or "PENDING").upper(), None
        if readable:
            status, prompt = _status_and_prompt(api, task["task_id"], status)
        found.append(Candidate(task["task_id"], status, task.get("gmt_create"), prompt))
    return found


def recheck(api, decision: Decision, sent_prompt: Optional[str], age: float) -> Decision:
    """Read the tasks a WAIT decision is about again and decide anew."""
    again = [c._replace(**dict(zip(("status", "prompt"), _status_and_prompt(api, c.task_id, c.status))))
             for c in decision.candidates]
    return decide(again, sent_prompt, age)


def lookup(api, ctx, model: str, sent_prompt: Optional[str], started: float, until: Optional[float] = None,
           exclude: Collection[str] = ()) -> Decision:
    tasks = listed(api, ctx, model, started, until, exclude)
    return decide(examine(api, tasks, sent_prompt), sent_prompt, ctx.wall_clock() - started)


def _status_and_prompt(api, task_id: str, listed_status: str) -> Tuple[str, Optional[str]]:
    try:
        task = api.get_task(task_id)
    except CliError:
        return listed_status, None  # cannot tell now: looked at again later
    output = task.get("output") if isinstance(task, dict) else None
    if not isinstance(output, dict):
        return listed_status, None
    prompt = output.get("orig_prompt")
    return str(output.get("task_status") or listed_status).upper(), prompt if isinstance(prompt, str) else None


def _list_both_zones(api, model: str, start: float, end: float) -> List[Dict[str, Any]]:
    """Tasks listed for [start, end], read as UTC and as UTC+8 (the service's zone is not
    documented), merged by task id: two narrow windows, not one 16-hour window that a busy
    account fills past the page cap. The gmt_create filter afterwards is exact either way."""
    merged: Dict[str, Dict[str, Any]] = {}
    for shift in LIST_ZONE_SHIFTS:
        for task in api.list_tasks(model, _stamp(start + shift), _stamp(end + shift)):
            merged.setdefault(task["task_id"], task)
    return list(merged.values())


def _stamp(epoch: float) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(epoch))


def created_within(task: Dict[str, Any], start: float, end: float) -> bool:
    created = task.get("gmt_create")
    try:
        seconds = float(created) / 1000.0
    except (TypeError, ValueError):
        return True  # no usable time: keep it as a candidate rather than miss ours
    return start <= seconds <= end
