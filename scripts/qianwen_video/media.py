"""Find the local files in a request and swap them for uploaded URLs.

Every field that can carry media accepts a URL (http, https, oss, data: passed through
untouched) or a local file: a plain path, ``~/...``, or a ``file://`` URI (Windows drive
letters included). A value that is not a URL must name a readable regular file; a typo is
an error here, never a string sent to the API.

A local file is also checked by its first bytes before anything is uploaded or paid: an image
field must hold an image, a video field an MP4/MOV, an audio field audio (catalog.MEDIA_KINDS).
A link named ``cat.png`` that leads to a private key is refused, and the message names the
file the link really leads to.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import unquote, urlsplit

from . import catalog

REMOTE_PREFIXES = ("http://", "https://", "oss://", "data:")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
ALL_KINDS = ("image", "video", "audio")


class MediaRef:
    """One media value in the request: where it is and how to replace it."""

    __slots__ = ("label", "value", "container", "slot", "kinds")

    def __init__(self, label: str, value: str, container: Any, slot: Any,
                 kinds: Tuple[str, ...] = ALL_KINDS):
        self.label = label  # field path for messages, e.g. "reference_urls[1]" or "media[0].url"
        self.value = value
        self.container = container  # the dict or list holding the value
        self.slot = slot  # the key or index inside the container
        self.kinds = kinds  # the kinds of file the field takes: ("image",), ("image", "video"), ...

    def replace(self, new_value: str) -> None:
        self.container[self.slot] = new_value


def is_remote(value: str) -> bool:
    return value.startswith(REMOTE_PREFIXES)


def home_of(environ: Dict[str, str]) -> Optional[str]:
    """The home folder named by the (injected) environment, for ``~`` expansion."""
    return (environ.get("HOME") or environ.get("USERPROFILE") or "").strip() or None


def expand_user(value: str, home: Optional[str] = None) -> str:
    """``~`` and ``~/x`` from ``home`` when given (the Context's HOME), else the process's."""
    if home and (value == "~" or value.startswith(("~/", "~\\"))):
        return home.rstrip("/\\") + value[1:] if value != "~" else home
    return os.path.expanduser(value)


def local_path(value: str, cwd: Path, home: Optional[str] = None) -> Optional[Path]:
    """The file a media value names, or None when it is a URL to pass through."""
    if is_remote(value):
        return None
    if value.lower().startswith("file:"):
        return _file_uri_path(value, home)
    if _SCHEME.match(value) and not _DRIVE.match(value):
        return None  # some other URL scheme: the service will judge it
    path = Path(expand_user(value, home))
    if _DRIVE.match(value):
        return path
    return path if path.is_absolute() else cwd / path


def _file_uri_path(value: str, home: Optional[str] = None) -> Path:
    parts = urlsplit(value)
    path = unquote(parts.path)
    if parts.netloc and parts.netloc.lower() != "localhost":
        if re.match(r"^[A-Za-z]:$", parts.netloc):  # file://C:/x written without the third slash
            return Path(parts.netloc + path)
        return Path("//" + parts.netloc + path)  # a UNC share
    if re.match(r"^/[A-Za-z]:[\\/]", path):  # file:///C:/Users/... on Windows
        path = path[1:]
    return Path(expand_user(path, home))


def refs(request: Dict[str, Any]) -> List[MediaRef]:
    """Every media string in the flat request and in a native "input" object, in order."""
    found: List[MediaRef] = []
    containers = [("", request)]
    if isinstance(request.get("input"), dict):
        containers.append(("input.", request["input"]))
    for prefix, container in containers:
        for key in catalog.MEDIA_FIELDS:
            if key in container:
                _collect(prefix + key, container, key, found, catalog.MEDIA_KINDS.get(key, ALL_KINDS))
    return found


def _collect(label: str, container: Any, slot: Any, found: List[MediaRef], kinds: Tuple[str, ...]) -> None:
    value = container[slot]
    if isinstance(value, str):
        if value:
            found.append(MediaRef(label, value, container, slot, kinds))
    elif isinstance(value, list):
        for index in range(len(value)):
            _collect("%s[%d]" % (label, index), value, index, found, kinds)
    elif isinstance(value, dict):
        # an item: its url holds what its type says (else what the field holds); a voice is audio
        item_kinds = catalog.MEDIA_TYPE_KINDS.get(value.get("type"), kinds) \
            if isinstance(value.get("type"), str) else kinds
        for key, key_kinds in (("url", item_kinds), ("reference_voice", catalog.MEDIA_KINDS["reference_voice"])):
            if key in value:
                _collect("%s.%s" % (label, key), value, key, found, key_kinds)


class LocalFile:
    __slots__ = ("ref", "path")

    def __init__(self, ref: MediaRef, path: Path):
        self.ref = ref
        self.path = path


def local_files(request: Dict[str, Any], cwd: Path, home: Optional[str] = None) -> List[LocalFile]:
    files = []
    for ref in refs(request):
        path = local_path(ref.value, cwd, home)
        if path is not None:
            files.append(LocalFile(ref, path))
    return files


def problems(request: Dict[str, Any], cwd: Path, home: Optional[str] = None) -> List[str]:
    """`<field>: <what is wrong>` for every local path that is not a readable regular file holding
    the kind of media its field takes (judged by its first bytes, see `sniff`)."""
    found = []
    for item in local_files(request, cwd, home):
        problem = file_problem(item)
        if problem:
            found.append(problem)
    return found


def file_problem(item: LocalFile) -> Optional[str]:
    """Why a local media file cannot be sent for its field, or None; only a small prefix is read."""
    reason = unreadable_reason(item.path)
    if reason:
        return "%s: %s: %s%s; allowed: a readable local file or an http(s)/oss/data URL" % (
            item.ref.label, reason, item.ref.value, _link_note(item.path))
    try:
        head = read_head(item.path)
    except OSError as exc:
        return "%s: cannot read the file (%s): %s%s" % (
            item.ref.label, exc.strerror or exc, item.ref.value, _link_note(item.path))
    allowed = "; allowed: %s" % describe_kinds(item.ref.kinds)
    if not head:
        return "%s: %s is empty (0 bytes)%s%s" % (item.ref.label, item.ref.value, _link_note(item.path), allowed)
    found = sniff(head)
    if found is not None and found[0] in item.ref.kinds:
        return None
    if found is None and "document" in item.ref.kinds:
        return None  # plain text and Markdown carry no signature
    if found is None:
        what = "its first bytes match none of the formats allowed"
    elif found[0] == "other":
        what = "it is %s, a format the service does not take" % found[1]
    else:
        what = "it is %s (%s)" % (article(found[0]), found[1])
    return "%s: %s is not %s by its content: %s%s%s" % (
        item.ref.label, item.ref.value, " or ".join(article(k) for k in item.ref.kinds), what,
        _link_note(item.path), allowed)


def content_kind(path: Path) -> Optional[str]:
    """"image", "video" or "audio" as the file's first bytes say, or None (unreadable, unknown)."""
    try:
        found = sniff(read_head(path))
    except OSError:
        return None
    return found[0] if found and found[0] != "other" else None


def unreadable_reason(path: Path) -> Optional[str]:
    try:
        if not path.exists():
            return "no such file"
        if not path.is_file():
            return "not a regular file"
        with open(path, "rb"):
            pass
    except OSError as exc:
        return "cannot read the file (%s)" % (exc.strerror or exc)
    return None


HEAD_BYTES = 256  # enough for every signature below (MPEG-TS: a sync byte at 0 and 188); never read further
# The formats each kind accepts by content. Images: JPEG/PNG/BMP/WEBP everywhere and TIFF for VACE
# (dashscope-api.md §3.3-§3.8); GIF and HEIC are listed for no field, so they are refused.
# Video: MP4/MOV (§3.5-§3.8), an ISO-BMFF `ftyp` box first. Audio: wav/mp3 (§3.2, §3.7); AAC (ADTS,
# which a newer audio-driven model lists: dashscope-new-models.md) and M4A (AAC in an MP4 box) pass
# as audio content, but validate's name check (.wav/.mp3) still refuses such a file today.
# Documents (wan3.0's `file`, dashscope-new-models.md §1): PDF, the zipped Office/iWork formats, the
# older OLE Office formats, and plain text or Markdown, which have no signature to check.
# Video: MP4/MOV for most models; a few also take AVI, MKV, FLV, MPG, TS or MXF (their catalog file_limits).
FORMATS = {"image": "PNG, JPEG, WEBP, BMP, TIFF", "video": "MP4, MOV", "audio": "WAV, MP3, AAC, M4A",
           "document": "PDF, DOCX/XLSX/PPTX, DOC/XLS/PPT, KEY/PAGES/NUMBERS, TXT, MD"}
_BMP_HEADER_SIZES = (12, 16, 40, 52, 56, 64, 108, 124)  # BITMAPCOREHEADER .. BITMAPV5HEADER
_M4A_BRANDS = (b"M4A ", b"M4B ", b"M4P ")
# HEIF/AVIF stills share MP4's box structure: told apart by the major brand (the MP4RA brand registry,
# https://mp4ra.org/registered-types/brands: heic/heix/... HEVC stills, mif1/msf1 any HEIF, avif/avis AV1)
_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1",
                b"avif", b"avis")


