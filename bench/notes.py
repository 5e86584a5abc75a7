"""Prose of bench/RESULTS.md: how each row is measured, and why a missed target missed."""
from __future__ import annotations

from typing import List, Sequence

from common import Row


def method(args) -> List[str]:
    return [
        "## Method",
        "",
        "- **Everything runs against `tests/emulator`** on 127.0.0.1 inside the `bench/run.py` process; each "
        "measured program is a fresh child process. Wall times are fork-to-reaped (`time.monotonic()`).",
        "- **Peak RSS** is the kernel's high-water mark (`ru_maxrss` from `wait4`) of the measured process, "
        "taken through a small wrapper (GNU `time -f %M`, else a `python3 -I -S` wrapper reading "
        "`RUSAGE_CHILDREN`): forked straight from the benchmark process, a child would inherit the "
        "benchmark's own high-water mark at `exec`. The wrapper's size is the floor listed above.",
        "- **1. Start-up**: `python3 -c pass`, `video.py --help` and `video.py --dry-run --request '{...}'` "
        "run interleaved, %d timed rounds after one warm-up round; medians. Bytecode caches are allowed "
        "(a user's second run has them). Re-run alone: `python3 bench/run.py --only startup`." % args.startup_runs,
        "- **2. Upload**: a %d MiB file of random bytes. *Ours* is `bench/child_client_upload.py`: the CLI's own "
        "`qianwen_video.upload.temp_storage.TempStorage.upload_all()` (getPolicy + the streamed multipart POST to the "
        "policy's `upload_host`, over the CLI's `Transport`) in a fresh process; the timed span is getPolicy "
        "+ POST, so neither side pays interpreter start-up (whole-process time is shown too). This is "
        "exactly what `video.py` runs for a local `img_url` before it submits; the full CLI was not used "
        "because its validation rejects a 256 MiB image and a generation adds submit and poll sleeps that "
        "are not upload cost. *curl* is `curl -F` of the same form fields to the same emulator endpoint "
        "with a policy fetched beforehand (`Expect:` disabled). *SDK* is dashscope "
        "`OssUtils.upload(model=, file_path=, api_key=)` (what `check_and_upload_local` calls), pointed at "
        "the emulator with `DASHSCOPE_HTTP_BASE_URL`. Every upload is checked to have landed whole "
        "(size in the emulator's object store). `os.sync()` before each timed transfer." % args.upload_mib,
        "- **3. Download**: the emulator serves a synthetic %d MiB video for a SUCCEEDED task. *Ours* is "
        "`video.py --task-id ID --output DIR` as a user runs it, fork to exit, nothing subtracted: "
        "interpreter start-up, one status query, the response JSON, the streamed download, `fsync`, "
        "rename. *curl* is `curl -o FILE URL` on the same signed URL; curl does not fsync, so an fsync of "
        "its file right after is timed too (`+ fsync`) and the target compares with curl + fsync, the same "
        "durability (a flush of 256 MiB took 0.13-0.6 s here depending on the disk's state, which decided "
        "a bare-curl ratio); the bare-curl ratio is shown beside it. Two minimal stdlib loops "
        "(`bench/child_stdlib_download.py`, `read(1 MiB)` and `read1(1 MiB)`, with fsync) are logged as "
        "references to locate any gap. Loopback timings on this 2-core VM vary run to run by up to 2×: "
        "rows 2 and 3 are medians of the rounds, every round is in the log, and full runs here have read "
        "row 3 anywhere from 0.75× to 1.1× curl." % args.download_mib,
        "- **4. Detection**: one emulator, six actors started together, each with its own task: the CLI "
        "(`video.py --request`, default `--poll-interval 15`), the SDK (`VideoSynthesis.wait(task_id)` after "
        "a urllib submit, in bench/.venv) and a fixed 15 s urllib poller (GET, sleep 15 s, repeat); each once "
        "for a task that SUCCEEDS %.0f s after submit and once for a request accepted and then FAILED "
        "%.0f s after submit by late validation (`duration` 99 sent with `--no-validate`). The moment is the "
        "emulator's (`created_at` + task time); ours is measured until the `.mp4` is on disk (a watcher "
        "thread, 5 ms), the SDK until `wait()` returns (it does not download), the fixed poller until its GET "
        "returned the terminal status. The target compares when each one's status query reached the emulator "
        "(its own request log, one clock), not ours with its download against a bare GET: within 0.25 s "
        "is the same poll slot (a later schedule is a whole poll step, >= 1 s, later). Poll counts come "
        "from the emulator's request log. The early failure "
        "is timed from submit to the CLI's exit with the error." % (args.task_seconds, args.fail_seconds),
        "- **5. Batch**: `bench/batch_makespan.py --summary`: `video.py --batch` of 20 one-line requests in a "
        "subprocess against an emulator limited to 5 running tasks of the model (tasks of 2.05 s; `--quick`: "
        "0.75 s), fork to exit. Ideal = waves x task time (4 x); the target allows 15% plus one poll period "
        "per wave, since a wave's end is seen at the next status check.",
        "- **6. Batch CPU per item** (`bench/scale.py`): `video.py --batch` of %d and of %d one-line requests "
        "(tasks of 0.05 s, the model's 10 submits/s and 5 running tasks, so the large batch takes N/10 s), "
        "user + system CPU of the child and its waited-for children (`os.wait4`) divided by N. Flat cost "
        "means the large batch's figure is at most 1.5× the small one's, and the figure at 2 000 items at "
        "most 5 ms. A batch costs a start-up (~0.15 s: interpreter and imports) plus a cost per item, so when "
        "the large batch is smaller than 2 000 (`--quick`) the figure at 2 000 is read off the line through "
        "the two batches' CPU totals (start-up + N × per item). That assumes the cost per item stays flat "
        "beyond the large batch; a full run measures 2 000 items and so checks it. As a reference, `bench/child_minimal_batch.py` makes the same requests in one bare stdlib "
        "loop (same rate and running limit; one fsynced line and the fsynced video per item; no validation, "
        "manifest, lock or response file) for at most 300 items. The reference and the small batch (three "
        "runs one after another, the median counts: its start-up share is the noisy part) run while the "
        "large batch runs: in `--quick` all three see the same moments of the machine (in a full run they "
        "overlap the large batch's first 30 s). As in row 1, bytecode caches are allowed "
        "(a user's second run has them; the reference's standard library has them too): the package is "
        "compiled once before the first batch, so no batch pays for compiling its modules. The batches' "
        "directories are deleted after the run's last row, not between rows (`common.discard`): on ext4 without "
        "a journal, as here, each file deleted makes every file created in its block group during the next "
        "minute cost more CPU (the inode allocator scans past recently freed inodes: a file creation was "
        "seen going from 30 to 300 µs over a quick run), so the harness's own deletions would inflate "
        "whichever batch ran next, by an amount set by the harness's timing."
        % (args.small_batch, args.large_batch),
        "- **7-9. A long history**: a synthetic journal of 100 000 tasks (six records each, 140 MB, two years, "
        "the newest 200 tasks inside the last day; cached in $BENCH_WORK) copied into the output directory "
        "(and flushed with `sync`, so the measured run's first fsync does not write the copy). 7: one "
        "generation (`--poll-interval 0.05`, submit to saved video) there against the same in an empty "
        "directory; 8: `--task-id ID` of a finished task whose submit record is the journal's newest line, "
        "found through the default output directory; 9: `--list`, and the store's `Journal.list_recent(20)` "
        "in a fresh process. Wall time fork to exit, peak RSS as above.",
        "- **10. 1 GiB transfers**: one upload of a 1 GiB file (`bench/child_client_upload.py`) and one "
        "`video.py --task-id` download of a 1 GiB video; peak RSS (a high-water mark: one round).",
        "- **Rounds** (`--rounds N`, `--quick`: 3): the rows above except 4 and 10 are measured once per "
        "round, round after round, so a slow moment of the machine hits one round of every row, not every "
        "round of one. A row shows the round whose figure is the median, the median itself, the range and "
        "the spread (median absolute deviation of the rounds); it fails only when the median misses the "
        "target by more than that spread (shown as *pass (within spread)* when the spread decides). Rows "
        "4 (a poll schedule) and 10 (a high-water mark) run once. Row 6 is a CPU count, but those drift by "
        "20-30% between identical runs on a shared machine: it is a noisy row like the others.",
        "",
    ]


