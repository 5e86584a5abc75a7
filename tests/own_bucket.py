"""A fake, path-style Alibaba Cloud OSS bucket on 127.0.0.1 for tests.

It checks V4 signatures the way OSS does, from the documented algorithm
(help.aliyun.com/zh/oss/developer-reference/recommend-to-use-signature-version-4
and .../add-signatures-to-urls).  The verifier is written here from the spec on
purpose and shares no code with ``qianwen_video.upload.oss_sign``: a test that signed
and verified with the same functions would pass whatever they computed.

Supported: ``PUT /<bucket>/<key>`` signed with an Authorization header, and
``GET /<bucket>/<key>`` signed with either the header or a presigned V4 query.
Failures answer 403 with an OSS-shaped XML error.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_SKEW = _dt.timedelta(minutes=15)  # OSS tolerates this much clock difference


def _pct_decode(text: str) -> str:
    """Undo %XX escapes (UTF-8).  ``+`` stays a plus: these are URIs, not forms."""
    data = text.encode("utf-8")
    raw = bytearray()
    i = 0
    while i < len(data):
        pair = data[i + 1:i + 3]
        if data[i] == 0x25 and len(pair) == 2 and all(c in _HEX for c in pair):
            raw.append(int(pair, 16))
            i += 3
        else:
            raw.append(data[i])
            i += 1
    return raw.decode("utf-8")


def _pct_encode(text: str, keep: bytes = b"") -> str:
    """RFC 3986 encoding of UTF-8 bytes: unreserved characters (and ``keep``) stay."""
    return "".join(
        chr(b) if b in _UNRESERVED or b in keep else "%%%02X" % b
        for b in text.encode("utf-8")
    )


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


class SignatureError(Exception):
    """An OSS error code and message, answered as 403 XML."""

    def __init__(self, code: str, message: str, status: int = 403):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class OwnBucket:
    """Context manager running the fake bucket; see the module docstring.

    ``objects`` maps key -> (size, sha256 hex, bytes or None when larger than
    ``keep_bytes_up_to``); ``requests`` records method, path, query, headers.
    """

    def __init__(
        self,
        access_key_id: str,
        access_key_secret: str,
        bucket: str = "test-bucket",
        region: str = "cn-beijing",
        clock: Optional[Callable[[], _dt.datetime]] = None,
        keep_bytes_up_to: int = 8 * 1024 * 1024,
    ):
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.bucket = bucket
        self.region = region
        self.clock = clock or (lambda: _dt.datetime.now(_dt.timezone.utc))
        self.keep_bytes_up_to = keep_bytes_up_to
        self.objects: dict = {}
        self.requests: list = []
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "use OwnBucket as a context manager"
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    def __enter__(self) -> "OwnBucket":
        owner = self

        class Handler(_Handler):
            bucket = owner

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval keeps shutdown (and so each test) fast.
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- verification, written from the spec ---------------------------------

    def _now(self) -> _dt.datetime:
        now = self.clock()
        return now if now.tzinfo else now.replace(tzinfo=_dt.timezone.utc)

    def _signature(self, method: str, path: str, query: list, headers: dict,
                   additional: list, timestamp: str) -> str:
        # CanonicalURI: the object's path (/bucket/key), decoded then re-encoded.
        canonical_uri = _pct_encode(_pct_decode(path), keep=b"/")
        # CanonicalQueryString: encoded names/values, sorted, bare name when empty.
        encoded = sorted(
            (_pct_encode(_pct_decode(k)), _pct_encode(_pct_decode(v)))
            for k, v in query if k != "x-oss-signature"
        )
        canonical_query = "&".join(k + "=" + v if v else k for k, v in encoded)
        # CanonicalHeaders: x-oss-*, content-type, content-md5 and AdditionalHeaders.
        names = sorted(
            n for n in headers
            if n.startswith("x-oss-") or n in ("content-type", "content-md5") or n in additional
        )
        canonical_headers = "".join("%s:%s\n" % (n, headers[n].strip()) for n in names)
        canonical_request = "\n".join([
            method, canonical_uri, canonical_query, canonical_headers,
            ";".join(additional), headers.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
        ])
        date = timestamp[:8]
        string_to_sign = "OSS4-HMAC-SHA256\n%s\n%s/%s/oss/aliyun_v4_request\n%s" % (
            timestamp, date, self.region,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest())
        key = _hmac(("aliyun_v4" + self.access_key_secret).encode("utf-8"), date)
        key = _hmac(_hmac(_hmac(key, self.region), "oss"), "aliyun_v4_request")
        return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()

    def _check_credential(self, credential: str, timestamp: str) -> None:
        """<AccessKeyId>/<date>/<region>/oss/aliyun_v4_request, for this bucket."""
        parts = credential.split("/")
        if len(parts) != 5 or parts[3:] != ["oss", "aliyun_v4_request"]:
            raise SignatureError("InvalidArgument", "Invalid credential: %s" % credential, 400)
        if parts[0] != self.access_key_id:
            raise SignatureError("InvalidAccessKeyId",
                                 "The OSS Access Key Id you provided does not exist in our records.")
        if parts[2] != self.region:
            raise SignatureError("InvalidArgument", "Invalid signing region in credential.", 400)
        if parts[1] != timestamp[:8]:
            raise SignatureError("InvalidArgument", "Credential date does not match x-oss-date.", 400)

    @staticmethod
    def _parse_time(value: str) -> _dt.datetime:
        try:
            return _dt.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=_dt.timezone.utc)
        except ValueError:
            raise SignatureError("AccessDenied", "Invalid x-oss-date: %r" % value) from None

    def verify(self, method: str, path: str, query: list, headers: dict) -> None:
        """Raise SignatureError unless the request carries a valid V4 signature."""
        params = dict(query)
        auth = headers.get("authorization")
        if auth is not None:
            algorithm, _, rest = auth.partition(" ")
            if algorithm != "OSS4-HMAC-SHA256":
                raise SignatureError("InvalidArgument", "Unsupported signature: %s" % algorithm, 400)
            fields = dict(item.strip().partition("=")[::2] for item in rest.split(","))
            additional = [h for h in fields.get("AdditionalHeaders", "").split(";") if h]
            provided = fields.get("Signature", "")
            timestamp = headers.get("x-oss-date", "")
            if "x-oss-content-sha256" not in headers:
                raise SignatureError("InvalidArgument", "Missing x-oss-content-sha256 header.", 400)
            self._check_credential(fields.get("Credential", ""), timestamp)
            signed_at = self._parse_time(timestamp)
            if abs(self._now() - signed_at) > _SKEW:
                raise SignatureError("RequestTimeTooSkewed",
                                     "The difference between the request time and the current time is too large.")
        elif params.get("x-oss-signature-version") == "OSS4-HMAC-SHA256":
            additional = [h for h in _pct_decode(params.get("x-oss-additional-headers", "")).split(";") if h]
            provided = params.get("x-oss-signature", "")
            timestamp = params.get("x-oss-date", "")
            self._check_credential(_pct_decode(params.get("x-oss-credential", "")), timestamp)
            signed_at = self._parse_time(timestamp)
            try:
                expires = int(params.get("x-oss-expires", ""))
            except ValueError:
                raise SignatureError("AccessDenied", "Invalid x-oss-expires.") from None
            now = self._now()
            if signed_at - now > _SKEW:
                raise SignatureError("AccessDenied", "Request is not yet valid.")
            if now > signed_at + _dt.timedelta(seconds=expires):
                raise SignatureError("AccessDenied", "Request has expired.")
        else:
            raise SignatureError("AccessDenied", "You have no right to access this object.")
        expected = self._signature(method, path, query, headers, additional, timestamp)
        if not hmac.compare_digest(expected, provided):
            raise SignatureError(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.")


class _Handler(BaseHTTPRequestHandler):
    bucket: OwnBucket  # set on the subclass made in OwnBucket.__enter__
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _parse(self):
        raw_path, _, raw_query = self.path.partition("?")
        query = [pair.partition("=")[::2] for pair in raw_query.split("&") if pair]
        headers = {k.lower(): v for k, v in self.headers.items()}
        with self.bucket._lock:
            self.bucket.requests.append({"method": self.command, "path": raw_path,
                                         "query": list(query), "headers": dict(headers)})
        return raw_path, query, headers

    def _object_key(self, raw_path: str) -> str:
        prefix = "/%s/" % self.bucket.bucket
        path = _pct_decode(raw_path)
        if not path.startswith(prefix) or len(path) == len(prefix):
            raise SignatureError("NoSuchBucket", "The specified bucket does not exist.", 404)
        return path[len(prefix):]

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-oss-request-id", self._request_id)
        self.end_headers()
        self.wfile.write(body)

    def _send_error(self, err: SignatureError) -> None:
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
               "<Message>%s</Message><RequestId>%s</RequestId></Error>"
               % (err.code, err.message, self._request_id))
        self._send(err.status, xml.encode("utf-8"), "application/xml")

    def _drain(self, length: int) -> None:
        """Read and drop a rejected body so the client can read our answer."""
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                break
            length -= len(chunk)

    def do_PUT(self) -> None:
        self._request_id = uuid.uuid4().hex.upper()[:24]
        raw_path, query, headers = self._parse()
        try:
            length = int(headers["content-length"])
        except (KeyError, ValueError):
            self.close_connection = True
            self._send_error(SignatureError("MissingContentLength",
                                            "You must provide the Content-Length HTTP header.", 411))
            return
        try:
            key = self._object_key(raw_path)
            self.bucket.verify("PUT", raw_path, query, headers)
        except SignatureError as err:
            self._drain(length)
            self._send_error(err)
            return
        digest = hashlib.sha256()
        kept = bytearray()
        size = 0
        while size < length:
            chunk = self.rfile.read(min(length - size, 65536))
            if not chunk:
                break
            size += len(chunk)
            digest.update(chunk)
            if size <= self.bucket.keep_bytes_up_to:
                kept += chunk
        data = bytes(kept) if size <= self.bucket.keep_bytes_up_to else None
        with self.bucket._lock:
            self.bucket.objects[key] = (size, digest.hexdigest(), data)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.send_header("ETag", '"%s"' % digest.hexdigest()[:32].upper())
        self.send_header("x-oss-request-id", self._request_id)
        self.end_headers()

    def do_GET(self) -> None:
        self._request_id = uuid.uuid4().hex.upper()[:24]
        raw_path, query, headers = self._parse()
        try:
            key = self._object_key(raw_path)
            self.bucket.verify("GET", raw_path, query, headers)
            with self.bucket._lock:
                stored = self.bucket.objects.get(key)
            if stored is None:
                raise SignatureError("NoSuchKey", "The specified key does not exist.", 404)
            if stored[2] is None:
                raise SignatureError("NotImplemented", "Object too large to keep in the fake.", 501)
        except SignatureError as err:
            self._send_error(err)
            return
        self._send(200, stored[2], "application/octet-stream")
