#!/usr/bin/env python3
"""Bench: upload a 256 MiB file through the emulator with the CLI in a subprocess.

Reports the client process's peak RSS (os.wait4 rusage, i.e. VmHWM) and the throughput,
and fails (exit 1) unless the peak stays under 64 MiB: the upload must stream from disk,
never hold the file in memory. Also checks the bytes arrived intact (sha256).

    python3 bench/upload_rss.py [--mib 256] [--limit-mib 64]

Run manually or by the bench suite; not part of `pytest` (testpaths = tests).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.emulator import Emulator  # noqa: E402

VIDEO_PY = ROOT / "scripts" / "video.py"
KEY = "sk-bench-0123456789abcdef"
MIB = 1024 * 1024


def make_file(path: Path, mib: int) -> str:
    """mib MiB of incompressible bytes, each MiB different; returns the sha256."""
    block = os.urandom(MIB)
    digest = hashlib.sha256()
    with open(path, "wb") as handle:
        for index in range(mib):
            chunk = index.to_bytes(4, "big") + block[4:]
            handle.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def peak_rss_mib(rusage) -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS
    return rusage.ru_maxrss / (MIB if sys.platform == "darwin" else 1024.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="file size in MiB (default 256)")
    parser.add_argument("--limit-mib", type=float, default=64.0, help="peak RSS limit in MiB (default 64)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="upload-rss-") as tmp, \
            Emulator(api_keys=(KEY,), max_file_size_mb=args.mib + 16) as emu:
        folder = Path(tmp)
        clip = folder / "big.mp4"
        expected = make_file(clip, args.mib)
        request = {"model": "wan2.7-videoedit", "prompt": "bench", "video_url": str(clip)}
        env = {k: v for k, v in os.environ.items()
               if not k.lower().endswith("_proxy") and not k.startswith(("QWEN_", "QIANWEN_", "DASHSCOPE_", "OSS_"))}
        env.update({"DASHSCOPE_HTTP_BASE_URL": emu.base_url, "DASHSCOPE_API_KEY": KEY})
        # --no-validate: the catalog caps videos at 100 MB; the emulator's policy allows this file
        argv = [sys.executable, str(VIDEO_PY), "--request", json.dumps(request), "--no-validate", "--submit-only"]
        with open(folder / "stdout", "wb") as out, open(folder / "stderr", "wb") as err:
            started = time.monotonic()
            proc = subprocess.Popen(argv, cwd=tmp, env=env, stdout=out, stderr=err)
            _, status, rusage = os.wait4(proc.pid, 0)
            elapsed = time.monotonic() - started
            proc.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") \
                else (status >> 8)
        stderr = (folder / "stderr").read_text(errors="replace")
        if proc.returncode != 0:
            print("upload_rss: FAIL: the CLI exited %d\n%s" % (proc.returncode, stderr))
            return 1
        posts = emu.requests_to("POST", r"^/oss$")
        objects = list(emu.objects.values())
        if len(posts) != 1 or len(objects) != 1 or objects[0].sha256 != expected or objects[0].size != args.mib * MIB:
            print("upload_rss: FAIL: the object did not arrive intact (%d POSTs, %s)" % (len(posts), objects))
            return 1
        peak = peak_rss_mib(rusage)
        ok = peak < args.limit_mib
        print("upload_rss: %d MiB uploaded in %.1f s (%.0f MiB/s, CLI start to exit), client peak RSS %.1f MiB "
              "(limit %g MiB): %s" % (args.mib, elapsed, args.mib / elapsed, peak, args.limit_mib,
                                      "OK" if ok else "FAIL"))
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
