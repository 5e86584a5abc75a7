"""Shared plumbing for the benchmark: paths, the emulator, measured child processes, tables.

Standard library only (the dashscope SDK lives in bench/.venv and is only ever run as a
child process). Python 3.9+.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import signal
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SCRIPTS = ROOT / "scripts"
VIDEO_PY = SCRIPTS / "video.py"
# Scratch space for big files and CLI output. Outside the repository on purpose: video.py
# refuses to write results inside its own skill directory. BENCH_WORK overrides it.
WORK = Path(os.environ.get("BENCH_WORK") or os.path.join(tempfile.gettempdir(), "qianwen-video-bench"))
VENV = BENCH / ".venv"          # gitignored; holds the dashscope SDK, never a suite dependency
KEY = "sk-bench-0123456789abcdef"
MIB = 1024 * 1024

for _p in (str(ROOT), str(SCRIPTS)):
    if _p not in sys.path:
        sys.path.insert(0, _p)


# -- environment for children -------------------------------------------------------------
def child_env(base_url: Optional[str] = None, **extra: str) -> Dict[str, str]:
    """os.environ without keys, endpoints or proxies; plus the emulator's endpoint and key."""
    drop = ("DASHSCOPE_API_KEY", "QIANWEN_API_KEY", "DASHSCOPE_HTTP_BASE_URL", "QWEN_BASE_URL",
            "QWEN_REGION", "DASHSCOPE_API_REGION", "DASHSCOPE_WORKSPACE_ID")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if base_url:
        env["DASHSCOPE_HTTP_BASE_URL"] = base_url
        env["DASHSCOPE_API_KEY"] = KEY
    env.update(extra)
    return env


TRASH = WORK / ".trash"  # directories put aside by discard(), deleted by sweep()


def scratch(name: str) -> Path:
    """A fresh empty directory under $BENCH_WORK (an earlier one of that name is discarded)."""
    path = WORK / name
    if path.exists():
        discard(path)
    path.mkdir(parents=True)
    return path


def discard(path: Path) -> None:
    """Put a directory of many small files aside for sweep(), instead of deleting it while rows
    are still measured: on ext4 without a journal (these machines), a file created in the next
    minute costs more CPU for every inode of its block group freed in that minute (the allocator
    scans past recently freed inodes), so deleting one batch's files would inflate the CPU of
    the batches that run next, ours and the reference loop's alike, by an amount that depends
    on the harness's own timing (seen: a file creation going from 30 to 300 µs over a quick
    run). Single big files may be deleted at once: they free one inode each."""
    TRASH.mkdir(parents=True, exist_ok=True)
    os.replace(str(path), str(TRASH / ("%s-%d-%d" % (path.name, os.getpid(), time.monotonic_ns()))))


def sweep() -> None:
    """Delete what discard() put aside: once the run's last row is measured."""
    shutil.rmtree(TRASH, ignore_errors=True)


# -- measured child processes -------------------------------------------------------------
@dataclass
class Measured:
    code: int
    wall: float           # seconds, fork to reaped
    maxrss: int           # bytes: peak resident set of the child (0 when not measured)
    stdout: str
    stderr: str
    started: float        # time.monotonic() just before the fork
    ended: float          # time.monotonic() when reaped
    cpu: float = 0.0      # seconds of user + system CPU of the child and everything it waited for

    def json(self) -> Any:
        return json.loads(self.stdout.strip().splitlines()[-1])


GNU_TIME = "/usr/bin/time"
# Fallback wrapper when GNU time is missing: reports its waited children's peak RSS.
_PY_WRAPPER = ("import os, resource, subprocess, sys; out = sys.argv[1]; "
               "code = subprocess.call(sys.argv[2:]); "
               "open(out, 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
               "sys.exit(code)")


def run_measured(argv: Sequence[str], env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None,
                 timeout: float = 600.0, rss: bool = True) -> Measured:
    """Run a child; wall time from fork to reaped; peak RSS from a fresh wrapper process.

    Why a wrapper: on Linux a child's ru_maxrss starts from the high-water mark of the
    memory of the process that forked it (exec folds the old mm's hiwater into it), so
    forking straight from this big benchmark process would report *our* RSS. A small
    wrapper (GNU time, ~1 MiB; else `python3 -I -S`, ~11 MiB) forks the target instead
    and reports the kernel's high-water mark of its RSS (ru_maxrss via wait4: no sampling,
    nothing missed). The wrapper's own size is the floor of the reading.
    """
    argv = list(argv)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        if rss and os.path.exists(GNU_TIME):
            full = [GNU_TIME, "-f", "%M", "-o", rss_file.name, "--"] + argv
        elif rss:
            full = [sys.executable, "-I", "-S", "-c", _PY_WRAPPER, rss_file.name] + argv
        else:
            full = argv
        started = time.monotonic()
        proc = subprocess.Popen(full, env=env, cwd=str(cwd) if cwd else None, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)
        # A blocking wait(), with a timer as the time limit: wait(timeout=...) polls with sleeps
        # of up to 50 ms, which quantized short runs into 64 ms / 115 ms buckets.
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        try:  # wait4: the exit status and the CPU the child (and its waited-for children) used
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
        code = proc.returncode = os.waitstatus_to_exitcode(status)
        cpu = usage.ru_utime + usage.ru_stime
        ended = time.monotonic()
        if code == -signal.SIGKILL and ended - started >= timeout:
            code = -9
        maxrss = 0
        if rss:
            rss_file.seek(0)
            text = rss_file.read().strip().splitlines()
            # GNU time writes "Command exited with non-zero status N" before %M on failure
            digits = [line for line in text if line.strip().isdigit()]
            maxrss = int(digits[-1]) * 1024 if digits else 0
        out.seek(0)
        err.seek(0)
        return Measured(code, ended - started, maxrss, out.read().decode("utf-8", "replace"),
                        err.read().decode("utf-8", "replace"), started, ended, cpu)


