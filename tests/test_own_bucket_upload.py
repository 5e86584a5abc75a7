"""Own OSS bucket (QWEN_TMP_OSS_*): signed PutObject, presigned GET for the model, no secrets shown."""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import urllib.request
from pathlib import Path
from typing import List

import pytest

from qianwen_video.upload import own_bucket
from qianwen_video.console import Console
from qianwen_video.context import Context
from qianwen_video.media import local_files
from qianwen_video.net.transport import NotSent, Transport
from tests.emulator import Emulator
from tests.harness import KEY, creates, env_for, run
from tests.own_bucket import OwnBucket

AK = "LTAI5tOwnBucketTestId"
SK = "OwnBucketSecret/With+Odd=Chars0123"
TOKEN = "CAIS+sts/token==Example0123456789"
BUCKET = "my-media"
REGION = "cn-beijing"
CREATE = "/api/v1/services/aigc/video-generation/video-synthesis"


@pytest.fixture()
def emu():
    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05, fail_seconds=0.02) as server:
        yield server


@pytest.fixture()
def fake():
    with OwnBucket(AK, SK, bucket=BUCKET, region=REGION) as bucket:
        yield bucket


def bucket_env(emu, fake, **extra: str):
    env = env_for(emu, QWEN_TMP_OSS_BUCKET=BUCKET, QWEN_TMP_OSS_REGION=REGION, QWEN_TMP_OSS_ENDPOINT=fake.endpoint,
                  QWEN_TMP_OSS_AK_ID=AK, QWEN_TMP_OSS_AK_SECRET=SK)
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def write(path: Path, size: int) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(size - 8)
    path.write_bytes(data)
    return data


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read()


def all_text(result, root: Path) -> str:
    texts = [result.stdout, result.stderr]
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".txt", ".log", ""):
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(texts)


def test_files_go_to_the_own_bucket_and_the_model_gets_presigned_urls(emu, fake, tmp_path):
    first = write(tmp_path / "a" / "image.png", 5000)
    second = write(tmp_path / "b" / "image.png", 7000)
    request = {"model": "wan2.7-r2v", "prompt": "Image 1 and Image 2", "reference_urls": ["a/image.png", "b/image.png"]}
    result = run(["--request", json.dumps(request), "--print-response", "--poll-interval", "0.02"],
                 bucket_env(emu, fake), tmp_path)
    assert result.code == 0, result.stderr

    # two signed PUTs (the fake's independent verifier accepted them), exact length, signed type
    puts = [r for r in fake.requests if r["method"] == "PUT"]
    assert len(puts) == 2
    for put in puts:
        assert put["headers"]["authorization"].startswith("OSS4-HMAC-SHA256 Credential=%s/" % AK)
        assert put["headers"]["content-type"] == "image/png"
        assert put["headers"]["x-oss-content-sha256"] == "UNSIGNED-PAYLOAD"
        assert "transfer-encoding" not in put["headers"]
        assert "bearer" not in put["headers"]["authorization"].lower()  # the DashScope key stays home
    keys = sorted(fake.objects)
    assert len(keys) == 2
    for key in keys:
        assert re.match(r"^qianwen-skill-uploads/\d{8}/[0-9a-f]{12}_image\.png$", key), key
    assert sorted(fake.objects[k][1] for k in keys) == sorted(
        hashlib.sha256(d).hexdigest() for d in (first, second))

    # the body carries presigned GET URLs, in request order, that serve the same bytes
    sent = creates(emu)[0]
    urls = [m["url"] for m in sent.json["input"]["media"]]
    assert [m["type"] for m in sent.json["input"]["media"]] == ["reference_image", "reference_image"]
    for url, data in zip(urls, (first, second)):
        assert url.startswith(fake.endpoint + "/" + BUCKET + "/qianwen-skill-uploads/")
        assert "x-oss-signature=" in url and "x-oss-expires=86400" in url
        assert fetch(url) == data
    # no DashScope temporary storage at all
    assert "x-dashscope-ossresourceresolve" not in sent.headers
    assert emu.requests_to("GET", r"^/api/v1/uploads") == [] and emu.requests_to("POST", r"^/oss") == []

    # stderr names each upload with the query redacted; the secret is nowhere
    lines = [l for l in result.stderr.splitlines() if l.startswith("Uploaded image.png -> ")]
    assert len(lines) == 2
    for line in lines:
        assert re.match(r"^Uploaded image\.png -> http://127\.0\.0\.1:\d+/my-media/qianwen-skill-uploads/\d{8}/"
                        r"[0-9a-f]{12}_image\.png\?\[REDACTED\] \(own OSS bucket, presigned URL valid 24 h\)$", line)
    assert "x-oss-signature" not in result.stderr
    assert SK not in all_text(result, tmp_path)


