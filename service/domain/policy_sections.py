"""The policy sections added on 2026-11-30 (policy 2026-07-15.2): what guardians read about
each category, limits by age band, reporting thresholds and retention periods.

Each value carries where it comes from (``basis``/``source``) and, where the source is a
draft text rather than a final one, says so (``draft``), because a persona service and a
regulator must be able to tell a binding figure from a cautious default. Older policy files
have none of these sections; they parse to empty values, so a past decision can still be
replayed under the version that made it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from service.domain.errors import PolicyInvalid

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
_CLOCK_TIME = re.compile(r"\A([01][0-9]|2[0-3]):[0-5][0-9]\Z")


@dataclass(frozen=True)
class CategoryText:
    """A category in plain words for a guardian: a short title and what it means for the child."""

    title: str
    explanation: str


@dataclass(frozen=True)
class LimitValue:
    """One default limit, with its source and whether that source is a draft."""

    value: Any
    source: str
    draft: bool

    def as_document(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source, "draft": self.draft}


@dataclass(frozen=True)
class Curfew:
    """Local clock times ("22:00" to "06:00") during which a minor is not served."""

    start: str
    end: str

    def as_claim(self) -> dict[str, str]:
        return {"start": self.start, "end": self.end}


@dataclass(frozen=True)
class LimitBand:
    """The minor-mode limits for ages ``min_age`` to ``max_age`` (completed years, inclusive)."""

    min_age: int
    max_age: int
    daily_minutes: LimitValue
    curfew: LimitValue  # value: Curfew
    single_payment_max_cny: LimitValue
    monthly_payment_max_cny: LimitValue

    def as_claim(self) -> dict[str, Any]:
        """The band's defaults in the shape of a token's ``limits`` claim (CONTRACT §13)."""
        return {
            "daily_minutes": self.daily_minutes.value,
            "curfew": self.curfew.value.as_claim(),
            "single_payment_max_cny": self.single_payment_max_cny.value,
            "monthly_payment_max_cny": self.monthly_payment_max_cny.value,
        }

    def as_document(self) -> dict[str, Any]:
        curfew = self.curfew.as_document() | {"value": self.curfew.value.as_claim()}
        return {
            "min_age": self.min_age,
            "max_age": self.max_age,
            "daily_minutes": self.daily_minutes.as_document(),
            "curfew": curfew,
            "single_payment_max_cny": self.single_payment_max_cny.as_document(),
            "monthly_payment_max_cny": self.monthly_payment_max_cny.as_document(),
        }


@dataclass(frozen=True)
class Threshold:
    """A figure whose crossing (``metric >= at_least``, 以上 includes the number) triggers a duty."""

    id: str
    metric: str
    at_least: int
    rule: str
    basis: str
    draft: bool

    def crossed_by(self, value: int) -> bool:
        return value >= self.at_least

    def as_document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "metric": self.metric,
            "at_least": self.at_least,
            "rule": self.rule,
            "basis": self.basis,
            "draft": self.draft,
        }


@dataclass(frozen=True)
class Period:
    """A number of days the policy sets by default, with its basis; a tenant may shorten it."""

    days: int
    basis: str


@dataclass(frozen=True)
class Retention:
    """How long the app has to delete a child's data, and how long an unconsented child is kept."""

    deletion_due_days: Period
    unconsented_child_days: Period

    def as_document(self) -> dict[str, Any]:
        return {
            "deletion_due_days": {"days": self.deletion_due_days.days, "basis": self.deletion_due_days.basis},
            "unconsented_child_days": {
                "days": self.unconsented_child_days.days,
                "basis": self.unconsented_child_days.basis,
            },
        }


@dataclass(frozen=True)
class AnnualReport:
    """The annual minors' PI compliance figures: their rounding and the day they are due."""

    round_to: int
    due_month_day: str  # "01-31"
    basis: str


@dataclass(frozen=True)
class Sections:
    """Everything policy 2026-07-15.2 adds; empty for older policy files."""

    texts: Mapping[str, Mapping[str, CategoryText]]  # category -> locale -> text
    limits_basis: str | None
    limit_bands: tuple[LimitBand, ...]
    thresholds: tuple[Threshold, ...]
    retention: Retention | None
    annual_report: AnnualReport | None


EMPTY = Sections(MappingProxyType({}), None, (), (), None, None)
SECTION_NAMES = frozenset({"limits", "thresholds", "retention", "annual_report"})

Members = Callable[..., dict[str, Any]]
Text = Callable[[object, str], str]


def parse_texts(
    categories: Mapping[str, Mapping[str, Any]], members: Members, text: Text
) -> Mapping[str, Mapping[str, CategoryText]]:
    """Return each category's guardian texts; every category needs both locales or none has any."""
    with_texts = [c for c, item in categories.items() if "texts" in item]
    if not with_texts:
        return MappingProxyType({})
    missing = [c for c in categories if c not in with_texts]
    if missing:
        raise PolicyInvalid(f"categories.{missing[0]}: missing 'texts'")
    texts: dict[str, Mapping[str, CategoryText]] = {}
    for category, item in categories.items():
        by_locale = members(item["texts"], f"categories.{category}.texts", set(LOCALES))
        texts[category] = MappingProxyType(
            {
                locale: CategoryText(
                    **{
                        name: text(value, f"categories.{category}.texts.{locale}.{name}")
                        for name, value in members(
                            by_locale[locale], f"categories.{category}.texts.{locale}", {"title", "explanation"}
                        ).items()
                    }
                )
                for locale in LOCALES
            }
        )
    return MappingProxyType(texts)


