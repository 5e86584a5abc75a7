"""HTTP over http.client, with the failure phase made explicit.

urllib hides whether a failed request reached the server. For a paid create call that is
the whole question, so this layer opens the connection itself and reports:

- ``NotSent``: DNS, connection refused, proxy or TLS handshake failure; nothing was sent.
- ``NoResponse``: the request (or part of it) went out, then a timeout or reset; the server
  may have acted on it.

It honours HTTPS_PROXY/HTTP_PROXY/NO_PROXY and SSL_CERT_FILE from the injected
environment, always verifies TLS, and streams bodies in both directions.

Time limits: every socket read, write and connect waits at most the operation's timeout, and
the exchange as a whole is bounded too (a server that drips one byte every 2 s never holds a
call): a JSON call must have its whole answer within that timeout; a streamed body (a
download, an upload) must move at least MIN_RATE bytes/s over every window of that length.
Answers read whole are capped at safe_json.ANSWER_LIMIT and parsed with safe_json.

Connections: a GET (status checks, task lists, upload policies, downloads; never paid, so safe to
repeat) goes over a connection an earlier GET to the same host left open, when one is idle: a
batch's polls then pay one TCP (and TLS) handshake, not one each. A connection the server has
closed meanwhile is noticed before use, or, if the answer never began, the GET is sent once more
on a new connection. Any other method (a create above all) always opens its own connection, so
"sent, no answer" keeps meaning exactly that.

Observers (``add_observer``) see every answer's status as it arrives (before any retry);
QWEN_TRACE=1 prints one redacted line per exchange on stderr.
"""
from __future__ import annotations

import http.client
import io
import select
import socket
import ssl
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Union
from urllib.parse import urlsplit
from urllib.request import proxy_bypass_environment

from .. import safe_json
from ..context import Context
from .http_response import LeanResponse

