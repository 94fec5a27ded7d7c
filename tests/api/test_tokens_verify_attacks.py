"""VECTORS.md attack classes 1-11 against POST /v1/tokens/verify: the online endpoint runs
the offline verifier's code, so it must refuse exactly the same tokens."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import ALL_SCOPES, ISSUER
from tests.tokenkit import DROP, TestIssuer, b64url, hs256, json_segment, segments

Attack = Callable[[TestIssuer, dict[str, Any]], str]


@pytest.fixture
def setup(http, api, runtime, clock):  # type: ignore[no-untyped-def]
    """A real subject and token from the service, and a TestIssuer holding the service's key."""
    auth = api.bearer(*ALL_SCOPES)
    body = {"subject_ref": "teen", "evidence": {"method": "self_declared", "birth_date": "2010-01-01"}}
    assert http.post("/v1/subjects", json=body, headers=auth).status_code == 201
    real = http.post("/v1/tokens", json={"subject_ref": "teen", "audience": "persona-chat"}, headers=auth).get_json()["token"]
    snapshot = runtime.parts["keyring"].snapshot()
    issuer = TestIssuer(ISSUER, audience="persona-chat", clock=lambda: clock().timestamp(), key=snapshot.private_key)
    claims = json.loads(base64.urlsafe_b64decode(segments(real)[1] + "=="))
    return issuer, claims, api.bearer("tokens:verify", audience="persona-chat"), auth


