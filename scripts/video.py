#!/usr/bin/env python3
"""Generate video with Wan and HappyHorse models on DashScope. Run with --help."""
import os
import sys

if sys.version_info < (3, 9):
    sys.stderr.write("Error: Python 3.9+ required (found %s). Install: https://www.python.org/downloads/\n"
                     % sys.version.split()[0])
    sys.exit(1)


if __name__ == "__main__":
    try:  # a Ctrl-C while the package loads is an interruption like any other: exit 130, no traceback
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from qianwen_video.__main__ import run
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
    run()
