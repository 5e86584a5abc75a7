"""Where results go: never over an earlier result, never inside a skills/ tree."""
from __future__ import annotations

import errno
import functools
import os
import re
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Callable, Optional, Tuple
from urllib.parse import unquote, urlsplit

from .. import catalog
from ..context import SKILL_DIR
from ..errors import UsageError

if TYPE_CHECKING:
    from .lock import SlotLock

DEFAULT_OUTPUT = Path("output") / "qianwen-video-generation"
NAME_LIMIT = 120  # bytes (UTF-8) of a video name taken from the server; _1, .part, .response.json fit after it
SUFFIX_LIMIT = 12  # a longer "extension" is no extension
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)
REPLACE_ATTEMPTS = 5  # waits of 0.2, 0.4, 0.6 and 0.8 s between them: 2 s in all


def output_dir(output: Optional[str], cwd: Path) -> Path:
    """The directory results (and the journal) live in."""
    if output:
        target = _absolute(output, cwd)
        return target.parent if names_file(output) else target
    return cwd / DEFAULT_OUTPUT


# Names that are files of another kind: an --output ending so is a mistake, not a directory name.
OTHER_FILE_SUFFIXES = (".gif", ".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".mp3", ".wav",
                       ".m4a", ".aac", ".flac", ".ogg", ".json", ".jsonl", ".txt", ".md", ".html", ".htm", ".pdf")


def check_output_name(output: Optional[str], cwd: Path) -> None:
    """Refuse an --output that is neither a directory nor a video file name, before anything is
    created or sent: `-` (results are files, not a stream), a name of another kind of file
    (`clip.gif`), or an existing file that is not a video."""
    if output is None:
        return
    hint = "give a directory (results are named from the task) or a file name ending in %s" % (
        "/".join(catalog.VIDEO_EXTENSIONS))
    if output.strip() in ("", "-"):
        raise UsageError("--output %r: results are written as files, not to a stream" % output, hint=hint)
    if Path(output).suffix.lower() in OTHER_FILE_SUFFIXES:
        raise UsageError("--output %s: not a video file name (the service returns MP4)" % output, hint=hint)
    target = _absolute(output, cwd)
    if target.is_file() and not names_file(output):
        raise UsageError("--output %s: an existing file, not a directory" % output, hint=hint)


@functools.lru_cache(maxsize=256)
def names_file(output: Optional[str]) -> bool:
    return bool(output) and Path(output).suffix.lower() in catalog.VIDEO_EXTENSIONS


def check_writable_location(target: Path, skill_dir: Path = SKILL_DIR) -> None:
    """Refuse to write into the skill's own directory or any skills/ hierarchy (resolved now:
    checked again before each download, a folder swapped for a link mid-run is still refused).
    Compared as strings (normcase: Windows paths ignore case, as Path comparisons there do)."""
    resolved = os.path.realpath(str(target))
    place, skill = os.path.normcase(resolved), os.path.normcase(str(skill_dir))
    inside_skill = place == skill or place.startswith(skill.rstrip(os.sep) + os.sep)
    if inside_skill or "skills" in resolved.replace(os.altsep or os.sep, os.sep).split(os.sep):
        raise UsageError(
            "refusing to write output inside %s: %s" % (
                "the skill's own directory" if inside_skill else "a skills/ directory", resolved),
            hint="run from your project directory (results go to ./output/qianwen-video-generation/) "
                 "or pass --output with a path outside the skill")


