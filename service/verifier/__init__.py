"""Offline verification of agegate age tokens.

Imports only the standard library, ``cryptography`` and ``joserfc``: persona services
install it on their hot paths without the rest of agegate::

    from service.verifier import Verifier
    v = Verifier(issuer="https://agegate.example", audience="persona-chat")
    claims = v.verify(token)                      # or raises an InvalidToken subclass
    decision = v.gate(token, "virtual_intimacy")  # .allowed, .decision, .obligations, .reason
"""

from ._claims import Decision
from ._constants import ALGORITHMS, CHECKPOINT_TYPE, MAX_LEEWAY, MAX_TOKEN_BYTES, STATUS_LIST_TYPE, TOKEN_TYPE
from ._jwks import KeySource, StaticKeys, jwk_thumbprint
from ._status import StatusSource
from ._verifier import Verifier
from .errors import (
    BadSignature,
    Expired,
    InvalidToken,
    Malformed,
    NotYetValid,
    Revoked,
    StatusUnavailable,
    TooLarge,
    UnknownFeature,
    UnknownKey,
    UnsupportedAlgorithm,
    WrongAudience,
    WrongIssuer,
    WrongType,
)

__all__ = [
    "ALGORITHMS",
    "CHECKPOINT_TYPE",
    "MAX_LEEWAY",
    "MAX_TOKEN_BYTES",
    "STATUS_LIST_TYPE",
    "TOKEN_TYPE",
    "BadSignature",
    "Decision",
    "Expired",
    "InvalidToken",
    "KeySource",
    "Malformed",
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
    "WrongIssuer",
    "WrongType",
    "jwk_thumbprint",
]
