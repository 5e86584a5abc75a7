"""store.log, the journal's tail reads and the batch manifest, as specifications.

The journal answers every question from the end of the file. The property tests write
random journals (several writers interleaved, their clocks read up to most of an hour
before each write, crash-cut last lines, bad lines, records straddling every block size)
and check that each tail answer equals the one a full read of the whole file gives:
duplicates, unanswered submits, find(), list_recent(n).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qianwen_video.errors import CliError
from qianwen_video.store import journal, log, manifest, outputs
from qianwen_video.store.journal import DUPLICATE_WINDOW, Journal
from qianwen_video.store.log import Log, NotRegular

HOUR = 3600.0
DIGESTS = ["sha256:aa", "sha256:bb", "sha256:cc"]
STATUSES = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"]
BAD_LINES = [b"\xff\xfe not UTF-8", b"{not json", b"[" * 70 + b"]" * 70, b'"a string, not a record"',
             b'{"event": "status"}', b"   ", b"null"]


# -- a full read, the reference the tail reads must agree with --------------------------
def full_records(path: Path) -> List[Tuple[int, Dict[str, Any]]]:
    """(position, record) of every line that is a JSON object with a string task_id."""
    found = []
    for position, line in enumerate(path.read_bytes().split(b"\n")):
        try:
            record = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError):
            continue
        if isinstance(record, dict) and isinstance(record.get("task_id"), str):
            found.append((position, record))
    return found


def full_tasks(path: Path) -> Dict[str, Tuple[int, Dict[str, Any]]]:
    merged: Dict[str, Tuple[int, Dict[str, Any]]] = {}
    for position, record in full_records(path):
        if record["task_id"]:
            first, entry = merged.get(record["task_id"], (position, None))
            merged[record["task_id"]] = (first, journal.merge(record["task_id"], [record], entry))
    return merged


def full_unresolved(path: Path) -> Dict[str, Tuple[int, Dict[str, Any]]]:
    open_: Dict[str, Tuple[int, Dict[str, Any]]] = {}
    for position, record in full_records(path):
        attempt = record.get("attempt")
        if not isinstance(attempt, str):
            continue
        if record.get("event") == "submitting":
            open_.setdefault(attempt, (position, record))
        elif record["task_id"] or record.get("event") == "submit-resolved":
            open_.pop(attempt, None)
    return open_


def full_duplicate(path: Path, digest: str, now: float) -> Optional[Dict[str, Any]]:
    for _, entry in sorted(full_tasks(path).values(), key=lambda pe: -pe[0]):
        if (entry.get("request_digest") == digest and not now - float(entry.get("submitted_at") or 0) > DUPLICATE_WINDOW
                and entry.get("status") not in journal.FAILED_STATES):
            return entry
    return None


def full_intent(path: Path, digest: str, now: float) -> Optional[Dict[str, Any]]:
    for _, record in sorted(full_unresolved(path).values(), key=lambda pr: -pr[0]):
        if record.get("request_digest") == digest and now - float(record.get("submitted_at") or 0) <= DUPLICATE_WINDOW:
            return record
    return None


def full_listing(path: Path) -> List[Dict[str, Any]]:
    tasks = full_tasks(path)
    submitted = {r["task_id"] for _, r in full_records(path) if r.get("event") == "submitted"}
    listed = [(p, e) for t, (p, e) in tasks.items() if t in submitted]
    listed += [(p, {"task_id": None, "submitted_at": r.get("submitted_at"), "mode": r.get("mode"),
                    "model": r.get("model"), "status": "SUBMIT-UNANSWERED", "request_digest": r.get("request_digest"),
                    "output": r.get("output")}) for p, r in full_unresolved(path).values()]
    ghosts = sorted(((p, e) for t, (p, e) in tasks.items() if t not in submitted), key=lambda pe: -pe[0])
    return [e for _, e in sorted(listed, key=lambda pe: -pe[0])] + [e for _, e in ghosts]


# -- random journals --------------------------------------------------------------------
# How long before its write a record may have read the clock (processes interleaving, a stalled
# writer, clock steps): the journal promises correct answers for lags up to 50 minutes.
SKEW = 50 * 60.0


@st.composite
def journals(draw) -> Tuple[bytes, float]:
    """File bytes in write order: write times rise; each record's `at` lags its write by up
    to SKEW (writers interleave), submit times lag `at` by up to two minutes."""
    written = 1_000_000.0
    task_ids: List[str] = []
    attempts: List[Tuple[str, str]] = []
    lines: List[bytes] = []
    for number in range(draw(st.integers(0, 40))):
        written += draw(st.sampled_from([0.0, 1.0, 90.0, HOUR, 5 * HOUR, 26 * HOUR,  # and near the window's length:
                                         DUPLICATE_WINDOW - 1800, DUPLICATE_WINDOW - 600, DUPLICATE_WINDOW - 60]))
        at = round(written - draw(st.one_of(st.just(0.0), st.just(SKEW), st.floats(0, SKEW))), 3)
        kind = draw(st.sampled_from(["submitted", "submitted", "status", "saved", "downloading", "submitting",
                                     "resolve", "adopted", "ghost", "bad"]))
        if kind == "bad":
            lines.append(draw(st.sampled_from(BAD_LINES)))
            continue
        if (kind == "submitted" or (kind in ("status", "saved", "downloading", "adopted") and not task_ids)
                or (kind == "resolve" and not attempts)):
            task_id = "task-%d" % number
            task_ids.append(task_id)
            record = {"event": "submitted", "task_id": task_id, "at": at, "mode": "t2v", "model": "m",
                      "request_digest": draw(st.sampled_from(DIGESTS)),
                      "submitted_at": round(at - draw(st.floats(0, 120)), 3)}
        elif kind == "status":
            record = {"event": "status", "task_id": draw(st.sampled_from(task_ids)), "at": at,
                      "status": draw(st.sampled_from(STATUSES))}
            if record["status"] == "FAILED" and draw(st.booleans()):
                record.update(code="DataInspectionFailed", message="no")
        elif kind == "saved":
            record = {"event": "saved", "task_id": draw(st.sampled_from(task_ids)), "at": at, "status": "SUCCEEDED",
                      "local_path": "/v/%d.mp4" % number, "response_path": "/v/%d.response.json" % number}
        elif kind == "downloading":
            record = {"event": "downloading", "task_id": draw(st.sampled_from(task_ids)), "at": at,
                      "local_path": "/v/%d.mp4" % number}
        elif kind == "adopted":
            record = {"event": "adopted", "task_id": draw(st.sampled_from(task_ids)), "at": at, "note": number}
        elif kind == "ghost":  # a record of a task this journal never saw submitted
            record = {"event": "status", "task_id": "ghost-%d" % draw(st.integers(0, 3)), "at": at,
                      "status": draw(st.sampled_from(STATUSES))}
        elif kind == "submitting":
            attempt = "attempt-%d" % number
            digest = draw(st.sampled_from(DIGESTS))
            attempts.append((attempt, digest))
            record = {"event": "submitting", "task_id": "", "at": at, "attempt": attempt, "mode": "t2v",
                      "model": "m", "request_digest": digest, "submitted_at": at}
        else:  # resolve an attempt: nothing was created, or the task it created
            attempt, digest = draw(st.sampled_from(attempts))
            if draw(st.booleans()):
                record = {"event": "submit-resolved", "task_id": "", "at": at, "attempt": attempt,
                          "outcome": "not-created"}
            else:
                task_id = "task-%d" % number
                task_ids.append(task_id)
                record = {"event": "submitted", "task_id": task_id, "at": at, "attempt": attempt,
                          "request_digest": digest, "submitted_at": at}
        lines.append(json.dumps(record, ensure_ascii=False).encode("utf-8"))
    data = b"".join(line + b"\n" for line in lines)
    if lines and draw(st.booleans()):  # a crash cut the last line (anywhere, even at its very end)
        data = data[:-1 - draw(st.integers(0, len(lines[-1])))]
    now = written + draw(st.sampled_from([0.0, 60.0, 600.0, 1800.0, HOUR, 23 * HOUR, 25 * HOUR, 49 * HOUR]))
    return data, now


def book_for(tmp_path: Path, data: bytes, now: float, block: int, warnings: Optional[list] = None) -> Journal:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / journal.JOURNAL_NAME).write_bytes(data)
    return Journal(tmp_path, clock=lambda: now, block=block, warn=(warnings.append if warnings is not None else None))


# New examples every run: coverage adds up across runs, each run keeps the suite under a minute.
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(journals(), st.sampled_from([1, 7, 64, 300, log.BLOCK]))
def test_the_tail_read_finds_exactly_the_duplicates_and_open_submits_a_full_read_finds(tmp_path, case, block):
    data, now = case
    book = book_for(tmp_path, data, now, block)
    for digest in DIGESTS:
        assert book.recent_duplicate(digest) == full_duplicate(book.path, digest, now)
        assert book.unresolved_intent(digest) == full_intent(book.path, digest, now)


@PROPERTY
@given(journals(), st.sampled_from([1, 13, 64, log.BLOCK]), st.integers(1, 12))
def test_find_and_list_recent_agree_with_a_full_read(tmp_path, case, block, limit):
    data, now = case
    book = book_for(tmp_path, data, now, block)
    everything = full_tasks(book.path)
    for task_id, (_, entry) in everything.items():
        assert book.find(task_id) == entry
    assert book.find("task-never") is None
    assert book.list_recent(limit) == full_listing(book.path)[:limit]
    assert book.tasks() == {t: e for t, (_, e) in everything.items()}
    assert book.find_many(list(everything)[:5] + ["nope"]) == {t: everything[t][1] for t in list(everything)[:5]}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(journals(), st.lists(st.sampled_from(["status", "saved", "submitted"]), max_size=6))
def test_find_remembers_where_it_looked_and_still_sees_what_is_appended_later(tmp_path, case, events):
    data, now = case
    book = book_for(tmp_path, data, now, 16)
    ids = list(full_tasks(book.path)) + ["task-late"]
    before = {t: book.find(t) for t in ids}  # fills find()'s memory
    assert before["task-late"] is None
    for number, event in enumerate(events):
        task_id = ids[number % len(ids)]
        book.append(event, task_id, status="RUNNING" if event == "status" else None, local_path="/x/%d" % number)
    after = full_tasks(book.path)
    for task_id in ids:
        assert book.find(task_id) == (after[task_id][1] if task_id in after else None)


def test_a_record_whose_clock_lagged_does_not_hide_an_earlier_submit_inside_the_window(tmp_path):
    """The margin at work: B read its clock SKEW before writing, after A's submit record; at
    `now` B's records are older than the window, A's submit is still inside it."""
    start = 1_000_000.0
    records = [
        {"event": "submitted", "task_id": "a", "at": start, "request_digest": "sha256:aa", "submitted_at": start - 10},
    ] + [  # more than STOP_RUN of them: it is the margin that keeps the scan going
        {"event": "status", "task_id": "b%d" % n, "at": start + 1 - SKEW, "status": "RUNNING"}
        for n in range(2 * journal.STOP_RUN)
    ] + [
        {"event": "submitted", "task_id": "c", "at": start + DUPLICATE_WINDOW - 600, "request_digest": "sha256:cc",
         "submitted_at": start + DUPLICATE_WINDOW - 600},
    ]
    now = start + DUPLICATE_WINDOW - 600
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    for block in (1, log.BLOCK):
        book = book_for(tmp_path, data, now, block)
        assert book.recent_duplicate("sha256:aa")["task_id"] == "a" == full_duplicate(book.path, "sha256:aa", now)["task_id"]


def test_the_tail_read_stops_at_old_records(tmp_path, monkeypatch):
    """A year of history is not read: the scan ends STOP_RUN records past the cutoff."""
    now = 10 * 365 * 86400.0
    lines = [json.dumps({"event": "submitted", "task_id": "old-%d" % i, "at": 1000.0 + i,
                         "request_digest": "sha256:x", "submitted_at": 1000.0 + i}) for i in range(5000)]
    lines.append(json.dumps({"event": "submitted", "task_id": "new", "at": now - 60, "request_digest": "sha256:y",
                             "submitted_at": now - 60}))
    book = book_for(tmp_path, "\n".join(lines).encode() + b"\n", now, log.BLOCK)
    parsed = []
    real = log._parse
    monkeypatch.setattr(log, "_parse", lambda line: parsed.append(line) or real(line))
    assert book.recent_duplicate("sha256:x") is None
    assert book.recent_duplicate("sha256:y")["task_id"] == "new"
    assert len(parsed) <= 2 * (journal.STOP_RUN + 1)


def test_find_parses_only_lines_that_name_the_task(tmp_path, monkeypatch):
    lines = [json.dumps({"event": "submitted", "task_id": "t-%d" % i, "at": float(i)}) for i in range(3000)]
    book = book_for(tmp_path, "\n".join(lines).encode() + b"\n", 5000.0, log.BLOCK)
    parsed = []
    real = log._parse
    monkeypatch.setattr(log, "_parse", lambda line: parsed.append(line) or real(line))
    assert book.find("t-1500")["task_id"] == "t-1500"
    assert all(b'"t-1500"' in line for line in parsed) and len(parsed) == 1
    del parsed[:]
    assert book.list_recent(3) == [{"task_id": "t-%d" % i, "submitted_at": float(i), "status": "PENDING"}
                                   for i in (2999, 2998, 2997)]
    assert len(parsed) == 3


# -- bad lines ----------------------------------------------------------------------------
def journal_with_bad_lines(tmp_path: Path) -> Path:
    good = [{"event": "submitted", "task_id": "t-%d" % i, "at": 100.0 + i, "request_digest": "sha256:d%d" % i,
             "submitted_at": 100.0 + i} for i in range(4)]
    data = b"".join([
        json.dumps(good[0]).encode() + b"\n",
        '{"event": "status", "task_id": "t-0", "at": 101, "status": "RUN\xff'.encode("latin-1") + b"\n",  # a bad byte
        json.dumps(good[1]).encode() + b"\n",
        b"#!&% garbage\n",
        b"[" * 100000 + b"]" * 100000 + b"\n",  # 100 000 deep
        json.dumps(good[2]).encode() + b"\n",
        json.dumps(good[3]).encode() + b"\n",
        b'{"event": "status", "task_id": "t-3", "at": 1',  # torn by a crash
    ])
    path = tmp_path / journal.JOURNAL_NAME
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("block", [5, log.BLOCK])
def test_a_bad_line_is_skipped_with_one_warning_and_every_other_line_counts(tmp_path, block):
    path = journal_with_bad_lines(tmp_path)
    warnings: List[str] = []
    book = Journal(tmp_path, clock=lambda: 200.0, warn=warnings.append, block=block)
    assert list(book.tasks()) == ["t-0", "t-1", "t-2", "t-3"]
    assert [e["task_id"] for e in book.list_recent(10)] == ["t-3", "t-2", "t-1", "t-0"]
    assert book.recent_duplicate("sha256:d0")["task_id"] == "t-0"
    assert book.find("t-3")["status"] == "PENDING"
    assert warnings == ["skipped 4 unreadable lines of %s (cut by a crash or a full disk, or not a JSON record); "
                        "every other line counts" % path]


def test_a_line_longer_than_the_limit_is_skipped_unparsed(tmp_path, monkeypatch):
    monkeypatch.setattr(log, "MAX_LINE", 100)
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"task_id": "a"}\n{"task_id": "' + b"b" * 300 + b'"}\n{"task_id": "c"}\n')
    for block in (7, 1000):
        lg = Log(path, block=block)
        assert [r["task_id"] for _, r in lg.forward()] == ["a", "c"]
        assert [r["task_id"] for _, r in lg.backward()] == ["c", "a"]
        assert lg.skipped == 1


def test_an_append_after_a_torn_line_starts_a_line_of_its_own(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"task_id": "a"}\n{"task_id": "b", "at')
    Log(path).append({"task_id": "c"})
    assert path.read_bytes() == b'{"task_id": "a"}\n{"task_id": "b", "at\n{"task_id": "c"}\n'
    assert [r["task_id"] for _, r in Log(path).backward()] == ["c", "a"]


@pytest.mark.parametrize("tear", [
    lambda path: path.open("ab").write(b'{"task_id": "other", "at'),  # another writer died mid-line
    lambda path: os.truncate(path, path.stat().st_size - 1),  # our own newline lost (a disk full, a crash)
    lambda path: path.write_bytes(b'{"task_id": "x"}\n{"task_id": "y", "a'),  # rewritten by someone else
])
def test_a_line_torn_after_this_process_appended_is_still_not_glued_onto(tmp_path, tear):
    path = tmp_path / "x.jsonl"
    lg = Log(path)
    lg.append({"task_id": "a"})
    tear(path)
    lg.append({"task_id": "c"})
    assert path.read_bytes().endswith(b'\n{"task_id": "c"}\n')
    assert [r["task_id"] for _, r in Log(path).backward()][0] == "c"


def test_a_log_replaced_by_another_file_of_the_same_size_is_checked_again(tmp_path):
    """The end this process left is known by inode and size: another file of the very same size
    put in its place (a restore, a sync tool) may end mid-line."""
    path = tmp_path / "x.jsonl"
    lg = Log(path)
    lg.append({"task_id": "a"})
    size = path.stat().st_size
    other = tmp_path / "other"
    torn = (b'{"task_id": "b", "at": ' + b"9" * size)[:size]  # same size, cut mid-line
    other.write_bytes(torn)
    os.replace(str(other), str(path))
    lg.append({"task_id": "c"})
    assert path.read_bytes() == torn + b'\n{"task_id": "c"}\n'


def test_consecutive_appends_of_one_process_read_no_byte_back(tmp_path, monkeypatch):
    path = tmp_path / "x.jsonl"
    lg = Log(path)
    lg.append({"task_id": "a"})
    reads = []
    monkeypatch.setattr(log, "_pread", lambda fd, n, at: reads.append(at) or os.pread(fd, n, at))
    lg.append({"task_id": "b"})
    lg.append({"task_id": "c"})
    assert reads == []
    assert [r["task_id"] for _, r in lg.forward()] == ["a", "b", "c"]


def test_a_last_line_missing_only_its_newline_still_counts(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"task_id": "a"}\n{"task_id": "b"}')
    lg = Log(path)
    assert [r["task_id"] for _, r in lg.forward()] == ["a", "b"]
    assert [r["task_id"] for _, r in lg.backward()] == ["b", "a"]
    assert lg.skipped == 0


# -- what is written ------------------------------------------------------------------------
def test_each_line_is_redacted_and_urls_lose_their_query(tmp_path):
    path = tmp_path / "x.jsonl"
    lg = Log(path, redact=lambda text: text.replace("sk-secret-123", "***"))
    lg.append({"task_id": "t", "error": "401: key sk-secret-123 is invalid",
               "video_url": "https://oss.example/v.mp4?Expires=1&OSSAccessKeyId=AK&Signature=abc",
               "request": {"img_url": "https://x.example/a.png?token=zzz#frag", "prompt": "see https://y/?q=1"},
               "media_urls": ["https://z.example/b.png?sig=1"]})
    text = path.read_text(encoding="utf-8")
    for secret in ("sk-secret-123", "Signature", "OSSAccessKeyId", "token=zzz", "sig=1", "#frag"):
        assert secret not in text
    record = json.loads(text)
    assert record["video_url"] == "https://oss.example/v.mp4"
    assert record["request"] == {"img_url": "https://x.example/a.png", "prompt": "see https://y/?q=1"}
    assert record["error"] == "401: key *** is invalid"


def test_a_mask_that_would_break_the_json_masks_each_string_instead(tmp_path):
    path = tmp_path / "x.jsonl"
    Log(path, redact=lambda text: text.replace('a", "b', "***")).append({"x": "a", "b": 'a", "b'})
    assert json.loads(path.read_text(encoding="utf-8")) == {"x": "a", "b": "***"}


def test_odd_text_is_stored_as_one_valid_line(tmp_path):
    path = tmp_path / "x.jsonl"
    odd = "lone \udc80 surrogate, line\u2028separator, \x85 NEL, \r\n CRLF"
    Log(path).append({"task_id": "t", "prompt": odd})
    assert path.read_bytes().count(b"\n") == 1
    [(_, record)] = list(Log(path).forward())
    assert record["prompt"] == odd


def test_concurrent_writers_never_interleave_lines(tmp_path):
    """Four threads here and two other processes append 4 KB records at once."""
    path = tmp_path / "x.jsonl"
    code = ("import sys; sys.path.insert(0, %r)\nfrom qianwen_video.store.log import Log\nlg = Log(%r)\n"
            "for i in range(150): lg.append({'task_id': 'p%%s-%%d' %% (sys.argv[1], i), 'pad': 'x' * 4000})"
            % (str(Path(journal.__file__).parents[2]), str(path)))
    procs = [subprocess.Popen([sys.executable, "-c", code, str(n)]) for n in range(2)]
    lg = Log(path)
    threads = [threading.Thread(target=lambda n=n: [lg.append({"task_id": "t%d-%d" % (n, i), "pad": "y" * 4000})
                                                    for i in range(150)]) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [p.wait(60) for p in procs] == [0, 0]
    ids = [r["task_id"] for _, r in Log(path).forward()]
    assert len(ids) == len(set(ids)) == 6 * 150
    assert Log(path).skipped == 0


# -- never through a symlink, never a FIFO -----------------------------------------------------
def test_a_symlinked_log_is_neither_written_nor_read(tmp_path):
    target = tmp_path / "skills" / "x" / "SKILL.md"
    target.parent.mkdir(parents=True)
    target.write_text('{"task_id": "planted", "event": "submitted"}\n', encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / journal.JOURNAL_NAME).symlink_to(target)
    warnings: List[str] = []
    book = Journal(out, warn=warnings.append)
    with pytest.raises(NotRegular):
        book.append("submitted", "t-1")
    assert book.find("planted") is None and book.tasks() == {} and book.list_recent(5) == []
    assert target.read_text(encoding="utf-8") == '{"task_id": "planted", "event": "submitted"}\n'
    assert len(warnings) == 1 and "not a regular file" in warnings[0] and str(book.path) in warnings[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_log_is_refused_at_once(tmp_path):
    os.mkfifo(str(tmp_path / journal.JOURNAL_NAME))
    book = Journal(tmp_path, warn=lambda text: None)
    outcome: Dict[str, Any] = {}

    def use() -> None:
        outcome["found"] = book.find("t")
        outcome["listed"] = book.list_recent(3)
        try:
            book.append("submitted", "t")
        except OSError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=use, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "blocked on the FIFO"
    assert outcome["found"] is None and outcome["listed"] == []
    assert isinstance(outcome["error"], NotRegular)


def test_a_directory_in_the_logs_place_is_refused(tmp_path):
    (tmp_path / "x.jsonl").mkdir()
    with pytest.raises(NotRegular):
        Log(tmp_path / "x.jsonl").append({"a": 1})
    with pytest.raises(NotRegular):
        list(Log(tmp_path / "x.jsonl").forward())


def test_a_planted_lock_symlink_is_not_followed(tmp_path):
    victim = tmp_path / "Cargo.lock"
    victim.write_text("keep", encoding="utf-8")
    (tmp_path / "x.jsonl.lock").symlink_to(victim)
    with pytest.raises(OSError):
        Log(tmp_path / "x.jsonl").lock().try_acquire()
    assert victim.read_text(encoding="utf-8") == "keep"


# -- the manifest --------------------------------------------------------------------------
def test_item_keys_follow_content_not_line_numbers():
    before = manifest.item_keys(["sha256:a", "sha256:b", "sha256:a", "sha256:c"])
    assert before == ["sha256:a#1", "sha256:b#1", "sha256:a#2", "sha256:c#1"]
    inserted = manifest.item_keys(["sha256:new", "sha256:a", "sha256:b", "sha256:a", "sha256:c"])
    reordered = manifest.item_keys(["sha256:c", "sha256:a", "sha256:b", "sha256:a"])
    assert set(before) <= set(inserted) and set(before) == set(reordered)


def test_the_manifest_is_read_once_and_kept_up_to_date_in_memory(tmp_path, monkeypatch):
    path = tmp_path / ("b" + manifest.MANIFEST_SUFFIX)
    first = manifest.Manifest(path, clock=lambda: 5.0)
    first.append("run", file="b.jsonl", items=2)
    first.append("intent", "sha256:a#1", 1, model="m", mode="t2v", started=4.0)
    first.append("submitted", "sha256:a#1", 1, task_id="t-1")
    first.append("saved", "sha256:a#1", 1, task_id="t-1", local_path="/v/1.mp4",
                 video_url="https://oss/v.mp4?Signature=s")
    first.append("intent", "sha256:b#1", 2, model="m", mode="t2v", started=4.5)

    again = manifest.Manifest(path, clock=lambda: 6.0)
    reads = []
    real = log.Log.forward
    monkeypatch.setattr(log.Log, "forward", lambda self, start=0: reads.append(1) or real(self, start))
    done = again.entry("sha256:a#1")
    assert done["finished"] and done["status"] == "SUCCEEDED" and done["task_ids"] == ["t-1"]
    assert done["video_url"] == "https://oss/v.mp4" and done["index"] == 1
    assert again.entry("sha256:b#1")["intent_at"] == 4.5
    for number in range(50):  # the batch's later events: no further reads
        again.append("status", "sha256:b#1", 2, task_id="t-2", status="RUNNING")
        assert again.entry("sha256:b#1")["status"] == "RUNNING"
    assert reads == [1]
    assert [e["key"] for e in again.unclaimed(["sha256:b#1"])] == ["sha256:a#1"]


def test_an_older_manifest_keyed_by_line_number_keeps_its_items(tmp_path):
    path = tmp_path / ("b" + manifest.MANIFEST_SUFFIX)
    lines = [{"event": "submitted", "index": 1, "digest": "sha256:a", "task_id": "t-1"},
             {"event": "submitted", "index": 3, "digest": "sha256:a", "task_id": "t-3"},
             {"event": "saved", "index": 3, "digest": "sha256:a", "task_id": "t-3", "local_path": "/v/3.mp4"},
             {"event": "submitted", "index": 2, "digest": "sha256:b", "task_id": "t-2"}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    entries = manifest.Manifest(path).load()
    assert {k: e["task_id"] for k, e in entries.items()} == {"sha256:a#1": "t-1", "sha256:a#2": "t-3",
                                                             "sha256:b#1": "t-2"}
    assert entries["sha256:a#2"]["finished"]


def test_a_manifest_that_cannot_be_read_stops_the_batch(tmp_path):
    target = tmp_path / "elsewhere.jsonl"
    target.write_text("", encoding="utf-8")
    path = tmp_path / ("b" + manifest.MANIFEST_SUFFIX)
    path.symlink_to(target)
    with pytest.raises(CliError, match="cannot read the batch manifest"):
        manifest.Manifest(path).load()


def test_manifest_lines_are_redacted_and_keep_no_signed_url(tmp_path):
    """Issue 14 items 13 and 14, at the store: what the batch hands the manifest."""
    path = tmp_path / ("b" + manifest.MANIFEST_SUFFIX)
    book = manifest.Manifest(path, redact=lambda text: text.replace("sk-live-abcdef", "***"))
    book.append("not_created", "sha256:a#1", 1, error="401 InvalidApiKey: sk-live-abcdef")
    book.append("saved", "sha256:a#1", 1, video_url="https://oss/v.mp4?Expires=9&Signature=zz", local_path="/v.mp4")
    text = path.read_text(encoding="utf-8")
    assert "sk-live-abcdef" not in text and "Signature" not in text and "Expires" not in text


# -- names from the server ------------------------------------------------------------------------
@pytest.mark.parametrize("url, expected", [
    ("https://oss/r/clip.mp4?Signature=x", "clip.mp4"),
    ("https://oss/r/..", "task-1.mp4"),
    ("https://oss/r/.", "task-1.mp4"),
    ("https://oss/r/%2e%2e", "task-1.mp4"),
    ("https://oss/r/..%2f..%2fetc%2fpasswd.mp4", "passwd.mp4"),
    ("https://oss/r/.hidden.mov", "hidden.mov"),
    ("https://oss/r/-rf.mp4", "rf.mp4"),
    ("https://oss/r/noext", "task-1.mp4"),
    ("https://oss/r/a b;c.mp4", "a_b_c.mp4"),
    ("https://oss/r/猫.mp4", "猫.mp4"),
    ("https://[broken", "task-1.mp4"),
])
def test_video_names_from_the_server_are_safe(url, expected):
    assert outputs.video_name(url, "task-1") == expected


def test_a_long_server_name_is_bounded_and_keeps_its_extension():
    assert outputs.video_name("https://oss/r/" + "a" * 300 + ".mp4", "t") == "a" * 116 + ".mp4"
    cjk = outputs.video_name("https://oss/r/" + "猫" * 100 + ".mov", "t")
    assert cjk.endswith(".mov") and len(cjk.encode("utf-8")) <= outputs.NAME_LIMIT
    assert outputs.video_name("https://oss/r/x", "t" * 300).endswith(".mp4")
    assert len(outputs.video_name("https://oss/r/x", "t" * 300)) <= outputs.NAME_LIMIT


@pytest.mark.parametrize("task_id", ["../../../Cargo", "..", ".", "a/b", "a\\b", "x\x00y", "", "t" * 200])
def test_the_download_lock_of_any_task_id_stays_in_its_directory(tmp_path, task_id):
    lock = outputs.download_lock(tmp_path, task_id)
    assert lock.path == tmp_path / ".downloads.lock"  # the id is hashed to a byte of it, never a path
    assert lock.try_acquire()
    lock.release()
    assert [p.name for p in tmp_path.iterdir()] == [".downloads.lock"]


def test_a_claim_never_writes_through_a_planted_part_symlink(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep", encoding="utf-8")
    (tmp_path / "v.mp4.part").symlink_to(victim)
    video, _ = outputs.claim(tmp_path / "v.mp4")
    assert video == tmp_path / "v_1.mp4" and victim.read_text(encoding="utf-8") == "keep"


def test_journal_fsyncs_exactly_the_records_a_power_cut_must_not_lose(tmp_path, monkeypatch):
    """Intent, submitted and saved records are fsynced before the step they guard; a status (the
    next check writes it again) and a download's chosen name (a lost one means a fresh download
    under a new name) are not; a batch's submitted record is left to its manifest."""
    synced = []
    monkeypatch.setattr(log.os, "fsync", lambda fd: synced.append(fd))
    book = Journal(tmp_path, clock=lambda: 1.0)
    for event, fsyncs in (("submitted", 1), ("status", 0), ("downloading", 0), ("status", 0), ("saved", 1)):
        before = len(synced)
        book.append(event, "t1", status="RUNNING")
        assert len(synced) - before == fsyncs, event
    attempt = book.intend(mode="t2v", model="m", request_digest="sha256:x", submitted_at=1.0)
    assert attempt and len(synced) == 3
    book.append("submitted", "t2", durable=False)
    assert len(synced) == 3


