"""Escape and control characters from server strings never reach the terminal raw (issue 14 item 19).

A server (or a journal line) may carry ESC sequences, C1 controls, bidi overrides and other format
characters in an error code or message, a task status or an HTTP reason phrase. They are shown as
visible escapes (``\\x1b``, ``\\u202e``) on stderr, in plain stdout lines and table cells; the JSON
on stdout escapes them as JSON does. Only the console's own live-line sequence is written raw.
"""
from __future__ import annotations

import io
import json
import time
import unicodedata

from qianwen_video.console import Console, printable
from qianwen_video.context import Context
from tests.emulator import Emulator, Reply
from tests.harness import KEY, env_for, run

HOSTILE = "\x1b[31mred\x1b[0m \x1b]0;owned\x07 \u202eexe.txt \x9b2J \r\x08 \u2066x\u2069 \u2028 \ufeff"
REQUEST = ["--request", json.dumps({"prompt": "a kite"}), "--poll-interval", "0.05"]


def raw_controls(text: str) -> list:
    """Characters a terminal acts on or hides: controls (but the line break), format characters,
    separators, lone surrogates."""
    return [c for c in text if c != "\n" and unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs")]


def test_code_and_message_of_an_error_answer_are_escaped(tmp_path):
    with Emulator(api_keys=(KEY,)) as emu:
        emu.script("POST", r"/video-synthesis$",
                   Reply(400, json={"code": "Invalid\x1b[2JParameter", "message": "bad " + HOSTILE}))
        result = run(REQUEST, env_for(emu), tmp_path)
    assert result.code == 1
    assert raw_controls(result.stderr) == [], result.stderr
    assert "Invalid\\x1b[2JParameter" in result.stderr
    assert "\\x1b[31mred\\x1b[0m \\x1b]0;owned\\x07 \\u202eexe.txt \\x9b2J \\x0d\\x08 \\u2066x\\u2069" in result.stderr


def test_a_failed_task_code_and_message_are_escaped(tmp_path):
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05) as emu:
        emu.script_task(["PENDING", "FAILED"], code="Data\x1b[8mInspection", message="no " + HOSTILE)
        result = run(REQUEST + ["--print-response"], env_for(emu), tmp_path)
    assert result.code == 1
    assert raw_controls(result.stderr) == [] and raw_controls(result.stdout) == [], result.stderr
    assert "Data\\x1b[8mInspection" in result.stderr and "\\u202eexe.txt" in result.stderr


def test_a_task_status_and_the_journal_listing_are_escaped(tmp_path):
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05) as emu:
        emu.script_task(["RUN\x1b[5MNING\u202e"])
        submitted = run(REQUEST + ["--submit-only"], env_for(emu), tmp_path)
        assert submitted.code == 0, submitted.stderr
        task_id = submitted.stdout.strip()
        polled = run(["--task-id", task_id, "--poll-once"], env_for(emu), tmp_path)
    assert polled.code in (1, 2)
    assert raw_controls(polled.stderr + polled.stdout) == [], polled.stderr
    assert "RUN\\x1b[5MNING\\u202e" in polled.stderr

    journal = tmp_path / "output" / "qianwen-video-generation" / "qianwen-video-tasks.jsonl"
    with open(journal, "a", encoding="utf-8") as handle:  # a line someone else wrote
        handle.write(json.dumps({"event": "submitted", "task_id": "t-\x1b]0;owned\x07", "at": time.time(),
                                 "submitted_at": time.time(), "mode": "t2v\u202e", "model": "m\x9b2J",
                                 "local_path": "/tmp/a\nb\tc"}, ensure_ascii=False) + "\n")
    listed = run(["--list"], {}, tmp_path)
    assert listed.code == 0
    assert raw_controls(listed.stdout + listed.stderr) == [], listed.stdout
    assert "t-\\x1b]0;owned\\x07" in listed.stdout and "t2v\\u202e" in listed.stdout and "m\\x9b2J" in listed.stdout
    assert "/tmp/a\\x0ab\\x09c" in listed.stdout  # a cell stays on its row
    rows = [line for line in listed.stdout.splitlines() if line.strip()]
    assert len(rows) == 2 + 2  # header, rule, the task above and the planted one
    as_json = run(["--list", "--print-response"], {}, tmp_path)
    assert raw_controls(as_json.stdout) == [] and "\\u009b" in as_json.stdout
    assert {t["model"] for t in json.loads(as_json.stdout)["tasks"]} >= {"m\x9b2J"}  # the same data


def test_an_http_reason_phrase_is_escaped(tmp_path):
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05) as emu:
        emu.script("GET", r"^/results/", *[Reply(404, body=b"", reason="Not Found\x1b[31m\x9b")] * 8)
        result = run(REQUEST, env_for(emu), tmp_path)
    assert result.code == 1
    assert raw_controls(result.stderr) == [], result.stderr
    assert "Not Found\\x1b[31m\\x9b" in result.stderr


def test_only_the_consoles_own_live_line_sequence_is_raw():
    err = io.StringIO()
    ctx = Context(environ={}, stderr=err, stdout=io.StringIO(), stderr_isatty=True)
    console = Console(ctx)
    console.live("Uploading \x1b[2Jcat.png: 50%")
    console.end_live()
    console.info("done \u202e")
    assert err.getvalue() == "\r\x1b[2KUploading \\x1b[2Jcat.png: 50%\ndone \\u202e\n"


def test_printable_keeps_text_and_escapes_only_what_a_terminal_acts_on():
    assert printable("猫 café 😀 a\tb\nc") == "猫 café 😀 a\tb\nc"
    assert printable("a\tb\nc", keep="") == "a\\x09b\\x0ac"
    assert printable("\ud800x\U000e0001") == "\\ud800x\\U000e0001"
    assert printable("\x7f\x85\u061c\u200b") == "\\x7f\\x85\\u061c\\u200b"
