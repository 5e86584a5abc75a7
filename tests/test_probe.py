"""probe: seconds from MP4/MOV, WAV and MP3 headers (more in test_probe_durations.py), pixels and frame
rates from image and video headers, or None; never an exception."""
from __future__ import annotations

import shutil
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qianwen_video.probe import duration_of
from tests.media_files import ffmpeg_files


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def mvhd(scale: int, length: int, version: int = 0) -> bytes:
    if version == 1:
        return box(b"mvhd", b"\x01\0\0\0" + b"\0" * 16 + struct.pack(">IQ", scale, length) + b"\0" * 80)
    return box(b"mvhd", b"\0\0\0\0" + b"\0" * 8 + struct.pack(">II", scale, length) + b"\0" * 80)


def mdhd(scale: int, length: int) -> bytes:
    return box(b"mdhd", b"\0\0\0\0" + b"\0" * 8 + struct.pack(">II", scale, length) + b"\0" * 4)


def trak(scale: int, length: int) -> bytes:
    return box(b"trak", box(b"mdia", mdhd(scale, length)))


FTYP = box(b"ftyp", b"isom\0\0\x02\0isomiso2")


def wav(seconds: float, rate: int = 8000, channels: int = 2, odd_chunk: bool = False) -> bytes:
    align = channels * 2
    data = b"\0" * int(seconds * rate * align)
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * align, align, 16)
    extra = (b"LIST" + struct.pack("<I", 3) + b"abc\0") if odd_chunk else b""  # an odd chunk and its pad byte
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + extra + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def mp3_frames(count: int, xing: bool = False, id3: bool = False, v1_tag: bool = False) -> bytes:
    # MPEG-1 layer III, 128 kbit/s, 44.1 kHz, stereo: 417 bytes per frame, 1152 samples
    header = b"\xff\xfb\x90\x00"
    frame = header + b"\0" * 413
    out = b""
    if id3:
        out += b"ID3\x04\0\0" + bytes([0, 0, 1, 0]) + b"\0" * 128  # a 128-byte tag (syncsafe size)
    if xing:
        info = header + b"\0" * 32 + b"Xing" + struct.pack(">II", 1, count)
        out += info + b"\0" * (417 - len(info))
    out += frame * count
    if v1_tag:
        out += b"TAG" + b"\0" * 125
    return out


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """One file the table and property tests overwrite: no new folder per example."""
    return tmp_path_factory.mktemp("probe") / "media"


