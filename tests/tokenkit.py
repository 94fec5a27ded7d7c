"""Test helpers for minting age tokens, status lists and malformed tokens.

Reusable by any test of the verifier or of the service's token endpoints::

    from tests.tokenkit import TestIssuer, MemoryFetch, Clock

    issuer = TestIssuer("https://agegate.example", clock=clock)
    token = issuer.sign(issuer.age_claims(aud="persona-chat"))
    evil = issuer.sign(issuer.age_claims(), header={"alg": "EdDSA", "typ": "age-bracket+jwt", "kid": issuer.kid, "crit": []})

Everything here signs with real Ed25519 keys; nothing is mocked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service.verifier import (
    CHECKPOINT_TYPE,
    STATUS_LIST_TYPE,
    TOKEN_TYPE,
    StaticKeys,
    StatusUnavailable,
    jwk_thumbprint,
)
from service.verifier.statuslist import encode_statuses, pack

#: Pass as a claim override to leave that claim out: ``age_claims(exp=DROP)``.
DROP: Any = object()

FEATURES: dict[str, Any] = {
    "companion": {"decision": "allow", "obligations": ["minor_mode"]},
    "virtual_intimacy": {"decision": "deny", "obligations": [], "reason": "minor_ban"},
    "digital_human": {"decision": "needs_consent", "obligations": [], "reason": "guardian_consent_required"},
}


def b64url(data: bytes | str) -> str:
    """base64url without padding of ``data`` (a str is UTF-8 encoded first)."""
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def json_segment(value: Any) -> str:
    """The base64url segment of ``value`` as compact JSON."""
    return b64url(json.dumps(value, separators=(",", ":")))


def segments(token: str) -> list[str]:
    """The three segments of a compact token."""
    return token.split(".")


def unverified_claims(token: str) -> dict[str, Any]:
    """Decode a token's payload without checking anything (tests only)."""
    payload = segments(token)[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def hs256(header: dict[str, Any] | str, claims: dict[str, Any] | str, secret: bytes) -> str:
    """A token "signed" with HMAC-SHA256 under ``secret``: the key-confusion attack."""
    h = header if isinstance(header, str) else json_segment(header)
    p = claims if isinstance(claims, str) else json_segment(claims)
    mac = hmac.new(secret, f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{b64url(mac)}"


class Clock:
    """A settable clock to inject as ``clock=``."""

    def __init__(self, now: float | None = None) -> None:
        self.now = float(int(time.time()) if now is None else now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class TestIssuer:
    """An Ed25519 issuer that signs age tokens, status lists and checkpoints."""

    __test__ = False  # a helper, not a pytest test class

    def __init__(
        self,
        issuer_url: str = "https://agegate.example",
        *,
        audience: str = "persona-chat",
        clock: Callable[[], float] = time.time,
        key: Ed25519PrivateKey | None = None,
    ) -> None:
        self.url = issuer_url
        self.audience = audience
        self.clock = clock
        self.key = key or Ed25519PrivateKey.generate()
        self.jwk = self.public_jwk(self.key.public_key())
        self.kid = jwk_thumbprint(self.jwk)

    @staticmethod
    def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
        """The OKP JWK of ``public_key``, with its thumbprint as ``kid``."""
        x = b64url(public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": x}
        return {**jwk, "kid": jwk_thumbprint(jwk), "use": "sig", "alg": "EdDSA"}

    def jwks(self) -> dict[str, Any]:
        """The JWKS the issuer publishes."""
        return {"keys": [self.jwk]}

    def static_keys(self) -> StaticKeys:
        """An in-memory key source holding this issuer's key."""
        return StaticKeys.from_jwks(self.jwks())

    def public_key_pem(self) -> bytes:
        """The public key as SubjectPublicKeyInfo PEM."""
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_key_raw(self) -> bytes:
        """The 32 raw bytes of the public key (``x``)."""
        return self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def header(self, typ: str = TOKEN_TYPE, **members: Any) -> dict[str, Any]:
        """The header the service writes, with ``members`` added or replaced."""
        return {"alg": "EdDSA", "typ": typ, "kid": self.kid, **members}

    def sign_raw(self, header: str | bytes, payload: str | bytes, key: Ed25519PrivateKey | None = None) -> str:
        """Sign exact header and payload JSON texts (to craft duplicates, odd spacing...)."""
        signing_input = f"{b64url(header)}.{b64url(payload)}"
        return self.sign_segments(signing_input, key=key)

    def sign_segments(self, signing_input: str, key: Ed25519PrivateKey | None = None) -> str:
        """Append a valid signature to already encoded ``header.payload`` segments."""
        signature = (key or self.key).sign(signing_input.encode("ascii"))
        return f"{signing_input}.{b64url(signature)}"

    def sign(
        self, claims: dict[str, Any], header: dict[str, Any] | None = None, key: Ed25519PrivateKey | None = None
    ) -> str:
        """A compact JWS of ``claims``; ``header`` replaces the default header entirely."""
        signing_input = f"{json_segment(header or self.header())}.{json_segment(claims)}"
        return self.sign_segments(signing_input, key=key)

    def status_uri(self, list_id: str = "1") -> str:
        """The URI of status list ``list_id``."""
        return f"{self.url}/v1/status-lists/{list_id}"

    def age_claims(self, **overrides: Any) -> dict[str, Any]:
        """Valid age-token claims for now; ``overrides`` replace claims, ``DROP`` removes one."""
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.url,
            "sub": "u-123",
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "jti": uuid.uuid4().hex,
            "age_bracket": "minor",
            "assurance": "document",
            "verified_at": "2026-07-01",
            "policy": "2026-07-15.1",
            "features": json.loads(json.dumps(FEATURES)),
            "status": {"status_list": {"idx": 0, "uri": self.status_uri()}},
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not DROP}

    def token(self, **overrides: Any) -> str:
        """A signed age token with ``age_claims(**overrides)``."""
        return self.sign(self.age_claims(**overrides))

    def status_list_claims(
        self, uri: str, statuses: Sequence[int], bits: int = 1, ttl: int = 60, **overrides: Any
    ) -> dict[str, Any]:
        """Status-list claims for ``statuses`` (one value per index)."""
        now = int(self.clock())
        claims: dict[str, Any] = {
            "sub": uri,
            "iss": self.url,
            "iat": now,
            "exp": now + 3600,
            "ttl": ttl,
            "status_list": {"bits": bits, "lst": encode_statuses(pack(statuses, bits), bits)},
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not DROP}

    def status_list_token(
        self,
        uri: str,
        statuses: Sequence[int],
        bits: int = 1,
        ttl: int = 60,
        *,
        header: dict[str, Any] | None = None,
        key: Ed25519PrivateKey | None = None,
        **overrides: Any,
    ) -> str:
        """A signed Status List Token (``typ`` ``statuslist+jwt``) for ``statuses``."""
        claims = self.status_list_claims(uri, statuses, bits, ttl, **overrides)
        return self.sign(claims, header=header or self.header(STATUS_LIST_TYPE), key=key)

    def checkpoint_token(self, **claims: Any) -> str:
        """A signed consent-log checkpoint (``typ`` ``log-checkpoint+jwt``)."""
        body = {"iss": self.url, "tenant": "t1", "seq": 1, "head": "00" * 32, "count": 1, "iat": int(self.clock())}
        return self.sign({**body, **claims}, header=self.header(CHECKPOINT_TYPE))


class MemoryFetch:
    """An in-memory ``fetch(url) -> bytes``: ``routes`` maps URL to bytes, a callable
    returning bytes, or an exception to raise. Unknown URLs raise ``OSError``.
    Every requested URL is appended to ``calls``."""

    def __init__(self, routes: dict[str, Any] | None = None) -> None:
        self.routes: dict[str, Any] = dict(routes or {})
        self.calls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        route = self.routes.get(url)
        if route is None:
            raise OSError(f"no route for {url}")
        if isinstance(route, BaseException):
            raise route
        return route() if callable(route) else route

    def publish(self, issuer: TestIssuer, *, lists: dict[str, str] | None = None) -> MemoryFetch:
        """Serve ``issuer``'s JWKS and the given ``{uri: status list token}``."""
        self.routes[f"{issuer.url}/.well-known/jwks.json"] = json.dumps(issuer.jwks()).encode()
        for uri, token in (lists or {}).items():
            self.routes[uri] = token.encode()
        return self


class RecordingKeys:
    """A key source that records every ``kid`` asked for (to prove no lookup happened)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        self.calls.append(kid)
        return self.inner.public_key(kid)


class MemoryStatuses:
    """An in-memory status source: every entry VALID unless set; ``fail`` makes it unavailable."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, int], int] = {}
        self.fail = False
        self.calls = 0

    def status(self, uri: str, idx: int) -> int:
        self.calls += 1
        if self.fail:
            raise StatusUnavailable("memory statuses told to fail")
        return self.values.get((uri, idx), 0)
