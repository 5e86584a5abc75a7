"""Every byte the CLI writes, across a representative set of commands, holds no secret.

Runs successes and failures (key echoed by the server, expired URLs, ambiguous submit,
uploads, list, resume, cancel, dry-run, a wrong key), then greps stdout, stderr and every
file in the working directory for the API keys, the upload-policy signature and the
result URLs' signatures. Signed URLs may appear only in the result JSON (stdout of
--print-response and *.response.json), where the user needs them.
"""
from __future__ import annotations

import json
import re
from typing import List, Tuple
from urllib.parse import unquote

from tests.emulator import Emulator, Reply, Reset
from tests.harness import KEY, env_for, run

OTHER_KEY = "sk-wrong-fedcba9876543210"
EXPIRED = '<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Request has expired.</Message></Error>'


def test_no_key_or_signature_in_any_output(tmp_path):
    outputs: List[Tuple[str, str, bool]] = []  # (what, text, is the result JSON)

    def cli(*args, env=None, name=""):
        result = run(list(args), env or env_for(emu), tmp_path)
        outputs.append((name + " stdout", result.stdout, "--print-response" in args))
        outputs.append((name + " stderr", result.stderr, False))
        assert "Traceback" not in result.stderr and "unexpected internal error" not in result.stderr
        return result

    with Emulator(api_keys=(KEY,), pending_seconds=0.02, run_seconds=0.05) as emu:
        (tmp_path / "猫.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
        ok = cli("--request", json.dumps({"prompt": "x"}), "--poll-interval", "0.05", "--print-response", name="t2v")
        assert ok.code == 0
        cli("--request", json.dumps({"prompt": "y", "img_url": "猫.png"}), "--poll-interval", "0.05",
            "--print-response", name="upload")
        cli("--request", json.dumps({"prompt": "z"}), "--poll-interval", "0.05", name="plain")
        cli("--list", name="list")
        cli("--list", "--print-response", name="list-json")
        cli("--task-id", ok.json()["task_id"], "--poll-once", "--print-response", name="poll-once")
        cli("--task-id", ok.json()["task_id"], name="resume")
        cli("--cancel", "--task-id", ok.json()["task_id"], name="cancel")
        cli("--request", json.dumps({"prompt": "x"}), "--dry-run", name="dry-run")

        emu.script("POST", r"/video-synthesis$",
                   Reply(401, json={"code": "InvalidApiKey", "message": "Invalid API-key provided: " + KEY}))
        assert cli("--request", json.dumps({"prompt": "echo"}), name="echo-create").code == 1
        emu.script("GET", r"/api/v1/tasks/[^/]+$", Reply(403, body="<p>Bearer %s denied</p>" % KEY))
        assert cli("--request", json.dumps({"prompt": "echo2"}), "--print-response", name="echo-get").code == 1
        emu.script("GET", r"^/results/", *[Reply(403, body=EXPIRED, content_type="application/xml")] * 2)
        assert cli("--request", json.dumps({"prompt": "expired"}), "--poll-interval", "0.05", "--print-response",
                   name="expired").code == 1
        emu.script("POST", r"/video-synthesis$", Reset(after_body=True))
        assert cli("--request", json.dumps({"prompt": "ambiguous"}), "--poll-interval", "0.05",
                   name="ambiguous").code == 0
        assert cli("--request", json.dumps({"prompt": "wrong key"}),
                   env=env_for(emu, DASHSCOPE_API_KEY=OTHER_KEY), name="wrong-key").code == 1
        assert cli("--task-id", "nope", env=env_for(emu, HTTPS_PROXY="http://u:pw-secret-123@127.0.0.1:9"),
                   name="unknown").code == 1

        # the secrets to look for
        upload_form = emu.requests_to("POST", r"^/oss")[0].body.decode("utf-8", "replace")
        policy_signature = re.search(r'name="Signature"\r\n\r\n([^\r]+)\r\n', upload_form).group(1)
        url_signatures = set()
        for path in tmp_path.rglob("*.response.json"):
            url = json.loads(path.read_text(encoding="utf-8"))["output"]["video_url"]
            url_signatures.add(re.search(r"[?&]Signature=([^&]+)", url).group(1))  # as on the wire
        assert len(url_signatures) >= 4

    for path in sorted(tmp_path.rglob("*")):
        if path.is_file() and path.suffix != ".png":
            text = path.read_bytes().decode("utf-8", "replace")
            outputs.append((str(path.relative_to(tmp_path)), text, path.name.endswith(".response.json")))

    always_secret = [KEY, OTHER_KEY, policy_signature, "pw-secret-123"]
    signatures = [s for sig in url_signatures for s in {sig, unquote(sig), sig.replace("/", "\\/")}]
    signatures += [s.replace("%", "%25") for s in signatures]  # quoted once more, as in a URL's URL
    for what, text, result_json in outputs:
        for secret in always_secret:
            assert secret not in text, "%s leaks %r" % (what, secret[:12])
        if not result_json:
            for signature in signatures:
                assert signature not in text, "%s shows a URL signature" % what
    assert any(sig in text for _, text, result_json in outputs if result_json for sig in url_signatures), \
        "the result JSON keeps the full URL"


def test_a_key_no_header_can_carry_is_refused_without_showing_it(tmp_path):
    with Emulator(api_keys=(KEY,)) as emu:
        for bad in ("sk-secretABCDEF\nX: y", "sk-secretABCDEF\tpasted", "sk-secretABCDEF密钥", "sk-secret ABCDEF"):
            result = run(["--request", json.dumps({"prompt": "x"})], env_for(emu, DASHSCOPE_API_KEY=bad), tmp_path)
            assert result.code == 1, result.stderr
            assert "DASHSCOPE_API_KEY contains characters an API key cannot have" in result.stderr
            assert "secretABCDEF" not in result.stderr + result.stdout
            assert "internal error" not in result.stderr
        assert emu.requests == []


def test_the_redactor_masks_quoted_forms_of_a_secret():
    from qianwen_video.console import Redactor

    redactor = Redactor()
    redactor.add("sk-abc\ndéf")
    for text in ("ValueError: Invalid header value b'Bearer sk-abc\\nd\\xc3\\xa9f'",
                 "repr: 'sk-abc\\ndéf'", '{"key": "sk-abc\\nd\\u00e9f"}', "raw sk-abc\ndéf"):
        assert "sk-abc" not in redactor.diagnostic(text), text
