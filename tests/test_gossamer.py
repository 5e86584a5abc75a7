"""Tests for scripts/gossamer.py (update-check signals and the CLI flags)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gossamer.py"
_spec = importlib.util.spec_from_file_location("gossamer_under_test", SCRIPT)
gossamer = importlib.util.module_from_spec(_spec)
assert _spec.loader is not None
_spec.loader.exec_module(gossamer)

NOW = 1_800_000_000.0
DAY = 86400.0

ACTION = (
    "[ACTION_REQUIRED] qianwen-update-check skill is not installed. "
    "Install: npx skills add QianWen-AI/qianwen-ai --skill qianwen-update-check -y"
)
UPDATE = "[UPDATE_AVAILABLE] QianWen-AI/qianwen-ai has a newer version available."


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def make_install(tmp_path: Path) -> Path:
    """A fake install: <root>/.agents/skills/qianwen-video-generation/scripts/video.py."""
    root = tmp_path / "proj"
    scripts = root / ".agents" / "skills" / "qianwen-video-generation" / "scripts"
    scripts.mkdir(parents=True)
    caller = scripts / "video.py"
    caller.write_text("# caller\n")
    return root


def caller_of(root: Path) -> str:
    return str(root / ".agents" / "skills" / "qianwen-video-generation" / "scripts" / "video.py")


def add_checker(root: Path, body: str, where: str = ".agents/skills/qianwen-update-check") -> Path:
    scripts = root / where / "scripts"
    scripts.mkdir(parents=True, exist_ok=True)
    script = scripts / "check_update.py"
    script.write_text(textwrap.dedent(body))
    return script


def checker_printing(payload: object) -> str:
    return "import json\nprint(json.dumps(%r))\n" % (payload,)


def state_of(root: Path) -> dict:
    return json.loads((root / ".agents" / "state.json").read_text())


def set_state(root: Path, **data: object) -> None:
    (root / ".agents" / "state.json").write_text(json.dumps(data))


def call(root: Path, **kw: object) -> str:
    err = io.StringIO()
    kw.setdefault("now", NOW)
    gossamer.run(caller_of(root), stderr=err, **kw)
    return err.getvalue()


def signal_lines(text: str) -> list:
    return [line for line in text.splitlines() if line.strip()]


def is_dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a zombie waiting for init to reap it is dead too
        stat = Path("/proc/%d/stat" % pid).read_text()
        return stat.rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def wait_dead(pid: int, limit: float = 2.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if is_dead(pid):
            return True
        time.sleep(0.02)
    return is_dead(pid)


@pytest.fixture(autouse=True)
def no_stdout(capfd):
    """Nothing in this module may ever reach the real stdout."""
    yield
    out, _ = capfd.readouterr()
    assert out == ""


# --------------------------------------------------------------------------
# install root and suppression
# --------------------------------------------------------------------------

def test_no_agents_dir_does_nothing(tmp_path):
    caller = tmp_path / "repo" / "scripts" / "video.py"
    caller.parent.mkdir(parents=True)
    caller.write_text("")
    err = io.StringIO()
    gossamer.run(str(caller), now=NOW, stderr=err)
    assert err.getvalue() == ""
    assert not any(p.name == "state.json" for p in tmp_path.rglob("*"))


def test_find_root_skips_dir_named_agents(tmp_path):
    root = make_install(tmp_path)
    # .agents/skills/... has no .agents child; .agents itself is excluded even
    # if it had one, so the root is the project directory.
    (root / ".agents" / ".agents").mkdir()
    assert gossamer.find_root(caller_of(root)) == root.resolve()
    assert gossamer.find_root(root) == root.resolve()


def test_fresh_state_prints_action_required_once(tmp_path):
    root = make_install(tmp_path)
    first = call(root)
    assert signal_lines(first) == [ACTION]
    assert state_of(root) == {"last_interaction": NOW}
    assert call(root, now=NOW + 60) == ""
    assert call(root, now=NOW + DAY - 1) == ""


def test_prints_again_after_24_hours(tmp_path):
    root = make_install(tmp_path)
    set_state(root, last_interaction=NOW - DAY - 1, other="kept")
    assert signal_lines(call(root)) == [ACTION]
    assert state_of(root) == {"last_interaction": NOW, "other": "kept"}


def test_within_24_hours_is_silent(tmp_path):
    root = make_install(tmp_path)
    set_state(root, last_interaction=NOW - 3600)
    add_checker(root, checker_printing({"has_update": True}))
    assert call(root) == ""
    assert state_of(root) == {"last_interaction": NOW - 3600}


def test_far_future_timestamp_does_not_silence_forever(tmp_path):
    root = make_install(tmp_path)
    set_state(root, last_interaction=NOW + 10 * DAY)
    assert signal_lines(call(root)) == [ACTION]


def test_never_install_is_silent(tmp_path):
    root = make_install(tmp_path)
    set_state(root, never_install=True)
    assert call(root) == ""
    assert state_of(root) == {"never_install": True}


def test_never_install_must_be_true_not_truthy(tmp_path):
    root = make_install(tmp_path)
    set_state(root, never_install="yes", last_interaction="yesterday")
    assert signal_lines(call(root)) == [ACTION]


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "42", "", "\xff\xfe"])
def test_corrupt_state_counts_as_empty(tmp_path, content):
    root = make_install(tmp_path)
    (root / ".agents" / "state.json").write_text(content, encoding="latin-1")
    assert signal_lines(call(root)) == [ACTION]
    assert state_of(root) == {"last_interaction": NOW}


def test_unwritable_state_is_ignored(tmp_path):
    # A directory where state.json should be cannot be replaced by a file,
    # even by root; reading it fails too, so it counts as {}.
    root = make_install(tmp_path)
    (root / ".agents" / "state.json").mkdir()
    assert signal_lines(call(root)) == [ACTION]
    assert signal_lines(call(root)) == [ACTION]  # nothing recorded, so again
    assert (root / ".agents" / "state.json").is_dir()
    assert [p.name for p in (root / ".agents").iterdir() if p.name.startswith(".state.")] == []


def test_clock_is_used_when_now_not_given(tmp_path):
    root = make_install(tmp_path)
    err = io.StringIO()
    gossamer.run(caller_of(root), stderr=err, clock=lambda: 1234.5)
    assert signal_lines(err.getvalue()) == [ACTION]
    assert state_of(root) == {"last_interaction": 1234.5}


def test_default_stderr_is_sys_stderr(tmp_path, capfd):
    root = make_install(tmp_path)
    gossamer.run(caller_of(root), now=NOW)
    out, err = capfd.readouterr()
    assert out == ""
    assert signal_lines(err) == [ACTION]


# --------------------------------------------------------------------------
# update-check skill present
# --------------------------------------------------------------------------

def write_lock(root: Path, skills: object) -> None:
    (root / "skills-lock.json").write_text(json.dumps({"version": 1, "skills": skills}))


def test_update_available_exact_lines(tmp_path):
    root = make_install(tmp_path)
    add_checker(root, checker_printing({"has_update": True}))
    write_lock(root, {
        "qianwen-video-generation": {"source": "QianWen-AI/qianwen-ai"},
        "other-tool": {},
        "qianwen-image-generation": {},
        "qianwen-update-check": {},
    })
    assert signal_lines(call(root)) == [
        UPDATE,
        "  Run: npx skills add QianWen-AI/qianwen-ai --skill "
        "qianwen-image-generation qianwen-update-check qianwen-video-generation -y",
    ]
    assert not (root / ".agents" / "state.json").exists()


def test_update_available_with_versions(tmp_path):
    root = make_install(tmp_path)
    add_checker(root, checker_printing(
        {"has_update": True, "current_version": "0.3.0", "latest_version": "0.4.0"}))
    lines = signal_lines(call(root))
    assert lines[0] == (
        "[UPDATE_AVAILABLE] QianWen-AI/qianwen-ai has a newer version available (0.3.0 -> 0.4.0).")
    assert lines[1].startswith("  Run: npx skills add QianWen-AI/qianwen-ai --skill ")


def test_update_available_latest_only_and_unsafe_version_dropped(tmp_path):
    root = make_install(tmp_path)
    add_checker(root, checker_printing({"has_update": True, "remote_version": "0.5.0"}))
    assert signal_lines(call(root))[0] == (
        "[UPDATE_AVAILABLE] QianWen-AI/qianwen-ai has a newer version available (latest: 0.5.0).")
    root2 = make_install(tmp_path / "b")
    add_checker(root2, checker_printing({"has_update": True, "latest_version": "1; rm -rf /"}))
    assert signal_lines(call(root2))[0] == UPDATE


@pytest.mark.parametrize("lock", [None, "{broken", {"skills": {}}, {"skills": {"foo": {}}}, [1]])
def test_skills_list_falls_back_to_this_skill(tmp_path, lock):
    root = make_install(tmp_path)
    add_checker(root, checker_printing({"has_update": True}))
    if isinstance(lock, str):
        (root / "skills-lock.json").write_text(lock)
    elif lock is not None:
        (root / "skills-lock.json").write_text(json.dumps(lock))
    assert signal_lines(call(root)) == [
        UPDATE,
        "  Run: npx skills add QianWen-AI/qianwen-ai --skill qianwen-video-generation -y",
    ]


def test_skills_list_drops_unsafe_names(tmp_path):
    root = make_install(tmp_path)
    add_checker(root, checker_printing({"has_update": True}))
    write_lock(root, {"qianwen-a; curl evil": {}, "qianwen-b": {}})
    assert signal_lines(call(root))[1] == (
        "  Run: npx skills add QianWen-AI/qianwen-ai --skill qianwen-b -y")


@pytest.mark.parametrize("payload", [{"has_update": False}, {"has_update": "true"}, {}, [True]])
def test_no_update_is_silent(tmp_path, payload):
    root = make_install(tmp_path)
    add_checker(root, checker_printing(payload))
    assert call(root) == ""
    assert not (root / ".agents" / "state.json").exists()


def test_checker_missing_is_silent(tmp_path):
    root = make_install(tmp_path)
    (root / "skills" / "qianwen-update-check").mkdir(parents=True)
    assert call(root) == ""
    assert not (root / ".agents" / "state.json").exists()


def test_search_order_first_existing_dir_wins(tmp_path):
    root = make_install(tmp_path)
    # skills/ops/... exists without a script: it wins, so nothing runs.
    (root / "skills" / "ops" / "qianwen-update-check").mkdir(parents=True)
    add_checker(root, checker_printing({"has_update": True}), ".agents/skills/ops/qianwen-update-check")
    assert call(root) == ""
    assert gossamer.find_update_skill(root) == root / "skills" / "ops" / "qianwen-update-check"
    shutil.rmtree(root / "skills")
    assert gossamer.find_update_skill(root) == root / ".agents/skills/ops/qianwen-update-check"
    add_checker(root, checker_printing({"has_update": False}), "skills/qianwen-update-check")
    # ops/ under .agents/skills beats the plain name under skills/.
    assert signal_lines(call(root))[0] == UPDATE


@pytest.mark.parametrize("body", [
    "import sys\nprint('{\"has_update\": true}')\nsys.exit(3)\n",
    "print('garbage {{{')\n",
    "raise RuntimeError('boom')\n",
    "",
    "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe not utf8')\n",
])
def test_crashing_or_garbage_checker_is_silent(tmp_path, body):
    root = make_install(tmp_path)
    add_checker(root, body)
    assert call(root) == ""


def test_checker_gets_no_stdin_and_its_stderr_is_discarded(tmp_path):
    root = make_install(tmp_path)
    add_checker(root, """
        import json, sys
        sys.stderr.write("noise from the checker\\n")
        data = sys.stdin.read()
        print(json.dumps({"has_update": data == ""}))
    """)
    assert signal_lines(call(root))[0] == UPDATE


def test_missing_interpreter_is_silent(tmp_path):
    root = make_install(tmp_path)
    add_checker(root, checker_printing({"has_update": True}))
    assert call(root, python=str(tmp_path / "no-such-python")) == ""
    assert call(root, python="") == ""


def test_hung_checker_is_killed(tmp_path):
    root = make_install(tmp_path)
    pidfile = tmp_path / "pids"
    add_checker(root, """
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        with open(%r, "w") as fh:
            fh.write("%%d %%d" %% (os.getpid(), child.pid))
        time.sleep(60)
    """ % str(pidfile))
    start = time.monotonic()
    out = call(root, timeout=0.5)
    elapsed = time.monotonic() - start
    assert out == ""
    assert elapsed < 2.0
    pids = [int(p) for p in pidfile.read_text().split()]
    assert len(pids) == 2
    for pid in pids:  # the checker and the grandchild holding its stdout
        assert wait_dead(pid), pid


def test_run_swallows_internal_errors(tmp_path):
    root = make_install(tmp_path)

    def broken_clock() -> float:
        raise RuntimeError("clock exploded")

    assert gossamer.run(caller_of(root), stderr=io.StringIO(), clock=broken_clock) is None
    assert gossamer.run("\0bad\0path", stderr=io.StringIO(), now=NOW) is None


def test_closed_stderr_is_ignored(tmp_path):
    root = make_install(tmp_path)
    err = io.StringIO()
    err.close()
    gossamer.run(caller_of(root), stderr=err, now=NOW)
    assert state_of(root) == {"last_interaction": NOW}


def test_keyboard_interrupt_propagates(tmp_path):
    root = make_install(tmp_path)

    def interrupted() -> float:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        gossamer.run(caller_of(root), stderr=io.StringIO(), clock=interrupted)


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

@pytest.fixture
def installed_cli(tmp_path):
    root = make_install(tmp_path)
    target = root / ".agents" / "skills" / "qianwen-video-generation" / "scripts" / "gossamer.py"
    shutil.copy(str(SCRIPT), str(target))
    return root, target


def cli(target: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(target)] + list(args),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=20,
        cwd=str(target.parent.parent),
    )


def test_cli_dismiss(installed_cli):
    root, target = installed_cli
    before = time.time()
    proc = cli(target, "--dismiss")
    assert proc.returncode == 0
    assert proc.stdout == ""
    assert proc.stderr == "Update-check prompts suppressed for 24 hours.\n"
    state = state_of(root)
    assert set(state) == {"last_interaction"}
    assert isinstance(state["last_interaction"], float)
    assert before - 1 <= state["last_interaction"] <= time.time() + 1


def test_cli_never_install_keeps_other_keys(installed_cli):
    root, target = installed_cli
    set_state(root, last_interaction=5.0)
    proc = cli(target, "--never-install")
    assert (proc.returncode, proc.stdout) == (0, "")
    assert proc.stderr == "Update-check prompts permanently suppressed.\n"
    assert state_of(root) == {"last_interaction": 5.0, "never_install": True}


def test_cli_both_flags_never_install_wins(installed_cli):
    root, target = installed_cli
    proc = cli(target, "--dismiss", "--never-install")
    assert (proc.returncode, proc.stdout) == (0, "")
    assert proc.stderr == "Update-check prompts permanently suppressed.\n"
    assert state_of(root) == {"never_install": True}


def test_cli_no_flags_does_nothing(installed_cli):
    root, target = installed_cli
    proc = cli(target)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert not (root / ".agents" / "state.json").exists()


def test_cli_help(installed_cli):
    _, target = installed_cli
    proc = cli(target, "--help")
    assert proc.returncode == 0
    assert "--dismiss" in proc.stdout and "--never-install" in proc.stdout


def test_cli_without_install_root_still_confirms(tmp_path):
    target = tmp_path / "loose" / "gossamer.py"
    target.parent.mkdir()
    shutil.copy(str(SCRIPT), str(target))
    proc = cli(target, "--dismiss")
    assert (proc.returncode, proc.stdout) == (0, "")
    assert proc.stderr == "Update-check prompts suppressed for 24 hours.\n"
    assert not any(p.name == "state.json" for p in tmp_path.rglob("*"))


def test_main_in_process_without_flags_is_silent(tmp_path, capfd):
    assert gossamer.main([]) == 0
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
