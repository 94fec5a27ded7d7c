"""Age brackets, counted the PRC way (周岁) in a civil time zone.

A person reaches age N at 00:00 of the day AFTER their Nth birthday: on the birthday itself
they are still N-1. A 29 February birthday has its anniversary on 28 February in common
years, so that person ages on 1 March every year. Time is always a parameter: nothing here
reads the clock.
"""

from __future__ import annotations

import calendar
import enum
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from service.domain.errors import ImplausibleBirthDate

_EARLIEST_BIRTH_DATE = date(1900, 1, 1)
_MAX_AGE = 130


class Bracket(enum.StrEnum):
    """The four age brackets of the contract, youngest first."""

    UNDER_14 = "under_14"
    MINOR = "minor"
    ADULT = "adult"
    OLDER = "older"


# The age at which each bracket begins, in bracket order.
_BRACKET_STARTS: tuple[tuple[int, Bracket], ...] = (
    (60, Bracket.OLDER),
    (18, Bracket.ADULT),
    (14, Bracket.MINOR),
    (0, Bracket.UNDER_14),
)


def _anniversary(birth_date: date, year: int) -> date:
    """Return the anniversary of ``birth_date`` in ``year``.

    29 February falls on 28 February in common years.
    """
    if birth_date.month == 2 and birth_date.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return birth_date.replace(year=year)


def _local_date(at: datetime, tz: ZoneInfo) -> date:
    """Return the civil date of the instant ``at`` in ``tz``; ValueError if ``at`` is naive."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be a timezone-aware datetime")
    return at.astimezone(tz).date()


def age_on(birth_date: date, on: date) -> int:
    """Return the completed years of a person born on ``birth_date`` on the local date ``on``.

    The age increments on the day after each anniversary. Raises ValueError if ``on`` is
    before ``birth_date``.
    """
    if on < birth_date:
        raise ValueError("on is before the birth date")
    years = on.year - birth_date.year
    if on <= _anniversary(birth_date, on.year):
        years -= 1
    # On the day of birth the "0th anniversary" has not passed yet; that baby is still 0.
    return max(years, 0)


def bracket_for_age(age: int) -> Bracket:
    """Return the bracket for completed years ``age``; raise ValueError if it is negative."""
    if age < 0:
        raise ValueError("age must not be negative")
    return next(bracket for start, bracket in _BRACKET_STARTS if age >= start)


def bracket_at(birth_date: date, at: datetime, tz: ZoneInfo) -> Bracket:
    """Return the bracket at the instant ``at``, counting age on its civil date in ``tz``.

    Raises ValueError if ``at`` is naive or its local date is before ``birth_date``.
    """
    return bracket_for_age(age_on(birth_date, _local_date(at, tz)))


def next_bracket_change(birth_date: date, at: datetime, tz: ZoneInfo) -> datetime | None:
    """Return the first instant strictly after ``at`` at which the bracket changes, or None.

    The change happens at 00:00 local time in ``tz`` of the day after the 14th, 18th or 60th
    anniversary; the result is an aware datetime in ``tz``. ``older`` never changes, so it
    gives None. Raises ValueError if ``at`` is naive or its local date is before
    ``birth_date``.
    """
    age = age_on(birth_date, _local_date(at, tz))
    upcoming = [start for start, _ in _BRACKET_STARTS if start > age]
    if not upcoming:
        return None
    return turns_age_at(birth_date, min(upcoming), tz)


def turns_age_at(birth_date: date, years: int, tz: ZoneInfo) -> datetime:
    """Return the instant a person born on ``birth_date`` reaches age ``years``: 00:00 local
    time in ``tz`` of the day after that anniversary (周岁), as an aware datetime in ``tz``."""
    change_day = _anniversary(birth_date, birth_date.year + years) + timedelta(days=1)
    midnight = datetime.combine(change_day, time(0), tzinfo=tz)
    # Where a DST jump skips local midnight, fold=0 still names the instant the day begins;
    # the round trip through UTC turns it into a wall time that exists (e.g. 01:00).
    return midnight.astimezone(timezone.utc).astimezone(tz)


def check_birth_date(birth_date: date, at: datetime, tz: ZoneInfo) -> None:
    """Refuse a birth date no living subject can have at the instant ``at`` (local date in ``tz``).

    Raises ImplausibleBirthDate with the first reason that applies, in this order:
    ``in_future`` (after today's local date), ``over_130`` (an age over 130 today),
    ``before_1900`` (before 1900-01-01). Raises ValueError if ``at`` is naive.
    """
    today = _local_date(at, tz)
    if birth_date > today:
        raise ImplausibleBirthDate("in_future")
    if age_on(birth_date, today) > _MAX_AGE:
        raise ImplausibleBirthDate("over_130")
    if birth_date < _EARLIEST_BIRTH_DATE:
        raise ImplausibleBirthDate("before_1900")
