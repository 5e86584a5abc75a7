"""Finish a task that ended: explain a failure, or save a success's answer and video.

One download per task even when two runs follow it; a killed download continues.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Dict, NamedTuple, Optional, Tuple

from .. import safe_json
from ..console import size_text
from ..errors import CliError
from ..hints import resume_command
from ..outcome import task_document
from ..store import outputs
from ..store.lock import SlotLock
from . import Runtime, TaskRef
from .follow import status_of

DOWNLOAD_LOCK_WAIT = 1800.0  # seconds a run waits for another run downloading the same task


class Saved(NamedTuple):
    local_path: str
    response_path: Optional[str]
    video_url: Optional[str]
    size: Optional[int]  # bytes downloaded now; None when an earlier run had saved it


def finish(rt: Runtime, task: Dict[str, Any], ref: TaskRef, stop=None, batch_item: bool = False) -> Saved:
    """Save a SUCCEEDED task's response and video; raise CliError (with the task as its document)
    for any other final status. `stop`: a threading.Event that ends the download early;
    `batch_item`: the batch records the save in its manifest (fsynced with the next ones, within
    about a second) and reports it ("item N: saved ..."), so the journal's record is not fsynced
    and no "Video saved" line is printed."""
    status = status_of(task)
    out = task.get("output") or {}
    if status != "SUCCEEDED":
        message, hint = describe_failure(task, ref.task_id, ref.model)
        raise CliError(message, hint=hint, task_id=ref.task_id,
                       document=task_document(task, ref.task_id, ref.mode, ref.model, video_url=None,
                                              local_path=None, response_path=None))
    video_url = video_url_of(out)
    if not video_url:
        raise CliError("task %s SUCCEEDED but the answer has no video URL" % ref.task_id,
                       hint="re-read it later with: %s" % resume_command(rt.ctx, ref.task_id, ref.output),
                       task_id=ref.task_id)
    lock = _lock_download(rt, ref.task_id, stop)
    try:
        return _save(rt, task, ref, video_url, lock is not None, stop, batch_item)
    finally:
        _unlock_download(lock)


def describe_failure(task: Dict[str, Any], task_id: str, model: str) -> Tuple[str, str]:
    """(message, hint) for a task that ended without a video."""
    status = status_of(task)
    out = task.get("output") or {}
    if status == "UNKNOWN":
        return ("task %s expired or not found (status UNKNOWN)" % task_id,
                "task ids can be queried for 24 h; check the id, or submit again")
    detail = ": ".join(str(x) for x in (out.get("code"), out.get("message")) if x)
    return ("task %s %s%s" % (task_id, status, ": " + detail if detail else ""),
            _failure_hint(str(out.get("code") or ""), str(out.get("message") or ""), model))


def video_url_of(output: Dict[str, Any]) -> Optional[str]:
    """The video URL in a SUCCEEDED answer, whichever of the documented shapes it has:
    output.video_url (Wan, HappyHorse, wan3.0), output.results[0].url (older answers),
    output.results.video_url (animate, s2v), output.output_video_url (style transfer)
    (dashscope-new-models.md §7). Only a non-empty string counts."""
    results = output.get("results")
    first = results[0] if isinstance(results, list) and results else results
    places = [output.get("video_url"), output.get("output_video_url")]
    if isinstance(first, dict):
        places += [first.get("url"), first.get("video_url")]
    return next((url for url in places if isinstance(url, str) and url), None)


def recorded_output(known: Dict[str, Any]) -> Optional[str]:
    """The --output a journaled task was submitted with, made absolute (the journal may have
    been written from another working directory)."""
    output, directory = known.get("output"), known.get("output_dir")
    if not directory:
        return output
    if output and outputs.names_file(output):
        return str(Path(directory) / Path(output).name)
    return directory


def _failure_hint(code: str, message: str, model: str) -> str:
    from ..net.api import error_hint

    specific = error_hint(400, code, message, model)
    if specific:
        return specific
    if code.startswith("InvalidParameter") or "invalid" in message.lower():
        return ("the service rejected a parameter after accepting the task; check it with "
                "`video.py --dry-run` and `video.py --list-models` (failed tasks are not billed)")
    if "DataInspection" in code:
        return "content moderation rejected the input or output; change the prompt or media"
    return "failed tasks are not billed; read the message above, adjust the request and submit again"


def _lock_download(rt: Runtime, task_id: str, stop=None) -> Optional[SlotLock]:
    """The task's download lock (None if it could not be had): two runs following the same
    task download it one after the other, and the second finds the first one's video."""
    from ..net.download import DownloadStopped

    lock = outputs.download_lock(rt.book.path.parent, task_id)
    try:
        if lock.try_acquire():
            return lock
        rt.console.always("Another run is downloading task %s; waiting for it..." % task_id)
        deadline = rt.ctx.clock() + DOWNLOAD_LOCK_WAIT
        while rt.ctx.clock() < deadline:
            if stop is not None and stop.is_set():
                raise DownloadStopped()
            rt.ctx.sleep(0.2)
            if lock.try_acquire():
                return lock
    except OSError:
        return None
    rt.console.warn("another run has been downloading task %s for %ds; downloading it again under "
                    "another name" % (task_id, DOWNLOAD_LOCK_WAIT))
    return None


