"""`attestation` evidence: a JWT from a configured identity verifier gives `verified` assurance."""

from __future__ import annotations

import dataclasses

import pytest
from agegate_verifier.testing import TestIssuer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.attestation import AttestationVerifier
from tests.conftest import ALL_SCOPES, ISSUER

ATTESTER = "https://idv.example"


@pytest.fixture
def attester(clock):  # type: ignore[no-untyped-def]
    """An identity verifier the service trusts."""
    return TestIssuer(ATTESTER, clock=lambda: clock().timestamp())


@pytest.fixture
def runtime(runtime, attester, clock):  # type: ignore[no-untyped-def]
    """The test runtime, trusting `attester`, before the app is built."""
    return dataclasses.replace(
        runtime, attestation=AttestationVerifier({ATTESTER: attester.jwks()}, audience=ISSUER, clock=lambda: clock().timestamp())
    )


def attestation(idv: TestIssuer, clock, **overrides):  # type: ignore[no-untyped-def]
    now = int(clock().timestamp())
    claims = {"iss": ATTESTER, "sub": "person-1", "aud": ISSUER, "iat": now, "exp": now + 300, "birthdate": "1984-04-06"}
    claims.update(overrides)
    return idv.sign(claims, header={"alg": "EdDSA", "typ": "JWT", "kid": idv.kid})


def post(http, auth, token):  # type: ignore[no-untyped-def]
    return http.post("/v1/subjects", json={"subject_ref": "v-1", "evidence": {"method": "attestation", "jwt": token}}, headers=auth)


def test_an_attestation_gives_verified_assurance(attester, app, api, clock) -> None:  # type: ignore[no-untyped-def]
    http = app.test_client()
    response = post(http, api.bearer(*ALL_SCOPES), attestation(attester, clock))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["assurance"] == "verified"
    assert response.get_json()["age_bracket"] == "adult"
    assert "1984" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "overrides, reason",
    [
        ({"iss": "https://evil.example"}, "unknown_issuer"),
        ({"aud": "someone-else"}, "wrong_audience"),
        ({"exp": 1}, "expired"),
        ({"birthdate": "06/04/1984"}, None),
        ({"birthdate": None}, None),
    ],
)
def test_a_bad_attestation_is_422_with_its_reason(attester, app, api, clock, overrides, reason) -> None:  # type: ignore[no-untyped-def]
    response = post(app.test_client(), api.bearer(*ALL_SCOPES), attestation(attester, clock, **overrides))
    assert response.status_code == 422, response.get_json()
    if reason is not None:
        assert response.get_json()["reason"] == reason


def test_an_attestation_signed_by_another_key_is_422(attester, app, api, clock) -> None:  # type: ignore[no-untyped-def]
    forger = TestIssuer(ATTESTER, clock=lambda: clock().timestamp(), key=Ed25519PrivateKey.generate())
    forged = attestation(forger, clock).split(".")
    real_header = attestation(attester, clock).split(".")[0]
    response = post(app.test_client(), api.bearer(*ALL_SCOPES), ".".join([real_header, forged[1], forged[2]]))
    assert response.status_code == 422
