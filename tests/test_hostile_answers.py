"""Hostile answers at the network layer (issue 14): the exact request log, the tasks created,
the files left. Each case failed before its fix.

| #  | hostile answer                                              | expected                                    |
|----|-------------------------------------------------------------|---------------------------------------------|
| 1  | create answer 100 000 deep / not UTF-8 / cut / huge / MemoryError | ambiguous: looked up, adopted, one task |
| 2  | huge or deeply nested status answer                         | a failed poll, retried; never a crash       |
| 2  | any answer over the cap                                     | not read on (Response.unreadable)           |
| 3  | 5xx on create with a DashScope code (tests/test_faults.py)  | looked up, never resent                     |
| 6  | status answer without output.task_status                    | a failed poll; then "malformed", not final  |
| 9  | create answer with task id "../evil"; a listed "../x"       | ambiguous and looked up; the listed one skipped |
| 10 | download cut at 40% with no Content-Length                  | resumed with Range, saved whole              |
| 10 | always cut / empty body / HTML portal / not an MP4          | DownloadFailed with the task id; no files    |
| 11 | a symbolic link planted at the `.part` path                 | refused; its target untouched               |
| 17 | status / create / upload / download answers dripped slowly | cut by the budget, retried or looked up    |
| 21 | a file:// video URL; a malformed upload policy              | one clear error at once, no retries         |
"""
from __future__ import annotations

import io
import json
import struct
import time
from pathlib import Path

import pytest

from qianwen_video.console import Console
from qianwen_video.context import Context
from qianwen_video.net import api as api_module
from qianwen_video.net import download as download_module
from qianwen_video.net import retry
from qianwen_video.net.transport import Guard, TooSlow, Transport
from tests.emulator import Drip, Emulator, Reply, Reset, Truncate
from tests.faultlog import assert_log, sequence
from tests.harness import KEY, env_for, run

CREATE = r"/video-synthesis$"
TASK = r"/api/v1/tasks/[^/]+$"
LIST = r"/api/v1/tasks$"
RESULT = r"^/results/"
POLICY = r"/api/v1/uploads$"
OUT = Path("output") / "qianwen-video-generation"
DEEP = '{"output": ' + "[" * 100000 + "]" * 100000 + "}"
HUGE = json.dumps({"output": {"task_status": "RUNNING"}, "pad": "x" * (2 * 1024 * 1024)})
FAST = {"QWEN_HTTP_TIMEOUT": "0.3"}  # budgets of 0.3 s: slow-drip cases end in well under a second


@pytest.fixture()
def emu():
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05, fail_seconds=0.02) as server:
        yield server
        assert server.created_count() <= 1, sequence(server)


def generate(emu, tmp_path, extra=(), env=None, **kw):
    args = ["--request", json.dumps({"prompt": "a lighthouse at dawn"}), "--poll-interval", "0.05",
            "--print-response"] + list(extra)
    return run(args, env or env_for(emu), tmp_path, **kw)


def files_left(tmp_path):
    return sorted(p.name for p in (tmp_path / OUT).glob("*") if not p.name.startswith("qianwen-video-tasks"))


def assert_intact(emu, tmp_path):
    import hashlib

    videos = list((tmp_path / OUT).glob("*.mp4"))
    assert len(videos) == 1, videos
    assert hashlib.sha256(videos[0].read_bytes()).hexdigest() == emu.video_sha256()
    assert not list((tmp_path / OUT).glob("*.part"))


def assert_nothing_saved(tmp_path):
    out = tmp_path / OUT
    assert not list(out.glob("*.mp4")) and not list(out.glob("*.part")), files_left(tmp_path)


def one_error_line(stderr: str) -> None:
    assert stderr.count("Error:") == 1, stderr
    assert "internal error" not in stderr and "Traceback" not in stderr


