"""Two runs at once never pay twice: the journal and the batch manifest are locked.

A single request holds the output directory's lock from its duplicate check to the
journaled task id, so a second identical run started together follows the first run's
task. A batch holds its manifest's lock for the whole run; a second run of it stops.
A task's download lock is a byte of one shared file (SlotLock): held against other
processes and other threads alike, and no file is made or removed per task.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from qianwen_video.store import manifest as store_manifest
from qianwen_video.store import journal
from qianwen_video.store.lock import FileLock, SlotLock
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


HOLDER = """
import sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from qianwen_video.store.lock import SlotLock
locks = [SlotLock(Path(sys.argv[2]), name) for name in sys.argv[3:]]
print(" ".join("1" if lock.try_acquire() else "0" for lock in locks), flush=True)
sys.stdin.readline()
"""


def other_process_takes(path: Path, *names: str, hold: bool = False):
    """What another process gets when it tries `names` (True/False each); with hold=True it keeps
    them and the Popen is returned too (close its stdin to let it end)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(VIDEO_PY.parent), str(path)] + list(names),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    taken = [flag == "1" for flag in proc.stdout.readline().split()]
    if hold:
        return taken, proc
    proc.communicate(timeout=30)
    return taken


needs_posix_locks = pytest.mark.skipif(sys.platform == "win32", reason="the cross-process cases are POSIX-run here")


@needs_posix_locks
def test_a_slot_is_held_against_other_processes_and_only_that_slot(tmp_path):
    path = tmp_path / ".downloads.lock"
    mine = SlotLock(path, "task-a")
    assert mine.try_acquire()
    assert other_process_takes(path, "task-a", "task-b") == [False, True]
    mine.release()
    assert other_process_takes(path, "task-a") == [True]


@needs_posix_locks
def test_releasing_one_slot_keeps_the_others_of_this_process_held(tmp_path):
    # POSIX byte locks belong to the process: closing any descriptor of the file would drop them all
    path = tmp_path / ".downloads.lock"
    first, second = SlotLock(path, "task-a"), SlotLock(path, "task-b")
    assert first.try_acquire() and second.try_acquire()
    first.release()
    assert other_process_takes(path, "task-a", "task-b") == [True, False]
    second.release()


@needs_posix_locks
def test_two_spellings_of_one_folder_share_its_slots(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "out")
    held = SlotLock(tmp_path / "out" / ".downloads.lock", "task-a")
    passing = SlotLock(tmp_path / "link" / ".downloads.lock", "task-b")
    assert held.try_acquire() and passing.try_acquire()
    assert not SlotLock(tmp_path / "link" / ".downloads.lock", "task-a").try_acquire()
    passing.release()  # through the other spelling: must not close the descriptor holding task-a
    assert other_process_takes(tmp_path / "out" / ".downloads.lock", "task-a") == [False]
    held.release()


@needs_posix_locks
def test_a_dead_holder_frees_its_slots(tmp_path):
    path = tmp_path / ".downloads.lock"
    taken, holder = other_process_takes(path, "task-a", hold=True)
    assert taken == [True]
    assert not SlotLock(path, "task-a").try_acquire()
    holder.kill()
    holder.wait(30)
    later = SlotLock(path, "task-a")
    assert later.try_acquire()
    later.release()


def test_threads_of_one_process_take_a_slot_one_at_a_time(tmp_path):
    path = tmp_path / ".downloads.lock"
    barrier = threading.Barrier(8)
    won = []

    def race():
        lock = SlotLock(path, "task-a")
        barrier.wait()
        if lock.try_acquire():
            won.append(lock)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert won[0].try_acquire()  # held already: taking it again is a no-op
    won[0].release()
    again = SlotLock(path, "task-a")
    assert again.try_acquire()
    again.release()


def open_on(path: Path) -> int:
    """How many of this process's descriptors are open on `path` (Linux: /proc/self/fd)."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            count += os.readlink(str(fd)) == str(path)
        except OSError:
            pass  # closed meanwhile (another thread's)
    return count


def test_slots_make_one_file_and_keep_no_descriptor_open_once_released(tmp_path):
    path = tmp_path / "new" / ".downloads.lock"  # the folder is made when missing
    locks = [SlotLock(path, "task-%d" % n) for n in range(50)]
    assert all(lock.try_acquire() for lock in locks)
    assert len({lock.offset for lock in locks}) == 50
    if Path("/proc/self/fd").is_dir():
        assert open_on(path) == 1  # one descriptor for all the slots held
    for lock in locks:
        lock.release()
    assert sorted(p.name for p in tmp_path.rglob("*")) == [".downloads.lock", "new"]
    if Path("/proc/self/fd").is_dir():
        assert open_on(path) == 0


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
