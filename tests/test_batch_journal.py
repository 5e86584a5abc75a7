"""A batch and single runs share one task journal; batch input rules; nothing paid twice."""
from __future__ import annotations

import json

import pytest

from qianwen_video.store import journal
from tests.emulator import Emulator
from tests.harness import KEY, creates, env_for, run
from tests.test_batch import batch_args, prompts, write_batch

OUT = "out"


@pytest.fixture()
def emu():
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05) as server:
        yield server


def test_batch_statuses_reach_the_journal_and_a_single_run_reuses_the_saved_video(emu, tmp_path):
    items = prompts(2)
    write_batch(tmp_path, items)
    assert run(batch_args(), env_for(emu), tmp_path).code == 0
    tasks = journal.Journal(tmp_path / OUT).tasks()
    assert sorted(t["status"] for t in tasks.values()) == ["SUCCEEDED", "SUCCEEDED"]

    listed = run(["--list", "--output", OUT, "--print-response"], env_for(emu), tmp_path)
    assert [t["status"] for t in listed.json()["tasks"]] == ["SUCCEEDED", "SUCCEEDED"]

    # The same request as a single run: the saved video is pointed at, nothing is fetched again.
    downloads = len(emu.requests_to("GET", r"^/results/"))
    again = run(["--request", json.dumps(items[0]), "--output", OUT, "--print-response"], env_for(emu), tmp_path)
    assert again.code == 0, again.stderr
    assert "Video already saved: " in again.stderr
    assert len(emu.requests_to("GET", r"^/results/")) == downloads and len(creates(emu)) == 2
    assert len(list((tmp_path / OUT).glob("*.mp4"))) == 2


def test_task_ids_are_printed_even_with_quiet(emu, tmp_path):
    write_batch(tmp_path, prompts(2))
    result = run(batch_args("--quiet"), env_for(emu), tmp_path)
    assert result.code == 0
    for task_id in emu.tasks:
        assert task_id in result.stderr


def test_comments_and_blank_lines_are_skipped(emu, tmp_path):
    (tmp_path / "b.jsonl").write_text('# shots for the launch\n\n{"prompt": "one", "model": "happyhorse-1.0-t2v"}\n'
                                      '  # two is on hold\n{"prompt": "three", "model": "happyhorse-1.0-t2v"}\n',
                                      encoding="utf-8")
    result = run(batch_args(), env_for(emu), tmp_path)
    assert result.code == 0, result.stderr
    assert len(creates(emu)) == 2


@pytest.mark.parametrize("name", ["../escape.mp4", "/tmp/elsewhere.mp4", "a/../../b.mp4"])
def test_an_item_output_outside_the_output_directory_is_invalid(emu, tmp_path, name):
    write_batch(tmp_path, [{"prompt": "x", "model": "happyhorse-1.0-t2v", "output": name}])
    result = run(batch_args(), env_for(emu), tmp_path)
    assert result.code == 64 and "leaves the batch's --output directory" in result.stderr
    assert emu.requests == []


def test_dry_run_with_invalid_items_is_a_usage_error_even_when_skipping(emu, tmp_path):
    write_batch(tmp_path, [{"prompt": "x", "model": "happyhorse-1.0-t2v"}, {"prompt": "x", "duration": 99}])
    for extra in ((), ("--skip-invalid",)):
        result = run(batch_args("--dry-run", *extra), env_for(emu), tmp_path)
        assert result.code == 64, (extra, result.stderr)
    assert emu.requests == []


def test_checking_an_unknown_task_id_leaves_no_row_in_the_journal(emu, tmp_path):
    result = run(["--task-id", "00000000-0000-0000-0000-000000000000", "--poll-once"], env_for(emu), tmp_path)
    assert result.code == 1 and "expired or not found" in result.stderr
    listed = run(["--list", "--print-response"], env_for(emu), tmp_path)
    assert listed.json()["tasks"] == []


def test_a_model_the_catalog_does_not_know_gets_the_strictest_documented_limits(emu, tmp_path):
    from qianwen_video import catalog

    assert catalog.limits("wan9.9-t2v-future") == (2, 2)
    assert catalog.limits("wan2.7-t2v-2099-01-01") == (5, 5)  # a snapshot inherits its base model's
    write_batch(tmp_path, [{"prompt": "x %d" % i, "model": "happyhorse-9-t2v", "resolution": "720P"}
                           for i in range(3)])
    emu.activated_models = None
    result = run(batch_args("--no-validate"), env_for(emu), tmp_path)
    assert "unexpected internal error" not in result.stderr, result.stderr
    assert result.code in (0, 1)  # the emulator may not know the id; the batch itself must not crash


