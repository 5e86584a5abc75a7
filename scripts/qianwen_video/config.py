"""Credentials and endpoint: environment first, then `.env` files, never printed."""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple
from urllib.parse import urlsplit

from . import catalog
from .console import printable
from .context import Context
from .errors import CliError, UsageError

KEY_VARIABLES = ("QIANWEN_API_KEY", "DASHSCOPE_API_KEY")
KEY_CONSOLE_URL = "https://platform.qianwenai.com/home/api-keys"
PLACEHOLDER_KEYS = ("sk-your-key-here", "sk-...")

MISSING_KEY_MESSAGE = "QIANWEN_API_KEY/DASHSCOPE_API_KEY not found."
MISSING_KEY_HINT = (
    "Option 1: add it to a .env file in the project root or the current directory:\n"
    "  echo 'DASHSCOPE_API_KEY=sk-your-key-here' >> .env   (then replace the placeholder)\n"
    "Option 2: export it as an environment variable:\n"
    "  export DASHSCOPE_API_KEY='sk-...'\n"
    "Get a key: " + KEY_CONSOLE_URL)
TOKEN_PLAN_WARNING = (
    "Warning: Token Plan key detected (sk-sp-...). Video generation needs a standard API key "
    "(sk-...): Token Plan keys target token-plan.cn-beijing.maas.aliyuncs.com and do not include "
    "video models. Docs: https://platform.qianwenai.com/docs/token-plan/overview")


def parse_dotenv(text: str) -> Dict[str, str]:
    """Parse KEY=VALUE lines; `export`, quotes and comments are handled, nothing is evaluated."""
    return {name: value for name, value, _ in dotenv_entries(text)}


def dotenv_entries(text: str) -> List[Tuple[str, str, int]]:
    """(name, value, line number) for each KEY=VALUE line, in order.

    A value in matching quotes is what is inside them, whatever follows the closing quote
    (`KEY="v" # note` is `v`); an unquoted value ends before ` #`.
    """
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        name, _, value = line.partition("=")
        name, value = name.strip(), value.strip()
        quote = value[:1]
        closing = value.find(quote, 1) if quote in ("'", '"') else -1
        if closing > 0 and (not value[closing + 1:].strip() or value[closing + 1:].lstrip().startswith("#")):
            value = value[1:closing]
        elif " #" in value or "\t#" in value:
            value = re.split(r"\s#", value, 1)[0].rstrip()
        if name:
            entries.append((name, value, number))
    return entries


