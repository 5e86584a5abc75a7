"""Masking catches more than exact copies (issue 14 items 13-16).

A key split by a line break or an invisible character, a cut-off prefix or suffix of 16+
characters, a proxy's `Basic` credential and the upload policy's signature, policy and access
key id never reach the terminal; `Redactor.secrets` (files, stdout) and `Redactor.diagnostic`
(terminal) are the two functions every writer uses. The property test embeds random secrets in
random text with random splits and escapes and checks that no piece of 16 characters survives.
"""
from __future__ import annotations

import base64
import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qianwen_video.console import MASK, PIECE, Redactor
from tests.emulator import Emulator, Reply
from tests.harness import KEY, creates, env_for, run
from tests.media_files import PNG

SECRET = "sk-test-1a2b3c4d5e6f7a8b9c0d1e2f3a4"  # 35 characters, like a DashScope key (not one: a dash)
INVISIBLE = ["\n", "\r\n", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e", "\u2028",
             "\x00", "\x1b", "\t", " ", "\u3000", "\U000e0020"]
REQUEST = ["--request", json.dumps({"prompt": "a kite"}), "--poll-interval", "0.05"]


def redactor(*secrets: str) -> Redactor:
    masks = Redactor()
    masks.add(*secrets)
    return masks


def survivors(text: str, secret: str) -> list:
    """Pieces of PIECE characters of `secret` found in `text` once invisible characters and their
    escapes are taken out (an independent, simple reading of what a person or a tool could see)."""
    plain = re.sub(r"\\+(?:u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|[nrt])", "", text)
    plain = "".join(c for c in plain if c.isprintable() and not c.isspace() and c not in "\u200b\u200c\u200d\u2060\ufeff\u00ad\u202e")
    return [secret[i:i + PIECE] for i in range(len(secret) - PIECE + 1) if secret[i:i + PIECE] in plain]


def test_a_key_split_by_a_line_break_or_an_invisible_character_is_masked():
    masks = redactor(SECRET)
    for cut in (3, 10, 17, 30):
        for between in INVISIBLE:
            text = "Invalid API-key provided: %s%s%s." % (SECRET[:cut], between, SECRET[cut:])
            for shown in (masks.secrets(text), masks.diagnostic(text)):
                assert shown == "Invalid API-key provided: ***.", (between, shown)
    # escaped, as a JSON document or a repr shows it, even escaped twice
    for text in ('{"message": "%s\\n%s"}' % (SECRET[:12], SECRET[12:]),
                 '{"message": "%s\\u200b%s"}' % (SECRET[:12], SECRET[12:]),
                 json.dumps(json.dumps({"m": SECRET[:20] + "\u2060" + SECRET[20:]}))):
        assert not survivors(masks.secrets(text), SECRET) and MASK in masks.secrets(text), text


def test_every_piece_of_16_characters_is_masked_and_shorter_ones_stay():
    masks = redactor(SECRET)
    assert masks.diagnostic("key " + SECRET[:30] + "...") == "key ***..."  # a 30-character prefix
    assert masks.secrets("..." + SECRET[-16:] + "!") == "...***!"  # a 16-character suffix
    assert masks.secrets("[" + SECRET[7:29] + "]") == "[***]"  # a middle part
    assert masks.secrets("prefix " + SECRET[:15]) == "prefix " + SECRET[:15]  # too short to tell
    assert masks.secrets("the quick brown fox") == "the quick brown fox"  # nothing else changes
    assert masks.diagnostic("a\nb\tc") == "a\nb\tc"


def test_a_proxy_basic_credential_and_its_pair_forms_are_masked():
    masks = Redactor()
    masks.add_credentials("alice", "p%40ss-w0rd")  # as written in a proxy URL (percent-encoded)
    for pair in ("alice:p@ss-w0rd", "alice:p%40ss-w0rd"):
        token = base64.b64encode(pair.encode()).decode()
        for text in ("Proxy-Authorization: Basic " + token, "echo " + token.rstrip("="), "user " + pair,
                     "Basic " + token[:18]):
            shown = masks.diagnostic(text)
            assert token[:16] not in shown and "p@ss-w0rd" not in shown and "p%40ss" not in shown, (text, shown)


def test_a_server_echoing_the_key_split_or_cut_off_is_masked_through_the_cli(tmp_path):
    echoes = ["Invalid API-key provided: %s\n%s" % (KEY[:9], KEY[9:]),
              "Invalid API-key provided: %s\u200b%s" % (KEY[:5], KEY[5:]),
              "key %s... is invalid" % KEY[:17]]
    with Emulator(api_keys=(KEY,)) as emu:
        for echo in echoes:
            emu.script("POST", r"/video-synthesis$", Reply(401, json={"code": "InvalidApiKey", "message": echo}))
            result = run(REQUEST + ["--print-response"], env_for(emu), tmp_path)
            assert result.code == 1 and "InvalidApiKey" in result.stderr, result.stderr
            for shown in (result.stderr, result.stdout):
                assert not survivors(shown, KEY), (echo, shown)
            assert "***" in result.stderr