def parse_sections(top: Mapping[str, Any], members: Members, text: Text) -> Sections:
    """Parse the optional sections of ``top``; the packaged 2026-07-15.2 file has all of them."""
    limits_basis, bands = None, ()
    if "limits" in top:
        limits = members(top["limits"], "limits", {"basis", "bands"})
        limits_basis = text(limits["basis"], "limits.basis")
        bands = _bands(limits["bands"], members, text)
    thresholds = _thresholds(top["thresholds"], members, text) if "thresholds" in top else ()
    retention = None
    if "retention" in top:
        periods = members(top["retention"], "retention", {"deletion_due_days", "unconsented_child_days"})
        retention = Retention(
            **{name: _period(value, f"retention.{name}", members, text) for name, value in periods.items()}
        )
    annual = None
    if "annual_report" in top:
        report = members(top["annual_report"], "annual_report", {"round_to", "due", "basis"})
        due = text(report["due"], "annual_report.due")
        if not re.fullmatch(r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])", due):
            raise PolicyInvalid("annual_report.due: expected MM-DD")
        annual = AnnualReport(
            _positive(report["round_to"], "annual_report.round_to"), due, text(report["basis"], "annual_report.basis")
        )
    return Sections(MappingProxyType({}), limits_basis, bands, thresholds, retention, annual)


def _positive(value: object, where: str) -> int:
    # bool is an int in Python; a `true` in the file is a mistake, not 1.
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise PolicyInvalid(f"{where}: expected a positive integer")
    return value


def _flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyInvalid(f"{where}: expected true or false")
    return value


def _period(value: object, where: str, members: Members, text: Text) -> Period:
    period = members(value, where, {"days", "basis"})
    return Period(_positive(period["days"], f"{where}.days"), text(period["basis"], f"{where}.basis"))


def _limit(value: object, where: str, members: Members, text: Text, parse: Callable[[object, str], Any]) -> LimitValue:
    limit = members(value, where, {"value", "source", "draft"})
    return LimitValue(
        parse(limit["value"], f"{where}.value"), text(limit["source"], f"{where}.source"), _flag(limit["draft"], f"{where}.draft")
    )


def _curfew(value: object, where: str) -> Curfew:
    if not isinstance(value, dict) or set(value) != {"start", "end"}:
        raise PolicyInvalid(f"{where}: expected an object with start and end")
    for name in ("start", "end"):
        if not isinstance(value[name], str) or not _CLOCK_TIME.match(value[name]):
            raise PolicyInvalid(f"{where}.{name}: expected HH:MM")
    return Curfew(value["start"], value["end"])


def _minutes(value: object, where: str) -> int:
    minutes = _positive(value, where)
    if minutes > 24 * 60:
        raise PolicyInvalid(f"{where}: more minutes than a day has")
    return minutes


def _bands(value: object, members: Members, text: Text) -> tuple[LimitBand, ...]:
    """Bands must cover ages 0 to 17 exactly once, in order: a gap would leave a minor unlimited."""
    if not isinstance(value, list) or not value:
        raise PolicyInvalid("limits.bands: expected a non-empty list")
    bands: list[LimitBand] = []
    expected_min = 0
    for index, item in enumerate(value):
        where = f"limits.bands[{index}]"
        band = members(
            item,
            where,
            {"min_age", "max_age", "daily_minutes", "curfew", "single_payment_max_cny", "monthly_payment_max_cny"},
        )
        min_age, max_age = band["min_age"], band["max_age"]
        if not isinstance(min_age, int) or isinstance(min_age, bool) or min_age != expected_min:
            raise PolicyInvalid(f"{where}.min_age: expected {expected_min}")
        if not isinstance(max_age, int) or isinstance(max_age, bool) or not min_age <= max_age <= 17:
            raise PolicyInvalid(f"{where}.max_age: expected {min_age} to 17")
        bands.append(
            LimitBand(
                min_age=min_age,
                max_age=max_age,
                daily_minutes=_limit(band["daily_minutes"], f"{where}.daily_minutes", members, text, _minutes),
                curfew=_limit(band["curfew"], f"{where}.curfew", members, text, _curfew),
                single_payment_max_cny=_limit(
                    band["single_payment_max_cny"], f"{where}.single_payment_max_cny", members, text, _positive
                ),
                monthly_payment_max_cny=_limit(
                    band["monthly_payment_max_cny"], f"{where}.monthly_payment_max_cny", members, text, _positive
                ),
            )
        )
        expected_min = max_age + 1
    if expected_min != 18:
        raise PolicyInvalid("limits.bands: must cover ages 0 to 17")
    return tuple(bands)


def _thresholds(value: object, members: Members, text: Text) -> tuple[Threshold, ...]:
    if not isinstance(value, list) or not value:
        raise PolicyInvalid("thresholds: expected a non-empty list")
    thresholds: list[Threshold] = []
    for index, item in enumerate(value):
        where = f"thresholds[{index}]"
        entry = members(item, where, {"id", "metric", "at_least", "rule", "basis", "draft"})
        threshold = Threshold(
            id=text(entry["id"], f"{where}.id"),
            metric=text(entry["metric"], f"{where}.metric"),
            at_least=_positive(entry["at_least"], f"{where}.at_least"),
            rule=text(entry["rule"], f"{where}.rule"),
            basis=text(entry["basis"], f"{where}.basis"),
            draft=_flag(entry["draft"], f"{where}.draft"),
        )
        if any(t.id == threshold.id for t in thresholds):
            raise PolicyInvalid(f"{where}: repeated id {threshold.id!r}")
        thresholds.append(threshold)
    return tuple(thresholds)
