"""Mode detection, model resolution and request bodies: pure functions, no network."""
from __future__ import annotations

import pytest

from qianwen_video import catalog, modes, payload
from qianwen_video.errors import UsageError

IMG = "https://example.com/a.png"
IMG2 = "https://example.com/b.png"
VID = "https://example.com/clip.mp4"
WAV = "https://example.com/voice.wav"


@pytest.mark.parametrize("request_fields, expected", [
    ({"prompt": "x"}, "t2v"),
    ({"prompt": "x", "img_url": IMG}, "i2v"),
    ({"prompt": "x", "reference_image": IMG}, "i2v"),
    ({"prompt": "x", "first_frame_url": IMG, "last_frame_url": IMG2}, "kf2v"),
    ({"prompt": "x", "first_clip_url": VID}, "i2v"),
    ({"prompt": "x", "media": [{"type": "first_frame", "url": IMG}]}, "i2v"),
    # a driving audio is i2v (wan2.7-i2v), even next to a first_frame_url that alone would mean kf2v
    ({"prompt": "x", "first_frame_url": IMG, "driving_audio_url": WAV}, "i2v"),
    ({"prompt": "x", "reference_urls": [IMG]}, "r2v"),
    ({"prompt": "x", "function": "image_reference", "ref_images_url": [IMG]}, "vace"),
    # first match wins: function beats everything else
    ({"prompt": "x", "function": "video_extension", "first_frame_url": IMG}, "vace"),
    # empty values do not count
    ({"prompt": "x", "img_url": "", "reference_urls": []}, "t2v"),
])
def test_detection_from_fields(request_fields, expected):
    assert modes.detect_mode(request_fields) == expected


@pytest.mark.parametrize("model, request_fields, expected", [
    ("wan2.7-videoedit", {"prompt": "x", "video_url": VID}, "videoedit"),
    ("happyhorse-1.0-video-edit", {"prompt": "x", "function": "video_edit"}, "videoedit"),
    ("happyhorse-1.1-r2v", {"prompt": "x", "media": [{"type": "reference_image", "url": IMG}]}, "r2v"),
    ("wan2.7-r2v", {"prompt": "x"}, "r2v"),
    # a media-protocol i2v model turns first_frame_url into i2v, not kf2v
    ("wan2.7-i2v", {"first_frame_url": IMG, "last_frame_url": IMG2}, "i2v"),
    ("happyhorse-1.0-i2v", {"first_frame_url": IMG}, "i2v"),
    # dated snapshots inherit their base model's mode
    ("wan2.7-t2v-2099-01-01", {"prompt": "x"}, "t2v"),
])
def test_detection_is_model_aware(model, request_fields, expected):
    assert modes.detect_mode(request_fields, model) == expected


def test_default_models_are_the_seeds():
    # the seed's six unchanged; the newer families' own models (issue: animate -> move, s2v -> wan2.2-s2v)
    assert catalog.DEFAULT_MODELS == {
        "t2v": "wan2.6-t2v", "i2v": "wan2.6-i2v-flash", "kf2v": "wan2.2-kf2v-flash",
        "r2v": "wan2.6-r2v-flash", "vace": "wan2.1-vace-plus", "videoedit": "wan2.7-videoedit",
        "animate": "wan2.2-animate-move", "s2v": "wan2.2-s2v", "lipsync": "videoretalk",
        "style": "video-style-transform", "omni": "wan3.0-video"}
    assert catalog.SEED_MODES == tuple(catalog.MODES[:6])
    for mode, model in catalog.DEFAULT_MODELS.items():
        assert catalog.get(model).mode == mode


def test_model_priority_cli_then_request_then_default():
    request = {"prompt": "x", "model": "wan2.5-t2v-preview"}
    assert modes.resolve(request, "wan2.2-t2v-plus", None) == ("t2v", "wan2.2-t2v-plus")
    assert modes.resolve(request, None, None) == ("t2v", "wan2.5-t2v-preview")
    assert modes.resolve({"prompt": "x"}, None, None) == ("t2v", "wan2.6-t2v")
    assert modes.resolve({"prompt": "x"}, None, "vace") == ("vace", "wan2.1-vace-plus")


