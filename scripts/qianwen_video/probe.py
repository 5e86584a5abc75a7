"""What a local media file's headers say (seconds, pixels, frames per second), standard library only.

The newer models limit their inputs' seconds, sides and frame rates, so these are checked before
anything is paid. Reads are bounded (a few header boxes or markers, never the media data) and every
damaged or unknown file gives None, never an exception.
"""
from __future__ import annotations

import os
import struct
from typing import BinaryIO, Optional, Tuple

MAX_BOXES = 4096  # boxes looked at per level: a damaged file cannot make the walk run on
MAX_HEADER = 64 * 1024 * 1024  # the largest `moov` read whole (real ones are a few MB at most)


def duration_of(path) -> Optional[float]:
    """Seconds of media in the file, or None when the format is unknown or its header is damaged."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(12)
            if len(head) < 12:
                return None
            if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
                return _bmff(fh, size)
            if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
                return _wave(fh, size)
            return _mp3(fh, size)
    except (OSError, ValueError, struct.error, OverflowError):
        return None


# -- MP4 / MOV / M4A: ISO/IEC 14496-12 boxes (size, type; size 1 = 64-bit size follows, 0 = to the end)
def _boxes(fh: BinaryIO, start: int, end: int):
    offset = start
    for _ in range(MAX_BOXES):
        if offset + 8 > end:
            return
        fh.seek(offset)
        size, kind = struct.unpack(">I4s", fh.read(8))
        header = 8
        if size == 1:
            size = struct.unpack(">Q", fh.read(8))[0]
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            return
        yield kind, offset + header, offset + size
        offset += size


def _bmff(fh: BinaryIO, size: int) -> Optional[float]:
    moov = next(((s, e) for kind, s, e in _boxes(fh, 0, size) if kind == b"moov"), None)
    if moov is None or moov[1] - moov[0] > MAX_HEADER:
        return None
    seconds, scale, longest = None, 0, 0.0
    for kind, start, end in _boxes(fh, *moov):
        if kind == b"mvhd":
            scale, length = _scale_and_length(fh, start, end)
            seconds = length / float(scale) if scale and length else None
        elif kind == b"mvex" and not seconds and scale:  # a fragmented file may give its length in mehd
            for sub, s, e in _boxes(fh, start, end):
                if sub == b"mehd":
                    fh.seek(s)
                    body = fh.read(12)
                    wide = body[:1] == b"\x01" and len(body) == 12
                    length = struct.unpack(">Q", body[4:12])[0] if wide else \
                        struct.unpack(">I", body[4:8])[0] if len(body) >= 8 else 0
                    seconds = length / float(scale) if length else None
        elif kind == b"trak":  # used when the movie has no length: the longest track's mdhd
            for sub, s, e in _boxes(fh, start, end):
                if sub == b"mdia":
                    for box, s2, e2 in _boxes(fh, s, e):
                        if box == b"mdhd":
                            track_scale, length = _scale_and_length(fh, s2, e2)
                            track = length / float(track_scale) if track_scale and length else None
                            longest = max(longest, track or 0.0)
    return seconds or longest or None


def _scale_and_length(fh: BinaryIO, start: int, end: int):
    """(timescale, duration) of an mvhd or mdhd box (version 0: 32-bit fields, version 1: 64-bit);
    (0, 0) when the box is too short or says "unknown"."""
    fh.seek(start)
    body = fh.read(min(end - start, 32))
    if body[:1] == b"\x01" and len(body) >= 32:
        scale, length = struct.unpack(">IQ", body[20:32])
    elif len(body) >= 20 and body[:1] == b"\x00":
        scale, length = struct.unpack(">II", body[12:20])
    else:
        return 0, 0
    return (0, 0) if length in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF) else (scale, length)


def video_facts(path) -> Optional[Tuple[int, int, Optional[float]]]:
    """(width, height, frames per second or None) of an MP4/MOV's first video track, or None."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            moov = next(((s, e) for kind, s, e in _boxes(fh, 0, size) if kind == b"moov"), None)
            if moov is None or moov[1] - moov[0] > MAX_HEADER:
                return None
            for kind, start, end in _boxes(fh, *moov):
                if kind == b"trak":
                    facts = _video_track(fh, start, end)
                    if facts:
                        return facts
    except (OSError, ValueError, struct.error, OverflowError):
        return None
    return None


