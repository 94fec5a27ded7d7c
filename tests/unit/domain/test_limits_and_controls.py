"""Minor-mode limits: curfew geometry, tightening checks, the strictest of default, tenant and
guardian, band changes, and guardian controls (blocked categories)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from service.domain.brackets import Bracket
from service.domain.controls import GuardianControls, apply_blocked, check_controls, limits_for
from service.domain.errors import LimitLoosened, PolicyInvalid
from service.domain.evidence import Assurance
from service.domain.limits import (
    Limits,
    LimitSettings,
    check_tightening,
    curfew_covers,
    curfew_union,
    next_band_change,
    parse_clock,
    strictest,
)
from service.domain.policy import load_policy
from service.domain.policy_sections import Curfew

POLICY = load_policy()
SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT = Limits(60, Curfew("22:00", "06:00"), 50, 200)


@pytest.mark.parametrize(
    ("outer", "inner", "covers"),
    [
        (("22:00", "06:00"), ("22:00", "06:00"), True),
        (("21:00", "06:00"), ("22:00", "06:00"), True),
        (("22:00", "07:00"), ("22:00", "06:00"), True),
        (("21:59", "06:01"), ("22:00", "06:00"), True),
        (("22:01", "06:00"), ("22:00", "06:00"), False),
        (("22:00", "05:59"), ("22:00", "06:00"), False),
        (("23:00", "05:00"), ("22:00", "06:00"), False),
        (("00:00", "00:00"), ("22:00", "06:00"), True),  # the whole day covers everything
        (("20:00", "21:00"), ("22:00", "06:00"), False),  # disjoint
        (("12:00", "11:59"), ("22:00", "06:00"), True),  # all but one minute, wrapping
        (("01:00", "05:00"), ("02:00", "03:00"), True),  # no wrap at all
    ],
)
def test_a_curfew_covers_another_only_if_it_spans_every_minute_of_it(
    outer: tuple[str, str], inner: tuple[str, str], covers: bool
) -> None:
    assert curfew_covers(Curfew(*outer), Curfew(*inner)) is covers


@pytest.mark.parametrize(
    ("curfews", "union"),
    [
        ([("21:00", "06:00")], ("21:00", "06:00")),
        ([("21:00", "06:00"), ("22:00", "07:00")], ("21:00", "07:00")),
        ([("22:00", "06:00")], ("22:00", "06:00")),
        ([("12:00", "06:00"), ("22:00", "13:00")], ("00:00", "00:00")),  # together the whole day
    ],
)
def test_the_union_of_curfews_that_cover_the_default_is_one_span(
    curfews: list[tuple[str, str]], union: tuple[str, str]
) -> None:
    assert curfew_union(Curfew("22:00", "06:00"), *(Curfew(*c) for c in curfews)) == Curfew(*union)


@pytest.mark.parametrize("text", ["24:00", "7:00", "07:60", "0700", "07:0a", ""])
def test_clock_times_are_strict_hh_mm(text: str) -> None:
    with pytest.raises(ValueError):
        parse_clock(text)


@pytest.mark.parametrize(
    ("chosen", "limit"),
    [
        (LimitSettings(daily_minutes=61), "daily_minutes"),
        (LimitSettings(single_payment_max_cny=51), "single_payment_max_cny"),
        (LimitSettings(monthly_payment_max_cny=201), "monthly_payment_max_cny"),
        (LimitSettings(curfew=Curfew("23:00", "06:00")), "curfew"),
        (LimitSettings(daily_minutes=30, curfew=Curfew("22:30", "06:00")), "curfew"),
    ],
)
def test_loosening_any_limit_is_refused_naming_it(chosen: LimitSettings, limit: str) -> None:
    with pytest.raises(LimitLoosened) as refused:
        check_tightening(DEFAULT, chosen, "guardian")
    assert refused.value.limit == limit and refused.value.who == "guardian"


@pytest.mark.parametrize(
    "chosen",
    [
        LimitSettings(),
        LimitSettings(daily_minutes=60, single_payment_max_cny=50, monthly_payment_max_cny=200),
        LimitSettings(daily_minutes=0, single_payment_max_cny=0, monthly_payment_max_cny=0),
        LimitSettings(curfew=Curfew("20:00", "08:00")),
    ],
)
def test_equal_or_stricter_limits_pass(chosen: LimitSettings) -> None:
    check_tightening(DEFAULT, chosen, "guardian")


def test_the_strictest_of_default_tenant_and_guardian_wins_limit_by_limit() -> None:
    tenant = LimitSettings(daily_minutes=45, curfew=Curfew("21:00", "06:00"))
    guardian = LimitSettings(daily_minutes=50, single_payment_max_cny=0, curfew=Curfew("22:00", "07:00"))
    assert strictest(DEFAULT, tenant, guardian) == Limits(45, Curfew("21:00", "07:00"), 0, 200)
    assert strictest(DEFAULT) == DEFAULT


@pytest.mark.parametrize(
    ("birth", "at", "change"),
    [
        # under 8 -> 8-15 band at 00:00 Shanghai the day after the 8th birthday
        (date(2019, 3, 10), datetime(2026, 11, 30, tzinfo=timezone.utc), datetime(2027, 3, 11, tzinfo=SHANGHAI)),
        # 8-15 -> 16-17 at 16
        (date(2011, 12, 1), datetime(2026, 11, 30, tzinfo=timezone.utc), datetime(2027, 12, 2, tzinfo=SHANGHAI)),
        # 29 February: the anniversary is 28 February in a common year
        (date(2012, 2, 29), datetime(2026, 11, 30, tzinfo=timezone.utc), datetime(2028, 3, 1, tzinfo=SHANGHAI)),
    ],
)
def test_the_next_band_change_is_local_midnight_after_the_birthday(birth: date, at: datetime, change: datetime) -> None:
    assert next_band_change(POLICY.limit_bands, birth, at, SHANGHAI) == change


def test_no_band_change_once_in_the_last_band() -> None:
    at = datetime(2026, 11, 30, tzinfo=timezone.utc)
    assert next_band_change(POLICY.limit_bands, date(2009, 1, 1), at, SHANGHAI) is None  # 17
    assert next_band_change(POLICY.limit_bands, date(1990, 1, 1), at, SHANGHAI) is None  # adult


@pytest.mark.parametrize(("age", "minutes"), [(10, 60), (15, 60), (17, 120)])
def test_a_childs_limits_are_the_band_default_without_controls(age: int, minutes: int) -> None:
    limits = limits_for(POLICY, age, GuardianControls())
    assert limits is not None and limits.daily_minutes == minutes


def test_guardian_controls_tighten_the_band_default() -> None:
    controls = GuardianControls(LimitSettings(daily_minutes=30, monthly_payment_max_cny=0))
    check_controls(POLICY, 10, controls)
    assert limits_for(POLICY, 10, controls) == Limits(30, Curfew("22:00", "06:00"), 50, 0)


def test_a_guardian_cannot_loosen_past_the_childs_band() -> None:
    with pytest.raises(LimitLoosened) as refused:
        check_controls(POLICY, 15, GuardianControls(LimitSettings(daily_minutes=90)))
    assert refused.value.limit == "daily_minutes" and refused.value.allowed == "60"
    check_controls(POLICY, 16, GuardianControls(LimitSettings(daily_minutes=90)))  # 16-17 allow 120


def test_adults_carry_no_limits() -> None:
    assert limits_for(POLICY, 18, GuardianControls(LimitSettings(daily_minutes=10))) is None


def test_blocking_an_unknown_category_is_refused() -> None:
    with pytest.raises(PolicyInvalid, match="unknown category 'gambling'"):
        check_controls(POLICY, 10, GuardianControls(blocked_categories=frozenset({"gambling"})))


def test_a_blocked_category_is_denied_as_guardian_blocked_and_a_legal_ban_keeps_its_reason() -> None:
    decisions = POLICY.decide(Bracket.MINOR, Assurance.DOCUMENT, ())
    blocked = apply_blocked(decisions, frozenset({"companion", "virtual_intimacy"}))
    assert blocked["companion"].as_claim() == {"decision": "deny", "reason": "guardian_blocked"}
    assert blocked["virtual_intimacy"].reason == "minor_ban"
    assert blocked["digital_human"] == decisions["digital_human"]
    assert apply_blocked(decisions, frozenset()) is decisions
