"""Odd input text ends in one clear `Error:` line, never an internal error (issue 14 item 21, input part).

`.env`: a quoted value followed by a comment loses its quotes; one Latin-1 byte no longer makes the
whole file silently ignored. The request: a lone surrogate in any string field, deeply nested JSON,
`--file /dev/zero`, a FIFO or an oversized file is refused with exit 64 before anything is sent.
"""
from __future__ import annotations

import io
import json
import os

import pytest

from qianwen_video import config, request_text
from qianwen_video.context import Context
from qianwen_video.errors import UsageError, ValidationFailed
from tests.emulator import Emulator
from tests.harness import KEY, creates, env_for, run, run_subprocess

REQUEST = ["--request", json.dumps({"prompt": "a kite"}), "--poll-interval", "0.05", "--submit-only"]


def errors(stderr: str):
    return [line for line in stderr.splitlines() if line.startswith("Error: ")]


# -- .env ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("line, value", [
    ('KEY="v" # comment', "v"), ("KEY='v' #c", "v"), ('KEY="v # not a comment"', "v # not a comment"),
    ("KEY=plain # comment", "plain"), ("KEY=plain\t# comment", "plain"), ('export KEY = "q"', "q"),
    ('KEY=""', ""), ("KEY=a#b", "a#b"), ('KEY="unclosed', '"unclosed'),
])
def test_dotenv_values(line, value):
    assert config.parse_dotenv(line + "\n") == {"KEY": value}


def test_a_quoted_key_with_a_comment_is_used_without_its_quotes(tmp_path):
    (tmp_path / ".env").write_text('DASHSCOPE_API_KEY="%s"  # the team key\n' % KEY, encoding="utf-8")
    with Emulator(api_keys=(KEY,)) as emu:
        result = run(REQUEST, {"DASHSCOPE_HTTP_BASE_URL": emu.base_url}, tmp_path)
        assert result.code == 0, result.stderr
        assert len(creates(emu)) == 1


def test_one_latin1_byte_does_not_hide_the_rest_of_the_dotenv(tmp_path):
    (tmp_path / ".env").write_bytes(b"# Cl\xe9 de l'\xe9quipe\nDASHSCOPE_API_KEY=" + KEY.encode() + b"\n")
    with Emulator(api_keys=(KEY,)) as emu:
        result = run(REQUEST, {"DASHSCOPE_HTTP_BASE_URL": emu.base_url}, tmp_path)
        assert result.code == 0, result.stderr
        assert len(creates(emu)) == 1
    assert "Warning" not in result.stderr  # the odd line held no value


def test_a_value_on_a_latin1_line_is_kept_with_a_warning_naming_file_and_line(tmp_path):
    (tmp_path / ".env").write_bytes(b"DASHSCOPE_API_KEY=sk-x\nQWEN_REGION=ap-southeast-1  # r\xe9gion\n")
    err = io.StringIO()
    ctx = Context(environ={}, cwd=tmp_path, stderr=err, script_path=tmp_path / "nowhere" / "video.py")
    config.load_dotenv(ctx)
    assert ctx.environ == {"DASHSCOPE_API_KEY": "sk-x", "QWEN_REGION": "ap-southeast-1"}
    assert err.getvalue() == ("Warning: %s line 2 is not UTF-8 text; QWEN_REGION was read from it as Latin-1 "
                              "(save the file as UTF-8)\n" % (tmp_path / ".env"))
    told = []
    config.load_dotenv(Context(environ={}, cwd=tmp_path, script_path=tmp_path / "nowhere" / "video.py"), told.append)
    assert len(told) == 1 and "line 2" in told[0]


def test_a_damaged_key_on_a_latin1_line_is_refused_not_ignored(tmp_path):
    (tmp_path / ".env").write_bytes(b"DASHSCOPE_API_KEY=sk-abc\xe9def\n")
    with Emulator(api_keys=(KEY,)) as emu:
        result = run(REQUEST, {"DASHSCOPE_HTTP_BASE_URL": emu.base_url}, tmp_path)
        assert result.code == 1 and emu.requests == []
    assert "DASHSCOPE_API_KEY contains characters an API key cannot have" in result.stderr
    assert "not found" not in result.stderr and "abc" not in result.stderr


