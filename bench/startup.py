"""Row 1: start-up cost of video.py (--help, --dry-run) against a bare interpreter start.

Each command is run `runs` times, interleaved (bare, --help, --dry-run, bare, ...) so a
slow moment of the machine hits all three alike; one untimed warm-up round first fills
the OS page cache. The figure is the median wall time from fork to reaped child.
Re-run just this row with `python3 bench/run.py --only startup`.
"""
from __future__ import annotations

import sys
from typing import Dict, List

from common import VIDEO_PY, WORK, Row, child_env, median, run_measured, verdict

DRY_REQUEST = '{"prompt": "a lighthouse at dawn, waves crashing", "size": "1280*720", "duration": 5}'
TARGET = 1.5
BARE_HEAVY: List[str] = []   # imports >= 5 ms a bare start of this interpreter already pays (site .pth files)


def commands() -> Dict[str, List[str]]:
    py = sys.executable
    return {
        "bare": [py, "-c", "pass"],
        "help": [py, str(VIDEO_PY), "--help"],
        "dry-run": [py, str(VIDEO_PY), "--dry-run", "--request", DRY_REQUEST],
    }


def measure(runs: int = 15, log=print) -> List[Row]:
    # Bytecode caches are allowed (a user's second run has them); PYTHONDONTWRITEBYTECODE
    # is dropped so the warm-up round can write them.
    env = child_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmds = commands()
    WORK.mkdir(parents=True, exist_ok=True)
    times: Dict[str, List[float]] = {name: [] for name in cmds}
    rss: Dict[str, List[int]] = {name: [] for name in cmds}
    for round_no in range(runs + 1):
        for name, argv in cmds.items():
            m = run_measured(argv, env=env, cwd=WORK, rss=False)
            if m.code != 0:
                raise RuntimeError("%s exited %d: %s" % (" ".join(argv), m.code, m.stderr[-500:]))
            if round_no:  # round 0 is the warm-up
                times[name].append(m.wall)
                rss[name].append(m.maxrss)
    bare = median(times["bare"])
    rows = []
    for name in ("help", "dry-run"):
        ours = median(times[name])
        ratio = ours / bare
        is_target = name == "dry-run"
        rows.append(Row(
            "1. Start-up `video.py %s` (median of %d)" % ("--help" if name == "help" else "--dry-run", runs),
            "%.0f ms" % (ours * 1000), "%.0f ms (`python3 -c pass`)" % (bare * 1000), "%.2f×" % ratio,
            "< %.1f× bare" % TARGET if is_target else "— (info)",
            verdict(ratio < TARGET) if is_target else "info",
            key="startup-" + name, value=ratio, goal=TARGET if is_target else None, higher_is_better=False,
            unit="x"))
        log("  %-8s median %.1f ms (min %.1f, max %.1f), bare %.1f ms, ratio %.2f"
            % (name, ours * 1000, min(times[name]) * 1000, max(times[name]) * 1000, bare * 1000, ratio))
    return rows


def import_profile(top: int = 10) -> List[str]:
    """The slowest imports of `--dry-run` (top level and one below, cumulative, -X importtime)
    that a bare interpreter start does not pay."""
    def profile(argv: List[str]) -> Dict[str, int]:
        m = run_measured([sys.executable, "-X", "importtime"] + argv, env=child_env(), cwd=WORK, rss=False)
        found: Dict[str, int] = {}
        for line in m.stderr.splitlines():
            parts = line.split("|")
            if len(parts) != 3 or not parts[1].strip().isdigit():
                continue
            name = parts[2].rstrip()
            depth = (len(name) - len(name.lstrip())) // 2
            if depth <= 1:   # top-level imports and what they import directly
                found[name.strip()] = int(parts[1])
        return found

    bare = profile(["-c", "pass"])
    BARE_HEAVY[:] = ["`%s` %.0f ms" % (name, us / 1000.0) for name, us in
                     sorted(bare.items(), key=lambda kv: -kv[1]) if us >= 5000 and name != "site"]
    dry = profile([str(VIDEO_PY), "--dry-run", "--request", DRY_REQUEST])
    extra = sorted(((us, name) for name, us in dry.items() if name not in bare), reverse=True)
    return ["`%s` %.1f ms" % (name, us / 1000.0) for us, name in extra[:top]]


if __name__ == "__main__":
    for row in measure():
        print(row)
