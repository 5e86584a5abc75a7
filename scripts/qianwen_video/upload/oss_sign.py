"""Alibaba Cloud OSS request signing with the standard library only.

Lets a user upload media to their own OSS bucket (signed PutObject) and hand
the model a presigned GET URL, without the ``oss2`` / ``alibabacloud-oss-v2``
packages.  Everything here is a pure function: no I/O, and the clock is passed
in as ``now`` so results are reproducible.

Specification followed (Alibaba Cloud OSS documentation):

* V4 header: "Include a V4 signature in the Authorization header",
  https://help.aliyun.com/zh/oss/developer-reference/recommend-to-use-signature-version-4
* V4 URL: "Include a V4 signature in a URL",
  https://help.aliyun.com/zh/oss/developer-reference/add-signatures-to-urls
* V1 header / URL: https://www.alibabacloud.com/help/doc-detail/31951.html and
  https://www.alibabacloud.com/help/doc-detail/31952.html

Where the prose leaves a detail open (sort order of encoded query names,
which headers are signed by default) the official SDKs'
``signer/v4.py`` (alibabacloud-oss-python-sdk-v2) and ``oss/signer/v4.go``
(alibabacloud-oss-go-sdk-v2) were followed; tests/test_oss_sign.py checks
their published known-answer vectors.
"""

from __future__ import annotations

import base64
import datetime as _dt
import email.utils
import hashlib
import hmac
import ipaddress
from typing import Iterable, Mapping, Optional
from urllib.parse import quote, urlsplit

V4_ALGORITHM = "OSS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # documented x-oss-expires upper bound

__all__ = [
    "V4_ALGORITHM",
    "UNSIGNED_PAYLOAD",
    "signing_region",
    "default_endpoint",
    "object_url",
    "sign_v4_headers",
    "presign_v4_url",
    "sign_v1_header",
    "presign_v1_url",
]


# --------------------------------------------------------------------------
# Endpoints and URLs
# --------------------------------------------------------------------------

def signing_region(region: str) -> str:
    """Region as used in the V4 scope: ``cn-hangzhou``, never ``oss-cn-hangzhou``.

    Users copy either form from the console, but a scope containing the
    ``oss-`` prefix makes OSS answer SignatureDoesNotMatch.
    """
    region = region.strip()
    return region[4:] if region.startswith("oss-") else region


def default_endpoint(region: str) -> str:
    """Public HTTPS endpoint of a region, e.g. ``https://oss-cn-hangzhou.aliyuncs.com``."""
    return "https://oss-%s.aliyuncs.com" % signing_region(region)


def _uri_encode(text: str, keep_slash: bool = False) -> str:
    """RFC 3986 percent-encoding of UTF-8 bytes as V4 requires.

    Only ``A-Z a-z 0-9 - _ . ~`` stay literal (``quote`` keeps ``~`` since
    Python 3.7); a space becomes ``%20`` and ``+`` becomes ``%2B``.
    """
    return quote(text, safe="/" if keep_slash else "")


def _split_endpoint(endpoint: str) -> tuple[str, str]:
    """(scheme, netloc) of an endpoint given with or without a scheme."""
    if "://" not in endpoint:
        endpoint = "https://" + endpoint
    parts = urlsplit(endpoint)
    if not parts.netloc:
        raise ValueError("invalid OSS endpoint: %r" % endpoint)
    return parts.scheme, parts.netloc


def _needs_path_style(netloc: str) -> bool:
    """IP and localhost endpoints cannot carry a bucket sub-domain, as in the SDKs."""
    host = urlsplit("//" + netloc).hostname or ""
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def object_url(endpoint: str, bucket: str, key: str, path_style: bool = False) -> str:
    """URL of an object, without query.

    Virtual-hosted style (``https://<bucket>.oss-<region>.aliyuncs.com/<key>``)
    is what OSS expects; path style (``<endpoint>/<bucket>/<key>``) is used when
    asked for or when the endpoint host is an IP address or ``localhost``.
    """
    scheme, netloc = _split_endpoint(endpoint)
    path = _uri_encode(key, keep_slash=True)
    if path_style or _needs_path_style(netloc):
        return "%s://%s/%s/%s" % (scheme, netloc, bucket, path)
    return "%s://%s.%s/%s" % (scheme, bucket, netloc, path)


# --------------------------------------------------------------------------
# V4 (OSS4-HMAC-SHA256)
# --------------------------------------------------------------------------

def _utc(now: _dt.datetime) -> _dt.datetime:
    """Aware UTC datetime; a naive ``now`` is taken to be UTC already."""
    if now.tzinfo is None:
        return now.replace(tzinfo=_dt.timezone.utc)
    return now.astimezone(_dt.timezone.utc)


