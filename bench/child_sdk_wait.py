"""Child process (bench/.venv python): submit one task, then dashscope VideoSynthesis.wait() on it.

The submit is a plain urllib POST made *after* `import dashscope`, so the SDK's import time
does not delay its first poll. Prints one JSON line with CLOCK_MONOTONIC stamps (shared by
all processes on Linux) so the parent can relate them to the emulator's clock.
The SDK does not download the video; the measurement ends when wait() returns.

usage: bench/.venv/bin/python bench/child_sdk_wait.py BODY_JSON
"""
import json
import os
import sys
import time
import urllib.request

from dashscope import VideoSynthesis


def main() -> None:
    body = json.loads(sys.argv[1])
    base = os.environ["DASHSCOPE_HTTP_BASE_URL"].rstrip("/")
    key = os.environ["DASHSCOPE_API_KEY"]
    req = urllib.request.Request(
        base + "/services/aigc/video-generation/video-synthesis", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": "Bearer " + key, "Content-Type": "application/json", "X-DashScope-Async": "enable"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=30) as resp:
        task_id = json.loads(resp.read().decode())["output"]["task_id"]
    submitted = time.monotonic()
    result = VideoSynthesis.wait(task_id, api_key=key)
    returned = time.monotonic()
    status = (result.output or {}).get("task_status") if result.output is not None else None
    print(json.dumps({"task_id": task_id, "submitted": submitted, "returned": returned,
                      "status": status, "status_code": result.status_code}))


if __name__ == "__main__":
    main()