def misses(rows: Sequence[Row]) -> List[str]:
    import transfer

    failed = [r for r in rows if r.result == "FAIL"]
    if not failed:
        return []
    out = ["## Misses", ""]
    for row in failed:
        text = row.metric
        if "Start-up" in text:
            import startup

            floor = ("The bare start of this interpreter already pays %s (from `site`/.pth files), so "
                     "the floor is high and the ratio would be worse on a clean interpreter; "
                     % ", ".join(startup.BARE_HEAVY)) if startup.BARE_HEAVY else ""
            out.append(
                ("- **%s** (%s vs %s). " + floor + "`--dry-run` adds the CLI's import graph on top: "
                "`cli` imports `run` (for dispatch), which imports `api` → `transport` (`http.client`, `ssl`) "
                "and `retry` (`email.utils`), `download`, `journal`, `catalog`, `dataclasses`..., none of "
                "which a dry run needs beyond `catalog`/`payload`/`validate`. Fix in the CLI: import "
                "`api`/`transport`/`download`/`journal`/`upload` inside `Session` (lazily), keep `dry_run` on "
                "`modes`+`payload`+`validate`+`media`, and build the long `--help` epilog only for `--help`. "
                "See *Where `--dry-run` start-up goes* below for the measured import costs.")
                % (text, row.ours, row.peer))
        elif "Download" in text and "RSS" not in text:
            ref = transfer.DOWNLOAD_REFERENCE
            extra = ""
            if ref:
                durable = ref["curl"] + ref["curl_fsync"]
                extra = (" Medians this run: curl %.2f s, curl plus an fsync of its file %.2f s (%.2f× ours), "
                         "ours %.2f s. Reference stdlib loops with fsync (not the CLI): `read(1 MiB)` %.2f s, "
                         "`read1(1 MiB)` %.2f s."
                         % (ref["curl"], durable, durable / ref["ours"], ref["ours"],
                            ref.get("stdlib_read", float("nan")), ref.get("stdlib_read1", float("nan"))))
            out.append(
                "- **%s** (%s vs %s). What the user gets includes costs `curl -o` does not pay: interpreter "
                "start-up and imports (~0.1 s, see row 1), a status query and the response JSON, and the "
                "`fsync` before the rename (durability curl does not give).%s So the gap is start-up plus "
                "fsync; the transfer loop itself keeps up with curl. To meet 0.8× without giving up the "
                "fsync, cut start-up (row 1's lazy imports) and consider `Stream.read` → "
                "`self._resp.read1(size)` in `transport.py` (returns what has arrived instead of waiting for a "
                "full MiB): the `read1` reference loop was the fastest Python loop here, but that change is "
                "not measured on the CLI itself. Loopback timings on this 2-core VM vary run to run by up to "
                "2× (see the log), so a 0.75–0.85× result is within noise of the target."
                % (text, row.ours, row.peer, extra))
        elif "Upload" in text and "RSS" not in text:
            out.append("- **%s** (%s vs %s). The upload streams 1 MiB chunks through `http.client`; on loopback "
                       "the emulator's multipart parser is the shared bottleneck, so the run-to-run noise of this "
                       "VM decides; re-run `--only upload`." % (text, row.ours, row.peer))
        elif "SUCCEEDED" in text and "polls" not in text:
            out.append(
                "- **%s** (ours %s; %s). With the default `--poll-interval 15` the CLI polls at 0, 1, 3, 6, 11, "
                "19, 31, 46, 61, 76 … s after submit: the fast start (1, 2, 3, 5, 8, 12) sums to 31 s, which "
                "puts every later poll 1 s *after* a multiple of 15 s, so a task ending on the fixed poller's "
                "grid (60 s here; 12 s ends between 11 and 19) is seen up to 1 s (7 s) later than by the naive "
                "15 s loop; averaged over durations the two are equal (table below). Fix: make the fast start "
                "sum to the interval, `poll.FAST_START = (1, 2, 3, 4, 5)` for 15 s (polls at 1, 3, 6, 10 s, then "
                "at 15, 30, 45 … s since submit; in general: fast checks, then every multiple of "
                "`poll_interval` since submit). Its poll times are a superset of the fixed poller's, so it is "
                "never later (0%% in the simulation), still ~half the SDK's requests, and the 2 s failure is "
                "still seen at 3 s." % (text, row.ours, row.peer))
        elif "polls" in text:
            out.append("- **%s** (ours %s vs %s): see the schedule table below; a shorter `poll.delays` fast start "
                       "or larger `--poll-interval` cuts requests." % (text, row.ours, row.peer))
        elif "FAILED" in text:
            out.append("- **%s** (%s). The fast start (1, 2, 3 s) should see a 2 s failure at 3 s; a miss means "
                       "the first checks were delayed (see the log)." % (text, row.ours))
        elif "--list" in text:
            out.append("- **%s** (%s). `video.py --list [N]` reads the journal newest first and stops after N "
                       "entries (`Journal.list_recent`); a miss here means that read or the table it prints grew "
                       "with the journal: compare with the store row below it." % (text, row.ours))
        elif "Batch CPU" in text:
            out.append("- **%s** (%s; %s). The cost per item is flat (row 6's ratio) and no file is read whole "
                       "per item; what is left is each item's own work: a submit on a new connection, a poll and "
                       "a download on a kept one, 3 manifest and 3 journal lines (2 fsyncs per pass), the download "
                       "lock, the claimed name, the response file and the video (each fsynced), two stderr lines. "
                       "Compare with the reference row (a bare loop making the same requests in the same run): "
                       "figures here drift by 20-30%% between identical runs." % (text, row.ours, row.peer))
        else:
            out.append("- **%s**: %s vs %s." % (text, row.ours, row.peer))
    out.append("")
    return out