def test_manifest_groups_task_ids_and_saves_into_one_fsync(tmp_path, monkeypatch):
    """An intent is fsynced before its create call; submitted and saved records wait for the next
    fsync of the file: an intent's, or sync(), which the batch calls at each pass (once they are a
    window old, see the next test)."""
    from qianwen_video.store.manifest import Manifest

    synced = []
    monkeypatch.setattr(log.os, "fsync", lambda fd: synced.append(fd))
    manifest = Manifest(tmp_path / "b.manifest.jsonl", clock=lambda: 1.0)
    steps = [("intent", 1), ("submitted", 0), ("intent", 1), ("submitted", 0), ("saved", 0), ("status", 0)]
    for event, fsyncs in steps:
        before = len(synced)
        manifest.append(event, "k%d" % len(synced), 1, task_id="t")
        assert len(synced) - before == fsyncs, event
    manifest.sync()  # one fsync for the submitted and saved records since the last intent
    assert len(synced) == 3
    manifest.sync()  # nothing new: nothing to do
    assert len(synced) == 3
    manifest.append("intent", "k9", 1)
    manifest.append("submitted", "k9", 1, task_id="t9")
    manifest.append("intent", "k10", 2)  # this fsync covers the submitted line before it
    manifest.sync()
    assert len(synced) == 5


