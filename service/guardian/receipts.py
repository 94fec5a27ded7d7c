"""The consent receipt (CONTRACT §12): a compact JWS the guardian keeps.

Signed with the token keys (`typ` consent-receipt+jwt) over exactly RECEIPT_CLAIMS; `log`
names the consent-log entry (`seq`, `hash`) that recorded the answer, so the receipt can be
checked against a regulator's export as well as against the JWKS.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from service.tokens.issue import sign_compact
from service.tokens.keys import KeySnapshot

RECEIPT_TYPE = "consent-receipt+jwt"
RECEIPT_CLAIMS = (
    "iss",
    "tenant",
    "request_id",
    "consent_id",
    "child_ref",
    "guardian_ref",
    "granted",
    "declined",
    "notice_version",
    "policy",
    "recorded_at",
    "log",
)
MAX_RECEIPT_CHARS = 8192


@dataclass(frozen=True)
class ReceiptFacts:
    tenant: str
    request_id: str
    consent_id: str | None
    child_ref: str
    guardian_ref: str
    granted: tuple[str, ...]
    declined: tuple[str, ...]
    notice_version: str
    policy: str
    recorded_at: str
    log_seq: int
    log_hash: str


def sign_receipt(issuer: str, key: KeySnapshot, facts: ReceiptFacts) -> str:
    """The receipt JWS, signed with the active token key."""
    claims = {
        "iss": issuer,
        "tenant": facts.tenant,
        "request_id": facts.request_id,
        "consent_id": facts.consent_id,
        "child_ref": facts.child_ref,
        "guardian_ref": facts.guardian_ref,
        "granted": list(facts.granted),
        "declined": list(facts.declined),
        "notice_version": facts.notice_version,
        "policy": facts.policy,
        "recorded_at": facts.recorded_at,
        "log": {"seq": facts.log_seq, "hash": facts.log_hash},
    }
    return sign_compact({"alg": "EdDSA", "typ": RECEIPT_TYPE, "kid": key.kid}, claims, key.private_key)


class InvalidReceipt(ValueError):
    """A receipt that is malformed, not signed by a key of the JWKS, or not shaped as §12 says."""


def _segment(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidReceipt("a segment is not base64url") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != text:
        raise InvalidReceipt("a segment is not canonical unpadded base64url")
    return raw


def _object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidReceipt("a segment is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidReceipt("a segment is not a JSON object")
    return value


def check_receipt(receipt: str, jwks: Mapping[str, Any]) -> dict[str, Any]:
    """Return the claims of a receipt whose signature verifies against `jwks`; else raise
    InvalidReceipt naming what is wrong. Only Ed25519 keys and the exact header and claims
    of §12 pass."""
    receipt = receipt.strip()
    if len(receipt) > MAX_RECEIPT_CHARS or not receipt.isascii() or receipt.count(".") != 2:
        raise InvalidReceipt("not a compact JWS of three segments")
    header_text, claims_text, signature_text = receipt.split(".")
    header = _object(_segment(header_text))
    if header.keys() != {"alg", "typ", "kid"} or header["alg"] not in ("EdDSA", "Ed25519") or header["typ"] != RECEIPT_TYPE:
        raise InvalidReceipt(f"the header must be exactly alg EdDSA, typ {RECEIPT_TYPE} and kid")
    key = _public_key(jwks, header["kid"])
    try:
        key.verify(_segment(signature_text), f"{header_text}.{claims_text}".encode("ascii"))
    except InvalidSignature:
        raise InvalidReceipt("the signature does not verify") from None
    claims = _object(_segment(claims_text))
    if claims.keys() != set(RECEIPT_CLAIMS):
        raise InvalidReceipt(f"the claims must be exactly {list(RECEIPT_CLAIMS)}")
    log = claims["log"]
    if not isinstance(log, dict) or log.keys() != {"seq", "hash"} or type(log["seq"]) is not int:
        raise InvalidReceipt("log must be {seq: integer, hash: hex}")
    return claims


def _public_key(jwks: Mapping[str, Any], kid: object) -> Ed25519PublicKey:
    for jwk in jwks.get("keys", []):
        if isinstance(jwk, dict) and jwk.get("kid") == kid and jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            return Ed25519PublicKey.from_public_bytes(_segment(jwk["x"]))
    raise InvalidReceipt(f"no Ed25519 key {kid!r} in the JWKS")
