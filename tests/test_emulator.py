"""Tests of the DashScope video API emulator itself (urllib against the live local server)."""
from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from typing import Any, Dict, List, Optional, Tuple

import pytest

from tests.emulator import Emulator, Reply, Reset, Stall, Truncate
from tests.emulator import models as M
from tests.emulator.server import FIXTURE

KEY = "sk-test-0123456789abcdef"
T2V = "/services/aigc/video-generation/video-synthesis"
KF2V = "/services/aigc/image2video/video-synthesis"
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def call(method: str, url: str, body: Any = None, headers: Optional[Dict[str, str]] = None, key: Optional[str] = KEY,
         raw: Optional[bytes] = None, timeout: float = 5) -> Tuple[int, Dict[str, str], bytes]:
    h: Dict[str, str] = {}
    if key is not None:
        h["Authorization"] = "Bearer " + key
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
    if data is not None:
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def submit(emu: Emulator, body: Dict[str, Any], route: str = T2V, headers: Optional[Dict[str, str]] = None,
           **kw: Any) -> Tuple[int, Any]:
    h = {"X-DashScope-Async": "enable"}
    h.update(headers or {})
    st, _, b = call("POST", emu.base_url + route, body, h, **kw)
    return st, json.loads(b)


def poll(emu: Emulator, task_id: str) -> Dict[str, Any]:
    st, _, b = call("GET", emu.base_url + "/tasks/" + task_id)
    assert st == 200
    return json.loads(b)


def wait_final(emu: Emulator, task_id: str, limit: float = 3.0) -> Dict[str, Any]:
    deadline = time.monotonic() + limit
    while True:
        d = poll(emu, task_id)
        if d["output"]["task_status"] in ("SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"):
            return d
        assert time.monotonic() < deadline, d
        time.sleep(0.02)


def t2v(model: str = "wan2.6-t2v", **params: Any) -> Dict[str, Any]:
    # every documented client sends "parameters", at least {} (doc 4.3 BadRequest.EmptyParameters)
    return {"model": model, "input": {"prompt": "a cat", "extend_prompt": True, "function": "video-synthesis"},
            "parameters": params}


@pytest.fixture
def emu():
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05, fail_seconds=0.02,
                  submit_rps={"wan2.6-t2v": 1000, "wan2.2-t2v-plus": 1000}) as e:
        yield e


def assert_error(status: int, data: Any, want_status: int, code: str, message: Optional[str] = None) -> None:
    assert status == want_status, data
    assert set(data) == {"code", "message", "request_id"}, data
    assert data["code"] == code
    if message is not None:
        assert data["message"] == message


# ------------------------------------------------------------------ submit + lifecycle
def test_submit_poll_download_happy_path(emu):
    st, d = submit(emu, t2v(size="1280*720", duration=5))
    assert st == 200
    assert d["output"]["task_status"] == "PENDING"
    uuid.UUID(d["output"]["task_id"]), uuid.UUID(d["request_id"])
    tid = d["output"]["task_id"]
    final = wait_final(emu, tid)
    out = final["output"]
    assert out["task_status"] == "SUCCEEDED"
    for k in ("submit_time", "scheduled_time", "end_time"):
        assert TIME_RE.match(out[k]), out[k]
    assert out["orig_prompt"] == "a cat"
    assert "actual_prompt" not in out  # never for wan2.6 (doc 4.2)
    assert final["usage"]["video_count"] == 1 and final["usage"]["SR"] == 720
    assert final["usage"]["size"] == "1280*720"
    url = out["video_url"]
    assert url.startswith(emu.url + "/results/" + tid + "/")
    assert re.search(r"\.mp4\?Expires=\d+&OSSAccessKeyId=LTAItest&Signature=\S+$", url)
    st, h, body = call("GET", url, key=None)
    assert st == 200 and h["content-type"] == "video/mp4"
    with open(FIXTURE, "rb") as fh:
        assert body == fh.read()
    assert int(h["content-length"]) == len(body)
    task = emu.tasks[tid]
    assert task.route == "video-generation" and task.model == "wan2.6-t2v"
    assert task.statuses[-1] == "SUCCEEDED" and task.final_status == "SUCCEEDED"
    assert emu.created_count() == 1
    rec = emu.requests_to("POST", r"/video-synthesis$")[0]
    assert rec.json["model"] == "wan2.6-t2v" and rec.headers["x-dashscope-async"] == "enable"


def test_fake_clock_lifecycle():
    clock = FakeClock()
    with Emulator(api_keys=(KEY,), pending_seconds=10, run_seconds=100, clock=clock) as emu:
        _, d = submit(emu, t2v())
        tid = d["output"]["task_id"]
        assert poll(emu, tid)["output"]["task_status"] == "PENDING"
        clock.t += 10
        o = poll(emu, tid)["output"]
        assert o["task_status"] == "RUNNING" and "scheduled_time" in o
        clock.t += 99.9
        assert poll(emu, tid)["output"]["task_status"] == "RUNNING"
        clock.t += 0.2
        assert poll(emu, tid)["output"]["task_status"] == "SUCCEEDED"
        assert emu.tasks[tid].statuses == ["PENDING", "RUNNING", "SUCCEEDED"]


def test_submit_sync_errors(emu):
    base = emu.base_url + T2V
    st, _, b = call("POST", base, t2v(), {"X-DashScope-Async": "enable"}, key=None)
    assert_error(st, json.loads(b), 401, "InvalidApiKey", "No API-key provided.")
    st, _, b = call("POST", base, t2v(), {"X-DashScope-Async": "enable"}, key="sk-wrong")
    assert_error(st, json.loads(b), 401, "InvalidApiKey", "Invalid API-key provided.")
    st, _, b = call("POST", base, t2v())
    assert_error(st, json.loads(b), 403, "AccessDenied", "current user api does not support synchronous calls")
    st, _, b = call("POST", base, raw=b"{not json", headers={"X-DashScope-Async": "enable"})
    assert_error(st, json.loads(b), 400, "InvalidParameter")
    st, d = submit(emu, {"input": {"prompt": "x"}})
    assert_error(st, d, 400, "BadRequest.EmptyModel")
    st, d = submit(emu, {"model": "wan2.6-t2v"})
    assert_error(st, d, 400, "BadRequest.EmptyInput")
    st, d = submit(emu, t2v("wan9.9-t2v"))
    assert_error(st, d, 400, "InvalidParameter", "Model not exist.")
    url_msg = "url error, please check url! For details, see: https://help.aliyun.com/zh/model-studio"
    st, d = submit(emu, {"model": "wan2.2-kf2v-flash", "input": {"first_frame_url": "https://x/a.png"},
                         "parameters": {}})
    assert_error(st, d, 400, "InvalidParameter", url_msg)
    st, d = submit(emu, t2v(), route=KF2V)
    assert_error(st, d, 400, "InvalidParameter", url_msg)
    body = {"model": "wan2.7-i2v", "input": {"media": [{"type": "first_frame", "url": "oss://dashscope-instant/a/b.png"}]},
            "parameters": {}}
    st, d = submit(emu, body)
    assert_error(st, d, 400, "InvalidParameter.DataInspection",
                 "The media format is not supported or incorrect for the data inspection.")
    emu.activated_models = {"wan2.6-t2v"}
    st, d = submit(emu, t2v("wan2.7-t2v"))
    assert_error(st, d, 403, "AccessDenied.Unpurchased",
                 "Access to model denied. Please make sure you are eligible for using the model.")
    assert emu.created_count() == 0


def test_kf2v_route_accepted(emu):
    st, d = submit(emu, {"model": "wan2.2-kf2v-flash", "input": {"first_frame_url": "https://x/a.png"},
                         "parameters": {}}, route=KF2V)
    assert st == 200
    final = wait_final(emu, d["output"]["task_id"])
    assert final["output"]["task_status"] == "SUCCEEDED"
    assert final["usage"] == {"video_duration": 5, "video_count": 1, "SR": 720}
    assert emu.tasks[d["output"]["task_id"]].route == "image2video"


def test_submit_rate_limit():
    with Emulator(api_keys=(KEY,), submit_rps={"wan2.6-t2v": 2}) as emu:
        assert submit(emu, t2v())[0] == 200
        assert submit(emu, t2v())[0] == 200
        st, d = submit(emu, t2v())
        assert_error(st, d, 429, "Throttling.RateQuota", "Requests rate limit exceeded, please try again later.")
        assert emu.created_count() == 2


def test_default_rate_limit_from_doc_table():
    clock = FakeClock()
    with Emulator(api_keys=(KEY,), clock=clock) as emu:
        assert [submit(emu, t2v("wan2.2-t2v-plus"))[0] for _ in range(3)] == [200, 200, 429]  # 2 RPS (doc 6)
        clock.t += 1.01
        assert submit(emu, t2v("wan2.2-t2v-plus"))[0] == 200


# ------------------------------------------------------------------ late validation
@pytest.mark.parametrize("body,message", [
    (t2v("wan2.6-t2v", duration=20), "Duration should be between 2 and 15"),
    (t2v("wan2.2-t2v-plus", size="1280*720"),
     "size must be in 1080*1920,1920*1080,1440*1440,1632*1248,1248*1632,480*832,832*480,624*624"),
    (t2v("wan2.2-t2v-plus", duration=3), "duration customization is not supported"),
    (t2v("wan2.7-t2v", resolution="480P"), "Input should be '1080P' or '720P'"),
    ({"model": "wan2.7-i2v", "input": {"img_url": "https://x/a.png"}, "parameters": {}}, "Field required: input.media"),
])
def test_late_validation_over_http(emu, body, message):
    st, d = submit(emu, body)
    assert st == 200 and d["output"]["task_status"] == "PENDING"
    final = wait_final(emu, d["output"]["task_id"])
    assert final["output"]["task_status"] == "FAILED"
    assert final["output"]["code"] == "InvalidParameter"
    assert final["output"]["message"] == message
    assert "usage" not in final and "video_url" not in final["output"]


