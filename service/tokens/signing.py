"""The issuing side's one signer: age tokens, status lists, log checkpoints, consent receipts.

Every JWS the service signs is compact, Ed25519, with the header ``{"alg": "EdDSA", "typ":
<what it is>, "kid": <RFC 7638 thumbprint>}``, the claims written as compact UTF-8 JSON, and
verifies with ``agegate_verifier``'s ``CompactVerifier`` for the same ``typ``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agegate_verifier import ALGORITHMS
from agegate_verifier.jose import b64url_encode, compact_json
from agegate_verifier.jose import public_jwk as _public_jwk_of
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SIGNING_ALGORITHM = ALGORITHMS[0]  # "EdDSA": what every JOSE library verifies today


def sign_compact(typ: str, claims: Mapping[str, Any], *, kid: str, private_key: Ed25519PrivateKey) -> str:
    """Return the compact JWS of ``claims`` (RFC 7515 section 7.1, RFC 8037).

    Raises ``ValueError`` for claims JSON cannot carry (NaN, infinities).
    """
    header = {"alg": SIGNING_ALGORITHM, "typ": typ, "kid": kid}
    signing_input = b64url_encode(compact_json(header)) + "." + b64url_encode(compact_json(dict(claims)))
    return signing_input + "." + b64url_encode(private_key.sign(signing_input.encode("ascii")))


def public_jwk(private_key: Ed25519PrivateKey) -> dict[str, str]:
    """The JWK published for ``private_key``'s public half: kid = thumbprint, alg, use."""
    return _public_jwk_of(private_key.public_key())