@pytest.mark.parametrize("written_at, now, after, fsyncs", [
    (100.0, 100.4, 1.0, 0),   # younger than the window: it waits for the next intent's fsync
    (100.0, 101.0, 1.0, 1),   # the window's age: fsynced now
    (100.0, 100.4, 0.0, 1),   # before a long nap: fsynced whatever its age
    (100.0, 40.0, 1.0, 1),    # the clock went back: fsynced rather than kept waiting
])
def test_manifest_sync_waits_for_the_oldest_grouped_record_to_be_a_window_old(tmp_path, monkeypatch, written_at,
                                                                                now, after, fsyncs):
    from qianwen_video.store.manifest import Manifest

    synced, clock = [], [written_at]
    monkeypatch.setattr(log.os, "fsync", lambda fd: synced.append(fd))
    manifest = Manifest(tmp_path / "b.manifest.jsonl", clock=lambda: clock[0])
    manifest.append("submitted", "k1", 1, task_id="t1")
    clock[0] = written_at + 0.2
    manifest.append("saved", "k2", 2, task_id="t2")  # a younger one does not restart the wait
    clock[0] = now
    manifest.sync(after=after)
    assert len(synced) == fsyncs
    manifest.sync()
    assert len(synced) == 1  # whatever waited is fsynced by a plain sync, once


