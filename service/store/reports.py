"""Aggregates for regulators' reports, computed in SQL without loading a tenant into memory.

Brackets are counted by the clear `birth_month` (service.domain.age_counts); only subjects
whose month cannot decide are read one by one, for their sealed birth dates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import JSON, ColumnElement, and_, case, cast, false, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from service.store.models import (
    Consent,
    ConsentEnding,
    ConsentLogCount,
    ConsentLogEntry,
    Deletion,
    Subject,
    SubjectActivity,
)

BATCH_ROWS = 10_000


def birth_month_counts(session: Session, tenant: str) -> dict[int | None, int]:
    """The tenant's subjects counted by birth month (None: not recorded), from the index alone."""
    rows = session.execute(
        select(Subject.birth_month, func.count()).where(Subject.tenant == tenant).group_by(Subject.birth_month)
    )
    return {month: count for month, count in rows}


def sealed_birth_dates(session: Session, tenant: str, months: Sequence[int]) -> Iterator[tuple[str, bytes]]:
    """(subject_ref, sealed birth date) of the subjects born in `months` or with no month recorded."""
    rows = session.execute(
        select(Subject.subject_ref, Subject.birth_date_enc)
        .where(Subject.tenant == tenant, or_(Subject.birth_month.in_(months), Subject.birth_month.is_(None)))
        .execution_options(yield_per=BATCH_ROWS)
    )
    for subject_ref, sealed in rows:
        yield subject_ref, sealed


def period_index(column: Any, edges: Sequence[datetime]) -> ColumnElement[int]:
    """0 before edges[0], i for edges[i-1] <= column < edges[i]; NULL from the last edge on."""
    return case(*((column < edge, index) for index, edge in enumerate(edges)), else_=None)


def birth_months_by_registration(
    session: Session, tenant: str, edges: Sequence[datetime]
) -> list[tuple[int, int | None, int]]:
    """(period index, birth month, count) of the subjects registered before edges[-1], the
    period being `period_index` of `created_at`.

    Period 0 (registered before edges[0]) is most of a tenant: it is counted as every subject
    by birth month (`birth_month_counts`, one cheap grouping) less those registered from
    edges[0] on, which a range scan of the (tenant, created_at, birth_month) index groups by
    period. One pass with a per-row period over the whole table cost twice as long at 10M.
    """
    everyone = -1  # the tag of the all-subjects rows; period NULL is "from edges[-1] on"
    period = case(*((Subject.created_at < edge, index) for index, edge in enumerate(edges[1:], 1)), else_=None)
    # One statement, so both groupings see the same snapshot of a table still being written.
    grouped = union_all(
        select(literal(everyone), Subject.birth_month, func.count())
        .where(Subject.tenant == tenant)
        .group_by(Subject.birth_month),
        select(period, Subject.birth_month, func.count())
        .where(Subject.tenant == tenant, Subject.created_at >= edges[0])
        .group_by(period, Subject.birth_month),
    )
    before: dict[int | None, int] = defaultdict(int)
    rows: list[tuple[int, int | None, int]] = []
    for index, month, count in session.execute(grouped):
        if index == everyone:
            before[month] += count
            continue
        before[month] -= count
        if index is not None:
            rows.append((index, month, count))
    rows.extend((0, month, count) for month, count in before.items() if count)
    return rows


def sealed_birth_dates_by_registration(
    session: Session, tenant: str, edges: Sequence[datetime], months_by_period: dict[int, Sequence[int]]
) -> Iterator[tuple[str, bytes, datetime]]:
    """(subject_ref, sealed birth date, created_at) of the subjects registered in period i
    (as in `birth_months_by_registration`) and born in one of `months_by_period[i]`, or
    registered before edges[-1] with no birth month recorded."""
    conditions: list[ColumnElement[bool]] = [and_(Subject.birth_month.is_(None), Subject.created_at < edges[-1])]
    for index, months in months_by_period.items():
        if not months:
            continue
        registered = Subject.created_at < edges[index]
        if index > 0:
            registered = and_(Subject.created_at >= edges[index - 1], registered)
        conditions.append(and_(registered, Subject.birth_month.in_(months)))
    rows = session.execute(
        select(Subject.subject_ref, Subject.birth_date_enc, Subject.created_at)
        .where(Subject.tenant == tenant, or_(false(), *conditions))
        .execution_options(yield_per=BATCH_ROWS)
    )
    for subject_ref, sealed, created_at in rows:
        yield subject_ref, sealed, created_at


