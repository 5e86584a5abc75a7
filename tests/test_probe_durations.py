"""probe.duration_of, strictly: exact seconds of synthetic MP4/MOV, WAV/RF64 and MPEG audio files, every
bitrate and sample rate of MPEG-1/2/2.5 layers I-III, huge sparse files read in a few KB, bounded reads
of random and damaged files, and real files made by ffmpeg; None, never an exception, for the rest."""
from __future__ import annotations

import math
import os
import shutil
import struct
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qianwen_video import probe
from qianwen_video.probe import duration_of
from tests import test_probe
from tests.media_files import ffmpeg_files

READ_LIMIT = 256 * 1024  # bytes any one call may read, whatever the file (the module's walks are bounded)


# -- ISO BMFF (MP4/MOV) builders ------------------------------------------------------------------
def box(kind: bytes, body: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def movie_header(kind: bytes, scale: int, duration: int, version: int = 0, tail: int = 80) -> bytes:
    """mvhd or mdhd: version and flags, creation and modification times, timescale, duration, the rest."""
    times = struct.pack(">QQIQ", 0, 0, scale, duration) if version else struct.pack(">IIII", 0, 0, scale, duration)
    return box(kind, bytes([version, 0, 0, 0]) + times + b"\0" * tail)


def mvhd(scale: int, duration: int, version: int = 0) -> bytes:
    return movie_header(b"mvhd", scale, duration, version)


def trak(scale: int, duration: int, version: int = 0) -> bytes:
    """A track whose mdhd follows other boxes at each level, as in real files."""
    mdhd = movie_header(b"mdhd", scale, duration, version, tail=4)
    hdlr = box(b"hdlr", b"\0" * 8 + b"soun" + b"\0" * 12)
    return box(b"trak", box(b"tkhd", b"\0" * 84) + box(b"mdia", mdhd + hdlr + box(b"minf")))


FTYP = box(b"ftyp", b"isom\0\0\x02\0isomiso2mp41")
MDAT = box(b"mdat", b"\0" * 3000)


# -- RIFF WAVE builders ----------------------------------------------------------------------------
def fmt(channels: int, rate: int, bits: int, byte_rate: int = -1, extensible: bool = False) -> bytes:
    align = channels * bits // 8
    body = struct.pack("<HHIIHH", 0xFFFE if extensible else 1, channels, rate,
                       rate * align if byte_rate < 0 else byte_rate, align, bits)
    if extensible:
        body += struct.pack("<HHI", 22, bits, 0x3F) + b"\x01\0\0\0\0\0\x10\0\x80\0\0\xaa\0\x38\x9b\x71"
    return b"fmt " + struct.pack("<I", len(body)) + body


def riff(*chunks: bytes, kind: bytes = b"RIFF") -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return kind + struct.pack("<I", 0xFFFFFFFF if kind == b"RF64" else len(body)) + body


def data(size: int, stated: int = -1) -> bytes:
    return b"data" + struct.pack("<I", size if stated < 0 else stated) + b"\0" * size


STEREO_CD = fmt(2, 44100, 16)  # 176400 bytes a second


# -- MPEG audio builders ---------------------------------------------------------------------------
def mpeg(version_bits: int, layer: int, bitrate_index: int, rate_index: int, padding: int = 0,
         mono: bool = False) -> bytes:
    """A frame header: sync, version (3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5), layer, no CRC, rates, mode."""
    return bytes([0xFF, 0xE0 | version_bits << 3 | (4 - layer) << 1 | 1,
                  bitrate_index << 4 | rate_index << 2 | padding << 1, 0xC0 if mono else 0])


def frames(header: bytes, length: int, count: int = 1) -> bytes:
    return (header + b"\0" * (length - 4)) * count


L3_128K_48K = mpeg(3, 3, 9, 1)  # MPEG-1 layer III, 128 kbit/s, 48 kHz: 384 bytes, 1152 samples, 24 ms
L3_128K_44K = mpeg(3, 3, 9, 0)  # 44.1 kHz: 417 bytes (418 padded)


def xing(header: bytes, length: int, side_information: int, count: int, flags: int = 0xF, tag: bytes = b"Xing"):
    body = b"\0" * side_information + tag + struct.pack(">II", flags, count)
    return header + body + b"\0" * (length - 4 - len(body))


def vbri(header: bytes, length: int, count: int) -> bytes:
    body = b"\0" * 32 + b"VBRI" + struct.pack(">HHHII", 1, 0, 75, 99999, count)
    return header + body + b"\0" * (length - 4 - len(body))


def id3v2(body: int, footer: bool = False) -> bytes:
    syncsafe = bytes([body >> 21 & 0x7F, body >> 14 & 0x7F, body >> 7 & 0x7F, body & 0x7F])
    return b"ID3\x04\0" + (b"\x10" if footer else b"\0") + syncsafe + b"\0" * body + (b"3DI" + b"\0" * 7) * footer


ID3V1 = b"TAG" + b"\0" * 125
PNG = b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sIIBBBBB", 13, b"IHDR", 64, 64, 8, 2, 0, 0, 0) + b"\0" * 4

CASES = [
    # MP4 / MOV / M4A
    ("mp4: moov after mdat, mvhd version 0", FTYP + MDAT + box(b"moov", mvhd(1000, 12345) + trak(1000, 99000)), 12.345),
    ("mp4: faststart, moov first", FTYP + box(b"moov", mvhd(600, 1500)) + MDAT, 2.5),
    ("mp4: mvhd version 1, 64-bit duration", FTYP + MDAT + box(b"moov", mvhd(90000, 2 ** 33, version=1)),
     2 ** 33 / 90000),
    ("mp4: mdat with a 64-bit largesize", FTYP + struct.pack(">I4sQ", 1, b"mdat", 16 + 500) + b"\0" * 500
     + box(b"moov", mvhd(25, 250)), 10.0),
    ("mp4: moov with a 64-bit largesize", FTYP + struct.pack(">I4sQ", 1, b"moov", 16 + 108) + mvhd(30, 45), 1.5),
    ("mp4: moov the last box, size 0", FTYP + MDAT + struct.pack(">I4s", 0, b"moov") + mvhd(1000, 4000), 4.0),
    ("mp4: fragmented, mvhd 0: the longest track", FTYP + box(b"moov", mvhd(1000, 0) + trak(12800, 64000)
                                                                + trak(48000, 249600) + box(b"mvex")) + box(b"moof"),
     5.2),
    ("mp4: fragmented, mvhd 0: the length in mvex/mehd", FTYP + box(b"moov", mvhd(1000, 0) + trak(1000, 2000)
                                                                       + box(b"mvex", box(b"trex", b"\0" * 24)
                                                                             + box(b"mehd", b"\0" * 4
                                                                                   + struct.pack(">I", 7500)))), 7.5),
    ("mp4: fragmented, mehd version 1", FTYP + box(b"moov", mvhd(90000, 0) + box(b"mvex", box(
        b"mehd", b"\x01\0\0\0" + struct.pack(">Q", 2 ** 33)))), 2 ** 33 / 90000),
    ("mp4: no mvhd: the longest track, mdhd version 1", FTYP + box(b"moov", trak(600, 2 ** 32 + 600, version=1)),
     (2 ** 32 + 600) / 600),
    ("mp4: mvhd 'unknown' (all ones): the tracks", FTYP + box(b"moov", mvhd(1000, 0xFFFFFFFF) + trak(44100, 88200)),
     2.0),
    ("mov: wide, mdat, moov", box(b"wide") + MDAT + box(b"moov", mvhd(600, 600 * 9)), 9.0),
    ("mov: pnot preview box first", box(b"pnot", b"\0" * 12) + box(b"moov", mvhd(600, 600 * 3)), 3.0),
    ("m4a brand", box(b"ftyp", b"M4A \0\0\0\0M4A mp42isom") + box(b"moov", mvhd(44100, 44100 * 3)), 3.0),
    ("mp4: timescale 0, no tracks", FTYP + box(b"moov", mvhd(0, 1000)), None),
    ("mp4: fragmented, no length anywhere", FTYP + box(b"moov", mvhd(1000, 0) + trak(1000, 0)), None),
    ("mp4: no moov", FTYP + MDAT, None),
    ("mp4: moov larger than the file", FTYP + struct.pack(">I4s", 5000, b"moov") + mvhd(1000, 2000), None),
    ("mp4: mdat larger than the file, moov after it", FTYP + struct.pack(">I4s", 10 ** 6, b"mdat")
     + box(b"moov", mvhd(1000, 2000)), None),
    ("mp4: a box smaller than its header", FTYP + struct.pack(">I", 4) + box(b"moov", mvhd(1, 2)), None),
    ("mp4: a 64-bit size smaller than its header", FTYP + struct.pack(">I4sQ", 1, b"free", 12) + b"\0" * 4
     + box(b"moov", mvhd(1, 2)), None),
    ("mp4: mvhd cut short", FTYP + box(b"moov", box(b"mvhd", b"\0" * 12)), None),
    # WAV
    ("wav: PCM 16-bit stereo", riff(STEREO_CD, data(352800)), 2.0),
    ("wav: an odd chunk and its pad byte first", riff(STEREO_CD, b"LIST" + struct.pack("<I", 5) + b"INFOx\0",
                                                      b"fact" + struct.pack("<I", 4) + b"\0" * 4, data(88200)), 0.5),
    ("wav: byte rate 0, from sample rate and block align", riff(fmt(1, 8000, 16, byte_rate=0), data(24000)), 1.5),
    ("wav: extensible, 6 channels of 24 bits", riff(fmt(6, 48000, 24, extensible=True), data(1296000)), 1.5),
    ("wav: streamed, data size unknown", riff(STEREO_CD, data(44100, stated=0xFFFFFFFF)), 0.25),
    ("wav: cut short, the bytes present", riff(STEREO_CD, data(17640, stated=176400)), 0.1),
    ("rf64: data size in ds64", riff(b"ds64" + struct.pack("<I", 28) + struct.pack("<QQQI", 0, 88200, 0, 0),
                                     STEREO_CD, data(88200, stated=0xFFFFFFFF), b"LIST" + struct.pack("<I", 2) + b"xy",
                                     kind=b"RF64"), 0.5),
    ("wav: data before fmt", riff(data(1000), STEREO_CD), None),
    ("wav: no data chunk", riff(STEREO_CD), None),
    ("wav: fmt too short", riff(b"fmt " + struct.pack("<I", 4) + b"\1\0\2\0", data(1000)), None),
    ("wav: no rates", riff(fmt(2, 0, 16, byte_rate=0), data(1000)), None),
    # MP3 and MPEG audio layers I and II, constant bit rate: audio bytes * 8 / bit rate
    ("mp3: MPEG-1 layer III CBR", frames(L3_128K_48K, 384, 125), 3.0),
    ("mp3: ID3v2 and ID3v1 tags left out", id3v2(300) + frames(L3_128K_48K, 384, 125) + ID3V1, 3.0),
    ("mp3: ID3v2.4 tag with a footer", id3v2(50, footer=True) + frames(L3_128K_48K, 384, 25), 0.6),
    ("mp3: padding past the ID3v2 tag", id3v2(20) + b"\0" * 700 + frames(L3_128K_48K, 384, 50), 1.2),
    ("mp3: padded frames at 44.1 kHz", (frames(mpeg(3, 3, 9, 0, padding=1), 418) + frames(L3_128K_44K, 417)) * 5,
     4175 * 8 / 128000),
    ("mp3: MPEG-2 layer III, 64 kbit/s, 24 kHz", frames(mpeg(2, 3, 8, 1), 192, 50), 1.2),
    ("mp3: MPEG-2.5 layer III, 8 kbit/s, 8 kHz", frames(mpeg(0, 3, 1, 2), 72, 100), 7.2),
    ("mp2: MPEG-1 layer II, 192 kbit/s, 48 kHz", frames(mpeg(3, 2, 10, 1), 576, 50), 1.2),
    ("mp1: MPEG-1 layer I, 384 kbit/s, 48 kHz", frames(mpeg(3, 1, 12, 1), 384, 125), 1.0),
    ("mp1: MPEG-2 layer I, 96 kbit/s, 24 kHz", frames(mpeg(2, 1, 6, 1), 192, 100), 1.6),
    ("mp3: a single frame", frames(L3_128K_48K, 384), 0.024),
    ("mp3: a single frame and an ID3v1 tag", frames(L3_128K_48K, 384) + ID3V1, 0.024),
    # VBR: frame count * samples per frame / sample rate
    ("mp3: Xing frame count, stereo MPEG-1", xing(L3_128K_44K, 417, 32, 1000) + frames(mpeg(3, 3, 5, 0), 208, 3),
     1000 * 1152 / 44100),
    ("mp3: Info frame count, mono MPEG-1", id3v2(100) + xing(mpeg(3, 3, 9, 0, mono=True), 417, 17, 500, tag=b"Info")
     + frames(mpeg(3, 3, 9, 0, mono=True), 417, 2), 500 * 1152 / 44100),
    ("mp3: Xing frame count, MPEG-2 stereo", xing(mpeg(2, 3, 8, 1), 192, 17, 500) + frames(mpeg(2, 3, 8, 1), 192),
     12.0),
    ("mp3: Xing without a frame count: CBR", xing(L3_128K_48K, 384, 32, 7, flags=0x6) + frames(L3_128K_48K, 384, 24),
     0.6),
    ("mp3: VBRI frame count", vbri(L3_128K_44K, 417, 2000) + frames(L3_128K_44K, 417), 2000 * 1152 / 44100),
    ("mp3: a frame the next one does not confirm", L3_128K_48K + b"\0" * 1000, None),
    ("mp3: a single frame cut short", frames(L3_128K_48K, 384)[:300], None),
    ("mp3: the next frame from another stream", frames(L3_128K_48K, 384) + frames(L3_128K_44K, 417), None),
    ("mp3: a reserved emphasis", frames(L3_128K_48K[:3] + b"\x02", 384, 3), None),
    ("mp3: a free-format bitrate", frames(mpeg(3, 3, 0, 1), 384, 3), None),
    ("mp3: a damaged ID3v2 size", b"ID3\x04\0\0\x80\0\0\0" + frames(L3_128K_48K, 384, 3), None),
    ("mp3: frames after bytes that are not a frame, no ID3v2 tag", b"\0" * 10 + frames(L3_128K_48K, 384, 10), None),
    # not media
    ("png", PNG, None),
    ("a picture holding bytes that look like MPEG frames", PNG + frames(L3_128K_48K, 384, 20), None),
    ("text", "plain words, ünïcode too\n".encode() * 40, None),
    ("empty", b"", None),
    ("one byte", b"\xff", None),
]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """One file the table and property tests overwrite: no new folder per example."""
    return tmp_path_factory.mktemp("durations") / "media"


@pytest.mark.parametrize("data, seconds", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_seconds_of_each_fixture(scratch, data, seconds):
    scratch.write_bytes(data)
    assert duration_of(scratch) == seconds


KBPS = [  # by bitrate index 1-14: MPEG-1 layers I, II, III; MPEG-2 and 2.5 layer I; their layers II and III
    (32, 32, 32, 32, 8), (64, 48, 40, 48, 16), (96, 56, 48, 56, 24), (128, 64, 56, 64, 32), (160, 80, 64, 80, 40),
    (192, 96, 80, 96, 48), (224, 112, 96, 112, 56), (256, 128, 112, 128, 64), (288, 160, 128, 144, 80),
    (320, 192, 160, 160, 96), (352, 224, 192, 176, 112), (384, 256, 224, 192, 128), (416, 320, 256, 224, 144),
    (448, 384, 320, 256, 160)]
HZ = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}  # MPEG-1, MPEG-2, MPEG-2.5


def frame_length(version_bits: int, layer: int, kbps: int, hz: int, padding: int) -> int:
    """ISO/IEC 11172-3 and 13818-3: layer I counts 4-byte slots of 12 * bitrate / rate; layers II and III bytes of
    144 * bitrate / rate, and MPEG-2's layer III, with half the samples, 72."""
    if layer == 1:
        return (12 * kbps * 1000 // hz + padding) * 4
    return (72 if layer == 3 and version_bits != 3 else 144) * kbps * 1000 // hz + padding


@pytest.mark.parametrize("version_bits", [3, 2, 0], ids=["MPEG-1", "MPEG-2", "MPEG-2.5"])
@pytest.mark.parametrize("layer", [1, 2, 3])
def test_every_bitrate_and_sample_rate_of_every_version_and_layer(scratch, version_bits, layer):
    column = layer - 1 if version_bits == 3 else 3 if layer == 1 else 4
    longest = 0
    for index, row in enumerate(KBPS, start=1):
        for rate_index, hz in enumerate(HZ[version_bits]):
            lengths = [frame_length(version_bits, layer, row[column], hz, padding) for padding in (1, 0, 1)]
            longest = max(longest, *lengths)
            scratch.write_bytes(b"".join(frames(mpeg(version_bits, layer, index, rate_index, padding), length)
                                         for padding, length in zip((1, 0, 1), lengths)))
            assert duration_of(scratch) == sum(lengths) * 8 / (row[column] * 1000), (index, hz)
    assert longest <= probe.LONGEST_FRAME
    if (version_bits, layer) == (0, 2):
        assert longest == probe.LONGEST_FRAME


def test_the_first_frame_is_looked_for_as_far_past_the_id3v2_tag_and_its_footer_as_the_search_goes(scratch):
    last = probe.SCAN - 1
    scratch.write_bytes(id3v2(50, footer=True) + b"\0" * last + frames(L3_128K_48K, 384, 25))
    assert duration_of(scratch) == 0.6
    scratch.write_bytes(id3v2(50, footer=True) + b"\0" * (last + 1) + frames(L3_128K_48K, 384, 25))
    assert duration_of(scratch) is None


def test_missing_files_folders_and_bad_paths_are_none(tmp_path):
    for function in (duration_of, probe.image_size, probe.video_facts):
        assert function(tmp_path / "missing.mp4") is None
        assert function(tmp_path) is None
        assert function(str(tmp_path / "nul\0.mp4")) is None


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_is_none_at_once_not_a_wait_for_a_writer(tmp_path):
    os.mkfifo(str(tmp_path / "pipe.mp3"))
    found = []
    calls = (duration_of, probe.image_size, probe.video_facts)
    reader = threading.Thread(target=lambda: found.extend(call(tmp_path / "pipe.mp3") for call in calls), daemon=True)
    reader.start()
    reader.join(10)
    assert found == [None, None, None]


class CountingFile:
    """A file whose reads are counted, so a test can hold duration_of to its bound."""

    def __init__(self, raw, counter):
        self.raw, self.counter = raw, counter

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.raw.close()

    def read(self, size=-1):
        chunk = self.raw.read(size)
        self.counter[0] += len(chunk)
        return chunk

    def seek(self, *args):
        return self.raw.seek(*args)


def answer_and_bytes_read(path, function=duration_of):
    counter = [0]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(probe, "open", lambda name, mode: CountingFile(open(name, mode), counter), raising=False)
        return function(path), counter[0]


def sparse(path, head: bytes, gap: int, tail: bytes = b"") -> None:
    with open(path, "wb") as out:
        out.write(head)
        out.seek(len(head) + gap)
        out.write(tail)
        out.truncate(len(head) + gap + len(tail))


def test_moov_after_a_5_gb_mdat_is_found_without_reading_the_media(tmp_path):
    gap = 5 * 2 ** 30
    path = tmp_path / "big.mp4"
    sparse(path, FTYP + struct.pack(">I4sQ", 1, b"mdat", 16 + gap), gap, box(b"moov", mvhd(1000, 3_600_000)))
    seconds, read = answer_and_bytes_read(path)
    assert (seconds, read < 4096) == (3600.0, True), read


def test_a_3_gb_streamed_wav_and_a_large_mp3_are_timed_from_their_headers(tmp_path):
    path = tmp_path / "big.wav"
    sparse(path, riff(STEREO_CD, data(0, stated=0xFFFFFFFF)), 3 * 176400 * 6000)
    seconds, read = answer_and_bytes_read(path)
    assert (seconds, read < 4096) == (3 * 6000, True), read
    path = tmp_path / "big.mp3"
    sparse(path, frames(L3_128K_48K, 384, 2), 384 * (150000 - 2))  # 150000 frames of 24 ms: one hour
    seconds, read = answer_and_bytes_read(path)
    assert (seconds, read < 4 * 4096) == (3600.0, True), read


def test_a_walk_through_endless_boxes_or_chunks_gives_up_within_its_bound(tmp_path):
    path = tmp_path / "boxes.mp4"
    path.write_bytes(FTYP + box(b"free") * 100_000 + box(b"moov", mvhd(1000, 1000)))
    seconds, read = answer_and_bytes_read(path)
    assert (seconds, read <= READ_LIMIT) == (None, True), read
    path.write_bytes(FTYP + box(b"moov", box(b"free") * 100_000 + mvhd(1000, 1000)
                                + box(b"trak", box(b"free") * 100_000)))  # inside the movie too
    for function in (duration_of, probe.video_facts):
        found, read = answer_and_bytes_read(path, function)
        assert (found, read <= READ_LIMIT) == (None, True), (function, read)
    path.write_bytes(riff(STEREO_CD, *[b"junk" + struct.pack("<I", 0)] * 100_000, data(176400)))
    seconds, read = answer_and_bytes_read(path)
    assert (seconds, read <= READ_LIMIT) == (None, True), read


def assert_sane(path) -> None:
    seconds, read = answer_and_bytes_read(path)
    assert seconds is None or (isinstance(seconds, float) and math.isfinite(seconds) and seconds >= 0), seconds
    assert read <= READ_LIMIT, read


# Random bytes behind each format's first bytes, so that every example reaches a parser (bare noise
# would mostly be turned away at byte 0).
MAGIC = [b"RIFF\0\0\0\0WAVE", b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0", b"RF64\xff\xff\xff\xffWAVEds64", b"\0\0\0\x18ftyp",
         b"\0\0\0\0moov", b"\0\0\x01\0moov\0\0\0\x6cmvhd", b"ID3\x04\0\0\0\0\0\0", b"\xff\xfb\x90\x00",
         b"\xff\xf3", b""]


@settings(max_examples=150, deadline=None)
@given(prefix=st.sampled_from(MAGIC), body=st.binary(max_size=3000))
def test_random_bytes_give_none_or_seconds_and_a_bounded_read(scratch, prefix, body):
    scratch.write_bytes(prefix + body)
    assert_sane(scratch)


# Every fixture here and in test_probe.py (pictures holding frame-like bytes too), cut and with bytes changed
# anywhere in it: its first 8 KB (every header and a few MPEG frames; past that only silence, where a change
# tells nothing).
BASES = [c[1][:8192] for c in CASES + test_probe.CASES if c[1]]


@settings(max_examples=150, deadline=None)
@given(base=st.sampled_from(BASES), cut=st.integers(min_value=0),
       edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=6))
def test_cut_or_damaged_fixtures_give_none_or_seconds_and_a_bounded_read(scratch, base, cut, edits):
    damaged = bytearray(base[:cut % (len(base) + 1)])
    for at, value in edits:
        if damaged:
            damaged[at % len(damaged)] = value
    scratch.write_bytes(bytes(damaged))
    assert_sane(scratch)


# -- real files made by ffmpeg: each source once, every file in one run --------------------------------
SINE, SHORT_SINE = "sine=duration=3.5", "sine=duration=2.5"
CLIP, LONG_CLIP = "testsrc=duration=2.5:size=64x64:rate=10", "testsrc=duration=4:size=64x64:rate=10"
FFMPEG = [  # sources, output options, file name, seconds, tolerance (an MP3 holds whole frames and the encoder's delay)
    ([SINE], [], "a.wav", 3.5, 0.001),
    ([SINE], ["-rf64", "always"], "rf64.wav", 3.5, 0.001),
    ([SINE], [], "a.mp3", 3.5, 0.06),
    ([SINE], ["-q:a", "4"], "vbr.mp3", 3.5, 0.06),
    ([SINE], ["-b:a", "128k", "-write_xing", "0"], "cbr.mp3", 3.5, 0.06),
    ([SINE], ["-write_xing", "0", "-id3v2_version", "0"], "bare_cbr.mp3", 3.5, 0.06),
    ([SINE], ["-write_xing", "0", "-write_id3v1", "1", "-metadata", "title=t"], "tagged_cbr.mp3", 3.5, 0.06),
    ([SINE], ["-ar", "8000", "-ac", "1", "-q:a", "7"], "mpeg25.mp3", 3.5, 0.2),
    ([SINE], ["-c:a", "mp2"], "a.mp2", 3.5, 0.03),
    ([SINE], ["-c:a", "aac"], "a.m4a", 3.5, 0.03),
    ([CLIP], [], "a.mp4", 2.5, 0.001),
    ([CLIP], ["-movflags", "+faststart"], "fast.mp4", 2.5, 0.001),
    ([LONG_CLIP], [], "a.mov", 4.0, 0.001),
    ([CLIP, SHORT_SINE], ["-c:v", "libx264", "-c:a", "aac", "-shortest"], "a.3gp", 2.5, 0.03),
]


@pytest.fixture(scope="module")
def made_by_ffmpeg(tmp_path_factory):
    return ffmpeg_files(tmp_path_factory.mktemp("ffmpeg"), [f[:3] for f in FFMPEG])


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="ffmpeg makes the real files")
@pytest.mark.parametrize("name, seconds, tolerance", [f[2:] for f in FFMPEG], ids=[f[2] for f in FFMPEG])
def test_files_made_by_ffmpeg(made_by_ffmpeg, name, seconds, tolerance):
    found, read = answer_and_bytes_read(made_by_ffmpeg[name])
    assert found == pytest.approx(seconds, abs=tolerance)
    assert read <= READ_LIMIT
