"""The NDJSON lines of a consent-log export and its signed checkpoint (CONTRACT.md §8).

An export of a tenant's log over a ``recorded_at`` window is the window's events in ``seq``
order, one :func:`event_line` each, followed by exactly one :func:`checkpoint_line`. The
checkpoint states, and its JWS signs:

- ``seq``: the last exported event's seq;
- ``head``: the last exported event's hash;
- ``count``: the number of event lines exported.

An EMPTY export (no event in the window) still ends with a checkpoint, with ``count`` 0 and
the ``seq`` and ``head`` of the tenant's last event recorded before the window, or 0 and
:data:`~service.auditlog.chain.GENESIS` when there is none. We chose this over a fixed
``(0, GENESIS)`` because it lets the regulator see, under signature, where the chain stood
when nothing happened, and lines it up with the ``prev`` of the next export's first event.

Nothing here touches the database or Flask: the store and the HTTP view call these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agegate_verifier import CHECKPOINT_TYPE
from agegate_verifier.checkpoint import CHECKPOINT_CLAIMS
from agegate_verifier.jose import compact_json
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.auditlog.chain import GENESIS, is_hash
from service.tokens.signing import sign_compact


def _json_line(obj: Mapping[str, Any]) -> bytes:
    # Compact and UTF-8 (not \u-escaped) so non-ASCII refs stay readable; NaN is refused
    # because it is not JSON and no verifier could canonicalise it.
    return compact_json(obj) + b"\n"


def event_line(seq: int, event: Mapping[str, Any], prev: str, hash: str) -> bytes:
    """Return the export line ``{"kind":"event","seq":..,"event":..,"prev":..,"hash":..}\\n``.

    Pure formatting: the values are the stored link's, and are not re-checked here.
    Raises ``ValueError`` or ``TypeError`` when the event holds a value JSON cannot carry.
    """
    return _json_line(
        {"kind": "event", "seq": seq, "event": dict(event), "prev": prev, "hash": hash}
    )


def stored_event_line(seq: int, canonical_event: str, prev: str, hash: str) -> bytes:
    """The same line as :func:`event_line`, spliced around an event's stored JCS text.

    The store keeps each event exactly as it was hashed, which is already compact JSON, so
    an export of a million events need not parse and re-serialise each one.
    """
    return (
        f'{{"kind":"event","seq":{int(seq)},"event":{canonical_event},"prev":"{prev}","hash":"{hash}"}}\n'
    ).encode("utf-8")


def checkpoint_claims(
    *, issuer: str, tenant: str, seq: int, head: str, count: int, iat: int
) -> dict[str, Any]:
    """Return the checkpoint's JWS claims ``{"iss","tenant","seq","head","count","iat"}``.

    ``seq``, ``head`` and ``count`` follow the module docstring (empty export included);
    ``iat`` is Unix seconds, passed in so the caller owns the clock. Raises ``ValueError``
    when the values cannot describe a chain: a negative seq or count, more events than
    links, a head that is not a hash, or GENESIS with a non-zero seq (or the converse).
    """
    for name, value in (("seq", seq), ("count", count), ("iat", iat)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer")
    if count > seq:
        raise ValueError("count cannot exceed seq")
    if not is_hash(head) or (seq == 0) != (head == GENESIS):
        raise ValueError("head must be a hash, GENESIS exactly when seq is 0")
    return {"iss": issuer, "tenant": tenant, "seq": seq, "head": head, "count": count, "iat": iat}


def checkpoint_line(*, seq: int, head: str, count: int, jws: str) -> bytes:
    """Return the closing line ``{"kind":"checkpoint","seq":..,"head":..,"count":..,"jws":..}\\n``.

    ``seq``, ``head`` and ``count`` must be the ones inside ``jws``; the verifier checks.
    """
    return _json_line({"kind": "checkpoint", "seq": seq, "head": head, "count": count, "jws": jws})


def sign_checkpoint(claims: Mapping[str, Any], private_key: Ed25519PrivateKey, kid: str) -> str:
    """Return a compact JWS over ``claims``, signed with Ed25519.

    The protected header is exactly ``{"alg":"EdDSA","typ":"log-checkpoint+jwt","kid":kid}``;
    ``kid`` should be the key's RFC 7638 thumbprint as published in the JWKS. Raises
    ``ValueError`` when the claims are not exactly :data:`CHECKPOINT_CLAIMS` (build them
    with :func:`checkpoint_claims`).
    """
    if set(claims) != set(CHECKPOINT_CLAIMS):
        raise ValueError(f"checkpoint claims must be exactly {list(CHECKPOINT_CLAIMS)}")
    return sign_compact(CHECKPOINT_TYPE, claims, kid=kid, private_key=private_key)
