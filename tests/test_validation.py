"""Validation and --dry-run, table-driven over every model in the catalog.

For each model: one valid request whose dry-run body uses the official field names, and
at least one invalid request per applicable rule (exit 64, the message names the field).
"""
from __future__ import annotations

import json
from typing import Dict, List, Tuple

import pytest

from qianwen_video import catalog
from tests.harness import KEY, creates, env_for, run
from tests.emulator import Emulator

IMG = "https://img.alicdn.com/imgextra/i1/NotRealJustExample/a.png"
IMG2 = "https://img.alicdn.com/imgextra/i1/NotRealJustExample/b.png"
VID = "https://img.alicdn.com/imgextra/i1/NotRealJustExample/c.mp4"
MODELS = sorted(catalog.MODELS.values(), key=lambda m: m.id)

# Official field names per protocol (dashscope-api.md §3.2-§3.8).
LEGACY_INPUT = {"prompt", "negative_prompt", "img_url", "audio_url", "template", "first_frame_url",
                "last_frame_url", "reference_urls", "reference_video_urls", "function", "ref_images_url",
                "video_url", "mask_image_url", "mask_video_url", "mask_frame_id", "first_clip_url",
                "last_clip_url", "image_url", "ref_image_url", "watermark"}  # + dashscope-new-models.md §2-§5
MEDIA_INPUT = {"prompt", "negative_prompt", "media", "audio_url"}
PARAMETERS = {"size", "resolution", "ratio", "duration", "prompt_extend", "watermark", "seed", "shot_type",
              "audio", "obj_or_bg", "control_condition", "strength", "mask_type", "expand_ratio",
              "expand_mode", "top_scale", "bottom_scale", "left_scale", "right_scale", "audio_setting",
              "mode", "check_image", "video_extension", "query_face_threshold", "style", "video_fps",
              "animate_emotion", "min_len", "use_SR"}
MEDIA_TYPES = {"first_frame", "last_frame", "driving_audio", "first_clip", "reference_image",
               "reference_video", "video", "reference_audio", "file", "link"}
AUDIO = "https://img.alicdn.com/imgextra/i1/NotRealJustExample/d.mp3"
# The newer families take no prompt (wan3.0 does); their valid requests name only their own fields.
NO_PROMPT_MODES = ("animate", "s2v", "lipsync", "style")


def valid_request(model: catalog.Model) -> Dict:
    request: Dict = {"model": model.id}
    if model.mode not in NO_PROMPT_MODES:
        request["prompt"] = "a red kite over the sea"
    if model.resolution_field == "size":
        request["size"] = model.default_resolution
    elif model.resolution_field == "resolution":
        request["resolution"] = model.default_resolution
    if model.ratios:
        request["ratio"] = model.ratios[0]
    if model.duration is not None:
        request["duration"] = model.duration.default
    request.update({
        ("legacy", "i2v"): {"img_url": IMG},
        ("legacy", "kf2v"): {"first_frame_url": IMG, "last_frame_url": IMG2},
        ("legacy", "r2v"): {"reference_urls": [IMG, VID]},
        ("legacy", "vace"): {"function": "image_reference", "ref_images_url": [IMG, IMG2], "obj_or_bg": ["obj", "bg"]},
        ("media", "i2v"): {"first_frame_url": IMG},
        ("media", "r2v"): {"reference_urls": [IMG]},
        ("media", "videoedit"): {"video_url": VID},
        ("legacy", "animate"): {"image_url": IMG, "video_url": VID},
        ("legacy", "s2v"): {"image_url": IMG, "audio_url": AUDIO},
        ("legacy", "lipsync"): {"video_url": VID, "audio_url": AUDIO},
        ("legacy", "style"): {"video_url": VID, "style": 2},
    }.get((model.protocol, model.mode), {}))
    return request


def dry(request, tmp_path, *extra, region: str = "cn-beijing") -> Tuple[int, Dict, str]:
    result = run(["--dry-run", "--request", json.dumps(request)] + list(extra), {"QWEN_REGION": region}, tmp_path)
    document = json.loads(result.stdout) if result.code == 0 else {}
    return result.code, document, result.stderr


@pytest.mark.parametrize("model", MODELS, ids=[m.id for m in MODELS])
def test_valid_request_for_every_model(model, tmp_path):
    code, document, stderr = dry(valid_request(model), tmp_path, region=model.regions[0])
    assert code == 0, stderr
    assert "Warning" not in stderr, stderr  # every field of the valid request is one the model takes
    assert document["mode"] == model.mode and document["model"] == model.id
    post = document["requests"][-1]
    assert post["method"] == "POST" and post["url"].endswith(model.endpoint)
    assert len(document["requests"]) == (2 if model.face_check else 1)
    assert post["headers"] == {"Authorization": "Bearer ***", "Content-Type": "application/json",
                               "X-DashScope-Async": "enable"}
    body = post["body"]
    assert body["model"] == model.id
    allowed_input = MEDIA_INPUT if model.protocol == "media" else LEGACY_INPUT
    assert set(body["input"]) <= allowed_input
    assert set(body.get("parameters", {})) <= PARAMETERS
    if model.resolution_field:
        assert model.resolution_field in body["parameters"]
        other = {"size": "resolution", "resolution": "size"}[model.resolution_field]
        assert other not in body["parameters"]
    for item in body["input"].get("media", []):
        assert set(item) <= {"type", "url", "reference_voice"} and item["type"] in MEDIA_TYPES