def verify(http, headers, token: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = http.post("/v1/tokens/verify", json={"token": token}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _none(alg: str, signature: str) -> Attack:
    return lambda i, c: f"{json_segment({'alg': alg, 'typ': 'age-bracket+jwt', 'kid': i.kid})}.{json_segment(c)}.{signature}"


def _hs256(secret: Callable[[TestIssuer], bytes]) -> Attack:
    return lambda i, c: hs256({"alg": "HS256", "typ": "age-bracket+jwt", "kid": i.kid}, c, secret(i))


def _header(**members: Any) -> Attack:
    return lambda i, c: i.sign(c, header={**i.header(), **members})


def _without_header(name: str) -> Attack:
    return lambda i, c: i.sign(c, header={k: v for k, v in i.header().items() if k != name})


def _claims(**overrides: Any) -> Attack:
    def attack(i: TestIssuer, c: dict[str, Any]) -> str:
        changed = {**c, **overrides}
        return i.sign({k: v for k, v in changed.items() if v is not DROP})

    return attack


def _tampered(i: TestIssuer, c: dict[str, Any]) -> str:
    h, _, s = segments(i.sign(c))
    return f"{h}.{json_segment({**c, 'age_bracket': 'adult'})}.{s}"


def _other_key(i: TestIssuer, c: dict[str, Any]) -> str:
    return i.sign(c, key=Ed25519PrivateKey.generate())


def _duplicate_header(i: TestIssuer, c: dict[str, Any]) -> str:
    return i.sign_raw(f'{{"alg":"EdDSA","alg":"none","typ":"age-bracket+jwt","kid":"{i.kid}"}}', json.dumps(c))


def _duplicate_payload(i: TestIssuer, c: dict[str, Any]) -> str:
    text = json.dumps(c)[:-1] + ', "aud": "someone-else"}'
    return i.sign_raw(json.dumps(i.header()), text)


def _padded(i: TestIssuer, c: dict[str, Any]) -> str:
    h, p, s = segments(i.sign(c))
    return f"{h}=.{p}.{s}"


def _trailing_bits(i: TestIssuer, c: dict[str, Any]) -> str:
    h, p, s = segments(i.sign(c))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # a 64-byte signature leaves 2 unused bits in its last character: set one
    return f"{h}.{p}.{s[:-1]}{alphabet[alphabet.index(s[-1]) | 1]}"


def _bad_characters(i: TestIssuer, c: dict[str, Any]) -> str:
    h, p, s = segments(i.sign(c))
    return f"{h}.{p}.{s[:-2]}+/"


def _oversize(i: TestIssuer, c: dict[str, Any]) -> str:
    return i.sign({**c, "pad": "x" * 9000})


def _deep(i: TestIssuer, c: dict[str, Any]) -> str:
    return i.sign_raw(json.dumps(i.header()), json.dumps(c)[:-1] + ', "deep": ' + "[" * 5000 + "]" * 5000 + "}")


def _status_list_as_token(i: TestIssuer, c: dict[str, Any]) -> str:
    return i.status_list_token(c["status"]["status_list"]["uri"], [0] * 8)


ATTACKS: dict[str, Attack] = {
    "alg-none-empty-signature": _none("none", ""),
    "alg-None-any-signature": _none("None", b64url(b"x" * 64)),
    "alg-NONE": _none("NONE", ""),
    "alg-eddsa-lowercase": _header(alg="eddsa"),
    "hs256-raw-x": _hs256(lambda i: i.public_key_raw()),
    "hs256-pem": _hs256(lambda i: i.public_key_pem()),
    "hs256-jwk-json": _hs256(lambda i: json.dumps(i.jwk).encode()),
    "hs256-empty-key": _hs256(lambda i: b""),
    "tampered-payload": _tampered,
    "another-key-under-known-kid": _other_key,
    "unknown-kid": _header(kid="no-such-key"),
    "kid-path-traversal": _header(kid="../../etc/passwd"),
    "kid-sql": _header(kid="x' OR '1'='1"),
    "kid-nul": _header(kid="abc\u0000def"),
    "embedded-jwk": _header(jwk={"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}),
    "jku": _header(jku="https://evil.example/jwks.json"),
    "x5u": _header(x5u="https://evil.example/cert.pem"),
    "x5c": _header(x5c=["MIIB"]),
    "crit-empty": _header(crit=[]),
    "crit-exp": _header(crit=["exp"]),
    "crit-bork": _header(crit=["bork"]),
    "typ-missing": _without_header("typ"),
    "typ-statuslist": _header(typ="statuslist+jwt"),
    "typ-checkpoint": _header(typ="log-checkpoint+jwt"),
    "typ-plain-jwt": _header(typ="JWT"),
    "cty-nesting": _header(cty="JWT"),
    "status-list-token-as-age-token": _status_list_as_token,
    "duplicate-header-member": _duplicate_header,
    "duplicate-payload-member": _duplicate_payload,
    "base64-padding": _padded,
    "base64-trailing-bits": _trailing_bits,
    "base64-bad-characters": _bad_characters,
    "oversize": _oversize,
    "deeply-nested-json": _deep,
    "exp-missing": _claims(exp=DROP),
    "exp-string": _claims(exp="9999999999"),
    "exp-bool": _claims(exp=True),
    "exp-float": _claims(exp=9999999999.5),
    "iss-list": _claims(iss=[ISSUER]),
    "iss-wrong": _claims(iss="https://evil.example"),
    "aud-list": _claims(aud=["persona-chat"]),
    "aud-wrong": _claims(aud="persona-voice"),
    "status-missing": _claims(status=DROP),
    "status-idx-out-of-range": _claims(status={"status_list": {"idx": 10_000_000, "uri": f"{ISSUER}/v1/status-lists/1"}}),
    "status-uri-elsewhere": _claims(status={"status_list": {"idx": 0, "uri": "https://evil.example/v1/status-lists/1"}}),
}


def test_the_untampered_token_is_active(http, setup) -> None:  # type: ignore[no-untyped-def]
    issuer, claims, persona, _ = setup
    assert verify(http, persona, issuer.sign(claims))["active"] is True


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_the_online_endpoint_refuses(http, setup, name) -> None:  # type: ignore[no-untyped-def]
    issuer, claims, persona, _ = setup
    answer = verify(http, persona, ATTACKS[name](issuer, claims))
    assert answer["active"] is False and answer["reason"], answer


def test_exp_equal_to_now_is_expired(http, setup, clock) -> None:  # type: ignore[no-untyped-def]
    issuer, claims, persona, _ = setup
    now = int(clock().timestamp())
    assert verify(http, persona, issuer.sign({**claims, "exp": now})) == {"active": False, "reason": "expired"}


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_a_future_nbf_or_iat_beyond_the_leeway_is_refused(http, setup, clock, claim) -> None:  # type: ignore[no-untyped-def]
    issuer, claims, persona, _ = setup
    future = int(clock().timestamp()) + 61
    assert verify(http, persona, issuer.sign({**claims, claim: future, "exp": future + 600}))["active"] is False


def test_a_revoked_status_bit_is_refused(http, setup) -> None:  # type: ignore[no-untyped-def]
    issuer, claims, persona, auth = setup
    token = issuer.sign(claims)
    assert http.delete("/v1/subjects/teen", headers=auth).status_code == 204
    import time

    time.sleep(1.1)  # the online status cache refreshes every second
    assert verify(http, persona, token) == {"active": False, "reason": "revoked"}
