"""Upload local files to the user's own Alibaba Cloud OSS bucket, standard library only.

Chosen when QWEN_TMP_OSS_BUCKET is set (upstream-skill.md §3.8). Each file goes up as one
V4-signed PutObject, streamed from disk with an exact Content-Length, and the model gets
a presigned GET URL (https, valid QWEN_TMP_OSS_URL_EXPIRES seconds). DashScope's upload
policy is never fetched and no oss:// URL is produced, so the create call does not need
X-DashScope-OssResourceResolve.

Variables:
  QWEN_TMP_OSS_BUCKET        bucket name (switches this path on)
  QWEN_TMP_OSS_REGION        region, e.g. cn-beijing (required)
  QWEN_TMP_OSS_AK_ID / QWEN_TMP_OSS_AK_SECRET      credentials, else
  OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET (+ optional OSS_SESSION_TOKEN for STS)
  QWEN_TMP_OSS_ENDPOINT      default https://oss-<region>.aliyuncs.com
  QWEN_TMP_OSS_PREFIX        default qianwen-skill-uploads
  QWEN_TMP_OSS_URL_EXPIRES   presigned URL lifetime in seconds, default 86400 (max 604800)

A missing or malformed variable is a usage error (exit 64) naming the variable; nothing is
sent. The secret and the session token are registered with the console's redactor, so they
never reach stdout, stderr or the saved files.
"""
from __future__ import annotations

import datetime as _dt
import mimetypes
import uuid
from dataclasses import dataclass
from typing import Iterator, List, Optional
from urllib.parse import quote, urlsplit

from . import oss_sign
from ..console import Console
from ..context import Context
from ..errors import ApiError, UsageError
from ..media import LocalFile
from ..net import retry
from ..net.transport import Transport, TransportError
from .temp_storage import Progress, oss_message, file_chunks, run_bounded, safe_name

DEFAULT_PREFIX = "qianwen-skill-uploads"
DEFAULT_EXPIRES = 86400
PUT_OBJECT_MAX = 5 * 1024 ** 3  # OSS PutObject limit: 5 GiB
SETTING_VARIABLES = ("QWEN_TMP_OSS_REGION", "QWEN_TMP_OSS_ENDPOINT", "QWEN_TMP_OSS_AK_ID",
                     "QWEN_TMP_OSS_AK_SECRET", "QWEN_TMP_OSS_PREFIX", "QWEN_TMP_OSS_URL_EXPIRES")


@dataclass(frozen=True)
class Settings:
    bucket: str
    region: str
    endpoint: str
    access_key_id: str
    access_key_secret: str
    security_token: Optional[str]
    prefix: str
    expires: int
    credential_source: str  # which variables supplied the key pair, for messages


def _missing(variable: str, why: str) -> UsageError:
    return UsageError("%s is required when QWEN_TMP_OSS_BUCKET is set (%s); nothing was uploaded"
                      % (variable, why),
                      hint="set %s, or unset QWEN_TMP_OSS_BUCKET to use DashScope temporary storage "
                           "(exit 64: a configuration problem)" % variable)


