"""Model catalogue and the emulator's own late-validation rules.

Independent of ``scripts/``: everything here is transcribed from
/work/shared/reference/dashscope-api.md (section numbers in comments).
Where sources disagree (doc section 8) the looser value is accepted.
Unknown input/parameter keys are ignored (section 3.0: the SDK sends
``input.function`` and ``input.extend_prompt`` to every model).
"""
from __future__ import annotations

import re
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Tuple

ROUTE_T2V = "video-generation"
ROUTE_KF2V = "image2video"

# doc 3.1: legacy `size` values. Order inside a tier is 9:16,16:9,1:1,4:3,3:4 and
# tiers are listed high to low, which reproduces the live message recorded in 3.1.
TIER_SIZES: Dict[str, List[str]] = {
    "1080P": ["1080*1920", "1920*1080", "1440*1440", "1632*1248", "1248*1632"],
    "720P": ["720*1280", "1280*720", "960*960", "1088*832", "832*1088"],
    "480P": ["480*832", "832*480", "624*624"],
}
TIER_ORDER = ["1080P", "720P", "480P"]
# doc 3.6 image_reference sizes
VACE_SIZES = ["1280*720", "720*1280", "960*960", "832*1088", "1088*832"]
# doc 3.7 / 3.8 ratios
RATIOS = ["16:9", "9:16", "1:1", "4:3", "3:4"]
RATIOS_HH11 = RATIOS + ["4:5", "5:4", "9:21", "21:9"]  # 3.8: 1.1 extras (unverified, accepted)
WAN30_RATIOS = ["adaptive", "16:9", "4:3", "1:1", "3:4", "9:16", "21:9"]  # new-models §1 (21:9: Bailian copy)
SEED_MAX = 2147483647

# Duration rules: ("fixed", 5) | ("range", lo, hi) | ("set", (a, b, ...)) | ("edit27",) | ("none",)
Duration = Tuple[Any, ...]


class ModelSpec:
    """Static description of one model id."""

    def __init__(self, name: str, kind: str, usage: str, route: str = ROUTE_T2V,
                 tiers: Tuple[str, ...] = (), duration: Duration = ("fixed", 5),
                 default_size: Optional[str] = None, default_res: Optional[str] = None,
                 rps: float = 5, concurrency: int = 5, ratios: Optional[List[str]] = None,
                 sizes: Optional[List[str]] = None, result: str = "video_url", busy_refused: bool = False,
                 phases: bool = False, wrong_route: Optional[Tuple[int, str, str]] = None,
                 echoes_prompt: bool = True) -> None:
        self.name = name
        self.kind = kind            # validator family, see VALIDATORS
        self.usage = usage          # usage family, see build_usage (doc 4.2)
        self.route = route          # doc 2: kf2v -> image2video, everything else video-generation
        self.tiers = tiers
        self.duration = duration
        self.default_size = default_size
        self.default_res = default_res
        self.rps = rps              # doc 6 table (Beijing column)
        self.concurrency = concurrency
        self.ratios = ratios or RATIOS
        self.sizes = sizes
        # where a finished task's video URL sits (new-models §7): "video_url", "results" (an object
        # output.results.video_url: animate, s2v) or "output_video_url" (style transform)
        self.result = result
        self.busy_refused = busy_refused  # new-models §4: a submit while a task runs is a 429, not queued
        self.phases = phases  # new-models §4: PRE-PROCESSING / RUNNING / POST-PROCESSING while it runs
        # (status, code, message) of a create sent to the other route; None: the generic 400
        # InvalidParameter "url error" (doc 4.3)
        self.wrong_route = wrong_route
        # doc 4.2: a finished task echoes its prompt as output.orig_prompt; the families that take no
        # prompt (new-models §2-§5) document no such field, so their answers carry none
        self.echoes_prompt = echoes_prompt

    def clone(self, name: str) -> "ModelSpec":
        c = ModelSpec.__new__(ModelSpec)
        c.__dict__.update(self.__dict__)
        c.name = name
        return c

    def allowed_sizes(self) -> List[str]:
        if self.sizes is not None:
            return list(self.sizes)
        out: List[str] = []
        for tier in TIER_ORDER:
            if tier in self.tiers:
                out.extend(TIER_SIZES[tier])
        return out


