"""Issue 16's shortcuts and honest messages, as a new user meets them: --prompt, stdin, -o,
--version, output names that cannot be results, nothing created before a run can start, sizes
people read, and what the task was billed at."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qianwen_video import __version__
from tests.emulator import Emulator
from tests.harness import KEY, creates, env_for, run


@pytest.fixture()
def emu():
    with Emulator(api_keys=(KEY,), pending_seconds=0.01, run_seconds=0.02) as server:
        yield server


def body_of(result) -> dict:
    return result.json()["requests"][0]["body"]


def test_version_names_the_program_and_the_release(tmp_path):
    result = run(["--version"], {}, tmp_path)
    assert result.code == 0 and result.stdout == "video.py %s\n" % __version__
    document = run(["--version", "--print-response"], {}, tmp_path).json()
    assert document == {"version": __version__}


def test_version_is_the_one_pyproject_and_version_json_give():
    root = Path(__file__).resolve().parent.parent
    assert 'version = "%s"' % __version__ in (root / "pyproject.toml").read_text(encoding="utf-8")
    assert json.loads((root / "version.json").read_text(encoding="utf-8"))["version"] == __version__


def test_prompt_alone_is_a_whole_request(tmp_path):
    result = run(["--prompt", "a red kite over dunes", "--dry-run"], {}, tmp_path)
    assert result.code == 0, result.stderr
    assert body_of(result)["input"] == {"prompt": "a red kite over dunes"}


def test_prompt_is_merged_into_a_request_without_one(tmp_path):
    result = run(["--request", '{"duration": 10, "size": "1280*720"}', "--prompt", "waves", "--dry-run"], {},
                 tmp_path)
    assert result.code == 0, result.stderr
    assert body_of(result)["input"]["prompt"] == "waves" and body_of(result)["parameters"]["duration"] == 10


@pytest.mark.parametrize("args", [
    ["--request", '{"prompt": "one"}', "--prompt", "two"],
    ["--request", '{"input": {"prompt": "one"}}', "--prompt", "two"],
])
def test_two_prompts_are_refused_naming_both(tmp_path, args):
    result = run(args + ["--dry-run"], {}, tmp_path)
    assert result.code == 64
    assert "Error: the request has its own prompt and --prompt gives another" in result.stderr


def test_prompt_with_batch_or_task_id_is_refused(tmp_path):
    for extra in (["--batch", "b.jsonl"], ["--task-id", "abc-123"]):
        result = run(["--prompt", "x"] + extra, {"DASHSCOPE_API_KEY": KEY}, tmp_path)
        assert result.code == 64 and "--prompt makes a new request" in result.stderr


@pytest.mark.parametrize("flag", ["--request", "--file"])
def test_dash_reads_the_request_from_stdin(tmp_path, flag):
    result = run([flag, "-", "--dry-run"], {}, tmp_path, stdin='{"prompt": "from a pipe"}')
    assert result.code == 0, result.stderr
    assert body_of(result)["input"]["prompt"] == "from a pipe"


def test_o_is_output(emu, tmp_path):
    result = run(["--prompt", "a boat", "-o", "clips/boat.mp4", "--poll-interval", "0.05"], env_for(emu), tmp_path)
    assert result.code == 0, result.stderr
    assert (tmp_path / "clips" / "boat.mp4").is_file() and (tmp_path / "clips" / "boat.response.json").is_file()


@pytest.mark.parametrize("output,says", [
    ("clip.gif", "--output clip.gif: not a video file name"),
    ("-", "--output '-': results are written as files, not to a stream"),
    ("notes.txt", "--output notes.txt: not a video file name"),
])
def test_output_names_that_cannot_hold_results_are_refused_before_anything(emu, tmp_path, output, says):
    result = run(["--prompt", "x", "--output", output], env_for(emu), tmp_path)
    assert result.code == 64 and says in result.stderr
    assert "Hint: give a directory" in result.stderr
    assert list(tmp_path.iterdir()) == [] and creates(emu) == []


def test_an_existing_file_is_not_an_output_directory(emu, tmp_path):
    (tmp_path / "results").write_text("not a directory")
    result = run(["--prompt", "x", "--output", "results"], env_for(emu), tmp_path)
    assert result.code == 64 and "an existing file, not a directory" in result.stderr and creates(emu) == []


def test_a_run_without_a_key_creates_nothing(tmp_path):
    result = run(["--prompt", "x", "--output", "clips"], {}, tmp_path)
    assert result.code == 1 and "not found" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_small_video_shows_kilobytes_and_the_billed_facts_follow(tmp_path):
    with Emulator(api_keys=(KEY,), pending_seconds=0.01, run_seconds=0.02, video_size=8 * 1024) as emu:
        result = run(["--prompt", "a tiny clip", "--poll-interval", "0.05"], env_for(emu), tmp_path)
    assert result.code == 0, result.stderr
    assert "(0.0 MB)" not in result.stderr
    saved = [line for line in result.stderr.splitlines() if line.startswith("Video saved to ")]
    assert len(saved) == 1 and saved[0].endswith("KB)"), saved
    billed = [line for line in result.stderr.splitlines() if line.startswith("Billed (the task's usage): ")]
    assert billed == ["Billed (the task's usage): 5 s, 1080P, size 1920*1080"], result.stderr
    assert "¥" not in result.stderr and "price" not in billed[0].lower()


def test_list_models_shows_the_values_a_request_may_write(tmp_path):
    """A `size` model lists W*H sizes (its tier names are refused there), a `resolution` model its
    tiers: each value shown passes validation."""
    from qianwen_video import catalog

    table = run(["--list-models", "--mode", "t2v"], {}, tmp_path).stdout
    rows = {line.split()[0]: line for line in table.splitlines()[2:]}
    for model in (m for m in catalog.MODELS.values() if m.mode == "t2v"):
        row = rows[model.id]
        shown = re.search(r"(size|resolution) (\S+)", row)
        assert shown and shown.group(1) == model.resolution_field, row
        values = shown.group(2).rstrip(",").split("/")
        if model.resolution_field == "size":
            assert values == list(model.sizes) and not any(v.endswith("P") for v in values), row
        for value in (values[0], values[-1]):
            checked = run(["--request", json.dumps({"prompt": "x", model.resolution_field: value}), "--model",
                           model.id, "--dry-run"], {}, tmp_path)
            assert checked.code == 0, (model.id, value, checked.stderr)


def test_an_installed_command_names_itself_in_usage_hints_and_version(tmp_path):
    """Run as the `qianwen-video` console script (no video.py beside the package), the usage line,
    the hints and --version say `qianwen-video`, never `video.py`."""
    import io

    from qianwen_video import cli
    from qianwen_video.context import Context

    def installed(args):
        out, err = io.StringIO(), io.StringIO()
        ctx = Context(environ={}, cwd=tmp_path, stdout=out, stderr=err, stderr_isatty=False,
                      script_path=tmp_path / "site-packages" / "video.py")
        return cli.main(args, ctx), out.getvalue(), err.getvalue()

    code, out, _ = installed(["--version"])
    assert code == 0 and out == "qianwen-video %s\n" % __version__
    code, _, err = installed(["--poll-once"])
    assert code == 64 and "qianwen-video --task-id ID --poll-once" in err and "video.py" not in err
    code, _, err = installed(["--no-such-flag"])
    assert code == 64 and "see `qianwen-video --help`" in err
    code, out, _ = installed(["--help"])
    assert code == 0 and out.startswith("usage: qianwen-video ") and "  qianwen-video --request" in out


@pytest.mark.parametrize("args,env,exit_code,says", [
    (["--request", "{bad"], {}, 64, "--request is not valid JSON"),
    (["--prompt", "x"], {}, 1, "not found"),
    (["--prompt", "x", "--output", "clip.gif"], {"DASHSCOPE_API_KEY": KEY}, 64, "not a video file name"),
    (["--prompt", "x", "--model", "wan2.6-t2v", "--request", '{"size": "720P"}'], {}, 64, "size"),
])
def test_print_response_prints_one_json_document_for_an_early_error_too(tmp_path, args, env, exit_code, says):
    result = run(args + ["--print-response"], env, tmp_path)
    assert result.code == exit_code, result.stderr
    document = json.loads(result.stdout)  # exactly one document
    error = document["error"]
    assert error["exit_code"] == exit_code and says in error["message"] + " ".join(error.get("problems") or [])
    assert set(error) >= {"code", "message", "hint", "exit_code"}


def test_print_response_for_a_failed_task_carries_its_code(emu, tmp_path):
    emu.script_task(["RUNNING", "FAILED"], code="DataInspectionFailed", message="flagged")
    result = run(["--prompt", "x", "--print-response", "--poll-interval", "0.05"], env_for(emu), tmp_path)
    assert result.code == 1
    document = json.loads(result.stdout)
    assert document["task_id"] and document["error"]["exit_code"] == 1
