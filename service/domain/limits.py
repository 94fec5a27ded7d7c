"""Minor-mode limits (CONTRACT §13): the policy's defaults for an age band, made stricter by a
tenant's policy and a guardian's controls -- always the strictest of the three.

Stricter means: fewer daily minutes, lower payment caps, and a curfew that covers at least
the hours the looser one covers. A curfew is a span of local clock time that may run past
midnight ("22:00" to "06:00"); ``start == end`` is a curfew of the whole day.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from service.domain.brackets import age_on, turns_age_at
from service.domain.errors import LimitLoosened, PolicyInvalid
from service.domain.policy_sections import Curfew, LimitBand

MINUTES_PER_DAY = 24 * 60
NUMERIC_LIMITS = ("daily_minutes", "single_payment_max_cny", "monthly_payment_max_cny")


@dataclass(frozen=True)
class Limits:
    """The limits a token carries for a minor (its ``limits`` claim)."""

    daily_minutes: int
    curfew: Curfew
    single_payment_max_cny: int
    monthly_payment_max_cny: int

    @classmethod
    def of_band(cls, band: LimitBand) -> Limits:
        return cls(
            daily_minutes=band.daily_minutes.value,
            curfew=band.curfew.value,
            single_payment_max_cny=band.single_payment_max_cny.value,
            monthly_payment_max_cny=band.monthly_payment_max_cny.value,
        )

    def as_claim(self) -> dict[str, Any]:
        return {
            "daily_minutes": self.daily_minutes,
            "curfew": self.curfew.as_claim(),
            "single_payment_max_cny": self.single_payment_max_cny,
            "monthly_payment_max_cny": self.monthly_payment_max_cny,
        }


@dataclass(frozen=True)
class LimitSettings:
    """Limits someone chose (a guardian's controls, a tenant's override); None leaves a limit as it is."""

    daily_minutes: int | None = None
    curfew: Curfew | None = None
    single_payment_max_cny: int | None = None
    monthly_payment_max_cny: int | None = None

    def as_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {}
        for name in NUMERIC_LIMITS:
            if getattr(self, name) is not None:
                document[name] = getattr(self, name)
        if self.curfew is not None:
            document["curfew"] = self.curfew.as_claim()
        return document

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


def parse_clock(value: str) -> int:
    """Minutes after midnight of an "HH:MM" string. Raises ValueError on anything else."""
    if len(value) != 5 or value[2] != ":" or not (value[:2] + value[3:]).isdigit():
        raise ValueError(f"expected HH:MM, got {value!r}")
    hours, minutes = int(value[:2]), int(value[3:])
    if hours > 23 or minutes > 59:
        raise ValueError(f"expected HH:MM, got {value!r}")
    return hours * 60 + minutes


def _clock(minutes: int) -> str:
    minutes %= MINUTES_PER_DAY
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _span(curfew: Curfew) -> tuple[int, int]:
    """(start minute, length in minutes); start == end is the whole day."""
    start, end = parse_clock(curfew.start), parse_clock(curfew.end)
    return start, (end - start) % MINUTES_PER_DAY or MINUTES_PER_DAY


def curfew_covers(outer: Curfew, inner: Curfew) -> bool:
    """Whether ``outer`` covers every minute ``inner`` covers (so it is at least as strict)."""
    outer_start, outer_length = _span(outer)
    inner_start, inner_length = _span(inner)
    if outer_length == MINUTES_PER_DAY:
        return True
    return (inner_start - outer_start) % MINUTES_PER_DAY + inner_length <= outer_length


def curfew_union(base: Curfew, *stricter: Curfew) -> Curfew:
    """The shortest curfew covering ``base`` and every one of ``stricter``, each of which covers
    ``base`` (so all overlap and the union is one span, or the whole day)."""
    base_start, base_length = _span(base)
    before, after = 0, base_length
    for curfew in stricter:
        start, length = _span(curfew)
        lead = (base_start - start) % MINUTES_PER_DAY
        before, after = max(before, lead), max(after, length - lead)
    if before + after >= MINUTES_PER_DAY:
        return Curfew("00:00", "00:00")
    return Curfew(_clock(base_start - before), _clock(base_start + after))


def limit_settings(value: object, where: str) -> LimitSettings:
    """Parse ``{"daily_minutes", "curfew", "single_payment_max_cny", "monthly_payment_max_cny"}``
    (each optional) as chosen by a tenant or a guardian. Raises PolicyInvalid naming the member."""
    if not isinstance(value, dict):
        raise PolicyInvalid(f"{where}: expected an object")
    unknown = sorted(set(value) - {*NUMERIC_LIMITS, "curfew"})
    if unknown:
        raise PolicyInvalid(f"{where}: unknown member {unknown[0]!r}")
    members = value
    chosen: dict[str, Any] = {}
    for name in NUMERIC_LIMITS:
        if name in members:
            number = members[name]
            if not isinstance(number, int) or isinstance(number, bool) or number < 0:
                raise PolicyInvalid(f"{where}.{name}: expected a whole number of zero or more")
            chosen[name] = number
    if "curfew" in members:
        curfew = members["curfew"]
        try:
            if not isinstance(curfew, dict) or set(curfew) != {"start", "end"}:
                raise ValueError("expected start and end")
            parse_clock(curfew["start"]), parse_clock(curfew["end"])
        except (ValueError, TypeError) as error:
            raise PolicyInvalid(f"{where}.curfew: {error}") from None
        chosen["curfew"] = Curfew(curfew["start"], curfew["end"])
    return LimitSettings(**chosen)


def check_tightening(default: Limits, chosen: LimitSettings, who: str) -> None:
    """Refuse a chosen limit looser than ``default``. Raises LimitLoosened naming the first one."""
    for name in NUMERIC_LIMITS:
        value = getattr(chosen, name)
        if value is not None and value > getattr(default, name):
            raise LimitLoosened(name, who, allowed=str(getattr(default, name)))
    if chosen.curfew is not None and not curfew_covers(chosen.curfew, default.curfew):
        allowed = f"a curfew covering {default.curfew.start}-{default.curfew.end}"
        raise LimitLoosened("curfew", who, allowed=allowed)


def strictest(default: Limits, *chosen: LimitSettings) -> Limits:
    """``default`` made as strict as every one of ``chosen`` (each already checked to tighten)."""
    result = default
    for settings in chosen:
        for name in NUMERIC_LIMITS:
            value = getattr(settings, name)
            if value is not None and value < getattr(result, name):
                result = replace(result, **{name: value})
    curfews = [s.curfew for s in chosen if s.curfew is not None]
    if curfews:
        result = replace(result, curfew=curfew_union(default.curfew, *curfews))
    return result


def next_band_change(bands: tuple[LimitBand, ...], birth_date: date, at: datetime, tz: ZoneInfo) -> datetime | None:
    """The first instant after ``at`` at which the subject enters another limit band (00:00 of
    the day after that birthday, as for brackets), or None when no band starts later.

    A token's ``exp`` must not outlive its ``limits`` any more than its bracket.
    """
    age = age_on(birth_date, at.astimezone(tz).date())
    starts = [band.min_age for band in bands if band.min_age > age]
    if not starts:
        return None
    return turns_age_at(birth_date, min(starts), tz)