def test_sts_credentials_from_the_sdk_variables(emu, fake, tmp_path):
    data = write(tmp_path / "frame.png", 3000)
    env = bucket_env(emu, fake, QWEN_TMP_OSS_AK_ID=None, QWEN_TMP_OSS_AK_SECRET=None, OSS_ACCESS_KEY_ID=AK,
                     OSS_ACCESS_KEY_SECRET=SK, OSS_SESSION_TOKEN=TOKEN, QWEN_TMP_OSS_PREFIX="/team/clips/",
                     QWEN_TMP_OSS_URL_EXPIRES="600")
    request = {"model": "wan2.6-i2v-flash", "prompt": "x", "img_url": "frame.png"}
    result = run(["--request", json.dumps(request), "--submit-only"], env, tmp_path)
    assert result.code == 0, result.stderr
    put = next(r for r in fake.requests if r["method"] == "PUT")
    assert put["headers"]["x-oss-security-token"] == TOKEN
    assert re.match(r"^/my-media/team/clips/\d{8}/[0-9a-f]{12}_frame\.png$", put["path"])
    url = creates(emu)[0].json["input"]["img_url"]
    assert "x-oss-expires=600" in url and "x-oss-security-token=" in url
    assert fetch(url) == data
    assert "valid 10 min" in result.stderr
    for secret in (SK, TOKEN):
        assert secret not in result.stdout and secret not in result.stderr


def test_a_refused_signature_is_exit_1_with_a_hint_and_no_secret(emu, fake, tmp_path):
    write(tmp_path / "frame.png", 3000)
    env = bucket_env(emu, fake, QWEN_TMP_OSS_AK_SECRET="WrongSecretValue12345")
    result = run(["--request", json.dumps({"model": "wan2.6-i2v-flash", "prompt": "x", "img_url": "frame.png"})],
                 env, tmp_path)
    assert result.code == 1
    assert "to OSS bucket my-media failed: HTTP 403 SignatureDoesNotMatch" in result.stderr
    assert "QWEN_TMP_OSS_AK_ID/QWEN_TMP_OSS_AK_SECRET" in result.stderr
    assert "WrongSecretValue12345" not in result.stderr
    assert fake.objects == {} and not creates(emu)


@pytest.mark.parametrize("changes, variable", [
    ({"QWEN_TMP_OSS_REGION": None}, "QWEN_TMP_OSS_REGION"),
    ({"QWEN_TMP_OSS_AK_SECRET": None}, "QWEN_TMP_OSS_AK_SECRET"),
    ({"QWEN_TMP_OSS_AK_ID": None}, "QWEN_TMP_OSS_AK_ID"),
    ({"QWEN_TMP_OSS_AK_ID": None, "QWEN_TMP_OSS_AK_SECRET": None}, "QWEN_TMP_OSS_AK_ID"),
    ({"QWEN_TMP_OSS_AK_ID": None, "QWEN_TMP_OSS_AK_SECRET": None, "OSS_ACCESS_KEY_ID": AK}, "OSS_ACCESS_KEY_SECRET"),
    ({"QWEN_TMP_OSS_URL_EXPIRES": "tomorrow"}, "QWEN_TMP_OSS_URL_EXPIRES"),
    ({"QWEN_TMP_OSS_URL_EXPIRES": "999999"}, "QWEN_TMP_OSS_URL_EXPIRES"),
    ({"QWEN_TMP_OSS_ENDPOINT": "ftp://oss.example"}, "QWEN_TMP_OSS_ENDPOINT"),
])
def test_missing_or_bad_settings_exit_64_naming_the_variable(emu, fake, tmp_path, changes, variable):
    write(tmp_path / "frame.png", 3000)
    env = bucket_env(emu, fake, **changes)
    result = run(["--request", json.dumps({"model": "wan2.6-i2v-flash", "prompt": "x", "img_url": "frame.png"})],
                 env, tmp_path)
    assert result.code == 64, result.stderr
    error = next(l for l in result.stderr.splitlines() if l.startswith("Error: "))
    assert variable in error
    assert "exit 64" in result.stderr
    assert emu.requests == [] and fake.requests == []
    assert SK not in result.stderr


