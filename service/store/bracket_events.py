"""What scheduled bracket events need from the database: the subjects to check for a day,
a marker per logged change, and the days already scanned.

Birth dates are ciphertext, so a day's check reads every subject's sealed birth date once,
streamed in batches (plain rows, no ORM objects).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.store.models import BracketChangeEmitted, BracketScanDay, Subject
from service.store.sandbox import in_production


def candidates(session: Session, batch: int = 5_000) -> Iterator[tuple[str, str, bytes]]:
    """(tenant, subject_ref, sealed birth date) of every production tenant's subject (the daily
    scan runs on the real clock; sandbox tenants' on theirs), in a fixed order (so that
    concurrent workers mark changes in the same order and never deadlock)."""
    rows = session.execute(
        select(Subject.tenant, Subject.subject_ref, Subject.birth_date_enc)
        .where(in_production(Subject.tenant))
        .order_by(Subject.tenant, Subject.id)
        .execution_options(yield_per=batch)
    )
    for tenant, subject_ref, sealed in rows:
        yield tenant, subject_ref, sealed


def subjects_of(session: Session, tenant: str) -> Iterator[tuple[str, bytes, datetime]]:
    """(subject_ref, sealed birth date, verified_at) of one (sandbox) tenant's subjects, in id order."""
    rows = session.execute(
        select(Subject.subject_ref, Subject.birth_date_enc, Subject.verified_at).where(Subject.tenant == tenant).order_by(Subject.id)
    )
    for subject_ref, sealed, verified_at in rows:
        yield subject_ref, sealed, verified_at


def mark_emitted(session: Session, marker: str, now: datetime) -> bool:
    """Record that the change named by ``marker`` is logged; False if it already was.

    On Postgres a concurrent worker marking the same change waits for this transaction and
    then finds the row, so exactly one of them logs the event.
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    inserted = session.scalar(
        insert(BracketChangeEmitted)
        .values(marker=marker, emitted_at=now)
        .on_conflict_do_nothing(index_elements=["marker"])
        .returning(BracketChangeEmitted.marker)
    )
    return inserted is not None


def last_scanned_day(session: Session) -> date | None:
    return session.scalar(select(BracketScanDay.day).order_by(BracketScanDay.day.desc()).limit(1))


def is_scanned(session: Session, day: date) -> bool:
    return session.get(BracketScanDay, day) is not None


def mark_scanned(session: Session, day: date, now: datetime) -> None:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(BracketScanDay).values(day=day, finished_at=now).on_conflict_do_nothing(index_elements=["day"]))
