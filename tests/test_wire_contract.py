"""What goes on the wire matches the upstream skill and the documented service (issue 12).

* Every create body carries ``parameters``; where the request names no resolution/size or
  duration, the body carries exactly what the upstream skill (QW-0.1.0) sends, and nothing where
  the skill sends nothing. The expectations below are transcribed from upstream-skill.md §3.6 on
  their own, not read from the catalog.
* Planning prints one ``Note: billed at`` line; --dry-run shows the body that is sent.
* --help's detection rules are the detection table the code runs.
* A custom endpoint's region: from the host, else QWEN_REGION, else Beijing's ids with a Note.
* Catalog notes cite public pages, never a file the skill does not ship.
"""
from __future__ import annotations

import json
import re
from typing import Dict

import pytest

from qianwen_video import catalog, config, modes, payload
from qianwen_video.context import Context
from tests.emulator import Emulator
from tests.harness import KEY, creates, env_for, run

IMG = "https://img.alicdn.com/imgextra/i1/NotRealJustExample/a.png"
IMG2 = "https://img.alicdn.com/imgextra/i1/NotRealJustExample/b.png"
VID = "https://img.alicdn.com/imgextra/i1/NotRealJustExample/c.mp4"
MODELS = sorted(catalog.MODELS.values(), key=lambda m: m.id)
BILLING = ("size", "resolution", "duration")
LEGACY_FAMILIES = ("wan2.1", "wan2.2", "wan2.5", "wan2.6")


def skill_sends(model: catalog.Model) -> Dict:
    """upstream-skill.md §3.6, QW-0.1.0 builders, picked by the model's family: t2v wan2.6-style sends
    duration 5 and no size; t2v wan2.7-style (wan2.7, HappyHorse) resolution 1080P + duration 5;
    i2v wan2.6-style resolution 720P + duration 5; wan2.7/HappyHorse i2v 1080P + 5; kf2v 720P + a
    hard-coded 5; r2v wan2.6 size 1280*720 + 5; HappyHorse r2v (and QW-0.3's wan2.7 r2v) 720P + 5;
    vace and videoedit send parameters only when given."""
    legacy = model.family in LEGACY_FAMILIES
    if model.mode == "t2v":
        return {"duration": 5} if legacy else {"resolution": "1080P", "duration": 5}
    if model.mode == "i2v":
        sent = {"resolution": "720P" if legacy else "1080P", "duration": 5}
        if sent["resolution"] not in model.tiers:  # wan2.2-i2v-plus (480P/1080P): the skill's 720P would fail
            del sent["resolution"]
        return sent
    if model.mode == "kf2v":
        return {"resolution": "720P", "duration": 5}
    if model.mode == "r2v":
        return {"size": "1280*720", "duration": 5} if legacy else {"resolution": "720P", "duration": 5}
    if model.mode == "omni":  # QW-0.3's wan3.0 builder: resolution 1080P, duration 5
        return {"resolution": "1080P", "duration": 5}
    return {}  # vace, videoedit; animate, s2v, lip-sync and style send no resolution or duration


def minimal_request(model: catalog.Model) -> Dict:
    """The inputs the model needs, and no resolution, size, ratio or duration."""
    request: Dict = {"model": model.id}
    if model.mode not in ("animate", "s2v", "lipsync", "style"):  # the newer families take no prompt
        request["prompt"] = "a red kite over the sea"
    request.update({
        ("legacy", "i2v"): {"img_url": IMG},
        ("legacy", "kf2v"): {"first_frame_url": IMG, "last_frame_url": IMG2},
        ("legacy", "r2v"): {"reference_urls": [IMG, VID]},
        ("legacy", "vace"): {"function": "image_reference", "ref_images_url": [IMG, IMG2], "obj_or_bg": ["obj", "bg"]},
        ("media", "i2v"): {"first_frame_url": IMG},
        ("media", "r2v"): {"reference_urls": [IMG]},
        ("media", "videoedit"): {"video_url": VID},
        ("legacy", "animate"): {"image_url": IMG, "video_url": VID},
        ("legacy", "s2v"): {"image_url": IMG, "audio_url": "https://x/a.mp3"},
        ("legacy", "lipsync"): {"video_url": VID, "audio_url": "https://x/a.mp3"},
        ("legacy", "style"): {"video_url": VID},
    }.get((model.protocol, model.mode), {}))
    return request


