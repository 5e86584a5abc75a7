"""HTTP over http.client, with the failure phase made explicit.

urllib hides whether a failed request reached the server. For a paid create call that is
the whole question, so this layer opens the connection itself and reports:

- ``NotSent``: DNS, connection refused, proxy or TLS handshake failure; nothing was sent.
- ``NoResponse``: the request (or part of it) went out, then a timeout or reset; the server
  may have acted on it.

It honours HTTPS_PROXY/HTTP_PROXY/NO_PROXY and SSL_CERT_FILE from the injected
environment, always verifies TLS, and streams bodies in both directions.
"""
from __future__ import annotations

import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Optional, Union
from urllib.parse import urlsplit
from urllib.request import proxy_bypass_environment

from ..context import Context

USER_AGENT = "qianwen-video-generation/0.4 (python; stdlib)"
CHUNK = 1024 * 1024

Body = Union[None, bytes, Iterable[bytes]]


class TransportError(Exception):
    sent = True

    def __init__(self, message: str, url: str):
        super().__init__(message)
        self.url = url


class NotSent(TransportError):
    """The request never reached the server: safe to try again, even for a create."""

    sent = False


class NoResponse(TransportError):
    """The request went out but no answer came back: the outcome is unknown."""


class TLSError(NotSent):
    pass


class Unsendable(NotSent):
    """The request line or a header cannot be put on the wire (a control character, a
    character outside Latin-1, a bad port): nothing was sent, and trying again cannot help."""


