"""Local media files are checked by content before anything is paid (issue 14 item 12).

A media path that is a link to somewhere else (assets/cat.png -> ~/.ssh/id_rsa) must never be
uploaded: every local file's first bytes must match the kind of media its field takes
(catalog.MEDIA_KINDS), else exit 64 naming the field, the path and the real path, and nothing
reaches the service. The kinds per field come from the catalog table, so every field is covered.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from qianwen_video import catalog, media
from tests.emulator import Emulator
from tests.harness import KEY, creates, env_for, run
from tests.media_files import JPEG, MP4, MOV, MP3, PNG, WAV

PRIVATE_KEY = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
GOOD = {"image": ("a.png", PNG), "video": ("a.mp4", MP4), "audio": ("a.wav", WAV)}
# one wrong file of each kind, named like a file of the field's kind so only the content gives it away
WRONG_CONTENT = {"image": MP4, "video": PNG, "audio": JPEG}
SUFFIX = {"image": ".png", "video": ".mp4", "audio": ".wav", "document": ".pdf"}


def dry(request, cwd: Path, *extra: str, env=None):
    return run(["--dry-run", "--request", json.dumps(request)] + list(extra), env or {}, cwd)


def errors(stderr: str):
    return [line for line in stderr.splitlines() if line.startswith("Error: ")]


def test_a_link_to_a_private_key_is_refused_before_any_request(tmp_path):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    secret = home / ".ssh" / "id_rsa"
    secret.write_bytes(PRIVATE_KEY)
    (tmp_path / "assets").mkdir()
    os.symlink(str(secret), str(tmp_path / "assets" / "cat.png"))
    with Emulator(api_keys=(KEY,)) as emu:
        result = run(["--request", json.dumps({"prompt": "the cat blinks", "img_url": "assets/cat.png"})],
                     env_for(emu, HOME=str(home)), tmp_path)
        assert result.code == 64, result.stderr
        assert emu.requests == [] and not creates(emu)  # no policy, no upload, no task
    [line] = errors(result.stderr)
    assert line.startswith("Error: img_url: assets/cat.png is not an image by its content: ")
    assert "; it is a link to %s;" % secret in line
    assert "allowed: an image file (PNG, JPEG, WEBP, BMP, TIFF)" in line
    assert "OPENSSH" not in result.stderr + result.stdout and "b3Blbn" not in result.stderr + result.stdout


def test_a_link_to_a_real_image_is_fine_and_only_the_real_path_of_a_bad_link_is_named(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.png").write_bytes(PNG + b"\0" * 32)
    os.symlink(str(tmp_path / "photos" / "cat.png"), str(tmp_path / "cat.png"))
    assert dry({"prompt": "x", "img_url": "cat.png"}, tmp_path).code == 0
    (tmp_path / "plain.png").write_bytes(b"hello")  # not a link: no "link to" note
    result = dry({"prompt": "x", "img_url": "plain.png"}, tmp_path)
    assert result.code == 64 and "link to" not in result.stderr
    assert "Error: img_url: plain.png is not an image by its content: its first bytes match none" in result.stderr


@pytest.mark.parametrize("field", sorted(f for f in catalog.MEDIA_KINDS if f in catalog.MEDIA_SCALAR_FIELDS
                                         or f in catalog.MEDIA_LIST_FIELDS))
def test_every_media_field_checks_the_kind_its_catalog_entry_names(field, tmp_path):
    kinds = catalog.MEDIA_KINDS[field]
    for kind in ("image", "video", "audio"):  # (a document field refuses all three: see below)
        name = "f-%s%s" % (kind, SUFFIX[kinds[0]])  # the name always fits the field; the content decides
        (tmp_path / name).write_bytes(GOOD[kind][1] + b"\0" * 32)
        value = [name] if field in catalog.MEDIA_LIST_FIELDS else name
        result = dry({"prompt": "x", field: value}, tmp_path, "--no-validate")  # checked even then
        label = field + ("[0]" if field in catalog.MEDIA_LIST_FIELDS else "")
        if kind in kinds:
            assert "by its content" not in result.stderr, (field, kind, result.stderr)
        else:
            assert result.code == 64, (field, kind)
            assert "Error: %s: %s is not %s by its content: it is %s" % (
                label, name, " or ".join(("an " if k[0] in "aeiou" else "a ") + k for k in kinds),
                ("an " if kind[0] in "aeiou" else "a ") + kind) in result.stderr, result.stderr


def test_media_items_are_checked_by_their_type(tmp_path):
    for name, data in (("first.png", PNG), ("clip.mp4", MP4), ("voice.wav", WAV), ("pic.png", PNG)):
        (tmp_path / name).write_bytes(data + b"\0" * 32)
    request = {"model": "wan2.7-r2v", "prompt": "character1", "media": [
        {"type": "reference_video", "url": "pic.png", "reference_voice": "clip.mp4"},
        {"type": "reference_image", "url": "first.png", "reference_voice": "voice.wav"}]}
    result = dry(request, tmp_path)
    assert result.code == 64
    assert [e.split(" is not ")[0] for e in errors(result.stderr)] == [
        "Error: media[0].url: pic.png", "Error: media[0].reference_voice: clip.mp4"]
    assert "media[0].url: pic.png is not a video by its content: it is an image (PNG)" in result.stderr
    request["media"][0] = {"type": "reference_video", "url": "clip.mp4", "reference_voice": "voice.wav"}
    assert dry(request, tmp_path).code == 0


def test_r2v_references_take_images_and_videos_by_content(tmp_path):
    for name, data in (("p.png", PNG), ("j.jpg", JPEG), ("v.mp4", MP4), ("q.mov", MOV), ("s.mp3", MP3)):
        (tmp_path / name).write_bytes(data + b"\0" * 32)
    ok = dry({"model": "wan2.6-r2v-flash", "prompt": "character1", "reference_urls": ["p.png", "j.jpg", "v.mp4", "q.mov"]},
             tmp_path)
    assert ok.code == 0, ok.stderr
    bad = dry({"model": "wan2.6-r2v-flash", "prompt": "character1", "reference_urls": ["p.png", "s.mp3"]}, tmp_path)
    assert bad.code == 64
    assert "Error: reference_urls[1]: 's.mp3' is audio; allowed: images and videos for wan2.6-r2v-flash" in bad.stderr
    media_model = dry({"model": "wan2.7-r2v", "prompt": "character1", "reference_urls": ["p.png", "s.mp3"]}, tmp_path)
    assert media_model.code == 64
    assert "Error: media: type 'reference_audio' is not used by wan2.7-r2v" in media_model.stderr
    (tmp_path / "t.mp3").write_bytes(PNG + b"\0" * 32)  # named as audio, an image inside: refused by content
    named = dry({"model": "wan2.6-r2v-flash", "prompt": "character1", "reference_urls": ["t.mp3"]}, tmp_path)
    assert named.code == 64 and "Error: reference_urls[0]: t.mp3 is not an audio file" not in named.stderr
    assert "Error: reference_urls[0]: t.mp3 is not an image file; allowed: .jpg" in named.stderr


def test_an_empty_file_is_caught(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with Emulator(api_keys=(KEY,)) as emu:
        result = run(["--request", json.dumps({"prompt": "x", "img_url": "empty.png"})], env_for(emu), tmp_path)
        assert result.code == 64 and emu.requests == []
    assert "Error: img_url: empty.png is empty (0 bytes); allowed: an image file (PNG" in result.stderr


@pytest.mark.parametrize("head, kind", [
    (PNG, "image"), (JPEG, "image"), (b"RIFF\0\0\0\0WEBPVP8 ", "image"), (b"BM" + b"\0" * 12 + b"\x28\0\0\0", "image"),
    (b"II*\0\x08\0\0\0", "image"), (MP4, "video"), (MOV, "video"), (WAV, "audio"), (MP3, "audio"),
    (b"\xff\xfb\x90\x64\0\0", "audio"), (b"\xff\xf1\x50\x80\x02\x1f", "audio"), (b"\0\0\0\x20ftypM4A \0\0\0\0", "audio"),
    (b"GIF89a\x01\0\x01\0", "other"), (b"\0\0\0\x18ftypheic\0\0\0\0", "other"), (b"\0\0\0\x1cftypavif\0\0\0\0", "other"),
    (b"RIFF\0\0\0\0AVI LIST", "video"), (b"\x1a\x45\xdf\xa3\x01", "video"), (b"FLV\x01\x05", "video"),
    (b"\0\0\x01\xba\x44", "video"), (b"\x06\x0e\x2b\x34\x02", "video"),
    (b"\x47\x40\x00\x10" + b"\xff" * 184 + b"\x47\x01", "video"), (b"\x47\x40\x00\x10" + b"\xff" * 190, None),
    (b"%PDF-1.4\n", "document"), (b"PK\x03\x04\x14\0", "document"), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "document"),
    (b"BM and then some text", None), (b"\0\0\0\x04ftypisom", None),
    (b"\xff\xff\xff\xff", None), (b"<!DOCTYPE html>", None), (PRIVATE_KEY, None), (b"", None),
])
def test_signatures(head, kind):
    found = media.sniff(head)
    assert (found[0] if found else None) == kind


def test_gif_and_heic_are_refused_by_name_of_their_format(tmp_path):
    (tmp_path / "anim.png").write_bytes(b"GIF89a" + b"\0" * 32)
    result = dry({"prompt": "x", "img_url": "anim.png"}, tmp_path)
    assert result.code == 64 and "it is GIF, a format the service does not take" in result.stderr


def test_only_a_small_prefix_of_each_file_is_read(tmp_path, monkeypatch):
    big = tmp_path / "big.mp4"
    with open(big, "wb") as handle:
        handle.write(MP4)
        handle.truncate(50 << 20)  # sparse: 50 MiB
    requested = []
    real_read = os.read

    def counting_read(fd, n):
        requested.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(media.os, "read", counting_read)
    item = media.local_files({"video_url": "big.mp4"}, tmp_path)[0]
    assert media.file_problem(item) is None
    assert requested and sum(requested) <= media.HEAD_BYTES


def test_a_fifo_named_as_media_is_refused_without_blocking(tmp_path):
    os.mkfifo(str(tmp_path / "pipe.png"))
    result = dry({"prompt": "x", "img_url": "pipe.png"}, tmp_path)
    assert result.code == 64 and "Error: img_url: not a regular file: pipe.png" in result.stderr


def test_a_document_field_takes_pdf_office_and_plain_text_but_no_media(tmp_path):
    documents = {"brief.pdf": b"%PDF-1.7\n", "deck.pptx": b"PK\x03\x04" + b"\0" * 26, "old.doc":
                 b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 8, "notes.md": b"# Launch\nThe plan...\n"}
    for name, data in documents.items():
        (tmp_path / name).write_bytes(data + b"\0" * 32)
        result = dry({"model": "wan3.0-video", "prompt": "x", "file_url": name}, tmp_path)
        assert result.code == 0, (name, result.stderr)
    (tmp_path / "photo.pdf").write_bytes(PNG + b"\0" * 32)
    result = dry({"model": "wan3.0-video", "prompt": "x", "file_url": "photo.pdf"}, tmp_path)
    assert result.code == 64
    assert "Error: file_url: photo.pdf is not a document by its content: it is an image (PNG)" in result.stderr
    (tmp_path / "notes.exe").write_bytes(b"plain words")
    result = dry({"model": "wan3.0-video", "prompt": "x", "file_url": "notes.exe"}, tmp_path)
    assert result.code == 64 and "Error: file_url: notes.exe is not a document file; allowed: .pdf" in result.stderr
