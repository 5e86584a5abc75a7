"""Run the emulator in the foreground: python3 -m tests.emulator --port 8000"""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import Emulator

DEFAULT_KEY = "sk-emulator-local-0000"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m tests.emulator",
                                 description="Local DashScope video API emulator (127.0.0.1 only).")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--key", action="append", help="accepted API key (repeatable); default %s" % DEFAULT_KEY)
    ap.add_argument("--pending-seconds", type=float, default=1.0)
    ap.add_argument("--run-seconds", type=float, default=5.0)
    ap.add_argument("--fail-seconds", type=float, default=1.0)
    ap.add_argument("--video-size", type=int, default=None, help="serve a synthetic video of N bytes")
    ap.add_argument("--serve-rate", type=float, default=None, help="download throttle, bytes/second")
    args = ap.parse_args(argv)
    keys = tuple(args.key or [DEFAULT_KEY])
    emu = Emulator(api_keys=keys, pending_seconds=args.pending_seconds, run_seconds=args.run_seconds,
                   fail_seconds=args.fail_seconds, video_size=args.video_size, serve_rate=args.serve_rate,
                   port=args.port)
    done = threading.Event()
    try:
        signal.signal(signal.SIGTERM, lambda *_: done.set())
    except ValueError:
        pass
    try:
        emu.start()
    except OSError as exc:
        print("cannot listen on 127.0.0.1:%d: %s" % (args.port, exc), file=sys.stderr)
        return 1
    try:  # a Ctrl-C that comes while the banner is still being printed stops cleanly too
        print("DashScope emulator listening on %s" % emu.url, flush=True)
        print("  DASHSCOPE_HTTP_BASE_URL=%s" % emu.base_url, flush=True)
        print("  DASHSCOPE_API_KEY=%s" % keys[0], flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    print("emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
