"""Reference for row 6: the least a batch can do, as one stdlib loop in one thread.

The same requests as `video.py --batch` of N one-line requests: each item submitted on a new
connection at the model's rate and running limit, polled on one kept-alive connection, its
video downloaded and fsynced, and one fsynced journal line per item. No validation, no
manifest, no locks, no response file, no output: what is left is what any client pays
(interpreter, http.client, the kernel's sockets and files), so the CLI's figure can be read
against it on a machine whose speed drifts from run to run.

usage: child_minimal_batch.py BASE_URL API_KEY N MODEL RATE_PER_S RUNNING POLL_S DIR
"""
from __future__ import annotations

import http.client
import json
import os
import sys
import time
from urllib.parse import urlsplit

ROUTE = "/services/aigc/video-generation/video-synthesis"  # under the base URL (…/api/v1)


def main(argv) -> int:
    base, key, n, model, rate, running_limit, poll, directory = argv
    n, rate, running_limit, poll = int(n), float(rate), int(running_limit), float(poll)
    api = urlsplit(base)
    root = api.path.rstrip("/")
    kept = http.client.HTTPConnection(api.hostname, api.port)
    auth = {"Authorization": "Bearer " + key}
    journal = os.open(os.path.join(directory, "journal.jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    queue = list(range(n))
    queue.reverse()
    running = {}  # task id -> next poll time
    done, last_submit = 0, -1e9
    while done < n:
        now = time.monotonic()
        if queue and len(running) < running_limit and now - last_submit >= 1.0 / rate:
            item = queue.pop()
            last_submit = now
            fresh = http.client.HTTPConnection(api.hostname, api.port)
            body = json.dumps({"model": model, "input": {"prompt": "scale clip %d" % item}, "parameters": {}})
            fresh.request("POST", root + ROUTE, body, dict(auth, **{"Content-Type": "application/json",
                                                              "X-DashScope-Async": "enable"}))
            answer = fresh.getresponse()
            created = json.loads(answer.read())
            fresh.close()
            if answer.status == 429:  # the service's rate window: the item waits for the next slot
                queue.append(item)
                continue
            task_id = created["output"]["task_id"]
            os.write(journal, (json.dumps({"task_id": task_id, "item": item}) + "\n").encode())
            os.fsync(journal)
            running[task_id] = now + poll
        for task_id, due in list(running.items()):
            if due > now:
                continue
            kept.request("GET", root + "/tasks/" + task_id, headers=auth)
            output = json.loads(kept.getresponse().read())["output"]
            if output["task_status"] != "SUCCEEDED":
                running[task_id] = time.monotonic() + poll
                continue
            url = urlsplit(output["video_url"])
            kept.request("GET", url.path + ("?" + url.query if url.query else ""))
            data = kept.getresponse().read()
            fd = os.open(os.path.join(directory, task_id + ".mp4"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
            del running[task_id]
            done += 1
        wake = [due for due in running.values()]
        if queue and len(running) < running_limit:
            wake.append(last_submit + 1.0 / rate)
        pause = min(wake) - time.monotonic() if wake else 0.0
        if pause > 0:
            time.sleep(pause)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
