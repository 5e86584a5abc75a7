"""What a local media file's headers say (seconds, pixels, frames per second), standard library only.

The newer models limit their inputs' seconds, sides and frame rates, so these are checked before
anything is paid. Reads are bounded (a few header boxes, chunks, markers or frames, never the media
data, whatever the file's size) and every damaged or unknown file, or one that is not a regular
file, gives None, never an exception.
"""
from __future__ import annotations

import os
import stat
import struct
from typing import BinaryIO, Iterator, NamedTuple, Optional, Tuple

MAX_BOXES = 4096  # top-level boxes or RIFF chunks looked at: a damaged file cannot make a walk run on
MAX_CHILDREN = 64  # boxes looked at inside moov and below (real files have a handful at each level)
MAX_HEADER = 64 * 1024 * 1024  # the largest `moov` walked (real ones are a few MB at most)
# What a damaged file or a bad path raises: ValueError for a NUL in the path, struct.error for a header cut short
_ERRORS = (OSError, ValueError, struct.error, OverflowError)


def _open(path) -> BinaryIO:
    """The file, opened for reading; OSError when it is not a regular file (reading a FIFO would wait
    for a writer, a device might never end). Opened non-blocking so that a FIFO cannot hold the open."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file")
        return open(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def duration_of(path) -> Optional[float]:
    """Seconds of media in the file, or None when the format is unknown or its header is damaged."""
    try:
        with _open(path) as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(0)
            head = fh.read(12)
            if len(head) < 12:
                return None
            if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
                return _wave(fh, size)
            if head[4:8] in TOP_LEVEL_BOXES:
                return _bmff(fh)
            return _mp3(fh, size)
    except _ERRORS:
        return None


# -- MP4 / MOV / M4A / 3GP: ISO/IEC 14496-12 (ISO base media file format) 4.2: a box is a 32-bit size
# and a 4-byte type; size 1 means a 64-bit size follows the type, size 0 means "to the end of the file".
# The movie's length is in moov/mvhd (8.2.2), each track's in moov/trak/mdia/mdhd (8.4.2).
TOP_LEVEL_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid")


def _boxes(fh: BinaryIO, start: int, end: int, most: int = MAX_CHILDREN) -> Iterator[Tuple[bytes, int, int]]:
    """(type, content start, end) of each box in [start, end), stopping at the first that does not fit."""
    offset = start
    for _ in range(most):
        if end - offset < 8:
            return
        fh.seek(offset)
        size, kind = struct.unpack(">I4s", fh.read(8))
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", fh.read(8))[0], 16
        elif size == 0:
            size = end - offset
        if size < header or size > end - offset:
            return
        yield kind, offset + header, offset + size
        offset += size  # seeks past an mdat of any size, never reading it


def _moov(fh: BinaryIO) -> Optional[Tuple[int, int]]:
    """(start, end) of the movie box among the file's top-level boxes, or None (none, or too large)."""
    size = fh.seek(0, os.SEEK_END)
    moov = next(((s, e) for kind, s, e in _boxes(fh, 0, size, MAX_BOXES) if kind == b"moov"), None)
    return moov if moov is not None and moov[1] - moov[0] <= MAX_HEADER else None


def _bmff(fh: BinaryIO) -> Optional[float]:
    moov = _moov(fh)
    if moov is None:
        return None
    seconds, scale, longest = None, 0, 0.0
    for kind, start, end in _boxes(fh, *moov):
        if kind == b"mvhd":
            scale, length = _scale_and_length(fh, start, end)
            seconds = length / float(scale) if scale and length else None
        elif kind == b"mvex" and not seconds and scale:  # a fragmented file may give its length in mehd
            mehd = _child(fh, start, end, b"mehd")
            if mehd:
                fh.seek(mehd[0])
                body = fh.read(12)
                wide = body[:1] == b"\x01" and len(body) == 12
                length = struct.unpack(">Q", body[4:12])[0] if wide else \
                    struct.unpack(">I", body[4:8])[0] if len(body) >= 8 else 0
                seconds = length / float(scale) if length else None
        elif kind == b"trak":  # used when the movie has no length: the longest track's mdhd
            mdhd = _child(fh, start, end, b"mdia", b"mdhd")
            if mdhd:
                track_scale, length = _scale_and_length(fh, *mdhd)
                longest = max(longest, length / float(track_scale) if track_scale and length else 0.0)
    return seconds or longest or None


