"""Aggregates for regulators' reports, computed without loading a tenant into memory."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from service.store.models import Consent, ConsentEnding, Subject


def subjects_total(session: Session, tenant: str) -> int:
    return session.scalar(select(func.count()).select_from(Subject).where(Subject.tenant == tenant)) or 0


def count_by(
    session: Session, tenant: str, classify: Callable[[str, bytes], str], batch: int = 10_000
) -> Counter[str]:
    """Count the tenant's subjects by `classify(subject_ref, sealed_birth_date)`.

    Birth dates are ciphertext, so brackets cannot be counted in SQL: this is one streaming
    pass over plain rows (no ORM objects), holding one batch in memory at a time.
    """
    counts: Counter[str] = Counter()
    rows = session.execute(
        select(Subject.subject_ref, Subject.birth_date_enc)
        .where(Subject.tenant == tenant)
        .execution_options(yield_per=batch)
    )
    for subject_ref, sealed in rows:
        counts[classify(subject_ref, sealed)] += 1
    return counts


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