def _catalogue() -> Dict[str, ModelSpec]:
    m: Dict[str, ModelSpec] = {}

    def add(spec: ModelSpec, *aliases: str) -> None:
        m[spec.name] = spec
        for a in aliases:
            m[a] = spec.clone(a)

    # doc 3.2 legacy text-to-video; 6 limits
    add(ModelSpec("wan2.6-t2v", "t2v", "wan26", tiers=("720P", "1080P"), duration=("range", 2, 15),
                  default_size="1920*1080"))  # 8.1: [2,15] vs 5/10/15 -> looser
    add(ModelSpec("wan2.6-t2v-us", "t2v", "wan26", tiers=("720P", "1080P"), duration=("set", (5, 10)),
                  default_size="1920*1080"))
    add(ModelSpec("wan2.5-t2v-preview", "t2v", "wan25", tiers=("480P", "720P", "1080P"),
                  duration=("set", (5, 10)), default_size="1920*1080"))
    add(ModelSpec("wan2.2-t2v-plus", "t2v", "wan22", tiers=("480P", "1080P"), duration=("fixed", 5),
                  default_size="1920*1080", rps=2, concurrency=2))
    # Beijing ids use wanx2.1-*, Singapore wan2.1-* (doc 1, 3.2)
    add(ModelSpec("wanx2.1-t2v-turbo", "t2v", "wan21", tiers=("480P", "720P"), duration=("fixed", 5),
                  default_size="1280*720", rps=2, concurrency=2), "wan2.1-t2v-turbo")
    add(ModelSpec("wanx2.1-t2v-plus", "t2v", "wan21", tiers=("720P",), duration=("fixed", 5),
                  default_size="1280*720", rps=2, concurrency=2), "wan2.1-t2v-plus")

    # doc 3.3 legacy image-to-video (first frame)
    add(ModelSpec("wan2.6-i2v-flash", "i2v", "wan26", tiers=("720P", "1080P"), duration=("range", 2, 15),
                  default_res="1080P"))
    add(ModelSpec("wan2.6-i2v", "i2v", "wan26", tiers=("720P", "1080P"), duration=("range", 2, 15),
                  default_res="1080P"))  # 8.1: 5/10/15 vs [2,15] -> looser
    add(ModelSpec("wan2.6-i2v-us", "i2v", "wan26", tiers=("720P", "1080P"), duration=("set", (5, 10)),
                  default_res="1080P"))  # 3.3: "probably 5/10 (unverified)"
    add(ModelSpec("wan2.5-i2v-preview", "i2v", "wan25", tiers=("480P", "720P", "1080P"),
                  duration=("set", (5, 10)), default_res="1080P"))
    add(ModelSpec("wan2.2-i2v-flash", "i2v", "wan22", tiers=("480P", "720P", "1080P"), duration=("fixed", 5),
                  default_res="720P", rps=2, concurrency=2))
    add(ModelSpec("wan2.2-i2v-plus", "i2v", "wan22", tiers=("480P", "1080P"), duration=("fixed", 5),
                  default_res="1080P", rps=2, concurrency=2))
    add(ModelSpec("wanx2.1-i2v-turbo", "i2v", "wan21", tiers=("480P", "720P"), duration=("set", (3, 4, 5)),
                  default_res="720P", rps=2, concurrency=2), "wan2.1-i2v-turbo")
    add(ModelSpec("wanx2.1-i2v-plus", "i2v", "wan21", tiers=("720P",), duration=("fixed", 5),
                  default_res="720P", rps=2, concurrency=2), "wan2.1-i2v-plus")

    # doc 3.4 first+last frame, image2video route
    add(ModelSpec("wan2.2-kf2v-flash", "kf2v", "wan22kf", route=ROUTE_KF2V, tiers=("480P", "720P", "1080P"),
                  duration=("fixed", 5), default_res="720P", rps=2, concurrency=2))
    add(ModelSpec("wanx2.1-kf2v-plus", "kf2v", "wan21", route=ROUTE_KF2V, tiers=("720P",),
                  duration=("fixed", 5), default_res="720P", rps=2, concurrency=2))
    # doc 6: Singapore wan2.1-kf2v-plus is 1 RPS / 2
    add(ModelSpec("wan2.1-kf2v-plus", "kf2v", "wan21", route=ROUTE_KF2V, tiers=("720P",),
                  duration=("fixed", 5), default_res="720P", rps=1, concurrency=2))
    # doc 2: legacy `wanx-kf2v`; no table row, treated like kf2v-plus but any tier (looser)
    add(ModelSpec("wanx-kf2v", "kf2v", "wan21", route=ROUTE_KF2V, tiers=("480P", "720P", "1080P"),
                  duration=("fixed", 5), default_res="720P", rps=2, concurrency=2))

    # doc 3.5 reference-to-video 2.6
    for n in ("wan2.6-r2v", "wan2.6-r2v-flash"):
        add(ModelSpec(n, "r2v26", "wan26", tiers=("720P", "1080P"), duration=("range", 2, 10),
                      default_size="1920*1080"))

    # doc 3.6 VACE
    add(ModelSpec("wanx2.1-vace-plus", "vace", "wan21", duration=("fixed", 5), default_size="1280*720",
                  rps=2, concurrency=2), "wan2.1-vace-plus")

    # doc 3.7 wan2.7 (dated snapshots handled in resolve_model)
    add(ModelSpec("wan2.7-t2v", "t2v27", "wan27", tiers=("720P", "1080P"), duration=("range", 2, 15),
                  default_res="1080P"))
    add(ModelSpec("wan2.7-i2v", "i2v27", "wan27", tiers=("720P", "1080P"), duration=("range", 2, 15),
                  default_res="1080P"))
    add(ModelSpec("wan2.7-r2v", "r2v27", "wan27", tiers=("720P", "1080P"), duration=("r2v27",),
                  default_res="1080P"))
    add(ModelSpec("wan2.7-videoedit", "edit27", "wan27edit", tiers=("720P", "1080P"), duration=("edit27",),
                  default_res="1080P"))

    # doc 3.8 HappyHorse; limits 10 RPS / 5 (doc 6)
    for ver in ("1.0", "1.1"):
        ratios = RATIOS_HH11 if ver == "1.1" else RATIOS
        for kind in ("t2v", "i2v", "r2v"):
            add(ModelSpec("happyhorse-%s-%s" % (ver, kind), "hh-" + kind, "hh", tiers=("720P", "1080P"),
                          duration=("range", 3, 15), default_res="1080P", rps=10, concurrency=5,
                          ratios=ratios))
    # no 1.1 video-edit: [LIMITS] lists none, wiki mention unverified (doc 3.8)
    add(ModelSpec("happyhorse-1.0-video-edit", "hh-edit", "hhedit", tiers=("720P", "1080P"),
                  duration=("none",), default_res="1080P", rps=10, concurrency=5))

    # dashscope-new-models.md (written "new-models §n" below). Regions are noted per family; the
    # emulator is one endpoint and serves every model whatever region its id belongs to.
    #
    # §2 animate: image2video route only, 5 RPS, 1 task at a time (a second one queues PENDING:
    # only videoretalk's refusal is documented), result output.results.video_url. Regions: Beijing,
    # Singapore. On video-generation: doc 2 [FIELD] recorded 403 AccessDenied for exactly this case
    # (the animate models sent to video-generation), so that, not the generic 400 "url error".
    for name in ("wan2.2-animate-move", "wan2.2-animate-mix"):
        add(ModelSpec(name, "animate", "animate", route=ROUTE_KF2V, duration=("none",), rps=5, concurrency=1,
                      result="results", wrong_route=(403, "AccessDenied", "Access denied."), echoes_prompt=False))
    # §3 s2v: image2video, 480P (default) / 720P, 5 RPS, 1 task at a time, results.video_url.
    # Beijing only. Its synchronous detect step (wan2.2-s2v-detect) is server.Emulator._face_detect.
    add(ModelSpec("wan2.2-s2v", "s2v", "s2v", route=ROUTE_KF2V, tiers=("480P", "720P"), duration=("none",),
                  default_res="480P", rps=5, concurrency=1, result="results", echoes_prompt=False))
    # §4 videoretalk: image2video, 1 RPS, 1 task; a second submit while one is unfinished is refused
    # with 429 Throttling.RateQuota (documented, id 68785298118), not queued. Beijing only.
    add(ModelSpec("videoretalk", "retalk", "retalk", route=ROUTE_KF2V, duration=("none",), rps=1, concurrency=1,
                  busy_refused=True, phases=True, echoes_prompt=False))
    # §5 style transform: video-generation, 20 RPS, "2 concurrent (1 running)": one task runs at a time
    # (the emulator's concurrency counts running tasks; the others wait PENDING), result
    # output.output_video_url. Beijing only.
    add(ModelSpec("video-style-transform", "style", "style", duration=("none",), rps=20, concurrency=1,
                  result="output_video_url", echoes_prompt=False))
    # §1 wan3.0: video-generation, result output.video_url. Regions: Beijing, Singapore, Tokyo,
    # Frankfurt, Virginia, Hong Kong (workspace domains; §1 notes this contradicts doc 1's "no Hong
    # Kong video endpoint"). No rate limit is documented (§1: "none found"). Chosen: 2 RPS / 2 running,
    # the strictest pair doc 6 gives any Beijing Wan generation model (wan2.2 / wanx2.1; newer
    # previews such as wan2.5-*-preview get 5 / 5, and §8 says to take the stricter where sources
    # differ). Stricter rows exist only outside that set: a Singapore id (wan2.1-kf2v-plus, 1 RPS / 2)
    # and the one-task person / lip-sync models of new-models §2-§4, a different kind of service.
    for name in ("wan3.0-video", "wan3.0-video-prime"):
        add(ModelSpec(name, "wan30", "wan30", tiers=("480P", "720P", "1080P"), duration=("wan30",),
                      default_res="1080P", rps=2, concurrency=2, ratios=WAN30_RATIOS))
    return m


