"""Fault injection against the emulator: every case asserts the exact request log.

Each test scripts the emulator (429s, 5xx bursts, resets before/after the submit body,
read timeouts, truncated/stalled downloads, a server ignoring Range, proxy HTML pages,
invalid JSON, UNKNOWN, a key echoed in an error) and checks what went over the wire, the
exit code, the message, and that one request never created more than one task.

Issue 14, network layer: #3 (a 5xx on create is looked up, never resent; only 429/4xx mean
"not created") is here; #1, #2, #6, #9, #10, #11, #17 and #21 (hostile answers: unreadable,
huge, malformed, bad ids, non-videos, planted links, slow drips, file:// URLs, bad upload
policies) are in tests/test_hostile_answers.py, whose docstring has the table.
"""
from __future__ import annotations

import email.utils
import hashlib
import io
import json
import time
from pathlib import Path

import pytest

from qianwen_video import cli
from qianwen_video.net import retry
from qianwen_video.context import Context
from tests.emulator import Emulator, Reply, Reset, Stall, Truncate
from tests.faultlog import assert_log, sequence
from tests.harness import KEY, env_for, run

CREATE = r"/video-synthesis$"
TASK = r"/api/v1/tasks/[^/]+$"
RESULT = r"^/results/"
POLICY = r"/api/v1/uploads$"
OUT = Path("output") / "qianwen-video-generation"
HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"


# The service's task list may read its window in UTC or in UTC+8 (undocumented): the ambiguous-submit
# lookup must find the task either way.
LIST_ZONES = pytest.mark.parametrize("zone", [0, 8], ids=["list-in-UTC", "list-in-UTC+8"])


def dashscope_error(code: str, message: str = "try again later") -> dict:
    return {"code": code, "message": message, "request_id": "00000000-0000-0000-0000-000000000000"}


@pytest.fixture()
def emu():
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05, fail_seconds=0.02) as server:
        yield server
        # the one invariant of every case: one request never pays for two videos
        assert server.created_count() <= 1, sequence(server)


def generate(emu, tmp_path, request=None, extra=(), env=None, **kw):
    args = ["--request", json.dumps(request or {"prompt": "a lighthouse at dawn"}), "--poll-interval", "0.05",
            "--print-response"] + list(extra)
    return run(args, env or env_for(emu), tmp_path, **kw)


def saved_video(tmp_path) -> Path:
    videos = list((tmp_path / OUT).glob("*.mp4"))
    assert len(videos) == 1, videos
    return videos[0]


def assert_intact(emu, tmp_path) -> None:
    video = saved_video(tmp_path)
    assert hashlib.sha256(video.read_bytes()).hexdigest() == emu.video_sha256()
    assert not list((tmp_path / OUT).glob("*.part"))


# -- 429 with Retry-After on every endpoint ------------------------------------------------
def test_429_on_create_waits_retry_after_then_creates_one_task(emu, tmp_path):
    emu.script("POST", CREATE, Reply(429, json=dashscope_error("Throttling.RateQuota"), headers={"Retry-After": "3"}))
    result = generate(emu, tmp_path)
    assert result.code == 0, result.stderr
    assert_log(emu, ["POST create [Reply]", "POST create", "GET task+", "GET result"])
    assert 3.0 in result.sleeps, "Retry-After seconds honoured"
    assert emu.created_count() == 1
    assert_intact(emu, tmp_path)


def test_429_on_task_query_honours_an_http_date(emu, tmp_path):
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    emu.script("GET", TASK, Reply(429, json=dashscope_error("Throttling"), headers={"Retry-After": when}))
    result = generate(emu, tmp_path)
    assert result.code == 0, result.stderr
    assert_log(emu, ["POST create", "GET task [Reply]", "GET task+", "GET result"])
    assert any(3.0 <= s <= 5.0 for s in result.sleeps), result.sleeps
    assert emu.created_count() == 1


