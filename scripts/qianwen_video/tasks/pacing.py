"""Batch pacing on an injected clock: submit rates, the 429 back-off and the query bucket.

Per-model submit rate with a shared back-off on 429, and a token bucket for task queries.
"""
from __future__ import annotations

import collections
from typing import Deque, Dict

from .. import catalog

QUERY_RATE = 18.0  # task queries per second; the account allows 20 (dashscope-api.md §6)
QUERY_BURST = 2.0  # a bucket of 2 refilled at 18/s never sends more than 20 in any second
WINDOW = 1.0  # the service counts submits per model in a sliding one-second window
WINDOW_MARGIN = 0.05  # seconds kept clear of the window's edge (network jitter)
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0  # submit pause after a 429, doubled while they last
MIN_SCALE = 0.05  # a model's submit rate never drops below 5 % of the catalog's


class TokenBucket:
    def __init__(self, rate: float, burst: float, now: float):
        self.rate, self.burst = rate, burst
        self.tokens, self.last = burst, now
        self.paused_until = 0.0

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.last) * self.rate)
        self.last = max(self.last, now)

    def take(self, now: float) -> bool:
        if now < self.paused_until:
            return False
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def next_time(self, now: float) -> float:
        self._refill(now)
        ready = now if self.tokens >= 1.0 else now + (1.0 - self.tokens) / self.rate
        return max(ready, self.paused_until)


class SubmitPacer:
    """Per-model submit rate as the service counts it (a sliding window), shared back-off on 429."""

    def __init__(self) -> None:
        self._sent: Dict[str, Deque[float]] = collections.defaultdict(lambda: collections.deque(maxlen=64))
        self._scale: Dict[str, float] = collections.defaultdict(lambda: 1.0)
        self._backoff = 0.0
        self.paused_until = 0.0

    def rate(self, model: str) -> float:
        return catalog.limits(model)[0] * self._scale[model]

    def next_time(self, model: str, now: float) -> float:
        ready = max(now, self.paused_until)
        sent = self._sent[model]
        rate = self.rate(model)
        if rate >= 1.0:
            per_window = int(rate)
            if len(sent) >= per_window:
                ready = max(ready, sent[-per_window] + WINDOW + WINDOW_MARGIN)
        elif sent:
            ready = max(ready, sent[-1] + 1.0 / rate)
        return ready

    def record(self, model: str, now: float) -> None:
        self._sent[model].append(now)

    def throttled(self, model: str, now: float) -> float:
        self._backoff = min(max(self._backoff * 2, BACKOFF_FIRST), BACKOFF_MAX)
        self.paused_until = max(self.paused_until, now + self._backoff)
        self._scale[model] = max(self._scale[model] / 2, MIN_SCALE)
        return self._backoff

    def accepted(self, model: str) -> None:
        self._backoff = 0.0
        self._scale[model] = min(1.0, self._scale[model] * 1.1)