MODELS: Dict[str, ModelSpec] = _catalogue()
_SNAPSHOT = re.compile(r"^(wan2\.7-(?:t2v|i2v|r2v|videoedit))-\d{4}-\d{2}-\d{2}$")


def resolve_model(name: Any) -> Optional[ModelSpec]:
    """Exact id, or a wan2.7 dated snapshot such as wan2.7-t2v-2026-04-25 (doc 3.7)."""
    if not isinstance(name, str):
        return None
    if name in MODELS:
        return MODELS[name]
    mt = _SNAPSHOT.match(name)
    if mt:
        return MODELS[mt.group(1)].clone(name)
    return None


# ---------------------------------------------------------------- helpers
def _int_like(v: Any) -> Optional[int]:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


def _num(v: Any) -> Optional[float]:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _or_list(values: List[str]) -> str:
    q = ["'%s'" % v for v in values]
    if len(q) == 1:
        return q[0]
    return ", ".join(q[:-1]) + " or " + q[-1]


def _prompt_required(inp: Dict[str, Any]) -> Optional[str]:
    p = inp.get("prompt")
    if not isinstance(p, str) or not p.strip():
        return "Field required: input.prompt"
    return None


def _check_seed(params: Dict[str, Any]) -> Optional[str]:
    if params.get("seed") is None:
        return None
    s = _int_like(params["seed"])
    if s is None or not 0 <= s <= SEED_MAX:
        return "Input should be between 0 and %d: parameters.seed" % SEED_MAX
    return None


def _check_duration(spec: ModelSpec, params: Dict[str, Any], has_ref_video: bool = False) -> Optional[str]:
    if params.get("duration") is None:
        return None
    rule = spec.duration
    raw = params["duration"]
    d = _int_like(raw)
    if rule[0] == "none":      # 3.8 HappyHorse video-edit has no duration: ignored
        return None
    if rule[0] == "fixed":     # 3.2 [FIELD]: fixed-5 models
        if d != rule[1]:
            return "duration customization is not supported"
        return None
    if d is None:
        return "Input should be a valid integer: parameters.duration"
    if rule[0] == "r2v27":     # 3.7 r2v: [2,10] with a reference video, else [2,15]
        rule = ("range", 2, 10) if has_ref_video else ("range", 2, 15)
    if rule[0] == "wan30":     # new-models §1: -1 lets the model pick, else [2,30]
        if d == -1:
            return None
        rule = ("range", 2, 30)
    if rule[0] == "edit27":    # 3.7 videoedit: 0 keeps input length, else [2,10]
        if d == 0:
            return None
        rule = ("range", 2, 10)
    if rule[0] == "range":
        if not rule[1] <= d <= rule[2]:
            return "Duration should be between %d and %d" % (rule[1], rule[2])
        return None
    if rule[0] == "set":
        if d not in rule[1]:
            vals = [str(x) for x in rule[1]]
            return "Duration should be %s" % (", ".join(vals[:-1]) + " or " + vals[-1])
    return None


