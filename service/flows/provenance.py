"""Decision provenance (CONTRACT §13): for a subject and a past instant, what its tokens said
and why -- bracket, every category's decision, obligations and limits, the policy version,
and the consents and controls relied on, each with the seq of its consent-log entry.

The Measures' highest penalty tier ("harm to life or health") makes this the question a
provider must be able to answer without exporting and reading the whole log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from service.domain.brackets import age_on, bracket_at
from service.domain.consent import ConsentStatus, consent_status, effective_scopes
from service.domain.controls import NO_CONTROLS, apply_blocked, limits_for
from service.domain.evidence import Assurance
from service.flows.deps import Deps
from service.flows.policies import policy_for
from service.store import audit_log
from service.store import consents as consent_store
from service.store import controls as controls_store
from service.store import subjects as subject_store
from service.store.errors import NotFound


@dataclass(frozen=True)
class DecisionQuery:
    tenant: str
    subject_ref: str
    at: datetime


@dataclass(frozen=True)
class ReliedConsent:
    consent_id: str
    guardian_ref: str
    scopes: tuple[str, ...]
    granted_log_seq: int | None


@dataclass(frozen=True)
class DecisionsAt:
    subject_ref: str
    at: datetime
    age_bracket: str
    assurance: str
    assurance_recorded_at: datetime
    policy: str
    features: dict[str, Any]
    limits: dict[str, Any] | None
    consents: tuple[ReliedConsent, ...]
    controls: dict[str, Any] | None  # with set_by, set_at and log_seq


def decisions_at(session: Session, deps: Deps, query: DecisionQuery) -> DecisionsAt:
    """Recompute the decisions the subject's tokens carried at ``query.at``.

    Raises store NotFound for an unknown (or erased) subject, or an instant before the
    subject was registered. The assurance is the subject's current one: an upgrade replaces
    the earlier evidence, so for an instant before ``assurance_recorded_at`` the assurance
    then may have been weaker (the answer says when it was recorded).
    """
    at, tz = query.at, deps.timezone
    subject = subject_store.get_subject(session, query.tenant, query.subject_ref)
    if at < subject.created_at:
        raise NotFound("subject registered at that instant", query.subject_ref)
    birth_date = subject_store.birth_date_of(deps.kek, subject)
    bracket = bracket_at(birth_date, at, tz)
    policy = policy_for(session, deps, query.tenant, at)
    relied = [
        record.consent
        for record in consent_store.for_child(session, query.tenant, subject.subject_ref, at)
        if record.consent.granted_at <= at
        and (record.ending is None or record.ending.ended_at > at)
        and consent_status(expires_at=record.consent.expires_at, ended_kind=None, at=at) is ConsentStatus.ACTIVE
    ]
    consented = effective_scopes(policy, bracket, [scope for consent in relied for scope in consent.scopes.split()])
    in_force = controls_store.in_force(session, query.tenant, subject.subject_ref, policy.categories, at)
    controls = NO_CONTROLS if in_force is None else in_force.controls
    decisions = apply_blocked(policy.decide(bracket, Assurance(subject.assurance), consented), controls.blocked_categories)
    limits = limits_for(policy, age_on(birth_date, at.astimezone(tz).date()), controls)
    return DecisionsAt(
        subject_ref=subject.subject_ref,
        at=at,
        age_bracket=bracket.value,
        assurance=subject.assurance,
        assurance_recorded_at=subject.verified_at,
        policy=policy.version,
        features={category: decision.as_claim() for category, decision in decisions.items()},
        limits=None if limits is None else limits.as_claim(),
        consents=tuple(
            ReliedConsent(
                consent.consent_id,
                consent.guardian_ref,
                tuple(consent.scopes.split()),
                audit_log.seq_of(session, query.tenant, "granted", consent.consent_id),
            )
            # as a token's `consents` claim: every active consent, once any decision relies on one
            for consent in (relied if consented else ())
        ),
        controls=None
        if in_force is None
        else {
            **controls.as_document(),
            "set_by": in_force.guardian_ref,
            "set_at": in_force.set_at.isoformat(),
            "log_seq": in_force.log_seq,
        },
    )
