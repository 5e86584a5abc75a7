"""The generate command: plan, upload, submit once, follow, save (or --submit-only)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from .. import config, media, payload
from ..console import Console
from ..context import Context
from ..errors import EXIT_OK
from ..hints import resume_command
from ..options import Options
from ..outcome import Outcome, task_document
from ..store import journal, outputs
from ..tasks import Runtime, TaskRef
from ..tasks.plan import Plan, make_plan
from ..tasks.submit import check_portrait, lock_submits, record, recover_intent, submit_when_free
from .common import connect, follow_and_save, load_request, open_journal, update_check


def run(options: Options, ctx: Context, console: Console) -> Outcome:
    config.load_dotenv(ctx)  # .env may set the region, which decides regional model ids
    request = load_request(options, ctx)
    plan = make_plan(request, ctx, console, model=options.model, mode=options.mode, output=options.output,
                     check=not options.no_validate)
    outputs.check_writable_location(plan.out_dir)
    api = connect(ctx, console)  # a missing key fails here, before anything is sent or created
    outputs.ensure_writable(plan.out_dir)
    update_check(ctx)
    rt = Runtime(ctx, console, api, open_journal(plan.out_dir, ctx, console))
    home = media.home_of(ctx.environ)
    files = media.local_files(plan.request, ctx.cwd, home)
    digest = journal.request_digest(plan.mode, plan.model, plan.request, [f.path for f in files])
    earlier = None if options.force else rt.book.recent_duplicate(digest)
    if earlier:
        return _follow_earlier(rt, earlier, plan, options)
    console.info("Mode: %s | Model: %s | Endpoint: %s" % (plan.mode, plan.model, plan.built.route))
    console.info("Cost: billed per second of video; see "
                 "https://platform.qianwenai.com/docs/developer-guides/getting-started/pricing")
    sent = plan.request
    if files:
        from ..upload.router import uploader_for

        sent = media.resolved(plan.request, ctx.cwd, uploader_for(ctx, console, api, plan.model), home)
    body = payload.build(sent, plan.model, plan.mode).body
    check_portrait(api, plan, body)  # unbilled; a portrait without a usable face stops here
    wait = 0.0 if options.submit_only else options.timeout
    lock = lock_submits(rt)
    try:
        earlier = None if options.force else rt.book.recent_duplicate(digest)
        if earlier:
            lock.release()
            return _follow_earlier(rt, earlier, plan, options)
        submitted = None
        pending = None if options.force else rt.book.unresolved_intent(digest)
        if pending:
            submitted = recover_intent(rt, plan, pending, wait, options.output)
        if submitted is None:
            submitted = submit_when_free(rt, plan, body, digest, wait, options.output,
                                         patience=0.0 if options.submit_only else options.timeout)
        record(rt, plan, submitted, digest, options.output)
    finally:
        lock.release()
    ref = TaskRef(submitted.task_id, plan.mode, plan.model, plan.output)
    if options.submit_only:
        console.info("Check it with: %s" % resume_command(ctx, ref.task_id, options.output, poll_once=True))
        return Outcome(EXIT_OK, task_document(submitted.answer, ref.task_id, plan.mode, plan.model), ref.task_id)
    return follow_and_save(rt, ref, options)


def _follow_earlier(rt: Runtime, earlier: Dict[str, Any], plan: Plan, options: Options) -> Outcome:
    """The same request already has a task from the last 24 h: follow it instead of paying again."""
    task_id = earlier["task_id"]
    document = {"task_id": task_id, "mode": plan.mode, "model": plan.model, "status": earlier.get("status"),
                "local_path": earlier.get("local_path"), "response_path": earlier.get("response_path"),
                "duplicate_of_earlier_request": True}
    if options.submit_only:
        rt.console.warn("this exact request was already submitted as task %s (last status %s); not "
                        "submitting it again. Use --force to submit a new one." % (task_id, earlier.get("status", "?")))
        rt.console.info("Check it with: %s" % resume_command(rt.ctx, task_id, options.output, poll_once=True))
        return Outcome(EXIT_OK, document, task_id)
    rt.console.warn("this exact request was already submitted as task %s (last status %s); "
                    "following that task instead of paying for a new video. Use --force to "
                    "submit a new one." % (task_id, earlier.get("status", "?")))
    saved = earlier.get("local_path")
    if saved and Path(saved).exists():  # only a saved video sets local_path
        rt.console.always("Video already saved: %s" % saved)
        document.pop("status")
        return Outcome(EXIT_OK, document)
    return follow_and_save(rt, TaskRef(task_id, plan.mode, plan.model, plan.output), options)