def test_mode_flag_that_contradicts_the_model_is_a_usage_error():
    with pytest.raises(UsageError) as caught:
        modes.resolve({"prompt": "x"}, "wan2.6-t2v", "i2v")
    assert "wan2.6-t2v" in caught.value.message and caught.value.code == 64


# -- bodies, field by field, against the official shapes (dashscope-api.md §3) ----------------
def body(request, model, mode=None):
    mode = mode or modes.detect_mode(request, model)
    return payload.build(request, model, mode)


def test_t2v_legacy_body_matches_the_official_curl_example():
    built = body({"prompt": "a cat", "size": "1280*720", "duration": 5}, "wan2.6-t2v")
    assert built.body == {"model": "wan2.6-t2v", "input": {"prompt": "a cat"},
                          "parameters": {"size": "1280*720", "duration": 5}}
    assert built.route == "/services/aigc/video-generation/video-synthesis"
    assert built.unused == []


def test_i2v_legacy_uses_resolution_and_img_url():
    built = body({"prompt": "p", "img_url": IMG, "resolution": "720P", "duration": 5, "audio": False},
                 "wan2.6-i2v-flash")
    assert built.body == {"model": "wan2.6-i2v-flash", "input": {"prompt": "p", "img_url": IMG},
                          "parameters": {"resolution": "720P", "duration": 5, "audio": False}}


def test_reference_image_is_an_alias_for_img_url_on_legacy_i2v():
    built = body({"reference_image": IMG}, "wan2.6-i2v-flash")
    assert built.body["input"] == {"img_url": IMG}
    assert built.aliases


def test_kf2v_goes_to_the_image2video_route():
    built = body({"prompt": "p", "first_frame_url": IMG, "last_frame_url": IMG2, "resolution": "720P"},
                 "wan2.2-kf2v-flash")
    assert built.route == "/services/aigc/image2video/video-synthesis"
    assert built.body == {"model": "wan2.2-kf2v-flash",
                          "input": {"prompt": "p", "first_frame_url": IMG, "last_frame_url": IMG2},
                          "parameters": {"resolution": "720P", "duration": 5}}  # the skill's fixed 5
    assert built.defaulted == ["duration"]


def test_r2v_legacy_body():
    built = body({"prompt": "character1 waves", "reference_urls": [IMG, VID], "size": "1280*720",
                  "duration": 5, "shot_type": "multi"}, "wan2.6-r2v-flash")
    assert built.body == {"model": "wan2.6-r2v-flash",
                          "input": {"prompt": "character1 waves", "reference_urls": [IMG, VID]},
                          "parameters": {"size": "1280*720", "duration": 5, "shot_type": "multi"}}


def test_vace_image_reference_body():
    built = body({"function": "image_reference", "prompt": "p", "ref_images_url": [IMG, IMG2],
                  "obj_or_bg": ["obj", "bg"], "size": "1280*720"}, "wanx2.1-vace-plus")
    assert built.body == {"model": "wanx2.1-vace-plus",
                          "input": {"function": "image_reference", "prompt": "p", "ref_images_url": [IMG, IMG2]},
                          "parameters": {"obj_or_bg": ["obj", "bg"], "size": "1280*720"}}


def test_wan27_t2v_uses_resolution_and_ratio_and_reports_size_as_unused():
    built = body({"prompt": "p", "resolution": "720P", "ratio": "9:16", "duration": 10, "size": "1280*720"},
                 "wan2.7-t2v")
    assert built.body == {"model": "wan2.7-t2v", "input": {"prompt": "p"},
                          "parameters": {"resolution": "720P", "ratio": "9:16", "duration": 10}}
    assert built.unused == ["size"]


def test_wan27_i2v_builds_media_from_flat_fields():
    built = body({"prompt": "p", "first_frame_url": IMG, "last_frame_url": IMG2, "driving_audio_url": WAV,
                  "resolution": "1080P"}, "wan2.7-i2v")
    assert built.body["input"] == {"prompt": "p", "media": [
        {"type": "first_frame", "url": IMG}, {"type": "last_frame", "url": IMG2},
        {"type": "driving_audio", "url": WAV}]}
    assert built.body["parameters"] == {"resolution": "1080P", "duration": 5}


