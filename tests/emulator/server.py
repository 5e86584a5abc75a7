"""Local emulator of the DashScope (Model Studio) video API.

Facts come from /work/shared/reference/dashscope-api.md; comments name the
section ("doc 4.3" etc.).  Standard library only; does not import scripts/.

Choices where the doc leaves room (documented here once):
* Unknown model -> 400 InvalidParameter "Model not exist." (doc 4.3: no official 404).
* Unknown API path -> 404 {"code":"NotFound"}.
* Times in task bodies and the /tasks list window are UTC, or UTC+8 with ``zone_hours=8``
  (doc 4.2 / 6 do not fix a zone; clients must cope with both).
* A create without ``Content-Type: application/json`` -> 400 InvalidParameter (doc 2 says the
  header is required but documents no code for its absence; InvalidParameter is the closest).
* Late-failing tasks (doc 4.4) and script_task() tasks do not take concurrency slots.
* Non-object ``input`` -> synchronous 400 InvalidParameter.
"""
from __future__ import annotations

import base64
import copy
import datetime as _dt
import hashlib
import hmac
import io
import json
import os
import re
import socket
import struct
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple
from urllib.parse import parse_qsl, quote, urlsplit
from xml.sax.saxutils import escape as _xml_escape

from . import models as M
from .actions import Drip, Recorded, Reply, Reset, Stall, StoredObject, Task, Truncate
from .multipart import IncompleteBody, MultipartError, StreamingMultipart, boundary_of, parse_disposition

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "sample.mp4")
MIB = 1024 * 1024
RECORD_BODY_LIMIT = MIB          # uploads larger than this are recorded as b"" + size/sha256
OBJECT_DATA_LIMIT = 8 * MIB      # StoredObject.data is None above this
JSON_BODY_LIMIT = 64 * MIB
OSS_AK = "LTAItest"
_OSS_SECRET = b"emulator-oss-secret"
RESULT_TTL = 86400               # doc 4.2 / 6: video_url valid 24 h

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN")

# doc 4.3 messages
MSG_NO_KEY = "No API-key provided."
MSG_BAD_KEY = "Invalid API-key provided."
MSG_SYNC = "current user api does not support synchronous calls"
MSG_INVALID = "Required parameter(s) missing or invalid, please check the request parameters."
MSG_EMPTY_MODEL = 'Required parameter "model" missing from request.'
MSG_EMPTY_INPUT = "Required input parameter missing from request."
MSG_NO_MODEL = "Model not exist."
MSG_URL = "url error, please check url! For details, see: https://help.aliyun.com/zh/model-studio"
MSG_DATA_INSPECTION = "The media format is not supported or incorrect for the data inspection."
MSG_RATE = "Requests rate limit exceeded, please try again later."
MSG_UNPURCHASED = "Access to model denied. Please make sure you are eligible for using the model."
MSG_CANCEL = "Failed to cancel the task, please confirm if the task is in PENDING status."
# doc 4.3 / 5 [UPLOAD]: an oss:// URL the service cannot resolve for this model
MSG_OSS_URL = ("InternalError.Algo.InvalidParameter: The provided URL does not appear to be valid. "
               "Ensure it is correctly formatted.")
MSG_EMPTY_PARAMETERS = 'Required parameter "parameters" missing from request.'
MSG_INVALID_URL = "Invalid URL provided in your request."
MSG_ASYNC_REFUSED = "current user api does not support asynchronous calls"
MSG_NO_HUMAN = "The input image has no human body or face."  # wording not documented (new-models §3)
DETECT_MODEL = "wan2.2-s2v-detect"  # new-models §3: the synchronous portrait check before wan2.2-s2v


class _Resp:
    """A response to send: fixed bytes or a chunk iterator of known total length."""

    def __init__(self, status: int, headers: Optional[List[Tuple[str, str]]] = None, body: bytes = b"",
                 chunks: Optional[Callable[[], Iterator[bytes]]] = None, length: Optional[int] = None,
                 close: bool = False) -> None:
        self.status = status
        self.headers = headers or []
        self.body = body
        self.chunks = chunks
        self.length = len(body) if length is None else length
        self.close = close
        self.reason: Optional[str] = None  # a scripted reason phrase

    def iter_body(self) -> Iterator[bytes]:
        if self.chunks is not None:
            return self.chunks()
        return iter([self.body] if self.body else [])


def _json_resp(status: int, obj: Any, close: bool = False) -> _Resp:
    data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    return _Resp(status, [("Content-Type", "application/json;charset=UTF-8")], data, close=close)


def _rid() -> str:
    return str(uuid.uuid4())


def _err(status: int, code: str, message: str, close: bool = False) -> _Resp:
    # doc 4.3: every error body is {"code","message","request_id"}
    return _json_resp(status, {"code": code, "message": message, "request_id": _rid()}, close=close)


def _oss_err(status: int, code: str, message: str, close: bool = False) -> _Resp:
    # doc 5: OSS errors are XML
    rid = uuid.uuid4().hex[:24].upper()
    xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  <Code>%s</Code>\n  <Message>%s</Message>\n'
           '  <RequestId>%s</RequestId>\n  <HostId>dashscope-instant.oss-emulator.local</HostId>\n</Error>\n'
           % (_xml_escape(code), _xml_escape(message), rid))
    return _Resp(status, [("Content-Type", "application/xml"), ("x-oss-request-id", rid)],
                 xml.encode("utf-8"), close=close)


class _TaskState:
    def __init__(self, task_id: str, spec: M.ModelSpec, route: str, body: Dict[str, Any], created_at: float,
                 request_id: str) -> None:
        self.task_id = task_id
        self.spec = spec
        self.model = spec.name
        self.route = route
        self.body = body
        self.created_at = created_at
        self.request_id = request_id
        self.fail: Optional[Tuple[str, str]] = None
        self.script: Optional[List[str]] = None
        self.script_idx = 0
        self.script_status: Optional[str] = None
        self.slot_at: Optional[float] = None
        self.run_at: Optional[float] = None
        self.end_at: Optional[float] = None
        self.canceled_at: Optional[float] = None
        self.counted = False
        self.statuses: List[str] = []
        self.first_terminal_at: Optional[float] = None
        self.url: Optional[str] = None
        self.video_name = uuid.uuid4().hex
        self.sigs: Dict[str, float] = {}   # signature -> Expires (epoch)

    def release(self) -> float:
        if self.canceled_at is not None:
            return self.canceled_at
        return self.end_at if self.end_at is not None else float("inf")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, addr: Tuple[str, int], handler: type, emu: "Emulator") -> None:
        self.emu = emu
        self.conns: set = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, handler)

    def process_request(self, request, client_address):  # type: ignore[override]
        with self.conns_lock:
            self.conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # type: ignore[override]
        with self.conns_lock:
            self.conns.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        with self.conns_lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm the body of an answer on a
    # kept-alive connection would wait for the client's delayed ACK (40 ms), which a real server does not make it do.
    disable_nagle_algorithm = True
    server_version = "DashScopeEmulator/1.0"
    timeout = 120

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silenced
        pass

    def _go(self) -> None:
        self._emu_headers_sent = False
        self.server.emu._handle(self)  # type: ignore[attr-defined]

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _go


