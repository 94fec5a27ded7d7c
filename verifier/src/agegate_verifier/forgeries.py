"""VECTORS.md's token attack classes as tokens, each with the ``reason`` it must fail with.

Built by hand (``hmac``, raw segments, a real second key), never by a JOSE library that might
"fix" the attack on the way. :func:`forged_tokens` is what ``verifier/vectors/`` publishes
and what agegate's own tests run against the offline verifier and ``POST /v1/tokens/verify``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ._b64 import ALPHABET, b64url_encode
from ._constants import CHECKPOINT_TYPE, MAX_TOKEN_BYTES, RECEIPT_TYPE, STATUS_LIST_TYPE
from .testing import DROP, TestIssuer

__all__ = ["Forgery", "forged_tokens", "hs256", "json_segment"]

_ALPHABET = ALPHABET.decode("ascii")


def json_segment(value: Any) -> str:
    """The base64url segment of ``value`` as compact JSON."""
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """A token "signed" with HMAC-SHA256 under ``secret``: the key-confusion attack."""
    signing_input = f"{json_segment(header)}.{json_segment(claims)}"
    return f"{signing_input}.{b64url_encode(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


@dataclass(frozen=True)
class Forgery:
    """One forged token: the VECTORS.md class it belongs to and the reason it must fail with."""

    name: str
    attack_class: int
    token: str
    reason: str


def _set_low_bit(segment: str) -> str:
    return segment[:-1] + _ALPHABET[_ALPHABET.index(segment[-1]) | 1]


def _catalogue(i: TestIssuer, c: dict[str, Any], other: Ed25519PrivateKey) -> list[tuple[str, int, Callable[[], str], str]]:
    def signed(**header: Any) -> str:
        return i.sign(c, header={**i.header(), **header})

    def without(name: str) -> str:
        return i.sign(c, header={k: v for k, v in i.header().items() if k != name})

    def claims(**overrides: Any) -> str:
        return i.sign({k: v for k, v in {**c, **overrides}.items() if v is not DROP})

    def none(alg: str, signature: str) -> str:
        return f"{json_segment({'alg': alg, 'typ': i.header()['typ'], 'kid': i.kid})}.{json_segment(c)}.{signature}"

    def hmac_keyed(secret: bytes) -> str:
        return hs256({"alg": "HS256", "typ": i.header()["typ"], "kid": i.kid}, c, secret)

    h, p, s = i.sign(c).split(".")
    uri = c["status"]["status_list"]["uri"]
    now = int(i.clock())
    stranger = TestIssuer(i.url, clock=i.clock, key=other)
    return [
        ("alg-none-empty-signature", 1, lambda: none("none", ""), "unsupported_algorithm"),
        ("alg-None-any-signature", 1, lambda: none("None", b64url_encode(b"x" * 64)), "unsupported_algorithm"),
        ("alg-NONE-real-signature", 1, lambda: none("NONE", s), "unsupported_algorithm"),
        ("alg-eddsa-lowercase", 1, lambda: signed(alg="eddsa"), "unsupported_algorithm"),
        ("hs256-raw-x", 2, lambda: hmac_keyed(i.public_key_raw()), "unsupported_algorithm"),
        ("hs256-pem", 2, lambda: hmac_keyed(i.public_key_pem()), "unsupported_algorithm"),
        ("hs256-jwk-json", 2, lambda: hmac_keyed(json.dumps(i.jwk).encode()), "unsupported_algorithm"),
        ("hs256-empty-key", 2, lambda: hmac_keyed(b""), "unsupported_algorithm"),
        ("tampered-payload", 3, lambda: f"{h}.{json_segment({**c, 'age_bracket': 'adult'})}.{s}", "bad_signature"),
        ("another-key-under-known-kid", 3, lambda: i.sign(c, key=other), "bad_signature"),
        ("unknown-kid", 3, lambda: stranger.sign(c, header=stranger.header()), "unknown_key"),
        ("kid-path-traversal", 3, lambda: signed(kid="../../etc/passwd"), "unknown_key"),
        ("kid-sql", 3, lambda: signed(kid="x' OR '1'='1"), "unknown_key"),
        ("kid-nul", 3, lambda: signed(kid="abc\u0000def"), "unknown_key"),
        ("embedded-jwk", 4, lambda: signed(jwk=stranger.jwk), "malformed"),
        ("jku", 4, lambda: signed(jku="https://evil.example/jwks.json"), "malformed"),
        ("x5u", 4, lambda: signed(x5u="https://evil.example/cert.pem"), "malformed"),
        ("x5c", 4, lambda: signed(x5c=["MIIB"]), "malformed"),
        ("crit-empty", 5, lambda: signed(crit=[]), "malformed"),
        ("crit-exp", 5, lambda: signed(crit=["exp"]), "malformed"),
        ("crit-bork", 5, lambda: signed(crit=["bork"]), "malformed"),
        ("typ-missing", 6, lambda: without("typ"), "wrong_type"),
        ("typ-statuslist", 6, lambda: signed(typ=STATUS_LIST_TYPE), "wrong_type"),
        ("typ-checkpoint", 6, lambda: signed(typ=CHECKPOINT_TYPE), "wrong_type"),
        ("typ-receipt", 6, lambda: signed(typ=RECEIPT_TYPE), "wrong_type"),
        ("typ-plain-jwt", 6, lambda: signed(typ="JWT"), "wrong_type"),
        ("status-list-token-as-age-token", 6, lambda: i.status_list_token(uri, [0] * 8), "wrong_type"),
        ("cty-nesting", 6, lambda: signed(cty="JWT"), "malformed"),
        ("duplicate-header-member", 7,
         lambda: i.sign_raw(f'{{"alg":"EdDSA","alg":"none","typ":"{i.header()["typ"]}","kid":"{i.kid}"}}',
                            json.dumps(c)), "malformed"),
        ("duplicate-payload-member", 7,
         lambda: i.sign_raw(json.dumps(i.header()), json.dumps(c)[:-1] + ', "aud": "someone-else"}'), "malformed"),
        ("base64-padding", 8, lambda: f"{h}=.{p}.{s}", "malformed"),
        ("base64-trailing-bits", 8, lambda: f"{h}.{p}.{_set_low_bit(s)}", "malformed"),
        ("base64-bad-characters", 8, lambda: f"{h}.{p}.{s[:-2]}+/", "malformed"),
        ("oversize", 9, lambda: i.sign({**c, "pad": "x" * MAX_TOKEN_BYTES}), "too_large"),
        ("deeply-nested-json", 9,
         lambda: i.sign_raw(json.dumps(i.header()), json.dumps(c)[:-1] + ', "deep": ' + "[" * 64 + "]" * 64 + "}"),
         "malformed"),
        ("exp-missing", 10, lambda: claims(exp=DROP), "malformed"),
        ("exp-equal-to-now", 10, lambda: claims(exp=now), "expired"),
        ("exp-string", 10, lambda: claims(exp=str(now + 600)), "malformed"),
        ("exp-bool", 10, lambda: claims(exp=True), "malformed"),
        ("exp-float", 10, lambda: claims(exp=now + 600.5), "malformed"),
        ("nbf-future-beyond-leeway", 10, lambda: claims(nbf=now + 61), "not_yet_valid"),
        ("iat-future-beyond-leeway", 10, lambda: claims(iat=now + 61), "not_yet_valid"),
        ("iss-list", 10, lambda: claims(iss=[c["iss"]]), "wrong_issuer"),
        ("iss-wrong", 10, lambda: claims(iss="https://evil.example"), "wrong_issuer"),
        ("aud-list", 10, lambda: claims(aud=[c["aud"]]), "wrong_audience"),
        ("aud-wrong", 10, lambda: claims(aud=c["aud"] + "-other"), "wrong_audience"),
        ("status-missing", 11, lambda: claims(status=DROP), "malformed"),
        ("status-uri-elsewhere", 11,
         lambda: claims(status={"status_list": {"idx": 0, "uri": "https://evil.example/v1/status-lists/1"}}),
         "malformed"),
    ]


def forged_tokens(
    issuer: TestIssuer, claims: dict[str, Any] | None = None, *, other_key: Ed25519PrivateKey | None = None
) -> list[Forgery]:
    """Every forgery of ``claims`` (default: ``issuer.age_claims()``), signed where it can be
    by ``issuer``'s key, with the reason an agegate verifier at ``issuer.clock()`` gives.

    ``other_key`` is the attacker's own key (default: a new one); pass a fixed key for
    byte-identical output (Ed25519 signatures are deterministic).
    """
    base = claims if claims is not None else issuer.age_claims()
    catalogue = _catalogue(issuer, base, other_key or Ed25519PrivateKey.generate())
    return [Forgery(name, attack_class, make(), reason) for name, attack_class, make, reason in catalogue]
