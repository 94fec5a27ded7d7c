"""The sandbox's ready-made test identities (CONTRACT §15).

People of every bracket and at the bracket edges, computed from a sandbox tenant's own
clock, so "turns 14 tomorrow" stays true however far that clock was moved. Each carries a
checksum-valid resident identity number in region 99: no GB/T 2260 province has that code,
so no real person holds one of these numbers and production refuses every one of them
(InvalidResidentId "region"); sandbox tenants accept any checksum-valid number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from service.domain.brackets import Bracket, age_on, bracket_at, next_bracket_change
from service.domain.evidence import resident_id_check_character

# The address code of every test identity: province 99 does not exist.
SANDBOX_REGION = "990000"


@dataclass(frozen=True)
class ReadyIdentity:
    """One ready-made identity as it stands at the sandbox's instant."""

    name: str
    resident_id: str
    birth_date: date
    age: int
    age_bracket: Bracket
    bracket_changes_at: datetime | None  # the next bracket change, in the ages' time zone
    demonstrates: str


def born_to_turn(age: int, on: date) -> date:
    """The birth date of someone who reaches `age` at 00:00 of `on` (the day after the
    birthday, 周岁). When nobody does -- `on` is 1 March after a leap day and the birth year
    has no 29 February -- the birth date of someone who reaches it a day later."""
    birthday = on - timedelta(days=1)
    try:
        return birthday.replace(year=birthday.year - age)
    except ValueError:  # 29 February in a common year
        return date(birthday.year - age, 3, 1)


def sandbox_resident_id(birth_date: date, sequence: int) -> str:
    """A checksum-valid resident identity number of region 99 for `birth_date`."""
    first17 = f"{SANDBOX_REGION}{birth_date:%Y%m%d}{sequence:03d}"
    return first17 + resident_id_check_character(first17)


@dataclass(frozen=True)
class _Recipe:
    name: str
    born: Callable[[date], date]  # the birth date, from the sandbox's local date today
    demonstrates: str


_RECIPES = (
    _Recipe(
        "turns-14-tomorrow",
        lambda today: born_to_turn(14, today + timedelta(days=1)),
        "under_14 today, minor from 00:00 tomorrow: advance the clock a day (P1D) and watch the bracket change "
        "in a new token, the subject view and a subject.bracket_changed webhook event",
    ),
    _Recipe(
        "child-10",
        lambda today: born_to_turn(10, today - timedelta(days=180)),
        "under_14 for years to come: every category needs a guardian's consent (pi_processing first)",
    ),
    _Recipe(
        "child-13-refused",
        lambda today: born_to_turn(13, today - timedelta(days=120)),
        "under_14: the refusal path -- complete its consent request with every category declined and "
        "see consent.declined, the receipt and decisions that stay needs_consent",
    ),
    _Recipe(
        "minor-16",
        lambda today: born_to_turn(16, today - timedelta(days=90)),
        "minor: companion allowed with minor_mode, paid_interaction needs consent, the 16-17 limits",
    ),
    _Recipe(
        "turns-18-next-week",
        lambda today: born_to_turn(18, today + timedelta(days=7)),
        "minor now, adult from 00:00 in seven days (advance P7D): consents stop mattering, limits go",
    ),
    _Recipe(
        "adult-guardian",
        lambda today: born_to_turn(35, today - timedelta(days=150)),
        "adult with document assurance: the guardian to name in consent requests for the children above",
    ),
    _Recipe(
        "older-68",
        lambda today: born_to_turn(68, today - timedelta(days=200)),
        "older: companion with risk_reminder and anti_dependence, paid_interaction with consumption_guard",
    ),
    _Recipe(
        "turns-60-in-30-days",
        lambda today: born_to_turn(60, today + timedelta(days=30)),
        "adult now, older from 00:00 in thirty days (advance P30D): the older persons' obligations appear",
    ),
)


def ready_identities(at: datetime, tz: ZoneInfo) -> list[ReadyIdentity]:
    """The ready-made identities as they stand at the instant `at`, ages counted in `tz`."""
    today = at.astimezone(tz).date()
    identities = []
    for sequence, recipe in enumerate(_RECIPES, start=1):
        birth_date = recipe.born(today)
        identities.append(
            ReadyIdentity(
                name=recipe.name,
                resident_id=sandbox_resident_id(birth_date, sequence),
                birth_date=birth_date,
                age=age_on(birth_date, today),
                age_bracket=bracket_at(birth_date, at, tz),
                bracket_changes_at=next_bracket_change(birth_date, at, tz),
                demonstrates=recipe.demonstrates,
            )
        )
    return identities
