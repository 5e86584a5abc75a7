"""What several commands share: the request they read, the API client, the update check."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

from .. import config
from ..console import Console
from ..context import Context
from ..errors import EXIT_OK, UsageError
from ..options import Options
from ..outcome import Outcome, task_document
from ..tasks import Runtime, TaskRef
from ..tasks.finish import finish
from ..tasks.follow import follow


def load_request(options: Options, ctx: Context) -> Dict[str, Any]:
    """The JSON request of --request (wins) or --file, as a dict."""
    if options.request is not None:
        text, origin = options.request, "--request"
    elif options.file is not None:
        path = Path(options.file).expanduser()
        path = path if path.is_absolute() else ctx.cwd / path
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise UsageError("--file %s: no such file" % options.file, hint="check the path") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError("--file %s: cannot read it (%s)" % (options.file, exc)) from None
        origin = "--file " + options.file
    else:
        raise UsageError("no request given", hint="pass --request '{\"prompt\": \"...\"}' or --file request.json "
                                                  "(or --task-id ID to resume a task)")
    try:
        request = json.loads(text)
    except ValueError as exc:
        raise UsageError("%s is not valid JSON: %s" % (origin, exc),
                         hint="quote the JSON in single quotes in the shell: --request '{\"prompt\": \"a cat\"}'") from None
    if not isinstance(request, dict):
        raise UsageError("%s must be a JSON object, got %s" % (origin, type(request).__name__),
                         hint='for example {"prompt": "a cat surfing"}')
    return request


def connect(ctx: Context, console: Console):
    """The DashScope client: the key is checked here, before anything is sent."""
    from ..net.api import DashScope

    config.load_dotenv(ctx)
    key = config.api_key(ctx)
    if config.is_token_plan_key(key):
        console.always(config.TOKEN_PLAN_WARNING)
    return DashScope(ctx, console, key, config.endpoint(ctx).base_url)


def update_check(ctx: Context) -> None:
    """The skill's update signal (scripts/gossamer.py beside video.py), once per run that talks to the service."""
    try:
        import gossamer  # scripts/ is on sys.path when run as video.py
    except ImportError:
        return
    gossamer.run(caller=str(ctx.script_path))


def follow_and_save(rt: Runtime, ref: TaskRef, options: Options) -> Outcome:
    task = follow(rt, ref, options.timeout, options.poll_interval)
    return saved_outcome(rt, task, ref)


def saved_outcome(rt: Runtime, task: Dict[str, Any], ref: TaskRef) -> Outcome:
    """Finish an ended task: the saved video's document, or the failure (raised)."""
    saved = finish(rt, task, ref)
    return Outcome(EXIT_OK, task_document(task, ref.task_id, ref.mode, ref.model, video_url=saved.video_url,
                                          local_path=saved.local_path, response_path=saved.response_path))
