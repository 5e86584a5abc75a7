"""SIGKILL the CLI at several moments: never a partial file at a final path, never a lost task.

The CLI runs as a subprocess against the in-process emulator and is killed while polling,
mid-download (a slow, large video), right after the submit was journaled, and while the
submit itself is in flight. Afterwards every *.mp4 in the output directory is complete, the
task id is recoverable from the journal (or the journal holds the unanswered submit, which
the rerun looks up), and rerunning never creates a second task.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qianwen_video.store import journal
from qianwen_video.tasks.recover import SETTLE
from tests.emulator import Emulator, Stall
from tests.harness import KEY, VIDEO_PY, VirtualTime, env_for, run

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

OUT = Path("output") / "qianwen-video-generation"
REQUEST = json.dumps({"prompt": "a lighthouse at dawn"})


def start(emu, cwd: Path, *extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DASHSCOPE_API_KEY", "QIANWEN_API_KEY", "DASHSCOPE_HTTP_BASE_URL", "QWEN_BASE_URL",
                        "QWEN_REGION") and not k.lower().endswith("_proxy")}
    env.update(env_for(emu))
    return subprocess.Popen([sys.executable, str(VIDEO_PY), "--request", REQUEST, "--poll-interval", "0.05"]
                            + list(extra), cwd=str(cwd), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in %gs" % timeout)
        time.sleep(0.01)


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def assert_no_partial_video(emu, cwd: Path) -> None:
    for video in (cwd / OUT).glob("*.mp4"):
        assert hashlib.sha256(video.read_bytes()).hexdigest() == emu.video_sha256(), video


def journal_of(cwd: Path) -> journal.Journal:
    return journal.Journal(cwd / OUT)


def rerun_recovers(emu, cwd: Path) -> None:
    """The same command again: follows the journaled/looked-up task, creates nothing new.

    A run killed after journaling its submit but before the service created anything leaves an
    unanswered submit: within a minute of it the rerun refuses to pay again ("run the same command
    again in a minute", exit 1, nothing created), and a minute later it submits."""
    before = emu.created_count()
    args = ["--request", REQUEST, "--poll-interval", "0.05", "--print-response"]
    clock = VirtualTime(0.05)
    result = run(args, env_for(emu), cwd, clock=clock)
    if result.code == 1 and "again in a minute" in result.stderr:
        assert emu.created_count() == before, "the designed answer creates nothing"
        clock.sleep(SETTLE + 1)
        result = run(args, env_for(emu), cwd, clock=clock)
    assert result.code == 0, result.stderr
    assert emu.created_count() == max(before, 1)
    assert result.json()["task_id"] in emu.tasks
    assert_no_partial_video(emu, cwd)
    assert hashlib.sha256(Path(result.json()["local_path"]).read_bytes()).hexdigest() == emu.video_sha256()


def test_kill_while_polling(tmp_path):
    with Emulator(api_keys=(KEY,), pending_seconds=1.0, run_seconds=0.3) as emu:
        proc = start(emu, tmp_path)
        wait_for(lambda: emu.requests_to("GET", r"/api/v1/tasks/[^/]+$"))
        kill(proc)
        task_id = next(iter(emu.tasks))
        assert journal_of(tmp_path).find(task_id)["model"] == "wan2.6-t2v"
        assert not list((tmp_path / OUT).glob("*.mp4"))
        resumed = run(["--task-id", task_id, "--poll-interval", "0.05"], env_for(emu), tmp_path, max_sleep=0.05)
        assert resumed.code == 0, resumed.stderr
        assert emu.created_count() == 1
        assert_no_partial_video(emu, tmp_path)
        assert journal_of(tmp_path).find(task_id)["status"] == "SUCCEEDED"


def test_kill_mid_download(tmp_path):
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05, video_size=6 * 1024 * 1024,
                  serve_rate=3 * 1024 * 1024) as emu:
        proc = start(emu, tmp_path)
        out = tmp_path / OUT
        wait_for(lambda: any(p.stat().st_size > 0 for p in out.glob("*.mp4.part")) if out.exists() else False)
        kill(proc)
        part = next(out.glob("*.mp4.part"))
        assert 0 < part.stat().st_size < emu.video_length
        final = part.with_name(part.name[:-len(".part")])
        assert not final.exists(), "the final name never holds a partial file"
        task_id = next(iter(emu.tasks))
        assert journal_of(tmp_path).find(task_id) is not None
        emu.serve_rate = None
        had = part.stat().st_size
        rerun_recovers(emu, tmp_path)
        # the rerun continued the killed download where it stopped, under the same name
        assert final.exists() and not part.exists()
        assert sorted(p.name for p in out.glob("*.mp4")) == [final.name]
        ranges = [r.headers.get("range") for r in emu.requests_to("GET", r"^/results/")]
        assert ranges[-1] == "bytes=%d-" % had