MEDIA = lambda *types: [{"type": t, "url": "https://x/%d.%s" % (i, "mp4" if "video" in t or "clip" in t else "png")}
                        for i, t in enumerate(types)]


@pytest.mark.parametrize("body,ok", [
    # legacy t2v / i2v / kf2v
    (t2v("wan2.6-t2v", duration=15, size="1920*1080"), True),
    (t2v("wan2.6-t2v", size="832*480"), False),
    (t2v("wan2.6-t2v-us", duration=15), False),
    (t2v("wan2.5-t2v-preview", duration=10, size="832*480"), True),
    (t2v("wanx2.1-t2v-turbo", size="832*480"), True),
    (t2v("wan2.1-t2v-plus", size="832*480"), False),
    (t2v("wan2.6-t2v", shot_type="multi", audio=True, unknown_key=1), True),
    ({"model": "wan2.6-i2v", "input": {"prompt": "x"}}, False),
    ({"model": "wan2.6-i2v-flash", "input": {"img_url": "https://x/a.png"}, "parameters": {"resolution": "480P"}}, False),
    ({"model": "wanx2.1-i2v-turbo", "input": {"img_url": "https://x/a.png"}, "parameters": {"duration": 4}}, True),
    ({"model": "wanx2.1-i2v-turbo", "input": {"img_url": "https://x/a.png"}, "parameters": {"duration": 6}}, False),
    ({"model": "wan2.2-kf2v-flash", "input": {"first_frame_url": "u"}, "parameters": {"duration": 10}}, False),
    ({"model": "wanx2.1-kf2v-plus", "input": {"first_frame_url": "u"}, "parameters": {"resolution": "1080P"}}, False),
    ({"model": "wanx2.1-kf2v-plus", "input": {"last_frame_url": "u"}}, False),
    # effect templates (wanx2.1 i2v / kf2v in Beijing only)
    ({"model": "wanx2.1-i2v-plus", "input": {"img_url": "https://x/a.png", "template": "melt"}}, True),
    ({"model": "wanx2.1-i2v-plus", "input": {"img_url": "https://x/a.png", "template": "hanfu-1"}}, False),
    ({"model": "wan2.1-i2v-plus", "input": {"img_url": "https://x/a.png", "template": "melt"}}, False),
    ({"model": "wan2.6-i2v", "input": {"img_url": "https://x/a.png", "template": "melt"}}, False),
    ({"model": "wanx2.1-kf2v-plus", "input": {"first_frame_url": "u", "template": "mech2"}}, True),
    ({"model": "wanx2.1-kf2v-plus", "input": {"first_frame_url": "u", "last_frame_url": "v", "template": "mech2"}},
     False),
    ({"model": "wan2.2-kf2v-flash", "input": {"first_frame_url": "u", "template": "mech2"}}, False),
    # r2v 2.6
    ({"model": "wan2.6-r2v", "input": {"prompt": "p", "reference_urls": ["a.mp4", "b.mp4", "c.png"]}}, True),
    ({"model": "wan2.6-r2v", "input": {"prompt": "p", "reference_urls": ["a.mp4"] * 4}}, False),
    ({"model": "wan2.6-r2v", "input": {"prompt": "p", "reference_urls": ["a.png"] * 6}}, False),
    ({"model": "wan2.6-r2v-flash", "input": {"prompt": "p", "reference_urls": ["a.png"]},
      "parameters": {"duration": 11}}, False),
    # vace
    ({"model": "wanx2.1-vace-plus", "input": {"prompt": "p", "function": "video-synthesis"}}, False),
    ({"model": "wanx2.1-vace-plus", "input": {"prompt": "p"}}, False),
    ({"model": "wanx2.1-vace-plus", "input": {"prompt": "p", "function": "image_reference",
                                              "ref_images_url": ["a", "b"]}, "parameters": {"obj_or_bg": ["obj"]}}, False),
    ({"model": "wan2.1-vace-plus", "input": {"prompt": "p", "function": "image_reference",
                                             "ref_images_url": ["a", "b"]}, "parameters": {"obj_or_bg": ["obj", "bg"]}}, True),
    ({"model": "wanx2.1-vace-plus", "input": {"prompt": "p", "function": "image_reference", "ref_images_url": []}}, False),
    ({"model": "wanx2.1-vace-plus", "input": {"prompt": "p", "function": "video_repainting", "video_url": "v.mp4"}}, False),
    ({"model": "wanx2.1-vace-plus", "input": {"prompt": "p", "function": "video_repainting", "video_url": "v.mp4"},
      "parameters": {"control_condition": "depth"}}, True),
    # wan2.7
    (t2v("wan2.7-t2v-2026-04-25", ratio="4:3", duration=2), True),
    (t2v("wan2.7-t2v-2026-06-12", ratio="21:9"), False),
    ({"model": "wan2.7-t2v", "input": {"negative_prompt": "x"}}, False),
    ({"model": "wan2.7-i2v-2026-04-25", "input": {"media": MEDIA("first_frame", "last_frame", "driving_audio")}}, True),
    ({"model": "wan2.7-i2v", "input": {"media": MEDIA("first_clip", "last_frame")}}, True),
    ({"model": "wan2.7-i2v", "input": {"media": MEDIA("last_frame")}}, False),
    ({"model": "wan2.7-i2v", "input": {"media": MEDIA("first_clip", "driving_audio")}}, False),
    ({"model": "wan2.7-i2v", "input": {"media": MEDIA("first_frame", "first_frame")}}, False),
    ({"model": "wan2.7-r2v-2026-06-12", "input": {"prompt": "p", "media": MEDIA("reference_video", "reference_image")},
      "parameters": {"duration": 10}}, True),
    ({"model": "wan2.7-r2v", "input": {"prompt": "p", "media": MEDIA("reference_video")},
      "parameters": {"duration": 12}}, False),
    ({"model": "wan2.7-r2v", "input": {"prompt": "p", "media": MEDIA("reference_image")},
      "parameters": {"duration": 12}}, True),
    ({"model": "wan2.7-r2v", "input": {"prompt": "p", "media": MEDIA(*["reference_image"] * 6)}}, False),
    ({"model": "wan2.7-r2v", "input": {"prompt": "p", "media": MEDIA("first_frame")}}, False),
    ({"model": "wan2.7-videoedit", "input": {"media": MEDIA("video", *["reference_image"] * 4)},
      "parameters": {"duration": 0}}, True),
    ({"model": "wan2.7-videoedit", "input": {"media": MEDIA("reference_image")}}, False),
    # happyhorse
    (t2v("happyhorse-1.0-t2v", duration=2), False),
    (t2v("happyhorse-1.1-t2v", ratio="21:9", duration=15), True),
    (t2v("happyhorse-1.0-t2v", ratio="21:9"), False),
    ({"model": "happyhorse-1.0-i2v", "input": {"media": MEDIA("first_frame")}}, True),
    ({"model": "happyhorse-1.1-i2v", "input": {"img_url": "https://x/a.png"}}, False),
    ({"model": "happyhorse-1.1-r2v", "input": {"prompt": "p", "media": MEDIA(*["reference_image"] * 9)}}, True),
    ({"model": "happyhorse-1.0-r2v", "input": {"media": MEDIA("reference_image")}}, False),
    ({"model": "happyhorse-1.0-video-edit", "input": {"media": MEDIA("video", "reference_image")},
      "parameters": {"audio_setting": "origin"}}, True),
    (t2v("wan2.6-t2v", seed=-1), False),
])
def test_rules_table(body, ok):
    spec = M.resolve_model(body["model"])
    assert spec is not None
    msg = M.validate(spec, body)
    assert (msg is None) == ok, msg


def test_catalogue_covers_doc_models():
    for name in ["wanx2.1-t2v-turbo", "wan2.1-t2v-turbo", "wanx2.1-i2v-plus", "wan2.1-i2v-plus", "wan2.2-i2v-flash",
                 "wan2.5-i2v-preview", "wan2.6-i2v-us", "wan2.6-r2v-flash", "wan2.1-kf2v-plus", "wanx-kf2v",
                 "wan2.7-videoedit", "happyhorse-1.1-r2v", "happyhorse-1.0-video-edit"]:
        assert M.resolve_model(name) is not None, name
    assert M.resolve_model("wan2.7-t2v-2026-04-25").route == "video-generation"
    assert M.resolve_model("wan2.2-kf2v-flash").route == "image2video"
    assert M.resolve_model("happyhorse-1.1-videoedit") is None


# ------------------------------------------------------------------ query / cancel / list
def test_get_task_unknown_and_auth(emu):
    st, _, b = call("GET", emu.base_url + "/tasks/nope-123")
    assert st == 200
    d = json.loads(b)
    assert d["output"] == {"task_id": "nope-123", "task_status": "UNKNOWN"} and d["request_id"]
    st, _, b = call("GET", emu.base_url + "/tasks/nope-123", key=None)
    assert_error(st, json.loads(b), 401, "InvalidApiKey")


