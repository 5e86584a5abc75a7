"""safe_json: untrusted JSON never raises anything but Invalid, and files are read bounded."""
from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings, strategies as st

from qianwen_video import safe_json


@pytest.mark.parametrize("text, depth", [
    ('{}', 1), ('[[[]]]', 3), ('{"a": "[[[["}', 1), ('"\\"[["', 0), ('{"a": [1, {"b": []}]}', 4), ('5', 0),
])
def test_nesting_skips_strings_and_escapes(text, depth):
    assert safe_json.nesting(text) == depth


def test_deep_nesting_is_invalid_not_a_recursion_error():
    for opener, closer in (("[", "]"), ('{"a":', "}")):
        text = opener * 100000 + "1" + closer * 100000
        with pytest.raises(safe_json.Invalid, match="nested more than"):
            safe_json.loads(text)


def test_bytes_must_be_utf8():
    assert safe_json.loads(b'{"a": "\xe4\xbd\xa0"}') == {"a": "\u4f60"}
    with pytest.raises(safe_json.Invalid, match="not UTF-8"):
        safe_json.loads(b'{"a": "\xff"}')


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='[]{}":,0123456789abc\\ \n', max_size=300))
def test_any_text_parses_or_is_invalid(text):
    try:
        safe_json.loads(text)
    except safe_json.Invalid:
        pass


def test_read_text_limits_size_and_refuses_fifos_and_devices(tmp_path):
    small = tmp_path / "r.json"
    small.write_bytes(b'\xef\xbb\xbf{"prompt": "x"}')
    assert safe_json.read_text(small, 100) == '{"prompt": "x"}'
    with pytest.raises(safe_json.Invalid, match="more than the 5 allowed"):
        safe_json.read_text(small, 5)
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe"
        os.mkfifo(str(fifo))
        with pytest.raises(safe_json.Invalid, match="not a regular file"):
            safe_json.read_text(fifo, 100)  # returns at once: opened non-blocking
    if os.path.exists("/dev/zero"):
        with pytest.raises(safe_json.Invalid, match="not a regular file"):
            safe_json.read_text("/dev/zero", 100)
    latin = tmp_path / "l.json"
    latin.write_bytes(b'{"a": "caf\xe9"}')
    with pytest.raises(safe_json.Invalid, match="not UTF-8"):
        safe_json.read_text(latin, 100)


# -- indented: json.dumps(indent=2), the same text --------------------------------------------
KEYS = st.one_of(st.text(max_size=8), st.integers(-5, 5), st.booleans(), st.none(), st.floats(allow_nan=False))
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10 ** 30, 10 ** 30), st.floats(), st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.lists(inner, max_size=3).map(tuple),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4),
                            st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES)
def test_indented_is_json_dumps_text(value):
    """Every value (NaN, huge integers, tuples, non-string keys, lone surrogates and line separators
    in strings included) gets exactly json.dumps(value, ensure_ascii=False, indent=2)."""
    assert safe_json.indented(value) == json.dumps(value, ensure_ascii=False, indent=2)


def test_indented_subclasses_and_unsupported_values():
    import collections

    class Text(str):
        pass

    value = {"a": collections.OrderedDict([("b", [Text("x"), 1.5])]), "c": [collections.OrderedDict()]}
    assert safe_json.indented(value) == json.dumps(value, ensure_ascii=False, indent=2)
    with pytest.raises(TypeError):
        safe_json.indented({"a": object()})


def test_indented_deep_and_circular_values_as_json_dumps():
    for depth in (31, 32, 33, 600):  # (json.dumps itself writes 600 levels)
        value = current = []
        for _ in range(depth):
            current.append([])
            current = current[0]
        assert safe_json.indented({"a": value}) == json.dumps({"a": value}, ensure_ascii=False, indent=2)
    circular = []
    circular.append(circular)
    with pytest.raises(ValueError, match="Circular reference"):
        safe_json.indented({"a": circular})
