"""Test setup: make `scripts/` importable, as video.py does for itself; cache bytecode outside the tree."""
import os
import stat
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))


def _bytecode_cache() -> str:
    """A directory of this user's own for compiled bytecode (a fresh one if the usual name is taken).

    The suite starts hundreds of Python processes (the CLI as a subprocess, pytest-xdist workers);
    with PYTHONDONTWRITEBYTECODE set, as on these machines, each compiled every module it imported
    anew, and each worker re-rewrote every test module's asserts. Cached under the temporary
    directory instead (PYTHONPYCACHEPREFIX), nothing is written in the tree.
    """
    uid = os.getuid() if hasattr(os, "getuid") else None
    path = os.path.join(tempfile.gettempdir(), "qianwen-video-tests-pycache-%s" % (uid if uid is not None else "user"))
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return tempfile.mkdtemp(prefix="qianwen-video-tests-pycache-")
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or (uid is not None and info.st_uid != uid) or info.st_mode & 0o022:
        return tempfile.mkdtemp(prefix="qianwen-video-tests-pycache-")  # not ours alone: never trusted
    return path


_CACHE = _bytecode_cache()
os.environ["PYTHONPYCACHEPREFIX"] = _CACHE  # the subprocesses
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.pycache_prefix = _CACHE  # this process: the package, and pytest's rewritten test modules
sys.dont_write_bytecode = False
