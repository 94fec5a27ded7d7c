"""One builder per consent-log event type: the dict to hand to ``audit_log.append``.

Every builder returns exactly the fields ``service.auditlog.chain.EVENT_SHAPES`` names for
its type, with ``recorded_at`` left ``None`` (the appender stamps it under the tenant's lock).
They take refs and metadata only: there is no parameter through which a birth date, an ID
number or a name could reach the log or a webhook. ``declined`` is consent-shaped too and is
built by the flow that records it (service.flows) with :func:`consent_event`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, Protocol

# Why a deletion became due (Provisions on the Online Protection of Children's Personal
# Information, Art. 20): the child's last pi_processing consent ended, or the child was erased.
DELETION_CAUSES: tuple[str, ...] = ("withdrawn", "expired", "guardian_erased", "child_erased")


class ConsentFacts(Protocol):
    """What a consent event copies from a consent (the stored row satisfies it)."""

    consent_id: str
    tenant: str
    child_ref: str
    guardian_ref: str
    relationship: str
    method: str
    evidence_ref: str
    notice_version: str
    policy: str

    @property
    def scopes(self) -> Any: ...


def timestamp(at: datetime) -> str:
    """RFC 3339 in UTC with a Z, the one spelling of instants in the log and in webhooks."""
    if at.tzinfo is None:
        raise ValueError("instants in events must be timezone-aware")
    return at.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _scope_list(scopes: str | Iterable[str]) -> list[str]:
    # The consents table keeps scopes space-separated; everything else passes a sequence.
    return scopes.split() if isinstance(scopes, str) else list(scopes)


def _event(kind: str, tenant: str, occurred_at: datetime, client_id: str | None, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "tenant": tenant,
        "occurred_at": timestamp(occurred_at),
        "recorded_at": None,
        "client_id": client_id,
        **fields,
    }


def consent_event(kind: str, consent: ConsentFacts, *, occurred_at: datetime, client_id: str | None) -> dict[str, Any]:
    """A consent-shaped event (granted, declined, withdrawn, expired) for ``consent``."""
    return _event(
        kind,
        consent.tenant,
        occurred_at,
        client_id,
        consent_id=consent.consent_id,
        child_ref=consent.child_ref,
        guardian_ref=consent.guardian_ref,
        relationship=consent.relationship,
        scopes=_scope_list(consent.scopes),
        method=consent.method,
        evidence_ref=consent.evidence_ref,
        notice_version=consent.notice_version,
        policy=consent.policy,
    )


def granted(consent: ConsentFacts, *, occurred_at: datetime, client_id: str | None) -> dict[str, Any]:
    """``granted``: a guardian's consent was recorded."""
    return consent_event("granted", consent, occurred_at=occurred_at, client_id=client_id)


def withdrawn(consent: ConsentFacts, *, occurred_at: datetime, client_id: str | None) -> dict[str, Any]:
    """``withdrawn``: the guardian (through the app or the hosted page) withdrew the consent."""
    return consent_event("withdrawn", consent, occurred_at=occurred_at, client_id=client_id)


def expired(consent: ConsentFacts, *, occurred_at: datetime) -> dict[str, Any]:
    """``expired``: the consent reached its ``expires_at`` (``occurred_at`` is that instant)."""
    return consent_event("expired", consent, occurred_at=occurred_at, client_id=None)


def subject_erased(
    *, tenant: str, subject_ref: str, consent_ids: Iterable[str], occurred_at: datetime, client_id: str | None
) -> dict[str, Any]:
    """``subject_erased``: the subject's personal fields were deleted; ``consent_ids`` are the
    consents (as child or guardian) that the erasure ended."""
    return _event("subject_erased", tenant, occurred_at, client_id, subject_ref=subject_ref, consent_ids=list(consent_ids))