# -- 1: a create answer that cannot be read or parsed is an ambiguous submit ----------------------
@pytest.mark.parametrize("answer", [
    Reply(200, body=DEEP, content_type="application/json", process=True),
    Reply(200, body=b'{"output": {"task_id": "\xff\xfe"}}', content_type="application/json", process=True),
    Reply(200, body=HUGE, content_type="application/json", process=True),
    Truncate(20),
], ids=["100000-deep", "not-utf8", "huge", "cut"])
def test_an_unreadable_create_answer_is_looked_up_and_adopted(emu, tmp_path, answer):
    emu.script("POST", CREATE, answer)
    result = generate(emu, tmp_path)
    assert result.code == 0, result.stderr
    assert_log(emu, ["POST create [%s]" % type(answer).__name__, "GET list x2", "GET task+", "GET result"])
    assert "Found the task the submit created: " + next(iter(emu.tasks)) in result.stderr
    assert emu.created_count() == 1
    assert_intact(emu, tmp_path)


def test_a_memory_error_while_reading_the_create_answer_is_ambiguous(emu, tmp_path, monkeypatch):
    real = Transport.request

    def starved(self, method, url, *args, **kwargs):
        answer = real(self, method, url, *args, **kwargs)
        if method == "POST":
            raise MemoryError()  # as under a memory cap, after the service created the task
        return answer

    monkeypatch.setattr(Transport, "request", starved)
    result = generate(emu, tmp_path)
    assert result.code == 0, result.stderr
    assert "answer could not be read (MemoryError)" in result.stderr
    assert_log(emu, ["POST create", "GET list x2", "GET task+", "GET result"])
    assert emu.created_count() == 1


# -- 2: answers are read with a cap; a huge or nested status answer is a failed poll ---------------
def test_an_answer_over_the_cap_is_not_read_on(emu):
    from qianwen_video import safe_json

    emu.script("GET", TASK, Reply(200, body=HUGE, content_type="application/json"))
    ctx = Context(environ={}, stdout=io.StringIO(), stderr=io.StringIO())
    answer = Transport(ctx).request("GET", emu.base_url + "/tasks/x", {"Authorization": "Bearer " + KEY})
    assert answer.status == 200 and answer.body == b"" and answer.json() is None
    assert answer.unreadable == "an answer larger than %d bytes" % safe_json.ANSWER_LIMIT


@pytest.mark.parametrize("body", [HUGE, DEEP], ids=["huge", "100000-deep"])
def test_a_huge_or_nested_status_answer_is_a_failed_poll(emu, tmp_path, body):
    emu.script("GET", TASK, Reply(200, body=body, content_type="application/json"))
    result = generate(emu, tmp_path)
    assert result.code == 0, result.stderr
    assert_log(emu, ["POST create", "GET task [Reply]", "GET task+", "GET result"])
    assert "task query: HTTP 200 with " in result.stderr
    assert_intact(emu, tmp_path)


# -- 6: a status answer without task_status is never a final state ---------------------------------
NO_STATUS = {"request_id": "r", "output": {"task_id": "whatever"}}


def test_a_status_answer_without_task_status_is_retried(emu, tmp_path):
    emu.script("GET", TASK, Reply(200, json=NO_STATUS), Reply(200, json={"request_id": "r", "output": "x"}))
    result = generate(emu, tmp_path)
    assert result.code == 0, result.stderr
    assert_log(emu, ["POST create", "GET task [Reply] x2", "GET task+", "GET result"])
    assert "a malformed task (no output.task_status)" in result.stderr
    assert_intact(emu, tmp_path)


def test_status_answers_that_stay_malformed_end_as_malformed_not_final(emu, tmp_path):
    from qianwen_video.store import journal

    emu.script("GET", TASK, *[Reply(200, json=NO_STATUS)] * 6)
    result = generate(emu, tmp_path)
    task_id = next(iter(emu.tasks))
    assert result.code == 1
    assert_log(emu, ["POST create", "GET task [Reply] x6"])
    assert "malformed task" in result.stderr and "may still be running" in result.stderr
    assert "UNKNOWN" not in result.stderr
    assert journal.Journal(tmp_path / OUT).find(task_id).get("status") != "UNKNOWN"
    again = run(["--task-id", task_id, "--poll-interval", "0.05"], env_for(emu), tmp_path)
    assert again.code == 0, again.stderr
    assert emu.created_count() == 1
    assert_intact(emu, tmp_path)