def test_cancel_semantics():
    clock = FakeClock()
    with Emulator(api_keys=(KEY,), pending_seconds=5, run_seconds=5, clock=clock) as emu:
        tid = submit(emu, t2v())[1]["output"]["task_id"]
        st, _, b = call("POST", emu.base_url + "/tasks/%s/cancel" % tid)
        assert st == 200 and list(json.loads(b)) == ["request_id"]
        assert poll(emu, tid)["output"]["task_status"] == "CANCELED"
        st, _, b = call("POST", emu.base_url + "/tasks/%s/cancel" % tid)
        msg = "Failed to cancel the task, please confirm if the task is in PENDING status."
        assert_error(st, json.loads(b), 400, "UnsupportedOperation", msg)
        tid2 = submit(emu, t2v())[1]["output"]["task_id"]
        clock.t += 6
        assert poll(emu, tid2)["output"]["task_status"] == "RUNNING"
        st, _, b = call("POST", emu.base_url + "/tasks/%s/cancel" % tid2)
        assert_error(st, json.loads(b), 400, "UnsupportedOperation", msg)
        clock.t += 10
        assert poll(emu, tid2)["output"]["task_status"] == "SUCCEEDED"
        st, _, b = call("POST", emu.base_url + "/tasks/unknown/cancel")
        assert st == 400
        assert emu.tasks[tid].final_status == "CANCELED"


def test_list_tasks_filters_and_paging():
    clock = FakeClock()
    with Emulator(api_keys=(KEY,), pending_seconds=1, run_seconds=1, clock=clock,
                  submit_rps={"wan2.6-t2v": 100}) as emu:
        ids = [submit(emu, t2v())[1]["output"]["task_id"] for _ in range(3)]
        other = submit(emu, t2v("wan2.7-t2v"))[1]["output"]["task_id"]
        clock.t += 5
        st, _, b = call("GET", emu.base_url + "/tasks?model_name=wan2.6-t2v&page_size=2&page_no=1")
        d = json.loads(b)
        assert st == 200 and d["total"] == 3 and d["total_page"] == 2 and d["page_no"] == 1 and d["page_size"] == 2
        assert len(d["data"]) == 2
        item = d["data"][0]
        for k in ("task_id", "model_name", "status", "gmt_create", "start_time", "end_time", "request_id", "region"):
            assert k in item
        assert item["status"] == "SUCCEEDED" and isinstance(item["gmt_create"], int)
        st, _, b = call("GET", emu.base_url + "/tasks/?model_name=wan2.6-t2v&page_size=2&page_no=2")
        assert [x["task_id"] for x in json.loads(b)["data"]] == [ids[0]]
        st, _, b = call("GET", emu.base_url + "/tasks?model_name=wan2.7-t2v&status=SUCCEEDED")
        assert [x["task_id"] for x in json.loads(b)["data"]] == [other]
        st, _, b = call("GET", emu.base_url + "/tasks?status=FAILED")
        assert json.loads(b)["total"] == 0
        st, _, b = call("GET", emu.base_url + "/tasks?start_time=20000101000000&end_time=20000101120000")
        assert st == 200 and json.loads(b)["total"] == 0
        st, _, b = call("GET", emu.base_url + "/tasks?start_time=2000-01-01")
        assert st == 400
        st, _, b = call("GET", emu.base_url + "/tasks", key=None)
        assert st == 401


@pytest.mark.parametrize("query", [
    "end_time=garbage", "start_time=2000-01-01", "end_time=20001301000000", "start_time=20000101000000x",
    "start_time=&end_time=2000", "end_time=%FF",
])
def test_list_with_a_malformed_time_is_a_400_not_a_500(emu, query):
    st, _, b = call("GET", emu.base_url + "/tasks?" + query)
    assert_error(st, json.loads(b), 400, "InvalidParameter")


@pytest.mark.parametrize("zone", [0, 8])
def test_list_window_and_task_times_follow_the_zone_setting(zone):
    import datetime as dt

    with Emulator(api_keys=(KEY,), zone_hours=zone) as emu:
        tid = submit(emu, t2v())[1]["output"]["task_id"]
        now = time.time()

        def listed(shift_hours):
            def stamp(t):
                return time.strftime("%Y%m%d%H%M%S", time.gmtime(t + shift_hours * 3600))
            st, _, b = call("GET", emu.base_url + "/tasks?start_time=%s&end_time=%s" % (stamp(now - 60), stamp(now + 60)))
            assert st == 200
            return [x["task_id"] for x in json.loads(b)["data"]]

        # the window is read in the emulator's zone: UTC times find the task only when zone=0,
        # the same times as UTC+8 wall clock only when zone=8
        assert listed(0) == ([tid] if zone == 0 else [])
        assert listed(8) == ([tid] if zone == 8 else [])
        submitted = dt.datetime.strptime(poll(emu, tid)["output"]["submit_time"], "%Y-%m-%d %H:%M:%S.%f")
        utc = dt.datetime.fromtimestamp(now, tz=dt.timezone.utc).replace(tzinfo=None)
        assert abs((submitted - utc).total_seconds() - zone * 3600) < 60


# ------------------------------------------------------------------ strictness (issue 12): synchronous refusals
def test_create_without_parameters_is_bad_request_empty_parameters(emu):
    body = t2v()
    del body["parameters"]
    st, d = submit(emu, body)
    assert_error(st, d, 400, "BadRequest.EmptyParameters", 'Required parameter "parameters" missing from request.')
    st, d = submit(emu, dict(body, parameters=None))
    assert_error(st, d, 400, "BadRequest.EmptyParameters")
    st, d = submit(emu, dict(body, parameters=[]))
    assert_error(st, d, 400, "InvalidParameter")
    assert emu.created_count() == 0
    assert submit(emu, dict(body, parameters={}))[0] == 200  # an empty object is enough
    assert emu.created_count() == 1


def _raw_create(emu, content_type):
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    headers = {"Authorization": "Bearer " + KEY, "X-DashScope-Async": "enable"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    conn.request("POST", "/api/v1" + T2V, body=json.dumps(t2v()).encode(), headers=headers)
    r = conn.getresponse()
    out = r.status, json.loads(r.read())
    conn.close()
    return out


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "application/jsonx"])
def test_create_without_a_json_content_type_is_refused(emu, content_type):
    st, d = _raw_create(emu, content_type)
    assert_error(st, d, 400, "InvalidParameter")
    assert emu.created_count() == 0


def test_create_with_a_json_content_type_and_charset_is_accepted(emu):
    assert _raw_create(emu, "application/json; charset=utf-8")[0] == 200  # what the SDK sends
    assert _raw_create(emu, "Application/JSON")[0] == 200


def test_oss_url_never_uploaded_is_refused_synchronously(emu):
    body = {"model": "wan2.7-i2v", "parameters": {},
            "input": {"media": [{"type": "first_frame", "url": "oss://dashscope-instant/never/uploaded.png"}]}}
    st, d = submit(emu, body, headers={"X-DashScope-OssResourceResolve": "enable"})
    assert_error(st, d, 400, "invalid_parameter_error")
    assert "The provided URL does not appear to be valid" in d["message"]
    assert emu.created_count() == 0


@pytest.mark.parametrize("model, inp", [
    ("wan2.6-i2v-flash", {"img_url": "cat.png"}),
    ("wan2.6-i2v-flash", {"img_url": "/tmp/missing/cat.png"}),
    ("wan2.6-i2v-flash", {"img_url": "./cat.png"}),
    ("wan2.6-i2v-flash", {"img_url": "file:///tmp/cat.png"}),
    ("wan2.6-i2v-flash", {"img_url": "https://"}),
    ("wan2.6-t2v", {"prompt": "p", "audio_url": "voice.wav"}),
    ("wan2.2-kf2v-flash", {"first_frame_url": "https://x/a.png", "last_frame_url": "b.png"}),
    ("wan2.6-r2v", {"prompt": "p", "reference_urls": ["https://x/a.png", "b.mp4"]}),
    ("wanx2.1-vace-plus", {"prompt": "p", "function": "video_repainting", "video_url": "clip.mp4"}),
    ("wan2.7-i2v", {"media": [{"type": "first_frame", "url": "C:\\pics\\cat.png"}]}),
    ("wan2.7-r2v", {"prompt": "p", "media": [{"type": "reference_image", "url": "https://x/a.png",
                                              "reference_voice": "voice.wav"}]}),
])
def test_media_values_that_are_not_urls_are_invalid_url(emu, model, inp):
    route = KF2V if "kf2v" in model else T2V
    st, d = submit(emu, {"model": model, "input": inp, "parameters": {}}, route=route)
    assert_error(st, d, 400, "InvalidURL", "Invalid URL provided in your request.")
    assert emu.created_count() == 0


@pytest.mark.parametrize("url", ["https://x/a.png", "HTTP://x/a.png", "data:image/png;base64,iVBORw0KGgo="])
def test_urls_and_data_uris_pass_the_url_check(emu, url):
    st, d = submit(emu, {"model": "wan2.6-i2v-flash", "input": {"img_url": url}, "parameters": {}})
    assert st == 200, d