def dry(request, tmp_path, env=None):
    result = run(["--dry-run", "--request", json.dumps(request)], env or {}, tmp_path)
    document = json.loads(result.stdout) if result.code == 0 else {}
    return result, document


def billing_notes(stderr: str):
    return [line for line in stderr.splitlines() if line.startswith("Note: billed at ")]


# -- the done-when table: every catalog model x its mode --------------------------------------
def test_the_skill_sends_only_values_each_model_accepts():
    for model in MODELS:
        sent = skill_sends(model)
        assert "resolution" not in sent or sent["resolution"] in model.tiers, model.id
        assert sent.get("size", model.sizes[0] if model.sizes else None) in (model.sizes or (None,)), model.id
        assert "duration" not in sent or model.duration.allows(sent["duration"]), model.id


@pytest.mark.parametrize("model", MODELS, ids=[m.id for m in MODELS])
def test_dry_run_body_has_parameters_and_the_skill_defaults_exactly_where_the_skill_sends_them(model, tmp_path):
    result, document = dry(minimal_request(model), tmp_path, {"QWEN_REGION": model.regions[0]})
    assert result.code == 0, result.stderr
    assert document["model"] == model.id and document["mode"] == model.mode
    body = document["requests"][-1]["body"]
    assert isinstance(body.get("parameters"), dict)
    expected = skill_sends(model)
    assert {k: v for k, v in body["parameters"].items() if k in BILLING} == expected
    # one Note names what the task is billed at: the value sent, else the service default
    notes = billing_notes(result.stderr)
    assert len(notes) == 1, result.stderr
    if model.resolution_field is None:  # billed by the input's length, at the model's rate or its tier
        tier = {"animate_mode": "animate_mode wan-std (this skill's default)"}
        rate = ", ".join(tier[k] for k in model.sent_defaults) or "the model's one rate"
        assert notes[0] == "Note: billed at %s, the %s's length" % (rate, model.length_from), notes[0]
        return
    resolution = expected.get("resolution") or catalog.tier_of(expected.get("size")) \
        or catalog.tier_of(model.default_resolution) or model.default_resolution
    assert notes[0].startswith("Note: billed at %s (" % resolution), notes[0]
    if "duration" in expected:
        assert ", %d s (this skill's default)" % expected["duration"] in notes[0]
    else:
        assert "(service default)" in notes[0]


@pytest.mark.parametrize("request_fields, model, params", [
    ({"prompt": "p", "img_url": IMG, "resolution": "1080P"}, "wan2.6-i2v-flash", {"resolution": "1080P", "duration": 5}),
    ({"prompt": "p", "img_url": IMG, "duration": 10}, "wan2.6-i2v-flash", {"resolution": "720P", "duration": 10}),
    ({"prompt": "p", "reference_urls": [IMG], "size": "1920*1080", "duration": 3}, "wan2.6-r2v",
     {"size": "1920*1080", "duration": 3}),
    ({"prompt": "p", "parameters": {"resolution": "480P"}}, "wan2.2-i2v-flash", {"resolution": "480P", "duration": 5}),
])
def test_a_value_the_request_names_is_kept_and_only_the_rest_defaulted(request_fields, model, params):
    built = payload.build(request_fields, model, catalog.get(model).mode)
    assert built.body["parameters"] == params