def consent_request_created(
    *,
    tenant: str,
    request_id: str,
    child_ref: str,
    guardian_ref: str,
    relationship: str,
    scopes: Iterable[str],
    notice_version: str,
    expires_at: datetime,
    occurred_at: datetime,
    client_id: str | None,
) -> dict[str, Any]:
    """``consent_request_created``: the app asked agegate to collect a guardian's consent."""
    return _event(
        "consent_request_created",
        tenant,
        occurred_at,
        client_id,
        request_id=request_id,
        child_ref=child_ref,
        guardian_ref=guardian_ref,
        relationship=relationship,
        scopes=_scope_list(scopes),
        notice_version=notice_version,
        expires_at=timestamp(expires_at),
    )


def consent_request_completed(
    *,
    tenant: str,
    request_id: str,
    child_ref: str,
    guardian_ref: str,
    consent_id: str | None,
    granted: Iterable[str],
    declined: Iterable[str],
    occurred_at: datetime,
    client_id: str | None = None,
) -> dict[str, Any]:
    """``consent_request_completed``: the guardian answered; ``consent_id`` is None when they
    refused every category. ``client_id`` is set only when a sandbox client answered."""
    return _event(
        "consent_request_completed",
        tenant,
        occurred_at,
        client_id,
        request_id=request_id,
        child_ref=child_ref,
        guardian_ref=guardian_ref,
        consent_id=consent_id,
        granted=_scope_list(granted),
        declined=_scope_list(declined),
    )


def consent_request_expired(
    *, tenant: str, request_id: str, child_ref: str, guardian_ref: str, occurred_at: datetime
) -> dict[str, Any]:
    """``consent_request_expired``: the request passed its ``expires_at`` unanswered."""
    return _event(
        "consent_request_expired", tenant, occurred_at, None, request_id=request_id, child_ref=child_ref, guardian_ref=guardian_ref
    )


def bracket_changed(
    *, tenant: str, subject_ref: str, from_bracket: str, to_bracket: str, occurred_at: datetime
) -> dict[str, Any]:
    """``bracket_changed``: the subject reached 14, 18 or 60; ``occurred_at`` is the instant of
    the change (00:00 on the day after the birthday, in the service's time zone)."""
    if from_bracket == to_bracket:
        raise ValueError("a bracket change needs two different brackets")
    return _event(
        "bracket_changed", tenant, occurred_at, None, subject_ref=subject_ref, from_bracket=from_bracket, to_bracket=to_bracket
    )


def deletion_required(
    *,
    tenant: str,
    deletion_id: str,
    child_ref: str,
    cause: str,
    consent_id: str | None,
    due_by: datetime,
    occurred_at: datetime,
    client_id: str | None,
) -> dict[str, Any]:
    """``deletion_required``: the app must delete the child's personal information by the
    instant ``due_by``; ``consent_id`` is the consent whose end caused it (None for an erasure)."""
    if cause not in DELETION_CAUSES:
        raise ValueError(f"deletion cause {cause!r} is not one of {list(DELETION_CAUSES)}")
    return _event(
        "deletion_required",
        tenant,
        occurred_at,
        client_id,
        deletion_id=deletion_id,
        child_ref=child_ref,
        cause=cause,
        consent_id=consent_id,
        due_by=timestamp(due_by),
    )


def data_deleted(*, tenant: str, deletion_id: str, child_ref: str, occurred_at: datetime, client_id: str | None) -> dict[str, Any]:
    """``data_deleted``: the app acknowledged that it deleted the child's data."""
    return _event("data_deleted", tenant, occurred_at, client_id, deletion_id=deletion_id, child_ref=child_ref)


def controls_changed(
    *,
    tenant: str,
    child_ref: str,
    guardian_ref: str,
    controls: Mapping[str, Any],
    occurred_at: datetime,
    client_id: str | None,
) -> dict[str, Any]:
    """``controls_changed``: a guardian set the child's controls; ``controls`` is the complete
    new setting (daily_minutes, curfew, payment caps, blocked_categories), not a diff."""
    return _event("controls_changed", tenant, occurred_at, client_id, child_ref=child_ref, guardian_ref=guardian_ref, controls=dict(controls))
