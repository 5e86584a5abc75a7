#!/usr/bin/env python3
"""Benchmark suite of qianwen-video-generation against a local DashScope emulator.

    python3 bench/run.py                  full run (~10 min); writes bench/RESULTS.md
    python3 bench/run.py --quick          quick version (< 3 min); writes $BENCH_WORK/RESULTS-quick.md
    python3 bench/run.py --only startup   one or more rows: startup,upload,download,detect,batch,journal,
                                          batchcpu,bigfiles

A sound bar: --quick measures the noisy rows in several interleaved rounds (every row once
per round, round after round) and judges each by its median, failing a row only when the
median misses its target by more than the spread (median absolute deviation) of the same
run's rounds. CPU counts are noisy rows too (they drift by 20-30% between identical runs).
Rows whose figure is a schedule or a high-water mark run once.

Prints one Markdown table (our figure, the peer's, ratio, target, pass/fail per row) and
writes it with the machine description and the method notes. All traffic goes to the
emulator on 127.0.0.1. The dashscope SDK (a peer, never a dependency) is installed into
bench/.venv on first use. Big scratch files go to $BENCH_WORK (default
/tmp/qianwen-video-bench): video.py refuses to write results inside its own directory.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
from common import (BENCH, MIB, WORK, Row, discard, machine, markdown_table, rss_floor, scratch, sdk_version,  # noqa: E402
                    sweep)

ROWS = ("startup", "upload", "download", "detect", "batch", "journal", "batchcpu", "bigfiles")
ONCE = ("detect", "bigfiles")  # measured once even with --rounds (see the module docstring)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="quick version: 3 rounds of 5 start-up runs and one transfer each, a 12 s detection task, "
                        "batch CPU at 50 and 200 items")
    p.add_argument("--rounds", type=int, metavar="N",
                   help="interleaved rounds of the noisy rows, judged by median and spread (default: quick 3, else 1)")
    p.add_argument("--batch-items", metavar="SMALL,LARGE",
                   help="batch sizes of the batch CPU row (default 100,2000; quick 50,200)")
    p.add_argument("--only", metavar="ROWS", help="comma-separated subset of: " + ",".join(ROWS))
    p.add_argument("--startup-runs", type=int, metavar="N", help="start-up runs per command (default 15; quick 10)")
    p.add_argument("--upload-mib", type=int, metavar="N", help="upload file size, MiB (default 256; quick 64)")
    p.add_argument("--download-mib", type=int, metavar="N", help="video size, MiB (default 256; quick 64)")
    p.add_argument("--transfer-runs", type=int, metavar="N", help="rounds per transfer row (default 5; quick 1)")
    p.add_argument("--serve-rate", type=float, metavar="BYTES_PER_S",
                   help="emulator download serve rate (default: unthrottled)")
    p.add_argument("--task-seconds", type=float, metavar="S",
                   help="submit-to-SUCCEEDED time of the detection task (default 60; quick 12)")
    p.add_argument("--pending-seconds", type=float, metavar="S",
                   help="of which PENDING (default 5; quick 2); the rest is RUNNING")
    p.add_argument("--fail-seconds", type=float, default=2.0, metavar="S",
                   help="submit-to-FAILED time of the early-failure task (default 2)")
    p.add_argument("--results", metavar="PATH",
                   help="where to write the Markdown report (default: bench/RESULTS.md for a full run of "
                        "every row, else $BENCH_WORK/RESULTS-quick.md or RESULTS-partial.md)")
    p.add_argument("--no-write", action="store_true", help="print only; write no report")
    args = p.parse_args(argv)
    q = args.quick
    defaults = {"startup_runs": 5 if q else 15, "upload_mib": 256, "download_mib": 256,
                "transfer_runs": 1 if q else 5, "task_seconds": 12.0 if q else 60.0,
                "pending_seconds": 2.0 if q else 5.0, "rounds": 3 if q else 1,
                "batch_items": "50,200" if q else "100,2000"}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    selected = [r.strip() for r in (args.only or ",".join(ROWS)).split(",") if r.strip()]
    unknown = [r for r in selected if r not in ROWS]
    if unknown:
        p.error("unknown row(s) %s; choose from %s" % (", ".join(unknown), ",".join(ROWS)))
    args.rows = [r for r in ROWS if r in selected]
    try:
        args.small_batch, args.large_batch = (int(n) for n in args.batch_items.split(","))
    except ValueError:
        p.error("--batch-items takes two sizes, e.g. 100,2000")
    if not 0 < args.small_batch < args.large_batch:
        p.error("--batch-items: the first size must be above 0 and below the second, e.g. 100,2000")
    if args.rounds < 1:
        p.error("--rounds must be 1 or more")
    return args


def batch_row(quick: bool, log: Callable[[str], None]) -> List[Row]:
    """Row 5 comes from bench/batch_makespan.py."""
    script = BENCH / "batch_makespan.py"
    env = dict(os.environ)
    if quick:
        env["BENCH_QUICK"] = "1"
    # Full run: tasks of about 2 s (polling granularity small against a wave); quick: 0.75 s.
    durations = [] if quick else ["--run", "2.0"]
    work = scratch("makespan")
    proc = subprocess.run([sys.executable, str(script), "--summary", "--work", str(work)] + durations,
                          capture_output=True, text=True, env=env, timeout=900)
    discard(work)
    lines = [line.strip() for line in proc.stdout.splitlines() if line.strip().startswith("|")]
    rows = [line for line in lines if not set(line) <= set("|-: ")]
    if proc.returncode != 0 or not rows:
        log("  batch_makespan.py exited %d: %s" % (proc.returncode, proc.stderr[-500:]))
        return [Row("5. Batch makespan: 20 tasks at concurrency 5 vs ideal",
                    "error (bench/batch_makespan.py exit %d)" % proc.returncode, "ideal", "—", "—", "FAIL")]
    cells = [c.strip() for c in rows[-1].strip("|").split("|")]
    cells += [""] * (6 - len(cells))
    measured = re.match(r"([0-9.]+) s", cells[1])
    ideal = re.search(r"ideal ([0-9.]+) s", cells[2])
    target = re.search(r"= ([0-9.]+) s", cells[4])
    value = goal = None
    if measured and ideal and target:  # both as multiples of the ideal, as the ratio cell shows it
        value, goal = float(measured.group(1)) / float(ideal.group(1)), float(target.group(1)) / float(ideal.group(1))
    return [Row(*cells[:6], key="batch-makespan", value=value, goal=goal, higher_is_better=False, unit="x",
                hard="max running" in cells[5])]


def measure_rows(name: str, args: argparse.Namespace, log: Callable[[str], None], extras: Dict[str, str]) -> List[Row]:
    """One round of one row group."""
    if name == "startup":
        import startup

        log("[1] start-up: %d runs per command ..." % args.startup_runs)
        rows = startup.measure(args.startup_runs, log)
        if "imports" not in extras:
            extras["imports"] = "\n".join("- " + line for line in startup.import_profile(12))
        return rows
    if name == "upload":
        import transfer

        log("[2] upload of %d MiB x %d rounds ..." % (args.upload_mib, args.transfer_runs))
        return transfer.upload(args.upload_mib * MIB, args.transfer_runs, log=log)
    if name == "download":
        import transfer

        log("[3] download of %d MiB x %d rounds ..." % (args.download_mib, args.transfer_runs))
        return transfer.download(args.download_mib * MIB, args.transfer_runs, args.serve_rate, log=log)
    if name == "detect":
        import detect

        log("[4] detection latency ...")
        rows = detect.measure(args.task_seconds, args.pending_seconds, args.fail_seconds, log)
        extras["schedules"] = detect.schedule_table()
        return rows
    if name == "batch":
        log("[5] batch makespan ...")
        return batch_row(args.quick, log)
    if name == "batchcpu":
        import scale

        log("[6] batch CPU per item at %d and %d items ..." % (args.small_batch, args.large_batch))
        return scale.measure(args.small_batch, args.large_batch, log, rows="batch")
    if name == "journal":
        import scale

        log("[7-9] generation, --task-id and --list with a journal of %d tasks ..." % scale.JOURNAL_ENTRIES)
        return scale.measure(0, 0, log, rows="journal")
    if name == "bigfiles":
        import scale

        log("[10] peak RSS of 1 GiB transfers ...")
        return scale.transfers_1gib(log)
    raise ValueError(name)


def merge_rounds(rounds: List[List[Row]]) -> List[Row]:
    """One row per metric: with one sample, as measured; with several, the median round's row,
    judged by the median against the goal with the spread (median absolute deviation) as slack."""
    order: List[str] = []
    groups: Dict[str, List[Row]] = {}
    for rows in rounds:
        for row in rows:
            key = row.key or row.metric
            if key not in groups:
                order.append(key)
                groups[key] = []
            groups[key].append(row)
    return [_merged(groups[key]) for key in order]


def _merged(rows: List[Row]) -> Row:
    values = [r.value for r in rows if r.value is not None]
    if len(values) < 2:
        return rows[-1]
    mid = statistics.median(values)
    spread = statistics.median([abs(v - mid) for v in values])
    base = min((r for r in rows if r.value is not None), key=lambda r: abs(r.value - mid))
    show = lambda v: _show(v, base.unit)  # noqa: E731
    note = "median %s of %d rounds (%s … %s), spread ±%s" % (show(mid), len(values), show(min(values)),
                                                           show(max(values)), show(spread))
    result = base.result
    if base.goal is not None:
        miss = (base.goal - mid) if base.higher_is_better else (mid - base.goal)
        if any(r.hard and r.result != "pass" for r in rows):
            result = "FAIL"
        elif miss <= 0:
            result = "pass"
        elif miss <= spread:
            result = "pass (within spread)"
        else:
            result = "FAIL"
    return Row(base.metric, base.ours, base.peer, (base.ratio + "; " if base.ratio not in ("", "—") else "") + note,
               base.target, result, base.note, base.key, mid, base.goal, base.higher_is_better, base.unit, base.hard)


def _show(value: float, unit: str) -> str:
    if unit == "x":
        return "%.2f×" % value
    if unit == "s":
        return "%.2f s" % value
    if unit == "ms":
        return "%.2f ms" % value
    if unit == "bytes":
        return "%.1f MiB" % (value / MIB)
    return "%g" % value


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    log_lines: List[str] = []

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)
        log_lines.append(line)

    WORK.mkdir(parents=True, exist_ok=True)
    info = machine()
    log("qianwen-video benchmark (%s): %s" % ("quick" if args.quick else "full", ", ".join(args.rows)))
    extras: Dict[str, str] = {}
    rounds: List[List[Row]] = []
    try:
        for number in range(args.rounds):
            if args.rounds > 1:
                log("-- round %d of %d --" % (number + 1, args.rounds))
            rounds.append([row for name in args.rows if name not in ONCE or number == 0
                           for row in measure_rows(name, args, log, extras)])
    finally:
        sweep()  # the scratch directories put aside while rows were measured (common.discard)
    rows = merge_rounds(rounds)
    elapsed = time.monotonic() - began
    table = markdown_table(rows)
    print(table)
    log("finished in %.0f s" % elapsed)
    if args.no_write:
        return 0 if not any(r.result == "FAIL" for r in rows) else 1
    if args.results:
        path = Path(args.results)
    elif not args.quick and args.only is None:
        path = BENCH / "RESULTS.md"
    else:
        path = WORK / ("RESULTS-quick.md" if args.quick else "RESULTS-partial.md")
    command = "python3 bench/run.py" + ("" if argv is None and len(sys.argv) == 1 else " " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)))
    path.write_text(report(args, command, info, table, rows, extras, log_lines, elapsed), encoding="utf-8")
    log("report written to %s" % path)
    return 0 if not any(r.result == "FAIL" for r in rows) else 1


def report(args, command: str, info: Dict[str, str], table: str, rows: List[Row], extras: Dict[str, str],
           log_lines: List[str], elapsed: float) -> str:
    import notes

    parts = [
        "# Benchmark results",
        "",
        "Generated by `%s` on %s in %.0f s. Every target: %s." % (
            command, info["date"], elapsed,
            "met" if not any(r.result == "FAIL" for r in rows) else "**not** met, see *Misses* below"),
        "",
        "## Machine",
        "",
        "- CPU: %s, %s cores" % (info["cpu"], info["cores"]),
        "- RAM: %s; %s" % (info["ram"], info["os"]),
        "- Python: %s" % info["python"],
        "- curl: %s" % info["curl"],
        "- dashscope SDK (peer, in bench/.venv): %s" % (sdk_version() if common.venv_python().exists() else "n/a"),
        "- peak-RSS floor of the measuring wrapper: %s" % common.mib(rss_floor()),
        "",
        "## Parameters",
        "",
        "%d round(s); per round: start-up runs %d; upload %d MiB, download %d MiB, %d transfer(s) each; "
        "download serve rate %s; detection task %.0f s (PENDING %.0f s), early failure at %.0f s; batch CPU "
        "at %d and %d items." % (
            args.rounds, args.startup_runs, args.upload_mib, args.download_mib, args.transfer_runs,
            "%.0f B/s" % args.serve_rate if args.serve_rate else "unthrottled", args.task_seconds,
            min(args.pending_seconds, args.task_seconds / 2.0), args.fail_seconds, args.small_batch,
            args.large_batch),
        "",
        "## Results",
        "",
        table,
        "",
    ]
    parts += notes.misses(rows)
    parts += notes.method(args)
    if "schedules" in extras:
        parts += ["### Poll schedules compared", "", extras["schedules"], ""]
    if "imports" in extras:
        parts += ["### Where `--dry-run` start-up goes", "",
                  "`python3 -X importtime` (inflates times; cumulative, top level and one level below, "
                  "modules a bare start does not load):", "", extras["imports"], ""]
    parts += ["### Log", "", "```"] + log_lines + ["```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
