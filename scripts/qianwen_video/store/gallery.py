"""The output directory's gallery: one self-contained ``index.html`` of the journal's tasks.

The page is for watching and comparing the videos side by side.

- ``render`` is pure: journal entries (``Journal.tasks()`` values) in, an HTML string out.
  Newest first; a batch's tasks are grouped under their batch (the entries' ``batch`` and
  ``batch_item`` fields); a saved video plays in ``<video controls preload="metadata">``;
  failed, canceled and expired tasks show their status, code and message.
- Everything from the journal is escaped: prompts are user text, and codes, messages, task
  ids and file names come from the service. Long text is cut to a bound.
- The page loads nothing from the network: no external script, font or style (inline CSS,
  one small inline script for the filters), and a Content-Security-Policy that allows only
  file: media and images plus that exact script and style (by hash), so even markup that
  slipped through could neither run nor fetch anything.
- ``write`` replaces the file atomically (a temporary file in the same directory, fsync,
  os.replace: a rename replaces a symlink at the final path, it never writes through it).
- ``refresh`` rebuilds the page from the journal and never raises for a file-system problem
  (the page is a convenience; a paid video is never failed over it).
"""
from __future__ import annotations

import base64
import functools
import hashlib
import html
import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from . import journal, outputs

INDEX_NAME = "index.html"
MAX_CARDS = 500  # newest tasks on the page; --list shows every one
MAX_PROMPT = 2000  # characters of a prompt shown (the journal keeps it whole)
MAX_MESSAGE = 1000  # characters of a failure message shown
MAX_TEXT = 300  # characters of any other value shown (ids, codes, file names, models)
MAX_INPUTS = 16  # media inputs shown per task
STALE_TEMP = 600.0  # seconds after which a killed writer's temporary file is removed
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
FAILED = ("FAILED", "CANCELED")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_WRITING = threading.Lock()  # batch downloads save from worker threads: one page write at a time

STYLE = """
:root{color-scheme:light dark;--bg:#f4f4f1;--card:#fff;--ink:#1d1d1f;--dim:#6b6b70;--line:#deded8;
--ok:#1f7a3a;--bad:#b3261e;--warn:#8a5a00;--run:#2455a4}
@media (prefers-color-scheme:dark){:root{--bg:#151517;--card:#212124;--ink:#ececef;--dim:#a0a0a8;
--line:#37373c;--ok:#5cc27a;--bad:#ff8a80;--warn:#e0b050;--run:#8ab4f8}}
*{box-sizing:border-box}[hidden]{display:none!important}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",
Roboto,"Noto Sans",sans-serif}
header{padding:20px 24px 8px}h1{margin:0;font-size:22px}.sub{margin:4px 0 0;color:var(--dim)}
#filters{display:flex;flex-wrap:wrap;gap:8px;align-items:center;padding:8px 24px 4px}
#filters input,#filters select{font:inherit;padding:5px 8px;border:1px solid var(--line);border-radius:6px;
background:var(--card);color:var(--ink)}#filters input{min-width:260px;flex:0 1 360px}#shown{color:var(--dim)}
main{padding:8px 24px 32px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:16px;margin:12px 0 20px}
.batch{border-top:1px solid var(--line);padding-top:10px;margin-top:8px}
.batch h2{margin:0;font-size:16px}.batch h2 .count{font-weight:normal;color:var(--dim);font-size:13px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;overflow:hidden;
display:flex;flex-direction:column}
.media{aspect-ratio:16/9;background:#000;display:flex;align-items:center;justify-content:center}
.media video{width:100%;height:100%;object-fit:contain;display:block}
.placeholder{padding:14px 18px;color:#eee;text-align:center;overflow-wrap:anywhere;max-height:100%;overflow:auto}
.placeholder .state{font-weight:600;letter-spacing:.04em}.placeholder .code{font-family:ui-monospace,monospace}
.status-failed .media,.status-canceled .media{background:#3a1512}.status-expired .media{background:#33280f}
.status-running .media{background:#14233d}.status-missing .media,.status-undownloaded .media{background:#2b2b2f}
.info{padding:10px 14px 12px}
.prompt{margin:0 0 8px;white-space:pre-wrap;overflow-wrap:anywhere}
.badge{display:inline-block;font-size:11px;font-weight:600;padding:1px 7px;border-radius:999px;
border:1px solid currentColor;margin-right:6px}
.status-saved .badge{color:var(--ok)}.status-failed .badge,.status-canceled .badge{color:var(--bad)}
.status-expired .badge,.status-missing .badge,.status-undownloaded .badge{color:var(--warn)}
.status-running .badge{color:var(--run)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 10px;margin:0;font-size:13px}
dt{color:var(--dim)}dd{margin:0;overflow-wrap:anywhere}code{font-family:ui-monospace,monospace;font-size:12px}
a{color:inherit}.inputs{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:4px}
.inputs li{display:flex;gap:8px;align-items:center}
.thumb{width:56px;height:56px;object-fit:cover;border-radius:4px;border:1px solid var(--line);flex:none}
.field{color:var(--dim)}.more{color:var(--dim);font-size:12px}
footer{padding:0 24px 24px;color:var(--dim)}
""".strip()