def _is_default_signed(name: str) -> bool:
    """Headers V4 always signs when present: ``x-oss-*``, content-type, content-md5."""
    return name.startswith("x-oss-") or name in ("content-type", "content-md5")


def _lower_headers(headers: Optional[Mapping[str, str]]) -> dict[str, str]:
    return {k.lower(): str(v) for k, v in (headers or {}).items()}


def _additional_header_names(
    headers: Mapping[str, str], additional_headers: Iterable[str]
) -> list[str]:
    """Sorted, lower-case AdditionalHeaders: only present, non-default ones count."""
    names = set()
    for name in additional_headers:
        low = name.lower()
        if not _is_default_signed(low) and headers.get(low, ""):
            names.add(low)
    return sorted(names)


def _canonical_query(query: Mapping[str, Optional[str]]) -> str:
    """Names and values encoded, sorted by encoded name; empty values drop the ``=``."""
    pairs = sorted(
        (_uri_encode(str(k)), _uri_encode(str(v)) if v not in (None, "") else "")
        for k, v in query.items()
    )
    return "&".join(k + "=" + v if v else k for k, v in pairs)


def _v4_signature(
    method: str,
    bucket: str,
    key: str,
    region: str,
    secret: str,
    timestamp: str,
    canonical_query: str,
    headers: Mapping[str, str],
    additional: list[str],
) -> str:
    """Hex signature over the canonical request, as both SDKs compute it."""
    canonical_uri = _uri_encode("/%s/%s" % (bucket, key), keep_slash=True)
    signed = sorted(
        (name, value.strip())
        for name, value in headers.items()
        if _is_default_signed(name) or name in additional
    )
    canonical_headers = "".join("%s:%s\n" % item for item in signed)
    canonical_request = "\n".join([
        method.upper(),
        canonical_uri,
        canonical_query,
        canonical_headers,
        ";".join(additional),
        headers.get("x-oss-content-sha256", UNSIGNED_PAYLOAD),
    ])
    date = timestamp[:8]
    scope = "%s/%s/oss/aliyun_v4_request" % (date, region)
    string_to_sign = "\n".join([
        V4_ALGORITHM,
        timestamp,
        scope,
        hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
    ])
    signing_key = ("aliyun_v4" + secret).encode("utf-8")
    for part in (date, region, "oss", "aliyun_v4_request"):
        signing_key = hmac.new(signing_key, part.encode("utf-8"), hashlib.sha256).digest()
    return hmac.new(signing_key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_v4_headers(
    method: str,
    bucket: str,
    key: str,
    region: str,
    access_key_id: str,
    access_key_secret: str,
    *,
    now: _dt.datetime,
    headers: Optional[Mapping[str, str]] = None,
    query: Optional[Mapping[str, Optional[str]]] = None,
    security_token: Optional[str] = None,
    additional_headers: Iterable[str] = (),
) -> dict[str, str]:
    """Headers to add to a request so OSS accepts it (V4 Authorization header).

    ``headers`` are the ones the request will really carry: every ``x-oss-*``,
    ``Content-Type`` and ``Content-MD5`` among them is signed, so they must be
    sent exactly as given (``urllib`` invents a Content-Type for bodies when
    none is set, which would then break the signature).  ``query`` holds the
    raw, unencoded query parameters.  The payload is not hashed
    (``UNSIGNED-PAYLOAD``), so a large file can be streamed.
    """
    region = signing_region(region)
    timestamp = _utc(now).strftime("%Y%m%dT%H%M%SZ")
    added = {"x-oss-date": timestamp, "x-oss-content-sha256": UNSIGNED_PAYLOAD}
    if security_token:
        added["x-oss-security-token"] = security_token
    all_headers = _lower_headers(headers)
    all_headers.update(added)
    additional = _additional_header_names(all_headers, additional_headers)
    signature = _v4_signature(method, bucket, key, region, access_key_secret, timestamp,
                              _canonical_query(query or {}), all_headers, additional)
    auth = "%s Credential=%s/%s/%s/oss/aliyun_v4_request" % (
        V4_ALGORITHM, access_key_id, timestamp[:8], region)
    if additional:
        auth += ",AdditionalHeaders=" + ";".join(additional)
    added["Authorization"] = auth + ",Signature=" + signature
    return added


def presign_v4_url(
    method: str,
    endpoint: str,
    bucket: str,
    key: str,
    region: str,
    access_key_id: str,
    access_key_secret: str,
    *,
    now: _dt.datetime,
    expires_seconds: int,
    security_token: Optional[str] = None,
    path_style: bool = False,
    query: Optional[Mapping[str, Optional[str]]] = None,
    headers: Optional[Mapping[str, str]] = None,
    additional_headers: Iterable[str] = (),
) -> str:
    """A V4 presigned URL valid for ``expires_seconds`` (1 s to 7 days) from ``now``.

    Whoever holds the URL can perform ``method`` on the object until it
    expires, so keep the lifetime short.  ``headers`` only matter if the
    eventual request will send signed headers (e.g. Content-Type on a PUT).
    """
    if not 1 <= int(expires_seconds) <= MAX_PRESIGN_SECONDS:
        raise ValueError("expires_seconds must be between 1 and %d" % MAX_PRESIGN_SECONDS)
    region = signing_region(region)
    timestamp = _utc(now).strftime("%Y%m%dT%H%M%SZ")
    all_headers = _lower_headers(headers)
    additional = _additional_header_names(all_headers, additional_headers)
    params = dict(query or {})
    params.update({
        "x-oss-signature-version": V4_ALGORITHM,
        "x-oss-date": timestamp,
        "x-oss-expires": str(int(expires_seconds)),
        "x-oss-credential": "%s/%s/%s/oss/aliyun_v4_request" % (
            access_key_id, timestamp[:8], region),
    })
    if security_token:
        params["x-oss-security-token"] = security_token
    if additional:
        params["x-oss-additional-headers"] = ";".join(additional)
    canonical_query = _canonical_query(params)
    signature = _v4_signature(method, bucket, key, region, access_key_secret, timestamp,
                              canonical_query, all_headers, additional)
    return "%s?%s&x-oss-signature=%s" % (
        object_url(endpoint, bucket, key, path_style), canonical_query, signature)


# --------------------------------------------------------------------------
# V1 (HMAC-SHA1), kept for buckets or proxies that still expect it
# --------------------------------------------------------------------------

def _v1_signature(secret: str, verb: str, headers: Mapping[str, str], date_or_expires: str,
                  resource: str) -> str:
    """base64(HMAC-SHA1(secret, VERB, Content-MD5, Content-Type, Date, x-oss-*, resource))."""
    oss_headers = "".join(
        "%s:%s\n" % (name, value.strip())
        for name, value in sorted(headers.items())
        if name.startswith("x-oss-")
    )
    string_to_sign = "%s\n%s\n%s\n%s\n%s%s" % (
        verb.upper(), headers.get("content-md5", ""), headers.get("content-type", ""),
        date_or_expires, oss_headers, resource)
    digest = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"),
                      hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_v1_header(
    method: str,
    bucket: str,
    key: str,
    access_key_id: str,
    access_key_secret: str,
    *,
    now: _dt.datetime,
    headers: Optional[Mapping[str, str]] = None,
    security_token: Optional[str] = None,
) -> dict[str, str]:
    """``Date`` and ``Authorization: OSS <AK>:<sig>`` headers for a V1-signed request.

    The canonical resource is ``/<bucket>/<key>`` unencoded, as V1 specifies.
    """
    added = {"Date": email.utils.format_datetime(_utc(now), usegmt=True)}
    if security_token:
        added["x-oss-security-token"] = security_token
    all_headers = _lower_headers(headers)
    all_headers.update({k.lower(): v for k, v in added.items()})
    signature = _v1_signature(access_key_secret, method, all_headers, added["Date"],
                              "/%s/%s" % (bucket, key))
    added["Authorization"] = "OSS %s:%s" % (access_key_id, signature)
    return added


def presign_v1_url(
    method: str,
    endpoint: str,
    bucket: str,
    key: str,
    access_key_id: str,
    access_key_secret: str,
    *,
    now: _dt.datetime,
    expires_seconds: int,
    security_token: Optional[str] = None,
    path_style: bool = False,
) -> str:
    """A V1 presigned URL (``OSSAccessKeyId``, ``Expires``, ``Signature``).

    ``Expires`` is the absolute Unix time ``now + expires_seconds``; an STS
    token is appended as ``security-token`` and signed as a sub-resource.
    """
    expires = str(int(_utc(now).timestamp()) + int(expires_seconds))
    resource = "/%s/%s" % (bucket, key)
    if security_token:
        resource += "?security-token=" + security_token
    signature = _v1_signature(access_key_secret, method, {}, expires, resource)
    url = "%s?OSSAccessKeyId=%s&Expires=%s&Signature=%s" % (
        object_url(endpoint, bucket, key, path_style), _uri_encode(access_key_id), expires,
        _uri_encode(signature))
    if security_token:
        url += "&security-token=" + _uri_encode(security_token)
    return url
