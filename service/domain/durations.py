"""ISO 8601 durations for moving a sandbox tenant's clock (CONTRACT §15), and where they land.

`P1Y2M10DT2H30M` reads as calendar years, months, weeks and days counted on the civil date
in a time zone (as ages are), then hours, minutes and seconds of elapsed time. Only whole
numbers: a fraction (`P0.5D`) or a sign is refused. Time is a parameter.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from service.domain.errors import InvalidDuration

_GRAMMAR = re.compile(
    r"P(?:(?P<years>\d{1,4})Y)?(?:(?P<months>\d{1,6})M)?(?:(?P<weeks>\d{1,6})W)?(?:(?P<days>\d{1,7})D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d{1,8})H)?(?:(?P<minutes>\d{1,9})M)?(?:(?P<seconds>\d{1,10})S)?)?"
)


@dataclass(frozen=True)
class Duration:
    years: int = 0
    months: int = 0
    days: int = 0  # weeks are counted in days
    seconds: int = 0  # hours and minutes are counted in seconds

    @property
    def is_zero(self) -> bool:
        return not (self.years or self.months or self.days or self.seconds)


def parse_duration(text: str) -> Duration:
    """The duration `text` spells; InvalidDuration when it is not `PnYnMnWnDTnHnMnS` in whole numbers."""
    match = _GRAMMAR.fullmatch(text)
    if match is None or text in {"P", "PT"}:
        raise InvalidDuration("not an ISO 8601 duration of whole numbers such as P30D, P1Y or PT12H")
    n = {name: int(value or 0) for name, value in match.groupdict().items()}
    return Duration(
        years=n["years"],
        months=n["months"],
        days=7 * n["weeks"] + n["days"],
        seconds=3600 * n["hours"] + 60 * n["minutes"] + n["seconds"],
    )


def _add_months(day: date, months: int) -> date:
    """`day` moved by whole months; the 31st becomes the last day of a shorter month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def advanced(at: datetime, by: Duration, tz: ZoneInfo) -> datetime:
    """The instant `by` after `at`: years, months and days on the civil calendar of `tz` at the
    same wall-clock time, then the seconds. OverflowError past year 9999."""
    local = at.astimezone(tz)
    moved = _add_months(local.date(), 12 * by.years + by.months) + timedelta(days=by.days)
    if moved.year > 9999:
        raise OverflowError("date value out of range")
    civil = datetime.combine(moved, local.time(), tzinfo=tz)
    return civil.astimezone(timezone.utc) + timedelta(seconds=by.seconds)