class _Abort(Exception):
    """Drop the connection without a response."""


class Emulator:
    def __init__(self, api_keys: Iterable[str] = ("sk-test-0123456789abcdef",), pending_seconds: float = 0.05,
                 run_seconds: float = 0.2, fail_seconds: float = 0.05, video_bytes: Optional[bytes] = None,
                 video_size: Optional[int] = None, serve_rate: Optional[float] = None,
                 max_file_size_mb: int = 100, policy_ttl: float = 300.0,
                 concurrency: Optional[Dict[str, int]] = None, submit_rps: Optional[Dict[str, float]] = None,
                 clock: Callable[[], float] = time.monotonic, port: int = 0, zone_hours: int = 0) -> None:
        self.api_keys = tuple(api_keys)
        self.pending_seconds = pending_seconds
        self.run_seconds = run_seconds
        self.fail_seconds = fail_seconds
        self.serve_rate = serve_rate
        self.max_file_size_mb = max_file_size_mb
        self.policy_ttl = policy_ttl
        self._concurrency = dict(concurrency or {})
        self._submit_rps = dict(submit_rps or {})
        self._clock = clock
        self._port = port
        self.activated_models: Optional[set] = None
        self.ignore_range = False
        self.zone_hours = zone_hours  # the zone of task times and of the /tasks window: 0 (UTC) or 8 (UTC+8)

        if video_bytes is None and video_size is None:
            with open(FIXTURE, "rb") as fh:
                video_bytes = fh.read()
        self._video_bytes = video_bytes
        self._video_size = video_size
        self._synth_prefix = b""
        self._synth_block = b""
        if video_bytes is None:
            self._init_synthetic(int(video_size or 0))

        self._lock = threading.RLock()
        self._stop_event = threading.Event()
        self._wall0 = time.time()
        self._clock0 = clock()
        self._requests: List[Recorded] = []
        self._tasks: Dict[str, _TaskState] = {}
        self._order: List[_TaskState] = []
        self._waiting: Dict[str, List[_TaskState]] = {}
        self._holders: Dict[str, List[_TaskState]] = {}
        self._slot_tasks: Dict[str, List[_TaskState]] = {}
        self._last_start: Dict[str, float] = {}
        self._max_seen: Dict[str, int] = {}
        self._submits: Dict[str, List[float]] = {}
        self._detects: List[float] = []
        self.faceless: set = set()  # image URLs the face check fails (check_pass false)
        self.no_human: set = set()  # image URLs it refuses with 400 InvalidFile.NoHuman
        self._scripts: List[Tuple[str, "re.Pattern[str]", List[Any]]] = []
        self._task_scripts: List[Tuple[List[str], Optional[str], Optional[str]]] = []
        self._policies: Dict[str, Dict[str, Any]] = {}
        self._objects: Dict[str, StoredObject] = {}
        self._expired_sigs: set = set()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "Emulator":
        if self._server is not None:
            return self
        self._stop_event.clear()
        self._server = _Server(("127.0.0.1", self._port), _Handler, self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="dashscope-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        srv = self._server
        if srv is None:
            return
        self._stop_event.set()        # releases Stall waits and throttled downloads
        srv.shutdown()
        srv.close_all()
        srv.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._server = None

    def drop_connections(self) -> None:
        """Close every open client connection (kept-alive idle ones too), as a server's idle timeout does."""
        if self._server is not None:
            self._server.close_all()

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "emulator not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    @property
    def base_url(self) -> str:
        return self.url + "/api/v1"

    # ------------------------------------------------------------ inspection
    @property
    def requests(self) -> List[Recorded]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, method: str, path_regex: str) -> List[Recorded]:
        rx = re.compile(path_regex)
        return [r for r in self.requests if r.method == method.upper() and rx.search(r.path)]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    @property
    def tasks(self) -> Dict[str, Task]:
        with self._lock:
            now = self._now()
            self._advance(now)
            out = {}
            for st in self._order:
                status = self._status(st, now, poll=False)
                out[st.task_id] = Task(
                    task_id=st.task_id, model=st.model, route=st.route, body=copy.deepcopy(st.body),
                    created_at=st.created_at, statuses=list(st.statuses),
                    final_status=status if status in TERMINAL else None, status=status,
                    request_id=st.request_id,
                    fail_code=st.fail[0] if st.fail else None, fail_message=st.fail[1] if st.fail else None)
            return out

    @property
    def objects(self) -> Dict[str, StoredObject]:
        with self._lock:
            return dict(self._objects)

    @property
    def max_concurrent_seen(self) -> Dict[str, int]:
        with self._lock:
            self._advance(self._now())
            return dict(self._max_seen)

    def created_count(self) -> int:
        with self._lock:
            return len(self._order)

    @property
    def video_length(self) -> int:
        return len(self._video_bytes) if self._video_bytes is not None else int(self._video_size or 0)

    def video_sha256(self) -> str:
        """sha256 of the full result video as served (streams the synthetic one)."""
        h = hashlib.sha256()
        for chunk in self._video_chunks(0, self.video_length):
            h.update(chunk)
        return h.hexdigest()

    # ------------------------------------------------------------ scripting
    def script(self, method: str, path_regex: str, *actions: Any) -> None:
        for a in actions:
            if not isinstance(a, (Reply, Reset, Stall, Truncate, Drip)):
                raise TypeError("unknown action %r" % (a,))
        with self._lock:
            self._scripts.append((method.upper(), re.compile(path_regex), list(actions)))

    def script_task(self, statuses: List[str], code: Optional[str] = None, message: Optional[str] = None) -> None:
        if not statuses:
            raise ValueError("statuses must not be empty")
        with self._lock:
            self._task_scripts.append((list(statuses), code, message))

    def expire_results(self) -> None:
        """Make every result URL issued so far expired (403 "Request has expired.")."""
        with self._lock:
            for st in self._order:
                self._expired_sigs.update(st.sigs)
                st.url = None

    def _pop_action(self, method: str, path: str) -> Optional[Any]:
        with self._lock:
            for i, (m, rx, acts) in enumerate(self._scripts):
                if (m == method or m == "*") and rx.search(path):
                    act = acts.pop(0)
                    if not acts:
                        del self._scripts[i]
                    return act
        return None

    # ------------------------------------------------------------ time
    def _now(self) -> float:
        return self._clock()

    def _wall(self, t: float) -> float:
        return self._wall0 + (t - self._clock0)

    def _zone(self) -> _dt.timezone:
        return _dt.timezone(_dt.timedelta(hours=self.zone_hours))

    def _fmt(self, t: Optional[float]) -> Optional[str]:
        # doc 4.2: "YYYY-MM-DD HH:mm:ss.SSS" (in the emulator's zone, UTC by default)
        if t is None:
            return None
        d = _dt.datetime.fromtimestamp(self._wall(t), tz=self._zone())
        return d.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (d.microsecond // 1000)

    # ------------------------------------------------------------ scheduler (doc 6 concurrency)
    def _limit(self, model: str, spec: M.ModelSpec) -> int:
        return int(self._concurrency.get(model, spec.concurrency))

    def _advance(self, now: float) -> None:
        """Assign concurrency slots FIFO per model up to ``now`` (lazy discrete-event simulation)."""
        for model, queue in self._waiting.items():
            holders = self._holders.setdefault(model, [])
            while queue:
                t = queue[0]
                if t.canceled_at is not None:
                    queue.pop(0)
                    continue
                limit = max(1, self._limit(model, t.spec))
                base = max(t.created_at, self._last_start.get(model, t.created_at))
                active = sorted(h.release() for h in holders if h.release() > base)
                start = base if len(active) < limit else active[len(active) - limit]
                if start > now:
                    break
                queue.pop(0)
                t.slot_at = start
                t.run_at = start + self.pending_seconds       # PENDING once it has a slot
                t.end_at = t.run_at + self.run_seconds          # then RUNNING
                self._last_start[model] = start
                holders.append(t)
                self._slot_tasks.setdefault(model, []).append(t)
                holders[:] = [h for h in holders if h.release() > start]
        # max_concurrent_seen: count RUNNING tasks at each start of RUNNING that has happened
        for model, lst in self._slot_tasks.items():
            for t in lst:
                if t.counted or t.run_at is None or t.run_at > now:
                    continue
                if t.canceled_at is not None and t.canceled_at <= t.run_at:
                    t.counted = True
                    continue
                t.counted = True
                n = sum(1 for h in lst if h.run_at is not None and h.run_at <= t.run_at < h.release()
                        and not (h.canceled_at is not None and h.canceled_at <= h.run_at))
                if n > self._max_seen.get(model, 0):
                    self._max_seen[model] = n

    def _status(self, st: _TaskState, now: float, poll: bool) -> str:
        if st.script is not None:
            if st.script_status == "CANCELED":
                return "CANCELED"
            if poll:
                s = st.script[min(st.script_idx, len(st.script) - 1)]
                st.script_idx += 1
                st.script_status = s
            elif st.script_status is None:
                s = st.script[0]
            else:
                s = st.script_status
            if s in TERMINAL and st.first_terminal_at is None and poll:
                st.first_terminal_at = now
            return s
        if st.canceled_at is not None:
            return "CANCELED"
        if st.fail is not None:
            return "FAILED" if now >= st.created_at + self.fail_seconds else "PENDING"
        if st.run_at is None or now < st.run_at:
            return "PENDING"
        if now < (st.end_at or 0):
            if st.spec.phases:  # new-models §4: the running time in three phases
                third = (st.end_at - st.run_at) / 3.0
                return "PRE-PROCESSING" if now < st.run_at + third else \
                    "RUNNING" if now < st.end_at - third else "POST-PROCESSING"
            return "RUNNING"
        return "SUCCEEDED"

    # ------------------------------------------------------------ request plumbing
    def _handle(self, h: _Handler) -> None:
        now = self._now()
        parts = urlsplit(h.path)
        path = parts.path
        rec = Recorded(method=h.command, path=path, query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                       headers={k.lower(): v for k, v in h.headers.items()}, body=b"", json=None, t=now,
                       connection=h.client_address[1])
        action = self._pop_action(h.command, path)
        if action is not None:
            rec.action = type(action).__name__
        try:
            if isinstance(action, Reset) and not action.after_body:
                self._record(rec)
                raise _Abort()
            if isinstance(action, Reply):
                if action.process:
                    self._route(h, rec, path)  # done for real; its answer is replaced
                else:
                    self._read_body(h, rec)
                self._record(rec)
                self._send(h, self._canned(action))
                return
            if isinstance(action, Stall) and not action.process:
                self._read_body(h, rec)
                self._record(rec)
                self._stop_event.wait(action.seconds)
                raise _Abort()
            resp = self._route(h, rec, path)
            self._record(rec)
            if isinstance(action, Reset):
                raise _Abort()
            if isinstance(action, Stall):
                if self._stop_event.wait(action.seconds):
                    raise _Abort()
            self._send(h, resp, truncate=action.nbytes if isinstance(action, Truncate) else None,
                       send_length=not isinstance(action, Truncate) or action.length,
                       drip=action if isinstance(action, Drip) else None)
        except _Abort:
            self._abort(h)
        except (ConnectionError, BrokenPipeError, socket.timeout, OSError):
            h.close_connection = True
        except Exception:  # an emulator bug: answer 500 (doc 4.3 InternalError) rather than hang
            if getattr(h, "_emu_headers_sent", False):
                self._abort(h)
                return
            try:
                self._send(h, _err(500, "InternalError", "An internal error has occured, please try again later "
                                                         "or contact service support.", close=True))
            except Exception:
                self._abort(h)

    def _record(self, rec: Recorded) -> None:
        with self._lock:
            self._requests.append(rec)

    def _abort(self, h: _Handler) -> None:
        h.close_connection = True
        try:
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            h.rfile.close()
        except OSError:
            pass
        try:
            h.connection.close()
        except OSError:
            pass

    def _canned(self, r: Reply) -> _Resp:
        headers = [(k, v) for k, v in (r.headers or {}).items()]
        if r.json is not None:
            body = json.dumps(r.json).encode("utf-8")
            ctype = r.content_type or "application/json;charset=UTF-8"
        else:
            body = r.body.encode("utf-8") if isinstance(r.body, str) else (r.body or b"")
            ctype = r.content_type or ("text/html; charset=utf-8" if body else None)
        if ctype and not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", ctype))
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        resp = _Resp(r.status, headers, body)
        resp.reason = r.reason
        return resp

    def _send(self, h: _Handler, resp: _Resp, truncate: Optional[int] = None, send_length: bool = True,
              drip: Optional[Drip] = None) -> None:
        real = h.wfile
        if drip is not None and not drip.body_only:
            h.wfile = io.BytesIO()  # the head is collected, then dripped too
        try:
            h.send_response(resp.status, resp.reason)
            for k, v in resp.headers:
                h.send_header(k, v)
            if send_length:
                h.send_header("Content-Length", str(resp.length))
            if resp.close or truncate is not None or drip is not None:
                h.send_header("Connection", "close")
                h.close_connection = True
            h.end_headers()
        finally:
            head, h.wfile = h.wfile, real
        h._emu_headers_sent = True  # type: ignore[attr-defined]
        if head is not real:
            self._drip(real, head.getvalue(), drip.every)
        written = 0
        rate = self.serve_rate if resp.chunks is not None else None
        t0 = time.monotonic()
        for chunk in resp.iter_body():
            if truncate is not None:
                chunk = chunk[:max(0, truncate - written)]
            if chunk and drip is not None:
                self._drip(h.wfile, chunk, drip.every)
                written += len(chunk)
            elif chunk:
                h.wfile.write(chunk)
                written += len(chunk)
            if truncate is not None and written >= truncate:
                break
            if rate:
                due = t0 + written / float(rate)
                delay = due - time.monotonic()
                if delay > 0 and self._stop_event.wait(delay):
                    raise _Abort()
            elif self._stop_event.is_set():
                raise _Abort()
        h.wfile.flush()
        if truncate is not None:
            # graceful FIN (not RST) so the client reads the partial body, then sees EOF
            try:
                h.connection.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _drip(self, out: Any, data: bytes, every: float) -> None:
        """One byte every `every` seconds (a slow-drip server); ends when the client goes away."""
        for index in range(len(data)):
            out.write(data[index:index + 1])
            out.flush()
            if self._stop_event.wait(every):
                raise _Abort()

    def _read_body(self, h: _Handler, rec: Recorded, limit: int = JSON_BODY_LIMIT) -> Optional[bytes]:
        """Read the whole body (Content-Length or chunked). Returns None if too large (drained)."""
        te = (h.headers.get("Transfer-Encoding") or "").lower()
        data = bytearray()
        too_large = False
        if "chunked" in te:
            while True:
                line = h.rfile.readline(65537)
                if not line:
                    raise ConnectionError("eof in chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while h.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunk = h.rfile.read(size)
                h.rfile.readline(3)
                if len(data) + len(chunk) > limit:
                    too_large = True
                else:
                    data += chunk
        else:
            n = int(h.headers.get("Content-Length") or 0)
            remaining = n
            while remaining > 0:
                chunk = h.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    raise ConnectionError("eof in body")
                remaining -= len(chunk)
                if len(data) + len(chunk) > limit:
                    too_large = True
                else:
                    data += chunk
        body = bytes(data)
        rec.body = body if len(body) <= RECORD_BODY_LIMIT else b""
        rec.body_size = len(body)
        rec.body_sha256 = hashlib.sha256(body).hexdigest()
        if body:
            try:
                rec.json = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                rec.json = None
        return None if too_large else body

    # ------------------------------------------------------------ routing
    def _route(self, h: _Handler, rec: Recorded, path: str) -> _Resp:
        method = h.command
        if path.startswith("/api/v1/"):
            sub = path[len("/api/v1"):]
            m = re.match(r"^/services/aigc/(video-generation|image2video)/video-synthesis/?$", sub)
            if m and method == "POST":
                return self._submit(h, rec, m.group(1))
            if re.match(r"^/services/aigc/image2video/face-detect/?$", sub) and method == "POST":
                return self._face_detect(h, rec)
            if sub in ("/tasks", "/tasks/") and method == "GET":
                self._read_body(h, rec)
                return self._list(rec)
            m = re.match(r"^/tasks/([^/]+)/cancel/?$", sub)
            if m and method == "POST":
                self._read_body(h, rec)
                return self._cancel(rec, m.group(1))
            m = re.match(r"^/tasks/([^/]+)/?$", sub)
            if m and method == "GET":
                self._read_body(h, rec)
                return self._get_task(rec, m.group(1))
            if sub in ("/uploads", "/uploads/") and method == "GET":
                self._read_body(h, rec)
                return self._get_policy(rec)
            self._read_body(h, rec)
            return _err(404, "NotFound", "Not Found")
        if path in ("/oss", "/oss/") and method == "POST":
            return self._upload(h, rec)
        m = re.match(r"^/results/([^/]+)/([^/]+)$", path)
        if m and method == "GET":
            self._read_body(h, rec)
            return self._download(rec, m.group(1), m.group(2))
        self._read_body(h, rec)
        return _err(404, "NotFound", "Not Found")

    def _auth(self, rec: Recorded) -> Optional[_Resp]:
        # doc 2 / 4.3: Authorization: Bearer <key>, else 401 InvalidApiKey
        auth = rec.headers.get("authorization", "").strip()
        if not auth:
            return _err(401, "InvalidApiKey", MSG_NO_KEY)
        m = re.match(r"^Bearer\s+(\S+)$", auth, re.I)
        if not m:
            return _err(401, "InvalidApiKey", MSG_NO_KEY if auth.lower() == "bearer" else MSG_BAD_KEY)
        if m.group(1) not in self.api_keys:
            return _err(401, "InvalidApiKey", MSG_BAD_KEY)
        return None

    # ------------------------------------------------------------ submit (doc 2, 3, 4.1, 4.3, 4.4)
    def _submit(self, h: _Handler, rec: Recorded, route: str) -> _Resp:
        bad = self._auth(rec)
        if bad:
            self._read_body(h, rec)
            return bad
        # doc 2: X-DashScope-Async: enable is required (403 AccessDenied inferred, doc 8.6)
        if rec.headers.get("x-dashscope-async", "").strip().lower() != "enable":
            self._read_body(h, rec)
            return _err(403, "AccessDenied", MSG_SYNC)
        raw = self._read_body(h, rec)
        if raw is None:
            return _err(413, "BadRequest.TooLarge", "Payload Too Large")  # doc 4.3
        # doc 2: Content-Type: application/json is required on the create call (code: see module doc)
        if rec.headers.get("content-type", "").split(";", 1)[0].strip().lower() != "application/json":
            return _err(400, "InvalidParameter", MSG_INVALID)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return _err(400, "InvalidParameter", MSG_INVALID)
        if not isinstance(body, dict):
            return _err(400, "InvalidParameter", MSG_INVALID)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _err(400, "BadRequest.EmptyModel", MSG_EMPTY_MODEL)
        if body.get("input") is None:
            return _err(400, "BadRequest.EmptyInput", MSG_EMPTY_INPUT)
        if not isinstance(body.get("input"), dict):
            return _err(400, "InvalidParameter", MSG_INVALID)
        # doc 4.3: BadRequest.EmptyParameters; every documented client sends at least {}
        if body.get("parameters") is None:
            return _err(400, "BadRequest.EmptyParameters", MSG_EMPTY_PARAMETERS)
        if not isinstance(body.get("parameters"), dict):
            return _err(400, "InvalidParameter", MSG_INVALID)
        spec = M.resolve_model(model)
        if spec is None:  # doc 4.3: no official 404; emulator picks 400 "Model not exist."
            return _err(400, "InvalidParameter", MSG_NO_MODEL)
        if spec.route != route:  # doc 2: kf2v only on image2video, others only on video-generation
            if spec.wrong_route is not None:  # doc 2 [FIELD]: the animate models on video-generation: 403
                return _err(*spec.wrong_route)
            return _err(400, "InvalidParameter", MSG_URL)
        # doc 3.3 / 4.3: media fields take an http(s) URL, an oss:// temporary URL or a data: URI;
        # anything else (a bare file name, a local path) is refused at once with InvalidURL
        if any(not M.is_url(u) for u in M.media_urls(body["input"])):
            return _err(400, "InvalidURL", MSG_INVALID_URL)
        oss_urls = [s for s in M.iter_strings(body) if s.startswith("oss://")]
        # doc 2 / 5: oss:// needs X-DashScope-OssResourceResolve: enable
        if oss_urls and rec.headers.get("x-dashscope-ossresourceresolve", "").strip().lower() != "enable":
            return _err(400, "InvalidParameter.DataInspection", MSG_DATA_INSPECTION)
        with self._lock:
            # doc 4.3 / 5 [UPLOAD]: a temporary object is bound to the model it was uploaded for;
            # one never uploaded, or uploaded for another model, is refused synchronously
            for u in oss_urls:
                obj = self._objects.get(u[len("oss://"):])
                if obj is None or obj.model != model:
                    return _err(400, "invalid_parameter_error", MSG_OSS_URL)
        now = self._now()
        with self._lock:
            # doc 6: submit RPS per model, sliding one-second window
            rps = float(self._submit_rps.get(model, spec.rps))
            win = [t for t in self._submits.get(model, []) if t > now - 1.0]
            if len(win) >= rps:
                self._submits[model] = win
                return _err(429, "Throttling.RateQuota", MSG_RATE)
            win.append(now)
            self._submits[model] = win
            # new-models §4: videoretalk refuses a submit while one of its tasks is unfinished
            if spec.busy_refused:
                self._advance(now)
                if any(t.model == model and self._status(t, now, poll=False) not in TERMINAL
                       for t in self._order):
                    return _err(429, "Throttling.RateQuota", MSG_RATE)
            # doc 4.3: 403 AccessDenied.Unpurchased
            if self.activated_models is not None and model not in self.activated_models:
                return _err(403, "AccessDenied.Unpurchased", MSG_UNPURCHASED)
            st = _TaskState(_rid(), spec, route, body, now, _rid())
            msg = M.validate(spec, body)  # doc 4.4 late validation
            if msg:
                st.fail = ("InvalidParameter", msg)
            if self._task_scripts:
                statuses, code, message = self._task_scripts.pop(0)
                st.script = statuses
                if statuses[-1] == "FAILED":
                    st.fail = (code or "InternalError.Algo",
                               message or "An internal error has occured during execution, please try again "
                                          "later or contact service support.")
                else:
                    st.fail = None
            self._tasks[st.task_id] = st
            self._order.append(st)
            if st.script is None and st.fail is None:
                self._waiting.setdefault(model, []).append(st)
                self._advance(now)
            return _json_resp(200, {"output": {"task_status": "PENDING", "task_id": st.task_id},
                                    "request_id": st.request_id})

    # ------------------------------------------------------------ face detect (new-models §3)
    def _face_detect(self, h: _Handler, rec: Recorded) -> _Resp:
        """Synchronous, unbilled, creates no task: output.check_pass for input.image_url. Logged in
        ``requests`` like every call. An image URL listed in ``faceless`` fails the check
        (check_pass false); one in ``no_human`` gets HTTP 400 InvalidFile.NoHuman; any other passes.
        Checked in this order: key, async header, body size, Content-Type, JSON, model, image_url,
        oss:// header and binding, 5 RPS, then the verdict."""
        bad = self._auth(rec)
        raw = self._read_body(h, rec)
        if bad:
            return bad
        # A sync-only endpoint given the async header: doc 2 [FIELD] recorded this exact case live as
        # 403 AccessDenied "current user api does not support asynchronous calls".
        if rec.headers.get("x-dashscope-async", "").strip().lower() == "enable":
            return _err(403, "AccessDenied", MSG_ASYNC_REFUSED)
        if raw is None:
            return _err(413, "BadRequest.TooLarge", "Payload Too Large")  # doc 4.3
        # doc 2: a POST body is JSON with Content-Type: application/json (as for the create)
        if rec.headers.get("content-type", "").split(";", 1)[0].strip().lower() != "application/json":
            return _err(400, "InvalidParameter", MSG_INVALID)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return _err(400, "InvalidParameter", MSG_INVALID)
        if not isinstance(body, dict):
            return _err(400, "InvalidParameter", MSG_INVALID)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _err(400, "BadRequest.EmptyModel", MSG_EMPTY_MODEL)
        if model != DETECT_MODEL:
            return _err(400, "InvalidParameter", MSG_NO_MODEL)
        inp = body.get("input")
        if inp is None:
            return _err(400, "BadRequest.EmptyInput", MSG_EMPTY_INPUT)
        image = inp.get("image_url") if isinstance(inp, dict) else None
        if not isinstance(image, str) or not M.is_url(image):
            return _err(400, "InvalidParameter", "Field required: input.image_url" if image is None else MSG_INVALID_URL)
        if image.startswith("oss://"):
            if rec.headers.get("x-dashscope-ossresourceresolve", "").strip().lower() != "enable":
                return _err(400, "InvalidParameter.DataInspection", MSG_DATA_INSPECTION)
            # doc 5: a temporary object is bound to the model it was uploaded for. The detect step
            # belongs to wan2.2-s2v, the portrait is then sent to it, and no upload policy is issued
            # for the detect id (not a catalogue model): the object must have been uploaded for
            # wan2.2-s2v. One never uploaded, or uploaded for another model, is refused.
            with self._lock:
                obj = self._objects.get(image[len("oss://"):])
            if obj is None or obj.model != "wan2.2-s2v":
                return _err(400, "invalid_parameter_error", MSG_OSS_URL)
        now = self._now()
        with self._lock:
            win = [t for t in self._detects if t > now - 1.0]
            if len(win) >= 5:  # new-models §3: detect 5 RPS
                self._detects = win
                return _err(429, "Throttling.RateQuota", MSG_RATE)
            self._detects = win + [now]
        if image in self.no_human:  # new-models §3 (id 57690501415): an unusable portrait
            return _err(400, "InvalidFile.NoHuman", MSG_NO_HUMAN)
        return _json_resp(200, {"output": {"check_pass": image not in self.faceless}, "request_id": _rid()})

    # ------------------------------------------------------------ query (doc 4.2)
    def _issue_url(self, st: _TaskState) -> str:
        if st.url is None:
            expires = int(self._wall(self._now())) + RESULT_TTL
            sig = base64.b64encode(os.urandom(20)).decode("ascii")
            st.sigs[sig] = expires
            st.url = "%s/results/%s/%s.mp4?Expires=%d&OSSAccessKeyId=%s&Signature=%s" % (
                self.url, st.task_id, st.video_name, expires, OSS_AK, quote(sig, safe=""))
        return st.url

    def _task_body(self, st: _TaskState, now: float, poll: bool) -> Dict[str, Any]:
        status = self._status(st, now, poll)
        if poll and (not st.statuses or st.statuses[-1] != status):
            st.statuses.append(status)
        out: Dict[str, Any] = {"task_id": st.task_id, "task_status": status,
                               "submit_time": self._fmt(st.created_at)}
        resp: Dict[str, Any] = {"request_id": _rid(), "output": out}
        if st.script is not None:
            sched = st.created_at if status != "PENDING" else None
            if status in TERMINAL:
                end = st.first_terminal_at or now
            else:
                end = None
        elif st.fail is not None:
            sched = st.created_at + self.fail_seconds if status == "FAILED" else None
            end = sched
        else:
            sched = st.run_at if st.run_at is not None and now >= st.run_at else None
            end = st.end_at if status == "SUCCEEDED" else (st.canceled_at if status == "CANCELED" else None)
        if sched is not None and status != "CANCELED":
            out["scheduled_time"] = self._fmt(sched)
        if end is not None:
            out["end_time"] = self._fmt(end)
        if status == "SUCCEEDED":
            prompt = st.body.get("input", {}).get("prompt") if isinstance(st.body.get("input"), dict) else None
            if st.spec.echoes_prompt:
                out["orig_prompt"] = prompt if isinstance(prompt, str) else ""
            if M.wants_actual_prompt(st.spec, st.body) and out.get("orig_prompt"):
                out["actual_prompt"] = out["orig_prompt"] + " (extended by emulator)"
            if st.spec.result == "results":  # new-models §7: animate, s2v
                out["results"] = {"video_url": self._issue_url(st)}
            elif st.spec.result == "output_video_url":  # style transform
                out["output_video_url"] = self._issue_url(st)
            else:
                out["video_url"] = self._issue_url(st)
            resp["usage"] = M.build_usage(st.spec, st.body)
        elif status == "FAILED":
            code, message = st.fail or ("InternalError", "An internal error has occured, please try again later "
                                                         "or contact service support.")
            out["code"] = code
            out["message"] = message
        return resp

    def _get_task(self, rec: Recorded, task_id: str) -> _Resp:
        bad = self._auth(rec)
        if bad:
            return bad
        with self._lock:
            now = self._now()
            self._advance(now)
            st = self._tasks.get(task_id)
            if st is None:  # doc 4.2: unknown id -> 200 UNKNOWN
                return _json_resp(200, {"request_id": _rid(),
                                        "output": {"task_id": task_id, "task_status": "UNKNOWN"}})
            return _json_resp(200, self._task_body(st, now, poll=True))

    # ------------------------------------------------------------ cancel (doc 6)
    def _cancel(self, rec: Recorded, task_id: str) -> _Resp:
        bad = self._auth(rec)
        if bad:
            return bad
        with self._lock:
            now = self._now()
            self._advance(now)
            st = self._tasks.get(task_id)
            if st is None or self._status(st, now, poll=False) != "PENDING":
                return _err(400, "UnsupportedOperation", MSG_CANCEL)
            if st.script is not None:
                st.script_status = "CANCELED"
            st.canceled_at = now
            st.fail = None if st.script is None else st.fail
            return _json_resp(200, {"request_id": _rid()})

    # ------------------------------------------------------------ list (doc 6)
    def _list(self, rec: Recorded) -> _Resp:
        bad = self._auth(rec)
        if bad:
            return bad
        q = rec.query

        def parse_t(v: str) -> Optional[float]:
            try:
                d = _dt.datetime.strptime(v, "%Y%m%d%H%M%S").replace(tzinfo=self._zone())
            except ValueError:
                return None
            return d.timestamp()

        with self._lock:
            now = self._now()
            self._advance(now)
            wall_now = self._wall(now)
            # start_time/end_time: YYYYMMDDhhmmss in the emulator's zone; default the last 24 h; window <= 24 h
            end = parse_t(q["end_time"]) if q.get("end_time") else None
            start = parse_t(q["start_time"]) if q.get("start_time") else None
            if (q.get("end_time") and end is None) or (q.get("start_time") and start is None):
                return _err(400, "InvalidParameter", "start_time/end_time must be formatted as YYYYMMDDhhmmss")
            if end is not None:
                end += 1.0  # the whole second named
            if end is None:
                end = wall_now + 1.0 if start is None else min(start + 86400.0, wall_now + 1.0)
            if start is None:
                start = end - 86400.0
            if end - start > 86400.0 + 1.0:
                return _err(400, "InvalidParameter", "The time range between start_time and end_time must not "
                                                     "exceed 24 hours.")
            try:
                page_no = int(q.get("page_no") or 1)
                page_size = int(q.get("page_size") or 10)
            except ValueError:
                return _err(400, "InvalidParameter", "page_no and page_size must be integers")
            if page_no < 1 or page_size < 1:
                return _err(400, "InvalidParameter", "page_no and page_size must be positive")
            items = []
            for st in reversed(self._order):  # newest first
                created = self._wall(st.created_at)
                if not start <= created < end:
                    continue
                if q.get("task_id") and q["task_id"] != st.task_id:
                    continue
                if q.get("model_name") and q["model_name"] != st.model:
                    continue
                status = self._status(st, now, poll=False)
                if q.get("status") and q["status"].upper() != status:
                    continue
                sched = None
                fin = None
                if st.script is None and st.fail is None:
                    sched = st.run_at if st.run_at is not None and now >= st.run_at else None
                    fin = st.end_at if status == "SUCCEEDED" else None
                elif status in TERMINAL:
                    sched = fin = st.created_at + (self.fail_seconds if st.script is None else 0)
                items.append({
                    "api_key_id": "emu-api-key-0", "caller_parent_id": "1000000000000001",
                    "caller_uid": "1000000000000001", "gmt_create": int(created * 1000),
                    "start_time": int(self._wall(sched) * 1000) if sched is not None else None,
                    "end_time": int(self._wall(fin) * 1000) if fin is not None else None,
                    "model_name": st.model, "region": "cn-beijing", "request_id": st.request_id,
                    "status": status, "task_id": st.task_id,
                    "user_api_unique_key": "apikey:v1:aigc:%s:video-synthesis:%s" % (st.route, st.model),
                })
            total = len(items)
            total_page = (total + page_size - 1) // page_size
            page = items[(page_no - 1) * page_size: page_no * page_size]
            return _json_resp(200, {"request_id": _rid(), "total": total, "total_page": total_page,
                                    "page_no": page_no, "page_size": page_size, "data": page})

    # ------------------------------------------------------------ getPolicy (doc 5.1)
    def _sign(self, policy_b64: str) -> str:
        return base64.b64encode(hmac.new(_OSS_SECRET, policy_b64.encode("ascii"), hashlib.sha1).digest()).decode()

    def _get_policy(self, rec: Recorded) -> _Resp:
        bad = self._auth(rec)
        if bad:
            return bad
        if rec.query.get("action") != "getPolicy":
            return _err(400, "InvalidParameter", "action must be getPolicy")
        model = rec.query.get("model")
        if not model:
            return _err(400, "BadRequest.EmptyModel", MSG_EMPTY_MODEL)
        spec = M.resolve_model(model)
        if spec is None:
            return _err(400, "InvalidParameter", MSG_NO_MODEL)
        if self.activated_models is not None and model not in self.activated_models:
            return _err(403, "AccessDenied.Unpurchased", MSG_UNPURCHASED)
        now = self._now()
        wall = self._wall(now)
        date = _dt.datetime.fromtimestamp(wall, tz=_dt.timezone.utc).strftime("%Y-%m-%d")
        upload_dir = "dashscope-instant/%s/%s/%s" % (uuid.uuid4().hex, date, uuid.uuid4().hex)
        max_bytes = int(self.max_file_size_mb * MIB)
        expiration = _dt.datetime.fromtimestamp(wall + self.policy_ttl, tz=_dt.timezone.utc)
        policy = {
            "expiration": expiration.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "conditions": [["content-length-range", 0, max_bytes], ["starts-with", "$key", upload_dir],
                           {"bucket": "dashscope-instant"}, {"x-oss-object-acl": "private"},
                           {"x-oss-forbid-overwrite": "true"}],
        }
        policy_b64 = base64.b64encode(json.dumps(policy, separators=(",", ":")).encode()).decode()
        with self._lock:
            self._policies[policy_b64] = {"model": model, "upload_dir": upload_dir, "expires_at": now + self.policy_ttl,
                                          "max_bytes": max_bytes}
        return _json_resp(200, {"request_id": _rid(), "data": {
            "policy": policy_b64, "signature": self._sign(policy_b64), "upload_dir": upload_dir,
            "upload_host": self.url + "/oss", "expire_in_seconds": int(self.policy_ttl),
            "max_file_size_mb": self.max_file_size_mb, "capacity_limit_mb": 999999999,
            "oss_access_key_id": OSS_AK, "x_oss_object_acl": "private", "x_oss_forbid_overwrite": "true"}})

    # ------------------------------------------------------------ OSS PostObject (doc 5.2)
    def _upload(self, h: _Handler, rec: Recorded) -> _Resp:
        if "chunked" in (h.headers.get("Transfer-Encoding") or "").lower() or h.headers.get("Content-Length") is None:
            if "chunked" in (h.headers.get("Transfer-Encoding") or "").lower():
                try:  # read the body first: answering early races the client's send (broken pipe)
                    self._read_body(h, rec, limit=RECORD_BODY_LIMIT)
                except (ConnectionError, ValueError, OSError):
                    pass
            return _oss_err(411, "MissingContentLength", "You must provide the Content-Length HTTP header.",
                            close=True)
        try:
            length = int(h.headers["Content-Length"])
        except ValueError:
            return _oss_err(400, "InvalidArgument", "Invalid Content-Length.", close=True)
        raw_hash = hashlib.sha256()
        head = bytearray()

        def on_raw(data: bytes) -> None:
            raw_hash.update(data)
            if len(head) <= RECORD_BODY_LIMIT:
                head.extend(data[:RECORD_BODY_LIMIT + 1 - len(head)])

        def finish_record() -> None:
            rec.body_size = length
            rec.body_sha256 = raw_hash.hexdigest()
            rec.body = bytes(head) if length <= RECORD_BODY_LIMIT else b""

        boundary = boundary_of(h.headers.get("Content-Type", ""))
        mp = StreamingMultipart(h.rfile, length, boundary or b"-", on_raw)
        if boundary is None:
            mp.drain()
            finish_record()
            return _oss_err(400, "InvalidArgument", "The Content-Type must be multipart/form-data with a boundary.")
        error: Optional[_Resp] = None
        fields: Dict[str, str] = {}
        stored: Optional[StoredObject] = None
        seen_file = False
        try:
            for pheaders, chunks in mp.parts():
                disp = parse_disposition(pheaders.get("content-disposition", ""))
                name = disp.get("name", "")
                if seen_file:
                    if error is None:
                        error = _oss_err(400, "InvalidArgument", "The file field must be the last field of the form.")
                    continue
                if name != "file":
                    value = b""
                    for c in chunks:
                        if len(value) + len(c) > 64 * 1024:
                            error = error or _oss_err(400, "InvalidArgument", "Form field %s is too large." % name)
                        else:
                            value += c
                    fields[name.lower()] = value.decode("utf-8", "replace")
                    continue
                seen_file = True
                info = None
                if error is None:
                    error, info = self._check_upload_fields(fields)
                if error is not None or info is None:
                    continue
                fh = hashlib.sha256()
                size = 0
                data: Optional[bytearray] = bytearray()
                for c in chunks:
                    size += len(c)
                    if size > info["max_bytes"]:
                        data = None
                        continue
                    fh.update(c)
                    if data is not None:
                        if size <= OBJECT_DATA_LIMIT:
                            data.extend(c)
                        else:
                            data = None
                if size > info["max_bytes"]:  # content-length-range of the policy
                    error = _oss_err(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.")
                    continue
                ctype = pheaders.get("content-type") or fields.get("x-oss-content-type") or fields.get("content-type")
                stored = StoredObject(key=fields["key"], size=size, sha256=fh.hexdigest(), content_type=ctype,
                                      data=bytes(data) if data is not None else None, model=info["model"])
        except IncompleteBody:
            finish_record()
            raise ConnectionError("client sent less than Content-Length")
        except MultipartError as exc:
            mp.drain()
            finish_record()
            return _oss_err(400, "MalformedPOSTRequest",
                            "The body of your POST request is not well-formed multipart/form-data. (%s)" % exc)
        finish_record()
        if error is not None:
            return error
        if not seen_file or stored is None:
            return _oss_err(400, "InvalidArgument", "The form must contain a file field.")
        with self._lock:
            if fields.get("x-oss-forbid-overwrite", "false").lower() == "true" and stored.key in self._objects:
                return _oss_err(409, "FileAlreadyExists",
                                "The object you specified already exists and can not be overwritten.")
            self._objects[stored.key] = stored
        status = fields.get("success_action_status", "204")
        rid = uuid.uuid4().hex[:24].upper()
        hdrs = [("x-oss-request-id", rid), ("ETag", '"%s"' % stored.sha256[:32].upper())]
        if status == "200":
            return _Resp(200, hdrs)
        if status == "201":
            xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse><Bucket>dashscope-instant</Bucket>'
                   '<Key>%s</Key><ETag>"%s"</ETag></PostResponse>' % (_xml_escape(stored.key), stored.sha256[:32]))
            return _Resp(201, hdrs + [("Content-Type", "application/xml")], xml.encode())
        return _Resp(204, hdrs)

    def _check_upload_fields(self, fields: Dict[str, str]) -> Tuple[Optional[_Resp], Optional[Dict[str, Any]]]:
        required = ["ossaccesskeyid", "signature", "policy", "key", "x-oss-object-acl", "x-oss-forbid-overwrite",
                    "success_action_status"]
        for name in required:
            if name not in fields:
                return _oss_err(400, "InvalidArgument", "Missing required form field: %s" % name), None
        if fields["ossaccesskeyid"] != OSS_AK:
            return _oss_err(403, "InvalidAccessKeyId",
                            "The OSS Access Key Id you provided does not exist in our records."), None
        with self._lock:
            info = self._policies.get(fields["policy"])
        if info is None or not hmac.compare_digest(self._sign(fields["policy"]), fields["signature"]):
            return _oss_err(403, "SignatureDoesNotMatch",
                            "The request signature we calculated does not match the signature you provided."), None
        if self._now() >= info["expires_at"]:
            return _oss_err(403, "AccessDenied", "Invalid according to Policy: Policy expired."), None
        if not fields["key"].startswith(info["upload_dir"] + "/") or fields["key"] == info["upload_dir"] + "/":
            return _oss_err(403, "AccessDenied", 'Invalid according to Policy: Policy Condition failed: '
                                                 '["starts-with", "$key", "%s"]' % info["upload_dir"]), None
        if fields["x-oss-forbid-overwrite"].lower() == "true":
            with self._lock:
                exists = fields["key"] in self._objects
            if exists:
                return _oss_err(409, "FileAlreadyExists",
                                "The object you specified already exists and can not be overwritten."), None
        return None, info

    # ------------------------------------------------------------ result download (doc 4.2)
    def _init_synthetic(self, size: int) -> None:
        # A minimal MP4 box layout (ftyp + one mdat spanning the rest) followed by a deterministic pattern.
        ftyp = struct.pack(">I4s4sI4s4s", 24, b"ftyp", b"isom", 512, b"isom", b"mp41")
        rest = size - len(ftyp)
        if rest >= 16 and rest >= 1 << 32:
            mdat = struct.pack(">I4sQ", 1, b"mdat", rest)
        elif rest >= 8:
            mdat = struct.pack(">I4s", rest, b"mdat")
        else:
            mdat = b""
        self._synth_prefix = (ftyp + mdat)[:size]
        block = bytearray()
        counter = 0
        while len(block) < 65537:
            block += hashlib.sha256(b"emulator-video-%d" % counter).digest()
            counter += 1
        self._synth_block = bytes(block[:65537])

    def _video_chunks(self, start: int, end_excl: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
        if self._video_bytes is not None:
            for off in range(start, end_excl, chunk):
                yield self._video_bytes[off:min(off + chunk, end_excl)]
            return
        pos = start
        prefix = self._synth_prefix
        block = self._synth_block
        blen = len(block)
        while pos < end_excl:
            if pos < len(prefix):
                piece = prefix[pos:min(len(prefix), end_excl)]
            else:
                rel = (pos - len(prefix)) % blen
                n = min(chunk, end_excl - pos)
                out = bytearray()
                while len(out) < n:
                    take = min(blen - rel, n - len(out))
                    out += block[rel:rel + take]
                    rel = 0
                piece = bytes(out)
            pos += len(piece)
            yield piece

    def _download(self, rec: Recorded, task_id: str, name: str) -> _Resp:
        q = rec.query
        with self._lock:
            st = self._tasks.get(task_id)
            if st is None or name != st.video_name + ".mp4":
                return _oss_err(404, "NoSuchKey", "The specified key does not exist.")
            sig = q.get("Signature")
            if not sig or "Expires" not in q or q.get("OSSAccessKeyId") != OSS_AK:
                return _oss_err(403, "AccessDenied", "AccessDenied: anonymous access is forbidden for this operation.")
            try:
                expires = int(q["Expires"])
            except ValueError:
                return _oss_err(403, "AccessDenied", "Request has expired.")
            if sig not in st.sigs:
                return _oss_err(403, "SignatureDoesNotMatch",
                                "The request signature we calculated does not match the signature you provided.")
            if sig in self._expired_sigs or expires < self._wall(self._now()):
                return _oss_err(403, "AccessDenied", "Request has expired.")
        total = self.video_length
        headers = [("Content-Type", "video/mp4"), ("Accept-Ranges", "bytes"),
                   ("ETag", '"%s"' % st.video_name.upper()), ("x-oss-request-id", uuid.uuid4().hex[:24].upper())]
        rng = rec.headers.get("range")
        if rng and not self.ignore_range:
            m = re.match(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", rng)
            if m and (m.group(1) or m.group(2)):
                if m.group(1):
                    first = int(m.group(1))
                    last = int(m.group(2)) if m.group(2) else total - 1
                else:  # suffix range bytes=-N
                    first = max(0, total - int(m.group(2)))
                    last = total - 1
                last = min(last, total - 1)
                if first >= total or first > last:
                    return _Resp(416, [("Content-Range", "bytes */%d" % total), ("Content-Type", "application/xml")],
                                 b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidRange</Code>'
                                 b'<Message>The requested range cannot be satisfied.</Message></Error>\n')
                headers.append(("Content-Range", "bytes %d-%d/%d" % (first, last, total)))
                return _Resp(206, headers, chunks=lambda: self._video_chunks(first, last + 1),
                             length=last - first + 1)
        return _Resp(200, headers, chunks=lambda: self._video_chunks(0, total), length=total)
