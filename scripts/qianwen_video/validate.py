"""Catch bad requests before they cost money: every rule reads the catalog.

The service accepts many bad requests with HTTP 200 and fails the task later
(dashscope-api.md §4.4). These checks run before any upload or submit and report every
problem at once as ``<field>: <what is wrong>; allowed: <values>``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from . import catalog, media
from .catalog import Model

SEED_MAX = 2147483647
NEGATIVE_PROMPT_MAX = 500
VACE_FUNCTIONS = ("image_reference", "video_repainting", "video_edit", "video_extension",
                  "video_outpainting")
VACE_CONDITIONS = {
    "video_repainting": ("posebodyface", "posebody", "depth", "scribble"),
    "video_edit": ("", "posebodyface", "depth"),
    "video_extension": ("posebodyface", "depth"),
}
BOOL_FIELDS = ("prompt_extend", "watermark", "audio", "check_image", "video_extension", "animate_emotion",
               "use_SR")

IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_EXT = catalog.REFERENCE_VIDEO_SUFFIXES
AUDIO_EXT = (".wav", ".mp3")
# Size caps per kind; the looser figure where sources disagree (§3.3-§3.8, §8.3).
DOCUMENT_EXT = (".pdf", ".docx", ".doc", ".xlsx", ".xls", ".pptx", ".ppt", ".key", ".pages", ".numbers",
                ".txt", ".md")  # wan3.0 `file` (dashscope-new-models.md §1)
KIND_LIMITS = {"image": (IMAGE_EXT, 20), "video": (VIDEO_EXT, 100), "audio": (AUDIO_EXT, 15),
               "document": (DOCUMENT_EXT, 100)}
MEDIA_TYPE_KINDS = catalog.MEDIA_TYPE_KINDS  # which media item types exist (the kinds are catalog data)


def check(request: Mapping[str, Any], mode: str, model_id: str, body: Mapping[str, Any],
          cwd: Path, home: Optional[str] = None, unused: Sequence[str] = ()) -> List[str]:
    """All problems with a request, as ``field: problem; allowed: ...`` strings.

    ``unused`` are the flat fields the model does not take (payload.Built.unused): media among
    them is a problem (a paid task would run without it); the rest are left to warnings.
    """
    spec = catalog.lookup(model_id)
    problems = text_problems(request)
    if problems:  # nothing below can even print such text safely
        return problems
    problems = _shapes(request, spec)
    if problems:  # the rules below assume these shapes
        return problems + media.problems(dict(request), cwd, home)
    inp = body.get("input") or {}
    params = body.get("parameters") or {}
    problems += _types(inp, params)
    if spec is not None:
        problems += _unused_media(request, spec, model_id, unused)
        problems += _resolution(request, spec, params)
        problems += _duration(spec, request, params, inp)
        problems += _prompt(spec, inp, params)
        problems += _declared(spec, inp, params)
        if spec.protocol == "media":
            problems += _media(spec, inp, params)
        else:
            problems += _legacy_required(spec, inp, params)
        if spec.mode == "vace":
            problems += _vace(inp, params)
    problems += media.problems(dict(request), cwd, home)
    problems += _local_kinds(dict(request), cwd, home, spec)
    if spec is not None and not problems and (spec.seconds or spec.output_cap or spec.pixels or spec.fps):
        problems += _measured(spec, dict(request), params, cwd, home)
    return problems


def text_problems(request: Mapping[str, Any]) -> List[str]:
    """Every string of the request (field names too) must be sendable as UTF-8: a lone surrogate,
    which a JSON "\\ud800" escape can produce, cannot be, so it is a problem naming its field."""
    found: List[str] = []
    _surrogates(request, "", found)
    return found


def _surrogates(value: Any, label: str, found: List[str]) -> None:
    if isinstance(value, str):
        at = _lone_surrogate(value)
        if at is not None:
            found.append("%s: contains a lone surrogate (U+%04X at character %d), which no UTF-8 text can "
                         "carry; allowed: text without broken characters (copy it again from its source)"
                         % (label or "request", ord(value[at]), at + 1))
    elif isinstance(value, dict):
        for key, item in value.items():
            where = "%s.%s" % (label, key) if label else str(key)
            if isinstance(key, str) and _lone_surrogate(key) is not None:
                found.append("%s: a field name contains a lone surrogate; allowed: field names from "
                             "`video.py --help`" % (label or "request"))
                continue
            _surrogates(item, where, found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _surrogates(item, "%s[%d]" % (label, index), found)


def _lone_surrogate(text: str) -> Optional[int]:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _unused_media(request: Mapping[str, Any], spec: Model, model_id: str, unused: Sequence[str]) -> List[str]:
    found = []
    for name in unused:
        if (name not in catalog.MEDIA_FIELDS and name not in catalog.NEVER_DROPPED and name not in spec.refused) or \
                request.get(name) in (None, "", [], {}):
            continue
        both = [t for t in catalog.FIELD_ALIASES.get(name, ()) if t in spec.input_fields and request.get(t)]
        if both:
            found.append("%s: stands for %s on %s, which the request also sets; allowed: one of %s, %s"
                         % (name, both[0], model_id, both[0], name))
            continue
        others = models_taking(name, spec)
        found.append("%s: %s (%s) takes no %s; allowed: %s" % (
            name, model_id, spec.mode, name,
            "a model that does, e.g. --model " + ", ".join("%s (%s)" % (m.id, m.mode) for m in others)
            if others else "(omit it)"))
    return found


def models_taking(field: str, spec: Optional[Model] = None, limit: int = 4) -> List[Model]:
    """One model per mode that takes ``field`` (the mode's default when it does), the current mode first."""
    picks: Dict[str, Model] = {}
    for model in catalog.MODELS.values():
        if (spec is not None and model.id == spec.id) or not model.takes(field):
            continue
        if model.mode not in picks or model.id == catalog.DEFAULT_MODELS.get(model.mode):
            picks[model.mode] = model
    # the seed's modes first (the later the mode, the richer its models), then the newer families
    order = ([spec.mode] if spec is not None else []) + list(reversed(catalog.SEED_MODES)) + \
        [m for m in catalog.MODES if m not in catalog.SEED_MODES]
    ranked = sorted(picks.values(), key=lambda m: order.index(m.mode))
    return ranked[:limit]


def unused_warnings(unused: List[str], spec: Optional[Model], model_id: str) -> List[str]:
    if not unused:
        return []
    takes = ", ".join(spec.accepted_fields) if spec else "?"
    return ["%s: not used by %s; not sent (it takes: %s)" % (name, model_id, takes) for name in unused]


# ---------------------------------------------------------------------------------------
CONTROL_KEYS = ("model", "mode", "output", "input", "parameters")
SHAPE_ALLOWED = {
    "shot_type": "single, multi", "function": ", ".join(VACE_FUNCTIONS), "mask_type": "tracking, fixed",
    "expand_mode": "hull, bbox, original", "audio_setting": "auto, origin",
    "control_condition": "posebodyface, posebody, depth, scribble", "seed": "0-%d" % SEED_MAX,
    "strength": "0-1", "expand_ratio": "0-1", "top_scale": "1-2", "bottom_scale": "1-2",
    "left_scale": "1-2", "right_scale": "1-2", "mask_frame_id": "an integer frame number",
}


def _shapes(request: Mapping[str, Any], spec: Optional[Model]) -> List[str]:
    """Type problems in the flat request and a native input/parameters object, before any rule reads them."""
    found: List[str] = []
    # {"url": ..., "reference_voice": ...} items inside list fields belong to the media protocol
    items_ok = spec is None or spec.protocol == "media"
    flat = {k: v for k, v in request.items() if k not in CONTROL_KEYS}
    found += _shapes_of(flat, "", spec, items_ok, wrap_ok=True)
    for name in ("input", "parameters"):
        native = request.get(name)
        if isinstance(native, dict):
            found += _shapes_of(native, name + ".", spec, items_ok, wrap_ok=False)
    return found


def _shapes_of(fields: Mapping[str, Any], prefix: str, spec: Optional[Model], items_ok: bool,
               wrap_ok: bool) -> List[str]:
    found: List[str] = []
    for key, value in fields.items():
        if value is None:
            continue  # treated as absent
        label = prefix + key
        if key in catalog.MEDIA_SCALAR_FIELDS:
            found += _url_shape(label, value)
        elif key in catalog.MEDIA_LIST_FIELDS:
            if isinstance(value, str) and wrap_ok:
                found += _url_shape(label, value)  # one reference: sent as a one-element list
            elif not isinstance(value, list):
                found.append("%s: must be a list of URLs/paths, got %s; allowed: %s" % (
                    label, _kind(value), "a list of strings, or one string" if wrap_ok else "a list of strings"))
            else:
                for index, element in enumerate(value):
                    found += _reference_shape("%s[%d]" % (label, index), element, items_ok)
        elif key == "media":
            found += _media_shape(label, value)
        elif key in catalog.STRING_FIELDS:
            if not isinstance(value, str):
                found.append("%s: must be a string, got %s; allowed: %s" % (label, _kind(value), _allowed(key, spec)))
        elif key in catalog.INTEGER_FIELDS:
            if not _is_number(value) or float(value) != int(value):
                found.append("%s: must be a whole number, got %s; allowed: %s" % (label, _kind(value), _allowed(key, spec)))
        elif key in catalog.NUMBER_FIELDS:
            if not _is_number(value):
                found.append("%s: must be a number, got %s; allowed: %s" % (label, _kind(value), _allowed(key, spec)))
        elif key == "obj_or_bg":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                found.append("%s: must be a list of strings, got %s; allowed: a list of obj, bg" % (label, _kind(value)))
    return found


def _is_number(value: Any) -> bool:
    """A finite int or float; not a bool, not inf/nan (JSON 1e400 parses as inf)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    return {list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _allowed(key: str, spec: Optional[Model]) -> str:
    if spec is not None:
        if key == "size" and spec.sizes:
            return ", ".join(spec.sizes)
        if key == "resolution" and spec.tiers:
            return ", ".join(spec.tiers)
        if key == "ratio" and spec.ratios:
            return ", ".join(spec.ratios)
        if key == "duration" and spec.duration is not None:
            return spec.duration.describe()
    if key in SHAPE_ALLOWED:
        return SHAPE_ALLOWED[key]
    return "a whole number" if key in catalog.INTEGER_FIELDS else "a string"


def _url_shape(label: str, value: Any) -> List[str]:
    if not isinstance(value, str):
        return ["%s: must be a URL or local path, got %s; allowed: a string" % (label, _kind(value))]
    if not value.strip():
        return ["%s: empty; allowed: an http(s)/oss/data URL or a local path (or omit the field)" % label]
    return []


def _reference_shape(label: str, element: Any, items_ok: bool) -> List[str]:
    if not isinstance(element, dict):
        return _url_shape(label, element)
    if not items_ok:
        return ["%s: an object is not accepted here; allowed: a URL or local path string" % label]
    found = _url_shape(label + ".url", element.get("url"))
    if element.get("reference_voice") is not None:
        found += _url_shape(label + ".reference_voice", element["reference_voice"])
    if element.get("type") is not None and not isinstance(element["type"], str):
        found.append("%s.type: must be a string, got %s; allowed: a media type" % (label, _kind(element["type"])))
    return found


def _media_shape(label: str, value: Any) -> List[str]:
    if not isinstance(value, list):
        return ["%s: must be a list of {\"type\": ..., \"url\": ...} objects, got %s; allowed: a list"
                % (label, _kind(value))]
    found: List[str] = []
    for index, item in enumerate(value):
        where = "%s[%d]" % (label, index)
        if not isinstance(item, dict):
            found.append("%s: must be an object, got %s; allowed: {\"type\": ..., \"url\": ...}"
                         % (where, _kind(item)))
            continue
        if not isinstance(item.get("type"), str) or not item["type"]:
            found.append("%s.type: must be a string, got %s; allowed: %s" % (
                where, _kind(item.get("type")), ", ".join(sorted(MEDIA_TYPE_KINDS))))
        found += _url_shape(where + ".url", item.get("url"))
        if item.get("reference_voice") is not None:
            found += _url_shape(where + ".reference_voice", item["reference_voice"])
    return found


def _types(inp: Mapping[str, Any], params: Mapping[str, Any]) -> List[str]:
    found = []
    for name in ("prompt", "negative_prompt"):
        if name in inp and not isinstance(inp[name], str):
            found.append("%s: must be a string" % name)
    for name in BOOL_FIELDS:
        for where in (params, inp):  # animate's watermark sits in input
            if name in where and not isinstance(where[name], bool):
                found.append("%s: must be true or false, got %r; allowed: true, false" % (name, where[name]))
    if "seed" in params:
        seed = params["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
            found.append("seed: %r is not an integer in range; allowed: 0-%d" % (seed, SEED_MAX))
    return found


def _resolution(request: Mapping[str, Any], spec: Model, params: Mapping[str, Any]) -> List[str]:
    found = []
    if spec.resolution_field == "size":
        if "resolution" in request and "resolution" not in params:
            found.append("resolution: %s takes size as W*H, not a tier; allowed: size = %s"
                         % (spec.id, ", ".join(spec.sizes)))
        if "size" in params and params["size"] not in spec.sizes:
            found.append("size: %r is not supported by %s; allowed: %s"
                         % (params["size"], spec.id, ", ".join(spec.sizes)))
    elif spec.resolution_field == "resolution":
        if "size" in request and "size" not in params:
            ratio = " and ratio (%s)" % ", ".join(spec.ratios) if spec.ratios else ""
            found.append("size: %s takes resolution (a tier)%s, not W*H; allowed: resolution = %s"
                         % (spec.id, ratio, ", ".join(spec.tiers)))
        if "resolution" in params and params["resolution"] not in spec.tiers:
            found.append("resolution: %r is not supported by %s; allowed: %s"
                         % (params["resolution"], spec.id, ", ".join(spec.tiers)))
    if "ratio" in request and "ratio" not in params:
        found.append("ratio: %s takes no ratio (the output follows the input's aspect)%s; allowed: (omit it)"
                     % (spec.id, "; use size W*H instead" if spec.resolution_field == "size" else ""))
    if "ratio" in params and spec.ratios and params["ratio"] not in spec.ratios:
        found.append("ratio: %r is not supported by %s; allowed: %s"
                     % (params["ratio"], spec.id, ", ".join(spec.ratios)))
    return found


def _duration(spec: Model, request: Mapping[str, Any], params: Mapping[str, Any],
              inp: Mapping[str, Any]) -> List[str]:
    if spec.duration is None and ("duration" in request or "duration" in params):
        return ["duration: %s takes no duration (the output follows the input video); allowed: (omit it)" % spec.id]
    if "duration" not in params:
        return []
    value = params["duration"]
    rule = spec.duration
    if spec.mode == "r2v" and spec.family == "wan2.7" and _media_types(inp).get("reference_video"):
        rule = catalog.Duration(2, 10)
    if rule.allows(value):
        return []
    if spec.mode == "kf2v" or rule.values == (5,):
        return ["duration: %s is fixed at 5 seconds, got %r; allowed: 5" % (spec.id, value)]
    return ["duration: %r is not supported by %s; allowed: %s" % (value, spec.id, rule.describe())]


def _prompt(spec: Model, inp: Mapping[str, Any], params: Mapping[str, Any]) -> List[str]:
    found = []
    prompt = inp.get("prompt")
    if spec.prompt_required and not (isinstance(prompt, str) and prompt.strip()):
        found.append("prompt: required for %s (%s); allowed: a non-empty string" % (spec.id, spec.mode))
    if isinstance(prompt, str) and len(prompt) > spec.prompt_max:
        found.append("prompt: %d characters, over the limit for %s; allowed: at most %d characters"
                     % (len(prompt), spec.id, spec.prompt_max))
    negative = inp.get("negative_prompt")
    if isinstance(negative, str) and len(negative) > NEGATIVE_PROMPT_MAX:
        found.append("negative_prompt: %d characters; allowed: at most %d" % (len(negative), NEGATIVE_PROMPT_MAX))
    shot = params.get("shot_type")
    if shot is not None and shot not in ("single", "multi"):
        found.append("shot_type: %r; allowed: single, multi" % (shot,))
    if shot == "multi" and params.get("prompt_extend") is not True and "prompt_extend" in spec.param_fields:
        found.append("shot_type: multi takes effect only with prompt_extend: true; allowed: add \"prompt_extend\": true")
    if "audio_setting" in params and params["audio_setting"] not in ("auto", "origin"):
        found.append("audio_setting: %r; allowed: auto, origin" % (params["audio_setting"],))
    return found


def _declared(spec: Model, inp: Mapping[str, Any], params: Mapping[str, Any]) -> List[str]:
    """The catalog row's own rules: required fields, allowed values, whole-number ranges."""
    def sent(field: str) -> Any:
        if field in spec.input_fields or field == "media":
            return inp.get(field)
        return params.get(spec.wire.get(field, field))

    found = []
    for need in spec.required:
        names = need.split("|")
        if all(sent(name) in (None, "", [], {}) for name in names):
            found.append("%s: required for %s (%s); allowed: %s" % (
                " or ".join(names), spec.id, spec.mode, " or ".join(_describe(name, spec) for name in names)))
    for field, allowed in spec.choices.items():
        value = sent(field)
        if value is not None and (isinstance(value, bool) or value not in allowed):
            found.append("%s: %s is not a value %s takes; allowed: %s" % (field, _kind(value), spec.id,
                                                                         _describe(field, spec)))
    for field, (low, high) in spec.ranges.items():
        value = sent(field)
        if value is not None and (not _is_number(value) or float(value) != int(value) or not low <= value <= high):
            found.append("%s: %s is out of range for %s; allowed: %d-%d" % (field, _kind(value), spec.id, low, high))
    return found


def _describe(field: str, spec: Model) -> str:
    """What a field takes, for the `allowed:` part of a message."""
    if field in spec.choices:
        labels = catalog.CHOICE_LABELS.get(field, {})
        return ", ".join("%s (%s)" % (v, labels[v]) if v in labels else str(v) for v in spec.choices[field])
    if field == "media":
        return "a media list, or its flat fields (%s)" % ", ".join(
            sorted({f for f, _ in spec.media.from_fields})) if spec.media else "a media list"
    kinds = catalog.MEDIA_KINDS.get(field)
    if kinds:
        return "%s URL or local path" % " or ".join(media.article(k) for k in kinds)
    return "a non-empty string" if field in catalog.STRING_FIELDS or field == "prompt" else "a value"


def _legacy_required(spec: Model, inp: Mapping[str, Any], params: Mapping[str, Any]) -> List[str]:
    found = []
    if spec.mode == "i2v" and not inp.get("img_url"):
        found.append("img_url: required for %s (the first frame); allowed: an image URL or local path "
                     "(reference_image is accepted as an alias)" % spec.id)
    if spec.mode == "kf2v":
        if not inp.get("first_frame_url"):
            found.append("first_frame_url: required for %s; allowed: an image URL or local path" % spec.id)
        if inp.get("template") and inp.get("last_frame_url"):
            found.append("last_frame_url: not used with a template; allowed: first_frame_url only")
    template = inp.get("template")
    if isinstance(template, str) and spec.templates and template not in spec.templates:
        found.append("template: %r is not an effect template of %s; allowed: %s"
                     % (template, spec.id, ", ".join(spec.templates)))
    if spec.mode == "r2v":
        refs = list(inp.get("reference_urls") or []) + list(inp.get("reference_video_urls") or [])
        if not refs:
            found.append("reference_urls: required for %s; allowed: 1-5 image or video URLs/paths" % spec.id)
        for index, ref in enumerate(refs):
            if catalog.is_audio_url(ref):
                found.append("reference_urls[%d]: %s is audio; allowed: images and videos for %s (a voice: a "
                             "model with reference audio, e.g. wan3.0-video)" % (index, _kind(ref), spec.id))
        videos = sum(1 for r in refs if catalog.is_video_url(r))
        if len(refs) > 5:
            found.append("reference_urls: %d references; allowed: at most 5 in total" % len(refs))
        if videos > 3:
            found.append("reference_urls: %d videos; allowed: at most 3 videos (5 references in total)" % videos)
    return found


def _media_types(inp: Mapping[str, Any]) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for item in inp.get("media") or []:
        if isinstance(item, dict):
            counts[str(item.get("type"))] = counts.get(str(item.get("type")), 0) + 1
    return counts


def _media(spec: Model, inp: Mapping[str, Any], params: Mapping[str, Any]) -> List[str]:
    rule = spec.media
    assert rule is not None
    found = []
    counts = _media_types(inp)
    limits = {name: (low, high) for name, low, high in rule.counts}
    for index, item in enumerate(inp.get("media") or []):
        if not isinstance(item, dict) or not item.get("url"):
            found.append("media[%d]: each item needs a url; allowed: {\"type\": ..., \"url\": ...}" % index)
        elif item.get("reference_voice") and item.get("type") not in rule.voice_types:
            found.append("media[%d].reference_voice: not allowed on a %s item; allowed on: %s"
                         % (index, item.get("type"), ", ".join(rule.voice_types) or "(none)"))
    for name, count in counts.items():
        if name not in limits:
            found.append("media: type %r is not used by %s; allowed: %s" % (name, spec.id, ", ".join(limits)))
    for name, (low, high) in limits.items():
        have = counts.get(name, 0)
        if have < low or have > high:
            found.append("media: %d %s item(s) for %s; allowed: %s" % (
                have, name, spec.id, str(low) if low == high else "%d-%d" % (low, high)))
    if rule.total:
        names, low, high = rule.total
        have = sum(counts.get(n, 0) for n in names)
        if not low <= have <= high:
            found.append("media: %d references (%s) for %s; allowed: %d-%d"
                         % (have, " + ".join(names), spec.id, low, high))
    for group, other in rule.apart:
        mine = [n for n in group if counts.get(n)]
        theirs = [n for n in other if counts.get(n)]
        if mine and theirs:
            found.append("media: %s cannot be mixed with %s in one %s request; allowed: one or the other"
                         % ("+".join(mine), "+".join(theirs), spec.id))
    needs_extend = [n for n in rule.extend_with if counts.get(n)]
    if needs_extend and params.get("prompt_extend") is False:
        found.append("prompt_extend: must stay true with %s input for %s; allowed: true (or omit it)"
                     % ("/".join(needs_extend), spec.id))
    for index, item in enumerate(inp.get("media") or []):
        if isinstance(item, dict) and item.get("type") in rule.web_types and isinstance(item.get("url"), str) \
                and not item["url"].lower().startswith(("http://", "https://")):
            found.append("media[%d]: a %s must be a web page address; allowed: an http(s):// URL"
                         % (index, item["type"]))
    if rule.combos and counts and all(counts.get(n, 0) <= 1 for n in counts):
        combo = tuple(sorted(counts))
        if combo not in rule.combos:
            found.append("media: %s is not a combination %s accepts; allowed: %s" % (
                "+".join(combo), spec.id, "; ".join("+".join(c) for c in rule.combos)))
    if not counts and not found and (rule.combos or any(low for _, low, _ in rule.counts)):
        fields = ", ".join(sorted({f for f, _ in rule.from_fields}))
        found.append("media: %s needs input media; allowed: %s, or a media list" % (spec.id, fields))
    return found


def _vace(inp: Mapping[str, Any], params: Mapping[str, Any]) -> List[str]:
    function = inp.get("function")
    if function not in VACE_FUNCTIONS:
        return ["function: %s; allowed: %s" % ("required for vace" if not function else "%r is unknown" % function,
                                              ", ".join(VACE_FUNCTIONS))]
    found = []
    condition = params.get("control_condition")
    allowed_conditions = VACE_CONDITIONS.get(function)
    if function == "image_reference":
        refs = inp.get("ref_images_url") or []
        if not isinstance(refs, list) or not 1 <= len(refs) <= 3:
            found.append("ref_images_url: image_reference needs 1-3 images, got %d; allowed: 1-3"
                         % (len(refs) if isinstance(refs, list) else 0))
        roles = params.get("obj_or_bg")
        if roles is not None:
            if not isinstance(roles, list) or any(r not in ("obj", "bg") for r in roles):
                found.append("obj_or_bg: must be a list of \"obj\"/\"bg\"; allowed: obj, bg")
            elif isinstance(refs, list) and len(roles) != len(refs):
                found.append("obj_or_bg: %d entries for %d ref_images_url; allowed: one per image"
                             % (len(roles), len(refs)))
            elif roles.count("bg") > 1:
                found.append("obj_or_bg: at most one \"bg\"; allowed: obj, bg")
        elif isinstance(refs, list) and len(refs) > 1:
            found.append("obj_or_bg: required when ref_images_url has more than one image; allowed: a list of obj/bg")
    if function in ("video_repainting", "video_edit", "video_outpainting") and not inp.get("video_url"):
        found.append("video_url: required for %s; allowed: an MP4 URL or local path" % function)
    if function in ("video_repainting", "video_edit") and len(inp.get("ref_images_url") or []) > 1:
        found.append("ref_images_url: %s takes at most 1 image; allowed: 0-1" % function)
    if function == "video_repainting" and condition is None:
        found.append("control_condition: required for video_repainting; allowed: %s" % ", ".join(allowed_conditions))
    if function == "video_edit" and not (inp.get("mask_image_url") or inp.get("mask_video_url")):
        found.append("mask_image_url: video_edit needs a mask (white = edit); allowed: mask_image_url or mask_video_url")
    if function == "video_extension":
        sources = ("first_frame_url", "last_frame_url", "first_clip_url", "last_clip_url", "video_url")
        if not any(inp.get(s) for s in sources):
            found.append("first_clip_url: video_extension needs something to extend; allowed: %s" % ", ".join(sources))
        if inp.get("video_url") and condition is None:
            found.append("control_condition: required with video_url for video_extension; allowed: posebodyface, depth")
    if condition is not None and allowed_conditions is not None and condition not in allowed_conditions:
        found.append("control_condition: %r for %s; allowed: %s" % (
            condition, function, ", ".join(repr(c) if c == "" else c for c in allowed_conditions)))
    if condition is not None and allowed_conditions is None:
        found.append("control_condition: not used by %s; allowed: (omit it)" % function)
    found += _ranged(params, "strength", 0.0, 1.0)
    found += _ranged(params, "expand_ratio", 0.0, 1.0)
    for side in ("top_scale", "bottom_scale", "left_scale", "right_scale"):
        found += _ranged(params, side, 1.0, 2.0)
    if "mask_type" in params and params["mask_type"] not in ("tracking", "fixed"):
        found.append("mask_type: %r; allowed: tracking, fixed" % (params["mask_type"],))
    if "expand_mode" in params and params["expand_mode"] not in ("hull", "bbox", "original"):
        found.append("expand_mode: %r; allowed: hull, bbox, original" % (params["expand_mode"],))
    return found


def _ranged(params: Mapping[str, Any], name: str, low: float, high: float) -> List[str]:
    if name not in params:
        return []
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        return ["%s: %r is out of range; allowed: %g-%g" % (name, value, low, high)]
    return []


def _local_kinds(request: Dict[str, Any], cwd: Path, home: Optional[str] = None,
                 spec: Optional[Model] = None) -> List[str]:
    """Local files named for another type than their content, or over the size limit of their kind
    (the model's own names and sizes where the catalog gives them).

    A file whose content is wrong for its field is already reported by media.problems; here the
    kind its content shows decides the name and size rules (an r2v reference may be either).
    """
    limits = dict(KIND_LIMITS)
    limits.update(spec.file_limits if spec is not None else {})
    found = []
    for item in media.local_files(request, cwd, home):
        if media.file_problem(item):
            continue  # already reported
        kind = media.content_kind(item.path) or ("document" if "document" in item.ref.kinds else None)
        if kind is None:
            continue
        extensions, limit_mb = limits[kind]
        suffix = item.path.suffix.lower()
        if suffix not in extensions:
            if suffix in _known_names(kind):
                found.append("%s: %s: %s takes no %s %s files; allowed: %s" % (
                    item.ref.label, item.path.name, spec.id if spec is not None else "this model",
                    suffix, kind, ", ".join(extensions)))
            else:
                found.append("%s: %s is not %s file; allowed: %s" % (
                    item.ref.label, item.path.name, "an " + kind if kind in ("image", "audio") else "a " + kind,
                    ", ".join(extensions)))
            continue
        size = item.path.stat().st_size
        if size > limit_mb * 1024 * 1024:
            found.append("%s: %s is %.1f MB; allowed: at most %d MB for %s files%s"
                         % (item.ref.label, item.path.name, size / 1048576.0, limit_mb, kind,
                            " with %s" % spec.id if spec is not None and kind in spec.file_limits else ""))
    return found


def _known_names(kind: str) -> Sequence[str]:
    """Every extension some model takes for this kind of file."""
    names = set(KIND_LIMITS[kind][0])
    for model in catalog.MODELS.values():
        names.update(model.file_limits.get(kind, ((), 0))[0])
    return names


def _measured(spec: Model, request: Dict[str, Any], params: Mapping[str, Any], cwd: Path,
              home: Optional[str]) -> List[str]:
    """Local inputs whose length, sides or frame rate the model does not take, read from their
    headers (probe.py); what cannot be read is left to the service."""
    from . import probe  # here: only a request with local files reads their headers

    found, totals = [], {}  # type: List[str], Dict[str, float]
    for item in media.local_files(request, cwd, home):
        key = _input_key(spec, item)
        what = key.replace("_url", "").replace("_", " ")
        if key in spec.seconds or (spec.output_cap and key in ("reference_video", "video")):
            seconds = probe.duration_of(item.path)
            if seconds is not None:
                totals[key] = totals.get(key, 0.0) + seconds
                low, high = spec.seconds.get(key, (0, math.inf))
                if not low <= seconds <= high:
                    found.append("%s: %s plays %.1f s; allowed: %s s for %s with %s" % (
                        item.ref.label, item.path.name, seconds, _span(low, high), what, spec.id))
        if key in spec.pixels or key in spec.aspect or key in spec.fps:
            kind = media.content_kind(item.path)
            facts = probe.video_facts(item.path) if kind == "video" else None
            size = facts[:2] if facts else probe.image_size(item.path) if kind == "image" else None
            if size and key in spec.pixels:
                low, high = spec.pixels[key]
                if not (low <= size[0] <= high and low <= size[1] <= high):
                    found.append("%s: %s is %dx%d px; allowed: %d-%d px on each side for %s with %s" % (
                        item.ref.label, item.path.name, size[0], size[1], low, high, what, spec.id))
            if size and key in spec.aspect and max(size) > spec.aspect[key] * min(size):
                found.append("%s: %s is %dx%d px, %.2f:1; allowed: at most %g:1 for %s with %s" % (
                    item.ref.label, item.path.name, size[0], size[1], max(size) / float(min(size)),
                    spec.aspect[key], what, spec.id))
            if facts and facts[2] and key in spec.fps:
                low, high = spec.fps[key]
                if not low - 0.5 <= facts[2] <= high + 0.5:
                    found.append("%s: %s runs at %.1f fps; allowed: %s fps for %s with %s" % (
                        item.ref.label, item.path.name, facts[2], _span(low, high), what, spec.id))
    for key, cap in spec.seconds_total.items():
        if totals.get(key, 0.0) > cap:
            found.append("media: the %s inputs play %.1f s together; allowed: at most %g s in all for %s"
                         % (key.replace("_", " "), totals[key], cap, spec.id))
    duration = params.get("duration")
    given = totals.get("reference_video", 0.0) + totals.get("video", 0.0)
    if spec.output_cap and given and isinstance(duration, int) and not isinstance(duration, bool) and duration > 0 \
            and given + duration > spec.output_cap:
        found.append("duration: %d s of output after %.1f s of input video is over %s's %d s; allowed: at most "
                     "%d" % (duration, given, spec.id, spec.output_cap, max(int(spec.output_cap - given), 0)))
    return found


def _input_key(spec: Model, item: "media.LocalFile") -> str:
    """The catalog key a local file's limits are listed under: its media item type for a
    media-protocol model (a reference by its content), else its flat field."""
    field = item.ref.label.split("[")[0].split(".")[0]
    if field == "media" and isinstance(item.ref.container, dict):
        return str(item.ref.container.get("type"))
    flat_types = dict(spec.media.from_fields) if spec.media else {}
    key = flat_types.get(field, field)
    if key == "reference":
        return {"video": "reference_video", "audio": "reference_audio"}.get(
            media.content_kind(item.path) or "", "reference_image")
    return key


def _span(low: float, high: float) -> str:
    if high == math.inf:
        return "at least %g" % low
    return "%g-%g" % (low, high) if low else "at most %g" % high
