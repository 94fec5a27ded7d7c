"""The hash rule of the consent log (CONTRACT.md §8).

Each tenant has its own chain. Link ``seq`` carries ``hash = SHA-256(bytes.fromhex(prev) +
JCS(event))`` where ``prev`` is the hash of link ``seq - 1``, or :data:`GENESIS` for seq 1.
The hash rule itself (:func:`link_hash`, JCS, :data:`GENESIS`) lives in
``agegate_verifier.chain``, so the writer here and every regulator's verifier agree on one
definition. :func:`check_event` is the writer's stricter check of what it may append.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agegate_verifier.chain import GENESIS, canonical_json, is_hash, link_hash

__all__ = ["CONSENT_EVENT_FIELDS", "EVENT_SHAPES", "EVENT_TYPES", "GENESIS", "Link", "canonical", "check_event",
           "is_hash", "link_hash", "next_link"]

# The fields of a consent event, as section 8 of the contract lists them.
CONSENT_EVENT_FIELDS: tuple[str, ...] = (
    "type",
    "consent_id",
    "tenant",
    "child_ref",
    "guardian_ref",
    "relationship",
    "scopes",
    "method",
    "evidence_ref",
    "notice_version",
    "policy",
    "occurred_at",
    "recorded_at",
    "client_id",
)
# Every event names its tenant, when it happened, when it was chained and which client caused
# it (None when the service itself did: an expiry, a birthday, a guardian on a hosted page).
_COMMON = ("type", "tenant", "occurred_at", "recorded_at", "client_id")
_CONSENT = frozenset(CONSENT_EVENT_FIELDS)

# Event type -> its exact field set. The catalogue of builders is service.events.catalogue;
# this table is what a regulator's verifier accepts, so it holds no code, only names.
EVENT_SHAPES: dict[str, frozenset[str]] = {
    "granted": _CONSENT,
    "declined": _CONSENT,
    "withdrawn": _CONSENT,
    "expired": _CONSENT,
    "subject_erased": frozenset((*_COMMON, "subject_ref", "consent_ids")),
    "consent_request_created": frozenset(
        (*_COMMON, "request_id", "child_ref", "guardian_ref", "relationship", "scopes", "notice_version", "expires_at")
    ),
    "consent_request_completed": frozenset(
        (*_COMMON, "request_id", "child_ref", "guardian_ref", "consent_id", "granted", "declined")
    ),
    "consent_request_expired": frozenset((*_COMMON, "request_id", "child_ref", "guardian_ref")),
    "bracket_changed": frozenset((*_COMMON, "subject_ref", "from_bracket", "to_bracket")),
    "deletion_required": frozenset((*_COMMON, "deletion_id", "child_ref", "cause", "consent_id", "due_by")),
    "data_deleted": frozenset((*_COMMON, "deletion_id", "child_ref")),
    "controls_changed": frozenset((*_COMMON, "child_ref", "guardian_ref", "controls")),
}
EVENT_TYPES: tuple[str, ...] = tuple(EVENT_SHAPES)
# Logs written before 2026-11-30 recorded an erasure as one consent-shaped subject_erased
# event per consent it ended; those links stay valid, so that shape stays accepted.
_EARLIER_SHAPES: dict[str, frozenset[str]] = {"subject_erased": _CONSENT}



def check_event(event: object) -> None:
    """Check that ``event`` has the shape of a consent-log event.

    Raises ``ValueError`` naming the problem when ``event`` is not a mapping, its ``type`` is
    not one of :data:`EVENT_TYPES`, its keys are not exactly that type's
    :data:`EVENT_SHAPES` entry (or an earlier shape of the type), or its ``tenant`` is not a
    non-empty string. Value types of the other fields are the writer's business; the hash
    covers them whatever they are.
    """
    if not isinstance(event, Mapping):
        raise ValueError("event is not a JSON object")
    kind = event.get("type")
    if not isinstance(kind, str) or kind not in EVENT_SHAPES:
        raise ValueError(f"event type {kind!r} is not one of {list(EVENT_TYPES)}")
    shape = EVENT_SHAPES[kind]
    if event.keys() != shape and event.keys() != _EARLIER_SHAPES.get(kind):
        missing = sorted(shape - event.keys())
        extra = sorted(set(event.keys()) - shape)
        raise ValueError(f"{kind} event fields wrong: missing {missing}, unexpected {extra}")
    tenant = event["tenant"]
    if not isinstance(tenant, str) or not tenant:
        raise ValueError("event tenant is not a non-empty string")


def canonical(event: Mapping[str, Any]) -> bytes:
    """Return the RFC 8785 (JCS) serialisation of ``event``, the bytes its hash covers.

    Raises ``ValueError`` for values JCS cannot represent: integers beyond 2**53 - 1, NaN
    or infinite floats, lone surrogates.
    """
    return canonical_json(dict(event))


@dataclass(frozen=True)
class Link:
    """One link of a tenant's chain, as the store keeps it."""

    seq: int
    event: dict[str, Any]
    prev: str
    hash: str


def next_link(seq_head: int, head: str, event: Mapping[str, Any]) -> Link:
    """Return the link that follows a chain whose tip is ``(seq_head, head)``.

    For an empty chain pass ``(0, GENESIS)``. Raises ``ValueError`` when ``seq_head`` is
    negative, when ``head`` is not a hash or does not match ``seq_head`` (GENESIS if and
    only if ``seq_head == 0``), or when the event fails :func:`check_event` or cannot be
    canonicalised.
    """
    if isinstance(seq_head, bool) or not isinstance(seq_head, int) or seq_head < 0:
        raise ValueError("seq_head must be a non-negative integer")
    if (seq_head == 0) != (head == GENESIS):
        raise ValueError("head must be GENESIS exactly when seq_head is 0")
    check_event(event)
    plain = dict(event)
    return Link(seq=seq_head + 1, event=plain, prev=head, hash=link_hash(head, plain))
