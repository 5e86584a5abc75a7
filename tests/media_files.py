"""Test media files: the first bytes each kind of file starts with, so local-file checks by content pass.

Only the signatures matter to the CLI (it reads a small prefix); the rest of a test file may be
random bytes. Real files, where a test needs them, come from ffmpeg (ffmpeg_files).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple

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



def ffmpeg_files(folder: Path, recipes: Iterable[Tuple[Sequence[str], Sequence[str], str]]) -> Dict[str, Path]:
    """Real files made by ffmpeg in one run (one process start, each source read once, not one run per
    file). A recipe is (lavfi sources, output options, file name): each source is an input given once
    however many files use it, and mapped whole into the files that name it. Returns name -> path."""
    recipes = list(recipes)
    sources: List[str] = []
    outputs: List[str] = []
    for needs, options, name in recipes:
        sources += [source for source in needs if source not in sources]
        outputs += [arg for source in needs for arg in ("-map", str(sources.index(source)))]
        outputs += list(options) + [str(Path(folder) / name)]
    inputs = [arg for source in sources for arg in ("-f", "lavfi", "-i", source)]
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y"] + inputs + outputs, check=True, timeout=120)
    return {name: Path(folder) / name for _, _, name in recipes}
