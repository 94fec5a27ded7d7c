"""AttestationVerifier: third-party birth-date attestations, and the attacks on them."""

from __future__ import annotations

import hashlib
import hmac
import json
import warnings
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from agegate_verifier.forgeries import json_segment
from agegate_verifier.jose import b64url_encode as b64url
from agegate_verifier.testing import Clock
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

from service.attestation import AttestationVerifier, InvalidAttestation
from service.domain.errors import DomainError

AGEGATE = "https://agegate.example"
ATTESTER = "https://idv.example"
NOW = 1_780_000_000


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def ed_key() -> OKPKey:
    return OKPKey.import_key(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        {"kid": "ed-1"},
    )


@pytest.fixture
def verifier(ed_key: OKPKey, clock: Clock) -> AttestationVerifier:
    return AttestationVerifier({ATTESTER: {"keys": [ed_key.as_dict(private=False)]}}, audience=AGEGATE, clock=clock)


def claims(**overrides: Any) -> dict[str, Any]:
    body = {"iss": ATTESTER, "aud": AGEGATE, "sub": "p-1", "iat": NOW, "exp": NOW + 300, "birthdate": "2009-02-28"}
    body.update(overrides)
    return {name: value for name, value in body.items() if value is not None}


def sign(key: Any, body: dict[str, Any], alg: str = "EdDSA") -> str:
    with warnings.catch_warnings():  # joserfc's RFC 9864 deprecation note on "EdDSA"
        warnings.simplefilter("ignore")
        return jwt.encode({"alg": alg, "kid": key.kid}, body, key, algorithms=[alg])


def refuse(verifier: AttestationVerifier, token: str, reason: str) -> None:
    with pytest.raises(InvalidAttestation) as caught:
        verifier.birth_date(token)
    assert caught.value.reason == reason


def test_returns_the_attester_and_the_birth_date(verifier: AttestationVerifier, ed_key: OKPKey) -> None:
    assert verifier.birth_date(sign(ed_key, claims())) == (ATTESTER, date(2009, 2, 28))


def test_is_a_domain_error() -> None:
    assert issubclass(InvalidAttestation, DomainError)


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_accepts_es256_and_rs256_from_a_jwks_file(tmp_path: Path, clock: Clock, alg: str) -> None:
    key: Any = (
        ECKey.import_key(_pem(ec.generate_private_key(ec.SECP256R1())), {"kid": "k"})
        if alg == "ES256"
        else RSAKey.import_key(_pem(rsa.generate_private_key(65537, 2048)), {"kid": "k"})
    )
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    verifier = AttestationVerifier({ATTESTER: jwks_file}, audience=AGEGATE, clock=clock)
    assert verifier.birth_date(sign(key, claims(), alg))[1] == date(2009, 2, 28)


def _pem(private: Any) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_fetches_an_https_jwks_once_per_five_minutes(ed_key: OKPKey, clock: Clock) -> None:
    calls: list[str] = []

    def fetch(url: str) -> bytes:
        calls.append(url)
        return json.dumps({"keys": [ed_key.as_dict(private=False)]}).encode()

    url = "https://idv.example/jwks.json"
    verifier = AttestationVerifier({ATTESTER: url}, audience=AGEGATE, clock=clock, fetch=fetch)
    verifier.birth_date(sign(ed_key, claims()))
    clock.advance(299)
    verifier.birth_date(sign(ed_key, claims(iat=NOW + 299, exp=NOW + 600)))
    clock.advance(1)
    verifier.birth_date(sign(ed_key, claims(iat=NOW + 300, exp=NOW + 600)))
    assert calls == [url, url]


def test_refuses_a_plain_http_jwks_url(clock: Clock) -> None:
    with pytest.raises(ValueError):
        AttestationVerifier({ATTESTER: "http://idv.example/jwks.json"}, audience=AGEGATE, clock=clock)


