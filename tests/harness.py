"""Run the CLI in-process (injected Context) or as a subprocess, against the emulator."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List

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


def run(args: List[str], env: Dict[str, str], cwd: Path, max_sleep: float = 0.02, stdin: str = "") -> Result:
    """In-process: real network to the emulator, sleeps shortened but recorded.

    The CLI's clocks run on virtual time: real time plus every second a shortened sleep skipped,
    so schedules, timeouts and "wait a minute" rules behave as if each sleep had lasted as long
    as it asked.
    """
    out, err = io.StringIO(), io.StringIO()
    sleeps: List[float] = []
    skipped = [0.0]

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        real = min(seconds, max_sleep)
        time.sleep(real)
        skipped[0] += max(seconds - real, 0.0)

    ctx = Context(environ=dict(env), cwd=Path(cwd), stdout=out, stderr=err, sleep=sleep,
                  clock=lambda: time.monotonic() + skipped[0], wall_clock=lambda: time.time() + skipped[0],
                  stderr_isatty=False, stdin=io.StringIO(stdin))
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