SCRIPT = """
(function () {
  var form = document.getElementById("filters");
  var query = document.getElementById("q"), model = document.getElementById("f-model");
  var mode = document.getElementById("f-mode"), status = document.getElementById("f-status");
  var shown = document.getElementById("shown");
  var cards = Array.prototype.slice.call(document.querySelectorAll(".card"));
  var groups = Array.prototype.slice.call(document.querySelectorAll(".group"));
  function apply() {
    var text = query.value.trim().toLowerCase(), count = 0;
    cards.forEach(function (card) {
      var ok = (!model.value || card.getAttribute("data-model") === model.value) &&
               (!mode.value || card.getAttribute("data-mode") === mode.value) &&
               (!status.value || card.getAttribute("data-status") === status.value) &&
               (!text || card.textContent.toLowerCase().indexOf(text) >= 0);
      card.hidden = !ok;
      if (ok) { count += 1; }
    });
    groups.forEach(function (group) { group.hidden = !group.querySelector(".card:not([hidden])"); });
    shown.textContent = count + " of " + cards.length + " shown";
  }
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  form.hidden = false;
  apply();
})();
""".strip()


def _sha256(text: str) -> str:
    return "'sha256-%s'" % base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


# Only file: media and images, and exactly this page's own style and script. `file:` is a
# scheme source and the inline <style>/<script> are allowed by their sha256 hash source
# (https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Content-Security-Policy/Sources);
# 'self' is not used: a file: page's origin is opaque. Both checked in Chromium by
# tests/test_gallery_browser.py (the page's own loads pass, an injected http: load is blocked).
CSP = ("default-src 'none'; img-src file:; media-src file:; style-src %s; script-src %s; "
       "base-uri 'none'; form-action 'none'" % (_sha256(STYLE), _sha256(SCRIPT)))

STATUS_LABELS = {"saved": "saved", "failed": "failed", "canceled": "canceled", "expired": "expired",
                 "running": "not finished", "missing": "file missing", "undownloaded": "not downloaded"}


# -- text ---------------------------------------------------------------------------------
def clean(value: Any) -> str:
    """Any value as displayable text: lone surrogates (valid in JSON, not in UTF-8) and control
    characters other than tab and newline become U+FFFD."""
    text = value if isinstance(value, str) else str(value)
    if not text.isascii():  # (ASCII holds no surrogate)
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _CONTROL.sub("\ufffd", text)


def clip(value: Any, limit: int) -> str:
    text = clean(value)
    if len(text) <= limit:
        return text
    return "%s\u2026 (%d more characters)" % (text[:limit], len(text) - limit)


def esc(value: Any, limit: int = MAX_TEXT) -> str:
    """Escaped for HTML text and for quoted attribute values."""
    return html.escape(clip(value, limit), quote=True)


