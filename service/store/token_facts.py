"""Everything token issuance needs about a subject, read in one round trip."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, select
from sqlalchemy.orm import Session

from service.domain.consent import earliest_expiry
from service.store.base import UTCDateTime
from service.store.errors import NotFound
from service.store.models import Audience, Consent, ConsentEnding, Subject


@dataclass(frozen=True)
class TokenFacts:
    subject_ref: str
    birth_date_enc: bytes
    assurance: str
    verified_at: datetime
    status_slot: int
    consented_scopes: frozenset[str]
    consent_ids: tuple[str, ...]
    consents_expire_at: datetime | None
    audience_tenant: str | None  # the tenant owning the requested audience, None if unregistered


def _statement() -> Select[Any]:
    active = and_(
        Consent.tenant == Subject.tenant,
        Consent.child_ref == Subject.subject_ref,
        ~select(ConsentEnding.consent_id).where(ConsentEnding.consent_id == Consent.consent_id).exists(),
        (Consent.expires_at.is_(None)) | (Consent.expires_at > bindparam("now", type_=UTCDateTime())),
    )
    return (
        select(
            Subject.subject_ref,
            Subject.birth_date_enc,
            Subject.assurance,
            Subject.verified_at,
            Subject.status_slot,
            Consent.consent_id,
            Consent.scopes,
            Consent.expires_at,
            select(Audience.tenant).where(Audience.audience == bindparam("audience")).scalar_subquery().label("audience_tenant"),
        )
        .outerjoin(Consent, active)
        .where(Subject.tenant == bindparam("tenant"), Subject.subject_ref == bindparam("subject_ref"))
        .order_by(Consent.granted_at, Consent.consent_id)
    )


# Built once: constructing this select costs more than running it on a warm connection.
_TOKEN_FACTS = _statement()


def token_facts(session: Session, tenant: str, subject_ref: str, audience: str, now: datetime) -> TokenFacts:
    """The subject, what its active consents cover and who owns `audience`, in one SELECT;
    raises NotFound.

    A consent counts while it has no ending and `now` is before its `expires_at`.
    """
    rows = session.execute(_TOKEN_FACTS, {"tenant": tenant, "subject_ref": subject_ref, "audience": audience, "now": now}).all()
    if not rows:
        raise NotFound("subject", subject_ref)
    first = rows[0]
    consents = [row for row in rows if row.consent_id is not None]
    return TokenFacts(
        subject_ref=first.subject_ref,
        birth_date_enc=first.birth_date_enc,
        assurance=first.assurance,
        verified_at=first.verified_at,
        status_slot=first.status_slot,
        consented_scopes=frozenset(scope for row in consents for scope in row.scopes.split()),
        consent_ids=tuple(row.consent_id for row in consents),
        consents_expire_at=earliest_expiry(row.expires_at for row in consents),
        audience_tenant=first.audience_tenant,
    )
