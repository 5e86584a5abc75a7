"""The newer families end to end against the emulator (dashscope-new-models.md §1-§5): the body on
the wire field by field, the portrait check before s2v pays, the one-task limits, the video on disk."""
from __future__ import annotations

import hashlib
import json

import pytest

from tests.emulator import Emulator
from tests.harness import KEY, VirtualTime, creates, env_for, run
from tests.media_files import MP3, PNG

IMG = "https://img.alicdn.com/imgextra/i1/NotRealJustExample/portrait.png"
IMG2 = "https://img.alicdn.com/imgextra/i1/NotRealJustExample/street.png"
VID = "https://img.alicdn.com/imgextra/i1/NotRealJustExample/dance.mp4"
MP3_URL = "https://img.alicdn.com/imgextra/i1/NotRealJustExample/voice.mp3"
VG = "/api/v1/services/aigc/video-generation/video-synthesis"
I2V = "/api/v1/services/aigc/image2video/video-synthesis"
DETECT = "/api/v1/services/aigc/image2video/face-detect"


@pytest.fixture()
def emu():
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.1, fail_seconds=0.02) as server:
        yield server


# (request, path, exact body, where the task answer keeps the video URL)
CASES = [
    ({"image_url": IMG, "video_url": VID}, I2V,
     {"model": "wan2.2-animate-move", "input": {"image_url": IMG, "video_url": VID},
      "parameters": {"mode": "wan-std"}}, ("results", "video_url")),
    ({"model": "wan2.2-animate-mix", "img_url": IMG, "video_url": VID, "animate_mode": "wan-pro",
      "check_image": False, "watermark": True}, I2V,
     {"model": "wan2.2-animate-mix", "input": {"image_url": IMG, "video_url": VID, "watermark": True},
      "parameters": {"mode": "wan-pro", "check_image": False}}, ("results", "video_url")),
    ({"image_url": IMG, "audio_url": MP3_URL, "resolution": "720P"}, I2V,
     {"model": "wan2.2-s2v", "input": {"image_url": IMG, "audio_url": MP3_URL}, "parameters": {"resolution": "720P"}},
     ("results", "video_url")),
    ({"mode": "lipsync", "video_url": VID, "audio_url": MP3_URL, "ref_image_url": IMG, "video_extension": True,
      "query_face_threshold": 150}, I2V,
     {"model": "videoretalk", "input": {"video_url": VID, "audio_url": MP3_URL, "ref_image_url": IMG},
      "parameters": {"video_extension": True, "query_face_threshold": 150}}, ("video_url",)),
    ({"model": "video-style-transform", "video_url": VID, "style": 7, "video_fps": 20, "min_len": 540,
      "animate_emotion": False, "use_SR": True}, VG,
     {"model": "video-style-transform", "input": {"video_url": VID},
      "parameters": {"style": 7, "video_fps": 20, "min_len": 540, "animate_emotion": False, "use_SR": True}},
     ("output_video_url",)),
    ({"model": "wan3.0-video", "prompt": "Image 1 dances to Audio 1", "reference_urls": [IMG, MP3_URL],
      "ratio": "adaptive", "duration": -1, "seed": 7}, VG,
     {"model": "wan3.0-video", "input": {"prompt": "Image 1 dances to Audio 1", "media": [
         {"type": "reference_image", "url": IMG}, {"type": "reference_audio", "url": MP3_URL}]},
      "parameters": {"ratio": "adaptive", "duration": -1, "seed": 7, "resolution": "1080P"}}, ("video_url",)),
    ({"model": "wan3.0-video-prime", "prompt": "from this frame to that", "first_frame_url": IMG,
      "last_frame_url": IMG2, "resolution": "720P", "audio": False}, VG,
     {"model": "wan3.0-video-prime", "input": {"prompt": "from this frame to that", "media": [
         {"type": "first_frame", "url": IMG}, {"type": "last_frame", "url": IMG2}]},
      "parameters": {"resolution": "720P", "audio": False, "duration": 5}}, ("video_url",)),
]


@pytest.mark.parametrize("request_fields, path, expected, url_at", CASES,
                         ids=[c[2]["model"] + ":" + str(i) for i, c in enumerate(CASES)])
