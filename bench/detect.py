"""Row 4: how soon a finished (or failed) task is noticed, and how many status polls it costs.

One emulator, six actors started together, each with its own task:
  * ours:  `video.py --request ...` (submit, poll with the default --poll-interval 15, download)
  * SDK:   bench/child_sdk_wait.py: urllib submit, then dashscope VideoSynthesis.wait(task_id)
  * fixed: a urllib loop in this process: submit, then GET the task, sleep 15 s, repeat
each once for a task that SUCCEEDS `task_seconds` after its submit (PENDING for
`pending_seconds`, then RUNNING) and once for a request that is accepted and then FAILS
`fail_seconds` after its submit (late validation: duration 99, sent with --no-validate).

"The moment" is the emulator's own: created_at + task_seconds (or + fail_seconds) on the
emulator clock, which is this process's time.monotonic() (CLOCK_MONOTONIC, shared with
the children). Ours is measured until the video file is on disk (a watcher thread looks
for the renamed *.mp4 every 5 ms); the SDK until wait() returns (it does not download);
the fixed poller until its GET answered with the terminal status. Poll counts are the
emulator's log of GET /tasks/{id} for each task.

schedule_table() adds a simulation over many task durations, from the CLI's own
qianwen_video.tasks.follow.delays, the SDK's wait() rule and a fixed 15 s poller.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

from common import (BENCH, T2V_MODEL, T2V_ROUTE, VIDEO_PY, Row, child_env, emulator, ensure_sdk, http_json,
                    run_measured, scratch, together, verdict)

FIXED_INTERVAL = 15.0
FAIL_TARGET = 5.0
SLOT_TOLERANCE = 0.25  # seconds: two status checks this close landed in the same poll slot
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN")


@dataclass
class Outcome:
    name: str
    prompt: str
    detected: Optional[float] = None       # monotonic: file on disk / wait() returned / GET answered
    status_seen: Optional[float] = None    # emulator clock: arrival of the first poll after the moment
    moment: Optional[float] = None         # emulator clock: when the task became terminal
    created: Optional[float] = None
    polls: int = 0
    status: str = "?"
    error: str = ""
    notes: List[str] = field(default_factory=list)

    @property
    def latency(self) -> Optional[float]:
        return None if self.detected is None or self.moment is None else self.detected - self.moment

    @property
    def since_submit(self) -> Optional[float]:
        return None if self.detected is None or self.created is None else self.detected - self.created


def _body(prompt: str, duration: int) -> Dict:
    return {"model": T2V_MODEL, "input": {"prompt": prompt},
            "parameters": {"size": "1280*720", "duration": duration}}


def _run_cli(out: Outcome, env: Dict[str, str], duration: int, no_validate: bool) -> None:
    work = scratch("detect-" + out.name.replace(" ", "-"))
    request = json.dumps({"prompt": out.prompt, "size": "1280*720", "duration": duration})
    argv = [sys.executable, str(VIDEO_PY), "--request", request, "--output", str(work / "out"), "--force"]
    if no_validate:
        argv.append("--no-validate")
    stop = threading.Event()
    seen: List[float] = []

    def watch() -> None:
        folder = work / "out"
        while not stop.is_set():
            if folder.is_dir() and any(p.suffix == ".mp4" for p in folder.iterdir()):
                seen.append(time.monotonic())
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    m = run_measured(argv, env=env, cwd=work, rss=False, timeout=600)
    stop.set()
    watcher.join()
    out.status = "exit %d" % m.code
    if no_validate:
        out.detected = m.ended           # the failure is reported when the CLI exits with it
        if m.code == 0:
            out.error = "expected a failure, got exit 0"
    else:
        if m.code != 0 or not seen:
            out.error = "exit %d: %s" % (m.code, m.stderr[-500:])
        out.detected = seen[0] if seen else None
        out.notes.append("process exit +%.3f s after the file" % (m.ended - seen[0]) if seen else "")


def _run_sdk(out: Outcome, env: Dict[str, str], sdk: Path, duration: int) -> None:
    m = run_measured([str(sdk), str(BENCH / "child_sdk_wait.py"), json.dumps(_body(out.prompt, duration))],
                     env=env, rss=False, timeout=600)
    if m.code != 0:
        out.error = "SDK exit %d: %s" % (m.code, m.stderr[-500:])
        return
    doc = m.json()
    out.detected = doc["returned"]
    out.status = str(doc["status"])


def _run_fixed(out: Outcome, base_url: str, duration: int) -> None:
    doc = http_json("POST", base_url + T2V_ROUTE, _body(out.prompt, duration), {"X-DashScope-Async": "enable"})
    task_id = doc["output"]["task_id"]
    while True:
        doc = http_json("GET", "%s/tasks/%s" % (base_url, task_id))
        status = doc["output"]["task_status"]
        if status in TERMINAL:
            out.detected = time.monotonic()
            out.status = status
            return
        time.sleep(FIXED_INTERVAL)


_EMU = None


def _task_id_for(prompt: str) -> Optional[str]:
    for task in _EMU.tasks.values():
        if task.body.get("input", {}).get("prompt") == prompt:
            return task.task_id
    return None


def measure(task_seconds: float = 60.0, pending_seconds: float = 5.0, fail_seconds: float = 2.0,
            log=print) -> List[Row]:
    global _EMU
    sdk = ensure_sdk(log)
    pending_seconds = min(pending_seconds, task_seconds / 2.0)
    outcomes = {
        ("ours", "ok"): Outcome("ours ok", "bench detect ours ok"),
        ("ours", "fail"): Outcome("ours fail", "bench detect ours fail"),
        ("fixed", "ok"): Outcome("fixed ok", "bench detect fixed ok"),
        ("fixed", "fail"): Outcome("fixed fail", "bench detect fixed fail"),
    }
    if sdk is not None:
        outcomes[("sdk", "ok")] = Outcome("sdk ok", "bench detect sdk ok")
        outcomes[("sdk", "fail")] = Outcome("sdk fail", "bench detect sdk fail")
    log("  detection: %d actors in parallel, task %.0f s (PENDING %.0f s), failure at %.0f s ..."
        % (len(outcomes), task_seconds, pending_seconds, fail_seconds))
    with emulator(pending_seconds=pending_seconds, run_seconds=task_seconds - pending_seconds,
                  fail_seconds=fail_seconds, concurrency={T2V_MODEL: 100},
                  submit_rps={T2V_MODEL: 100.0}) as emu:
        _EMU = emu
        env = child_env(emu.base_url)
        jobs: List[Callable[[], None]] = []
        for (who, kind), out in outcomes.items():
            duration = 5 if kind == "ok" else 99    # 99 s: accepted, then FAILED by late validation
            if who == "ours":
                jobs.append(lambda o=out, d=duration, k=kind: _run_cli(o, env, d, no_validate=(k == "fail")))
            elif who == "sdk":
                jobs.append(lambda o=out, d=duration: _run_sdk(o, env, sdk, d))
            else:
                jobs.append(lambda o=out, d=duration: _run_fixed(o, emu.base_url, d))
        together(*(_guard(job, out) for job, out in zip(jobs, outcomes.values())))
        for (who, kind), out in outcomes.items():
            task_id = _task_id_for(out.prompt)
            if task_id is None:
                out.error = out.error or "no task was created"
                continue
            task = emu.tasks[task_id]
            out.created = task.created_at
            out.moment = task.created_at + (task_seconds if kind == "ok" else fail_seconds)
            polls = emu.requests_to("GET", r"/api/v1/tasks/%s$" % task_id)
            out.polls = len(polls)
            after = [r.t for r in polls if r.t >= out.moment]
            out.status_seen = after[0] if after else None
        _EMU = None
    for out in outcomes.values():
        log("  %-10s latency %s, since submit %s, polls %d, %s %s" % (
            out.name, _s(out.latency), _s(out.since_submit), out.polls, out.status, out.error))
        if out.error:
            raise RuntimeError("%s: %s" % (out.name, out.error))
    return _rows(outcomes, task_seconds, fail_seconds)


def _guard(job: Callable[[], None], out: Outcome) -> Callable[[], None]:
    def run() -> None:
        try:
            job()
        except Exception as exc:  # reported with the outcome
            out.error = "%s: %s" % (type(exc).__name__, exc)
    return run


def _s(value: Optional[float]) -> str:
    return "n/a" if value is None else "%.2f s" % value


def _rows(o: Dict, task_seconds: float, fail_seconds: float) -> List[Row]:
    ours, fixed, sdk = o[("ours", "ok")], o[("fixed", "ok")], o.get(("sdk", "ok"))
    seen = ours.status_seen - ours.moment if ours.status_seen is not None else None
    fixed_seen = fixed.status_seen - fixed.moment if fixed.status_seen is not None else None
    # Judged like with like: when each one's status query reached the emulator (same clock), not
    # ours with its download against the fixed poller's bare GET; within SLOT_TOLERANCE is the
    # same poll slot (a later schedule would be a whole poll step, >= 1 s, later).
    late = seen - fixed_seen if seen is not None and fixed_seen is not None else float("inf")
    rows = [Row(
        "4. SUCCEEDED (task of %.0f s): task end → result noticed" % task_seconds,
        "%s to the video on disk (status seen after %s)" % (_s(ours.latency), _s(seen)),
        "fixed 15 s poller %s (status seen after %s); SDK `wait()` %s (no download)" % (
            _s(fixed.latency), _s(fixed_seen), _s(sdk.latency) if sdk else "n/a"),
        "status seen %+.2f s vs fixed" % late,
        "≤ fixed 15 s poller (same poll slot: ≤ +%.2f s)" % SLOT_TOLERANCE, verdict(late <= SLOT_TOLERANCE),
        key="detect-latency", value=late, goal=SLOT_TOLERANCE, higher_is_better=False, unit="s")]
    if sdk:
        rows.append(Row(
            "4. SUCCEEDED (task of %.0f s): status polls" % task_seconds,
            "%d" % ours.polls, "SDK %d; fixed 15 s poller %d" % (sdk.polls, fixed.polls),
            "%.2f× SDK" % (ours.polls / float(sdk.polls)), "< SDK", verdict(ours.polls < sdk.polls),
            key="detect-polls", value=float(ours.polls - sdk.polls), goal=-1.0, higher_is_better=False, unit="n"))
    f_ours, f_fixed, f_sdk = o[("ours", "fail")], o[("fixed", "fail")], o.get(("sdk", "fail"))
    rows.append(Row(
        "4. Early FAILED (fails %.0f s after submit): submit → failure reported" % fail_seconds,
        "%s (%d polls; %s after the failure)" % (_s(f_ours.since_submit), f_ours.polls, _s(f_ours.latency)),
        "SDK %s (%d polls); fixed 15 s poller %s" % (
            _s(f_sdk.since_submit) if f_sdk else "n/a", f_sdk.polls if f_sdk else 0, _s(f_fixed.since_submit)),
        "%.2f× SDK" % (f_ours.since_submit / f_sdk.since_submit) if f_sdk else "—",
        "< %.0f s" % FAIL_TARGET, verdict(f_ours.since_submit < FAIL_TARGET),
        key="detect-fail", value=f_ours.since_submit, goal=FAIL_TARGET, higher_is_better=False, unit="s"))
    return rows


# -- simulation over task durations ---------------------------------------------------------
def _ours(poll_interval: float = 15.0) -> Iterator[float]:
    from qianwen_video.tasks import follow as poll
    return poll.delays(poll_interval)


def _sdk_delays() -> Iterator[float]:
    """dashscope BaseAsyncApi.wait(): sleep 1 s, doubled every 3rd step, capped at 5 s."""
    wait, step = 1, 0
    while True:
        step += 1
        if wait < 5 and step % 3 == 0:
            wait = min(wait * 2, 5)
        yield float(wait)


def _fixed() -> Iterator[float]:
    while True:
        yield FIXED_INTERVAL


SCHEDULES = [
    ("ours: `poll.delays(15)` (1,2,3,4,5, then 15: checks at 1,3,6,10,15 s, then every 15 s multiple)", _ours),
    ("dashscope SDK `wait()` (1,1,2,2,2,4,4,4,5,5…)", _sdk_delays),
    ("fixed 15 s poller", _fixed),
]


def detect_at(schedule: Callable[[], Iterator[float]], end: float):
    """(poll time that first sees the task done, number of polls) for a task ending at `end`."""
    t, polls, delays = 0.0, 1, schedule()
    while t < end:
        t += next(delays)
        polls += 1
    return t, polls


def schedule_table(low: float = 10.0, high: float = 120.0, step: float = 0.1) -> str:
    ends = [low + i * step for i in range(int(round((high - low) / step)) + 1)]
    fixed = [detect_at(_fixed, e)[0] - e for e in ends]
    lines = ["| Schedule | mean latency | worst latency | mean polls | later than fixed 15 s | latency at 60 s / 12 s / fail 2 s |",
             "|---|---|---|---|---|---|"]
    for name, schedule in SCHEDULES:
        lat, polls, later = [], [], 0
        for e, f in zip(ends, fixed):
            t, n = detect_at(schedule, e)
            lat.append(t - e)
            polls.append(n)
            later += (t - e) > f + 1e-9
        marks = " / ".join("%.0f s" % (detect_at(schedule, e)[0] - e) for e in (60.0, 12.0, 2.0))
        lines.append("| %s | %.1f s | %.1f s | %.1f | %.0f%% of durations | %s |" % (
            name, sum(lat) / len(lat), max(lat), sum(polls) / float(len(polls)), 100.0 * later / len(ends), marks))
    return ("Simulated over task durations %g–%g s (step %g s), zero request time; a poll at the very "
            "moment of completion counts as seeing it:\n\n" % (low, high, step)) + "\n".join(lines)


if __name__ == "__main__":
    print(schedule_table())