# ------------------------------------------------------------------ script_task / concurrency
def test_script_task_walks_statuses(emu):
    emu.script_task(["PENDING", "RUNNING", "RUNNING", "FAILED"], code="DataInspectionFailed",
                    message="Output data may contain inappropriate content.")
    tid = submit(emu, t2v())[1]["output"]["task_id"]
    seen = [poll(emu, tid)["output"] for _ in range(6)]
    assert [o["task_status"] for o in seen] == ["PENDING", "RUNNING", "RUNNING", "FAILED", "FAILED", "FAILED"]
    assert seen[-1]["code"] == "DataInspectionFailed"
    assert seen[-1]["message"] == "Output data may contain inappropriate content."
    assert emu.tasks[tid].statuses == ["PENDING", "RUNNING", "FAILED"]
    # only the next task was scripted
    tid2 = submit(emu, t2v())[1]["output"]["task_id"]
    assert wait_final(emu, tid2)["output"]["task_status"] == "SUCCEEDED"
    emu.script_task(["RUNNING", "SUCCEEDED"])
    tid3 = submit(emu, t2v())[1]["output"]["task_id"]
    poll(emu, tid3)
    done = poll(emu, tid3)
    assert done["output"]["task_status"] == "SUCCEEDED" and done["output"]["video_url"] and done["usage"]


def test_concurrency_limit_respected():
    with Emulator(api_keys=(KEY,), pending_seconds=0.01, run_seconds=0.08, concurrency={"wan2.6-t2v": 2},
                  submit_rps={"wan2.6-t2v": 100}) as emu:
        ids = [submit(emu, t2v())[1]["output"]["task_id"] for _ in range(5)]
        time.sleep(0.03)
        statuses = [poll(emu, t)["output"]["task_status"] for t in ids]
        assert statuses.count("RUNNING") <= 2 and "PENDING" in statuses
        for t in ids:
            assert wait_final(emu, t)["output"]["task_status"] == "SUCCEEDED"
        assert emu.max_concurrent_seen["wan2.6-t2v"] == 2