CASES = [
    ("moov after a big mdat", FTYP + box(b"mdat", b"\0" * 5000) + box(b"moov", mvhd(1000, 2500)), 2.5),
    ("faststart", FTYP + box(b"moov", mvhd(600, 4200)) + box(b"mdat", b"\0" * 100), 7.0),
    ("mvhd version 1", FTYP + box(b"moov", mvhd(90000, 90000 * 12, version=1)), 12.0),
    ("64-bit mdat size", FTYP + struct.pack(">I4sQ", 1, b"mdat", 16 + 64) + b"\0" * 64
     + box(b"moov", mvhd(1000, 1500)), 1.5),
    ("no movie length: the longest track", FTYP + box(b"moov", mvhd(1000, 0) + trak(48000, 48000 * 3)
                                                       + trak(30, 30 * 4)), 4.0),
    ("mov without ftyp", box(b"wide", b"") + box(b"moov", mvhd(600, 600 * 9)), 9.0),
    ("timescale 0", FTYP + box(b"moov", mvhd(0, 100)), None),
    ("no moov", FTYP + box(b"mdat", b"\0" * 100), None),
    ("box larger than the file", FTYP + struct.pack(">I4s", 999999, b"moov") + mvhd(1000, 2000), None),
    ("wav", wav(2.25), 2.25),
    ("wav with an odd chunk", wav(1.5, odd_chunk=True), 1.5),
    ("mp3 cbr", mp3_frames(100), 100 * 417 * 8 / 128000.0),
    ("mp3 cbr with id3 and a v1 tag", mp3_frames(100, id3=True, v1_tag=True), 100 * 417 * 8 / 128000.0),
    ("mp3 with a xing frame count", mp3_frames(50, xing=True), 50 * 1152 / 44100.0),
    ("png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, None),
    ("an image holding bytes that look like an MPEG frame", b"\x89PNG\r\n\x1a\n" + b"\0" * 40
     + b"\xff\xfb\x90\x00" * 200, None),
    ("text", b"just some words, nothing to play", None),
    ("empty", b"", None),
]


@pytest.mark.parametrize("name, data, seconds", CASES, ids=[c[0] for c in CASES])
def test_duration_table(scratch, name, data, seconds):
    scratch.write_bytes(data)
    found = duration_of(scratch)
    assert (found is None) if seconds is None else found == pytest.approx(seconds, abs=1e-6), (name, found)


# Missing files and folders, a named pipe, exact seconds of many more synthetic files, bounded reads of
# huge, random and damaged ones, and real files made by ffmpeg: tests/test_probe_durations.py.


# -- pixel sizes and frame rates -----------------------------------------------------------------
from qianwen_video.probe import image_size, video_facts  # noqa: E402


def png_header(width: int, height: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sIIBBBBB", 13, b"IHDR", width, height, 8, 2, 0, 0, 0) + b"\0" * 16


def jpeg_header(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0" + b"\0" * 9
    dqt = b"\xff\xdb" + struct.pack(">H", 4) + b"\0\0"
    sof = b"\xff\xc2" + struct.pack(">HBHHB", 11, 8, height, width, 3) + b"\0" * 3
    return b"\xff\xd8" + app0 + b"\xff" + dqt + sof + b"\xff\xd9"  # a fill byte before DQT


def video_clip(width: int, height: int, fps: float, seconds: float, version: int = 0) -> bytes:
    """An MP4 header with one video track: tkhd size, hdlr 'vide', mdhd length, stts frame count."""
    scale = 1000
    frames = int(round(fps * seconds))
    tkhd_body = (b"\0\0\0\x07" + b"\0" * 72 + struct.pack(">II", width << 16, height << 16)) if version == 0 else \
        (b"\x01\0\0\x07" + b"\0" * 84 + struct.pack(">II", width << 16, height << 16))
    stts = box(b"stts", b"\0\0\0\0" + struct.pack(">III", 1, frames, int(scale / fps)))
    mdia = box(b"mdia", mdhd(scale, int(seconds * scale)) + box(b"hdlr", b"\0" * 8 + b"vide" + b"\0" * 12)
               + box(b"minf", box(b"stbl", stts)))
    sound = box(b"trak", box(b"tkhd", b"\0" * 84) + box(b"mdia", box(b"hdlr", b"\0" * 8 + b"soun" + b"\0" * 12)))
    return FTYP + box(b"moov", mvhd(scale, int(seconds * scale)) + sound + box(b"trak", box(b"tkhd", tkhd_body) + mdia))


@pytest.mark.parametrize("data, size", [
    (png_header(640, 480), (640, 480)),
    (jpeg_header(4000, 3000), (4000, 3000)),
    (b"RIFF\0\0\0\0WEBPVP8X" + b"\0" * 8 + (1919).to_bytes(3, "little") + (1079).to_bytes(3, "little"), (1920, 1080)),
    (b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f" + struct.pack("<I", 99 | (49 << 14)) + b"\0" * 8, (100, 50)),
    (b"BM" + b"\0" * 16 + struct.pack("<ii", 300, -200) + b"\0" * 8, (300, 200)),
    (png_header(0, 10), None),
    (b"\xff\xd8\xff\xe0\x00", None),  # cut inside a marker
    (b"GIF89a" + b"\0" * 20, None),
])
def test_image_size_table(tmp_path, data, size):
    path = tmp_path / "i.bin"
    path.write_bytes(data)
    assert image_size(path) == size


@pytest.mark.parametrize("data, facts", [
    (video_clip(1280, 720, 25, 4), (1280, 720, 25.0)),
    (video_clip(640, 1136, 30, 2, version=1), (640, 1136, 30.0)),
    (FTYP + box(b"moov", mvhd(1000, 2000)), None),  # no video track
    (wav(1.0), None),
])
def test_video_facts_table(tmp_path, data, facts):
    path = tmp_path / "v.bin"
    path.write_bytes(data)
    found = video_facts(path)
    assert found == (facts if facts is None else (facts[0], facts[1], pytest.approx(facts[2])))


PICTURES = ["i.png", "i.jpg", "i.webp", "i.bmp", "i.gif"]  # GIF: no size read, and no length either
VIDEOS = {"v.mp4": 24, "v.mov": 30}


@pytest.fixture(scope="module")
def made_by_ffmpeg(tmp_path_factory):
    still = "testsrc=size=320x240:rate=1"
    recipes = [([still], ["-frames:v", "1"], name) for name in PICTURES]
    recipes += [(["testsrc=duration=2:size=320x240:rate=%d" % rate], [], name) for name, rate in VIDEOS.items()]
    return ffmpeg_files(tmp_path_factory.mktemp("ffmpeg"), recipes)


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="ffmpeg makes the real files")
@pytest.mark.parametrize("name", PICTURES + list(VIDEOS))
def test_real_images_and_videos_made_by_ffmpeg(made_by_ffmpeg, name):
    path = made_by_ffmpeg[name]
    if name in VIDEOS:
        assert video_facts(path) == (320, 240, pytest.approx(VIDEOS[name], abs=0.01))
        assert image_size(path) is None
    else:
        assert image_size(path) == (None if name == "i.gif" else (320, 240))
        assert duration_of(path) is None  # a picture never has a length
        assert video_facts(path) is None


# The first bytes of each kind of picture and video, random bytes behind them, so that every example
# reaches a parser (bare noise would mostly be turned away at byte 0); and whole headers cut and changed.
PICTURE_MAGIC = [b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", b"\xff\xd8", b"\xff\xd8\xff\xe0\0\x10JFIF\0",
                 b"RIFF\0\0\0\0WEBPVP8 ", b"RIFF\0\0\0\0WEBPVP8L", b"RIFF\0\0\0\0WEBPVP8X", b"BM",
                 b"\0\0\0\x18ftyp", b"\0\0\x01\0moov\0\0\0\xf8trak", b""]
PICTURE_BASES = [png_header(640, 480), jpeg_header(800, 600), video_clip(1280, 720, 25, 4),
                 video_clip(640, 1136, 30, 2, version=1)]


@settings(max_examples=150, deadline=None)
@given(prefix=st.sampled_from(PICTURE_MAGIC), body=st.binary(max_size=1024), base=st.sampled_from(PICTURE_BASES),
       cut=st.integers(min_value=0), edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)),
                                                    max_size=4))
def test_damaged_pictures_and_videos_never_raise(scratch, prefix, body, base, cut, edits):
    damaged = bytearray(base[:cut % (len(base) + 1)])
    for at, value in edits:
        if damaged:
            damaged[at % len(damaged)] = value
    for blob in (prefix + body, bytes(damaged)):
        scratch.write_bytes(blob)
        size = image_size(scratch)
        facts = video_facts(scratch)
        assert size is None or (size[0] > 0 and size[1] > 0)
        assert facts is None or (facts[0] > 0 and facts[1] > 0 and (facts[2] is None or facts[2] > 0))