def test_find_answers_a_task_this_journal_submitted_from_memory_until_another_writer_appends(tmp_path):
    book = Journal(tmp_path, clock=lambda: 1.0)
    book.append("submitted", "t1", prompt="a", output_dir=str(tmp_path))
    book.append("downloading", "t1", local_path=str(tmp_path / "a.mp4"))
    reads = []
    original = book.log.backward
    book.log.backward = lambda *a, **k: reads.append(1) or original(*a, **k)
    assert book.find("t1")["downloading"] == str(tmp_path / "a.mp4")
    assert reads == []  # from memory: nothing was read
    other = Journal(tmp_path, clock=lambda: 2.0)  # another run appends to the same journal
    other.append("saved", "t1", status="SUCCEEDED", local_path=str(tmp_path / "a.mp4"))
    view = book.find("t1")
    assert reads and view["local_path"] == str(tmp_path / "a.mp4")  # read from the file: nothing missed
    book.append("status", "t1", status="SUCCEEDED")  # its own cache stays off once another wrote
    reads.clear()
    assert book.find("t1")["local_path"] == str(tmp_path / "a.mp4") and reads

@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.sampled_from(["mine", "theirs"]),
                                st.sampled_from(["submitted", "status", "downloading", "saved"]),
                                st.sampled_from(["t1", "t2", "t3"])), max_size=25))