def excerpt(text: Any, limit: int = 40) -> str:
    """A one-line start of a prompt, for tables."""
    if not isinstance(text, str) or not text:
        return ""
    flat = " ".join(clean(text).split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "\u2026"


def resolution_of(entry: Mapping[str, Any]) -> str:
    """`720P 16:9`, `1280*720`, or "" when the journal has none (older records)."""
    parts = [entry.get(key) for key in ("resolution", "size", "ratio")]
    return " ".join(clean(p) for p in parts if isinstance(p, (str, int, float)) and not isinstance(p, bool)
                    and str(p))


def duration_of(entry: Mapping[str, Any]) -> str:
    value = entry.get("duration")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)) or value == "":
        return ""
    return "%s s" % clean(value)


def state_of(entry: Mapping[str, Any], exists: Callable[[str], bool] = lambda _path: True) -> str:
    """saved, missing (saved, then deleted), undownloaded, failed, canceled, expired or running."""
    status = entry.get("status")
    path = entry.get("local_path")
    if status == "SUCCEEDED":
        if isinstance(path, str) and path:
            return "saved" if exists(path) else "missing"
        return "undownloaded"
    if status == "FAILED":
        return "failed"
    if status == "CANCELED":
        return "canceled"
    if status == "UNKNOWN":
        return "expired"
    return "running"


def status_text(entry: Mapping[str, Any]) -> str:
    """The status with a failure's code, for tables: `FAILED (DataInspectionFailed)`."""
    status = clean(entry.get("status") or "?")
    code = entry.get("code")
    return "%s (%s)" % (status, excerpt(code, 60)) if code else status


# -- paths --------------------------------------------------------------------------------
def _absolute(path: str, directory: str) -> str:
    return path if os.path.isabs(path) else os.path.join(directory, path)


def relative(path: str, directory: str) -> str:
    """How the page names a file: relative to its own directory when possible."""
    folder, name = os.path.split(path)
    if folder == directory and name not in ("", ".", ".."):
        return name  # (most files: saved beside the page; relpath is many calls each)
    try:
        return os.path.relpath(_absolute(path, directory), directory)
    except ValueError:  # another drive (Windows)
        return path


def href(path: str, directory: str) -> str:
    """A URL for a local file, relative to the page (so the folder can move with its videos);
    every part percent-encoded, so no name can turn into a scheme, a query or a fragment."""
    from urllib.parse import quote

    rel = relative(path, directory)
    if os.path.isabs(rel):  # another drive (Windows)
        return Path(path).as_uri()
    return "/".join(quote(part, safe="") for part in rel.replace(os.sep, "/").split("/"))


# -- the page -----------------------------------------------------------------------------
def _time(epoch: Any) -> Tuple[str, str]:
    try:
        seconds = float(epoch)
        return (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)),
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds)))
    except (TypeError, ValueError, OverflowError, OSError):
        return "?", ""


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if number == number else 0.0  # NaN sorts as "no time"


