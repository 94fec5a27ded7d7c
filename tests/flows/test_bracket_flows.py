"""Scheduled bracket changes (CONTRACT.md §11 subject.bracket_changed): logged at 00:00
Shanghai on the day after the 14th, 18th and 60th birthday, for every subject, once."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from service.domain.brackets import Bracket
from service.flows.brackets import BracketScan, birth_dates_changing_on, change_at_start_of, days_due, log_bracket_changes
from service.flows.subjects import Evidence, SubjectRegistration, register_subject
from service.runtime import Runtime
from service.store.models import BracketChangeEmitted, ConsentLogEntry
from service.store.transactions import run_in_transaction

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 28)  # the tests' clock starts on 2026-11-27, 11:00 in Shanghai
MIDNIGHT = datetime(2026, 11, 28, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("born", "day", "change"),
    [
        (date(2012, 11, 27), DAY, (Bracket.UNDER_14, Bracket.MINOR)),
        (date(2008, 11, 27), DAY, (Bracket.MINOR, Bracket.ADULT)),
        (date(1966, 11, 27), DAY, (Bracket.ADULT, Bracket.OLDER)),
        (date(2012, 11, 28), DAY, None),  # the 14th birthday itself: still 13 at its 00:00
        (date(2012, 11, 26), DAY, None),  # changed a day earlier
        (date(2013, 11, 27), DAY, None),  # 13th birthday: no bracket begins at 13
        (date(2012, 2, 29), date(2026, 3, 1), (Bracket.UNDER_14, Bracket.MINOR)),  # anniversary 28 Feb
        (date(2012, 2, 29), date(2026, 2, 29 - 1), None),
        (date(2026, 11, 28), DAY, None),  # born that day
    ],
)
def test_a_change_is_found_exactly_at_the_start_of_the_day_after_the_birthday(born, day, change) -> None:  # type: ignore[no-untyped-def]
    assert change_at_start_of(born, day, SHANGHAI) == change


@pytest.mark.parametrize("day", [DAY, date(2026, 3, 1), date(2028, 2, 29), date(2028, 3, 1), date(2027, 1, 1)])
def test_the_birth_dates_changing_on_a_day_are_exactly_those_the_domain_finds(day: date) -> None:
    near = {day.replace(year=day.year - age, day=1) + timedelta(days=n) for age in (13, 14, 18, 60) for n in range(-40, 40)}
    assert birth_dates_changing_on(day) == {born for born in near if change_at_start_of(born, day, SHANGHAI)}


def register(runtime: Runtime, ref: str, born: date, tenant: str = "tenant-a") -> None:
    runtime.run(register_subject, SubjectRegistration(tenant, ref, Evidence("self_declared", birth_date=born)))


def logged(runtime: Runtime) -> list[dict[str, object]]:
    return run_in_transaction(
        runtime.sessions,
        lambda s: [json.loads(e) for e in s.scalars(select(ConsentLogEntry.event).order_by(ConsentLogEntry.tenant, ConsentLogEntry.seq))],
    )


@pytest.fixture
def birthdays(runtime: Runtime) -> Runtime:
    register(runtime, "turns-14", date(2012, 11, 27))
    register(runtime, "turns-18", date(2008, 11, 27))
    register(runtime, "turns-60", date(1966, 11, 27), tenant="tenant-b")
    register(runtime, "birthday-today", date(2012, 11, 28))
    register(runtime, "other-month", date(2012, 5, 27))
    return runtime


def test_every_subject_whose_bracket_changes_at_midnight_gets_one_event_dated_then(birthdays: Runtime, clock) -> None:  # type: ignore[no-untyped-def]
    clock.now = MIDNIGHT.astimezone(timezone.utc) + timedelta(seconds=30)
    assert birthdays.run(log_bracket_changes, BracketScan(DAY)) == 3
    changes = [(e["tenant"], e["subject_ref"], e["from_bracket"], e["to_bracket"], e["occurred_at"]) for e in logged(birthdays)]
    at = "2026-11-27T16:00:00.000000Z"
    assert changes == [
        ("tenant-a", "turns-14", "under_14", "minor", at),
        ("tenant-a", "turns-18", "minor", "adult", at),
        ("tenant-b", "turns-60", "adult", "older", at),
    ]


def test_a_second_run_or_a_second_worker_logs_nothing_more(birthdays: Runtime, clock) -> None:  # type: ignore[no-untyped-def]
    clock.now = MIDNIGHT.astimezone(timezone.utc) + timedelta(seconds=30)
    birthdays.run(log_bracket_changes, BracketScan(DAY))
    assert birthdays.run(log_bracket_changes, BracketScan(DAY)) == 0
    assert len(logged(birthdays)) == 3


def test_the_markers_name_no_subject_and_no_day(birthdays: Runtime, clock) -> None:  # type: ignore[no-untyped-def]
    clock.now = MIDNIGHT.astimezone(timezone.utc) + timedelta(seconds=30)
    birthdays.run(log_bracket_changes, BracketScan(DAY))
    markers = run_in_transaction(birthdays.sessions, lambda s: list(s.scalars(select(BracketChangeEmitted.marker))))
    assert len(markers) == 3 and all(len(m) == 64 and "turns" not in m and "2026" not in m for m in markers)


def test_days_due_start_today_then_follow_each_midnight_and_catch_up_after_an_outage(birthdays: Runtime, clock) -> None:  # type: ignore[no-untyped-def]
    assert birthdays.run(days_due, None) == [date(2026, 11, 27)]
    birthdays.run(log_bracket_changes, BracketScan(date(2026, 11, 27)))
    assert birthdays.run(days_due, None) == []
    clock.now = MIDNIGHT.astimezone(timezone.utc) - timedelta(seconds=1)
    assert birthdays.run(days_due, None) == []
    clock.now += timedelta(seconds=2)
    assert birthdays.run(days_due, None) == [DAY]
    clock.advance(days=3)
    assert birthdays.run(days_due, None) == [DAY + timedelta(days=n) for n in range(4)]
