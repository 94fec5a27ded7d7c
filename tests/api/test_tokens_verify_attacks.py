"""VECTORS.md attack classes 1-11 against POST /v1/tokens/verify: the online endpoint runs
the offline verifier's code, so it must refuse exactly the same tokens."""

from __future__ import annotations

import json
from typing import Any

import pytest
from agegate_verifier.forgeries import Forgery, forged_tokens
from agegate_verifier.jose import b64url_decode
from agegate_verifier.testing import TestIssuer

from tests.conftest import ALL_SCOPES, ISSUER


@pytest.fixture
def setup(http, api, runtime, clock):  # type: ignore[no-untyped-def]
    """A real subject and token from the service, and a TestIssuer holding the service's key."""
    auth = api.bearer(*ALL_SCOPES)
    body = {"subject_ref": "teen", "evidence": {"method": "self_declared", "birth_date": "2010-01-01"}}
    assert http.post("/v1/subjects", json=body, headers=auth).status_code == 201
    real = http.post("/v1/tokens", json={"subject_ref": "teen", "audience": "persona-chat"}, headers=auth).get_json()["token"]
    snapshot = runtime.keyring.snapshot()
    issuer = TestIssuer(ISSUER, audience="persona-chat", clock=lambda: clock().timestamp(), key=snapshot.private_key)
    claims = json.loads(b64url_decode(real.split(".")[1]))
    return issuer, claims, api.bearer("tokens:verify", audience="persona-chat"), auth


def verify(http, headers, token: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = http.post("/v1/tokens/verify", json={"token": token}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _forgery(setup: Any, name: str) -> Forgery:
    issuer, claims, _, _ = setup
    return next(forgery for forgery in forged_tokens(issuer, claims) if forgery.name == name)


def test_the_untampered_token_is_active(http, setup) -> None:  # type: ignore[no-untyped-def]
    issuer, claims, persona, _ = setup
    assert verify(http, persona, issuer.sign(claims))["active"] is True


@pytest.mark.parametrize("name", [forgery.name for forgery in forged_tokens(TestIssuer())])
def test_the_online_endpoint_refuses_each_forgery_for_the_offline_reason(http, setup, name) -> None:  # type: ignore[no-untyped-def]
    forgery = _forgery(setup, name)
    _, _, persona, _ = setup
    assert verify(http, persona, forgery.token) == {"active": False, "reason": forgery.reason}


def test_a_status_index_past_the_list_fails_closed(http, setup) -> None:  # type: ignore[no-untyped-def]
    issuer, claims, persona, _ = setup
    outside = {"status_list": {"idx": 10_000_000, "uri": f"{ISSUER}/v1/status-lists/1"}}
    answer = verify(http, persona, issuer.sign({**claims, "status": outside}))
    assert answer == {"active": False, "reason": "status_unavailable"}


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
