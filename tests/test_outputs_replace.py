"""outputs.replace: the rename into place survives a brief hold (an antivirus scan on Windows)."""
from __future__ import annotations

import errno
import json
import os

import pytest

from qianwen_video.store import outputs
from tests.emulator import Emulator
from tests.harness import KEY, env_for, run

REAL_REPLACE = os.replace


def refusing(times: int, when=lambda target: True):
    """os.replace that raises PermissionError (as Windows does for a held file) *times* times."""
    calls = []

    def replace(source, target):
        calls.append(str(target))
        if when(str(target)) and sum(1 for c in calls if when(c)) <= times:
            raise PermissionError(errno.EACCES, "The process cannot access the file", str(target))
        return REAL_REPLACE(source, target)

    return replace, calls


def test_a_transient_hold_is_waited_out(tmp_path, monkeypatch):
    source, target = tmp_path / "a.tmp", tmp_path / "a.json"
    source.write_text("new")
    target.write_text("old")
    replace, calls = refusing(2)
    monkeypatch.setattr(os, "replace", replace)
    sleeps = []
    outputs.replace(source, target, sleeps.append)
    assert target.read_text() == "new" and not source.exists()
    assert sleeps == [0.2, 0.4] and len(calls) == 3


def test_a_hold_that_does_not_end_raises_the_last_permission_error(tmp_path, monkeypatch):
    source, target = tmp_path / "a.tmp", tmp_path / "a.json"
    source.write_text("new")
    replace, calls = refusing(99)
    monkeypatch.setattr(os, "replace", replace)
    sleeps = []
    with pytest.raises(PermissionError):
        outputs.replace(source, target, sleeps.append)
    assert sleeps == pytest.approx([0.2, 0.4, 0.6, 0.8]) and len(calls) == outputs.REPLACE_ATTEMPTS
    assert source.read_text() == "new" and not target.exists()


def test_other_errors_are_not_retried(tmp_path):
    sleeps = []
    with pytest.raises(FileNotFoundError):
        outputs.replace(tmp_path / "missing", tmp_path / "a.json", sleeps.append)
    assert sleeps == []


def test_a_run_saves_video_and_response_json_through_a_brief_hold_on_each(tmp_path, monkeypatch):
    calls, held = [], [0]

    def once_each(source, target):  # the first rename of each of the two files is refused
        name = str(target)
        if name.endswith((".response.json", ".mp4")) and not any(c == name for c in calls):
            calls.append(name)
            held[0] += 1
            raise PermissionError(errno.EACCES, "The process cannot access the file", name)
        calls.append(name)
        return REAL_REPLACE(source, target)

    monkeypatch.setattr(os, "replace", once_each)
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05) as emu:
        result = run(["--request", '{"prompt": "a boat"}', "--output", str(tmp_path / "out")], env_for(emu), tmp_path)
    assert result.code == 0, result.stderr
    assert held[0] == 2
    saved = sorted(p.name for p in (tmp_path / "out").iterdir()
                   if not p.name.startswith("qianwen-video-tasks")
                   and p.name not in ("index.html", ".downloads.lock"))  # journal, gallery, locks
    assert len(saved) == 2 and saved[0].endswith(".mp4") and saved[1].endswith(".response.json")
    assert result.sleeps.count(0.2) >= 2  # one short wait for each held file


def _console(tmp_path):
    from qianwen_video.console import Console
    from qianwen_video.context import Context

    console = Console(Context(environ={}, cwd=tmp_path))
    console.redactor.add("sk-test-secret-value-1234")
    return console


