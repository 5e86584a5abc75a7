"""Packaging: the sdist, the wheel built from that sdist, and the console script installed from it.

Built offline with the setuptools of the running interpreter (the README's test command installs
setuptools>=77 into .venv/); installed with pip into a throwaway virtual environment. Without a
suitable setuptools or pip the tests skip, saying why, except under CI, where they fail.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List, Set

import pytest

from tests.emulator import Emulator
from tests.harness import KEY, ROOT

BUILD = "import sys, setuptools.build_meta as b; print(getattr(b, 'build_' + sys.argv[1])(sys.argv[2]))"
JUNK_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis", "output", "build", "dist"}
# The sdist is the tree the tests need (MANIFEST.in); only CI's script and git's settings stay out.
LEFT_OUT_OF_SDIST = {".ci/run", ".gitignore"}
SDIST_TOP_FILES = {"LICENSE", "README.md", "SKILL.md", "agent-compatibility.md", "version.json", ".env.example",
                   "pyproject.toml", "MANIFEST.in"}
SDIST_DIRS = ("scripts/", "references/", "tests/", "bench/", "docs/")
NEEDED_BY_TESTS = ["tests/__init__.py", "tests/conftest.py", "tests/harness.py", "tests/faultlog.py",
                   "tests/own_bucket.py", "tests/emulator/__init__.py", "tests/emulator/server.py",
                   "tests/emulator/fixtures/sample.mp4", "scripts/video.py", "scripts/gossamer.py"]
SIGNALS = ("[ACTION_REQUIRED]", "[UPDATE_AVAILABLE]", "npx skills")


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def clean_env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DASHSCOPE_", "QIANWEN_", "QWEN_")) and k != "PYTHONPATH"
           and not k.lower().endswith("_proxy")}
    env.update(extra)
    return env


def source_files() -> List[str]:
    """The files an sdist is made from: git's view (tracked and not ignored) in a checkout, else the tree."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=str(ROOT),
                                capture_output=True, check=True).stdout.decode("utf-8").split("\0")
        return sorted(f for f in listed if f and (ROOT / f).is_file())
    found = []
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if path.is_file() and not (set(rel.parts) & JUNK_DIRS) and not any(p.endswith(".egg-info") for p in rel.parts) \
                and path.suffix not in (".pyc", ".part") and path.name != ".env" and rel.parts[:2] != ("bench", ".work"):
            found.append(rel.as_posix())
    return sorted(found)


def unpack(archive: Path, into: Path) -> Path:
    with tarfile.open(str(archive)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(str(into), filter="data")
        else:  # Python < 3.9.17: our own archive, just built
            tar.extractall(str(into))
    (top,) = list(into.iterdir())
    return top


def run(cmd: List[str], cwd: Path, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=str(cwd), env=clean_env(**env), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    probe = run([sys.executable, "-c", "import setuptools; print(setuptools.__version__)"], ROOT)
    major = re.match(r"(\d+)", probe.stdout.strip())
    if probe.returncode != 0 or not major or int(major.group(1)) < 77:
        unavailable("building needs setuptools>=77 in %s (the README's test command installs it)" % sys.executable)
    tmp = tmp_path_factory.mktemp("packaging")
    files = source_files()
    for rel in files:
        target = tmp / "src" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(str(ROOT / rel), str(target))
    sdist = run([sys.executable, "-c", BUILD, "sdist", str(tmp / "dist")], tmp / "src")
    assert sdist.returncode == 0, sdist.stdout + sdist.stderr
    sdist_path = tmp / "dist" / sdist.stdout.strip().splitlines()[-1]
    # the wheel is built from the unpacked sdist, as pip does: the sdist must be enough to build it
    build_root = unpack(sdist_path, tmp / "unpacked-for-build")
    wheel = run([sys.executable, "-c", BUILD, "wheel", str(tmp / "dist")], build_root)
    assert wheel.returncode == 0, wheel.stdout + wheel.stderr
    return SimpleNamespace(tmp=tmp, files=files, sdist=sdist_path,
                           wheel=tmp / "dist" / wheel.stdout.strip().splitlines()[-1],
                           sdist_root=unpack(sdist_path, tmp / "unpacked-for-tests"))


def package_sources() -> Set[str]:
    package = ROOT / "scripts" / "qianwen_video"
    return {"qianwen_video/" + p.relative_to(package).as_posix() for p in package.rglob("*.py")
            if "__pycache__" not in p.parts}


def test_the_wheel_holds_only_the_package_and_its_metadata(built):
    with zipfile.ZipFile(str(built.wheel)) as whl:
        names = whl.namelist()
        read = lambda name: whl.read(name).decode("utf-8")  # noqa: E731
        tops = {n.split("/")[0] for n in names}
        (info,) = tops - {"qianwen_video"}
        assert re.fullmatch(r"qianwen_video_generation-[^/]+\.dist-info", info) and "qianwen_video" in tops
        assert {n for n in names if n.startswith("qianwen_video/")} == package_sources()  # every subpackage
        assert sorted(n[len(info) + 1:] for n in names if n.startswith(info + "/")) == \
            ["METADATA", "RECORD", "WHEEL", "entry_points.txt", "licenses/LICENSE", "top_level.txt"]
        assert read(info + "/licenses/LICENSE") == (ROOT / "LICENSE").read_text(encoding="utf-8")
        assert read(info + "/top_level.txt").split() == ["qianwen_video"]
        assert "qianwen-video = qianwen_video.__main__:run" in read(info + "/entry_points.txt")
        metadata = read(info + "/METADATA")
    assert "License-Expression: MIT" in metadata and "License-File: LICENSE" in metadata
    assert not [n for n in names if "gossamer" in n or n.endswith("video.py")]
    assert "Copyright (c) 2026 qianwen-video-generation contributors" in (ROOT / "LICENSE").read_text(encoding="utf-8")


def test_the_sdist_carries_the_whole_tree_the_tests_need(built):
    with tarfile.open(str(built.sdist)) as tar:
        members = [m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()]
    generated = {"PKG-INFO", "setup.cfg"}
    carried = {m for m in members if m not in generated and ".egg-info/" not in m}
    assert not [m for m in carried if Path(m).name == ".env" or m.startswith(".venv/") or "__pycache__" in m]
    for needed in NEEDED_BY_TESTS:
        assert needed in carried, needed
    assert set(built.files) - carried <= LEFT_OUT_OF_SDIST, "left out of the sdist: %s" % sorted(
        set(built.files) - carried - LEFT_OUT_OF_SDIST)
    assert carried <= set(built.files)
    assert {m for m in carried if "/" not in m} <= SDIST_TOP_FILES
    assert all(m in SDIST_TOP_FILES or m.startswith(SDIST_DIRS) for m in carried)


def test_pytest_runs_from_the_unpacked_sdist(built):
    root = built.sdist_root
    # Every test file imports there (no assert runs while collecting: rewriting them would only cost time)
    collected = run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "--assert=plain"],
                    root)
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    files = {line.split("::")[0] for line in collected.stdout.splitlines() if "::" in line}
    assert files == {p.relative_to(root).as_posix() for p in (root / "tests").glob("test_*.py")}
    # a few files for real, among them the skill-install update signals (they copy scripts/ from the sdist)
    ran = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_updates.py",
               "tests/test_update_signal.py", "tests/test_cli_usage.py"], root)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert re.search(r"\b\d+ passed\b", ran.stdout) and "skipped" not in ran.stdout, ran.stdout[-1000:]