def test_find_from_memory_equals_find_from_the_file(tmp_path_factory, steps):
    directory = tmp_path_factory.mktemp("own")
    mine, theirs = Journal(directory, clock=lambda: 1.0), Journal(directory, clock=lambda: 2.0)
    for n, (who, event, task) in enumerate(steps):
        (mine if who == "mine" else theirs).append(event, task, status="S%d" % n, local_path="/v%d.mp4" % n)
        fresh = Journal(directory)  # knows nothing but the file
        for task_id in ("t1", "t2", "t3"):
            assert mine.find(task_id) == fresh.find(task_id), (steps[:n + 1], task_id)


# -- scrub: signed URLs lose their query in every *url* field, and only there -----------------
@pytest.mark.parametrize("record, expected", [
    ({"event": "saved", "n": 1, "ok": True, "x": None, "f": 1.5}, {"event": "saved", "n": 1, "ok": True, "x": None,
                                                                     "f": 1.5}),
    ({"video_url": "https://h/v.mp4?Signature=s", "note": "https://h/v.mp4?keep=1"},
     {"video_url": "https://h/v.mp4", "note": "https://h/v.mp4?keep=1"}),
    ({"Img_URL": "http://h/a.png#frag"}, {"Img_URL": "http://h/a.png"}),
    ({"input": {"ref_urls": ["https://h/a?x=1", "oss://b/c?d"]}}, {"input": {"ref_urls": ["https://h/a", "oss://b/c?d"]}}),
    ({"media": [{"url": "https://h/m?sig=1"}], "n": 2}, {"media": [{"url": "https://h/m"}], "n": 2}),
    ({1: "https://h/a?b", "url": "https://h/a?b"}, {1: "https://h/a?b", "url": "https://h/a"}),
    ({"uurl": "https://h/a?b", "u": "rl"}, {"uurl": "https://h/a", "u": "rl"}),
    ({"u": "https://h/a?b", "rl": 1}, {"u": "https://h/a?b", "rl": 1}),  # no key names a URL
])
def test_scrub(record, expected):
    from qianwen_video.store.log import scrub

    before = json.dumps(record, default=str)
    assert scrub(record) == expected
    assert json.dumps(record, default=str) == before  # the caller's record is left as it was


