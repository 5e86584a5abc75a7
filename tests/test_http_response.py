"""The transport's own reading of an answer's head (net/http_response.py): the same status, headers
and body framing http.client's email-based reading gives for well-formed answers, its bounds and
exceptions for broken ones, and whole exchanges over real sockets."""
from __future__ import annotations

import http.client
import io
import socket
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qianwen_video.net.http_response import (MAX_HEADERS, MAX_LINE, Headers, LeanResponse, body_framing,
                                             read_header_lines, read_status)


def fp(data: bytes) -> io.BufferedReader:
    return io.BufferedReader(io.BytesIO(data))


# -- the status line ---------------------------------------------------------------------------
@pytest.mark.parametrize("line, expected", [
    (b"HTTP/1.1 200 OK\r\n", ("HTTP/1.1", 200, "OK")),
    (b"HTTP/1.1 404 Not Found\r\n", ("HTTP/1.1", 404, "Not Found")),
    (b"HTTP/1.0 204\r\n", ("HTTP/1.0", 204, "")),
    (b"HTTP/1.1  429   Too Many Requests \r\n", ("HTTP/1.1", 429, "Too Many Requests")),
    (b"HTTP/1.1 200 OK\n", ("HTTP/1.1", 200, "OK")),
    (b"HTTP/0.9 200 OK\r\n", ("HTTP/0.9", 200, "OK")),
])
def test_status_line_read(line, expected):
    assert read_status(fp(line)) == expected


@pytest.mark.parametrize("line, error", [
    (b"", http.client.RemoteDisconnected),  # a kept-alive connection closed by the server
    (b"garbage\r\n", http.client.BadStatusLine),
    (b"HTTP/1.1\r\n", http.client.BadStatusLine),
    (b"HTTP/1.1 20 OK\r\n", http.client.BadStatusLine),
    (b"HTTP/1.1 2000 OK\r\n", http.client.BadStatusLine),
    (b"HTTP/1.1 099 OK\r\n", http.client.BadStatusLine),
    (b"HTTP/1.1 +20 OK\r\n", http.client.BadStatusLine),
    (b"HTTP/1.1 \xb2\xb2\xb2 OK\r\n", http.client.BadStatusLine),  # Latin-1 superscript digits
    (b"HTTP/2 200 OK\r\n", http.client.UnknownProtocol),
    (b"HTTP/1.1 200 " + b"x" * MAX_LINE + b"\r\n", http.client.LineTooLong),
])
def test_status_line_refused(line, error):
    with pytest.raises(error):
        read_status(fp(line))


# -- header lines ------------------------------------------------------------------------------
def test_header_lines_in_order_with_values_stripped():
    head = (b"Content-Type:  application/json \r\nX-Request-Id:abc\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n"
            b"BODY")
    stream = fp(head)
    assert read_header_lines(stream) == [("Content-Type", "application/json"), ("X-Request-Id", "abc"),
                                         ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    assert stream.read() == b"BODY"  # the body is left unread


def test_header_lines_folding_colonless_lines_and_latin1():
    head = (b"X-Long: first\r\n\tsecond part\r\nnot a header\r\n: no name\r\nBad Name: x\r\n"
            b"X-Latin: caf\xe9\r\n\n")
    assert read_header_lines(fp(head)) == [("X-Long", "first second part"), ("X-Latin", "caf\u00e9")]


def test_header_lines_end_at_the_end_of_the_stream():
    assert read_header_lines(fp(b"A: 1\r\nB: 2\r\n")) == [("A", "1"), ("B", "2")]


def test_header_lines_bounded():
    with pytest.raises(http.client.LineTooLong):
        read_header_lines(fp(b"X: " + b"y" * MAX_LINE + b"\r\n\r\n"))
    with pytest.raises(http.client.HTTPException, match="more than %d headers" % MAX_HEADERS):
        read_header_lines(fp(b"X: y\r\n" * (MAX_HEADERS + 1) + b"\r\n"))
    assert len(read_header_lines(fp(b"X: y\r\n" * MAX_HEADERS + b"\r\n"))) == MAX_HEADERS


def test_headers_lookup():
    headers = Headers([("Content-Length", "5"), ("Via", "a"), ("via", "b")])
    assert headers.get("content-length") == "5" and headers.get("CONTENT-LENGTH") == "5"
    assert headers.get("via") == "a"  # the first, as email.message.Message.get
    assert headers.get_all("VIA") == ["a", "b"] and headers.get_all("x") is None
    assert headers.get("missing", "default") == "default"
    assert headers.items() == [("Content-Length", "5"), ("Via", "a"), ("via", "b")]


TOKEN = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-!#$%&'*+.^_`|~",
                min_size=1, max_size=20)