def test_kill_right_after_the_submit_was_journaled(tmp_path):
    with Emulator(api_keys=(KEY,), pending_seconds=1.0, run_seconds=0.3) as emu:
        proc = start(emu, tmp_path)
        wait_for(lambda: any(r.get("event") == "submitted" for r in journal_of(tmp_path).records()))
        kill(proc)
        task_id = next(iter(emu.tasks))
        assert journal_of(tmp_path).find(task_id)["request_digest"].startswith("sha256:")
        rerun_recovers(emu, tmp_path)


def test_kill_while_the_submit_is_in_flight(tmp_path):
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05) as emu:
        emu.script("POST", r"/video-synthesis$", Stall(30, process=True))  # created; the answer never comes
        proc = start(emu, tmp_path)
        wait_for(lambda: emu.created_count() == 1)
        kill(proc)
        book = journal_of(tmp_path)
        assert book.tasks() == {}  # the id never reached the client...
        intents = book.unresolved()
        assert len(intents) == 1 and intents[0]["model"] == "wan2.6-t2v"  # ...but the attempt is on record
        listed = run(["--list", "--print-response"], env_for(emu), tmp_path).json()["tasks"]
        assert [t["status"] for t in listed] == ["SUBMIT-UNANSWERED"]
        emu.clear_requests()
        rerun_recovers(emu, tmp_path)
        assert [r.path.rsplit("/", 1)[-1] for r in emu.requests][0] == "tasks", "looked up, not resubmitted"


def test_kill_while_the_submit_is_unanswered_and_nothing_was_created(tmp_path):
    """What the arbitrary-moment kills sometimes hit: the submit is journaled and on its way, the
    service has not created anything. The rerun waits out the minute, then pays once."""
    with Emulator(api_keys=(KEY,), pending_seconds=0.2, run_seconds=0.2) as emu:
        emu.script("POST", r"/video-synthesis$", Stall(30, process=False))
        proc = start(emu, tmp_path)
        wait_for(lambda: emu.requests_to("POST", r"/video-synthesis$"))
        kill(proc)
        assert emu.created_count() == 0 and journal_of(tmp_path).unresolved()
        rerun_recovers(emu, tmp_path)
        assert emu.created_count() == 1


@pytest.mark.parametrize("delay", [0.25, 0.45, 0.65, 0.9])
def test_kill_at_arbitrary_moments(tmp_path, delay):
    with Emulator(api_keys=(KEY,), pending_seconds=0.2, run_seconds=0.2, video_size=2 * 1024 * 1024,
                  serve_rate=4 * 1024 * 1024) as emu:
        proc = start(emu, tmp_path)
        time.sleep(delay)
        if proc.poll() is None:
            kill(proc)
        assert_no_partial_video(emu, tmp_path)
        book = journal_of(tmp_path)
        if emu.created_count():
            task_id = next(iter(emu.tasks))
            assert book.find(task_id) is not None or book.unresolved(), "the task is recoverable"
        emu.serve_rate = None
        rerun_recovers(emu, tmp_path)
