"""Child process: a minimal stdlib download loop, a reference for what Python can do here.

Not the CLI. `read` is what the CLI's Stream.read(CHUNK) does (http.client
HTTPResponse.read(1 MiB): waits until 1 MiB has arrived); `read1` returns whatever has
arrived, up to 1 MiB. Both write to FILE and fsync it, like the CLI, with no start-up
work beyond the imports below. Prints the seconds from request to fsync done.

usage: python3 bench/child_stdlib_download.py read|read1 URL FILE
"""
import http.client
import os
import sys
import time
from urllib.parse import urlsplit

CHUNK = 1024 * 1024


def main() -> None:
    mode, url, path = sys.argv[1], sys.argv[2], sys.argv[3]
    parts = urlsplit(url)
    started = time.monotonic()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    conn.request("GET", parts.path + "?" + parts.query)
    resp = conn.getresponse()
    read = resp.read1 if mode == "read1" else resp.read
    with open(path, "wb") as fh:
        while True:
            chunk = read(CHUNK)
            if not chunk:
                break
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    conn.close()
    sys.stdout.write("%.4f\n" % (time.monotonic() - started))


if __name__ == "__main__":
    main()
