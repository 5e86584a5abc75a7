"""Dispatch, planning and the offline commands: --dry-run, --list-models, --list."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, NamedTuple, Optional

from . import catalog, config, media, modes, outputs, payload, validate
from .cli import load_request
from .console import Console
from .context import Context
from .errors import EXIT_OK, UsageError, ValidationFailed

# The network side (session, api, transport, upload, download, journal) is imported only when a
# command needs it: --help, --dry-run and --list-models stay close to bare interpreter start-up.


class Plan(NamedTuple):
    """Everything decided before the network: what to send and where results go."""

    request: Dict[str, Any]
    mode: str
    model: str
    built: payload.Built
    output: Optional[str]
    out_dir: Path


def dispatch(args, ctx: Context, console: Console) -> int:
    if args.list_models:
        return list_models(args, console)
    if args.poll_once and not args.task_id:
        raise UsageError("--poll-once needs --task-id", hint="video.py --task-id ID --poll-once")
    if args.cancel and not args.task_id:
        raise UsageError("--cancel needs --task-id", hint="video.py --cancel --task-id ID")
    _refuse_contradictions(args)
    if args.gallery:
        from . import gallery
        return gallery.command(outputs.output_dir(args.output, ctx.cwd), console, args.print_response, ctx.wall_clock)
    if args.batch:
        from . import batch  # batch imports this module: a local import avoids the cycle
        return batch.run(args, ctx, console)
    if args.list:
        return list_journal(args, ctx, console)
    if args.dry_run:
        return dry_run(args, ctx, console)
    from .session import Session

    if args.task_id:
        if args.request is not None or args.file is not None:
            raise UsageError("--task-id resumes an existing task; it takes no --request/--file",
                             hint="drop --request/--file, or drop --task-id to submit a new task")
        return Session(args, ctx, console).resume(args.task_id)
    return Session(args, ctx, console).generate()


def _refuse_contradictions(args) -> None:
    """Flag combinations that cannot both be honoured: say so instead of ignoring one."""
    has_request = args.request is not None or args.file is not None
    pairs = [
        (args.task_id and args.submit_only, "--submit-only submits a new task; --task-id follows an existing one"),
        (args.task_id and args.dry_run, "--dry-run checks a new request; --task-id follows an existing task"),
        (args.cancel and args.poll_once, "--cancel and --poll-once do different things to a task; pick one"),
        (args.list and (has_request or args.task_id), "--list only shows the journal; it takes no request or task"),
        (args.gallery and (has_request or args.task_id or args.batch or args.list or args.dry_run),
         "--gallery only rewrites index.html from the journal; run it on its own"),
        (not args.batch and (args.concurrency is not None or args.skip_invalid),
         "--concurrency and --skip-invalid only apply to --batch"),
    ]
    for contradicted, message in pairs:
        if contradicted:
            raise UsageError(message, hint="see `video.py --help`")


# -- planning (pure apart from reading local file metadata) -------------------------------
def make_plan(args, ctx: Context, console: Console) -> Plan:
    config.load_dotenv(ctx)  # .env may set the region, which decides regional model ids
    request = load_request(args, ctx)
    mode, model = modes.resolve(request, args.model, args.mode)
    defaulted = not (args.model or request.get("model"))
    model = _media_i2v(request, mode, model, defaulted, console)
    model = _regional(model, defaulted, ctx, console)
    built = payload.build(request, model, mode)
    if built.spec is None:
        console.warn("model %s is not in the catalog; sending it without model-specific checks "
                     "(see --list-models)" % model)
    elif built.spec.id != model:
        console.warn("model %s is not in the catalog; checking it as %s" % (model, built.spec.id))
    home = media.home_of(ctx.environ)
    if getattr(args, "no_validate", False):
        problems = media.problems(request, ctx.cwd, home)
    else:
        problems = validate.check(request, mode, model, built.body, ctx.cwd, home, unused=built.unused)
    if problems:
        raise ValidationFailed(problems)
    for note in validate.unused_warnings(built.unused, built.spec, model):
        console.warn(note)
    for alias in built.aliases:
        console.info("Note: %s" % alias)
    output = args.output or request.get("output")
    if output is not None and not isinstance(output, str):
        raise UsageError('"output" must be a path string')
    return Plan(request, mode, model, built, output, outputs.output_dir(output, ctx.cwd))


def _media_i2v(request: Dict[str, Any], mode: str, model_id: str, defaulted: bool, console: Console) -> str:
    """A defaulted i2v model that cannot take the request's media-protocol fields becomes wan2.7-i2v."""
    spec = catalog.get(model_id)
    if not defaulted or mode != "i2v" or spec is None:
        return model_id
    wanted = [key for key in modes.MEDIA_I2V_FIELDS if modes.has(request, key) and not spec.takes(key)]
    if not wanted:
        return model_id
    console.info("Note: using %s: the default i2v model %s takes no %s"
                 % (modes.MEDIA_I2V_MODEL, model_id, "/".join(wanted)))
    return modes.MEDIA_I2V_MODEL


