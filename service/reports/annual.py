"""The annual minors' personal-information figures (Regulations on the Protection of Minors
Online, Art. 37; CONTRACT §14): persons processed in a year, of them under 18 and under 14,
exact and rounded to 10,000; consent decisions and deletions in the year, by month.

A subject counts as processed in year Y when it was held at any time in Y (registered before
Y ended; erased subjects are gone with their birth dates and are not counted). It counts as
under N when it was under N at some time in Y while held, that is on the later of 1 January
and its registration day.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from service.domain import age_counts
from service.domain.age_counts import MinorsCount
from service.domain.policy import Policy
from service.kek import KeyEncryptionKey
from service.store import reports
from service.store.subjects import open_birth_date

CONSENT_EVENTS = ("granted", "declined", "withdrawn")
DELETION_EVENTS = ("deletion_required", "data_deleted")


def rounded(count: int, unit: int) -> int:
    """To the nearest `unit` (the policy's 10,000), halves up: the figure the filing asks for."""
    return (count + unit // 2) // unit * unit


def month_starts(year: int, tz: ZoneInfo) -> list[datetime]:
    """Local midnights of 1 January of `year` ... 1 January of the next year (13 instants)."""
    days = [date(year, month, 1) for month in range(1, 13)] + [date(year + 1, 1, 1)]
    return [datetime.combine(day, time(0), tzinfo=tz) for day in days]


def minors_count(session: Session, kek: KeyEncryptionKey, tenant: str, year: int, tz: ZoneInfo) -> MinorsCount:
    """Persons held in `year`, and of them those under 18 / under 14 at some time in it.

    Period 0 is "registered before the year" (ages taken on 1 January); period m is
    "registered in month m" (ages taken on the registration day). Subjects whose birth month
    cannot decide for their period are read one by one and their birth dates opened.
    """
    edges = month_starts(year, tz)
    # Ages of period 0 (registered before the year) are taken on 1 January; those of period
    # m, as far as the birth month decides, in month m (any day of it gives the same answer).
    first_days = [edges[0].date()] + [edge.date() for edge in edges[:12]]
    total = MinorsCount()
    boundary: dict[int, list[int]] = defaultdict(list)
    for period, month, count in reports.birth_months_by_registration(session, tenant, edges):
        if month is None:
            continue
        counted = age_counts.minors_of_month(month, first_days[period], count)
        if counted is None:
            boundary[period].append(month)
        else:
            total += counted
    for subject_ref, sealed, created_at in reports.sealed_birth_dates_by_registration(session, tenant, edges, boundary):
        began = max(created_at.astimezone(tz).date(), edges[0].date())
        total += age_counts.minors_of_person(open_birth_date(kek, tenant, subject_ref, sealed), began)
    return total


def events_by_month(session: Session, tenant: str, year: int, tz: ZoneInfo) -> list[dict[str, Any]]:
    """Consent decisions and deletions recorded in each month of `year` (log event counts)."""
    edges = month_starts(year, tz)
    months = [{"month": f"{year}-{m:02d}", **{kind: 0 for kind in CONSENT_EVENTS + DELETION_EVENTS}} for m in range(1, 13)]
    for period, event_type, count in reports.log_events_by_period(session, tenant, edges):
        if event_type in months[period - 1]:
            months[period - 1][event_type] += count
    return months


def minors_pi(
    session: Session, kek: KeyEncryptionKey, policy: Policy, tenant: str, year: int, tz: ZoneInfo, now: datetime
) -> dict[str, Any]:
    rules = policy.annual_report
    if rules is None:
        raise ValueError(f"policy {policy.version} has no annual_report section")
    edges = month_starts(year, tz)
    counted = minors_count(session, kek, tenant, year, tz)
    months = events_by_month(session, tenant, year, tz)

    def total(kind: str) -> int:
        return sum(month[kind] for month in months)

    return {
        "tenant": tenant,
        "year": year,
        "from": edges[0].isoformat(),
        "until": edges[-1].isoformat(),
        "due": f"{year + 1}-{rules.due_month_day}",
        "basis": rules.basis,
        "persons_processed": {"exact": counted.persons, "rounded": rounded(counted.persons, rules.round_to)},
        "under_18": {"exact": counted.under_18, "rounded": rounded(counted.under_18, rules.round_to)},
        "under_14": {"exact": counted.under_14, "rounded": rounded(counted.under_14, rules.round_to)},
        "consents": {kind: total(kind) for kind in CONSENT_EVENTS},
        "deletions": {
            "required": total("deletion_required"),
            "done": total("data_deleted"),
            # due in the year (so far) and not acknowledged by the time they were due
            "overdue": reports.deletions_missed(session, tenant, edges[0], min(edges[-1], now)),
        },
        "by_month": months,
    }
