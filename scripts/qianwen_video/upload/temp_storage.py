"""Upload local files to DashScope temporary storage (oss://, 48 h), streaming from disk.

Flow (dashscope-api.md §5): GET an upload policy for the final model id, then one
multipart form POST per file to the policy's upload host, `file` last. Each object key
gets a random prefix so two files with the same name never collide under
`x-oss-forbid-overwrite`. The body is streamed in 1 MiB chunks with an exact
Content-Length, so memory stays flat whatever the file size.
"""
from __future__ import annotations

import mimetypes
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..net.api import DashScope
from ..console import Console, transfer_text
from ..errors import ApiError, UsageError
from ..media import LocalFile
from ..net import retry
from ..net.transport import CHUNK, TransportError

MAX_PARALLEL = 4
POLICY_MARGIN = 30.0  # seconds: do not start an upload on a policy about to expire
PROGRESS_MIN_BYTES = 8 * 1024 * 1024
TEMP_TTL_NOTE = "48 h TTL"


def safe_name(name: str) -> str:
    """An object-key and header-safe file name (ASCII letters, digits, `._-`).

    The extension survives (a name in another script becomes ``file.png``), because the
    service may judge a media type by it.
    """
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        stem, suffix = name, ""
    suffix = re.sub(r"[^A-Za-z0-9]+", "", suffix)[:10] if suffix else ""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-") or "file"
    return stem[-(79 - len(suffix)):] + ("." + suffix if suffix else "")


class Progress:
    """One byte-progress line for a batch of uploads, on a terminal only.

    Each file counts from zero again when a retry re-sends it, so the total stays true.
    """

    def __init__(self, console: Console, files: List[LocalFile]):
        self.console = console
        self.sizes = {id(f): f.path.stat().st_size for f in files}
        self.total = sum(self.sizes.values()) or 1
        self.label = files[0].path.name if len(files) == 1 else "%d files" % len(files)
        self.enabled = (self.total >= PROGRESS_MIN_BYTES and console.ctx.interactive and not console.quiet)
        self._sent: Dict[int, int] = {}
        self._lock = threading.Lock()
        self._began = console.ctx.clock()

    def restart(self, item: LocalFile) -> None:
        with self._lock:
            self._sent[id(item)] = 0

    def callback(self, item: LocalFile) -> Optional[Callable[[int], None]]:
        if not self.enabled:
            return None
        limit = self.sizes.get(id(item), 0)

        def report(count: int) -> None:
            with self._lock:
                self._sent[id(item)] = min(self._sent.get(id(item), 0) + count, limit)
                done = sum(self._sent.values())
            seconds = max(self.console.ctx.clock() - self._began, 1e-6)
            self.console.live(transfer_text("Uploading " + self.label, done, self.total, done / seconds))

        return report

    def done(self) -> None:
        self.console.end_live()


def file_chunks(path: Path) -> Iterator[bytes]:
    """The file in CHUNK-sized pieces: never more than one chunk in memory."""
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(CHUNK)
            if not chunk:
                return
            yield chunk


