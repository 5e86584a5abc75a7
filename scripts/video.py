#!/usr/bin/env python3
"""Generate video with Wan and HappyHorse models on DashScope. Run with --help."""
import os
import sys

if sys.version_info < (3, 9):
    sys.stderr.write("Error: Python 3.9+ required (found %s). Install: https://www.python.org/downloads/\n"
                     % sys.version.split()[0])
    sys.exit(1)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qianwen_video.cli import entry  # noqa: E402

if __name__ == "__main__":
    entry()