def test_own_bucket_settings_do_nothing_without_a_bucket(emu, tmp_path):
    write(tmp_path / "frame.png", 3000)
    env = env_for(emu, QWEN_TMP_OSS_REGION=REGION)
    result = run(["--request", json.dumps({"model": "wan2.6-i2v-flash", "prompt": "x", "img_url": "frame.png"}),
                  "--submit-only"], env, tmp_path)
    assert result.code == 0, result.stderr
    assert "Warning: QWEN_TMP_OSS_REGION set but QWEN_TMP_OSS_BUCKET is not" in result.stderr
    assert len(emu.requests_to("GET", r"^/api/v1/uploads")) == 1


def test_dry_run_describes_the_put_and_no_oss_header(emu, fake, tmp_path):
    write(tmp_path / "frame.png", 3000)
    result = run(["--request", json.dumps({"model": "wan2.6-i2v-flash", "prompt": "x", "img_url": "frame.png"}),
                  "--dry-run"], bucket_env(emu, fake), tmp_path)
    assert result.code == 0, result.stderr
    put, create = result.json()["requests"]
    assert put["method"] == "PUT"
    assert put["url"].startswith(fake.endpoint + "/my-media/qianwen-skill-uploads/")
    assert "X-DashScope-OssResourceResolve" not in create["headers"]
    assert SK not in result.stdout
    assert emu.requests == [] and fake.requests == []


class FlakyTransport(Transport):
    """The first PUT is refused with 503 and the second never connects; then the real thing."""

    def __init__(self, ctx):
        super().__init__(ctx)
        self.failures: List[str] = ["503", "notsent"]

    def request(self, method, url, headers=None, body=None, length=None, timeout=None, progress=None, **kw):
        if method == "PUT" and self.failures:
            kind = self.failures.pop(0)
            if kind == "notsent":
                raise NotSent("could not connect: connection refused", url)
            from qianwen_video.net.transport import Response
            return Response(503, "Service Unavailable", {"content-type": "application/xml"},
                            b"<Error><Code>ServiceUnavailable</Code></Error>", url)
        return super().request(method, url, headers, body, length, timeout, progress, **kw)


def test_the_put_uses_the_upload_retry_policy(fake, tmp_path):
    data = write(tmp_path / "frame.png", 4000)
    sleeps: List[float] = []
    err = io.StringIO()
    ctx = Context(environ={"QWEN_TMP_OSS_BUCKET": BUCKET, "QWEN_TMP_OSS_REGION": REGION,
                           "QWEN_TMP_OSS_ENDPOINT": fake.endpoint, "QWEN_TMP_OSS_AK_ID": AK,
                           "QWEN_TMP_OSS_AK_SECRET": SK},
                  cwd=tmp_path, stdout=io.StringIO(), stderr=err, sleep=sleeps.append, stderr_isatty=False)
    console = Console(ctx)
    transport = FlakyTransport(ctx)
    uploader = own_bucket.OwnBucket(transport, console, own_bucket.settings(ctx))  # no DashScope client
    urls = uploader.upload_all(local_files({"img_url": "frame.png"}, tmp_path))
    assert len(sleeps) == 2 and transport.failures == []
    assert [r["method"] for r in fake.requests] == ["PUT"]
    assert fetch(urls[0]) == data
    assert "file upload: HTTP 503; retrying" in err.getvalue()
    assert SK not in err.getvalue()