@dataclass
class Response:
    status: int
    reason: str
    headers: Dict[str, str]
    body: bytes
    url: str

    def json(self) -> Optional[Any]:
        try:
            value = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        return value

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Stream:
    """An open response whose body the caller reads in chunks (downloads)."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse, url: str):
        self._conn = conn
        self._resp = resp
        self.url = url
        self.status = resp.status
        self.reason = resp.reason
        self.headers = {k.lower(): v for k, v in resp.getheaders()}

    def read(self, size: int = CHUNK) -> bytes:
        """Up to `size` bytes, whatever has arrived (read1: no waiting to fill the buffer);
        b"" at the end of the body, or when the peer closed early (callers check the length)."""
        try:
            return self._resp.read1(size)
        except (OSError, http.client.HTTPException) as exc:
            raise NoResponse("connection lost while reading: %s" % _describe(exc), self.url) from None

    def close(self) -> None:
        try:
            self._resp.close()
        finally:
            self._conn.close()


TIMEOUT_ENV = "QWEN_HTTP_TIMEOUT"


def timeout_override(ctx: Context) -> Optional[float]:
    """QWEN_HTTP_TIMEOUT: seconds one socket operation may wait (connect, send, each read).

    It replaces the per-operation defaults (submit 60 s, queries 30 s, download 60 s,
    upload 300 s). Useful on a slow link (raise it) and in tests (lower it).
    """
    raw = ctx.get(TIMEOUT_ENV)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        from ..errors import UsageError

        raise UsageError("%s=%r is not a positive number of seconds" % (TIMEOUT_ENV, raw),
                         hint="unset it, or set e.g. %s=120" % TIMEOUT_ENV)
    return value


class Transport:
    def __init__(self, ctx: Context, timeout: float = 60.0):
        self.ctx = ctx
        self.override = timeout_override(ctx)
        self.timeout = self.override or timeout
        self._ssl: Optional[ssl.SSLContext] = None

    # -- public API ---------------------------------------------------------------------
    def request(self, method: str, url: str, headers: Optional[Dict[str, str]] = None,
                body: Body = None, length: Optional[int] = None, timeout: Optional[float] = None,
                progress: Optional[Callable[[int], None]] = None) -> Response:
        stream = self.open(method, url, headers, body, length, timeout, progress)
        try:
            chunks = []
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
            return Response(stream.status, stream.reason, stream.headers, b"".join(chunks), url)
        finally:
            stream.close()

    def open(self, method: str, url: str, headers: Optional[Dict[str, str]] = None,
             body: Body = None, length: Optional[int] = None, timeout: Optional[float] = None,
             progress: Optional[Callable[[int], None]] = None) -> Stream:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NotSent("unsupported URL scheme %r" % parts.scheme, url)
        try:
            conn, target = self._connection(parts, self.override or timeout or self.timeout)
        except ValueError as exc:  # e.g. a port out of range
            raise Unsendable("invalid URL %s: %s" % (url, exc), url) from None
        all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        all_headers.update(headers or {})
        if target.startswith("http://"):  # plain HTTP through a proxy: it needs the credentials
            all_headers.update(_proxy_auth(self._proxy_for(parts.scheme, parts.hostname)) or {})
        if isinstance(body, bytes):
            length = len(body)
        if length is not None:
            all_headers["Content-Length"] = str(length)
        try:
            conn.connect()
        except ssl.SSLError as exc:
            conn.close()
            raise TLSError("TLS handshake with %s failed: %s" % (parts.hostname, _describe(exc)), url) from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise NotSent("could not connect to %s: %s" % (parts.netloc, _describe(exc)), url) from None
        # putrequest/putheader only check and buffer: a value they refuse never left the machine.
        header = "the request line"
        try:
            conn.putrequest(method, target, skip_host=False, skip_accept_encoding=True)
            for name, value in all_headers.items():
                header = "header " + name
                conn.putheader(name, value)
        except (ValueError, UnicodeError, http.client.HTTPException) as exc:
            conn.close()
            # Never the exception's text: it quotes the header value (the API key, for Authorization).
            raise Unsendable("%s cannot be sent: it holds a character HTTP does not allow (%s)"
                             % (header, exc.__class__.__name__), url) from None
        try:
            conn.endheaders()
            self._send_body(conn, body, progress)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise NoResponse("connection lost while sending: %s" % _describe(exc), url) from None
        try:
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise NoResponse("no response: %s" % _describe(exc), url) from None
        return Stream(conn, resp, url)

    # -- internals ----------------------------------------------------------------------
    @staticmethod
    def _send_body(conn: http.client.HTTPConnection, body: Body, progress) -> None:
        if body is None:
            return
        if isinstance(body, bytes):
            conn.send(body)
            if progress:
                progress(len(body))
            return
        for chunk in body:
            conn.send(chunk)
            if progress:
                progress(len(chunk))

    def _connection(self, parts, timeout: float):
        host, port = parts.hostname, parts.port
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        proxy = self._proxy_for(parts.scheme, host)
        if parts.scheme == "https":
            if proxy:
                conn = http.client.HTTPSConnection(proxy.hostname, proxy.port or 80, timeout=timeout,
                                                   context=self._ssl_context())
                conn.set_tunnel(host, port or 443, headers=_proxy_auth(proxy))
            else:
                conn = http.client.HTTPSConnection(host, port or 443, timeout=timeout,
                                                   context=self._ssl_context())
            return conn, target
        if proxy:
            conn = http.client.HTTPConnection(proxy.hostname, proxy.port or 80, timeout=timeout)
            return conn, "http://%s%s" % (parts.netloc, target)
        return http.client.HTTPConnection(host, port or 80, timeout=timeout), target

    def _proxy_for(self, scheme: str, host: str):
        env = {k.lower(): v for k, v in self.ctx.environ.items() if k.lower().endswith("_proxy") and v}
        value = env.get(scheme + "_proxy")
        if not value:
            return None
        no_proxy = env.get("no_proxy", "")
        if no_proxy and proxy_bypass_environment(host, {"no": no_proxy}):
            return None
        if "://" not in value:
            value = "http://" + value
        return urlsplit(value)

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            cafile = self.ctx.get("SSL_CERT_FILE")
            capath = self.ctx.get("SSL_CERT_DIR")
            self._ssl = ssl.create_default_context(cafile=cafile, capath=capath)
        return self._ssl


def proxy_secrets(ctx: Context):
    """Passwords embedded in *_PROXY variables: to be masked like the API key."""
    found = []
    for name, value in ctx.environ.items():
        if name.lower().endswith("_proxy") and value and "@" in value:
            try:
                password = urlsplit(value if "://" in value else "http://" + value).password
            except ValueError:
                continue
            if password:
                from urllib.parse import unquote

                found += [password, unquote(password)]
    return found


def _proxy_auth(proxy) -> Optional[Dict[str, str]]:
    if proxy is None or not proxy.username:
        return None
    import base64
    from urllib.parse import unquote

    token = "%s:%s" % (unquote(proxy.username), unquote(proxy.password or ""))
    return {"Proxy-Authorization": "Basic " + base64.b64encode(token.encode()).decode()}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return "DNS lookup failed (%s)" % (exc.strerror or exc)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by peer"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "server closed the connection without answering"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "certificate verify failed (%s)" % exc.verify_message
    text = str(exc) or exc.__class__.__name__
    return text
