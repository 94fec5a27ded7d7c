"""One built event of every consent-log type, for tests that need the whole catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from service import events

AT = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class StoredConsent:
    consent_id: str = "c-1"
    tenant: str = "t1"
    child_ref: str = "kid"
    guardian_ref: str = "mum"
    relationship: str = "parent"
    scopes: str = "pi_processing companion"
    method: str = "in_app_parent_account"
    evidence_ref: str = "ev-1"
    notice_version: str = "v3"
    policy: str = "2026-07-15.1"


CONSENT = StoredConsent()

# One built event per log type; `declined` is built by service.flows with consent_event.
BUILT: dict[str, dict[str, Any]] = {
    "granted": events.granted(CONSENT, occurred_at=AT, client_id="cl"),
    "declined": events.consent_event("declined", CONSENT, occurred_at=AT, client_id=None),
    "withdrawn": events.withdrawn(CONSENT, occurred_at=AT, client_id="cl"),
    "expired": events.expired(CONSENT, occurred_at=AT),
    "subject_erased": events.subject_erased(tenant="t1", subject_ref="kid", consent_ids=["c-1"], occurred_at=AT, client_id="cl"),
    "consent_request_created": events.consent_request_created(
        tenant="t1", request_id="r-1", child_ref="kid", guardian_ref="mum", relationship="parent",
        scopes=["pi_processing"], notice_version="v3", expires_at=AT + timedelta(days=3), occurred_at=AT, client_id="cl",
    ),
    "consent_request_completed": events.consent_request_completed(
        tenant="t1", request_id="r-1", child_ref="kid", guardian_ref="mum", consent_id="c-1",
        granted=["pi_processing"], declined=["companion"], occurred_at=AT,
    ),
    "consent_request_expired": events.consent_request_expired(
        tenant="t1", request_id="r-1", child_ref="kid", guardian_ref="mum", occurred_at=AT
    ),
    "bracket_changed": events.bracket_changed(
        tenant="t1", subject_ref="kid", from_bracket="under_14", to_bracket="minor", occurred_at=AT
    ),
    "deletion_required": events.deletion_required(
        tenant="t1", deletion_id="d-1", child_ref="kid", cause="withdrawn", consent_id="c-1",
        due_by=AT + timedelta(days=15), occurred_at=AT, client_id="cl",
    ),
    "data_deleted": events.data_deleted(tenant="t1", deletion_id="d-1", child_ref="kid", occurred_at=AT, client_id="cl"),
    "controls_changed": events.controls_changed(
        tenant="t1", child_ref="kid", guardian_ref="mum", controls={"daily_minutes": 30}, occurred_at=AT, client_id="cl"
    ),
}
