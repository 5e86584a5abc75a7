"""updates: the update check runs only from a skill install with gossamer.py beside the script."""
from __future__ import annotations

import io
from pathlib import Path, PurePosixPath

import pytest

from qianwen_video import updates
from qianwen_video.context import Context


@pytest.mark.parametrize("script, skill", [
    # npx skills add: project and global installs, the canonical store and Claude Code's folder
    ("/home/u/proj/.agents/skills/qianwen-video-generation/scripts/video.py", True),
    ("/home/u/proj/.claude/skills/qianwen-video-generation/scripts/video.py", True),
    ("/home/u/.agents/skills/qianwen-video-generation/scripts/video.py", True),
    ("/home/u/.claude/skills/qianwen-video-generation/scripts/video.py", True),
    ("/p/.agents/skills/ops/qianwen-video-generation/scripts/video.py", True),  # a nested skill folder
    (".agents/skills/qianwen-video-generation/scripts/video.py", True),  # relative
    # pip / pipx: the package in site-packages, video.py never there
    ("/home/u/.local/pipx/venvs/qianwen-video-generation/lib/python3.11/site-packages/video.py", False),
    ("/home/u/proj/.agents/venv/lib/python3.11/site-packages/video.py", False),
    ("/home/u/proj/.agents/skills/venv/lib/python3.11/site-packages/video.py", False),
    # a source checkout, or skills folders that are not an agent's
    ("/home/u/src/qianwen-video-generation/scripts/video.py", False),
    ("/home/u/proj/skills/qianwen-video-generation/scripts/video.py", False),
    ("/home/u/proj/agents/skills/qianwen-video-generation/scripts/video.py", False),
    ("/home/u/proj/.agents/plugins/qianwen-video-generation/scripts/video.py", False),
    # no skill folder between skills/ and scripts/, or not in scripts/
    ("/home/u/proj/.agents/skills/scripts/video.py", False),
    ("/home/u/proj/.agents/skills/qianwen-video-generation/video.py", False),
    ("/home/u/proj/.agents/skills/qianwen-video-generation/scripts/bin/video.py", False),
])
def test_what_counts_as_a_skill_install(script, skill):
    where = updates.skill_gossamer(PurePosixPath(script))
    assert where == (PurePosixPath(script).parent / "gossamer.py" if skill else None)


def ctx_for(script: Path) -> Context:
    return Context(environ={}, cwd=script.parent, stdout=io.StringIO(), stderr=io.StringIO(), script_path=script)


def lay_out(tmp_path: Path, folder: str, with_gossamer: bool) -> Path:
    scripts = tmp_path / folder / "scripts"
    scripts.mkdir(parents=True)
    (scripts / "video.py").write_text("# the entry point\n")
    if with_gossamer:
        (scripts / "gossamer.py").write_text(
            "from pathlib import Path\n"
            "def run(caller):\n"
            "    (Path(caller).parent / 'ran.txt').write_text(caller)\n")
    return scripts / "video.py"


@pytest.mark.parametrize("folder, with_gossamer, runs", [
    ("proj/.agents/skills/qianwen-video-generation", True, True),
    ("proj/.claude/skills/qianwen-video-generation", True, True),
    ("proj/.agents/skills/qianwen-video-generation", False, False),  # gossamer.py not beside the script
    ("proj/src/qianwen-video-generation", True, False),  # a checkout with gossamer.py is no skill install
])
def test_maybe_signal_runs_gossamer_from_beside_the_script(tmp_path, folder, with_gossamer, runs):
    script = lay_out(tmp_path, folder, with_gossamer)
    assert updates.maybe_signal(ctx_for(script)) is runs
    marker = script.parent / "ran.txt"
    assert marker.exists() is runs
    if runs:
        assert marker.read_text() == str(script)


def test_a_symlinked_claude_folder_counts_through_its_target(tmp_path):
    script = lay_out(tmp_path, "proj/.agents/skills/qianwen-video-generation", True)
    claude = tmp_path / "proj" / ".claude" / "skills"
    claude.mkdir(parents=True)
    (claude / "qianwen-video-generation").symlink_to(script.parent.parent, target_is_directory=True)
    seen = []
    linked = claude / "qianwen-video-generation" / "scripts" / "video.py"
    assert updates.maybe_signal(ctx_for(linked), runner=lambda g, caller: seen.append((g, caller)))
    assert seen == [(linked.parent / "gossamer.py", linked)]


def test_an_installed_package_never_looks_for_gossamer_even_under_agents(tmp_path):
    site = tmp_path / "proj" / ".agents" / "venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "gossamer.py").write_text("raise SystemExit('must not be loaded')\n")
    seen = []
    assert updates.maybe_signal(ctx_for(site / "video.py"), runner=lambda *a: seen.append(a)) is False
    assert seen == []


def test_a_broken_gossamer_is_no_signal_and_no_error(tmp_path):
    script = lay_out(tmp_path, "proj/.agents/skills/qianwen-video-generation", False)
    (script.parent / "gossamer.py").write_text("def run(caller):\n    raise RuntimeError('boom')\n")
    assert updates.maybe_signal(ctx_for(script)) is False