def _child(fh: BinaryIO, start: int, end: int, *path: bytes) -> Optional[Tuple[int, int]]:
    """(start, end) of the box at `path` below [start, end), or None."""
    for name in path:
        found = next(((s, e) for kind, s, e in _boxes(fh, start, end) if kind == name), None)
        if found is None:
            return None
        start, end = found
    return start, end


def _video_track(fh: BinaryIO, start: int, end: int) -> Optional[Tuple[int, int, Optional[float]]]:
    hdlr = _child(fh, start, end, b"mdia", b"hdlr")
    if hdlr is None:
        return None
    fh.seek(hdlr[0] + 8)
    if fh.read(4) != b"vide":
        return None
    tkhd = _child(fh, start, end, b"tkhd")
    if tkhd is None:
        return None
    fh.seek(tkhd[0])
    body = fh.read(min(tkhd[1] - tkhd[0], 96))
    at = 88 if body[:1] == b"\x01" else 76  # width, height: 16.16 fixed point at the box's end
    if len(body) < at + 8:
        return None
    width, height = (value >> 16 for value in struct.unpack(">II", body[at:at + 8]))
    fps = None
    mdia = _child(fh, start, end, b"mdia")
    mdhd = _child(fh, mdia[0], mdia[1], b"mdhd") if mdia else None
    stts = _child(fh, start, end, b"mdia", b"minf", b"stbl", b"stts")
    if mdhd and stts:
        scale, length = _scale_and_length(fh, *mdhd)
        fh.seek(stts[0] + 4)
        entries = min(struct.unpack(">I", fh.read(4))[0], (stts[1] - stts[0] - 8) // 8, MAX_BOXES)
        table = fh.read(entries * 8)
        frames = sum(struct.unpack(">%dI" % (2 * entries), table)[0::2]) if len(table) == entries * 8 else 0
        if scale and length and frames:
            fps = frames / (length / float(scale))
    return (width, height, fps) if width and height else None


def image_size(path) -> Optional[Tuple[int, int]]:
    """(width, height) of a PNG, JPEG, WEBP or BMP from its header, or None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(32)
            if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
                return _positive(struct.unpack(">II", head[16:24]))
            if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                return _webp(head)
            if head[:2] == b"BM" and len(head) >= 26:
                width, height = struct.unpack("<ii", head[18:26])
                return _positive((width, abs(height)))
            if head.startswith(b"\xff\xd8"):
                return _jpeg(fh)
    except (OSError, ValueError, struct.error):
        return None
    return None


def _positive(pair) -> Optional[Tuple[int, int]]:
    return (int(pair[0]), int(pair[1])) if pair[0] > 0 and pair[1] > 0 else None


def _webp(head: bytes) -> Optional[Tuple[int, int]]:
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return _positive((width & 0x3FFF, height & 0x3FFF))
    if chunk == b"VP8L" and head[20:21] == b"\x2f":
        bits = struct.unpack("<I", head[21:25])[0]
        return _positive(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
    if chunk == b"VP8X":
        return _positive((int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1))
    return None


def _jpeg(fh: BinaryIO) -> Optional[Tuple[int, int]]:
    """The frame size from the first SOF marker (ITU T.81: every marker but SOI/EOI/RST has a length)."""
    fh.seek(2)
    for _ in range(MAX_BOXES):
        marker = fh.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        kind = marker[1]
        if kind == 0xFF:
            fh.seek(-1, 1)  # fill byte
            continue
        if kind in (0xD8, 0x01) or 0xD0 <= kind <= 0xD7:
            continue
        length = struct.unpack(">H", fh.read(2))[0]
        if 0xC0 <= kind <= 0xCF and kind not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">xHH", fh.read(5))
            return _positive((width, height))
        if length < 2 or kind == 0xD9:
            return None
        fh.seek(length - 2, 1)
    return None


# -- WAV: RIFF chunks, word aligned; `fmt ` gives the byte rate, `data` the length
def _wave(fh: BinaryIO, size: int) -> Optional[float]:
    offset, rate, data = 12, None, None
    for _ in range(MAX_BOXES):
        if offset + 8 > size:
            break
        fh.seek(offset)
        kind, length = struct.unpack("<4sI", fh.read(8))
        if kind == b"fmt ":
            fmt = fh.read(16)
            if len(fmt) < 16:
                return None
            _channels, sample_rate, byte_rate, align = struct.unpack("<HIIH", fmt[2:14])
            rate = byte_rate or sample_rate * align
        elif kind == b"data":
            data = size - offset - 8 if length == 0xFFFFFFFF or offset + 8 + length > size else length
            break
        offset += 8 + length + (length & 1)
    return data / float(rate) if rate and data is not None else None


# -- MP3: MPEG audio frame headers (ISO/IEC 11172-3, 13818-3; "MPEG 2.5"), a Xing/Info or VBRI frame count
_BITRATES = {  # kbit/s by (MPEG-1?, layer) and the header's 4-bit index
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_BITRATES[(False, 3)] = _BITRATES[(False, 2)]
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}  # by version bits
SCAN = 64 * 1024  # how far past the tags the first frame is looked for


def _mp3(fh: BinaryIO, size: int) -> Optional[float]:
    fh.seek(0)
    start = 0
    tag = fh.read(10)
    if tag[:3] == b"ID3" and len(tag) == 10:
        start = 10 + ((tag[6] & 0x7F) << 21 | (tag[7] & 0x7F) << 14 | (tag[8] & 0x7F) << 7 | (tag[9] & 0x7F))
        if tag[5] & 0x10:
            start += 10  # a footer
    fh.seek(max(size - 128, 0))
    end = size - 128 if fh.read(3) == b"TAG" else size
    fh.seek(start)
    window = fh.read(SCAN if start else 4)  # no ID3 tag: an MP3 starts with its first frame (never
    for at in range(max(len(window) - 3, 0)):  # a scan through an image for bytes that look like one)
        if window[at] != 0xFF or window[at + 1] & 0xE0 != 0xE0:
            continue
        frame = _frame(window[at:at + 4])
        if frame is None:
            continue
        mpeg1, layer, bitrate, sample_rate, per_frame, side = frame
        fh.seek(start + at)
        first = fh.read(200)
        frames = _frame_count(first, side)
        if frames:
            return frames * per_frame / float(sample_rate)
        return (end - start - at) * 8 / (bitrate * 1000.0)
    return None


def _frame(header: bytes):
    """(MPEG-1?, layer, kbit/s, sample rate, samples per frame, side-info size) of a valid header."""
    b1, b2, b3 = header[1], header[2], header[3]
    version, layer_bits = (b1 >> 3) & 3, (b1 >> 1) & 3
    rate_index, bitrate_index = (b2 >> 2) & 3, b2 >> 4
    if version == 1 or layer_bits == 0 or rate_index == 3 or bitrate_index in (0, 15):
        return None
    mpeg1, layer = version == 3, 4 - layer_bits
    per_frame = 384 if layer == 1 else 1152 if layer == 2 or mpeg1 else 576
    mono = (b3 >> 6) == 3
    side = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    return (mpeg1, layer, _BITRATES[(mpeg1, layer)][bitrate_index], _RATES[version][rate_index], per_frame,
            side)


def _frame_count(frame: bytes, side: int) -> Optional[int]:
    """The frame count a Xing/Info header (after the side info) or a VBRI header (at 36) gives."""
    at = 4 + side
    if frame[at:at + 4] in (b"Xing", b"Info") and len(frame) >= at + 12:
        flags = struct.unpack(">I", frame[at + 4:at + 8])[0]
        if flags & 1:
            return struct.unpack(">I", frame[at + 8:at + 12])[0] or None
    if frame[36:40] == b"VBRI" and len(frame) >= 54:
        return struct.unpack(">I", frame[50:54])[0] or None
    return None
