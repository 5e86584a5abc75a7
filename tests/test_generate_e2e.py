"""End to end against the emulator: every mode and family, the exact bodies on the wire."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import pytest

from qianwen_video import catalog
from tests.harness import FIXTURE_MP4, KEY, VirtualTime, creates, env_for, run, run_subprocess
from tests.emulator import Emulator

IMG = "https://img.alicdn.com/imgextra/i1/NotRealJustExample/portrait.png"
IMG2 = "https://img.alicdn.com/imgextra/i1/NotRealJustExample/street.png"
VID = "https://img.alicdn.com/imgextra/i1/NotRealJustExample/dance.mp4"
WAV = "https://img.alicdn.com/imgextra/i1/NotRealJustExample/voice.wav"
VG = "/api/v1/services/aigc/video-generation/video-synthesis"
I2V_ROUTE = "/api/v1/services/aigc/image2video/video-synthesis"


@pytest.fixture()
def emu():
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.1, fail_seconds=0.02) as server:
        yield server


# (model, flat request, expected path, expected body) — shapes from dashscope-api.md §3
CASES = [
    ("wan2.6-t2v", {"prompt": "a lighthouse", "size": "1280*720", "duration": 5, "prompt_extend": True},
     VG, {"model": "wan2.6-t2v", "input": {"prompt": "a lighthouse"},
          "parameters": {"size": "1280*720", "duration": 5, "prompt_extend": True}}),
    ("wan2.2-t2v-plus", {"prompt": "a fox", "size": "832*480"},
     VG, {"model": "wan2.2-t2v-plus", "input": {"prompt": "a fox"},
                             "parameters": {"size": "832*480", "duration": 5}}),
    ("wan2.6-i2v-flash", {"prompt": "she smiles", "img_url": IMG, "resolution": "720P", "duration": 5, "audio": False},
     VG, {"model": "wan2.6-i2v-flash", "input": {"prompt": "she smiles", "img_url": IMG},
          "parameters": {"resolution": "720P", "duration": 5, "audio": False}}),
    ("wan2.2-kf2v-flash", {"prompt": "day to night", "first_frame_url": IMG, "last_frame_url": IMG2, "resolution": "480P"},
     I2V_ROUTE, {"model": "wan2.2-kf2v-flash",
                 "input": {"prompt": "day to night", "first_frame_url": IMG, "last_frame_url": IMG2},
                 "parameters": {"resolution": "480P", "duration": 5}}),
    ("wan2.6-r2v-flash", {"prompt": "character1 dances", "reference_urls": [IMG, VID], "size": "1280*720", "duration": 5},
     VG, {"model": "wan2.6-r2v-flash", "input": {"prompt": "character1 dances", "reference_urls": [IMG, VID]},
          "parameters": {"size": "1280*720", "duration": 5}}),
    ("wanx2.1-vace-plus", {"function": "image_reference", "prompt": "a dog in a park", "ref_images_url": [IMG, IMG2],
                           "obj_or_bg": ["obj", "bg"], "size": "1280*720"},
     VG, {"model": "wanx2.1-vace-plus",
          "input": {"function": "image_reference", "prompt": "a dog in a park", "ref_images_url": [IMG, IMG2]},
          "parameters": {"obj_or_bg": ["obj", "bg"], "size": "1280*720"}}),
    ("wanx2.1-vace-plus", {"function": "video_repainting", "prompt": "oil painting", "video_url": VID,
                           "control_condition": "depth", "strength": 0.8},
     VG, {"model": "wanx2.1-vace-plus", "input": {"function": "video_repainting", "prompt": "oil painting", "video_url": VID},
          "parameters": {"control_condition": "depth", "strength": 0.8}}),
    ("wan2.7-t2v", {"prompt": "a city", "resolution": "720P", "ratio": "9:16", "duration": 8},
     VG, {"model": "wan2.7-t2v", "input": {"prompt": "a city"},
          "parameters": {"resolution": "720P", "ratio": "9:16", "duration": 8}}),
    ("wan2.7-i2v", {"prompt": "continue", "first_frame_url": IMG, "driving_audio_url": WAV},
     VG, {"model": "wan2.7-i2v", "input": {"prompt": "continue", "media": [
         {"type": "first_frame", "url": IMG}, {"type": "driving_audio", "url": WAV}]},
         "parameters": {"resolution": "1080P", "duration": 5}}),
    ("wan2.7-r2v", {"prompt": "Image 1 meets Video 1", "reference_urls": [IMG, VID], "duration": 10},
     VG, {"model": "wan2.7-r2v", "input": {"prompt": "Image 1 meets Video 1", "media": [
         {"type": "reference_image", "url": IMG}, {"type": "reference_video", "url": VID}]},
         "parameters": {"duration": 10, "resolution": "720P"}}),
    ("wan2.7-videoedit", {"prompt": "make it snow", "video_url": VID, "reference_images": [IMG], "audio_setting": "origin"},
     VG, {"model": "wan2.7-videoedit", "input": {"prompt": "make it snow", "media": [
         {"type": "video", "url": VID}, {"type": "reference_image", "url": IMG}]},
         "parameters": {"audio_setting": "origin"}}),
    ("happyhorse-1.0-t2v", {"prompt": "a horse", "resolution": "720P", "ratio": "16:9", "duration": 5},
     VG, {"model": "happyhorse-1.0-t2v", "input": {"prompt": "a horse"},
          "parameters": {"resolution": "720P", "ratio": "16:9", "duration": 5}}),
    ("happyhorse-1.1-i2v", {"prompt": "gallop", "img_url": IMG},
     VG, {"model": "happyhorse-1.1-i2v", "input": {"prompt": "gallop", "media": [{"type": "first_frame", "url": IMG}]},
          "parameters": {"resolution": "1080P", "duration": 5}}),
    ("happyhorse-1.1-r2v", {"prompt": "character1 rides", "reference_urls": [IMG], "ratio": "21:9"},
     VG, {"model": "happyhorse-1.1-r2v", "input": {"prompt": "character1 rides", "media": [
         {"type": "reference_image", "url": IMG}]}, "parameters": {"ratio": "21:9", "resolution": "720P", "duration": 5}}),
    ("happyhorse-1.0-video-edit", {"prompt": "swap the hat", "video_url": VID, "reference_images": [IMG]},
     VG, {"model": "happyhorse-1.0-video-edit", "input": {"prompt": "swap the hat", "media": [
         {"type": "video", "url": VID}, {"type": "reference_image", "url": IMG}]}, "parameters": {}}),
]


@pytest.mark.parametrize("model, request_fields, path, expected", CASES, ids=[c[0] + ":" + str(i) for i, c in enumerate(CASES)])
def test_each_mode_and_family_end_to_end(emu, tmp_path, model, request_fields, path, expected):
    request = dict(request_fields, model=model)
    result = run(["--request", json.dumps(request), "--print-response", "--poll-interval", "0.05"],
                 env_for(emu), tmp_path)
    assert result.code == 0, result.stderr

    # exactly one create, with the documented headers and exactly the official body shape
    posts = creates(emu)
    assert len(posts) == 1
    sent = posts[0]
    assert sent.path == path
    assert sent.json == expected
    assert sent.headers["authorization"] == "Bearer " + KEY
    assert sent.headers["x-dashscope-async"] == "enable"
    assert sent.headers["content-type"].startswith("application/json")
    assert "x-dashscope-ossresourceresolve" not in sent.headers  # no oss:// URL in this body
    assert len([line for line in result.stderr.splitlines() if line.startswith("Note: billed at ")]) == 1

    # then polls, then one download; the result is the served video, byte for byte
    document = result.json()
    task_id = document["task_id"]
    assert document["output"]["task_status"] == "SUCCEEDED"
    assert document["model"] == model
    assert document["mode"] == catalog.get(model).mode
    local = tmp_path / "output" / "qianwen-video-generation" / document["local_path"].rsplit("/", 1)[1]
    assert local.exists() and str(local) == document["local_path"]
    assert hashlib.sha256(local.read_bytes()).hexdigest() == emu.video_sha256()
    response = json.loads((local.with_name(local.stem + ".response.json")).read_text(encoding="utf-8"))
    assert response["output"]["task_id"] == task_id
    assert document["response_path"] == str(local.with_name(local.stem + ".response.json"))
    assert document["video_url"] == response["output"]["video_url"]
    assert [r.method for r in emu.requests][0] == "POST"
    assert emu.requests_to("GET", r"/tasks/" + task_id + "$")
    assert len(emu.requests_to("GET", r"^/results/")) == 1


def test_mode_and_model_are_reported_in_the_result(emu, tmp_path):
    result = run(["--request", json.dumps({"prompt": "x", "img_url": IMG}), "--print-response",
                  "--poll-interval", "0.05"], env_for(emu), tmp_path)
    document = result.json()
    assert (document["mode"], document["model"]) == ("i2v", "wan2.6-i2v-flash")
    assert set(document) >= {"request_id", "output", "task_id", "mode", "model", "video_url", "local_path",
                             "response_path"}


def test_results_never_overwrite_each_other(emu, tmp_path):
    args = ["--request", json.dumps({"prompt": "same"}), "--output", "out/clip.mp4", "--poll-interval", "0.05",
            "--force", "--print-response"]
    paths = [run(args, env_for(emu), tmp_path).json()["local_path"] for _ in range(3)]
    assert [p.rsplit("/", 1)[1] for p in paths] == ["clip.mp4", "clip_1.mp4", "clip_2.mp4"]
    assert sorted(f.name for f in (tmp_path / "out").glob("*.response.json")) == [
        "clip.response.json", "clip_1.response.json", "clip_2.response.json"]


def test_output_can_name_the_file(emu, tmp_path):
    result = run(["--request", json.dumps({"prompt": "x"}), "--output", "clips/intro.mp4", "--poll-interval", "0.05"],
                 env_for(emu), tmp_path)
    assert result.code == 0, result.stderr
    assert (tmp_path / "clips" / "intro.mp4").exists()
    assert (tmp_path / "clips" / "intro.response.json").exists()


def test_late_failure_ends_promptly_with_the_task_code_and_message(emu, tmp_path):
    # The catalog would stop duration 20 before sending; --no-validate lets the service judge,
    # and the emulator fails the task after accepting it, as the real service does (§4.4).
    request = {"prompt": "x", "duration": 20}
    checked = run(["--request", json.dumps(request)], env_for(emu), tmp_path)
    assert checked.code == 64 and "duration: 20" in checked.stderr and not creates(emu)

    result = run(["--request", json.dumps(request), "--no-validate", "--print-response"], env_for(emu), tmp_path,
                 max_sleep=0.05)
    assert result.code == 1
    assert "FAILED" in result.stderr and "InvalidParameter" in result.stderr
    task = emu.tasks[result.json()["task_id"]]
    assert task.final_status == "FAILED"
    assert result.json()["output"]["message"] in result.stderr
    assert sum(result.sleeps) < 5, "the first polls come fast: a late failure is noticed in seconds"
    assert len(creates(emu)) == 1


def test_submit_only_then_poll_once_then_resume(tmp_path):
    clock = VirtualTime()  # the task runs a minute on the clock both sides read, however busy the machine
    with Emulator(api_keys=(KEY,), pending_seconds=1.0, run_seconds=60.0, clock=clock.now) as emu:
        env = env_for(emu)
        submitted = run(["--request", json.dumps({"prompt": "x"}), "--submit-only"], env, tmp_path, clock=clock)
        assert submitted.code == 0
        task_id = submitted.stdout.strip()
        assert task_id and "Task submitted: " + task_id in submitted.stderr

        first = run(["--task-id", task_id, "--poll-once"], env, tmp_path, clock=clock)
        assert first.code == 2 and "--task-id " + task_id in first.stderr and "--poll-once" in first.stderr

        clock.sleep(61.0)  # the task ends meanwhile
        done = run(["--task-id", task_id, "--poll-once", "--print-response"], env, tmp_path, clock=clock)
        assert done.code == 0, done.stderr
        assert done.json()["model"] == "wan2.6-t2v"  # found in the journal
        assert len(creates(emu)) == 1


def test_task_id_is_printed_even_when_quiet(emu, tmp_path):
    result = run(["--request", json.dumps({"prompt": "x"}), "--quiet", "--poll-interval", "0.05"], env_for(emu), tmp_path)
    assert result.code == 0
    task_id = next(iter(emu.tasks))
    assert task_id in result.stderr
    assert "status=" not in result.stderr  # progress is hidden


def test_timeout_exits_2_with_the_resume_command(tmp_path):
    with Emulator(api_keys=(KEY,), pending_seconds=5, run_seconds=5) as emu:
        result = run(["--request", json.dumps({"prompt": "x"}), "--timeout", "0.2", "--poll-interval", "0.05"],
                     env_for(emu), tmp_path)
    assert result.code == 2
    assert "--task-id" in result.stderr and "still PENDING" in result.stderr


def test_unknown_status_is_terminal(emu, tmp_path):
    result = run(["--task-id", "0000-not-a-task"], env_for(emu), tmp_path)
    assert result.code == 1
    assert "expired or not found" in result.stderr


@pytest.mark.parametrize("status", ["FAILED", "CANCELED"])
def test_failed_and_canceled_tasks_exit_1(emu, tmp_path, status):
    emu.script_task(["PENDING", "RUNNING", status], code="InternalError.Algo", message="boom")
    result = run(["--request", json.dumps({"prompt": "x"}), "--poll-interval", "0.01"], env_for(emu), tmp_path)
    assert result.code == 1 and status in result.stderr
    assert not list((tmp_path / "output" / "qianwen-video-generation").glob("*.mp4"))


def test_each_mode_from_the_command_line_leaves_a_playable_mp4(emu, tmp_path):
    requests = {
        "t2v": {"prompt": "x"},
        "i2v": {"prompt": "x", "img_url": IMG},
        "kf2v": {"prompt": "x", "first_frame_url": IMG, "last_frame_url": IMG2},
        "r2v": {"prompt": "character1", "reference_urls": [IMG]},
        "vace": {"function": "video_outpainting", "prompt": "wider", "video_url": VID, "left_scale": 1.5},
        "videoedit": {"prompt": "snow", "video_url": VID},
    }
    for mode, request in requests.items():
        out = tmp_path / mode
        result = run_subprocess(["--request", json.dumps(request), "--mode", mode, "--output", str(out),
                                 "--poll-interval", "0.05", "--print-response"], env_for(emu), tmp_path)
        assert result.code == 0, (mode, result.stderr)
        document = json.loads(result.stdout)
        assert document["mode"] == mode
        video = out / document["local_path"].rsplit("/", 1)[1]
        assert video.read_bytes() == FIXTURE_MP4.read_bytes()
        assert json.loads((out / (video.stem + ".response.json")).read_text())["output"]["task_status"] == "SUCCEEDED"
        if shutil.which("ffprobe"):
            probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                    str(video)], capture_output=True, text=True)
            assert probe.returncode == 0 and float(probe.stdout) > 0


def test_unwritable_output_is_refused_before_paying(emu, tmp_path):
    (tmp_path / "a-file").write_text("x")
    result = run(["--request", json.dumps({"prompt": "x"}), "--output", "a-file/videos"], env_for(emu), tmp_path)
    assert result.code == 64 and "cannot write results to" in result.stderr
    assert "Traceback" not in result.stderr
    assert emu.requests == []


def test_task_id_finds_its_journal_and_output_without_repeating_output(emu, tmp_path):
    env = env_for(emu)
    submitted = run(["--request", json.dumps({"prompt": "snow", "model": "wan2.7-t2v"}), "--output", "renders/snow.mp4",
                     "--submit-only"], env, tmp_path)
    task_id = submitted.stdout.strip()
    import time
    time.sleep(0.3)
    done = run(["--task-id", task_id, "--poll-once", "--print-response"], env, tmp_path)
    assert done.code == 0, done.stderr
    document = done.json()
    assert (document["mode"], document["model"]) == ("t2v", "wan2.7-t2v")
    assert document["local_path"] == str(tmp_path / "renders" / "snow.mp4")
    assert not (tmp_path / "output").exists()


def test_the_same_request_within_24h_follows_the_earlier_task_instead_of_paying_again(emu, tmp_path):
    env = env_for(emu)
    request = ["--request", json.dumps({"prompt": "a crane at dusk"}), "--poll-interval", "0.05"]
    submitted = run(request + ["--submit-only"], env, tmp_path)
    task_id = submitted.stdout.strip()

    again = run(request + ["--print-response"], env, tmp_path)
    assert again.code == 0, again.stderr
    assert "already submitted as task %s" % task_id in again.stderr and "--force" in again.stderr
    assert again.json()["task_id"] == task_id and len(creates(emu)) == 1

    saved = run(request + ["--print-response"], env, tmp_path)  # finished and saved: just point at it
    assert saved.code == 0 and "Video already saved: " in saved.stderr
    assert saved.json()["local_path"] == again.json()["local_path"] and len(creates(emu)) == 1

    forced = run(request + ["--force", "--print-response"], env, tmp_path)
    assert forced.code == 0 and forced.json()["task_id"] != task_id and len(creates(emu)) == 2


def test_an_edited_local_file_is_a_new_request(emu, tmp_path):
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"1" * 64)
    request = ["--request", json.dumps({"prompt": "the cat blinks", "img_url": "cat.png"}), "--poll-interval", "0.05"]
    assert run(request, env_for(emu), tmp_path).code == 0
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"2" * 80)  # same name, new picture
    second = run(request, env_for(emu), tmp_path)
    assert second.code == 0 and "already submitted" not in second.stderr
    assert len(creates(emu)) == 2
