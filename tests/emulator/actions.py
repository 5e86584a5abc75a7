"""Scriptable actions and record types of the emulator."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union


@dataclass
class Reply:
    """Canned response instead of normal handling.

    process=True: the request is handled normally first (a submit creates its task), then
    this canned answer is sent instead of the real one (a 5xx after the work was done).
    """
    status: int
    json: Any = None
    body: Optional[Union[bytes, str]] = None
    headers: Optional[Dict[str, str]] = None
    content_type: Optional[str] = None
    process: bool = False
    reason: Optional[str] = None  # the status line's reason phrase (default: the standard one)


@dataclass
class Reset:
    """Drop the connection without answering.

    after_body=False: before reading the body; nothing is processed.
    after_body=True: read and process normally (e.g. really create the task), then drop.
    """
    after_body: bool = False


@dataclass
class Stall:
    """Wait ``seconds`` before answering.

    process=True: the request is processed first (a submit creates its task).
    process=False: the request is NOT processed; after the stall the connection
    is dropped without an answer.
    """
    seconds: float
    process: bool = True


@dataclass
class Truncate:
    """Send full headers (full Content-Length) but only ``nbytes`` of body, then close.

    length=False: no Content-Length at all (a close-delimited body): the client can tell the
    cut only from the content itself.
    """
    nbytes: int
    length: bool = True


@dataclass
class Drip:
    """Process the request normally, then send the answer one byte every ``every`` seconds
    (a slow-drip server): the status line and headers too, or only the body (body_only)."""
    every: float
    body_only: bool = False


Action = Union[Reply, Reset, Stall, Truncate, Drip]


@dataclass
class Recorded:
    method: str
    path: str
    query: Dict[str, str]
    headers: Dict[str, str]
    body: bytes
    json: Any
    t: float
    body_size: int = 0
    body_sha256: Optional[str] = None
    action: Optional[str] = None     # name of the scripted action applied, if any
    connection: int = 0              # the client's port: requests on one kept-alive connection share it


@dataclass
class Task:
    task_id: str
    model: str
    route: str
    body: Dict[str, Any]
    created_at: float
    statuses: List[str] = field(default_factory=list)
    final_status: Optional[str] = None
    status: Optional[str] = None           # status at snapshot time
    request_id: Optional[str] = None       # request_id of the submit reply
    fail_code: Optional[str] = None        # late-validation/scripted failure
    fail_message: Optional[str] = None


@dataclass
class StoredObject:
    key: str
    size: int
    sha256: str
    content_type: Optional[str]
    data: Optional[bytes]
    model: str