def _check_size(spec: ModelSpec, params: Dict[str, Any], allowed: Optional[List[str]] = None) -> Optional[str]:
    if params.get("size") is None:
        return None
    allowed = allowed if allowed is not None else spec.allowed_sizes()
    if params["size"] not in allowed:   # 3.1 live wording
        return "size must be in " + ",".join(allowed)
    return None


def _check_resolution(spec: ModelSpec, params: Dict[str, Any]) -> Optional[str]:
    if params.get("resolution") is None:
        return None
    tiers = [t for t in TIER_ORDER if t in spec.tiers]
    if params["resolution"] not in tiers:   # 3.7 live wording "Input should be '1080P' or '720P'"
        return "Input should be " + _or_list(tiers)
    return None


def _check_ratio(spec: ModelSpec, params: Dict[str, Any]) -> Optional[str]:
    if params.get("ratio") is None:
        return None
    if params["ratio"] not in spec.ratios:
        return "Input should be " + _or_list(spec.ratios)
    return None


def _check_enum(params: Dict[str, Any], key: str, allowed: List[str]) -> Optional[str]:
    if params.get(key) is None:
        return None
    if params[key] not in allowed:
        return "Input should be %s: parameters.%s" % (_or_list(allowed), key)
    return None


def _media(inp: Dict[str, Any], allowed_types: List[str]) -> Tuple[Optional[str], List[Dict[str, Any]]]:
    """3.7/3.8 media array: list of {type,url}."""
    media = inp.get("media")
    if media is None:
        return "Field required: input.media", []
    if not isinstance(media, list) or not media:
        return "Input should be a non-empty list: input.media", []
    for i, el in enumerate(media):
        if not isinstance(el, dict):
            return "Input should be a valid dictionary: input.media[%d]" % i, []
        if not isinstance(el.get("type"), str):
            return "Field required: input.media[%d].type" % i, []
        if not isinstance(el.get("url"), str) or not el["url"]:
            return "Field required: input.media[%d].url" % i, []
        if el["type"] not in allowed_types:
            return ("Input should be %s: input.media[%d].type" % (_or_list(allowed_types), i)), []
    return None, media


def _counts(media: List[Dict[str, Any]]) -> Dict[str, int]:
    c: Dict[str, int] = {}
    for el in media:
        c[el["type"]] = c.get(el["type"], 0) + 1
    return c


def _is_video_url(url: Any) -> bool:
    # 3.5: reference_urls mixes images and videos; the emulator classifies by extension.
    if not isinstance(url, str):
        return False
    path = url.split("?", 1)[0].lower()
    return path.endswith((".mp4", ".mov"))


def _first(*msgs: Optional[str]) -> Optional[str]:
    for m in msgs:
        if m:
            return m
    return None


# ---------------------------------------------------------------- validators (doc 3.x)
def _v_t2v(spec: ModelSpec, inp: Dict[str, Any], params: Dict[str, Any]) -> Optional[str]:
    # 3.2: prompt required, size in model's tiers, duration rule, shot_type single/multi for 2.6
    return _first(
        _prompt_required(inp),
        _check_size(spec, params),
        _check_duration(spec, params),
        _check_enum(params, "shot_type", ["single", "multi"]) if spec.usage == "wan26" else None,
    )


# Effect templates of wan2.1 i2v and kf2v ("万相-图生视频-视频特效", index id 62961936197;
# dashscope-new-models.md §6), documented for the Beijing wanx2.1-* ids only; any other model,
# or another name, fails the task.
I2V_TEMPLATES = ["squish", "rotation", "poke", "inflate", "dissolve", "melt", "icecream", "carousel", "singleheart",
                 "dance1", "dance2", "dance3", "dance4", "dance5", "mermaid", "graduation", "dragon", "money",
                 "jellyfish", "pupil", "flying", "rose", "crystalrose", "hug", "frenchkiss", "coupleheart"]
KF2V_TEMPLATES = ["hanfu-1", "solaron", "magazine", "mech1", "mech2"]


def _check_template(spec: ModelSpec, inp: Dict[str, Any], allowed: List[str]) -> Optional[str]:
    if inp.get("template") is None:
        return None
    takes = spec.name.startswith("wanx2.1-")
    if not takes or inp["template"] not in allowed:
        return "Input should be %s: input.template" % (_or_list(allowed) if takes else "absent")
    if spec.kind == "kf2v" and inp.get("last_frame_url"):
        return "Extra inputs are not permitted with a template: input.last_frame_url"
    return None


def _v_i2v(spec: ModelSpec, inp: Dict[str, Any], params: Dict[str, Any]) -> Optional[str]:
    # 3.3: img_url required, resolution tier, duration rule
    img = inp.get("img_url")
    if not isinstance(img, str) or not img:
        return "Field required: input.img_url"
    return _first(
        _check_template(spec, inp, I2V_TEMPLATES),
        _check_resolution(spec, params),
        _check_duration(spec, params),
        _check_enum(params, "shot_type", ["single", "multi"]) if spec.usage == "wan26" else None,
    )


def _v_kf2v(spec: ModelSpec, inp: Dict[str, Any], params: Dict[str, Any]) -> Optional[str]:
    # 3.4: first_frame_url required, resolution per model, duration fixed 5
    ff = inp.get("first_frame_url")
    if not isinstance(ff, str) or not ff:
        return "Field required: input.first_frame_url"
    return _first(_check_template(spec, inp, KF2V_TEMPLATES), _check_resolution(spec, params),
                  _check_duration(spec, params))