USER_AGENT = "qianwen-video-generation/0.4 (python; stdlib)"
CHUNK = 1024 * 1024
PIECE = 64 * 1024  # bytes per socket write, so the time rules are checked within a large chunk
WAIT_SLACK = 0.05  # seconds a socket wait may outlast the time rules (see _GuardedSocket._set_wait)
MIN_RATE = 1024.0  # bytes/s a streamed body must keep up over each window (the operation's timeout)
TRACE_ENV = "QWEN_TRACE"
REUSED_METHODS = ("GET",)  # idempotent and unbilled: may go over a kept-alive connection, and be sent again
IDLE_LIMIT = 10.0  # seconds an idle connection is kept: servers and load balancers close quiet ones
IDLE_PER_HOST = 4  # idle connections kept per host (a batch polls from one thread, downloads from two)

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
    character outside Latin-1, a bad port, a URL that is not http(s)): nothing was sent, and
    trying again cannot help."""


class TooSlow(OSError):
    """A time rule of the exchange was broken (no whole answer within the budget, or a body
    slower than the minimum rate): raised from a socket read or write, reported as NoResponse."""


@dataclass
class Response:
    status: int
    reason: str
    headers: Dict[str, str]
    body: bytes
    url: str
    unreadable: Optional[str] = None  # why the body is unusable (larger than the cap); body is then b""

    def json(self) -> Optional[Any]:
        """The body as JSON (safe_json: bounded depth and size, UTF-8), or None. Parsed once: the
        checks of an answer and its caller read the same document."""
        if self.unreadable is not None:
            return None
        try:
            return self._document
        except AttributeError:
            pass
        try:
            self._document: Optional[Any] = safe_json.loads(self.body)
        except safe_json.Invalid:
            self._document = None
        return self._document

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def error_code(self) -> Optional[str]:
        """The DashScope error `code` of a JSON error body, or None."""
        document = self.json()
        if isinstance(document, dict):
            code = document.get("code")
            if isinstance(code, str) and code:
                return code
        return None


class Guard:
    """The time rules of one exchange, checked before every socket read and write.

    ``until(budget)``: everything left must happen within `budget` seconds (a JSON answer).
    ``at_least(rate, window)``: a streamed body must move `rate` bytes/s over each `window`.
    Each single socket operation still waits at most `read_timeout`.
    """

    def __init__(self, clock: Callable[[], float], read_timeout: float):
        self.clock = clock
        self.read_timeout = read_timeout
        self.started = clock()
        self.sent = self.received = 0
        self.broken: Optional[str] = None
        self._deadline: Optional[float] = None
        self._budget = 0.0
        self._rate: Optional[float] = None
        self._window = 0.0
        self._window_start = 0.0
        self._window_bytes = 0

    def until(self, budget: float) -> None:
        self._deadline, self._budget, self._rate = self.clock() + budget, budget, None

    def at_least(self, rate: float, window: float) -> None:
        self._deadline, self._rate, self._window = None, rate, window
        self._window_start, self._window_bytes = self.clock(), 0

    def next_wait(self) -> float:
        """Seconds the next socket operation may wait; raises TooSlow once a rule is broken."""
        if self.broken:
            raise TooSlow(self.broken)
        now = self.clock()
        if self._deadline is not None:
            left = self._deadline - now
            if left <= 0:
                raise self._break("timed out: no complete answer within %gs" % self._budget)
            return min(self.read_timeout, left)
        if self._rate is not None and now - self._window_start >= self._window:
            if self._window_bytes < self._rate * self._window:
                raise self._break("timed out: less than %d bytes/s for %gs" % (self._rate, self._window))
            self._window_start, self._window_bytes = now, 0
        return self.read_timeout

    def timed_out(self) -> Optional[TooSlow]:
        """After a socket timeout: the broken rule, when the deadline was what cut the wait."""
        if self._deadline is not None and self.clock() >= self._deadline:
            return self._break("timed out: no complete answer within %gs" % self._budget)
        return None

    def moved(self, count: int, sent: bool) -> None:
        if sent:
            self.sent += count
        else:
            self.received += count
        self._window_bytes += count

    def _break(self, reason: str) -> TooSlow:
        self.broken = reason
        return TooSlow(reason)


class _GuardedSocket:
    """A connected socket whose reads and writes obey a Guard (http.client sees a socket).

    Like socket.makefile, a reader keeps the socket open after close() until the reader is
    closed too (http.client closes the connection early on a close-delimited answer)."""

    def __init__(self, sock: socket.socket, guard: Guard):
        self._sock = sock
        self._guard = guard
        self._readers = 0
        self._closed = False

    def _set_wait(self) -> None:
        """The socket waits at most what the guard allows, plus a tenth of it (at most WAIT_SLACK
        seconds): setting a timeout is a system call, so one close enough to the wanted one is kept."""
        wanted = self._guard.next_wait()
        current = self._sock.gettimeout()  # a kept connection still has its last exchange's
        if current is None or not wanted <= current <= wanted + min(WAIT_SLACK, wanted / 10):
            self._sock.settimeout(wanted)

    def recv_into(self, buffer, nbytes: int = 0, flags: int = 0) -> int:
        self._set_wait()
        try:
            count = self._sock.recv_into(buffer)
        except socket.timeout:
            broken = self._guard.timed_out()
            if broken is not None:
                raise broken from None
            raise
        self._guard.moved(count, sent=False)
        return count

    def sendall(self, data, flags: int = 0) -> None:
        with memoryview(data) as view, view.cast("B") as octets:
            for start in range(0, len(octets), PIECE):
                piece = octets[start:start + PIECE]
                self._set_wait()
                try:
                    self._sock.sendall(piece)
                except socket.timeout:
                    broken = self._guard.timed_out()
                    if broken is not None:
                        raise broken from None
                    raise
                self._guard.moved(len(piece), sent=True)

    def makefile(self, mode: str = "r", *args: Any, **kwargs: Any):
        if mode != "rb":
            return self._sock.makefile(mode, *args, **kwargs)
        self._readers += 1
        return io.BufferedReader(_GuardedReader(self))

    def reader_closed(self) -> None:
        self._readers -= 1
        if self._closed and self._readers <= 0:
            self._sock.close()

    def close(self) -> None:
        self._closed = True
        if self._readers <= 0:
            self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _GuardedReader(io.RawIOBase):
    def __init__(self, sock: _GuardedSocket):
        super().__init__()
        self._gsock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._gsock.recv_into(buffer)

    def close(self) -> None:
        if not self.closed:
            self._gsock.reader_closed()
        super().close()


class Stream:
    """An open response whose body the caller reads in chunks (downloads)."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse, url: str,
                 guard: Guard, done: Callable[[str], None],
                 keep: Optional[Callable[[http.client.HTTPConnection], None]] = None):
        self._conn = conn
        self._resp = resp
        self._guard = guard
        self._done = done
        self._keep = keep  # takes the connection back once the whole answer was read (a GET's)
        self.url = url
        self.status = resp.status
        self.reason = resp.reason
        self.headers = {k.lower(): v for k, v in resp.getheaders()}
        self._failed: Optional[str] = None

    def read(self, size: int = CHUNK) -> bytes:
        """Up to `size` bytes, whatever has arrived (read1: no waiting to fill the buffer);
        b"" at the end of the body, or when the peer closed early (callers check the length).
        NoResponse when the connection broke or the exchange broke a time rule."""
        try:
            chunk = self._resp.read1(size)
        except (OSError, http.client.HTTPException) as exc:
            self._failed = _describe(exc)
            raise NoResponse("connection lost while reading: %s" % self._failed, self.url) from None
        if not chunk and self._guard.broken:
            self._failed = self._guard.broken
            raise NoResponse("connection lost while reading: %s" % self._failed, self.url)
        return chunk

    def close(self) -> None:
        # Only an answer read to its end leaves the connection ready for the next request (read1 does
        # not mark a Content-Length body closed when it reaches the end: its length left is then 0).
        whole = self._resp.isclosed() or self._resp.length == 0
        reusable = (self._keep is not None and whole and not self._resp.will_close
                    and self._failed is None and not self._guard.broken)
        try:
            self._resp.close()
        finally:
            if reusable:
                self._keep(self._conn)
            else:
                self._conn.close()
            self._done("%d%s" % (self.status, " then " + self._failed if self._failed else ""))


