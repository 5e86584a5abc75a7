"""Command line: argparse and dispatch; every path returns an exit code."""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from . import catalog, errors
from .context import Context
from .errors import CliError, UsageError, ValidationFailed

ENV_HELP = """\
environment:
  QIANWEN_API_KEY, DASHSCOPE_API_KEY   API key (the first one set wins); also read from .env in the
                                       current directory, then .env at the project root
  DASHSCOPE_HTTP_BASE_URL              full API root, e.g. https://dashscope.aliyuncs.com/api/v1 (wins)
  QWEN_BASE_URL                        service host; /api/v1 is appended when it has no path
  QWEN_REGION                          cn-beijing (default), ap-southeast-1, us-east-1
  QWEN_TMP_OSS_BUCKET, QWEN_TMP_OSS_REGION, QWEN_TMP_OSS_AK_ID, QWEN_TMP_OSS_AK_SECRET
                                       upload local files to your own OSS bucket instead of the
                                       48 h DashScope temporary storage (see SKILL.md); also
                                       QWEN_TMP_OSS_ENDPOINT, QWEN_TMP_OSS_PREFIX,
                                       QWEN_TMP_OSS_URL_EXPIRES, and the fallback credentials
                                       OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET, OSS_SESSION_TOKEN
  HTTPS_PROXY, HTTP_PROXY, NO_PROXY    proxy (and its credentials in the URL, never printed)
  SSL_CERT_FILE, SSL_CERT_DIR          CA bundle for a corporate proxy (TLS is always verified)
  QWEN_DEBUG                           1: show the traceback of an unexpected internal error
  QWEN_HTTP_TIMEOUT                    seconds one network read/connect may wait (default: submit
                                       60, queries 30, download 60, upload 300); a submit that
                                       times out is looked up with the task list, never resent
"""


def _modes_help() -> str:
    defaults = "\n".join("  %-10s %s" % (mode, catalog.DEFAULT_MODELS[mode]) for mode in catalog.MODES)
    codes = "\n".join("  %-4d %s" % (code, text) for code, text in errors.EXIT_CODES.items())
    return """\
mode auto-detection (first match wins; --mode overrides):
  a known --model/"model" decides: every catalog model serves one mode
  "function"                          -> vace
  "reference_urls"                    -> r2v
  "media" or "first_clip_url"         -> i2v
  "first_frame_url"                   -> kf2v (i2v for a media-protocol i2v model)
  "img_url" or "reference_image"      -> i2v
  otherwise                           -> t2v
model priority: --model > request "model" > the mode's default:
%s
resolution field: size "W*H" for wan2.1-2.6 t2v/r2v/vace; resolution "720P" for wan2.1-2.6
  i2v/kf2v; resolution + ratio for wan2.7 and HappyHorse (see --list-models)

%s
exit codes:
%s

examples:
  video.py --request '{"prompt":"a lighthouse at dawn, waves crashing","size":"1280*720","duration":5}'
  video.py --request '{"prompt":"she turns and smiles","img_url":"./portrait.png"}' --print-response
  video.py --request '{"prompt":"..."}' --submit-only        then: video.py --task-id ID --poll-once
  video.py --batch prompts.jsonl --output ./clips      (again to resume; see prompts.manifest.jsonl)
""" % (defaults, ENV_HELP, codes)


