"""The consent receipt (CONTRACT §12): a compact JWS the guardian keeps.

Signed by the service's one signer with the token keys (`typ` consent-receipt+jwt) over
exactly the claims `agegate_verifier.receipt` checks; `log` names the consent-log entry
(`seq`, `hash`) that recorded the answer, so the receipt can be checked against a regulator's
export as well as against the JWKS (`agegate-verify receipt FILE --jwks ...`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agegate_verifier import RECEIPT_TYPE, StaticKeys
from agegate_verifier.receipt import verify_receipt

from service.tokens.keys import KeySnapshot
from service.tokens.signing import sign_compact


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
    return sign_compact(RECEIPT_TYPE, claims, kid=key.kid, private_key=key.private_key)


def read_receipt(receipt: str, jwks: Mapping[str, Any], issuer: str) -> dict[str, Any]:
    """The claims of a receipt this service signed, checked as any verifier would
    (raises agegate_verifier's ReceiptInvalid)."""
    return verify_receipt(receipt, StaticKeys.from_jwks(jwks), issuer=issuer)
