"""Child process: upload one local file with the CLI's own upload code, print one JSON line.

Runs exactly what `video.py` runs for a local `img_url` before it submits: the
qianwen_video.upload.temp_storage.TempStorage path (GET /uploads?action=getPolicy, then the streamed
multipart POST to the policy's upload_host) over the CLI's Transport. Nothing else of the
generation (submit, poll, download) is run, so the timing and the peak RSS are the upload's.

usage: python3 bench/child_client_upload.py FILE MODEL   (env: DASHSCOPE_HTTP_BASE_URL, DASHSCOPE_API_KEY)
"""
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from qianwen_video import config  # noqa: E402
from qianwen_video.net.api import DashScope  # noqa: E402
from qianwen_video.console import Console  # noqa: E402
from qianwen_video.context import Context  # noqa: E402
from qianwen_video.media import LocalFile, MediaRef  # noqa: E402
from qianwen_video.upload.temp_storage import TempStorage  # noqa: E402


def main() -> None:
    path, model = Path(sys.argv[1]), sys.argv[2]
    ctx = Context()
    console = Console(ctx)
    api = DashScope(ctx, console, config.api_key(ctx), config.endpoint(ctx).base_url)
    storage = TempStorage(api, console, model)
    request = {"img_url": str(path)}
    item = LocalFile(MediaRef("img_url", str(path), request, "img_url"), path)
    started = time.monotonic()
    urls = storage.upload_all([item])
    seconds = time.monotonic() - started
    print(json.dumps({"seconds": seconds, "bytes": os.path.getsize(path), "url": urls[0]}))


if __name__ == "__main__":
    main()
