"""Everything token issuance reads from the database, in one round trip: the subject, its
active consents, who owns the audience, the tenant's policy revision and the child's controls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, select

from service.domain.consent import earliest_expiry
from service.store.base import UTCDateTime
from service.store.errors import NotFound
from service.store.models import Audience, Consent, ConsentEnding, GuardianControlsChange, Subject
from service.store.tenant_policies import latest_revision_columns


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
    policy_revision: int | None  # the tenant's latest policy revision, None if it never installed one
    policy_document: str | None  # that revision's override document (JSON, as stored)
    controls_document: str | None  # the child's controls as last set (JSON, as stored), None if never set


def _statement() -> Select[Any]:
    active = and_(
        Consent.tenant == Subject.tenant,
        Consent.child_ref == Subject.subject_ref,
        ~select(ConsentEnding.consent_id).where(ConsentEnding.consent_id == Consent.consent_id).exists(),
        (Consent.expires_at.is_(None)) | (Consent.expires_at > bindparam("now", type_=UTCDateTime())),
    )
    # Uncorrelated (bound parameters only), so PostgreSQL runs each once per statement, not per
    # consent row: an index probe each.
    latest_controls = (
        select(GuardianControlsChange.controls)
        .where(GuardianControlsChange.tenant == bindparam("tenant"), GuardianControlsChange.child_ref == bindparam("subject_ref"))
        .order_by(GuardianControlsChange.id.desc())
        .limit(1)
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
            *latest_revision_columns(),
            latest_controls.scalar_subquery().label("controls_document"),
        )
        .outerjoin(Consent, active)
        .where(Subject.tenant == bindparam("tenant"), Subject.subject_ref == bindparam("subject_ref"))
        .order_by(Consent.granted_at, Consent.consent_id)
    )


# Built once: constructing this select costs more than running it on a warm connection.
_TOKEN_FACTS = _statement()


def token_facts(connection: Connection, tenant: str, subject_ref: str, audience: str, now: datetime) -> TokenFacts:
    """The subject, what its active consents cover, who owns `audience`, the tenant's policy
    revision and the subject's guardian controls, in one SELECT; raises NotFound.

    A consent counts while it has no ending and `now` is before its `expires_at`.
    """
    # On a Core connection: a SELECT of columns needs nothing of the ORM's execution layer,
    # which costs ~0.1 ms of CPU a call (a fifth of this function's).
    params = {"tenant": tenant, "subject_ref": subject_ref, "audience": audience, "now": now}
    rows = connection.execute(_TOKEN_FACTS, params).all()
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
        policy_revision=first.policy_revision,
        policy_document=first.policy_document,
        controls_document=first.controls_document,
    )
