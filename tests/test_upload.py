"""Local media: every field, every path form, and the upload flow (dashscope-api.md §5) on the wire."""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

from qianwen_video import cli, media, modes, payload
from qianwen_video.context import Context
from qianwen_video.upload.temp_storage import MAX_PARALLEL, run_bounded, safe_name
from tests.emulator import Emulator, Reply, Reset, Stall
from tests.harness import KEY, Result, creates, env_for, run
from tests.media_files import MP4, write_media

UPLOADS = r"^/api/v1/uploads$"
CREATE = "/api/v1/services/aigc/video-generation/video-synthesis"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture()
def emu():
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05, fail_seconds=0.02) as server:
        yield server


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(path: Path, size: int = 3000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_media(path, size)  # starts like its name says: local files are checked by content
    return path


def swap(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [swap(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: swap(v, fn) for k, v in value.items()}
    return value


def wire(emu) -> List[str]:
    """The request log as "METHOD path" lines, tasks and downloads left out."""
    return ["%s %s" % (r.method, r.path) for r in emu.requests
            if not r.path.startswith(("/api/v1/tasks", "/results/"))]


def oss_key(url: str) -> str:
    assert url.startswith("oss://"), url
    return url[len("oss://"):]


def run_with(args: List[str], env: Dict[str, str], cwd: Path, clock: Optional[Callable[[], float]] = None,
             tty: bool = False) -> Result:
    """Like harness.run, with an injected clock and terminal flag."""
    out, err = io.StringIO(), io.StringIO()
    sleeps: List[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(min(seconds, 0.02))

    ctx = Context(environ=dict(env), cwd=Path(cwd), stdout=out, stderr=err, sleep=sleep, stderr_isatty=tty,
                  **({"clock": clock} if clock else {}))
    code = cli.main(args, ctx)
    return Result(code, out.getvalue(), err.getvalue(), sleeps)


# -- every media field, every family: local files become oss:// URLs in the right places ----
# "@name" marks a local file the test creates under media/ (distinct random content each).
FIELD_CASES = [
    ("wan2.6-t2v", {"prompt": "x", "audio_url": "@bgm.mp3"}),
    ("wan2.6-i2v-flash", {"prompt": "x", "img_url": "@a.png", "audio_url": "@a.wav"}),
    ("wan2.2-kf2v-flash", {"prompt": "x", "first_frame_url": "@first.png", "last_frame_url": "@last.jpg",
                           "resolution": "480P"}),
    ("wan2.6-r2v-flash", {"prompt": "character1", "reference_urls": ["@r.png", "@r.mp4"], "size": "1280*720",
                          "duration": 5}),
    ("wanx2.1-vace-plus", {"function": "image_reference", "prompt": "x", "ref_images_url": ["@o.png", "@b.png"],
                           "obj_or_bg": ["obj", "bg"], "size": "1280*720"}),
    ("wanx2.1-vace-plus", {"function": "video_edit", "prompt": "x", "video_url": "@e.mp4",
                           "mask_image_url": "@mask.png", "mask_video_url": "@mask.mp4", "ref_images_url": ["@ref.png"]}),
    ("wanx2.1-vace-plus", {"function": "video_extension", "prompt": "x", "first_frame_url": "@ff.png",
                           "last_frame_url": "@lf.png", "first_clip_url": "@fc.mp4", "last_clip_url": "@lc.mp4"}),
    ("wan2.7-i2v", {"prompt": "x", "first_frame_url": "@f.png", "last_frame_url": "@l.png",
                    "driving_audio_url": "@d.wav"}),
    ("wan2.7-i2v", {"prompt": "x", "first_clip_url": "@clip.mp4", "last_frame_url": "@end.png"}),
    ("wan2.7-i2v", {"prompt": "x", "reference_image": "@ri.png"}),
    ("wan2.7-i2v", {"prompt": "x", "img_url": "@img.webp"}),
    ("wan2.7-r2v", {"prompt": "Image 1 and Video 1", "reference_urls": ["@p.png", "@q.mp4"],
                    "reference_images": ["@s.png"]}),
    ("wan2.7-r2v", {"prompt": "Video 1 sings", "media": [
        {"type": "reference_video", "url": "@v.mp4", "reference_voice": "@voice.wav"},
        {"type": "reference_image", "url": "@x.png"}]}),
    ("wan2.7-videoedit", {"prompt": "snow", "video_url": "@ve.mp4", "reference_images": ["@look.png"]}),
    ("happyhorse-1.1-i2v", {"prompt": "x", "first_frame_url": "@hh.png"}),
    ("happyhorse-1.1-r2v", {"prompt": "character1", "reference_urls": ["@h1.png", "@h2.png"]}),
    ("happyhorse-1.0-video-edit", {"prompt": "hat", "video_url": "@hv.mp4", "reference_urls": ["@hr.png"]}),
]


def materialize(request: Dict[str, Any], root: Path) -> Dict[str, str]:
    """Create every "@name" file; return name -> sha256."""
    made: Dict[str, str] = {}

    def make(value: str) -> str:
        if value.startswith("@"):
            path = write(root / "media" / value[1:], 1500 + len(made) * 7)
            made[value[1:]] = sha(path.read_bytes())
        return value

    swap(request, make)
    return made


@pytest.mark.parametrize("model, fields", FIELD_CASES, ids=["%s:%d" % (c[0], i) for i, c in enumerate(FIELD_CASES)])
def test_every_media_field_uploads_local_files_in_place(emu, tmp_path, model, fields):
    request = dict(fields, model=model)
    hashes = materialize(request, tmp_path)
    local = swap(request, lambda v: "media/" + v[1:] if v.startswith("@") else v)
    result = run(["--request", json.dumps(local), "--poll-interval", "0.02", "--print-response"],
                 env_for(emu), tmp_path)
    assert result.code == 0, result.stderr

    # the body is exactly what the same request with URLs would give, each URL the file's upload
    mode, _ = modes.resolve(request, None, None)
    placeholder = swap(request, lambda v: "https://x/%s/%s" % (hashes[v[1:]], v[1:]) if v.startswith("@") else v)
    expected = swap(payload.build(placeholder, model, mode).body,
                    lambda v: "sha:" + v.split("/")[3] if v.startswith("https://x/") else v)
    sent = creates(emu)[0]
    seen = swap(sent.json, lambda v: "sha:" + emu.objects[oss_key(v)].sha256 if v.startswith("oss://") else v)
    assert seen == expected
    assert sent.headers["x-dashscope-ossresourceresolve"] == "enable"
    # one policy for the model, one POST per file, every object bound to the model
    assert len(emu.requests_to("GET", UPLOADS)) == 1
    assert emu.requests_to("GET", UPLOADS)[0].query == {"action": "getPolicy", "model": model}
    assert len(emu.requests_to("POST", r"^/oss$")) == len(hashes)
    assert sorted(o.sha256 for o in emu.objects.values()) == sorted(hashes.values())
    assert {o.model for o in emu.objects.values()} == {model}
    assert result.json()["output"]["task_status"] == "SUCCEEDED"
    for name in hashes:
        assert re.search(r"Uploaded %s -> oss://dashscope-instant/\S+ \(48 h TTL\)" % re.escape(name), result.stderr)


def test_remote_values_pass_through_untouched(tmp_path):
    write(tmp_path / "a.png")
    values = ["https://example.com/a.png", "http://example.com/b.mp4", "oss://dashscope-instant/x/c.png",
              "data:image/png;base64,iVBORw0KGgo=", "a.png"]
    request = {"reference_urls": list(values), "media": [{"type": "reference_image", "url": "data:image/png;base64,AA"}]}
    calls: List[List[str]] = []

    def upload(files):
        calls.append([f.ref.label for f in files])
        return ["oss://up/%d" % i for i in range(len(files))]

    resolved = media.resolved(request, tmp_path, upload)
    assert calls == [["reference_urls[4]"]]
    assert resolved["reference_urls"] == values[:4] + ["oss://up/0"]
    assert resolved["media"] == request["media"]
    assert request["reference_urls"][4] == "a.png"  # the caller's request is not modified


def test_data_uri_is_sent_as_is_beside_an_upload(emu, tmp_path):
    data_uri = "data:audio/wav;base64,UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA="
    write(tmp_path / "first.png")
    request = {"model": "wan2.6-i2v-flash", "prompt": "x", "img_url": "first.png", "audio_url": data_uri}
    result = run(["--request", json.dumps(request), "--submit-only"], env_for(emu), tmp_path)
    assert result.code == 0, result.stderr
    body = creates(emu)[0].json
    assert body["input"]["audio_url"] == data_uri
    assert body["input"]["img_url"].startswith("oss://")
    assert len(emu.requests_to("POST", r"^/oss$")) == 1


def test_file_uri_and_home_forms(emu, tmp_path):
    spaced = write(tmp_path / "my pics" / "start frame.png")
    home = tmp_path / "home"
    tilde = write(home / "clips" / "end.png")
    uri = "file://" + str(spaced).replace(" ", "%20")
    request = {"model": "wan2.7-i2v", "prompt": "x", "first_frame_url": uri, "last_frame_url": "~/clips/end.png"}
    result = run(["--request", json.dumps(request), "--submit-only"], env_for(emu, HOME=str(home)), tmp_path)
    assert result.code == 0, result.stderr
    media_items = creates(emu)[0].json["input"]["media"]
    assert [m["type"] for m in media_items] == ["first_frame", "last_frame"]
    got = [emu.objects[oss_key(m["url"])].sha256 for m in media_items]
    assert got == [sha(spaced.read_bytes()), sha(tilde.read_bytes())]
    assert oss_key(media_items[0]["url"]).endswith("-start_frame.png")


@pytest.mark.parametrize("value, expected", [
    ("file:///C:/Users/me/a.png", "C:/Users/me/a.png"),
    ("file://C:/Users/me/a.png", "C:/Users/me/a.png"),
    ("C:\\Users\\me\\a.png", "C:\\Users\\me\\a.png"),
    ("D:/clips/b.mp4", "D:/clips/b.mp4"),
    ("file://localhost/srv/x.png", "/srv/x.png"),
    ("file:///tmp/with%20space.png", "/tmp/with space.png"),
    ("~/x.png", "/home/tester/x.png"),
    ("file:///~/x.png", "/~/x.png"),
])
def test_local_path_forms(tmp_path, value, expected):
    assert str(media.local_path(value, tmp_path, home="/home/tester")) == expected


@pytest.mark.parametrize("value", ["https://a/b.png", "http://a/b.png", "oss://bucket/k.png", "data:image/png;base64,AA"])
def test_urls_are_not_local_paths(tmp_path, value):
    assert media.local_path(value, tmp_path) is None


def test_a_windows_path_that_does_not_exist_is_an_error_naming_the_field(tmp_path):
    problems = media.problems({"img_url": "C:\\Users\\me\\missing.png"}, tmp_path)
    assert problems and problems[0].startswith("img_url: no such file: C:\\Users\\me\\missing.png")


# -- a typo'd path is an error before anything is sent -----------------------------------
@pytest.mark.parametrize("request_fields, label", [
    ({"model": "wan2.6-i2v-flash", "prompt": "x", "img_url": "pics/portriat.png"}, "img_url"),
    ({"model": "wan2.6-r2v-flash", "prompt": "character1", "reference_urls": ["https://a/x.png", "refs/typo.mp4"]},
     "reference_urls[1]"),
    ({"model": "wan2.7-r2v", "prompt": "Video 1", "media": [
        {"type": "reference_video", "url": "https://a/v.mp4", "reference_voice": "~/voice-typo.wav"}]},
     "media[0].reference_voice"),
    ({"model": "wan2.7-i2v", "prompt": "x", "first_frame_url": "file:///nowhere/at/all.png"}, "first_frame_url"),
])
def test_typo_exits_64_naming_the_field_and_nothing_is_sent(emu, tmp_path, request_fields, label):
    result = run(["--request", json.dumps(request_fields)], env_for(emu, HOME=str(tmp_path)), tmp_path)
    assert result.code == 64
    line = next(l for l in result.stderr.splitlines() if l.startswith("Error: " + label + ":"))
    assert "no such file" in line
    assert emu.requests == []  # not even getPolicy


def test_a_directory_is_not_a_file(emu, tmp_path):
    (tmp_path / "folder.png").mkdir()
    result = run(["--request", json.dumps({"prompt": "x", "img_url": "folder.png"})], env_for(emu), tmp_path)
    assert result.code == 64 and "img_url: not a regular file" in result.stderr
    assert emu.requests == []


# -- the flow on the wire ------------------------------------------------------------------
def test_two_files_with_the_same_name_both_arrive_under_different_keys(emu, tmp_path):
    first = write(tmp_path / "a" / "image.png", 4000)
    second = write(tmp_path / "b" / "image.png", 5000)
    request = {"model": "wan2.6-r2v-flash", "prompt": "character1 and character2",
               "reference_urls": ["a/image.png", "b/image.png"], "size": "1280*720"}
    result = run(["--request", json.dumps(request), "--submit-only"], env_for(emu), tmp_path)
    assert result.code == 0, result.stderr
    sent = creates(emu)[0]
    urls = sent.json["input"]["reference_urls"]
    keys = [oss_key(u) for u in urls]
    assert len(set(keys)) == 2 and all(k.endswith("image.png") for k in keys)
    assert [emu.objects[k].sha256 for k in keys] == [sha(first.read_bytes()), sha(second.read_bytes())]
    assert [emu.objects[k].size for k in keys] == [4000, 5000]
    assert sent.headers["x-dashscope-ossresourceresolve"] == "enable"
    assert wire(emu) == ["GET /api/v1/uploads", "POST /oss", "POST /oss",
                         "POST /api/v1/services/aigc/video-generation/video-synthesis"]
    assert result.stderr.count("Uploaded image.png -> oss://") == 2


def test_a_24_mib_file_arrives_intact_with_progress_on_a_terminal(emu, tmp_path):
    big = tmp_path / "big clip.mp4"
    block = os.urandom(1 << 20)
    digest = hashlib.sha256()
    with open(big, "wb") as handle:
        for index in range(24):
            chunk = (MP4 + block[len(MP4):]) if index == 0 else bytes([index]) + block[1:]
            handle.write(chunk)
            digest.update(chunk)
    request = {"model": "wan2.7-videoedit", "prompt": "snow", "video_url": str(big)}
    result = run_with(["--request", json.dumps(request), "--submit-only"], env_for(emu), tmp_path, tty=True)
    assert result.code == 0, result.stderr
    key = oss_key(creates(emu)[0].json["input"]["media"][0]["url"])
    stored = emu.objects[key]
    assert (stored.size, stored.sha256) == (24 << 20, digest.hexdigest())
    post = emu.requests_to("POST", r"^/oss$")[0]
    assert int(post.headers["content-length"]) == post.body_size > 24 << 20
    assert "transfer-encoding" not in post.headers
    assert re.search(r"\r\x1b\[2KUploading big clip\.mp4: 24\.0 MB of 24\.0 MB \(100%\), [\d.]+ (KB|MB)/s",
                     result.stderr), result.stderr
    assert "Uploaded big clip.mp4 -> oss://" in result.stderr


def test_no_progress_line_when_stderr_is_not_a_terminal(emu, tmp_path):
    big = tmp_path / "clip.mp4"
    write_media(big, 9 << 20)
    request = {"model": "wan2.7-videoedit", "prompt": "snow", "video_url": "clip.mp4"}
    result = run(["--request", json.dumps(request), "--submit-only"], env_for(emu), tmp_path)
    assert result.code == 0 and "\r" not in result.stderr and "Uploading" not in result.stderr


def test_one_policy_serves_three_files(emu, tmp_path):
    for name in ("1.png", "2.png", "3.png"):
        write(tmp_path / name)
    request = {"model": "happyhorse-1.1-r2v", "prompt": "character1", "reference_urls": ["1.png", "2.png", "3.png"]}
    result = run(["--request", json.dumps(request), "--submit-only"], env_for(emu), tmp_path)
    assert result.code == 0, result.stderr
    assert wire(emu) == ["GET /api/v1/uploads"] + ["POST /oss"] * 3 + [
        "POST /api/v1/services/aigc/video-generation/video-synthesis"]
    upload_dirs = {k.rsplit("/", 1)[0] for k in emu.objects}
    assert len(upload_dirs) == 1


def test_a_policy_the_server_calls_expired_is_refreshed_once_for_all_files(tmp_path):
    # The client's clock stands still, so only the server's 403 "Policy expired" tells it.
    with Emulator(api_keys=(KEY,), policy_ttl=1.0) as emu:
        emu.script("GET", UPLOADS, Stall(1.5, process=True))
        for name in ("1.png", "2.png", "3.png"):
            write(tmp_path / name)
        request = {"model": "happyhorse-1.1-r2v", "prompt": "c", "reference_urls": ["1.png", "2.png", "3.png"]}
        result = run_with(["--request", json.dumps(request), "--submit-only"], env_for(emu), tmp_path,
                          clock=lambda: 1000.0)
        assert result.code == 0, result.stderr
        # The log is in completion order, which interleaves across the upload threads; a
        # thread that starts after another's refresh uses the fresh policy directly.
        log = wire(emu)
        assert log[0] == "GET /api/v1/uploads" and log[-1] == "POST " + CREATE
        assert log.count("GET /api/v1/uploads") == 2  # one refresh, however many were refused
        assert 4 <= log.count("POST /oss") <= 6
        assert "Upload policy expired; fetching a fresh one" in result.stderr
        assert len(emu.objects) == 3
        urls = creates(emu)[0].json["input"]["media"]
        assert [emu.objects[oss_key(m["url"])].sha256 for m in urls] == [
            sha((tmp_path / n).read_bytes()) for n in ("1.png", "2.png", "3.png")]


def test_a_policy_the_server_calls_expired_is_refreshed_and_the_file_sent_again(tmp_path):
    with Emulator(api_keys=(KEY,), policy_ttl=1.0) as emu:
        emu.script("GET", UPLOADS, Stall(1.5, process=True))
        data = write(tmp_path / "a.png").read_bytes()
        request = {"model": "wan2.6-i2v-flash", "prompt": "x", "img_url": "a.png"}
        result = run_with(["--request", json.dumps(request), "--submit-only"], env_for(emu), tmp_path,
                          clock=lambda: 1000.0)
        assert result.code == 0, result.stderr
        assert wire(emu) == ["GET /api/v1/uploads", "POST /oss", "GET /api/v1/uploads", "POST /oss", "POST " + CREATE]
        key = oss_key(creates(emu)[0].json["input"]["img_url"])
        assert emu.objects[key].sha256 == sha(data)
        assert result.sleeps == []  # a refresh, not a backoff


def test_a_policy_near_its_end_is_replaced_before_uploading(tmp_path):
    # expire_in_seconds 31 leaves 1 s after the 30 s safety margin; the slow first answer uses it up.
    with Emulator(api_keys=(KEY,), policy_ttl=31) as emu:
        emu.script("GET", UPLOADS, Stall(1.2, process=True))
        write(tmp_path / "a.png")
        request = {"model": "wan2.6-i2v-flash", "prompt": "x", "img_url": "a.png"}
        result = run(["--request", json.dumps(request), "--submit-only"], env_for(emu), tmp_path)
        assert result.code == 0, result.stderr
        assert wire(emu) == ["GET /api/v1/uploads", "GET /api/v1/uploads", "POST /oss",
                             "POST /api/v1/services/aigc/video-generation/video-synthesis"]
        assert "expired" not in result.stderr


def test_oss_503_then_200_is_retried(emu, tmp_path):
    emu.script("POST", r"^/oss$", Reply(503, body="<Error><Code>ServiceUnavailable</Code><Message>busy</Message></Error>",
                                         content_type="application/xml"))
    data = write(tmp_path / "a.png", 200_000).read_bytes()
    request = {"model": "wan2.6-i2v-flash", "prompt": "x", "img_url": "a.png"}
    result = run(["--request", json.dumps(request), "--submit-only"], env_for(emu), tmp_path)
    assert result.code == 0, result.stderr
    assert wire(emu) == ["GET /api/v1/uploads", "POST /oss", "POST /oss",
                         "POST /api/v1/services/aigc/video-generation/video-synthesis"]
    posts = emu.requests_to("POST", r"^/oss$")
    assert posts[0].action == "Reply" and posts[0].body_size == posts[1].body_size
    assert [o.sha256 for o in emu.objects.values()] == [sha(data)]
    assert len(result.sleeps) == 1 and 0.5 <= result.sleeps[0] <= 1.0
    assert "file upload: HTTP 503; retrying" in result.stderr


def test_a_dropped_connection_during_the_post_is_retried(emu, tmp_path):
    emu.script("POST", r"^/oss$", Reset())
    write(tmp_path / "a.png")
    result = run(["--request", json.dumps({"model": "wan2.6-i2v-flash", "prompt": "x", "img_url": "a.png"}),
                  "--submit-only"], env_for(emu), tmp_path)
    assert result.code == 0, result.stderr
    assert wire(emu).count("POST /oss") == 2 and len(emu.objects) == 1


def test_getpolicy_429_waits_the_hinted_time(emu, tmp_path):
    emu.script("GET", UPLOADS, Reply(429, json={"code": "Throttling.RateQuota", "message": "Requests rate limit exceeded"},
                                      headers={"Retry-After": "3"}))
    write(tmp_path / "a.png")
    result = run(["--request", json.dumps({"model": "wan2.6-i2v-flash", "prompt": "x", "img_url": "a.png"}),
                  "--submit-only"], env_for(emu), tmp_path)
    assert result.code == 0, result.stderr
    assert result.sleeps == [3.0]
    assert wire(emu) == ["GET /api/v1/uploads", "GET /api/v1/uploads", "POST /oss",
                         "POST /api/v1/services/aigc/video-generation/video-synthesis"]


def test_getpolicy_failing_for_good_is_exit_1(emu, tmp_path):
    for _ in range(5):
        emu.script("GET", UPLOADS, Reply(503, json={"code": "ServiceUnavailable", "message": "down"}))
    write(tmp_path / "a.png")
    result = run(["--request", json.dumps({"model": "wan2.6-i2v-flash", "prompt": "x", "img_url": "a.png"})],
                 env_for(emu), tmp_path)
    assert result.code == 1 and "upload policy failed: HTTP 503" in result.stderr
    assert len(emu.requests_to("GET", UPLOADS)) == 5 and not creates(emu)


def test_a_file_over_the_policy_limit_is_refused_before_any_byte_is_sent(tmp_path):
    with Emulator(api_keys=(KEY,), max_file_size_mb=1) as emu:
        write(tmp_path / "small.png", 1000)
        write(tmp_path / "big.png", (1 << 20) + 1)
        request = {"model": "happyhorse-1.1-r2v", "prompt": "c", "reference_urls": ["small.png", "big.png"]}
        result = run(["--request", json.dumps(request)], env_for(emu), tmp_path)
        assert result.code == 64
        assert "reference_urls[1]: file is 1.0 MB, over the 1 MB upload limit for happyhorse-1.1-r2v" in result.stderr
        assert wire(emu) == ["GET /api/v1/uploads"]
        assert emu.objects == {}


def test_an_oss_refusal_is_exit_1_with_the_oss_message(emu, tmp_path):
    emu.script("POST", r"^/oss$", Reply(403, body="<Error><Code>AccessDenied</Code><Message>Invalid according to "
                                             "Policy: Policy Condition failed</Message></Error>",
                                        content_type="application/xml"))
    write(tmp_path / "a.png")
    result = run(["--request", json.dumps({"model": "wan2.6-i2v-flash", "prompt": "x", "img_url": "a.png"})],
                 env_for(emu), tmp_path)
    assert result.code == 1
    assert "upload of a.png (img_url) failed: HTTP 403 AccessDenied: Invalid according to Policy" in result.stderr
    assert not creates(emu)


def test_many_files_upload_concurrently_and_keep_the_request_order(emu, tmp_path):
    names = ["%d.png" % i for i in range(7)]
    for index, name in enumerate(names):  # the first files are the largest, so they finish last
        write(tmp_path / name, (7 - index) * 400_000)
    request = {"model": "happyhorse-1.1-r2v", "prompt": "c", "reference_urls": names}
    result = run(["--request", json.dumps(request), "--submit-only"], env_for(emu), tmp_path)
    assert result.code == 0, result.stderr
    items = creates(emu)[0].json["input"]["media"]
    assert [emu.objects[oss_key(m["url"])].sha256 for m in items] == [
        sha((tmp_path / n).read_bytes()) for n in names]


def test_run_bounded_runs_at_most_max_parallel_at_once_in_order():
    active, peak = [0], [0]
    lock = threading.Lock()
    gate = threading.Barrier(MAX_PARALLEL, timeout=5)

    def upload(item):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        if item < MAX_PARALLEL:
            gate.wait()  # proves MAX_PARALLEL uploads really run together
        time.sleep(0.01 * (10 - item))
        with lock:
            active[0] -= 1
        return "url-%d" % item

    assert run_bounded(upload, list(range(10))) == ["url-%d" % i for i in range(10)]
    assert peak[0] == MAX_PARALLEL


@pytest.mark.parametrize("name, safe", [("image.png", "image.png"), ("图片.png", "file.png"),
                                        ("my photo (1).JPG", "my_photo_1.JPG"), ("noext", "noext")])
def test_safe_names_keep_the_extension(name, safe):
    assert safe_name(name) == safe


def test_dry_run_lists_the_uploads_and_sends_nothing(emu, tmp_path):
    write(tmp_path / "a.png", 1234)
    result = run(["--request", json.dumps({"model": "wan2.6-i2v-flash", "prompt": "x", "img_url": "a.png"}),
                  "--dry-run"], env_for(emu), tmp_path)
    assert result.code == 0, result.stderr
    first, create = result.json()["requests"]
    assert first["method"] == "GET" and "action=getPolicy&model=wan2.6-i2v-flash" in first["url"]
    assert first["uploads"] == [{"field": "img_url", "path": str(tmp_path / "a.png"), "bytes": 1234}]
    assert create["headers"]["X-DashScope-OssResourceResolve"] == "enable"
    assert emu.requests == []