# -- 9: server-given task ids are validated -------------------------------------------------------
def test_task_id_rule():
    good = ["0385dc79-5ff8-4d82-bcb6-6fa7bbc4a9b1", "a", "A.b_c-1", "x" * 128]
    bad = [".", "..", "../x", "a/b", "-x", ".x", "x" * 129, "a b", "a\nb", "ü", "", None, 7]
    assert all(api_module.valid_task_id(t) for t in good)
    assert not any(api_module.valid_task_id(t) for t in bad)


def test_a_create_answer_with_an_unusable_task_id_is_looked_up(emu, tmp_path):
    emu.script("POST", CREATE, Reply(200, json={"request_id": "r", "output": {"task_id": "../evil",
                                                                             "task_status": "PENDING"}},
                                     process=True))
    result = generate(emu, tmp_path)
    assert result.code == 0, result.stderr
    assert "task_id is not a valid task id" in result.stderr
    assert_log(emu, ["POST create [Reply]", "GET list x2", "GET task+", "GET result"])
    assert result.json()["task_id"] == next(iter(emu.tasks))
    assert not any("evil" in p.name for p in tmp_path.parent.rglob("*") if tmp_path.name in str(p))
    assert emu.created_count() == 1


def test_a_listed_task_with_an_unusable_id_is_skipped(emu, tmp_path):
    emu.script("POST", CREATE, Reset(after_body=False))
    page = {"request_id": "r", "total": 1, "total_page": 1, "page_size": 50,
            "data": [{"task_id": "../x", "model_name": "wan2.6-t2v", "status": "RUNNING",
                      "gmt_create": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}]}
    emu.script("GET", LIST, *[Reply(200, json=page)] * 6)
    result = generate(emu, tmp_path)
    assert result.code == 1
    assert_log(emu, ["POST create [Reset]", "GET list [Reply] x6"])
    assert "no task is listed yet" in result.stderr and "../x" not in result.stderr
    assert not (tmp_path / "output" / "x").exists() and not list(tmp_path.rglob(".downloads.lock"))  # no download tried
    assert emu.created_count() == 0