def test_wan27_r2v_splits_reference_urls_into_images_and_videos():
    built = body({"prompt": "Image 1 and Video 1", "reference_urls": [IMG, VID]}, "wan2.7-r2v")
    assert built.body["input"]["media"] == [{"type": "reference_image", "url": IMG},
                                            {"type": "reference_video", "url": VID}]


def test_wan27_videoedit_media():
    built = body({"prompt": "make it snow", "video_url": VID, "reference_images": [IMG],
                  "audio_setting": "origin"}, "wan2.7-videoedit")
    assert built.body == {"model": "wan2.7-videoedit", "input": {"prompt": "make it snow", "media": [
        {"type": "video", "url": VID}, {"type": "reference_image", "url": IMG}]},
        "parameters": {"audio_setting": "origin"}}


@pytest.mark.parametrize("model", ["happyhorse-1.0-i2v", "happyhorse-1.1-i2v"])
def test_happyhorse_i2v_takes_exactly_one_first_frame(model):
    built = body({"prompt": "p", "img_url": IMG, "resolution": "720P", "duration": 5, "negative_prompt": "n"}, model)
    assert built.body == {"model": model, "input": {"prompt": "p", "media": [{"type": "first_frame", "url": IMG}]},
                          "parameters": {"resolution": "720P", "duration": 5}}
    assert built.unused == ["negative_prompt"]


def test_happyhorse_r2v_and_video_edit():
    r2v = body({"prompt": "character1", "reference_urls": [IMG, IMG2], "ratio": "1:1"}, "happyhorse-1.0-r2v")
    assert r2v.body["input"]["media"] == [{"type": "reference_image", "url": IMG},
                                          {"type": "reference_image", "url": IMG2}]
    assert r2v.body["parameters"] == {"ratio": "1:1", "resolution": "720P", "duration": 5}  # the skill's defaults
    edit = body({"prompt": "swap the hat", "video_url": VID, "reference_images": [IMG]}, "happyhorse-1.0-video-edit")
    assert edit.body["input"]["media"] == [{"type": "video", "url": VID}, {"type": "reference_image", "url": IMG}]


def test_explicit_media_items_pass_through_with_reference_voice():
    items = [{"type": "reference_video", "url": VID, "reference_voice": WAV}]
    built = body({"prompt": "Video 1 sings", "media": items}, "wan2.7-r2v")
    assert built.body["input"]["media"] == items


def test_native_body_is_merged_verbatim():
    built = body({"input": {"prompt": "native", "extend_prompt": True}, "parameters": {"size": "832*480"}},
                 "wan2.5-t2v-preview")
    # the native values verbatim; the duration it does not name is the skill's default
    assert built.body == {"model": "wan2.5-t2v-preview", "input": {"prompt": "native", "extend_prompt": True},
                          "parameters": {"duration": 5, "size": "832*480"}}
    named = body({"input": {"prompt": "native"}, "parameters": {"duration": 10, "resolution": "480P"}},
                 "wan2.5-i2v-preview", "i2v")
    assert named.body["parameters"] == {"duration": 10, "resolution": "480P"} and named.defaulted == []


def test_sdk_probe_body_round_trips():
    # dashscope-api.md §3.0: the SDK's observed wan2.6-t2v body
    official = {"model": "wan2.6-t2v", "parameters": {"size": "1280*720", "duration": 5},
                "input": {"prompt": "cat", "extend_prompt": True, "function": "video-synthesis"}}
    built = body({"prompt": "cat", "size": "1280*720", "duration": 5,
                  "input": {"extend_prompt": True, "function": "video-synthesis"}}, "wan2.6-t2v", "t2v")
    assert built.body == official


