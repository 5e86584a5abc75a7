"""One retry policy per operation, all in one place, and the one loop that applies them.

Reads (task query, upload policy, download) and the OSS upload are safe to repeat. Creating
a task is not: a repeated create is a second paid video. So ``create`` retries only when the
request provably never reached the service, or the service explicitly refused it (429).

``retrying`` is the loop (API calls, uploads and downloads all use it); it owns no clock:
the caller passes its sleep. ``call`` runs one HTTP request under an operation's policy.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Callable, FrozenSet, Optional, TypeVar

from .transport import Response, Transport, TransportError, Unsendable

T = TypeVar("T")

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
RETRY_AFTER_CAP = 60.0  # seconds; a longer server hint is clamped (urllib3/OpenAI style)


@dataclass(frozen=True)
class Policy:
    name: str
    attempts: int  # total tries, first one included
    base_delay: float  # first backoff, doubled each retry
    max_delay: float  # cap for one backoff
    max_total: float  # cap for the sum of backoffs
    statuses: FrozenSet[int]  # HTTP statuses worth another try
    retry_not_sent: bool  # connect/DNS/TLS failures: the server saw nothing
    retry_no_response: bool  # sent, then timeout or reset: the server may have acted


POLICIES = {
    "query": Policy("task query", 6, 1.0, 16.0, 90.0, TRANSIENT_STATUSES, True, True),
    "upload-policy": Policy("upload policy", 5, 1.0, 16.0, 60.0, TRANSIENT_STATUSES, True, True),
    "upload": Policy("file upload", 4, 1.0, 16.0, 60.0, TRANSIENT_STATUSES, True, True),
    "download": Policy("download", 6, 1.0, 16.0, 90.0, TRANSIENT_STATUSES, True, True),
    # The portrait check before wan2.2-s2v: synchronous, unbilled and creates nothing, so safe to repeat.
    "detect": Policy("portrait check", 5, 1.0, 16.0, 60.0, TRANSIENT_STATUSES, True, True),
    # Only 429 is tried again: a refusal. A 5xx (even with a DashScope error code), a timeout
    # or a reset after sending may have created the task (see create_refused): never resent.
    "create": Policy("task submit", 4, 2.0, 16.0, 60.0, frozenset({429}), True, False),
    "cancel": Policy("task cancel", 3, 1.0, 8.0, 20.0, frozenset({429}), True, False),
}


def parse_retry_after(value: Optional[str], now: float) -> Optional[float]:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def backoff(policy: Policy, retry_number: int, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with full jitter in the upper half: base * 2^n, capped."""
    ceiling = min(policy.max_delay, policy.base_delay * (2 ** retry_number))
    return ceiling * (0.5 + 0.5 * rand())


def create_refused(status: int) -> bool:
    """True when a create answer proves that no task was created: 429 (throttled) and every
    other 4xx (the request was refused). Anything else that is not a 2xx, a 5xx with a
    DashScope error code included, may come after the service created the task, so the task
    must be looked up before any retry."""
    return 400 <= status < 500


class Again(Exception):
    """Raised by an attempt that failed in a way worth another try (``retrying`` decides whether
    one is left). With no try left: ``result`` is returned when given, else ``error`` is
    raised when given, else GaveUp. ``note`` is appended to the retry message."""

    def __init__(self, reason: str, retry_after: Optional[float] = None, result: Any = None,
                 error: Optional[BaseException] = None, note: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.result = result
        self.error = error
        self.note = note


class GaveUp(Exception):
    """Every try the policy allows failed (an Again without result or error)."""

    def __init__(self, reason: str, attempts: int):
        super().__init__("%s (after %d attempts)" % (reason, attempts))
        self.reason = reason
        self.attempts = attempts


def retrying(policy: Policy, attempt: Callable[[int], T], sleep: Callable[[float], None],
             say: Optional[Callable[[str], None]] = None, rand: Callable[[], float] = random.random) -> T:
    """``attempt(n)`` (n = 1, 2, ...) until it returns, raises something other than Again, or the
    policy has no try left: at most ``policy.attempts`` tries, backoff (or the server's
    Retry-After) between them, never more than ``policy.max_total`` seconds of waiting."""
    waited = 0.0
    number = 0
    while True:
        number += 1
        try:
            return attempt(number)
        except Again as again:
            delay = again.retry_after if again.retry_after is not None else backoff(policy, number - 1, rand)
            if number >= policy.attempts or waited + delay > policy.max_total:
                if again.result is not None:
                    return again.result
                if again.error is not None:
                    raise again.error from None
                raise GaveUp(again.reason, number) from None
            if say is not None:
                say("%s: %s; retrying in %.1fs (%d/%d)%s" % (policy.name, again.reason, delay, number,
                                                            policy.attempts - 1, again.note))
        sleep(delay)
        waited += delay


Check = Callable[[Response], Optional[str]]


def call(transport: Transport, op: str, method: str, url: str, headers=None, body=None,
         body_factory: Optional[Callable[[], Any]] = None, length: Optional[int] = None,
         timeout: Optional[float] = None, progress: Optional[Callable[[int], None]] = None,
         check: Optional[Check] = None, say: Optional[Callable[[str], None]] = None) -> Response:
    """One HTTP request under ``POLICIES[op]``; the last Response (any status) is returned.

    ``check(resp)`` (reads only) says why a 2xx answer is unusable (not JSON, malformed), or
    None: an unusable one is tried again like a transient error. A transport error the policy
    does not retry is raised for the caller, who knows what it means (for a create, NoResponse
    means "maybe submitted"); so is the last one when no try is left. ``body_factory`` makes a
    fresh body per try (a streamed upload). Sleeps and the Retry-After date come from the
    transport's context.
    """
    policy = POLICIES[op]
    ctx = transport.ctx

    def attempt(number: int) -> Response:
        payload = body_factory() if body_factory is not None else body
        try:
            resp = transport.request(method, url, headers, payload, length, timeout, progress)
        except TransportError as exc:
            allowed = policy.retry_no_response if exc.sent else policy.retry_not_sent
            if isinstance(exc, Unsendable) or not allowed:
                raise  # the same request would be refused the same way, or it may have acted
            raise Again(str(exc), error=exc) from None
        unusable = check(resp) if check is not None and resp.status < 300 else None
        if unusable is None and (resp.status < 300 or resp.status not in policy.statuses):
            return resp
        code = resp.error_code()
        hinted = parse_retry_after(resp.headers.get("retry-after"), ctx.wall_clock())
        raise Again("HTTP %d%s" % (resp.status, " with " + unusable if unusable else (" " + code if code else "")),
                    retry_after=hinted, result=resp)

    return retrying(policy, attempt, ctx.sleep, say)
