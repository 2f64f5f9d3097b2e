"""Namespace throttles of the embedded controller (``RateThrottler`` and ``ActivationThrottler``).

* per-minute: a fixed calendar-minute window per namespace; every check is charged (also rejected ones),
  and the request is refused when the charged count exceeds the limit;
* concurrent: activations in flight per namespace (every primitive, sequence components included);
  a new request is refused when the count is already at the limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def too_many_per_minute(count: int, allowed: int) -> str:
    return f"Too many requests in the last minute (count: {count}, allowed: {allowed})."


def too_many_concurrent(count: int, allowed: int) -> str:
    return f"Too many concurrent requests in flight (count: {count}, allowed: {allowed})."


class Throttle:
    """Both throttles for every namespace; ``check`` returns the 429 message or None."""

    def __init__(self, per_minute: int, concurrent: int, clock: Callable[[], float] = time.time) -> None:
        self.per_minute = per_minute
        self.concurrent = concurrent
        self.clock = clock
        self._minute: dict[str, tuple[int, int]] = {}  # namespace -> (minute, count)
        self.inflight: dict[str, int] = {}

    def charge_rate(self, namespace: str) -> str | None:
        """Count one invocation in the current calendar minute; the message when over the limit."""
        minute = int(self.clock() // 60)
        last, count = self._minute.get(namespace, (minute, 0))
        count = count + 1 if last == minute else 1
        self._minute[namespace] = (minute, count)
        return too_many_per_minute(count, self.per_minute) if count > self.per_minute else None

    def check_concurrent(self, namespace: str) -> str | None:
        count = self.inflight.get(namespace, 0)
        return too_many_concurrent(count, self.concurrent) if count >= self.concurrent else None

    def check(self, namespace: str) -> tuple[str, str] | None:
        """Rate first, then concurrency (``Entitlement.checkThrottles``): (limit name, message) or None."""
        message = self.charge_rate(namespace)
        if message is not None:
            return "TimedRateLimit", message
        message = self.check_concurrent(namespace)
        if message is not None:
            return "ConcurrentRateLimit", message
        return None

    def begin(self, namespace: str) -> None:
        self.inflight[namespace] = self.inflight.get(namespace, 0) + 1

    def end(self, namespace: str) -> None:
        self.inflight[namespace] -= 1

    def total_inflight(self) -> int:
        return sum(self.inflight.values())