def test_the_saved_answer_is_valid_json_even_with_a_lone_surrogate_and_a_secret(tmp_path):
    from qianwen_video.tasks.finish import _write_json

    target = tmp_path / "clip.response.json"
    answer = {"output": {"orig_prompt": "cut \udc80 here", "note": "sk-test-secret-value-1234"}, "usage": {"n": 1}}
    _write_json(target, answer, _console(tmp_path))
    text = target.read_text(encoding="utf-8")
    assert "sk-test-secret-value-1234" not in text
    saved = json.loads(text)
    assert saved["output"]["orig_prompt"] == "cut \udc80 here" and saved["usage"] == {"n": 1}
    assert text.endswith("}\n") and "\n  " in text  # indented for people
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.response.json"]  # no temporary left


def test_a_failed_rename_leaves_neither_the_answer_nor_a_temporary(tmp_path, monkeypatch):
    from qianwen_video.tasks.finish import _write_json

    def broken(source, target):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        _write_json(tmp_path / "clip.response.json", {"a": 1}, _console(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_a_folder_swapped_for_a_link_into_skills_is_refused_at_the_next_check(tmp_path):
    """The place is resolved at every check (a batch checks again before each download)."""
    from qianwen_video.errors import UsageError

    out = tmp_path / "out"
    out.mkdir()
    outputs.check_writable_location(out)
    elsewhere = tmp_path / "home" / "skills" / "other"
    elsewhere.mkdir(parents=True)
    out.rmdir()
    out.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(UsageError, match="skills/ directory"):
        outputs.check_writable_location(out)


def test_the_skill_folder_and_any_skills_folder_are_refused_and_neighbours_are_not(tmp_path):
    from qianwen_video.errors import UsageError

    skill = tmp_path / "agent" / "qianwen-video-generation"
    (skill / "scripts").mkdir(parents=True)
    for inside in (skill, skill / "scripts", skill / "output" / "new"):
        with pytest.raises(UsageError, match="the skill's own directory"):
            outputs.check_writable_location(inside, skill_dir=skill)
    with pytest.raises(UsageError, match="skills/ directory"):
        outputs.check_writable_location(tmp_path / "a" / "skills" / "b", skill_dir=skill)
    for outside in (tmp_path / "agent" / "qianwen-video-generation-out", tmp_path / "skillsets",
                    tmp_path / "my-skills" / "out"):
        outputs.check_writable_location(outside, skill_dir=skill)  # a name that only starts alike


def test_create_beside_makes_a_new_private_file_and_never_reuses_a_name(tmp_path, monkeypatch):
    target = tmp_path / "clip.response.json"
    tokens = iter([b"\x00" * 6, b"\x00" * 6, b"\x01" * 6])
    monkeypatch.setattr(os, "urandom", lambda n: next(tokens))
    taken = tmp_path / ".clip.response.json.000000000000.part"
    taken.write_text("another writer's")
    fd, temporary = outputs.create_beside(target)
    os.close(fd)
    assert temporary == tmp_path / ".clip.response.json.010101010101.part"
    assert taken.read_text() == "another writer's"  # never opened
    assert temporary.stat().st_mode & 0o777 == 0o600 and temporary.stat().st_size == 0
    monkeypatch.setattr(os, "urandom", lambda n: b"\x00" * 6)
    with pytest.raises(FileExistsError):
        outputs.create_beside(target)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names a descriptor's file through /proc")
def test_the_video_is_fsynced_before_its_rename_and_the_answer_copy_is_not(tmp_path, monkeypatch):
    # The answer file is a copy the service keeps for 24 h; the video and the journal are what a
    # power cut must not take (tasks/finish.py _write_json).
    synced, real_fsync = [], os.fsync

    def fsync(fd):
        synced.append(os.path.basename(os.readlink("/proc/self/fd/%d" % fd)))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05) as emu:
        result = run(["--request", '{"prompt": "a boat"}', "--output", str(tmp_path / "out")], env_for(emu), tmp_path)
    assert result.code == 0, result.stderr
    videos = [name for name in synced if name.endswith(".mp4.part")]
    assert len(videos) == 1 and (tmp_path / "out" / videos[0][:-len(".part")]).is_file()
    assert not [name for name in synced if "response" in name]
    assert "qianwen-video-tasks.jsonl" in synced