# ------------------------------------------------------------------ uploads
def multipart(fields: List[Tuple[str, str]], file_data: Optional[bytes], filename: str = "cat.png",
              file_first: bool = False) -> Tuple[bytes, str]:
    boundary = "----emu" + uuid.uuid4().hex
    parts = []
    for k, v in fields:
        parts.append(('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (boundary, k, v)).encode())
    if file_data is not None:
        fp = ('--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\nContent-Type: image/png\r\n\r\n'
              % (boundary, filename)).encode() + file_data + b"\r\n"
        if file_first:
            parts.insert(0, fp)
        else:
            parts.append(fp)
    return b"".join(parts) + ("--%s--\r\n" % boundary).encode(), "multipart/form-data; boundary=" + boundary


def get_policy(emu: Emulator, model: str = "wan2.7-i2v") -> Dict[str, Any]:
    st, _, b = call("GET", emu.base_url + "/uploads?action=getPolicy&model=" + model)
    assert st == 200, b
    return json.loads(b)["data"]


def upload(emu: Emulator, pol: Dict[str, Any], data: bytes, name: str = "cat.png", key: Optional[str] = None,
           signature: Optional[str] = None, file_first: bool = False, drop: Tuple[str, ...] = ()):
    fields = [("OSSAccessKeyId", pol["oss_access_key_id"]), ("Signature", signature or pol["signature"]),
              ("policy", pol["policy"]), ("key", key or pol["upload_dir"] + "/" + name),
              ("x-oss-object-acl", pol["x_oss_object_acl"]), ("x-oss-forbid-overwrite", pol["x_oss_forbid_overwrite"]),
              ("success_action_status", "200")]
    fields = [f for f in fields if f[0] not in drop]
    body, ctype = multipart(fields, data, name, file_first)
    return call("POST", pol["upload_host"], key=None, raw=body, headers={"Content-Type": ctype})


def oss_code(body: bytes) -> str:
    assert body.startswith(b"<?xml")
    return re.search(rb"<Code>([^<]+)</Code>", body).group(1).decode()


def test_get_policy_shape_and_errors(emu):
    pol = get_policy(emu)
    assert re.match(r"^dashscope-instant/[0-9a-f]+/\d{4}-\d{2}-\d{2}/[0-9a-f]+$", pol["upload_dir"])
    assert pol["upload_host"] == emu.url + "/oss"
    assert pol["expire_in_seconds"] == 300 and pol["max_file_size_mb"] == 100
    assert pol["capacity_limit_mb"] == 999999999 and pol["oss_access_key_id"] == "LTAItest"
    assert pol["x_oss_object_acl"] == "private" and pol["x_oss_forbid_overwrite"] == "true"
    decoded = json.loads(base64.b64decode(pol["policy"]))
    assert "expiration" in decoded
    assert ["starts-with", "$key", pol["upload_dir"]] in decoded["conditions"]
    assert any(c[0] == "content-length-range" for c in decoded["conditions"] if isinstance(c, list))
    assert call("GET", emu.base_url + "/uploads?action=getPolicy&model=wan2.7-i2v", key=None)[0] == 401
    assert call("GET", emu.base_url + "/uploads?action=getPolicy")[0] == 400
    assert call("GET", emu.base_url + "/uploads?action=getPolicy&model=nope")[0] == 400


def test_upload_use_and_model_binding(emu):
    pol = get_policy(emu, "wan2.7-i2v")
    data = os.urandom(5000)
    st, _, b = upload(emu, pol, data)
    assert st == 200 and b == b""
    key = pol["upload_dir"] + "/cat.png"
    obj = emu.objects[key]
    assert obj.size == 5000 and obj.data == data and obj.model == "wan2.7-i2v"
    assert obj.content_type == "image/png"
    # forbid-overwrite
    st, _, b = upload(emu, pol, b"other")
    assert st == 409 and oss_code(b) == "FileAlreadyExists"
    # use it: header required, then the task succeeds
    body = {"model": "wan2.7-i2v", "input": {"media": [{"type": "first_frame", "url": "oss://" + key}]},
            "parameters": {}}
    hdr = {"X-DashScope-OssResourceResolve": "enable"}
    st, d = submit(emu, body, headers=hdr)
    assert st == 200
    assert wait_final(emu, d["output"]["task_id"])["output"]["task_status"] == "SUCCEEDED"
    # bound to the upload's model: another model, or a key never uploaded, is refused at once
    # with the documented code (doc 4.3 / 5 [UPLOAD]) and creates no task
    for model, url in (("wan2.7-i2v-2026-04-25", "oss://" + key), ("wan2.7-i2v", "oss://" + key + "x")):
        other = {"model": model, "input": {"media": [{"type": "first_frame", "url": url}]}, "parameters": {}}
        st, d = submit(emu, other, headers=hdr)
        assert_error(st, d, 400, "invalid_parameter_error",
                     "InternalError.Algo.InvalidParameter: The provided URL does not appear to be valid. "
                     "Ensure it is correctly formatted.")
    assert emu.created_count() == 1


def test_upload_rejections():
    clock = FakeClock()
    with Emulator(api_keys=(KEY,), clock=clock, max_file_size_mb=1, policy_ttl=300) as emu:
        pol = get_policy(emu)
        st, _, b = upload(emu, pol, b"x" * (MIB + 1))
        assert st == 400 and oss_code(b) == "EntityTooLarge"
        st, _, b = upload(emu, pol, b"x", signature="AAAA")
        assert st == 403 and oss_code(b) == "SignatureDoesNotMatch"
        st, _, b = upload(emu, pol, b"x", key="dashscope-instant/elsewhere/x.png")
        assert st == 403 and oss_code(b) == "AccessDenied"
        st, _, b = upload(emu, pol, b"x", file_first=True)
        assert st == 400 and oss_code(b) == "InvalidArgument"
        st, _, b = upload(emu, pol, b"x", drop=("success_action_status",))
        assert st == 400 and oss_code(b) == "InvalidArgument"
        assert emu.objects == {}
        clock.t += 301
        st, _, b = upload(emu, pol, b"x")
        assert st == 403 and oss_code(b) == "AccessDenied"
        assert b"<Message>Invalid according to Policy: Policy expired.</Message>" in b
        # no Content-Length (chunked) -> 411
        conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
        body, ctype = multipart([("key", "k")], b"x")
        conn.request("POST", "/oss", body=iter([body]), headers={"Content-Type": ctype})
        r = conn.getresponse()
        assert r.status == 411 and oss_code(r.read()) == "MissingContentLength"
        conn.close()


MIB = 1024 * 1024


def test_big_upload_streamed_and_recorded_without_body(emu):
    pol = get_policy(emu)
    data = os.urandom(3 * MIB)
    st, _, _ = upload(emu, pol, data, name="clip.mp4")
    assert st == 200
    obj = emu.objects[pol["upload_dir"] + "/clip.mp4"]
    import hashlib
    assert obj.sha256 == hashlib.sha256(data).hexdigest() and obj.size == len(data)
    rec = emu.requests_to("POST", r"^/oss$")[-1]
    assert rec.body == b"" and rec.body_size > 3 * MIB and rec.body_sha256


# ------------------------------------------------------------------ downloads
def _succeeded_url(emu: Emulator) -> Tuple[str, str]:
    tid = submit(emu, t2v())[1]["output"]["task_id"]
    return tid, wait_final(emu, tid)["output"]["video_url"]


def test_download_range_416_and_ignore_range(emu):
    _, url = _succeeded_url(emu)
    with open(FIXTURE, "rb") as fh:
        full = fh.read()
    st, h, b = call("GET", url, key=None, headers={"Range": "bytes=100-"})
    assert st == 206 and b == full[100:]
    assert h["content-range"] == "bytes 100-%d/%d" % (len(full) - 1, len(full))
    assert int(h["content-length"]) == len(full) - 100
    st, h, b = call("GET", url, key=None, headers={"Range": "bytes=%d-" % len(full)})
    assert st == 416 and h["content-range"] == "bytes */%d" % len(full)
    emu.ignore_range = True
    st, h, b = call("GET", url, key=None, headers={"Range": "bytes=100-"})
    assert st == 200 and b == full


def test_expire_results_then_fresh_url(emu):
    tid, url = _succeeded_url(emu)
    assert call("GET", url, key=None)[0] == 200
    emu.expire_results()
    st, _, b = call("GET", url, key=None)
    assert st == 403 and oss_code(b) == "AccessDenied" and b"Request has expired." in b
    fresh = poll(emu, tid)["output"]["video_url"]
    assert fresh != url
    assert call("GET", fresh, key=None)[0] == 200
    tampered = re.sub(r"Signature=[^&]+", "Signature=abc", fresh)
    assert call("GET", tampered, key=None)[0] == 403


def test_synthetic_video_and_throttle():
    size = 3 * MIB + 7
    with Emulator(api_keys=(KEY,), pending_seconds=0.01, run_seconds=0.01, video_size=size,
                  serve_rate=20 * MIB) as emu:
        _, url = _succeeded_url(emu)
        t0 = time.monotonic()
        st, h, b = call("GET", url, key=None)
        elapsed = time.monotonic() - t0
        assert st == 200 and len(b) == size and int(h["content-length"]) == size and b[4:8] == b"ftyp"
        assert elapsed >= 0.1
        import hashlib
        assert hashlib.sha256(b).hexdigest() == emu.video_sha256()
        st, h, tail = call("GET", url, key=None, headers={"Range": "bytes=%d-" % (size - 1000)})
        assert st == 206 and tail == b[-1000:]


# ------------------------------------------------------------------ scripted actions
def test_script_reply_json_and_html(emu):
    emu.script("POST", r"/video-synthesis$", Reply(503, json={"code": "ServiceUnavailable", "message": "busy",
                                                               "request_id": "r"}),
               Reply(502, body="<html>Bad Gateway</html>"))
    st, d = submit(emu, t2v())
    assert st == 503 and d["code"] == "ServiceUnavailable"
    st, h, b = call("POST", emu.base_url + T2V, t2v(), {"X-DashScope-Async": "enable"})
    assert st == 502 and b == b"<html>Bad Gateway</html>" and h["content-type"].startswith("text/html")
    assert submit(emu, t2v())[0] == 200  # normal handling resumes
    assert emu.created_count() == 1
    assert [r.action for r in emu.requests_to("POST", r"/video-synthesis$")] == ["Reply", "Reply", None]


def test_script_reset_before_body_processes_nothing(emu):
    emu.script("POST", r"/video-synthesis$", Reset())
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        submit(emu, t2v())
    assert emu.created_count() == 0
    assert submit(emu, t2v())[0] == 200


def test_script_reset_after_body_creates_exactly_one_task(emu):
    emu.script("POST", r"/video-synthesis$", Reset(after_body=True))
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        submit(emu, t2v())
    assert emu.created_count() == 1
    tid = list(emu.tasks)[0]
    assert wait_final(emu, tid)["output"]["task_status"] == "SUCCEEDED"


def test_script_stall_times_out_client_but_processes(emu):
    emu.script("POST", r"/video-synthesis$", Stall(5))
    t0 = time.monotonic()
    with pytest.raises((socket.timeout, urllib.error.URLError, TimeoutError)):
        submit(emu, t2v(), timeout=0.3)
    assert time.monotonic() - t0 < 2
    assert emu.created_count() == 1
    emu.script("GET", r"/tasks/[^/]+$", Stall(30))
    tid = list(emu.tasks)[0]
    with pytest.raises((socket.timeout, urllib.error.URLError, TimeoutError)):
        call("GET", emu.base_url + "/tasks/" + tid, timeout=0.2)
    t1 = time.monotonic()
    emu.stop()  # must not hang on the stalled handler
    assert time.monotonic() - t1 < 2


def test_script_stall_without_processing(emu):
    emu.script("POST", r"/video-synthesis$", Stall(0.1, process=False))
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        submit(emu, t2v())
    assert emu.created_count() == 0


def test_script_truncate_download(emu):
    _, url = _succeeded_url(emu)
    emu.script("GET", r"^/results/", Truncate(1000))
    with pytest.raises(http.client.IncompleteRead):
        call("GET", url, key=None)
    assert call("GET", url, key=None)[0] == 200


def test_unknown_route_and_stop_is_idempotent(emu):
    st, _, b = call("GET", emu.base_url + "/nope")
    assert st == 404 and set(json.loads(b)) == {"code", "message", "request_id"}
    emu.stop()
    emu.stop()


# ------------------------------------------------------------------ standalone
def test_standalone_cli_ctrl_c():
    proc = subprocess.Popen([sys.executable, "-m", "tests.emulator", "--port", "0", "--key", "sk-x-1"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        assert m, line
        st, _, b = call("GET", m.group(1) + "/api/v1/tasks/x", key="sk-x-1")
        assert st == 200 and json.loads(b)["output"]["task_status"] == "UNKNOWN"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "Traceback" not in err


# ------------------------------------------------------------------ newer families (dashscope-new-models.md)
U = "https://x/"
ANIMATE = {"model": "wan2.2-animate-move", "input": {"image_url": U + "p.png", "video_url": U + "d.mp4"},
           "parameters": {"mode": "wan-std"}}
ANIMATE_MIX = {"model": "wan2.2-animate-mix", "input": {"image_url": U + "p.png", "video_url": U + "d.mp4",
                                                         "watermark": True},
               "parameters": {"mode": "wan-pro", "check_image": False}}
S2V = {"model": "wan2.2-s2v", "input": {"image_url": U + "p.png", "audio_url": U + "a.mp3"}, "parameters": {}}
RETALK = {"model": "videoretalk", "input": {"video_url": U + "v.mp4", "audio_url": U + "a.mp3"}, "parameters": {}}
STYLE = {"model": "video-style-transform", "input": {"video_url": U + "v.mp4"}, "parameters": {"style": 3}}
WAN30 = {"model": "wan3.0-video", "input": {"prompt": "p"}, "parameters": {}}
WAN30_PRIME = {"model": "wan3.0-video-prime", "input": {"prompt": "p"}, "parameters": {}}
NEWER = [ANIMATE, ANIMATE_MIX, S2V, RETALK, STYLE, WAN30, WAN30_PRIME]
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN")
MSG_RATE = "Requests rate limit exceeded, please try again later."
URL_ERROR = "url error, please check url! For details, see: https://help.aliyun.com/zh/model-studio"


def _with(body: Dict[str, Any], inp: Optional[Dict[str, Any]] = None, drop_in: Tuple[str, ...] = (),
          drop: Tuple[str, ...] = (), **params: Any) -> Dict[str, Any]:
    new_inp = {k: v for k, v in body["input"].items() if k not in drop_in}
    new_inp.update(inp or {})
    new_params = {k: v for k, v in body["parameters"].items() if k not in drop}
    new_params.update(params)
    return {"model": body["model"], "input": new_inp, "parameters": new_params}


def route_of(body: Dict[str, Any]) -> str:
    return KF2V if M.resolve_model(body["model"]).route == "image2video" else T2V


def frames_with(other: str) -> List[Dict[str, str]]:
    return MEDIA("first_frame", other)


@pytest.mark.parametrize("body,ok", [
    # §2 animate: image_url + video_url required; input.watermark bool; mode wan-std / wan-pro required;
    # check_image bool; unknown keys ignored
    (ANIMATE, True),
    (ANIMATE_MIX, True),
    (_with(ANIMATE, mode="wan-pro", check_image=True), True),
    (_with(ANIMATE, {"watermark": False}, something_new=1), True),
    (_with(ANIMATE, drop=("mode",)), False),
    (_with(ANIMATE, mode=None), False),
    (_with(ANIMATE_MIX, drop=("mode",)), False),
    (_with(ANIMATE, mode="wan-max"), False),
    (_with(ANIMATE, mode="WAN-STD"), False),
    (_with(ANIMATE, check_image="yes"), False),
    (_with(ANIMATE, {"watermark": "yes"}), False),
    (_with(ANIMATE, drop_in=("video_url",)), False),
    (_with(ANIMATE, drop_in=("image_url",)), False),
    (_with(ANIMATE, {"image_url": ""}), False),
    # §3 s2v: image_url + audio_url required; resolution 480P (default) / 720P; style optional
    (S2V, True),
    (_with(S2V, resolution="480P"), True),
    (_with(S2V, resolution="720P", style="speech"), True),
    (_with(S2V, resolution="1080P"), False),
    (_with(S2V, resolution="720p"), False),
    (_with(S2V, style=1), False),
    (_with(S2V, drop_in=("audio_url",)), False),
    (_with(S2V, drop_in=("image_url",)), False),
    # §4 videoretalk: video_url + audio_url required, ref_image_url optional; video_extension bool;
    # query_face_threshold integer 120-200
    (RETALK, True),
    (_with(RETALK, {"ref_image_url": U + "f.png"}, video_extension=True, query_face_threshold=200), True),
    (_with(RETALK, video_extension=False, query_face_threshold=120), True),
    (_with(RETALK, query_face_threshold=119), False),
    (_with(RETALK, query_face_threshold=201), False),
    (_with(RETALK, query_face_threshold=150.5), False),
    (_with(RETALK, query_face_threshold="170"), False),
    (_with(RETALK, query_face_threshold=True), False),
    (_with(RETALK, video_extension="yes"), False),
    (_with(RETALK, drop_in=("audio_url",)), False),
    (_with(RETALK, drop_in=("video_url",)), False),
    # §5 style transform: video_url required; style 0-7; video_fps 15-25; animate_emotion bool;
    # min_len 720 / 540; use_SR bool
    (STYLE, True),
    (_with(STYLE, style=0, video_fps=15, min_len=720, animate_emotion=True, use_SR=False), True),
    (_with(STYLE, style=7, video_fps=25, min_len=540, animate_emotion=False, use_SR=True), True),
    (_with(STYLE, style=8), False),
    (_with(STYLE, style=-1), False),
    (_with(STYLE, style="3"), False),
    (_with(STYLE, video_fps=14), False),
    (_with(STYLE, video_fps=26), False),
    (_with(STYLE, min_len=1080), False),
    (_with(STYLE, min_len="720"), False),
    (_with(STYLE, animate_emotion="no"), False),
    (_with(STYLE, use_SR=1), False),
    (_with(STYLE, drop_in=("video_url",)), False),
    # §1 wan3.0: prompt (<= 20000) and/or media, at least one
    (WAN30, True),
    (WAN30_PRIME, True),
    (_with(WAN30, {"prompt": "p" * 20000}), True),
    (_with(WAN30, {"prompt": "p" * 20001}), False),
    (_with(WAN30, {"prompt": ""}), False),
    (_with(WAN30, {"prompt": 5, "media": MEDIA("reference_image")}), False),
    (_with(WAN30, {"media": MEDIA("reference_image")}, drop_in=("prompt",)), True),
    (_with(WAN30, {"prompt": "", "media": MEDIA("first_frame", "last_frame")}), True),
    (_with(WAN30, {"media": []}), False),
    (_with(WAN30, {"media": MEDIA("video")}), False),
    (_with(WAN30, {"media": MEDIA("first_clip")}), False),
    # media counts: each at its most, then one more
    (_with(WAN30, {"media": MEDIA("first_frame", "last_frame")}), True),
    (_with(WAN30, {"media": MEDIA("first_frame", "first_frame")}), False),
    (_with(WAN30, {"media": MEDIA("last_frame", "last_frame")}), False),
    (_with(WAN30, {"media": MEDIA(*["reference_image"] * 10)}), True),
    (_with(WAN30, {"media": MEDIA(*["reference_image"] * 11)}), False),
    (_with(WAN30, {"media": MEDIA(*["reference_audio"] * 5 + ["reference_video"] * 5)}), True),
    (_with(WAN30, {"media": MEDIA(*["reference_video"] * 6)}), False),
    (_with(WAN30, {"media": MEDIA(*["reference_audio"] * 6)}), False),
    (_with(WAN30, {"media": MEDIA("file")}), True),
    (_with(WAN30, {"media": MEDIA("file", "file")}), False),
    (_with(WAN30, {"media": MEDIA("link")}), True),
    (_with(WAN30, {"media": MEDIA("link", "link")}), False),
    # frames never with reference / file / link; file never with link
    (_with(WAN30, {"media": frames_with("reference_image")}), False),
    (_with(WAN30, {"media": frames_with("reference_video")}), False),
    (_with(WAN30, {"media": frames_with("reference_audio")}), False),
    (_with(WAN30, {"media": frames_with("file")}), False),
    (_with(WAN30, {"media": frames_with("link")}), False),
    (_with(WAN30, {"media": MEDIA("last_frame", "reference_image")}), False),
    (_with(WAN30, {"media": MEDIA("file", "link")}), False),
    (_with(WAN30, {"media": MEDIA("file", "reference_image")}), True),
    # prompt_extend must not be false with file / link
    (_with(WAN30, {"media": MEDIA("file")}, prompt_extend=False), False),
    (_with(WAN30, {"media": MEDIA("link")}, prompt_extend=False), False),
    (_with(WAN30, {"media": MEDIA("link")}, prompt_extend=True), True),
    (_with(WAN30, prompt_extend=False), True),
    (_with(WAN30, prompt_extend="no"), False),
    # resolution, ratio, duration
    (_with(WAN30, resolution="480P"), True),
    (_with(WAN30, resolution="720P"), True),
    (_with(WAN30, resolution="1080P"), True),
    (_with(WAN30, resolution="4K"), False),
    (_with(WAN30, ratio="adaptive"), True),
    (_with(WAN30, ratio="21:9"), True),
    (_with(WAN30, ratio="2:1"), False),
    (_with(WAN30, duration=2), True),
    (_with(WAN30, duration=30), True),
    (_with(WAN30, duration=-1), True),
    (_with(WAN30, duration=1), False),
    (_with(WAN30, duration=31), False),
    (_with(WAN30, duration=0), False),
    (_with(WAN30, duration=-2), False),
    (_with(WAN30, duration=5.5), False),
    (_with(WAN30, duration="5"), False),
    # audio, seed, watermark; no negative_prompt
    (_with(WAN30, audio=False), True),
    (_with(WAN30, audio="yes"), False),
    (_with(WAN30, seed=0), True),
    (_with(WAN30, seed=2147483647), True),
    (_with(WAN30, seed=-1), False),
    (_with(WAN30, seed=2147483648), False),
    (_with(WAN30, watermark=True), True),
    (_with(WAN30, watermark="no"), False),
    (_with(WAN30, {"negative_prompt": "x"}), False),
    (_with(WAN30_PRIME, {"negative_prompt": ""}), False),
    (_with(WAN30_PRIME, {"media": MEDIA("first_frame", "reference_video")}), False),
    (_with(WAN30, shot_type="multi", something_new=1), True),
])
def test_newer_families_rules_table(body, ok):
    spec = M.resolve_model(body["model"])
    msg = M.validate(spec, body)
    assert (msg is None) == ok, msg


@pytest.mark.parametrize("ratio", ["adaptive", "16:9", "4:3", "1:1", "3:4", "9:16", "21:9"])
def test_wan30_takes_each_documented_ratio(ratio):
    for body in (WAN30, WAN30_PRIME):
        assert M.validate(M.resolve_model(body["model"]), _with(body, ratio=ratio)) is None


# (body, the exact message the task FAILED with: InvalidParameter after an HTTP 200 PENDING)
LATE = [
    (_with(ANIMATE, drop=("mode",)), "Field required: parameters.mode"),
    (_with(ANIMATE_MIX, mode="wan-max"), "Input should be 'wan-std' or 'wan-pro': parameters.mode"),
    (_with(ANIMATE, drop_in=("image_url",)), "Field required: input.image_url"),
    (_with(ANIMATE, drop_in=("video_url",)), "Field required: input.video_url"),
    (_with(ANIMATE, check_image="yes"), "Input should be a valid boolean: parameters.check_image"),
    (_with(ANIMATE_MIX, {"watermark": "yes"}), "Input should be a valid boolean: input.watermark"),
    (_with(S2V, resolution="1080P"), "Input should be '720P' or '480P'"),
    (_with(S2V, drop_in=("audio_url",)), "Field required: input.audio_url"),
    (_with(S2V, style=1), "Input should be a valid string: parameters.style"),
    (_with(RETALK, query_face_threshold=201), "Input should be between 120 and 200: parameters.query_face_threshold"),
    (_with(RETALK, video_extension="yes"), "Input should be a valid boolean: parameters.video_extension"),
    (_with(RETALK, drop_in=("video_url",)), "Field required: input.video_url"),
    (_with(STYLE, style=8), "Input should be between 0 and 7: parameters.style"),
    (_with(STYLE, video_fps=26), "Input should be between 15 and 25: parameters.video_fps"),
    (_with(STYLE, min_len=1080), "Input should be 720 or 540: parameters.min_len"),
    (_with(STYLE, animate_emotion="no"), "Input should be a valid boolean: parameters.animate_emotion"),
    (_with(STYLE, use_SR=1), "Input should be a valid boolean: parameters.use_SR"),
    (_with(STYLE, drop_in=("video_url",)), "Field required: input.video_url"),
    (_with(WAN30, {"negative_prompt": "blurry"}), "Extra inputs are not permitted: input.negative_prompt"),
    (_with(WAN30, {"prompt": ""}), "At least one of input.prompt and input.media is required"),
    (_with(WAN30, {"prompt": "p" * 20001}), "String should have at most 20000 characters: input.prompt"),
    (_with(WAN30, {"media": MEDIA(*["reference_image"] * 11)}), "The number of reference_image should be at most 10"),
    (_with(WAN30_PRIME, {"media": MEDIA(*["reference_video"] * 6)}),
     "The number of reference_video should be at most 5"),
    (_with(WAN30, {"media": MEDIA(*["reference_audio"] * 6)}), "The number of reference_audio should be at most 5"),
    (_with(WAN30, {"media": MEDIA("first_frame", "first_frame")}), "The number of first_frame should be at most 1"),
    (_with(WAN30, {"media": MEDIA("link", "link")}), "The number of link should be at most 1"),
    (_with(WAN30, {"media": frames_with("reference_video")}),
     "first_frame/last_frame cannot be combined with reference_video"),
    (_with(WAN30, {"media": MEDIA("file", "link")}), "file cannot be combined with link"),
    (_with(WAN30, {"media": MEDIA("link")}, prompt_extend=False),
     "prompt_extend must be true when file or link is provided"),
    (_with(WAN30, {"media": MEDIA("video")}), "Input should be 'first_frame', 'last_frame', 'reference_image', "
     "'reference_video', 'reference_audio', 'file' or 'link': input.media[0].type"),
    (_with(WAN30, resolution="4K"), "Input should be '1080P', '720P' or '480P'"),
    (_with(WAN30_PRIME, ratio="2:1"),
     "Input should be 'adaptive', '16:9', '4:3', '1:1', '3:4', '9:16' or '21:9'"),
    (_with(WAN30, duration=31), "Duration should be between 2 and 30"),
    (_with(WAN30, duration=0), "Duration should be between 2 and 30"),
    (_with(WAN30, audio="yes"), "Input should be a valid boolean: parameters.audio"),
    (_with(WAN30, watermark="no"), "Input should be a valid boolean: parameters.watermark"),
    (_with(WAN30, seed=2147483648), "Input should be between 0 and 2147483647: parameters.seed"),
]


@pytest.mark.parametrize("body,message", LATE, ids=["%s-%d" % (b["model"], i) for i, (b, _) in enumerate(LATE)])
def test_newer_families_late_validation_over_http(body, message):
    clock = FakeClock()
    with Emulator(api_keys=(KEY,), clock=clock, fail_seconds=1) as emu:
        st, d = submit(emu, body, route=route_of(body))
        assert st == 200 and d["output"]["task_status"] == "PENDING", d
        tid = d["output"]["task_id"]
        assert poll(emu, tid)["output"]["task_status"] == "PENDING"
        clock.t += 1
        final = poll(emu, tid)
        out = final["output"]
        assert out["task_status"] == "FAILED" and out["code"] == "InvalidParameter"
        assert out["message"] == message
        assert "usage" not in final
        assert not {"video_url", "results", "output_video_url"} & set(out)
        assert emu.tasks[tid].statuses == ["PENDING", "FAILED"]


def run_to_end(emu: Emulator, clock: FakeClock, body: Dict[str, Any], step: float = 0.5) -> Tuple[str, Dict[str, Any]]:
    st, d = submit(emu, body, route=route_of(body))
    assert st == 200, d
    tid = d["output"]["task_id"]
    for _ in range(100):
        final = poll(emu, tid)
        if final["output"]["task_status"] in TERMINAL:
            return tid, final
        clock.t += step
    raise AssertionError(final)


def result_url(out: Dict[str, Any]) -> str:
    results = out.get("results")
    return out.get("video_url") or out.get("output_video_url") or (results or {}).get("video_url")


SHAPES = [  # (body, where the URL sits, exact usage)
    (ANIMATE, "results", {"video_duration": 4.2, "video_ratio": "standard"}),
    (ANIMATE_MIX, "results", {"video_duration": 4.2, "video_ratio": "pro"}),
    (S2V, "results", {"duration": 4.8, "size": "832*480", "fps": 16, "SR": 480}),
    (_with(S2V, resolution="720P"), "results", {"duration": 4.8, "size": "1280*720", "fps": 16, "SR": 720}),
    (RETALK, "video_url", {"video_duration": 6.4, "size": "1280*720", "video_ratio": "standard", "fps": 25}),
    (STYLE, "output_video_url", {"duration": 5.0, "video_count": 1}),
    (WAN30, "video_url", {"video_count": 1, "duration": 5, "input_video_duration": 0, "output_video_duration": 5,
                          "fps": 30, "SR": 1080, "ratio": "adaptive"}),
    (_with(WAN30, duration=-1, resolution="480P"), "video_url",
     {"video_count": 1, "duration": 7, "input_video_duration": 0, "output_video_duration": 7, "fps": 30, "SR": 480,
      "ratio": "adaptive"}),
    (_with(WAN30_PRIME, {"prompt": "extend Video 1", "media": MEDIA("reference_video")}, duration=10,
           resolution="720P", ratio="16:9"), "video_url",
     {"video_count": 1, "duration": 14.04, "input_video_duration": 4.04, "output_video_duration": 10, "fps": 30,
      "SR": 720, "ratio": "16:9"}),
]


@pytest.mark.parametrize("body, shape, usage", SHAPES,
                         ids=["%s-%d" % (b["model"], i) for i, (b, _, _) in enumerate(SHAPES)])
def test_newer_families_finish_with_their_result_shape(body, shape, usage):
    clock = FakeClock()
    with Emulator(api_keys=(KEY,), clock=clock, pending_seconds=1, run_seconds=3) as emu:
        tid, final = run_to_end(emu, clock, body)
        out = final["output"]
        assert out["task_status"] == "SUCCEEDED", final
        # exactly one place holds the URL: output.results.video_url (an object, not a list) for
        # animate / s2v, output.output_video_url for style transform, output.video_url otherwise; the
        # families that take no prompt echo none
        prompted = "prompt" in body["input"]
        assert set(out) == {"task_id", "task_status", "submit_time", "scheduled_time", "end_time", shape} | \
            ({"orig_prompt"} if prompted else set())
        if shape == "results":
            assert isinstance(out["results"], dict) and list(out["results"]) == ["video_url"]
        url = result_url(out)
        assert url.startswith(emu.url + "/results/" + tid + "/")
        assert final["usage"] == usage
        assert [type(v) for v in final["usage"].values()] == [type(v) for v in usage.values()]
        phases = ["PRE-PROCESSING", "RUNNING", "POST-PROCESSING"] if body["model"] == "videoretalk" else ["RUNNING"]
        assert emu.tasks[tid].statuses == ["PENDING"] + phases + ["SUCCEEDED"]
        st, h, video = call("GET", url, key=None)
        assert st == 200 and h["content-type"] == "video/mp4"
        with open(FIXTURE, "rb") as fh:
            assert video == fh.read()


@pytest.mark.parametrize("body", [ANIMATE, S2V, RETALK, STYLE, WAN30])
def test_newer_families_results_serve_the_synthetic_video(body):
    size = 2 * MIB + 3
    clock = FakeClock()
    with Emulator(api_keys=(KEY,), clock=clock, pending_seconds=1, run_seconds=1, video_size=size) as emu:
        _, final = run_to_end(emu, clock, body)
        url = result_url(final["output"])
        st, h, video = call("GET", url, key=None)
        assert st == 200 and len(video) == size == int(h["content-length"]) and video[4:8] == b"ftyp"
        import hashlib
        assert hashlib.sha256(video).hexdigest() == emu.video_sha256()
        st, h, part = call("GET", url, key=None, headers={"Range": "bytes=1000-1999"})
        assert st == 206 and part == video[1000:2000] and h["content-range"] == "bytes 1000-1999/%d" % size
        assert call("GET", url.split("?", 1)[0], key=None)[0] == 403  # unsigned


@pytest.mark.parametrize("body, wrong_route, answer", [
    # doc 2 [FIELD]: the animate models sent to video-generation were answered 403 AccessDenied
    (ANIMATE, T2V, (403, "AccessDenied", "Access denied.")),
    (ANIMATE_MIX, T2V, (403, "AccessDenied", "Access denied.")),
    # the others: the generic wrong-route answer, as for kf2v (doc 4.3)
    (S2V, T2V, (400, "InvalidParameter", URL_ERROR)),
    (RETALK, T2V, (400, "InvalidParameter", URL_ERROR)),
    (STYLE, KF2V, (400, "InvalidParameter", URL_ERROR)),
    (WAN30, KF2V, (400, "InvalidParameter", URL_ERROR)),
    (WAN30_PRIME, KF2V, (400, "InvalidParameter", URL_ERROR)),
])
def test_newer_families_on_the_wrong_route_are_refused(emu, body, wrong_route, answer):
    assert_error(*submit(emu, body, route=wrong_route), *answer)
    assert emu.created_count() == 0
    assert submit(emu, body, route=route_of(body))[0] == 200  # its own route takes it


@pytest.mark.parametrize("body", NEWER, ids=[b["model"] for b in NEWER])
def test_newer_families_need_the_parameters_object(emu, body):
    bare = {"model": body["model"], "input": body["input"]}
    assert_error(*submit(emu, bare, route=route_of(body)), 400, "BadRequest.EmptyParameters",
                 'Required parameter "parameters" missing from request.')
    assert_error(*submit(emu, dict(bare, parameters=None), route=route_of(body)), 400, "BadRequest.EmptyParameters")
    assert emu.created_count() == 0


@pytest.mark.parametrize("body, rps", [(ANIMATE, 5), (ANIMATE_MIX, 5), (S2V, 5), (RETALK, 1), (STYLE, 20),
                                       (WAN30, 2), (WAN30_PRIME, 2)], ids=[b["model"] for b in NEWER])
def test_newer_families_default_submit_rates(body, rps):
    clock = FakeClock()
    with Emulator(api_keys=(KEY,), clock=clock, pending_seconds=100, run_seconds=100) as emu:
        answers = [submit(emu, body, route=route_of(body)) for _ in range(rps + 1)]
        assert [st for st, _ in answers] == [200] * rps + [429]
        assert_error(*answers[-1], 429, "Throttling.RateQuota", MSG_RATE)
        assert emu.created_count() == rps
        clock.t += 1.01  # the one-second window has moved on
        # videoretalk's first task is still unfinished: refused again (next test); the others queue
        assert submit(emu, body, route=route_of(body))[0] == (429 if body is RETALK else 200)


@pytest.mark.parametrize("body, running", [(ANIMATE, 1), (ANIMATE_MIX, 1), (S2V, 1), (STYLE, 1), (WAN30, 2),
                                           (WAN30_PRIME, 2)])
def test_newer_families_run_their_documented_number_of_tasks_at_once(body, running):
    """animate / s2v: 1 concurrent task; style transform "2 concurrent (1 running)"; wan3.0: the 2
    chosen in models.py. Extra tasks are accepted and wait PENDING (only videoretalk refuses them)."""
    clock = FakeClock()
    with Emulator(api_keys=(KEY,), clock=clock, pending_seconds=1, run_seconds=4) as emu:
        ids = []
        for _ in range(3):
            st, d = submit(emu, body, route=route_of(body))
            assert st == 200, d
            ids.append(d["output"]["task_id"])
            clock.t += 0.6  # under every one of these models' submit rates
        most = 0
        queued_while_running = False
        for _ in range(80):
            statuses = [poll(emu, t)["output"]["task_status"] for t in ids]
            most = max(most, statuses.count("RUNNING"))
            queued_while_running |= "RUNNING" in statuses and "PENDING" in statuses
            clock.t += 0.25
        assert most == running and queued_while_running
        assert [poll(emu, t)["output"]["task_status"] for t in ids] == ["SUCCEEDED"] * 3
        assert emu.max_concurrent_seen[body["model"]] == running


def test_videoretalk_refuses_a_second_task_while_one_runs_and_walks_its_phases():
    clock = FakeClock()
    with Emulator(api_keys=(KEY,), clock=clock, pending_seconds=1, run_seconds=3) as emu:
        st, d = submit(emu, RETALK, route=KF2V)
        assert st == 200
        tid = d["output"]["task_id"]
        assert_error(*submit(emu, RETALK, route=KF2V), 429, "Throttling.RateQuota", MSG_RATE)  # 1 RPS
        clock.t += 0.5
        assert poll(emu, tid)["output"]["task_status"] == "PENDING"
        clock.t += 0.7  # the rate window is clear, but its one task is unfinished: still 429
        assert_error(*submit(emu, RETALK, route=KF2V), 429, "Throttling.RateQuota", MSG_RATE)
        seen = []
        for _ in range(3):  # 1001.7, 1002.7, 1003.7: one poll inside each third of the running time
            clock.t += 0.5 if not seen else 1.0
            seen.append(poll(emu, tid)["output"]["task_status"])
            assert_error(*submit(emu, RETALK, route=KF2V), 429, "Throttling.RateQuota")
            clock.t += 0.01
        assert seen == ["PRE-PROCESSING", "RUNNING", "POST-PROCESSING"]
        clock.t += 1.0
        done = poll(emu, tid)
        assert done["output"]["task_status"] == "SUCCEEDED" and done["output"]["video_url"]
        assert emu.tasks[tid].statuses == ["PENDING", "PRE-PROCESSING", "RUNNING", "POST-PROCESSING", "SUCCEEDED"]
        assert emu.created_count() == 1  # no refusal created a task
        clock.t += 1.1
        assert submit(emu, RETALK, route=KF2V)[0] == 200  # free again once it finished
        assert emu.created_count() == 2


def test_videoretalk_is_free_again_once_its_task_fails_or_is_canceled():
    clock = FakeClock()
    with Emulator(api_keys=(KEY,), clock=clock, pending_seconds=1, run_seconds=3, fail_seconds=2) as emu:
        bad = submit(emu, _with(RETALK, query_face_threshold=300), route=KF2V)[1]["output"]["task_id"]
        clock.t += 1.1
        assert_error(*submit(emu, RETALK, route=KF2V), 429, "Throttling.RateQuota")  # still PENDING
        clock.t += 1.0
        assert poll(emu, bad)["output"]["task_status"] == "FAILED"
        st, d = submit(emu, RETALK, route=KF2V)
        assert st == 200
        st, _, _ = call("POST", emu.base_url + "/tasks/%s/cancel" % d["output"]["task_id"])
        assert st == 200
        clock.t += 1.1
        assert submit(emu, RETALK, route=KF2V)[0] == 200
        assert emu.created_count() == 3


# ------------------------------------------------------------------ s2v face detect (new-models §3)
DETECT = "/services/aigc/image2video/face-detect"


def detect(emu: Emulator, image: str, headers: Optional[Dict[str, str]] = None, model: str = "wan2.2-s2v-detect",
           **kw: Any):
    st, _, b = call("POST", emu.base_url + DETECT, {"model": model, "input": {"image_url": image}}, headers, **kw)
    return st, json.loads(b)


def raw_detect(emu: Emulator, body: bytes, headers: Dict[str, str]) -> Tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    conn.request("POST", "/api/v1" + DETECT, body=body, headers=dict({"Authorization": "Bearer " + KEY}, **headers))
    r = conn.getresponse()
    out = r.status, json.loads(r.read())
    conn.close()
    return out


def test_face_detect_answers_synchronously_and_creates_nothing():
    clock = FakeClock()
    with Emulator(api_keys=(KEY,), clock=clock) as emu:
        emu.faceless.add(U + "cat.png")
        emu.no_human.add(U + "wall.png")
        st, d = detect(emu, U + "me.png")
        assert st == 200 and d["output"] == {"check_pass": True} and set(d) == {"output", "request_id"}
        uuid.UUID(d["request_id"])
        st, d = detect(emu, U + "cat.png")
        assert st == 200 and d["output"] == {"check_pass": False}
        assert_error(*detect(emu, U + "wall.png"), 400, "InvalidFile.NoHuman")
        assert_error(*detect(emu, U + "me.png", {"X-DashScope-Async": "enable"}), 403, "AccessDenied",
                     "current user api does not support asynchronous calls")
        assert_error(*detect(emu, U + "me.png", model="wan2.2-s2v"), 400, "InvalidParameter", "Model not exist.")
        assert_error(*detect(emu, "me.png"), 400, "InvalidParameter", "Invalid URL provided in your request.")
        clock.t += 1.1
        assert [detect(emu, U + "me.png")[0] for _ in range(6)] == [200] * 5 + [429]  # 5 RPS
        assert_error(*detect(emu, U + "me.png"), 429, "Throttling.RateQuota", MSG_RATE)
        clock.t += 1.01
        assert detect(emu, U + "me.png")[0] == 200
        assert emu.created_count() == 0 and not emu.tasks
        # every call is in the request log the tests read, body and headers
        log = emu.requests_to("POST", DETECT)
        assert len(log) == 14 and all(r.path == "/api/v1" + DETECT for r in log)
        assert [r.json["input"]["image_url"] for r in log[:3]] == [U + "me.png", U + "cat.png", U + "wall.png"]
        assert [r.headers.get("x-dashscope-async") for r in log[:4]] == [None, None, None, "enable"]


def test_face_detect_refusals_before_any_verdict():
    with Emulator(api_keys=(KEY,)) as emu:
        body = json.dumps({"model": "wan2.2-s2v-detect", "input": {"image_url": U + "me.png"}}).encode()
        assert_error(*detect(emu, U + "me.png", key=None), 401, "InvalidApiKey", "No API-key provided.")
        assert_error(*detect(emu, U + "me.png", key="sk-wrong"), 401, "InvalidApiKey")
        assert_error(*raw_detect(emu, body, {}), 400, "InvalidParameter")  # no Content-Type
        assert_error(*raw_detect(emu, body, {"Content-Type": "text/plain"}), 400, "InvalidParameter")
        assert raw_detect(emu, body, {"Content-Type": "application/json; charset=utf-8"})[0] == 200
        assert_error(*raw_detect(emu, b"{nope", {"Content-Type": "application/json"}), 400, "InvalidParameter")
        st, _, b = call("POST", emu.base_url + DETECT, {"input": {"image_url": U + "me.png"}})
        assert_error(st, json.loads(b), 400, "BadRequest.EmptyModel")
        st, _, b = call("POST", emu.base_url + DETECT, {"model": "wan2.2-s2v-detect"})
        assert_error(st, json.loads(b), 400, "BadRequest.EmptyInput")
        st, _, b = call("POST", emu.base_url + DETECT, {"model": "wan2.2-s2v-detect", "input": {}})
        assert_error(st, json.loads(b), 400, "InvalidParameter", "Field required: input.image_url")
        assert emu.created_count() == 0


def test_face_detect_of_an_uploaded_portrait():
    with Emulator(api_keys=(KEY,)) as emu:
        resolve = {"X-DashScope-OssResourceResolve": "enable"}
        keys = {}
        for model in ("wan2.2-s2v", "wan2.7-i2v"):
            pol = get_policy(emu, model)
            assert upload(emu, pol, b"portrait")[0] == 200
            keys[model] = "oss://" + pol["upload_dir"] + "/cat.png"
        st, d = detect(emu, keys["wan2.2-s2v"], resolve)
        assert st == 200 and d["output"] == {"check_pass": True}
        assert_error(*detect(emu, keys["wan2.2-s2v"]), 400, "InvalidParameter.DataInspection")
        oss_refused = ("InternalError.Algo.InvalidParameter: The provided URL does not appear to be valid. "
                       "Ensure it is correctly formatted.")
        assert_error(*detect(emu, keys["wan2.7-i2v"], resolve), 400, "invalid_parameter_error", oss_refused)
        assert_error(*detect(emu, keys["wan2.2-s2v"] + "x", resolve), 400, "invalid_parameter_error", oss_refused)
        emu.faceless.add(keys["wan2.2-s2v"])
        assert detect(emu, keys["wan2.2-s2v"], resolve)[1]["output"] == {"check_pass": False}
        assert emu.created_count() == 0


def test_face_detect_has_its_own_rate_not_s2v_s():
    clock = FakeClock()
    with Emulator(api_keys=(KEY,), clock=clock) as emu:
        assert [detect(emu, U + "me.png")[0] for _ in range(5)] == [200] * 5
        assert [submit(emu, S2V, route=KF2V)[0] for _ in range(6)] == [200] * 5 + [429]
        assert detect(emu, U + "me.png")[0] == 429
        assert emu.created_count() == 5
