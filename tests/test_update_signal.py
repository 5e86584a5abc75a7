"""video.py inside a fake install tree emits exactly the documented update-check signals."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.harness import KEY, ROOT
from tests.emulator import Emulator

ACTION_REQUIRED = ("[ACTION_REQUIRED] qianwen-update-check skill is not installed. Install: "
                   "npx skills add QianWen-AI/qianwen-ai --skill qianwen-update-check -y")


@pytest.fixture()
def installed(tmp_path):
    """<project>/.agents/skills/qianwen-video-generation/scripts/... as `npx skills add` lays it out."""
    skill = tmp_path / "project" / ".agents" / "skills" / "qianwen-video-generation"
    shutil.copytree(ROOT / "scripts", skill / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    work = tmp_path / "project" / "work"
    work.mkdir()
    return skill / "scripts" / "video.py", work


def run_installed(video, cwd, args, env_extra):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), **env_extra}
    return subprocess.run([sys.executable, str(video)] + args, cwd=str(cwd), env=env, capture_output=True,
                          text=True, timeout=60)


def test_a_real_run_prints_action_required_once_per_day(installed):
    video, work = installed
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05) as emu:
        env = {"DASHSCOPE_HTTP_BASE_URL": emu.base_url, "DASHSCOPE_API_KEY": KEY}
        first = run_installed(video, work, ["--request", '{"prompt": "x"}', "--poll-interval", "0.05"], env)
        second = run_installed(video, work, ["--request", '{"prompt": "y"}', "--poll-interval", "0.05"], env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == ""
    signal_lines = [line for line in first.stderr.splitlines() if line.startswith("[")]
    assert signal_lines == [ACTION_REQUIRED]
    assert second.returncode == 0 and "[ACTION_REQUIRED]" not in second.stderr  # dismissed for 24 h
    state = json.loads((video.parents[3] / "state.json").read_text())
    assert isinstance(state["last_interaction"], float)


@pytest.mark.parametrize("args", [["--help"], ["--dry-run", "--request", '{"prompt": "x"}'],
                                  ["--request", "{bad"], ["--mode", "nope"], ["--list-models"]])
def test_no_signal_for_help_dry_run_or_usage_errors(installed, args):
    video, work = installed
    result = run_installed(video, work, args, {"DASHSCOPE_API_KEY": KEY, "DASHSCOPE_HTTP_BASE_URL": "http://127.0.0.1:9/api/v1"})
    assert "[ACTION_REQUIRED]" not in result.stderr + result.stdout
    assert not (video.parents[3] / "state.json").exists()


def test_update_available_signal_uses_the_lock_file(installed):
    video, work = installed
    agents = video.parents[3]
    checker = agents / "skills" / "qianwen-update-check" / "scripts" / "check_update.py"
    checker.parent.mkdir(parents=True)
    checker.write_text('import json\nprint(json.dumps({"has_update": True}))\n')
    (agents.parent / "skills-lock.json").write_text(json.dumps(
        {"skills": {"qianwen-video-generation": {}, "qianwen-update-check": {}, "other": {}}}))
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05) as emu:
        result = run_installed(video, work, ["--request", '{"prompt": "x"}', "--poll-interval", "0.05"],
                               {"DASHSCOPE_HTTP_BASE_URL": emu.base_url, "DASHSCOPE_API_KEY": KEY})
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "UPDATE_AVAILABLE" in line or "npx skills" in line]
    assert lines == ["[UPDATE_AVAILABLE] QianWen-AI/qianwen-ai has a newer version available.",
                     "  Run: npx skills add QianWen-AI/qianwen-ai --skill qianwen-update-check qianwen-video-generation -y"]


def test_refuses_to_write_inside_the_installed_skill(installed):
    video, _ = installed
    skill_dir = video.parent.parent
    with Emulator(api_keys=(KEY,)) as emu:
        result = run_installed(video, skill_dir, ["--request", '{"prompt": "x"}'],
                               {"DASHSCOPE_HTTP_BASE_URL": emu.base_url, "DASHSCOPE_API_KEY": KEY})
        assert emu.requests == []
    assert result.returncode == 64
    assert "refusing to write output inside" in result.stderr
    assert not (skill_dir / "output").exists()