def test_unknown_model_sends_every_field_split_by_name():
    built = body({"prompt": "p", "img_url": IMG, "resolution": "720P"}, "wan9.9-i2v-ultra", "i2v")
    assert built.spec is None
    assert built.body == {"model": "wan9.9-i2v-ultra", "input": {"prompt": "p", "img_url": IMG},
                          "parameters": {"resolution": "720P"}}
    assert payload.route_for("wan9.9-kf2v-x") == "/services/aigc/image2video/video-synthesis"


def test_oss_detection_walks_nested_values():
    assert payload.has_oss_url({"input": {"media": [{"type": "video", "url": "oss://dir/x.mp4"}]}})
    assert not payload.has_oss_url({"input": {"img_url": "https://x/oss://"}})


def test_request_mode_field_acts_like_the_mode_flag():
    assert modes.resolve({"mode": "videoedit", "video_url": VID}, None, None) == ("videoedit", "wan2.7-videoedit")
    assert modes.resolve({"mode": "videoedit"}, None, "t2v") == ("t2v", "wan2.6-t2v")  # the flag wins
    with pytest.raises(UsageError):
        modes.resolve({"mode": "movie"}, None, None)


# -- one rule for "is this reference a video" (catalog.is_video_url) ---------------------------
@pytest.mark.parametrize("value, expected", [
    (VID, True), ("https://x/CLIP.MOV?Expires=1&sig=a.png", True), ("clip.mp4", True),
    ({"url": VID, "reference_voice": WAV}, True), (IMG, False), ("https://x/a.png?name=b.mp4", False),
    ("https://x/a.webm", False), (7, False), (None, False), ({"url": 7}, False),
])
def test_is_video_url(value, expected):
    assert catalog.is_video_url(value) is expected


def test_payload_and_validation_share_the_video_rule():
    from qianwen_video import validate

    for name in ("VIDEO_SUFFIXES", "_looks_like_video"):
        assert not hasattr(payload, name)
    assert not hasattr(validate, "_is_video")
    upper = "https://x/clip.MP4?token=1"
    built = body({"prompt": "p", "reference_urls": [IMG, upper]}, "wan2.7-r2v")
    assert [m["type"] for m in built.body["input"]["media"]] == ["reference_image", "reference_video"]
    legacy = body({"prompt": "p", "reference_urls": [upper] * 4}, "wan2.6-r2v")
    problems = validate._legacy_required(legacy.spec, legacy.body["input"], {})
    assert any("4 videos" in p for p in problems)


# -- the singular reference_image on r2v (and edit) models ------------------------------------
@pytest.mark.parametrize("model", ["happyhorse-1.0-r2v", "happyhorse-1.1-r2v", "wan2.7-r2v", "wan2.7-r2v-2026-06-12"])
def test_r2v_media_models_map_a_singular_reference_image(model):
    built = body({"prompt": "character1", "reference_image": IMG}, model)
    assert built.unused == []
    assert built.body["input"]["media"] == [{"type": "reference_image", "url": IMG}]
    both = body({"prompt": "character1", "reference_image": IMG, "reference_images": [IMG2]}, model)
    assert sorted(m["url"] for m in both.body["input"]["media"]) == [IMG, IMG2]


@pytest.mark.parametrize("model", ["wan2.7-videoedit", "happyhorse-1.0-video-edit"])
def test_edit_models_map_a_singular_reference_image(model):
    built = body({"prompt": "p", "video_url": VID, "reference_image": IMG}, model)
    assert built.unused == []
    assert built.body["input"]["media"] == [{"type": "video", "url": VID}, {"type": "reference_image", "url": IMG}]


def test_legacy_r2v_collects_reference_aliases_into_reference_urls():
    built = body({"prompt": "p", "reference_urls": [IMG], "reference_image": VID, "reference_images": IMG2},
                 "wan2.6-r2v-flash")
    assert built.unused == []
    assert built.body["input"]["reference_urls"] == [IMG, VID, IMG2]
    assert built.aliases == ["reference_image -> input.reference_urls", "reference_images -> input.reference_urls"]
    # a single-value field keeps its own value; the alias is then left unused
    i2v = body({"img_url": IMG, "reference_image": IMG2}, "wan2.6-i2v-flash")
    assert i2v.body["input"] == {"img_url": IMG} and i2v.unused == ["reference_image"]
