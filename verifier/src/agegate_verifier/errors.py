"""Every way a token can fail, each with a stable ``reason``.

``reason`` is part of the contract: ``POST /v1/tokens/verify`` returns the very same
strings, so services can treat online and offline answers alike. ``REASONS`` lists them
all; a new failure adds a class here and its word to ``REASONS``.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "REASONS",
    "BadSignature",
    "Expired",
    "InvalidToken",
    "JwksUnavailable",
    "Malformed",
    "MalformedHeader",
    "NotYetValid",
    "Revoked",
    "StatusUnavailable",
    "TooLarge",
    "UnknownFeature",
    "UnknownKey",
    "UnsupportedAlgorithm",
    "WrongAudience",
    "WrongTenant",
    "WrongIssuer",
    "WrongRealm",
    "WrongType",
]


class InvalidToken(Exception):
    """A token that must not be trusted. ``reason`` says why, in a stable word."""

    reason: ClassVar[str] = "invalid_token"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.reason)


class Malformed(InvalidToken):
    """Not a well-formed token: segments, base64url, JSON, header members or claim types."""

    reason = "malformed"


class MalformedHeader(Malformed):
    """The protected header is not exactly ``alg``, ``typ`` and ``kid`` (``crit``, ``jwk``, ...)."""


class TooLarge(InvalidToken):
    """Longer than the size cap; refused before any decoding."""

    reason = "too_large"


class UnsupportedAlgorithm(InvalidToken):
    """``alg`` is not exactly ``EdDSA`` or ``Ed25519``."""

    reason = "unsupported_algorithm"


class WrongType(InvalidToken):
    """``typ`` is missing or names another kind of token (status list, checkpoint, receipt)."""

    reason = "wrong_type"


class UnknownKey(InvalidToken):
    """``kid`` names no Ed25519 key the issuer publishes (and the JWKS was fetched fine)."""

    reason = "unknown_key"


class WrongRealm(UnknownKey):
    """A sandbox tenant's token (``iss`` ``<issuer>/sandbox``) given to a verifier of the
    production issuer, or a production token to a verifier of ``<issuer>/sandbox``: signed
    with keys the configured issuer never publishes. Verify sandbox tokens with
    ``Verifier(issuer="<issuer>/sandbox", ...)``."""

    reason = "wrong_realm"


class JwksUnavailable(InvalidToken):
    """``kid`` is not among the keys held, and the issuer's JWKS cannot be fetched now.

    Not a forgery verdict: the issuer is unreachable (or answers garbage). Retry later.
    """

    reason = "jwks_unavailable"


class BadSignature(InvalidToken):
    """The signature does not verify under the key named by ``kid``."""

    reason = "bad_signature"


class WrongIssuer(InvalidToken):
    """``iss`` is not the configured issuer (or not a string)."""

    reason = "wrong_issuer"


class WrongAudience(InvalidToken):
    """``aud`` is not the configured audience (or not a single string)."""

    reason = "wrong_audience"


class WrongTenant(InvalidToken):
    """``tenant`` is not the tenant the verifier was told to expect (contract v2 section 16:
    an audience belongs to one tenant, and so do the tokens minted for it)."""

    reason = "wrong_tenant"


class Expired(InvalidToken):
    """The current time is at or after ``exp``."""

    reason = "expired"


class NotYetValid(InvalidToken):
    """``nbf`` or ``iat`` lies in the future beyond the leeway."""

    reason = "not_yet_valid"


class Revoked(InvalidToken):
    """The token's status-list entry is not VALID (revoked or suspended)."""

    reason = "revoked"


class StatusUnavailable(InvalidToken):
    """No fresh, verified status list covers the token; the verifier fails closed."""

    reason = "status_unavailable"


class UnknownFeature(InvalidToken):
    """``gate`` was asked about a feature category the token does not decide."""

    reason = "unknown_feature"


#: Every ``reason`` a verifier can give, in the order of the checks.
REASONS: tuple[str, ...] = tuple(
    cls.reason
    for cls in (
        TooLarge, Malformed, UnsupportedAlgorithm, WrongType, UnknownKey, WrongRealm, JwksUnavailable,
        BadSignature, WrongIssuer, WrongAudience, WrongTenant, Expired, NotYetValid, Revoked,
        StatusUnavailable, UnknownFeature,
    )
)
