"""The model catalog: one table that drives mode detection, payloads, validation and docs.

Facts come from the official Model Studio API references (the DOC_* URLs below; section
numbers in comments refer to the team's notes on them). Where sources disagree, the entry keeps
the looser rule and records the dispute in ``disputed``, citing the public page, so validation
never rejects something the service may accept.
"""
# No `from __future__ import annotations` here (as in options.py): typing.NamedTuple would compile
# each of the models' field annotations at every start-up (~1 ms of --dry-run's).

import math
from typing import Any, Dict, Mapping, NamedTuple, Optional, Tuple

# The seed's six modes, then the newer families' (dashscope-new-models.md §1-§5): animate a person
# (move / mix), speech-to-video (s2v), lip-sync (videoretalk), style transfer, wan3.0 all-in-one (omni).
SEED_MODES = ("t2v", "i2v", "kf2v", "r2v", "vace", "videoedit")
MODES = SEED_MODES + ("animate", "s2v", "lipsync", "style", "omni")

# The seed's six exactly as its "Model Selection" section lists them; the newer modes' own models.
DEFAULT_MODELS = {
    "t2v": "wan2.6-t2v",
    "i2v": "wan2.6-i2v-flash",
    "kf2v": "wan2.2-kf2v-flash",
    "r2v": "wan2.6-r2v-flash",
    "vace": "wan2.1-vace-plus",
    "videoedit": "wan2.7-videoedit",
    "animate": "wan2.2-animate-move",
    "s2v": "wan2.2-s2v",
    "lipsync": "videoretalk",
    "style": "video-style-transform",
    "omni": "wan3.0-video",
}

ROUTES = {
    "video-generation": "/services/aigc/video-generation/video-synthesis",
    "image2video": "/services/aigc/image2video/video-synthesis",
}
# The synchronous check a portrait must pass before wan2.2-s2v is paid (dashscope-new-models.md §3).
FACE_DETECT_ROUTE = "/services/aigc/image2video/face-detect"

# dashscope-api.md §3.1: legacy `size` values per tier ("W*H", asterisk).
SIZE_TIERS: Dict[str, Tuple[str, ...]] = {
    "480P": ("832*480", "480*832", "624*624"),
    "720P": ("1280*720", "720*1280", "960*960", "1088*832", "832*1088"),
    "1080P": ("1920*1080", "1080*1920", "1440*1440", "1632*1248", "1248*1632"),
}

RATIOS_5 = ("16:9", "9:16", "1:1", "4:3", "3:4")
# dashscope-api.md §3.8: HappyHorse 1.1 extra ratios are unverified; looser rule keeps them.
RATIOS_HH11 = RATIOS_5 + ("4:5", "5:4", "9:21", "21:9")

# Official Model Studio API references (public pages; notes and disputes cite these, never a local file).
DOC_T2V = "https://help.aliyun.com/zh/model-studio/text-to-video-api-reference"
DOC_I2V = "https://help.aliyun.com/zh/model-studio/image-to-video-api-reference"
DOC_KF2V = "https://help.aliyun.com/zh/model-studio/image-to-video-by-first-and-last-frame-api-reference"
DOC_R2V = "https://help.aliyun.com/zh/model-studio/wan-video-to-video-api-reference"
DOC_I2V27 = "https://help.aliyun.com/zh/model-studio/image-to-video-general-api-reference"
DOC_EDIT27 = "https://help.aliyun.com/zh/model-studio/wan-video-editing-api-reference"
DOC_LIMITS = "https://help.aliyun.com/zh/model-studio/rate-limit"
# HappyHorse pages, one per mode (their slugs as linked from Model Studio's own docs; only
# secondary summaries of them were read, hence the "all" dispute on every HappyHorse entry).
DOC_HH = "https://help.aliyun.com/zh/model-studio/happyhorse-%s-api-reference"
HH_DOC_SLUGS = {"t2v": "text-to-video", "i2v": "image-to-video", "r2v": "reference-to-video",
                "videoedit": "video-edit"}

DEFAULT_REGION = "cn-beijing"  # QWEN_REGION's default; also whose ids a custom endpoint of unknown region gets
REGIONS = {
    "cn-beijing": "https://dashscope.aliyuncs.com/api/v1",
    "ap-southeast-1": "https://dashscope-intl.aliyuncs.com/api/v1",
    "us-east-1": "https://dashscope-us.aliyuncs.com/api/v1",
}

# Which flat request fields belong in `input` (everything else a model accepts goes to
# `parameters`). Fields with media content are listed in MEDIA_FIELDS too.
INPUT_FIELDS = frozenset({
    "prompt", "negative_prompt", "img_url", "audio_url", "template",
    "first_frame_url", "last_frame_url", "reference_urls", "reference_video_urls",
    "function", "ref_images_url", "video_url", "mask_image_url", "mask_video_url",
    "mask_frame_id", "first_clip_url", "last_clip_url", "media", "image_url", "ref_image_url",
    "reference_audio_urls", "file_url", "link_url",
})

# Effect templates ("万相-图生视频-视频特效", index id 62961936197; dashscope-new-models.md §6):
# `input.template` instead of a prompt, on these wanx2.1 models only.
I2V_TEMPLATES = ("squish", "rotation", "poke", "inflate", "dissolve", "melt", "icecream", "carousel",
                 "singleheart", "dance1", "dance2", "dance3", "dance4", "dance5", "mermaid", "graduation",
                 "dragon", "money", "jellyfish", "pupil", "flying", "rose", "crystalrose", "hug", "frenchkiss",
                 "coupleheart")
