"""Counting by birth month agrees with counting by birth date, day by day."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from service.domain.age_counts import (
    MinorsCount,
    birth_month,
    boundary_months,
    bracket_of_month,
    brackets_from_months,
    minors_of_month,
    minors_of_person,
)
from service.domain.brackets import Bracket, age_on, bracket_for_age

DAYS_ASKED = [date(2026, 1, 1), date(2026, 2, 28), date(2028, 2, 29), date(2026, 3, 1), date(2026, 12, 31)]


def days(first: date, last: date):  # type: ignore[no-untyped-def]
    while first <= last:
        yield first
        first += timedelta(days=1)


@pytest.mark.parametrize("on", DAYS_ASKED, ids=str)
def test_a_birth_month_outside_the_boundaries_decides_the_bracket_of_every_day_in_it(on: date) -> None:
    for age in (14, 18, 60):
        around = date(on.year - age, 1, 1)
        for born in days(around - timedelta(days=400), around + timedelta(days=800)):
            month_says = bracket_of_month(birth_month(born), on)
            exact = bracket_for_age(age_on(born, on))
            if month_says is None:
                assert birth_month(born) in boundary_months(on)
            else:
                assert month_says == exact, (born, on)


def test_29_february_births_turn_18_on_1_march_in_a_common_year() -> None:
    on = date(2026, 3, 1)
    assert bracket_of_month(birth_month(date(2008, 2, 29)), on) is Bracket.ADULT
    assert bracket_of_month(birth_month(date(2008, 3, 1)), on) is None  # 18th birthday is today: still 17


def test_counts_from_months_add_the_boundary_birth_dates() -> None:
    on = date(2026, 11, 27)
    counts = brackets_from_months({201001: 3, 199001: 2, 201205: 1}, on, [date(2012, 11, 27), date(2012, 11, 26)])
    assert counts == {Bracket.UNDER_14: 1, Bracket.MINOR: 5, Bracket.ADULT: 2}
    with pytest.raises(ValueError):
        brackets_from_months({201211: 1}, on, [])


def test_minors_of_a_month_defer_to_the_day_only_at_14_and_18() -> None:
    on = date(2026, 1, 1)
    assert minors_of_month(201205, on, 7) == MinorsCount(7, 7, 7)
    assert minors_of_month(201001, on, 7) == MinorsCount(7, 7, 0)
    assert minors_of_month(200712, on, 7) == MinorsCount(7, 0, 0)
    assert minors_of_month(201201, on, 7) is None and minors_of_month(200801, on, 7) is None
    assert minors_of_month(196601, on, 7) == MinorsCount(7, 0, 0)  # 60 is no boundary here
    assert minors_of_person(date(2008, 1, 1), on) == MinorsCount(1, 1, 0)  # 18th birthday: still 17
    assert minors_of_person(date(2007, 12, 31), on) == MinorsCount(1, 0, 0)