def test_each_newer_family_end_to_end(emu, tmp_path, request_fields, path, expected, url_at):
    result = run(["--request", json.dumps(request_fields), "--print-response", "--poll-interval", "0.05"],
                 env_for(emu), tmp_path)
    assert result.code == 0, result.stderr
    [sent] = creates(emu)
    assert sent.path == path and sent.json == expected
    assert sent.headers["x-dashscope-async"] == "enable"
    checks = emu.requests_to("POST", DETECT)
    assert len(checks) == (1 if expected["model"] == "wan2.2-s2v" else 0)
    if checks:  # the portrait check comes first, synchronous, with the same image
        assert emu.requests.index(checks[0]) < emu.requests.index(sent)
        assert checks[0].json == {"model": "wan2.2-s2v-detect", "input": {"image_url": IMG}}
        assert "x-dashscope-async" not in checks[0].headers
    document = result.json()
    assert document["output"]["task_status"] == "SUCCEEDED" and document["model"] == expected["model"]
    answer = document["output"]
    for key in url_at:
        answer = answer[key]
    assert document["video_url"] == answer
    local = tmp_path / "output" / "qianwen-video-generation" / document["local_path"].rsplit("/", 1)[1]
    assert hashlib.sha256(local.read_bytes()).hexdigest() == emu.video_sha256()
    saved = json.loads(local.with_name(local.stem + ".response.json").read_text(encoding="utf-8"))
    assert saved["output"]["task_id"] == document["task_id"]
    assert len(emu.requests_to("GET", r"^/results/")) == 1


@pytest.mark.parametrize("how, message", [
    ("faceless", "Error: image_url: wan2.2-s2v-detect found no usable face in the portrait; wan2.2-s2v was "
                 "not submitted"),
    ("no_human", "Error: image_url: wan2.2-s2v-detect refused the portrait: "),
])
def test_a_portrait_that_fails_the_face_check_costs_no_task(emu, tmp_path, how, message):
    getattr(emu, how).add(IMG)
    result = run(["--request", json.dumps({"image_url": IMG, "audio_url": MP3_URL})], env_for(emu), tmp_path)
    assert result.code == 1, result.stderr
    assert message in result.stderr
    assert "Hint: use a clear, front-facing photo of one person" in result.stderr
    assert len(emu.requests_to("POST", DETECT)) == 1
    assert not creates(emu) and not emu.tasks
    journal = tmp_path / "output" / "qianwen-video-generation" / "qianwen-video-tasks.jsonl"
    assert not journal.exists() or "intent" not in journal.read_text(encoding="utf-8")
    # the same portrait is checked again next time (no task to follow), and still costs nothing
    run(["--request", json.dumps({"image_url": IMG, "audio_url": MP3_URL})], env_for(emu), tmp_path)
    assert len(emu.requests_to("POST", DETECT)) == 2 and not creates(emu)


def test_local_portrait_is_uploaded_then_checked_then_sent(emu, tmp_path):
    (tmp_path / "me.png").write_bytes(PNG + b"\0" * 64)
    (tmp_path / "hello.mp3").write_bytes(MP3 + b"\0" * 64)
    result = run(["--request", json.dumps({"image_url": "me.png", "audio_url": "hello.mp3"}), "--print-response",
                  "--poll-interval", "0.05"], env_for(emu), tmp_path)
    assert result.code == 0, result.stderr
    [check] = emu.requests_to("POST", DETECT)
    [sent] = creates(emu)
    image = sent.json["input"]["image_url"]
    assert image.startswith("oss://") and check.json["input"]["image_url"] == image
    assert check.headers["x-dashscope-ossresourceresolve"] == "enable"
    assert emu.objects[image[len("oss://"):]].model == "wan2.2-s2v"


def test_a_wan30_frame_and_reference_mix_costs_nothing(emu, tmp_path):
    request = {"model": "wan3.0-video", "prompt": "p", "first_frame_url": IMG, "reference_video_urls": [VID]}
    result = run(["--request", json.dumps(request)], env_for(emu), tmp_path)
    assert result.code == 64
    assert "Error: media: first_frame cannot be mixed with reference_video in one wan3.0-video request" \
        in result.stderr
    assert emu.requests == []


