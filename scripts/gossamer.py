#!/usr/bin/env python3
"""Update-check signals for the qianwen-video-generation skill.

Two ways to use this file:

* As a module: ``gossamer.run(caller=__file__)`` is called by ``video.py`` once
  a real (non-dry) run has started.  It may write one signal to stderr that the
  agent acts on (see the "Update Check" section of SKILL.md):

  - ``[UPDATE_AVAILABLE] ...`` when the installed ``qianwen-update-check``
    skill reports a newer release;
  - ``[ACTION_REQUIRED] ...`` when that skill is not installed (at most once
    per 24 hours).

  ``run`` never raises (except ``KeyboardInterrupt``/``SystemExit``), never
  writes to stdout, never touches the network itself, and is time-bounded: the
  helper script it may start is killed after a short timeout.

* As a command, to record the user's answer to ``[ACTION_REQUIRED]``::

      python3 gossamer.py --dismiss         # quiet for 24 hours
      python3 gossamer.py --never-install   # quiet for good

Standard library only; Python 3.9+.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, TextIO

REPO_SLUG = "QianWen-AI/qianwen-ai"
UPDATE_SKILL = "qianwen-update-check"
THIS_SKILL = "qianwen-video-generation"
SKILL_PREFIX = "qianwen-"

#: Quiet period after any recorded interaction, in seconds.
FATIGUE_SECONDS = 86400.0
#: Default time limit for ``check_update.py --print-response``.
DEFAULT_TIMEOUT = 10.0
#: Extra time allowed to reap the helper after it has been killed.
REAP_SECONDS = 1.0

#: Where the update-check skill may live, relative to the install root, in
#: the order they are tried.
_SUBDIRS = ("ops/" + UPDATE_SKILL, UPDATE_SKILL)
_BASES = ("skills", ".agents/skills")

ACTION_REQUIRED_LINE = (
    "[ACTION_REQUIRED] {skill} skill is not installed. "
    "Install: npx skills add {repo} --skill {skill} -y"
).format(skill=UPDATE_SKILL, repo=REPO_SLUG)
UPDATE_AVAILABLE_LINE = "[UPDATE_AVAILABLE] {repo} has a newer version available{detail}."
UPDATE_COMMAND_LINE = "  Run: npx skills add {repo} --skill {skills} -y"
DISMISSED_LINE = "Update-check prompts suppressed for 24 hours."
NEVER_LINE = "Update-check prompts permanently suppressed."

# Only plain tokens from other files are ever echoed into a signal line (the
# agent may run the command it contains), so anything else is dropped.
_SKILL_NAME_RE = re.compile(r"^qianwen-[A-Za-z0-9._-]{1,64}$")
_VERSION_RE = re.compile(r"^v?[0-9A-Za-z.+-]{1,32}$")


# --------------------------------------------------------------------------
# Install root and state file
# --------------------------------------------------------------------------

def find_root(start: "str | os.PathLike[str]") -> Optional[Path]:
    """Return the install root for *start*, or ``None``.

    The root is the nearest of *start* (resolved) and its ancestors that has a
    ``.agents`` child directory and is not itself called ``.agents``.
    """
    here = Path(start).resolve()
    for candidate in (here,) + tuple(here.parents):
        if candidate.name != ".agents" and (candidate / ".agents").is_dir():
            return candidate
    return None


def state_path(root: Path) -> Path:
    return root / ".agents" / "state.json"


def read_state(root: Path) -> Dict[str, Any]:
    """The state mapping; anything missing, unreadable or not an object is ``{}``."""
    try:
        with open(state_path(root), "r", encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_state(root: Path, **updates: Any) -> bool:
    """Merge *updates* into the state file.  Returns ``False`` on any failure.

    The file is replaced atomically, so a reader never sees half a file.
    """
    tmp_name = None
    try:
        target = state_path(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = read_state(root)
        data.update(updates)
        fd, tmp_name = tempfile.mkstemp(prefix=".state.", suffix=".tmp", dir=str(target.parent))
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        os.replace(tmp_name, str(target))
        tmp_name = None
        return True
    except (OSError, ValueError, TypeError):
        return False
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def is_suppressed(state: Dict[str, Any], now: float) -> bool:
    """True when the user opted out for good or was prompted in the last 24 h.

    A ``last_interaction`` more than a day in the future (clock moved back, or
    a hand-edited file) is ignored rather than silencing prompts indefinitely.
    """
    if state.get("never_install") is True:
        return True
    last = _number(state.get("last_interaction"))
    if last is None:
        return False
    return -FATIGUE_SECONDS < now - last < FATIGUE_SECONDS


# --------------------------------------------------------------------------
# The update-check skill
# --------------------------------------------------------------------------

def find_update_skill(root: Path) -> Optional[Path]:
    for subdir in _SUBDIRS:
        for base in _BASES:
            candidate = root / base / subdir
            if candidate.is_dir():
                return candidate
    return None


def installed_skills(root: Path) -> List[str]:
    """Sorted ``qianwen-*`` skill names from ``skills-lock.json``, else this skill."""
    names: List[str] = []
    try:
        with open(root / "skills-lock.json", "r", encoding="utf-8") as fh:
            lock = json.load(fh)
        skills = lock.get("skills") if isinstance(lock, dict) else None
        if isinstance(skills, (dict, list)):
            names = [s for s in skills if isinstance(s, str) and s.startswith(SKILL_PREFIX)]
    except (OSError, ValueError):
        names = []
    names = sorted({n for n in names if _SKILL_NAME_RE.match(n)})
    return names or [THIS_SKILL]


def _kill(proc: "subprocess.Popen[bytes]") -> None:
    """Kill the helper and, on POSIX, everything in its process group."""
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except OSError:
        try:
            proc.kill()
        except OSError:
            pass


def run_checker(script: Path, *, python: str, timeout: float) -> Optional[str]:
    """Run ``script --print-response``; its stdout, or ``None`` on failure/timeout.

    The helper gets no stdin, its stderr is discarded, and it runs in its own
    session so that, on timeout, it and any children it started are killed
    together (a surviving grandchild would otherwise keep the pipe open).
    """
    proc = subprocess.Popen(
        [python, str(script), "--print-response"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=str(script.parent),
        start_new_session=(os.name == "posix"),
        close_fds=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        try:
            proc.communicate(timeout=REAP_SECONDS)
        except subprocess.TimeoutExpired:
            if proc.stdout is not None:
                proc.stdout.close()
            try:
                proc.wait(timeout=REAP_SECONDS)
            except subprocess.TimeoutExpired:
                pass
        return None
    except BaseException:
        _kill(proc)
        try:
            proc.wait(timeout=REAP_SECONDS)
        except Exception:
            pass
        raise
    if proc.returncode != 0:
        return None
    return out.decode("utf-8", errors="replace")


def _clean_version(value: Any) -> Optional[str]:
    if isinstance(value, str) and _VERSION_RE.match(value.strip()):
        return value.strip()
    return None


def update_lines(response: Dict[str, Any], skills: Sequence[str]) -> List[str]:
    """The two ``[UPDATE_AVAILABLE]`` lines for a ``has_update: true`` response."""
    latest = _clean_version(response.get("latest_version")) or _clean_version(
        response.get("remote_version")
    )
    current = _clean_version(response.get("current_version")) or _clean_version(
        response.get("local_version")
    )
    if latest and current:
        detail = " ({} -> {})".format(current, latest)
    elif latest:
        detail = " (latest: {})".format(latest)
    else:
        detail = ""
    return [
        UPDATE_AVAILABLE_LINE.format(repo=REPO_SLUG, detail=detail),
        UPDATE_COMMAND_LINE.format(repo=REPO_SLUG, skills=" ".join(skills)),
    ]


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------

def _emit(stream: Optional[TextIO], lines: Sequence[str]) -> None:
    stream = stream if stream is not None else sys.stderr
    if stream is None:
        return
    try:
        stream.write("\n" + "\n".join(lines) + "\n\n")
        stream.flush()
    except (OSError, ValueError):
        pass


def run(
    caller: str,
    *,
    now: Optional[float] = None,
    stderr: Optional[TextIO] = None,
    python: Optional[str] = None,
    timeout: float = DEFAULT_TIMEOUT,
    clock: Callable[[], float] = time.time,
) -> None:
    """Emit at most one update-check signal on stderr; never fails.

    *caller* is the calling script's path (``__file__``).  Keyword arguments
    exist for tests and embedding: *now* (epoch seconds, default ``clock()``),
    *stderr* (default ``sys.stderr``), *python* (interpreter for the helper,
    default ``sys.executable``) and *timeout* (seconds for the helper).
    """
    try:
        _run(caller, now=now, stderr=stderr, python=python, timeout=timeout, clock=clock)
    except Exception:
        pass


def _run(
    caller: str,
    *,
    now: Optional[float],
    stderr: Optional[TextIO],
    python: Optional[str],
    timeout: float,
    clock: Callable[[], float],
) -> None:
    root = find_root(caller)
    if root is None:
        return
    when = float(clock() if now is None else now)
    if is_suppressed(read_state(root), when):
        return

    skill_dir = find_update_skill(root)
    if skill_dir is None:
        write_state(root, last_interaction=when)
        _emit(stderr, [ACTION_REQUIRED_LINE])
        return

    script = skill_dir / "scripts" / "check_update.py"
    interpreter = python if python is not None else sys.executable
    if not script.is_file() or not interpreter:
        return
    out = run_checker(script, python=interpreter, timeout=timeout)
    if not out or not out.strip():
        return
    try:
        response = json.loads(out)
    except ValueError:
        return
    if isinstance(response, dict) and response.get("has_update") is True:
        _emit(stderr, update_lines(response, installed_skills(root)))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gossamer.py",
        description=(
            "Record the answer to the [ACTION_REQUIRED] update-check prompt. "
            "With no option, does nothing."
        ),
    )
    parser.add_argument(
        "--dismiss",
        action="store_true",
        help="suppress update-check prompts for 24 hours",
    )
    parser.add_argument(
        "--never-install",
        action="store_true",
        help="suppress update-check prompts permanently (wins over --dismiss)",
    )
    args = parser.parse_args(argv)
    if not (args.dismiss or args.never_install):
        return 0

    root = None
    try:
        root = find_root(__file__)
    except Exception:
        root = None
    if args.never_install:
        if root is not None:
            write_state(root, never_install=True)
        message = NEVER_LINE
    else:
        if root is not None:
            write_state(root, last_interaction=time.time())
        message = DISMISSED_LINE
    try:
        print(message, file=sys.stderr)
    except (OSError, ValueError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
