"""A test issuer, so a persona service can unit-test its gating with no agegate server.

::

    from agegate_verifier.testing import TestIssuer

    issuer = TestIssuer()
    verifier = issuer.verifier()                         # in-memory keys and status list
    token = issuer.token(features={"companion": {"decision": "allow", "obligations": []}})
    assert verifier.gate(token, "companion").allowed
    issuer.revoke(token)
    assert verifier.gate(token, "companion").reason == "revoked"

Everything signs with real Ed25519 keys through the same code paths a real token takes;
nothing in the verifier is bypassed. Not for production: the keys live in memory.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ._async import AsyncVerifier
from ._b64 import b64url_decode, b64url_encode
from ._constants import CHECKPOINT_TYPE, GENESIS, RECEIPT_TYPE, STATUS_LIST_TYPE, TOKEN_TYPE
from ._jcs import canonical_json
from ._json import compact_json
from ._jwks import KeySource, StaticKeys, public_jwk
from ._verifier import Verifier
from .errors import StatusUnavailable
from .statuslist import encode_statuses, pack

__all__ = ["DROP", "FEATURES", "Clock", "MemoryFetch", "MemoryStatuses", "RecordingKeys", "TestIssuer"]

#: Pass as a claim override to leave that claim out: ``age_claims(exp=DROP)``.
DROP: Any = object()

#: The ``features`` of a default test token: one allowed, one denied, one needing consent.
FEATURES: dict[str, Any] = {
    "companion": {"decision": "allow", "obligations": ["minor_mode"]},
    "virtual_intimacy": {"decision": "deny", "obligations": [], "reason": "minor_ban"},
    "digital_human": {"decision": "needs_consent", "obligations": [], "reason": "guardian_consent_required"},
}


class Clock:
    """A settable clock to pass as ``clock=``."""

    def __init__(self, now: float | None = None) -> None:
        self.now = float(int(time.time()) if now is None else now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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


class MemoryFetch:
    """An in-memory ``fetch(url) -> bytes``: ``routes`` maps URL to bytes, a callable
    returning bytes, or an exception to raise. Unknown URLs raise ``OSError``. Every
    requested URL is appended to ``calls``."""

    def __init__(self, routes: Mapping[str, Any] | None = None) -> None:
        self.routes: dict[str, Any] = dict(routes or {})
        self.calls: list[str] = []

    def publish(self, issuer: TestIssuer, *, lists: Mapping[str, str] | None = None) -> MemoryFetch:
        """Serve ``issuer``'s JWKS and the given ``{uri: status list token}``; returns itself."""
        self.routes[f"{issuer.url}/.well-known/jwks.json"] = compact_json(issuer.jwks())
        self.routes.update({uri: token.encode("ascii") for uri, token in (lists or {}).items()})
        return self

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        route = self.routes.get(url)
        if route is None:
            raise OSError(f"no route for {url}")
        if isinstance(route, BaseException):
            raise route
        return route() if callable(route) else route  # type: ignore[no-any-return]


class RecordingKeys:
    """A key source that records every ``kid`` asked for (to prove no lookup happened)."""

    def __init__(self, inner: KeySource) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        self.calls.append(kid)
        return self.inner.public_key(kid)


def _without_dropped(claims: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in claims.items() if value is not DROP}


