"""The issuing side's one signer: age tokens, status lists, log checkpoints, consent receipts.

Every JWS the service signs is compact, Ed25519, with the header ``{"alg": "EdDSA", "typ":
<what it is>, "kid": <RFC 7638 thumbprint>}``, the claims written as compact UTF-8 JSON, and
verifies with ``agegate_verifier``'s ``CompactVerifier`` for the same ``typ``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
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
    signing_input = _encoded_header(typ, kid) + "." + b64url_encode(compact_json(dict(claims)))
    return signing_input + "." + b64url_encode(private_key.sign(signing_input.encode("ascii")))


@lru_cache(maxsize=64)
def _encoded_header(typ: str, kid: str) -> str:
    """The first segment for `typ` and `kid`: a handful of pairs sign everything (a kind of
    JWS per key in use), so each is written and encoded once, not for every token."""
    return b64url_encode(compact_json({"alg": SIGNING_ALGORITHM, "typ": typ, "kid": kid}))


def public_jwk(private_key: Ed25519PrivateKey) -> dict[str, str]:
    """The JWK published for ``private_key``'s public half: kid = thumbprint, alg, use."""
    return _public_jwk_of(private_key.public_key())