def test_parameters_is_an_empty_object_when_nothing_is_set():
    unknown = payload.build({"prompt": "p"}, "wan9.9-t2v-ultra", "t2v")
    assert unknown.body == {"model": "wan9.9-t2v-ultra", "input": {"prompt": "p"}, "parameters": {}}
    vace = payload.build({"prompt": "p", "function": "video_outpainting", "video_url": VID}, "wanx2.1-vace-plus", "vace")
    assert vace.body["parameters"] == {}
    edit = payload.build({"video_url": VID}, "happyhorse-1.0-video-edit", "videoedit")
    assert edit.body["parameters"] == {} and edit.defaulted == []


def test_billed_at_is_the_value_sent_else_the_service_default():
    def billed(params, model_id):
        return payload.billed_at({"parameters": params}, catalog.lookup(model_id))

    assert billed({}, "wan2.6-i2v-flash") == ("1080P", "5")  # the service's defaults
    assert billed({"resolution": "720P", "duration": 10}, "wan2.6-i2v-flash") == ("720P", "10")
    assert billed({}, "wan2.6-t2v") == ("1920*1080", "5")
    assert billed({}, "wan2.7-videoedit") == ("1080P", "input")  # 0 keeps the input's length
    assert billed({}, "happyhorse-1.0-video-edit") == ("1080P", "input")
    assert billed({}, "wan9.9-t2v") == (None, None)
    assert billed({"size": "832*480"}, "wan9.9-t2v") == ("832*480", None)


def test_dry_run_shows_the_body_that_is_sent(tmp_path):
    request = {"prompt": "day to night", "first_frame_url": IMG, "last_frame_url": IMG2}
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05) as emu:
        env = env_for(emu)
        planned, document = dry(request, tmp_path, env)
        assert planned.code == 0, planned.stderr
        result = run(["--request", json.dumps(request), "--poll-interval", "0.05"], env, tmp_path)
        assert result.code == 0, result.stderr
        sent = creates(emu)
        assert len(sent) == 1
        assert sent[0].json == document["requests"][-1]["body"]
        assert sent[0].json["parameters"] == {"resolution": "720P", "duration": 5}
        assert billing_notes(planned.stderr) == billing_notes(result.stderr) == [
            "Note: billed at 720P (this skill's default), 5 s (this skill's default)"]


# -- --help is generated from the detection table ------------------------------------------
def _help_rules(text: str):
    block = text[text.index("mode auto-detection"):text.index("model priority:")]
    rules = []
    for line in block.splitlines():
        found = re.match(r"^\s+(.+?)\s+-> (\w+)", line)
        if found and not found.group(1).startswith("a known"):
            fields = re.findall(r'"[a-z_]+"(?:\+"[a-z_]+")*', found.group(1))  # "a"+"b": both set
            rules.append((tuple(f.replace('"', "") for f in fields), found.group(2)))
    return rules


def test_help_detection_text_is_the_detection_table(tmp_path):
    result = run(["--help"], {}, tmp_path)
    assert result.code == 0
    rules = _help_rules(result.stdout)
    assert rules == [(fields, mode) for fields, mode in modes.DETECTION] + [((), modes.FALLBACK_MODE)]
    # and the table is what detect_mode does: a field moves a request off t2v iff --help names it
    named = {field: mode for fields, mode in rules for field in fields}
    for field in sorted(set(catalog.INPUT_FIELDS) | set(catalog.MEDIA_FIELDS)):
        assert modes.detect_mode({field: "x"}) == named.get(field, "t2v"), field
    assert named["driving_audio_url"] == "i2v"


def test_help_lists_each_mode_default_and_what_it_sends(tmp_path):
    text = run(["--help"], {}, tmp_path).stdout
    for mode, model_id in catalog.DEFAULT_MODELS.items():
        line = next(l for l in text.splitlines() if re.match(r"^\s+%s\s+%s\b" % (mode, re.escape(model_id)), l))
        for key, value in skill_sends(catalog.get(model_id)).items():
            assert "%s %s" % (key, value) in line, line
    assert "cn-beijing id: wanx2.1-vace-plus" in text


# -- a custom endpoint's region ---------------------------------------------------------
VACE = {"prompt": "a dog", "function": "image_reference", "ref_images_url": [IMG]}


