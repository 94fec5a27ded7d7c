"""The JWKS and the checkpoint's JWS, for the offline verifier (private to ``verify``).

Strict by design: canonical unpadded base64url only, a header of exactly alg, typ and kid,
Ed25519 keys only, and a checkpoint's claims exactly as export.py signs them.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from service.auditlog._lines import strict_json
from service.auditlog.export import CHECKPOINT_CLAIMS, CHECKPOINT_TYP

MAX_JWS_CHARS = 4096
MAX_JWKS_BYTES = 1024 * 1024
JWKS_TIMEOUT_SECONDS = 10

_B64URL = re.compile(r"[A-Za-z0-9_-]*")

Fail = Callable[..., NoReturn]


class JWKSInvalid(ValueError):
    """The JWKS is not a usable JSON Web Key Set (bad input, not a bad export)."""


def ed25519_keys(jwks: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """Return the JWKS's Ed25519 signing keys by kid; skip other key types."""
    keys_list = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys_list, list):
        raise JWKSInvalid('JWKS must be an object with a "keys" array')
    keys: dict[str, Ed25519PublicKey] = {}
    for jwk in keys_list:
        if not isinstance(jwk, Mapping) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue
        kid, x = jwk.get("kid"), jwk.get("x")
        if jwk.get("alg", "EdDSA") not in ("EdDSA", "Ed25519") or jwk.get("use", "sig") != "sig":
            continue
        if not isinstance(kid, str) or kid in keys:
            raise JWKSInvalid(f"Ed25519 key with a missing or repeated kid {kid!r}")
        raw = _b64url_decode(x) if isinstance(x, str) else None
        if raw is None or len(raw) != 32:
            raise JWKSInvalid(f"Ed25519 key {kid!r}: x is not 32 bytes of base64url")
        keys[kid] = Ed25519PublicKey.from_public_bytes(raw)
    return keys


def _b64url_decode(segment: str) -> bytes | None:
    """Decode canonical unpadded base64url, or return None (padding, stray bits, bad chars)."""
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        return None
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error:
        return None
    # Re-encoding catches non-zero trailing bits, which would give one value two spellings.
    return raw if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == segment else None


def verified_jws(
    jws: object, keys: Mapping[str, Ed25519PublicKey], fail: Fail
) -> tuple[str, dict[str, Any]]:
    """Return ``(kid, claims)`` of a checkpoint JWS whose signature verifies; else ``fail``."""
    if not isinstance(jws, str) or len(jws) > MAX_JWS_CHARS or jws.count(".") != 2:
        fail("bad_jws", "not a compact JWS of three segments within the size cap")
    segments = jws.split(".")
    raw_header, raw_claims, signature = (_b64url_decode(s) for s in segments)
    if raw_header is None or raw_claims is None or signature is None:
        fail("bad_jws", "a segment is not canonical unpadded base64url")
    try:
        header, claims = strict_json(raw_header), strict_json(raw_claims)
    except ValueError as e:
        fail("bad_jws", f"header or claims are not strict JSON: {e}")
    # Only these three members: jwk/jku/x5u/x5c/crit/cty must never steer verification.
    if not isinstance(header, dict) or header.keys() != {"alg", "typ", "kid"}:
        fail("bad_header", "header must hold exactly alg, typ and kid")
    if header["alg"] not in ("EdDSA", "Ed25519") or header["typ"] != CHECKPOINT_TYP:
        fail("bad_header", f"want alg EdDSA and typ {CHECKPOINT_TYP}")
    kid = header["kid"]
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        fail("unknown_kid", f"no Ed25519 key {kid!r} in the JWKS")
    try:
        key.verify(signature, f"{segments[0]}.{segments[1]}".encode("ascii"))
    except InvalidSignature:
        fail("bad_signature", f"signature does not verify with key {kid!r}")
    if not isinstance(claims, dict) or claims.keys() != set(CHECKPOINT_CLAIMS):
        fail("bad_claims", f"claims must be exactly {list(CHECKPOINT_CLAIMS)}")
    # type() rather than isinstance: True must not pass for the integer 1.
    if not all(type(claims[name]) is int for name in ("seq", "count", "iat")):
        fail("bad_claims", "seq, count and iat must be integers")
    if not isinstance(claims["iss"], str) or not isinstance(claims["tenant"], str):
        fail("bad_claims", "iss and tenant must be strings")
    return kid, claims


def load_jwks(source: str) -> dict[str, Any]:
    """Load a JWKS from a file path or an http(s) URL (10 s timeout, 1 MiB cap).

    Raises ``OSError`` when it cannot be read (``urllib.error.URLError`` included) and
    :class:`JWKSInvalid` when it is too large, not strict JSON, or has no ``keys`` array.
    """
    if source.startswith(("https://", "http://")):
        with urllib.request.urlopen(source, timeout=JWKS_TIMEOUT_SECONDS) as response:
            data = response.read(MAX_JWKS_BYTES + 1)
    else:
        with open(source, "rb") as f:
            data = f.read(MAX_JWKS_BYTES + 1)
    if len(data) > MAX_JWKS_BYTES:
        raise JWKSInvalid(f"JWKS larger than {MAX_JWKS_BYTES} bytes")
    try:
        jwks = strict_json(data)
    except ValueError as e:
        raise JWKSInvalid(f"JWKS is not strict JSON: {e}") from None
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise JWKSInvalid('JWKS must be an object with a "keys" array')
    return jwks