def _regional(model_id: str, defaulted: bool, ctx: Context, console: Console) -> str:
    """Check the model against the configured region; a default gets its regional twin."""
    spec = catalog.get(model_id)
    region = config.region_of(ctx)
    if spec is None or region is None or region in spec.regions:
        return model_id
    twin = catalog.regional_twin(model_id, region)
    if defaulted and twin:
        console.info("Note: using %s, the %s id of the default model %s" % (twin, region, model_id))
        return twin
    served = [m.id for m in catalog.models_for_mode(spec.mode) if region in m.regions]
    if defaulted and served:
        console.info("Note: using %s: the default %s model %s is not offered in %s"
                     % (served[0], spec.mode, model_id, region))
        return served[0]
    alternative = twin or (served[0] if served else None)
    console.warn("%s is listed for %s, not %s: that endpoint may reject it%s" % (
        model_id, ", ".join(spec.regions), region,
        " (use %s there)" % alternative if alternative else " (no %s model is listed there)" % spec.mode))
    return model_id


def dry_run(args, ctx: Context, console: Console) -> int:
    plan = make_plan(args, ctx, console)
    base = config.endpoint(ctx).base_url
    files = media.local_files(plan.request, ctx.cwd, media.home_of(ctx.environ))
    uploads = [{"field": f.ref.label, "path": str(f.path), "bytes": f.path.stat().st_size} for f in files]
    requests = []
    bucket = None
    if files:
        from . import oss_sign, own_bucket

        bucket = own_bucket.settings(ctx)
    if bucket is not None:
        requests.append({"method": "PUT", "url": oss_sign.object_url(
                             bucket.endpoint, bucket.bucket, "%s/<YYYYMMDD>/<random>_<name>" % bucket.prefix),
                         "headers": {"Authorization": "OSS4-HMAC-SHA256 ***", "Content-Type": "<file type>"},
                         "uploads": uploads,
                         "note": "each file is PUT to your bucket %s (%s) and replaced by a presigned GET "
                                 "URL valid %d s in the body below" % (bucket.bucket, bucket.region, bucket.expires)})
    elif files:
        requests.append({"method": "GET", "url": "%s/uploads?action=getPolicy&model=%s" % (base, plan.model),
                         "headers": {"Authorization": "Bearer ***"},
                         "uploads": uploads,
                         "note": "each file is then POSTed to the policy's upload_host and replaced by "
                                 "its oss:// URL in the body below"})
    headers = {"Authorization": "Bearer ***", "Content-Type": "application/json",
               "X-DashScope-Async": "enable"}
    if (files and bucket is None) or payload.has_oss_url(plan.built.body):
        headers["X-DashScope-OssResourceResolve"] = "enable"
    requests.append({"method": "POST", "url": base + plan.built.route, "headers": headers,
                     "body": plan.built.body})
    console.result({"mode": plan.mode, "model": plan.model, "requests": requests})
    return EXIT_OK


def list_models(args, console: Console) -> int:
    rows = []
    for model in catalog.MODELS.values():
        if args.mode and model.mode != args.mode:
            continue
        rows.append({
            "id": model.id, "mode": model.mode, "family": model.family, "protocol": model.protocol,
            "endpoint": model.endpoint, "resolution_field": model.resolution_field,
            "resolutions": list(model.tiers), "sizes": list(model.sizes), "ratios": list(model.ratios),
            "durations": model.duration.describe() if model.duration else None,
            "audio": model.audio, "prompt_max": model.prompt_max, "regions": list(model.regions),
            "default": catalog.DEFAULT_MODELS.get(model.mode) == model.id,
            "disputed": dict(model.disputed),
        })
    if args.print_response:
        console.result(rows)
        return EXIT_OK
    table = console.table(
        ([r["id"] + (" *" if r["default"] else ""), r["mode"], r["family"],
          "%s %s" % (r["resolution_field"], "/".join(r["resolutions"])),
          r["durations"] or "-", r["audio"]] for r in rows),
        ("model (* default)", "mode", "family", "resolution", "duration (s)", "audio"))
    console.plain(table)
    return EXIT_OK


def list_journal(args, ctx: Context, console: Console) -> int:
    from . import gallery, journal

    directory = outputs.output_dir(args.output, ctx.cwd)
    book = journal.Journal(directory, ctx.wall_clock)
    tasks = list(book.tasks().values())
    for intent in book.unresolved():  # a submit whose answer never arrived (killed or ambiguous)
        tasks.append({"task_id": None, "submitted_at": intent.get("submitted_at"), "mode": intent.get("mode"),
                      "model": intent.get("model"), "status": "SUBMIT-UNANSWERED",
                      "request_digest": intent.get("request_digest"), "output": intent.get("output")})
    if args.print_response:
        console.result({"journal": str(directory / journal.JOURNAL_NAME), "tasks": tasks})
        return EXIT_OK
    if not tasks:
        console.always("No tasks recorded in %s" % (directory / journal.JOURNAL_NAME))
        return EXIT_OK
    console.plain(console.table(
        ([t.get("task_id") or "(unknown: rerun the request)", _when(t.get("submitted_at")), t.get("mode", "?"), t.get("model", "?"),
          gallery.status_text(t), gallery.resolution_of(t), gallery.duration_of(t), gallery.excerpt(t.get("prompt")),
          t.get("local_path") or ""] for t in tasks),
        ("task id", "submitted", "mode", "model", "status", "resolution", "duration", "prompt", "local file")))
    return EXIT_OK


def _when(epoch: Any) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(float(epoch)))
    except (TypeError, ValueError):
        return "?"