def test_unrecognisable_host_uses_beijing_ids_and_says_so(tmp_path):
    env = {"DASHSCOPE_HTTP_BASE_URL": "https://gateway.example.net/dashscope/api/v1"}
    result, document = dry(VACE, tmp_path, env)
    assert result.code == 0, result.stderr
    assert document["model"] == "wanx2.1-vace-plus"
    assert document["requests"][-1]["body"]["model"] == "wanx2.1-vace-plus"
    assert ("Note: using wanx2.1-vace-plus, the cn-beijing id of the default model wan2.1-vace-plus; the region "
            "of gateway.example.net is not recognisable, so cn-beijing ids are used (set QWEN_REGION") in result.stderr
    result, document = dry(VACE, tmp_path, dict(env, QWEN_REGION="ap-southeast-1"))
    assert result.code == 0 and document["model"] == "wan2.1-vace-plus"
    assert document["requests"][-1]["body"]["model"] == "wan2.1-vace-plus"
    assert "Note: using" not in result.stderr
    # a model the user names is never switched, and an assumed region flags nothing
    result, document = dry(dict(VACE, model="wan2.1-vace-plus"), tmp_path, env)
    assert document["model"] == "wan2.1-vace-plus" and "Note: using" not in result.stderr
    assert "Warning" not in result.stderr


@pytest.mark.parametrize("variable, url, model", [
    ("DASHSCOPE_HTTP_BASE_URL", "https://dashscope-intl.aliyuncs.com/api/v1", "wan2.1-vace-plus"),
    ("DASHSCOPE_HTTP_BASE_URL", "https://ws-1a2b.ap-southeast-1.maas.aliyuncs.com/api/v1", "wan2.1-vace-plus"),
    ("DASHSCOPE_HTTP_BASE_URL", "http://dashscope.aliyuncs.com/api/v1", "wanx2.1-vace-plus"),
    ("QWEN_BASE_URL", "https://ws-9.cn-beijing.maas.aliyuncs.com", "wanx2.1-vace-plus"),
])
def test_recognisable_host_decides_the_region_over_qwen_region(variable, url, model, tmp_path):
    other = "cn-beijing" if model.startswith("wan2.1") else "ap-southeast-1"
    result, document = dry(VACE, tmp_path, {variable: url, "QWEN_REGION": other})
    assert result.code == 0, result.stderr
    assert document["model"] == model
    assert "not recognisable" not in result.stderr


def test_region_of_host():
    assert config.region_of_host("dashscope.aliyuncs.com") == "cn-beijing"
    assert config.region_of_host("DASHSCOPE-US.aliyuncs.com.") == "us-east-1"
    assert config.region_of_host("token-plan.cn-beijing.maas.aliyuncs.com") == "cn-beijing"
    assert config.region_of_host("dashscope.aliyuncs.com.evil.example") is None
    assert config.region_of_host("x.eu-central-1.maas.aliyuncs.com") is None  # not a region the catalog knows
    assert config.region_of_host("127.0.0.1") is None
    ctx = Context(environ={"DASHSCOPE_HTTP_BASE_URL": "http://127.0.0.1:9/api/v1"})
    assert config.region_of(ctx) is None and config.ids_region(ctx)[0] == "cn-beijing"
    assert config.ids_region(Context(environ={"QWEN_REGION": "us-east-1"})) == ("us-east-1", None)


# -- catalog notes cite public documentation ----------------------------------------------
def test_catalog_notes_cite_public_pages_not_local_files(tmp_path):
    result = run(["--list-models", "--print-response"], {}, tmp_path)
    assert result.code == 0
    assert ".md" not in result.stdout
    for row in json.loads(result.stdout):
        for text in row["disputed"].values():
            assert re.search(r"https://help\.aliyun\.com/zh/model-studio/[a-z0-9-]+", text), (row["id"], text)
    for model in MODELS:
        for text in list(model.disputed.values()) + [model.notes]:
            assert ".md" not in text and "§" not in text, (model.id, text)
