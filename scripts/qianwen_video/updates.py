"""Whether this run may show the skill's update-check signals, and showing them.

The update check (``scripts/gossamer.py``) belongs to skill installs only: the copy that
``npx skills add`` lays out as ``<project or home>/.agents/skills/<skill>/scripts/`` and links or
copies as ``.claude/skills/<skill>/scripts/`` (the skills CLI keeps ``.agents/skills`` as the
canonical store and links Claude Code's ``.claude/skills`` to it, or copies with ``--copy``).
A pip/pipx install (the ``qianwen-video`` console script) has no gossamer.py beside it and is never
a skill install, whatever folders lie above it, so it never prints a signal or writes
``.agents/state.json``. gossamer.py is loaded from beside the script by path, never imported by
name, so an unrelated ``gossamer`` module on ``sys.path`` is never run either.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path, PurePath
from typing import Callable, Optional

from .context import Context

SKILL_HOMES = (".agents", ".claude")  # folders whose skills/ subfolder holds installed skills
GOSSAMER = "gossamer.py"


def skill_gossamer(script: PurePath) -> Optional[PurePath]:
    """Where gossamer.py must sit for *script* to be a skill install, or None when it is not one.

    Pure: looks only at the path. A skill install is
    ``.../(.agents|.claude)/skills/<skill>[/...]/scripts/<script>``: at least one folder (the
    skill's) between ``skills`` and ``scripts``.
    """
    parts = script.parts
    if len(parts) < 5 or parts[-2] != "scripts":
        return None
    above = parts[:-2]  # the folders above scripts/
    for i in range(len(above) - 2):
        if above[i] in SKILL_HOMES and above[i + 1] == "skills":
            return script.parent / GOSSAMER
    return None


def _run_gossamer(path: Path, caller: Path) -> None:
    spec = importlib.util.spec_from_file_location("qianwen_video_gossamer", str(path))
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.run(caller=str(caller))


def maybe_signal(ctx: Context, runner: Optional[Callable[[Path, Path], None]] = None) -> bool:
    """Run the skill's update check when this is a skill install; True when it ran.

    Never raises (except KeyboardInterrupt/SystemExit): a broken or missing gossamer.py only
    means no signal. *runner* (gossamer path, calling script) replaces loading gossamer.py, for tests.
    """
    script = Path(ctx.script_path)
    candidates = [script]
    try:
        resolved = script.resolve()
    except (OSError, RuntimeError):
        resolved = script
    if resolved != script:
        candidates.append(resolved)
    for candidate in candidates:
        where = skill_gossamer(candidate)
        if where is None:
            continue
        gossamer = Path(where)
        try:
            if not gossamer.is_file():
                continue
            (runner or _run_gossamer)(gossamer, candidate)
        except Exception:
            return False
        return True
    return False