def test_a_second_lipsync_batch_item_waits_for_the_first(tmp_path):
    """videoretalk runs one task at a time and answers a second submit with 429: the batch paces
    itself to one running task, and each item is paid once."""
    clock = VirtualTime()
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.15, clock=clock.now) as emu:
        lines = [json.dumps({"model": "videoretalk", "video_url": VID, "audio_url": MP3_URL, "output": "t%d.mp4" % i})
                 for i in range(3)]
        (tmp_path / "talk.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        result = run(["--batch", "talk.jsonl", "--output", "clips", "--poll-interval", "0.05"], env_for(emu),
                     tmp_path, clock=clock)
        assert result.code == 0, result.stderr
        assert len(emu.tasks) == 3
        assert sorted(p.name for p in (tmp_path / "clips").glob("t*.mp4")) == ["t0.mp4", "t1.mp4", "t2.mp4"]
        assert emu.max_concurrent_seen["videoretalk"] == 1


def test_a_lipsync_submit_while_another_runs_waits_and_pays_once(tmp_path):
    clock = VirtualTime()  # the first task runs a minute: the second run's 30 s retries pass at once
    with Emulator(api_keys=(KEY,), pending_seconds=0.05, run_seconds=60.0, clock=clock.now) as emu:
        first = {"model": "videoretalk", "video_url": VID, "audio_url": MP3_URL}
        assert run(["--request", json.dumps(first), "--submit-only"], env_for(emu), tmp_path, clock=clock).code == 0
        second = dict(first, video_url=VID.replace("dance", "talk"))
        # --submit-only does not wait: the 429 is the answer, and it says why
        busy = run(["--request", json.dumps(second), "--submit-only"], env_for(emu), tmp_path, clock=clock)
        assert busy.code == 1 and "Throttling" in busy.stderr
        assert "Hint: videoretalk runs one task at a time per account and another is still running; nothing " \
               "was created" in busy.stderr
        # a plain run waits for the first to finish, then pays once
        result = run(["--request", json.dumps(second), "--poll-interval", "5"], env_for(emu), tmp_path,
                     clock=clock)
        assert result.code == 0, result.stderr
        assert "videoretalk runs one task at a time per account and another one is still running; nothing was " \
               "created. Trying again in 30s" in result.stderr
        assert len(emu.tasks) == 2  # one task per request: every refusal created nothing
        assert [t.final_status for t in emu.tasks.values()] == ["SUCCEEDED", "SUCCEEDED"]


# -- input lengths read from the files' headers, before anything is paid (dashscope-new-models.md §1-§5)
from tests.test_probe import FTYP, box, mvhd, png_header, video_clip, wav  # noqa: E402  (header builders)


def clip(seconds: float) -> bytes:
    return FTYP + box(b"moov", mvhd(1000, int(seconds * 1000))) + box(b"mdat", b"\0" * 64)