def _unlock_download(lock: Optional[SlotLock]) -> None:
    if lock is not None:  # a run waiting for it re-reads the journal once it has it (_save)
        lock.release()


def _target(rt: Runtime, ref: TaskRef, video_url: str, held: bool,
            known: Dict[str, Any]) -> Tuple[Path, Path, bool]:
    """(video path, response path, continuing?): the path a killed download of this task left
    a `.part` at, so it continues there (only while this run holds the task's download lock:
    otherwise that `.part` may be another run's live download); otherwise fresh names, the
    video's claimed with an empty `.part` (outputs.claim) that the download then fills.
    `known`: the journal's view of the task."""
    earlier = known.get("downloading")
    if earlier and held:
        path = Path(earlier)
        if outputs.part_path_for(path).exists() and not path.exists():
            outputs.check_writable_location(path.parent)
            rt.console.info("Continuing the interrupted download into %s" % path)
            return path, outputs.response_path_for(path), True
    outputs.check_writable_location(outputs.output_dir(ref.output, rt.ctx.cwd))  # before claiming a name
    video_path, response_path = outputs.plan(ref.output, rt.ctx.cwd, video_url, ref.task_id)
    return video_path, response_path, False


def _save(rt: Runtime, task: Dict[str, Any], ref: TaskRef, video_url: str, held: bool, stop,
          batch_item: bool) -> Saved:
    from ..net.download import DownloadFailed, download

    ctx, console, book = rt.ctx, rt.console, rt.book
    known = book.find(ref.task_id) or {}
    saved = known.get("local_path")
    if saved and Path(saved).is_file():
        # Another run following this task (or an earlier one) already saved it: no second copy.
        if not batch_item:
            console.always("Video already saved: %s" % saved)
        return Saved(saved, known.get("response_path"), video_url, None)
    video_path, response_path, resuming = _target(rt, ref, video_url, held, known)
    try:  # (_target checked the place)
        _write_json(response_path, task, console)
    except OSError as exc:
        if not resuming:
            _remove(outputs.part_path_for(video_path))
        raise CliError("task %s SUCCEEDED but %s could not be written: %s" % (ref.task_id, response_path,
                                                                              exc.strerror or exc),
                       hint="free some space or fix permissions, then: %s"
                            % resume_command(ctx, ref.task_id, ref.output), task_id=ref.task_id) from None
    except BaseException:
        if not resuming:
            _remove(outputs.part_path_for(video_path))
        raise
    console.info("Response saved to %s" % response_path)

    def fresh_url() -> str:
        again = video_url_of(rt.api.get_task(ref.task_id).get("output") or {})
        if not again:
            raise DownloadFailed("the task no longer offers a video URL", task_id=ref.task_id)
        return again

    try:
        book.append("downloading", ref.task_id, status="SUCCEEDED", local_path=str(video_path))
    except OSError:
        pass  # only the resume of a killed download depends on it
    try:
        # into a killed run's `.part`, or the empty one claimed for this run
        size = download(ctx, console, rt.api.transport, video_url, video_path, fresh_url, stop=stop)
    except KeyboardInterrupt:
        console.end_live()
        console.always("Stopped the download; what arrived is kept in %s. Task %s is done: continue the "
                       "download with: %s" % (outputs.part_path_for(video_path), ref.task_id,
                                              resume_command(ctx, ref.task_id, ref.output)))
        raise
    except CliError as exc:
        raise CliError("%s (task %s)" % (exc.message, ref.task_id),
                       hint=(exc.hint + "; " if exc.hint else "") + "retry the download with: "
                            + resume_command(ctx, ref.task_id, ref.output),
                       task_id=ref.task_id,
                       document=task_document(task, ref.task_id, ref.mode, ref.model, video_url=video_url,
                                              local_path=None, response_path=str(response_path))) from None
    try:
        book.append("saved", ref.task_id, durable=not batch_item, status="SUCCEEDED", local_path=str(video_path),
                    response_path=str(response_path))
    except OSError as exc:
        console.warn("could not update the journal %s: %s" % (book.path, exc.strerror or exc))
    if not batch_item:
        console.always("Video saved to %s (%s)" % (video_path, size_text(size)))
    if not console.quiet:  # (info lines: a batch saves through a quiet console)
        billed = billed_text(task)
        if billed:
            console.info(billed)
        console.info("Video URL (valid 24 h): %s" % video_url)
    return Saved(str(video_path), str(response_path), video_url, size)