# Formats told by their first bytes alone: (prefix, kind, name).
_PREFIXES = (
    (b"%PDF-", "document", "PDF"), (b"PK\x03\x04", "document", "a zipped office document"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "document", "an OLE office document"),
    (b"\x1a\x45\xdf\xa3", "video", "MKV/WEBM"), (b"FLV\x01", "video", "FLV"), (b"\x00\x00\x01\xba", "video", "MPG"),
    (b"\x06\x0e\x2b\x34", "video", "MXF"),
)


def sniff(head: bytes) -> Optional[Tuple[str, str]]:
    """(kind, format) from a file's first bytes, or None when they match no format known here.

    Kind "other" is a recognised format that no field takes (GIF, HEIC).
    """
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "WEBP"
    if head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return "image", "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image", "TIFF"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "other", "GIF"
    if head[4:8] == b"ftyp" and len(head) >= 12 and int.from_bytes(head[:4], "big") >= 16:
        if head[8:12] in _HEIF_BRANDS:
            return "other", "HEIC/HEIF/AVIF"
        if head[8:12] in _M4A_BRANDS:
            return "audio", "M4A"
        return "video", "MOV" if head[8:12] == b"qt  " else "MP4"
    for prefix, kind, name in _PREFIXES:
        if head.startswith(prefix):
            return kind, name
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video", "AVI"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "video", "MPEG-TS"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio", "WAV"
    if head[:3] == b"ID3":
        return "audio", "MP3"
    if len(head) >= 3 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        layer = (head[1] >> 1) & 3
        if layer == 0 and head[1] & 0xF6 == 0xF0:  # ADTS: a 12-bit sync, layer 00
            return "audio", "AAC"
        if layer and (head[1] >> 3) & 3 != 1 and head[2] >> 4 != 15 and (head[2] >> 2) & 3 != 3:
            return "audio", "MP3"  # an MPEG audio frame header: valid version, bitrate and rate
    return None