def _scale_and_length(fh: BinaryIO, start: int, end: int):
    """(timescale, duration) of an mvhd or mdhd box (version 0: 32-bit times and duration, version 1:
    64-bit; the 32-bit timescale between them); (0, 0) when the box is cut short or says "unknown"
    (all ones)."""
    fh.seek(start)
    body = fh.read(min(end - start, 32))
    if body[:1] == b"\x01" and len(body) >= 32:
        (scale, length), unknown = struct.unpack(">IQ", body[20:32]), 0xFFFFFFFFFFFFFFFF
    elif len(body) >= 20 and body[:1] == b"\x00":
        (scale, length), unknown = struct.unpack(">II", body[12:20]), 0xFFFFFFFF
    else:
        return 0, 0
    return (0, 0) if length == unknown else (scale, length)


def video_facts(path) -> Optional[Tuple[int, int, Optional[float]]]:
    """(width, height, frames per second or None) of an MP4/MOV's first video track, or None."""
    try:
        with _open(path) as fh:
            moov = _moov(fh)
            if moov is None:
                return None
            for kind, start, end in _boxes(fh, *moov):
                if kind == b"trak":
                    facts = _video_track(fh, start, end)
                    if facts:
                        return facts
    except _ERRORS:
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
        with _open(path) as fh:
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
    except _ERRORS:
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


# -- WAV: the RIFF WAVE format (Microsoft/IBM "Multimedia Programming Interface and Data Specifications
# 1.0", 1991) and RF64 (EBU Tech 3306): "RIFF" size "WAVE", then chunks of a 4-byte id and a 32-bit
# little-endian size, each padded to an even length; `fmt ` gives the byte rate, `data` the length.
UNKNOWN_SIZE = 0xFFFFFFFF  # a streamed recording's data size; in RF64 the real one is in `ds64`


def _wave(fh: BinaryIO, size: int) -> Optional[float]:
    offset, byte_rate, rf64_data_size = 12, 0, None
    for _ in range(MAX_BOXES):
        fh.seek(offset)
        chunk, length = struct.unpack("<4sI", fh.read(8))
        if chunk == b"ds64":  # RIFF size, data size, sample count: 64-bit each
            rf64_data_size = struct.unpack("<QQ", fh.read(16))[1]
        elif chunk == b"fmt ":
            if length < 14:  # WAVEFORMAT: format, channels, sample rate, byte rate, block align
                return None
            sample_rate, byte_rate, block_align = struct.unpack("<4xIIH", fh.read(14))
            byte_rate = byte_rate or sample_rate * block_align
        elif chunk == b"data":
            present = size - offset - 8  # a cut-short file plays what it holds
            if length == UNKNOWN_SIZE:
                length = rf64_data_size if rf64_data_size is not None else present
            return min(length, present) / float(byte_rate) if byte_rate else None
        offset += 8 + length + (length & 1)
    return None


# -- MP3 (and MPEG audio layers I and II): the frame header of ISO/IEC 11172-3, the half sample
# rates of ISO/IEC 13818-3 and the unofficial "MPEG 2.5"; the ID3v2 tag header (id3.org, ID3v2.4.0
# structure 3.1) and ID3v1's 128-byte "TAG" at the end; a VBR file's frame count in the Xing/Info header
# (LAME) right after layer III's side information, or in Fraunhofer's VBRI header 32 bytes after the
# frame header. Eleven set bits happen in any data, so a frame counts only when the next frame header
# is where its length says (or the audio ends there).
_BITRATES = {  # kbit/s by (MPEG-1?, layer) and the header's 4-bit index
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_BITRATES[(False, 3)] = _BITRATES[(False, 2)]
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}  # by version bits
SCAN = 64 * 1024  # how far past an ID3v2 tag the first frame is looked for
LONGEST_FRAME = 2881  # bytes of the longest MPEG audio frame: layer II, 160 kbit/s at 8 kHz, padded


