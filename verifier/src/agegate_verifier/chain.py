"""The hash rule of agegate's consent log (contract section 8), shared with the service's writer.

Each tenant has its own chain. Link ``seq`` carries ``hash = SHA-256(bytes.fromhex(prev) +
JCS(event))`` where ``prev`` is the hash of link ``seq - 1``, or :data:`GENESIS` for seq 1,
and JCS is RFC 8785 canonical JSON.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from ._constants import GENESIS
from ._jcs import canonical_json

__all__ = ["GENESIS", "canonical_json", "check_event", "is_hash", "link_hash"]

# Lowercase only: the contract writes hashes as hex, and one spelling per value keeps
# string comparison of hashes meaningful.
_HEX64 = re.compile(r"[0-9a-f]{64}")


def is_hash(value: object) -> bool:
    """Return whether ``value`` is a string of exactly 64 lowercase hex digits."""
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


def check_event(event: object) -> None:
    """Check what every consent-log event has, whatever its type; raise ``ValueError``.

    An event is an object with a non-empty string ``type`` and ``tenant``. The other
    members depend on the type (contract sections 8 and 11) and are the writer's business:
    the hash covers them whatever they are, and an offline verifier installed today must
    still verify the event types the service adds tomorrow.
    """
    if type(event) is not dict:
        raise ValueError("event is not a JSON object")
    kind, tenant = event.get("type"), event.get("tenant")
    if type(kind) is not str or not kind:
        raise ValueError("event type is not a non-empty string")
    if type(tenant) is not str or not tenant:
        raise ValueError("event tenant is not a non-empty string")


def link_hash(prev: str, event: Mapping[str, Any]) -> str:
    """Return the hex SHA-256 of ``bytes.fromhex(prev) + JCS(event)``.

    Raises ``ValueError`` when ``prev`` is not 64 lowercase hex digits, or when ``event``
    has no JCS form (integers beyond 2**53 - 1, NaN, lone surrogates).
    """
    if not is_hash(prev):
        raise ValueError("prev must be 64 lowercase hex digits")
    return hashlib.sha256(bytes.fromhex(prev) + canonical_json(dict(event))).hexdigest()
