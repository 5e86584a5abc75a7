#!/usr/bin/env python3
"""Makespan of `video.py --batch` against the local emulator, as one Markdown table row.

    python3 bench/batch_makespan.py [--tasks 20] [--concurrency 5] [--pending 0.05] [--run 0.7]
                                    [--poll-interval 0.05] [--model happyhorse-1.0-t2v] [--header]

Starts the emulator with the model's concurrency limit and the given task durations, runs
the CLI in a subprocess (real sleeps; interpreter start-up is included in the measured
time and also shown on its own: process start to the first submit), and compares the
wall time with the ideal: waves x (pending + run), waves = ceil(tasks / concurrency), or
the model's submit rate if that binds harder. A wave's end is seen up to one poll period
late, the poll period of a task being max(--poll-interval, concurrency / the batch's query
rate), so the target is 1.15 x ideal + waves x poll period.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from qianwen_video import catalog  # noqa: E402
from qianwen_video.tasks import pacing  # noqa: E402
from tests.emulator import Emulator  # noqa: E402

KEY = "sk-bench-0123456789abcdef"
HEADER = ("| tasks | limit | pending+run (s) | ideal (s) | measured (s) | of which start-up (s) | ratio | "
          "poll period (s) | target (s) | result |\n|---|---|---|---|---|---|---|---|---|---|")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=5)
    parser.add_argument("--pending", type=float, default=0.05)
    parser.add_argument("--run", type=float, default=0.7)
    parser.add_argument("--poll-interval", type=float, default=0.05)
    parser.add_argument("--model", default="happyhorse-1.0-t2v")
    parser.add_argument("--header", action="store_true", help="print the table header first")
    parser.add_argument("--work", metavar="DIR", help="run the batch in DIR (made if missing, left in place: "
                                                      "bench/run.py deletes it once nothing is measured any more) "
                                                      "instead of a temporary directory")
    parser.add_argument("--summary", action="store_true",
                        help="print one row in bench/run.py's columns (metric, ours, peer, ratio, target, result)")
    args = parser.parse_args()

    rps = catalog.limits(args.model)[0]
    duration = args.pending + args.run
    waves = math.ceil(args.tasks / args.concurrency)
    ideal = max(waves * duration, math.floor((args.tasks - 1) / rps) + duration)
    period = max(args.poll_interval, args.concurrency / pacing.QUERY_RATE)
    target = 1.15 * ideal + waves * period

    with (contextlib.nullcontext(args.work) if args.work else tempfile.TemporaryDirectory()) as work, \
            Emulator(api_keys=(KEY,), pending_seconds=args.pending, run_seconds=args.run,
                     concurrency={args.model: args.concurrency}) as emu:
        work_dir = Path(work)
        work_dir.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps({"prompt": "bench clip %d" % i, "model": args.model}) for i in range(args.tasks)]
        (work_dir / "bench.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")
               and k not in ("DASHSCOPE_API_KEY", "QIANWEN_API_KEY", "QWEN_BASE_URL", "QWEN_REGION")}
        env.update({"DASHSCOPE_HTTP_BASE_URL": emu.base_url, "DASHSCOPE_API_KEY": KEY})
        command = [sys.executable, str(ROOT / "scripts" / "video.py"), "--batch", "bench.jsonl", "--output", "out",
                   "--poll-interval", str(args.poll_interval), "--concurrency", str(args.concurrency), "--quiet"]
        started = time.monotonic()
        proc = subprocess.run(command, cwd=str(work_dir), env=env, capture_output=True, text=True, timeout=600)
        measured = time.monotonic() - started
        if proc.returncode != 0 or emu.created_count() != args.tasks:
            sys.stderr.write(proc.stderr)
            sys.stderr.write("batch failed: exit %d, %d tasks created\n" % (proc.returncode, emu.created_count()))
            return 1
        seen = emu.max_concurrent_seen.get(args.model, 0)
        startup = min(r.t for r in emu.requests_to("POST", r"/video-synthesis$")) - started

    ok = measured <= target and seen <= args.concurrency
    verdict = "pass" if ok else "FAIL (max running %d)" % seen if seen > args.concurrency else "FAIL"
    if args.summary:
        print("| 5. Batch makespan: %d tasks at concurrency %d, tasks of %.2f s | %.2f s (start-up %.2f s; "
              "max %d running) | ideal %.2f s (%d waves) | %.2f× ideal | ≤ 1.15 × ideal + %d × %.2f s poll "
              "period = %.2f s | %s |" % (args.tasks, args.concurrency, duration, measured, startup, seen, ideal,
                                         waves, measured / ideal, waves, period, target, verdict))
        return 0 if ok else 1
    if args.header:
        print(HEADER)
    print("| %d | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %s |" % (
        args.tasks, args.concurrency, duration, ideal, measured, startup, measured / ideal, period, target,
        verdict))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
