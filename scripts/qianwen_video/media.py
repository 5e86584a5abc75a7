"""Find the local files in a request and swap them for uploaded URLs.

Every field that can carry media accepts a URL (http, https, oss, data: passed through
untouched) or a local file: a plain path, ``~/...``, or a ``file://`` URI (Windows drive
letters included). A value that is not a URL must name a readable regular file; a typo is
an error here, never a string sent to the API.
"""
from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import unquote, urlsplit

from . import catalog

REMOTE_PREFIXES = ("http://", "https://", "oss://", "data:")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class MediaRef:
    """One media value in the request: where it is and how to replace it."""

    __slots__ = ("label", "value", "container", "slot")

    def __init__(self, label: str, value: str, container: Any, slot: Any):
        self.label = label  # field path for messages, e.g. "reference_urls[1]" or "media[0].url"
        self.value = value
        self.container = container  # the dict or list holding the value
        self.slot = slot  # the key or index inside the container

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
                _collect(prefix + key, container, key, found)
    return found


def _collect(label: str, container: Any, slot: Any, found: List[MediaRef]) -> None:
    value = container[slot]
    if isinstance(value, str):
        if value:
            found.append(MediaRef(label, value, container, slot))
    elif isinstance(value, list):
        for index in range(len(value)):
            _collect("%s[%d]" % (label, index), value, index, found)
    elif isinstance(value, dict):
        for key in ("url", "reference_voice"):
            if key in value:
                _collect("%s.%s" % (label, key), value, key, found)


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
    """`<field>: <what is wrong>` for every local path that is not a readable regular file."""
    found = []
    for item in local_files(request, cwd, home):
        reason = unreadable_reason(item.path)
        if reason:
            found.append("%s: %s: %s; allowed: a readable local file or an http(s)/oss/data URL"
                         % (item.ref.label, reason, item.ref.value))
    return found


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


def resolved(request: Dict[str, Any], cwd: Path, upload: Callable[[List[LocalFile]], List[str]],
             home: Optional[str] = None) -> Dict[str, Any]:
    """A deep copy of the request with each local file replaced by its uploaded URL.

    ``upload`` receives all the local files at once (it may run them concurrently) and
    returns their URLs in the same order.
    """
    copied = copy.deepcopy(request)
    files = local_files(copied, cwd, home)
    if not files:
        return copied
    urls = upload(files)
    for item, url in zip(files, urls):
        item.ref.replace(url)
    return copied