KF2V_TEMPLATES = ("hanfu-1", "solaron", "magazine", "mech1", "mech2")  # first frame only

# Fields a model that does not take them cannot simply drop: the paid video would come out
# without the input or the effect asked for, so such a request is refused instead.
NEVER_DROPPED = ("template",)

# video-style-transform's `style` values (dashscope-new-models.md §5 gives 0-7, "from Japanese manga to
# Chinese ink wash"; the names per number from a third-party skill, cinience/alicloud-skills
# aliyun-video-style-repaint SKILL.md, index id 53542536024).
TRANSFORM_STYLES = ("Japanese manga", "American comics", "fresh comics", "3D cartoon", "Chinese cartoon",
                    "paper art", "simple illustration", "Chinese ink wash")
# Labels shown beside allowed values in messages, --list-models and the docs.
CHOICE_LABELS: Dict[str, Dict[Any, str]] = {"style": dict(enumerate(TRANSFORM_STYLES))}

# Flat fields that may hold a URL or local path, per the local-media contract.
MEDIA_FIELDS = (
    "img_url", "reference_image", "first_frame_url", "last_frame_url", "first_clip_url",
    "last_clip_url", "driving_audio_url", "audio_url", "video_url", "mask_image_url",
    "mask_video_url", "ref_images_url", "reference_urls", "reference_images",
    "reference_video_urls", "media", "image_url", "ref_image_url", "reference_audio_urls", "file_url",
)
# Flat alias -> the legacy input fields it may stand for (when the model takes that field and the
# request does not set it itself): reference_image is the i2v first frame, reference_images the r2v list,
# img_url the portrait of animate and s2v.
# A singular reference_image on a legacy r2v model is one more reference_urls entry.
FIELD_ALIASES = {"reference_image": ("img_url", "reference_urls"), "reference_images": ("reference_urls",),
                 "img_url": ("image_url",)}  # the newer families name their portrait image_url
# The shapes those and the other flat fields must have (validate checks, payload normalises).
MEDIA_SCALAR_FIELDS = tuple(f for f in MEDIA_FIELDS if f not in (
    "ref_images_url", "reference_urls", "reference_images", "reference_video_urls", "reference_audio_urls",
    "media"))
MEDIA_LIST_FIELDS = ("reference_urls", "ref_images_url", "reference_images", "reference_video_urls",
                     "reference_audio_urls")
STRING_FIELDS = ("prompt", "negative_prompt", "size", "resolution", "ratio", "shot_type", "function",
                 "control_condition", "mask_type", "expand_mode", "audio_setting", "template", "animate_mode", "link_url")
INTEGER_FIELDS = ("duration", "seed", "mask_frame_id", "video_fps", "min_len", "query_face_threshold")
NUMBER_FIELDS = ("strength", "expand_ratio", "top_scale", "bottom_scale", "left_scale", "right_scale")

# Which kind of file each media field holds (dashscope-api.md §3.2-§3.8), for the checks of local
# files by content and by name. r2v reference_urls take images and videos alike (§3.5, §3.7), wan3.0's
# audio too (dashscope-new-models.md §1; a model without reference audio refuses it by type); a
# `reference_voice` is audio (§3.7); an item of a `media` list holds what its `type` says, and an
# item of an unknown type may be any of the three (validation names the type).
MEDIA_KINDS: Dict[str, Tuple[str, ...]] = {
    "img_url": ("image",), "reference_image": ("image",), "first_frame_url": ("image",),
    "last_frame_url": ("image",), "mask_image_url": ("image",), "ref_images_url": ("image",),
    "reference_images": ("image",), "video_url": ("video",), "first_clip_url": ("video",),
    "last_clip_url": ("video",), "mask_video_url": ("video",), "reference_video_urls": ("video",),
    "audio_url": ("audio",), "driving_audio_url": ("audio",), "reference_voice": ("audio",),
    "image_url": ("image",), "ref_image_url": ("image",), "reference_audio_urls": ("audio",),
    "file_url": ("document",),
    "reference_urls": ("image", "video", "audio"), "media": ("image", "video", "audio"),
}
MEDIA_TYPE_KINDS: Dict[str, Tuple[str, ...]] = {
    "first_frame": ("image",), "last_frame": ("image",), "reference_image": ("image",),
    "driving_audio": ("audio",), "first_clip": ("video",), "reference_video": ("video",),
    "video": ("video",), "reference_audio": ("audio",), "file": ("document",),
}

# Output naming: a --output ending in one of these is a file name, not a folder.
VIDEO_EXTENSIONS = (".mp4", ".mov", ".webm", ".mkv", ".m4v", ".avi", ".flv", ".wmv", ".ts")
# Input references: the video formats the service takes (MP4/MOV, dashscope-api.md §3.5-§3.8).
REFERENCE_VIDEO_SUFFIXES = (".mp4", ".mov")
REFERENCE_AUDIO_SUFFIXES = (".wav", ".mp3")  # wan3.0 reference audio (dashscope-new-models.md §1)


def tier_of(size: Any) -> Optional[str]:
    """The tier ("720P") a legacy W*H size belongs to, or None."""
    for tier, sizes in SIZE_TIERS.items():
        if size in sizes:
            return tier
    return None


def is_video_url(value: Any) -> bool:
    """True when a reference (URL, path or ``{"url": ...}`` item) names a video: .mp4/.mov, query ignored."""
    if isinstance(value, dict):
        value = value.get("url")
    if not isinstance(value, str):
        return False
    return value.split("?", 1)[0].lower().endswith(REFERENCE_VIDEO_SUFFIXES)