class TestIssuer:
    """An Ed25519 issuer of age tokens, status lists, checkpoints, receipts and exports."""

    __test__ = False  # a helper, not a pytest test class

    def __init__(
        self,
        url: str = "https://agegate.test",
        *,
        audience: str = "persona-chat",
        clock: Callable[[], float] = time.time,
        key: Ed25519PrivateKey | None = None,
    ) -> None:
        self.url = url
        self.audience = audience
        self.clock = clock
        self.key = key or Ed25519PrivateKey.generate()
        self.jwk = public_jwk(self.key.public_key())
        self.kid = self.jwk["kid"]
        #: The in-memory status list ``verifier()`` reads; ``revoke`` writes it.
        self.statuses = MemoryStatuses()

    def jwks(self) -> dict[str, Any]:
        """The JWKS the issuer publishes."""
        return {"keys": [self.jwk]}

    def keys(self) -> StaticKeys:
        """An in-memory key source holding this issuer's key."""
        return StaticKeys.from_jwks(self.jwks())

    def verifier(self, audience: str | None = None, **options: Any) -> Verifier:
        """A ``Verifier`` of this issuer's tokens using its keys, status list and clock."""
        options = {"keys": self.keys(), "statuses": self.statuses, "clock": self.clock, **options}
        return Verifier(self.url, audience or self.audience, **options)

    def async_verifier(self, audience: str | None = None, **options: Any) -> AsyncVerifier:
        """An ``AsyncVerifier`` like ``verifier()``."""
        options = {"keys": self.keys(), "statuses": self.statuses, "clock": self.clock, **options}
        return AsyncVerifier(self.url, audience or self.audience, **options)

    def header(self, typ: str = TOKEN_TYPE, **members: Any) -> dict[str, Any]:
        """The header the service writes, with ``members`` added or replaced."""
        return {"alg": "EdDSA", "typ": typ, "kid": self.kid, **members}

    def public_key_raw(self) -> bytes:
        """The 32 raw bytes of the public key (the JWK's ``x``)."""
        return self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def public_key_pem(self) -> bytes:
        """The public key as SubjectPublicKeyInfo PEM."""
        return self.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)

    def sign_raw(self, header: str | bytes, payload: str | bytes, key: Ed25519PrivateKey | None = None) -> str:
        """Sign exact header and payload JSON texts (to craft duplicates, odd spacing ...)."""
        def segment(text: str | bytes) -> str:
            return b64url_encode(text.encode("utf-8") if isinstance(text, str) else text)

        return self.sign_segments(f"{segment(header)}.{segment(payload)}", key=key)

    def sign_segments(self, signing_input: str, key: Ed25519PrivateKey | None = None) -> str:
        """Append a valid signature to already encoded ``header.payload`` segments."""
        signature = (key or self.key).sign(signing_input.encode("ascii"))
        return f"{signing_input}.{b64url_encode(signature)}"

    def sign(self, claims: Mapping[str, Any], header: Mapping[str, Any] | None = None,
             key: Ed25519PrivateKey | None = None) -> str:
        """A compact JWS of ``claims``; ``header`` replaces the default header entirely."""
        head = b64url_encode(compact_json(dict(header or self.header())))
        return self.sign_segments(f"{head}.{b64url_encode(compact_json(dict(claims)))}", key=key)

    def status_uri(self, list_id: str = "1") -> str:
        """The URI of status list ``list_id``."""
        return f"{self.url}/v1/status-lists/{list_id}"

    def age_claims(self, **overrides: Any) -> dict[str, Any]:
        """Valid age-token claims for now; ``overrides`` replace claims, ``DROP`` removes one."""
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.url, "sub": "u-123", "aud": self.audience, "iat": now, "nbf": now, "exp": now + 600,
            "jti": uuid.uuid4().hex, "age_bracket": "minor", "assurance": "document",
            "verified_at": "2026-07-01", "policy": "2026-07-15.2", "features": json.loads(json.dumps(FEATURES)),
            "status": {"status_list": {"idx": 0, "uri": self.status_uri()}},
        }
        claims.update(overrides)
        return _without_dropped(claims)

    def token(self, **overrides: Any) -> str:
        """A signed age token with ``age_claims(**overrides)``."""
        return self.sign(self.age_claims(**overrides))

    def revoke(self, token: str, value: int = 1) -> None:
        """Set the status of ``token``'s status-list entry (1 INVALID, 2 SUSPENDED, 0 VALID)."""
        claims = json.loads(b64url_decode(token.split(".")[1]))
        reference = claims["status"]["status_list"]
        self.statuses.values[(reference["uri"], reference["idx"])] = value

    def status_list_token(self, uri: str, statuses: Sequence[int], bits: int = 1, ttl: int = 60, *,
                          header: Mapping[str, Any] | None = None, key: Ed25519PrivateKey | None = None,
                          **overrides: Any) -> str:
        """A signed Status List Token (``typ`` ``statuslist+jwt``) for ``statuses``."""
        now = int(self.clock())
        claims: dict[str, Any] = {
            "sub": uri, "iss": self.url, "iat": now, "exp": now + 3600, "ttl": ttl,
            "status_list": {"bits": bits, "lst": encode_statuses(pack(statuses, bits), bits)},
        }
        claims.update(overrides)
        return self.sign(_without_dropped(claims), header=header or self.header(STATUS_LIST_TYPE), key=key)

    def fetch(self, lists: Mapping[str, str] | None = None) -> MemoryFetch:
        """A ``fetch`` serving this issuer's JWKS and the given ``{uri: status list token}``."""
        return MemoryFetch().publish(self, lists=lists)

    def checkpoint_token(self, **claims: Any) -> str:
        """A signed consent-log checkpoint (``typ`` ``log-checkpoint+jwt``)."""
        body = {"iss": self.url, "tenant": "t1", "seq": 1, "head": "00" * 32, "count": 1, "iat": int(self.clock())}
        return self.sign({**body, **claims}, header=self.header(CHECKPOINT_TYPE))

    def receipt(self, **overrides: Any) -> str:
        """A signed consent receipt (``typ`` ``consent-receipt+jwt``, contract section 12)."""
        claims: dict[str, Any] = {
            "iss": self.url, "tenant": "t1", "request_id": "cr-1", "consent_id": "c-1", "child_ref": "u-123",
            "guardian_ref": "g-456", "granted": ["companion"], "declined": ["digital_human"],
            "notice_version": "privacy-notice-v3", "policy": "2026-07-15.2", "recorded_at": "2026-07-15T08:00:00Z",
            "log": {"seq": 1, "hash": "ab" * 32},
        }
        claims.update(overrides)
        return self.sign(_without_dropped(claims), header=self.header(RECEIPT_TYPE))

    def export(self, events: Iterable[Mapping[str, Any]], *, tenant: str = "t1", start: int = 1) -> list[bytes]:
        """The NDJSON lines of an export of ``events`` chained from seq 1, from ``start`` on.

        Written the way the service writes them: each event as its RFC 8785 bytes, then a
        checkpoint signed over the last exported link.
        """
        lines: list[bytes] = []
        seq, head, count = 0, GENESIS, 0
        for seq, event in enumerate(events, start=1):
            event_bytes = canonical_json(dict(event))
            prev, head = head, hashlib.sha256(bytes.fromhex(head) + event_bytes).hexdigest()
            if seq >= start:
                count += 1
                lines.append(b'{"kind":"event","seq":%d,"event":%s,"prev":"%s","hash":"%s"}\n'
                             % (seq, event_bytes, prev.encode(), head.encode()))
        claims = {"iss": self.url, "tenant": tenant, "seq": seq, "head": head, "count": count, "iat": int(self.clock())}
        jws = self.sign(claims, header=self.header(CHECKPOINT_TYPE))
        line = {"kind": "checkpoint", "seq": seq, "head": head, "count": count, "jws": jws}
        return [*lines, compact_json(line) + b"\n"]
