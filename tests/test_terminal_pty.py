"""What a person sees in a real terminal: video.py run in a pseudo-terminal 50 columns wide,
against the emulator, with a small screen model that replays what was written.

Asserted on the screen: the download shows a byte count while it runs; while a task runs the
clock moves between two checks; no live line is wider than the terminal (one that wrapped would
leave a stale row on every redraw) and none is left behind; in a batch, saved-video lines never
run into the batch's live line.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import struct
import subprocess
import sys
import termios
import time
from typing import List, Tuple

import pytest

from tests.emulator import Emulator
from tests.harness import KEY, VIDEO_PY

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")

COLUMNS = 50


def run_in_terminal(args: List[str], emu, cwd, timeout: float = 40.0) -> bytes:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, COLUMNS, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")
           and k not in ("DASHSCOPE_API_KEY", "QIANWEN_API_KEY", "COLUMNS")}
    env.update(DASHSCOPE_HTTP_BASE_URL=emu.base_url, DASHSCOPE_API_KEY=KEY, TERM="xterm")
    proc = subprocess.Popen([sys.executable, str(VIDEO_PY)] + args, cwd=str(cwd), env=env,
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        proc.wait(10)
    assert proc.returncode == 0, b"".join(chunks).decode("utf-8", "replace")
    return b"".join(chunks)


def replay(output: bytes) -> Tuple[List[str], List[str], int]:
    """(screen lines, every live frame drawn with \\r + clear-line, how often a line wrapped)."""
    text = output.decode("utf-8", "replace").replace("\r\n", "\n")
    lines, line, col, wraps, frames = [], [], 0, 0, []
    i = 0
    while i < len(text):
        if text.startswith("\x1b[2K", i):
            line, col = [], 0  # the cursor was put at column 0 by the \r before it
            end = min([p for p in (text.find("\r", i + 4), text.find("\n", i + 4)) if p >= 0] or [len(text)])
            if end == len(text) or text[end] == "\r":  # redrawn in place, not a plain line ending in \n
                frames.append(text[i + 4:end])
            i += 4
            continue
        char = text[i]
        if char == "\r":
            col = 0
        elif char == "\n":
            lines.append("".join(line))
            line, col = [], 0
        else:
            if col >= COLUMNS:  # the terminal wraps: the rest lands on a new row
                lines.append("".join(line))
                line, col, wraps = [], 0, wraps + 1
            if col < len(line):
                line[col] = char
            else:
                line.append(char)
            col += 1
        i += 1
    if line:
        lines.append("".join(line))
    return lines, frames, wraps


def test_a_single_run_shows_download_bytes_a_moving_clock_and_fits_the_width(tmp_path):
    with Emulator(api_keys=(KEY,), pending_seconds=0.2, run_seconds=2.0, video_size=3_000_000,
                  serve_rate=1_500_000) as emu:
        output = run_in_terminal(["--request", json.dumps({"prompt": "a lantern over water"}), "--output", "out"],
                                 emu, tmp_path)
    lines, frames, _ = replay(output)
    assert all(len(line) <= COLUMNS for line in lines), lines
    # Live lines are cut to the width, so a redraw never wraps onto a second row...
    assert all(len(frame) < COLUMNS for frame in frames), [f for f in frames if len(f) >= COLUMNS]
    # ...and the plain line after them takes their place: no stale progress row is left.
    assert not [line for line in lines if line.startswith("Downloading:")], lines
    downloads = [f for f in frames if re.match(r"Downloading: [\d.]+ (KB|MB) of 2\.9 MB \(\d+%\)", f)]
    assert len(downloads) >= 2, frames
    clock = [int(m.group(1)) for m in (re.match(r"\s*\[(\d+)s\] task=", f) for f in frames) if m]
    assert len(set(clock)) >= 2 and clock == sorted(clock), frames  # it moved between two checks
    assert any(line.startswith("Video saved to ") for line in lines), lines


def test_batch_lines_never_run_into_the_live_line(tmp_path):
    (tmp_path / "b.jsonl").write_text("".join(json.dumps({"prompt": "clip %d" % i, "model": "happyhorse-1.0-t2v"})
                                              + "\n" for i in range(3)), encoding="utf-8")
    with Emulator(api_keys=(KEY,), pending_seconds=0.1, run_seconds=0.5, video_size=400_000) as emu:
        output = run_in_terminal(["--batch", "b.jsonl", "--output", "out", "--poll-interval", "0.2"], emu, tmp_path)
    lines, frames, _ = replay(output)
    assert all(len(line) <= COLUMNS for line in lines), lines
    assert all(len(frame) < COLUMNS for frame in frames), [f for f in frames if len(f) >= COLUMNS]
    assert any(frame.startswith("Batch [") for frame in frames), frames
    for line in lines:
        assert "Batch [" not in line or line.startswith("Batch ["), line  # nothing glued before it...
        assert not re.search(r"failed \d+\S", line), line  # ...or after it
    assert sum(line.startswith("Batch b.jsonl: 3 succeeded") for line in lines) == 1, lines
