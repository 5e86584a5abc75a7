"""The emulator's request log as a short, readable sequence (curl test197 style).

``sequence(emu)`` labels each request: "POST create", "GET task", "GET list", "GET policy",
"POST oss", "GET result", "GET result bytes=N-" (a Range request), "POST cancel"; a request
the test scripted (Reply/Reset/Stall/Truncate) gets its action in brackets, e.g.
"GET task [Reply]". ``assert_log(emu, [...])`` matches that sequence against a pattern in
which "X+" means one or more X in a row and "X xN" exactly N.
"""
from __future__ import annotations

import re
from typing import List


def label(rec) -> str:
    path, method = rec.path, rec.method
    if method == "POST" and path.endswith("/video-synthesis"):
        name = "POST create"
    elif method == "GET" and re.search(r"/api/v1/tasks/?$", path):
        name = "GET list"
    elif method == "POST" and path.endswith("/cancel"):
        name = "POST cancel"
    elif method == "GET" and "/api/v1/tasks/" in path:
        name = "GET task"
    elif "/api/v1/uploads" in path:
        name = "GET policy"
    elif path.startswith("/oss"):
        name = "POST oss"
    elif path.startswith("/results/"):
        name = "GET result"
        if rec.headers.get("range"):
            name += " " + rec.headers["range"].replace(" ", "")
    else:
        name = "%s %s" % (method, path)
    if rec.action:
        name += " [%s]" % rec.action
    return name


def sequence(emu) -> List[str]:
    return [label(r) for r in emu.requests]


def assert_log(emu, expected: List[str]) -> None:
    actual = sequence(emu)
    pattern = ""
    for token in expected:
        many = re.match(r"^(.*) x(\d+)$", token)
        if token.endswith("+"):
            pattern += "(?:%s\n)+" % re.escape(token[:-1])
        elif many:
            pattern += "(?:%s\n){%s}" % (re.escape(many.group(1)), many.group(2))
        else:
            pattern += re.escape(token) + "\n"
    text = "".join(a + "\n" for a in actual)
    assert re.fullmatch(pattern, text), "request log %r does not match %r" % (actual, expected)
