"""Age and bracket arithmetic: the PRC 周岁 rule, leap days, time zones, plausibility."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from service.domain.brackets import (
    Bracket,
    age_on,
    bracket_at,
    bracket_for_age,
    check_birth_date,
    next_bracket_change,
)
from service.domain.errors import DomainError, ImplausibleBirthDate

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)  # type: ignore[misc]


def test_brackets_are_the_four_of_the_contract_youngest_first() -> None:
    assert [str(b) for b in Bracket] == ["under_14", "minor", "adult", "older"]


@pytest.mark.parametrize(
    ("birth_date", "on", "age"),
    [
        # Born today, and the first year of life.
        (date(2013, 5, 1), date(2013, 5, 1), 0),
        (date(2013, 5, 1), date(2013, 5, 2), 0),
        (date(2013, 5, 1), date(2014, 5, 1), 0),
        (date(2013, 5, 1), date(2014, 5, 2), 1),
        # The 14th birthday itself still counts 13; the day after counts 14.
        (date(2013, 5, 1), date(2026, 11, 27), 13),
        (date(2013, 5, 1), date(2027, 4, 30), 13),
        (date(2013, 5, 1), date(2027, 5, 1), 13),
        (date(2013, 5, 1), date(2027, 5, 2), 14),
        # Across a year boundary.
        (date(2000, 12, 31), date(2018, 12, 31), 17),
        (date(2000, 12, 31), date(2019, 1, 1), 18),
        (date(2008, 1, 1), date(2022, 1, 1), 13),
        (date(2008, 1, 1), date(2022, 1, 2), 14),
        # 29 February: anniversary on 28 February in common years, so the age moves on 1 March.
        (date(2012, 2, 29), date(2025, 2, 28), 12),
        (date(2012, 2, 29), date(2025, 3, 1), 13),
        (date(2012, 2, 29), date(2026, 2, 28), 13),
        (date(2012, 2, 29), date(2026, 3, 1), 14),
        # ... and on 1 March in leap years too: 29 February is the anniversary itself.
        (date(2012, 2, 29), date(2024, 2, 28), 11),
        (date(2012, 2, 29), date(2024, 2, 29), 11),
        (date(2012, 2, 29), date(2024, 3, 1), 12),
        # A 28 February or 1 March birthday is not affected by leap years.
        (date(2012, 2, 28), date(2024, 2, 28), 11),
        (date(2012, 2, 28), date(2024, 2, 29), 12),
        (date(2012, 3, 1), date(2024, 3, 1), 11),
        (date(2012, 3, 1), date(2024, 3, 2), 12),
        # The plausibility edges.
        (date(1900, 1, 1), date(2031, 1, 1), 130),
        (date(1900, 1, 1), date(2031, 1, 2), 131),
    ],
)
def test_age_increments_on_the_day_after_each_anniversary(
    birth_date: date, on: date, age: int
) -> None:
    assert age_on(birth_date, on) == age


def test_age_on_a_date_before_birth_is_refused() -> None:
    with pytest.raises(ValueError, match="before the birth date"):
        age_on(date(2013, 5, 1), date(2013, 4, 30))


@pytest.mark.parametrize(
    ("age", "bracket"),
    [
        (0, Bracket.UNDER_14),
        (13, Bracket.UNDER_14),
        (14, Bracket.MINOR),
        (17, Bracket.MINOR),
        (18, Bracket.ADULT),
        (59, Bracket.ADULT),
        (60, Bracket.OLDER),
        (130, Bracket.OLDER),
    ],
)
def test_bracket_for_age_follows_the_contract_table(age: int, bracket: Bracket) -> None:
    assert bracket_for_age(age) is bracket


def test_a_negative_age_has_no_bracket() -> None:
    with pytest.raises(ValueError, match="negative"):
        bracket_for_age(-1)


@pytest.mark.parametrize(
    ("birth_date", "at", "tz", "bracket"),
    [
        # The contract's example.
        (date(2013, 5, 1), shanghai(2026, 11, 27, 12), SHANGHAI, Bracket.UNDER_14),
        # 14: 23:59:59 on the birthday is still under 14; 00:00 the day after is a minor.
        (date(2013, 5, 1), shanghai(2027, 5, 1, 23, 59, 59), SHANGHAI, Bracket.UNDER_14),
        (date(2013, 5, 1), shanghai(2027, 5, 2), SHANGHAI, Bracket.MINOR),
        # The same instants written in UTC: 16:00Z is midnight in Shanghai.
        (date(2013, 5, 1), utc(2027, 5, 1, 15, 59, 59), SHANGHAI, Bracket.UNDER_14),
        (date(2013, 5, 1), utc(2027, 5, 1, 16), SHANGHAI, Bracket.MINOR),
        # Counted in UTC instead, the same instant is still the birthday.
        (date(2013, 5, 1), utc(2027, 5, 1, 16), UTC, Bracket.UNDER_14),
        (date(2013, 5, 1), utc(2027, 5, 1, 23, 59, 59), UTC, Bracket.UNDER_14),
        (date(2013, 5, 1), utc(2027, 5, 2), UTC, Bracket.MINOR),
        # 18.
        (date(2008, 5, 1), shanghai(2026, 5, 1, 23, 59, 59), SHANGHAI, Bracket.MINOR),
        (date(2008, 5, 1), utc(2026, 5, 1, 16), SHANGHAI, Bracket.ADULT),
        # 60.
        (date(1966, 5, 1), shanghai(2026, 5, 1, 23, 59, 59), SHANGHAI, Bracket.ADULT),
        (date(1966, 5, 1), shanghai(2026, 5, 2), SHANGHAI, Bracket.OLDER),
        # A leap-day birth turning 14 in a common year moves on 1 March.
        (date(2012, 2, 29), shanghai(2026, 2, 28, 23, 59, 59), SHANGHAI, Bracket.UNDER_14),
        (date(2012, 2, 29), shanghai(2026, 3, 1), SHANGHAI, Bracket.MINOR),
        # A leap-day birth turning 60 in a leap year moves on 1 March as well.
        (date(1964, 2, 29), shanghai(2024, 2, 29, 23, 59, 59), SHANGHAI, Bracket.ADULT),
        (date(1964, 2, 29), shanghai(2024, 3, 1), SHANGHAI, Bracket.OLDER),
        # Born today.
        (date(2026, 11, 27), shanghai(2026, 11, 27), SHANGHAI, Bracket.UNDER_14),
    ],
)
def test_bracket_at_counts_the_age_on_the_local_date(
    birth_date: date, at: datetime, tz: ZoneInfo, bracket: Bracket
) -> None:
    assert bracket_at(birth_date, at, tz) is bracket


@pytest.mark.parametrize(
    ("birth_date", "at", "change"),
    [
        # The contract's example.
        (date(2013, 5, 1), shanghai(2026, 11, 27, 12), "2027-05-02T00:00:00+08:00"),
        (date(2013, 5, 1), utc(2026, 11, 27), "2027-05-02T00:00:00+08:00"),
        # One microsecond before the change, the change is still ahead ...
        (
            date(2013, 5, 1),
            utc(2027, 5, 1, 15, 59, 59, 999999),
            "2027-05-02T00:00:00+08:00",
        ),
        # ... and at the change, the next one is the 18th.
        (date(2013, 5, 1), utc(2027, 5, 1, 16), "2031-05-02T00:00:00+08:00"),
        (date(2013, 5, 1), shanghai(2013, 5, 1), "2027-05-02T00:00:00+08:00"),
        (date(2008, 5, 1), shanghai(2026, 5, 1, 12), "2026-05-02T00:00:00+08:00"),
        (date(2008, 5, 1), shanghai(2026, 5, 2), "2068-05-02T00:00:00+08:00"),
        (date(1966, 5, 1), shanghai(2026, 5, 1, 23, 59, 59), "2026-05-02T00:00:00+08:00"),
        # Leap-day births: 1 March whether the anniversary year is common or leap.
        (date(2012, 2, 29), shanghai(2025, 1, 1), "2026-03-01T00:00:00+08:00"),
        (date(2012, 2, 29), shanghai(2026, 3, 1), "2030-03-01T00:00:00+08:00"),
        (date(1964, 2, 29), shanghai(2023, 6, 1), "2024-03-01T00:00:00+08:00"),
        (date(2011, 2, 28), shanghai(2024, 6, 1), "2025-03-01T00:00:00+08:00"),
        (date(2011, 12, 31), shanghai(2024, 6, 1), "2026-01-01T00:00:00+08:00"),
    ],
)
def test_next_bracket_change_is_local_midnight_after_the_anniversary(
    birth_date: date, at: datetime, change: str
) -> None:
    result = next_bracket_change(birth_date, at, SHANGHAI)
    assert result is not None
    assert result.isoformat() == change
    assert result.tzinfo is SHANGHAI


def test_next_bracket_change_is_counted_in_the_given_time_zone() -> None:
    change = next_bracket_change(date(2013, 5, 1), utc(2026, 11, 27), UTC)
    assert change == utc(2027, 5, 2)


@pytest.mark.parametrize(
    "at", [shanghai(2026, 5, 2), shanghai(2090, 1, 1)], ids=["just_turned_60", "long_after"]
)
def test_an_older_person_never_changes_bracket_again(at: datetime) -> None:
    assert next_bracket_change(date(1966, 5, 1), at, SHANGHAI) is None


def test_a_change_that_dst_skips_midnight_for_happens_when_the_day_begins() -> None:
    # Sao Paulo jumped from 00:00 to 01:00 on 2018-11-04, the day after this 14th birthday.
    at = datetime(2018, 1, 1, tzinfo=SAO_PAULO)
    change = next_bracket_change(date(2004, 11, 3), at, SAO_PAULO)
    assert change is not None
    assert change.isoformat() == "2018-11-04T01:00:00-02:00"
    assert change == utc(2018, 11, 4, 3)
    # Subtract in UTC: arithmetic on an aware datetime in its own zone is wall-clock arithmetic.
    just_before = change.astimezone(timezone.utc) - timedelta(microseconds=1)
    assert bracket_at(date(2004, 11, 3), just_before, SAO_PAULO) is Bracket.UNDER_14
    assert bracket_at(date(2004, 11, 3), change, SAO_PAULO) is Bracket.MINOR


@pytest.mark.parametrize(
    "birth_date",
    [date(2011, 1, 1) + timedelta(days=n) for n in range(0, 5 * 366, 7)]
    + [date(2012, 2, 28), date(2012, 2, 29), date(2012, 3, 1), date(1966, 12, 31)],
)
def test_the_bracket_changes_exactly_at_next_bracket_change(birth_date: date) -> None:
    at = shanghai(2025, 6, 15, 9, 30)
    change = next_bracket_change(birth_date, at, SHANGHAI)
    assert change is not None and change > at
    just_before = change.astimezone(timezone.utc) - timedelta(microseconds=1)
    assert bracket_at(birth_date, just_before, SHANGHAI) is bracket_at(birth_date, at, SHANGHAI)
    assert bracket_at(birth_date, change, SHANGHAI) is not bracket_at(birth_date, at, SHANGHAI)


@pytest.mark.parametrize(
    "call",
    [
        lambda at: bracket_at(date(2013, 5, 1), at, SHANGHAI),
        lambda at: next_bracket_change(date(2013, 5, 1), at, SHANGHAI),
        lambda at: check_birth_date(date(2013, 5, 1), at, SHANGHAI),
    ],
    ids=["bracket_at", "next_bracket_change", "check_birth_date"],
)
def test_a_naive_datetime_is_refused(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="timezone-aware"):
        call(datetime(2026, 11, 27, 12))


@pytest.mark.parametrize(
    ("birth_date", "at"),
    [
        # Born today, by the local calendar.
        (date(2026, 11, 27), shanghai(2026, 11, 27)),
        (date(2026, 11, 27), shanghai(2026, 11, 27, 23, 59, 59)),
        # Still 27 November in UTC, but already 28 November in Shanghai.
        (date(2026, 11, 28), utc(2026, 11, 27, 16)),
        (date(1900, 1, 1), shanghai(2026, 11, 27)),
        (date(2013, 5, 1), shanghai(2026, 11, 27)),
        # Exactly 130 at the edge of the age cap.
        (date(1900, 1, 1), shanghai(2031, 1, 1, 23, 59, 59)),
    ],
)
def test_a_plausible_birth_date_passes(birth_date: date, at: datetime) -> None:
    check_birth_date(birth_date, at, SHANGHAI)


@pytest.mark.parametrize(
    ("birth_date", "at", "reason"),
    [
        # Tomorrow, by the local calendar.
        (date(2026, 11, 28), shanghai(2026, 11, 27, 23, 59, 59), "in_future"),
        (date(2026, 11, 28), utc(2026, 11, 27, 15, 59, 59), "in_future"),
        (date(2100, 1, 1), shanghai(2026, 11, 27), "in_future"),
        # Before 1900 but not yet over 130.
        (date(1899, 12, 31), shanghai(2026, 11, 27), "before_1900"),
        (date(1896, 1, 1), shanghai(2026, 11, 27), "before_1900"),
        # Over 130: 131 from the day after the 131st birthday.
        (date(1900, 1, 1), shanghai(2031, 1, 2), "over_130"),
        (date(1900, 1, 1), utc(2031, 1, 1, 16), "over_130"),
        (date(1895, 11, 26), shanghai(2026, 11, 27), "over_130"),
        # The resident-id vector born 1880-01-01: over 130 is the fact that matters.
        (date(1880, 1, 1), shanghai(2026, 11, 27), "over_130"),
    ],
)
def test_an_implausible_birth_date_is_refused_with_its_reason(
    birth_date: date, at: datetime, reason: str
) -> None:
    with pytest.raises(ImplausibleBirthDate) as caught:
        check_birth_date(birth_date, at, SHANGHAI)
    assert caught.value.reason == reason
    assert isinstance(caught.value, DomainError)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda at: bracket_at(date(2026, 11, 28), at, SHANGHAI),
        lambda at: next_bracket_change(date(2026, 11, 28), at, SHANGHAI),
    ],
    ids=["bracket_at", "next_bracket_change"],
)
def test_a_birth_date_after_the_local_date_has_no_bracket(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="before the birth date"):
        call(shanghai(2026, 11, 27, 23, 59, 59))