def read_dotenv(path: Path) -> Tuple[str, List[int]]:
    """A .env file's text and the numbers of its lines that were not UTF-8.

    Each such line is read as Latin-1 (every byte is some character) rather than dropping the
    file or the line: a value is never silently lost. OSError when the file cannot be read.
    """
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines, bad = [], []
    for number, raw in enumerate(data.split(b"\n"), 1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(raw.decode("latin-1"))
            bad.append(number)
    return "\n".join(lines), bad


def project_root(script_path: Path) -> Optional[Path]:
    """The first ancestor of the script holding `.git` or a `skills/` folder."""
    for folder in [script_path.resolve()] + list(script_path.resolve().parents):
        if (folder / ".git").exists() or (folder / "skills").is_dir():
            return folder
    return None


def load_dotenv(ctx: Context, warn: Optional[Callable[[str], None]] = None) -> None:
    """Fill ctx.environ from `.env` in the cwd, then the project root; real variables win.

    A value taken from a line that is not UTF-8 is warned about (file and line, never the value)
    through `warn`, by default as a `Warning:` line on ctx.stderr.
    """
    files = [ctx.cwd / ".env"]
    root = project_root(ctx.script_path)
    if root is not None:
        files.append(root / ".env")
    for path in files:
        try:
            if not path.is_file():
                continue
            text, bad_lines = read_dotenv(path)
        except OSError:
            continue
        for name, value, number in dotenv_entries(text):
            if not (ctx.environ.get(name) or "").strip():
                ctx.environ[name] = value
                if number in bad_lines:
                    message = ("%s line %d is not UTF-8 text; %s was read from it as Latin-1 (save the file "
                               "as UTF-8)" % (path, number, name))
                    if warn is not None:
                        warn(message)
                    else:
                        ctx.stderr.write(printable("Warning: " + message) + "\n")


def api_key(ctx: Context) -> str:
    placeholder = None
    for name in KEY_VARIABLES:
        value = ctx.get(name)
        if value in PLACEHOLDER_KEYS:
            placeholder = placeholder or name
        if value and value not in PLACEHOLDER_KEYS:
            if not _plausible_key(value):
                # Never echo the value: it is a secret, even when it is a damaged one.
                raise CliError("%s contains characters an API key cannot have (a line break, a space, a "
                               "control character or a non-ASCII character); re-copy it" % name,
                               hint="copy the key again from %s and set it on one line, without quotes "
                                    "inside the value" % KEY_CONSOLE_URL)
            return value
    if placeholder:  # the README's (or .env.example's) example value, never replaced
        raise CliError("%s is still the placeholder from the example, not an API key" % placeholder,
                       hint="replace it (in .env or the environment) with your key from %s" % KEY_CONSOLE_URL)
    raise CliError(MISSING_KEY_MESSAGE, hint=MISSING_KEY_HINT)


def _plausible_key(value: str) -> bool:
    """Printable ASCII without spaces: anything else cannot travel in an HTTP header as is."""
    return all("!" <= ch <= "~" for ch in value)


def is_token_plan_key(key: str) -> bool:
    return key.startswith("sk-sp-")


def proxy_credentials(environ: Mapping[str, str]) -> List[Tuple[str, str]]:
    """(user, password) from every *_PROXY variable that carries them (as written, percent-encoded
    or not), for the redactor: they must never be shown, nor the `Basic` token made of them."""
    found = []
    for name, value in environ.items():
        if not name.lower().endswith("_proxy") or not value or "@" not in value:
            continue
        try:
            parts = urlsplit(value if "://" in value else "http://" + value)
            user, password = parts.username, parts.password
        except ValueError:
            continue
        if password:
            found.append((user or "", password))
    return found


class Endpoint(NamedTuple):
    base_url: str  # the API root, e.g. https://dashscope.aliyuncs.com/api/v1
    source: str  # which variable chose it, for diagnostics


def endpoint(ctx: Context) -> Endpoint:
    """DASHSCOPE_HTTP_BASE_URL > QWEN_BASE_URL > QWEN_REGION (default cn-beijing)."""
    return _endpoint(*_endpoint_variables(ctx))


def region_of(ctx: Context) -> Optional[str]:
    """The region whose model ids apply. With a custom endpoint (DASHSCOPE_HTTP_BASE_URL or
    QWEN_BASE_URL): its host's region when the host is recognisable, else QWEN_REGION, else None.
    Without one: QWEN_REGION (default cn-beijing), None when it is not a known region."""
    return _region_of(*_endpoint_variables(ctx))


def ids_region(ctx: Context) -> Tuple[str, Optional[str]]:
    """(region whose model ids a run uses, why it was assumed or None). When a custom endpoint
    hides the region and QWEN_REGION is not set, Beijing's ids are used (the default region)."""
    return _ids_region(*_endpoint_variables(ctx))


def _endpoint_variables(ctx: Context) -> Tuple[Optional[str], Optional[str], Optional[str]]:
    return ctx.get("DASHSCOPE_HTTP_BASE_URL"), ctx.get("QWEN_BASE_URL"), ctx.get("QWEN_REGION")


# Pure functions of the three variables, cached: a batch plans every item with the same ones.
@functools.lru_cache(maxsize=16)
def _endpoint(full: Optional[str], base: Optional[str], region: Optional[str]) -> Endpoint:
    if full:
        return Endpoint(_checked_url(full, "DASHSCOPE_HTTP_BASE_URL"), "DASHSCOPE_HTTP_BASE_URL")
    if base:
        url = _checked_url(base, "QWEN_BASE_URL")
        if urlsplit(url).path in ("", "/"):
            url = url.rstrip("/") + "/api/v1"
        return Endpoint(url, "QWEN_BASE_URL")
    region = (region or "cn-beijing").lower()
    if region not in catalog.REGIONS:
        raise UsageError("unknown QWEN_REGION %r" % region,
                         hint="use one of %s, or set DASHSCOPE_HTTP_BASE_URL to the full API root"
                              % ", ".join(catalog.REGIONS))
    return Endpoint(catalog.REGIONS[region], "QWEN_REGION=" + region)


@functools.lru_cache(maxsize=16)
def _region_of(full: Optional[str], base: Optional[str], region: Optional[str]) -> Optional[str]:
    if full or base:
        found = region_of_host(urlsplit(_endpoint(full, base, region).base_url).hostname or "")
        if found is not None:
            return found
        region = (region or "").strip().lower()
        return region if region in catalog.REGIONS else None
    region = (region or catalog.DEFAULT_REGION).lower()
    return region if region in catalog.REGIONS else None


@functools.lru_cache(maxsize=16)
def _ids_region(full: Optional[str], base: Optional[str], region: Optional[str]) -> Tuple[str, Optional[str]]:
    found = _region_of(full, base, region)
    if found is not None:
        return found, None
    host = urlsplit(_endpoint(full, base, region).base_url).hostname
    return catalog.DEFAULT_REGION, (
        "the region of %s is not recognisable, so %s ids are used (set QWEN_REGION to one of %s to choose)"
        % (host, catalog.DEFAULT_REGION, ", ".join(catalog.REGIONS)))


def region_of_host(host: str) -> Optional[str]:
    """The region a DashScope host serves: a regional root's host (dashscope-intl.aliyuncs.com),
    or a workspace/Token Plan domain `<name>.<region>.maas.aliyuncs.com`; None for any other host."""
    host = host.lower().rstrip(".")
    for name, url in catalog.REGIONS.items():
        if host == urlsplit(url).hostname:
            return name
    for name in catalog.REGIONS:
        if host.endswith("." + name + ".maas.aliyuncs.com"):
            return name
    return None


def _checked_url(value: str, variable: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError("%s must be an http(s) URL, got %r" % (variable, value),
                         hint="for example https://dashscope.aliyuncs.com/api/v1")
    try:
        parts.port  # urlsplit checks the port only when it is read
    except ValueError as exc:
        raise UsageError("%s has an invalid port: %r (%s)" % (variable, value, exc),
                         hint="ports are 1-65535, e.g. https://dashscope.aliyuncs.com/api/v1") from None
    if not parts.hostname:
        raise UsageError("%s has no host name: %r" % (variable, value),
                         hint="for example https://dashscope.aliyuncs.com/api/v1")
    return value.rstrip("/")
