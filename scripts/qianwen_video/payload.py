"""Build the DashScope request body from a flat request: pure, driven by the catalog.

The flat request uses the API's own field names (``prompt``, ``size``, ``img_url``...)
without the ``input``/``parameters`` nesting. Each model's catalog entry says which flat
fields go to ``input``, which to ``parameters``, and (for media-protocol models) which
become ``input.media`` items. Every body carries ``parameters`` (``{}`` when nothing is set:
the service answers 400 BadRequest.EmptyParameters without it). The only values added are the
model's ``sent_defaults`` (the upstream skill's resolution/size and duration) when the request
names none of them; everything else is what the user asked for.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Tuple

from . import catalog
from .errors import UsageError

# Keys of the flat request that are not API fields.
CONTROL_KEYS = frozenset({"model", "mode", "output", "input", "parameters"})


class Built:
    """A request body and what was learnt while building it."""

    def __init__(self, body: Dict[str, Any], route: str, spec: Optional[catalog.Model] = None):
        self.body = body
        self.route = route  # path under the API root
        self.spec = spec
        self.unused: List[str] = []  # flat fields the model does not take
        self.aliases: List[str] = []  # "reference_image -> img_url" style notes
        self.defaulted: List[str] = []  # parameters added from the model's sent_defaults


def route_for(model_id: str) -> str:
    spec = catalog.lookup(model_id)
    if spec is not None:
        return spec.endpoint
    # The SDK's rule for ids it does not know: "kf2v" in the name means the image2video route.
    return catalog.ROUTES["image2video" if "kf2v" in model_id else "video-generation"]


def build(request: Mapping[str, Any], model_id: str, mode: str) -> Built:
    spec = catalog.lookup(model_id)
    inp: Dict[str, Any] = {}
    params: Dict[str, Any] = {}
    built = Built({"model": model_id}, route_for(model_id), spec=spec)
    media: List[Dict[str, Any]] = []
    flat = {k: normalised(k, v) for k, v in request.items() if k not in CONTROL_KEYS and v is not None}

    if spec is None:
        _place_unknown(flat, inp, params)
    else:
        media_fields = dict(spec.media.from_fields) if spec.media else {}
        extra: Dict[str, List[Any]] = {}  # aliased entries for a list field (reference_images -> reference_urls)
        for key, value in flat.items():
            if key == "media" and spec.media and not isinstance(value, list):
                inp["media"] = value  # a wrong shape: validation reports it (--no-validate sends it as is)
            elif key == "media" and spec.media:
                media.extend(_explicit_media(value))
            elif key in media_fields:
                media.extend(_media_items(key, value, media_fields[key]))
            elif key in spec.input_fields:
                inp[key] = value
            elif key in spec.param_fields:
                params[spec.wire.get(key, key)] = value
            elif _alias_target(key, spec, flat):
                target = _alias_target(key, spec, flat)
                if target in catalog.MEDIA_LIST_FIELDS:  # appended after the field's own entries
                    extra.setdefault(target, []).extend(value if isinstance(value, list) else [value])
                else:
                    inp[target] = value
                built.aliases.append("%s -> input.%s" % (key, target))
            else:
                built.unused.append(key)
        for target, values in extra.items():
            own = inp.get(target, [])
            inp[target] = (own if isinstance(own, list) else [own]) + values
        if media:
            inp["media"] = media

    native_in = request.get("input")
    native_params = request.get("parameters")
    for name, native in (("input", native_in), ("parameters", native_params)):
        if native is not None and not isinstance(native, dict):
            raise UsageError('"%s" must be a JSON object' % name,
                             hint='use the flat form {"prompt": ...} or the native {"input": {...}, "parameters": {...}}')
    if spec is not None:
        named = set(flat) | set(native_params if isinstance(native_params, dict) else ())
        for key, value in spec.sent_defaults.items():
            if not named.intersection(_SAME_SETTING.get(key, (key,))) and spec.wire.get(key, key) not in (
                    native_params if isinstance(native_params, dict) else ()):
                params[spec.wire.get(key, key)] = value
                built.defaulted.append(key)
    if isinstance(native_in, dict):
        inp.update(native_in)
    if isinstance(native_params, dict):
        params.update(native_params)

    built.body["input"] = inp
    built.body["parameters"] = params
    return built


# A default for one of these is not added when the request names any of them (a `size` on a
# `resolution` model is a mistake validation reports, not a reason to add a second setting).
_SAME_SETTING = {"size": ("size", "resolution"), "resolution": ("size", "resolution")}


def billed_at(body: Mapping[str, Any], spec: Optional[catalog.Model]) -> Tuple[Optional[str], Optional[str]]:
    """(resolution, duration) a body is billed at: the value it sends, else the model's service
    default from the catalog. Resolution is a tier ("720P") or, for `size` models, a W*H size;
    duration is seconds as text, "input" (the input video's length), or None when unknown."""
    params = body.get("parameters")
    params = params if isinstance(params, dict) else {}
    field = spec.resolution_field if spec is not None else None
    names = (field,) if field else ("resolution", "size")
    resolution = next((params[n] for n in names if params.get(n) is not None), None)
    if resolution is None and spec is not None:
        resolution = spec.default_resolution
    duration = params.get("duration")
    if duration is None and spec is not None:
        duration = spec.duration.default if spec.duration is not None else 0
    if duration is None:
        return _text(resolution), None
    if duration == 0 and spec is not None and (spec.duration is None or spec.duration.allows(0)):
        return _text(resolution), "input"
    return _text(resolution), str(duration)


def _text(value: Any) -> Optional[str]:
    return None if value is None else str(value)


def billing_note(built: Built) -> str:
    """One line: the resolution and duration the task is billed at, and where each comes from."""
    resolution, duration = billed_at(built.body, built.spec)
    params = built.body.get("parameters") or {}

    def origin(keys: Tuple[str, ...]) -> str:
        if any(k in built.defaulted for k in keys):
            return "this skill's default"
        if any(k in params for k in keys):
            return "as requested"
        return "service default"

    settings = ["%s %s (%s)" % (key, params.get(built.spec.wire.get(key, key)), origin((key,)))
                for key in built.spec.sent_defaults if key in built.spec.choices
                and built.spec.wire.get(key, key) in params] if built.spec else []  # a billed tier: animate_mode
    if resolution is None and built.spec is not None and built.spec.resolution_field is None:
        where = ", ".join(settings) or "the model's one rate"
        settings = []
    else:
        tier = catalog.tier_of(resolution)
        where = "%s (%s%s)" % (tier, "size %s; " % resolution, origin(("size", "resolution"))) if tier \
            else "%s (%s)" % (resolution, origin(("size", "resolution")))
    if duration is None:
        length = "the service's default duration"
    elif duration == "input":
        length = "the %s's length" % (built.spec.length_from if built.spec else "input video")
    elif duration == "-1":
        length = "a length the model picks (up to %s s)" % built.spec.duration.high if built.spec and \
            built.spec.duration else "a length the model picks"
    else:
        length = "%s s (%s)" % (duration, origin(("duration",)))
    unknown = "" if built.spec is not None else " (model not in the catalog)"
    return "Note: billed at %s, %s%s%s" % (where, length, "".join(", " + s for s in settings), unknown)


def _alias_target(key: str, spec: catalog.Model, flat: Mapping[str, Any]) -> Optional[str]:
    """The legacy input field a flat alias stands for: one the model takes, and for a single-value
    field (img_url) one the request does not set itself; a list field collects all its aliases."""
    for target in catalog.FIELD_ALIASES.get(key, ()):
        if target in spec.input_fields and (target in catalog.MEDIA_LIST_FIELDS or target not in flat):
            return target
    return None


def normalised(key: str, value: Any) -> Any:
    """The value a flat field is sent as: one string in a list field becomes a one-element list,
    a whole-number float in an integer field (5.0) becomes the int (5). Anything else is unchanged
    (validation reports wrong shapes)."""
    if key in catalog.MEDIA_LIST_FIELDS and isinstance(value, str):
        return [value]
    if key in catalog.INTEGER_FIELDS and isinstance(value, float) and math.isfinite(value) \
            and value.is_integer():
        return int(value)
    return value


def _place_unknown(flat: Mapping[str, Any], inp: Dict[str, Any], params: Dict[str, Any]) -> None:
    """An id the catalog cannot place: split fields by name alone, send them all."""
    for key, value in flat.items():
        (inp if key in catalog.INPUT_FIELDS else params)[key] = value


def _explicit_media(value: List[Any]) -> List[Any]:
    """The explicit media items, copied; a wrong shape is passed on for validation to report."""
    return [dict(item) if isinstance(item, dict) else item for item in value]


def _media_items(key: str, value: Any, media_type: str) -> List[Dict[str, Any]]:
    values = value if isinstance(value, list) else [value]
    items = []
    for url in values:
        kind = media_type
        if kind == "reference":  # wan2.7 r2v, wan3.0: images, videos (and audio) share reference_urls
            kind = "reference_video" if catalog.is_video_url(url) else \
                "reference_audio" if catalog.is_audio_url(url) else "reference_image"
        if isinstance(url, dict):  # {"url": ..., "reference_voice": ...} inside a list field
            item = dict(url)
            item.setdefault("type", kind)
            items.append(item)
        else:
            items.append({"type": kind, "url": url})
    return items


def face_check_body(built_spec: Optional[catalog.Model], body: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The body of the unbilled portrait check sent before the task (wan2.2-s2v-detect), or None
    when the model has no such check (or the body has no portrait to check)."""
    image = body.get("input", {}).get("image_url") if isinstance(body.get("input"), dict) else None
    if built_spec is None or not built_spec.face_check or not isinstance(image, str):
        return None
    return {"model": built_spec.face_check, "input": {"image_url": image}}


def has_oss_url(value: Any) -> bool:
    """True when any string inside the body is an oss:// temporary-storage URL."""
    if isinstance(value, str):
        return value.startswith("oss://")
    if isinstance(value, dict):
        return any(has_oss_url(v) for v in value.values())
    if isinstance(value, list):
        return any(has_oss_url(v) for v in value)
    return False