@pytest.mark.parametrize("files, request_fields, error", [
    ({"a.mp4": clip(10), "b.mp4": clip(6)}, {"model": "wan3.0-video", "prompt": "p", "reference_urls": ["a.mp4", "b.mp4"]},
     "Error: media: the reference video inputs play 16.0 s together; allowed: at most 15 s in all for wan3.0-video"),
    ({"a.mp4": clip(16)}, {"model": "wan3.0-video", "prompt": "p", "reference_video_urls": ["a.mp4"]},
     "Error: reference_video_urls[0]: a.mp4 plays 16.0 s; allowed: 1-15 s for reference video with wan3.0-video"),
    ({"a.wav": wav(0.5)}, {"model": "wan3.0-video", "prompt": "p", "reference_audio_urls": ["a.wav"]},
     "Error: reference_audio_urls[0]: a.wav plays 0.5 s; allowed: 1-15 s for reference audio with wan3.0-video"),
    ({"a.wav": wav(9), "b.wav": wav(7)}, {"model": "wan3.0-video", "prompt": "p", "reference_urls": ["a.wav", "b.wav"]},
     "Error: media: the reference audio inputs play 16.0 s together; allowed: at most 15 s in all for wan3.0-video"),
    ({"a.mp4": clip(12)}, {"model": "wan3.0-video", "prompt": "continue it", "reference_video_urls": ["a.mp4"],
                           "duration": 20},
     "Error: duration: 20 s of output after 12.0 s of input video is over wan3.0-video's 30 s; allowed: at most 18"),
    ({"a.wav": wav(20.5)}, {"image_url": IMG, "audio_url": "a.wav"},
     "Error: audio_url: a.wav plays 20.5 s; allowed: at most 20 s for audio with wan2.2-s2v"),
    ({"a.mp4": clip(1.5)}, {"image_url": IMG, "video_url": "a.mp4"},
     "Error: video_url: a.mp4 plays 1.5 s; allowed: 2-30 s for video with wan2.2-animate-move"),
    ({"a.mp4": clip(31)}, {"model": "video-style-transform", "video_url": "a.mp4"},
     "Error: video_url: a.mp4 plays 31.0 s; allowed: at most 30 s for video with video-style-transform"),
    ({"a.mp4": clip(121), "b.wav": wav(3)}, {"model": "videoretalk", "video_url": "a.mp4", "audio_url": "b.wav"},
     "Error: video_url: a.mp4 plays 121.0 s; allowed: 2-120 s for video with videoretalk"),
])
def test_input_lengths_are_checked_before_paying(emu, tmp_path, files, request_fields, error):
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    result = run(["--request", json.dumps(request_fields)], env_for(emu), tmp_path)
    assert result.code == 64, result.stderr
    assert error in result.stderr
    assert emu.requests == []  # no upload, no check, no task


def test_lengths_within_the_limits_pass(tmp_path):
    for name, data in {"a.mp4": clip(9), "b.mp4": clip(6), "c.wav": wav(15)}.items():
        (tmp_path / name).write_bytes(data)
    request = {"model": "wan3.0-video", "prompt": "p", "reference_urls": ["a.mp4", "b.mp4", "c.wav"], "duration": 15}
    result = run(["--request", json.dumps(request), "--dry-run"], {}, tmp_path)
    assert result.code == 0, result.stderr


@pytest.mark.parametrize("files, request_fields, error", [
    ({"p.png": png_header(150, 600)}, {"image_url": "p.png", "video_url": VID},
     "Error: image_url: p.png is 150x600 px; allowed: 200-4096 px on each side for image with wan2.2-animate-move"),
    ({"p.png": png_header(300, 1000)}, {"image_url": "p.png", "video_url": VID},
     "Error: image_url: p.png is 300x1000 px, 3.33:1; allowed: at most 3:1 for image with wan2.2-animate-move"),
    ({"d.mp4": video_clip(2560, 1440, 30, 5)}, {"image_url": IMG, "video_url": "d.mp4"},
     "Error: video_url: d.mp4 is 2560x1440 px; allowed: 200-2048 px on each side for video with wan2.2-animate-move"),
    ({"p.png": png_header(390, 500)}, {"image_url": "p.png", "audio_url": MP3_URL},
     "Error: image_url: p.png is 390x500 px; allowed: 400-7000 px on each side for image with wan2.2-s2v"),
    ({"v.mp4": video_clip(1280, 720, 12, 5)}, {"model": "videoretalk", "video_url": "v.mp4", "audio_url": MP3_URL},
     "Error: video_url: v.mp4 runs at 12.0 fps; allowed: 15-60 fps for video with videoretalk"),
    ({"v.mp4": video_clip(480, 640, 25, 5)}, {"model": "videoretalk", "video_url": "v.mp4", "audio_url": MP3_URL},
     "Error: video_url: v.mp4 is 480x640 px; allowed: 640-2048 px on each side for video with videoretalk"),
    ({"v.mp4": video_clip(1920, 1000, 25, 5)}, {"model": "video-style-transform", "video_url": "v.mp4"},
     "Error: video_url: v.mp4 is 1920x1000 px, 1.92:1; allowed: at most 1.8:1 for video with video-style-transform"),
    ({"v.mp4": video_clip(1280, 720, 12, 5)}, {"model": "wan3.0-video", "prompt": "p", "reference_video_urls": ["v.mp4"]},
     "Error: reference_video_urls[0]: v.mp4 runs at 12.0 fps; allowed: at least 16 fps for reference video with "
     "wan3.0-video"),
    ({"f.png": png_header(200, 200)}, {"model": "wan3.0-video", "prompt": "p", "first_frame_url": "f.png"},
     "Error: first_frame_url: f.png is 200x200 px; allowed: 240-8000 px on each side for first frame with wan3.0-video"),
    ({"r.png": png_header(4500, 500)}, {"model": "wan3.0-video", "prompt": "p", "reference_images": ["r.png"]},
     "Error: reference_images[0]: r.png is 4500x500 px, 9.00:1; allowed: at most 8:1 for reference image with "
     "wan3.0-video"),
])
def test_input_sides_and_frame_rates_are_checked_before_paying(emu, tmp_path, files, request_fields, error):
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    result = run(["--request", json.dumps(request_fields)], env_for(emu), tmp_path)
    assert result.code == 64, result.stderr
    assert error in result.stderr
    assert emu.requests == []