def test_a_proxy_basic_credential_echoed_by_the_server_is_masked_through_the_cli(tmp_path):
    token = base64.b64encode(b"bob:pr0xy-pa55word").decode()
    with Emulator(api_keys=(KEY,)) as emu:
        emu.script("POST", r"/video-synthesis$",
                   Reply(400, json={"code": "InvalidParameter", "message": "bad header Proxy-Authorization: Basic "
                                    + token + " (bob:pr0xy-pa55word)"}))
        # HTTPS_PROXY does not apply to the plain-HTTP emulator: only the masking is under test
        result = run(REQUEST, env_for(emu, HTTPS_PROXY="http://bob:pr0xy-pa55word@127.0.0.1:9"), tmp_path)
        assert result.code == 1 and "InvalidParameter" in result.stderr
    assert token not in result.stderr and token.rstrip("=")[:16] not in result.stderr
    assert "pr0xy-pa55word" not in result.stderr and "Basic ***" in result.stderr


def test_the_upload_policy_values_quoted_by_oss_are_masked(tmp_path):
    signature = "Zm9vYmFyLXNpZ25hdHVyZS12YWx1ZQ=="
    policy = base64.b64encode(json.dumps({"expiration": "2030-01-01T00:00:00.000Z",
                                          "conditions": [["starts-with", "$key", "dashscope-instant/x"]]}).encode()).decode()
    access_key_id = "LTAI5tGuardTestAccessId1"
    (tmp_path / "a.png").write_bytes(PNG + b"\0" * 64)
    with Emulator(api_keys=(KEY,)) as emu:
        emu.script("GET", r"^/api/v1/uploads$", Reply(200, json={"request_id": "r1", "data": {
            "policy": policy, "signature": signature, "upload_dir": "dashscope-instant/x",
            "upload_host": emu.base_url.rsplit("/api/v1", 1)[0] + "/oss", "expire_in_seconds": 300,
            "max_file_size_mb": 100, "capacity_limit_mb": 999, "oss_access_key_id": access_key_id,
            "x_oss_object_acl": "private", "x_oss_forbid_overwrite": "true"}}))
        quoted = ("<Error><Code>SignatureDoesNotMatch</Code><Message>signature %s for policy %s by %s does not "
                  "match</Message></Error>" % (signature, policy, access_key_id))
        emu.script("POST", r"^/oss$", Reply(403, body=quoted, content_type="application/xml"))
        result = run(["--request", json.dumps({"prompt": "x", "img_url": "a.png"})], env_for(emu), tmp_path)
        assert result.code == 1 and "SignatureDoesNotMatch" in result.stderr, result.stderr
        assert not creates(emu)
    for value in (signature, policy, access_key_id):
        assert not survivors(result.stderr, value) and value[:8] not in result.stderr, value


# -- the property: random secrets in random text never survive -------------------------------------
SECRET_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@st.composite
def embedded(draw):
    secret = draw(st.text(SECRET_CHARS, min_size=PIECE, max_size=64))
    cuts = sorted(draw(st.lists(st.integers(1, len(secret) - 1), max_size=4, unique=True)))
    pieces = [secret[a:b] for a, b in zip([0] + cuts, cuts + [len(secret)])]
    between = [draw(st.lists(st.sampled_from(INVISIBLE), min_size=1, max_size=3)) for _ in cuts]
    shown = pieces[0] + "".join("".join(b) + p for b, p in zip(between, pieces[1:]))
    # sometimes only a prefix or a suffix of 16+ characters is in the text
    part = draw(st.sampled_from(["whole", "prefix", "suffix"]))
    if part == "prefix":
        shown = shown[:len(shown) - draw(st.integers(0, max(0, len(secret) - PIECE)))] if len(secret) > PIECE else shown
    elif part == "suffix":
        shown = shown[draw(st.integers(0, max(0, len(secret) - PIECE))):] if len(secret) > PIECE else shown
    text = draw(TEXT) + shown + draw(TEXT)
    wrapping = draw(st.sampled_from(["raw", "json", "json-ascii", "repr"]))
    if wrapping == "json":
        text = json.dumps({"message": text}, ensure_ascii=False)
    elif wrapping == "json-ascii":
        text = json.dumps({"message": text})
    elif wrapping == "repr":
        text = repr(text)
    return secret, text


# New examples every run: coverage adds up across runs, each run keeps the suite under a minute.
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(embedded(), st.lists(st.text(SECRET_CHARS, min_size=4, max_size=40), max_size=3))
def test_property_random_secrets_in_random_text_never_survive(case, others):
    secret, text = case
    masks = Redactor()
    masks.add(*others)
    masks.add(secret)
    for shown in (masks.secrets(text), masks.diagnostic(text)):
        assert not survivors(shown, secret), (secret, text, shown)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(embedded(), st.lists(st.text(st.characters(blacklist_categories=("Cs",)), min_size=4, max_size=24),
                            max_size=2))
def test_property_the_quick_checks_change_nothing(case, others):
    """The checks that return most texts unchanged without folding them (one regex search of the
    text, non-ASCII left out when every secret is ASCII) mask exactly what the full fold masks."""
    from qianwen_video import console

    secret, text = case
    text += "".join(o[:2] + "\u200b" + o[2:] for o in others[:1])  # one that may be non-ASCII, split
    masks = Redactor()
    masks.add(*others)
    masks.add(secret)
    quick = masks.secrets(text)
    original = console._Masks._in_folded
    console._Masks._in_folded = lambda self, folded: True  # every text through the full fold
    try:
        full = masks.secrets(text)
    finally:
        console._Masks._in_folded = original
    assert quick == full