def invalid_cases(model: catalog.Model) -> List[Tuple[str, Dict, str]]:
    """(rule, request, field the message must name) for every rule that applies."""
    base = valid_request(model)
    cases = []

    def case(rule, field, drop=(), **changes):
        request = {k: v for k, v in base.items() if k not in drop}
        request.update(changes)
        cases.append((rule, request, field))

    if model.resolution_field == "size":
        case("wrong resolution field", "resolution", drop=("size",), resolution="720P")
        case("size out of range", "size", size="4096*2160")
    elif model.resolution_field == "resolution":
        case("wrong resolution field", "size", drop=("resolution",), size="1280*720")
        case("resolution out of range", "resolution", resolution="4K")
    if model.ratios:
        case("ratio out of range", "ratio", ratio="2:1")
    elif "ratio" not in model.param_fields:
        case("ratio on a model without ratio", "ratio", ratio="16:9")
    if model.duration is not None:
        case("unsupported duration", "duration", duration=99)
    else:
        case("duration on a model without duration", "duration", duration=5)
    if model.mode == "kf2v":
        case("kf2v is fixed at 5 s", "duration", duration=10)
    if model.prompt_required:
        case("missing prompt", "prompt", drop=("prompt",))
    if model.mode not in NO_PROMPT_MODES:
        case("prompt too long", "prompt", prompt="x" * (model.prompt_max + 1))
    for need in model.required:  # the catalog's required fields, each refused when missing
        if all(name in base for name in need.split("|")):
            case("missing %s" % need, need.replace("|", " or "), drop=tuple(need.split("|")))
    for name, allowed in model.choices.items():
        case("%s outside its values" % name, name, **{name: "other" if isinstance(allowed[0], str) else 99})
        case("%s as a boolean" % name, name, **{name: True})
    for name, (low, high) in model.ranges.items():
        case("%s below its range" % name, name, **{name: low - 1})
        case("%s above its range" % name, name, **{name: high + 1})
    for name in model.refused:
        case("%s refused" % name, name, **{name: "blurry"})
    if "shot_type" in model.param_fields and "prompt_extend" in model.param_fields:
        case("multi-shot needs prompt_extend", "shot_type", shot_type="multi", prompt_extend=False)
    if model.protocol == "legacy" and model.mode == "i2v":
        case("missing image", "img_url", drop=("img_url",))
    if model.mode == "kf2v":
        case("missing first frame", "first_frame_url", drop=("first_frame_url",))
    if model.protocol == "legacy" and model.mode == "r2v":
        case("too many references", "reference_urls", reference_urls=[IMG] * 6)
        case("too many videos", "reference_urls", reference_urls=[VID] * 4)
        case("missing references", "reference_urls", drop=("reference_urls",))
    if model.mode == "vace":
        case("missing function", "function", drop=("function", "ref_images_url", "obj_or_bg"))
        case("too many vace images", "ref_images_url", ref_images_url=[IMG] * 4, obj_or_bg=["obj"] * 4)
        case("obj_or_bg length", "obj_or_bg", obj_or_bg=["obj"])
        case("repainting needs control_condition", "control_condition", drop=("ref_images_url", "obj_or_bg"),
             function="video_repainting", video_url=VID)
    if model.protocol == "media" and model.mode == "r2v":
        limit = dict((t, hi) for t, _, hi in model.media.counts)["reference_image"]
        case("too many media references", "media", reference_urls=[IMG] * (limit + 1))
    if model.protocol == "media" and model.mode == "i2v":
        case("missing first frame media", "media", drop=("first_frame_url",))
    if model.protocol == "media" and model.mode == "videoedit":
        case("missing video", "media", drop=("video_url",))
    if model.templates:
        case("unknown effect template", "template", template="sparkle")
    elif model.protocol == "legacy" and model.mode in ("i2v", "kf2v"):
        case("template on a model without effects", "template", template="squish")
    if model.templates and model.mode == "kf2v":
        case("kf2v template with a last frame", "last_frame_url", template=model.templates[0])
    seed_field = "seed" if "seed" in model.param_fields else None
    if seed_field:
        case("seed out of range", "seed", seed=-1)
    return cases


ALL_INVALID = [(m.id, rule, request, field) for m in MODELS for rule, request, field in invalid_cases(m)]


@pytest.mark.parametrize("model_id, rule, request_fields, field", ALL_INVALID,
                         ids=["%s: %s" % (c[0], c[1]) for c in ALL_INVALID])
def test_invalid_request_is_refused_before_sending(model_id, rule, request_fields, field, tmp_path):
    code, _, stderr = dry(request_fields, tmp_path)
    assert code == 64, (rule, stderr)
    assert "Error: %s:" % field in stderr, (rule, stderr)
    assert "Traceback" not in stderr


@pytest.mark.parametrize("model_id, fields", [
    ("wanx2.1-i2v-turbo", {"img_url": IMG, "template": "carousel"}),
    ("wanx2.1-i2v-plus", {"img_url": IMG, "template": "coupleheart"}),
    ("wanx2.1-kf2v-plus", {"first_frame_url": IMG, "template": "hanfu-1"}),
])
def test_an_effect_template_goes_in_input_without_a_prompt(model_id, fields, tmp_path):
    code, document, stderr = dry(dict(fields, model=model_id), tmp_path)
    assert code == 0, stderr
    body = document["requests"][0]["body"]
    assert body["input"] == fields and body["model"] == model_id