def _events(records, task_id):
    return [r["event"] for r in records if r.get("task_id") == task_id or r.get("event") == "intent"]


def test_each_item_leaves_three_manifest_and_three_journal_lines(emu, tmp_path):
    """A success is written once where it is implied: the manifest's "saved" and the journal's
    "downloading" (which carries the status) stand for the SUCCEEDED status line."""
    from tests.test_batch import manifest_records

    write_batch(tmp_path, prompts(2))
    assert run(batch_args(), env_for(emu), tmp_path).code == 0
    book = journal.Journal(tmp_path / OUT)
    records = book.records()
    manifest = manifest_records(tmp_path)
    keys = sorted({r["key"] for r in manifest if "key" in r})
    assert len(keys) == 2
    for key in keys:
        mine = [r for r in manifest if r.get("key") == key]
        # a status line only while the task runs (PENDING to RUNNING); none for its end
        middle = mine[2:-1]
        assert [r["event"] for r in mine[:2] + mine[-1:]] == ["intent", "submitted", "saved"], mine
        assert all(r["event"] == "status" and r["status"] not in ("SUCCEEDED", "FAILED") for r in middle), mine
    for task_id in emu.tasks:
        mine = [r for r in records if r.get("task_id") == task_id]
        events = [r["event"] for r in mine if not (r["event"] == "status" and r["status"] != "SUCCEEDED")]
        assert events == ["submitted", "downloading", "saved"], mine
        assert [r for r in mine if r["event"] == "downloading"][0]["status"] == "SUCCEEDED"
        assert book.tasks()[task_id]["status"] == "SUCCEEDED"


def test_a_failed_download_leaves_the_task_succeeded_and_undownloaded_in_both_files(emu, tmp_path):
    from tests.emulator import Reply
    from tests.test_batch import manifest_records

    emu.script("GET", r"^/results/", *[Reply(404, body=b"gone")] * 8)
    write_batch(tmp_path, prompts(1))
    result = run(batch_args(), env_for(emu), tmp_path)
    assert result.code != 0
    (task_id,) = emu.tasks
    failed = [r for r in manifest_records(tmp_path) if r["event"] == "download_failed"]
    assert len(failed) == 1 and failed[0]["status"] == "SUCCEEDED" and failed[0]["task_id"] == task_id
    view = journal.Journal(tmp_path / OUT).tasks()[task_id]
    assert view["status"] == "SUCCEEDED" and not view.get("local_path")
    listed = run(["--list", "--output", OUT, "--print-response"], env_for(emu), tmp_path)
    assert [t["status"] for t in listed.json()["tasks"]] == ["SUCCEEDED"]


def test_a_failed_task_keeps_its_status_line_with_code_and_message(emu, tmp_path):
    from tests.test_batch import manifest_records

    emu.script_task(["PENDING", "FAILED"], code="DataInspectionFailed", message="input flagged")
    write_batch(tmp_path, prompts(1))
    assert run(batch_args(), env_for(emu), tmp_path).code != 0
    (task_id,) = emu.tasks
    view = journal.Journal(tmp_path / OUT).tasks()[task_id]
    assert (view["status"], view.get("code")) == ("FAILED", "DataInspectionFailed")
    failed = [r for r in manifest_records(tmp_path) if r["event"] == "failed"]
    assert len(failed) == 1 and failed[0]["status"] == "FAILED"


def test_a_save_that_fails_before_the_download_still_journals_the_success(emu, tmp_path, monkeypatch):
    """The answer file cannot be written, so no "downloading" line is written either: the batch's
    own status line keeps --list and the gallery saying SUCCEEDED (not downloaded)."""
    from qianwen_video.tasks import finish

    def unwritable(path, document, console):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(finish, "_write_json", unwritable)
    write_batch(tmp_path, prompts(1))
    result = run(batch_args(), env_for(emu), tmp_path)
    assert result.code != 0 and "could not be written" in result.stderr
    (task_id,) = emu.tasks
    records = [r for r in journal.Journal(tmp_path / OUT).records() if r.get("task_id") == task_id]
    assert "downloading" not in [r["event"] for r in records]
    view = journal.Journal(tmp_path / OUT).tasks()[task_id]
    assert view["status"] == "SUCCEEDED" and not view.get("local_path")
    assert emu.requests_to("GET", r"^/results/") == []  # nothing fetched, nothing left half-written
    assert list((tmp_path / OUT).glob("*.mp4*")) == []