def _v_r2v26(spec: ModelSpec, inp: Dict[str, Any], params: Dict[str, Any]) -> Optional[str]:
    # 3.5: prompt + reference_urls required (or deprecated reference_video_urls);
    # images 0-5, videos 0-3, total <= 5; size 720P/1080P; duration [2,10]
    err = _prompt_required(inp)
    if err:
        return err
    refs = inp.get("reference_urls")
    old = inp.get("reference_video_urls")
    if refs is None and old is None:
        return "Field required: input.reference_urls"
    if refs is not None:
        if not isinstance(refs, list) or not refs or not all(isinstance(u, str) and u for u in refs):
            return "Input should be a non-empty list of URLs: input.reference_urls"
        videos = sum(1 for u in refs if _is_video_url(u))
        if len(refs) > 5:
            return "The number of reference_urls should be at most 5"
        if videos > 3:
            return "The number of reference videos should be at most 3"
    else:
        if not isinstance(old, list) or not old or not all(isinstance(u, str) and u for u in old):
            return "Input should be a non-empty list of URLs: input.reference_video_urls"
        if len(old) > 3:
            return "The number of reference_video_urls should be at most 3"
    return _first(
        _check_size(spec, params),
        _check_duration(spec, params),
        _check_enum(params, "shot_type", ["single", "multi"]),
    )


VACE_FUNCTIONS = ["image_reference", "video_repainting", "video_edit", "video_extension", "video_outpainting"]


def _v_vace(spec: ModelSpec, inp: Dict[str, Any], params: Dict[str, Any]) -> Optional[str]:
    # 3.6: function selects the mode; `function` is only meaningful on vace models
    err = _prompt_required(inp)
    if err:
        return err
    fn = inp.get("function")
    if fn is None:
        return "Field required: input.function"
    if fn not in VACE_FUNCTIONS:
        return "Input should be %s: input.function" % _or_list(VACE_FUNCTIONS)
    err = _first(_check_duration(spec, params))
    if err:
        return err
    refs = inp.get("ref_images_url")
    if refs is not None and (not isinstance(refs, list) or not all(isinstance(u, str) and u for u in refs)):
        return "Input should be a list of URLs: input.ref_images_url"
    video = inp.get("video_url")
    has_video = isinstance(video, str) and bool(video)
    if fn == "image_reference":
        # ref_images_url 1..3 required (extras beyond 3 are dropped per doc, so accepted)
        if not refs:
            return "Field required: input.ref_images_url"
        oob = params.get("obj_or_bg")
        if oob is None:
            if len(refs) > 1:
                return "Field required: parameters.obj_or_bg (required when ref_images_url has more than 1 image)"
        else:
            if not isinstance(oob, list) or len(oob) != len(refs):
                return "The length of obj_or_bg must be equal to the length of ref_images_url"
            if any(v not in ("obj", "bg") for v in oob):
                return "Input should be 'obj' or 'bg': parameters.obj_or_bg"
            if oob.count("bg") > 1:
                return "At most one 'bg' is allowed in parameters.obj_or_bg"
        return _check_size(spec, params, VACE_SIZES)
    if fn == "video_repainting":
        if not has_video:
            return "Field required: input.video_url"
        if refs is not None and len(refs) > 1:
            return "The number of ref_images_url should be 1 for video_repainting"
        cc = params.get("control_condition")
        if cc is None:
            return "Field required: parameters.control_condition"
        if cc not in ("posebodyface", "posebody", "depth", "scribble"):
            return "Input should be 'posebodyface', 'posebody', 'depth' or 'scribble': parameters.control_condition"
        st = params.get("strength")
        if st is not None and (_num(st) is None or not 0.0 <= float(st) <= 1.0):
            return "Input should be between 0 and 1: parameters.strength"
        return None
    if fn == "video_edit":
        if not has_video:
            return "Field required: input.video_url"
        if refs is not None and len(refs) > 1:
            return "The number of ref_images_url should be 1 for video_edit"
        er = params.get("expand_ratio")
        return _first(
            _check_enum(params, "control_condition", ["", "posebodyface", "depth"]),
            _check_enum(params, "mask_type", ["tracking", "fixed"]),
            _check_enum(params, "expand_mode", ["hull", "bbox", "original"]),
            ("Input should be between 0 and 1: parameters.expand_ratio"
             if er is not None and (_num(er) is None or not 0.0 <= float(er) <= 1.0) else None),
            _check_size(spec, params, TIER_SIZES["720P"]),
        )
    if fn == "video_extension":
        keys = ("first_frame_url", "last_frame_url", "first_clip_url", "last_clip_url", "video_url")
        if not any(isinstance(inp.get(k), str) and inp.get(k) for k in keys):
            return "At least one of first_frame_url, last_frame_url, first_clip_url, last_clip_url, video_url is required"
        if has_video and params.get("control_condition") is None:
            return "Field required: parameters.control_condition (required when video_url is given)"
        return _check_enum(params, "control_condition", ["posebodyface", "depth"])
    # video_outpainting
    if not has_video:
        return "Field required: input.video_url"
    for k in ("top_scale", "bottom_scale", "left_scale", "right_scale"):
        v = params.get(k)
        if v is not None and (_num(v) is None or not 1.0 <= float(v) <= 2.0):
            return "Input should be between 1.0 and 2.0: parameters.%s" % k
    return None


I2V27_COMBOS: List[FrozenSet[str]] = [
    frozenset(["first_frame"]),
    frozenset(["first_frame", "driving_audio"]),
    frozenset(["first_frame", "last_frame"]),
    frozenset(["first_frame", "last_frame", "driving_audio"]),
    frozenset(["first_clip"]),
    frozenset(["first_clip", "last_frame"]),
]


def _v_t2v27(spec: ModelSpec, inp: Dict[str, Any], params: Dict[str, Any]) -> Optional[str]:
    # 3.7 wan2.7-t2v: prompt required, resolution, ratio, duration [2,15]
    return _first(_prompt_required(inp), _check_resolution(spec, params), _check_ratio(spec, params),
                  _check_duration(spec, params))


