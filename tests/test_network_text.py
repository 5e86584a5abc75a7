"""Proxy and NO_PROXY through a tiny recording forward proxy; Chinese text end to end on any console."""
from __future__ import annotations

import hashlib
import http.client
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from qianwen_video import cli
from qianwen_video.context import Context, _utf8_stream
from tests.emulator import Emulator
from tests.harness import KEY, env_for, run, run_subprocess


@pytest.fixture()
def emu():
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05) as server:
        yield server
        assert server.created_count() <= 1


class _Proxy(BaseHTTPRequestHandler):
    """Forwards absolute-URI requests (plain-HTTP proxying) and records each one."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _forward(self):
        self.server.seen.append((self.command, self.path, self.headers.get("Proxy-Authorization")))
        target = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("proxy-authorization", "proxy-connection", "connection", "host")}
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        upstream.request(self.command, target.path + ("?" + target.query if target.query else ""), body, headers)
        resp = upstream.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = do_POST = _forward


@pytest.fixture()
def proxy():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    server.daemon_threads = True
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


ARGS = ["--request", json.dumps({"prompt": "x"}), "--poll-interval", "0.05", "--print-response"]


def test_http_proxy_is_used_with_its_credentials_and_they_are_masked(emu, proxy, tmp_path):
    env = env_for(emu, HTTP_PROXY="http://alice:pr0xy-s3cret@127.0.0.1:%d" % proxy.server_address[1])
    result = run(ARGS, env, tmp_path)
    assert result.code == 0, result.stderr
    methods = [(m, urlsplit(p).path.rsplit("/", 1)[-1] if m == "POST" else "") for m, p, _ in proxy.seen]
    assert methods[0] == ("POST", "video-synthesis")
    assert all(p.startswith("http://127.0.0.1:%d/" % emu.port) for _, p, _ in proxy.seen)
    assert {auth for _, _, auth in proxy.seen} == {"Basic YWxpY2U6cHIweHktczNjcmV0"}
    assert len(proxy.seen) == len(emu.requests)  # every request, the download included
    assert "pr0xy-s3cret" not in result.stdout + result.stderr
    assert emu.created_count() == 1


def test_no_proxy_bypasses_the_proxy(emu, proxy, tmp_path):
    env = env_for(emu, HTTP_PROXY="http://127.0.0.1:%d" % proxy.server_address[1], NO_PROXY="localhost,127.0.0.1")
    result = run(ARGS, env, tmp_path)
    assert result.code == 0, result.stderr
    assert proxy.seen == []
    assert emu.created_count() == 1


def test_a_dead_proxy_fails_the_create_as_not_sent(emu, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run(ARGS, env_for(emu, HTTP_PROXY="http://someone:pa55word@127.0.0.1:%d" % port), tmp_path)
    assert result.code == 1 and "could not reach DashScope" in result.stderr
    assert "could not connect to the proxy 127.0.0.1:%d (set for 127.0.0.1)" % port in result.stderr
    assert "Hint: the proxy in HTTPS_PROXY/HTTP_PROXY is not answering" in result.stderr
    assert "set HTTPS_PROXY" not in result.stderr and "pa55word" not in result.stderr
    assert emu.created_count() == 0 and emu.requests == []


def test_ssl_cert_file_is_used_and_verification_stays_on(tmp_path):
    from qianwen_video.net.transport import Transport

    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    transport = Transport(Context(environ={"SSL_CERT_FILE": str(bogus)}, cwd=tmp_path))
    with pytest.raises(Exception):
        transport._ssl_context()  # the file is really read
    context = Transport(Context(environ={}, cwd=tmp_path))._ssl_context()
    import ssl

    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


# -- text -----------------------------------------------------------------------------------------
PROMPT = "一只橘猫在雨中的霓虹街头奔跑，电影感"


def test_chinese_prompt_and_path_end_to_end_on_a_cp1252_console(emu, tmp_path):
    err_bytes, out_bytes = io.BytesIO(), io.BytesIO()
    stderr = _utf8_stream(io.TextIOWrapper(err_bytes, encoding="cp1252"))
    stdout = _utf8_stream(io.TextIOWrapper(out_bytes, encoding="cp1252"), data=True)
    ctx = Context(environ=env_for(emu), cwd=tmp_path, stdout=stdout, stderr=stderr, sleep=lambda s: None,
                  stderr_isatty=False)
    code = cli.main(["--request", json.dumps({"prompt": PROMPT}, ensure_ascii=False), "--output",
                     "视频/猫.mp4", "--poll-interval", "0.01", "--print-response"], ctx)
    stdout.flush()
    stderr.flush()
    assert code == 0, err_bytes.getvalue()
    document = json.loads(out_bytes.getvalue().decode("utf-8"))
    assert document["output"]["orig_prompt"] == PROMPT
    video = tmp_path / "视频" / "猫.mp4"
    assert document["local_path"] == str(video)
    assert hashlib.sha256(video.read_bytes()).hexdigest() == emu.video_sha256()
    assert emu.requests[0].json["input"]["prompt"] == PROMPT
    journal = (tmp_path / "视频" / "qianwen-video-tasks.jsonl").read_text(encoding="utf-8")
    assert "猫.mp4" in journal


def test_cp1252_console_stdout_gets_escaped_json_not_question_marks(emu, tmp_path):
    class Console(io.TextIOWrapper):
        def isatty(self):
            return True

    raw = io.BytesIO()
    stdout = _utf8_stream(Console(raw, encoding="cp1252"), data=True)  # a terminal keeps its encoding
    ctx = Context(environ=env_for(emu), cwd=tmp_path, stdout=stdout, stderr=io.StringIO(), sleep=lambda s: None,
                  stderr_isatty=False)
    assert cli.main(["--request", json.dumps({"prompt": PROMPT}), "--dry-run"], ctx) == 0
    stdout.flush()
    text = raw.getvalue().decode("cp1252")
    assert "?" not in text
    assert json.loads(text)["requests"][0]["body"]["input"]["prompt"] == PROMPT


def test_subprocess_with_pythonioencoding_cp1252(emu, tmp_path):
    result = run_subprocess(["--request", json.dumps({"prompt": PROMPT}, ensure_ascii=False), "--output", "输出",
                             "--poll-interval", "0.05", "--print-response"],
                            env_for(emu, PYTHONIOENCODING="cp1252"), tmp_path)
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stderr
    document = json.loads(result.stdout)
    assert document["output"]["orig_prompt"] == PROMPT
    assert Path(document["local_path"]).parent == tmp_path / "输出"
