"""Submit one task and pay once.

The intent is journaled before the create call, an unanswered create is looked up
(tasks.recover) instead of being sent again, and identical runs take turns.
"""
from __future__ import annotations

from typing import Any, Dict, NamedTuple, Optional

from .. import media, payload
from ..errors import EXIT_FAILED, ApiError, CliError, StillRunning
from ..hints import resume_command, when
from ..store.journal import DUPLICATE_WINDOW, request_fields
from ..store.lock import FileLock
from . import Runtime, recover
from .plan import Plan, sent_prompt

LOCK_WAIT = 120.0  # seconds a run waits for another run of the same output directory to submit
NOT_LISTED_YET = ("no task is listed yet; run the same command again in a minute: it checks once more "
                  "before submitting")


class NoTaskFound(CliError):
    """The unanswered submit has no listed task (yet): run again later, nothing is resubmitted now."""


class PortraitRefused(CliError):
    """The portrait failed the model's unbilled face check: no task was created."""


def check_portrait(api: Any, plan: Plan, body: Dict[str, Any]) -> None:
    """Before paying for a model with a face check (wan2.2-s2v), ask its detect model whether the
    portrait (the uploaded URL in `body`) has a usable face; PortraitRefused when it has none."""
    spec = plan.built.spec
    check = payload.face_check_body(spec, body)
    if check is None:
        return
    hint = ("use a clear, front-facing photo of one person (400-7000 px, JPG/PNG/BMP/WEBP); the check "
            "costs nothing and no task was created")
    try:
        answer = api.face_check(check, payload.has_oss_url(check))
    except ApiError as exc:
        if exc.status == 400:  # InvalidFile.NoHuman and its kin: the portrait itself was refused
            raise PortraitRefused("image_url: %s refused the portrait: %s" % (spec.face_check, exc.message),
                                  hint=hint) from None
        raise
    output = answer.get("output")
    passed = output.get("check_pass") if isinstance(output, dict) else None
    if passed is True:
        return
    if passed is False:
        raise PortraitRefused("image_url: %s found no usable face in the portrait; %s was not submitted"
                              % (spec.face_check, spec.id), hint=hint)
    raise ApiError("portrait check: the service answered HTTP 200 without output.check_pass; %s was not "
                   "submitted" % spec.id, hint="run the same command again later")


class Submitted(NamedTuple):
    task_id: str
    status: str
    answer: Dict[str, Any]  # the create call's answer (or a stand-in for a task found in the list)
    started: float  # wall clock when the create call was sent
    attempt: Optional[str]  # the journal's intent id
    adopted: bool  # found in the task list after an unanswered create


def lock_submits(rt: Runtime) -> FileLock:
    """The output directory's submit lock, waited for up to LOCK_WAIT seconds: a second run of the
    same request, started together with this one, then finds this run's task and follows it."""
    book, console, ctx = rt.book, rt.console, rt.ctx
    lock = FileLock(book.path)
    try:
        if lock.try_acquire():
            return lock
        console.always("Another run is submitting to %s; waiting for it (up to %ds)..."
                       % (book.path.parent, LOCK_WAIT))
        if lock.acquire(LOCK_WAIT, clock=ctx.clock, sleep=ctx.sleep):
            return lock
    except OSError as exc:
        console.warn("could not lock %s (%s); two runs of the same request started together "
                     "could both submit" % (lock.path, exc.strerror or exc))
        return lock  # not held: release() does nothing
    raise CliError("another run has been submitting to %s for %ds; nothing was sent" % (book.path.parent, LOCK_WAIT),
                   hint="run the same command again once it is done: it follows that run's task if it "
                        "submitted this request (lock file: %s)" % lock.path)