def test_scrub_looks_into_values_of_any_container_type():
    import collections

    from qianwen_video.store.log import scrub

    class Text(str):
        pass

    nested = collections.OrderedDict([("video_url", "https://h/v?sig=1")])
    assert scrub({"task": nested}) == {"task": {"video_url": "https://h/v"}}
    assert scrub({"items": ("https://h/v?sig=1",), "video_url": Text("https://h/v?sig=1")}) == {
        "items": ["https://h/v?sig=1"], "video_url": "https://h/v"}


# -- the descriptor kept between appends --------------------------------------------------------
def counting_opens(monkeypatch) -> List[str]:
    """The paths os.open is called with from now on."""
    opened: List[str] = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda p, *a, **k: opened.append(str(p)) or real_open(p, *a, **k))
    return opened


def test_appends_reuse_one_descriptor_while_the_path_names_its_file(tmp_path, monkeypatch):
    path = tmp_path / "x.jsonl"
    lg = Log(path)
    opened = counting_opens(monkeypatch)
    for task in "abcde":
        lg.append({"task_id": task}, durable=task == "e")
    lg.sync()
    assert opened.count(str(path)) == 1
    assert [r["task_id"] for _, r in lg.forward()] == list("abcde")


@pytest.mark.parametrize("change", ["removed", "replaced", "moved away", "made a link"])
def test_an_append_after_the_log_changed_goes_to_what_the_path_names_now(tmp_path, change):
    path = tmp_path / "x.jsonl"
    lg = Log(path)
    lg.append({"task_id": "a"})
    elsewhere = tmp_path / "elsewhere.jsonl"
    if change == "removed":
        path.unlink()
    elif change == "replaced":
        elsewhere.write_text('{"task_id": "z"}\n')
        os.replace(str(elsewhere), str(path))
    elif change == "moved away":
        os.replace(str(path), str(elsewhere))
    else:
        os.replace(str(path), str(elsewhere))
        path.symlink_to(elsewhere)
        with pytest.raises(NotRegular):
            lg.append({"task_id": "b"})
        assert elsewhere.read_text() == '{"task_id": "a"}\n'  # nothing written through the link
        return
    lg.append({"task_id": "b"})
    lg.sync()
    expected = {"removed": ["b"], "replaced": ["z", "b"], "moved away": ["b"]}[change]
    assert [r["task_id"] for _, r in lg.forward()] == expected
    if change == "moved away":
        assert elsewhere.read_text() == '{"task_id": "a"}\n'