def consent_counts(session: Session, tenant: str, now: datetime) -> dict[str, int]:
    """Active and withdrawn consents in one aggregate query (subject erasure counts as withdrawn)."""
    ended = ConsentEnding.consent_id.is_not(None)
    active = and_(~ended, or_(Consent.expires_at.is_(None), Consent.expires_at > now))
    withdrawn = ConsentEnding.kind.in_(("withdrawn", "subject_erased"))
    row = session.execute(
        select(
            func.count().filter(active),
            func.count().filter(withdrawn),
        )
        .select_from(Consent)
        .outerjoin(ConsentEnding, ConsentEnding.consent_id == Consent.consent_id)
        .where(Consent.tenant == tenant)
    ).one()
    return {"active": row[0], "withdrawn": row[1]}


def _event_type(session: Session) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "postgresql":
        return cast(ConsentLogEntry.event, JSON)["type"].as_string()
    return func.json_extract(ConsentLogEntry.event, "$.type")


def _on_the_hour(instant: datetime) -> bool:
    return instant.astimezone(timezone.utc).minute == 0 and instant.second == 0 and instant.microsecond == 0


def log_events_by_period(
    session: Session, tenant: str, edges: Sequence[datetime]
) -> list[tuple[int, str, int]]:
    """(period index, event type, count) of the tenant's log entries recorded in
    [edges[0], edges[-1]); period i >= 1 is [edges[i-1], edges[i]).

    From the hourly counts the log's trigger keeps; edges off the UTC hour (a zone whose
    offset is not whole hours) fall back to reading every entry's type from its JSON.
    """
    if all(_on_the_hour(edge) for edge in edges):
        period = period_index(ConsentLogCount.hour, edges)
        query = (
            select(period, ConsentLogCount.event_type, func.sum(ConsentLogCount.events))
            .where(ConsentLogCount.tenant == tenant, ConsentLogCount.hour >= edges[0], ConsentLogCount.hour < edges[-1])
            .group_by(period, ConsentLogCount.event_type)
        )
    else:
        period, kind = period_index(ConsentLogEntry.recorded_at, edges), _event_type(session)
        query = (
            select(period, kind, func.count())
            .where(
                ConsentLogEntry.tenant == tenant,
                ConsentLogEntry.recorded_at >= edges[0],
                ConsentLogEntry.recorded_at < edges[-1],
            )
            .group_by(period, kind)
        )
    return [(index, event_type, int(count)) for index, event_type, count in session.execute(query)]


def deletions_missed(session: Session, tenant: str, since: datetime, until: datetime) -> int:
    """Deletions due in [since, until) that were not acknowledged by their due time."""
    late = or_(Deletion.acknowledged_at.is_(None), Deletion.acknowledged_at > Deletion.due_by)
    return session.scalar(
        select(func.count()).select_from(Deletion).where(
            Deletion.tenant == tenant, Deletion.due_by >= since, Deletion.due_by < until, late
        )
    ) or 0


def active_subjects_since(session: Session, tenant: str, first_day: date) -> int:
    """Subjects of the tenant with a token issued on `first_day` or later (local days)."""
    return session.scalar(
        select(func.count())
        .select_from(SubjectActivity)
        .where(SubjectActivity.tenant == tenant, SubjectActivity.last_issued_on >= first_day)
    ) or 0