class _Frame(NamedTuple):
    stream: Tuple[int, int, int]  # version bits, layer, sample rate: the same in every frame of a file
    bitrate: int  # bit/s
    sample_rate: int
    samples: int  # per frame
    length: int  # bytes, header included
    xing_at: int  # where a Xing/Info header would start: after the header and layer III's side information


def _mp3(fh: BinaryIO, size: int) -> Optional[float]:
    fh.seek(0)
    start = _id3v2_length(fh.read(10))
    if start is None:
        return None
    fh.seek(max(size - 128, 0))
    end = size - 128 if size - 128 >= start and fh.read(3) == b"TAG" else size
    search = SCAN if start else 1  # no ID3v2 tag: an MP3 starts with its first frame (never a scan
    fh.seek(start)  # through an image for bytes that look like one)
    window = fh.read(max(min(search + LONGEST_FRAME + 4, end - start), 0))
    found = _first_frame(window, search)
    if found is None:
        return None
    at, frame = found
    frames = _frame_count(window[at:at + 64], frame)
    if frames:
        return frames * frame.samples / float(frame.sample_rate)
    return (end - start - at) * 8 / float(frame.bitrate)  # constant bit rate: the audio bytes tell the length


def _id3v2_length(tag: bytes) -> Optional[int]:
    """Bytes an ID3v2 tag at the start takes (10-byte header, syncsafe size, a 10-byte footer when flag
    0x10 is set); 0 without a tag, None for a damaged one."""
    if tag[:3] != b"ID3":
        return 0
    if len(tag) < 10 or 0xFF in tag[3:5] or any(byte & 0x80 for byte in tag[6:10]):
        return None
    return 10 + (tag[6] << 21 | tag[7] << 14 | tag[8] << 7 | tag[9]) + (10 if tag[5] & 0x10 else 0)


def _frame(header: bytes) -> Optional[_Frame]:
    """What a valid frame header says, or None (no sync, a reserved value, or a "free" bitrate no
    length can be worked out from)."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version, layer = header[1] >> 3 & 3, 4 - (header[1] >> 1 & 3)
    bitrate_index, rate_index, padding = header[2] >> 4, header[2] >> 2 & 3, header[2] >> 1 & 1
    if version == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3 or header[3] & 3 == 2:
        return None
    mpeg1 = version == 3
    bitrate = _BITRATES[(mpeg1, layer)][bitrate_index] * 1000
    sample_rate = _RATES[version][rate_index]
    samples = 384 if layer == 1 else 1152 if layer == 2 or mpeg1 else 576
    if layer == 1:
        length = (12 * bitrate // sample_rate + padding) * 4  # four-byte slots
    else:
        length = samples // 8 * bitrate // sample_rate + padding
    mono = header[3] >> 6 == 3
    side_information = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    return _Frame((version, layer, sample_rate), bitrate, sample_rate, samples, length, 4 + side_information)


def _first_frame(window: bytes, search: int) -> Optional[Tuple[int, _Frame]]:
    """The first frame header in window[:search] that the next frame header confirms; `window`
    reaches one longest frame past `search`, or to the audio's end."""
    at = window.find(b"\xff", 0, search)
    while at >= 0:
        frame = _frame(window[at:at + 4])
        if frame is not None and _next_frame_agrees(window, at, frame):
            return at, frame
        at = window.find(b"\xff", at + 1, search)
    return None


def _next_frame_agrees(window: bytes, at: int, frame: _Frame) -> bool:
    following = at + frame.length
    if following >= len(window):
        return following == len(window)  # the audio's last frame
    header = _frame(window[following:following + 4])
    return header is not None and header.stream == frame.stream


def _frame_count(first: bytes, frame: _Frame) -> Optional[int]:
    """The frame count of a Xing/Info header (flag 1: frames field present) or a VBRI header, if any."""
    xing = frame.xing_at
    if first[xing:xing + 4] in (b"Xing", b"Info") and len(first) >= xing + 12:
        flags, count = struct.unpack(">II", first[xing + 4:xing + 12])
        return count if flags & 1 else None
    if first[36:40] == b"VBRI" and len(first) >= 54:  # id, version, delay, quality, bytes, frames
        return struct.unpack(">I", first[50:54])[0]
    return None
