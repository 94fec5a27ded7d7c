"""The retry schedule: exponential, jittered, capped, and never shorter than 24 hours."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from service.events.retry import Backoff

T0 = datetime(2026, 11, 30, tzinfo=timezone.utc)


def schedule(backoff: Backoff, rand: float) -> list[datetime]:
    """Attempt times of a delivery that fails every time, each attempt taking no time."""
    attempts = [T0]
    while (retry := backoff.next_attempt(first_attempt_at=T0, failed_at=attempts[-1], failures=len(attempts), rand=rand)) is not None:
        attempts.append(retry)
    return attempts


def test_delays_double_from_10_seconds_up_to_a_4_hour_cap() -> None:
    backoff = Backoff(jitter=0.0)
    assert [backoff.delay(n, 0.5).total_seconds() for n in (1, 2, 3, 4, 11, 12, 40)] == [10, 20, 40, 80, 10240, 14400, 14400]


@pytest.mark.parametrize("rand", [0.0, 0.5, 0.999999])
def test_the_default_schedule_keeps_trying_for_at_least_24_hours_and_gives_up_within_30(rand: float) -> None:
    attempts = schedule(Backoff(), rand)
    assert timedelta(hours=24) <= attempts[-1] - T0 <= timedelta(hours=30)
    assert 12 <= len(attempts) <= 20


def test_jitter_spreads_a_delay_by_at_most_20_percent_either_way() -> None:
    backoff = Backoff()
    assert backoff.delay(3, 0.0).total_seconds() == pytest.approx(32)
    assert backoff.delay(3, 0.999999).total_seconds() == pytest.approx(48, rel=1e-5)
    assert backoff.delay(3, 0.5).total_seconds() == pytest.approx(40)


def test_a_failure_past_the_give_up_time_ends_the_schedule() -> None:
    backoff = Backoff()
    assert backoff.next_attempt(first_attempt_at=T0, failed_at=T0 + timedelta(hours=24), failures=16, rand=0.5) is None
    assert backoff.next_attempt(first_attempt_at=T0, failed_at=T0 + timedelta(hours=23), failures=16, rand=0.5) is not None


@pytest.mark.parametrize(
    "kwargs",
    [{"first": timedelta(0)}, {"cap": timedelta(seconds=1)}, {"factor": 0.5}, {"jitter": 1.0}],
)
def test_a_schedule_that_could_not_back_off_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Backoff().delay(0, 0.5)
