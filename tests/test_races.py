"""Two runs following the same task at once: one download, no shared temporary names.

Names are claimed atomically (an O_EXCL `.part`), the response JSON goes through a temporary
file of each run's own, and a run that finds the task already saved (by the other run)
reports that file instead of downloading a second copy.
"""
from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

from qianwen_video.store import outputs
from tests.emulator import Emulator
from tests.harness import KEY, env_for, run

OUT = Path("output") / "qianwen-video-generation"


def test_claim_takes_each_name_once_even_when_many_threads_race(tmp_path):
    wanted = tmp_path / "clip.mp4"
    barrier = threading.Barrier(8)
    claimed = []

    def take():
        barrier.wait()
        claimed.append(outputs.claim(wanted)[0])

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(claimed)) == 8, claimed
    assert wanted in claimed
    for video in claimed:
        part = video.with_name(video.name + ".part")
        assert part.exists() and part.stat().st_size == 0  # the claim: an empty `.part`
        assert not video.exists()


def test_claim_skips_names_in_use(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"x")
    (tmp_path / "clip_1.mp4.part").write_bytes(b"")
    (tmp_path / "clip_2.response.json").write_text("{}")
    video, response = outputs.claim(tmp_path / "clip.mp4")
    assert video == tmp_path / "clip_3.mp4" and response == tmp_path / "clip_3.response.json"
    assert (tmp_path / "clip_3.mp4.part").exists()
    assert (tmp_path / "clip_1.mp4.part").exists()  # another run's claim is left alone


def _follow_together(emu, cwd: Path, args_list):
    results = [None] * len(args_list)
    barrier = threading.Barrier(len(args_list))

    def go(index, args):
        barrier.wait()
        results[index] = run(args, env_for(emu), cwd)

    threads = [threading.Thread(target=go, args=(i, a)) for i, a in enumerate(args_list)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def _assert_one_whole_video(emu, cwd: Path) -> Path:
    out = cwd / OUT
    videos = sorted(out.glob("*.mp4"))
    assert len(videos) == 1, videos
    assert hashlib.sha256(videos[0].read_bytes()).hexdigest() == emu.video_sha256()
    assert not [p for p in out.iterdir() if p.name.endswith(".part")], sorted(out.iterdir())
    for response in out.glob("*.response.json"):
        json.loads(response.read_text(encoding="utf-8"))  # whole, never half-written
    return videos[0]


def test_two_runs_following_the_same_task_at_once_both_succeed_with_one_download(tmp_path):
    with Emulator(api_keys=(KEY,), pending_seconds=0.05, run_seconds=0.3, video_size=2_000_000,
                  serve_rate=4_000_000) as emu:
        submitted = run(["--request", json.dumps({"prompt": "lock test"}), "--submit-only"], env_for(emu), tmp_path)
        assert submitted.code == 0, submitted.stderr
        task_id = submitted.stdout.strip()
        args = ["--task-id", task_id, "--poll-interval", "0.05", "--print-response"]
        results = _follow_together(emu, tmp_path, [args, args])
        for result in results:
            assert result is not None and result.code == 0, result and result.stderr
        video = _assert_one_whole_video(emu, tmp_path)
        documents = [r.json() for r in results]
        assert [d["local_path"] for d in documents] == [str(video)] * 2
        assert all(d["task_id"] == task_id for d in documents)
        assert len(emu.requests_to("GET", r"^/results/")) == 1  # one download, not two copies
        assert any("Video already saved: %s" % video in r.stderr for r in results)


def test_two_identical_requests_at_once_follow_one_task_and_save_it_once(tmp_path):
    # the repro: the journal lock makes the second run follow the first's task
    with Emulator(api_keys=(KEY,), pending_seconds=0.05, run_seconds=0.2, video_size=1_000_000,
                  serve_rate=4_000_000) as emu:
        args = ["--request", json.dumps({"prompt": "lock test"}), "--poll-interval", "0.05", "--print-response"]
        results = _follow_together(emu, tmp_path, [args, args])
        for result in results:
            assert result is not None and result.code == 0, result and result.stderr
        assert emu.created_count() == 1
        video = _assert_one_whole_video(emu, tmp_path)
        assert [r.json()["local_path"] for r in results] == [str(video)] * 2
