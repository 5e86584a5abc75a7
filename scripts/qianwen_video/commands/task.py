"""The --task-id command: follow an existing task and save its video, check it once, or cancel it."""
from __future__ import annotations

import json

from ..console import Console
from ..context import Context
from ..errors import EXIT_OK, EXIT_PENDING, ApiError, CliError, UsageError
from ..hints import resume_command
from ..options import Options
from ..outcome import Outcome, task_document
from ..store import journal, outputs
from ..tasks import Runtime, TaskRef
from ..tasks.finish import recorded_output
from ..tasks.follow import TERMINAL, check_once, record_status, status_of
from .common import connect, follow_and_save, open_journal, saved_outcome, update_check

def check_task_id(task_id: str) -> None:
    from ..net.api import valid_task_id

    if not valid_task_id(task_id):
        raise UsageError("--task-id %s is not a task id" % json.dumps(task_id),
                         hint="task ids are letters, digits, '-', '_' and '.', e.g. "
                              "0385dc79-5ff8-4d82-bcb6-6fa7bbc4a9b1 (see `video.py --list`)")


def run(options: Options, ctx: Context, console: Console) -> Outcome:
    task_id = options.task_id or ""
    check_task_id(task_id)
    out_dir = outputs.output_dir(options.output, ctx.cwd)
    book = None
    if not options.output:
        book = journal.locate(task_id, out_dir, ctx.cwd, ctx.wall_clock, redact=console.redactor.secrets,
                              warn=console.warn)
    book = book or open_journal(out_dir, ctx, console)
    known = book.find(task_id) or {}
    ref = TaskRef(task_id, options.mode or known.get("mode") or "?", options.model or known.get("model") or "?",
                  options.output or recorded_output(known))
    outputs.check_writable_location(outputs.output_dir(ref.output, ctx.cwd))
    rt = Runtime(ctx, console, connect(ctx, console), book)  # the key is checked before anything else
    if options.cancel:
        return _cancel(rt, task_id)
    update_check(ctx)
    if options.poll_once:
        task = check_once(rt, ref, known.get("status"))
        if status_of(task) in TERMINAL:
            return saved_outcome(rt, task, ref)
        console.always("Task %s is %s. Check again with: %s" % (
            task_id, status_of(task), resume_command(ctx, task_id, options.output, poll_once=True)))
        return Outcome(EXIT_PENDING, task_document(task, task_id, ref.mode, ref.model))
    console.always("Resuming task: %s" % task_id)
    return follow_and_save(rt, ref, options)


def _cancel(rt: Runtime, task_id: str) -> Outcome:
    try:
        answer = rt.api.cancel(task_id)
    except ApiError as exc:
        if exc.api_code == "UnsupportedOperation":
            raise CliError("task %s cannot be canceled: %s" % (task_id, exc.message.split(": ", 2)[-1]),
                           hint="only PENDING tasks can be canceled: a RUNNING one finishes (and is billed), and a "
                                "finished or canceled one has nothing left to cancel",
                           task_id=task_id) from None
        raise
    record_status(rt.book, task_id, "CANCELED", None)
    rt.console.always("Task %s canceled (request_id %s)" % (task_id, answer.get("request_id", "?")))
    return Outcome(EXIT_OK, {"task_id": task_id, "canceled": True, "response": answer})