def _card(entry: Mapping[str, Any], directory: str, exists: Callable[[str], bool]) -> str:
    state = state_of(entry, exists)
    model, mode = clean(entry.get("model") or "?"), clean(entry.get("mode") or "?")
    status = entry.get("status") or "PENDING"
    local = entry.get("local_path") if isinstance(entry.get("local_path"), str) else None
    out: List[str] = ['<article class="card status-%s" data-status="%s" data-model="%s" data-mode="%s" '
                      'data-task="%s">' % (state, state, esc(model), esc(mode), esc(entry.get("task_id", "")))]
    out.append('<div class="media">')
    if state == "saved":
        out.append('<video controls preload="metadata" src="%s"></video>' % esc(href(local, directory), 10 ** 6))
    else:
        out.append('<div class="placeholder"><div class="state">%s</div>' % esc(status))
        if state == "expired":
            out.append('<p>expired or not found on the service (task ids live 24 h)</p>')
        elif state == "missing":
            out.append('<p>the saved file is no longer at <code>%s</code></p>' % esc(relative(local, directory)))
        elif state == "undownloaded":
            out.append('<p>finished, not downloaded: <code>video.py --task-id ID</code> fetches it</p>')
        elif state == "running":
            out.append('<p>not finished when this page was written</p>')
        if entry.get("code"):
            out.append('<p class="code">%s</p>' % esc(entry["code"]))
        if entry.get("message"):
            out.append('<p class="message">%s</p>' % esc(entry["message"], MAX_MESSAGE))
        out.append('</div>')
    out.append('</div><div class="info">')
    out.append('<p class="meta"><span class="badge">%s</span><time datetime="%s">%s</time></p>'
               % (STATUS_LABELS[state], *reversed(_time(entry.get("submitted_at")))))
    prompt = entry.get("prompt")
    if isinstance(prompt, str) and prompt:
        out.append('<p class="prompt">%s</p>' % esc(prompt, MAX_PROMPT))
    else:
        out.append('<p class="prompt more">(no prompt recorded)</p>')
    rows: List[Tuple[str, str, str]] = [("model", "Model", esc(model)), ("mode", "Mode", esc(mode))]
    for key, label, value in (("resolution", "Resolution", resolution_of(entry)),
                              ("duration", "Duration", duration_of(entry)),
                              ("seed", "Seed", clean(entry.get("seed", "")))):
        if value:
            rows.append((key, label, esc(value)))
    if entry.get("negative_prompt"):
        rows.append(("negative", "Negative", esc(entry["negative_prompt"], MAX_PROMPT)))
    if isinstance(entry.get("batch_item"), int):
        rows.append(("item", "Batch item", esc(entry["batch_item"])))
    rows.append(("task", "Task", "<code>%s</code>" % esc(entry.get("task_id", ""))))
    if local:
        rows.append(("file", "File", '<a href="%s">%s</a>' % (esc(href(local, directory), 10 ** 6),
                                                              esc(relative(local, directory)))))
    inputs = _inputs(entry, directory, exists)
    if inputs:
        rows.append(("inputs", "Inputs", inputs))
    out.append("<dl>")
    out.extend('<dt>%s</dt><dd class="f-%s">%s</dd>' % (label, key, value) for key, label, value in rows)
    out.append("</dl></div></article>")
    return "".join(out)


def _inputs(entry: Mapping[str, Any], directory: str, exists: Callable[[str], bool]) -> str:
    items: List[str] = []
    local = entry.get("inputs") if isinstance(entry.get("inputs"), list) else []
    remote = entry.get("remote_inputs") if isinstance(entry.get("remote_inputs"), list) else []
    for record in local[:MAX_INPUTS]:
        if not (isinstance(record, dict) and isinstance(record.get("path"), str)):
            continue
        path, field = record["path"], esc(record.get("field", ""))
        shown = esc(relative(path, directory))
        if not exists(path):
            items.append('<li><span class="field">%s</span> <span>%s (missing)</span></li>' % (field, shown))
            continue
        link = esc(href(path, directory), 10 ** 6)
        thumb = ('<img class="thumb" src="%s" alt="" loading="lazy">' % link
                 if path.lower().endswith(IMAGE_SUFFIXES) else "")
        items.append('<li>%s<span class="field">%s</span> <a href="%s">%s</a></li>' % (thumb, field, link, shown))
    for record in remote[:max(0, MAX_INPUTS - len(items))]:
        if isinstance(record, dict) and isinstance(record.get("url"), str):
            # Text only: a link or thumbnail would fetch from the network.
            items.append('<li><span class="field">%s</span> <span class="remote">%s</span></li>'
                         % (esc(record.get("field", "")), esc(record["url"])))
    return '<ul class="inputs">%s</ul>' % "".join(items) if items else ""