def test_an_unreachable_jwks_is_refused(clock: Clock, ed_key: OKPKey) -> None:
    def fetch(url: str) -> bytes:
        raise OSError("down")

    verifier = AttestationVerifier({ATTESTER: "https://idv.example/j"}, audience=AGEGATE, clock=clock, fetch=fetch)
    refuse(verifier, sign(ed_key, claims()), "jwks_unavailable")


def test_refuses_an_unknown_issuer(verifier: AttestationVerifier, ed_key: OKPKey) -> None:
    refuse(verifier, sign(ed_key, claims(iss="https://other.example")), "unknown_issuer")
    refuse(verifier, sign(ed_key, claims(iss=[ATTESTER])), "unknown_issuer")


@pytest.mark.parametrize("aud", ["https://other.example", [AGEGATE], "", None])
def test_refuses_a_wrong_or_missing_audience(verifier: AttestationVerifier, ed_key: OKPKey, aud: Any) -> None:
    refuse(verifier, sign(ed_key, claims(aud=aud)), "wrong_audience")


@pytest.mark.parametrize("exp", [NOW, NOW - 1])
def test_refuses_an_expired_attestation(verifier: AttestationVerifier, ed_key: OKPKey, exp: int) -> None:
    refuse(verifier, sign(ed_key, claims(exp=exp)), "expired")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": str(NOW + 300)}, "bad_exp"),
        ({"exp": float(NOW + 300)}, "bad_exp"),
        ({"iat": None}, "bad_iat"),
        ({"iat": NOW + 61}, "not_yet_valid"),
        ({"nbf": NOW + 61}, "not_yet_valid"),
        ({"nbf": "soon"}, "bad_nbf"),
    ],
)
def test_refuses_bad_times(
    verifier: AttestationVerifier, ed_key: OKPKey, overrides: dict[str, Any], reason: str
) -> None:
    refuse(verifier, sign(ed_key, claims(**overrides)), reason)


def test_refuses_a_bad_signature(verifier: AttestationVerifier, ed_key: OKPKey) -> None:
    impostor = OKPKey.generate_key("Ed25519", {"kid": "ed-1"})
    refuse(verifier, sign(impostor, claims()), "bad_signature")
    header, payload, signature = sign(ed_key, claims()).split(".")
    refuse(verifier, f"{header}.{json_segment(claims(birthdate='1990-01-01'))}.{signature}", "bad_signature")


@pytest.mark.parametrize("birthdate", [None, "", "2009-02-30", "2009-2-28", "28/02/2009", "0000-02-28", 20090228, "2009"])
def test_refuses_a_missing_or_garbage_birthdate(verifier: AttestationVerifier, ed_key: OKPKey, birthdate: Any) -> None:
    refuse(verifier, sign(ed_key, claims(birthdate=birthdate)), "bad_birthdate")


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
@pytest.mark.parametrize("signature", ["", "AAAA"])
def test_refuses_alg_none(verifier: AttestationVerifier, alg: str, signature: str) -> None:
    token = f"{json_segment({'alg': alg, 'kid': 'ed-1'})}.{json_segment(claims())}.{signature}"
    refuse(verifier, token, "bad_signature")


@pytest.mark.parametrize("secret", ["raw", "jwk", "empty"])
def test_refuses_hs256_keyed_with_the_public_key(verifier: AttestationVerifier, ed_key: OKPKey, secret: str) -> None:
    public = ed_key.as_dict(private=False)
    key = {"raw": public["x"].encode(), "jwk": json.dumps(public).encode(), "empty": b""}[secret]
    signing_input = f"{json_segment({'alg': 'HS256', 'kid': 'ed-1'})}.{json_segment(claims())}"
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    refuse(verifier, f"{signing_input}.{b64url(mac)}", "bad_signature")


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x" * 20_000, "é.é.é"])
def test_refuses_malformed_tokens(verifier: AttestationVerifier, token: str) -> None:
    refuse(verifier, token, "malformed")
