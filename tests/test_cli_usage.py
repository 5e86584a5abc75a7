"""Usage errors: contradictory flags, bad numbers; every one exits 64 before anything is sent."""
from __future__ import annotations

import io
import re

import pytest

from qianwen_video import hints
from qianwen_video.context import Context
from tests.harness import ROOT, run


@pytest.mark.parametrize("args, says", [
    (["--task-id", "abc", "--submit-only"], "--submit-only submits a new task"),
    (["--task-id", "abc", "--dry-run"], "--dry-run checks a new request"),
    (["--task-id", "abc", "--cancel", "--poll-once"], "--cancel and --poll-once"),
    (["--list", "--request", "{}"], "--list only shows the journal"),
    (["--batch", "b.jsonl", "--request", "{}"], "--batch reads its requests from FILE"),
    (["--request", "{}", "--concurrency", "3"], "only apply to --batch"),
    (["--request", "{}", "--skip-invalid"], "only apply to --batch"),
    (["--poll-once"], "--poll-once needs --task-id"),
    (["--cancel"], "--cancel needs --task-id"),
    (["--mode", "movie"], "invalid choice"),
    (["--request", "{}", "--timeout", "nan"], "positive, finite"),
    (["--request", "{}", "--timeout", "-5"], "positive, finite"),
    (["--request", "{}", "--poll-interval", "0"], "positive, finite"),
    (["--request", "{}", "--poll-interval", "inf"], "positive, finite"),
    (["--request", "{}", "--timeout", "soon"], "not a number of seconds"),
])
def test_contradictions_and_bad_numbers_are_usage_errors(args, says, tmp_path):
    result = run(args, {"DASHSCOPE_API_KEY": "sk-test-0123456789abcdef",
                        "DASHSCOPE_HTTP_BASE_URL": "http://127.0.0.1:9/api/v1"}, tmp_path)
    assert result.code == 64, result.stderr
    assert says in result.stderr and result.stderr.startswith("Error: ")
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_resume_command_names_the_console_script_when_video_py_is_not_there(tmp_path):
    installed = Context(environ={}, cwd=tmp_path, stdout=io.StringIO(), stderr=io.StringIO(),
                        script_path=tmp_path / "site-packages" / "video.py")
    assert hints.resume_command(installed, "abc-123", poll_once=True) == "qianwen-video --task-id abc-123 --poll-once"
    here = Context(environ={}, cwd=tmp_path, stdout=io.StringIO(), stderr=io.StringIO())
    assert hints.resume_command(here, "abc-123", "my clips") == \
        "python3 %s --task-id abc-123 --output 'my clips'" % (ROOT / "scripts" / "video.py")


def test_help_names_every_environment_variable_the_code_reads(tmp_path):
    read = set()
    for source in (ROOT / "scripts").rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        read.update(re.findall(r'(?:ctx|self\.ctx)\.get\("([A-Z][A-Z0-9_]+)"', text))
        read.update(re.findall(r'_ENV\s*=\s*"([A-Z][A-Z0-9_]+)"', text))
        read.update(re.findall(r'environ(?:\.get)?\(?\["?\'?([A-Z][A-Z0-9_]{3,})', text))
        for group in re.findall(r'_VARIABLES\s*=\s*\(([^)]*)\)', text):
            read.update(re.findall(r'"([A-Z][A-Z0-9_]+)"', group))
    read -= {"HOME", "USERPROFILE", "PATH"}
    assert {"QIANWEN_API_KEY", "DASHSCOPE_API_KEY", "QWEN_REGION", "QWEN_HTTP_TIMEOUT"} <= read
    shown = run(["--help"], {}, tmp_path).stdout
    missing = sorted(name for name in read if name not in shown)
    assert missing == [], missing
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert sorted(name for name in read if name not in example) == []
