"""When to try a failed delivery again: exponential backoff with jitter, for at least 24 hours.

Delays double from ``first`` up to ``cap``, each stretched or shrunk by up to ``jitter`` so
that many deliveries that failed together (a receiver's outage) do not return together. A
delivery gives up only after an attempt fails at least ``give_up_after`` past its first
attempt, so the schedule always spans that long. Defaults: 10 s, 20 s, 40 s ... 4 h, about
16 attempts over 24 to 28 hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Backoff:
    first: timedelta = timedelta(seconds=10)
    factor: float = 2.0
    cap: timedelta = timedelta(hours=4)
    jitter: float = 0.2
    give_up_after: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.first <= timedelta(0) or self.cap < self.first or self.factor < 1 or not 0 <= self.jitter < 1:
            raise ValueError("backoff needs 0 < first <= cap, factor >= 1 and 0 <= jitter < 1")

    def delay(self, failures: int, rand: float) -> timedelta:
        """The wait after the ``failures``-th failed attempt (1-based); ``rand`` in [0, 1)."""
        if failures < 1:
            raise ValueError("failures counts from 1")
        base = min(self.first.total_seconds() * self.factor ** min(failures - 1, 64), self.cap.total_seconds())
        return timedelta(seconds=base * (1 - self.jitter + 2 * self.jitter * rand))

    def next_attempt(self, *, first_attempt_at: datetime, failed_at: datetime, failures: int, rand: float) -> datetime | None:
        """When to try again after a failure at ``failed_at``, or None once the schedule is spent."""
        if failed_at - first_attempt_at >= self.give_up_after:
            return None
        return failed_at + self.delay(failures, rand)
