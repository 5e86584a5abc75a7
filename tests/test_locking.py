"""Two runs at once never pay twice: the journal and the batch manifest are locked.

A single request holds the output directory's lock from its duplicate check to the
journaled task id, so a second identical run started together follows the first run's
task. A batch holds its manifest's lock for the whole run; a second run of it stops.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from qianwen_video.store import manifest as store_manifest
from qianwen_video.store import journal
from qianwen_video.store.lock import FileLock
from tests.emulator import Emulator, Stall
from tests.harness import KEY, VIDEO_PY, env_for, run

OUT = Path("output") / "qianwen-video-generation"
MODEL = "happyhorse-1.0-t2v"


def start(emu, cwd: Path, args) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DASHSCOPE_API_KEY", "QIANWEN_API_KEY", "DASHSCOPE_HTTP_BASE_URL", "QWEN_BASE_URL",
                        "QWEN_REGION") and not k.lower().endswith("_proxy")}
    env.update(env_for(emu))
    return subprocess.Popen([sys.executable, str(VIDEO_PY)] + list(args), cwd=str(cwd), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen):
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def test_lock_is_exclusive_and_released(tmp_path):
    first, second = FileLock(tmp_path / "x.jsonl"), FileLock(tmp_path / "x.jsonl")
    assert first.try_acquire()
    assert not second.try_acquire()
    assert not second.acquire(0.2)
    first.release()
    assert second.try_acquire()
    second.release()
    assert (tmp_path / "x.jsonl.lock").exists()


def test_two_identical_requests_started_together_create_one_task(tmp_path):
    request = json.dumps({"prompt": "a lighthouse at dawn"})
    with Emulator(api_keys=(KEY,), pending_seconds=0.05, run_seconds=0.1) as emu:
        # each create is answered late: without the lock both runs find "no task yet" and submit
        emu.script("POST", r"/video-synthesis$", Stall(1.0, process=True), Stall(1.0, process=True))
        args = ["--request", request, "--poll-interval", "0.05", "--print-response"]
        procs = [start(emu, tmp_path, args), start(emu, tmp_path, args)]
        results = [finish(p) for p in procs]
        assert emu.created_count() == 1, [r[2] for r in results]
        task_id = next(iter(emu.tasks))
        for code, out, err in results:
            assert code == 0, err
            assert json.loads(out)["task_id"] == task_id
        assert any("already submitted as task %s" % task_id in err for _, _, err in results)


def test_a_run_waits_for_the_submit_lock_then_gives_up_without_sending(tmp_path):
    with Emulator(api_keys=(KEY,)) as emu:
        held = FileLock(tmp_path / OUT / journal.JOURNAL_NAME)
        assert held.try_acquire()
        try:
            result = run(["--request", json.dumps({"prompt": "x"})], env_for(emu), tmp_path, max_sleep=0.005)
        finally:
            held.release()
        assert result.code == 1
        assert "Another run is submitting" in result.stderr
        assert "another run has been submitting" in result.stderr and "nothing was sent" in result.stderr
        assert 115 <= sum(result.sleeps) <= 125, sum(result.sleeps)
        assert emu.created_count() == 0 and emu.requests == []


def write_batch(directory: Path, n: int) -> None:
    (directory / "dup.jsonl").write_text("".join(json.dumps({"prompt": "clip %d" % i, "model": MODEL}) + "\n"
                                                 for i in range(1, n + 1)), encoding="utf-8")


def test_a_batch_in_use_by_another_run_stops_with_64(tmp_path):
    write_batch(tmp_path, 2)
    with Emulator(api_keys=(KEY,)) as emu:
        held = FileLock(tmp_path / "o" / ("dup" + store_manifest.MANIFEST_SUFFIX))
        assert held.try_acquire()
        try:
            result = run(["--batch", "dup.jsonl", "--output", "o"], env_for(emu), tmp_path)
        finally:
            held.release()
        assert result.code == 64
        assert "another run is using %s" % (tmp_path / "o" / "dup.manifest.jsonl") in result.stderr
        assert emu.requests == []


def test_the_same_batch_started_twice_at_once_submits_each_item_once(tmp_path):
    n = 3
    write_batch(tmp_path, n)
    with Emulator(api_keys=(KEY,), pending_seconds=0.05, run_seconds=1.5) as emu:
        # creates answered late: without the lock both runs submit before either records a task
        emu.script("POST", r"/video-synthesis$", *[Stall(0.5, process=True)] * (2 * n))
        args = ["--batch", "dup.jsonl", "--output", "o", "--poll-interval", "0.05"]
        procs = [start(emu, tmp_path, args), start(emu, tmp_path, args)]
        results = [finish(p) for p in procs]
        assert emu.created_count() == n, [r[2] for r in results]
    codes = sorted(code for code, _, _ in results)
    assert codes[0] == 0, results
    if codes[1] == 64:  # the usual case: the second run found the manifest in use
        assert any("another run is using" in err for _, _, err in results)
    else:  # the first run ended before the second began: it resumed and submitted nothing
        assert codes[1] == 0
