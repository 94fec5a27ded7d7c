"""What one delivery attempt came to (pure data, shared by the sender and the queue)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to. ``status`` is None when no HTTP answer arrived."""

    status: int | None
    latency_ms: int
    error: str | None = None
    response_prefix: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300