def is_audio_url(value: Any) -> bool:
    """True when a reference (URL, path or ``{"url": ...}`` item) names audio: .wav/.mp3, query ignored."""
    if isinstance(value, dict):
        value = value.get("url")
    return isinstance(value, str) and value.split("?", 1)[0].lower().endswith(REFERENCE_AUDIO_SUFFIXES)


class Duration(NamedTuple):
    """Allowed `duration`: an inclusive range, or an explicit set of values."""

    low: int
    high: int
    values: Tuple[int, ...] = ()
    default: int = 5

    def allows(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if not math.isfinite(value) or float(value) != int(value):
            return False
        if self.values:
            return int(value) in self.values
        return self.low <= int(value) <= self.high

    def describe(self) -> str:
        if self.values:  # runs of five or more consecutive values shown as a range: "-1,2-30"
            runs: list = []
            for value in self.values:
                if runs and value == runs[-1][-1] + 1:
                    runs[-1].append(value)
                else:
                    runs.append([value])
            return ",".join("%d-%d" % (r[0], r[-1]) if len(r) >= 5 else ",".join(map(str, r)) for r in runs)
        if self.low == self.high:
            return str(self.low)
        return "%d-%d" % (self.low, self.high)


FIXED_5 = Duration(5, 5, (5,))
# wan3.0: any whole number 2-30, or -1 (the model picks the length); dashscope-new-models.md §1.
WAN30_DURATION = Duration(-1, 30, (-1,) + tuple(range(2, 31)))


class MediaRule(NamedTuple):
    """How a media-protocol model maps flat fields onto `input.media` items and their limits."""

    # flat field -> media type (list-valued flat fields produce one item per element)
    from_fields: Tuple[Tuple[str, str], ...]
    # media type -> (min count, max count)
    counts: Tuple[Tuple[str, int, int], ...]
    # total cap across these types, e.g. reference_image + reference_video <= 5
    total: Optional[Tuple[Tuple[str, ...], int, int]] = None
    # allowed combinations of types (sorted tuples); empty means any combination
    combos: Tuple[Tuple[str, ...], ...] = ()
    # item types that may carry a `reference_voice`
    voice_types: Tuple[str, ...] = ()
    # groups of types that one request may not mix: (group, other group) pairs
    apart: Tuple[Tuple[Tuple[str, ...], Tuple[str, ...]], ...] = ()
    # types that need `prompt_extend` left on (the model writes the script from a document or page)
    extend_with: Tuple[str, ...] = ()
    # types whose url must be a web address (a page the service reads), never a file to upload
    web_types: Tuple[str, ...] = ()


class Model(NamedTuple):
    """One model id. A NamedTuple (not a dataclass) keeps start-up light: no `inspect` import."""

    id: str
    family: str  # "wan2.1" .. "wan3.0", "happyhorse-1.0", "happyhorse-1.1", "videoretalk", "style-transform"
    mode: str
    route: str  # key of ROUTES
    protocol: str  # "legacy" (named fields) or "media" (input.media[] items)
    input_fields: Tuple[str, ...]
    param_fields: Tuple[str, ...]
    resolution_field: Optional[str]  # "size", "resolution" or None
    tiers: Tuple[str, ...]  # allowed tiers (480P/720P/1080P)
    default_resolution: Optional[str]  # a tier, or a W*H size for `size` models
    duration: Optional[Duration]  # None: the model takes no duration
    ratios: Tuple[str, ...] = ()
    # "silent", "auto" (adds audio itself), "optional" (`audio` switch), "given" (the audio_url sent),
    # "unstated" (the docs say nothing about the output's sound)
    audio: str = "silent"
    prompt_max: int = 800
    prompt_required: bool = False
    media: Optional[MediaRule] = None
    regions: Tuple[str, ...] = ("cn-beijing",)
    default_watermark: bool = False
    submit_rps: int = 2  # the strictest documented limits (wan2.1/2.2, §6): also used for unknown ids
    concurrency: int = 2
    disputed: Mapping[str, str] = {}  # never mutated
    notes: str = ""
    templates: Tuple[str, ...] = ()  # effect templates `input.template` may name (none: no template)
    required: Tuple[str, ...] = ()  # fields that must be set ("a|b": either); each named when missing
    choices: Mapping[str, Tuple[Any, ...]] = {}  # field -> its allowed values (never mutated)
    ranges: Mapping[str, Tuple[int, int]] = {}  # whole-number field -> inclusive range (never mutated)
    wire: Mapping[str, str] = {}  # flat field -> its name in `parameters`, where the API's name collides
    face_check: str = ""  # the detect model a portrait must pass (synchronously, unbilled) before submitting
    refused: Tuple[str, ...] = ()  # fields the model rejects outright: an error, never dropped
    length_from: str = "input video"  # what sets the output's length when the model takes no duration
    # Per kind of local file, the names and size this model takes where they differ from the usual
    # (validate.KIND_LIMITS): kind -> (extensions, MB). Never mutated.
    file_limits: Mapping[str, Tuple[Tuple[str, ...], int]] = {}
    # Seconds a local input may play, read from its header (probe.py): field or media type ->
    # (min, max) per file; media type -> the most for all of that type together; and the cap on the
    # input videos' seconds plus the output's (0: none). Never mutated.
    seconds: Mapping[str, Tuple[float, float]] = {}
    seconds_total: Mapping[str, float] = {}
    output_cap: int = 0
    # The same keys -> (min, max) pixels of each side, the longest side over the shortest at most,
    # and (min, max) frames per second. Never mutated.
    pixels: Mapping[str, Tuple[int, int]] = {}
    aspect: Mapping[str, float] = {}
    fps: Mapping[str, Tuple[float, float]] = {}
    # The parameters sent when the request names none of them: what the upstream skill's builder
    # for this family sends (QW-0.1.0; see SKILL_DEFAULTS_* below). {} = send none, the service
    # default applies. Never a value outside the model's own tiers/durations.
    sent_defaults: Mapping[str, Any] = {}  # never mutated

    @property
    def endpoint(self) -> str:
        return ROUTES[self.route]

    @property
    def sizes(self) -> Tuple[str, ...]:
        if self.resolution_field != "size":
            return ()
        return tuple(s for tier in self.tiers for s in SIZE_TIERS[tier])

    @property
    def accepted_fields(self) -> Tuple[str, ...]:
        extra: Tuple[str, ...] = ()
        if self.media:
            extra = tuple(f for f, _ in self.media.from_fields)
        return self.input_fields + self.param_fields + extra

    def takes(self, field: str) -> bool:
        """Whether a flat field reaches this model's body (directly, as media, or via an alias)."""
        if field == "media":
            return self.media is not None
        return field in self.accepted_fields or any(t in self.input_fields for t in FIELD_ALIASES.get(field, ()))


# ---------------------------------------------------------------------------
# What the upstream skill (QW-0.1.0 video_lib.py builders) sends when the request names no
# resolution/size or duration. Builders are chosen by family, not by the skill's exact-id sets
# (which miss dated snapshots and the 1.1/wan2.7-r2v ids added later; those get their family's
# builder, as in QW-0.2/0.3). kf2v's duration is the skill's hard-coded 5.
SKILL_T2V = {"duration": 5}                              # wan2.1-2.6 t2v: duration only, no size
SKILL_I2V = {"resolution": "720P", "duration": 5}        # wan2.1-2.6 i2v, kf2v
SKILL_R2V26 = {"size": "1280*720", "duration": 5}        # wan2.6 r2v
SKILL_WAN27 = {"resolution": "1080P", "duration": 5}     # wan2.7/HappyHorse t2v and i2v
SKILL_R2V_MEDIA = {"resolution": "720P", "duration": 5}  # HappyHorse r2v (QW-0.1), wan2.7-r2v (QW-0.3)
# vace and videoedit: the skill sends parameters only when given (no defaults).

# ---------------------------------------------------------------------------
# Field sets shared by families (dashscope-api.md §3.2-§3.8)

LEGACY_COMMON_PARAMS = ("prompt_extend", "watermark", "seed")
VACE_PARAMS = (
    "size", "duration", "prompt_extend", "watermark", "seed", "obj_or_bg", "control_condition",
    "strength", "mask_type", "expand_ratio", "expand_mode", "top_scale", "bottom_scale",
    "left_scale", "right_scale",
)
VACE_INPUT = (
    "prompt", "function", "ref_images_url", "video_url", "mask_image_url", "mask_video_url",
    "mask_frame_id", "first_frame_url", "last_frame_url", "first_clip_url", "last_clip_url",
)

WAN27_I2V_MEDIA = MediaRule(
    from_fields=(("first_frame_url", "first_frame"), ("img_url", "first_frame"),
                 ("reference_image", "first_frame"), ("last_frame_url", "last_frame"),
                 ("driving_audio_url", "driving_audio"), ("first_clip_url", "first_clip")),
    counts=(("first_frame", 0, 1), ("last_frame", 0, 1), ("driving_audio", 0, 1), ("first_clip", 0, 1)),
    combos=(("first_frame",), ("driving_audio", "first_frame"), ("first_frame", "last_frame"),
            ("driving_audio", "first_frame", "last_frame"), ("first_clip",),
            ("first_clip", "last_frame")),
)
WAN27_R2V_MEDIA = MediaRule(
    from_fields=(("reference_urls", "reference"), ("reference_images", "reference_image"),
                 ("reference_image", "reference_image"), ("first_frame_url", "first_frame")),
    counts=(("reference_image", 0, 5), ("reference_video", 0, 5), ("first_frame", 0, 1)),
    total=(("reference_image", "reference_video"), 1, 5),
    voice_types=("reference_image", "reference_video"),
)
WAN27_EDIT_MEDIA = MediaRule(
    from_fields=(("video_url", "video"), ("reference_images", "reference_image"),
                 ("reference_urls", "reference_image"), ("reference_image", "reference_image")),
    counts=(("video", 1, 1), ("reference_image", 0, 4)),
)
HH_I2V_MEDIA = MediaRule(
    from_fields=(("first_frame_url", "first_frame"), ("img_url", "first_frame"),
                 ("reference_image", "first_frame")),
    counts=(("first_frame", 1, 1),),
)
HH_R2V_MEDIA = MediaRule(
    from_fields=(("reference_urls", "reference_image"), ("reference_images", "reference_image"),
                 ("reference_image", "reference_image")),
    counts=(("reference_image", 1, 9),),
)
HH_EDIT_MEDIA = MediaRule(
    from_fields=(("video_url", "video"), ("reference_images", "reference_image"),
                 ("reference_urls", "reference_image"), ("reference_image", "reference_image")),
    counts=(("video", 1, 1), ("reference_image", 0, 5)),
)


IMAGE_NAMES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")  # the newer families' image formats

# wan3.0 (dashscope-new-models.md §1): frames, references, a document or a web page, never mixed.
WAN30_FRAMES = ("first_frame", "last_frame")
WAN30_MEDIA = MediaRule(
    from_fields=(("first_frame_url", "first_frame"), ("img_url", "first_frame"), ("last_frame_url", "last_frame"),
                 ("reference_urls", "reference"), ("reference_images", "reference_image"),
                 ("reference_image", "reference_image"), ("reference_video_urls", "reference_video"),
                 ("reference_audio_urls", "reference_audio"), ("file_url", "file"), ("link_url", "link")),
    counts=(("first_frame", 0, 1), ("last_frame", 0, 1), ("reference_image", 0, 10), ("reference_video", 0, 5),
            ("reference_audio", 0, 5), ("file", 0, 1), ("link", 0, 1)),
    apart=((WAN30_FRAMES, ("reference_image", "reference_video", "reference_audio", "file", "link")),
           (("file",), ("link",))),
    extend_with=("file", "link"), web_types=("link",),
)
WAN30_IMAGES = ("first_frame", "last_frame", "reference_image")
WAN30_RATIOS = ("adaptive", "16:9", "4:3", "1:1", "3:4", "9:16", "21:9")
WAN30_REFERENCE_SECONDS = 15  # each reference video/audio 1-15 s, and at most 15 s of each in total
WAN30_TOTAL_SECONDS = 30  # with video input: input seconds + output seconds


def _legacy_t2v(mid, family, tiers, default_size, duration, prompt_max, audio, regions,
                shot_type=False, rps=2, conc=2, disputed=None):
    inputs = ("prompt", "negative_prompt") + (("audio_url",) if audio == "auto" else ())
    params = ("size", "duration") + LEGACY_COMMON_PARAMS + (("shot_type",) if shot_type else ())
    return Model(mid, family, "t2v", "video-generation", "legacy", inputs, params, "size", tiers,
                 default_size, duration, audio=audio, prompt_max=prompt_max, prompt_required=True,
                 regions=regions, submit_rps=rps, concurrency=conc, disputed=disputed or {},
                 sent_defaults=SKILL_T2V)


def _legacy_i2v(mid, family, tiers, default_res, duration, prompt_max, audio, regions,
                audio_url=False, shot_type=False, rps=2, conc=2, disputed=None, templates=()):
    inputs = (("prompt", "negative_prompt", "img_url") + (("template",) if templates else ())
              + (("audio_url",) if audio_url else ()))
    params = (("resolution", "duration") + LEGACY_COMMON_PARAMS
              + (("shot_type",) if shot_type else ()) + (("audio",) if audio == "optional" else ()))
    # The skill's 720P where the model has that tier (wan2.2-i2v-plus has 480P/1080P only: the
    # skill's 720P would fail there, so only its duration is sent and the service default applies).
    sent = SKILL_I2V if SKILL_I2V["resolution"] in tiers else {"duration": SKILL_I2V["duration"]}
    return Model(mid, family, "i2v", "video-generation", "legacy", inputs, params, "resolution",
                 tiers, default_res, duration, audio=audio, prompt_max=prompt_max, regions=regions,
                 submit_rps=rps, concurrency=conc, disputed=disputed or {}, sent_defaults=sent,
                 templates=templates)


def _kf2v(mid, family, tiers, default_res, regions, rps=2, conc=2, disputed=None, templates=()):
    return Model(mid, family, "kf2v", "image2video", "legacy",
                 ("prompt", "negative_prompt", "first_frame_url", "last_frame_url")
                 + (("template",) if templates else ()),
                 ("resolution", "duration") + LEGACY_COMMON_PARAMS, "resolution", tiers,
                 default_res, FIXED_5, regions=regions, submit_rps=rps, concurrency=conc,
                 disputed=disputed or {}, sent_defaults=SKILL_I2V, templates=templates)


def _vace(mid, regions):
    return Model(mid, "wan2.1", "vace", "video-generation", "legacy", VACE_INPUT, VACE_PARAMS,
                 "size", ("720P",), "1280*720", FIXED_5, regions=regions, prompt_required=True,
                 notes="input.function selects image_reference, video_repainting, video_edit, "
                       "video_extension or video_outpainting")


def _wan27(mid, mode, media=None, inputs=("prompt", "negative_prompt"), ratios=RATIOS_5,
           duration=Duration(2, 15), audio="auto", prompt_required=False, params_extra=(),
           disputed=None, sent=None):
    params = ("resolution",) + (("ratio",) if ratios else ()) + (("duration",) if duration else ()) \
        + LEGACY_COMMON_PARAMS + params_extra
    return Model(mid, "wan2.7", mode, "video-generation", "media" if media else "legacy", inputs,
                 params, "resolution", ("720P", "1080P"), "1080P", duration, ratios=ratios,
                 audio=audio, prompt_max=5000, prompt_required=prompt_required, media=media,
                 regions=("cn-beijing", "ap-southeast-1"), submit_rps=5, concurrency=5,
                 disputed=disputed or {}, sent_defaults=sent if sent is not None else SKILL_WAN27)


def _happyhorse(mid, version, mode, media=None, ratios=RATIOS_5, duration=Duration(3, 15),
                prompt_required=True, params_extra=(), regions=("cn-beijing", "ap-southeast-1")):
    params = ("resolution",) + (("ratio",) if ratios else ()) + (("duration",) if duration else ()) \
        + ("watermark", "seed") + params_extra
    doc = DOC_HH % HH_DOC_SLUGS[mode]
    disputed = {"all": "Limits come from secondary summaries of the official HappyHorse reference, %s "
                       "(not read verbatim); check it before relying on them." % doc}
    if version == "1.1" and ratios:
        disputed["ratio"] = ("4:5, 5:4, 9:21 and 21:9 come from an unofficial 1.1 summary, not from %s; "
                             "allowed." % doc)
    sent = {} if mode == "videoedit" else (SKILL_R2V_MEDIA if mode == "r2v" else SKILL_WAN27)
    return Model(mid, "happyhorse-" + version, mode, "video-generation", "media" if media else "legacy",
                 ("prompt",), params, "resolution", ("720P", "1080P"), "1080P", duration,
                 ratios=ratios, audio="auto", prompt_max=5000, prompt_required=prompt_required,
                 media=media, regions=regions, default_watermark=True, submit_rps=10,
                 concurrency=5, disputed=disputed, sent_defaults=sent)


def _wan30(mid):
    # Regions: the doc lists Beijing, Singapore, Virginia (and Tokyo, Frankfurt, Hong Kong, which this
    # tool has no endpoint for). No rate limit is documented: the strictest documented pair applies.
    return Model(mid, "wan3.0", "omni", "video-generation", "media", ("prompt",),
                 ("resolution", "ratio", "duration", "audio", "seed", "prompt_extend", "watermark"), "resolution",
                 ("480P", "720P", "1080P"), "1080P", WAN30_DURATION, ratios=WAN30_RATIOS, audio="optional",
                 prompt_max=20000, media=WAN30_MEDIA, regions=ALL_REGIONS, required=("prompt|media",),
                 refused=("negative_prompt",), sent_defaults=SKILL_WAN27,  # QW-0.3's wan3.0 builder
                 seconds={"reference_video": (1, WAN30_REFERENCE_SECONDS), "reference_audio": (1, WAN30_REFERENCE_SECONDS)},
                 seconds_total={"reference_video": WAN30_REFERENCE_SECONDS, "reference_audio": WAN30_REFERENCE_SECONDS},
                 output_cap=WAN30_TOTAL_SECONDS,
                 pixels=dict({t: (240, 8000) for t in WAN30_IMAGES}, reference_video=(240, 4096)),
                 aspect={t: 8.0 for t in WAN30_IMAGES}, fps={"reference_video": (16, math.inf)},
                 notes="one model for text, frames, references (Image n / Video n / Audio n in the prompt), "
                       "edits and extensions of a reference video, a document (file_url) or a web page (link_url)")


def _animate(mid, what):
    # image2video route; `input.watermark`; the API's parameters.mode is the flat `animate_mode`, since
    # a request's own "mode" picks t2v, i2v... (dashscope-new-models.md §2). 5 RPS, 1 task at a time.
    return Model(mid, "wan2.2", "animate", "image2video", "legacy", ("image_url", "video_url", "watermark"),
                 ("animate_mode", "check_image"), None, (), None, None, audio="unstated", regions=BJ_SG, submit_rps=5,
                 concurrency=1, required=("image_url", "video_url", "animate_mode"),
                 choices={"animate_mode": ("wan-std", "wan-pro")}, wire={"animate_mode": "mode"},
                 sent_defaults={"animate_mode": "wan-std"}, notes=what,
                 file_limits={"image": (IMAGE_NAMES, 5), "video": ((".mp4", ".avi", ".mov"), 200)},
                 seconds={"video_url": (2, 30)}, pixels={"image_url": (200, 4096), "video_url": (200, 2048)},
                 aspect={"image_url": 3.0, "video_url": 3.0})


BJ_SG = ("cn-beijing", "ap-southeast-1")
ALL_REGIONS = ("cn-beijing", "ap-southeast-1", "us-east-1")
WAN26_T2V_DISPUTE = {"duration": "%s: newer version any integer 2-15, older copies 5/10/15. Allowing 2-15."
                                  % DOC_T2V}
WAN26_I2V_DISPUTE = {"duration": "%s (the version read) says 5/10/15; the English guide implies 2-15 for "
                                 "wan2.6. Allowing 2-15." % DOC_I2V}
R2V27_DISPUTE = {"duration": "%s: 2-10 when any reference video is present, else 2-15." % DOC_R2V}

_MODELS = [
    # --- t2v, legacy protocol (§3.2)
    _legacy_t2v("wan2.6-t2v", "wan2.6", ("720P", "1080P"), "1920*1080", Duration(2, 15), 1500, "auto",
                ALL_REGIONS, shot_type=True, rps=5, conc=5, disputed=WAN26_T2V_DISPUTE),
    _legacy_t2v("wan2.6-t2v-us", "wan2.6", ("720P", "1080P"), "1920*1080", Duration(5, 10, (5, 10)),
                1500, "auto", ("us-east-1",), shot_type=True, rps=5, conc=5),
    _legacy_t2v("wan2.5-t2v-preview", "wan2.5", ("480P", "720P", "1080P"), "1920*1080",
                Duration(5, 10, (5, 10)), 1500, "auto", BJ_SG, rps=5, conc=5),
    _legacy_t2v("wan2.2-t2v-plus", "wan2.2", ("480P", "1080P"), "1920*1080", FIXED_5, 800, "silent", BJ_SG),
    _legacy_t2v("wanx2.1-t2v-turbo", "wan2.1", ("480P", "720P"), "1280*720", FIXED_5, 800, "silent", ("cn-beijing",)),
    _legacy_t2v("wan2.1-t2v-turbo", "wan2.1", ("480P", "720P"), "1280*720", FIXED_5, 800, "silent", ("ap-southeast-1",)),
    _legacy_t2v("wanx2.1-t2v-plus", "wan2.1", ("720P",), "1280*720", FIXED_5, 800, "silent", ("cn-beijing",)),
    _legacy_t2v("wan2.1-t2v-plus", "wan2.1", ("720P",), "1280*720", FIXED_5, 800, "silent", ("ap-southeast-1",)),
    # --- i2v, legacy protocol (§3.3)
    _legacy_i2v("wan2.6-i2v-flash", "wan2.6", ("720P", "1080P"), "1080P", Duration(2, 15), 1500, "optional",
                BJ_SG, audio_url=True, shot_type=True, rps=5, conc=5),
    _legacy_i2v("wan2.6-i2v", "wan2.6", ("720P", "1080P"), "1080P", Duration(2, 15), 1500, "auto",
                ALL_REGIONS, audio_url=True, shot_type=True, rps=5, conc=5, disputed=WAN26_I2V_DISPUTE),
    _legacy_i2v("wan2.6-i2v-us", "wan2.6", ("720P", "1080P"), "1080P", Duration(2, 15), 1500, "auto",
                ("us-east-1",), audio_url=True, shot_type=True, rps=5, conc=5,
                disputed={"all": "Listed only in the rate-limit table (%s); limits assumed like "
                                 "wan2.6-i2v." % DOC_LIMITS}),
    _legacy_i2v("wan2.5-i2v-preview", "wan2.5", ("480P", "720P", "1080P"), "1080P",
                Duration(5, 10, (5, 10)), 1500, "auto", BJ_SG, audio_url=True, rps=5, conc=5),
    _legacy_i2v("wan2.2-i2v-flash", "wan2.2", ("480P", "720P", "1080P"), "720P", FIXED_5, 800, "silent", ("cn-beijing",)),
    _legacy_i2v("wan2.2-i2v-plus", "wan2.2", ("480P", "1080P"), "1080P", FIXED_5, 800, "silent", BJ_SG),
    _legacy_i2v("wanx2.1-i2v-turbo", "wan2.1", ("480P", "720P"), "720P", Duration(3, 5, (3, 4, 5)), 800,
                "silent", ("cn-beijing",), templates=I2V_TEMPLATES),
    _legacy_i2v("wan2.1-i2v-turbo", "wan2.1", ("480P", "720P"), "720P", Duration(3, 5, (3, 4, 5)), 800,
                "silent", ("ap-southeast-1",)),
    _legacy_i2v("wanx2.1-i2v-plus", "wan2.1", ("720P",), "720P", FIXED_5, 800, "silent", ("cn-beijing",),
                templates=I2V_TEMPLATES),
    _legacy_i2v("wan2.1-i2v-plus", "wan2.1", ("720P",), "720P", FIXED_5, 800, "silent", ("ap-southeast-1",)),
    # --- kf2v (§3.4): its own route
    _kf2v("wan2.2-kf2v-flash", "wan2.2", ("480P", "720P", "1080P"), "720P", ("cn-beijing",),
          disputed={"image_side": "%s (2.2): 240-8000 px; older versions: 360-2000 px." % DOC_KF2V}),
    _kf2v("wanx2.1-kf2v-plus", "wan2.1", ("720P",), "720P", ("cn-beijing",), templates=KF2V_TEMPLATES),
    _kf2v("wan2.1-kf2v-plus", "wan2.1", ("720P",), "720P", ("ap-southeast-1",), rps=1),
    # --- r2v, wan2.6 legacy (§3.5)
    Model("wan2.6-r2v", "wan2.6", "r2v", "video-generation", "legacy",
          ("prompt", "negative_prompt", "reference_urls", "reference_video_urls"),
          ("size", "duration", "shot_type", "watermark", "seed"), "size", ("720P", "1080P"),
          "1920*1080", Duration(2, 10), audio="auto", prompt_max=1500, prompt_required=True,
          regions=ALL_REGIONS, submit_rps=5, concurrency=5, sent_defaults=SKILL_R2V26,
          disputed={"reference_image": "%s: newer version 240-8000 px, 20 MB; older 240-5000 px, 10 MB."
                                       % DOC_R2V}),
    Model("wan2.6-r2v-flash", "wan2.6", "r2v", "video-generation", "legacy",
          ("prompt", "negative_prompt", "reference_urls", "reference_video_urls"),
          ("size", "duration", "shot_type", "watermark", "seed", "audio"), "size", ("720P", "1080P"),
          "1920*1080", Duration(2, 10), audio="optional", prompt_max=1500, prompt_required=True,
          regions=BJ_SG, submit_rps=5, concurrency=5, sent_defaults=SKILL_R2V26),
    # --- vace (§3.6)
    _vace("wanx2.1-vace-plus", ("cn-beijing",)),
    _vace("wan2.1-vace-plus", ("ap-southeast-1",)),
    # --- wan2.7 (§3.7)
    _wan27("wan2.7-t2v", "t2v", inputs=("prompt", "negative_prompt", "audio_url"), prompt_required=True),
    _wan27("wan2.7-t2v-2026-04-25", "t2v", inputs=("prompt", "negative_prompt", "audio_url"), prompt_required=True),
    _wan27("wan2.7-t2v-2026-06-12", "t2v", inputs=("prompt", "negative_prompt", "audio_url"), prompt_required=True),
    _wan27("wan2.7-i2v", "i2v", media=WAN27_I2V_MEDIA, ratios=()),
    _wan27("wan2.7-i2v-2026-04-25", "i2v", media=WAN27_I2V_MEDIA, ratios=()),
    _wan27("wan2.7-r2v", "r2v", media=WAN27_R2V_MEDIA, prompt_required=True, disputed=R2V27_DISPUTE,
           sent=SKILL_R2V_MEDIA),
    _wan27("wan2.7-r2v-2026-06-12", "r2v", media=WAN27_R2V_MEDIA, prompt_required=True,
           disputed=R2V27_DISPUTE, sent=SKILL_R2V_MEDIA),
    _wan27("wan2.7-videoedit", "videoedit", media=WAN27_EDIT_MEDIA,
           duration=Duration(0, 10, (0,) + tuple(range(2, 11)), default=0),
           params_extra=("audio_setting",), sent={},
           disputed={"reference_image": "%s: up to 4; a third-party summary: 3. Allowing 4." % DOC_EDIT27,
                     "duration": "%s: 0 keeps the input length; otherwise 2-10." % DOC_EDIT27}),
    # --- HappyHorse (§3.8)
    _happyhorse("happyhorse-1.0-t2v", "1.0", "t2v", regions=ALL_REGIONS),
    _happyhorse("happyhorse-1.0-i2v", "1.0", "i2v", media=HH_I2V_MEDIA, ratios=(), prompt_required=False,
                regions=ALL_REGIONS),
    _happyhorse("happyhorse-1.0-r2v", "1.0", "r2v", media=HH_R2V_MEDIA, regions=ALL_REGIONS),
    _happyhorse("happyhorse-1.0-video-edit", "1.0", "videoedit", media=HH_EDIT_MEDIA, ratios=(),
                duration=None, params_extra=("audio_setting",), regions=ALL_REGIONS),
    _happyhorse("happyhorse-1.1-t2v", "1.1", "t2v", ratios=RATIOS_HH11),
    _happyhorse("happyhorse-1.1-i2v", "1.1", "i2v", media=HH_I2V_MEDIA, ratios=(), prompt_required=False),
    _happyhorse("happyhorse-1.1-r2v", "1.1", "r2v", media=HH_R2V_MEDIA, ratios=RATIOS_HH11),
    # --- newer families (dashscope-new-models.md §1-§5)
    _animate("wan2.2-animate-move", "the person in image_url performs the motion of video_url"),
    _animate("wan2.2-animate-mix", "the person in video_url is replaced by the person in image_url"),
    Model("wan2.2-s2v", "wan2.2", "s2v", "image2video", "legacy", ("image_url", "audio_url"), ("resolution",),
          "resolution", ("480P", "720P"), "480P", None, audio="given", regions=("cn-beijing",), submit_rps=5,
          concurrency=1,
          required=("image_url", "audio_url"), face_check="wan2.2-s2v-detect", length_from="input audio",
          seconds={"audio_url": (0, 20)}, pixels={"image_url": (400, 7000)},
          notes="a portrait speaks audio_url (under 20 s); the portrait is checked first, unbilled"),
    Model("videoretalk", "videoretalk", "lipsync", "image2video", "legacy",
          ("video_url", "audio_url", "ref_image_url"), ("video_extension", "query_face_threshold"), None, (),
          None, None, audio="given", regions=("cn-beijing",), submit_rps=1, concurrency=1,
          required=("video_url", "audio_url"),
          ranges={"query_face_threshold": (120, 200)}, length_from="input audio",
          file_limits={"video": ((".mp4", ".avi", ".mov"), 300), "audio": ((".wav", ".mp3", ".aac"), 30)},
          seconds={"video_url": (2, 120), "audio_url": (2, 120)}, pixels={"video_url": (640, 2048)},
          fps={"video_url": (15, 60)},
          notes="the face in video_url speaks audio_url; ref_image_url picks the face"),
    Model("video-style-transform", "style-transform", "style", "video-generation", "legacy", ("video_url",),
          ("style", "video_fps", "animate_emotion", "min_len", "use_SR"), None, (), None, None, audio="unstated",
          regions=("cn-beijing",), submit_rps=20, concurrency=2, required=("video_url",),
          choices={"style": tuple(range(len(TRANSFORM_STYLES))), "min_len": (720, 540)},
          ranges={"video_fps": (15, 25)}, notes="video_url redrawn in one of 8 styles",
          file_limits={"video": ((".mp4", ".avi", ".mkv", ".mov", ".flv", ".ts", ".mpg", ".mxf"), 100)},
          seconds={"video_url": (0, 30)}, pixels={"video_url": (256, 4096)}, aspect={"video_url": 1.8}),
    _wan30("wan3.0-video"),
    _wan30("wan3.0-video-prime"),
]

MODELS: Dict[str, Model] = {m.id: m for m in _MODELS}


def get(model_id: str) -> Optional[Model]:
    return MODELS.get(model_id)


def models_for_mode(mode: str):
    return [m for m in _MODELS if m.mode == mode]


def limits(model_id: str) -> Tuple[int, int]:
    """(submits per second, running tasks) for an id; an unknown id gets the strictest documented."""
    spec = lookup(model_id)
    if spec is None:
        return Model._field_defaults["submit_rps"], Model._field_defaults["concurrency"]
    return spec.submit_rps, spec.concurrency


def lookup(model_id: str) -> Optional[Model]:
    """The spec an id is checked as: its own entry, else its inferred base model (or None)."""
    return MODELS.get(model_id) or infer(model_id)


def regional_twin(model_id: str, region: str) -> Optional[str]:
    """The same model under the id `region` serves: Beijing's wanx2.1-* are Singapore's wan2.1-*."""
    base = model_id.replace("wanx", "wan", 1)
    for model in _MODELS:
        if model.id != model_id and model.id.replace("wanx", "wan", 1) == base and region in model.regions:
            return model.id
    return None


def infer(model_id: str) -> Optional[Model]:
    """Guess the spec of an id the catalog does not know, from the closest known id.

    Dated snapshots (``wan2.7-t2v-2027-01-01``) and regional suffixes map onto their base
    model; anything else returns None and is sent without model-specific validation.
    """
    candidates = [m for m in _MODELS if model_id.startswith(m.id + "-")]
    if candidates:
        return max(candidates, key=lambda m: len(m.id))
    return None