def test_every_rule_of_the_issue_is_exercised_somewhere():
    rules = {rule for _, rule, _, _ in ALL_INVALID}
    for needed in ("wrong resolution field", "unsupported duration", "kf2v is fixed at 5 s", "too many references",
                   "too many videos", "too many vace images", "obj_or_bg length", "repainting needs control_condition",
                   "missing prompt", "multi-shot needs prompt_extend", "prompt too long"):
        assert needed in rules


def test_region_twins(tmp_path):
    vace = {"prompt": "x", "function": "image_reference", "ref_images_url": [IMG]}
    # the default vace model is the Singapore id; in Beijing its twin is used, and said so
    code, document, stderr = dry(vace, tmp_path)
    assert code == 0 and document["model"] == "wanx2.1-vace-plus"
    assert "Note: using wanx2.1-vace-plus, the cn-beijing id of the default model wan2.1-vace-plus" in stderr
    code, document, stderr = dry(vace, tmp_path, region="ap-southeast-1")
    assert document["model"] == "wan2.1-vace-plus" and "Note: using" not in stderr
    # a model the user chose is never swapped, only flagged
    code, document, stderr = dry(dict(vace, model="wan2.1-vace-plus"), tmp_path)
    assert code == 0 and document["model"] == "wan2.1-vace-plus"
    assert "Warning: wan2.1-vace-plus is listed for ap-southeast-1, not cn-beijing" in stderr
    assert "use wanx2.1-vace-plus there" in stderr


@pytest.mark.parametrize("region, request_fields, expected", [
    ("ap-southeast-1", {"first_frame_url": IMG, "last_frame_url": IMG2}, "wan2.1-kf2v-plus"),
    ("us-east-1", {"img_url": IMG}, "wan2.6-i2v"),
    ("us-east-1", {"reference_urls": [IMG]}, "wan2.6-r2v"),
    ("us-east-1", {}, "wan2.6-t2v"),
])
def test_a_default_model_the_region_does_not_offer_is_replaced_by_one_it_does(region, request_fields, expected,
                                                                              tmp_path):
    code, document, stderr = dry(dict(request_fields, prompt="character1 waves"), tmp_path, region=region)
    assert code == 0, stderr
    assert document["model"] == expected
    assert region in catalog.get(expected).regions


def test_a_mode_the_region_does_not_offer_is_flagged(tmp_path):
    code, document, stderr = dry({"prompt": "p", "first_frame_url": IMG, "last_frame_url": IMG2}, tmp_path,
                                 region="us-east-1")
    assert code == 0 and "no kf2v model is listed there" in stderr


def test_all_problems_are_reported_at_once(tmp_path):
    code, _, stderr = dry({"model": "wan2.6-t2v", "prompt": "x", "size": "1*1", "duration": 99, "seed": -1}, tmp_path)
    assert code == 64
    errors = [line for line in stderr.splitlines() if line.startswith("Error: ")]
    assert [e.split(":")[1].strip() for e in errors] == ["seed", "size", "duration"]
    assert all("; allowed: " in e for e in errors)
    # wrong JSON types are reported together first; the rules that read those fields wait for them
    code, _, stderr = dry({"model": "wan2.6-t2v", "prompt": "x", "size": 1, "duration": "5", "seed": "7"}, tmp_path)
    errors = [line for line in stderr.splitlines() if line.startswith("Error: ")]
    assert code == 64 and [e.split(":")[1].strip() for e in errors] == ["size", "duration", "seed"]


