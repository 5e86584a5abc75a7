"""--batch against the emulator: waves, limits, kill and resume, failures, 429s, shared uploads."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from qianwen_video.commands import batch as batch_command
from qianwen_video.store import manifest as store_manifest
from qianwen_video.tasks import pacing
from tests.emulator import Emulator
from tests.harness import KEY, VIDEO_PY, VirtualTime, creates, env_for, run

MODEL = "happyhorse-1.0-t2v"  # catalog: 10 submits/s, 5 running (dashscope-api.md §6)
I2V = "happyhorse-1.1-i2v"
POLL = "0.05"


def write_batch(directory: Path, items, name: str = "b.jsonl") -> Path:
    path = directory / name
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return path


def prompts(n: int, model: str = MODEL):
    return [{"prompt": "clip number %d" % i, "model": model} for i in range(1, n + 1)]


def manifest_records(directory: Path, name: str = "b"):
    path = directory / "out" / (name + store_manifest.MANIFEST_SUFFIX)
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            pass  # a torn last line from a kill
    return records


def task_ids_by_item(records):
    found = {}
    for record in records:
        if record.get("event") == "submitted":
            found.setdefault(record["index"], []).append(record["task_id"])
    return found


def batch_args(*extra: str):
    return ["--batch", "b.jsonl", "--output", "out", "--poll-interval", POLL] + list(extra)


def test_twenty_requests_run_in_waves_close_to_ideal(tmp_path):
    pending, running, limit, n = 0.05, 0.7, 5, 20
    clock = VirtualTime()  # the schedule is judged on the clock the CLI and the emulator both read
    with Emulator(api_keys=(KEY,), pending_seconds=pending, run_seconds=running,
                  concurrency={MODEL: limit}, clock=clock.now) as emu:
        write_batch(tmp_path, prompts(n))
        started = clock.now()
        result = run(batch_args("--print-response"), env_for(emu), tmp_path, clock=clock)
        makespan = clock.now() - started
        assert result.code == 0, result.stderr
        assert emu.max_concurrent_seen[MODEL] == limit
        assert emu.created_count() == n
    waves = n // limit
    ideal = waves * (pending + running)
    # One poll of each running task every `granularity` s (the 18 GET/s bucket shared by
    # `limit` tasks, or --poll-interval if slower); each wave's end is seen up to that late.
    granularity = max(float(POLL), limit / pacing.QUERY_RATE)
    assert makespan <= 1.15 * ideal + waves * granularity, (makespan, ideal)
    assert makespan >= ideal
    document = result.json()
    assert document["succeeded"] == n and document["failed"] == 0
    assert [i["index"] for i in document["items"]] == list(range(1, n + 1))
    for item in document["items"]:
        assert item["status"] == "SUCCEEDED" and item["model"] == MODEL and item["mode"] == "t2v"
        assert Path(item["local_path"]).is_file() and item["video_url"] and item["error"] is None


def test_concurrency_flag_caps_running_tasks(tmp_path):
    clock = VirtualTime()
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.3, concurrency={MODEL: 5},
                  clock=clock.now) as emu:
        write_batch(tmp_path, prompts(6))
        result = run(batch_args("--concurrency", "2"), env_for(emu), tmp_path, clock=clock)
        assert result.code == 0, result.stderr
        assert emu.max_concurrent_seen[MODEL] == 2
        assert emu.created_count() == 6


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names a descriptor's file through /proc")
def test_a_batch_fsyncs_its_manifest_about_once_per_item_and_leaves_every_line_durable(tmp_path, monkeypatch):
    # Each intent is fsynced before its create call; task ids and saved videos ride on the next
    # intent's fsync, or get one of their own once a second old: not one fsync per pass of the loop.
    events = []  # (what, when): an intent's write, another write, or an fsync of the manifest
    real_fsync, real_write = os.fsync, os.write
    clock = VirtualTime()

    def manifest(fd):
        try:
            return os.readlink("/proc/self/fd/%d" % fd).endswith(store_manifest.MANIFEST_SUFFIX)
        except OSError:
            return False

    def fsync(fd):
        if manifest(fd):
            events.append(("fsync", clock.wall()))
        return real_fsync(fd)

    def write(fd, data):
        if manifest(fd):
            events.append(("intent" if b'"event": "intent"' in bytes(data) else "write", clock.wall()))
        return real_write(fd, data)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "write", write)
    n = 12
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=3.0, concurrency={MODEL: 5},
                  clock=clock.now) as emu:  # tasks outlast the submits: the last records wait on no intent
        write_batch(tmp_path, prompts(n))
        started = clock.wall()
        result = run(batch_args(), env_for(emu), tmp_path, clock=clock)
        took = clock.wall() - started
        assert result.code == 0, result.stderr
    kinds = [what for what, _ in events]
    assert kinds.count("intent") == n and len(kinds) - kinds.count("fsync") == len(manifest_records(tmp_path))
    assert all(kinds[i + 1] == "fsync" for i, what in enumerate(kinds) if what == "intent")  # before its create
    own = sum(1 for i, what in enumerate(kinds) if what == "fsync" and kinds[i - 1] != "intent")
    assert own <= took / store_manifest.GROUP_WINDOW + 2, (own, took, kinds)  # the old loop: about one per item
    assert kinds[-1] == "fsync"  # nothing written after the last fsync
    # ... and none waits much longer than the window (a pass comes at least every TICK)
    for i, (what, when) in enumerate(events):
        if what == "write":
            synced = next(at for kind, at in events[i:] if kind == "fsync")
            assert synced - when <= store_manifest.GROUP_WINDOW + batch_command.TICK + 0.5, (when, synced)


def test_each_saved_item_is_reported_once_as_that_item(tmp_path):
    clock = VirtualTime()
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05, clock=clock.now) as emu:
        write_batch(tmp_path, prompts(3))
        result = run(batch_args("--print-response"), env_for(emu), tmp_path, clock=clock)
        quiet = run(batch_args("--quiet") + ["--output", "quiet"], env_for(emu), tmp_path, clock=clock)
    assert result.code == 0 and quiet.code == 0, result.stderr + quiet.stderr
    lines = result.stderr.splitlines()
    saved = sorted(line for line in lines if ": saved " in line)
    assert saved == ["item %d: saved %s" % (item["index"], item["local_path"]) for item in result.json()["items"]]
    assert not [line for line in lines + quiet.stderr.splitlines() if line.startswith("Video saved to ")]
    quiet_items = [line for line in quiet.stderr.splitlines() if line.startswith("item ")]
    assert len(quiet_items) == 6 and all(" submitted task " in line or ": saved " in line for line in quiet_items)


def _subprocess_env(emu):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DASHSCOPE_API_KEY", "QIANWEN_API_KEY", "DASHSCOPE_HTTP_BASE_URL", "QWEN_BASE_URL",
                        "QWEN_REGION") and not k.lower().endswith("_proxy")}
    env.update(env_for(emu))
    return env


def test_kill_halfway_then_rerun_submits_nothing_twice(tmp_path):
    n = 20
    clock = VirtualTime()  # real time while the killed process runs; the rerun's waits pass for both sides
    with Emulator(api_keys=(KEY,), pending_seconds=0.05, run_seconds=0.5, concurrency={MODEL: 5},
                  clock=clock.now) as emu:
        write_batch(tmp_path, prompts(n))
        proc = subprocess.Popen([sys.executable, str(VIDEO_PY)] + batch_args(), cwd=str(tmp_path),
                                env=_subprocess_env(emu), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    submitted = sum(r.get("event") == "submitted" for r in manifest_records(tmp_path))
                except FileNotFoundError:
                    submitted = 0
                if submitted >= 8:
                    break
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        before = emu.created_count()
        assert 8 <= before < n

        result = run(batch_args("--print-response"), env_for(emu), tmp_path, clock=clock)
        assert result.code == 0, result.stderr
        assert "Resuming the batch" in result.stderr
        assert emu.created_count() == n  # nothing submitted twice
    ids = task_ids_by_item(manifest_records(tmp_path))
    assert sorted(ids) == list(range(1, n + 1))
    assert all(len(v) == 1 for v in ids.values()), ids
    flat = [v[0] for v in ids.values()]
    assert len(set(flat)) == n
    assert {i["task_id"] for i in result.json()["items"]} == set(flat)


def test_a_late_failure_and_an_invalid_item_do_not_block_the_others(tmp_path):
    items = prompts(5) + [{"prompt": "too long", "model": MODEL, "duration": 99}]
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.2) as emu:
        write_batch(tmp_path, items)
        refused = run(batch_args(), env_for(emu), tmp_path)
        assert refused.code == 64
        assert "Error: item 6: duration" in refused.stderr
        assert "--skip-invalid" in refused.stderr
        assert emu.requests == []  # nothing was sent, not even an upload or a query

        emu.script_task(["PENDING", "RUNNING", "RUNNING", "FAILED"], code="InternalError.Algo",
                        message="the model failed late")
        result = run(batch_args("--skip-invalid", "--print-response"), env_for(emu), tmp_path)
        assert result.code == 1, result.stderr
        assert emu.created_count() == 5
    by_index = {i["index"]: i for i in result.json()["items"]}
    assert by_index[1]["status"] == "FAILED" and "the model failed late" in by_index[1]["error"]
    assert by_index[1]["task_id"] and by_index[1]["local_path"] is None
    assert by_index[6]["status"] == "INVALID" and by_index[6]["task_id"] is None
    assert "duration" in by_index[6]["error"]
    for index in range(2, 6):
        assert by_index[index]["status"] == "SUCCEEDED" and Path(by_index[index]["local_path"]).is_file()


def test_429_slows_the_batch_down_without_failing_items(tmp_path):
    n = 8
    # The service allows 2 submits/s where the catalog says 10: the batch must adapt.
    clock = VirtualTime()
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.2, submit_rps={MODEL: 2},
                  clock=clock.now) as emu:
        write_batch(tmp_path, prompts(n))
        result = run(batch_args("--print-response"), env_for(emu), tmp_path, clock=clock)
        assert result.code == 0, result.stderr
        assert emu.created_count() == n
        assert len(creates(emu)) > n  # some submits were refused with 429 and tried again
        assert "slowing the batch down" in result.stderr
    assert all(i["status"] == "SUCCEEDED" for i in result.json()["items"])
    ids = task_ids_by_item(manifest_records(tmp_path))
    assert all(len(v) == 1 for v in ids.values()) and len(ids) == n


def test_a_local_file_is_uploaded_once_per_model(tmp_path):
    (tmp_path / "frame.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    items = [{"prompt": "a", "model": I2V, "img_url": "frame.png"},
             {"prompt": "b", "model": I2V, "img_url": "./frame.png"},
             {"prompt": "c", "model": "happyhorse-1.0-i2v", "img_url": "frame.png"}]
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.1) as emu:
        write_batch(tmp_path, items)
        result = run(batch_args(), env_for(emu), tmp_path)
        assert result.code == 0, result.stderr
        assert len(emu.requests_to("POST", r"^/oss/?$")) == 2  # one per model
        bodies = [r.json for r in creates(emu)]
    urls = [b["input"]["media"][0]["url"] for b in bodies]
    assert all(u.startswith("oss://") for u in urls)
    assert len(set(urls)) == 2


def test_timeout_then_rerun_polls_the_running_tasks(tmp_path):
    n = 4
    clock = VirtualTime()
    with Emulator(api_keys=(KEY,), pending_seconds=0.05, run_seconds=1.0, clock=clock.now) as emu:
        write_batch(tmp_path, prompts(n))
        first = run(batch_args("--timeout", "0.3"), env_for(emu), tmp_path, clock=clock)
        assert first.code == 2, first.stderr
        assert "resume with: python3" in first.stderr and "--batch b.jsonl" in first.stderr
        assert emu.created_count() == n
        second = run(batch_args(), env_for(emu), tmp_path, clock=clock)
        assert second.code == 0, second.stderr
        assert emu.created_count() == n


def test_an_edited_item_is_treated_as_new(tmp_path):
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.1) as emu:
        items = prompts(3)
        write_batch(tmp_path, items)
        assert run(batch_args(), env_for(emu), tmp_path).code == 0
        items[1]["prompt"] = "an edited prompt"
        items[2]["output"] = "renamed.mp4"  # where a result goes is not what was paid for
        write_batch(tmp_path, items)
        again = run(batch_args(), env_for(emu), tmp_path)
        assert again.code == 0, again.stderr
        assert "item 2 changed since it was submitted" in again.stderr
        assert "item 3 changed" not in again.stderr
        assert emu.created_count() == 4  # only the edited item was submitted again


def test_json_array_and_bad_lines(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(prompts(2)), encoding="utf-8")
    result = run(["--batch", "a.json", "--dry-run"], {}, tmp_path)
    assert result.code == 0, result.stderr
    assert [i["model"] for i in result.json()["items"]] == [MODEL, MODEL]
    (tmp_path / "b.jsonl").write_text('{"prompt": "ok"}\n\nnot json\n[1]\n', encoding="utf-8")
    bad = run(["--batch", "b.jsonl", "--dry-run"], {}, tmp_path)
    assert bad.code == 64
    assert "item 2: line 3 is not valid JSON" in bad.stderr
    assert "item 3: must be a JSON object" in bad.stderr
    conflict = run(["--batch", "b.jsonl", "--task-id", "x"], {}, tmp_path)
    assert conflict.code == 64


@pytest.mark.parametrize("zone", [0, 8], ids=["list-in-UTC", "list-in-UTC+8"])
def test_an_unanswered_submit_is_resolved_through_the_task_list(tmp_path, zone):
    from tests.emulator.actions import Reset

    clock = VirtualTime()  # item 4's "not listed yet" wait (recover.SETTLE, a minute) passes for both sides
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.2, zone_hours=zone, clock=clock.now) as emu:
        items = prompts(4)
        write_batch(tmp_path, items[:2])
        assert run(batch_args(), env_for(emu), tmp_path, clock=clock).code == 0
        write_batch(tmp_path, items)
        # Item 3's create is processed, then the connection drops (a task exists); item 4's
        # is dropped unprocessed (no task). Items 1-2's tasks, created seconds ago, are
        # in the task list too and must not be taken for item 3's.
        emu.script("POST", r"/video-synthesis$", Reset(after_body=True), Reset())
        result = run(batch_args("--print-response"), env_for(emu), tmp_path, clock=clock)
        assert result.code == 0, result.stderr
        assert "no clear answer" in result.stderr
        assert emu.created_count() == 4
    records = manifest_records(tmp_path)
    ids = task_ids_by_item(records)
    assert all(len(v) == 1 for v in ids.values()) and len({v[0] for v in ids.values()}) == 4
    adopted = [r["index"] for r in records if r.get("event") == "submitted" and r.get("adopted")]
    assert adopted == [3]


def _run_interrupting(args, env, cwd: Path, when):
    """In-process run whose sleep raises KeyboardInterrupt (Ctrl-C) the first time when() holds;
    returns (exit code, stderr, seconds from the interrupt to the return)."""
    import io

    from qianwen_video import cli
    from qianwen_video.context import Context

    fired = []

    def sleep(seconds: float) -> None:
        if not fired and when():
            fired.append(time.monotonic())
            raise KeyboardInterrupt
        time.sleep(min(seconds, 0.02))

    err = io.StringIO()
    ctx = Context(environ=dict(env), cwd=Path(cwd), stdout=io.StringIO(), stderr=err, sleep=sleep,
                  clock=time.monotonic, wall_clock=time.time, stderr_isatty=False)
    code = cli.main(args, ctx)
    assert fired, "the interrupt never fired"
    return code, err.getvalue(), time.monotonic() - fired[0]


def test_ctrl_c_stops_a_batch_download_promptly_and_the_rerun_downloads_it(tmp_path):
    size = 6_000_000
    with Emulator(api_keys=(KEY,), pending_seconds=0.05, run_seconds=0.2, video_size=size,
                  serve_rate=600_000) as emu:
        write_batch(tmp_path, prompts(1))
        out = tmp_path / "out"

        def downloading() -> bool:
            return any(p.stat().st_size > 500_000 for p in out.glob("*.part"))

        code, stderr, took = _run_interrupting(batch_args(), env_for(emu), tmp_path, downloading)
        assert code == 130, stderr
        assert took < 3.0, took
        time.sleep(0.3)  # a stopped worker has nothing left to write
        # What arrived is kept (paid bytes), never at the final name
        [part] = list(out.glob("*.part"))
        assert list(out.glob("*.mp4")) == [] and part.stat().st_size > 500_000, sorted(out.iterdir())
        kept = part.stat().st_size
        assert not any(r.get("event") == "saved" for r in manifest_records(tmp_path))
        results_before = len(emu.requests_to("GET", r"^/results/"))
        emu.serve_rate = None  # the rerun need not be slow
        again = run(batch_args("--print-response"), env_for(emu), tmp_path)
        assert again.code == 0, again.stderr
        [video] = list(out.glob("*.mp4"))
        assert video.name + ".part" == part.name  # the same name: the download was continued
        assert video.stat().st_size == size and list(out.glob("*.part")) == []
        [resumed] = emu.requests_to("GET", r"^/results/")[results_before:]
        assert resumed.headers.get("range") == "bytes=%d-" % kept
        assert len(list(out.glob("*.response.json"))) == 1  # one answer beside it, no orphan
        assert emu.created_count() == 1


def test_a_video_saved_before_the_manifest_recorded_it_is_not_downloaded_again(tmp_path):
    with Emulator(api_keys=(KEY,), pending_seconds=0.05, run_seconds=0.1) as emu:
        write_batch(tmp_path, prompts(2))
        first = run(batch_args(), env_for(emu), tmp_path)
        assert first.code == 0, first.stderr
        # Ctrl-C after the journal said "saved" but before the manifest did
        manifest = tmp_path / "out" / ("b" + store_manifest.MANIFEST_SUFFIX)
        lines = manifest.read_text(encoding="utf-8").splitlines(True)
        manifest.write_text("".join(l for l in lines if json.loads(l).get("event") != "saved"), encoding="utf-8")
        emu.clear_requests()
        again = run(batch_args("--print-response"), env_for(emu), tmp_path)
        assert again.code == 0, again.stderr
        assert emu.requests == []  # neither polled nor downloaded again
        document = again.json()
        assert document["succeeded"] == 2
        assert sorted(i["local_path"] for i in document["items"]) == sorted(str(p) for p in (tmp_path / "out").glob("*.mp4"))
        assert len(list((tmp_path / "out").glob("*.mp4"))) == 2


def _interrupted_batch(tmp_path, emu, items: int, ready):
    """Run a batch of `items` in a child, Ctrl-C it once ready() (polled, 20 s at most):
    (exit code, stderr, seconds from the signal to the exit, the `.part` names at the signal)."""
    write_batch(tmp_path, prompts(items))
    proc = subprocess.Popen([sys.executable, str(VIDEO_PY)] + batch_args(), cwd=str(tmp_path),
                            env=_subprocess_env(emu), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not ready():
            assert time.monotonic() < deadline, "the downloads never started"
            time.sleep(0.01)
        parts = sorted(p.name for p in (tmp_path / "out").glob("*.part"))
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=10)
        return proc.returncode, stderr, time.monotonic() - sent, parts
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_sigint_during_a_batch_download_exits_130_promptly(tmp_path):
    if not hasattr(signal, "SIGINT") or os.name == "nt":
        return
    out = tmp_path / "out"
    with Emulator(api_keys=(KEY,), pending_seconds=0.05, run_seconds=0.2, video_size=6_000_000,
                  serve_rate=600_000) as emu:
        code, stderr, took, _ = _interrupted_batch(tmp_path, emu, 1, lambda: any(
            p.stat().st_size > 500_000 for p in out.glob("*.part")))
        assert code == 130, stderr
        assert took < 3.0, took  # the worker stopped too: interpreter exit did not wait for the download
        assert list(out.glob("*.mp4")) == []  # nothing at a final name; the `.part` is kept to resume
        assert len(list(out.glob("*.part"))) == 1


def test_download_lanes_keep_one_thread_until_downloads_overlap():
    """Downloads that do not overlap all run on one thread (one warm thread, not two taking
    turns); one handed over while it is busy runs on a second thread at once; then the thread
    that finished last takes the work again."""
    from qianwen_video.commands.batch import Lanes

    lanes = Lanes(2)
    gate = threading.Event()
    try:
        first = lanes.submit(threading.get_ident).result(timeout=5)
        assert lanes.submit(threading.get_ident).result(timeout=5) == first
        busy = lanes.submit(lambda: gate.wait(5) and threading.get_ident())
        second = lanes.submit(threading.get_ident).result(timeout=5)
        assert second != first
        assert lanes.submit(threading.get_ident).result(timeout=5) == second  # not behind the busy one
        gate.set()
        assert busy.result(timeout=5) == first
        assert lanes.submit(threading.get_ident).result(timeout=5) == first  # it finished last
    finally:
        gate.set()
        lanes.shutdown()


def test_a_waiting_download_goes_to_the_first_lane_that_frees_up_and_a_stop_cancels_the_rest():
    from qianwen_video.commands.batch import Lanes

    lanes = Lanes(2)
    gates = [threading.Event() for _ in range(2)]
    started = [threading.Event() for _ in range(2)]
    try:
        long_ones = [lanes.submit(lambda g=gate, s=begun: s.set() or g.wait(5) and threading.get_ident())
                     for gate, begun in zip(gates, started)]
        assert all(begun.wait(5) for begun in started)
        waiting = lanes.submit(threading.get_ident)
        last = lanes.submit(threading.get_ident)
        gates[1].set()  # the second lane frees up first: the waiting download runs there, the first still busy
        assert waiting.result(timeout=5) == long_ones[1].result(timeout=5)
        assert not long_ones[0].done()
        lanes.shutdown(wait=False, cancel_futures=True)
        assert last.cancelled() or last.done()  # the freed lane may have taken it before the stop
        with pytest.raises(RuntimeError):
            lanes.submit(threading.get_ident)
    finally:
        for gate in gates:
            gate.set()
        lanes.shutdown()
    assert not long_ones[0].cancelled() and long_ones[0].result(timeout=5)  # under way: it finishes


def test_sigint_starts_no_download_that_had_not_started(tmp_path):
    """Ctrl-C while two downloads run and two wait: the waiting ones never take a lock, claim a
    name or write anything; the next run downloads them."""
    if not hasattr(signal, "SIGINT") or os.name == "nt":
        return
    out = tmp_path / "out"

    def two_running_two_waiting() -> bool:
        if not (emu.created_count() == 4 and any(p.stat().st_size > 500_000 for p in out.glob("*.part"))):
            return False
        time.sleep(0.3)  # every task has SUCCEEDED by now: two downloads run, two wait
        return True

    with Emulator(api_keys=(KEY,), pending_seconds=0.05, run_seconds=0.2, video_size=6_000_000,
                  serve_rate=600_000) as emu:
        code, stderr, _, parts = _interrupted_batch(tmp_path, emu, 4, two_running_two_waiting)
        assert code == 130, stderr
        assert len(parts) == 2, parts
        assert sorted(p.name for p in out.glob("*.part")) == parts
        assert len(list(out.glob("*.response.json"))) == 2
        assert list(out.glob("*.mp4")) == []