def _blocks(entries: Sequence[Mapping[str, Any]]) -> List[Tuple[Optional[str], List[Mapping[str, Any]]]]:
    """Top-level blocks, newest first: runs of single tasks, and one block per batch (placed by
    its newest task, its items in batch order)."""
    ordered = sorted(enumerate(entries), key=lambda pair: (_number(pair[1].get("submitted_at")), pair[0]),
                     reverse=True)
    batches: Dict[str, List[Mapping[str, Any]]] = {}
    blocks: List[Tuple[Optional[str], List[Mapping[str, Any]]]] = []
    for _, entry in ordered:
        batch = entry.get("batch")
        if isinstance(batch, str) and batch:
            if batch not in batches:
                batches[batch] = []
                blocks.append((batch, batches[batch]))
            batches[batch].append(entry)
        elif blocks and blocks[-1][0] is None:
            blocks[-1][1].append(entry)
        else:
            blocks.append((None, [entry]))
    for batch, members in batches.items():
        members.sort(key=lambda e: e.get("batch_item") if isinstance(e.get("batch_item"), int) else 10 ** 9)
    return blocks


def _batch_name(batch: str) -> str:
    name = batch.replace("\\", "/").rsplit("/", 1)[-1]
    suffix = ".manifest.jsonl"
    return name[:-len(suffix)] if name.endswith(suffix) and len(name) > len(suffix) else name


def _options(select_id: str, label: str, values: Iterable[str]) -> str:
    options = "".join('<option value="%s">%s</option>' % (esc(v), esc(v)) for v in sorted(set(values)))
    return '<select id="%s" aria-label="%s"><option value="">%s</option>%s</select>' % (
        select_id, label, label, options)


def render(entries: Iterable[Mapping[str, Any]], directory: str, *,
           exists: Callable[[str], bool] = lambda _path: True, now: Optional[float] = None,
           title: str = "Videos", older: bool = False) -> str:
    """The gallery page for journal entries (``Journal.tasks()`` values); pure.

    `directory` is where the page will live (file links are relative to it); `exists` says
    whether a local file is still there (the default assumes it is); `now` is shown as the
    time the page was written; `older` says the journal holds older tasks than those given.
    """
    directory = str(directory)
    every = [e for e in entries if isinstance(e, Mapping) and isinstance(e.get("task_id"), str) and e["task_id"]]
    newest = sorted(every, key=lambda e: _number(e.get("submitted_at")), reverse=True)
    shown, hidden = newest[:MAX_CARDS], len(newest) - MAX_CARDS
    states = [state_of(e, exists) for e in shown]
    summary = ("newest " if older else "") + "%d task%s: %d saved, %d failed or canceled, %d expired" % (
        len(every), "" if len(every) == 1 else "s", states.count("saved"),
        states.count("failed") + states.count("canceled"), states.count("expired"))
    if now is not None:
        summary += " \u00b7 written %s" % _time(now)[0]
    parts = ['<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
             '<meta http-equiv="Content-Security-Policy" content="%s">' % CSP,
             '<meta name="referrer" content="no-referrer">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             '<title>%s</title><style>%s</style></head><body>' % (esc(title), STYLE),
             '<header><h1>%s</h1><p class="sub">%s \u00b7 from %s</p></header>' % (
                 esc(title), esc(summary), esc(journal.JOURNAL_NAME)),
             '<form id="filters" hidden role="search"><input id="q" type="search" '
             'placeholder="Search prompts, task ids, files, errors" aria-label="Search">',
             _options("f-model", "All models", (clean(e.get("model") or "?") for e in shown)),
             _options("f-mode", "All modes", (clean(e.get("mode") or "?") for e in shown)),
             _options("f-status", "Any status", states),
             '<span id="shown"></span></form><main>']
    if not shown:
        parts.append('<p class="more">No tasks are recorded yet.</p>')
    for batch, members in _blocks(shown):
        cards = "".join(_card(e, directory, exists) for e in members)
        if batch is None:
            parts.append('<div class="grid">%s</div>' % cards)
            continue
        saved = sum(1 for e in members if state_of(e, exists) == "saved")
        parts.append('<section class="batch group" data-batch="%s"><h2>Batch %s <span class="count">'
                     '%d task%s, %d saved</span></h2><div class="grid">%s</div></section>'
                     % (esc(relative(batch, directory)), esc(_batch_name(batch)), len(members), "" if len(members) == 1 else "s",
                        saved, cards))
    parts.append("</main>")
    if hidden > 0:
        parts.append('<footer>%d older task%s not shown here; <code>video.py --list</code> lists every '
                     'task.</footer>' % (hidden, "" if hidden == 1 else "s"))
    elif older:
        parts.append('<footer>Older tasks are not shown here; <code>video.py --list N</code> lists the newest '
                     'N.</footer>')
    parts.append("<script>%s</script></body></html>\n" % SCRIPT)
    return "\n".join(parts)