VALUE = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0xFF, blacklist_characters="\x7f"),
                min_size=0, max_size=40).map(lambda v: v.replace(" ", ""))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(TOKEN, st.lists(VALUE, min_size=1, max_size=3).map(lambda words: " ".join(words).strip())),
                max_size=12))
def test_headers_match_http_client(pairs):
    """For well-formed header lines (values without surrounding whitespace, which RFC 9112 §5 says
    is not part of them; the email reading keeps a trailing one), what http.client's email-based
    reading gives, line for line."""
    head = b"".join(("%s: %s\r\n" % pair).encode("iso-8859-1") for pair in pairs) + b"\r\n"
    theirs = http.client.parse_headers(fp(head))
    ours = Headers(read_header_lines(fp(head)))
    assert ours.items() == list(theirs.items())
    for name, _ in pairs:
        assert ours.get(name) == theirs.get(name)
        assert ours.get_all(name) == theirs.get_all(name)


# -- body framing ------------------------------------------------------------------------------
def framing(version=11, status=200, method="GET", **headers):
    return body_framing(version, status, method, Headers([(k.replace("_", "-"), v) for k, v in headers.items()]))


@pytest.mark.parametrize("args, headers, expected", [
    ({}, {"Content_Length": "12"}, (False, 12, False)),
    ({}, {"Content_Length": " 0 "}, (False, 0, False)),
    ({}, {}, (False, None, True)),  # no length: the body ends when the server closes
    ({}, {"Transfer_Encoding": "chunked", "Content_Length": "5"}, (True, None, False)),
    ({}, {"Transfer_Encoding": "Chunked"}, (True, None, False)),
    ({}, {"Transfer_Encoding": "gzip"}, (False, None, True)),
    ({}, {"Content_Length": "12", "Connection": "close"}, (False, 12, True)),
    ({}, {"Content_Length": "12", "Connection": "Keep-Alive, Close"}, (False, 12, True)),
    ({}, {"Content_Length": "-1"}, (False, None, True)),
    ({}, {"Content_Length": "+12"}, (False, None, True)),  # int() would take these; the RFC does not
    ({}, {"Content_Length": "1_2"}, (False, None, True)),
    ({}, {"Content_Length": "\u00b2"}, (False, None, True)),
    ({}, {"Content_Length": "9" * 40}, (False, None, True)),
    ({"status": 204}, {}, (False, 0, False)),
    ({"status": 304}, {"Content_Length": "40"}, (False, 0, False)),
    ({"status": 103}, {}, (False, 0, False)),
    ({"method": "HEAD"}, {"Content_Length": "40"}, (False, 0, False)),
    ({"version": 10}, {"Content_Length": "3"}, (False, 3, True)),  # HTTP/1.0 closes unless it says otherwise
    ({"version": 10}, {"Content_Length": "3", "Connection": "keep-alive"}, (False, 3, False)),
    ({"version": 10}, {"Content_Length": "3", "Keep_Alive": "timeout=5"}, (False, 3, False)),
])
def test_body_framing(args, headers, expected):
    assert framing(**args, **headers) == expected


# -- whole exchanges over a socket -------------------------------------------------------------
def serve_once(answer: bytes):
    """A one-connection server that reads one request head and writes `answer` (then closes)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def run():
        conn, _ = server.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            conn.sendall(answer)
        server.close()

    threading.Thread(target=run, daemon=True).start()
    return server.getsockname()[1]


@pytest.mark.parametrize("answer, body, will_close", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", b"hello", False),
    (b"HTTP/1.1 100 Continue\r\nX: 1\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", b"ok", False),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", b"abcde", False),
    (b"HTTP/1.0 200 OK\r\n\r\nuntil the close", b"until the close", True),
])
def test_exchange_through_http_client(answer, body, will_close):
    conn = http.client.HTTPConnection("127.0.0.1", serve_once(answer), timeout=5)
    conn.response_class = LeanResponse
    conn.request("GET", "/")
    resp = conn.getresponse()
    assert isinstance(resp, LeanResponse)
    assert resp.will_close is will_close
    assert resp.read() == body
    assert resp.status in (200, 201)
    assert resp.getheader("x") is None and isinstance(resp.getheaders(), list)
    conn.close()
