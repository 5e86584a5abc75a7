"""What several commands share: the request they read, the API client, the update check."""
from __future__ import annotations

from typing import Any, Dict

from .. import config, updates
from ..console import Console
from ..context import Context
from ..errors import EXIT_OK
from ..options import Options
from ..outcome import Outcome, task_document
from ..tasks import Runtime, TaskRef

# The following and saving steps (and the gallery) are imported where they run: the offline
# commands import this module too, and --dry-run's start-up must stay close to a bare interpreter.


def load_request(options: Options, ctx: Context) -> Dict[str, Any]:
    """The JSON request of --request (wins) or --file (`-` for either: stdin), with --prompt merged in."""
    from .. import request_text
    from ..errors import UsageError
    from ..media import home_of

    text, file = options.request, options.file
    if text == "-":
        text, file = None, "-"
    if options.prompt is not None and text is None and file is None:
        return {"prompt": options.prompt}
    request = request_text.load(text, file, ctx.cwd, stdin=ctx.stdin, home=home_of(ctx.environ))
    if options.prompt is None:
        return request
    if "prompt" in request or "prompt" in (request.get("input") or {} if isinstance(request.get("input"), dict)
                                           else {}):
        raise UsageError("the request has its own prompt and --prompt gives another",
                         hint="drop one of them: --prompt, or the request's \"prompt\"")
    return dict(request, prompt=options.prompt)


def open_journal(directory, ctx: Context, console: Console):
    """The task journal of an output directory: what it stores is redacted, bad lines are warned about."""
    from ..store import journal

    return journal.Journal(directory, ctx.wall_clock, redact=console.redactor.secrets, warn=console.warn)


def connect(ctx: Context, console: Console):
    """The DashScope client: the key is checked here, before anything is sent."""
    from ..net.api import DashScope

    config.load_dotenv(ctx)
    key = config.api_key(ctx)
    if config.is_token_plan_key(key):
        console.always(config.TOKEN_PLAN_WARNING)
    return DashScope(ctx, console, key, config.endpoint(ctx).base_url)


def update_check(ctx: Context) -> None:
    """The skill's update signal, once per run that talks to the service: skill installs only (updates.py)."""
    updates.maybe_signal(ctx)


def follow_and_save(rt: Runtime, ref: TaskRef, options: Options) -> Outcome:
    from ..tasks.follow import follow

    task = follow(rt, ref, options.timeout, options.poll_interval)
    return saved_outcome(rt, task, ref)


def saved_outcome(rt: Runtime, task: Dict[str, Any], ref: TaskRef) -> Outcome:
    """Finish an ended task: the saved video's document, or the failure (raised)."""
    from ..store import gallery
    from ..tasks.finish import finish

    saved = finish(rt, task, ref)
    # The page after each single run's video; a batch writes it once, at its end.
    gallery.refresh(rt.book.path.parent, rt.console.warn, rt.console.redactor.secrets, rt.ctx.wall_clock)
    return Outcome(EXIT_OK, task_document(task, ref.task_id, ref.mode, ref.model, video_url=saved.video_url,
                                          local_path=saved.local_path, response_path=saved.response_path))