def _v_i2v27(spec: ModelSpec, inp: Dict[str, Any], params: Dict[str, Any]) -> Optional[str]:
    # 3.7 wan2.7-i2v: media required, each type at most once, only the listed combinations
    err, media = _media(inp, ["first_frame", "last_frame", "driving_audio", "first_clip"])
    if err:
        return err
    counts = _counts(media)
    for t, n in counts.items():
        if n > 1:
            return "Each media type may appear at most once: input.media has %d '%s'" % (n, t)
    combo = frozenset(counts)
    if combo not in I2V27_COMBOS:
        return ("Unsupported media combination: %s. Supported: first_frame, first_frame+driving_audio, "
                "first_frame+last_frame, first_frame+last_frame+driving_audio, first_clip, first_clip+last_frame"
                % "+".join(sorted(combo)))
    return _first(_check_resolution(spec, params), _check_duration(spec, params))


def _v_r2v27(spec: ModelSpec, inp: Dict[str, Any], params: Dict[str, Any]) -> Optional[str]:
    # 3.7 wan2.7-r2v: prompt required; >=1 reference; images+videos <= 5; first_frame <= 1
    err = _prompt_required(inp)
    if err:
        return err
    err, media = _media(inp, ["reference_image", "reference_video", "first_frame"])
    if err:
        return err
    c = _counts(media)
    refs = c.get("reference_image", 0) + c.get("reference_video", 0)
    if refs < 1:
        return "At least one reference_image or reference_video is required in input.media"
    if refs > 5:
        return "The total number of reference_image and reference_video should be at most 5"
    if c.get("first_frame", 0) > 1:
        return "At most one first_frame is allowed in input.media"
    return _first(_check_resolution(spec, params), _check_ratio(spec, params),
                  _check_duration(spec, params, has_ref_video=c.get("reference_video", 0) > 0))


def _v_edit27(spec: ModelSpec, inp: Dict[str, Any], params: Dict[str, Any]) -> Optional[str]:
    # 3.7 wan2.7-videoedit: exactly one video + up to 4 reference_image (8.3: 4 vs 3 -> looser)
    err, media = _media(inp, ["video", "reference_image"])
    if err:
        return err
    c = _counts(media)
    if c.get("video", 0) != 1:
        return "Exactly one video is required in input.media"
    if c.get("reference_image", 0) > 4:
        return "The number of reference_image should be at most 4"
    return _first(_check_resolution(spec, params), _check_ratio(spec, params), _check_duration(spec, params),
                  _check_enum(params, "audio_setting", ["auto", "origin"]))


def _v_hh_t2v(spec: ModelSpec, inp: Dict[str, Any], params: Dict[str, Any]) -> Optional[str]:
    # 3.8 t2v: prompt required, ratio, resolution, duration 3..15
    return _first(_prompt_required(inp), _check_resolution(spec, params), _check_ratio(spec, params),
                  _check_duration(spec, params))


def _v_hh_i2v(spec: ModelSpec, inp: Dict[str, Any], params: Dict[str, Any]) -> Optional[str]:
    # 3.8 i2v: media = exactly one first_frame
    err, media = _media(inp, ["first_frame"])
    if err:
        return err
    if len(media) != 1:
        return "Exactly one first_frame is required in input.media"
    return _first(_check_resolution(spec, params), _check_duration(spec, params))


def _v_hh_r2v(spec: ModelSpec, inp: Dict[str, Any], params: Dict[str, Any]) -> Optional[str]:
    # 3.8 r2v: prompt required, media = 1..9 reference_image
    err = _prompt_required(inp)
    if err:
        return err
    err, media = _media(inp, ["reference_image"])
    if err:
        return err
    if len(media) > 9:
        return "The number of reference_image should be between 1 and 9"
    return _first(_check_resolution(spec, params), _check_ratio(spec, params), _check_duration(spec, params))


def _v_hh_edit(spec: ModelSpec, inp: Dict[str, Any], params: Dict[str, Any]) -> Optional[str]:
    # 3.8 video-edit: exactly 1 video + 0..5 reference_image; audio_setting auto/origin
    err, media = _media(inp, ["video", "reference_image"])
    if err:
        return err
    c = _counts(media)
    if c.get("video", 0) != 1:
        return "Exactly one video is required in input.media"
    if c.get("reference_image", 0) > 5:
        return "The number of reference_image should be at most 5"
    return _first(_check_resolution(spec, params), _check_enum(params, "audio_setting", ["auto", "origin"]))


def _required_url(inp: Dict[str, Any], key: str) -> Optional[str]:
    value = inp.get(key)
    return None if isinstance(value, str) and value else "Field required: input.%s" % key


def _check_bool(where: Dict[str, Any], key: str, label: str) -> Optional[str]:
    if key in where and not isinstance(where[key], bool):
        return "Input should be a valid boolean: %s.%s" % (label, key)
    return None


def _check_int_range(params: Dict[str, Any], key: str, low: int, high: int) -> Optional[str]:
    if key not in params:
        return None
    value = _int_like(params[key])
    if value is None or not low <= value <= high:
        return "Input should be between %d and %d: parameters.%s" % (low, high, key)
    return None


def _v_animate(spec: ModelSpec, inp: Dict[str, Any], params: Dict[str, Any]) -> Optional[str]:
    # new-models §2: image_url + video_url; parameters.mode wan-std / wan-pro (required); input.watermark
    return _first(_required_url(inp, "image_url"), _required_url(inp, "video_url"),
                  "Field required: parameters.mode" if params.get("mode") is None else
                  _check_enum(params, "mode", ["wan-std", "wan-pro"]),
                  _check_bool(params, "check_image", "parameters"), _check_bool(inp, "watermark", "input"))


