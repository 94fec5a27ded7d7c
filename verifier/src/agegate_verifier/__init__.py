"""Offline verification of agegate age tokens, for persona services in Python.

Needs only ``cryptography``::

    from agegate_verifier import Verifier
    v = Verifier(issuer="https://agegate.example", audience="persona-chat")
    claims = v.verify(token)                      # or raises an InvalidToken subclass
    decision = v.gate(token, "virtual_intimacy")  # .allowed, .decision, .obligations, .reason

``AsyncVerifier`` does the same for asyncio; ``agegate_verifier.wsgi`` and
``agegate_verifier.asgi`` guard whole applications; ``agegate_verifier.testing`` issues
tokens in unit tests. Regulators' checks of exports and receipts are in ``log``,
``checkpoint`` and ``receipt``, and on the command line as ``agegate-verify``.
"""

from ._async import AsyncVerifier
from ._claims import Decision
from ._constants import (
    ALGORITHMS,
    CHECKPOINT_TYPE,
    MAX_LEEWAY,
    MAX_TOKEN_BYTES,
    RECEIPT_TYPE,
    SANDBOX_PATH,
    STATUS_LIST_TYPE,
    TOKEN_TYPE,
)
from ._jwks import HttpJwks, KeySource, StaticKeys, jwk_thumbprint
from ._status import HttpStatusLists, StatusSource
from ._verifier import Verifier
from .errors import (
    REASONS,
    BadSignature,
    Expired,
    InvalidToken,
    JwksUnavailable,
    Malformed,
    MalformedHeader,
    NotYetValid,
    Revoked,
    StatusUnavailable,
    TooLarge,
    UnknownFeature,
    UnknownKey,
    UnsupportedAlgorithm,
    WrongAudience,
    WrongTenant,
    WrongIssuer,
    WrongRealm,
    WrongType,
)

__all__ = [
    "ALGORITHMS",
    "CHECKPOINT_TYPE",
    "MAX_LEEWAY",
    "MAX_TOKEN_BYTES",
    "REASONS",
    "RECEIPT_TYPE",
    "SANDBOX_PATH",
    "STATUS_LIST_TYPE",
    "TOKEN_TYPE",
    "AsyncVerifier",
    "BadSignature",
    "Decision",
    "Expired",
    "HttpJwks",
    "HttpStatusLists",
    "InvalidToken",
    "JwksUnavailable",
    "KeySource",
    "Malformed",
    "MalformedHeader",
    "NotYetValid",
    "Revoked",
    "StaticKeys",
    "StatusSource",
    "StatusUnavailable",
    "TooLarge",
    "UnknownFeature",
    "UnknownKey",
    "UnsupportedAlgorithm",
    "Verifier",
    "WrongAudience",
    "WrongTenant",
    "WrongIssuer",
    "WrongRealm",
    "WrongType",
    "jwk_thumbprint",
]