def settings(ctx: Context) -> Optional[Settings]:
    """The own-bucket configuration, None when QWEN_TMP_OSS_BUCKET is unset.

    Raises UsageError (exit 64) naming the variable that is missing or malformed.
    """
    bucket = ctx.get("QWEN_TMP_OSS_BUCKET")
    if not bucket:
        return None
    region = ctx.get("QWEN_TMP_OSS_REGION")
    if not region:
        raise _missing("QWEN_TMP_OSS_REGION", "the V4 signature is scoped to a region, e.g. cn-beijing")
    ak_id, ak_secret = ctx.get("QWEN_TMP_OSS_AK_ID"), ctx.get("QWEN_TMP_OSS_AK_SECRET")
    token = None
    if ak_id or ak_secret:
        if not ak_id:
            raise _missing("QWEN_TMP_OSS_AK_ID", "QWEN_TMP_OSS_AK_SECRET is set without its key id")
        if not ak_secret:
            raise _missing("QWEN_TMP_OSS_AK_SECRET", "QWEN_TMP_OSS_AK_ID is set without its secret")
        source = "QWEN_TMP_OSS_AK_ID/QWEN_TMP_OSS_AK_SECRET"
    else:
        ak_id, ak_secret = ctx.get("OSS_ACCESS_KEY_ID"), ctx.get("OSS_ACCESS_KEY_SECRET")
        if not ak_id and not ak_secret:
            raise UsageError("OSS credentials not found: QWEN_TMP_OSS_BUCKET is set but neither "
                             "QWEN_TMP_OSS_AK_ID/QWEN_TMP_OSS_AK_SECRET nor OSS_ACCESS_KEY_ID/"
                             "OSS_ACCESS_KEY_SECRET is set; nothing was uploaded",
                             hint="set QWEN_TMP_OSS_AK_ID and QWEN_TMP_OSS_AK_SECRET (a RAM user allowed "
                                  "oss:PutObject and oss:GetObject on the bucket) (exit 64)")
        if not ak_id:
            raise _missing("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET is set without its key id")
        if not ak_secret:
            raise _missing("OSS_ACCESS_KEY_SECRET", "OSS_ACCESS_KEY_ID is set without its secret")
        token = ctx.get("OSS_SESSION_TOKEN")  # STS triple: goes with the OSS_ACCESS_KEY_* pair
        source = "OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET"
    endpoint = ctx.get("QWEN_TMP_OSS_ENDPOINT") or oss_sign.default_endpoint(region)
    if "://" not in endpoint:
        endpoint = "https://" + endpoint
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise UsageError("QWEN_TMP_OSS_ENDPOINT must be an OSS endpoint such as "
                         "https://oss-cn-beijing.aliyuncs.com, got %r" % endpoint,
                         hint="give the region endpoint without the bucket or a path (exit 64)")
    raw_expires = ctx.get("QWEN_TMP_OSS_URL_EXPIRES")
    try:
        expires = int(raw_expires) if raw_expires else DEFAULT_EXPIRES
    except ValueError:
        expires = 0
    if not 1 <= expires <= oss_sign.MAX_PRESIGN_SECONDS:
        raise UsageError("QWEN_TMP_OSS_URL_EXPIRES must be whole seconds from 1 to %d, got %r"
                         % (oss_sign.MAX_PRESIGN_SECONDS, raw_expires),
                         hint="the default is 86400 (24 h); the task only needs the URL until it starts (exit 64)")
    prefix = (ctx.get("QWEN_TMP_OSS_PREFIX") or DEFAULT_PREFIX).strip("/")
    return Settings(bucket=bucket, region=oss_sign.signing_region(region), endpoint=endpoint.rstrip("/"),
                    access_key_id=ak_id, access_key_secret=ak_secret, security_token=token,
                    prefix=prefix, expires=expires, credential_source=source)


def stray_settings(ctx: Context) -> List[str]:
    """Own-bucket variables that are set while QWEN_TMP_OSS_BUCKET is not (they do nothing)."""
    if ctx.get("QWEN_TMP_OSS_BUCKET"):
        return []
    return [name for name in SETTING_VARIABLES if ctx.get(name)]


