"""Rows 6-9: costs that must stay flat as the work grows (issue 19), against the emulator.

6. Batch CPU per item: `video.py --batch` of N one-line requests (tasks of 0.05 s, the
   model's documented 10 submits/s and 5 running), user + system CPU of the child process
   (os.wait4) divided by N, at a small and a large N, with the package's bytecode caches
   written first (as row 1 allows them). Target: the large N's figure <= 1.5x the small
   one's, and the figure at TARGET_ITEMS items <= 5 ms. A batch's CPU is a fixed start-up
   plus a cost per item, so a quick run (large N below TARGET_ITEMS) reads the figure at
   TARGET_ITEMS off the line through its two batches (assuming the cost per item stays flat
   beyond the large batch, which a full run checks); a full run measures it. The small batch
   (SMALL_RUNS runs one after another, the median counts: its start-up share is the noisy
   part) and the reference loop run while the large batch runs, so a quick run's three see
   the same moments of a machine whose speed drifts by 20-30% between runs (in a full run
   they overlap the large batch's first 30 s).
7. One generation (`video.py --request ... --poll-interval 0.05`, submit to saved video)
   in an output directory whose journal holds JOURNAL_ENTRIES earlier tasks, against the
   same run with an empty journal: wall time and peak RSS. Target: <= +0.3 s, <= +20 MiB.
8. `video.py --task-id ID` (the task just finished, its submit record the journal's newest
   line, found through the default output directory) with the big journal vs an empty one.
9. `video.py --list` with the big journal: <= 1 s and <= 40 MiB.
10. Peak RSS of a 1 GiB upload (bench/child_client_upload.py) and a 1 GiB download
    (`video.py --task-id`): < 64 MiB each.

The big journal is synthetic but shaped like a real one: per task an intent, the submit
record, two status changes, "downloading" and "saved" (about 1.4 KB), spread over two years,
the newest 200 tasks inside the last day. It is built once and cached under $BENCH_WORK
(rebuilt when older than 12 h, so "the last day" stays the last day).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from common import (BENCH, KEY, MIB, VIDEO_PY, WORK, Row, child_env, discard, emulator, mib, run_measured, scratch,
                    submit_t2v, sweep, together, wait_succeeded)

JOURNAL_NAME = "qianwen-video-tasks.jsonl"
DEFAULT_OUT = Path("output") / "qianwen-video-generation"
JOURNAL_ENTRIES = 100_000
RECENT_ENTRIES = 200
BATCH_MODEL = "happyhorse-1.0-t2v"  # catalog: 10 submits/s, 5 running
CPU_RATIO_TARGET = 1.5
CPU_PER_ITEM_TARGET = 0.005
TARGET_ITEMS = 2000  # the batch size the per-item target is set at (issue 19)
SMALL_RUNS = 3  # runs of the small batch (the median counts), one after another while the large one runs
REFERENCE_ITEMS = 300  # items of the minimal reference loop (its cost per item is flat; 30 s at 10/s)
GEN_WALL_TARGET = 0.3
GEN_RSS_TARGET = 20 * MIB
LIST_WALL_TARGET = 1.0
LIST_RSS_TARGET = 40 * MIB
TRANSFER_RSS_TARGET = 64 * MIB
GIB = 1024 * MIB


# -- the big journal -------------------------------------------------------------------------
def big_journal(entries: int = JOURNAL_ENTRIES, log: Callable[[str], None] = print) -> Path:
    path = WORK / ("journal-%d.jsonl" % entries)
    if path.exists() and time.time() - path.stat().st_mtime < 12 * 3600:
        return path
    log("  building a journal of %d tasks (cached in %s) ..." % (entries, path))
    now = time.time()
    span = 2 * 365 * 86400.0
    WORK.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        for n in range(entries):
            if n >= entries - RECENT_ENTRIES:  # the last day
                at = now - 86000.0 * (entries - n) / RECENT_ENTRIES
            else:
                at = now - 2 * 86400.0 - span * (entries - RECENT_ENTRIES - n) / (entries - RECENT_ENTRIES)
            task_id = str(uuid.UUID(int=n + 1))
            attempt = "%016x" % n
            digest = "sha256:%032x" % (n * 7919)
            name = "/home/user/project/output/qianwen-video-generation/%s.mp4" % task_id
            common = {"mode": "t2v", "model": "wan2.6-t2v", "request_digest": digest,
                      "output_dir": "/home/user/project/output/qianwen-video-generation"}
            records = [
                dict({"event": "submitting", "task_id": "", "at": round(at, 3), "attempt": attempt,
                      "submitted_at": round(at, 3)}, **common),
                dict({"event": "submitted", "task_id": task_id, "at": round(at + 0.4, 3), "submitted_at": round(at, 3),
                      "attempt": attempt}, **common),
                {"event": "status", "task_id": task_id, "at": round(at + 1.5, 3), "status": "PENDING"},
                {"event": "status", "task_id": task_id, "at": round(at + 40.0, 3), "status": "RUNNING"},
                {"event": "downloading", "task_id": task_id, "at": round(at + 95.0, 3), "local_path": name},
                {"event": "saved", "task_id": task_id, "at": round(at + 97.0, 3), "status": "SUCCEEDED",
                 "local_path": name, "response_path": name[:-4] + ".response.json"},
            ]
            out.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    os.replace(tmp, path)
    return path


def _place(journal: Optional[Path], directory: Path) -> Path:
    """An output directory holding a copy of `journal` (or none)."""
    directory.mkdir(parents=True, exist_ok=True)
    if journal is not None:
        shutil.copyfile(journal, directory / JOURNAL_NAME)
        os.sync()  # else the measured run's first fsync would write the whole fresh copy
    return directory


def _journal_record(directory: Path, task_id: str) -> None:
    """The submit record a run that submitted `task_id` would have left (the newest line)."""
    record = {"event": "submitted", "task_id": task_id, "at": round(time.time(), 3), "submitted_at": round(time.time(), 3),
              "mode": "t2v", "model": "wan2.6-t2v", "request_digest": "sha256:" + "0" * 32,
              "output_dir": str(directory)}
    with open(directory / JOURNAL_NAME, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")


# -- measurements (one round each) -------------------------------------------------------------
def compile_package() -> None:
    """Write the package's bytecode caches, as a user's first run does (row 1 allows them too)."""
    m = run_measured([sys.executable, "-m", "compileall", "-q", str(VIDEO_PY.parent)], env=child_env(), rss=False)
    if m.code != 0:
        raise RuntimeError("compileall failed: %s" % m.stderr[-800:])


def batch_cpu(n: int, tag: str) -> Tuple[float, float, int]:
    """(CPU seconds per item, wall seconds, peak RSS) of `video.py --batch` of n requests, the
    package's bytecode caches in place (see compile_package)."""
    work = scratch("scale-batch-%s-%d" % (tag, n))
    lines = [json.dumps({"prompt": "scale clip %d" % i, "model": BATCH_MODEL}) for i in range(n)]
    (work / "bench.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with emulator(pending_seconds=0.0, run_seconds=0.05, concurrency={BATCH_MODEL: 5}) as emu:
        m = run_measured([sys.executable, str(VIDEO_PY), "--batch", "bench.jsonl", "--output", "out",
                          "--poll-interval", "0.05", "--quiet"], env=child_env(emu.base_url), cwd=work,
                         timeout=60 + n)
        if m.code != 0 or emu.created_count() != n:
            raise RuntimeError("batch of %d failed (exit %d, %d created): %s"
                               % (n, m.code, emu.created_count(), m.stderr[-800:]))
    discard(work)
    return m.cpu / n, m.wall, m.maxrss


def batch_cpu_reference(n: int) -> float:
    """CPU seconds per item of bench/child_minimal_batch.py doing the same requests as batch_cpu(n)."""
    from qianwen_video import catalog

    work = scratch("scale-reference-%d" % n)
    rate, running = catalog.limits(BATCH_MODEL)
    with emulator(pending_seconds=0.0, run_seconds=0.05, concurrency={BATCH_MODEL: running}) as emu:
        m = run_measured([sys.executable, str(BENCH / "child_minimal_batch.py"), emu.base_url, KEY, str(n),
                          BATCH_MODEL, str(rate), str(running), "0.05", str(work)], env=child_env(emu.base_url),
                         cwd=work, timeout=60 + n, rss=False)
        if m.code != 0 or emu.created_count() != n:
            raise RuntimeError("the reference loop of %d failed (exit %d, %d created): %s"
                               % (n, m.code, emu.created_count(), m.stderr[-800:]))
    discard(work)
    return m.cpu / n


def per_item_at(n: int, small: Tuple[int, float], large: Tuple[int, float]) -> float:
    """CPU seconds per item of a batch of n, from two batches' (items, CPU per item): measured
    when one of them has n items, else read off the line total CPU = fixed + n x per item
    through both. That assumes the cost per item stays flat beyond the large batch: a full
    run, which measures 2000 items, is what checks it (its ratio row, 2000 vs 100 items)."""
    for items, per_item in (large, small):
        if items == n:
            return per_item
    (n1, c1), (n2, c2) = small, large
    marginal = (n2 * c2 - n1 * c1) / (n2 - n1)
    fixed = n1 * c1 - n1 * marginal
    return marginal + fixed / n


def generation(emu, journal: Optional[Path], tag: str) -> Tuple[float, int]:
    """(wall, peak RSS) of one generation into a directory holding `journal` (None: empty)."""
    work = scratch("scale-gen-" + tag)
    out = _place(journal, work / "out")
    request = json.dumps({"prompt": "scale generation %s %s" % (tag, uuid.uuid4().hex)})
    m = run_measured([sys.executable, str(VIDEO_PY), "--request", request, "--output", str(out),
                      "--poll-interval", "0.05"], env=child_env(emu.base_url), cwd=work)
    if m.code != 0 or len(list(out.glob("*.mp4"))) != 1:
        raise RuntimeError("generation (%s) failed (exit %d): %s" % (tag, m.code, m.stderr[-800:]))
    shutil.rmtree(work, ignore_errors=True)
    return m.wall, m.maxrss


def follow(emu, journal: Optional[Path], tag: str) -> Tuple[float, int]:
    """(wall, peak RSS) of `video.py --task-id ID` run from a directory whose default output
    folder holds `journal` plus the task's submit record."""
    work = scratch("scale-task-" + tag)
    out = _place(journal, work / DEFAULT_OUT)
    task_id = submit_t2v(emu.base_url, "scale task-id %s" % tag)
    wait_succeeded(emu.base_url, task_id)
    _journal_record(out, task_id)
    m = run_measured([sys.executable, str(VIDEO_PY), "--task-id", task_id], env=child_env(emu.base_url), cwd=work)
    if m.code != 0 or len(list(out.glob("*.mp4"))) != 1:
        raise RuntimeError("--task-id (%s) failed (exit %d): %s" % (tag, m.code, m.stderr[-800:]))
    shutil.rmtree(work, ignore_errors=True)
    return m.wall, m.maxrss


LIST_RECENT = ("import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
               "from qianwen_video.store import journal; "
               "print(json.dumps(journal.Journal(Path(sys.argv[2])).list_recent(int(sys.argv[3]))))")


def listing(journal: Path) -> Tuple[float, int, float, int]:
    """`video.py --list` (wall, RSS), and the store's list_recent(20) in a fresh process."""
    work = scratch("scale-list")
    out = _place(journal, work / DEFAULT_OUT)
    m = run_measured([sys.executable, str(VIDEO_PY), "--list"], env=child_env(), cwd=work, timeout=300)
    if m.code != 0:
        raise RuntimeError("--list failed (exit %d): %s" % (m.code, m.stderr[-800:]))
    store = run_measured([sys.executable, "-c", LIST_RECENT, str(VIDEO_PY.parent), str(out), "20"], env=child_env())
    if store.code != 0 or len(json.loads(store.stdout)) != 20:
        raise RuntimeError("list_recent failed (exit %d): %s" % (store.code, store.stderr[-800:]))
    shutil.rmtree(work, ignore_errors=True)
    return m.wall, m.maxrss, store.wall, store.maxrss


def transfers_1gib(log: Callable[[str], None] = print) -> List[Row]:
    """Peak RSS of a 1 GiB upload and a 1 GiB download (one round each: a high-water mark)."""
    import transfer

    rows = []
    path = transfer.make_file(WORK / "upload" / "big-1gib.png", GIB)
    with emulator(max_file_size_mb=2048) as emu:
        m = run_measured([sys.executable, str(BENCH / "child_client_upload.py"), str(path), transfer.UPLOAD_MODEL],
                         env=child_env(emu.base_url), timeout=600)
        if m.code != 0:
            raise RuntimeError("1 GiB upload failed: %s" % m.stderr[-800:])
        log("  1 GiB upload: %.2f s, peak RSS %s" % (m.wall, mib(m.maxrss)))
        rows.append(Row("10. Upload 1 GiB: peak RSS of the uploading process", mib(m.maxrss), "—", "—",
                        "< %s" % mib(TRANSFER_RSS_TARGET), "pass" if m.maxrss < TRANSFER_RSS_TARGET else "FAIL",
                        key="rss-upload-1gib", value=float(m.maxrss), goal=float(TRANSFER_RSS_TARGET),
                        higher_is_better=False, unit="bytes"))
    path.unlink()
    with emulator(video_size=GIB, pending_seconds=0.0, run_seconds=0.05) as emu:
        task_id = submit_t2v(emu.base_url, "scale 1 GiB download")
        wait_succeeded(emu.base_url, task_id)
        work = scratch("scale-download")
        m = run_measured([sys.executable, str(VIDEO_PY), "--task-id", task_id, "--output", str(work / "cli")],
                         env=child_env(emu.base_url), cwd=work, timeout=600)
        videos = list((work / "cli").glob("*.mp4"))
        if m.code != 0 or len(videos) != 1 or videos[0].stat().st_size != GIB:
            raise RuntimeError("1 GiB download failed (exit %d): %s" % (m.code, m.stderr[-800:]))
        shutil.rmtree(work, ignore_errors=True)
        log("  1 GiB download: %.2f s, peak RSS %s" % (m.wall, mib(m.maxrss)))
        rows.append(Row("10. Download 1 GiB: peak RSS of `video.py --task-id`", mib(m.maxrss), "—", "—",
                        "< %s" % mib(TRANSFER_RSS_TARGET), "pass" if m.maxrss < TRANSFER_RSS_TARGET else "FAIL",
                        key="rss-download-1gib", value=float(m.maxrss), goal=float(TRANSFER_RSS_TARGET),
                        higher_is_better=False, unit="bytes"))
    return rows


# -- one round of rows 6-9 ----------------------------------------------------------------------
def measure(small: int, large: int, log: Callable[[str], None] = print, rows: str = "batch,journal") -> List[Row]:
    """One round: rows whose `value` is compared with `target` (run.py merges rounds)."""
    out: List[Row] = []
    if "journal" in rows:
        journal = big_journal(log=log)
        with emulator(pending_seconds=0.0, run_seconds=0.05) as emu:
            empty_gen = generation(emu, None, "empty")
            big_gen = generation(emu, journal, "big")
            empty_task = follow(emu, None, "empty")
            big_task = follow(emu, journal, "big")
        listed = listing(journal)
        log("  generation: empty journal %.2f s %s, %d tasks %.2f s %s; --task-id: %.2f s %s vs %.2f s %s; "
            "--list %.2f s %s; list_recent(20) %.2f s %s"
            % (empty_gen[0], mib(empty_gen[1]), JOURNAL_ENTRIES, big_gen[0], mib(big_gen[1]), empty_task[0],
               mib(empty_task[1]), big_task[0], mib(big_task[1]), listed[0], mib(listed[1]), listed[2],
               mib(listed[3])))
        n = "{:,}".format(JOURNAL_ENTRIES).replace(",", " ")
        for label, key, (e_wall, e_rss), (b_wall, b_rss) in (
                ("7. One generation", "gen", empty_gen, big_gen),
                ("8. `--task-id` of a finished task", "task", empty_task, big_task)):
            extra_wall, extra_rss = b_wall - e_wall, b_rss - e_rss
            out.append(Row("%s, journal of %s tasks vs empty: extra wall time" % (label, n),
                           "%+.2f s (%.2f s)" % (extra_wall, b_wall), "empty journal %.2f s" % e_wall, "—",
                           "≤ +%.1f s" % GEN_WALL_TARGET if key == "gen" else "— (info)",
                           ("pass" if extra_wall <= GEN_WALL_TARGET else "FAIL") if key == "gen" else "info",
                           key=key + "-wall", value=extra_wall, goal=GEN_WALL_TARGET if key == "gen" else None,
                           higher_is_better=False, unit="s"))
            out.append(Row("%s, journal of %s tasks vs empty: extra peak RSS" % (label, n),
                           "%+.1f MiB (%s)" % (extra_rss / MIB, mib(b_rss)), "empty journal %s" % mib(e_rss), "—",
                           "≤ +%s" % mib(GEN_RSS_TARGET) if key == "gen" else "— (info)",
                           ("pass" if extra_rss <= GEN_RSS_TARGET else "FAIL") if key == "gen" else "info",
                           key=key + "-rss", value=float(extra_rss),
                           goal=float(GEN_RSS_TARGET) if key == "gen" else None, higher_is_better=False,
                           unit="bytes"))
        out.append(Row("9. `--list` with a journal of %s tasks: wall time" % n, "%.2f s" % listed[0], "—", "—",
                       "≤ %.0f s" % LIST_WALL_TARGET, "pass" if listed[0] <= LIST_WALL_TARGET else "FAIL",
                       key="list-wall", value=listed[0], goal=LIST_WALL_TARGET, higher_is_better=False,
                       unit="s"))
        out.append(Row("9. `--list` with a journal of %s tasks: peak RSS" % n, mib(listed[1]), "—", "—",
                       "≤ %s" % mib(LIST_RSS_TARGET), "pass" if listed[1] <= LIST_RSS_TARGET else "FAIL",
                       key="list-rss", value=float(listed[1]), goal=float(LIST_RSS_TARGET),
                       higher_is_better=False, unit="bytes"))
        out.append(Row("9. store: `Journal.list_recent(20)` in a fresh process (the read `--list N` makes)",
                       "%.2f s, %s" % (listed[2], mib(listed[3])), "—", "—", "— (info)", "info",
                       key="list-store", value=listed[2], unit="s"))
    if "batch" in rows:
        compile_package()
        reference_items = min(large, REFERENCE_ITEMS)
        (large_cpu, large_wall, large_rss), reference, smalls = together(
            lambda: batch_cpu(large, "large"), lambda: batch_cpu_reference(reference_items),
            lambda: sorted(batch_cpu(small, "small")[:2] for _ in range(SMALL_RUNS)))
        small_cpu, small_wall = smalls[len(smalls) // 2]  # the median run
        ratio = large_cpu / small_cpu
        at_target = per_item_at(TARGET_ITEMS, (small, small_cpu), (large, large_cpu))
        measured = TARGET_ITEMS in (small, large)
        log("  batch CPU per item: %d items %.2f ms (%.1f s), %d items %.2f ms (%.1f s, peak RSS %s), ratio %.2f%s; "
            "a minimal loop making the same requests (%d items, at the same time): %.2f ms"
            % (small, small_cpu * 1000, small_wall, large, large_cpu * 1000, large_wall, mib(large_rss), ratio,
               "" if measured else "; at %d items (their line) %.2f ms" % (TARGET_ITEMS, at_target * 1000),
               reference_items, reference * 1000))
        out.append(Row("6. Batch CPU per item: %d items vs %d" % (large, small),
                       "%.2f ms at %d (%.1f s wall)" % (large_cpu * 1000, large, large_wall),
                       "%.2f ms at %d" % (small_cpu * 1000, small), "%.2f×" % ratio, "≤ %.1f×" % CPU_RATIO_TARGET,
                       "pass" if ratio <= CPU_RATIO_TARGET else "FAIL",
                       key="batch-cpu-ratio", value=ratio, goal=CPU_RATIO_TARGET, higher_is_better=False,
                       unit="x"))
        out.append(Row("6. Batch CPU per item at %d items (user + sys of the child%s)"
                       % (TARGET_ITEMS, "" if measured else "; read off the line through the %d- and %d-item "
                                                          "batches" % (small, large)),
                       "%.2f ms" % (at_target * 1000), "—", "—", "≤ %.0f ms" % (CPU_PER_ITEM_TARGET * 1000),
                       "pass" if at_target <= CPU_PER_ITEM_TARGET else "FAIL",
                       key="batch-cpu", value=at_target * 1000, goal=CPU_PER_ITEM_TARGET * 1000,
                       higher_is_better=False, unit="ms"))
        out.append(Row("6. Batch CPU per item at %d items vs a minimal loop making the same requests at the same "
                       "time (bench/child_minimal_batch.py, %d items)" % (large, reference_items),
                       "%.2f ms" % (large_cpu * 1000), "%.2f ms" % (reference * 1000),
                       "%.2f×" % (large_cpu / reference), "— (info)", "info",
                       key="batch-cpu-reference", value=large_cpu / reference, unit="x"))
    return out


if __name__ == "__main__":
    try:
        for row in measure(int(sys.argv[1]) if len(sys.argv) > 1 else 100,
                           int(sys.argv[2]) if len(sys.argv) > 2 else 400,
                           rows=sys.argv[3] if len(sys.argv) > 3 else "batch,journal"):
            print(row)
    finally:
        sweep()  # what discard() put aside
