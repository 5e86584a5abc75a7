"""Test media files: the first bytes each kind of file starts with, so local-file checks by content pass.

Only the signatures matter to the CLI (it reads a small prefix); the rest of a test file may be
random bytes.
"""
from __future__ import annotations

import os
from pathlib import Path

PNG = b"\x89PNG\r\n\x1a\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
MOV = b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  "
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00"
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00"
BY_SUFFIX = {".png": PNG, ".jpg": JPEG, ".jpeg": JPEG, ".mp4": MP4, ".mov": MOV, ".wav": WAV, ".mp3": MP3}


def signature(path: Path) -> bytes:
    """The first bytes of a file of the kind its name says (PNG for names this table lacks)."""
    return BY_SUFFIX.get(Path(path).suffix.lower(), PNG)


def write_media(path: Path, size: int = 3000) -> bytes:
    """A file of `size` bytes that starts like its name says and continues with random bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = signature(path)
    data = head + os.urandom(max(size - len(head), 0))
    path.write_bytes(data)
    return data