def test_local_file_of_the_wrong_type(tmp_path):
    (tmp_path / "notes.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)  # an image by content, not by name
    code, _, stderr = dry({"prompt": "x", "img_url": "notes.txt"}, tmp_path)
    assert code == 64 and "Error: img_url: notes.txt is not an image file; allowed: .jpg" in stderr


def test_dry_run_shows_local_files_as_paths_to_upload(tmp_path):
    (tmp_path / "cat.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    code, document, stderr = dry({"prompt": "x", "img_url": "cat.png"}, tmp_path)
    assert code == 0, stderr
    upload, post = document["requests"]
    assert upload["url"].endswith("/uploads?action=getPolicy&model=wan2.6-i2v-flash")
    assert upload["uploads"] == [{"field": "img_url", "path": str(tmp_path / "cat.png"), "bytes": 108}]
    assert post["headers"]["X-DashScope-OssResourceResolve"] == "enable"
    assert post["body"]["input"]["img_url"] == "cat.png"


def test_dry_run_needs_no_key_and_sends_nothing(tmp_path):
    with Emulator(api_keys=(KEY,)) as emu:
        result = run(["--dry-run", "--request", json.dumps({"prompt": "x"})],
                     {"DASHSCOPE_HTTP_BASE_URL": emu.base_url}, tmp_path)
        assert result.code == 0
        assert emu.requests == []
        assert json.loads(result.stdout)["requests"][0]["url"] == emu.base_url + catalog.ROUTES["video-generation"]


def test_invalid_request_sends_nothing_to_the_service(tmp_path):
    with Emulator(api_keys=(KEY,)) as emu:
        result = run(["--request", json.dumps({"prompt": "x", "duration": 99})], env_for(emu), tmp_path)
        assert result.code == 64 and emu.requests == [] and not creates(emu)


def test_unknown_model_is_allowed_with_a_warning(tmp_path):
    code, document, stderr = dry({"model": "wan9.0-video", "prompt": "x", "resolution": "720P"}, tmp_path)
    assert code == 0
    assert "Warning: model wan9.0-video is not in the catalog" in stderr
    assert document["requests"][0]["body"] == {"model": "wan9.0-video", "input": {"prompt": "x"},
                                               "parameters": {"resolution": "720P"}}


def test_snapshot_ids_are_checked_as_their_base_model(tmp_path):
    code, _, stderr = dry({"model": "wan2.7-t2v-2099-01-01", "prompt": "x", "duration": 99}, tmp_path)
    assert code == 64 and "checking it as wan2.7-t2v" in stderr and "Error: duration:" in stderr


def test_unused_flat_field_is_reported_by_name(tmp_path):
    code, document, stderr = dry({"model": "wan2.6-r2v", "prompt": "character1", "reference_urls": [IMG],
                                  "prompt_extend": True}, tmp_path)
    assert code == 0
    assert "Warning: prompt_extend: not used by wan2.6-r2v; not sent" in stderr
    assert "prompt_extend" not in document["requests"][0]["body"].get("parameters", {})


@pytest.mark.parametrize("as_json", [False, True])
def test_list_models(as_json, tmp_path):
    args = ["--list-models", "--mode", "kf2v"] + (["--print-response"] if as_json else [])
    result = run(args, {}, tmp_path)
    assert result.code == 0
    expected = sorted(m.id for m in catalog.MODELS.values() if m.mode == "kf2v")
    if as_json:
        rows = json.loads(result.stdout)
        assert sorted(r["id"] for r in rows) == expected
        assert all(r["durations"] == "5" for r in rows)
    else:
        for model_id in expected:
            assert model_id in result.stdout
        assert "wan2.6-t2v" not in result.stdout


def test_help_is_generated_from_the_catalog(tmp_path):
    result = run(["--help"], {}, tmp_path)
    assert result.code == 0
    for mode, model in catalog.DEFAULT_MODELS.items():
        assert "%-10s %s" % (mode, model) in result.stdout
    for flag in ("--request", "--file", "--mode", "--model", "--output", "--print-response", "--submit-only",
                 "--task-id", "--poll-once", "--poll-interval", "--timeout", "--quiet", "--dry-run",
                 "--list-models", "--cancel", "--list", "--force"):
        assert flag in result.stdout
    for variable in ("QIANWEN_API_KEY", "DASHSCOPE_API_KEY", "DASHSCOPE_HTTP_BASE_URL", "QWEN_BASE_URL", "QWEN_REGION"):
        assert variable in result.stdout


# -- shapes: a wrong JSON type is a validation error, never an internal error ----------------
SHAPE_CASES = [
    ('{"reference_urls": 1}', "reference_urls"),
    ('{"prompt": "p", "reference_urls": [1]}', "reference_urls[0]"),
    ('{"prompt": "p", "reference_urls": {"url": "https://x/a.png"}}', "reference_urls"),
    ('{"prompt": "p", "model": "wan2.6-r2v", "reference_urls": [{"url": "https://x/a.png"}]}', "reference_urls[0]"),
    ('{"prompt": "p", "model": "wan2.7-r2v", "reference_urls": [{"url": 5}]}', "reference_urls[0].url"),
    ('{"prompt": "p", "model": "wan2.7-r2v", "reference_urls": [{"url": "https://x/a.mp4", "reference_voice": []}]}',
     "reference_urls[0].reference_voice"),
    ('{"prompt": "p", "img_url": 7}', "img_url"),
    ('{"prompt": "p", "img_url": ""}', "img_url"),
    ('{"prompt": "p", "model": "wan2.7-videoedit", "video_url": ["https://x/a.mp4"]}', "video_url"),
    ('{"prompt": "p", "model": "wan2.7-i2v", "media": "https://x/a.png"}', "media"),
    ('{"prompt": "p", "model": "wan2.7-i2v", "media": [3]}', "media[0]"),
    ('{"prompt": "p", "model": "wan2.7-i2v", "media": [{"url": "https://x/a.png"}]}', "media[0].type"),
    ('{"prompt": "p", "model": "wan2.7-i2v", "media": [{"type": "first_frame"}]}', "media[0].url"),
    ('{"prompt": "p", "model": "wan2.7-i2v", "input": {"media": 5}}', "input.media"),
    ('{"prompt": "p", "model": "wan2.6-r2v", "input": {"reference_urls": "https://x/a.png"}}', "input.reference_urls"),
    ('{"prompt": "p", "size": 1280}', "size"),
    ('{"prompt": "p", "model": "wan2.7-t2v", "resolution": ["720P"]}', "resolution"),
    ('{"prompt": "p", "model": "wan2.7-t2v", "ratio": 1.5}', "ratio"),
    ('{"prompt": "p", "shot_type": true}', "shot_type"),
    ('{"prompt": ["p"]}', "prompt"),
    ('{"prompt": "p", "negative_prompt": 1}', "negative_prompt"),
    ('{"prompt": "p", "duration": 1e400}', "duration"),
    ('{"prompt": "p", "duration": -1e400}', "duration"),
    ('{"prompt": "p", "duration": NaN}', "duration"),
    ('{"prompt": "p", "parameters": {"duration": Infinity}}', "parameters.duration"),
    ('{"prompt": "p", "duration": 5.5}', "duration"),
    ('{"prompt": "p", "duration": "5"}', "duration"),
    ('{"prompt": "p", "duration": true}', "duration"),
    ('{"prompt": "p", "seed": 1e400}', "seed"),
    ('{"prompt": "p", "function": ["video_edit"]}', "function"),
    ('{"prompt": "p", "function": "video_extension", "first_frame_url": "https://x/a.png", "mask_frame_id": 1.5}',
     "mask_frame_id"),
    ('{"prompt": "p", "function": "image_reference", "ref_images_url": ["https://x/a.png"], "strength": NaN}',
     "strength"),
    ('{"prompt": "p", "function": "image_reference", "ref_images_url": ["https://x/a.png"], "top_scale": "2"}',
     "top_scale"),
    ('{"prompt": "p", "function": "image_reference", "ref_images_url": ["https://x/a.png"], "obj_or_bg": "obj"}',
     "obj_or_bg"),
    ('{"prompt": "p", "function": "image_reference", "ref_images_url": ["https://x/a.png"], "obj_or_bg": [1]}',
     "obj_or_bg"),
    ('{"prompt": "p", "function": "video_repainting", "video_url": "https://x/a.mp4", "control_condition": 1}',
     "control_condition"),
]


@pytest.mark.parametrize("raw, field", SHAPE_CASES, ids=[c[0] for c in SHAPE_CASES])
def test_wrong_shapes_are_validation_errors(raw, field, tmp_path):
    result = run(["--dry-run", "--request", raw], {"QWEN_REGION": "ap-southeast-1"}, tmp_path)
    assert result.code == 64, result.stderr
    assert "unexpected internal error" not in result.stderr and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert any(e.startswith("Error: %s: " % field) and "; allowed: " in e for e in errors), result.stderr


@pytest.mark.parametrize("raw, fixed", [
    # one string in a list field is one reference; a whole-number float is the integer
    ('{"prompt": "p", "reference_urls": "https://x/a.png", "duration": 5.0}',
     {"reference_urls": ["https://x/a.png"], "duration": 5}),
    ('{"prompt": "p", "model": "wan2.7-r2v", "reference_urls": "https://x/a.mp4", "seed": 7.0}',
     {"media": [{"type": "reference_video", "url": "https://x/a.mp4"}], "seed": 7}),
])
def test_accepted_shapes_are_normalised(raw, fixed, tmp_path):
    result = run(["--dry-run", "--request", raw], {"QWEN_REGION": "ap-southeast-1"}, tmp_path)
    assert result.code == 0, result.stderr
    body = json.loads(result.stdout)["requests"][-1]["body"]
    sent = dict(body["input"], **body.get("parameters", {}))
    for key, value in fixed.items():
        assert sent[key] == value and type(sent[key]) is type(value)


def test_duration_rule_refuses_non_finite_numbers():
    rule = catalog.Duration(2, 15)
    for value in (float("inf"), float("-inf"), float("nan")):
        assert rule.allows(value) is False
    assert rule.allows(5.0) and rule.allows(5) and not rule.allows(5.5) and not rule.allows(True)


# -- a media field the model does not take stops the request (it would be dropped from a paid task)
@pytest.mark.parametrize("request_fields, field, model, suggested", [
    ({"prompt": "p", "video_url": VID}, "video_url", "wan2.6-t2v (t2v)",
     ["wan2.7-videoedit (videoedit)", "wan2.1-vace-plus (vace)"]),
    ({"prompt": "p", "reference_images": [IMG]}, "reference_images", "wan2.6-t2v (t2v)",
     ["wan2.7-videoedit (videoedit)", "wan2.6-r2v-flash (r2v)"]),
    ({"prompt": "p", "model": "wan2.7-t2v", "img_url": IMG}, "img_url", "wan2.7-t2v (t2v)",
     ["wan2.6-i2v-flash (i2v)"]),
    ({"prompt": "p", "model": "wan2.7-i2v", "img_url": IMG, "audio_url": "https://x/a.wav"}, "audio_url",
     "wan2.7-i2v (i2v)", ["wan2.6-i2v-flash (i2v)"]),
    ({"prompt": "p", "model": "wan2.6-i2v-flash", "img_url": IMG, "media": [{"type": "first_frame", "url": IMG}]},
     "media", "wan2.6-i2v-flash (i2v)", ["wan2.7-i2v (i2v)"]),
])
def test_unused_media_field_is_an_error_that_names_models_taking_it(request_fields, field, model, suggested, tmp_path):
    with Emulator(api_keys=(KEY,)) as emu:
        result = run(["--request", json.dumps(request_fields)], env_for(emu), tmp_path)
        assert result.code == 64, result.stderr
        assert emu.requests == [] and not creates(emu)
    line = next(l for l in result.stderr.splitlines() if l.startswith("Error: %s:" % field))
    assert line.startswith("Error: %s: %s takes no %s; allowed: a model that does, e.g. --model " % (field, model, field))
    for name in suggested:
        assert name in line
    assert "Warning: %s: not used" % field not in result.stderr


def test_unused_non_media_field_and_empty_media_list_stay_warnings(tmp_path):
    code, document, stderr = dry({"prompt": "p", "reference_urls": [], "negative_prompt": "n",
                                  "model": "happyhorse-1.0-t2v"}, tmp_path)
    assert code == 0, stderr
    assert "Warning: negative_prompt: not used by happyhorse-1.0-t2v; not sent" in stderr
    assert "Warning: reference_urls: not used by happyhorse-1.0-t2v; not sent" in stderr


def test_every_media_field_is_taken_by_some_model():
    from qianwen_video import validate

    for field in catalog.MEDIA_FIELDS:
        assert validate.models_taking(field), field


# -- media-protocol i2v fields with no model named: wan2.7-i2v, said so ---------------------
@pytest.mark.parametrize("request_fields, named", [
    ({"prompt": "p", "first_clip_url": VID}, "first_clip_url"),
    ({"prompt": "p", "media": [{"type": "first_frame", "url": IMG}]}, "media"),
    ({"prompt": "p", "img_url": IMG, "driving_audio_url": "https://x/a.wav"}, "driving_audio_url"),
    ({"prompt": "p", "first_frame_url": IMG, "driving_audio_url": "https://x/a.wav"}, "driving_audio_url"),
    ({"prompt": "p", "mode": "i2v", "first_clip_url": VID, "media": [{"type": "last_frame", "url": IMG}]},
     "first_clip_url/media"),
])
def test_default_i2v_becomes_wan27_for_media_protocol_fields(request_fields, named, tmp_path):
    code, document, stderr = dry(request_fields, tmp_path)
    assert code == 0, stderr
    assert document["mode"] == "i2v" and document["model"] == "wan2.7-i2v"
    assert "Note: using wan2.7-i2v: the default i2v model wan2.6-i2v-flash takes no %s\n" % named in stderr
    assert "img_url" not in stderr and "Warning" not in stderr
    assert document["requests"][-1]["body"]["input"]["media"]


# -- an effect template with no model named: the first model of the mode that has effects -----
@pytest.mark.parametrize("request_fields, region, mode, chosen, note, warning", [
    ({"img_url": IMG, "template": "melt"}, "cn-beijing", "i2v", "wanx2.1-i2v-turbo",
     "Note: using wanx2.1-i2v-turbo: the default i2v model wan2.6-i2v-flash takes no template", None),
    ({"first_frame_url": IMG, "template": "mech1"}, "cn-beijing", "kf2v", "wanx2.1-kf2v-plus",
     "Note: using wanx2.1-kf2v-plus: the default kf2v model wan2.2-kf2v-flash takes no template", None),
    # Singapore serves no model with effects: no twin without them is picked, and it says so
    ({"img_url": IMG, "template": "melt"}, "ap-southeast-1", "i2v", "wanx2.1-i2v-turbo",
     "Note: using wanx2.1-i2v-turbo: the default i2v model wan2.6-i2v-flash takes no template",
     "Warning: wanx2.1-i2v-turbo is listed for cn-beijing, not ap-southeast-1: that endpoint may reject it "
     "(no i2v model taking template is listed there)"),
    ({"img_url": IMG}, "ap-southeast-1", "i2v", "wan2.6-i2v-flash", None, None),
])
def test_a_template_picks_a_model_with_effects(request_fields, region, mode, chosen, note, warning, tmp_path):
    code, document, stderr = dry(request_fields, tmp_path, region=region)
    assert code == 0, stderr
    assert (document["mode"], document["model"]) == (mode, chosen)
    assert (note in stderr) if note else ("Note: using" not in stderr)
    assert (warning in stderr) if warning else ("Warning" not in stderr)


@pytest.mark.parametrize("request_fields, model, expected", [
    ({"img_url": IMG}, "wan2.6-i2v-flash", ("wan2.6-i2v-flash", [])),
    ({"img_url": IMG, "template": "x"}, "wan2.6-i2v-flash", ("wanx2.1-i2v-turbo", ["template"])),
    ({"img_url": IMG, "template": "x"}, "wanx2.1-i2v-plus", ("wanx2.1-i2v-plus", [])),
    ({"first_clip_url": VID, "template": "x"}, "wan2.6-i2v-flash", ("wan2.6-i2v-flash", [])),  # none takes both
    ({"media": [1]}, "wan2.6-i2v-flash", ("wan2.7-i2v", ["media"])),
    ({"media": [1]}, "happyhorse-1.0-i2v", ("happyhorse-1.0-i2v", [])),
    ({"template": "x"}, "no-such-model", ("no-such-model", [])),
])
def test_default_for_fields_table(request_fields, model, expected):
    from qianwen_video import modes

    spec = catalog.get(model)
    assert modes.default_for_fields(request_fields, spec.mode if spec else "i2v", model) == expected


def test_a_named_i2v_model_is_never_switched(tmp_path):
    for named in ({"model": "wan2.6-i2v-flash"}, {"model": "wan2.6-i2v"}):
        code, _, stderr = dry(dict(named, prompt="p", first_clip_url=VID), tmp_path)
        assert code == 64 and "Note: using" not in stderr
        assert "Error: first_clip_url: %s (i2v) takes no first_clip_url" % named["model"] in stderr
    code, document, stderr = dry({"prompt": "p", "img_url": IMG}, tmp_path)  # nothing to switch for
    assert code == 0 and document["model"] == "wan2.6-i2v-flash" and "Note: using" not in stderr


def test_reference_image_with_the_field_it_stands_for_is_an_error(tmp_path):
    code, _, stderr = dry({"prompt": "p", "img_url": IMG, "reference_image": IMG2}, tmp_path)
    assert code == 64
    assert ("Error: reference_image: stands for img_url on wan2.6-i2v-flash, which the request also sets; "
            "allowed: one of img_url, reference_image") in stderr


@pytest.mark.parametrize("model, limit", [("happyhorse-1.0-r2v", 9), ("happyhorse-1.1-r2v", 9), ("wan2.7-r2v", 5)])
def test_r2v_reference_image_is_counted_with_the_other_references(model, limit, tmp_path):
    ok = {"model": model, "prompt": "character1", "reference_image": IMG}
    code, document, stderr = dry(ok, tmp_path)
    assert code == 0 and "Warning" not in stderr, stderr
    assert document["requests"][-1]["body"]["input"]["media"] == [{"type": "reference_image", "url": IMG}]
    code, _, stderr = dry(dict(ok, reference_urls=[IMG2] * limit), tmp_path)
    assert code == 64 and "Error: media: " in stderr


# -- the newer families: every documented limit refused before sending (dashscope-new-models.md §1-§5)
W30 = "wan3.0-video"
NEWER_INVALID = [
    # (request, the field the Error line names)
    ({"model": W30}, "prompt or media"),
    ({"model": W30, "prompt": "p", "first_frame_url": IMG, "reference_images": [IMG2]}, "media"),
    ({"model": W30, "prompt": "p", "last_frame_url": IMG, "reference_video_urls": [VID]}, "media"),
    ({"model": W30, "prompt": "p", "img_url": IMG, "file_url": "https://x/brief.pdf"}, "media"),
    ({"model": W30, "prompt": "p", "first_frame_url": IMG, "link_url": "https://example.com/"}, "media"),
    ({"model": W30, "prompt": "p", "file_url": "https://x/brief.pdf", "link_url": "https://example.com/"}, "media"),
    ({"model": W30, "prompt": "p", "file_url": "https://x/brief.pdf", "prompt_extend": False}, "prompt_extend"),
    ({"model": W30, "prompt": "p", "link_url": "page.html"}, "media[0]"),
    ({"model": W30, "prompt": "p", "reference_images": [IMG] * 11}, "media"),
    ({"model": W30, "prompt": "p", "reference_video_urls": [VID] * 6}, "media"),
    ({"model": W30, "prompt": "p", "reference_audio_urls": [AUDIO] * 6}, "media"),
    ({"model": W30, "prompt": "p", "media": [{"type": "first_frame", "url": IMG}] * 2}, "media"),
    ({"model": W30, "prompt": "p", "duration": 31}, "duration"),
    ({"model": W30, "prompt": "p", "duration": 1}, "duration"),
    ({"model": W30, "prompt": "p", "duration": 0}, "duration"),
    ({"model": W30, "prompt": "p", "duration": -2}, "duration"),
    ({"model": W30, "prompt": "p", "ratio": "2:1"}, "ratio"),
    ({"model": W30, "prompt": "p", "resolution": "4K"}, "resolution"),
    ({"model": W30, "prompt": "p", "negative_prompt": "blur"}, "negative_prompt"),
    ({"model": W30, "prompt": "x" * 20001}, "prompt"),
    ({"model": W30, "prompt": "p", "audio": "yes"}, "audio"),
    ({"model": "wan2.2-animate-move", "image_url": IMG}, "video_url"),
    ({"model": "wan2.2-animate-mix", "video_url": VID}, "image_url"),
    ({"model": "wan2.2-animate-move", "image_url": IMG, "video_url": VID, "animate_mode": "wan-max"}, "animate_mode"),
    ({"model": "wan2.2-animate-move", "image_url": IMG, "video_url": VID, "check_image": "no"}, "check_image"),
    ({"model": "wan2.2-animate-move", "image_url": IMG, "video_url": VID, "duration": 5}, "duration"),
    ({"model": "wan2.2-s2v", "image_url": IMG}, "audio_url"),
    ({"model": "wan2.2-s2v", "image_url": IMG, "audio_url": AUDIO, "resolution": "1080P"}, "resolution"),
    ({"model": "videoretalk", "video_url": VID}, "audio_url"),
    ({"model": "videoretalk", "video_url": VID, "audio_url": AUDIO, "query_face_threshold": 119}, "query_face_threshold"),
    ({"model": "videoretalk", "video_url": VID, "audio_url": AUDIO, "query_face_threshold": 150.5}, "query_face_threshold"),
    ({"model": "videoretalk", "video_url": VID, "audio_url": AUDIO, "video_extension": 1}, "video_extension"),
    ({"model": "video-style-transform"}, "video_url"),
    ({"model": "video-style-transform", "video_url": VID, "style": 8}, "style"),
    ({"model": "video-style-transform", "video_url": VID, "style": "3"}, "style"),
    ({"model": "video-style-transform", "video_url": VID, "video_fps": 26}, "video_fps"),
    ({"model": "video-style-transform", "video_url": VID, "min_len": 1080}, "min_len"),
    ({"model": "video-style-transform", "video_url": VID, "use_SR": "true"}, "use_SR"),
    ({"model": "video-style-transform", "video_url": VID, "animate_emotion": None, "template": "melt"}, "template"),
]


@pytest.mark.parametrize("request_fields, field", NEWER_INVALID, ids=[str(i) for i in range(len(NEWER_INVALID))])
def test_newer_family_limits_are_refused_with_nothing_sent(request_fields, field, tmp_path):
    with Emulator(api_keys=(KEY,)) as emu:
        result = run(["--request", json.dumps(request_fields)], env_for(emu), tmp_path)
        assert result.code == 64, result.stderr
        assert emu.requests == [] and not creates(emu)
    assert "Error: %s:" % field in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("request_fields, media_types, params", [
    ({"model": W30, "prompt": "Image 1 walks into Video 1", "reference_urls": [IMG, VID, AUDIO]},
     ["reference_image", "reference_video", "reference_audio"], {"resolution": "1080P", "duration": 5}),
    ({"model": W30, "first_frame_url": IMG, "last_frame_url": IMG2, "duration": -1, "ratio": "adaptive"},
     ["first_frame", "last_frame"], {"resolution": "1080P", "duration": -1, "ratio": "adaptive"}),
    ({"model": "wan3.0-video-prime", "prompt": "a product explainer", "file_url": "https://x/brief.pdf",
      "resolution": "720P", "duration": 30}, ["file"], {"resolution": "720P", "duration": 30}),
    ({"model": W30, "prompt": "a tour of this page", "link_url": "https://example.com/"}, ["link"],
     {"resolution": "1080P", "duration": 5}),
    ({"model": W30, "prompt": "p", "reference_images": [IMG] * 10, "reference_video_urls": [VID] * 5,
      "reference_audio_urls": [AUDIO] * 5}, ["reference_image"] * 10 + ["reference_video"] * 5
     + ["reference_audio"] * 5, {"resolution": "1080P", "duration": 5}),
])
def test_wan30_bodies(request_fields, media_types, params, tmp_path):
    code, document, stderr = dry(request_fields, tmp_path)
    assert code == 0, stderr
    body = document["requests"][-1]["body"]
    assert document["mode"] == "omni"
    assert [item["type"] for item in body["input"].get("media", [])] == media_types
    assert body["parameters"] == params
    assert "negative_prompt" not in body["input"]


def test_animate_mode_word_in_the_request_mode_is_explained(tmp_path):
    code, _, stderr = dry({"image_url": IMG, "video_url": VID, "mode": "wan-pro"}, tmp_path)
    assert code == 64
    assert "'wan-pro' is animate's quality setting" in stderr
    assert 'Hint: write it as "animate_mode": "wan-pro" (sent as parameters.mode)' in stderr


@pytest.mark.parametrize("request_fields, params", [
    ({"image_url": IMG, "video_url": VID}, {"mode": "wan-std"}),
    ({"image_url": IMG, "video_url": VID, "animate_mode": "wan-pro", "check_image": False}, {"mode": "wan-pro", "check_image": False}),
    ({"image_url": IMG, "video_url": VID, "parameters": {"mode": "wan-pro"}}, {"mode": "wan-pro"}),  # native, as sent
])
def test_animate_mode_is_sent_as_parameters_mode(request_fields, params, tmp_path):
    code, document, stderr = dry(request_fields, tmp_path)
    assert code == 0, stderr
    assert document["mode"] == "animate" and document["model"] == "wan2.2-animate-move"
    assert document["requests"][-1]["body"]["parameters"] == params
    assert document["requests"][-1]["url"].endswith("/services/aigc/image2video/video-synthesis")


def test_s2v_dry_run_shows_the_face_check_before_the_task(tmp_path):
    code, document, stderr = dry({"image_url": IMG, "audio_url": AUDIO}, tmp_path)
    assert code == 0, stderr
    check, create = document["requests"]
    assert check["url"].endswith("/services/aigc/image2video/face-detect")
    assert check["body"] == {"model": "wan2.2-s2v-detect", "input": {"image_url": IMG}}
    assert "X-DashScope-Async" not in check["headers"]
    assert create["body"] == {"model": "wan2.2-s2v", "input": {"image_url": IMG, "audio_url": AUDIO},
                              "parameters": {}}


@pytest.mark.parametrize("model, name, content, error", [
    ("wan2.7-videoedit", "clip.avi", b"RIFF\x00\x00\x00\x00AVI LIST" + b"\x00" * 64,
     "video_url: clip.avi: wan2.7-videoedit takes no .avi video files; allowed: .mp4, .mov"),
    ("videoretalk", "clip.avi", b"RIFF\x00\x00\x00\x00AVI LIST" + b"\x00" * 64, None),
    ("video-style-transform", "clip.mkv", b"\x1a\x45\xdf\xa3" + b"\x00" * 64, None),
    ("wan2.2-animate-move", "clip.mkv", b"\x1a\x45\xdf\xa3" + b"\x00" * 64,
     "video_url: clip.mkv: wan2.2-animate-move takes no .mkv video files; allowed: .mp4, .avi, .mov"),
])
def test_local_video_names_follow_the_model(model, name, content, error, tmp_path):
    (tmp_path / name).write_bytes(content)
    request = {"model": model, "video_url": name, "prompt": "p"} if model == "wan2.7-videoedit" else \
        {"model": model, "video_url": name, "image_url": IMG, "audio_url": AUDIO}
    request = {k: v for k, v in request.items() if k == "model" or catalog.get(model).takes(k)}
    code, _, stderr = dry(request, tmp_path)
    if error is None:
        assert code == 0, stderr
    else:
        assert code == 64 and "Error: %s" % error in stderr, stderr
