"""The process's own edges (issue 14, item 21): a Ctrl-C in the first milliseconds, while the
modules are still loading, and a stdout whose reader went away. Each ends with a documented exit
code and at most one line, never a traceback and never a misleading message."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.harness import VIDEO_PY


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("DASHSCOPE_API_KEY", "QIANWEN_API_KEY")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def test_ctrl_c_while_the_program_starts_is_an_interruption_not_a_traceback(tmp_path):
    """SIGINT at delays that land in interpreter start-up, module loading and the run itself."""
    outcomes = []
    for delay in (0.03, 0.045, 0.06, 0.07, 0.08, 0.09, 0.1, 0.11, 0.12, 0.14, 0.16):
        proc = subprocess.Popen([sys.executable, str(VIDEO_PY), "--dry-run", "--request", '{"prompt": "a kite"}'],
                                cwd=str(tmp_path), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        text = err.decode("utf-8", "replace")
        if text.startswith("Fatal Python error: init_import_site"):
            continue  # the interpreter's own start-up (site.py), before video.py's first line runs
        assert "Traceback" not in text, (delay, text)
        # 130 with one line; -SIGINT when it lands before Python took the signal over; 0 if the run was done
        assert proc.returncode in (130, -signal.SIGINT, 0), (delay, proc.returncode, text)
        if proc.returncode == 130:
            assert text.strip().splitlines()[-1] == "Interrupted.", (delay, text)
        outcomes.append(proc.returncode)
    assert 130 in outcomes  # the window the attack found (30-120 ms) was exercised


def test_a_closed_stdout_ends_the_run_quietly(tmp_path):
    """`video.py --list-models --print-response | true`: the reader is gone before the JSON is written."""
    read, write = os.pipe()
    os.close(read)  # nobody will ever read: the first write gets EPIPE
    try:
        proc = subprocess.run([sys.executable, str(VIDEO_PY), "--list-models", "--print-response"], cwd=str(tmp_path),
                              env=_env(), stdout=write, stderr=subprocess.PIPE, timeout=30)
    finally:
        os.close(write)
    text = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1
    assert text == "", text  # no "cannot access: Broken pipe", no "Exception ignored ... BrokenPipeError"
