"""The command line: argv to Options, one command run, its outcome rendered once, exceptions to exit codes."""
from __future__ import annotations

import argparse
import math
from typing import Any, Dict, List, Optional

from . import catalog, errors, modes
from .context import Context
from .errors import CliError, UsageError, ValidationFailed
from .options import DEFAULTS, Options
from .outcome import Outcome

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
  QWEN_HTTP_TIMEOUT                    seconds one network read/connect may wait, and a whole JSON
                                       answer may take (default: submit 60, queries 30, download
                                       60, upload 300); a submit that times out is looked up with
                                       the task list, never resent
  QWEN_TRACE                           1: one stderr line per HTTP exchange (method, URL without
                                       its query, status, bytes, ms); no headers, no secrets
"""


def _modes_help() -> str:
    codes = "\n".join("  %-4d %s" % (code, text) for code, text in errors.EXIT_CODES.items())
    return """\
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
""" % ("\n".join(modes.help_lines()), ENV_HELP, codes)


LIST_DEFAULT = 20  # --list without N: about a screenful


def _count(text: str) -> int:
    """A whole number of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a whole number" % text) from None
    if value < 1:
        raise argparse.ArgumentTypeError("%r must be 1 or more" % text)
    return value


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
        raise UsageError(message, hint="see `%s --help`" % self.prog)

    def print_help(self, file=None):
        super().print_help(file or self.stream)