# -- 10: only a whole video is saved ------------------------------------------------------------
def box(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


FTYP = box(b"ftyp", b"isom\x00\x00\x02\x00isommp41")


@pytest.mark.parametrize("data, layout", [
    (FTYP + box(b"moov", b"m" * 20) + box(b"mdat", b"v" * 100), download_module.WHOLE),
    (FTYP + struct.pack(">I4sQ", 1, b"mdat", 16 + 50) + b"v" * 50, download_module.WHOLE),  # 64-bit size
    (FTYP + struct.pack(">I4s", 0, b"mdat") + b"v" * 77, download_module.WHOLE),  # size 0: to the end
    (FTYP + box(b"mdat", b"v" * 100)[:60], download_module.PREFIX),  # the last box runs past the end
    (FTYP + b"\x00\x00", download_module.PREFIX),  # a box header cut short
    (FTYP[:10], download_module.PREFIX),
    (b"", download_module.PREFIX),
    (box(b"moov", b"m" * 20) + FTYP, download_module.INVALID),  # ftyp is not first
    (b"<html><body>Please log in</body></html>", download_module.INVALID),
    (FTYP + struct.pack(">I4s", 4, b"mdat"), download_module.INVALID),  # a size smaller than its header
    (FTYP + struct.pack(">I4s", 12, b"\x00\x01\x02\x03") + b"x" * 4, download_module.INVALID),
    (struct.pack(">I4s", 0, b"ftyp") + b"x" * 40, download_module.INVALID),
])
def test_mp4_layout(data, layout):
    assert download_module.mp4_layout(io.BytesIO(data), len(data)) == layout


def test_the_fixture_video_is_whole():
    from tests.harness import FIXTURE_MP4

    data = FIXTURE_MP4.read_bytes()
    assert download_module.mp4_layout(io.BytesIO(data), len(data)) == download_module.WHOLE


@pytest.mark.parametrize("kind, ok", [(None, True), ("video/mp4", True), ("video/quicktime", True),
                                      ("application/octet-stream", True), ("binary/octet-stream", True),
                                      ("Video/MP4; charset=binary", True), ("text/html; charset=utf-8", False),
                                      ("application/json", False), ("application/xml", False),
                                      ("text/plain", False)])
def test_content_types_a_video_can_have(kind, ok):
    assert download_module.video_type(kind) is ok


def test_a_download_cut_at_40_percent_without_content_length_is_resumed(emu, tmp_path):
    cut = int(emu.video_length * 0.4)
    emu.script("GET", RESULT, Truncate(cut, length=False))
    result = generate(emu, tmp_path)
    assert result.code == 0, result.stderr
    assert_log(emu, ["POST create", "GET task+", "GET result [Truncate]", "GET result bytes=%d-" % cut])
    assert "inside the video" in result.stderr
    assert_intact(emu, tmp_path)


def test_a_download_cut_every_time_fails_with_the_task_id_and_leaves_nothing(emu, tmp_path):
    cut = int(emu.video_length * 0.4)
    emu.script("GET", RESULT, *[Truncate(cut, length=False)] + [Truncate(0, length=False)] * 5)
    result = generate(emu, tmp_path)
    task_id = next(iter(emu.tasks))
    assert result.code == 1
    assert "download failed after 6 attempts" in result.stderr and "--task-id " + task_id in result.stderr
    assert result.json()["local_path"] is None
    assert_nothing_saved(tmp_path)


@pytest.mark.parametrize("answer, why", [
    (Reply(200, body=b"", content_type="video/mp4"), "not a whole video (empty)"),
    (Reply(200, body="<html><body>Please log in to the hotel Wi-Fi</body></html>",
           content_type="text/html; charset=utf-8"), "the download answer is text/html, not a video"),
    (Reply(200, json={"code": "NoSuchKey"}), "is application/json, not a video"),
    (Reply(200, body=b"\x00" * 5000, content_type="application/octet-stream"), "are not a video's"),
], ids=["empty", "captive-portal", "json", "not-mp4"])
def test_a_download_that_is_not_a_video_is_never_saved(emu, tmp_path, answer, why):
    emu.script("GET", RESULT, answer)
    result = generate(emu, tmp_path)
    task_id = next(iter(emu.tasks))
    assert result.code == 1
    assert_log(emu, ["POST create", "GET task+", "GET result [Reply]"])
    assert why in result.stderr and "(task %s)" % task_id in result.stderr
    assert "--task-id " + task_id in result.stderr
    one_error_line(result.stderr)
    assert_nothing_saved(tmp_path)


# -- 11: the .part is never opened through a symbolic link ----------------------------------------
def test_a_symlink_planted_at_the_part_path_is_refused_and_its_target_untouched(emu, tmp_path):
    from qianwen_video.store import journal, outputs

    task_id = run(["--request", json.dumps({"prompt": "x"}), "--submit-only"], env_for(emu), tmp_path).stdout.strip()
    time.sleep(0.3)  # finished
    ctx = Context(environ=env_for(emu), stdout=io.StringIO(), stderr=io.StringIO())
    url = api_module.DashScope(ctx, Console(ctx), KEY, emu.base_url).get_task(task_id)["output"]["video_url"]
    video = tmp_path / OUT / outputs.video_name(url, task_id)
    journal.Journal(tmp_path / OUT).append("downloading", task_id, local_path=str(video))  # a killed download
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    video.with_name(video.name + ".part").symlink_to(target)
    emu.clear_requests()
    result = run(["--task-id", task_id], env_for(emu), tmp_path)
    assert result.code == 1
    assert "is a symbolic link or not a regular file" in result.stderr and task_id in result.stderr
    assert_log(emu, ["GET task"])
    assert target.read_text() == "keep me\n"
    assert not video.exists() and not video.is_symlink()
    again = run(["--task-id", task_id], env_for(emu), tmp_path)  # the link is gone; the task is still there
    assert again.code == 0, again.stderr
    assert target.read_text() == "keep me\n"
    assert_intact(emu, tmp_path)


def test_open_regular_refuses_links_and_fifos(tmp_path):
    import os

    target = tmp_path / "target"
    target.write_bytes(b"x")
    (tmp_path / "link").symlink_to(target)
    os.mkfifo(str(tmp_path / "fifo"))
    for name in ("link", "fifo"):
        with pytest.raises(download_module.DownloadFailed):
            download_module.open_regular(tmp_path / name, os.O_RDWR | os.O_CREAT)
    os.close(download_module.open_regular(tmp_path / "new.part", os.O_RDWR | os.O_CREAT))
    assert target.read_bytes() == b"x" and (tmp_path / "new.part").is_file()


# -- 17: every exchange has an overall deadline ---------------------------------------------------
def test_a_status_answer_dripped_one_byte_at_a_time_is_cut_by_the_budget(emu, tmp_path):
    emu.script("GET", TASK, Drip(0.05))
    started = time.monotonic()
    result = generate(emu, tmp_path, env=env_for(emu, **FAST))
    assert result.code == 0, result.stderr
    assert time.monotonic() - started < 3.0
    assert_log(emu, ["POST create", "GET task [Drip]", "GET task+", "GET result"])
    assert "no complete answer within 0.3s" in result.stderr
    assert_intact(emu, tmp_path)


def test_a_silence_after_some_bytes_is_cut_close_to_the_budget(emu):
    """The socket's timeout is only re-set when the guard's wait differs enough (a system call each
    time), yet a read that starts late in the budget still waits only what is left of it: a byte
    every 0.7 s against a 1 s budget is cut at 1 s, not when the next byte comes at 1.4 s."""
    from qianwen_video.net.transport import NoResponse

    emu.script("GET", TASK, Drip(0.7))
    ctx = Context(environ={"QWEN_HTTP_TIMEOUT": "1"}, stdout=io.StringIO(), stderr=io.StringIO())
    started = time.monotonic()
    with pytest.raises((NoResponse, TooSlow)):
        Transport(ctx).request("GET", emu.base_url + "/tasks/x", {"Authorization": "Bearer " + KEY})
    took = time.monotonic() - started
    assert 0.99 <= took <= 1.0 + 0.05 + 0.15, took  # the rule's slack, plus scheduling


def test_a_create_answer_dripped_one_byte_at_a_time_is_looked_up(emu, tmp_path):
    emu.script("POST", CREATE, Drip(0.05))
    started = time.monotonic()
    result = generate(emu, tmp_path, env=env_for(emu, **FAST))
    assert result.code == 0, result.stderr
    assert time.monotonic() - started < 3.0
    assert_log(emu, ["POST create [Drip]", "GET list x2", "GET task+", "GET result"])
    assert emu.created_count() == 1


def test_a_download_without_real_progress_is_retried_and_resumed(emu, tmp_path):
    emu.script("GET", RESULT, Drip(0.02, body_only=True))
    started = time.monotonic()
    result = generate(emu, tmp_path, env=env_for(emu, **FAST))
    assert result.code == 0, result.stderr
    assert time.monotonic() - started < 3.0
    log = sequence(emu)
    assert log[-2] == "GET result [Drip]" and log[-1].startswith("GET result bytes="), log
    assert "less than 1024 bytes/s for 0.3s" in result.stderr
    assert_intact(emu, tmp_path)


def test_guard_rules_on_a_fake_clock():
    now = [0.0]
    guard = Guard(lambda: now[0], read_timeout=5.0)
    guard.until(2.0)
    assert guard.next_wait() == 2.0
    now[0] = 1.5
    assert guard.next_wait() == 0.5
    now[0] = 2.0
    with pytest.raises(TooSlow, match="no complete answer within 2s"):
        guard.next_wait()
    guard = Guard(lambda: now[0], read_timeout=5.0)
    guard.at_least(100.0, 10.0)
    guard.moved(1500, sent=False)
    now[0] += 10.0
    assert guard.next_wait() == 5.0  # 1500 bytes in 10 s: enough
    guard.moved(999, sent=False)
    now[0] += 10.0
    with pytest.raises(TooSlow, match="less than 100 bytes/s for 10s"):
        guard.next_wait()


# -- 21: clear errors at once ---------------------------------------------------------------------
def test_a_file_url_for_the_video_fails_at_once(emu, tmp_path):
    emu.script("GET", TASK, Reply(200, json={"request_id": "r", "output": {
        "task_id": "t", "task_status": "SUCCEEDED", "video_url": "file:///etc/passwd"}}))
    result = generate(emu, tmp_path)
    assert result.code == 1
    assert_log(emu, ["POST create", "GET task [Reply]"])
    assert "not an http(s) URL" in result.stderr and "retrying" not in result.stderr
    assert result.sleeps == []
    one_error_line(result.stderr)
    assert_nothing_saved(tmp_path)


def test_a_url_that_is_not_http_is_unsendable_and_never_retried():
    from qianwen_video.net.transport import Unsendable

    sleeps = []
    ctx = Context(environ={}, stdout=io.StringIO(), stderr=io.StringIO(), sleep=sleeps.append)
    for url in ("file:///etc/passwd", "ftp://host/x", "oss://bucket/key"):
        with pytest.raises(Unsendable, match="not an http"):
            retry.call(Transport(ctx), "download", "GET", url)
    assert sleeps == []


@pytest.mark.parametrize("data, field", [
    ({"upload_host": 5}, "data.upload_host"),
    ({"upload_host": "https://h", "policy": "p", "signature": "s", "oss_access_key_id": "k"}, "data.upload_dir"),
    ("not an object", "no data object"),
    ({"upload_host": "file:///tmp", "upload_dir": "d", "policy": "p", "signature": "s",
      "oss_access_key_id": "k"}, "data.upload_host is not an http(s) URL"),
    ({"upload_host": "https://h", "upload_dir": "d", "policy": "p", "signature": "s",
      "oss_access_key_id": "k", "max_file_size_mb": "lots"}, "data.max_file_size_mb"),
], ids=["host-number", "no-dir", "not-object", "file-host", "size-text"])
def test_a_malformed_upload_policy_is_one_clear_error(emu, tmp_path, data, field):
    (tmp_path / "cat.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    emu.script("GET", POLICY, Reply(200, json={"request_id": "r", "data": data}))
    result = run(["--request", json.dumps({"prompt": "she smiles", "img_url": "cat.png"})], env_for(emu), tmp_path)
    assert result.code == 1
    assert_log(emu, ["GET policy [Reply]"])
    assert "upload policy answer is malformed: " + field in result.stderr
    one_error_line(result.stderr)
    assert emu.created_count() == 0


# -- the one retry loop, the 429 observer and the trace -------------------------------------------
def test_retrying_follows_the_policy_table():
    policy = retry.Policy("thing", 3, 1.0, 4.0, 100.0, frozenset(), True, True)
    sleeps, said = [], []

    def always(n):
        raise retry.Again("nope %d" % n)

    with pytest.raises(retry.GaveUp) as gave_up:
        retry.retrying(policy, always, sleeps.append, said.append, rand=lambda: 1.0)
    assert gave_up.value.attempts == 3 and sleeps == [1.0, 2.0]
    assert said == ["thing: nope 1; retrying in 1.0s (1/2)", "thing: nope 2; retrying in 2.0s (2/2)"]
    assert retry.retrying(policy, lambda n: n if n == 2 else (_ for _ in ()).throw(retry.Again("x", 0.5)),
                          sleeps.append) == 2
    with pytest.raises(KeyError):  # anything else ends the loop at once
        retry.retrying(policy, lambda n: {}["k"], sleeps.append)
    assert retry.retrying(policy, lambda n: (_ for _ in ()).throw(retry.Again("x", result="last")),
                          lambda s: None) == "last"
    short = retry.Policy("short", 9, 1.0, 4.0, 2.5, frozenset(), True, True)
    waits = []
    with pytest.raises(ValueError):
        retry.retrying(short, lambda n: (_ for _ in ()).throw(retry.Again("x", error=ValueError("v"))),
                       waits.append, rand=lambda: 1.0)
    assert waits == [1.0]  # 1 + 2 would pass max_total 2.5


def test_on_answer_sees_each_429_before_the_retry_and_nothing_from_other_hosts(emu, tmp_path):
    emu.script("POST", CREATE, Reply(429, json={"code": "Throttling.RateQuota", "message": "slow"},
                                     headers={"Retry-After": "0"}))
    seen = []
    ctx = Context(environ=env_for(emu), stdout=io.StringIO(), stderr=io.StringIO(), sleep=lambda s: None)
    client = api_module.DashScope(ctx, Console(ctx), KEY, emu.base_url)
    client.on_answer(lambda method, url, status: seen.append((method, url.rsplit("/", 1)[-1], status)))
    task_id = client.submit("/services/aigc/video-generation/video-synthesis",
                            {"model": "wan2.6-t2v", "input": {"prompt": "x"}, "parameters": {}}, False)["output"]["task_id"]
    assert seen == [("POST", "video-synthesis", 429), ("POST", "video-synthesis", 200)]
    client.transport.request("GET", emu.url + "/elsewhere")
    assert len(seen) == 2 and task_id in emu.tasks


def test_the_wire_trace_is_opt_in_one_line_per_exchange_and_redacted(tmp_path):
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05) as emu:
        quiet = generate(emu, tmp_path)
        assert "trace:" not in quiet.stderr
        emu.clear_requests()
        result = generate(emu, tmp_path, extra=["--force", "--quiet"], env=env_for(emu, QWEN_TRACE="1"))
        assert result.code == 0, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.startswith("trace: ")]
        assert len(lines) == len(sequence(emu)) >= 3
        assert lines[0].startswith("trace: POST %s/services/aigc/video-generation/video-synthesis -> 200 (sent "
                                   % emu.base_url)
        assert lines[-1].startswith("trace: GET %s/results/" % emu.url)
        assert all(" ms)" in line and "?" not in line for line in lines)
        assert KEY not in result.stderr and "Bearer" not in result.stderr and "Signature" not in result.stderr


