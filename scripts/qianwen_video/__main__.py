"""The program's entry (video.py, `qianwen-video`, `python -m qianwen_video`), safe from its first moment.

A Ctrl-C while the modules are still loading, or while a handler is already reporting, ends the
run with exit 130 and one line, never a traceback; nothing here imports more than sys first.
"""
from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130  # errors.EXIT_INTERRUPTED; not imported, so this holds before anything loads


def run() -> None:
    try:
        from .cli import main

        code = main()
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        code = EXIT_INTERRUPTED
    sys.exit(code)


if __name__ == "__main__":
    run()
