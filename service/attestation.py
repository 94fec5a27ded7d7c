"""Verification of third-party identity-verifier attestations (CONTRACT §4, ``attestation``).

An attester (a configured identity verifier) signs a JWT carrying the OIDC ``birthdate``
claim for agegate (``aud`` = agegate's issuer URL). We accept it only from a configured
``iss``, signed with ``EdDSA``, ``ES256`` or ``RS256`` by a key from that attester's JWKS.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from agegate_verifier.jose import HttpFetcher, json_object
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwa import EdDSAAlgorithm
from joserfc.jwk import KeySet

from service.domain.errors import DomainError

ALGORITHMS = ("EdDSA", "ES256", "RS256")
#: Longest attestation accepted; real ones are well under 4 KiB.
MAX_ATTESTATION_BYTES = 16 * 1024
#: Seconds an attester's JWKS fetched over HTTPS is reused.
JWKS_CACHE_SECONDS = 300.0
_MAX_JWKS_BYTES = 1 << 20
_LEEWAY = 60
_BIRTHDATE = re.compile(r"\d{4}-\d{2}-\d{2}")

JwksSource = Mapping[str, Any] | str | Path


class InvalidAttestation(DomainError):
    """An attestation that proves nothing. ``reason`` is a stable word, e.g. ``unknown_issuer``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invalid attestation: {reason}")


class _QuietEdDSA(EdDSAAlgorithm):
    # joserfc warns that the name "EdDSA" is deprecated by RFC 9864, on every decode. It
    # is what attesters sign with today, so we silence exactly that warning here, in our
    # own registry, rather than with warnings.catch_warnings (global, not thread-safe).
    security_warning = None


class _Registry(jws.JWSRegistry):
    algorithms = {**jws.JWSRegistry.algorithms, "EdDSA": _QuietEdDSA()}


def _fetch_https(url: str) -> bytes:
    return HttpFetcher(url, timeout=5.0, max_bytes=_MAX_JWKS_BYTES, https_only=True)(url)


class _Jwks:
    """One attester's keys: a JWKS dict, a JWKS file (read once), or an https URL (cached)."""

    def __init__(self, source: JwksSource, fetch: Callable[[str], bytes], clock: Callable[[], float]) -> None:
        self._source = source
        self._fetch = fetch
        self._clock = clock
        self._keys: KeySet | None = None
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()
        if isinstance(source, str) and source.startswith("http:"):
            raise ValueError("attester JWKS URLs must be https")
        if isinstance(source, Mapping):
            self._keys = KeySet.import_key_set(dict(source))  # type: ignore[arg-type]

    def key_set(self) -> KeySet:
        """Return the current keys; raise ``InvalidAttestation("jwks_unavailable")`` if none."""
        is_url = isinstance(self._source, str) and self._source.startswith("https://")
        stale = is_url and self._clock() >= self._loaded_at + JWKS_CACHE_SECONDS
        if self._keys is None or stale:
            with self._lock:
                try:
                    raw = self._fetch(str(self._source)) if is_url else Path(self._source).read_bytes()  # type: ignore[arg-type]
                    self._keys = KeySet.import_key_set(json_object(raw))  # type: ignore[arg-type]
                    self._loaded_at = self._clock()
                except (OSError, ValueError, TypeError, KeyError, JoseError):
                    if self._keys is None:  # a stale key set beats none while the attester is down
                        raise InvalidAttestation("jwks_unavailable") from None
        return self._keys


def _int_claim(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    if type(value) is not int:  # not bool, float or str: CVE-class confusions start there
        raise InvalidAttestation(f"bad_{name}")
    return value


class AttestationVerifier:
    """Checks attestation JWTs from configured attesters and extracts the birth date."""

    def __init__(
        self,
        attesters: Mapping[str, JwksSource],
        *,
        audience: str,
        clock: Callable[[], float] = time.time,
        fetch: Callable[[str], bytes] = _fetch_https,
    ) -> None:
        """``attesters`` maps each trusted ``iss`` to its JWKS (dict, file path or https URL).

        Raises ``ValueError`` for a plain-http JWKS URL or a JWKS dict with no usable key.
        """
        self._audience = audience
        self._clock = clock
        self._jwks = {issuer: _Jwks(source, fetch, clock) for issuer, source in attesters.items()}
        self._registry = _Registry(algorithms=list(ALGORITHMS))

    def birth_date(self, token: str) -> tuple[str, date]:
        """Return ``(attester issuer, birth date)`` of a valid attestation ``token``.

        Raises ``InvalidAttestation`` with reason ``malformed``, ``unknown_issuer``,
        ``jwks_unavailable``, ``bad_signature`` (also for a disallowed ``alg`` such as
        ``none`` or ``HS256``), ``wrong_audience``, ``bad_exp``/``bad_iat``, ``expired``,
        ``not_yet_valid`` or ``bad_birthdate``.
        """
        if not isinstance(token, str) or len(token) > MAX_ATTESTATION_BYTES:
            raise InvalidAttestation("malformed")
        issuer = self._unverified_issuer(token)
        jwks = self._jwks.get(issuer) if isinstance(issuer, str) else None
        if jwks is None:
            raise InvalidAttestation("unknown_issuer")
        try:
            claims = jwt.decode(token, jwks.key_set(), algorithms=list(ALGORITHMS), registry=self._registry).claims
        except (JoseError, ValueError) as error:
            raise InvalidAttestation("bad_signature") from error
        return issuer, self._check_claims(claims, issuer)

    @staticmethod
    def _unverified_issuer(token: str) -> object:
        # Read before the signature is checked, only to choose whose keys check it; the
        # verified claims must then name the same issuer.
        try:
            return json_object(jws.extract_compact(token.encode("ascii")).payload).get("iss")
        except (JoseError, ValueError, AttributeError, UnicodeError):
            raise InvalidAttestation("malformed") from None

    def _check_claims(self, claims: dict[str, Any], issuer: str) -> date:
        if claims.get("iss") != issuer:
            raise InvalidAttestation("unknown_issuer")
        aud = claims.get("aud")
        if type(aud) is not str or aud != self._audience:
            raise InvalidAttestation("wrong_audience")
        now = self._clock()
        if now >= _int_claim(claims, "exp"):
            raise InvalidAttestation("expired")
        not_before = max(_int_claim(claims, "iat"), _int_claim(claims, "nbf") if "nbf" in claims else 0)
        if not_before > now + _LEEWAY:
            raise InvalidAttestation("not_yet_valid")
        birthdate = claims.get("birthdate")
        if type(birthdate) is not str or _BIRTHDATE.fullmatch(birthdate) is None:
            raise InvalidAttestation("bad_birthdate")
        try:
            return date.fromisoformat(birthdate)
        except ValueError:
            raise InvalidAttestation("bad_birthdate") from None