def test_inputs_within_the_sides_and_rates_pass(tmp_path):
    (tmp_path / "p.png").write_bytes(png_header(1024, 1536))
    (tmp_path / "d.mp4").write_bytes(video_clip(720, 1280, 30, 6))
    result = run(["--request", json.dumps({"image_url": "p.png", "video_url": "d.mp4"}), "--dry-run"], {}, tmp_path)
    assert result.code == 0, result.stderr


def test_a_batch_item_whose_portrait_fails_costs_no_task_and_the_others_go_on(tmp_path):
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.1) as emu:
        emu.faceless.add(IMG2)
        lines = [json.dumps({"image_url": IMG, "audio_url": MP3_URL, "output": "ok.mp4"}),
                 json.dumps({"image_url": IMG2, "audio_url": MP3_URL, "output": "cat.mp4"})]
        (tmp_path / "talk.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        args = ["--batch", "talk.jsonl", "--output", "clips", "--poll-interval", "0.05", "--print-response"]
        result = run(args, env_for(emu), tmp_path, max_sleep=0.05)
        assert result.code == 1, result.stderr
        assert [t.body["input"]["image_url"] for t in emu.tasks.values()] == [IMG]
        assert (tmp_path / "clips" / "ok.mp4").exists() and not (tmp_path / "clips" / "cat.mp4").exists()
        assert "found no usable face" in result.stderr
        assert "PORTRAIT_REFUSED" in result.stdout
        # a rerun resumes: the saved item is not paid again, the refused portrait is checked again
        again = run(args, env_for(emu), tmp_path, max_sleep=0.05)
        assert again.code == 1 and len(emu.tasks) == 1


@pytest.mark.parametrize("name, head, megabytes, request_fields, error", [
    ("p.png", png_header(800, 800), 6, {"image_url": "p.png", "video_url": VID},
     "Error: image_url: p.png is 6.0 MB; allowed: at most 5 MB for image files with wan2.2-animate-move"),
    ("d.mp4", clip(5), 201, {"image_url": IMG, "video_url": "d.mp4"},
     "Error: video_url: d.mp4 is 201.0 MB; allowed: at most 200 MB for video files with wan2.2-animate-move"),
    ("a.mp3", b"ID3\x04\0\0\0\0\0\0", 16, {"image_url": IMG, "audio_url": "a.mp3"},
     "Error: audio_url: a.mp3 is 16.0 MB; allowed: at most 15 MB for audio files"),
    ("v.mp4", clip(5), 301, {"model": "videoretalk", "video_url": "v.mp4", "audio_url": MP3_URL},
     "Error: video_url: v.mp4 is 301.0 MB; allowed: at most 300 MB for video files with videoretalk"),
])
def test_file_sizes_follow_each_model(emu, tmp_path, name, head, megabytes, request_fields, error):
    with open(tmp_path / name, "wb") as handle:  # sparse: the size is what counts, not the bytes
        handle.write(head)
        handle.truncate(megabytes * 1024 * 1024)
    result = run(["--request", json.dumps(request_fields)], env_for(emu), tmp_path)
    assert result.code == 64, result.stderr
    assert error in result.stderr
    assert emu.requests == []