def together(*jobs: Callable[[], Any]) -> List[Any]:
    """[job() for job in jobs], all running at once (the first in this thread): they see the
    same moment of the machine."""
    results: List[Any] = [None] * len(jobs)
    errors: List[BaseException] = []

    def run(index: int) -> None:
        try:
            results[index] = jobs[index]()
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(1, len(jobs))]
    for thread in threads:
        thread.start()
    try:
        run(0)
    finally:
        for thread in threads:
            thread.join()
    if errors:  # a Ctrl-C first: it stopped the children whose failures came with it
        raise next((e for e in errors if isinstance(e, KeyboardInterrupt)), errors[0])
    return results


def rss_floor() -> int:
    """What run_measured reports for `true`: the smallest peak RSS it can tell apart."""
    return run_measured(["true"]).maxrss


def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_sdk(log=print) -> Optional[Path]:
    """bench/.venv with dashscope installed (python3 -m venv + pip install dashscope)."""
    python = venv_python()
    probe = [str(python), "-c", "import dashscope, sys; sys.stdout.write(dashscope.__version__)"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    log("  creating bench/.venv and installing the dashscope SDK (pip install dashscope) ...")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "dashscope"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        log("  pip install dashscope failed:\n" + proc.stderr[-2000:])
        return None
    return python


def sdk_version() -> str:
    proc = subprocess.run([str(venv_python()), "-c", "import dashscope, sys; sys.stdout.write(dashscope.__version__)"],
                          capture_output=True, text=True)
    return proc.stdout.strip() or "?"


# -- emulator ------------------------------------------------------------------------------
def emulator(**kwargs: Any):
    """A started tests.emulator.Emulator accepting the bench key (use as a context manager)."""
    from tests.emulator import Emulator

    kwargs.setdefault("api_keys", (KEY,))
    return Emulator(**kwargs)


def http_json(method: str, url: str, body: Optional[Dict[str, Any]] = None,
              headers: Optional[Dict[str, str]] = None, timeout: float = 30.0) -> Dict[str, Any]:
    """One plain urllib request to the emulator (proxies bypassed)."""
    data = json.dumps(body).encode("utf-8") if body is not None else None
    all_headers = {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"}
    all_headers.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8"))


T2V_ROUTE = "/services/aigc/video-generation/video-synthesis"
T2V_MODEL = "wan2.6-t2v"


def submit_t2v(base_url: str, prompt: str, **parameters: Any) -> str:
    params = {"size": "1280*720", "duration": 5}
    params.update(parameters)
    body = {"model": T2V_MODEL, "input": {"prompt": prompt}, "parameters": params}
    doc = http_json("POST", base_url + T2V_ROUTE, body, {"X-DashScope-Async": "enable"})
    return doc["output"]["task_id"]


def wait_succeeded(base_url: str, task_id: str, timeout: float = 60.0) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        doc = http_json("GET", "%s/tasks/%s" % (base_url, task_id))
        if doc["output"]["task_status"] == "SUCCEEDED":
            return doc
        if time.monotonic() > deadline:
            raise RuntimeError("task %s did not succeed: %s" % (task_id, doc))
        time.sleep(0.05)


# -- statistics and formatting -------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def mib(nbytes: float) -> str:
    return "%.1f MiB" % (nbytes / MIB)


def rate(nbytes: float, seconds: float) -> str:
    return "%.0f MiB/s" % (nbytes / MIB / seconds) if seconds > 0 else "inf"


@dataclass
class Row:
    metric: str
    ours: str
    peer: str
    ratio: str
    target: str
    result: str          # "pass", "FAIL", "info", "n/a"
    note: str = ""
    # For rounds (run.py merges several rounds of a row): a stable key, this round's figure and
    # the goal it is held to (None: information only), and which way is better.
    key: str = ""
    value: Optional[float] = None
    goal: Optional[float] = None
    higher_is_better: bool = True
    unit: str = ""       # how `value` reads: "x" (ratio), "s", "ms", "bytes", "n"
    hard: bool = False   # a failure no spread excuses (a broken invariant, not a slow round)

    def cells(self) -> List[str]:
        return [self.metric, self.ours, self.peer, self.ratio, self.target, self.result]


HEADER = ["Metric", "qianwen-video (ours)", "Peer", "Ratio", "Target", "Result"]


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row.cells()) + " |")
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


# -- machine description -------------------------------------------------------------------
def machine() -> Dict[str, str]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        cpu = platform.processor() or "?"
    ram = "?"
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            match = re.search(r"MemTotal:\s+(\d+) kB", fh.read())
            if match:
                ram = "%.1f GiB" % (int(match.group(1)) / 1024.0 / 1024.0)
    except OSError:
        pass
    try:
        curl = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        curl = "not installed"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count() or "?"),
        "ram": ram,
        "os": "%s %s" % (platform.system(), platform.release()),
        "python": "%s (%s)" % (platform.python_version(), sys.executable),
        "curl": curl,
    }
