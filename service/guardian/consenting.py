"""Where a consent request meets the consent flows.

What may be asked is the domain's `check_consent_request`, applied to the brackets of now;
what an answer records is `grant_consent` and `decline_consent` of service.flows. Nothing
here decides a rule.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from service.domain.brackets import bracket_at
from service.domain.consent import ConsentTerms, Relationship, check_consent_request
from service.domain.evidence import Assurance
from service.flows.consents import ConsentDecline, ConsentGrant, decline_consent, grant_consent
from service.flows.deps import Deps
from service.store import subjects as subject_store
from service.store.models import ConsentRequest

# how the hosted page knew the guardian, as the consent's `method`; a sandbox tenant's
# `POST /v1/sandbox/consent-requests/{id}/complete` answers without a guardian (CONTRACT §15)
METHODS = {"guardian_code": "hosted_page_guardian_code", "oidc": "hosted_page_oidc", "sandbox": "sandbox_completion"}


def check_request(session: Session, deps: Deps, *, tenant: str, child_ref: str, guardian_ref: str, scopes: Sequence[str]) -> None:
    """Raise NotFound, ConsentNotAllowed, BannedCategory or NotConsentable for what
    `POST /v1/consents` would refuse to record (the same rule, asked before the guardian is)."""
    now, tz = deps.clock(), deps.timezone
    child, guardian = subject_store.get_subjects(session, tenant, child_ref, guardian_ref)
    check_consent_request(
        policy=deps.policy,
        child_bracket=bracket_at(subject_store.birth_date_of(deps.kek, child), now, tz),
        guardian_bracket=bracket_at(subject_store.birth_date_of(deps.kek, guardian), now, tz),
        guardian_assurance=Assurance(guardian.assurance),
        child_ref=child.subject_ref,
        guardian_ref=guardian.subject_ref,
        scopes=list(scopes),
    )


def _terms(request: ConsentRequest, scopes: Sequence[str], method: str) -> ConsentTerms:
    return ConsentTerms(
        child_ref=request.child_ref,
        guardian_ref=request.guardian_ref,
        relationship=Relationship(request.relationship),
        scopes=tuple(scopes),
        method=METHODS[method],
        evidence_ref=request.request_id,  # the request is the evidence: its log entries say how it went
        notice_version=request.notice_version,
    )


def record_answer(
    session: Session, deps: Deps, request: ConsentRequest, *, allowed: Sequence[str], refused: Sequence[str], method: str
) -> str | None:
    """`granted` for `allowed`, `declined` for `refused` (under the same consent id, so the log
    ties both halves of one answer); returns the consent's id, None when nothing was allowed."""
    consent_id = None
    if allowed:
        granted = grant_consent(session, deps, ConsentGrant(request.tenant, request.client_id, _terms(request, allowed, method)))
        consent_id = granted.record.consent.consent_id
    if refused:
        decline_consent(session, deps, ConsentDecline(request.tenant, request.client_id, _terms(request, refused, method), consent_id))
    return consent_id
