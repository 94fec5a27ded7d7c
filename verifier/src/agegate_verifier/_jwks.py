"""Ed25519 keys as JWKs: the ``kid`` rule, parsing a JWKS, and where verification keys come from.

One rule everywhere: a key's ``kid`` is its RFC 7638 thumbprint. A JWKS entry that is not a
public Ed25519 signing key is skipped (a JWKS may carry other keys); an Ed25519 entry whose
``kid`` is missing or not its thumbprint is skipped too (it is not one of agegate's keys).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ._b64 import b64url_decode, b64url_encode
from ._constants import ALGORITHMS, SIGNING_ALGORITHM
from ._json import compact_json, json_object
from ._nonblocking import locked, may_block
from .errors import JwksUnavailable

_log = logging.getLogger("agegate.verifier")

# RFC 7638 section 3.2: the required members of each key type, the only ones hashed.
_THUMBPRINT_MEMBERS = {
    "OKP": ("crv", "kty", "x"),
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "oct": ("k", "kty"),
}


class KeySource(Protocol):
    """Anything that maps a ``kid`` to the issuer's Ed25519 public key."""

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        """Return the key named ``kid``, or ``None`` when the issuer publishes no such key.

        May raise ``JwksUnavailable`` when it cannot tell (the issuer is unreachable).
        """
        ...


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """Return the RFC 7638 SHA-256 thumbprint of ``jwk``, base64url-encoded (agegate's ``kid``).

    Raises ``ValueError`` for an unknown ``kty`` or a missing or non-string required member.
    """
    members = _THUMBPRINT_MEMBERS.get(jwk.get("kty"))  # type: ignore[arg-type]
    if members is None:
        raise ValueError("jwk: unsupported kty")
    required = {name: jwk.get(name) for name in members}
    if not all(isinstance(value, str) for value in required.values()):
        raise ValueError("jwk: missing required member")
    # compact_json keeps insertion order, which _THUMBPRINT_MEMBERS already sorts.
    return b64url_encode(hashlib.sha256(compact_json(required)).digest())


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """The public JWK agegate publishes for ``public_key``: kid = thumbprint, alg, use."""
    x = b64url_encode(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw))
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": x}
    return {**jwk, "kid": jwk_thumbprint(jwk), "alg": SIGNING_ALGORITHM, "use": "sig"}


def _ed25519_key(jwk: object) -> tuple[str, Ed25519PublicKey] | None:
    # Anything but a public Ed25519 signing key is skipped, never an error: one odd key
    # must not take the others down.
    if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        return None
    if "d" in jwk or jwk.get("use", "sig") != "sig" or jwk.get("alg", ALGORITHMS[0]) not in ALGORITHMS:
        return None
    key_ops = jwk.get("key_ops", ["verify"])
    if not isinstance(key_ops, list) or "verify" not in key_ops:
        return None
    x = jwk.get("x")
    try:
        raw = b64url_decode(x) if isinstance(x, str) else b""
        key = Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return None
    kid = jwk_thumbprint(jwk)
    if jwk.get("kid") != kid:
        return None
    return kid, key


def keys_from_jwks(jwks: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """Return ``{thumbprint: key}`` for each public Ed25519 signing key in a JWKS.

    Raises ``ValueError`` when ``jwks`` is not a JWKS (no ``keys`` list).
    """
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list):
        raise ValueError("jwks: expected an object with a 'keys' list")
    found = (_ed25519_key(jwk) for jwk in keys)
    return dict(pair for pair in found if pair is not None)


class StaticKeys:
    """A fixed set of keys: for tests, files, and the service verifying its own tokens."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> StaticKeys:
        """Build from a JWKS dict, keeping only Ed25519 keys, each under its thumbprint."""
        return cls(keys_from_jwks(jwks))

    def kids(self) -> tuple[str, ...]:
        """The ``kid`` of every key held."""
        return tuple(self._keys)

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        """Return the key named ``kid`` or ``None``."""
        return self._keys.get(kid)


class HttpJwks:
    """The issuer's ``/.well-known/jwks.json``, cached and refetched when needed.

    A ``kid`` not in the cache triggers a refetch, at most once per ``refetch_interval``
    seconds so a flood of made-up kids cannot turn into a flood of requests. Keys older
    than ``max_age`` are refreshed on use so retired keys eventually disappear; if that
    refresh fails the old keys stay in use. A ``kid`` that is not held while the last
    fetch failed raises ``JwksUnavailable``: the issuer is down, not the token forged.
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
        self._last_failed = False
        self._lock = threading.Lock()

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        """Return the key named ``kid``, refetching the JWKS (rate limited) if unknown."""
        key = self._keys.get(kid)
        now = self._clock()
        if key is not None and now < self._fetched_at + self._max_age:
            return key
        with locked(self._lock):
            if now >= self._attempted_at + self._refetch_interval:
                self._refresh(now)
            key = self._keys.get(kid)
            if key is None and self._last_failed:
                raise JwksUnavailable("kid not held and the issuer's JWKS cannot be fetched")
        return key

    def _refresh(self, now: float) -> None:
        may_block()
        try:
            keys = keys_from_jwks(json_object(self._fetch(self._url)))
        except Exception as error:  # whatever the injected fetch raises: keep the old keys
            _log.warning("jwks refresh failed: %s", type(error).__name__)
            self._attempted_at, self._last_failed = now, True
            return
        self._attempted_at, self._last_failed = now, False
        self._keys = keys
        self._fetched_at = now