def multipart(fields: List[Tuple[str, str]], filename: str, content_type: str,
              path: Path, size: int) -> Tuple[str, int, Callable[[], Iterator[bytes]]]:
    """(content type, exact length, body factory) for a form whose last part is the file."""
    boundary = "----qianwen" + uuid.uuid4().hex
    head = b"".join(
        ('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (boundary, name, value)).encode("utf-8")
        for name, value in fields)
    head += ('--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
             'Content-Type: %s\r\n\r\n' % (boundary, filename, content_type)).encode("utf-8")
    tail = ("\r\n--%s--\r\n" % boundary).encode("ascii")

    def body() -> Iterator[bytes]:
        yield head
        for chunk in file_chunks(path):
            yield chunk
        yield tail

    return "multipart/form-data; boundary=" + boundary, len(head) + size + len(tail), body


class TempStorage:
    """DashScope temporary storage, one policy per model reused while it is valid."""

    def __init__(self, api: DashScope, console: Console, model: str):
        self.api = api
        self.console = console
        self.model = model
        self._policy: Optional[Dict[str, Any]] = None
        self._policy_expires = 0.0
        self._lock = threading.Lock()
        self._progress: Optional[Progress] = None

    def policy(self, refused: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """The current policy; a fresh one when it is (nearly) expired or is ``refused``.

        Concurrent uploads refused with the same expired policy fetch one new policy, not one each.
        """
        with self._lock:
            now = self.api.ctx.clock()
            if self._policy is None or now >= self._policy_expires or (
                    refused is not None and self._policy is refused):
                self._policy = self.api.upload_policy(self.model)
                # what signs the upload form is as secret as the key: masked in every output; the
                # access key id too, except in result URLs, which carry it (OSSAccessKeyId=...)
                self.console.redactor.add(self._policy.get("signature"), self._policy.get("policy"))
                self.console.redactor.add_identifier(self._policy.get("oss_access_key_id"))
                ttl = _number(self._policy.get("expire_in_seconds"), 300.0)
                self._policy_expires = now + max(ttl - POLICY_MARGIN, 1.0)
            return self._policy

    def upload_all(self, files: List[LocalFile]) -> List[str]:
        self._check_sizes(files)
        self._progress = Progress(self.console, files)
        try:
            return run_bounded(self.upload, files)
        finally:
            self._progress.done()

    def _check_sizes(self, files: List[LocalFile]) -> None:
        limit_mb = _number(self.policy().get("max_file_size_mb"), 100.0)
        too_big = [f for f in files if f.path.stat().st_size > limit_mb * 1024 * 1024]
        if too_big:
            raise UsageError("; ".join(
                "%s: file is %.1f MB, over the %g MB upload limit for %s: %s"
                % (f.ref.label, f.path.stat().st_size / 1048576.0, limit_mb, self.model, f.path)
                for f in too_big), hint="compress or trim the file, or pass a public https:// URL")

    def upload(self, item: LocalFile) -> str:
        policy = self.policy()
        key = "%s/%s-%s" % (policy["upload_dir"].rstrip("/"), uuid.uuid4().hex[:12], safe_name(item.path.name))
        resp = self._post(policy, key, item)
        if resp.status == 403 and "expired" in resp.text.lower():
            self.console.info("Upload policy expired; fetching a fresh one")
            policy = self.policy(refused=policy)
            key = "%s/%s" % (policy["upload_dir"].rstrip("/"), key.rsplit("/", 1)[1])
            resp = self._post(policy, key, item)
        # Keys are random per file, so "already exists" can only be our own earlier attempt
        # that landed before its answer was lost: the object is there.
        landed = resp.status == 409 and "alreadyexist" in resp.text.lower().replace(" ", "")
        if resp.status not in (200, 201, 204) and not landed:
            raise ApiError("upload of %s (%s) failed: HTTP %d %s" % (
                item.path.name, item.ref.label, resp.status, oss_message(resp.text)),
                hint="the temporary-storage upload host refused the file")
        url = "oss://" + key
        self.console.info("Uploaded %s -> %s (%s)" % (item.path.name, url, TEMP_TTL_NOTE))
        return url

    def _post(self, policy: Dict[str, Any], key: str, item: LocalFile):
        size = item.path.stat().st_size
        fields = [
            ("OSSAccessKeyId", str(policy.get("oss_access_key_id", ""))),
            ("Signature", str(policy.get("signature", ""))),
            ("policy", str(policy.get("policy", ""))),
            ("key", key),
            ("x-oss-object-acl", str(policy.get("x_oss_object_acl", "private"))),
            ("x-oss-forbid-overwrite", str(policy.get("x_oss_forbid_overwrite", "true"))),
            ("success_action_status", "200"),
        ]
        mime = mimetypes.guess_type(item.path.name)[0] or "application/octet-stream"
        content_type, length, body = multipart(fields, safe_name(item.path.name), mime, item.path, size)
        progress = self._progress or Progress(self.console, [item])

        def attempt() -> Iterator[bytes]:
            progress.restart(item)
            return body()

        try:
            return retry.call(self.api.transport, "upload", "POST", policy["upload_host"],
                              {"Content-Type": content_type, "Accept": "application/json"},
                              body_factory=attempt, length=length, timeout=300.0,
                              progress=progress.callback(item), say=self.console.info)
        except TransportError as exc:
            raise ApiError("upload of %s failed: %s" % (item.path.name, exc),
                           hint="check the network; large files may need a steadier connection") from None


def run_bounded(upload: Callable[[LocalFile], str], files: List[LocalFile]) -> List[str]:
    """Upload every file, at most MAX_PARALLEL at once; the URLs keep the request's order."""
    if len(files) == 1:
        return [upload(files[0])]
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(files))) as pool:
        return list(pool.map(upload, files))  # map keeps the request's order


def _number(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def oss_message(text: str) -> str:
    code = re.search(r"<Code>(.*?)</Code>", text or "")
    message = re.search(r"<Message>(.*?)</Message>", text or "")
    if code or message:
        return "%s: %s" % (code.group(1) if code else "", message.group(1) if message else "")
    return " ".join((text or "").split())[:200]
