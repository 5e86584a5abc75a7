"""Mode detection and model resolution: pure functions over the flat request and the catalog."""
from __future__ import annotations

from typing import List, Mapping, Optional, Tuple

from . import catalog
from .errors import UsageError

# Fields only a media-protocol i2v model takes: they make a request i2v, served by wan2.7-i2v
# when no model is named (the default i2v model is legacy and takes none of them).
MEDIA_I2V_FIELDS = ("first_clip_url", "driving_audio_url", "media")

# Fields that pick the model when none is named: the mode's default is kept if it takes them,
# else the first catalog model of the mode that takes all of them serves the request.
CHOOSING_FIELDS = MEDIA_I2V_FIELDS + catalog.NEVER_DROPPED

# Mode detection when no known model decides: the first row with any of its fields set wins
# ("a+b": both set), else FALLBACK_MODE. detect_mode and --help (help_lines) both read this one table.
# image_url is the portrait field of animate and s2v only; lip-sync, style and omni are only named.
DETECTION: Tuple[Tuple[Tuple[str, ...], str], ...] = (
    (("image_url+audio_url",), "s2v"),
    (("image_url",), "animate"),
    (("function",), "vace"),
    (("reference_urls",), "r2v"),
    (MEDIA_I2V_FIELDS, "i2v"),
    (("first_frame_url",), "kf2v"),
    (("img_url", "reference_image"), "i2v"),
)
FALLBACK_MODE = "t2v"


def has(request: Mapping, key: str) -> bool:
    """Whether the field is set ("a+b": both are)."""
    if "+" in key:
        return all(has(request, part) for part in key.split("+"))
    value = request.get(key)
    return value not in (None, "", [], {})


def detect_mode(request: Mapping, model_id: Optional[str] = None) -> str:
    """Pick the mode from the request fields, letting a known model decide first.

    A catalog model serves exactly one mode, so naming it settles the question (this is
    the "model-aware" rule: a videoedit model forces videoedit, an r2v model forces r2v,
    a media-protocol i2v model turns `first_frame_url` into i2v rather than kf2v).
    """
    model = catalog.lookup(model_id) if model_id else None
    if model is not None:
        return model.mode
    for fields, mode in DETECTION:
        if any(has(request, key) for key in fields):
            return mode
    return FALLBACK_MODE


def help_lines() -> List[str]:
    """--help's mode-detection rules and per-mode defaults, rendered from DETECTION, the catalog's
    DEFAULT_MODELS and each default model's sent_defaults (the same data the code runs on)."""
    rules = []
    for fields, mode in DETECTION:
        quoted = ['+'.join('"%s"' % part for part in f.split("+")) for f in fields]
        left = quoted[0] if len(quoted) == 1 else "%s or %s" % (", ".join(quoted[:-1]), quoted[-1])
        right = mode
        if fields == MEDIA_I2V_FIELDS:
            right += " (%s when no model is named)" % model_taking(fields[:1], mode)
        elif mode == "kf2v":
            right += " (i2v for a media-protocol i2v model)"
        rules.append((left, right))
    rules.append(("otherwise", FALLBACK_MODE))
    width = max(len(left) for left, _ in rules)
    lines = ["mode auto-detection (first match wins; --mode overrides):",
             "  a known --model/\"model\" decides: every catalog model serves one mode"]
    lines += ["  %-*s -> %s" % (width, left, right) for left, right in rules]
    lines.append("model priority: --model > request \"model\" > the mode's default; sent when the request "
                 "names none:")
    for mode in catalog.MODES:
        model = catalog.DEFAULT_MODELS[mode]
        spec = catalog.get(model)
        sent = ", ".join("%s %s" % (k, v) for k, v in spec.sent_defaults.items()) if spec else ""
        lines.append("  %-10s %-22s %s" % (mode, model, sent or "(nothing: service defaults)"))
        twin = catalog.regional_twin(model, catalog.DEFAULT_REGION) if spec and \
            catalog.DEFAULT_REGION not in spec.regions else None
        if twin:
            lines[-1] += "; %s id: %s" % (catalog.DEFAULT_REGION, twin)
    return lines


def resolve(request: Mapping, cli_model: Optional[str], cli_mode: Optional[str]) -> Tuple[str, str]:
    """Return (mode, model_id): `--model` > request "model" > the mode's default.

    The mode likewise comes from `--mode`, else the request's "mode", else detection.
    """
    requested = cli_model or request.get("model") or None
    wanted_mode = cli_mode or request.get("mode") or None
    if wanted_mode is not None and wanted_mode not in catalog.MODES:
        animate = catalog.get(catalog.DEFAULT_MODELS["animate"])
        if wanted_mode in animate.choices["animate_mode"]:
            raise UsageError('"mode" picks the kind of video (%s); %r is animate\'s quality setting'
                             % (", ".join(catalog.MODES), wanted_mode),
                             hint='write it as "animate_mode": "%s" (sent as parameters.mode)' % wanted_mode)
        raise UsageError('"mode" must be one of %s, got %r' % (", ".join(catalog.MODES), wanted_mode))
    cli_mode = wanted_mode
    if requested is not None and not isinstance(requested, str):
        raise UsageError('"model" must be a string', hint="for example \"model\": \"wan2.6-t2v\"")
    model = catalog.lookup(requested) if requested else None
    if cli_mode:
        if model is not None and model.mode != cli_mode:
            raise UsageError(
                "--mode %s does not match model %s, which is a %s model" % (cli_mode, requested, model.mode),
                hint="drop --mode (the model decides), or pick a %s model: %s"
                     % (cli_mode, ", ".join(m.id for m in catalog.models_for_mode(cli_mode)[:4])))
        mode = cli_mode
    else:
        mode = detect_mode(request, requested)
    return mode, requested or catalog.DEFAULT_MODELS[mode]


def model_taking(fields, mode: str) -> Optional[str]:
    """The first catalog model of `mode` that takes every one of `fields`, if any does."""
    return next((m.id for m in catalog.models_for_mode(mode) if all(m.takes(f) for f in fields)), None)


def default_for_fields(request: Mapping, mode: str, model_id: str) -> Tuple[str, List[str]]:
    """(model, fields it was chosen for): a defaulted model that cannot take the request's
    CHOOSING_FIELDS gives way to one of the same mode that can; otherwise it stays."""
    spec = catalog.get(model_id)
    if spec is None or spec.mode != mode:
        return model_id, []
    wanted = [key for key in CHOOSING_FIELDS if has(request, key)]
    if all(spec.takes(key) for key in wanted):
        return model_id, []
    chosen = model_taking(wanted, mode)
    return (chosen, [key for key in wanted if not spec.takes(key)]) if chosen else (model_id, [])