def describe_kinds(kinds: Tuple[str, ...]) -> str:
    return " or ".join("%s file (%s)" % (article(kind), FORMATS[kind]) for kind in kinds)


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first `size` bytes of a regular file; never blocks on a FIFO or a device."""
    fd = os.open(str(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file")
        chunks = []
        while size > 0:
            chunk = os.read(fd, size)
            if not chunk:
                break
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def article(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def _link_note(path: Path) -> str:
    """`; it is a link to <real path>` when the file named is a link leading somewhere else."""
    try:
        absolute = os.path.abspath(str(path))
        real = os.path.realpath(absolute)
        parent = os.path.realpath(os.path.dirname(absolute))
    except (OSError, ValueError):
        return ""
    if os.path.normcase(real) == os.path.normcase(os.path.join(parent, os.path.basename(absolute))):
        return ""  # (a linked folder above it, such as /tmp on macOS, is no surprise)
    return "; it is a link to %s" % real


def resolved(request: Dict[str, Any], cwd: Path, upload: Callable[[List[LocalFile]], List[str]],
             home: Optional[str] = None) -> Dict[str, Any]:
    """A deep copy of the request with each local file replaced by its uploaded URL.

    ``upload`` receives all the local files at once (it may run them concurrently) and
    returns their URLs in the same order.
    """
    import copy  # here: only a request with local files is copied

    copied = copy.deepcopy(request)
    files = local_files(copied, cwd, home)
    if not files:
        return copied
    urls = upload(files)
    for item, url in zip(files, urls):
        item.ref.replace(url)
    return copied