@pytest.mark.parametrize("change", [None, "appended elsewhere", "replaced", "removed"])
def test_a_snapshot_reads_the_kept_descriptor_only_while_it_is_the_file(tmp_path, monkeypatch, change):
    """(device, inode, size) as an open and fstat would tell, without the open while the
    descriptor kept from the last append is still the path's file."""
    path = tmp_path / "x.jsonl"
    lg = Log(path)
    lg.append({"task_id": "a"})
    if change == "appended elsewhere":  # another process's line: the size moves on
        with open(str(path), "ab") as other:
            other.write(b'{"task_id": "b"}\n')
    elif change == "replaced":
        (tmp_path / "new.jsonl").write_text('{"task_id": "z"}\n{"task_id": "y"}\n')
        os.replace(str(tmp_path / "new.jsonl"), str(path))
    elif change == "removed":
        path.unlink()
    opened = counting_opens(monkeypatch)
    ident = lg.snapshot()
    if change == "removed":
        assert ident is None
        return
    info = os.stat(str(path))
    assert ident == (info.st_dev, info.st_ino, info.st_size)
    assert opened.count(str(path)) == (1 if change == "replaced" else 0)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors through /proc")
def test_a_log_no_longer_used_closes_its_descriptor(tmp_path):
    import gc

    before = len(os.listdir("/proc/self/fd"))
    logs = [Log(tmp_path / ("%d.jsonl" % n)) for n in range(20)]
    for lg in logs:
        lg.append({"task_id": "a"})
    assert len(os.listdir("/proc/self/fd")) >= before + 20
    del logs, lg
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= before