def test_429_on_upload_policy_is_retried(emu, tmp_path):
    (tmp_path / "cat.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    emu.script("GET", POLICY, Reply(429, json=dashscope_error("Throttling"), headers={"Retry-After": "2"}))
    result = generate(emu, tmp_path, {"prompt": "she smiles", "img_url": "cat.png"})
    assert result.code == 0, result.stderr
    assert_log(emu, ["GET policy [Reply]", "GET policy", "POST oss", "POST create", "GET task+", "GET result"])
    assert 2.0 in result.sleeps
    assert emu.created_count() == 1


def test_429_on_download_is_retried(emu, tmp_path):
    emu.script("GET", RESULT, Reply(429, body="slow down", content_type="text/plain", headers={"Retry-After": "4"}))
    result = generate(emu, tmp_path)
    assert result.code == 0, result.stderr
    assert_log(emu, ["POST create", "GET task+", "GET result [Reply]", "GET result"])
    assert 4.0 in result.sleeps
    assert_intact(emu, tmp_path)


def test_retry_after_is_capped_and_parsed_both_ways():
    now = time.time()
    assert retry.parse_retry_after("7", now) == 7.0
    assert retry.parse_retry_after("86400", now) == retry.RETRY_AFTER_CAP
    assert 9 <= retry.parse_retry_after(email.utils.formatdate(now + 10, usegmt=True), now) <= 10
    assert retry.parse_retry_after(email.utils.formatdate(now - 100, usegmt=True), now) == 0.0
    assert retry.parse_retry_after("soon", now) is None and retry.parse_retry_after("nan", now) is None
    policy = retry.POLICIES["query"]
    assert all(policy.base_delay * 0.5 <= retry.backoff(policy, 0) <= policy.base_delay for _ in range(20))
    assert retry.backoff(policy, 10) <= policy.max_delay


# -- 5xx bursts ------------------------------------------------------------------------------
def test_5xx_burst_on_task_query_is_retried(emu, tmp_path):
    emu.script("GET", TASK, Reply(500, json=dashscope_error("InternalError")), Reply(502, body=HTML_502),
               Reply(503, json=dashscope_error("ServiceUnavailable")), Reply(504, body="Gateway Timeout"))
    result = generate(emu, tmp_path)
    assert result.code == 0, result.stderr
    assert_log(emu, ["POST create", "GET task [Reply] x4", "GET task+", "GET result"])
    assert emu.created_count() == 1


def test_5xx_with_a_dashscope_code_sent_after_the_task_was_created_is_looked_up_not_resent(emu, tmp_path):
    """Issue 14 #3: a 500 with a DashScope error code may come after the task was created."""
    emu.script("POST", CREATE, Reply(500, json=dashscope_error("InternalError"), process=True))
    result = generate(emu, tmp_path)
    assert result.code == 0, result.stderr
    assert_log(emu, ["POST create [Reply]", "GET list x2", "GET task+", "GET result"])
    assert "Found the task the submit created: " + next(iter(emu.tasks)) in result.stderr
    assert emu.created_count() == 1
    assert_intact(emu, tmp_path)


def test_5xx_with_a_dashscope_code_and_no_task_is_never_resent_blindly(emu, tmp_path):
    emu.script("POST", CREATE, Reply(503, json=dashscope_error("ServiceUnavailable")))
    result = generate(emu, tmp_path)
    assert result.code == 1
    assert_log(emu, ["POST create [Reply]", "GET list x6"])
    assert "HTTP 503 ServiceUnavailable" in result.stderr and "no task is listed yet" in result.stderr
    assert emu.created_count() == 0


def test_only_429_and_4xx_prove_that_a_create_made_no_task():
    table = {200: False, 201: False, 302: False, 400: True, 401: True, 403: True, 404: True, 429: True,
             499: True, 500: False, 502: False, 503: False, 504: False}
    assert {status: retry.create_refused(status) for status in table} == table
    assert retry.POLICIES["create"].statuses == frozenset({429})  # the only one tried again


def test_5xx_burst_on_download_is_retried(emu, tmp_path):
    emu.script("GET", RESULT, Reply(500), Reply(502, body=HTML_502), Reply(503), Reply(504))
    result = generate(emu, tmp_path)
    assert result.code == 0, result.stderr
    assert_log(emu, ["POST create", "GET task+", "GET result [Reply] x4", "GET result"])
    assert_intact(emu, tmp_path)


def test_a_poll_that_keeps_failing_ends_with_the_task_id_and_resume_command(emu, tmp_path):
    emu.script("GET", TASK, *[Reply(503, json=dashscope_error("ServiceUnavailable"))] * 6)
    result = generate(emu, tmp_path)
    task_id = next(iter(emu.tasks))
    assert result.code == 1
    assert_log(emu, ["POST create", "GET task [Reply] x6"])
    assert "Traceback" not in result.stderr
    assert "Task %s may still be running" % task_id in result.stderr
    assert "--task-id %s" % task_id in result.stderr
    assert emu.created_count() == 1
    # and the resume command finishes it without a second create
    again = run(["--task-id", task_id, "--poll-interval", "0.05"], env_for(emu), tmp_path)
    assert again.code == 0, again.stderr
    assert sequence(emu).count("POST create") == 1


# -- connection reset before / after the submit body; read timeout on submit ------------------
def age_unanswered_submits(tmp_path, seconds: float) -> None:
    """Move the journal's unanswered submits `seconds` into the past (as if a minute went by)."""
    from qianwen_video.store import journal

    path = tmp_path / OUT / journal.JOURNAL_NAME
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("event") == "submitting":
            record["submitted_at"] -= seconds
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_reset_before_the_body_is_processed_is_looked_up_again_before_a_rerun_submits(emu, tmp_path):
    emu.script("POST", CREATE, Reset(after_body=False))
    result = generate(emu, tmp_path)
    assert result.code == 1
    assert_log(emu, ["POST create [Reset]", "GET list x6"])
    # The list may lag behind the create: "nothing listed" after 4 s is no proof.
    assert "no task is listed yet; run the same command again in a minute" in result.stderr
    assert "safe" not in result.stderr
    assert emu.created_count() == 0
    # an immediate rerun looks again and still does not submit
    emu.clear_requests()
    soon = generate(emu, tmp_path)
    assert soon.code == 1
    assert_log(emu, ["GET list x6"])
    assert "no task is listed yet" in soon.stderr
    # a minute after the unanswered submit, the rerun looks once more, then submits
    age_unanswered_submits(tmp_path, 90)
    emu.clear_requests()
    again = generate(emu, tmp_path)
    assert again.code == 0, again.stderr
    assert_log(emu, ["GET list x6", "POST create", "GET task+", "GET result"])
    assert "created no task; submitting now" in again.stderr
    assert emu.created_count() == 1


@LIST_ZONES
def test_reset_after_the_body_adopts_the_one_task_via_the_task_list(emu, tmp_path, zone):
    emu.zone_hours = zone
    emu.script("POST", CREATE, Reset(after_body=True))
    result = generate(emu, tmp_path)
    assert result.code == 0, result.stderr
    assert_log(emu, ["POST create [Reset]", "GET list x2", "GET task+", "GET result"])
    task_id = next(iter(emu.tasks))
    assert "Found the task the submit created: " + task_id in result.stderr
    assert result.json()["task_id"] == task_id
    list_query = emu.requests_to("GET", r"/api/v1/tasks$")[0].query
    assert list_query["model_name"] == "wan2.6-t2v" and list_query["start_time"] and list_query["end_time"]
    assert_narrow_list_windows(emu)
    assert emu.created_count() == 1
    assert_intact(emu, tmp_path)


def assert_narrow_list_windows(emu):
    """The task list is read in two narrow windows (the submit's moment as UTC, and as UTC+8),
    never one 16-hour window that a busy account fills past the page cap."""
    import calendar

    def epoch(stamp):
        return calendar.timegm(time.strptime(stamp, "%Y%m%d%H%M%S"))

    windows = sorted({(r.query["start_time"], r.query["end_time"])
                      for r in emu.requests_to("GET", r"/api/v1/tasks$")})
    assert len(windows) == 2, windows
    for start, end in windows:
        assert 0 < epoch(end) - epoch(start) <= 30 * 60, (start, end)
    assert abs(epoch(windows[1][0]) - epoch(windows[0][0]) - 8 * 3600) <= 5, windows
    assert abs(epoch(windows[0][0]) - time.time()) < 30 * 60, windows  # the UTC one is now


@LIST_ZONES
def test_read_timeout_on_submit_is_ambiguous_and_adopted(emu, tmp_path, zone):
    emu.zone_hours = zone
    emu.script("POST", CREATE, Stall(3.0, process=True))
    started = time.monotonic()
    result = generate(emu, tmp_path, env=env_for(emu, QWEN_HTTP_TIMEOUT="0.5"))
    assert result.code == 0, result.stderr
    assert time.monotonic() - started < 3.0, "the injected timeout, not the 60 s default"
    assert "timed out" in result.stderr
    assert_log(emu, ["POST create [Stall]", "GET list x2", "GET task+", "GET result"])
    assert_narrow_list_windows(emu)
    assert emu.created_count() == 1


def test_bad_http_timeout_value_is_a_usage_error(emu, tmp_path):
    result = generate(emu, tmp_path, env=env_for(emu, QWEN_HTTP_TIMEOUT="soon"))
    assert result.code == 64 and "QWEN_HTTP_TIMEOUT" in result.stderr
    assert sequence(emu) == []


def test_connection_refused_on_create_is_retried_because_nothing_was_sent(emu, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    env = env_for(emu, DASHSCOPE_HTTP_BASE_URL="http://127.0.0.1:%d/api/v1" % port)
    result = generate(emu, tmp_path, env=env)
    assert result.code == 1
    assert "could not reach DashScope" in result.stderr and "connection refused" in result.stderr
    assert result.stderr.count("task submit: could not connect") == retry.POLICIES["create"].attempts - 1
    assert "checking whether a task was created" not in result.stderr


# -- downloads: truncated, stalled, Range ignored, expired ----------------------------------
def test_truncated_download_resumes_with_range(emu, tmp_path):
    emu.script("GET", RESULT, Truncate(3000))
    result = generate(emu, tmp_path)
    assert result.code == 0, result.stderr
    assert_log(emu, ["POST create", "GET task+", "GET result [Truncate]", "GET result bytes=3000-"])
    assert "resuming at byte 3000" in result.stderr
    assert_intact(emu, tmp_path)


def test_stalled_download_times_out_and_is_fetched_again(emu, tmp_path):
    emu.script("GET", RESULT, Stall(3.0))
    result = generate(emu, tmp_path, env=env_for(emu, QWEN_HTTP_TIMEOUT="0.5"))
    assert result.code == 0, result.stderr
    assert_log(emu, ["POST create", "GET task+", "GET result [Stall]", "GET result"])
    assert_intact(emu, tmp_path)


def test_server_ignoring_range_restarts_cleanly(emu, tmp_path):
    emu.ignore_range = True
    emu.script("GET", RESULT, Truncate(3000))
    result = generate(emu, tmp_path)
    assert result.code == 0, result.stderr
    assert_log(emu, ["POST create", "GET task+", "GET result [Truncate]", "GET result bytes=3000-"])
    assert "ignored the resume range; starting over" in result.stderr
    assert_intact(emu, tmp_path)


EXPIRED = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
           '<Message>Request has expired.</Message></Error>')


def test_expired_url_reads_the_task_once_for_a_fresh_one(emu, tmp_path):
    emu.script("GET", RESULT, Reply(403, body=EXPIRED, content_type="application/xml"))
    result = generate(emu, tmp_path)
    assert result.code == 0, result.stderr
    assert_log(emu, ["POST create", "GET task+", "GET result [Reply]", "GET task", "GET result"])
    assert_intact(emu, tmp_path)


def test_url_still_expired_after_a_refresh_fails_with_the_task_id(emu, tmp_path):
    emu.script("GET", RESULT, *[Reply(403, body=EXPIRED, content_type="application/xml")] * 2)
    result = generate(emu, tmp_path)
    task_id = next(iter(emu.tasks))
    assert result.code == 1
    assert_log(emu, ["POST create", "GET task+", "GET result [Reply]", "GET task", "GET result [Reply]"])
    assert "expired" in result.stderr and task_id in result.stderr and "--task-id " + task_id in result.stderr
    assert result.json()["local_path"] is None
    assert not list((tmp_path / OUT).glob("*.mp4")) and not list((tmp_path / OUT).glob("*.part"))
    # --task-id on the finished task downloads again, without a second create
    emu.clear_requests()
    again = run(["--task-id", task_id], env_for(emu), tmp_path)
    assert again.code == 0, again.stderr
    assert_log(emu, ["GET task", "GET result"])
    assert_intact(emu, tmp_path)


# -- proxy HTML pages and invalid JSON ---------------------------------------------------------
def test_proxy_html_502_on_create_is_ambiguous_and_never_resubmitted(emu, tmp_path):
    emu.script("POST", CREATE, Reply(502, body=HTML_502))
    result = generate(emu, tmp_path)
    assert result.code == 1
    assert_log(emu, ["POST create [Reply]", "GET list x6"])
    assert "from a gateway" in result.stderr
    assert emu.created_count() == 0


def test_proxy_html_502_on_task_query_is_retried(emu, tmp_path):
    emu.script("GET", TASK, Reply(502, body=HTML_502), Reply(502, body=HTML_502))
    result = generate(emu, tmp_path)
    assert result.code == 0, result.stderr
    assert_log(emu, ["POST create", "GET task [Reply] x2", "GET task+", "GET result"])


def test_invalid_json_on_task_query_is_retried(emu, tmp_path):
    emu.script("GET", TASK, Reply(200, body="{\"output\": {\"task_st", content_type="application/json"))
    result = generate(emu, tmp_path)
    assert result.code == 0, result.stderr
    assert_log(emu, ["POST create", "GET task [Reply]", "GET task+", "GET result"])
    assert "not JSON" in result.stderr


def test_invalid_json_200_on_create_is_looked_up_not_reported_as_failed(emu, tmp_path):
    emu.script("POST", CREATE, Reply(200, body="<html>captive portal</html>"))
    result = generate(emu, tmp_path)
    assert result.code == 1
    assert_log(emu, ["POST create [Reply]", "GET list x6"])
    assert "carries no task_id" in result.stderr and "run the same command again in a minute" in result.stderr
    assert emu.created_count() == 0


def test_invalid_json_on_the_task_list_stops_without_resubmitting(emu, tmp_path):
    emu.script("POST", CREATE, Reset(after_body=True))
    emu.script("GET", r"/api/v1/tasks$", *[Reply(200, body="not json")] * 6)
    result = generate(emu, tmp_path)
    assert result.code == 1
    assert_log(emu, ["POST create [Reset]", "GET list [Reply] x6"])
    assert "task list could not be read" in result.stderr and "Traceback" not in result.stderr
    assert emu.created_count() == 1
    # the rerun looks the unanswered submit up first and adopts its task: still one task
    again = generate(emu, tmp_path)
    assert again.code == 0, again.stderr
    assert again.json()["task_id"] == next(iter(emu.tasks))
    assert emu.created_count() == 1


# -- UNKNOWN, cancel, Ctrl-C ---------------------------------------------------------------
def test_unknown_status_ends_as_expired_or_not_found(emu, tmp_path):
    emu.script_task(["PENDING", "UNKNOWN"])
    result = generate(emu, tmp_path)
    assert result.code == 1
    assert_log(emu, ["POST create", "GET task x2"])
    assert "expired or not found" in result.stderr


def test_waiting_statuses_keep_polling(emu, tmp_path):
    emu.script_task(["PENDING", "PRE-PROCESSING", "RUNNING", "SUSPENDED", "POST-PROCESSING", "SUCCEEDED"])
    result = generate(emu, tmp_path)
    assert result.code == 0, result.stderr
    assert_log(emu, ["POST create", "GET task x6", "GET result"])
    assert all(0 < s <= 0.05 for s in result.sleeps[:4]), result.sleeps  # never longer than --poll-interval


def test_poll_schedule_starts_quick_and_grows_to_the_interval():
    from qianwen_video.tasks import follow as poll

    schedule = poll.delays(15.0)
    assert [next(schedule) for _ in range(8)] == [1, 2, 3, 4, 5, 15, 15, 15]


def test_checks_land_on_the_submit_grid_even_when_each_check_is_slow():
    """1, 3, 6, 10, 15 s, then 30, 45, 60 s: a slow check does not push later checks back."""
    from qianwen_video.tasks import follow as poll

    now = [0.0]
    checks = []

    def fetch():
        checks.append(now[0])
        now[0] += 0.4  # every status request takes 0.4 s
        return {"output": {"task_status": "SUCCEEDED" if len(checks) == 9 else "RUNNING"}}

    def sleep(seconds):
        now[0] += seconds

    task = poll.wait(fetch, timeout=600, poll_interval=15, clock=lambda: now[0], sleep=sleep)
    assert poll.status_of(task) == "SUCCEEDED"
    assert [round(t, 6) for t in checks] == [0, 1, 3, 6, 10, 15, 30, 45, 60]


def test_cancel_a_pending_task_reports_the_answer(tmp_path):
    with Emulator(api_keys=(KEY,), pending_seconds=30, run_seconds=30) as emu:
        env = env_for(emu)
        task_id = run(["--request", json.dumps({"prompt": "x"}), "--submit-only"], env, tmp_path).stdout.strip()
        result = run(["--cancel", "--task-id", task_id, "--print-response"], env, tmp_path)
        assert result.code == 0, result.stderr
        assert "Task %s canceled (request_id" % task_id in result.stderr
        assert result.json()["canceled"] is True
        assert_log(emu, ["POST create", "POST cancel"])
        assert emu.tasks[task_id].status == "CANCELED"
        listed = run(["--list", "--print-response"], env, tmp_path).json()["tasks"]
        assert [(t["task_id"], t["status"]) for t in listed] == [(task_id, "CANCELED")]


def test_cancel_a_finished_task_says_why_not(emu, tmp_path):
    done = generate(emu, tmp_path)
    task_id = done.json()["task_id"]
    result = run(["--cancel", "--task-id", task_id], env_for(emu), tmp_path)
    assert result.code == 1
    assert "cannot be canceled" in result.stderr and "only PENDING" in result.stderr
    assert emu.created_count() == 1


def test_ctrl_c_while_polling_prints_the_resume_command_and_does_not_cancel(tmp_path):
    with Emulator(api_keys=(KEY,), pending_seconds=30, run_seconds=30) as emu:
        out, err = io.StringIO(), io.StringIO()
        calls = []

        def sleep(seconds):
            calls.append(seconds)
            if len(calls) == 2:
                raise KeyboardInterrupt

        ctx = Context(environ=env_for(emu), cwd=tmp_path, stdout=out, stderr=err, sleep=sleep,
                      stderr_isatty=False)
        code = cli.main(["--request", json.dumps({"prompt": "x"})], ctx)
        task_id = next(iter(emu.tasks))
        assert code == 130
        assert "Task %s keeps running (it is not canceled)" % task_id in err.getvalue()
        assert "--task-id %s" % task_id in err.getvalue()
        assert_log(emu, ["POST create", "GET task x2"])
        assert emu.created_count() == 1


# -- a server that echoes the key ----------------------------------------------------------------
def test_key_echoed_in_an_error_is_masked(emu, tmp_path):
    emu.script("POST", CREATE, Reply(401, json=dashscope_error("InvalidApiKey", "Invalid API-key provided: " + KEY)))
    result = generate(emu, tmp_path)
    assert result.code == 1
    assert_log(emu, ["POST create [Reply]"])
    assert KEY not in result.stderr + result.stdout
    assert "Invalid API-key provided: ***" in result.stderr


def test_key_echoed_in_a_task_query_error_page_is_masked(emu, tmp_path):
    page = "<html><body>403 Forbidden for Authorization: Bearer %s</body></html>" % KEY
    emu.script("GET", TASK, Reply(403, body=page))
    result = generate(emu, tmp_path)
    assert result.code == 1
    assert_log(emu, ["POST create", "GET task [Reply]"])
    assert KEY not in result.stderr + result.stdout
    assert "Bearer ***" in result.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


# -- review fixes: repeated --submit-only, unchecked lists, other clients' tasks, bad ids/URLs ----
def test_submit_only_on_a_repeated_request_prints_the_earlier_task_id(tmp_path):
    with Emulator(api_keys=(KEY,), pending_seconds=30, run_seconds=30) as emu:
        args = ["--request", json.dumps({"prompt": "x"}), "--submit-only"]
        first = run(args, env_for(emu), tmp_path)
        task_id = first.stdout.strip()
        assert first.code == 0 and task_id in emu.tasks
        emu.clear_requests()
        again = run(args, env_for(emu), tmp_path, max_sleep=0.001)
        assert again.code == 0, again.stderr
        assert again.stdout == task_id + "\n"
        assert "already submitted as task %s" % task_id in again.stderr and "--force" in again.stderr
        assert sequence(emu) == []  # neither submitted nor followed
        document = run(args + ["--print-response"], env_for(emu), tmp_path).json()
        assert document["task_id"] == task_id and document["duplicate_of_earlier_request"] is True
        assert sequence(emu) == [] and emu.created_count() == 1


def test_a_task_list_too_long_to_read_whole_is_not_taken_for_no_task(emu, tmp_path):
    from qianwen_video.store import journal

    emu.script("POST", CREATE, Reset(after_body=False))
    page = {"request_id": "r", "total": 1000, "total_page": 20, "page_size": 50,
            "data": [{"task_id": "someone-else", "model_name": "wan2.6-t2v", "gmt_create": 0, "status": "RUNNING"}]}
    emu.script("GET", r"/api/v1/tasks$", *[Reply(200, json=page)] * 10)
    result = generate(emu, tmp_path)
    assert result.code == 1
    assert_log(emu, ["POST create [Reset]", "GET list [Reply] x10"])
    assert "could not check every task" in result.stderr and "safe" not in result.stderr
    assert len(journal.Journal(tmp_path / OUT).unresolved()) == 1  # the next run looks again


@LIST_ZONES
def test_the_one_listed_task_with_another_prompt_is_not_adopted(emu, tmp_path, zone):
    emu.zone_hours = zone
    other = tmp_path / "other-client"
    other.mkdir()
    theirs = run(["--request", json.dumps({"prompt": "someone else's clip"}), "--submit-only"], env_for(emu), other)
    their_id = theirs.stdout.strip()
    assert theirs.code == 0 and their_id
    time.sleep(0.3)  # it finishes: the service now echoes its prompt (orig_prompt)
    emu.script("POST", CREATE, Reset(after_body=False))  # our create never arrives
    result = generate(emu, tmp_path)
    assert result.code == 1
    assert "another prompt" in result.stderr and "--task-id %s" % their_id in result.stderr
    assert "Found the task" not in result.stderr
    assert [r.path for r in emu.requests_to("GET", TASK)] == ["/api/v1/tasks/" + their_id]
    assert emu.created_count() == 1  # theirs only


@pytest.mark.parametrize("task_id", ["ü", "a b", "?x=1", "../x", "-x", "x" * 129, "a\nb"])
def test_a_task_id_that_is_not_one_is_refused_before_any_request(emu, tmp_path, task_id):
    for extra in ([], ["--cancel"], ["--poll-once"]):
        result = run(extra + ["--task-id=" + task_id], env_for(emu), tmp_path)
        assert result.code == 64, result.stderr
        assert "is not a task id" in result.stderr and "internal error" not in result.stderr
    assert sequence(emu) == []


def test_task_ids_are_one_quoted_path_segment(emu):
    from qianwen_video.net.api import DashScope
    from qianwen_video.console import Console

    ctx = Context(environ=env_for(emu), stdout=io.StringIO(), stderr=io.StringIO())
    api = DashScope(ctx, Console(ctx), KEY, emu.base_url)
    assert api.get_task("a?b=1")["output"]["task_status"] == "UNKNOWN"
    raw = [r for r in emu.requests if r.method == "GET"]
    assert len(raw) == 1 and raw[0].path.startswith("/api/v1/tasks/") and not raw[0].query


def test_an_oss_url_uploaded_for_another_model_is_refused_once_with_a_hint(emu, tmp_path):
    # an oss:// URL from an earlier upload for another model: the service refuses the create at once
    request = {"prompt": "she smiles", "img_url": "oss://dashscope-instant/abc/2026-01-01/def/portrait.png"}
    result = generate(emu, tmp_path, request)
    assert result.code == 1
    assert_log(emu, ["POST create"])  # a refusal: never retried, never looked up
    assert "invalid_parameter_error" in result.stderr
    assert "Hint: an oss:// URL is valid for 48 h and only for the model it was uploaded for" in result.stderr
    assert emu.requests[0].headers["x-dashscope-ossresourceresolve"] == "enable"
    assert emu.created_count() == 0


def test_a_port_out_of_range_is_a_usage_error_and_leaves_no_open_submit(emu, tmp_path):
    from qianwen_video.store import journal

    result = generate(emu, tmp_path, env=env_for(emu, DASHSCOPE_HTTP_BASE_URL="http://127.0.0.1:99999/api/v1"))
    assert result.code == 64, result.stderr
    assert "invalid port" in result.stderr and "internal error" not in result.stderr
    assert journal.Journal(tmp_path / OUT).unresolved() == []


def test_an_unexpected_failure_while_submitting_closes_the_intent(emu, tmp_path, monkeypatch):
    from qianwen_video.net import api
    from qianwen_video.store import journal

    def broken(self, route, body, oss_resolve):
        raise RuntimeError("a bug before anything was sent")

    monkeypatch.setattr(api.DashScope, "submit", broken)
    result = generate(emu, tmp_path)
    assert result.code == 1 and "unexpected internal error" in result.stderr
    assert journal.Journal(tmp_path / OUT).unresolved() == []  # the next run does not look for a task
    monkeypatch.undo()
    again = generate(emu, tmp_path)
    assert again.code == 0, again.stderr
    assert "ended before its submit was answered" not in again.stderr
    assert emu.created_count() == 1


def test_a_request_line_or_header_http_refuses_is_not_sent(emu):
    from qianwen_video.net.transport import NotSent, Transport, Unsendable

    ctx = Context(environ={}, stdout=io.StringIO(), stderr=io.StringIO())
    transport = Transport(ctx)
    with pytest.raises(Unsendable) as bad_url:
        transport.request("GET", emu.base_url + "/tasks/a\x01b")
    with pytest.raises(Unsendable) as bad_header:
        transport.request("GET", emu.base_url + "/tasks/x", {"Authorization": "Bearer sk-secret\nX: y"})
    with pytest.raises(Unsendable):
        transport.request("GET", emu.base_url + "/tasks/x", {"Authorization": "Bearer sk-密钥"})
    assert isinstance(bad_url.value, NotSent) and "sk-secret" not in str(bad_header.value)
    assert emu.requests == []


def test_a_redirected_video_url_is_followed(tmp_path):
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05) as emu:
        task_id = run(["--request", json.dumps({"prompt": "x"}), "--submit-only"], env_for(emu), tmp_path).stdout.strip()
        time.sleep(0.3)
        from qianwen_video.net.api import DashScope
        from qianwen_video.console import Console

        ctx = Context(environ=env_for(emu), stdout=io.StringIO(), stderr=io.StringIO())
        video_url = DashScope(ctx, Console(ctx), KEY, emu.base_url).get_task(task_id)["output"]["video_url"]
        relative = video_url.split("/results/", 1)[1].split("/", 1)[1]  # "<name>.mp4?Expires=..."
        emu.script("GET", RESULT, Reply(302, headers={"Location": emu.url + "/results/%s/elsewhere" % task_id}),
                   Reply(307, headers={"Location": relative}))  # resolved against .../elsewhere
        emu.clear_requests()
        result = run(["--task-id", task_id], env_for(emu), tmp_path)
        assert result.code == 0, result.stderr
        assert_log(emu, ["GET task", "GET result [Reply] x2", "GET result"])
        assert all("authorization" not in {k.lower() for k in r.headers} for r in emu.requests_to("GET", RESULT))
        assert_intact(emu, tmp_path)


def test_a_redirect_loop_fails_the_download_with_the_task_id(emu, tmp_path):
    emu.script("GET", RESULT, *[Reply(302, headers={"Location": "/results/loop"})] * 6)
    result = generate(emu, tmp_path)
    task_id = next(iter(emu.tasks))
    assert result.code == 1
    assert "more than 5 redirects" in result.stderr and "--task-id " + task_id in result.stderr