TIMEOUT_ENV = "QWEN_HTTP_TIMEOUT"


def timeout_override(ctx: Context) -> Optional[float]:
    """QWEN_HTTP_TIMEOUT: seconds one socket operation may wait (connect, send, each read),
    which is also the budget of a whole JSON answer and the window of the minimum rate.

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


Observer = Callable[[str, str, int], None]


def trace_enabled(ctx: Context) -> bool:
    """QWEN_TRACE=1: one redacted stderr line per HTTP exchange (method, URL without its
    query, status, bytes, milliseconds); headers and bodies are never shown."""
    return (ctx.get(TRACE_ENV) or "").lower() in ("1", "true", "yes", "on")


class Transport:
    """HTTP exchanges. ``console`` (optional) carries the trace lines through its redactor;
    ``clock`` and ``min_rate`` set the time rules (tests shorten them)."""

    def __init__(self, ctx: Context, timeout: float = 60.0, console: Any = None,
                 clock: Callable[[], float] = time.monotonic, min_rate: float = MIN_RATE):
        self.ctx = ctx
        self.override = timeout_override(ctx)
        self.timeout = self.override or timeout
        self.clock = clock
        self.min_rate = min_rate
        self.console = console
        self.trace = trace_enabled(ctx)
        self._observers: List[Observer] = []
        self._ssl: Optional[ssl.SSLContext] = None
        self._proxy_env: Optional[Dict[str, str]] = None  # the *_proxy variables, lower-cased names
        # Idle kept-alive connections per (scheme, host, port): (connection, when it went idle).
        self._idle: Dict[tuple, List[tuple]] = {}
        self._idle_lock = threading.Lock()
        weakref.finalize(self, _close_idle, self._idle, self._idle_lock)

    # -- public API ---------------------------------------------------------------------
    def add_observer(self, observer: Observer) -> None:
        """``observer(method, url, status)`` for every answer, as its status line arrives and
        before any retry (batch pacing counts 429s with it)."""
        self._observers.append(observer)

    def request(self, method: str, url: str, headers: Optional[Dict[str, str]] = None,
                body: Body = None, length: Optional[int] = None, timeout: Optional[float] = None,
                progress: Optional[Callable[[int], None]] = None,
                limit: int = safe_json.ANSWER_LIMIT) -> Response:
        """One exchange whose whole answer must arrive within the operation's timeout.

        The body is read up to `limit` bytes; a larger one is not read on, and the Response
        says so (``unreadable``; ``json()`` is None)."""
        stream = self._exchange(method, url, headers, body, length, timeout, progress, whole=True)
        try:
            chunks = []
            size = 0
            while True:
                chunk = stream.read(min(CHUNK, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    return Response(stream.status, stream.reason, stream.headers, b"", url,
                                    unreadable="an answer larger than %d bytes" % limit)
            return Response(stream.status, stream.reason, stream.headers, b"".join(chunks), url)
        finally:
            stream.close()

    def open(self, method: str, url: str, headers: Optional[Dict[str, str]] = None,
             body: Body = None, length: Optional[int] = None, timeout: Optional[float] = None,
             progress: Optional[Callable[[int], None]] = None) -> Stream:
        """An exchange whose headers must arrive within the operation's timeout and whose body
        must then keep up min_rate bytes/s over each window of that length (downloads)."""
        return self._exchange(method, url, headers, body, length, timeout, progress, whole=False)

    def _exchange(self, method: str, url: str, headers: Optional[Dict[str, str]], body: Body,
                  length: Optional[int], timeout: Optional[float],
                  progress: Optional[Callable[[int], None]], whole: bool, fresh: bool = False) -> Stream:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Unsendable("%s is not an http(s) URL" % (("a %s:// URL" % parts.scheme) if parts.scheme
                                                             else "the URL"), url)
        limit = self.override or timeout or self.timeout
        guard = Guard(self.clock, limit)
        guard.until(limit)

        def done(outcome: str) -> None:
            self._trace(method, url, outcome, guard)

        try:
            key = (parts.scheme, parts.hostname, parts.port)
            reused = None if fresh or method not in REUSED_METHODS else self._take_idle(key)
            conn, target = self._connection(parts, limit, reused)
        except ValueError as exc:  # e.g. a port out of range
            raise Unsendable("invalid URL %s: %s" % (url, exc), url) from None

        def again(why: str) -> Stream:
            """A kept-alive connection the server closed before answering: the GET once more, on a new one."""
            conn.close()
            done("not answered on a reused connection (%s); sent again on a new one" % why)
            return self._exchange(method, url, headers, body, length, timeout, progress, whole, fresh=True)
        all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        all_headers.update(headers or {})
        if target.startswith("http://"):  # plain HTTP through a proxy: it needs the credentials
            all_headers.update(_proxy_auth(self._proxy_for(parts.scheme, parts.hostname)) or {})
        if isinstance(body, bytes):
            length = len(body)
        if length is not None:
            all_headers["Content-Length"] = str(length)
        try:
            if reused is None:
                conn.connect()
        except ssl.SSLError as exc:
            conn.close()
            done("not sent (TLS handshake failed)")
            raise TLSError("TLS handshake with %s failed: %s" % (parts.hostname, _describe(exc)), url) from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            done("not sent (%s)" % _describe(exc))
            proxy = self._proxy_for(parts.scheme, parts.hostname)
            if proxy is not None:  # the connection that failed was the proxy's: say so, without its password
                raise NotSent("could not connect to the proxy %s:%s (set for %s): %s" % (
                    proxy.hostname, proxy.port or 80, parts.hostname, _describe(exc)), url) from None
            raise NotSent("could not connect to %s: %s" % (parts.netloc, _describe(exc)), url) from None
        conn.sock = _GuardedSocket(conn.sock, guard)  # a kept connection holds its plain socket
        # putrequest/putheader only check and buffer: a value they refuse never left the machine.
        header = "the request line"
        try:
            conn.putrequest(method, target, skip_host=False, skip_accept_encoding=True)
            for name, value in all_headers.items():
                header = "header " + name
                conn.putheader(name, value)
        except (ValueError, UnicodeError, http.client.HTTPException) as exc:
            conn.close()
            done("not sent (unsendable)")
            # Never the exception's text: it quotes the header value (the API key, for Authorization).
            raise Unsendable("%s cannot be sent: it holds a character HTTP does not allow (%s)"
                             % (header, exc.__class__.__name__), url) from None
        try:
            conn.endheaders()
            self._send_body(conn, body, progress, guard, limit)
        except (OSError, http.client.HTTPException) as exc:
            if reused is not None and not guard.broken:
                return again(_describe(exc))
            conn.close()
            done("no answer (%s while sending)" % _describe(exc))
            raise NoResponse("connection lost while sending: %s" % _describe(exc), url) from None
        try:
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            if reused is not None and guard.received == 0 and not guard.broken:
                return again(_describe(exc))
            conn.close()
            done("no answer (%s)" % _describe(exc))
            raise NoResponse("no response: %s" % _describe(exc), url) from None
        if not whole:
            guard.at_least(self.min_rate, limit)
        keep = (lambda kept: self._give_idle(key, kept)) if method in REUSED_METHODS else None
        stream = Stream(conn, resp, url, guard, done, keep)
        try:
            for observer in list(self._observers):
                observer(method, url, resp.status)
        except BaseException:
            stream.close()
            raise
        return stream

    # -- internals ----------------------------------------------------------------------
    def _take_idle(self, key: tuple) -> Optional[http.client.HTTPConnection]:
        """The most recently idled connection to this host that is still open, or None. One the server
        closed (or sent something to unasked) is readable while idle, and is dropped here."""
        now = self.clock()
        with self._idle_lock:
            idle = self._idle.get(key) or []
            while idle:
                conn, since = idle.pop()
                if now - since <= IDLE_LIMIT and not _dropped(conn.sock):
                    return conn
                conn.close()
        return None

    def _give_idle(self, key: tuple, conn: http.client.HTTPConnection) -> None:
        conn.sock = conn.sock._sock  # the guard belonged to the exchange that ended
        with self._idle_lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < IDLE_PER_HOST:
                idle.append((conn, self.clock()))
                return
        conn.close()

    def _send_body(self, conn: http.client.HTTPConnection, body: Body, progress, guard: Guard,
                   limit: float) -> None:
        if body is None:
            return
        if isinstance(body, bytes):
            conn.send(body)
            if progress:
                progress(len(body))
            return
        # A streamed body (an upload) may take long: it is held to the minimum rate instead,
        # and the answer after it to the whole budget again.
        guard.at_least(self.min_rate, limit)
        for chunk in body:
            conn.send(chunk)
            if progress:
                progress(len(chunk))
        guard.until(limit)

    def _trace(self, method: str, url: str, outcome: str, guard: Guard) -> None:
        if not self.trace:
            return
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = "%s:%d" % (host, parts.port)
        line = "trace: %s %s://%s%s -> %s (sent %d B, received %d B, %d ms)" % (
            method, parts.scheme, host, parts.path or "/", outcome, guard.sent, guard.received,
            round((self.clock() - guard.started) * 1000))
        if self.console is not None:
            self.console.always(line)
        else:  # no console: the line holds no header, query or body, so nothing secret
            try:
                self.ctx.stderr.write(line + "\n")
                self.ctx.stderr.flush()
            except (OSError, ValueError):
                pass

    def _connection(self, parts, timeout: float, idle: Optional[http.client.HTTPConnection] = None):
        """(connection, request target): `idle` (a kept-alive one) when given, else a new one whose
        answers LeanResponse reads."""
        host, port = parts.hostname, parts.port
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        proxy = self._proxy_for(parts.scheme, host)
        if proxy and parts.scheme == "http":  # plain HTTP through a proxy: the absolute form
            target = "http://%s%s" % (parts.netloc, target)
        if idle is not None:
            return idle, target
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(proxy.hostname if proxy else host,
                                               (proxy.port or 80) if proxy else (port or 443), timeout=timeout,
                                               context=self._ssl_context())
            if proxy:
                conn.set_tunnel(host, port or 443, headers=_proxy_auth(proxy))
        elif proxy:
            conn = http.client.HTTPConnection(proxy.hostname, proxy.port or 80, timeout=timeout)
        else:
            conn = http.client.HTTPConnection(host, port or 80, timeout=timeout)
        conn.response_class = LeanResponse
        return conn, target

    def _proxy_for(self, scheme: str, host: str):
        if self._proxy_env is None:  # read once, at the first exchange (after .env was loaded)
            self._proxy_env = {k.lower(): v for k, v in self.ctx.environ.items()
                               if k.lower().endswith("_proxy") and v}
        env = self._proxy_env
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


def _dropped(sock) -> bool:
    """Whether an idle connection's socket is readable: the server closed it, or sent bytes nobody asked
    for (the connection is then unusable either way)."""
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):  # closed, or a descriptor select cannot watch: not reused
        return True


def _close_idle(idle: Dict[tuple, List[tuple]], lock: threading.Lock) -> None:
    with lock:
        kept = [conn for conns in idle.values() for conn, _ in conns]
        idle.clear()
    for conn in kept:
        conn.close()


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
    if isinstance(exc, TooSlow):
        return str(exc)
    text = str(exc) or exc.__class__.__name__
    return text
