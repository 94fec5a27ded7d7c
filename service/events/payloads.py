"""From a consent-log entry to the body of a webhook (CONTRACT.md §11).

The body is ``{"type", "seq", "tenant", "occurred_at", "data"}``: ``type`` is the webhook
name of the log type, ``seq`` the log seq (receivers order and deduplicate by it), ``data``
every other field of the logged event. Log events carry refs and metadata only; the body is
checked once more here so that no later change to an event can put a birth date or an ID
number on the wire.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

WEBHOOK_TYPES: dict[str, str] = {
    "granted": "consent.granted",
    "declined": "consent.declined",
    "withdrawn": "consent.withdrawn",
    "expired": "consent.expired",
    "subject_erased": "subject.erased",
    "consent_request_created": "consent_request.created",
    "consent_request_completed": "consent_request.completed",
    "consent_request_expired": "consent_request.expired",
    "bracket_changed": "subject.bracket_changed",
    "deletion_required": "data.deletion_required",
    "data_deleted": "data.deleted",
    "controls_changed": "controls.changed",
}
# Sent by POST /v1/webhooks/{id}/test only; never logged, so it has no seq of its own.
PING_TYPE = "webhook.test"
SUBSCRIBABLE_TYPES: tuple[str, ...] = tuple(WEBHOOK_TYPES.values())

_ENVELOPE = ("type", "tenant", "occurred_at")
# Field names that would mean personal data leaked into an event; refused at any depth.
_FORBIDDEN = frozenset({"birth_date", "birthdate", "date_of_birth", "resident_id", "id_number", "evidence"})


def webhook_type(log_type: str) -> str:
    """The webhook name of a log event type; raises KeyError for a type with none."""
    return WEBHOOK_TYPES[log_type]


def _refuse_personal_fields(value: Any, path: str) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if key in _FORBIDDEN:
                raise ValueError(f"{path}.{key} must never leave the service")
            _refuse_personal_fields(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for inner in value:
            _refuse_personal_fields(inner, path)


def payload(seq: int, event: Mapping[str, Any]) -> dict[str, Any]:
    """The webhook body of log entry ``seq`` holding ``event``.

    Raises KeyError for an event type without a webhook name and ValueError when the event
    carries a personal field.
    """
    _refuse_personal_fields(event, "event")
    return {
        "type": webhook_type(event["type"]),
        "seq": seq,
        "tenant": event["tenant"],
        "occurred_at": event["occurred_at"],
        "data": {key: value for key, value in event.items() if key not in _ENVELOPE},
    }


def ping_payload(tenant: str, occurred_at: str, subscription_id: str) -> dict[str, Any]:
    """The body of a test delivery: ``seq`` 0, since no log entry stands behind it."""
    return {"type": PING_TYPE, "seq": 0, "tenant": tenant, "occurred_at": occurred_at, "data": {"webhook_id": subscription_id}}


def encode(body: Mapping[str, Any]) -> bytes:
    """The bytes that are signed and sent: compact UTF-8 JSON, keys in a fixed order."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def message_id(log_hash: str) -> str:
    """The Standard Webhooks ``webhook-id`` of a log entry: stable across retries and
    subscriptions, unique per entry, and traceable to the log line it came from."""
    return "evt_" + log_hash[:32]
