"""Events: what each change records in the tenant's consent log, and how it goes out as a webhook.

- ``catalogue``: one pure builder per log event type, returning the dict to append with
  ``service.store.audit_log.append`` (refs and metadata only, never a personal field);
- ``payloads``: the log type -> webhook type mapping and the webhook body;
- ``signing``: Standard Webhooks secrets and signatures.

Pure: no database, no Flask, no clock. The log is the one outbox (the webhook ``seq`` is the
log ``seq``), so an event exists exactly when the change that caused it committed.
"""

from service.events.catalogue import (
    bracket_changed,
    consent_event,
    consent_request_completed,
    consent_request_created,
    consent_request_expired,
    controls_changed,
    data_deleted,
    deletion_required,
    expired,
    granted,
    subject_erased,
    timestamp,
    withdrawn,
)

__all__ = [
    "bracket_changed",
    "consent_event",
    "consent_request_completed",
    "consent_request_created",
    "consent_request_expired",
    "controls_changed",
    "data_deleted",
    "deletion_required",
    "expired",
    "granted",
    "subject_erased",
    "timestamp",
    "withdrawn",
]
