"""The commands that send nothing: --dry-run, --list-models, --list, --gallery."""
from __future__ import annotations

from typing import Any, Dict, List

from .. import catalog, config, media, payload
from ..console import Console
from ..context import Context
from ..errors import EXIT_OK, CliError
from ..hints import when
from ..options import Options
from ..outcome import Outcome
from ..store import outputs
from ..tasks.plan import make_plan
from .common import load_request, open_journal


def dry_run(options: Options, ctx: Context, console: Console) -> Outcome:
    """The exact requests a run would send, without a key or the network."""
    config.load_dotenv(ctx)  # .env may set the region, which decides regional model ids
    plan = make_plan(load_request(options, ctx), ctx, console, model=options.model, mode=options.mode,
                     output=options.output, check=not options.no_validate)
    base = config.endpoint(ctx).base_url
    files = media.local_files(plan.request, ctx.cwd, media.home_of(ctx.environ))
    uploads = [{"field": f.ref.label, "path": str(f.path), "bytes": f.path.stat().st_size} for f in files]
    requests: List[Dict[str, Any]] = []
    bucket = None
    if files:
        from ..upload import oss_sign, own_bucket

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
    check = payload.face_check_body(plan.built.spec, plan.built.body)
    if check is not None:
        requests.append({"method": "POST", "url": base + catalog.FACE_DETECT_ROUTE,
                         "headers": {k: v for k, v in headers.items() if k != "X-DashScope-Async"}, "body": check,
                         "note": "unbilled and synchronous: a portrait without a usable face stops here"})
    requests.append({"method": "POST", "url": base + plan.built.route, "headers": headers,
                     "body": plan.built.body})
    document = {"mode": plan.mode, "model": plan.model, "requests": requests}
    return Outcome(EXIT_OK, document, always_json=True)


def list_models(options: Options, console: Console) -> Outcome:
    rows = []
    for model in catalog.MODELS.values():
        if options.mode and model.mode != options.mode:
            continue
        rows.append({
            "id": model.id, "mode": model.mode, "family": model.family, "protocol": model.protocol,
            "endpoint": model.endpoint, "resolution_field": model.resolution_field,
            "resolutions": list(model.tiers), "sizes": list(model.sizes), "ratios": list(model.ratios),
            "durations": model.duration.describe() if model.duration else None,
            "length_from": None if model.duration else model.length_from,
            "required": list(model.required), "choices": {k: list(v) for k, v in model.choices.items()},
            "ranges": {k: list(v) for k, v in model.ranges.items()}, "face_check": model.face_check or None,
            "notes": model.notes or None,
            "audio": model.audio, "prompt_max": model.prompt_max, "regions": list(model.regions),
            "default": catalog.DEFAULT_MODELS.get(model.mode) == model.id,
            "disputed": dict(model.disputed),
        })
    table = console.table(
        ([r["id"] + (" *" if r["default"] else ""), r["mode"], r["family"], resolution_values(r),
          r["durations"] or "the %s's" % (r["length_from"] or "input"), r["audio"]] for r in rows),
        ("model (* default)", "mode", "family", "resolution (the values a request may write)", "duration (s)",
         "audio"))
    return Outcome(EXIT_OK, rows, table)


def resolution_values(row: Dict[str, Any]) -> str:
    """The field and the exact values a request may give it: W*H sizes for a `size` model (its tier
    names are not accepted there), tiers (and ratios) for a `resolution` model."""
    if row["resolution_field"] is None:
        return "the input's"
    if row["resolution_field"] == "size":
        return "size " + "/".join(row["sizes"]) if row["sizes"] else "size W*H"
    text = "resolution " + "/".join(row["resolutions"])
    if row["ratios"]:
        text += ", ratio " + "/".join(row["ratios"])
    return text


def list_journal(options: Options, ctx: Context, console: Console) -> Outcome:
    from ..store import gallery, journal

    directory = outputs.output_dir(options.output, ctx.cwd)
    # Newest first, reading back only as far as the limit needs (a journal of years stays fast);
    # a submit whose answer never arrived is listed as SUBMIT-UNANSWERED.
    tasks = open_journal(directory, ctx, console).list_recent(options.list or 1)
    document = {"journal": str(directory / journal.JOURNAL_NAME), "tasks": tasks}
    if not tasks:
        console.always("No tasks recorded in %s" % (directory / journal.JOURNAL_NAME))
        return Outcome(EXIT_OK, document)
    table = console.table(
        ([t.get("task_id") or "(unknown: rerun the request)", when(t.get("submitted_at")), t.get("mode", "?"),
          t.get("model", "?"), gallery.status_text(t), gallery.resolution_of(t), gallery.duration_of(t),
          gallery.excerpt(t.get("prompt")), t.get("local_path") or ""] for t in tasks),
        ("task id", "submitted", "mode", "model", "status", "resolution", "duration", "prompt", "local file"))
    return Outcome(EXIT_OK, document, table)


def write_gallery(options: Options, ctx: Context, console: Console) -> Outcome:
    """`--gallery`: rewrite the output directory's page from its journal, on demand."""
    from ..store import gallery, journal

    directory = outputs.output_dir(options.output, ctx.cwd)
    journal_path = str(directory / journal.JOURNAL_NAME)
    try:
        page, counts = gallery.build(directory, ctx.wall_clock, console.redactor.secrets)
    except OSError as exc:
        raise CliError("could not write the gallery page %s: %s" % (directory / gallery.INDEX_NAME,
                                                                   exc.strerror or exc),
                       hint="check the directory's permissions, or pick the directory with --output") from None
    if page is None:
        console.always("No tasks recorded in %s; no gallery written" % journal_path)
        return Outcome(EXIT_OK, {"gallery": None, "journal": journal_path, "tasks": 0})
    saved = counts.get("saved", 0)
    console.always("Gallery written: %s (%d saved video%s of %d tasks); open it in a browser"
                   % (page, saved, "" if saved == 1 else "s", sum(counts.values())))
    return Outcome(EXIT_OK, {"gallery": str(page), "journal": journal_path, "tasks": sum(counts.values()),
                             "states": counts})
