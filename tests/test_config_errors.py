"""Credentials, endpoints and the error lines a user sees (issue 2 items 8-10)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from qianwen_video import config
from qianwen_video.context import Context
from tests.emulator import Emulator, Reply
from tests.harness import KEY, creates, env_for, run

REQUEST = ["--request", json.dumps({"prompt": "a kite"}), "--poll-interval", "0.05"]


def ctx_with(tmp_path: Path, environ=None, script_dir: Path = None) -> Context:
    script = (script_dir or tmp_path / "skill" / "scripts") / "video.py"
    return Context(environ=dict(environ or {}), cwd=tmp_path, script_path=script)


# -- credentials --------------------------------------------------------------------------
def test_key_order_and_dotenv_precedence(tmp_path):
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    scripts = project / "skills" / "qianwen-video-generation" / "scripts"
    scripts.mkdir(parents=True)
    (project / ".env").write_text("DASHSCOPE_API_KEY=sk-from-root\nQWEN_REGION=ap-southeast-1\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / ".env").write_text('export DASHSCOPE_API_KEY="sk-from-cwd"  \n# comment\nbroken line\n')

    ctx = Context(environ={}, cwd=work, script_path=scripts / "video.py")
    config.load_dotenv(ctx)
    assert config.api_key(ctx) == "sk-from-cwd"  # cwd .env before the project root's
    assert config.endpoint(ctx).base_url == "https://dashscope-intl.aliyuncs.com/api/v1"  # root .env fills gaps

    real = Context(environ={"DASHSCOPE_API_KEY": "sk-real-env"}, cwd=work, script_path=scripts / "video.py")
    config.load_dotenv(real)
    assert config.api_key(real) == "sk-real-env"  # the real environment always wins
    both = Context(environ={"DASHSCOPE_API_KEY": "sk-b", "QIANWEN_API_KEY": "sk-a"}, cwd=work)
    assert config.api_key(both) == "sk-a"  # QIANWEN_API_KEY first


def test_missing_key_prints_the_documented_message(tmp_path):
    result = run(REQUEST, {"DASHSCOPE_HTTP_BASE_URL": "http://127.0.0.1:9/api/v1"}, tmp_path)
    assert result.code == 1
    # planning's one billing Note comes first; then the error, before anything is sent
    note, error = result.stderr.split("\n", 1)
    assert note.startswith("Note: billed at ")
    assert error.startswith("Error: QIANWEN_API_KEY/DASHSCOPE_API_KEY not found.")
    assert "echo 'DASHSCOPE_API_KEY=sk-your-key-here' >> .env" in result.stderr


def test_placeholder_key_is_named_as_the_placeholder(tmp_path):
    result = run(REQUEST, {"DASHSCOPE_API_KEY": "sk-your-key-here"}, tmp_path)
    assert result.code == 1
    assert "Error: DASHSCOPE_API_KEY is still the placeholder from the example, not an API key" in result.stderr
    assert "Hint: replace it (in .env or the environment) with your key from https://" in result.stderr
    assert not list(tmp_path.iterdir())  # nothing created before a run can start


def test_an_unedited_copy_of_env_example_is_named_as_the_placeholder(tmp_path):
    import shutil

    shutil.copy(Path(__file__).resolve().parent.parent / ".env.example", tmp_path / ".env")
    result = run(REQUEST, {}, tmp_path)
    assert result.code == 1 and "is still the placeholder from the example" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


def test_token_plan_key_gets_the_warning_and_continues(tmp_path):
    token_plan_key = "sk-sp-0123456789abcdef"
    with Emulator(api_keys=(token_plan_key,), pending_seconds=0.01, run_seconds=0.02) as emu:
        result = run(REQUEST, {"DASHSCOPE_HTTP_BASE_URL": emu.base_url, "DASHSCOPE_API_KEY": token_plan_key},
                     tmp_path)
    assert result.code == 0, result.stderr
    assert "Warning: Token Plan key detected (sk-sp-...)" in result.stderr
    assert token_plan_key not in result.stderr


# -- endpoints ----------------------------------------------------------------------------
@pytest.mark.parametrize("environ, expected", [
    ({}, "https://dashscope.aliyuncs.com/api/v1"),
    ({"QWEN_REGION": "ap-southeast-1"}, "https://dashscope-intl.aliyuncs.com/api/v1"),
    ({"QWEN_REGION": "US-EAST-1"}, "https://dashscope-us.aliyuncs.com/api/v1"),
    ({"QWEN_BASE_URL": "https://proxy.example.internal"}, "https://proxy.example.internal/api/v1"),
    ({"QWEN_BASE_URL": "https://proxy.example.internal/custom/v1/"}, "https://proxy.example.internal/custom/v1"),
    ({"QWEN_BASE_URL": "https://b.example", "DASHSCOPE_HTTP_BASE_URL": "http://127.0.0.1:8000/api/v1",
      "QWEN_REGION": "us-east-1"}, "http://127.0.0.1:8000/api/v1"),
])
def test_endpoint_precedence(tmp_path, environ, expected):
    assert config.endpoint(ctx_with(tmp_path, environ)).base_url == expected


@pytest.mark.parametrize("environ, says", [
    ({"QWEN_REGION": "mars-1"}, "unknown QWEN_REGION 'mars-1'"),
    ({"DASHSCOPE_HTTP_BASE_URL": "dashscope.aliyuncs.com/api/v1"}, "DASHSCOPE_HTTP_BASE_URL must be an http(s) URL"),
    ({"QWEN_BASE_URL": "ftp://x"}, "QWEN_BASE_URL must be an http(s) URL"),
])
def test_bad_endpoint_configuration_is_a_usage_error_not_a_silent_fallback(tmp_path, environ, says):
    result = run(REQUEST, dict(environ, DASHSCOPE_API_KEY=KEY), tmp_path)
    assert result.code == 64 and says in result.stderr and "Traceback" not in result.stderr


# -- what the service says, and what the user is told -------------------------------------
def test_wrong_key_gets_the_401_hint_and_is_never_shown(tmp_path):
    with Emulator(api_keys=(KEY,)) as emu:
        result = run(REQUEST, env_for(emu, DASHSCOPE_API_KEY="sk-wrong-0000000000000000"), tmp_path)
    assert result.code == 1
    assert "HTTP 401 InvalidApiKey" in result.stderr and "Hint: check the API key" in result.stderr
    assert "sk-wrong-0000000000000000" not in result.stderr


def test_not_activated_model_links_to_the_model_market(tmp_path):
    with Emulator(api_keys=(KEY,)) as emu:
        emu.activated_models = {"wan2.6-t2v"}
        result = run(["--request", json.dumps({"prompt": "x", "model": "wan2.7-t2v"})], env_for(emu), tmp_path)
    assert result.code == 1
    assert "AccessDenied.Unpurchased" in result.stderr
    assert 'model "wan2.7-t2v" is not activated' in result.stderr and "https://www.qianwenai.com/models" in result.stderr


def test_synchronous_call_refusal_names_the_async_header(tmp_path):
    with Emulator(api_keys=(KEY,)) as emu:
        emu.script("POST", r"/video-synthesis$", Reply(403, json={
            "code": "AccessDenied", "message": "current user api does not support synchronous calls",
            "request_id": "r1"}))
        result = run(REQUEST, env_for(emu), tmp_path)
        assert len(creates(emu)) == 1  # a 403 is an answer, not a reason to resubmit
    assert result.code == 1
    assert "does not support synchronous calls" in result.stderr and "X-DashScope-Async: enable" in result.stderr


def test_unreachable_service_gets_the_network_hint(tmp_path):
    result = run(REQUEST, {"DASHSCOPE_API_KEY": KEY, "DASHSCOPE_HTTP_BASE_URL": "http://127.0.0.1:9/api/v1"},
                 tmp_path)
    assert result.code == 1
    assert "could not reach DashScope" in result.stderr and "HTTPS_PROXY" in result.stderr
    assert "Traceback" not in result.stderr


def test_tls_failure_gets_the_certificate_hint(tmp_path):
    # A plain-HTTP server spoken to over TLS fails the handshake: nothing was sent.
    with Emulator(api_keys=(KEY,)) as emu:
        base = emu.base_url.replace("http://", "https://")
        result = run(REQUEST, {"DASHSCOPE_API_KEY": KEY, "DASHSCOPE_HTTP_BASE_URL": base}, tmp_path)
        assert not creates(emu)
    assert result.code == 1
    assert "TLS" in result.stderr and "SSL_CERT_FILE" in result.stderr