def _check_str(where: Dict[str, Any], key: str, label: str) -> Optional[str]:
    if key in where and not (isinstance(where[key], str) and where[key]):
        return "Input should be a valid string: %s.%s" % (label, key)
    return None


def _v_s2v(spec: ModelSpec, inp: Dict[str, Any], params: Dict[str, Any]) -> Optional[str]:
    # new-models §3: image_url + audio_url; resolution 480P / 720P; style optional (the overview's
    # example sends "speech"; no list of values is documented, so any non-empty string)
    return _first(_required_url(inp, "image_url"), _required_url(inp, "audio_url"), _check_resolution(spec, params),
                  _check_str(params, "style", "parameters"))


def _v_retalk(spec: ModelSpec, inp: Dict[str, Any], params: Dict[str, Any]) -> Optional[str]:
    # new-models §4: video_url + audio_url (+ ref_image_url); query_face_threshold 120-200; video_extension
    return _first(_required_url(inp, "video_url"), _required_url(inp, "audio_url"),
                  _check_int_range(params, "query_face_threshold", 120, 200),
                  _check_bool(params, "video_extension", "parameters"))


def _v_style(spec: ModelSpec, inp: Dict[str, Any], params: Dict[str, Any]) -> Optional[str]:
    # new-models §5: video_url; style 0-7, video_fps 15-25, min_len 720/540, animate_emotion, use_SR
    min_len = params.get("min_len")
    return _first(_required_url(inp, "video_url"), _check_int_range(params, "style", 0, 7),
                  _check_int_range(params, "video_fps", 15, 25),
                  None if min_len is None or (_int_like(min_len) in (720, 540)) else
                  "Input should be 720 or 540: parameters.min_len",
                  _check_bool(params, "animate_emotion", "parameters"), _check_bool(params, "use_SR", "parameters"))


WAN30_COUNTS = {"first_frame": 1, "last_frame": 1, "reference_image": 10, "reference_video": 5,
                "reference_audio": 5, "file": 1, "link": 1}
WAN30_FRAMES = ("first_frame", "last_frame")


def _v_wan30(spec: ModelSpec, inp: Dict[str, Any], params: Dict[str, Any]) -> Optional[str]:
    # new-models §1: prompt and/or media; counts; frames never with references/file/link; file never
    # with link; prompt_extend true with file/link; duration 2-30 or -1; no negative_prompt
    prompt = inp.get("prompt")
    # negative_prompt: refused (a FAILED task), not ignored like other unknown keys. §1 does not merely
    # omit it, it says in bold "No `negative_prompt`": every earlier Wan family takes one (doc 3.2-3.7),
    # so a client carrying its negative prompt over to wan3.0 is the likely mistake, and the real
    # service would at best drop it silently (a video made without what the user asked to avoid).
    # Failing the task is the stricter of the two possible answers, and like the live messages of
    # doc 3.7 it is late validation: HTTP 200, then FAILED InvalidParameter naming the field.
    if "negative_prompt" in inp:
        return "Extra inputs are not permitted: input.negative_prompt"
    if prompt is not None and not isinstance(prompt, str):
        return "Input should be a valid string: input.prompt"
    media: List[Dict[str, Any]] = []
    if "media" in inp:
        err, media = _media(inp, list(WAN30_COUNTS))
        if err:
            return err
    if not (isinstance(prompt, str) and prompt.strip()) and not media:
        return "At least one of input.prompt and input.media is required"
    # §1: "longer is cut"; the emulator refuses instead, so a client that lets a prompt be cut is seen
    if isinstance(prompt, str) and len(prompt) > 20000:
        return "String should have at most 20000 characters: input.prompt"
    c = _counts(media)
    for kind, most in WAN30_COUNTS.items():
        if c.get(kind, 0) > most:
            return "The number of %s should be at most %d" % (kind, most)
    others = [k for k in ("reference_image", "reference_video", "reference_audio", "file", "link") if c.get(k)]
    if any(c.get(k) for k in WAN30_FRAMES) and others:
        return "first_frame/last_frame cannot be combined with %s" % others[0]
    if c.get("file") and c.get("link"):
        return "file cannot be combined with link"
    if (c.get("file") or c.get("link")) and params.get("prompt_extend") is False:
        return "prompt_extend must be true when file or link is provided"
    return _first(_check_resolution(spec, params), _check_ratio(spec, params), _check_duration(spec, params),
                  _check_bool(params, "audio", "parameters"), _check_bool(params, "prompt_extend", "parameters"),
                  _check_bool(params, "watermark", "parameters"))


VALIDATORS: Dict[str, Callable[[ModelSpec, Dict[str, Any], Dict[str, Any]], Optional[str]]] = {
    "t2v": _v_t2v, "i2v": _v_i2v, "kf2v": _v_kf2v, "r2v26": _v_r2v26, "vace": _v_vace,
    "t2v27": _v_t2v27, "i2v27": _v_i2v27, "r2v27": _v_r2v27, "edit27": _v_edit27,
    "hh-t2v": _v_hh_t2v, "hh-i2v": _v_hh_i2v, "hh-r2v": _v_hh_r2v, "hh-edit": _v_hh_edit,
    "animate": _v_animate, "s2v": _v_s2v, "retalk": _v_retalk, "style": _v_style, "wan30": _v_wan30,
}


def validate(spec: ModelSpec, body: Dict[str, Any]) -> Optional[str]:
    """Late validation (doc 4.4). Returns a FAILED message or None."""
    inp = body.get("input")
    params = body.get("parameters")
    if params is None:
        params = {}
    if not isinstance(inp, dict):
        return "Input should be a valid dictionary: input"
    if not isinstance(params, dict):
        return "Input should be a valid dictionary: parameters"
    return _first(VALIDATORS[spec.kind](spec, inp, params), _check_seed(params))


