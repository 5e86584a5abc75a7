"""Child process (bench/.venv python): upload one file with the dashscope SDK, print one JSON line.

dashscope.utils.oss_utils.OssUtils.upload(model, file_path, api_key) is what the SDK's
check_and_upload_local() calls for a file:// input: GET {base}/uploads?action=getPolicy,
then a requests form POST (files={"file": f}) to the policy's upload_host.
DASHSCOPE_HTTP_BASE_URL (read by the SDK at import) points it at the emulator.

usage: bench/.venv/bin/python bench/child_sdk_upload.py FILE MODEL
"""
import json
import os
import sys
import time

from dashscope.utils.oss_utils import OssUtils


def main() -> None:
    path, model = sys.argv[1], sys.argv[2]
    started = time.monotonic()
    url, _ = OssUtils.upload(model=model, file_path=path, api_key=os.environ["DASHSCOPE_API_KEY"])
    seconds = time.monotonic() - started
    print(json.dumps({"seconds": seconds, "bytes": os.path.getsize(path), "url": url}))


if __name__ == "__main__":
    main()
