"""Signed checkpoints of the consent log: the JWS that closes an export (contract section 8).

A checkpoint's JWS (``typ`` ``log-checkpoint+jwt``) signs exactly ``{"iss", "tenant", "seq",
"head", "count", "iat"}``. A checkpoint kept from an earlier export is what
``agegate-verify log --since-checkpoint`` holds a new export to (contract section 16).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._b64 import b64url_decode
from ._constants import CHECKPOINT_TYPE, GENESIS
from ._json import json_object
from ._jwks import KeySource
from ._jws import CompactVerifier
from .chain import is_hash
from .errors import (
    BadSignature,
    InvalidToken,
    MalformedHeader,
    UnknownKey,
    UnsupportedAlgorithm,
    WrongType,
)

__all__ = ["CHECKPOINT_CLAIMS", "CheckpointInvalid", "KeptCheckpoint", "kept_checkpoint", "verified_checkpoint"]

CHECKPOINT_CLAIMS: tuple[str, ...] = ("iss", "tenant", "seq", "head", "count", "iat")
#: Longest checkpoint JWS read: ours is about 450 characters.
MAX_JWS_CHARS = 4096


class CheckpointInvalid(ValueError):
    """A checkpoint that proves nothing. ``reason``: bad_jws, bad_header, unknown_kid,
    bad_signature or bad_claims."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def failure_reason(error: InvalidToken) -> str:
    """The checkpoint/receipt reason word for a JWS that failed the core's checks."""
    if isinstance(error, (MalformedHeader, UnsupportedAlgorithm, WrongType)):
        return "bad_header"
    if isinstance(error, UnknownKey):
        return "unknown_kid"
    if isinstance(error, BadSignature):
        return "bad_signature"
    return "bad_jws"


def _checked_claims(claims: dict[str, Any]) -> dict[str, Any]:
    if claims.keys() != set(CHECKPOINT_CLAIMS):
        raise CheckpointInvalid("bad_claims", f"claims must be exactly {list(CHECKPOINT_CLAIMS)}")
    # type() rather than isinstance: True must not pass for the integer 1.
    if not all(type(claims[name]) is int and claims[name] >= 0 for name in ("seq", "count", "iat")):
        raise CheckpointInvalid("bad_claims", "seq, count and iat must be non-negative integers")
    if type(claims["iss"]) is not str or type(claims["tenant"]) is not str:
        raise CheckpointInvalid("bad_claims", "iss and tenant must be strings")
    if not is_hash(claims["head"]) or (claims["seq"] == 0) != (claims["head"] == GENESIS):
        raise CheckpointInvalid("bad_claims", "head must be a hash, GENESIS exactly when seq is 0")
    return claims


def verified_checkpoint(jws: object, keys: KeySource) -> tuple[str, dict[str, Any]]:
    """Return ``(kid, claims)`` of a checkpoint JWS that verifies; raise ``CheckpointInvalid``."""
    if not isinstance(jws, str):
        raise CheckpointInvalid("bad_jws", "the checkpoint's jws is not a string")
    try:
        kid, _, claims = CompactVerifier(CHECKPOINT_TYPE, keys, MAX_JWS_CHARS).verify(jws)
    except InvalidToken as error:
        raise CheckpointInvalid(failure_reason(error), str(error)) from None
    return kid, _checked_claims(claims)


@dataclass(frozen=True)
class KeptCheckpoint:
    """Where a tenant's chain stood when an earlier export was made."""

    tenant: str
    seq: int
    head: str
    signature_checked: bool


def kept_checkpoint(text: str, keys: KeySource) -> KeptCheckpoint:
    """Read a checkpoint kept from an earlier export: its line, or its compact JWS.

    Its signature is checked when its key is still published. A key retired since may have
    left the JWKS; the checkpoint is then taken as the reader kept it (it is their own
    record), and ``signature_checked`` says so. Raises ``CheckpointInvalid``.
    """
    text = text.strip()
    line_values = None
    if text.startswith("{"):
        try:
            line = json_object(text)
        except ValueError as error:
            raise CheckpointInvalid("bad_checkpoint", f"not a checkpoint line: {error}") from None
        if line.get("kind") != "checkpoint" or not isinstance(line.get("jws"), str):
            raise CheckpointInvalid("bad_checkpoint", "not a checkpoint line")
        line_values = (line.get("seq"), line.get("head"))
        text = line["jws"]
    try:
        _, claims = verified_checkpoint(text, keys)
        checked = True
    except CheckpointInvalid as error:
        if error.reason != "unknown_kid":
            raise
        claims, checked = _claims_of_unpublished_key(text), False
    if line_values is not None and line_values != (claims["seq"], claims["head"]):
        raise CheckpointInvalid("claims_mismatch", "the line's seq/head differ from its signed claims")
    return KeptCheckpoint(claims["tenant"], claims["seq"], claims["head"], checked)


def _claims_of_unpublished_key(jws: str) -> dict[str, Any]:
    try:
        return _checked_claims(json_object(b64url_decode(jws.split(".")[1])))
    except (ValueError, IndexError) as error:
        if isinstance(error, CheckpointInvalid):
            raise
        raise CheckpointInvalid("bad_jws", "not a compact JWS") from None