def test_a_claim_makes_no_part_beside_an_earlier_answer(tmp_path, monkeypatch):
    """A failed download leaves its answer (and the journal's "downloading" line): a resume of
    that task may take a `.part` at that name for its own, so another claim never makes one there."""
    (tmp_path / "clip.response.json").write_text("{}")
    (tmp_path / "clip_1.mp4").write_bytes(b"earlier video")
    created = []
    real = outputs._create_new
    monkeypatch.setattr(outputs, "_create_new", lambda path: created.append(path.name) or real(path))
    video, response = outputs.claim(tmp_path / "clip.mp4")
    assert (video.name, response.name) == ("clip_2.mp4", "clip_2.response.json")
    assert created == ["clip_2.mp4.part"]


def test_where_open_files_cannot_be_renamed_each_append_closes_its_descriptor(tmp_path, monkeypatch):
    """Windows: an open file (and its folder) cannot be deleted or renamed, so nothing is kept."""
    monkeypatch.setattr(log, "_KEEP_OPEN", False)
    path = tmp_path / "x.jsonl"
    lg = Log(path)
    opened = counting_opens(monkeypatch)
    for task in "abc":
        lg.append({"task_id": task})
        os.replace(str(path), str(tmp_path / "moved.jsonl"))  # allowed: nothing holds it
        os.replace(str(tmp_path / "moved.jsonl"), str(path))
    assert opened.count(str(path)) == 3
    assert [r["task_id"] for _, r in lg.forward()] == list("abc")