# -- the request ---------------------------------------------------------------------------------
@pytest.mark.parametrize("extra", [[], ["--no-validate"], ["--dry-run"]])
def test_a_lone_surrogate_in_the_prompt_is_one_usage_error(extra, tmp_path):
    text = '{"prompt": "a kite \\ud800 over the sea"}'  # valid JSON, not sendable text
    with Emulator(api_keys=(KEY,)) as emu:
        result = run(["--request", text] + extra, env_for(emu), tmp_path)
        assert result.code == 64, result.stderr
        assert emu.requests == []
    assert errors(result.stderr) == ["Error: prompt: contains a lone surrogate (U+D800 at character 8), which no "
                                     "UTF-8 text can carry; allowed: text without broken characters (copy it "
                                     "again from its source)"]
    assert "internal error" not in result.stderr


def test_a_lone_surrogate_anywhere_names_its_field(tmp_path):
    with Emulator(api_keys=(KEY,)) as emu:
        request = '{"prompt": "x", "negative_prompt": "\\udfff", "input": {"media": [{"type": "video", "url": "a\\udc00"}]}}'
        result = run(["--request", request], env_for(emu), tmp_path)
        assert result.code == 64 and emu.requests == []
    assert [e.split(":")[1].strip() for e in errors(result.stderr)] == ["negative_prompt", "input.media[0].url"]


def test_a_lone_surrogate_in_a_batch_item_fails_that_item(tmp_path):
    (tmp_path / "jobs.jsonl").write_text('{"prompt": "fine"}\n{"prompt": "bad \\ud83d"}\n', encoding="utf-8")
    with Emulator(api_keys=(KEY,)) as emu:
        result = run(["--batch", "jobs.jsonl", "--output", "out"], env_for(emu), tmp_path)
        assert result.code == 64 and emu.requests == []
    assert "item 2: prompt: contains a lone surrogate" in result.stderr


@pytest.mark.parametrize("how", ["--request", "--file"])
def test_deeply_nested_json_is_one_usage_error(how, tmp_path):
    deep = "[" * 100000 + "]" * 100000
    (tmp_path / "deep.json").write_text(deep)
    result = run([how, deep if how == "--request" else "deep.json"], {}, tmp_path)
    assert result.code == 64
    origin = "--request" if how == "--request" else "--file deep.json"
    assert errors(result.stderr) == ["Error: %s is not valid JSON: nested more than 64 levels deep" % origin]


def test_dev_zero_and_a_directory_are_refused_at_once(tmp_path):
    for name in ("/dev/zero", str(tmp_path)):
        result = run(["--file", name], {}, tmp_path)
        assert result.code == 64
        assert errors(result.stderr) == ["Error: --file %s: it is not a regular file" % name]


def test_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(str(tmp_path / "request.json"))
    result = run_subprocess(["--file", "request.json"], {}, tmp_path, timeout=30)  # a hang fails here
    assert result.code == 64
    assert errors(result.stderr) == ["Error: --file request.json: it is not a regular file"]


def test_an_oversized_or_non_utf8_file_is_refused(tmp_path):
    (tmp_path / "big.json").write_text('{"prompt": "%s"}' % ("x" * (request_text.REQUEST_LIMIT + 10)))
    result = run(["--file", "big.json"], {}, tmp_path)
    assert result.code == 64 and "Error: --file big.json: it is %d bytes, more than the %d allowed" % (
        request_text.REQUEST_LIMIT + 24, request_text.REQUEST_LIMIT) in result.stderr
    (tmp_path / "latin.json").write_bytes(b'{"prompt": "caf\xe9"}')
    result = run(["--file", "latin.json"], {}, tmp_path)
    assert result.code == 64 and "Error: --file latin.json: it is not UTF-8 text (byte 15)" in result.stderr
    result = run(["--file", "missing.json"], {}, tmp_path)
    assert result.code == 64 and errors(result.stderr) == ["Error: --file missing.json: no such file"]


def test_request_text_load_is_the_one_loader(tmp_path):
    assert request_text.load('{"prompt": "x"}', "ignored.json") == {"prompt": "x"}  # --request wins
    (tmp_path / "r.json").write_bytes(b'\xef\xbb\xbf{"prompt": "bom"}')
    assert request_text.load(file="r.json", cwd=tmp_path) == {"prompt": "bom"}
    assert request_text.load(file="-", cwd=tmp_path, stdin=io.StringIO('{"prompt": "piped"}')) == {"prompt": "piped"}
    with pytest.raises(UsageError, match="more than"):
        request_text.load(file="-", stdin=io.StringIO("x" * (request_text.REQUEST_LIMIT + 1)))
    with pytest.raises(UsageError, match="must be a JSON object, got an array"):
        request_text.load("[1]")
    with pytest.raises(ValidationFailed):
        request_text.load('{"prompt": "\\udbff"}')
    with pytest.raises(UsageError, match="no request given"):
        request_text.load()