def _seconds(text: str) -> float:
    """A finite, positive number of seconds (nan, inf, 0 and negatives are usage errors)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number of seconds" % text) from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError("%r must be a positive, finite number of seconds" % text)
    return value


class _Parser(argparse.ArgumentParser):
    stream = None  # where --help goes: the injected stdout

    def error(self, message: str):  # argparse's own errors exit 64, not 2
        raise UsageError(message, hint="see `video.py --help`")

    def print_help(self, file=None):
        super().print_help(file or self.stream)


def build_parser(stream=None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="video.py",
        description="Generate video with Wan and HappyHorse models on DashScope (t2v, i2v, kf2v, r2v, "
                    "vace, videoedit): upload local files, submit, poll, download.",
        epilog=_modes_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.stream = stream
    source = parser.add_argument_group("request")
    source.add_argument("--request", metavar="JSON", help="flat JSON request, e.g. '{\"prompt\": \"...\"}'")
    source.add_argument("--file", metavar="PATH", help="read the JSON request from a file (--request wins)")
    source.add_argument("--mode", choices=catalog.MODES, help="force the mode instead of auto-detecting it")
    source.add_argument("--model", metavar="ID", help="model id (overrides the request's \"model\" and the default)")
    out = parser.add_argument_group("output")
    out.add_argument("--output", metavar="PATH",
                     help="directory for results, or a file name ending in .mp4/.mov/...; "
                          "default ./output/qianwen-video-generation/")
    out.add_argument("--print-response", action="store_true",
                     help="print one JSON object on stdout: the task response plus task_id, mode, model, "
                          "video_url, local_path, response_path")
    out.add_argument("--quiet", "-q", action="store_true",
                     help="no progress lines (the task id and errors are still printed)")
    out.add_argument("--gallery", action="store_true",
                     help="rewrite index.html in the output directory from its journal: a page of every video "
                          "with its prompt and settings (it is also rewritten after each saved video)")
    task = parser.add_argument_group("task control")
    task.add_argument("--submit-only", action="store_true", help="submit, print the task id on stdout, exit 0")
    task.add_argument("--task-id", metavar="ID", help="resume an existing task: poll it and download the video")
    task.add_argument("--poll-once", action="store_true",
                      help="with --task-id: check once; exit 2 if it is still running")
    task.add_argument("--poll-interval", type=_seconds, default=15.0, metavar="N",
                      help="longest wait between status checks, seconds (default: 15; the first checks "
                           "come sooner)")
    task.add_argument("--timeout", type=_seconds, default=600.0, metavar="N",
                      help="stop waiting after N seconds and print the resume command, exit 2 (default: 600)")
    task.add_argument("--cancel", action="store_true", help="with --task-id: cancel a PENDING task")
    task.add_argument("--list", action="store_true", help="list the tasks recorded in the output directory's journal")
    task.add_argument("--force", action="store_true",
                      help="submit even if the same request already has a task from the last 24 h")
    batch = parser.add_argument_group("batch")
    batch.add_argument("--batch", metavar="FILE",
                       help="run many requests: a JSONL file (one request per line, each may carry its own "
                            "\"model\", \"mode\" and \"output\" name) or a JSON array; results and "
                            "FILE's manifest go to --output; run the same command again to resume")
    batch.add_argument("--concurrency", type=int, metavar="N",
                       help="with --batch: at most N running tasks per model (default: the model's limit "
                            "from the catalog)")
    batch.add_argument("--skip-invalid", action="store_true",
                       help="with --batch: submit the valid requests and report the invalid ones as failed "
                            "(default: submit nothing when any request is invalid)")
    info = parser.add_argument_group("checks")
    info.add_argument("--dry-run", action="store_true",
                      help="validate and print the exact request(s) that would be sent; no key, no network")
    info.add_argument("--no-validate", action="store_true",
                      help="skip the catalog checks and let the service judge the request (for a stale "
                           "catalog); local files must still exist")
    info.add_argument("--list-models", action="store_true",
                      help="print the model catalog (with --mode: one mode; JSON with --print-response)")
    return parser


def command_prefix(ctx: Context) -> List[str]:
    """How to run this CLI again: the script by absolute path, or the console script when installed."""
    if ctx.script_path.exists():
        return ["python3", str(ctx.script_path)]
    return ["qianwen-video"]  # `pip install .` puts the package in site-packages without video.py


def resume_command(ctx: Context, task_id: str, output: Optional[str] = None, poll_once: bool = False) -> str:
    """The exact command that picks this task up again."""
    parts = command_prefix(ctx) + ["--task-id", task_id]
    if output:
        parts += ["--output", output]
    if poll_once:
        parts += ["--poll-once"]
    return " ".join(shlex.quote(p) for p in parts)


def load_request(args, ctx: Context) -> Dict[str, Any]:
    if args.request is not None:
        text, origin = args.request, "--request"
    elif args.file is not None:
        path = Path(args.file).expanduser()
        path = path if path.is_absolute() else ctx.cwd / path
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise UsageError("--file %s: no such file" % args.file, hint="check the path") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError("--file %s: cannot read it (%s)" % (args.file, exc)) from None
        origin = "--file " + args.file
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


def main(argv: Optional[List[str]] = None, ctx: Optional[Context] = None) -> int:
    ctx = ctx or Context()
    from .console import Console

    console = Console(ctx)
    try:
        try:
            args = build_parser(ctx.stdout).parse_args(argv)
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        console.quiet = args.quiet
        from . import run

        return run.dispatch(args, ctx, console)
    except ValidationFailed as exc:
        for problem in exc.problems:
            console.error(problem)
        console.always("Hint: nothing was sent; fix the fields above (see `video.py --list-models`)")
        return exc.code
    except CliError as exc:
        console.error(exc.message, exc.hint)
        return exc.code
    except KeyboardInterrupt:
        console.end_live()
        console.always("Interrupted.")
        return errors.EXIT_INTERRUPTED
    except OSError as exc:
        where = " %s" % exc.filename if getattr(exc, "filename", None) else ""
        console.error("cannot access%s: %s" % (where, exc.strerror or exc),
                      hint="check the path and its permissions, or choose another place with --output")
        return errors.EXIT_FAILED
    except Exception as exc:  # a bug: one redacted line; QWEN_DEBUG=1 shows the traceback
        if ctx.get("QWEN_DEBUG"):
            raise
        console.end_live()
        console.error("unexpected internal error: %s: %s" % (exc.__class__.__name__, exc),
                      "please report this (QWEN_DEBUG=1 shows the traceback); any task id printed above "
                      "can be resumed with --task-id, and `video.py --list` shows the tasks recorded so far")
        return errors.EXIT_FAILED


def entry() -> None:
    """Console-script entry point (pyproject) and `python3 scripts/video.py`."""
    sys.exit(main())
