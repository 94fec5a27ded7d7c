"""Where a consent request meets the consent rules and the consent records.

The rule of who may consent to what is the domain's `check_consent_request`; recording is
the consent store's. This module only feeds them what a request knows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from service import events
from service.domain.brackets import bracket_at
from service.domain.consent import check_consent_request
from service.domain.evidence import Assurance
from service.runtime import Runtime
from service.store import audit_log
from service.store import consents as consent_store
from service.store import subjects as subject_store
from service.store.models import ConsentRequest

# how the hosted page knew the guardian, as the consent's `method`
METHODS = {"guardian_code": "hosted_page_guardian_code", "oidc": "hosted_page_oidc"}


def check_request(
    session: Session, runtime: Runtime, *, tenant: str, child_ref: str, guardian_ref: str, scopes: Sequence[str], now: datetime
) -> None:
    """Raise the domain's ConsentNotAllowed/BannedCategory/NotConsentable, or NotFound, for
    what section 7 would refuse."""
    child, guardian = subject_store.get_subjects(session, tenant, child_ref, guardian_ref)
    tz = runtime.settings.timezone
    check_consent_request(
        policy=runtime.policy,
        child_bracket=bracket_at(subject_store.birth_date_of(runtime.kek, child), now, tz),
        guardian_bracket=bracket_at(subject_store.birth_date_of(runtime.kek, guardian), now, tz),
        guardian_assurance=Assurance(guardian.assurance),
        child_ref=child.subject_ref,
        guardian_ref=guardian.subject_ref,
        scopes=list(scopes),
    )


class _Refusal:
    """The consent-shaped facts of a refusal: no consent row exists, so the request names it."""

    def __init__(self, request: ConsentRequest, scopes: Sequence[str], method: str, policy: str) -> None:
        self.consent_id = request.request_id
        self.tenant = request.tenant
        self.child_ref = request.child_ref
        self.guardian_ref = request.guardian_ref
        self.relationship = request.relationship
        self.scopes: Any = list(scopes)
        self.method = method
        self.evidence_ref = request.request_id
        self.notice_version = request.notice_version
        self.policy = policy


def record_answer(
    session: Session, runtime: Runtime, request: ConsentRequest, *, allowed: Sequence[str], refused: Sequence[str], method: str, now: datetime
) -> str | None:
    """Record `granted` for `allowed` (re-checked now: the child may have had a birthday) and
    `declined` for `refused`; returns the new consent's id, None when nothing was allowed."""
    consent_id = None
    if allowed:
        check_request(session, runtime, tenant=request.tenant, child_ref=request.child_ref, guardian_ref=request.guardian_ref, scopes=allowed, now=now)
        record = consent_store.grant(
            session,
            tenant=request.tenant,
            client_id=request.client_id,
            child_ref=request.child_ref,
            guardian_ref=request.guardian_ref,
            relationship=request.relationship,
            scopes=allowed,
            method=METHODS[method],
            evidence_ref=request.request_id,
            notice_version=request.notice_version,
            policy_version=runtime.policy.version,
            expires_at=None,
            now=now,
        )
        consent_id = record.consent.consent_id
    if refused:
        refusal = _Refusal(request, refused, METHODS[method], runtime.policy.version)
        audit_log.append(session, request.tenant, [events.consent_event("declined", refusal, occurred_at=now, client_id=None)], now)
    return consent_id
