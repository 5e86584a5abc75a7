"""Run the CLI in-process (injected Context) or as a subprocess, against the emulator."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from qianwen_video import cli
from qianwen_video.context import Context

ROOT = Path(__file__).resolve().parent.parent
VIDEO_PY = ROOT / "scripts" / "video.py"
KEY = "sk-test-0123456789abcdef"
FIXTURE_MP4 = ROOT / "tests" / "emulator" / "fixtures" / "sample.mp4"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    sleeps: List[float] = field(default_factory=list)

    def json(self):
        return json.loads(self.stdout)


def env_for(emu, **extra: str) -> Dict[str, str]:
    env = {"DASHSCOPE_HTTP_BASE_URL": emu.base_url, "DASHSCOPE_API_KEY": KEY}
    env.update(extra)
    return env


class VirtualTime:
    """Time shared by the CLI and the emulator of one test: real time plus every second a sleep skipped.

    Each sleep lasts at most `max_real` real seconds (so other threads get to run) and moves the
    clock on by the rest, for the CLI and for an emulator built with ``clock=vt.now``: its tasks,
    rate windows and running limits pass as fast as the CLI waits for them. A test of a one-minute
    wait then takes a fraction of a second, and what it asserts still holds on the clock both sides read.
    """

    def __init__(self, max_real: float = 0.002):
        self.max_real = max_real
        self.skipped = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() + self.skipped

    def wall(self) -> float:
        return time.time() + self.skipped

    def sleep(self, seconds: float) -> None:
        real = min(max(seconds, 0.0), self.max_real)
        time.sleep(real)
        with self._lock:
            self.skipped += max(seconds - real, 0.0)


def run(args: List[str], env: Dict[str, str], cwd: Path, max_sleep: float = 0.02, stdin: str = "",
        clock: Optional[VirtualTime] = None) -> Result:
    """In-process: real network to the emulator, sleeps shortened but recorded.

    The CLI's clocks run on virtual time: real time plus every second a shortened sleep skipped,
    so schedules, timeouts and "wait a minute" rules behave as if each sleep had lasted as long
    as it asked. `clock`: the test's VirtualTime, shared with its emulator (max_sleep is then its own).
    """
    out, err = io.StringIO(), io.StringIO()
    sleeps: List[float] = []
    virtual = clock or VirtualTime(max_sleep)

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        virtual.sleep(seconds)

    ctx = Context(environ=dict(env), cwd=Path(cwd), stdout=out, stderr=err, sleep=sleep,
                  clock=virtual.now, wall_clock=virtual.wall, stderr_isatty=False, stdin=io.StringIO(stdin))
    code = cli.main(args, ctx)
    return Result(code, out.getvalue(), err.getvalue(), sleeps)


def run_subprocess(args: List[str], env: Dict[str, str], cwd: Path, timeout: float = 60) -> Result:
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("DASHSCOPE_API_KEY", "QIANWEN_API_KEY", "DASHSCOPE_HTTP_BASE_URL",
                             "QWEN_BASE_URL", "QWEN_REGION") and not k.lower().endswith("_proxy")}
    full_env.update(env)
    proc = subprocess.run([sys.executable, str(VIDEO_PY)] + args, cwd=str(cwd), env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def creates(emu) -> list:
    return emu.requests_to("POST", r"/services/aigc/.*/video-synthesis$")
