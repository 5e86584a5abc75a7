"""One retry policy per operation, all in one place (pure: no I/O, no clock of its own).

Reads (task query, upload policy, download) and the OSS upload are safe to repeat. Creating
a task is not: a repeated create is a second paid video. So ``create`` retries only when the
request provably never reached the service, or the service explicitly refused it.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Callable, FrozenSet, Optional

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
    # 429 is a refusal; a 5xx counts only when the body is a DashScope error (see
    # create_refused). A timeout or reset after sending is never retried.
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


def create_refused(status: int, api_code: Optional[str]) -> bool:
    """A submit answer that proves no task was created, so trying again is safe.

    429 is a throttling refusal. A 5xx carrying a DashScope error body (a `code` the
    service itself produced) means the service handled the request and failed it; a 5xx
    from a gateway (HTML, no code) may have forwarded the request, so it is ambiguous.
    """
    if status == 429:
        return True
    return status >= 500 and bool(api_code)
