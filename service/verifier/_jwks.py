"""Where verification keys come from: a fixed set, or the issuer's JWKS over HTTP."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ._compact import b64url_decode, b64url_encode, json_object
from ._constants import ALGORITHMS
from .errors import InvalidToken

_log = logging.getLogger("agegate.verifier")

# RFC 7638 §3.2: the required members of each key type, the only ones hashed.
_THUMBPRINT_MEMBERS = {
    "OKP": ("crv", "kty", "x"),
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "oct": ("k", "kty"),
}


class KeySource(Protocol):
    """Anything that maps a ``kid`` to the issuer's Ed25519 public key."""

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        """Return the key named ``kid``, or ``None`` when the issuer publishes no such key."""
        ...


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """Return the RFC 7638 SHA-256 thumbprint of ``jwk``, base64url-encoded (our ``kid``).

    Raises ``ValueError`` for an unknown ``kty`` or a missing or non-string required member.
    """
    members = _THUMBPRINT_MEMBERS.get(jwk.get("kty"))  # type: ignore[arg-type]
    if members is None:
        raise ValueError("jwk: unsupported kty")
    required = {name: jwk.get(name) for name in members}
    if not all(isinstance(value, str) for value in required.values()):
        raise ValueError("jwk: missing required member")
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def _ed25519_key(jwk: object) -> tuple[str, Ed25519PublicKey] | None:
    # Anything but a public Ed25519 signing key is ignored, never an error: a JWKS may
    # legitimately carry other keys, and one odd key must not take the others down.
    if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        return None
    if "d" in jwk or jwk.get("use", "sig") != "sig" or jwk.get("alg", ALGORITHMS[0]) not in ALGORITHMS:
        return None
    key_ops = jwk.get("key_ops", ["verify"])
    if not isinstance(key_ops, list) or "verify" not in key_ops:
        return None
    x = jwk.get("x")
    try:
        key = Ed25519PublicKey.from_public_bytes(b64url_decode(x)) if isinstance(x, str) else None
    except (InvalidToken, ValueError):
        return None
    if key is None:
        return None
    kid = jwk_thumbprint(jwk)
    # Our kid IS the thumbprint; a JWKS claiming another kid for the key is not ours.
    if jwk.get("kid", kid) != kid:
        return None
    return kid, key


def ed25519_keys_from_jwks(jwks: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """Return ``{thumbprint: key}`` for each public Ed25519 signing key in a JWKS.

    Raises ``ValueError`` when ``jwks`` is not a JWKS (no ``keys`` list).
    """
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list):
        raise ValueError("jwks: expected an object with a 'keys' list")
    found = (_ed25519_key(jwk) for jwk in keys)
    return dict(pair for pair in found if pair is not None)


class StaticKeys:
    """A fixed set of keys: for tests, and for the service verifying its own tokens."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> StaticKeys:
        """Build from a JWKS dict, keeping only Ed25519 keys, each under its thumbprint."""
        return cls(ed25519_keys_from_jwks(jwks))

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        """Return the key named ``kid`` or ``None``."""
        return self._keys.get(kid)


class HttpJwks:
    """The issuer's ``/.well-known/jwks.json``, cached and refetched when needed.

    A ``kid`` not in the cache triggers a refetch, at most once per ``refetch_interval``
    seconds so a flood of made-up kids cannot turn into a flood of requests. Keys older
    than ``max_age`` are refreshed on use so retired keys eventually disappear; if that
    refresh fails the old keys stay in use.
    """

    def __init__(
        self,
        url: str,
        fetch: Callable[[str], bytes],
        clock: Callable[[], float],
        *,
        refetch_interval: float = 5.0,
        max_age: float = 3600.0,
    ) -> None:
        self._url = url
        self._fetch = fetch
        self._clock = clock
        self._refetch_interval = refetch_interval
        self._max_age = max_age
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._lock = threading.Lock()

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        """Return the key named ``kid``, refetching the JWKS (rate limited) if unknown."""
        key = self._keys.get(kid)
        now = self._clock()
        if key is not None and now < self._fetched_at + self._max_age:
            return key
        with self._lock:
            if now >= self._attempted_at + self._refetch_interval:
                self._attempted_at = now
                self._refresh(now)
        return self._keys.get(kid)

    def _refresh(self, now: float) -> None:
        try:
            keys = ed25519_keys_from_jwks(json_object(self._fetch(self._url)))
        except Exception as error:  # whatever the injected fetch raises: keep the old keys
            _log.warning("jwks refresh failed: %s", type(error).__name__)
            return
        self._keys = keys
        self._fetched_at = now
