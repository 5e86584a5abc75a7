"""Mode detection and model resolution: pure functions over the flat request and the catalog."""
from __future__ import annotations

from typing import Mapping, Optional, Tuple

from . import catalog
from .errors import UsageError

# Fields only a media-protocol i2v model takes: they make a request i2v, served by MEDIA_I2V_MODEL
# when no model is named (the default i2v model is legacy and takes none of them).
MEDIA_I2V_FIELDS = ("first_clip_url", "driving_audio_url", "media")
MEDIA_I2V_MODEL = "wan2.7-i2v"


def has(request: Mapping, key: str) -> bool:
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
    if has(request, "function"):
        return "vace"
    if has(request, "reference_urls"):
        return "r2v"
    if any(has(request, key) for key in MEDIA_I2V_FIELDS):
        return "i2v"
    if has(request, "first_frame_url"):
        return "kf2v"
    if has(request, "img_url") or has(request, "reference_image"):
        return "i2v"
    return "t2v"


def resolve(request: Mapping, cli_model: Optional[str], cli_mode: Optional[str]) -> Tuple[str, str]:
    """Return (mode, model_id): `--model` > request "model" > the mode's default.

    The mode likewise comes from `--mode`, else the request's "mode", else detection.
    """
    requested = cli_model or request.get("model") or None
    wanted_mode = cli_mode or request.get("mode") or None
    if wanted_mode is not None and wanted_mode not in catalog.MODES:
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