def build_parser(stream=None, prog: str = "video.py") -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description="Generate video with Wan and HappyHorse models on DashScope (t2v, i2v, kf2v, r2v, "
                    "vace, videoedit): upload local files, submit, poll, download.",
        epilog=_modes_help().replace("video.py ", prog + " "), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.stream = stream
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    source = parser.add_argument_group("request")
    source.add_argument("--request", metavar="JSON",
                        help="flat JSON request, e.g. '{\"prompt\": \"...\"}'; - reads it from stdin")
    source.add_argument("--file", metavar="PATH", help="read the JSON request from a file, - for stdin "
                                                       "(--request wins)")
    source.add_argument("--prompt", metavar="TEXT",
                        help="the prompt, merged into the request (alone it is the whole request; a request "
                             "that has its own prompt is refused)")
    source.add_argument("--mode", choices=catalog.MODES, help="force the mode instead of auto-detecting it")
    source.add_argument("--model", metavar="ID", help="model id (overrides the request's \"model\" and the default)")
    out = parser.add_argument_group("output")
    out.add_argument("--output", "-o", metavar="PATH",
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
    task.add_argument("--submit-only", action="store_true",
                      help="submit, print the task id on stdout, exit 0 (with --batch: every item, one "
                           "'<item> <task id>' line each)")
    task.add_argument("--task-id", metavar="ID", help="resume an existing task: poll it and download the video")
    task.add_argument("--poll-once", action="store_true",
                      help="with --task-id (or --batch: every item): check once, download what is done; "
                           "exit 2 while still running")
    task.add_argument("--poll-interval", type=_seconds, default=DEFAULTS.poll_interval, metavar="N",
                      help="longest wait between status checks, seconds (default: 15; the first checks "
                           "come sooner)")
    task.add_argument("--timeout", type=_seconds, default=DEFAULTS.timeout, metavar="N",
                      help="stop waiting after N seconds and print the resume command, exit 2 (default: 600)")
    task.add_argument("--cancel", action="store_true", help="with --task-id: cancel a PENDING task")
    task.add_argument("--list", nargs="?", type=_count, const=LIST_DEFAULT, metavar="N",
                      help="list the newest N tasks recorded in the output directory's journal, newest first "
                           "(default %d)" % LIST_DEFAULT)
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


def parse(argv: Optional[List[str]], ctx: Context) -> Options:
    """argv as an Options record (argparse's own errors are UsageError; --help raises SystemExit)."""
    from .hints import program_name

    namespace = build_parser(ctx.stdout, program_name(ctx)).parse_args(argv)
    return Options(**{name: getattr(namespace, name) for name in Options._fields})


def refuse_contradictions(options: Options, program: str = "video.py") -> None:
    """Flag combinations that cannot both be honoured: say so instead of ignoring one."""
    has_request = options.request is not None or options.file is not None
    pairs = [
        (options.poll_once and not (options.task_id or options.batch), "--poll-once needs --task-id or --batch",
         "%s --task-id ID --poll-once, or %s --batch FILE --poll-once" % (program, program)),
        (options.cancel and not options.task_id, "--cancel needs --task-id", "%s --cancel --task-id ID" % program),
        (options.task_id and options.submit_only,
         "--submit-only submits a new task; --task-id follows an existing one", None),
        (options.task_id and options.dry_run, "--dry-run checks a new request; --task-id follows an existing task", None),
        (options.cancel and options.poll_once, "--cancel and --poll-once do different things to a task; pick one", None),
        (options.list and (has_request or options.task_id),
         "--list only shows the journal; it takes no request or task", None),
        (options.prompt is not None and (options.batch or options.task_id),
         "--prompt makes a new request; --batch and --task-id take none", None),
        (options.gallery and (has_request or options.task_id or options.batch or options.list or options.dry_run),
         "--gallery only rewrites index.html from the journal; run it on its own", None),
        (not options.batch and (options.concurrency is not None or options.skip_invalid),
         "--concurrency and --skip-invalid only apply to --batch", None),
        (options.task_id and has_request and not options.batch,
         "--task-id resumes an existing task; it takes no --request/--file",
         "drop --request/--file, or drop --task-id to submit a new task"),
    ]
    for contradicted, message, hint in pairs:
        if contradicted:
            raise UsageError(message, hint=hint or "see `%s --help`" % program)


def dispatch(options: Options, ctx: Context, console) -> Outcome:
    """Run the one command the options ask for (imported on demand: --help and --dry-run stay light)."""
    if options.version:
        from . import __version__
        from .hints import program_name

        return Outcome(errors.EXIT_OK, {"version": __version__},
                       "%s %s" % (program_name(ctx), __version__))
    if options.list_models:
        from .commands import offline

        return offline.list_models(options, console)
    from .hints import program_name

    refuse_contradictions(options, program_name(ctx))
    from .store.outputs import check_output_name

    check_output_name(options.output, ctx.cwd)
    if options.batch:
        from .commands import batch

        return batch.run(options, ctx, console)
    if options.list:
        from .commands import offline

        return offline.list_journal(options, ctx, console)
    if options.gallery:
        from .commands import offline

        return offline.write_gallery(options, ctx, console)
    if options.dry_run:
        from .commands import offline

        return offline.dry_run(options, ctx, console)
    if options.task_id:
        from .commands import task

        return task.run(options, ctx, console)
    from .commands import generate

    return generate.run(options, ctx, console)


def render(outcome: Outcome, options: Options, console) -> int:
    if outcome.document is not None and (options.print_response or outcome.always_json):
        console.result(outcome.document)
    elif outcome.stdout_line is not None:
        console.plain(outcome.stdout_line)
    return outcome.code


def error_document(exc: CliError) -> Dict[str, Any]:
    """--print-response's one JSON document for a failure: what is known of the task, and the error."""
    document = dict(exc.document) if isinstance(exc.document, dict) else {}
    document["error"] = {"code": getattr(exc, "api_code", None), "message": exc.message, "hint": exc.hint,
                         "exit_code": exc.code}
    if isinstance(exc, ValidationFailed):
        document["error"]["problems"] = exc.problems
    return document


def main(argv: Optional[List[str]] = None, ctx: Optional[Context] = None) -> int:
    ctx = ctx or Context()
    from .console import Console

    console = Console(ctx)
    options = None
    try:
        try:
            options = parse(argv, ctx)
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        console.quiet = options.quiet
        return render(dispatch(options, ctx, console), options, console)
    except ValidationFailed as exc:
        for problem in exc.problems:
            console.error(problem)
        console.always("Hint: nothing was sent; fix the fields above (see `video.py --list-models`)")
        _error_json(exc, options, console)
        return exc.code
    except CliError as exc:
        console.end_live()
        console.error(exc.message, exc.hint)
        _error_json(exc, options, console)
        return exc.code
    except KeyboardInterrupt:
        console.end_live()
        console.always("Interrupted.")
        return errors.EXIT_INTERRUPTED
    except errors.OutputClosed:
        _detach_stdout(ctx)  # `| head -1` stopped reading: end quietly, as other tools do
        return errors.EXIT_FAILED
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


def _error_json(exc: CliError, options: Optional[Options], console) -> None:
    if options is not None and options.print_response:
        try:
            console.result(error_document(exc))
        except errors.OutputClosed:
            _detach_stdout(console.ctx)


def _detach_stdout(ctx: Context) -> None:
    """Point a closed stdout at the null device, so that nothing (not even the interpreter's last
    flush) reports the broken pipe again (the Python docs' advice for SIGPIPE)."""
    try:
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), ctx.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
