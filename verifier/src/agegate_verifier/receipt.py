"""Offline verification of a guardian's consent receipt (contract section 12).

A receipt is a compact JWS (``typ`` ``consent-receipt+jwt``) signed with the token keys over
exactly ``{"iss", "tenant", "request_id", "consent_id", "child_ref", "guardian_ref",
"granted", "declined", "notice_version", "policy", "recorded_at", "log": {"seq", "hash"}}``;
``log`` names the consent-log entry that recorded the answer, which an export shows.
"""

from __future__ import annotations

from typing import Any

from ._constants import RECEIPT_TYPE
from ._jwks import KeySource
from ._jws import CompactVerifier
from .chain import is_hash
from .checkpoint import CheckpointInvalid, failure_reason
from .errors import InvalidToken

__all__ = ["MAX_RECEIPT_BYTES", "RECEIPT_CLAIMS", "ReceiptInvalid", "verify_receipt"]

RECEIPT_CLAIMS = frozenset(
    ("iss", "tenant", "request_id", "consent_id", "child_ref", "guardian_ref", "granted", "declined",
     "notice_version", "policy", "recorded_at", "log")
)
_STRINGS = ("iss", "tenant", "request_id", "child_ref", "guardian_ref", "notice_version", "policy", "recorded_at")
#: Longest receipt read: one that answers every category of a policy is about 1.5 KiB.
MAX_RECEIPT_BYTES = 16384


class ReceiptInvalid(CheckpointInvalid):
    """A receipt that proves nothing. ``reason``: bad_jws, bad_header, unknown_kid,
    bad_signature, bad_claims or wrong_issuer."""


def _strings(value: object) -> bool:
    return type(value) is list and all(type(item) is str and item for item in value)


def verify_receipt(jws: str, keys: KeySource, *, issuer: str | None = None) -> dict[str, Any]:
    """Return the claims of a receipt whose signature and shape are right.

    ``consent_id`` is a string, or null when the guardian refused every category.
    Raises ``ReceiptInvalid``.
    """
    try:
        _, _, claims = CompactVerifier(RECEIPT_TYPE, keys, MAX_RECEIPT_BYTES).verify(jws.strip())
    except InvalidToken as error:
        raise ReceiptInvalid(failure_reason(error), str(error)) from None
    if claims.keys() != RECEIPT_CLAIMS:
        raise ReceiptInvalid("bad_claims", f"claims must be exactly {sorted(RECEIPT_CLAIMS)}")
    if not all(type(claims[name]) is str and claims[name] for name in _STRINGS):
        raise ReceiptInvalid("bad_claims", f"{', '.join(_STRINGS)} must be non-empty strings")
    consent_id = claims["consent_id"]
    if consent_id is not None and (type(consent_id) is not str or not consent_id):
        raise ReceiptInvalid("bad_claims", "consent_id must be a string or null")
    granted, declined = claims["granted"], claims["declined"]
    if not _strings(granted) or not _strings(declined) or set(granted) & set(declined):
        raise ReceiptInvalid("bad_claims", "granted and declined must be disjoint lists of categories")
    log = claims["log"]
    if type(log) is not dict or log.keys() != {"seq", "hash"} or type(log["seq"]) is not int or log["seq"] < 1 \
            or not is_hash(log["hash"]):
        raise ReceiptInvalid("bad_claims", 'log must be {"seq": positive integer, "hash": 64 hex digits}')
    if issuer is not None and claims["iss"].rstrip("/") != issuer.rstrip("/"):
        raise ReceiptInvalid("wrong_issuer", f"receipt issued by {claims['iss']!r}")
    return claims
