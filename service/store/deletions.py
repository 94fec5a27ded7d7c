"""Deletions apps owe after a child's consent to process personal information ends
(Provisions on the Online Protection of Children's Personal Information, Art. 20).

A deletion is required when the child is left without an active ``pi_processing`` consent
(its last one withdrawn, expired or ended by the guardian's erasure) or when the child is
erased. Each requirement and each acknowledgement is an event in the tenant's log, written in
the same transaction as the row here.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import events
from service.store import audit_log
from service.store.errors import NotFound
from service.store.models import Consent, ConsentEnding, Deletion

PI_PROCESSING = "pi_processing"
STATUSES = ("pending", "overdue", "done")


def require(
    session: Session,
    *,
    tenant: str,
    child_ref: str,
    cause: str,
    consent_id: str | None,
    due_in: timedelta,
    client_id: str | None,
    now: datetime,
) -> Deletion:
    """Record that the app must delete the child's data within ``due_in``; logs
    ``deletion_required``. Raises ValueError for a cause outside events.catalogue.DELETION_CAUSES."""
    deletion = Deletion(
        deletion_id=str(uuid.uuid4()),
        tenant=tenant,
        child_ref=child_ref,
        cause=cause,
        consent_id=consent_id,
        required_at=now,
        due_by=now + due_in,
        acknowledged_at=None,
        acknowledged_by=None,
    )
    event = events.deletion_required(
        tenant=tenant, deletion_id=deletion.deletion_id, child_ref=child_ref, cause=cause,
        consent_id=consent_id, due_by=deletion.due_by, occurred_at=now, client_id=client_id,
    )
    session.add(deletion)
    session.flush()
    audit_log.append(session, tenant, [event], now)
    return deletion


def has_active_pi_consent(session: Session, tenant: str, child_ref: str, now: datetime) -> bool:
    """Whether some consent still lets the app process the child's personal information."""
    scopes = session.scalars(
        select(Consent.scopes)
        .outerjoin(ConsentEnding, ConsentEnding.consent_id == Consent.consent_id)
        .where(
            Consent.tenant == tenant,
            Consent.child_ref == child_ref,
            ConsentEnding.consent_id.is_(None),
            (Consent.expires_at.is_(None)) | (Consent.expires_at > now),
        )
    )
    return any(PI_PROCESSING in s.split() for s in scopes)


def after_consent_ended(
    session: Session, consent: Consent, *, cause: str, due_in: timedelta, client_id: str | None, now: datetime
) -> Deletion | None:
    """Require a deletion when ``consent`` (just ended) was the child's last active consent
    covering ``pi_processing``; another guardian's consent still covering it keeps the basis."""
    if PI_PROCESSING not in consent.scopes.split():
        return None
    if has_active_pi_consent(session, consent.tenant, consent.child_ref, now):
        return None
    return require(
        session, tenant=consent.tenant, child_ref=consent.child_ref, cause=cause,
        consent_id=consent.consent_id, due_in=due_in, client_id=client_id, now=now,
    )


def acknowledge(session: Session, tenant: str, deletion_id: str, *, client_id: str, now: datetime) -> Deletion:
    """Record that the app deleted the data (``data_deleted``); a repeat changes nothing.
    Raises NotFound."""
    deletion = session.scalar(
        select(Deletion).where(Deletion.tenant == tenant, Deletion.deletion_id == deletion_id).with_for_update()
    )
    if deletion is None:
        raise NotFound("deletion", deletion_id)
    if deletion.acknowledged_at is None:
        deletion.acknowledged_at, deletion.acknowledged_by = now, client_id
        event = events.data_deleted(
            tenant=tenant, deletion_id=deletion_id, child_ref=deletion.child_ref, occurred_at=now, client_id=client_id
        )
        audit_log.append(session, tenant, [event], now)
        session.flush()
    return deletion


def status_of(deletion: Deletion, now: datetime) -> str:
    if deletion.acknowledged_at is not None:
        return "done"
    return "overdue" if deletion.due_by <= now else "pending"


def listing(
    session: Session, tenant: str, *, status: str | None, now: datetime, limit: int, after: str | None
) -> list[Deletion]:
    """The tenant's deletions by due date (then id), optionally of one status, keyset-paged."""
    query = select(Deletion).where(Deletion.tenant == tenant)
    if status == "done":
        query = query.where(Deletion.acknowledged_at.is_not(None))
    elif status == "overdue":
        query = query.where(Deletion.acknowledged_at.is_(None), Deletion.due_by <= now)
    elif status == "pending":
        query = query.where(Deletion.acknowledged_at.is_(None), Deletion.due_by > now)
    if after is not None:
        mark = session.scalar(select(Deletion).where(Deletion.tenant == tenant, Deletion.deletion_id == after))
        if mark is None:
            raise NotFound("deletion", after)
        query = query.where(
            (Deletion.due_by > mark.due_by) | ((Deletion.due_by == mark.due_by) & (Deletion.deletion_id > mark.deletion_id))
        )
    return list(session.scalars(query.order_by(Deletion.due_by, Deletion.deletion_id).limit(limit)))


def counts(session: Session, tenant: str, now: datetime) -> dict[str, int]:
    """Deletions required, done and overdue, for the reports."""
    unacknowledged = Deletion.acknowledged_at.is_(None)
    row = session.execute(
        select(
            func.count(),
            func.count().filter(~unacknowledged),
            func.count().filter(unacknowledged & (Deletion.due_by <= now)),
        ).where(Deletion.tenant == tenant)
    ).one()
    return {"required": row[0], "done": row[1], "overdue": row[2]}