# -- writing ------------------------------------------------------------------------------
def write(directory: Path, text: str) -> Path:
    """Replace ``directory/index.html`` atomically: a temporary file of this writer's own in the
    same directory, fsynced, then renamed over the page. A symlink at the final path is
    replaced, never written through; readers see the old page or the new one, never half."""
    directory = Path(directory)
    final = directory / INDEX_NAME
    _remove_stale(directory)
    fd, temporary = outputs.create_beside(final)
    try:
        with open(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # a private 0600 file would hide the page from a local web server
        os.replace(temporary, str(final))
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    _sync_directory(directory)
    return final


def _remove_stale(directory: Path) -> None:
    """Temporary pages a killed writer left behind (a live writer's is younger than STALE_TEMP)."""
    cutoff = time.time() - STALE_TEMP
    for leftover in directory.glob("." + INDEX_NAME + ".*.part"):
        try:
            if leftover.is_file() and not leftover.is_symlink() and leftover.stat().st_mtime < cutoff:
                leftover.unlink()
        except OSError:
            pass


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable where the platform allows opening a directory."""
    try:
        fd = os.open(str(directory), os.O_RDONLY)
    except OSError:
        return  # Windows: directories cannot be opened this way
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def build(directory: Path, clock: Callable[[], float] = time.time,
          redact: Optional[Callable[[str], str]] = None) -> Tuple[Optional[Path], Dict[str, int]]:
    """Rebuild the page from the directory's journal: (page path or None when there is no
    journal, counts by state of the tasks shown). File-system errors propagate (OSError).

    Only the newest MAX_CARDS tasks are read (the journal is read from its end), so a page
    written after every saved video costs the same with a journal of years."""
    book = journal.Journal(Path(directory), clock)
    if not book.path.is_file():
        return None, {}
    with _WRITING:
        entries = book.list_recent(MAX_CARDS + 1)
        older = len(entries) > MAX_CARDS
        entries = entries[:MAX_CARDS]
        exists = functools.lru_cache(maxsize=None)(os.path.isfile)  # one stat per file, not one per look
        text = render(entries, str(directory), exists=exists, now=clock(), older=older)
        if redact is not None:
            text = redact(text)
        counts: Dict[str, int] = {}
        for entry in entries:
            state = state_of(entry, exists)
            counts[state] = counts.get(state, 0) + 1
        return write(Path(directory), text), counts


def refresh(directory: Path, warn: Optional[Callable[[str], None]] = None,
            redact: Optional[Callable[[str], str]] = None, clock: Callable[[], float] = time.time) -> Optional[Path]:
    """Rebuild the page after a saved video or a batch; a problem is a warning, never an error."""
    try:
        return build(directory, clock, redact)[0]
    except OSError as exc:
        reason = exc.strerror or str(exc)
    except Exception as exc:  # noqa: BLE001 - a bug here must not turn a saved, paid video into exit 1
        reason = "internal error: %s: %s" % (exc.__class__.__name__, exc)
    if warn is not None:
        warn("could not write the gallery page %s (%s); `video.py --gallery` writes it again"
             % (Path(directory) / INDEX_NAME, reason))
    return None