BILLED_SECONDS = ("duration", "video_duration")  # usage fields with the billed seconds (dashscope-api.md §4.2)
_SHOWN_VALUE = re.compile(r"[A-Za-z0-9*:._-]{1,20}\Z")  # a size, ratio or tier as the service writes it


def billed_text(task: Dict[str, Any]) -> Optional[str]:
    """What the task answer's `usage` says was billed: seconds and resolution, never a price.
    Server data: only plain numbers and short plain values are shown; anything else is left out."""
    usage = task.get("usage")
    if not isinstance(usage, dict):
        return None
    parts = []
    for key in BILLED_SECONDS:
        value = usage.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 100000:
            parts.append("%g s" % value)
            break
    tier = usage.get("SR")
    if isinstance(tier, int) and not isinstance(tier, bool) and 0 < tier < 10000:
        parts.append("%dP" % tier)
    for key in ("size", "ratio", "video_ratio"):
        value = usage.get(key)
        if isinstance(value, str) and _SHOWN_VALUE.match(value):
            parts.append("%s %s" % (key.replace("video_", ""), value))
    return "Billed (the task's usage): " + ", ".join(parts) if parts else None


def _write_json(path: Path, document: Dict[str, Any], console) -> None:
    """Write beside the video via a temporary file of this run's own (two runs may write the
    same name), so the name never holds half a file. A lone surrogate (valid in a JSON answer,
    not in UTF-8) is stored as its JSON escape.

    Not fsynced, unlike the video and the journal: it is a copy of the task's answer, which the
    service keeps for 24 h (``--task-id ID --print-response`` prints it again), so a power cut
    right after it was written costs at most that copy. Its fsync cost a batch ~0.4 ms of CPU
    and six context switches per item (bench row 6)."""
    text = console.redactor.secrets(safe_json.indented(document)) + "\n"
    data = memoryview(text.encode("utf-8", "backslashreplace"))
    # The folder holds the video's claimed `.part` (or a killed run's): it is there.
    fd, temporary = outputs.create_beside(path)
    try:
        try:
            while data:
                data = data[os.write(fd, data):]
        finally:
            os.close(fd)
        outputs.replace(temporary, path, console.ctx.sleep)  # retried like the video's
    except BaseException:
        _remove(temporary)
        raise


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