def submit(rt: Runtime, plan: Plan, body: Dict[str, Any], digest: str, wait: float,
           output: Optional[str]) -> Submitted:
    """One create call, journaled before it is sent; an unclear outcome is looked up, and a listed
    task that cannot be confirmed yet is looked at again for up to `wait` seconds."""
    started = rt.ctx.wall_clock()
    try:
        attempt = rt.book.intend(submitted_at=round(started, 3), mode=plan.mode, model=plan.model,
                                 request_digest=digest, output=plan.output, output_dir=str(plan.out_dir))
    except OSError as exc:
        # Without the intent on disk, a lost answer could not be looked up by the next run: it
        # would pay again. Nothing is sent.
        raise CliError("could not write the task journal %s (%s); nothing was sent"
                       % (rt.book.path, exc.strerror or exc),
                       hint="free some disk space or fix the permissions (or choose another place with --output), "
                            "then run the same command again") from None
    from ..net.api import AmbiguousSubmit

    try:
        answer = rt.api.submit(plan.built.route, body, payload.has_oss_url(body))
    except AmbiguousSubmit as exc:
        rt.console.always("The submit got no clear answer (%s); checking whether a task was created..." % exc)
        decision = _settled(rt, plan, started, rt.ctx.wall_clock(), wait)
        return _adopted(rt, plan, decision, started, attempt, output)
    except CliError:
        _close(rt, attempt, "refused")  # answered with an error: no task exists
        raise
    except KeyboardInterrupt:
        rt.console.end_live()
        rt.console.always("Interrupted while submitting: a task may have been created. Run the same "
                          "command again: it looks that task up before submitting anything.")
        raise
    except Exception:
        # Not a transport outcome (those are AmbiguousSubmit or an ApiError): the request
        # failed to be built or sent, so no task exists and the intent must not stay open.
        _close(rt, attempt, "not-sent")
        raise
    output_part = answer["output"]
    return Submitted(output_part["task_id"], str(output_part.get("task_status") or "PENDING"), answer, started,
                     attempt, adopted=False)


BUSY_RETRY = 30.0  # seconds between submits while a one-task-at-a-time model is busy


def submit_when_free(rt: Runtime, plan: Plan, body: Dict[str, Any], digest: str, wait: float,
                     output: Optional[str], patience: float) -> Submitted:
    """submit(), but a model that runs one task at a time per account (videoretalk, animate, s2v)
    answers 429 while another of its tasks runs: nothing was created, so the submit is tried again,
    saying so, for up to `patience` seconds (0: the 429 is the outcome)."""
    spec = plan.built.spec
    deadline = rt.ctx.clock() + patience
    while True:
        try:
            return submit(rt, plan, body, digest, wait, output)
        except ApiError as exc:
            left = deadline - rt.ctx.clock()
            if exc.status != 429 or spec is None or spec.concurrency != 1 or left <= 0:
                if exc.status == 429 and spec is not None and spec.concurrency == 1:
                    exc.hint = ("%s runs one task at a time per account and another is still running; nothing "
                                "was created: run the same command again once it has finished" % spec.id)
                raise
            delay = min(BUSY_RETRY, left)
            rt.console.always("%s runs one task at a time per account and another one is still running; nothing "
                              "was created. Trying again in %.0fs (for up to %.0fs more)..." % (spec.id, delay, left))
            rt.ctx.sleep(delay)


def recover_intent(rt: Runtime, plan: Plan, pending: Dict[str, Any], wait: float,
                   output: Optional[str]) -> Optional[Submitted]:
    """An earlier run of this request died or got no answer mid-submit: find its task, or return
    None once the task list proves it created none (then submitting pays once)."""
    try:
        started = float(pending.get("submitted_at"))
    except (TypeError, ValueError):
        started = rt.ctx.wall_clock()
    rt.console.warn("an earlier run of this exact request (%s) ended before its submit was answered; "
                    "checking whether it created a task before submitting again" % when(started))
    decision = _settled(rt, plan, started, started + recover.SUBMIT_SPAN, wait)
    if decision.kind == recover.NONE:
        _close(rt, pending.get("attempt"), "no-task")
        rt.console.info("The earlier submit created no task; submitting now.")
        return None
    if decision.kind == recover.WAIT and not decision.candidates:
        raise NoTaskFound("the earlier submit of this request (%s) got no answer and no task is listed for %s yet"
                          % (when(started), plan.model), hint=NOT_LISTED_YET)
    return _adopted(rt, plan, decision, started, pending.get("attempt"), output)