def test_an_upload_answer_dripped_one_byte_at_a_time_is_retried_and_the_landed_object_kept(emu, tmp_path):
    (tmp_path / "cat.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    emu.script("POST", r"^/oss", Drip(0.05))
    started = time.monotonic()
    result = run(["--request", json.dumps({"prompt": "she smiles", "img_url": "cat.png"}), "--poll-interval", "0.05"],
                 env_for(emu, **FAST), tmp_path)
    assert result.code == 0, result.stderr
    assert time.monotonic() - started < 3.0
    assert_log(emu, ["GET policy", "POST oss [Drip]", "POST oss", "POST create", "GET task+", "GET result"])
    assert "file upload: no response: timed out: no complete answer within 0.3s; retrying" in result.stderr
    assert emu.created_count() == 1


@pytest.mark.parametrize("length", ["\u00b2", "+12", "1_2", "9" * 40, "-1", ""])
def test_a_download_length_that_is_not_plain_digits_counts_as_no_length(length):
    """A Content-Length header is Latin-1 text from the server: "\\u00b2" passes str.isdigit and
    fails int(); such a value is no length at all (the body then ends when the server closes)."""
    from qianwen_video.net.download import _span

    assert _span(200, {"content-length": length}, 0) == (0, None)
    assert _span(200, {"content-length": "12"}, 0) == (0, 12)
