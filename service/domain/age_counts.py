"""Counting ages by birth month, so reports decrypt only the birth dates that matter.

Each subject carries a coarse clear ``birth_month`` (YYYYMM: year and month, never the day).
On a given date, everyone born in a month after the "boundary month" of an age N is younger
than N, everyone born in a month before it is at least N; only those born in the boundary
month itself need the day, hence the encrypted birth date. The boundary month of N on date
``on`` is ``on``'s month N years earlier: the Nth anniversary (28 February for 29 February
births) falls in the birth month, and a person is N from the day after it (brackets.age_on).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from service.domain.brackets import Bracket, age_on, bracket_for_age

# The ages at which a bracket begins, youngest first (CONTRACT §4).
BRACKET_AGES = (14, 18, 60)


def birth_month(birth_date: date) -> int:
    """The coarse clear field stored beside the encrypted birth date: YYYYMM."""
    return birth_date.year * 100 + birth_date.month


def boundary_month(on: date, age: int) -> int:
    """The birth month (YYYYMM) whose subjects turn ``age`` or not on ``on`` depending on the day."""
    return (on.year - age) * 100 + on.month


def younger_than(month: int, on: date, age: int) -> bool | None:
    """Whether everyone born in ``month`` is under ``age`` on ``on``; None when it depends on the day."""
    boundary = boundary_month(on, age)
    if month == boundary:
        return None
    return month > boundary


def bracket_of_month(month: int, on: date) -> Bracket | None:
    """The bracket shared on ``on`` by everyone born in ``month``; None in a boundary month."""
    for age, bracket in zip(BRACKET_AGES, (Bracket.UNDER_14, Bracket.MINOR, Bracket.ADULT)):
        younger = younger_than(month, on, age)
        if younger is None:
            return None
        if younger:
            return bracket
    return Bracket.OLDER


def boundary_months(on: date, ages: Iterable[int] = BRACKET_AGES) -> frozenset[int]:
    """The birth months whose subjects need their day to be classified on ``on``."""
    return frozenset(boundary_month(on, age) for age in ages)


def brackets_from_months(
    month_counts: Mapping[int, int], on: date, boundary_birth_dates: Iterable[date]
) -> Counter[Bracket]:
    """Bracket counts on ``on`` from subjects counted by birth month plus the decrypted birth
    dates of those whose month could not decide (boundary months, or no month recorded).

    ``month_counts`` must leave out the subjects passed as ``boundary_birth_dates``.
    """
    counts: Counter[Bracket] = Counter()
    for month, count in month_counts.items():
        bracket = bracket_of_month(month, on)
        if bracket is None:
            raise ValueError(f"birth month {month} is a boundary month on {on}: pass its birth dates")
        counts[bracket] += count
    for born in boundary_birth_dates:
        counts[bracket_for_age(_age(born, on))] += 1
    return counts


def _age(born: date, on: date) -> int:
    # A birth date corrected by re-verification may postdate the day asked about.
    return age_on(born, on) if born <= on else 0


@dataclass(frozen=True)
class MinorsCount:
    """Persons processed in a period, and of them those under 18 and under 14 at some time in it."""

    persons: int = 0
    under_18: int = 0
    under_14: int = 0

    def __add__(self, other: MinorsCount) -> MinorsCount:
        return MinorsCount(self.persons + other.persons, self.under_18 + other.under_18, self.under_14 + other.under_14)


def minors_of_month(month: int, on: date, count: int) -> MinorsCount | None:
    """``count`` subjects born in ``month`` whose processing began on (a day in the month of)
    ``on``; None when ``month`` is a boundary month of 14 or 18 there and the day decides.

    Ages only grow, so "under N at some time in the period" is "under N when it began".
    """
    under_18, under_14 = younger_than(month, on, 18), younger_than(month, on, 14)
    if under_18 is None or under_14 is None:
        return None
    return MinorsCount(count, count if under_18 else 0, count if under_14 else 0)


def minors_of_person(born: date, on: date) -> MinorsCount:
    """One subject born on ``born`` whose processing in the period began on ``on``."""
    age = _age(born, on)
    return MinorsCount(1, int(age < 18), int(age < 14))