def ensure_writable(directory: Path) -> None:
    """Create the output directory and prove it takes files, before anything is paid for."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=str(directory))  # unique per call
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError("cannot write results to %s: %s" % (directory, exc.strerror or exc),
                         hint="choose a writable directory with --output") from None


def video_name(video_url: str, task_id: str) -> str:
    """A file name for a video, from the URL the server gave (its last path segment; without a
    '.' the task id is used): only letters, digits, '.', '_' and '-', no leading dot, never
    '.' or '..', at most NAME_LIMIT bytes, its extension kept (a 300-character server name
    still saves)."""
    try:
        name = PurePosixPath(unquote(urlsplit(video_url).path)).name
    except ValueError:
        name = ""
    name = _safe_chars(name).lstrip(".-")
    stem, dot, suffix = name.rpartition(".")
    stem = stem.rstrip(".")
    if not (dot and stem):
        stem, suffix = _safe_chars(task_id).lstrip(".-").rstrip(".") or "video", "mp4"
    elif not (suffix.isalnum() and len(suffix) <= SUFFIX_LIMIT):
        stem, suffix = name.rstrip("."), "mp4"  # no usable extension: the whole name is the stem
    room = NAME_LIMIT - len(suffix.encode("utf-8")) - 1
    stem = stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip(".") or "video"
    return "%s.%s" % (stem, suffix)


_UNSAFE_CHARS = re.compile(r"[^\w.-]")  # \w: what str.isalnum() accepts, and "_"


def _safe_chars(name: str) -> str:
    return _UNSAFE_CHARS.sub("_", name)


DOWNLOAD_LOCKS = ".downloads.lock"  # one file for every task's download lock in a directory


def download_lock(directory: Path, task_id: str) -> "SlotLock":
    """The task's download lock: a byte of `directory`'s DOWNLOAD_LOCKS file (the id is hashed,
    never made into a path, so a server id holding '../' names nothing)."""
    from .lock import SlotLock

    return SlotLock(directory / DOWNLOAD_LOCKS, task_id)


def plan(output: Optional[str], cwd: Path, video_url: str, task_id: str) -> Tuple[Path, Path]:
    """(video path, response path), both unused so far and the video's name claimed (see
    ``claim``): _1, _2... are added as needed."""
    if names_file(output):
        wanted = _absolute(output, cwd)
    else:
        wanted = output_dir(output, cwd) / video_name(video_url, task_id)
    return claim(wanted)


def response_path_for(video: Path) -> Path:
    return video.with_name(video.stem + ".response.json")


def part_path_for(video: Path) -> Path:
    return video.with_name(video.name + ".part")


def claim(wanted: Path) -> Tuple[Path, Path]:
    """The first free name among wanted, wanted_1, wanted_2..., claimed atomically.

    The claim is an empty ``<video>.part`` created with O_CREAT|O_EXCL: of two runs (or
    threads) picking names at the same moment, only one can create it, and the other moves
    on to the next number. No `.part` is made beside an earlier video or answer (a failed
    download's answer stays, and a resume of that task may take a `.part` there for its own).
    The caller downloads into that `.part` (an empty `.part` is a fresh download) or removes
    it if it gives up.
    """
    candidate, number = wanted, 0
    while True:
        response = response_path_for(candidate)
        if not (candidate.exists() or response.exists()):
            part = part_path_for(candidate)
            try:
                fd = _create_new(part)
            except FileExistsError:
                pass
            else:
                os.close(fd)
                if not (candidate.exists() or response.exists()):
                    return candidate, response
                _remove(part)  # finished by another run in the meantime
        number += 1
        candidate = wanted.with_name("%s_%d%s" % (wanted.stem, number, wanted.suffix))


def _create_new(path: Path) -> int:
    """A descriptor on a file created now (O_EXCL), its folder made first when missing."""
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | _NOFOLLOW
    try:
        return os.open(str(path), flags, 0o644)
    except FileNotFoundError:  # the folder is not there yet (made here, not before every claim)
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(str(path), flags, 0o644)


def create_beside(path: Path) -> Tuple[int, Path]:
    """(descriptor, path) of a new private file (0600, O_EXCL, never through a link) named
    ``.<name>.<random>.part`` beside `path`, to write it whole and rename it over `path`: what
    tempfile.mkstemp gives, without its setup on every call (a batch writes one per item)."""
    folder, name = os.path.split(str(path))
    for _ in range(100):
        temporary = os.path.join(folder, ".%s.%s.part" % (name, os.urandom(6).hex()))
        try:
            return os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY | _NOFOLLOW | _BINARY, 0o600), Path(temporary)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path))


def replace(source: Path, target: Path, sleep: Callable[[float], None] = time.sleep,
            attempts: int = REPLACE_ATTEMPTS) -> None:
    """Rename *source* over *target* (os.replace), retried briefly while it is refused.

    On Windows an antivirus scanner or the search indexer may hold a file that was just written, and
    the rename then fails with ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION or ERROR_LOCK_VIOLATION,
    which Python raises as PermissionError (EACCES: CPython PC/errmap.h, winerror_to_errno). Such a
    hold lasts moments, so a few short waits save a paid result. Any other error, or the last
    PermissionError, is raised unchanged.
    """
    for attempt in range(attempts):
        try:
            os.replace(str(source), str(target))
            return
        except PermissionError:
            if attempt >= attempts - 1:
                raise
            sleep(0.2 * (attempt + 1))


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _absolute(path: str, cwd: Path) -> Path:
    expanded = Path(path).expanduser()
    return expanded if expanded.is_absolute() else cwd / expanded
