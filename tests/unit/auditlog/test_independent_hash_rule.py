"""A second, independent reading of CONTRACT.md §8 checks exports made by the service code.

Nothing from ``service`` is imported here, so a shared misreading of the hash rule cannot
make both sides agree. The exports come from the ``exports`` fixture (chain.py + export.py).

Our JCS: for the flat event shape (string keys, values that are strings, integers, null or
lists of strings), ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
is RFC 8785 byte for byte, because
- keys are ASCII, so Python's code-point sort equals JCS's UTF-16 code-unit sort;
- strings: both escape only ``"``, ``\\`` and U+0000..U+001F, with the short forms
  ``\\b \\f \\n \\r \\t`` and lowercase ``\\u00xx`` otherwise, and emit everything else raw;
- integers within +-2**53 print as plain decimal in both; ``null`` and lists are the same.
It would differ on floats (``1.0`` vs ``1``, exponent spelling) and on non-BMP keys, which
events never hold.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def jcs(event: dict[str, Any]) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def independently_verify(lines: list[bytes], jwks: dict[str, Any]) -> tuple[int, str]:
    """Return (count, head) after checking the chain and checkpoint our own way."""
    *events, checkpoint = (json.loads(line) for line in lines)
    prev = events[0]["prev"] if events else None
    for expected_seq, line in enumerate(events, start=events[0]["seq"] if events else 0):
        assert line["kind"] == "event" and line["seq"] == expected_seq
        assert line["prev"] == prev
        digest = hashlib.sha256(bytes.fromhex(line["prev"]) + jcs(line["event"])).hexdigest()
        assert line["hash"] == digest
        prev = digest
    header_b64, claims_b64, signature_b64 = checkpoint["jws"].split(".")
    header = json.loads(unb64(header_b64))
    assert header["alg"] == "EdDSA" and header["typ"] == "log-checkpoint+jwt"
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    key = Ed25519PublicKey.from_public_bytes(unb64(jwk["x"]))
    key.verify(unb64(signature_b64), f"{header_b64}.{claims_b64}".encode())
    claims = json.loads(unb64(claims_b64))
    assert claims["head"] == checkpoint["head"] and claims["count"] == len(events)
    if events:
        assert claims["head"] == prev and claims["seq"] == events[-1]["seq"]
    return claims["count"], claims["head"]


def test_the_first_link_of_a_log_hashes_genesis_bytes_then_the_jcs_event(exports: Any) -> None:
    first = json.loads(exports.export(1)[0])
    assert first["prev"] == "0" * 64
    expected = hashlib.sha256(bytes(32) + jcs(first["event"])).hexdigest()
    assert first["hash"] == expected


@pytest.mark.parametrize("nonascii", [False, True], ids=["ascii", "non-ascii-refs"])
@pytest.mark.parametrize("start", [1, 5])
def test_a_service_made_export_passes_an_independent_verifier(
    exports: Any, signer: Any, nonascii: bool, start: int
) -> None:
    lines = exports.export(9, start=start, nonascii=nonascii)
    if nonascii:
        # Raw UTF-8 on the wire, and the control character in a ref escaped as JCS wants.
        assert "孩子".encode() in lines[0] and b"\\n" in lines[0]
    assert independently_verify(lines, signer.jwks) == (10 - start, json.loads(lines[-2])["hash"])


def test_the_independent_verifier_notices_an_edit(exports: Any, signer: Any) -> None:
    lines = exports.export(3, nonascii=True)
    lines[1] = lines[1].replace("孩子".encode(), "孩童".encode())
    with pytest.raises(AssertionError):
        independently_verify(lines, signer.jwks)
