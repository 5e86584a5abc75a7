"""Property: any JSON value in any known field is planned or refused, never an internal error.

Pure and in-process (modes, payload, validate), so it can try many more shapes than the
end-to-end fuzz test, including the non-finite numbers JSON 1e400 and NaN parse to.
"""
from __future__ import annotations

from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from qianwen_video import catalog, modes, payload, validate
from qianwen_video.errors import UsageError

FIELDS = sorted(set(catalog.MEDIA_FIELDS + catalog.STRING_FIELDS + catalog.INTEGER_FIELDS + catalog.NUMBER_FIELDS
                    + ("obj_or_bg", "prompt_extend", "watermark", "audio")))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10 ** 20, 10 ** 20), st.floats(),
                    st.text(max_size=8), st.sampled_from(["https://x/a.png", "https://x/b.mp4?x=1", "5", "720P",
                                                          "first_frame", "reference_image", "video"]))
values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=3),
    st.dictionaries(st.sampled_from(["type", "url", "reference_voice", "x"]), children, max_size=3)), max_leaves=6)
flat = st.dictionaries(st.sampled_from(FIELDS), values, min_size=1, max_size=3)
native = st.one_of(st.just({}), st.dictionaries(st.sampled_from(["input", "parameters"]),
                                                 st.dictionaries(st.sampled_from(FIELDS), values, max_size=2), max_size=1))
requests_ = st.builds(lambda a, b: dict(a, **b), flat, native)
models = st.one_of(st.none(), st.sampled_from(sorted(catalog.MODELS)))  # None: modes decide


# New examples every run: coverage adds up across runs, each run keeps the suite under a minute.
@settings(max_examples=300, deadline=None)
@given(request=requests_, model=models)
@example(request={"reference_urls": 1}, model=None)  # the crash hypothesis first found
@example(request={"prompt": "p", "duration": float("inf")}, model=None)
@example(request={"prompt": "p", "parameters": {"duration": float("nan")}}, model="wan2.7-t2v")
def test_any_shape_is_planned_or_refused(request, model):
    if model:
        request = dict(request, model=model)
    try:
        mode, model_id = modes.resolve(request, None, None)
        built = payload.build(request, model_id, mode)
    except UsageError:
        return
    problems = validate.check(request, mode, model_id, built.body, Path("/nonexistent-cwd"), None,
                              unused=built.unused)
    assert all(isinstance(p, str) and ": " in p for p in problems)
    validate.unused_warnings(built.unused, built.spec, model_id)