class OwnBucket:
    """Signed PutObject per file, then a presigned GET URL for the model."""

    def __init__(self, transport: Transport, console: Console, config: Settings):
        self.transport = transport  # no DashScope client: the DashScope key is never sent here
        self.console = console
        self.config = config
        console.redactor.add(config.access_key_secret, config.security_token,
                             quote(config.security_token, safe="") if config.security_token else None)
        self._progress: Optional[Progress] = None

    def _now(self) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(self.transport.ctx.wall_clock(), tz=_dt.timezone.utc)

    def key_for(self, item: LocalFile) -> str:
        day = self._now().strftime("%Y%m%d")
        return "%s/%s/%s_%s" % (self.config.prefix, day, uuid.uuid4().hex[:12], safe_name(item.path.name))

    def upload_all(self, files: List[LocalFile]) -> List[str]:
        too_big = [f for f in files if f.path.stat().st_size > PUT_OBJECT_MAX]
        if too_big:
            raise UsageError("; ".join("%s: file is %.1f GB, over the 5 GB single PutObject limit: %s"
                                       % (f.ref.label, f.path.stat().st_size / 1024.0 ** 3, f.path)
                                       for f in too_big),
                             hint="compress or trim the file")
        self._progress = Progress(self.console, files)
        try:
            return run_bounded(self.upload, files)
        finally:
            self._progress.done()

    def upload(self, item: LocalFile) -> str:
        cfg = self.config
        key = self.key_for(item)
        size = item.path.stat().st_size
        mime = mimetypes.guess_type(item.path.name)[0] or "application/octet-stream"
        headers = {"Content-Type": mime}
        # Signed once: the retry budget (60 s) is far inside OSS's 15 min clock tolerance.
        headers.update(oss_sign.sign_v4_headers("PUT", cfg.bucket, key, cfg.region, cfg.access_key_id,
                                                cfg.access_key_secret, now=self._now(), headers=headers,
                                                security_token=cfg.security_token))
        url = oss_sign.object_url(cfg.endpoint, cfg.bucket, key)
        progress = self._progress or Progress(self.console, [item])

        def attempt() -> Iterator[bytes]:
            progress.restart(item)
            return file_chunks(item.path)

        try:
            resp = retry.call(self.transport, "upload", "PUT", url, headers, body_factory=attempt, length=size,
                              timeout=300.0, progress=progress.callback(item), say=self.console.info)
        except TransportError as exc:
            raise ApiError("upload of %s (%s) to OSS bucket %s failed: %s" % (
                item.path.name, item.ref.label, cfg.bucket, exc),
                hint="check QWEN_TMP_OSS_ENDPOINT and the network") from None
        if resp.status not in (200, 201, 204):
            raise ApiError("upload of %s (%s) to OSS bucket %s failed: HTTP %d %s" % (
                item.path.name, item.ref.label, cfg.bucket, resp.status, oss_message(resp.text)),
                hint=_hint(resp.text, cfg), status=resp.status)
        signed = oss_sign.presign_v4_url("GET", cfg.endpoint, cfg.bucket, key, cfg.region, cfg.access_key_id,
                                         cfg.access_key_secret, now=self._now(), expires_seconds=cfg.expires,
                                         security_token=cfg.security_token)
        self.console.info("Uploaded %s -> %s (own OSS bucket, presigned URL valid %s)"
                          % (item.path.name, signed, _duration(cfg.expires)))
        return signed


def _hint(text: str, cfg: Settings) -> str:
    lowered = (text or "").lower()
    if "invalidaccesskeyid" in lowered or "signaturedoesnotmatch" in lowered:
        return ("check the key pair from %s and that QWEN_TMP_OSS_REGION (%s) is the bucket's region"
                % (cfg.credential_source, cfg.region))
    if "requesttimetooskewed" in lowered:
        return "this computer's clock is off by more than 15 minutes; fix the clock and retry"
    if "nosuchbucket" in lowered:
        return "check QWEN_TMP_OSS_BUCKET and QWEN_TMP_OSS_ENDPOINT/QWEN_TMP_OSS_REGION"
    if "accessdenied" in lowered:
        return "the key may lack oss:PutObject on the bucket (or an STS token expired: OSS_SESSION_TOKEN)"
    return "the OSS bucket refused the file"


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return "%d h" % (seconds // 3600)
    if seconds % 60 == 0:
        return "%d min" % (seconds // 60)
    return "%d s" % seconds