def record(rt: Runtime, plan: Plan, submitted: Submitted, digest: str, output: Optional[str]) -> None:
    """Show the task id, then journal it (the screen first: if the journal fails, the id is known)."""
    rt.console.always("Task submitted: %s (mode %s, model %s)" % (submitted.task_id, plan.mode, plan.model))
    try:
        rt.book.append("submitted", submitted.task_id, submitted_at=round(submitted.started, 3), mode=plan.mode,
                       model=plan.model, request_digest=digest, output=plan.output, output_dir=str(plan.out_dir),
                       attempt=submitted.attempt, adopted=True if submitted.adopted else None,
                       **request_fields(plan.request, plan.built.body, rt.ctx.cwd, media.home_of(rt.ctx.environ)))
    except OSError as exc:
        rt.console.warn("could not record task %s in the journal %s (%s); keep the task id: resume with %s"
                        % (submitted.task_id, rt.book.path, exc.strerror or exc,
                           resume_command(rt.ctx, submitted.task_id, output)))


def _settled(rt: Runtime, plan: Plan, started: float, until: float, wait: float) -> recover.Decision:
    """Look the unanswered submit up; while the one task that may be ours cannot be confirmed yet,
    look at it again on the poll schedule for up to `wait` seconds."""
    from .follow import delays

    prompt = sent_prompt(plan)
    # Tasks this journal already holds are other requests': never mistaken for the one just sent.
    known = rt.book.recent_task_ids(started - DUPLICATE_WINDOW)
    decision = recover.lookup(rt.api, rt.ctx, plan.model, prompt, started, until, exclude=known)
    deadline = rt.ctx.clock() + wait
    schedule = delays(15.0)
    while decision.kind == recover.WAIT and decision.candidates and rt.ctx.clock() < deadline:
        delay = min(next(schedule), max(deadline - rt.ctx.clock(), 0.0))
        rt.console.info("  task %s (%s) was created at that moment; it is this request's if the service shows "
                        "the same prompt once it finishes: checking again in %.0fs"
                        % (", ".join(c.task_id for c in decision.candidates),
                           "/".join(sorted({c.status for c in decision.candidates})), delay))
        rt.ctx.sleep(delay)
        decision = recover.recheck(rt.api, decision, prompt, rt.ctx.wall_clock() - started)
    return decision


def _adopted(rt: Runtime, plan: Plan, decision: recover.Decision, started: float, attempt: Optional[str],
             output: Optional[str]) -> Submitted:
    """The task a lookup found, or the error that says why none can be taken."""
    if decision.kind == recover.ADOPT:
        found = decision.candidates[0]
        rt.console.always("Found the task the submit created: %s" % found.task_id)
        return Submitted(found.task_id, found.status, {"output": {"task_id": found.task_id,
                                                                  "task_status": found.status}},
                         started, attempt, adopted=True)
    if decision.kind in (recover.WAIT, recover.NONE) and not decision.candidates:
        # Left open on purpose: the list may lag behind the create. The next run of this
        # request looks again, and submits only once recover.SETTLE seconds have passed.
        raise NoTaskFound("the submit got no answer and the service lists no task for %s yet" % plan.model,
                          hint=NOT_LISTED_YET)
    lines = "\n".join("  %s  status=%s  created=%s\n    %s" % (c.task_id, c.status, c.created,
                                                               resume_command(rt.ctx, c.task_id, output))
                      for c in decision.candidates)
    again = "run the same command again later: it checks once more before submitting anything"
    if decision.kind == recover.WAIT:
        raise StillRunning("the submit got no answer; this task of %s was created at that moment and cannot be "
                           "confirmed as this request's until the service shows its prompt (when it finishes):\n%s"
                           % (plan.model, lines),
                           hint="%s (or follow the task with the --task-id command above)" % again)
    if decision.kind == recover.FOREIGN:
        raise CliError("the submit got no answer; the task of %s created around that moment has another prompt, "
                       "so it may be another client's:\n%s" % (plan.model, lines),
                       hint="if it is yours, follow it with the --task-id command above; otherwise run the "
                            "same command again in a minute: it checks once more before submitting")
    raise CliError("the submit got no answer and %d task(s) of %s created around that moment may be its, "
                   "with nothing that proves which:\n%s" % (len(decision.candidates), plan.model, lines),
                   hint="one of them may be yours: follow it with the --task-id command above; do not resubmit "
                        "(--force would pay for another video)", code=EXIT_FAILED)


def _close(rt: Runtime, attempt: Optional[str], outcome: str) -> None:
    if attempt:
        try:
            rt.book.resolve(attempt, outcome)
        except OSError:
            pass