@pytest.fixture(scope="module")
def installed(built):
    """The wheel pip-installed into a venv that sits, like the working directory, under a folder with
    .agents/ (where the old top-level gossamer module found an install root and printed its signal)."""
    project = built.tmp / "project"
    (project / ".agents").mkdir(parents=True)
    (project / "work").mkdir()
    venv = project / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", str(venv)], project)
    assert made.returncode == 0, made.stderr
    python = venv / ("Scripts" if os.name == "nt" else "bin") / ("python.exe" if os.name == "nt" else "python")
    pip = [sys.executable, "-m", "pip", "--python", str(python)]  # pip >= 22.3 installs into another environment
    if run(pip + ["--version"], project).returncode != 0:
        shutil.rmtree(str(venv))
        made = run([sys.executable, "-m", "venv", str(venv)], project)
        if made.returncode != 0:
            unavailable("cannot make a virtual environment with pip: %s" % made.stderr.strip()[-300:])
        pip = [str(python), "-m", "pip"]
    done = run(pip + ["install", "-q", "--no-index", "--no-deps", str(built.wheel)], project)
    assert done.returncode == 0, done.stdout + done.stderr
    command = python.parent / ("qianwen-video.exe" if os.name == "nt" else "qianwen-video")
    assert command.is_file()
    return SimpleNamespace(project=project, python=python, command=command)


def test_the_installed_package_has_no_gossamer_module(installed):
    probe = run([str(installed.python), "-c", "import gossamer"], installed.project / "work")
    assert probe.returncode != 0 and "No module named 'gossamer'" in probe.stderr


@pytest.mark.parametrize("quiet", [[], ["--quiet"]])
def test_the_pip_installed_command_stays_silent_about_updates(installed, quiet):
    work = installed.project / "work"
    out = work / ("out-quiet" if quiet else "out")
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05) as emu:
        result = run([str(installed.command), "--request", '{"prompt": "a paper boat"}', "--poll-interval", "0.05",
                      "--output", str(out)] + quiet, work, timeout=60,
                     DASHSCOPE_HTTP_BASE_URL=emu.base_url, DASHSCOPE_API_KEY=KEY, HOME=str(installed.project))
        assert len(emu.requests_to("POST", r"/services/aigc/.*/video-synthesis$")) == 1
    assert result.returncode == 0, result.stderr
    assert [p.suffix for p in out.glob("*.mp4")] == [".mp4"]  # the run went past the point of the update check
    assert not [s for s in SIGNALS if s in result.stdout + result.stderr], result.stderr
    assert list(installed.project.rglob("state.json")) == []


def readme_test_command() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"Run the tests.*?```bash\n(.*?)\n```", text, re.S)
    assert block, "README: no test command after 'Run the tests'"
    (line,) = block.group(1).splitlines()  # still one command
    return line


def test_the_readme_test_command_installs_only_into_a_virtual_environment_in_the_repository():
    steps = readme_test_command().split(" && ")
    assert re.fullmatch(r"python3 -m venv (--system-site-packages )?\.venv", steps[0]), steps[0]
    for step in steps[1:]:  # a PEP 668 system Python refuses `python3 -m pip install`; the venv's pip does not
        assert step.startswith(".venv/bin/python -m "), step
    assert any(" pip install " in s and '"setuptools>=77"' in s for s in steps)  # test_packaging builds with it
    assert steps[-1].startswith(".venv/bin/python -m pytest")
    assert "/.venv/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines() or \
        not (ROOT / ".gitignore").exists()  # an unpacked sdist has no .gitignore


def test_ci_runs_the_readme_test_command_verbatim():
    ci = ROOT / ".ci" / "run"
    if not ci.exists():
        pytest.skip("no .ci/run here (an unpacked sdist)")
    assert readme_test_command() in ci.read_text(encoding="utf-8").splitlines()
