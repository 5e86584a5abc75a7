"""Fault suite for the store (issue 14): the journal, names and locks under hostile files and answers.

Each case failed before its fix; each asserts the request log or the number of created
tasks, and the files left.

| item | attack | now |
|---|---|---|
| 4 | bad UTF-8 byte, garbage, 100 000-deep and torn lines in the journal | skipped with one warning; `--list` and the duplicate check still see every other task: no second payment |
| 7 | a line inserted at the top of a finished batch | only the new item is submitted |
| 9 | a server task id `../../../Cargo` | the download lock is a byte of `.downloads.lock` at a hashed offset (the id names no path); an unrelated Cargo.lock survives, no stray directory |
| 11, 18 | the journal is a symlink to a skills/…/SKILL.md | nothing is written through it |
| 20 | `--task-id ID` run from the directory holding the journal | the journal is found there, the video goes where it was recorded |
| 21 | the journal is a FIFO | no hang: refused at once, the run ends |
| 21 | a 300-character server file name | saved under a bounded name, exit 0 |
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from qianwen_video.store import journal, outputs
from tests.emulator import Emulator, Reply
from tests.faultlog import assert_log
from tests.harness import FIXTURE_MP4, KEY, creates, env_for, run, run_subprocess

OUT = Path("output") / "qianwen-video-generation"
TASK = r"/api/v1/tasks/[^/]+$"
RESULT = r"^/results/"
REQUEST = {"prompt": "a lighthouse at dawn"}


@pytest.fixture()
def emu():
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05) as server:
        yield server


def generate(emu, cwd: Path, *extra: str):
    return run(["--request", json.dumps(REQUEST), "--poll-interval", "0.05", "--print-response"] + list(extra),
               env_for(emu), cwd)


def test_item_4_bad_lines_in_the_journal_are_skipped_and_the_paid_request_is_not_paid_again(emu, tmp_path):
    first = generate(emu, tmp_path)
    assert first.code == 0, first.stderr
    path = tmp_path / OUT / journal.JOURNAL_NAME
    good = path.read_bytes()
    # A full disk cut a line inside a CJK path, a stray write, a hostile line, then a crash mid-line.
    path.write_bytes(b'{"event": "status", "task_id": "x", "local_path": "\xe8\xa7\n' + b"garbage\x00\n"
                     + b"[" * 100000 + b"]" * 100000 + b"\n" + good + b'{"event": "status", "task_id": "')
    listed = run(["--list", "--print-response"], env_for(emu), tmp_path)
    assert listed.code == 0, listed.stderr
    assert [t["task_id"] for t in listed.json()["tasks"]] == [first.json()["task_id"]]
    assert "skipped 4 unreadable lines of %s" % path in listed.stderr

    again = generate(emu, tmp_path)
    assert again.code == 0, again.stderr
    assert "Video already saved: " in again.stderr
    assert again.stderr.count("unreadable line") == 1
    assert len(creates(emu)) == 1
    assert len(list((tmp_path / OUT).glob("*.mp4"))) == 1


def test_item_11_18_a_journal_symlinked_to_a_skill_file_gets_no_records(emu, tmp_path):
    skill = tmp_path / "skills" / "other" / "SKILL.md"
    skill.parent.mkdir(parents=True)
    skill.write_text("# other skill\n", encoding="utf-8")
    (tmp_path / OUT).mkdir(parents=True)
    (tmp_path / OUT / journal.JOURNAL_NAME).symlink_to(skill)
    result = generate(emu, tmp_path)
    assert skill.read_text(encoding="utf-8") == "# other skill\n"
    assert (tmp_path / OUT / journal.JOURNAL_NAME).is_symlink()
    assert "not a regular file" in result.stderr and "Traceback" not in result.stderr
    assert len(creates(emu)) <= 1


def test_item_9_a_task_id_with_dot_dot_cannot_touch_another_file(emu, tmp_path):
    evil = "../../../Cargo"
    victim = tmp_path / "output" / "Cargo.lock"  # where a lock file named ".download-" + evil + ".lock" once led
    victim.parent.mkdir(parents=True)
    victim.write_text("[[package]]\n", encoding="utf-8")
    video_url = emu.url + "/results/evil/clip.mp4"
    emu.script("POST", r"/video-synthesis$",
               Reply(200, json={"request_id": "r-1", "output": {"task_id": evil, "task_status": "PENDING"}}))
    emu.script("GET", TASK, *[Reply(200, json={"request_id": "r-2", "output": {
        "task_id": evil, "task_status": "SUCCEEDED", "video_url": video_url}})] * 3)
    emu.script("GET", RESULT, Reply(200, body=FIXTURE_MP4.read_bytes(), content_type="video/mp4"))
    result = generate(emu, tmp_path)
    assert "Traceback" not in result.stderr
    assert victim.read_text(encoding="utf-8") == "[[package]]\n"
    assert sorted(p.name for p in (tmp_path / "output").iterdir()) == ["Cargo.lock", "qianwen-video-generation"]
    assert not [p for p in (tmp_path / OUT).iterdir() if p.is_dir()], "no directory made from the id"
    assert all(p == victim or p.parent == tmp_path / OUT for p in tmp_path.rglob("*.lock"))


def test_item_20_task_id_from_the_directory_holding_the_journal_finds_it(emu, tmp_path):
    submitted = run(["--request", json.dumps(REQUEST), "--output", "renders", "--submit-only"], env_for(emu), tmp_path)
    assert submitted.code == 0, submitted.stderr
    task_id = submitted.stdout.strip()
    renders = tmp_path / "renders"
    done = run(["--task-id", task_id, "--poll-interval", "0.05", "--print-response"], env_for(emu), renders)
    assert done.code == 0, done.stderr
    document = done.json()
    assert (document["mode"], document["model"]) == ("t2v", journal.Journal(renders).find(task_id)["model"])
    assert Path(document["local_path"]).parent == renders
    assert not (renders / "output").exists(), "the video went to a default folder under another name"
    assert_log(emu, ["POST create", "GET task+", "GET result"])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_item_21_a_journal_that_is_a_fifo_never_blocks(emu, tmp_path):
    (tmp_path / OUT).mkdir(parents=True)
    fifo = tmp_path / OUT / journal.JOURNAL_NAME
    os.mkfifo(str(fifo))
    env = env_for(emu)
    listed = run_subprocess(["--list"], env, tmp_path, timeout=30)  # a blocked open() would time out here
    assert listed.code == 0 and "not a regular file" in listed.stderr, listed.stderr
    result = run_subprocess(["--request", json.dumps(REQUEST), "--poll-interval", "0.05"], env, tmp_path, timeout=30)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    assert "not a regular file" in result.stderr
    assert result.code in (0, 1) and len(creates(emu)) <= 1
    assert fifo.exists() and not fifo.is_file()


def test_item_21_a_300_character_server_file_name_still_saves(emu, tmp_path):
    name = "v" * 300 + ".mp4"
    submitted = run(["--request", json.dumps(REQUEST), "--submit-only"], env_for(emu), tmp_path)
    task_id = submitted.stdout.strip()
    emu.script("GET", TASK, Reply(200, json={"request_id": "r", "output": {
        "task_id": task_id, "task_status": "SUCCEEDED", "video_url": emu.url + "/results/x/" + name + "?Expires=1"}}))
    emu.script("GET", RESULT, Reply(200, body=FIXTURE_MP4.read_bytes(), content_type="video/mp4"))
    done = run(["--task-id", task_id, "--print-response"], env_for(emu), tmp_path)
    assert done.code == 0, done.stderr
    saved = Path(done.json()["local_path"])
    assert saved.name == "v" * (outputs.NAME_LIMIT - 4) + ".mp4"
    assert saved.read_bytes() == FIXTURE_MP4.read_bytes()
    assert_log(emu, ["POST create", "GET task [Reply]", "GET result [Reply]"])


def test_item_7_a_line_inserted_at_the_top_of_a_finished_batch_submits_only_that_line(emu, tmp_path):
    items = [{"prompt": "clip %d" % i, "model": "happyhorse-1.0-t2v"} for i in range(3)]
    batch_file = tmp_path / "b.jsonl"
    args = ["--batch", "b.jsonl", "--output", "out", "--poll-interval", "0.05"]
    batch_file.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    assert run(args, env_for(emu), tmp_path).code == 0
    new = {"prompt": "a new first shot", "model": "happyhorse-1.0-t2v"}
    batch_file.write_text("".join(json.dumps(i) + "\n" for i in [new] + items[::-1]), encoding="utf-8")
    again = run(args, env_for(emu), tmp_path)
    assert again.code == 0, again.stderr
    assert len(creates(emu)) == 4
    assert [r.json["input"]["prompt"] for r in creates(emu)][-1] == "a new first shot"


@pytest.mark.parametrize("how", ["a directory", "a full disk"])
def test_item_5_an_intent_that_cannot_be_journaled_sends_nothing(emu, tmp_path, monkeypatch, how):
    """If the tool cannot record that it is about to pay, it does not pay: exit 1 with the
    reason, no create call; after the cause is fixed, the same command pays exactly once."""
    directory = tmp_path / OUT
    directory.mkdir(parents=True)
    if how == "a directory":
        (directory / journal.JOURNAL_NAME).mkdir()
    else:
        from qianwen_video.store import log

        real = log.Log.append

        def full(self, record, durable=True):
            if record.get("event") == "submitting":
                raise OSError(28, "No space left on device")
            return real(self, record, durable)

        monkeypatch.setattr(log.Log, "append", full)
    refused = generate(emu, tmp_path)
    assert refused.code == 1
    assert "nothing was sent" in refused.stderr and "submitting anyway" not in refused.stderr
    assert creates(emu) == [] and emu.created_count() == 0
    monkeypatch.undo()
    if how == "a directory":
        (directory / journal.JOURNAL_NAME).rmdir()
    paid = generate(emu, tmp_path)
    assert paid.code == 0, paid.stderr
    assert emu.created_count() == 1