# ---------------------------------------------------------------- usage (doc 4.2)
def _sr_of_size(size: str) -> int:
    try:
        w, h = (int(x) for x in size.split("*"))
    except ValueError:
        return 720
    short = min(w, h)
    return 480 if short < 700 else (720 if short < 1000 else 1080)


def build_usage(spec: ModelSpec, body: Dict[str, Any]) -> Dict[str, Any]:
    params = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    if spec.usage == "animate":  # new-models §2
        return {"video_duration": 4.2, "video_ratio": "pro" if params.get("mode") == "wan-pro" else "standard"}
    if spec.usage == "s2v":  # §3
        return {"duration": 4.8, "size": "832*480" if params.get("resolution", "480P") == "480P" else "1280*720",
                "fps": 16, "SR": int(str(params.get("resolution", "480P"))[:-1])}
    if spec.usage == "retalk":  # §4
        return {"video_duration": 6.4, "size": "1280*720", "video_ratio": "standard", "fps": 25}
    if spec.usage == "style":  # §5 lists no usage keys: the common two
        return {"duration": 5.0, "video_count": 1}
    d = _int_like(params.get("duration")) or 5
    if spec.duration[0] == "fixed":
        d = spec.duration[1]
    size = params.get("size") or spec.default_size or "1280*720"
    res = params.get("resolution") or spec.default_res
    sr = int(res[:-1]) if isinstance(res, str) and res[:-1].isdigit() else _sr_of_size(size)
    ratio = params.get("ratio") or "16:9"
    if spec.usage == "wan26":
        u: Dict[str, Any] = {"duration": float(d), "size": size, "input_video_duration": 0,
                             "output_video_duration": d, "video_count": 1, "SR": sr}
        if spec.name.startswith("wan2.6-i2v-flash"):
            u["audio"] = bool(params.get("audio", True))
        return u
    if spec.usage in ("wan25", "wan22"):
        return {"duration": d, "SR": sr, "video_count": 1}
    if spec.usage == "wan22kf":
        return {"video_duration": 5, "video_count": 1, "SR": sr}
    if spec.usage == "wan21":
        return {"video_duration": 5, "video_ratio": "standard", "video_count": 1}
    if spec.usage == "wan27edit":
        out = float(d) if d else 5.02
        return {"duration": round(out * 2, 2), "input_video_duration": out, "output_video_duration": out,
                "video_count": 1, "SR": sr}
    if spec.usage == "wan30":  # §1; with a reference video, duration = input + output as in doc 3.7
        out = d if d != -1 else 7
        inp = body.get("input") if isinstance(body.get("input"), dict) else {}
        media = inp.get("media") if isinstance(inp.get("media"), list) else []
        has_video = any(isinstance(el, dict) and el.get("type") == "reference_video" for el in media)
        seconds = 4.04 if has_video else 0
        return {"video_count": 1, "duration": round(out + seconds, 2) if has_video else out,
                "input_video_duration": seconds, "output_video_duration": out, "fps": 30, "SR": sr,
                "ratio": params.get("ratio") or "adaptive"}
    if spec.usage == "hhedit":
        return {"duration": 13.24, "input_video_duration": 6.62, "output_video_duration": 6.62,
                "video_count": 1, "SR": sr}
    # wan27 / hh
    u = {"duration": d, "input_video_duration": 0, "output_video_duration": d, "video_count": 1, "SR": sr}
    if spec.kind in ("t2v27", "r2v27", "hh-t2v", "hh-r2v"):
        u["ratio"] = ratio
    return u


def wants_actual_prompt(spec: ModelSpec, body: Dict[str, Any]) -> bool:
    # 4.2: actual_prompt only with prompt_extend=true, seen for 2.1/2.2; never for 2.6, absent for 2.7
    params = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    return spec.usage in ("wan21", "wan22", "wan22kf") and params.get("prompt_extend", True) is not False


# doc 3.x: the input fields that carry media (each a URL, or a list of URLs), and the media-array
# item keys that do; doc 3.3 / 5: the forms a media URL may take.
MEDIA_URL_FIELDS = ("img_url", "audio_url", "first_frame_url", "last_frame_url", "reference_urls",
                    "reference_video_urls", "ref_images_url", "video_url", "mask_image_url", "mask_video_url",
                    "first_clip_url", "last_clip_url", "image_url", "ref_image_url")
MEDIA_ITEM_URL_KEYS = ("url", "reference_voice")
URL_PREFIXES = ("http://", "https://", "oss://", "data:")


def media_urls(inp: Any) -> List[str]:
    """Every non-empty string the create body's input gives as a media URL."""
    found: List[Any] = []
    if not isinstance(inp, dict):
        return []
    for key in MEDIA_URL_FIELDS:
        value = inp.get(key)
        found.extend(value if isinstance(value, list) else [value])
    media = inp.get("media")
    for item in media if isinstance(media, list) else []:
        if isinstance(item, dict):
            found.extend(item.get(k) for k in MEDIA_ITEM_URL_KEYS)
    return [u for u in found if isinstance(u, str) and u]


def is_url(value: str) -> bool:
    """An http(s) URL with a host, an oss:// temporary URL or a data: URI (not a bare name or a path)."""
    low = value.lower()
    if not low.startswith(URL_PREFIXES):
        return False
    rest = value.split(":", 1)[1].lstrip("/")
    return bool(rest.strip())


def iter_strings(obj: Any):
    """Every string anywhere in a JSON value (doc 2/5 oss:// scan)."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            for s in iter_strings(v):
                yield s
    elif isinstance(obj, list):
        for v in obj:
            for s in iter_strings(v):
                yield s
