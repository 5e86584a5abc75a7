"""The request as the user gave it: --request text, a --file path, or stdin, parsed safely.

Whatever the source, the outcome is a JSON object or one UsageError with a clear message: a
FIFO, a device (/dev/zero) or a file over REQUEST_LIMIT is refused without reading it whole,
deep nesting is refused before parsing (safe_json), and text that cannot be sent as UTF-8 (a
lone surrogate from a JSON "\\ud800" escape) is a ValidationFailed naming the field.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, TextIO

from . import safe_json, validate
from .errors import UsageError, ValidationFailed
from .media import expand_user

REQUEST_LIMIT = 1024 * 1024  # bytes: a request is a few KB; media travel as paths, not inline
JSON_HINT = "quote the JSON in single quotes in the shell: --request '{\"prompt\": \"a cat\"}'"


def load(text: Optional[str] = None, file: Optional[str] = None, cwd: Optional[Path] = None,
         stdin: Optional[TextIO] = None, home: Optional[str] = None) -> Dict[str, Any]:
    """The request object from `text` (--request, wins), else `file` (--file; "-" reads `stdin`
    when one is given). Raises UsageError (or ValidationFailed) with one message per problem."""
    if text is not None:
        origin = "--request"
    elif file is not None:
        origin = "--file " + file
        text = read(file, cwd or Path.cwd(), stdin, home)
    else:
        raise UsageError("no request given", hint="pass --request '{\"prompt\": \"...\"}' or --file request.json "
                                                  "(or --task-id ID to resume a task)")
    return parse(text, origin)


def read(file: str, cwd: Path, stdin: Optional[TextIO] = None, home: Optional[str] = None) -> str:
    """The text of a --file: at most REQUEST_LIMIT bytes of a regular file (or of stdin for "-")."""
    if file == "-" and stdin is not None:
        text = stdin.read(REQUEST_LIMIT + 1)
        if len(text.encode("utf-8", "surrogatepass")) > REQUEST_LIMIT:
            raise UsageError("--file -: the request on stdin is more than %d bytes" % REQUEST_LIMIT,
                             hint="a request is a small JSON object; pass media as paths or URLs")
        return text
    path = Path(expand_user(file, home))
    path = path if path.is_absolute() else cwd / path
    try:
        return safe_json.read_text(path, REQUEST_LIMIT, what="it")
    except FileNotFoundError:
        raise UsageError("--file %s: no such file" % file, hint="check the path") from None
    except safe_json.Invalid as exc:
        raise UsageError("--file %s: %s" % (file, exc),
                         hint="--file takes a regular UTF-8 file holding one JSON object (at most %d bytes)"
                              % REQUEST_LIMIT) from None
    except (OSError, ValueError) as exc:
        raise UsageError("--file %s: cannot read it (%s)" % (file, getattr(exc, "strerror", None) or exc),
                         hint="check the path and its permissions") from None


def parse(text: str, origin: str) -> Dict[str, Any]:
    """A JSON object from request text; `origin` names the source in messages."""
    try:
        request = safe_json.loads(text)
    except safe_json.Invalid as exc:
        raise UsageError("%s is not valid JSON: %s" % (origin, exc), hint=JSON_HINT) from None
    if not isinstance(request, dict):
        raise UsageError("%s must be a JSON object, got %s" % (origin, _json_type(request)),
                         hint='for example {"prompt": "a cat surfing"}')
    problems = validate.text_problems(request)
    if problems:
        raise ValidationFailed(problems)
    return request


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return {list: "an array", str: "a string", int: "a number", float: "a number",
            type(None): "null"}.get(type(value), type(value).__name__)
