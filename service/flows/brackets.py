"""Scheduled bracket changes (CONTRACT.md §11 ``subject.bracket_changed``): at 00:00 (service
time zone) of the day after a 14th, 18th or 60th birthday, every such subject gets one
``bracket_changed`` event, whether or not any request touches it.

What is stored to make this possible, and what it reveals: nothing about birth dates in
clear. Once a day the sealed birth dates are read and decrypted in memory. A logged change
leaves a marker that is a keyed hash (HMAC under a KEK subkey) of tenant, subject, new
bracket and instant, so the marker table says how many changes were logged and when, never
whose; and the scanned days. The event itself, like a token's ``exp``, dates the birthday to
readers of the log.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from service import events
from service.domain.brackets import Bracket, bracket_at, bracket_for_age, next_bracket_change
from service.flows.deps import Deps
from service.store import audit_log
from service.store import bracket_events as store
from service.store import sandbox as sandbox_store
from service.store.subjects import open_birth_date

# The ages at which a bracket begins (14, 18, 60), read off the domain's own rule.
CHANGE_AGES: tuple[int, ...] = tuple(age for age in range(1, 131) if bracket_for_age(age) != bracket_for_age(age - 1))
# After an outage the worker logs the changes it missed, late but dated right, up to this far back.
CATCH_UP_DAYS = 31
_MARKER = "bracket-change"


def start_of(day: date, tz: ZoneInfo) -> datetime:
    """The instant ``day`` begins in ``tz`` (as the domain computes a change instant)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc).astimezone(tz)


def change_at_start_of(birth_date: date, day: date, tz: ZoneInfo) -> tuple[Bracket, Bracket] | None:
    """(old, new) bracket when the bracket of someone born ``birth_date`` changes as ``day`` begins."""
    start = start_of(day, tz)
    just_before = start - timedelta(microseconds=1)
    if just_before.astimezone(tz).date() < birth_date:
        return None
    if next_bracket_change(birth_date, just_before, tz) != start:
        return None
    return bracket_at(birth_date, just_before, tz), bracket_at(birth_date, start, tz)


def birth_dates_changing_on(day: date) -> frozenset[date]:
    """Every birth date whose bracket changes as ``day`` begins: the eve's date 14, 18 and 60
    years back, plus 29 February of those years when the eve is 28 February of a common year
    (that anniversary falls on the 28th)."""
    eve = day - timedelta(days=1)
    found = set()
    for age in CHANGE_AGES:
        year = eve.year - age
        if (eve.month, eve.day) != (2, 29) or calendar.isleap(year):
            found.add(date(year, eve.month, eve.day))
        if (eve.month, eve.day) == (2, 28) and not calendar.isleap(eve.year) and calendar.isleap(year):
            found.add(date(year, 2, 29))
    return frozenset(found)


@dataclass(frozen=True)
class BracketScan:
    day: date  # the civil day (service time zone) whose 00:00 changes to log


def days_due(session: Session, deps: Deps, _: None = None) -> list[date]:
    """The days whose 00:00 has passed and whose changes are not all logged yet, oldest first."""
    today = deps.clock().astimezone(deps.timezone).date()
    last = store.last_scanned_day(session)
    first = today if last is None else max(last + timedelta(days=1), today - timedelta(days=CATCH_UP_DAYS))
    return [first + timedelta(days=n) for n in range((today - first).days + 1)]


def _marker(deps: Deps, tenant: str, subject_ref: str, new: Bracket, start: datetime) -> str:
    return deps.kek.keyed_hash(_MARKER, f"{tenant}\x00{subject_ref}\x00{new.value}\x00{start.isoformat()}".encode())


def log_bracket_changes(session: Session, deps: Deps, scan: BracketScan) -> int:
    """Log ``bracket_changed`` for every subject whose bracket changes as ``scan.day`` begins,
    once each however often it runs; then mark the day scanned. Returns how many it logged."""
    now, tz = deps.clock(), deps.timezone
    start = start_of(scan.day, tz)
    changing = birth_dates_changing_on(scan.day)
    logged: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for tenant, subject_ref, sealed in store.candidates(session):
        birth_date = open_birth_date(deps.kek, tenant, subject_ref, sealed)
        change = change_at_start_of(birth_date, scan.day, tz) if birth_date in changing else None
        if change is None:
            continue
        old, new = change
        if store.mark_emitted(session, _marker(deps, tenant, subject_ref, new, start), now):
            logged[tenant].append(
                events.bracket_changed(tenant=tenant, subject_ref=subject_ref, from_bracket=old.value, to_bracket=new.value, occurred_at=start)
            )
    for tenant in sorted(logged):  # the log heads last, in tenant order (store/locks.py)
        audit_log.append(session, tenant, logged[tenant], now)
    store.mark_scanned(session, scan.day, now)
    return sum(len(changes) for changes in logged.values())


@dataclass(frozen=True)
class SandboxBracketScan:
    tenant: str  # a sandbox tenant; `deps` is its runtime's (its clock)


def log_sandbox_bracket_changes(session: Session, deps: Deps, scan: SandboxBracketScan) -> int:
    """Log ``bracket_changed`` for every change of the sandbox tenant's subjects between the
    last pass and now on the tenant's clock (CONTRACT §15): a clock moved by P1Y logs every
    birthday of that year, each dated at its own 00:00. A sandbox holds few subjects, so this
    reads them all each pass rather than by day. Returns how many it logged."""
    now, tz = deps.clock(), deps.timezone
    since = sandbox_store.lock_brackets_logged_until(session, scan.tenant) or now
    if now <= since:
        return 0
    logged: list[dict[str, Any]] = []
    for subject_ref, sealed, verified_at in store.subjects_of(session, scan.tenant):
        birth_date = open_birth_date(deps.kek, scan.tenant, subject_ref, sealed)
        at = max(since, verified_at)  # a change before registration is no change to announce
        change = next_bracket_change(birth_date, at, tz)
        while change is not None and change <= now:
            old = bracket_at(birth_date, change - timedelta(microseconds=1), tz)
            new = bracket_at(birth_date, change, tz)
            if store.mark_emitted(session, _marker(deps, scan.tenant, subject_ref, new, change), now):
                logged.append(
                    events.bracket_changed(
                        tenant=scan.tenant, subject_ref=subject_ref, from_bracket=old.value, to_bracket=new.value, occurred_at=change
                    )
                )
            change = next_bracket_change(birth_date, change, tz)
    logged.sort(key=lambda event: event["occurred_at"])
    if logged:
        audit_log.append(session, scan.tenant, logged, now)
    sandbox_store.set_brackets_logged_until(session, scan.tenant, now)
    return len(logged)
