"""The sandbox's ready-made identities (CONTRACT §15): right ages and edges on any day, and
resident IDs that pass the checksum but that production refuses (region 99)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from service.domain.brackets import Bracket, age_on, bracket_at, turns_age_at
from service.domain.errors import InvalidResidentId
from service.domain.evidence import resident_id_birth_date
from service.domain.sandbox_identities import born_to_turn, ready_identities, sandbox_resident_id

TZ = ZoneInfo("Asia/Shanghai")
EXPECTED = {
    "turns-14-tomorrow": (13, Bracket.UNDER_14),
    "child-10": (10, Bracket.UNDER_14),
    "child-13-refused": (13, Bracket.UNDER_14),
    "minor-16": (16, Bracket.MINOR),
    "turns-18-next-week": (17, Bracket.MINOR),
    "adult-guardian": (35, Bracket.ADULT),
    "older-68": (68, Bracket.OLDER),
    "turns-60-in-30-days": (59, Bracket.ADULT),
}
EDGES = {"turns-14-tomorrow": (14, 1), "turns-18-next-week": (18, 7), "turns-60-in-30-days": (60, 30)}


def _days(start: date, count: int) -> list[date]:
    return [start + timedelta(days=n) for n in range(count)]


@pytest.mark.parametrize("today", _days(date(2027, 12, 20), 80) + _days(date(2028, 2, 20), 20) + [date(2026, 11, 27)])
def test_every_identity_has_its_age_and_bracket_and_the_edges_fall_when_documented(today: date) -> None:
    at = datetime.combine(today, time(9), tzinfo=TZ)
    identities = ready_identities(at, TZ)
    assert {i.name: (i.age, i.age_bracket) for i in identities} == EXPECTED
    for identity in identities:
        assert age_on(identity.birth_date, today) == identity.age
        assert bracket_at(identity.birth_date, at, TZ) is identity.age_bracket
        assert resident_id_birth_date(identity.resident_id, any_region=True) == identity.birth_date
        if identity.name in EDGES:
            years, in_days = EDGES[identity.name]
            due = datetime.combine(today + timedelta(days=in_days), time(0), tzinfo=TZ)
            # a day later only when nobody can: the birthday would be a 29 February of a common year
            assert identity.bracket_changes_at in (due, due + timedelta(days=1))
            if identity.bracket_changes_at != due:
                assert (due - timedelta(days=1)).date() == date(due.year, 2, 29)
            assert identity.bracket_changes_at == turns_age_at(identity.birth_date, years, TZ)
    assert len({i.resident_id for i in identities}) == len(identities)


def test_the_child_turning_14_tomorrow_is_under_14_until_midnight_and_a_minor_after() -> None:
    at = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)  # 11:00 in Shanghai
    child = next(i for i in ready_identities(at, TZ) if i.name == "turns-14-tomorrow")
    midnight = datetime(2026, 11, 28, tzinfo=TZ)
    assert child.bracket_changes_at == midnight
    assert bracket_at(child.birth_date, midnight - timedelta(microseconds=1), TZ) is Bracket.UNDER_14
    assert bracket_at(child.birth_date, midnight, TZ) is Bracket.MINOR


def test_the_identities_follow_the_instant_they_are_asked_at() -> None:
    at = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)
    today = {i.name: i.birth_date for i in ready_identities(at, TZ)}
    later = {i.name: i.birth_date for i in ready_identities(at + timedelta(days=1), TZ)}
    assert all(later[name] == today[name] + timedelta(days=1) for name in today if name != "older-68")


def test_born_to_turn_names_the_day_before_the_change_and_the_next_day_when_there_is_none() -> None:
    assert born_to_turn(14, date(2026, 11, 28)) == date(2012, 11, 27)
    assert born_to_turn(16, date(2028, 3, 1)) == date(2012, 2, 29)  # 2012 has a leap day
    assert born_to_turn(14, date(2028, 3, 1)) == date(2014, 3, 1)  # 2014 has none: a day later


def test_the_identities_pass_the_checksum_but_production_refuses_their_region() -> None:
    number = sandbox_resident_id(date(2012, 11, 27), 1)
    assert number.startswith("99") and len(number) == 18
    assert resident_id_birth_date(number, any_region=True) == date(2012, 11, 27)
    with pytest.raises(InvalidResidentId) as refused:
        resident_id_birth_date(number)
    assert refused.value.reason == "region"


def test_any_region_skips_only_the_region() -> None:
    number = sandbox_resident_id(date(2012, 11, 27), 1)
    wrong_check = number[:17] + ("0" if number[17] != "0" else "1")
    with pytest.raises(InvalidResidentId) as refused:
        resident_id_birth_date(wrong_check, any_region=True)
    assert refused.value.reason == "check_character"
    with pytest.raises(InvalidResidentId) as refused:
        resident_id_birth_date("990000201213320010", any_region=True)  # 2012-13-32
    assert refused.value.reason == "birth_date"
