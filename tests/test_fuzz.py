"""Property: random request JSON and random server replies never break the CLI.

Whatever the request and whatever the emulator answers (any status, HTML, garbage,
truncated bodies, resets, the key echoed back, answers nested 100 000 deep or larger than the
answer cap, escape and control characters in server text), and whatever damaged lines the
output directory's journal already holds, the CLI returns a documented exit code, prints no
traceback and no internal error, writes the key nowhere (no byte of any output or file),
and never creates more than one task for the one request.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qianwen_video import safe_json
from qianwen_video.store import journal
from tests.emulator import Emulator, Reply, Reset, Truncate
from tests.harness import KEY, env_for, run

ENDPOINTS = {
    "create": ("POST", r"/video-synthesis$"),
    "task": ("GET", r"/api/v1/tasks/[^/]+$"),
    "list": ("GET", r"/api/v1/tasks$"),
    "result": ("GET", r"^/results/"),
    "cancel": ("POST", r"/cancel$"),
}
FIELDS = ["prompt", "model", "size", "resolution", "ratio", "duration", "img_url", "first_frame_url",
          "last_frame_url", "reference_urls", "video_url", "function", "audio", "prompt_extend", "seed",
          "negative_prompt", "output", "input", "parameters", "media", "watermark"]

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10 ** 6, 10 ** 6),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
                         st.sampled_from(["720P", "1280*720", "16:9", "wan2.6-t2v", "wan2.7-i2v",
                                          "https://example.com/a.png", "一只猫", "./missing.png"]))
json_values = st.recursive(json_scalars, lambda children: st.one_of(
    st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)), max_leaves=8)
requests_ = st.builds(lambda base, extra: dict(base, **extra),
                      st.sampled_from([{}, {"prompt": "a cat"}, {"prompt": "雨中的猫", "duration": 5}]),
                      st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)), json_values,
                                      max_size=4))

bodies = st.one_of(
    st.builds(lambda code, message: {"json": {"code": code, "message": message, "request_id": "r"}},
              st.sampled_from(["InvalidParameter", "Throttling", "InternalError", "InvalidApiKey", ""]),
              st.sampled_from(["bad", "Invalid API-key provided: " + KEY, "Bearer " + KEY, "失败"])),
    st.builds(lambda v: {"json": v}, json_values),
    st.builds(lambda status: {"json": {"output": {"task_status": status, "task_id": "t-1", "video_url": 7}}},
              st.sampled_from(["PENDING", "SUCCEEDED", "FAILED", "UNKNOWN", "weird", ""])),
    st.just({"body": "<html><body>502 Bad Gateway</body></html>"}),
    st.just({"body": b"\xff\xfe\x00garbage"}),
    st.just({"body": ""}),
    st.builds(lambda text: {"body": text}, st.text(max_size=30)),
    st.just({"body": b"[" * 100000 + b"]" * 100000}),  # nested past any recursion limit
    st.just({"body": b'{"output": {"task_id": "t-1", "x": "' + b"a" * (safe_json.ANSWER_LIMIT + 10) + b'"}}'}),
    st.builds(lambda text: {"json": {"code": text, "message": text + KEY, "output": {"task_status": text}}},
              st.sampled_from(["\x1b[2J\x1b[31mred", "\u202eevil", "a\rb\x07\x00c", "\x9b31m"])),
)
journal_lines = st.lists(st.one_of(
    st.binary(max_size=40), st.just(b"[" * 5000 + b"]" * 5000), st.just(b'{"event": "submitted", "task_id": '),
    st.just('{"event": "submitted", "task_id": "t-\u00e9", "model": "\x1b[2J"}'.encode("utf-8")),
    st.just(b'{"event": "status", "task_id": "../../x", "status": "SUCCEEDED"}')), max_size=4)
replies = st.builds(
    lambda status, body, after: Reply(status, headers={"Retry-After": after} if after else None, **body),
    st.sampled_from([200, 201, 204, 301, 400, 401, 403, 404, 408, 416, 429, 500, 502, 503, 504]),
    bodies, st.sampled_from([None, "0", "1", "-5", "soon", "Wed, 21 Oct 2015 07:28:00 GMT"]))
actions = st.one_of(replies, st.builds(Reset, st.booleans()), st.builds(Truncate, st.integers(0, 64)))
scripts = st.lists(st.tuples(st.sampled_from(sorted(ENDPOINTS)), actions), max_size=5)
flags = st.lists(st.sampled_from(["--print-response", "--quiet", "--submit-only", "--force", "--no-validate"]),
                 unique=True, max_size=3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=requests_, script=scripts, extra=flags, resume=st.booleans(), damaged=journal_lines)
def test_random_requests_and_replies_never_break_the_cli(request, script, extra, resume, damaged):
    with Emulator(api_keys=(KEY,), pending_seconds=0.01, run_seconds=0.02, fail_seconds=0.01) as emu, \
            tempfile.TemporaryDirectory() as tmp:
        if damaged:
            out = Path(tmp) / "output" / "qianwen-video-generation"
            out.mkdir(parents=True)
            (out / journal.JOURNAL_NAME).write_bytes(b"\n".join(damaged) + b"\n")
        for endpoint, action in script:
            method, path = ENDPOINTS[endpoint]
            emu.script(method, path, action)
        env = env_for(emu, QWEN_HTTP_TIMEOUT="2")
        common = ["--poll-interval", "0.01", "--timeout", "1"]
        results = [run(["--request", json.dumps(request, ensure_ascii=False)] + common + extra, env, Path(tmp),
                       max_sleep=0.001)]
        if resume and emu.tasks:
            task_id = next(iter(emu.tasks))
            results.append(run(["--task-id", task_id] + common + [f for f in extra if f != "--submit-only"],
                               env, Path(tmp), max_sleep=0.001))
        for result in results:
            assert result.code in (0, 1, 2, 64), (result.code, result.stderr)
            assert "Traceback" not in result.stderr + result.stdout
            assert "unexpected internal error" not in result.stderr, result.stderr
            assert KEY not in result.stdout + result.stderr
            assert "\x1b" not in result.stderr and "\u202e" not in result.stderr  # server text is escaped
            if "--print-response" in extra and result.stdout.strip():
                json.loads(result.stdout)  # one JSON document when there is output at all
        for path in Path(tmp).rglob("*"):
            if path.is_file():
                assert KEY.encode() not in path.read_bytes(), path
        assert emu.created_count() <= 1
