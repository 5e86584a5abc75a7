"""--batch FILE --submit-only / --batch FILE --poll-once: a batch in a shell killed after 2 minutes.

The specification, against the emulator (task statuses scripted per status query, so each
check sees exactly the status the test names):
- --submit-only submits every item once, never polls, prints "<item> <task id>" lines on
  stdout and exits 0 (1 if an item could not be submitted, 2 if --timeout came first);
- --poll-once submits nothing, checks each submitted, unfinished item exactly once,
  downloads what succeeded and exits 2 while any is unfinished, else 1 if any failed, else 0;
- no interleaving of the two (and of a plain rerun) creates a task twice or saves a video twice.
"""
from __future__ import annotations

import json
from pathlib import Path

from tests.emulator import Emulator
from tests.harness import KEY, VirtualTime, creates, env_for, run

MODEL = "happyhorse-1.0-t2v"  # 10 submits/s, 5 running in the catalog
POLL = "0.05"


def write_batch(directory: Path, n: int) -> Path:
    path = directory / "b.jsonl"
    path.write_text("".join(json.dumps({"prompt": "clip number %d" % i, "model": MODEL}) + "\n"
                            for i in range(1, n + 1)), encoding="utf-8")
    return path


def batch(*extra: str):
    return ["--batch", "b.jsonl", "--output", "out", "--poll-interval", POLL] + list(extra)


def queries(emu) -> list:
    return emu.requests_to("GET", r"/tasks/[^/?]+$")


def videos(tmp_path: Path) -> list:
    return sorted(p.name for p in (tmp_path / "out").glob("*.mp4"))


def id_lines(stdout: str) -> dict:
    return {int(index): task_id for index, task_id in (line.split(" ") for line in stdout.splitlines())}


def test_submit_only_then_poll_once_until_every_item_is_finished(tmp_path):
    with Emulator(api_keys=(KEY,)) as emu:
        for statuses in (["RUNNING", "SUCCEEDED"], ["SUCCEEDED"], ["RUNNING", "FAILED"],
                         ["RUNNING", "RUNNING", "SUCCEEDED"]):
            emu.script_task(statuses, code="DataInspectionFailed", message="flagged")
        write_batch(tmp_path, 4)
        env = env_for(emu)

        submitted = run(batch("--submit-only"), env, tmp_path)
        assert submitted.code == 0, submitted.stderr
        ids = id_lines(submitted.stdout)
        assert sorted(ids) == [1, 2, 3, 4] and len(set(ids.values())) == 4
        assert len(creates(emu)) == 4 and queries(emu) == []  # submitted, never polled
        assert "--batch b.jsonl" in submitted.stderr and "--poll-once" in submitted.stderr

        again = run(batch("--submit-only"), env, tmp_path)
        assert again.code == 0 and id_lines(again.stdout) == ids and len(creates(emu)) == 4

        first = run(batch("--poll-once"), env, tmp_path)  # 1, 3, 4 running; 2 done
        assert first.code == 2, first.stderr
        assert len(queries(emu)) == 4 and len(creates(emu)) == 4
        assert len(videos(tmp_path)) == 1 and "3 still running; check again with:" in first.stderr

        second = run(batch("--poll-once"), env, tmp_path)  # 1 done, 3 failed, 4 running
        assert second.code == 2 and len(queries(emu)) == 4 + 3 and len(videos(tmp_path)) == 2

        third = run(batch("--poll-once", "--print-response"), env, tmp_path)  # 4 done: finished, one failed
        assert third.code == 1 and len(queries(emu)) == 4 + 3 + 1
        document = third.json()
        assert (document["succeeded"], document["failed"], document["unfinished"]) == (3, 1, 0)
        assert [item["task_id"] for item in document["items"]] == [ids[i] for i in (1, 2, 3, 4)]
        assert document["items"][2]["status"] == "FAILED" and "flagged" in document["items"][2]["error"]

        settled = run(batch("--poll-once"), env, tmp_path)  # nothing left to check
        assert settled.code == 1 and len(queries(emu)) == 8 and len(creates(emu)) == 4
    assert len(videos(tmp_path)) == 3  # each saved once, under one name


def test_poll_once_submits_nothing_and_says_how_to_submit(tmp_path):
    with Emulator(api_keys=(KEY,)) as emu:
        write_batch(tmp_path, 3)
        result = run(batch("--poll-once", "--print-response"), env_for(emu), tmp_path)
        assert result.code == 2, result.stderr
        assert creates(emu) == [] and queries(emu) == []
        assert result.json()["unfinished"] == 3
        assert "3 not submitted yet; submit them with:" in result.stderr and "--submit-only" in result.stderr


def test_a_timeout_during_submit_only_leaves_the_rest_for_the_next_submit_only(tmp_path):
    clock = VirtualTime()  # the emulator's rate window and the CLI's budget on one clock
    with Emulator(api_keys=(KEY,), clock=clock.now) as emu:
        write_batch(tmp_path, 25)
        env = env_for(emu)
        # 10 submits/s after a first burst: a 0.5 s budget (virtual time) submits some items, not all.
        cut = run(batch("--submit-only", "--timeout", "0.5"), env, tmp_path, clock=clock)
        assert cut.code == 2, cut.stderr
        first = emu.created_count()  # tasks made (a 429-refused POST makes none)
        assert 1 <= first < 25 and len(id_lines(cut.stdout)) == first
        assert "submit the rest with:" in cut.stderr
        rest = run(batch("--submit-only"), env, tmp_path, clock=clock)
        assert rest.code == 0, rest.stderr
        assert emu.created_count() == 25 and len(id_lines(rest.stdout)) == 25
        assert queries(emu) == []


def test_any_interleaving_with_plain_runs_creates_each_task_once(tmp_path):
    """poll-once, submit-only, poll-once, a plain run, submit-only, poll-once: 5 tasks, 5 videos."""
    with Emulator(api_keys=(KEY,), pending_seconds=0.0, run_seconds=0.0) as emu:
        write_batch(tmp_path, 5)
        env = env_for(emu)
        codes = []
        for extra in (("--poll-once",), ("--submit-only", "--timeout", "0.2"), ("--poll-once",), (),
                      ("--submit-only",), ("--poll-once",)):
            codes.append(run(batch(*extra), env, tmp_path).code)
            assert emu.created_count() <= 5
        assert codes[0] == 2 and codes[3:] == [0, 0, 0], codes
        assert emu.created_count() == 5
        bodies = sorted(t.body["input"]["prompt"] for t in emu.tasks.values())
        assert bodies == ["clip number %d" % i for i in range(1, 6)]
    assert len(videos(tmp_path)) == 5


def test_the_two_halves_are_not_asked_for_at_once(tmp_path):
    both = run(batch("--submit-only", "--poll-once"), {"DASHSCOPE_API_KEY": KEY}, tmp_path)
    assert both.code == 64 and "pick one" in both.stderr
    alone = run(["--poll-once"], {"DASHSCOPE_API_KEY": KEY}, tmp_path)
    assert alone.code == 64 and "--poll-once needs --task-id or --batch" in alone.stderr
